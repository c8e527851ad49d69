// PieceIndex: piece text -> token id, an open-addressing hash table that looks up a
// string_view without building a std::string (the encoders probe it for every pair).
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace qlite {

class PieceIndex {
 public:
  // Indexes pieces[id] for each id where keep(id); the first id wins on duplicates.
  template <typename Keep>
  void Build(const std::vector<std::string>* pieces, Keep keep) {
    pieces_ = pieces;
    size_t cap = 16;
    while (cap < pieces->size() * 2) cap <<= 1;
    slots_.assign(cap, -1);
    for (size_t id = 0; id < pieces->size(); ++id) {
      if (!keep(static_cast<int32_t>(id))) continue;
      const std::string& p = (*pieces)[id];
      size_t s = Hash(p) & (cap - 1);
      bool dup = false;
      while (slots_[s] >= 0) {
        if ((*pieces)[slots_[s]] == p) { dup = true; break; }
        s = (s + 1) & (cap - 1);
      }
      if (!dup) slots_[s] = static_cast<int32_t>(id);
    }
  }

  int32_t Find(std::string_view key) const {
    if (slots_.empty()) return -1;
    const size_t mask = slots_.size() - 1;
    for (size_t s = Hash(key) & mask;; s = (s + 1) & mask) {
      const int32_t id = slots_[s];
      if (id < 0) return -1;
      if ((*pieces_)[id] == key) return id;
    }
  }

 private:
  static size_t Hash(std::string_view s) {
    uint64_t h = 1469598103934665603ull;  // FNV-1a
    for (char c : s) h = (h ^ static_cast<uint8_t>(c)) * 1099511628211ull;
    return static_cast<size_t>(h ^ (h >> 29));
  }

  const std::vector<std::string>* pieces_ = nullptr;
  std::vector<int32_t> slots_;
};

}  // namespace qlite
