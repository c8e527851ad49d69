#!/usr/bin/env bash
# The whole test suite (every ctest test: kernels on every compiled Highway target, format,
# runtime, end-to-end on real models, LoRA, the CLI and the C demo) under AddressSanitizer +
# UBSan (float-cast-overflow included; the first report fails the run), in build-asan.
# QLITE_SKIP_ASAN=1 skips; QLITE_ASAN_CTEST_ARGS adds ctest arguments (e.g. -R runtime_).
set -euo pipefail
if [ "${QLITE_SKIP_ASAN:-0}" = 1 ]; then echo "asan: skipped (QLITE_SKIP_ASAN=1)"; exit 0; fi
root="$(cd "$(dirname "$0")/../.." && pwd)"
build="${QLITE_ASAN_BUILD_DIR:-$root/build-asan}"
jobs="${QLITE_JOBS:-$(nproc 2>/dev/null || echo 2)}"
start=$SECONDS
# -g1 (line tables only): a quarter less compile time on the Highway kernel TUs than
# RelWithDebInfo's full -g, with the same reports and stack lines. Not -O1: it compiles
# little faster and runs the CLI test 15x slower.
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DQLITE_ASAN=ON \
  -DCMAKE_C_FLAGS_RELWITHDEBINFO="-O2 -g1 -DNDEBUG" -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O2 -g1 -DNDEBUG" \
  -DQLITE_BUILD_EXAMPLES=ON -DQLITE_BUILD_TESTS=ON -DQLITE_BUILD_BENCH=OFF -DQLITE_INSTALL=OFF >/dev/null
cmake --build "$build" -j "$jobs"
echo "asan: built in $((SECONDS - start)) s"
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
# ASan keeps freed memory in quarantine and runs slower: the CLI test's short soak gets
# bounds that still catch a leak per token or a cost that grows.
export QLITE_SOAK_LIMITS="${QLITE_SOAK_LIMITS:---max-rss-growth-kib 8192 --max-slowdown 3}"
# shellcheck disable=SC2086  # word splitting of the extra arguments is intended
(cd "$build" && ctest --output-on-failure -j "$jobs" --timeout 1500 ${QLITE_ASAN_CTEST_ARGS:-})
echo "asan: done in $((SECONDS - start)) s"
