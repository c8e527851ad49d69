// The byte-level BPE pre-tokenizers qlite implements, by the names files store: shared by
// the converter (which refuses a name the runtime cannot run) and the runtime's matchers.
#pragma once
#include <string_view>

namespace qlite {

enum class PreTokenizer { kGpt2, kLlama3, kQwen2, kSmolLM };

inline constexpr const char* kPreTokenizerNames = "gpt2, llama3, qwen2, smollm";

// "" and the aliases llama.cpp and Hugging Face use map to the four; false for anything else.
inline bool LookupPreTokenizer(std::string_view name, PreTokenizer* out) {
  if (name.empty() || name == "gpt2" || name == "default" || name == "gpt-2") {
    *out = PreTokenizer::kGpt2;
  } else if (name == "llama3" || name == "llama-bpe" || name == "llama-3") {
    *out = PreTokenizer::kLlama3;
  } else if (name == "qwen2" || name == "deepseek-r1-qwen") {
    *out = PreTokenizer::kQwen2;
  } else if (name == "smollm") {
    *out = PreTokenizer::kSmolLM;
  } else {
    return false;
  }
  return true;
}

}  // namespace qlite
