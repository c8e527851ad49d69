// Quantization flags shared by the programs that write .qlm files (qlite convert,
// qlite_make_synthetic): --weights, --embed-weights, --group-size, --granularity,
// --scale-type, --layout. Header-only, like session_flags.h.
#pragma once
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "qlite/arch/matmul.h"
#include "qlite/format/convert.h"

namespace qlite_cli {

struct QuantFlags {
  std::string weights, embed, granularity = "group", scale_type = "f16", layout;
  std::vector<std::string> tensor_weights;  // NAME=SCHEME
  uint32_t group_size = 32;
};

inline const char* kQuantFlagsHelp =
    "  --weights SCHEME        projection weights: q4 (int4 symmetric), q4a (int4 with min), q8, nf4,\n"
    "                          f16, bf16, f32. Default: a quantized source (GGUF Q4_0, Q4_K, ...) keeps\n"
    "                          each tensor in the scheme that holds its values exactly (Q4_0 q4, Q4_1\n"
    "                          q4a, Q4_K q4a with f32 scales, Q5_0 and Q8_0 q8, float as is) or the\n"
    "                          nearest larger one (q8 for Q5_1, Q2_K, Q3_K, Q5_K, Q6_K); other\n"
    "                          sources get q4\n"
    "  --embed-weights SCHEME  token_embd/output (default: like --weights' default when it is not\n"
    "                          given, else q8 when --weights is 4-bit, else the same)\n"
    "  --tensor-weights NAME=SCHEME  tensors named NAME (exactly, or blk.N.NAME in every layer: ffn_down,\n"
    "                          attn_v, ...) in SCHEME instead, with the same group, scale type and layout;\n"
    "                          repeatable, the first match wins\n"
    "  --group-size N          32 (default), 64 or 128\n"
    "  --granularity G         group (default), row or tensor\n"
    "  --scale-type T          f16 (default), f32, or dq (u8 double-quantized scales)\n"
    "  --layout L              interleave16 (default for integer weights: 16-row lanes, read in\n"
    "                          place on x86 with AVX2 and on every 64-bit Arm CPU), rowmajor (the\n"
    "                          default for float weights and double-quantized scales; what\n"
    "                          32-bit Arm and pre-AVX2 x86 read fastest), interleave4 (4-row\n"
    "                          interleaved blocks), or auto: the fastest on this CPU\n";

inline bool ParseQuantScheme(const std::string& s, qlite::fb::DType* dtype) {
  using qlite::fb::DType;
  if (s == "q4") *dtype = DType::I4;
  else if (s == "q4a") *dtype = DType::U4;
  else if (s == "q8") *dtype = DType::I8;
  else if (s == "nf4") *dtype = DType::NF4;
  else if (s == "f16") *dtype = DType::F16;
  else if (s == "bf16") *dtype = DType::BF16;
  else if (s == "f32") *dtype = DType::F32;
  else return false;
  return true;
}

inline bool IsFourBit(qlite::fb::DType d) {
  return d == qlite::fb::DType::I4 || d == qlite::fb::DType::U4 || d == qlite::fb::DType::NF4;
}

// Consumes argv[*i] (and its value) when it is a quantization flag. Returns 1 if consumed,
// 0 if not ours, -1 on a missing or bad value (message printed with prog).
inline int ParseQuantFlag(int argc, char** argv, int* i, QuantFlags* f, const char* prog) {
  const char* a = argv[*i];
  auto is = [&](const char* name) { return std::strcmp(a, name) == 0; };
  std::string* dst = is("--weights")         ? &f->weights
                     : is("--embed-weights") ? &f->embed
                     : is("--granularity")   ? &f->granularity
                     : is("--scale-type")    ? &f->scale_type
                     : is("--layout")        ? &f->layout
                                             : nullptr;
  if (is("--tensor-weights")) {
    if (*i + 1 >= argc || !std::strchr(argv[*i + 1], '=')) {
      std::fprintf(stderr, "%s: --tensor-weights needs NAME=SCHEME\n", prog);
      return -1;
    }
    f->tensor_weights.push_back(argv[++*i]);
    return 1;
  }
  if (!dst && !is("--group-size")) return 0;
  if (*i + 1 >= argc) {
    std::fprintf(stderr, "%s: missing value for %s\n", prog, a);
    return -1;
  }
  const char* v = argv[++*i];
  if (dst) {
    *dst = v;
    return 1;
  }
  if (std::strcmp(v, "32") && std::strcmp(v, "64") && std::strcmp(v, "128")) {
    std::fprintf(stderr, "%s: --group-size must be 32, 64 or 128, not %s\n", prog, v);
    return -1;
  }
  f->group_size = uint32_t(std::strtoul(v, nullptr, 10));  // one of the three checked above
  return 1;
}

// No --layout: Interleave16x4 where the scheme has it (integer weights whose scales can be
// regrouped), read in place by the x86 AVX2/AVX-512 and every AArch64 CPU's kernels, so one
// file is fast on a Pi 4, a Pi 5, a phone and a PC; RowMajor otherwise.
inline qlite::fb::Layout DefaultLayout(const qlite::QuantSpec& s) {
  const bool lanes = !qlite::IsFloatType(s.dtype) &&
                     !(s.scale_type == qlite::fb::DType::U8 && s.granularity != qlite::fb::Granularity::PerTensor);
  return lanes ? qlite::fb::Layout::Interleave16x4 : qlite::fb::Layout::RowMajor;
}

// --layout auto: what arch::PreferredLayout picks on this CPU for weights of `d`.
inline qlite::fb::Layout AutoLayout(qlite::fb::DType d) {
  using qlite::arch::WeightType;
  using qlite::fb::DType;
  const WeightType t = d == DType::I8 ? WeightType::kI8 : d == DType::I4 ? WeightType::kI4
                     : d == DType::U4 ? WeightType::kU4 : d == DType::NF4 ? WeightType::kNF4
                                                                           : WeightType::kF32;
  return qlite::arch::PreferredLayout(t) == qlite::arch::WeightLayout::kInterleave16x4
             ? qlite::fb::Layout::Interleave16x4
             : qlite::fb::Layout::RowMajor;
}

inline std::string LayoutName(qlite::fb::Layout l) {
  return l == qlite::fb::Layout::Interleave16x4   ? "interleave16"
         : l == qlite::fb::Layout::Interleave4x32 ? "interleave4"
                                                  : "rowmajor";
}

// Fills options->weights, ->embeddings and ->quantization_text. False (message printed with
// prog) on an unknown value.
inline bool QuantFlagsToOptions(const QuantFlags& f, qlite::ConvertOptions* options, const char* prog) {
  auto bad = [&](const char* what, const std::string& v) {
    std::fprintf(stderr, "%s: unknown %s %s\n", prog, what, v.c_str());
    return false;
  };
  // No --weights: keep a quantized source's schemes (q4 for the rest); likewise embeddings.
  const std::string weights = f.weights.empty() ? "q4" : f.weights;
  options->keep_source_weights = f.weights.empty();
  options->keep_source_embeddings = f.weights.empty() && f.embed.empty();
  qlite::QuantSpec& w = options->weights;
  if (!ParseQuantScheme(weights, &w.dtype)) return bad("--weights scheme", weights);
  if (f.granularity == "group") w.granularity = qlite::fb::Granularity::Group;
  else if (f.granularity == "row") w.granularity = qlite::fb::Granularity::PerRow;
  else if (f.granularity == "tensor") w.granularity = qlite::fb::Granularity::PerTensor;
  else return bad("--granularity", f.granularity);
  if (f.scale_type == "f16") w.scale_type = qlite::fb::DType::F16;
  else if (f.scale_type == "f32") w.scale_type = qlite::fb::DType::F32;
  else if (f.scale_type == "dq") w.scale_type = qlite::fb::DType::U8;
  else return bad("--scale-type", f.scale_type);
  const std::string layout = f.layout;
  if (layout == "rowmajor") w.layout = qlite::fb::Layout::RowMajor;
  else if (layout == "interleave4") w.layout = qlite::fb::Layout::Interleave4x32;
  else if (layout == "interleave16") w.layout = qlite::fb::Layout::Interleave16x4;
  else if (layout != "auto" && !layout.empty()) return bad("--layout", f.layout);
  w.group_size = f.group_size;
  const std::string embed = f.embed.empty() ? (IsFourBit(w.dtype) ? "q8" : weights) : f.embed;
  options->embeddings = w;
  if (!ParseQuantScheme(embed, &options->embeddings.dtype)) return bad("--embed-weights scheme", embed);
  // token_embd/output take --layout too (float ones are RowMajor only): the output head is
  // the largest matrix a decode token streams, and lookups read one row in any layout.
  const qlite::fb::DType e = options->embeddings.dtype;
  if (e == qlite::fb::DType::F32 || e == qlite::fb::DType::F16 || e == qlite::fb::DType::BF16)
    options->embeddings.layout = qlite::fb::Layout::RowMajor;
  std::string layout_text = layout;
  if (layout.empty()) {
    options->weights.layout = DefaultLayout(options->weights);
    options->embeddings.layout = DefaultLayout(options->embeddings);
    layout_text = LayoutName(options->weights.layout);
    if (options->embeddings.layout != options->weights.layout)
      layout_text += " (embeddings " + LayoutName(options->embeddings.layout) + ")";
  } else if (layout == "auto") {  // per part: e.g. 4-bit projections interleaved, a q8 head not
    options->weights.layout = AutoLayout(options->weights.dtype);
    options->embeddings.layout = AutoLayout(options->embeddings.dtype);
    layout_text = LayoutName(options->weights.layout);
    if (options->embeddings.layout != options->weights.layout)
      layout_text += " (embeddings " + LayoutName(options->embeddings.layout) + ")";
  }
  std::string overrides;
  for (const std::string& tw : f.tensor_weights) {
    const size_t eq = tw.find('=');
    qlite::QuantSpec spec = options->weights;
    if (!ParseQuantScheme(tw.substr(eq + 1), &spec.dtype)) return bad("--tensor-weights scheme", tw.substr(eq + 1));
    if (qlite::IsFloatType(spec.dtype)) spec.layout = qlite::fb::Layout::RowMajor;
    else if (layout == "auto") spec.layout = AutoLayout(spec.dtype);
    else if (layout.empty()) spec.layout = DefaultLayout(spec);
    options->tensor_weights.emplace_back(tw.substr(0, eq), spec);
    overrides += " --tensor-weights " + tw;
  }
  options->quantization_text = "--weights " + weights + " --embed-weights " + embed + " --group-size " +
                               std::to_string(f.group_size) + " --granularity " + f.granularity +
                               " --scale-type " + f.scale_type + " --layout " + layout_text + overrides;
  return true;
}

}  // namespace qlite_cli
