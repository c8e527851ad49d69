// qlite_kernel_loop: one int8-activation kernel (GemvQ8, or GemmQ8 over a batch) run N times
// on a seeded matrix, with no timing and no read probe: for counting instructions where
// nothing can be timed (scripts/arm_kernel_insns.sh runs it under qemu-user, with N and with
// 0 iterations, and reports instructions per weight) and for profilers.
//
//   qlite_kernel_loop [--scheme i4|u4|nf4|i8] [--op q8|gemmq8] [--batch B] [--rows R]
//                     [--cols C] [--iters N] [--layout rowmajor|interleave16]
//                     [--arm-dot none|sdot|all]
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "arm_dot_flag.h"
#include "qlite/arch/matmul.h"
#include "qlite/arch/reference.h"

namespace {

using qlite::arch::WeightLayout;
using qlite::arch::WeightType;

int Usage(const char* argv0, int rc) {
  std::fprintf(rc ? stderr : stdout,
               "usage: %s [--scheme i4|u4|nf4|i8] [--op q8|gemmq8] [--batch B] [--rows R]\n"
               "          [--cols C] [--iters N] [--layout rowmajor|interleave16]\n"
               "          [--arm-dot none|sdot|all]\n",
               argv0);
  return rc;
}

}  // namespace

int main(int argc, char** argv) {
  std::string scheme = "i4", op = "q8", layout = "rowmajor";
  size_t batch = 8, rows = 2048, cols = 2048, iters = 1;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--help") return Usage(argv[0], 0);
    if (i + 1 >= argc) return Usage(argv[0], 2);
    const std::string v = argv[++i];
    if (a == "--scheme") scheme = v;
    else if (a == "--op") op = v;
    else if (a == "--layout") layout = v;
    else if (a == "--batch") batch = std::strtoul(v.c_str(), nullptr, 10);
    else if (a == "--rows") rows = std::strtoul(v.c_str(), nullptr, 10);
    else if (a == "--cols") cols = std::strtoul(v.c_str(), nullptr, 10);
    else if (a == "--iters") iters = std::strtoul(v.c_str(), nullptr, 10);
    else if (a == "--arm-dot") {
      if (!qlite_bench::ApplyArmDotFlag(v)) return Usage(argv[0], 2);
    } else {
      return Usage(argv[0], 2);
    }
  }
  WeightType type;
  if (scheme == "i4") type = WeightType::kI4;
  else if (scheme == "u4") type = WeightType::kU4;
  else if (scheme == "nf4") type = WeightType::kNF4;
  else if (scheme == "i8") type = WeightType::kI8;
  else return Usage(argv[0], 2);
  if (op != "q8" && op != "gemmq8") return Usage(argv[0], 2);
  if (layout != "rowmajor" && layout != "interleave16") return Usage(argv[0], 2);
  if (cols % 32 != 0 || rows == 0 || cols == 0 || batch == 0) {
    std::fprintf(stderr, "rows, cols, batch > 0 and cols a multiple of 32\n");
    return 2;
  }

  // Group-32 f16 scales, as the converter writes by default. Random codes: the kernels'
  // work does not depend on the values.
  const size_t stored_rows = layout == "interleave16" ? (rows + 15) / 16 * 16 : rows;
  const size_t stride = type == WeightType::kI8 ? cols : cols / 2;
  const size_t groups = cols / 32;
  std::mt19937 rng(7);
  std::vector<uint8_t> data(stored_rows * stride);
  for (uint8_t& b : data) b = static_cast<uint8_t>(rng());
  std::vector<uint16_t> scales(stored_rows * groups), mins(stored_rows * groups);
  for (size_t i = 0; i < scales.size(); ++i) {
    scales[i] = qlite::F32ToF16(0.01f + 0.001f * static_cast<float>(rng() % 16));
    mins[i] = qlite::F32ToF16(-0.05f);
  }
  qlite::arch::WeightMatrix w;
  w.type = type;
  w.layout = layout == "interleave16" ? WeightLayout::kInterleave16x4 : WeightLayout::kRowMajor;
  w.rows = rows;
  w.cols = cols;
  w.row_stride = stride;
  w.data = data.data();
  w.group_size = 32;
  w.scale_type = qlite::arch::ScaleType::kF16;
  w.scales = scales.data();
  if (type == WeightType::kU4) w.mins = mins.data();
  if (const char* why = qlite::arch::CheckWeightMatrix(w)) {
    std::fprintf(stderr, "bad matrix: %s\n", why);
    return 1;
  }

  const size_t tokens = op == "q8" ? 1 : batch;
  std::vector<std::vector<uint8_t>> act_bytes(tokens);
  std::vector<qlite::arch::QuantizedActivations> acts(tokens);
  std::vector<float> x(cols);
  for (size_t t = 0; t < tokens; ++t) {
    for (float& v : x) v = static_cast<float>(static_cast<int>(rng() % 2001) - 1000) / 1000.0f;
    act_bytes[t].resize(qlite::arch::QuantizedActivationsBytes(cols) + 64);
    uint8_t* p = act_bytes[t].data();
    p += (64 - reinterpret_cast<uintptr_t>(p) % 64) % 64;
    acts[t] = qlite::arch::BindQuantizedActivations(p, cols);
    qlite::arch::QuantizeActivations(x.data(), cols, &acts[t]);
  }
  std::vector<float> y(tokens * rows);
  for (size_t i = 0; i < iters; ++i) {
    if (op == "q8") qlite::arch::GemvQ8(w, acts[0], y.data(), nullptr);
    else qlite::arch::GemmQ8(w, acts.data(), tokens, y.data(), rows, nullptr);
  }
  double checksum = 0.0;
  for (float v : y) checksum += v;
  std::printf("target %s%s, %s %s %zu x %zu, %zu token(s), %zu iteration(s), checksum %.6g\n",
              qlite::arch::DispatchedTargetName(), qlite_bench::ArmDotSuffix().c_str(),
              scheme.c_str(), op.c_str(), rows, cols, tokens, iters, checksum);
  return 0;
}
