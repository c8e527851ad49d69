#!/usr/bin/env bash
# The whole ctest suite under AddressSanitizer + UBSan (clang, float-cast-overflow included,
# leaks checked), every Highway target compiled in, in build-san. Not yet part of CI
# (scripts/test.d/asan.sh and asan_runtime.sh run the format and runtime suites there).
set -euo pipefail
if [ "${QLITE_SKIP_ASAN:-0}" = 1 ]; then echo "asan: skipped (QLITE_SKIP_ASAN=1)"; exit 0; fi
root="$(cd "$(dirname "$0")/.." && pwd)"
build="${QLITE_SAN_BUILD_DIR:-$root/build-san}"
jobs="${QLITE_JOBS:-$(nproc 2>/dev/null || echo 2)}"
start=$SECONDS
bash "$root/scripts/sanitizer_build.sh" address "$build"
echo "asan: built in $((SECONDS - start)) s"
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:strict_string_checks=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
(cd "$build" && ctest --output-on-failure -j "$jobs" --timeout 1200)
echo "asan: done in $((SECONDS - start)) s"
