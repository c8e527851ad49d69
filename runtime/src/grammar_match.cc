// The grammar matcher (grammar.h): stacks of frames in caller memory, stepped byte by byte.
#include <algorithm>
#include <cstring>
#include <limits>

#include "grammar.h"

namespace qlite {
namespace grammar {
namespace {

constexpr uint32_t kNone = UINT32_MAX;      // no parent frame: the bottom of a stack
constexpr uint32_t kDone = UINT32_MAX - 1;  // a top meaning "this stack has matched root"
constexpr uint32_t kMaxStacks = 256;        // per state: more means an ambiguous grammar
constexpr uint32_t kMaxWork = 1 << 15;      // expansion steps per character
constexpr uint32_t kMaxDepth = 256;         // rules entered without consuming a character

constexpr size_t Align8(size_t n) { return (n + 7) & ~size_t(7); }

template <typename T>
T* Carve(uint8_t** p, const std::vector<T>& v) {
  T* at = reinterpret_cast<T*>(*p);
  if (!v.empty()) std::memcpy(at, v.data(), v.size() * sizeof(T));
  *p += Align8(v.size() * sizeof(T));
  return at;
}

}  // namespace

size_t Matcher::GrammarBytes(const Compiled& g) {
  return Align8(g.elems.size() * 4) + Align8(g.alts.size() * 4) + Align8(g.rule_alts.size() * 4) +
         Align8(g.classes.size() * sizeof(CharClass)) + Align8(g.ranges.size() * 4) + 8;
}

size_t VocabIndexBytes(size_t n_tokens, size_t max_len) {
  // end ids; ids, offsets, masked logits; lengths, lcp; walk states.
  return 64 * 8 + Align8(n_tokens * 4) * 3 + Align8(n_tokens * 2) * 2 + (max_len + 2) * sizeof(State);
}

Status Matcher::Bind(const Compiled& g, void* mem, size_t bytes) {
  active_ = false;
  const size_t need = GrammarBytes(g);
  const size_t per_node = sizeof(Node) + 4 + 4;  // frame, its forwarding slot, a top
  if (g.rule_alts.empty() || bytes < need + kMinNodes * per_node)
    return StatusError(StatusCode::kOutOfMemory,
                       "the grammar needs %zu bytes of grammar memory (%zu for its rules, %zu for its state at "
                       "least); the session has %zu",
                       need + kMinNodes * per_node, need, kMinNodes * per_node, bytes);
  uint8_t* p = static_cast<uint8_t*>(mem);
  p += (8 - reinterpret_cast<uintptr_t>(p) % 8) % 8;
  elems_ = Carve(&p, g.elems);
  alts_ = Carve(&p, g.alts);
  rule_alts_ = Carve(&p, g.rule_alts);
  classes_ = Carve(&p, g.classes);
  ranges_ = Carve(&p, g.ranges);
  root_ = g.root;
  const size_t left = bytes - size_t(p - static_cast<uint8_t*>(mem));
  const size_t n = std::min<size_t>(left / per_node, kDone - 1);
  nodes_ = reinterpret_cast<Node*>(p);
  remap_ = reinterpret_cast<uint32_t*>(p + n * sizeof(Node));
  tops_ = remap_ + n;
  node_cap_ = top_cap_ = uint32_t(n);
  if (!Reset())
    return StatusError(StatusCode::kOutOfMemory, "the grammar's start does not fit %zu bytes of grammar memory", bytes);
  active_ = true;
  return Status::Ok();
}

bool Matcher::Reset() {
  n_nodes_ = n_tops_ = 0;
  overflowed_ = false;
  work_ = 0;
  for (uint32_t a = rule_alts_[root_]; a < rule_alts_[root_ + 1]; ++a)
    if (!Expand(alts_[a], kNone, 0, 0)) return false;
  state_ = State();
  state_.end = n_tops_;
  Mark(&state_);
  return n_tops_ > 0;
}

bool Matcher::ClassHas(uint32_t cls, uint32_t cp) const {
  const CharClass& c = classes_[cls];
  if (cp < 128) return (c.ascii[cp / 32] >> (cp % 32)) & 1;
  uint32_t lo = c.range_begin, hi = c.range_end;  // the first range whose end >= cp
  while (lo < hi) {
    const uint32_t mid = (lo + hi) / 2;
    if (ranges_[2 * mid + 1] < cp) lo = mid + 1;
    else hi = mid;
  }
  const bool in = lo < c.range_end && ranges_[2 * lo] <= cp;
  return in != (c.negated != 0);
}

// Whether the class holds any code point of [lo, hi] (lo >= 128: a partial UTF-8 character).
bool Matcher::ClassMeets(uint32_t cls, uint32_t lo, uint32_t hi) const {
  const CharClass& c = classes_[cls];
  hi = std::min<uint32_t>(hi, 0x10FFFF);
  if (lo > hi) return false;
  for (uint32_t r = c.range_begin; r < c.range_end; ++r) {
    const uint32_t a = ranges_[2 * r], b = ranges_[2 * r + 1];
    if (!c.negated && a <= hi && b >= lo) return true;
    if (c.negated && a <= lo && b >= hi) return false;  // merged ranges: one covers it or none
  }
  return c.negated != 0;
}

// Whether two frame chains hold the same positions (equal stacks made along different paths
// share no frames; without this an ambiguous grammar would double its stacks at every step).
bool Matcher::SameChain(uint32_t a, uint32_t b) const {
  for (; a != b; a = nodes_[a].parent, b = nodes_[b].parent) {
    if (a == kNone || b == kNone || nodes_[a].pos != nodes_[b].pos) return false;
  }
  return true;
}

bool Matcher::Emit(uint32_t pos, uint32_t parent, uint32_t begin) {
  for (uint32_t k = begin; k < n_tops_; ++k) {
    const uint32_t t = tops_[k];
    if (pos == kDone ? t == kDone : t != kDone && nodes_[t].pos == pos && SameChain(nodes_[t].parent, parent)) return true;
  }
  if (n_tops_ - begin >= kMaxStacks || n_tops_ == top_cap_) return Overflow();
  if (pos == kDone) {
    tops_[n_tops_++] = kDone;
    return true;
  }
  if (n_nodes_ == node_cap_) return Overflow();
  nodes_[n_nodes_] = Node{pos, parent};
  tops_[n_tops_++] = n_nodes_++;
  return true;
}

// Adds the stacks that continue at `pos` over `parent` to tops[begin, ...): rules are entered
// and finished alternatives return to their caller until each stack waits on a character.
bool Matcher::Expand(uint32_t pos, uint32_t parent, uint32_t begin, uint32_t depth) {
  for (;;) {
    if (++work_ > kMaxWork) return Overflow();
    const uint32_t e = elems_[pos];
    switch (ElemOp(e)) {
      case kChar:
        return Emit(pos, parent, begin);
      case kEnd:
        if (parent == kNone) return Emit(kDone, kNone, begin);
        pos = nodes_[parent].pos;
        parent = nodes_[parent].parent;
        break;
      default: {  // kRef
        if (depth >= kMaxDepth) return Overflow();
        uint32_t ret = parent;  // a call in tail position needs no frame (repetitions recurse there)
        if (ElemOp(elems_[pos + 1]) != kEnd) {
          if (n_nodes_ == node_cap_) return Overflow();
          nodes_[n_nodes_] = Node{pos + 1, parent};
          ret = n_nodes_++;
        }
        const uint32_t r = ElemArg(e);
        for (uint32_t a = rule_alts_[r]; a < rule_alts_[r + 1]; ++a)
          if (!Expand(alts_[a], ret, begin, depth + 1)) return false;
        return true;
      }
    }
  }
}

bool Matcher::StepCodePoint(const State& in, uint32_t cp) {
  const uint32_t begin = n_tops_;
  work_ = 0;
  for (uint32_t k = in.begin; k < in.end; ++k) {
    const uint32_t t = tops_[k];
    if (t == kDone) continue;
    const Node n = nodes_[t];
    if (ClassHas(ElemArg(elems_[n.pos]), cp) && !Expand(n.pos + 1, n.parent, begin, 0)) return false;
  }
  return n_tops_ > begin;
}

bool Matcher::StepByte(const State& in, uint8_t b, State* out) {
  uint32_t cp, pending;
  if (in.pending) {
    if ((b & 0xC0) != 0x80) return false;
    cp = (in.cp << 6) | (b & 0x3Fu);
    pending = in.pending - 1;
  } else if (b < 0x80) {
    cp = b;
    pending = 0;
  } else if ((b & 0xE0) == 0xC0) {
    cp = b & 0x1Fu;
    pending = 1;
  } else if ((b & 0xF0) == 0xE0) {
    cp = b & 0x0Fu;
    pending = 2;
  } else if ((b & 0xF8) == 0xF0) {
    cp = b & 0x07u;
    pending = 3;
  } else {
    return false;
  }
  if (pending) {  // keep the stacks; some must take a character that starts this way
    const uint32_t lo = cp << (6 * pending), hi = lo | ((1u << (6 * pending)) - 1);
    bool any = false;
    for (uint32_t k = in.begin; k < in.end && !any; ++k) {
      const uint32_t t = tops_[k];
      any = t != kDone && ClassMeets(ElemArg(elems_[nodes_[t].pos]), std::max<uint32_t>(lo, 128), hi);
    }
    if (!any) return false;
    *out = in;
    out->cp = cp;
    out->pending = pending;
    Mark(out);
    return true;
  }
  State s;
  s.begin = n_tops_;
  if (!StepCodePoint(in, cp)) return false;
  s.end = n_tops_;
  Mark(&s);
  *out = s;
  return true;
}

void Matcher::Commit(const State& s) {
  for (uint32_t k = 0; k < n_nodes_; ++k) remap_[k] = kNone;
  for (uint32_t k = s.begin; k < s.end; ++k) {
    for (uint32_t t = tops_[k]; t != kNone && t != kDone && remap_[t] == kNone; t = nodes_[t].parent) remap_[t] = 0;
  }
  uint32_t n = 0;  // a frame's parent is always older (lower): one ascending pass slides them
  for (uint32_t k = 0; k < n_nodes_; ++k) {
    if (remap_[k] == kNone) continue;
    const Node node = nodes_[k];
    nodes_[n] = Node{node.pos, node.parent == kNone ? kNone : remap_[node.parent]};
    remap_[k] = n++;
  }
  uint32_t m = 0;
  for (uint32_t k = s.begin; k < s.end; ++k) tops_[m++] = tops_[k] == kDone ? kDone : remap_[tops_[k]];
  state_ = s;
  state_.begin = 0;
  state_.end = m;
  n_nodes_ = n;
  n_tops_ = m;
  Mark(&state_);
}

bool Matcher::Accept(std::string_view bytes) {
  State cur = state_;
  for (const char c : bytes) {
    State next;
    if (!StepByte(cur, uint8_t(c), &next)) {
      Rewind(state_);
      return false;
    }
    cur = next;
  }
  Commit(cur);
  return true;
}

bool Matcher::Allows(std::string_view bytes) {
  State cur = state_;
  bool ok = true;
  for (const char c : bytes) {
    State next;
    if (!(ok = StepByte(cur, uint8_t(c), &next))) break;
    cur = next;
  }
  Rewind(state_);
  return ok;
}

bool Matcher::CanEnd() const {
  if (state_.pending) return false;
  for (uint32_t k = state_.begin; k < state_.end; ++k)
    if (tops_[k] == kDone) return true;
  return false;
}

bool Matcher::Done() const {
  if (state_.pending || state_.end == state_.begin) return false;
  for (uint32_t k = state_.begin; k < state_.end; ++k)
    if (tops_[k] != kDone) return false;
  return true;
}

size_t Matcher::Mask(const VocabIndex& v, State* walk, const float* logits, float* out, size_t vocab_size) {
  std::fill(out, out + vocab_size, -std::numeric_limits<float>::infinity());
  size_t allowed = 0;
  if (CanEnd()) {
    for (uint32_t k = 0; k < v.n_end; ++k) {
      out[v.end_ids[k]] = logits[v.end_ids[k]];
      ++allowed;
    }
  }
  walk[0] = state_;
  uint32_t valid = 0;           // walk[0..valid] are the states after the current token's first bytes
  uint32_t dead = UINT32_MAX;   // the current token's first `dead` bytes leave the grammar
  for (uint32_t i = 0; i < v.n; ++i) {
    if (v.lcp[i] >= dead) continue;  // starts with that same refused prefix
    dead = UINT32_MAX;
    valid = std::min<uint32_t>(valid, v.lcp[i]);
    Rewind(walk[valid]);
    const char* bytes = v.bytes + v.offsets[i];
    const uint32_t len = v.lengths[i];
    for (; valid < len; ++valid) {
      if (!StepByte(walk[valid], uint8_t(bytes[valid]), &walk[valid + 1])) {
        dead = valid + 1;
        break;
      }
    }
    if (dead == UINT32_MAX) {
      out[v.ids[i]] = logits[v.ids[i]];
      ++allowed;
    }
  }
  Rewind(state_);
  return allowed;
}

}  // namespace grammar
}  // namespace qlite
