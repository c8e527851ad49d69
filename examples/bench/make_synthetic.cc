// qlite_make_synthetic: writes a .qlm of a real model's shape with seeded random weights,
// for whole-model benchmarks without downloading the model. Weights ~ N(0, 0.02) (the scale
// of trained Llama projections), norms 1; the tokenizer is byte pieces only. Tensors are
// generated lazily, one at a time, inside ConvertModel, so memory stays bounded by the
// largest tensor.
//
//   qlite_make_synthetic --shape tinyllama|smollm2-135m -o OUT.qlm [--weights q4|q8|...]
//   qlite_make_synthetic --dim 512 --ffn 1376 --layers 8 --heads 8 --kv-heads 4 ... -o OUT.qlm
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "qlite/format/convert.h"
#include "qlite/format/model_file.h"
#include "quant_flags.h"

namespace {

constexpr const char* kProg = "qlite_make_synthetic";

void PrintHelp() {
  std::printf(
      "usage: %s (--shape NAME | --dim N --ffn N --layers N --heads N [dims]) -o OUT.qlm [options]\n"
      "  --shape NAME            tinyllama (TinyLlama-1.1B), smollm2-135m (SmolLM2-135M)\n"
      "  --dim --ffn --layers --heads --kv-heads --head-dim --vocab --context N\n"
      "                          explicit dimensions (override the shape's)\n"
      "  --tied / --untied       output shares token_embd or not\n"
      "  --seed N                weight seed (default 1)\n"
      "  --std S                 weight standard deviation (default 0.02)\n"
      "  -o, --output OUT.qlm    output file\n"
      "  -q, --quiet             no progress output\n"
      "%s",
      kProg, qlite_cli::kQuantFlagsHelp);
}

bool SetShape(const std::string& name, qlite::ModelConfig* c) {
  if (name == "tinyllama") {  // TinyLlama-1.1B (Llama 2 architecture, GQA 32/4)
    c->dim = 2048, c->ffn_dim = 5632, c->n_layers = 22, c->n_heads = 32, c->n_kv_heads = 4, c->head_dim = 64;
    c->vocab_size = 32000, c->context_length = 2048, c->tied_embeddings = false;
    c->rope_theta = 10000.0f;
  } else if (name == "smollm2-135m") {  // SmolLM2-135M (GQA 9/3, tied embeddings)
    c->dim = 576, c->ffn_dim = 1536, c->n_layers = 30, c->n_heads = 9, c->n_kv_heads = 3, c->head_dim = 64;
    c->vocab_size = 49152, c->context_length = 8192, c->tied_embeddings = true;
    c->rope_theta = 100000.0f;
  } else {
    return false;
  }
  c->rope_style = qlite::RopeStyle::RotateHalf;  // both come from HF checkpoints
  return true;
}

// Byte-fallback SentencePiece vocabulary: <unk> <s> </s>, the 256 byte pieces, then unused
// slots up to vocab_size. Enough to encode any text; the weights make no sense anyway.
qlite::TokenizerData ByteTokenizer(uint32_t vocab_size) {
  qlite::TokenizerData t;
  using qlite::fb::TokenKind;
  auto add = [&](std::string piece, TokenKind kind) {
    if (t.pieces.size() >= vocab_size) return;
    t.pieces.push_back(std::move(piece));
    t.scores.push_back(0.0f);
    t.kinds.push_back(kind);
  };
  add("<unk>", TokenKind::Unknown);
  add("<s>", TokenKind::Control);
  add("</s>", TokenKind::Control);
  for (int b = 0; b < 256; ++b) {
    char piece[8];
    std::snprintf(piece, sizeof(piece), "<0x%02X>", b);
    add(piece, TokenKind::Byte);
  }
  while (t.pieces.size() < vocab_size) add("<unused_" + std::to_string(t.pieces.size()) + ">", TokenKind::Unused);
  t.unk_id = 0, t.bos_id = 1, t.eos_id = 2;
  return t;
}

uint64_t SplitMix64(uint64_t* s) {
  uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

// n values ~ N(0, std) by Box-Muller on a SplitMix64 stream: deterministic per seed and
// several times faster than std::normal_distribution (TinyLlama has 1.1e9 values).
void FillNormal(uint64_t seed, float std_dev, std::vector<float>* out) {
  uint64_t s = seed;
  const double kTwoPi = 6.283185307179586;
  for (size_t i = 0; i < out->size(); i += 2) {
    const double u1 = (double(SplitMix64(&s) >> 11) + 1.0) * 0x1.0p-53;  // (0, 1]: log is finite
    const double u2 = double(SplitMix64(&s) >> 11) * 0x1.0p-53;
    const double r = std::sqrt(-2.0 * std::log(u1)) * std_dev;
    (*out)[i] = float(r * std::cos(kTwoPi * u2));
    if (i + 1 < out->size()) (*out)[i + 1] = float(r * std::sin(kTwoPi * u2));
  }
}

bool ParseU32(const char* s, uint32_t* v) {
  char* end = nullptr;
  const unsigned long x = std::strtoul(s, &end, 10);
  if (end == s || *end || x > 0xFFFFFFFFul) return false;
  *v = uint32_t(x);
  return true;
}

int Usage(const char* msg, const char* arg) {
  std::fprintf(stderr, "%s: %s%s%s\n(see %s --help)\n", kProg, msg, arg ? " " : "", arg ? arg : "", kProg);
  return 2;
}

int Main(int argc, char** argv) {
  qlite::ModelConfig c;
  c.bos_id = 1, c.eos_id = 2;
  c.rope_style = qlite::RopeStyle::RotateHalf;
  qlite_cli::QuantFlags quant;
  std::string out, shape;
  uint64_t seed = 1;
  float std_dev = 0.02f;
  bool quiet = false;
  struct Dim { const char* flag; uint32_t* dst; };
  const Dim dims[] = {{"--dim", &c.dim},           {"--ffn", &c.ffn_dim},         {"--layers", &c.n_layers},
                      {"--heads", &c.n_heads},     {"--kv-heads", &c.n_kv_heads}, {"--head-dim", &c.head_dim},
                      {"--vocab", &c.vocab_size},  {"--context", &c.context_length}};
  // Shape first, so explicit dimensions override it wherever they appear.
  for (int i = 1; i + 1 < argc; ++i)
    if (!std::strcmp(argv[i], "--shape")) shape = argv[i + 1];
  if (!shape.empty() && !SetShape(shape, &c)) return Usage("unknown --shape", shape.c_str());
  for (int i = 1; i < argc; ++i) {
    const int r = qlite_cli::ParseQuantFlag(argc, argv, &i, &quant, kProg);
    if (r < 0) return 2;
    if (r > 0) continue;
    const char* a = argv[i];
    auto is = [&](const char* name) { return !std::strcmp(a, name); };
    if (is("-h") || is("--help")) {
      PrintHelp();
      return 0;
    }
    if (is("--tied") || is("--untied")) {
      c.tied_embeddings = is("--tied");
      continue;
    }
    if (is("-q") || is("--quiet")) {
      quiet = true;
      continue;
    }
    if (i + 1 >= argc) return Usage("unknown flag or missing value:", a);
    const char* v = argv[++i];
    bool matched = false;
    for (const Dim& d : dims)
      if (is(d.flag)) {
        if (!ParseU32(v, d.dst)) return Usage("bad number for", a);
        matched = true;
      }
    if (matched || is("--shape")) continue;
    if (is("-o") || is("--output")) {
      out = v;
    } else if (is("--seed")) {
      seed = std::strtoull(v, nullptr, 10);
    } else if (is("--std")) {
      std_dev = std::strtof(v, nullptr);
      if (!(std_dev > 0 && std_dev < 10)) return Usage("--std must be in (0, 10), not", v);
    } else {
      return Usage("unknown flag", a);
    }
  }
  if (out.empty()) return Usage("missing -o OUT.qlm", nullptr);
  if (c.n_kv_heads == 0) c.n_kv_heads = c.n_heads;
  if (c.head_dim == 0 && c.n_heads) c.head_dim = c.dim / c.n_heads;
  if (c.vocab_size == 0) c.vocab_size = 512;
  if (c.context_length == 0) c.context_length = 2048;
  if (c.vocab_size < 3) return Usage("--vocab must be at least 3", nullptr);
  const qlite::Status config_ok = qlite::CheckConfig(c);
  if (!config_ok.ok()) return Usage(config_ok.message().c_str(), nullptr);

  qlite::ConvertOptions options;
  if (!qlite_cli::QuantFlagsToOptions(quant, &options, kProg)) return 2;

  qlite::SourceModel model;
  model.config = c;
  model.tokenizer = ByteTokenizer(c.vocab_size);
  model.source_path = "synthetic:" + (shape.empty() ? std::string("custom") : shape) + ":seed" + std::to_string(seed);
  model.source_format = "synthetic";
  uint64_t index = 0;
  for (const qlite::ExpectedTensor& e : qlite::ExpectedTensors(c)) {
    qlite::SourceTensor t;
    t.name = e.name;
    t.shape = e.shape;
    t.source_dtype = "F32";
    uint64_t n = 1;
    for (uint64_t d : e.shape) n *= d;
    const bool norm = e.shape.size() == 1;
    const uint64_t tensor_seed = seed * 0x100000001B3ull + index++;
    t.load = [n, norm, tensor_seed, std_dev](std::vector<float>* values) {
      values->resize(n);
      if (norm) std::fill(values->begin(), values->end(), 1.0f);
      else FillNormal(tensor_seed, std_dev, values);
      return qlite::Status::Ok();
    };
    model.tensors.push_back(std::move(t));
  }

  if (!quiet)
    std::fprintf(stderr, "%s: %u layers, dim %u, heads %u/%u of %u, ffn %u, vocab %u, context %u, %s\n",
                 model.source_path.c_str(), c.n_layers, c.dim, c.n_heads, c.n_kv_heads, c.head_dim, c.ffn_dim,
                 c.vocab_size, c.context_length, c.tied_embeddings ? "tied" : "untied");
  size_t last_pct = 0;
  auto progress = [&](size_t done, size_t total, const std::string& name) {
    if (quiet || total == 0) return;
    const size_t pct = done * 100 / total;
    if (pct >= last_pct + 10 || done == total) {
      std::fprintf(stderr, "[%3zu%%] %zu/%zu %s\n", pct, done, total, name.c_str());
      last_pct = pct;
    }
  };
  qlite::ConvertSummary summary;
  const qlite::Status s = qlite::ConvertModel(model, options, out, progress, &summary);
  if (!s.ok()) {
    std::fprintf(stderr, "%s: %s\n", kProg, s.message().c_str());
    return 1;
  }
  std::printf("wrote %s: %.2fM params, %.1f MiB (%.2f bits/param)\n", out.c_str(), summary.n_params / 1e6,
              summary.file_size / 1048576.0, summary.n_params ? 8.0 * summary.file_size / summary.n_params : 0.0);
  return 0;
}

}  // namespace

int main(int argc, char** argv) { return Main(argc, argv); }
