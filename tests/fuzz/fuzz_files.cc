// Fuzz targets for the model and adapter file readers: .qlm (alone and with a session),
// .qla, GGUF, Hugging Face safetensors + config.json, llama2.c checkpoints.
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "fuzz_targets.h"
#include "qlite/format/adapter_file.h"
#include "qlite/format/import.h"
#include "qlite/format/lora.h"
#include "qlite/qlite.h"

namespace qlite_fuzz {

std::string ScratchPath(const std::string& name) {
  static const std::string dir = [] {
    const char* base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
    return std::string(base) + "/qlite_fuzz_" + std::to_string(getpid());
  }();
  static const bool made = [] { return std::system(("mkdir -p '" + dir + "'").c_str()) == 0; }();
  (void)made;
  return dir + "/" + name;
}

void WriteFile(const std::string& path, const uint8_t* data, size_t size) {
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) std::abort();
  if (size && std::fwrite(data, 1, size, f) != size) std::abort();
  std::fclose(f);
}

std::string DataPath(const std::string& rel) {
  const char* d = std::getenv("QLITE_FUZZ_DATA");
  return std::string(d && *d ? d : "../shared/models") + "/" + rel;
}

namespace {

// The reader wants the alignment a mapping has; libFuzzer's buffer is only malloc-aligned.
struct AlignedCopy {
  void* p = nullptr;
  AlignedCopy(const uint8_t* data, size_t size) {
    p = std::aligned_alloc(4096, (size + 4095) / 4096 * 4096 + 4096);
    if (size) std::memcpy(p, data, size);
  }
  ~AlignedCopy() { std::free(p); }
};

// Loads every tensor of an imported model, as the converter would.
void LoadAll(const qlite::SourceModel& m) {
  std::vector<float> v;
  for (const qlite::SourceTensor& t : m.tensors) {
    v.clear();
    (void)t.load(&v);
  }
}

}  // namespace

void FuzzQlm(const uint8_t* data, size_t size) {
  AlignedCopy copy(data, size);
  qlite_model* m = nullptr;
  if (qlite_model_open_memory(copy.p, size, nullptr, &m) != QLITE_OK) return;
  qlite_model_info info;
  (void)qlite_model_get_info(m, &info);
  qlite_model_free(m);
}

void FuzzQlmSession(const uint8_t* data, size_t size) {
  AlignedCopy copy(data, size);
  qlite_model* m = nullptr;
  if (qlite_model_open_memory(copy.p, size, nullptr, &m) != QLITE_OK) return;
  qlite_session_params p = qlite_session_default_params();
  p.window = 32;
  p.max_batch = 8;
  p.memory_budget = 256u << 20;  // a file may claim dimensions that fit no budget: refused
  p.sampler.seed = 1;
  qlite_session* s = nullptr;
  if (qlite_session_create(m, &p, &s) == QLITE_OK) {
    int32_t ids[64];
    size_t n = 0;
    const char* prompt = "Once upon a time, 12345 <|im_start|> \xe2\x96\x81";
    if (qlite_tokenize(m, prompt, std::strlen(prompt), 1, ids, 64, &n) == QLITE_OK && n > 0 &&
        qlite_prefill(s, ids, n) == QLITE_OK) {
      for (int i = 0; i < 3; ++i) {
        int32_t t = 0;
        if (qlite_sample(s, &t) != QLITE_OK || qlite_decode(s, t) != QLITE_OK) break;
        char piece[64];
        size_t len = 0;
        (void)qlite_token_to_piece(m, t, piece, sizeof(piece), &len);
      }
    }
    qlite_session_free(s);
  }
  qlite_model_free(m);
}

void FuzzQla(const uint8_t* data, size_t size) {
  qlite::LoraAdapter a;
  if (!qlite::ReadAdapterMemory(data, size, &a).ok()) return;
  qlite::ModelConfig base;  // stories260K's shapes, the seeds' base
  base.dim = 64, base.n_layers = 5, base.n_heads = 8, base.n_kv_heads = 4, base.head_dim = 8;
  base.ffn_dim = 172, base.vocab_size = 512;
  (void)qlite::CheckLoraShapes(a, base);
}

void FuzzGguf(const uint8_t* data, size_t size) {
  const std::string path = ScratchPath("in.gguf");
  WriteFile(path, data, size);
  qlite::SourceModel m;
  if (qlite::ImportGguf(path, &m).ok()) LoadAll(m);
}

// Input: u32 length of config.json, config.json, then model.safetensors; tokenizer.json is
// the real stories260K one.
void FuzzSafetensors(const uint8_t* data, size_t size) {
  if (size < 4) return;
  uint32_t n = 0;
  std::memcpy(&n, data, 4);
  if (n > size - 4) return;
  const std::string dir = ScratchPath("hf");
  static const bool made = [&] {
    std::string tok;
    if (std::FILE* f = std::fopen(DataPath("stories260K-hf/tokenizer.json").c_str(), "rb")) {
      char buf[65536];
      for (size_t k; (k = std::fread(buf, 1, sizeof(buf), f)) > 0;) tok.append(buf, k);
      std::fclose(f);
    }
    if (std::system(("mkdir -p '" + dir + "'").c_str()) != 0) return false;
    WriteFile(dir + "/tokenizer.json", reinterpret_cast<const uint8_t*>(tok.data()), tok.size());
    return true;
  }();
  if (!made) std::abort();
  WriteFile(dir + "/config.json", data + 4, n);
  WriteFile(dir + "/model.safetensors", data + 4 + n, size - 4 - n);
  qlite::SourceModel m;
  if (qlite::ImportHuggingFace(dir, &m).ok()) LoadAll(m);
}

void FuzzLlama2c(const uint8_t* data, size_t size) {
  const std::string path = ScratchPath("in.bin");
  WriteFile(path, data, size);
  qlite::SourceModel m;
  if (qlite::ImportLlama2c(path, DataPath("stories260K/tok512.bin"), &m).ok()) LoadAll(m);
}

}  // namespace qlite_fuzz
