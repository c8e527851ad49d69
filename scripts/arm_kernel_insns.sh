#!/usr/bin/env bash
# Instructions per weight of the AArch64 int8 kernels, counted under qemu-user (nothing here
# can time an Arm core; the count is a proxy for compute-bound speed, not a timing).
# Each case runs examples/bench/qlite_kernel_loop twice, with --iters N and --iters 0, under
# `qemu-aarch64 -singlestep -d exec,nochain` (one log line per executed instruction); the
# difference / N / (rows x cols) is the kernel's instruction count per weight (per weight and
# token for gemmq8). Not part of CI.
#
#   scripts/arm_kernel_insns.sh BUILD_DIR [CASE...]
#   CASE = cpu:arm-dot:scheme:op[:batch[:layout]], e.g. cortex-a76:sdot:i4:q8
# BUILD_DIR: an aarch64 or armhf cross build (ports/rpi/*.cmake) with QLITE_BUILD_EXAMPLES=ON
# (armhf: cpu cortex-a7 or cortex-a15, arm-dot none); qlite_kernel_loop is built there first. Default cases: GemvQ8 and
# GemmQ8 (batch 8) for i4 and i8 at each level (a72: widening, a76: SDOT, max: SMMLA).
set -euo pipefail
build="${1:?usage: $0 BUILD_DIR [cpu:arm-dot:scheme:op[:batch[:layout]] ...]}"
shift
rows="${QLITE_INSN_ROWS:-256}" cols="${QLITE_INSN_COLS:-2048}" iters="${QLITE_INSN_ITERS:-2}"
cases=("$@")
if [ ${#cases[@]} -eq 0 ]; then
  for s in i4 i8; do
    cases+=("cortex-a72:none:$s:q8" "cortex-a76:sdot:$s:q8")
    cases+=("cortex-a72:none:$s:gemmq8:8" "cortex-a76:sdot:$s:gemmq8:8" "max:all:$s:gemmq8:8")
  done
fi
cmake --build "$build" -j "${QLITE_JOBS:-2}" --target qlite_kernel_loop >/dev/null
bin="$build/examples/bench/qlite_kernel_loop"
# qemu for the build's architecture (ELF e_machine: 0xb7 AArch64, else 32-bit Arm).
if [ "$(od -An -tx1 -j18 -N1 "$bin" | tr -d ' ')" = b7 ]; then
  qemu="$(command -v qemu-aarch64-static || command -v qemu-aarch64)"
else
  qemu="$(command -v qemu-arm-static || command -v qemu-arm)"
fi

# The program's own code: the first executable mapping in qemu's memory map (`-d page`; on
# 32-bit Arm after the kernel helper page at 0xffff0000), so
# instructions of the loader, libc and libhwy (whose count varies from run to run by 1e4-4e4)
# are left out and the difference of two runs is the kernel's alone.
text=$("$qemu" -d page -D /dev/fd/3 "$bin" --iters 0 --rows 16 --cols 32 3>&1 >/dev/null |
  awk '!t && $3 == "r-x" && $1 ~ /^[0-9a-f]+-[0-9a-f]+$/ && $1 !~ /^ffff0000-/ { split($1, r, "-"); t = "0x" r[1] "+0x" $2 }
       END { print t }')
[ -n "$text" ] || { echo "arm_kernel_insns: no executable mapping in qemu's page log" >&2; exit 1; }

count() {  # cpu args...: instructions executed inside $text (one "Trace" line each: -singlestep)
  local cpu=$1
  shift
  QEMU_CPU="$cpu" "$qemu" -singlestep -d exec,nochain -dfilter "$text" -D /dev/fd/3 "$bin" "$@" 3>&1 >/dev/null |
    grep -c '^Trace'
}

printf '%-11s %-5s %-6s %-7s %5s %-12s %12s %10s\n' cpu dot scheme op batch layout insns/iter insns/w
for c in "${cases[@]}"; do
  IFS=: read -r cpu dot scheme op batch layout <<<"$c"
  batch="${batch:-1}" layout="${layout:-rowmajor}"
  args=(--scheme "$scheme" --op "$op" --batch "$batch" --rows "$rows" --cols "$cols"
        --layout "$layout" --arm-dot "$dot")
  base=$(count "$cpu" "${args[@]}" --iters 0)
  with=$(count "$cpu" "${args[@]}" --iters "$iters")
  per_iter=$(( (with - base) / iters ))
  [ "$per_iter" -gt 0 ] || { echo "arm_kernel_insns: no kernel instructions counted for $c" >&2; exit 1; }
  tokens=$([ "$op" = gemmq8 ] && echo "$batch" || echo 1)
  per_w=$(awk -v n="$per_iter" -v w="$((rows * cols * tokens))" 'BEGIN { printf "%.3f", n / w }')
  printf '%-11s %-5s %-6s %-7s %5s %-12s %12d %10s\n' "$cpu" "$dot" "$scheme" "$op" "$batch" "$layout" "$per_iter" "$per_w"
done
