// ggml_kernel_loop: llama.cpp's (ggml's) CPU matmul kernels in a loop, the peer of
// examples/bench/qlite_kernel_loop for scripts/arm_peer_insns.sh, which cross-builds it for
// aarch64 against ggml's static libraries and counts its instructions under qemu-user. Not part
// of CI, not part of qlite's build.
//
//   ggml_kernel_loop --type q4_0|q8_0 --op gemv|gemm --path plain|repack|llamafile
//                    [--variant 4x4|4x8] [--rows R] [--cols C] [--batch B] [--iters N]
//
// A seeded random f32 matrix [R][C] is quantized by ggml_quantize_chunk, the activations (1
// token for gemv, B for gemm) to Q8_0 the way each path's mul_mat does; then N times:
//   plain:     the type traits' vec_dot once per row and token, as
//              ggml_compute_forward_mul_mat_one_chunk calls it (2 rows x 2 tokens a call where
//              the traits' nrows is 2: i8mm builds, even shapes);
//   repack:    the weights repacked by ggml's repack<> (what the CPU_REPACK buffer does on load),
//              the token groups of 4 quantized by ggml_quantize_mat_q8_0_4x4 / 4x8, and
//              ggml_gemm_<type>_<variant>_q8_0 for whole groups, ggml_gemv_... for the rest, as
//              repack.cpp's forward_mul_mat_one_chunk calls them (one chunk: all rows);
//   llamafile: llamafile_sgemm on the Q8_0 activations (gemm only): what ggml's mul_mat runs first
//              for >= 2 tokens in builds with dotprod, before vec_dot.
// --variant: the repack layout, by default the one ggml picks in this build (4x8 with i8mm,
// else 4x4). --iters 0 does the setup only. The output's checksum keeps the work alive.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "ggml.h"
#include "ggml-cpu.h"
#include "ggml-cpu-impl.h"  // ggml_compute_params, for llamafile_sgemm
#include "llamafile/sgemm.h"
#include "repack.h"

// ggml's repack functions (ggml-cpu/repack.cpp): explicit specializations with external linkage.
namespace ggml::cpu::repack {
template <typename BLOC_TYPE, int64_t INTER_SIZE, int64_t NB_COLS>
int repack(struct ggml_tensor *, const void *, size_t);
template <> int repack<block_q4_0, 4, 4>(struct ggml_tensor *, const void *, size_t);
template <> int repack<block_q4_0, 8, 4>(struct ggml_tensor *, const void *, size_t);
template <> int repack<block_q8_0, 4, 4>(struct ggml_tensor *, const void *, size_t);
template <> int repack<block_q8_0, 8, 4>(struct ggml_tensor *, const void *, size_t);
}  // namespace ggml::cpu::repack

using kernel_fn = void (*)(int, float *, size_t, const void *, const void *, int, int);

[[noreturn]] static void die(const char * msg, const std::string & arg = "") {
  std::fprintf(stderr, "ggml_kernel_loop: %s%s\n", msg, arg.c_str());
  std::exit(2);
}

static uint64_t rng = 0x9E3779B97F4A7C15ull;
static float frand() {  // xorshift64, uniform in [-1, 1)
  rng ^= rng << 13;
  rng ^= rng >> 7;
  rng ^= rng << 17;
  return float(rng >> 40) * (2.0f / float(1 << 24)) - 1.0f;
}

int main(int argc, char ** argv) {
  std::string type = "q4_0", op = "gemv", path = "plain";
  std::string variant = ggml_cpu_has_matmul_int8() ? "4x8" : "4x4";
  long rows = 256, cols = 2048, batch = 8, iters = 2;
  for (int i = 1; i < argc; i++) {
    const std::string a = argv[i];
    if (i + 1 >= argc) die("missing value after ", a);
    const std::string v = argv[++i];
    if (a == "--type") type = v;
    else if (a == "--op") op = v;
    else if (a == "--path") path = v;
    else if (a == "--variant") variant = v;
    else if (a == "--rows") rows = std::atol(v.c_str());
    else if (a == "--cols") cols = std::atol(v.c_str());
    else if (a == "--batch") batch = std::atol(v.c_str());
    else if (a == "--iters") iters = std::atol(v.c_str());
    else die("unknown argument ", a);
  }
  if (type != "q4_0" && type != "q8_0") die("--type must be q4_0 or q8_0, not ", type);
  if (op != "gemv" && op != "gemm") die("--op must be gemv or gemm, not ", op);
  if (path != "plain" && path != "repack" && path != "llamafile") die("unknown --path ", path);
  if (variant != "4x4" && variant != "4x8") die("--variant must be 4x4 or 4x8, not ", variant);
  if (rows <= 0 || rows % 4 || cols <= 0 || cols % 32 || batch <= 0 || iters < 0)
    die("rows must be a multiple of 4, cols of 32; batch > 0, iters >= 0");
  // No ggml_cpu_init(): its tables (GELU, the fp16 lookup) serve none of these kernels on AArch64,
  // where fp16 converts natively, and filling them costs 12 M emulated instructions a run.

  const bool q4 = type == "q4_0", i8 = variant == "4x8";
  const ggml_type wtype = q4 ? GGML_TYPE_Q4_0 : GGML_TYPE_Q8_0;
  const long tokens = op == "gemm" ? batch : 1;
  const size_t wrow = ggml_row_size(wtype, cols), arow = ggml_row_size(GGML_TYPE_Q8_0, cols);
  std::vector<float> w(rows * cols), x(tokens * cols), out(tokens * rows, 0.0f);
  for (float & v : w) v = frand();
  for (float & v : x) v = frand();
  std::vector<uint8_t> wq(rows * wrow), aq(tokens * arow);
  ggml_quantize_chunk(wtype, w.data(), wq.data(), 0, rows, cols, nullptr);

  // Activations: groups of 4 tokens in the repacked gemm's layout, the rest row by row with the
  // Q8_0 traits' from_float (mul_mat's src1 conversion).
  const ggml_type_traits_cpu * traits = ggml_get_type_traits_cpu(wtype);
  const ggml_from_float_t to_q8 = ggml_get_type_traits_cpu(GGML_TYPE_Q8_0)->from_float;
  const long grouped = path == "repack" ? tokens - tokens % 4 : 0;
  for (long t = 0; t < grouped; t += 4)
    (i8 ? ggml_quantize_mat_q8_0_4x8 : ggml_quantize_mat_q8_0_4x4)(&x[t * cols], &aq[t * arow], cols);
  for (long t = grouped; t < tokens; t++) to_q8(&x[t * cols], &aq[t * arow], cols);

  // Repacked weights: a ggml tensor of the same size, filled by ggml's repack<>.
  ggml_init_params ip = {ggml_tensor_overhead() + rows * wrow + 256, nullptr, false};
  ggml_context * ctx = ggml_init(ip);
  ggml_tensor * packed = ggml_new_tensor_2d(ctx, wtype, cols, rows);
  kernel_fn gemv = nullptr, gemm = nullptr;
  if (path == "repack") {
    using namespace ggml::cpu::repack;
    int rc;
    if (q4) {
      rc = i8 ? repack<block_q4_0, 8, 4>(packed, wq.data(), wq.size()) : repack<block_q4_0, 4, 4>(packed, wq.data(), wq.size());
      gemv = i8 ? ggml_gemv_q4_0_4x8_q8_0 : ggml_gemv_q4_0_4x4_q8_0;
      gemm = i8 ? ggml_gemm_q4_0_4x8_q8_0 : ggml_gemm_q4_0_4x4_q8_0;
    } else {
      rc = i8 ? repack<block_q8_0, 8, 4>(packed, wq.data(), wq.size()) : repack<block_q8_0, 4, 4>(packed, wq.data(), wq.size());
      gemv = i8 ? ggml_gemv_q8_0_4x8_q8_0 : ggml_gemv_q8_0_4x4_q8_0;
      gemm = i8 ? ggml_gemm_q8_0_4x8_q8_0 : ggml_gemm_q8_0_4x4_q8_0;
    }
    if (rc != 0) die("ggml's repack refused the shape");
  }
  // mul_mat's vec_dot takes 2 rows x 2 tokens a call where the traits say so and both are even.
  const long nrv = traits->nrows > 1 && rows % 2 == 0 && tokens % 2 == 0 ? traits->nrows : 1;
  ggml_compute_params params = {};
  params.ith = 0;
  params.nth = 1;

  for (long it = 0; it < iters; it++) {
    if (path == "plain") {
      for (long t = 0; t < tokens; t += nrv)
        for (long r = 0; r < rows; r += nrv)
          traits->vec_dot(int(cols), &out[t * rows + r], nrv > 1 ? rows : 0, &wq[r * wrow], nrv > 1 ? wrow : 0,
                          &aq[t * arow], nrv > 1 ? arow : 0, int(nrv));
    } else if (path == "repack") {
      if (grouped) gemm(int(cols), out.data(), rows, packed->data, aq.data(), int(grouped), int(rows));
      for (long t = grouped; t < tokens; t++)
        gemv(int(cols), &out[t * rows], rows, packed->data, &aq[t * arow], 1, int(rows));
    } else {
      const long blocks = cols / 32;  // lda, ldb, k: in blocks, as mul_mat passes them
      if (!llamafile_sgemm(&params, rows, tokens, blocks, wq.data(), blocks, aq.data(), blocks, out.data(), rows,
                           wtype, GGML_TYPE_Q8_0, GGML_TYPE_F32))
        die("llamafile_sgemm declined (1 token, or a build without dotprod)");
    }
  }
  double sum = 0;
  for (float v : out) sum += v;
  std::printf("ggml_kernel_loop %s %s %s%s%s rows %ld cols %ld tokens %ld iters %ld vec_dot nrows %ld checksum %.6g\n",
              type.c_str(), op.c_str(), path.c_str(), path == "repack" ? " " : "", path == "repack" ? variant.c_str() : "",
              rows, cols, tokens, iters, nrv, sum);
  ggml_free(ctx);
  return 0;
}
