#!/usr/bin/env bash
# The tests that run several threads under ThreadSanitizer: the thread pool, sessions decoding
# side by side on one model, multi-threaded forward passes, the multi-threaded converter
# (byte-identical output for any thread count). Run by scripts/test.sh; QLITE_SKIP_TSAN=1 skips.
set -euo pipefail
if [ "${QLITE_SKIP_TSAN:-0}" = 1 ]; then echo "tsan: skipped (QLITE_SKIP_TSAN=1)"; exit 0; fi
root="$(cd "$(dirname "$0")/../.." && pwd)"
build="${QLITE_TSAN_BUILD_DIR:-$root/build-tsan}"
start=$SECONDS
tests=(arch/arch_test_threads runtime/runtime_test_capi runtime/runtime_test_forward
       format/format_test_model_file e2e/e2e_test_families)
bash "$root/scripts/sanitizer_build.sh" thread "$build" "${tests[@]##*/}"
echo "tsan: built in $((SECONDS - start)) s"
export TSAN_OPTIONS="${TSAN_OPTIONS:-halt_on_error=1:second_deadlock_stack=1}"
for t in "${tests[@]}"; do
  echo "== tsan: ${t##*/}"
  (cd "$build/tests/${t%/*}" && "./${t##*/}" --gtest_brief=1)  # where ctest runs it
done
echo "tsan: done in $((SECONDS - start)) s"
