#!/usr/bin/env bash
# CUDA port suite: builds ports/cuda, the runtime with its CUDA backend and the CLI with
# -DQLITE_CUDA=ON in their own build dir and runs the port's ctest label. Without a GPU the
# device suites report "skipped" (exit 77); the host-side weight-layout, reference, KV plan
# and C API (QLITE_DEVICE_CUDA refused with the reason) tests still run. Compiles one
# architecture (sm_80, override with QLITE_CUDA_ARCH) to keep CI time down; the project
# default is 75;80;86;89;90. scripts/gpu_check.sh runs the GPU checks on a machine with one.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
nvcc_bin="$(command -v nvcc || true)"
[ -z "$nvcc_bin" ] && [ -x /usr/local/cuda/bin/nvcc ] && nvcc_bin=/usr/local/cuda/bin/nvcc
if [ -z "$nvcc_bin" ]; then
  echo "cuda.sh: nvcc not found; CUDA port not built (install the CUDA toolkit to test it)"
  exit 0
fi
build="${QLITE_CUDA_BUILD_DIR:-$root/build-cuda}"
jobs="${QLITE_JOBS:-$(nproc 2>/dev/null || echo 2)}"
start=$(date +%s)
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DQLITE_CUDA=ON \
  -DQLITE_BUILD_TESTS=ON -DQLITE_BUILD_EXAMPLES=ON \
  -DCMAKE_CUDA_COMPILER="$nvcc_bin" -DCMAKE_CUDA_ARCHITECTURES="${QLITE_CUDA_ARCH:-80}" >/dev/null
targets=(qlite qlite_cuda_bench)
for t in "$root"/ports/cuda/tests/test_*.cc; do targets+=("$(basename "$t" .cc)"); done
cmake --build "$build" -j "$jobs" --target "${targets[@]}"
(cd "$build" && ctest --output-on-failure -L cuda)
echo "cuda.sh: done in $(( $(date +%s) - start ))s"
