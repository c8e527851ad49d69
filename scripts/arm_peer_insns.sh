#!/usr/bin/env bash
# Instructions per weight of llama.cpp's (ggml's) AArch64 Q4_0/Q8_0 matmul kernels under
# qemu-user, counted the way scripts/arm_kernel_insns.sh counts qlite's, for a comparison on the
# same shapes and bits. scripts/peer/ggml_kernel_loop.cc runs ggml's own kernels (vec_dot, the
# repacked gemv/gemm, llamafile_sgemm) in a loop; it is cross-built statically against ggml's
# static libraries (llama.cpp vendored by llama-cpp-python's sdist, fetched once into the peer
# cache like bench_peer_llamacpp.sh), run twice per case with --iters N and --iters 0 under
# `qemu-aarch64 -singlestep -d exec,nochain` filtered to the program's text, and the difference
# / N / (rows x cols x tokens) is the count per weight (and token for gemm). Not part of CI,
# except --self-test (scripts/test.d/cross.sh), which checks that it runs.
#
#   scripts/arm_peer_insns.sh [--self-test] [CASE...]
#   CASE = cpu:path:type:op[:batch[:variant]], e.g. cortex-a76:repack:q4_0:gemv
#     cpu: cortex-a72 (ggml built with -mcpu=cortex-a72: Pi 4), cortex-a76 (-mcpu=cortex-a76,
#          dotprod: Pi 5), max (-march=armv8.6-a+i8mm+dotprod: SMMLA); qemu runs -cpu CPU
#     path: plain (vec_dot per row), repack (ggml_gemv/gemm_<type>_<variant>_q8_0 on repacked
#           weights), llamafile (llamafile_sgemm: gemm with dotprod only)
#     variant: 4x4 or 4x8 (default: ggml's pick in that build, 4x8 with i8mm)
# --self-test: rows 16, cols 64, iters 1, one case per path (checks that the script runs: a few
# seconds once the sdist is fetched and ggml built for cortex-a76).
# Env: QLITE_INSN_ROWS / QLITE_INSN_COLS / QLITE_INSN_ITERS (default 256 / 2048 / 2),
#      QLITE_CACHE (default ~/.cache/qlite), QLITE_PEER_CACHE (default $QLITE_CACHE/peer),
#      QLITE_JOBS (default 1): make jobs for the ggml builds (each about a minute a core).
# Each case takes about 40 s at the default shape: the setup (quantizing 0.5 M weights) is
# executed, and logged, in both runs.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
peer="${QLITE_PEER_CACHE:-${QLITE_CACHE:-$HOME/.cache/qlite}/peer}"
rows="${QLITE_INSN_ROWS:-256}" cols="${QLITE_INSN_COLS:-2048}" iters="${QLITE_INSN_ITERS:-2}"
cases=()
if [ "${1:-}" = --self-test ]; then
  shift
  rows=16 cols=64 iters=1
  cases=(cortex-a76:plain:q4_0:gemv cortex-a76:repack:q4_0:gemm:8 cortex-a76:llamafile:q8_0:gemm:4)
fi
cases+=("$@")
if [ ${#cases[@]} -eq 0 ]; then
  cases=(cortex-a76:plain:q4_0:gemv cortex-a76:repack:q4_0:gemv cortex-a76:plain:q8_0:gemv
         cortex-a76:repack:q8_0:gemv cortex-a76:plain:q4_0:gemm:8 cortex-a76:repack:q4_0:gemm:8
         cortex-a76:llamafile:q4_0:gemm:8
         cortex-a72:plain:q4_0:gemv cortex-a72:plain:q8_0:gemv cortex-a72:plain:q4_0:gemm:8
         max:repack:q4_0:gemm:8)
fi
say() { echo "== $*" >&2; }

"$root/scripts/peer/fetch_llamacpp_src.sh" "$peer"
src="$peer/llama.cpp/src"
say "llama.cpp: $(cat "$peer/llama.cpp/VERSION")"
qemu="$(command -v qemu-aarch64-static || command -v qemu-aarch64)"

# ggml's CPU backend for one target, static, through llama.cpp's top-level CMake (the sdist's
# ggml/ has no ggml.pc.in, so it cannot be configured on its own); then the harness, linked
# statically so that qemu sees one executable mapping.
build_for() {  # cpu -> echoes the harness binary
  local flag
  case "$1" in
    cortex-a72|cortex-a76) flag="-mcpu=$1" ;;
    max) flag="-march=armv8.6-a+i8mm+dotprod" ;;
    *) echo "arm_peer_insns.sh: no ggml build for cpu $1 (cortex-a72, cortex-a76, max)" >&2; exit 2 ;;
  esac
  local dir="$peer/llama.cpp/build-aarch64-$1"
  if [ ! -f "$dir/ggml/src/libggml-cpu.a" ]; then
    say "building ggml for aarch64 $flag (CPU backend only, Release, -j${QLITE_JOBS:-1})"
    cmake -S "$src" -B "$dir" -DCMAKE_SYSTEM_NAME=Linux -DCMAKE_SYSTEM_PROCESSOR=aarch64 \
      -DCMAKE_C_COMPILER=aarch64-linux-gnu-gcc -DCMAKE_CXX_COMPILER=aarch64-linux-gnu-g++ \
      -DCMAKE_C_FLAGS="$flag" -DCMAKE_CXX_FLAGS="$flag" -DCMAKE_BUILD_TYPE=Release \
      -DBUILD_SHARED_LIBS=OFF -DGGML_NATIVE=OFF -DGGML_OPENMP=OFF -DLLAMA_CURL=OFF \
      -DLLAMA_OPENSSL=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF \
      -DLLAMA_BUILD_SERVER=OFF -DLLAMA_BUILD_TOOLS=OFF -DLLAMA_BUILD_APP=OFF >"$dir.configure.log" 2>&1 ||
      { tail -n 20 "$dir.configure.log" >&2; exit 1; }
    cmake --build "$dir" -j "${QLITE_JOBS:-1}" --target ggml-cpu >"$dir.build.log" 2>&1 ||
      { tail -n 20 "$dir.build.log" >&2; exit 1; }
  fi
  aarch64-linux-gnu-g++ -std=c++17 -O2 -Wall -Wextra -Wno-unused-function "$flag" \
    -I"$src/ggml/include" -I"$src/ggml/src" -I"$src/ggml/src/ggml-cpu" \
    "$root/scripts/peer/ggml_kernel_loop.cc" "$dir/ggml/src/libggml-cpu.a" "$dir/ggml/src/libggml-base.a" \
    -static -pthread -lm -o "$dir/ggml_kernel_loop"
  echo "$dir/ggml_kernel_loop"
}

# The program's text: the first executable mapping in qemu's memory map (`-d page`); with
# -static that is all of it (ggml and libc), so both runs count the same setup and the
# difference is the loop's alone.
text_of() {
  "$qemu" -d page -D /dev/fd/3 "$1" --iters 0 --rows 16 --cols 32 3>&1 >/dev/null |
    awk '!t && $3 == "r-x" && $1 ~ /^[0-9a-f]+-[0-9a-f]+$/ { split($1, r, "-"); t = "0x" r[1] "+0x" $2 }
         END { print t }'
}
count() {  # cpu bin text args...: instructions executed inside text (one "Trace" line each: -singlestep)
  local cpu=$1 bin=$2 text=$3
  shift 3
  QEMU_CPU="$cpu" "$qemu" -singlestep -d exec,nochain -dfilter "$text" -D /dev/fd/3 "$bin" "$@" 3>&1 >/dev/null |
    grep -c '^Trace'
}

declare -A bins texts
printf '%-11s %-10s %-5s %-5s %5s %12s %10s\n' cpu path type op batch insns/iter insns/w
for c in "${cases[@]}"; do
  IFS=: read -r cpu path type op batch variant <<<"$c"
  batch="${batch:-1}"
  if [ -z "${bins[$cpu]:-}" ]; then
    bins[$cpu]="$(build_for "$cpu")"
    texts[$cpu]="$(text_of "${bins[$cpu]}")"
    [ -n "${texts[$cpu]}" ] || { echo "arm_peer_insns.sh: no executable mapping in qemu's page log" >&2; exit 1; }
  fi
  args=(--type "$type" --op "$op" --path "$path" --batch "$batch" --rows "$rows" --cols "$cols")
  [ -n "$variant" ] && args+=(--variant "$variant")
  # The variant actually run (ggml's pick when none is named), from the program's own line.
  label="$path"
  [ "$path" = repack ] && label="repack$(QEMU_CPU="$cpu" "$qemu" "${bins[$cpu]}" "${args[@]}" --rows 4 --cols 32 --iters 0 |
    sed -n 's/.* repack \(4x[48]\) .*/\1/p')"
  base=$(count "$cpu" "${bins[$cpu]}" "${texts[$cpu]}" "${args[@]}" --iters 0)
  with=$(count "$cpu" "${bins[$cpu]}" "${texts[$cpu]}" "${args[@]}" --iters "$iters")
  per_iter=$(( (with - base) / iters ))
  tokens=$([ "$op" = gemm ] && echo "$batch" || echo 1)
  per_w=$(awk -v n="$per_iter" -v w="$((rows * cols * tokens))" 'BEGIN { printf "%.3f", n / w }')
  printf '%-11s %-10s %-5s %-5s %5s %12d %10s\n' "$cpu" "$label" "$type" "$op" "$batch" "$per_iter" "$per_w"
done
