// Several matrices over one input in one pool Run (decode: q/k/v, gate/up). A token's
// projections would otherwise wake and join the pool once per matrix. Tasks are row ranges
// of one matrix, sized by weight bytes so that each streams about the same amount whatever
// the matrix; each range starts at a multiple of 4 rows (16 for Interleave16x4) and the kernels work row by row, so
// results are bit-identical to one GemvQ8/Gemv call per matrix.
#include <algorithm>

#include "matmul_internal.h"
#include "qlite/arch/matmul.h"
#include "qlite/arch/threads.h"

namespace qlite {
namespace arch {
namespace {

using internal::RowKernels;

constexpr size_t kMaxMatrices = 8;  // per Run; more go in several Runs

struct MultiJob {
  const WeightMatrix* w[kMaxMatrices];
  float* y[kMaxMatrices];
  RowKernels k[kMaxMatrices];
  size_t rows_per_task[kMaxMatrices];
  size_t first_task[kMaxMatrices + 1];  // matrix i owns tasks [first_task[i], first_task[i+1])
  size_t count = 0;
  const float* x = nullptr;                  // Gemv
  const QuantizedActivations* xq = nullptr;  // GemvQ8
};

void RunMultiTask(void* ctx, size_t task, size_t /*thread*/) {
  const MultiJob& j = *static_cast<const MultiJob*>(ctx);
  size_t i = 0;
  while (task >= j.first_task[i + 1]) ++i;
  const WeightMatrix& w = *j.w[i];
  const size_t r0 = (task - j.first_task[i]) * j.rows_per_task[i];
  const size_t r1 = std::min(w.rows, r0 + j.rows_per_task[i]);
  if (j.xq) {
    j.k[i].gemv_q8(w, *j.xq, j.y[i], r0, r1);
  } else {
    j.k[i].gemv(w, j.x, j.y[i], r0, r1);
  }
}

// Splits the job's matrices into tasks of about equal bytes: several per thread for
// balance on a shared machine, each at least 16 rows (and a multiple of RowAlignment) to amortize
// the claim. One thread: one task per matrix.
size_t PlanTasks(MultiJob* j, size_t threads) {
  size_t total = 0;
  for (size_t i = 0; i < j->count; ++i) total += j->w[i]->rows * j->w[i]->row_stride;
  const size_t target = (total + threads * 8 - 1) / (threads * 8);
  size_t tasks = 0;
  for (size_t i = 0; i < j->count; ++i) {
    const WeightMatrix& w = *j->w[i];
    size_t per = w.rows;
    if (threads > 1) {
      per = std::max<size_t>((target + w.row_stride - 1) / std::max<size_t>(w.row_stride, 1), 16);
      const size_t align = internal::RowAlignment(w);
      per = (per + align - 1) / align * align;
    }
    j->rows_per_task[i] = per;
    j->first_task[i] = tasks;
    tasks += (w.rows + per - 1) / per;
  }
  j->first_task[j->count] = tasks;
  return tasks;
}

// Matrices that fail the checks get NaN outputs and drop out; the rest run in batches of
// kMaxMatrices, one Run each.
void RunMulti(const WeightMatrix* const* w, size_t count, const float* x,
              const QuantizedActivations* xq, float* const* y, ThreadPool* pool) {
  const size_t threads = pool ? pool->size() : 1;
  MultiJob job;
  job.x = x;
  job.xq = xq;
  for (size_t i = 0; i < count; ++i) {
    if (CheckWeightMatrix(*w[i]) || (xq && xq->n < w[i]->cols)) {
      internal::FillNaN(y[i], w[i]->rows, 1, 0);
    } else if (w[i]->rows > 0) {
      job.w[job.count] = w[i];
      job.y[job.count] = y[i];
      job.k[job.count] = internal::SelectKernels(*w[i]);
      ++job.count;
    }
    if (job.count == kMaxMatrices || (i + 1 == count && job.count > 0)) {
      const size_t tasks = PlanTasks(&job, threads);
      if (pool && tasks > 1) {
        pool->Run(tasks, &RunMultiTask, &job);
      } else {
        for (size_t t = 0; t < tasks; ++t) RunMultiTask(&job, t, 0);
      }
      job.count = 0;
    }
  }
}

}  // namespace

void GemvQ8Multi(const WeightMatrix* const* w, size_t count, const QuantizedActivations& x,
                 float* const* y, ThreadPool* pool) {
  RunMulti(w, count, nullptr, &x, y, pool);
}

void GemvMulti(const WeightMatrix* const* w, size_t count, const float* x, float* const* y,
               ThreadPool* pool) {
  RunMulti(w, count, x, nullptr, y, pool);
}

}  // namespace arch
}  // namespace qlite
