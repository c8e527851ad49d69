// A tiny synthetic SourceModel for format tests: valid for its config, deterministic
// pseudo-random weights (no importer or test data needed).
#pragma once
#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "qlite/format/model_file.h"
#include "qlite/format/source_model.h"

namespace qlite_test {

inline qlite::ModelConfig TinyConfig() {
  qlite::ModelConfig c;
  c.dim = 64;
  c.n_layers = 2;
  c.n_heads = 4;
  c.n_kv_heads = 2;
  c.head_dim = 16;
  c.ffn_dim = 172;  // not a multiple of 32, like stories260K
  c.vocab_size = 40;
  c.context_length = 128;
  c.bos_id = 1;
  c.eos_id = 2;
  c.eot_ids = {3};
  return c;
}

inline qlite::SourceModel TinyModel(uint32_t seed = 1, const qlite::ModelConfig& config = TinyConfig()) {
  qlite::SourceModel m;
  m.config = config;
  m.source_path = "/tmp/some/dir/tiny.bin";
  m.source_format = "llama2c";
  for (uint32_t i = 0; i < config.vocab_size; ++i) {
    m.tokenizer.pieces.push_back("tok" + std::to_string(i));
    m.tokenizer.scores.push_back(-static_cast<float>(i));
    m.tokenizer.kinds.push_back(i < 3 ? qlite::fb::TokenKind::Control : qlite::fb::TokenKind::Normal);
  }
  m.tokenizer.chat_template = "{{ messages }}";
  uint32_t k = 0;
  for (const qlite::ExpectedTensor& e : qlite::ExpectedTensors(config)) {
    qlite::SourceTensor t;
    t.name = e.name;
    t.shape = e.shape;
    t.source_dtype = "F32";
    uint64_t n = 1;
    for (uint64_t d : e.shape) n *= d;
    const uint32_t s = seed * 1000 + k++;
    const bool norm = e.shape.size() == 1;
    t.load = [n, s, norm](std::vector<float>* out) {
      std::mt19937 rng(s);
      std::normal_distribution<float> d(norm ? 1.0f : 0.0f, 0.1f);
      out->resize(n);
      for (float& v : *out) v = d(rng);
      return qlite::Status::Ok();
    };
    m.tensors.push_back(std::move(t));
  }
  return m;
}

inline std::string TempPath(const std::string& name) {
  const char* dir = std::getenv("TMPDIR");
  return std::string(dir && *dir ? dir : "/tmp") + "/qlite_test_" + std::to_string(::getpid()) + "_" + name;
}

}  // namespace qlite_test
