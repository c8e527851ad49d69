#include "qlite/base/model_config.h"

namespace qlite {

const char* ArchName(Arch arch) {
  static const char* const kNames[] = {"Llama", "Mistral", "Qwen2", "Qwen3", "Gemma3", "Gemma2", "Phi3", "SmolLM3"};
  const unsigned i = static_cast<unsigned>(arch);
  return i < sizeof(kNames) / sizeof(kNames[0]) ? kNames[i] : "?";
}

}  // namespace qlite
