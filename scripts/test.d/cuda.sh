#!/usr/bin/env bash
# CUDA port suite: builds ports/cuda with -DQLITE_CUDA=ON in its own build dir and runs its
# ctest label. Without a GPU the device suites report "skipped" (exit 77); the host-side
# weight-layout and reference tests still run. Compiles one architecture (sm_80, override
# with QLITE_CUDA_ARCH) to keep CI time down; the project default is 75;80;86;89;90.
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
  -DQLITE_BUILD_TESTS=ON -DQLITE_BUILD_EXAMPLES=OFF \
  -DCMAKE_CUDA_COMPILER="$nvcc_bin" -DCMAKE_CUDA_ARCHITECTURES="${QLITE_CUDA_ARCH:-80}" >/dev/null
targets=(qlite_cuda_bench)
for t in "$root"/ports/cuda/tests/test_*.cc; do targets+=("$(basename "$t" .cc)"); done
exclude=()
# Without a GPU the device suites skip anyway; don't spend minutes building the CPU
# runtime (Highway kernels) only for the GPU-vs-CPU-runtime comparison.
if ! nvidia-smi -L >/dev/null 2>&1; then
  targets=("${targets[@]/test_cuda_runtime/}")
  exclude=(-E cuda_test_cuda_runtime)
  echo "cuda.sh: no GPU visible; test_cuda_runtime not built"
fi
cmake --build "$build" -j "$jobs" --target ${targets[@]}
(cd "$build" && ctest --output-on-failure -L cuda "${exclude[@]}")
echo "cuda.sh: done in $(( $(date +%s) - start ))s"
