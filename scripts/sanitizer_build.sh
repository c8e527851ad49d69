#!/usr/bin/env bash
# The clang configurations of scripts/test.d/tsan.sh (the threaded tests under TSan) and
# scripts/test.d/fuzz.sh (the libFuzzer targets); scripts/test.d/asan.sh builds with gcc.
#   thread:  TSan, Highway's baseline target only (the threading, not the kernels, is tested).
#   fuzz:    the libFuzzer targets alone (ASan + UBSan, Highway's baseline target: builds fast).
# usage: sanitizer_build.sh thread|fuzz BUILD_DIR [TARGET...]   (no target: everything)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
kind=$1 build=$2
shift 2
jobs="${QLITE_JOBS:-$(nproc 2>/dev/null || echo 2)}"
command -v clang++ >/dev/null || bash "$root/scripts/setup.sh" clang
case $kind in
  fuzz) flags=(-DQLITE_FUZZ=ON -DQLITE_HWY_BASELINE_ONLY=ON -DQLITE_BUILD_TESTS=OFF -DQLITE_BUILD_EXAMPLES=OFF) ;;
  thread) flags=(-DQLITE_TSAN=ON -DQLITE_HWY_BASELINE_ONLY=ON -DQLITE_BUILD_EXAMPLES=OFF) ;;
  *) echo "sanitizer_build.sh: unknown sanitizer '$kind' (thread or fuzz)" >&2; exit 2 ;;
esac
launcher=()
command -v ccache >/dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_C_COMPILER_LAUNCHER=ccache)
CC=clang CXX=clang++ cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DQLITE_BUILD_TESTS=ON -DQLITE_INSTALL=OFF \
  "${flags[@]}" "${launcher[@]}" >/dev/null
if [ $# -gt 0 ]; then
  cmake --build "$build" -j "$jobs" --target "$@"
else
  cmake --build "$build" -j "$jobs"
fi
