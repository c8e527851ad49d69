// SentencePiece-style BPE (llama.cpp's SPM tokenizer semantics): the text, with spaces as
// U+2581 and an optional dummy-prefix space, starts as one symbol per UTF-8 character; the
// adjacent pair whose concatenation is the highest-scoring vocabulary piece is merged
// first (ties: leftmost), via a priority queue of candidate pairs. Symbols left outside
// the vocabulary become <0xNN> byte tokens (byte fallback) or the unknown token.
#include <algorithm>
#include <queue>

#include "tokenizer.h"
#include "utf8.h"

namespace qlite {
namespace {

struct Symbol {
  int prev, next;
  size_t off, len;  // bytes of the normalized text; len 0 once merged into the left one
};

struct Bigram {
  float score;
  int left, right;
  size_t size;
};

struct BigramOrder {
  bool operator()(const Bigram& a, const Bigram& b) const {
    return a.score < b.score || (a.score == b.score && a.left > b.left);
  }
};

}  // namespace

Status Tokenizer::EncodeSpm(std::string_view text, bool add_prefix, std::vector<int32_t>* out) const {
  static const char kSpace[] = "\xE2\x96\x81";  // U+2581
  std::string norm;
  norm.reserve(text.size() * 3 + 3);
  if (add_prefix) norm += kSpace;
  for (char c : text) {
    if (c == ' ') norm += kSpace;
    else norm.push_back(c);
  }

  std::vector<Symbol> sym;
  sym.reserve(norm.size());
  for (size_t off = 0; off < norm.size();) {
    const size_t len = std::min(Utf8SeqLen(static_cast<uint8_t>(norm[off])), norm.size() - off);
    const int idx = static_cast<int>(sym.size());
    sym.push_back(Symbol{idx - 1, off + len < norm.size() ? idx + 1 : -1, off, len});
    off += len;
  }

  std::vector<Bigram> storage;
  storage.reserve(sym.size());
  std::priority_queue<Bigram, std::vector<Bigram>, BigramOrder> queue(BigramOrder(), std::move(storage));
  auto try_add = [&](int left, int right) {
    if (left < 0 || right < 0) return;
    const size_t size = sym[left].len + sym[right].len;
    const int32_t id = normal_.Find(std::string_view(norm).substr(sym[left].off, size));
    if (id >= 0) queue.push(Bigram{scores_[id], left, right, size});
  };
  for (size_t i = 1; i < sym.size(); ++i) try_add(static_cast<int>(i) - 1, static_cast<int>(i));

  while (!queue.empty()) {
    const Bigram b = queue.top();
    queue.pop();
    Symbol& l = sym[b.left];
    Symbol& r = sym[b.right];
    // Stale: one side was merged away or grew since this pair was queued.
    if (l.len == 0 || r.len == 0 || l.len + r.len != b.size) continue;
    l.len += r.len;
    r.len = 0;
    l.next = r.next;
    if (r.next >= 0) sym[r.next].prev = b.left;
    try_add(l.prev, b.left);
    try_add(b.left, l.next);
  }

  for (int i = sym.empty() ? -1 : 0; i >= 0; i = sym[i].next) {
    const std::string_view piece = std::string_view(norm).substr(sym[i].off, sym[i].len);
    const int32_t id = normal_.Find(piece);
    if (id >= 0) {
      out->push_back(id);
      continue;
    }
    for (char c : piece) {
      const int32_t bt = byte_fallback_ ? byte_token_[static_cast<uint8_t>(c)] : -1;
      if (bt >= 0) {
        out->push_back(bt);
      } else if (unk_ >= 0) {
        out->push_back(unk_);
        if (!byte_fallback_) break;  // one unknown token per character
      } else {
        return StatusError(StatusCode::kInvalidArgument,
                           "tokenizer: no token for byte 0x%02X and no unknown token", static_cast<uint8_t>(c));
      }
    }
  }
  return Status::Ok();
}

}  // namespace qlite
