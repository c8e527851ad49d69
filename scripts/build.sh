#!/usr/bin/env bash
# Configures and builds qlite into ${QLITE_BUILD_DIR:-build}. Extra args go to cmake.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="${QLITE_BUILD_DIR:-$root/build}"
jobs="${QLITE_JOBS:-$(nproc 2>/dev/null || echo 2)}"
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release "$@" >/dev/null
cmake --build "$build" -j "$jobs"
