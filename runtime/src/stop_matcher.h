// Stop strings in a stream of text pieces: holds back the text that could still start one,
// reports the first match and never lets its bytes (or what follows) through.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace qlite {

class StopMatcher {
 public:
  // Stop string i is text[offsets[i], offsets[i + 1]) (none empty); the arrays must outlive
  // the matcher. max_piece_bytes bounds a Push's input: the buffer is sized once, here.
  StopMatcher(const char* text, const uint32_t* offsets, size_t n, size_t max_piece_bytes);

  // Takes the next piece; returns the text now safe to emit (valid until the next call).
  // *matched is set when a stop string has completed: the text before it is returned and
  // every later call returns nothing.
  std::string_view Push(std::string_view piece, bool* matched);
  // The text still held back (the stream ended before a stop string completed).
  std::string_view Flush();

 private:
  std::string_view Stop(size_t i) const { return {text_ + offsets_[i], offsets_[i + 1] - offsets_[i]}; }

  const char* text_;
  const uint32_t* offsets_;
  size_t n_;
  std::string buf_;      // [0, emitted_) was returned by the last call; the rest is held
  size_t emitted_ = 0;
  bool done_ = false;
};

}  // namespace qlite
