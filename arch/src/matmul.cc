// Matmul entry points: pick the scheme's kernels (one Highway dispatch per call), split
// rows across the pool, and fall back to the scalar reference for what the SIMD kernels
// leave out (group sizes that are not whole 32-blocks, schemes compiled out).
#include <algorithm>
#include <limits>

#include "hwy/highway.h"
#include "matmul_internal.h"
#include "qlite/arch/matmul.h"
#include "qlite/arch/reference.h"
#include "qlite/arch/threads.h"

namespace qlite {
namespace arch {
namespace {

using internal::RowKernels;

// Scalar row-range fallbacks (ref:: semantics).
void RefGemvRows(const WeightMatrix& w, const float* x, float* y, size_t r0, size_t r1) {
  for (size_t r = r0; r < r1; ++r) {
    double acc = 0.0;
    for (size_t c = 0; c < w.cols; ++c) acc += double(ref::Weight(w, r, c)) * x[c];
    y[r] = static_cast<float>(acc);
  }
}
void RefGemvQ8Rows(const WeightMatrix& w, const QuantizedActivations& x, float* y, size_t r0,
                   size_t r1) {
  for (size_t r = r0; r < r1; ++r) {
    double acc = 0.0;
    for (size_t c = 0; c < w.cols; ++c) acc += double(ref::WeightQ8(w, r, c)) * ref::Activation(x, c);
    y[r] = static_cast<float>(acc);
  }
}
void RefGemmRows(const WeightMatrix& w, const float* x, size_t batch, size_t x_stride, float* y,
                 size_t y_stride, size_t r0, size_t r1) {
  for (size_t b = 0; b < batch; ++b) RefGemvRows(w, x + b * x_stride, y + b * y_stride, r0, r1);
}
}  // namespace

RowKernels internal::SelectKernels(const WeightMatrix& w) {
  RowKernels k;
  switch (w.type) {
#if QLITE_HAVE_KERNELS_INT4
    case WeightType::kI4:
    case WeightType::kU4:
    case WeightType::kNF4:
      if (internal::ScalesPerBlock(w)) k = internal::Int4Kernels(w.type, w.layout);
      break;
#endif
#if QLITE_HAVE_KERNELS_INT8
    case WeightType::kI8:
      if (internal::ScalesPerBlock(w)) k = internal::Int8Kernels(w.type, w.layout);
      break;
#endif
#if QLITE_HAVE_KERNELS_FLOAT
    case WeightType::kF32:
    case WeightType::kF16:
    case WeightType::kBF16:
      k = internal::FloatKernels(w.type);
      break;
#endif
    default:
      break;
  }
  // What the SIMD kernels leave out runs on the scalar reference: the operations the runtime
  // never pairs with this weight family (float activations on integer weights, int8
  // activations on float weights), odd group sizes, compiled-out schemes.
  if (!k.gemv) k.gemv = &RefGemvRows;
  if (!k.gemv_q8) k.gemv_q8 = &RefGemvQ8Rows;
  if (!k.gemm) k.gemm = &RefGemmRows;
  return k;
}

namespace {

// Rows per task: a multiple of RowAlignment, several tasks per thread for balance on a
// shared machine, but enough rows to amortize the hand-off.
size_t RowsPerTask(const WeightMatrix& w, size_t threads) {
  if (threads <= 1) return w.rows;
  size_t per = (w.rows + threads * 8 - 1) / (threads * 8);
  per = std::max<size_t>(per, 16);
  const size_t align = internal::RowAlignment(w);
  return (per + align - 1) / align * align;
}

struct Job {
  const WeightMatrix* w;
  RowKernels k;
  size_t rows_per_task;
  const float* x;
  const QuantizedActivations* xq;  // gemm_q8: one per token
  size_t batch, x_stride, y_stride;
  float* y;
  int op;  // 0 gemv, 1 gemv_q8, 2 gemm, 3 gemm_q8
};

void RunTask(void* ctx, size_t task, size_t /*thread*/) {
  const Job& j = *static_cast<const Job*>(ctx);
  const size_t r0 = task * j.rows_per_task;
  const size_t r1 = std::min(j.w->rows, r0 + j.rows_per_task);
  switch (j.op) {
    case 0: j.k.gemv(*j.w, j.x, j.y, r0, r1); break;
    case 1: j.k.gemv_q8(*j.w, *j.xq, j.y, r0, r1); break;
    case 3:
      if (j.k.gemm_q8) {
        j.k.gemm_q8(*j.w, j.xq, j.batch, j.y, j.y_stride, r0, r1);
      } else {  // no SIMD GEMM for these weights: GemvQ8 per token
        for (size_t b = 0; b < j.batch; ++b) j.k.gemv_q8(*j.w, j.xq[b], j.y + b * j.y_stride, r0, r1);
      }
      break;
    default: j.k.gemm(*j.w, j.x, j.batch, j.x_stride, j.y, j.y_stride, r0, r1); break;
  }
}

void Launch(Job& job, ThreadPool* pool) {
  const size_t rows = job.w->rows;
  if (rows == 0) return;
  const size_t threads = pool ? pool->size() : 1;
  job.rows_per_task = RowsPerTask(*job.w, threads);
  const size_t tasks = (rows + job.rows_per_task - 1) / job.rows_per_task;
  if (pool && tasks > 1) {
    pool->Run(tasks, &RunTask, &job);
  } else {
    for (size_t t = 0; t < tasks; ++t) RunTask(&job, t, 0);
  }
}

size_t MinRowStride(const WeightMatrix& w) {
  const size_t padded = (w.cols + 31) / 32 * 32;
  switch (w.type) {
    case WeightType::kF32: return w.cols * 4;
    case WeightType::kF16:
    case WeightType::kBF16: return w.cols * 2;
    case WeightType::kI8: return padded;
    default: return padded / 2;
  }
}

}  // namespace

void internal::FillNaN(float* y, size_t rows, size_t batch, size_t y_stride) {
  for (size_t b = 0; b < batch; ++b) {
    for (size_t r = 0; r < rows; ++r) y[b * y_stride + r] = std::numeric_limits<float>::quiet_NaN();
  }
}

const char* CheckWeightMatrix(const WeightMatrix& w) {
  if (w.type > WeightType::kNF4) return "unknown weight type";
  if (w.layout > WeightLayout::kInterleave16x4) return "unknown layout";
  if (w.rows == 0 || w.cols == 0) return nullptr;
  if (!w.data) return "no data";
  if (w.row_stride < MinRowStride(w)) return "row_stride smaller than FORMAT.md's";
  const bool quantized = w.type == WeightType::kI8 || w.type == WeightType::kI4 ||
                         w.type == WeightType::kU4 || w.type == WeightType::kNF4;
  if (!quantized) {
    return w.layout != WeightLayout::kRowMajor ? "interleaved layouts are for integer types" : nullptr;
  }
  if (!w.scales) return "no scales";
  if (!w.per_tensor && w.group_size == 0) return "group_size 0";
  if (w.type == WeightType::kU4 && !w.mins) return "U4 without mins";
  if (w.scale_type > ScaleType::kU8) return "unknown scale type";
  if (w.scale_type == ScaleType::kU8 && (w.dq_block == 0 || !w.dq_scales || !w.dq_offsets)) {
    return "U8 scales without dq_scales/dq_offsets/dq_block";
  }
  return nullptr;
}

void Gemv(const WeightMatrix& w, const float* x, float* y, ThreadPool* pool) {
  if (CheckWeightMatrix(w)) return internal::FillNaN(y, w.rows, 1, 0);
  Job job{&w, internal::SelectKernels(w), 0, x, nullptr, 1, 0, 0, y, 0};
  Launch(job, pool);
}

void GemvQ8(const WeightMatrix& w, const QuantizedActivations& x, float* y, ThreadPool* pool) {
  if (CheckWeightMatrix(w) || x.n < w.cols) return internal::FillNaN(y, w.rows, 1, 0);
  Job job{&w, internal::SelectKernels(w), 0, nullptr, &x, 1, 0, 0, y, 1};
  Launch(job, pool);
}

void Gemm(const WeightMatrix& w, const float* x, size_t batch, size_t x_stride, float* y,
          size_t y_stride, ThreadPool* pool) {
  if (batch == 0) return;
  if (CheckWeightMatrix(w)) return internal::FillNaN(y, w.rows, batch, y_stride);
  Job job{&w, internal::SelectKernels(w), 0, x, nullptr, batch, x_stride, y_stride, y, 2};
  Launch(job, pool);
}

void GemmQ8(const WeightMatrix& w, const QuantizedActivations* x, size_t batch, float* y,
            size_t y_stride, ThreadPool* pool) {
  if (batch == 0) return;
  bool bad = CheckWeightMatrix(w) != nullptr || x == nullptr;
  for (size_t b = 0; !bad && b < batch; ++b) bad = x[b].n < w.cols;
  if (bad) return internal::FillNaN(y, w.rows, batch, y_stride);
  Job job{&w, internal::SelectKernels(w), 0, nullptr, x, batch, 0, y_stride, y, 3};
  Launch(job, pool);
}

}  // namespace arch
}  // namespace qlite
