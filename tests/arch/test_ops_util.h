// Shared by the ops/attention tests: run a body once per compiled+supported Highway target.
#pragma once
#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <vector>

#include "hwy/targets.h"

namespace qlite_test {

// Calls body() with HWY_DYNAMIC_DISPATCH pinned to each target in turn; the target name
// is attached to any failure. Returns the number of targets run.
template <class Body>
size_t ForEachHwyTarget(const Body& body) {
  size_t n = 0;
  std::vector<int64_t> targets = hwy::SupportedAndGeneratedTargets();
  // armhf: Debian's libhwy never reports NEON, which is the compiled (static) target there.
  if (targets.empty()) targets.push_back(HWY_STATIC_TARGET);
  for (int64_t target : targets) {
    hwy::SetSupportedTargetsForTest(target);
    hwy::GetChosenTarget().Update(hwy::SupportedTargets());
    SCOPED_TRACE(hwy::TargetName(target));
    body();
    ++n;
  }
  hwy::SetSupportedTargetsForTest(0);
  hwy::GetChosenTarget().Update(hwy::SupportedTargets());
  return n;
}

inline std::vector<float> RandomVec(std::mt19937& rng, size_t n, float lo = -1.0f, float hi = 1.0f) {
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> v(n);
  for (float& x : v) x = dist(rng);
  return v;
}

// The sizes every op is tried on: 1, a lane remainder, whole vectors, odd model dims.
inline const std::vector<size_t>& OddSizes() {
  static const std::vector<size_t> kSizes = {1, 7, 8, 63, 64, 172, 2049};
  return kSizes;
}

}  // namespace qlite_test
