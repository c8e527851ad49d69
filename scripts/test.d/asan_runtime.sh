#!/usr/bin/env bash
# The runtime tests (arena, KV ring, forward pass vs reference, C API, zero-allocation
# decode), the stories260K end-to-end checks and the Qwen3/Qwen2.5/Gemma 3 layers
# (tests/data/families) under AddressSanitizer + UBSan, in the
# same build dir as asan.sh (so the libraries are built once).
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
build="${QLITE_ASAN_BUILD_DIR:-$root/build-asan}"
jobs="${QLITE_JOBS:-$(nproc 2>/dev/null || echo 2)}"
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DQLITE_ASAN=ON \
  -DQLITE_BUILD_EXAMPLES=OFF -DQLITE_BUILD_TESTS=ON >/dev/null
targets=(runtime_test_arena runtime_test_kv runtime_test_forward runtime_test_capi runtime_test_alloc)
cmake --build "$build" -j "$jobs" --target "${targets[@]}" e2e_test_stories e2e_test_families
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
for t in "${targets[@]}"; do
  echo "== asan: $t"
  "$build/tests/runtime/$t" --gtest_brief=1
done
echo "== asan: e2e_test_stories"
"$build/tests/e2e/e2e_test_stories" --gtest_brief=1
echo "== asan: e2e_test_families"
"$build/tests/e2e/e2e_test_families" --gtest_brief=1
