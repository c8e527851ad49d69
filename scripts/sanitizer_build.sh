#!/usr/bin/env bash
# One configuration per sanitizer, shared by the CI steps that use it (scripts/test.d/asan.sh
# and fuzz.sh share the address build, tsan.sh has the thread build). Built with clang.
#   address: ASan + UBSan (float-cast-overflow included, first report stops), libFuzzer
#            coverage, every Highway target, tests and examples.
#   thread:  TSan, Highway's baseline target only (the threading, not the kernels, is tested).
# usage: sanitizer_build.sh address|thread BUILD_DIR [TARGET...]   (no target: everything)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
kind=$1 build=$2
shift 2
jobs="${QLITE_JOBS:-$(nproc 2>/dev/null || echo 2)}"
command -v clang++ >/dev/null || bash "$root/scripts/setup.sh" clang
case $kind in
  address) flags=(-DQLITE_FUZZ=ON) ;;
  thread) flags=(-DQLITE_TSAN=ON -DQLITE_HWY_BASELINE_ONLY=ON -DQLITE_BUILD_EXAMPLES=OFF) ;;
  *) echo "sanitizer_build.sh: unknown sanitizer '$kind' (address or thread)" >&2; exit 2 ;;
esac
launcher=()
command -v ccache >/dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_C_COMPILER_LAUNCHER=ccache)
CC=clang CXX=clang++ cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DQLITE_BUILD_TESTS=ON \
  "${flags[@]}" "${launcher[@]}" >/dev/null
if [ $# -gt 0 ]; then
  cmake --build "$build" -j "$jobs" --target "$@"
else
  cmake --build "$build" -j "$jobs"
fi
