#!/usr/bin/env bash
# The format tests (quantizers, writer, reader fuzzing) under AddressSanitizer + UBSan, in
# their own build dir. Builds only the format_test_* targets and runs those binaries.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
build="${QLITE_ASAN_BUILD_DIR:-$root/build-asan}"
jobs="${QLITE_JOBS:-$(nproc 2>/dev/null || echo 2)}"
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DQLITE_ASAN=ON \
  -DQLITE_BUILD_EXAMPLES=OFF -DQLITE_BUILD_TESTS=ON >/dev/null
targets=()
for src in "$root"/tests/format/test_*.cc; do
  targets+=("format_$(basename "$src" .cc)")
done
cmake --build "$build" -j "$jobs" --target "${targets[@]}"
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
for t in "${targets[@]}"; do
  echo "== asan: $t"
  "$build/tests/format/$t" --gtest_brief=1
done
