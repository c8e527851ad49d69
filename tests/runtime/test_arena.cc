#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

#include "arena.h"

namespace qlite {
namespace {

TEST(Arena, AlignsEveryAllocation) {
  std::vector<uint8_t> buf(4096);
  Arena a(buf.data() + 3, buf.size() - 3);  // a caller's buffer need not be aligned
  for (size_t n : {1, 7, 64, 100, 3}) {
    void* p = a.Allocate(n);
    ASSERT_NE(p, nullptr);
    EXPECT_EQ(reinterpret_cast<uintptr_t>(p) % Arena::kAlign, 0u);
  }
  EXPECT_TRUE(a.ok());
}

TEST(Arena, ExhaustionIsReportedNotOverrun) {
  std::vector<uint8_t> buf(256);
  Arena a(buf.data(), 200);
  EXPECT_NE(a.Allocate(100), nullptr);
  EXPECT_EQ(a.Allocate(150), nullptr);
  EXPECT_FALSE(a.ok());
  EXPECT_LE(a.used(), 200u);
}

TEST(Arena, MeasuringMatchesRealLayout) {
  const size_t sizes[] = {10, 4096, 1, 63, 65, 1000};
  Arena counter;
  for (size_t n : sizes) EXPECT_EQ(counter.Allocate(n), nullptr);
  EXPECT_TRUE(counter.measuring());
  Region r;
  ASSERT_TRUE(r.Reserve(counter.used()).ok());
  Arena real(r.data(), r.size());
  for (size_t n : sizes) {
    uint8_t* p = static_cast<uint8_t*>(real.Allocate(n));
    ASSERT_NE(p, nullptr);
    p[0] = 1;
    p[n - 1] = 2;  // the whole block is writable
  }
  EXPECT_TRUE(real.ok());
  EXPECT_EQ(real.used(), counter.used());
}

TEST(Region, MovesOwnership) {
  Region a;
  ASSERT_TRUE(a.Reserve(1 << 20).ok());
  void* p = a.data();
  Region b(std::move(a));
  EXPECT_EQ(a.data(), nullptr);
  EXPECT_EQ(b.data(), p);
  EXPECT_EQ(b.size(), 1u << 20);
}

}  // namespace
}  // namespace qlite
