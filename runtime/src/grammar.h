// Constrained output: a GBNF-like grammar compiler and the pushdown matcher the sampler uses
// to keep generated text inside the grammar.
//
// Grammar text (llama.cpp's GBNF, a subset): rules `name ::= alternatives`, sequences,
// alternation `|`, grouping `( )`, string literals "..." with escapes (\n \r \t \\ \" \'
// \xHH \uHHHH \UHHHHHHHH), character classes [a-z0-9_] with ranges and negation [^...], `.`
// (any character), repetition `* + ? {m} {m,} {m,n}`, and `#` comments. Rules may span lines;
// a new rule starts at `name ::=`. Matching is over Unicode code points decoded from UTF-8.
// The start rule is `root`. Left recursion is refused (the matcher would never consume).
//
// The matcher holds a set of stacks (llama.cpp's design) whose frames are nodes in a pool:
// frames are shared between stacks and appended in order, so a step that is undone (a token
// tried and rejected) just rewinds the pool, and after an accepted token the live frames are
// slid to the front. All of it lives in memory the caller hands over once (the session arena):
// no step allocates.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "qlite/base/status.h"

namespace qlite {
namespace grammar {

// Hard limits of the compiler: hostile text fails with an error instead of taking memory or time.
struct Limits {
  size_t max_text_bytes = 1 << 20;
  size_t max_elements = 1 << 18;  // after repetitions are expanded
  size_t max_rules = 1 << 15;
  uint32_t max_repeat = 4096;     // m and n of {m,n}
  size_t max_nesting = 64;        // ( ) depth
};

// An element is a uint32: the op in the top two bits, its argument below.
enum Op : uint32_t { kEnd = 0, kRef = 1, kChar = 2 };
inline uint32_t MakeElem(Op op, uint32_t arg) { return (uint32_t(op) << 30) | arg; }
inline Op ElemOp(uint32_t e) { return Op(e >> 30); }
inline uint32_t ElemArg(uint32_t e) { return e & 0x3fffffffu; }

struct CharClass {
  uint32_t ascii[4];             // code points < 128 (negation already applied)
  uint32_t range_begin, range_end;  // sorted, merged [lo, hi] pairs in ranges[2*begin, 2*end)
  uint32_t negated;              // for code points >= 128
};

// The compiled form: each rule is a list of alternatives, each alternative a sequence of
// elements that ends with kEnd.
struct Compiled {
  std::vector<uint32_t> elems;
  std::vector<uint32_t> alts;       // first element of each alternative, rule by rule
  std::vector<uint32_t> rule_alts;  // rule r's alternatives: alts[rule_alts[r], rule_alts[r+1])
  std::vector<CharClass> classes;
  std::vector<uint32_t> ranges;     // lo, hi pairs
  uint32_t root = 0;
};

// Errors (kFormat) name the line and column.
Status Compile(std::string_view text, Compiled* out, const Limits& limits = Limits());

// A grammar's view of the vocabulary: the tokens that stand for text, sorted by their bytes
// with the length of the prefix each shares with the one before, so that a walk over them
// shares the work of common prefixes (a trie walked in order) and skips every token below a
// prefix the grammar refuses. Lives in caller memory (Bytes()).
struct VocabIndex {
  const int32_t* ids = nullptr;       // text tokens in byte order
  const uint32_t* offsets = nullptr;  // ids[i]'s bytes: bytes[offsets[i], + lengths[i])
  const uint16_t* lengths = nullptr;
  const uint16_t* lcp = nullptr;      // lcp[i]: bytes shared with ids[i-1]
  const char* bytes = nullptr;
  uint32_t n = 0;
  const int32_t* end_ids = nullptr;  // tokens that end the text (EOS, end of turn)
  uint32_t n_end = 0;
  uint32_t max_len = 0;              // longest token, in bytes
};

// One point of a walk: the stacks in tops[begin, end) and a partial UTF-8 character.
struct State {
  uint32_t begin = 0, end = 0;
  uint32_t cp = 0, pending = 0;    // code point so far, continuation bytes still due
  uint32_t node_mark = 0, top_mark = 0;  // pool sizes after this state was made
};

class Matcher {
 public:
  static constexpr uint32_t kMinNodes = 256;
  // Bytes the compiled grammar takes inside the matcher's memory (the rest holds the state).
  static size_t GrammarBytes(const Compiled& g);

  // Copies `g` into mem[0, bytes) and starts matching at its beginning. kOutOfMemory when the
  // grammar and a minimal state do not fit.
  Status Bind(const Compiled& g, void* mem, size_t bytes);
  void Clear() { active_ = false; }
  bool active() const { return active_; }
  // Back to the grammar's beginning. False when even that does not fit the state memory.
  bool Reset();

  // Advances over `bytes`; false (state unchanged) when the text would leave the grammar.
  bool Accept(std::string_view bytes);
  // Whether `bytes` could be accepted (nothing changes).
  bool Allows(std::string_view bytes);
  // The text so far is a whole sentence of the grammar / and nothing more can follow.
  bool CanEnd() const;
  bool Done() const;
  // A step ran out of state memory (stacks, frames or work); that path was refused.
  bool overflowed() const { return overflowed_; }

  // out[t] = logits[t] for every token whose bytes the grammar accepts next (end tokens when
  // it can end), -infinity for the rest; returns how many are allowed. `walk` holds
  // vocab.max_len + 1 states.
  size_t Mask(const VocabIndex& vocab, State* walk, const float* logits, float* out, size_t vocab_size);

 private:
  struct Node {
    uint32_t pos, parent;
  };
  bool StepByte(const State& in, uint8_t byte, State* out);
  bool StepCodePoint(const State& in, uint32_t cp);
  bool Expand(uint32_t pos, uint32_t parent, uint32_t begin, uint32_t depth);
  bool Emit(uint32_t pos, uint32_t parent, uint32_t begin);
  bool SameChain(uint32_t a, uint32_t b) const;
  bool ClassHas(uint32_t cls, uint32_t cp) const;
  bool ClassMeets(uint32_t cls, uint32_t lo, uint32_t hi) const;
  void Rewind(const State& s) {
    n_nodes_ = s.node_mark;
    n_tops_ = s.top_mark;
  }
  void Mark(State* s) const {
    s->node_mark = n_nodes_;
    s->top_mark = n_tops_;
  }
  void Commit(const State& s);  // s becomes the state; live frames slide to the front
  bool Overflow() {
    overflowed_ = true;
    return false;
  }

  const uint32_t* elems_ = nullptr;
  const uint32_t* alts_ = nullptr;
  const uint32_t* rule_alts_ = nullptr;
  const CharClass* classes_ = nullptr;
  const uint32_t* ranges_ = nullptr;
  uint32_t root_ = 0;
  Node* nodes_ = nullptr;
  uint32_t* remap_ = nullptr;  // [node capacity]: compaction's forwarding table
  uint32_t* tops_ = nullptr;   // top frame of each stack (kDone: a finished stack)
  uint32_t node_cap_ = 0, top_cap_ = 0, n_nodes_ = 0, n_tops_ = 0;
  uint32_t work_ = 0;
  State state_;
  bool active_ = false, overflowed_ = false;
};

// Bytes of a VocabIndex for `n_tokens` tokens of at most `max_len` bytes, plus its walk
// states and a masked copy of the logits (what a session reserves next to grammar_memory).
size_t VocabIndexBytes(size_t n_tokens, size_t max_len);

// Whole-text check for tests and tools (allocates): does `text` parse, completely
// (require_end) or as a prefix?
bool MatchText(const Compiled& g, std::string_view text, bool require_end);

// JSON Schema (a practical subset) to grammar text. kFormat for bad JSON, kUnsupported for a
// keyword that is not handled (the message names it and where). The empty schema {} (or true)
// gives any JSON value.
Status JsonSchemaToGrammar(std::string_view schema, std::string* out);

}  // namespace grammar
}  // namespace qlite
