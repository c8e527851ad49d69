#include "stop_matcher.h"

#include <algorithm>

namespace qlite {

StopMatcher::StopMatcher(const char* text, const uint32_t* offsets, size_t n, size_t max_piece_bytes)
    : text_(text), offsets_(offsets), n_(n) {
  size_t longest = 0;
  for (size_t i = 0; i < n; ++i) longest = std::max(longest, Stop(i).size());
  buf_.reserve(longest + max_piece_bytes);
}

std::string_view StopMatcher::Push(std::string_view piece, bool* matched) {
  *matched = done_;
  if (done_) return {};
  buf_.erase(0, emitted_);  // held bytes move to the front; the capacity stays
  emitted_ = 0;
  buf_.append(piece.data(), piece.size());
  const std::string_view text(buf_);
  // The earliest complete stop string ends the stream.
  size_t first = std::string_view::npos;
  for (size_t i = 0; i < n_; ++i) first = std::min(first, text.find(Stop(i)));
  if (first != std::string_view::npos) {
    done_ = *matched = true;
    emitted_ = buf_.size();
    return text.substr(0, first);
  }
  // Hold back the longest tail that is a proper prefix of some stop string.
  size_t keep = 0;
  for (size_t i = 0; i < n_; ++i) {
    const std::string_view stop = Stop(i);
    for (size_t k = std::min(text.size(), stop.size() - 1); k > keep; --k) {
      if (text.substr(text.size() - k) == stop.substr(0, k)) {
        keep = k;
        break;
      }
    }
  }
  emitted_ = text.size() - keep;
  return text.substr(0, emitted_);
}

std::string_view StopMatcher::Flush() {
  if (done_) return {};
  done_ = true;
  const std::string_view rest = std::string_view(buf_).substr(emitted_);
  emitted_ = buf_.size();
  return rest;
}

}  // namespace qlite
