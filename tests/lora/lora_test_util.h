// Shared helpers of the LoRA tests: importing the stories260K bases, converting them with
// adapters merged, teacher-forced logits, and the reference files in ../shared/models/refs.
#pragma once
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <string>
#include <vector>

#include "../e2e/e2e_util.h"
#include "qlite/format/adapter_file.h"
#include "qlite/format/lora.h"
#include "qlite/qlite.h"

namespace lora_test {

using qlite_e2e::ReadFile;

inline std::string Data(const std::string& rel) { return qlite_test::DataPath(rel); }
inline std::string PeftDir(const std::string& v) { return Data("lora/stories260K-lora-" + v); }
inline std::string GgufLora(const std::string& v) { return Data("lora/stories260K-lora-" + v + "-f32.gguf"); }

enum class Base { kLlama2c, kHf };

inline qlite::Status ImportBase(Base base, qlite::SourceModel* out) {
  qlite::ImportOptions io;
  io.tokenizer = Data("stories260K/tok512.bin");
  return qlite::ImportAuto(base == Base::kHf ? Data("stories260K-hf") : Data("stories260K/stories260K.bin"), io, out);
}

// Per-process temp path (tests of one binary run in one process; ctest may run binaries in parallel).
inline std::string TempPath(const std::string& name) {
  const char* dir = std::getenv("TMPDIR");
  return std::string(dir && *dir ? dir : "/tmp") + "/qlite_lora_" + std::to_string(getpid()) + "_" + name;
}

// Converts `base` with the adapters (paths, PEFT/GGUF/.qla) merged at `scales`.
inline qlite::Status ConvertMerged(Base base, const std::vector<std::string>& adapters, const std::vector<float>& scales,
                                   qlite::fb::DType weights, const std::string& out,
                                   qlite::fb::Layout layout = qlite::fb::Layout::RowMajor) {
  qlite::SourceModel model;
  QLITE_RETURN_IF_ERROR(ImportBase(base, &model));
  std::vector<qlite::LoraAdapter> loaded(adapters.size());
  std::vector<qlite::ScaledLora> scaled;
  for (size_t i = 0; i < adapters.size(); ++i) {
    QLITE_RETURN_IF_ERROR(qlite::ReadLoraAdapter(adapters[i], model.config, &loaded[i]));
    scaled.push_back({&loaded[i], scales[i]});
  }
  qlite::ConvertOptions co;
  co.weights = qlite_e2e::Spec(weights);
  co.embeddings = qlite_e2e::Spec(weights == qlite::fb::DType::I4 ? qlite::fb::DType::I8 : weights);
  co.weights.layout = co.embeddings.layout = layout;
  QLITE_RETURN_IF_ERROR(qlite::SetLoraMerge(scaled, model.config, &co));
  qlite::ConvertSummary summary;
  return qlite::ConvertModel(model, co, out, nullptr, &summary);
}

inline std::vector<int32_t> Logits16Ids() {
  return qlite_e2e::Ints(qlite_e2e::JsonArray(ReadFile(Data("refs/logits16.json")), "token_ids"));
}
inline std::vector<float> RefLogits(const std::string& variant) {
  return qlite_e2e::ReadF32(Data("refs/logits16_" + variant + ".f32"));
}

// Teacher-forced logits [ids.size()][vocab] of a session (one token at a time).
inline std::vector<float> TeacherForced(qlite_session* s, const std::vector<int32_t>& ids, uint32_t vocab) {
  std::vector<float> out;
  if (qlite_session_reset(s) != QLITE_OK) return out;
  for (int32_t id : ids) {
    const float* l = nullptr;
    if (qlite_decode(s, id) != QLITE_OK || qlite_get_logits(s, &l) != QLITE_OK) return {};
    out.insert(out.end(), l, l + vocab);
  }
  return out;
}

inline qlite_session* GreedySession(qlite_model* m, uint64_t adapter_memory = 0) {
  qlite_session_params p = qlite_session_default_params();
  p.kv_type = QLITE_KV_F32;  // exact references: no cache rounding
  p.sampler.temperature = 0;
  p.sampler.repeat_penalty = 1;
  p.adapter_memory = adapter_memory;
  qlite_session* s = nullptr;
  if (qlite_session_create(m, &p, &s) != QLITE_OK) return nullptr;
  return s;
}

inline std::vector<float> LogitsOfFile(const std::string& qlm, const std::vector<int32_t>& ids) {
  qlite_model* m = nullptr;
  if (qlite_model_open(qlm.c_str(), nullptr, &m) != QLITE_OK) return {};
  qlite_session* s = GreedySession(m);
  std::vector<float> out = s ? TeacherForced(s, ids, 512) : std::vector<float>();
  qlite_session_free(s);
  qlite_model_free(m);
  return out;
}

inline float MaxAbsDiff(const std::vector<float>& a, const std::vector<float>& b) {
  if (a.size() != b.size() || a.empty()) return INFINITY;
  float d = 0;
  for (size_t i = 0; i < a.size(); ++i) d = std::max(d, std::fabs(a[i] - b[i]));
  return d;
}

// Mean KL(p || q) over rows of softmax(logits) and the share of rows with the same argmax.
inline void KlAndAgreement(const std::vector<float>& p_logits, const std::vector<float>& q_logits, size_t vocab,
                           double* kl, double* agree) {
  const size_t rows = p_logits.size() / vocab;
  double kl_sum = 0;
  size_t same = 0;
  for (size_t r = 0; r < rows; ++r) {
    const float* p = &p_logits[r * vocab];
    const float* q = &q_logits[r * vocab];
    double mp = p[0], mq = q[0];
    size_t ap = 0, aq = 0;
    for (size_t i = 1; i < vocab; ++i) {
      if (p[i] > mp) mp = p[i], ap = i;
      if (q[i] > mq) mq = q[i], aq = i;
    }
    double zp = 0, zq = 0;
    for (size_t i = 0; i < vocab; ++i) zp += std::exp(p[i] - mp), zq += std::exp(q[i] - mq);
    for (size_t i = 0; i < vocab; ++i) {
      const double lp = p[i] - mp - std::log(zp), lq = q[i] - mq - std::log(zq);
      kl_sum += std::exp(lp) * (lp - lq);
    }
    same += ap == aq;
  }
  *kl = rows ? kl_sum / rows : 0;
  *agree = rows ? double(same) / rows : 0;
}

}  // namespace lora_test
