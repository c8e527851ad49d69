// Byte-level BPE (GPT-2 family): pre-tokenize, map each byte of a word to its token (the
// byte's printable stand-in char), then apply merges by rank (lowest first, ties leftmost)
// with a priority queue of adjacent pairs, as Hugging Face tokenizers' BPE does.
#include <queue>
#include <string>

#include "tokenizer.h"
#include "utf8.h"

namespace qlite {
namespace {

struct Sym {
  int32_t id;
  int prev, next;
};

struct Cand {
  int32_t rank;
  int left, right;
  int32_t left_id, right_id, merged;
};

struct CandOrder {
  bool operator()(const Cand& a, const Cand& b) const {
    return a.rank > b.rank || (a.rank == b.rank && a.left > b.left);
  }
};

}  // namespace

Status Tokenizer::EncodeByteLevel(std::string_view text, std::vector<int32_t>* out) const {
  std::string normalized;
  if (nfc_) {  // after special tokens were split off, as Hugging Face normalizes
    Utf8Nfc(text, &normalized);
    text = normalized;
  }
  std::vector<std::string_view> words;
  PreTokenize(pretok_, text, &words);
  for (std::string_view w : words) QLITE_RETURN_IF_ERROR(EncodeBpeWord(w, out));
  return Status::Ok();
}

Status Tokenizer::EncodeBpeWord(std::string_view word, std::vector<int32_t>* out) const {
  if (ignore_merges_) {
    std::string mapped;
    for (char c : word) Utf8Append(ByteToUnicode(static_cast<uint8_t>(c)), &mapped);
    const int32_t id = normal_.Find(mapped);
    if (id >= 0) {
      out->push_back(id);
      return Status::Ok();
    }
  }
  std::vector<Sym> sym(word.size());
  for (size_t i = 0; i < word.size(); ++i) {
    const uint8_t b = static_cast<uint8_t>(word[i]);
    int32_t id = byte_token_[b];
    if (id < 0) id = unk_;
    if (id < 0) {
      return StatusError(StatusCode::kInvalidArgument, "tokenizer: vocabulary has no token for byte 0x%02X", b);
    }
    const int n = static_cast<int>(word.size());
    sym[i] = Sym{id, static_cast<int>(i) - 1, static_cast<int>(i) + 1 < n ? static_cast<int>(i) + 1 : -1};
  }

  std::priority_queue<Cand, std::vector<Cand>, CandOrder> queue;
  auto try_add = [&](int left, int right) {
    if (left < 0 || right < 0) return;
    if (const MergeTable::Merge* m = merges_.Find(sym[left].id, sym[right].id))
      queue.push(Cand{m->rank, left, right, sym[left].id, sym[right].id, m->id});
  };
  for (size_t i = 1; i < sym.size(); ++i) try_add(static_cast<int>(i) - 1, static_cast<int>(i));

  while (!queue.empty()) {
    const Cand c = queue.top();
    queue.pop();
    Sym& l = sym[c.left];
    Sym& r = sym[c.right];
    // Stale: either side changed (merged or absorbed) since this pair was queued.
    if (l.id != c.left_id || r.id != c.right_id || l.next != c.right || r.id < 0) continue;
    l.id = c.merged;
    l.next = r.next;
    r.id = -1;
    if (r.next >= 0) sym[r.next].prev = c.left;
    try_add(l.prev, c.left);
    try_add(c.left, l.next);
  }
  for (int i = sym.empty() ? -1 : 0; i >= 0; i = sym[i].next) out->push_back(sym[i].id);
  return Status::Ok();
}

}  // namespace qlite
