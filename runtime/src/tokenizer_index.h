// PieceIndex: piece text -> token id, an open-addressing hash table that looks up a
// string_view without building a std::string (the encoders probe it for every pair).
// MergeTable: byte-level BPE's (left id, right id) -> (rank, merged id), open addressing.
// Each is one block from the memory resource it is given.
#pragma once
#include <cstdint>
#include <memory_resource>
#include <string_view>
#include <vector>

namespace qlite {

class PieceIndex {
 public:
  explicit PieceIndex(std::pmr::memory_resource* mem) : slots_(mem) {}

  // Indexes pieces[id] for each id < n where keep(id); the first id wins on duplicates.
  // `pieces` must outlive the index.
  template <typename Keep>
  void Build(const std::string_view* pieces, size_t n, Keep keep) {
    pieces_ = pieces;
    size_t cap = 16;
    while (cap < n * 2) cap <<= 1;
    slots_.assign(cap, -1);
    for (size_t id = 0; id < n; ++id) {
      if (!keep(static_cast<int32_t>(id))) continue;
      const std::string_view p = pieces[id];
      size_t s = Hash(p) & (cap - 1);
      bool dup = false;
      while (slots_[s] >= 0) {
        if (pieces[slots_[s]] == p) { dup = true; break; }
        s = (s + 1) & (cap - 1);
      }
      if (!dup) slots_[s] = static_cast<int32_t>(id);
    }
  }

  int32_t Find(std::string_view key) const { return FindConcat(key, std::string_view()); }
  // Find(a + b) without building the concatenation.
  int32_t FindConcat(std::string_view a, std::string_view b) const {
    if (slots_.empty()) return -1;
    const size_t mask = slots_.size() - 1;
    for (size_t s = Hash(a, b) & mask;; s = (s + 1) & mask) {
      const int32_t id = slots_[s];
      if (id < 0) return -1;
      const std::string_view p = pieces_[id];
      if (p.size() == a.size() + b.size() && p.compare(0, a.size(), a) == 0 && p.compare(a.size(), b.size(), b) == 0)
        return id;
    }
  }

 private:
  static size_t Hash(std::string_view s, std::string_view t = std::string_view()) {
    uint64_t h = 1469598103934665603ull;  // FNV-1a
    for (char c : s) h = (h ^ static_cast<uint8_t>(c)) * 1099511628211ull;
    for (char c : t) h = (h ^ static_cast<uint8_t>(c)) * 1099511628211ull;
    return static_cast<size_t>(h ^ (h >> 29));
  }

  const std::string_view* pieces_ = nullptr;
  std::pmr::vector<int32_t> slots_;
};

class MergeTable {
 public:
  struct Merge {
    int32_t rank, id;
  };
  explicit MergeTable(std::pmr::memory_resource* mem) : slots_(mem) {}

  void Reserve(size_t n) {
    size_t cap = 16;
    while (cap < n * 2) cap <<= 1;
    slots_.assign(cap, Slot{kEmpty, {0, 0}});
  }
  // The first insertion of a pair wins (merges arrive in rank order). Reserve() first.
  void Insert(int32_t left, int32_t right, Merge m) {
    const uint64_t key = Key(left, right);
    const size_t mask = slots_.size() - 1;
    size_t s = Hash(key) & mask;
    while (slots_[s].key != kEmpty) {
      if (slots_[s].key == key) return;
      s = (s + 1) & mask;
    }
    slots_[s] = Slot{key, m};
  }
  const Merge* Find(int32_t left, int32_t right) const {
    if (slots_.empty()) return nullptr;
    const uint64_t key = Key(left, right);
    const size_t mask = slots_.size() - 1;
    for (size_t s = Hash(key) & mask;; s = (s + 1) & mask) {
      if (slots_[s].key == key) return &slots_[s].merge;
      if (slots_[s].key == kEmpty) return nullptr;
    }
  }

 private:
  static constexpr uint64_t kEmpty = ~uint64_t{0};  // ids are below 2^31: no pair has this key
  struct Slot {
    uint64_t key;
    Merge merge;
  };
  static uint64_t Key(int32_t a, int32_t b) { return (static_cast<uint64_t>(a) << 32) | static_cast<uint32_t>(b); }
  static size_t Hash(uint64_t k) {
    k *= 0x9E3779B97F4A7C15ull;  // Fibonacci hashing: the high bits mix both ids
    return static_cast<size_t>(k ^ (k >> 32));
  }

  std::pmr::vector<Slot> slots_;
};

}  // namespace qlite
