// qlite_bench_kernels: GEMV/GEMM speed per weight scheme and thread count, as GB/s of
// weight bytes streamed and tokens/s for a TinyLlama-1.1B-shaped stack, next to the
// read bandwidth measured in the same run with the same threads.
//
//   qlite_bench_kernels [--schemes i4,i8,...] [--ops q8,f32,gemm,gemmq8] [--threads 1,2]
//                       [--reps N] [--mem-mb M] [--probe-mb P] [--batch B] [--layout L]
//                       [--quick] [--probe-only] [--target AVX2|SSE4|...]
//                       [--arm-dot none|sdot|all]
//
// Matrices >> LLC: layers are allocated until --mem-mb is reached (or the full stack fits);
// tokens/s scales the measured time to the whole stack's bytes. On a shared machine the
// bandwidth drifts within seconds, so each kernel pass is paired with a read-probe pass
// just before it and the ratio is the median of the per-pair ratios.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "arm_dot_flag.h"
#include "bench_bandwidth.h"
#include "hwy/targets.h"
#include "qlite/arch/matmul.h"
#include "qlite/arch/threads.h"

namespace {

using qlite::arch::QuantizedActivations;
using qlite::arch::ScaleType;
using qlite::arch::ThreadPool;
using qlite::arch::WeightLayout;
using qlite::arch::WeightMatrix;
using qlite::arch::WeightType;

// TinyLlama-1.1B: dim 2048, ffn 5632, 22 layers, 32 heads / 4 kv heads of 64, vocab 32000.
constexpr size_t kDim = 2048, kFfn = 5632, kLayers = 22, kKvDim = 4 * 64, kVocab = 32000;
struct Shape { size_t rows, cols; };
const Shape kLayerShapes[] = {{kDim, kDim}, {kKvDim, kDim}, {kKvDim, kDim}, {kDim, kDim},
                              {kFfn, kDim}, {kFfn, kDim}, {kDim, kFfn}};

struct Scheme { const char* name; WeightType type; };
const Scheme kSchemes[] = {{"i4", WeightType::kI4},   {"u4", WeightType::kU4},
                           {"nf4", WeightType::kNF4}, {"i8", WeightType::kI8},
                           {"f16", WeightType::kF16}, {"bf16", WeightType::kBF16},
                           {"f32", WeightType::kF32}};

struct AlignedFree { void operator()(void* p) const { std::free(p); } };
using Buffer = std::unique_ptr<uint8_t, AlignedFree>;

Buffer Alloc(size_t bytes) {
  bytes = (bytes + 63) / 64 * 64;
  return Buffer(static_cast<uint8_t*>(std::aligned_alloc(64, bytes)));
}

void FillRandom(uint8_t* p, size_t bytes, uint64_t seed) {
  uint64_t s = seed * 0x9E3779B97F4A7C15ull + 1;
  for (size_t i = 0; i + 8 <= bytes; i += 8) {
    s ^= s << 13; s ^= s >> 7; s ^= s << 17;
    std::memcpy(p + i, &s, 8);
  }
}

bool IsFloat(WeightType t) {
  return t == WeightType::kF32 || t == WeightType::kF16 || t == WeightType::kBF16;
}

size_t RowStride(WeightType t, size_t cols) {
  const size_t padded = (cols + 31) / 32 * 32;
  switch (t) {
    case WeightType::kF32: return cols * 4;
    case WeightType::kF16:
    case WeightType::kBF16: return cols * 2;
    case WeightType::kI8: return padded;
    default: return padded / 2;
  }
}

// Random bits would include NaN/Inf: keep sign and mantissa, force magnitudes in [0.5, 1).
void MakeFinite(WeightType t, uint8_t* p, size_t bytes) {
  if (t == WeightType::kF32) {
    for (size_t i = 0; i + 4 <= bytes; i += 4) {
      uint32_t v;
      std::memcpy(&v, p + i, 4);
      v = (v & 0x807FFFFFu) | 0x3F000000u;
      std::memcpy(p + i, &v, 4);
    }
    return;
  }
  const uint16_t keep = t == WeightType::kF16 ? 0x83FF : 0x807F;
  const uint16_t exp = t == WeightType::kF16 ? 0x3800 : 0x3F00;
  for (size_t i = 0; i + 2 <= bytes; i += 2) {
    uint16_t v;
    std::memcpy(&v, p + i, 2);
    v = static_cast<uint16_t>((v & keep) | exp);
    std::memcpy(p + i, &v, 2);
  }
}

// Bytes one product streams: the stored rows plus F16 group-32 scales (and U4 mins).
double MatrixBytes(WeightType t, Shape s) {
  double bytes = double(s.rows) * RowStride(t, s.cols);
  if (!IsFloat(t)) bytes += 2.0 * s.rows * ((s.cols + 31) / 32) * (t == WeightType::kU4 ? 2 : 1);
  return bytes;
}

struct Matrix {
  WeightMatrix w;
  Buffer data, scales, mins;
  double bytes = 0;  // weight + scale bytes streamed per product
};

Matrix MakeMatrix(WeightType t, Shape s, WeightLayout layout, uint64_t seed) {
  Matrix m;
  m.w.type = t;
  m.w.rows = s.rows;
  m.w.cols = s.cols;
  m.w.row_stride = RowStride(t, s.cols);
  m.w.layout = IsFloat(t) ? WeightLayout::kRowMajor : layout;
  const size_t stored_rows = (s.rows + 15) / 16 * 16;  // enough for every layout's padding
  const size_t data_bytes = stored_rows * m.w.row_stride;
  m.data = Alloc(data_bytes);
  FillRandom(m.data.get(), data_bytes, seed);
  if (IsFloat(t)) MakeFinite(t, m.data.get(), data_bytes);
  m.w.data = m.data.get();
  m.bytes = MatrixBytes(t, s);
  if (!IsFloat(t)) {
    m.w.group_size = 32;
    m.w.scale_type = ScaleType::kF16;
    const size_t n = stored_rows * ((s.cols + 31) / 32);
    m.scales = Alloc(2 * n);
    for (size_t i = 0; i < n; ++i) {
      const uint16_t h = static_cast<uint16_t>(0x2000 + (i * 37) % 0x400);
      std::memcpy(m.scales.get() + 2 * i, &h, 2);
    }
    m.w.scales = m.scales.get();
    if (t == WeightType::kU4) {
      m.mins = Alloc(2 * n);
      std::memcpy(m.mins.get(), m.scales.get(), 2 * n);
      m.w.mins = m.mins.get();
    }
  }
  return m;
}

double StackBytes(WeightType t) {
  double per_layer = 0.0;
  for (const Shape& s : kLayerShapes) per_layer += MatrixBytes(t, s);
  return per_layer * kLayers + MatrixBytes(t, Shape{kVocab, kDim});
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// Process CPU time: on a loaded machine, bytes per CPU-second shows what the kernel would
// do on a core of its own (workers' spinning counts too, so it is a lower bound).
double CpuNow() {
  timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}

double Now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

std::vector<std::string> Split(const std::string& s) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= s.size()) {
    const size_t comma = s.find(',', start);
    const size_t end = comma == std::string::npos ? s.size() : comma;
    if (end > start) out.push_back(s.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

constexpr const char* kUsage =
    "usage: %s [--schemes i4,u4,nf4,i8,f16,bf16,f32] [--ops q8,f32,gemm,gemmq8] [--threads 1,2]\n"
    "          [--reps N] [--mem-mb M] [--probe-mb P] [--batch B] [--layout L] [--hot] [--quick]\n"
    "          [--probe-only] [--target AVX2|SSE4|...] [--arm-dot none|sdot|all]\n"
    "  q8: GemvQ8 (int8 activations), f32: Gemv, gemm: Gemm over --batch tokens,\n"
    "  gemmq8: GemmQ8 over --batch tokens (q8/gemmq8 time the integer schemes, f32/gemm the\n"
    "  float ones: the pairs the runtime runs). --mem-mb: weight working set per scheme;\n"
    "  --probe-mb: read-probe buffer (default min(M, 96), keep it well above the LLC);\n"
    "  --probe-only: only the read-probe rows (scripts/bench_models.sh uses them).\n"
    "  --layout: rowmajor (default), interleave4 or interleave16 (FORMAT.md Layout).\n"
    "  --arm-dot: AArch64, the int8 dot instructions the kernels may use (default all the CPU\n"
    "  has: SDOT, SMMLA; none = widening multiplies), to compare them on one board.\n"
    "  --hot: compute rate, not bandwidth: one layer's matrices cut to their first 64 rows per\n"
    "  thread (e.g. 128 KiB of i4 per thread, cache-resident), each pass repeated 100 times;\n"
    "  ratio > 1 then only says the kernel could stream faster than this machine's DRAM.\n"
    "A read pass reads two buffers of P MiB one after the other and counts the faster read\n"
    "  (a preemption then slows only one of them).\n"
    "Rows, per thread count first: one per read-probe variant (rWIDTHxSTREAMS: vector bits x\n"
    "  interleaved streams, e.g. r256x2; max(N, 5) read passes each, variants in turns, so\n"
    "  they see the same load), then `read` = the variant with the best median: the ceiling\n"
    "  (its name in the last column).\n"
    "Kernel rows: --reps pairs [read pass with the best variant, kernel pass over the working\n"
    "  set] after one warm-up pair, so each ratio compares passes a fraction of a second\n"
    "  apart (the read pass also evicts the previous kernel pass's tail from the LLC).\n"
    "Columns: GB/s = median over pairs of weight + scale bytes streamed per second (wall);\n"
    "  read GB/s = median of the paired read passes; ratio = median of the per-pair\n"
    "  GB/s / read GB/s (1.0 = at the measured ceiling); tok/s = whole TinyLlama-1.1B stack at\n"
    "  the median GB/s (times the batch for gemm/gemmq8); ms/pass = median kernel pass;\n"
    "  GB/cpu-s = bytes per second of process CPU time (a core of its own would do at least\n"
    "  this; spinning workers count); ratio range = lowest and highest per-pair ratio;\n"
    "  cpu ratio = median per-pair ratio of GB/cpu-s (kernel / read pass): at 1 thread, the\n"
    "  ratio with time the process waited for a core left out (on a loaded machine the\n"
    "  steadier figure; at more threads spinning workers blur it).\n";

// Times one pass of fn(); returns {wall seconds, process CPU seconds}.
template <class Fn>
std::pair<double, double> Time(const Fn& fn) {
  const double t0 = Now(), c0 = CpuNow();
  fn();
  const double t = Now() - t0, c = CpuNow() - c0;
  return {t, c};
}

// The read probe: a buffer of two halves of `bytes` each, reads alternating between them
// so that no read finds the previous one's tail in the LLC. Every read's checksum is
// compared with a plain loop's: a variant that skips or repeats bytes would look faster.
struct Probe {
  Buffer buf;
  size_t bytes = 0, passes = 0;
  uint64_t expected[2] = {0, 0};
  bool wrong_sum = false;
  void Init(size_t probe_bytes) {
    bytes = probe_bytes;
    buf = Alloc(2 * bytes);
    FillRandom(buf.get(), 2 * bytes, 99);
    for (size_t h = 0; h < 2; ++h) {
      for (size_t i = 0; i < bytes; i += 8) {
        uint64_t v;
        std::memcpy(&v, buf.get() + h * bytes + i, 8);
        expected[h] += v;
      }
    }
  }
  // A read pass: each half once, the faster counts (a few-ms preemption, which reads this
  // short are prone to, then slows only one of them). Returns {wall, CPU} seconds.
  std::pair<double, double> Pass(ThreadPool* pool, size_t variant) {
    return std::min(ReadHalf(pool, variant), ReadHalf(pool, variant));
  }
  std::pair<double, double> ReadHalf(ThreadPool* pool, size_t variant) {
    const size_t h = passes++ % 2;
    uint64_t sum = 0;
    const uint8_t* data = buf.get() + h * bytes;
    const auto tc = Time([&] { sum = qlite_bench::ReadAll(data, bytes, pool, variant); });
    if (sum != expected[h]) {
      std::fprintf(stderr, "read probe %s: wrong checksum\n",
                   qlite_bench::ReadVariantName(variant));
      wrong_sum = true;
    }
    return tc;
  }
};

// Runs every variant `rounds` times in turns (start rotating per round), prints one row
// each and the `read` row of the best median; returns that variant.
size_t Calibrate(Probe* probe, size_t threads, size_t rounds) {
  ThreadPool pool(threads);
  const size_t nv = qlite_bench::NumReadVariants();
  std::vector<std::vector<double>> t(nv), cpu(nv);
  for (size_t v = 0; v < nv; ++v) probe->ReadHalf(&pool, v);  // warm-up: faults, code, pool
  for (size_t r = 0; r < rounds; ++r) {
    for (size_t k = 0; k < nv; ++k) {
      const size_t v = (k + r) % nv;
      const auto tc = probe->Pass(&pool, v);
      t[v].push_back(tc.first);
      cpu[v].push_back(tc.second);
    }
  }
  size_t best = 0;
  for (size_t v = 0; v < nv; ++v) {
    if (Median(t[v]) < Median(t[best])) best = v;
  }
  auto row = [&](const char* name, size_t v, const char* note) {
    std::printf("%-5s %-6s %3zu %9s %9.2f %6s %9s %9.1f %9.2f %11s\n", "-", name, threads, "-",
                probe->bytes / Median(t[v]) / 1e9, "-", "-", Median(t[v]) * 1e3,
                probe->bytes / Median(cpu[v]) / 1e9, note);
  };
  for (size_t v = 0; v < nv; ++v) row(qlite_bench::ReadVariantName(v), v, "");
  row("read", best, qlite_bench::ReadVariantName(best));
  std::fflush(stdout);
  return best;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> schemes = {"i4", "i8", "nf4", "u4", "f16"};
  std::vector<std::string> ops = {"q8", "f32"};
  std::vector<size_t> threads = {1, 2};
  size_t reps = 5, mem_mb = 512, probe_mb = 0, batch = 16;
  WeightLayout layout = WeightLayout::kRowMajor;
  std::string layout_name = "rowmajor";
  bool probe_only = false, hot = false;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) { std::fprintf(stderr, "%s needs a value\n", a.c_str()); std::exit(2); }
      return argv[++i];
    };
    if (a == "--schemes") schemes = Split(next());
    else if (a == "--ops") ops = Split(next());
    else if (a == "--threads") { threads.clear(); for (auto& t : Split(next())) threads.push_back(std::stoul(t)); }
    else if (a == "--reps") reps = std::max<size_t>(1, std::stoul(next()));
    else if (a == "--mem-mb") mem_mb = std::max<size_t>(16, std::stoul(next()));
    else if (a == "--probe-mb") probe_mb = std::max<size_t>(16, std::stoul(next()));
    else if (a == "--batch") batch = std::max<size_t>(1, std::stoul(next()));
    else if (a == "--layout") {
      layout_name = next();
      if (layout_name == "interleave4") layout = WeightLayout::kInterleave4x32;
      else if (layout_name == "interleave16") layout = WeightLayout::kInterleave16x4;
      else if (layout_name != "rowmajor") { std::fprintf(stderr, "unknown layout %s\n", layout_name.c_str()); return 2; }
    }
    else if (a == "--probe-only") probe_only = true;
    else if (a == "--hot") hot = true;
    else if (a == "--target") {  // e.g. SSE4 or AVX2: compare with the portable paths
      const std::string want = next();
      bool found = false;
      for (int64_t t : hwy::SupportedAndGeneratedTargets()) {
        if (want == hwy::TargetName(t)) {
          hwy::SetSupportedTargetsForTest(t);
          found = true;
        }
      }
      if (!found) { std::fprintf(stderr, "target %s not available\n", want.c_str()); return 2; }
    }
    else if (a == "--arm-dot") {
      const std::string want = next();
      if (!qlite_bench::ApplyArmDotFlag(want)) { std::fprintf(stderr, "unknown --arm-dot %s\n", want.c_str()); return 2; }
    }
    else if (a == "--quick") { reps = 3; mem_mb = 192; schemes = {"i4", "i8"}; ops = {"q8"}; }
    else {
      std::fprintf(a == "--help" ? stdout : stderr, kUsage, argv[0]);
      return a == "--help" ? 0 : 2;
    }
  }
  if (threads.empty()) { std::fprintf(stderr, "--threads needs at least one count\n"); return 2; }
  for (const std::string& op : ops) {
    if (op != "q8" && op != "f32" && op != "gemm" && op != "gemmq8") {
      std::fprintf(stderr, "unknown op %s\n", op.c_str());
      return 2;
    }
  }
  for (const std::string& name : schemes) {
    if (std::none_of(std::begin(kSchemes), std::end(kSchemes),
                     [&](const Scheme& s) { return name == s.name; })) {
      std::fprintf(stderr, "unknown scheme %s\n", name.c_str());
      return 2;
    }
  }
  if (probe_mb == 0) probe_mb = std::min<size_t>(mem_mb, 96);
  std::printf("target %s%s, read probe %zu MiB", qlite::arch::DispatchedTargetName(),
              qlite_bench::ArmDotSuffix().c_str(), probe_mb);
  if (!probe_only) std::printf(", working set %zu MiB per scheme", mem_mb);
  std::printf(", median of %zu reps, layout %s\n", reps, layout_name.c_str());
  std::printf("%-5s %-6s %3s %9s %9s %6s %9s %9s %9s %11s %9s\n", "wtype", "op", "thr", "GB/s",
              "read GB/s", "ratio", "tok/s", "ms/pass", "GB/cpu-s", "ratio range", "cpu ratio");

  // Read probe first (one row per variant and thread count), then the kernels.
  Probe probe;
  probe.Init(probe_mb << 20);
  std::vector<size_t> best(threads.size());
  for (size_t ti = 0; ti < threads.size(); ++ti) {
    best[ti] = Calibrate(&probe, threads[ti], std::max<size_t>(reps, 5));
  }
  if (probe.wrong_sum) return 1;
  if (probe_only) return 0;

  // Weights are allocated per scheme to bound peak memory.
  std::vector<float> x(kFfn * batch);
  for (size_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>((i * 7919) % 2001) / 1000.0f - 1.0f;
  std::vector<float> y(kVocab * batch);
  std::vector<uint8_t> qbuf_dim(qlite::arch::QuantizedActivationsBytes(kDim) + 64);
  std::vector<uint8_t> qbuf_ffn(qlite::arch::QuantizedActivationsBytes(kFfn) + 64);
  auto align = [](std::vector<uint8_t>& v) {
    return v.data() + (64 - reinterpret_cast<uintptr_t>(v.data()) % 64) % 64;
  };
  QuantizedActivations xq_dim = qlite::arch::BindQuantizedActivations(align(qbuf_dim), kDim);
  QuantizedActivations xq_ffn = qlite::arch::BindQuantizedActivations(align(qbuf_ffn), kFfn);
  qlite::arch::QuantizeActivations(x.data(), kDim, &xq_dim);
  qlite::arch::QuantizeActivations(x.data(), kFfn, &xq_ffn);
  // GemmQ8: one quantized row per token (token b reads x + b * cols).
  std::vector<std::vector<uint8_t>> qbufs;
  std::vector<QuantizedActivations> xqb_dim, xqb_ffn;
  for (size_t b = 0; b < batch; ++b) {
    for (size_t n : {kDim, kFfn}) {
      qbufs.emplace_back(qlite::arch::QuantizedActivationsBytes(n) + 64);
      QuantizedActivations q = qlite::arch::BindQuantizedActivations(align(qbufs.back()), n);
      qlite::arch::QuantizeActivations(x.data() + b * n, n, &q);
      (n == kDim ? xqb_dim : xqb_ffn).push_back(q);
    }
  }

  const size_t mem_bytes = mem_mb << 20;
  for (const std::string& name : schemes) {
    const Scheme* scheme = nullptr;
    for (const Scheme& s : kSchemes) if (name == s.name) scheme = &s;  // checked above
    // Whole layers (plus the output matrix if everything fits) up to the memory budget.
    std::vector<Matrix> mats;
    double set_bytes = 0.0;
    const double stack = StackBytes(scheme->type);
    for (size_t l = 0; l < kLayers && (l == 0 || set_bytes < mem_bytes); ++l) {
      for (const Shape& s : kLayerShapes) {
        mats.push_back(MakeMatrix(scheme->type, s, layout, mats.size() + 1));
        set_bytes += mats.back().bytes;
      }
    }
    if (set_bytes + MatrixBytes(scheme->type, Shape{kVocab, kDim}) <= stack * 1.001 &&
        mats.size() == kLayers * 7 && set_bytes < mem_bytes) {
      mats.push_back(MakeMatrix(scheme->type, Shape{kVocab, kDim}, layout, 7));
      set_bytes += mats.back().bytes;
    }
    size_t repeats = 1;  // kernel passes per timing
    if (hot) {  // one layer, each matrix cut to 64 rows per thread (CheckWeightMatrix-valid)
      mats.resize(std::size(kLayerShapes));
      const size_t rows = 64 * *std::max_element(threads.begin(), threads.end());
      set_bytes = 0.0;
      for (Matrix& m : mats) {
        m.w.rows = std::min(m.w.rows, rows);
        set_bytes += MatrixBytes(scheme->type, Shape{m.w.rows, m.w.cols});
      }
      repeats = 100;
      set_bytes *= repeats;
    }
    const bool integer = scheme->type == WeightType::kI4 || scheme->type == WeightType::kU4 ||
                         scheme->type == WeightType::kNF4 || scheme->type == WeightType::kI8;
    for (const std::string& op : ops) {
      // The runtime pairs integer weights with int8 activations and float weights with f32
      // ones; the other pairs run the scalar reference, not worth timing.
      if (integer != (op == "q8" || op == "gemmq8")) continue;
      for (size_t ti = 0; ti < threads.size(); ++ti) {
        ThreadPool pool(threads[ti]);
        std::vector<double> t, cpu, read, ratio, cpu_ratio;
        auto kernel_pass = [&] {
          for (size_t rep = 0; rep < repeats; ++rep) for (const Matrix& m : mats) {
            if (op == "q8") {
              qlite::arch::GemvQ8(m.w, m.w.cols == kDim ? xq_dim : xq_ffn, y.data(), &pool);
            } else if (op == "f32") {
              qlite::arch::Gemv(m.w, x.data(), y.data(), &pool);
            } else if (op == "gemm") {
              qlite::arch::Gemm(m.w, x.data(), batch, m.w.cols, y.data(), m.w.rows, &pool);
            } else {  // gemmq8
              qlite::arch::GemmQ8(m.w, m.w.cols == kDim ? xqb_dim.data() : xqb_ffn.data(), batch,
                                  y.data(), m.w.rows, &pool);
            }
          }
        };
        for (size_t r = 0; r < reps + 1; ++r) {  // pair 0 warms up (page faults, caches)
          const auto probe_tc = probe.Pass(&pool, best[ti]);
          const auto tc = Time(kernel_pass);
          if (r == 0) continue;
          t.push_back(tc.first);
          cpu.push_back(tc.second);
          read.push_back(probe.bytes / probe_tc.first / 1e9);
          ratio.push_back(set_bytes / tc.first / 1e9 / read.back());
          cpu_ratio.push_back((set_bytes / tc.second) / (probe.bytes / probe_tc.second));
        }
        const double sec = Median(t);
        const double gbs = set_bytes / sec / 1e9;
        const double tok = (op == "gemm" || op == "gemmq8" ? batch : 1) * set_bytes / stack / sec;
        char range[32];
        const auto lo_hi = std::minmax_element(ratio.begin(), ratio.end());
        std::snprintf(range, sizeof(range), "%.2f-%.2f", *lo_hi.first, *lo_hi.second);
        std::printf("%-5s %-6s %3zu %9.2f %9.2f %6.2f %9.1f %9.1f %9.2f %11s %9.2f\n",
                    scheme->name, op.c_str(), threads[ti], gbs, Median(read), Median(ratio), tok,
                    sec * 1e3, set_bytes / Median(cpu) / 1e9, range, Median(cpu_ratio));
        std::fflush(stdout);
      }
    }
  }
  return probe.wrong_sum ? 1 : 0;
}
