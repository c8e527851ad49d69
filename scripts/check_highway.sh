#!/usr/bin/env bash
# The kernels against a newer Highway than Debian 12's 1.0.3 (arch/README.md, "Highway
# versions"): fetches Highway's source package from a Debian suite through apt's source
# mechanism (a private sources list; the system's apt setup is not touched), builds it into
# prefixes for this machine, aarch64 and armhf, builds qlite's kernel tests against each and
# runs them: natively, under qemu-aarch64 as Cortex-A72, Cortex-A76 and `max`, and under
# qemu-arm as Cortex-A7 (tests/arch's PreferredLayoutNamesEveryTargetsFamily fails where a
# target of the release is not recognized as its family). Prints the dispatched target of
# each run. Not part of CI (several minutes); the cross compilers and qemu come from
# scripts/setup.sh qemu.
#
#   scripts/check_highway.sh [SUITE]     SUITE: trixie (Highway 1.2.0), sid (default, 1.3.0)
# Env: QLITE_CACHE (default ~/.cache/qlite): the source, prefixes and builds go under
#      $QLITE_CACHE/highway-SUITE.
set -euo pipefail
shopt -s inherit_errexit
root="$(cd "$(dirname "$0")/.." && pwd)"
suite="${1:-sid}"
work="${QLITE_CACHE:-$HOME/.cache/qlite}/highway-$suite"
jobs="${QLITE_JOBS:-2}"
mkdir -p "$work/apt/lists/partial" "$work/apt/cache/archives/partial"
say() { echo "== $*" >&2; }

# --- 1. Highway's source from the suite ----------------------------------------------------
src="$(find "$work" -mindepth 1 -maxdepth 1 -type d -name 'highway-*' | head -1)"
if [ -z "$src" ]; then
  echo "deb-src http://deb.debian.org/debian $suite main" >"$work/apt/sources.list"
  apt_opts=(-o "Dir::Etc::SourceList=$work/apt/sources.list" -o Dir::Etc::SourceParts=/dev/null
            -o "Dir::State::Lists=$work/apt/lists" -o "Dir::Cache=$work/apt/cache")
  apt-get "${apt_opts[@]}" update -qq
  (cd "$work" && apt-get "${apt_opts[@]}" source -qq --download-only highway)
  tar -xf "$(ls "$work"/highway_*.orig.tar.* | head -1)" -C "$work"
  src="$(find "$work" -mindepth 1 -maxdepth 1 -type d -name 'highway-*' | head -1)"
fi
say "Highway source: $src"

# --- 2. Highway into a prefix per architecture (the math contrib headers copied in) ---------
hwy_prefix() {  # name [cmake args...]
  local name="$1"; shift
  local prefix="$work/prefix-$name"
  if [ ! -f "$prefix/include/hwy/highway.h" ]; then
    cmake -S "$src" -B "$work/build-hwy-$name" -DCMAKE_BUILD_TYPE=Release -DHWY_ENABLE_TESTS=OFF \
      -DHWY_ENABLE_EXAMPLES=OFF -DHWY_ENABLE_CONTRIB=OFF -DBUILD_SHARED_LIBS=OFF \
      -DCMAKE_INSTALL_PREFIX="$prefix" "$@" >/dev/null
    cmake --build "$work/build-hwy-$name" -j "$jobs" >/dev/null
    cmake --install "$work/build-hwy-$name" >/dev/null
    mkdir -p "$prefix/include/hwy/contrib"
    cp -r "$src/hwy/contrib/math" "$prefix/include/hwy/contrib/"
  fi
  echo "$prefix"
}
native_prefix="$(hwy_prefix native)"
a64_prefix="$(hwy_prefix aarch64 -DCMAKE_SYSTEM_NAME=Linux -DCMAKE_SYSTEM_PROCESSOR=aarch64 \
  -DCMAKE_C_COMPILER=aarch64-linux-gnu-gcc -DCMAKE_CXX_COMPILER=aarch64-linux-gnu-g++)"
armhf_flags="-march=armv7-a -mfpu=neon-vfpv4 -mfloat-abi=hard"
armhf_prefix="$(hwy_prefix armhf -DCMAKE_SYSTEM_NAME=Linux -DCMAKE_SYSTEM_PROCESSOR=arm \
  -DCMAKE_C_COMPILER=arm-linux-gnueabihf-gcc -DCMAKE_CXX_COMPILER=arm-linux-gnueabihf-g++ \
  -DCMAKE_C_FLAGS="$armhf_flags" -DCMAKE_CXX_FLAGS="$armhf_flags")"

# --- 3. qlite's kernel tests against each -------------------------------------------------
tests=(arch_test_matmul arch_test_matmul_multi arch_test_ops arch_test_attention)
launcher=()
command -v ccache >/dev/null && launcher=(-DCMAKE_C_COMPILER_LAUNCHER=ccache -DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
qlite_build() {  # dir prefix [cmake args...]
  local dir="$1" prefix="$2"; shift 2
  cmake -S "$root" -B "$dir" -DCMAKE_BUILD_TYPE=Release -DQLITE_BUILD_TESTS=ON -DQLITE_BUILD_EXAMPLES=OFF \
    -DCMAKE_PREFIX_PATH="$prefix" -Dhwy_DIR="$(dirname "$(find "$prefix" -name hwy-config.cmake | head -1)")" \
    "${launcher[@]}" "$@" >/dev/null
  grep -q "^hwy_DIR:[A-Z]*=$prefix/" "$dir/CMakeCache.txt" || { echo "check_highway: $dir did not find $prefix" >&2; exit 1; }
  cmake --build "$dir" -j "$jobs" --target "${tests[@]}" >/dev/null
}
failed=0
run_tests() {  # label dir [qemu cpu]
  local label="$1" dir="$2" cpu="${3:-}" t out qemu
  for t in "${tests[@]}"; do
    local cmd=("$dir/tests/arch/$t" --gtest_brief=1)
    if [ -n "$cpu" ]; then
      # qemu for the binary's architecture (ELF e_machine: 0xb7 AArch64, else 32-bit Arm).
      if [ "$(od -An -tx1 -j18 -N1 "${cmd[0]}" | tr -d ' ')" = b7 ]; then
        qemu="$(command -v qemu-aarch64-static || command -v qemu-aarch64)"
      else
        qemu="$(command -v qemu-arm-static || command -v qemu-arm)"
      fi
      cmd=(env QEMU_CPU="$cpu" "$qemu" "${cmd[@]}")
    fi
    if out="$("${cmd[@]}" 2>&1)"; then
      local target; target="$(grep -o '^target [A-Za-z0-9_]*' <<<"$out" | head -1 || true)"
      echo "$label $t: ok${target:+ ($target)}"
    else
      echo "$label $t: FAILED"; grep -E "FAILED|Failure" <<<"$out" | head -5; failed=1
    fi
  done
}
say "native build"
qlite_build "$work/qlite-native" "$native_prefix"
run_tests "native $(uname -m)" "$work/qlite-native"
say "aarch64 build"
qlite_build "$work/qlite-aarch64" "$a64_prefix" -DCMAKE_TOOLCHAIN_FILE="$root/ports/rpi/aarch64-linux-gnu.cmake"
for cpu in cortex-a72 cortex-a76 max; do run_tests "aarch64 $cpu" "$work/qlite-aarch64" "$cpu"; done
say "armhf build"
qlite_build "$work/qlite-armhf" "$armhf_prefix" -DCMAKE_TOOLCHAIN_FILE="$root/ports/rpi/arm-linux-gnueabihf.cmake"
run_tests "armhf cortex-a7" "$work/qlite-armhf" cortex-a7
[ "$failed" = 0 ] && echo "check_highway: ok ($(basename "$src"))" || { echo "check_highway: failures ($(basename "$src"))"; exit 1; }
