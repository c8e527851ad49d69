#!/usr/bin/env bash
# The README's test command: installs what is missing, builds, runs every test suite.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
bash scripts/setup.sh
export QLITE_BUILD_DIR="${QLITE_BUILD_DIR:-$root/build}"
bash scripts/build.sh -DQLITE_BUILD_TESTS=ON
(cd "$QLITE_BUILD_DIR" && ctest --output-on-failure -j "$(nproc 2>/dev/null || echo 2)")
# Extra suites (sanitizers, cross builds under qemu, ...) each add a script here.
for extra in scripts/test.d/*.sh; do
  [ -e "$extra" ] || continue
  echo "== $extra"
  bash "$extra"
done
