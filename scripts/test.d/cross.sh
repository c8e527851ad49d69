#!/usr/bin/env bash
# Cross builds for Raspberry Pi / ARM Linux, tested under qemu-user (run by scripts/test.sh).
# - aarch64: the ctest suite (bar two long quality-goal suites) as qemu's "max" CPU (SVE2, SDOT, SMMLA); the kernel and
#   port tests as a Cortex-A72 (Pi 4: NEON, no SVE, no dotprod) and a Cortex-A76 (Pi 5: NEON
#   with SDOT), so dispatch is checked on every side; then the kernel tests with 128- and
#   256-bit SVE (Highway's SVE2_128 and SVE_256 targets).
# - armhf (32-bit Raspberry Pi OS): the kernel tests (tests/arch) and ports/rpi tests.
# Installs the cross compilers, the :arm64/:armhf library packages and qemu when missing.
# QLITE_SKIP_CROSS=1 skips; QLITE_CROSS_ARCHES="aarch64 armhf" picks the builds;
# QLITE_CROSS_CTEST_ARGS adds ctest arguments to every run (e.g. -E 'SmolLM2' to save time).
set -euo pipefail
if [ "${QLITE_SKIP_CROSS:-0}" = 1 ]; then echo "cross: skipped (QLITE_SKIP_CROSS=1)"; exit 0; fi
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
start=$SECONDS
base="${QLITE_BUILD_DIR:-$root/build}"
jobs="${QLITE_JOBS:-$(nproc 2>/dev/null || echo 2)}"
arches="${QLITE_CROSS_ARCHES:-aarch64 armhf}"

# Debian multiarch: the target's packages need their architecture enabled first.
pkgs=(qemu-user-static)
for arch in $arches; do
  case $arch in
    aarch64) deb=arm64; pkgs+=(g++-aarch64-linux-gnu) ;;
    armhf) deb=armhf; pkgs+=(g++-arm-linux-gnueabihf) ;;
    *) echo "cross: unknown arch $arch" >&2; exit 2 ;;
  esac
  if ! dpkg --print-foreign-architectures | grep -qx "$deb"; then
    SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    $SUDO dpkg --add-architecture "$deb"
  fi
  pkgs+=("libhwy-dev:$deb" "libflatbuffers-dev:$deb" "libmimalloc-dev:$deb" "libgtest-dev:$deb" "libgmock-dev:$deb")
done
bash scripts/setup.sh "${pkgs[@]}"

configure_and_build() {  # dir toolchain cmake-args...
  local dir=$1 toolchain=$2; shift 2
  cmake -S "$root" -B "$dir" -DCMAKE_BUILD_TYPE=Release \
    -DCMAKE_TOOLCHAIN_FILE="$root/ports/rpi/$toolchain" -DQLITE_BUILD_BENCH=OFF "$@" >/dev/null
}

failed=()
run_ctest() {  # dir label [ctest args]: a failing suite is recorded, the others still run
  local dir=$1 label=$2 t0=$SECONDS
  shift 2
  echo "-- cross: ctest $label"
  # shellcheck disable=SC2086  # word splitting of the extra arguments is intended
  (cd "$dir" && ctest --output-on-failure -j "$jobs" --timeout 900 "$@" ${QLITE_CROSS_CTEST_ARGS:-}) || failed+=("$label")
  echo "-- cross: $label took $((SECONDS - t0)) s"
}

for arch in $arches; do
  case $arch in
    aarch64)
      dir="$base-aarch64"
      t0=$SECONDS
      # The tests need no CLI or demos: leave examples out to save build time.
      configure_and_build "$dir" aarch64-linux-gnu.cmake -DQLITE_BUILD_TESTS=ON -DQLITE_BUILD_EXAMPLES=OFF
      cmake --build "$dir" -j "$jobs"
      echo "-- cross: aarch64 build took $((SECONDS - t0)) s"
      # The whole suite, SmolLM2 and Gemma 3 included, except the quality-goal tests that
      # score thousands of tokens (LongText, Calibration: 5-15 min each under qemu). What they
      # measure is the algorithms, checked natively; on Arm the kernels they run are checked
      # against the scalar references below on every CPU, and the real-model tests here.
      # QLITE_EXPECT_ARM_DOT: the int8 dot extensions the kernels must find (1 SDOT, 2 SMMLA).
      QEMU_CPU=max QLITE_EXPECT_TARGET=SVE2 QLITE_EXPECT_ARM_DOT=3 run_ctest "$dir" "aarch64 -cpu max" \
        -E '^(LongText|Calibration)\.'
      # Cortex-A72 (Pi 4): NEON only. Cortex-A76 (Pi 5, most phones before Armv9): NEON with
      # SDOT, no SVE, no SMMLA. The kernels are what differs between them and "max".
      for sub in tests/arch ports/rpi; do
        QEMU_CPU=cortex-a72 QLITE_EXPECT_TARGET=NEON QLITE_EXPECT_ARM_DOT=0 \
          run_ctest "$dir/$sub" "aarch64 -cpu cortex-a72 ($sub)"
        QEMU_CPU=cortex-a76 QLITE_EXPECT_TARGET=NEON QLITE_EXPECT_ARM_DOT=1 \
          run_ctest "$dir/$sub" "aarch64 -cpu cortex-a76 ($sub)"
      done
      # The instruction-count script (scripts/arm_kernel_insns.sh, BENCHMARKS.md) still runs:
      # one tiny GEMV and GEMM case per Arm level (seconds; the real counts take minutes).
      cmake -S "$root" -B "$dir" -DQLITE_BUILD_EXAMPLES=ON >/dev/null
      QLITE_INSN_ROWS=16 QLITE_INSN_COLS=64 QLITE_INSN_ITERS=1 bash scripts/arm_kernel_insns.sh "$dir" \
        cortex-a72:none:i4:q8 cortex-a76:sdot:i4:gemmq8:3:interleave16 || failed+=("arm_kernel_insns.sh")
      # ...and its llama.cpp peer (fetches llama-cpp-python's sdist, builds ggml's CPU backend).
      QLITE_JOBS="$jobs" bash scripts/arm_peer_insns.sh --self-test || failed+=("arm_peer_insns.sh")
      # Highway has targets for fixed SVE vector lengths that "max" (512-bit) never selects:
      # SVE2_128 is what Armv9 phones (Cortex-X2/A710 and later) run, SVE_256 Neoverse V1.
      # The kernel tests cover them at little cost.
      for vl in 16:SVE2_128 32:SVE_256; do
        for sub in tests/arch ports/rpi; do
          QEMU_CPU="max,sve-default-vector-length=${vl%%:*}" QLITE_EXPECT_TARGET="${vl#*:}" QLITE_EXPECT_ARM_DOT=3 \
            run_ctest "$dir/$sub" "aarch64 -cpu max, ${vl%%:*}-byte SVE ($sub)"
        done
      done
      ;;
    armhf)
      dir="$base-armhf"
      t0=$SECONDS
      configure_and_build "$dir" arm-linux-gnueabihf.cmake -DQLITE_BUILD_TESTS=ON -DQLITE_BUILD_EXAMPLES=OFF
      # Only the kernel tests (tests/arch/test_X.cc -> arch_test_X) and the port's own.
      targets=(ports_rpi_test_cpu_dispatch)
      for src in tests/arch/test_*.cc; do
        [ -e "$src" ] && targets+=("arch_$(basename "$src" .cc)")
      done
      cmake --build "$dir" -j "$jobs" --target "${targets[@]}"
      echo "-- cross: armhf build took $((SECONDS - t0)) s"
      for sub in tests/arch ports/rpi; do
        [ -d "$dir/$sub" ] || continue
        QEMU_CPU=cortex-a7 QLITE_EXPECT_TARGET=NEON QLITE_EXPECT_ARM_DOT=0 run_ctest "$dir/$sub" "armhf -cpu cortex-a7 ($sub)"
      done
      ;;
  esac
done
echo "cross: done in $((SECONDS - start)) s"
if [ ${#failed[@]} -gt 0 ]; then
  printf 'cross: FAILED: %s\n' "${failed[@]}" >&2
  exit 1
fi
