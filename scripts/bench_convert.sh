#!/usr/bin/env bash
# qlite convert against llama.cpp's llama-quantize on the same f16 GGUF (BENCHMARKS.md,
# "Conversion against llama-quantize"). The engines run alternately (A B, then B A, ...) so drift of a shared machine
# hits both; medians of wall time and peak RSS per engine, bits and threads. Not part of CI.
#
#   scripts/bench_convert.sh [--threads "1 2"] [--bits "q4 q8"] [--rounds 3] [--no-build] [--setup-only]
#
# q4 is qlite `--weights q4 --embed-weights q4` against `llama-quantize --pure Q4_0` (every
# matrix 4-bit on both sides; without --pure llama.cpp makes the output head Q6_K); q8 is
# `--weights q8` against `Q8_0`. Norms stay f32 on both sides.
# Env: QLITE_BUILD_DIR (default build), QLITE_CACHE (default ~/.cache/qlite): the model, the
#      llama-quantize build and the outputs live in $QLITE_CACHE/bench (outputs are deleted
#      after each run). llama.cpp's source: $QLITE_CACHE/peer/llama.cpp/src (what
#      scripts/bench_peer_llamacpp.sh unpacks) or the llama-cpp-python sdist's vendored copy.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="${QLITE_BUILD_DIR:-$root/build}"
cache="${QLITE_CACHE:-$HOME/.cache/qlite}"
peer="$cache/peer"
bench="$cache/bench"
threads="1 2" bits="q4 q8" rounds=3 do_build=1 setup_only=0
while [ $# -gt 0 ]; do
  case "$1" in
    --threads) threads="$2"; shift 2 ;;
    --bits) bits="$2"; shift 2 ;;
    --rounds) rounds="$2"; shift 2 ;;
    --no-build) do_build=0; shift ;;
    --setup-only) setup_only=1; shift ;;
    -h|--help) sed -n 2,15p "$0"; exit 0 ;;
    *) echo "bench_convert.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
jobs="${QLITE_JOBS:-2}"
say() { echo "== $*" >&2; }
mkdir -p "$bench"
free_gb() { df -Pk "$bench" | awk 'NR == 2 { print int($4 / 1048576) }'; }

# --- 1. the f16 model: TinyLlama-1.1B shapes, random N(0, 0.02) weights --------------------
model="$bench/tinyllama-f16.gguf"
if [ ! -s "$model" ]; then
  [ "$(free_gb)" -ge 8 ] || { echo "bench_convert.sh: less than 8 GB free in $bench" >&2; exit 1; }
  py="$peer/venv/bin/python"
  if [ ! -x "$py" ] || ! "$py" -c 'import gguf' 2>/dev/null; then
    say "making the venv with PyPI's gguf"
    python3 -m venv "$peer/venv"
    "$peer/venv/bin/pip" install -q gguf
  fi
  say "making $model (2.2 GB of random f16 weights; a few minutes)"
  "$py" "$root/scripts/bench_peer_gguf.py" make "$model.tmp" --weights f16 --seed 1
  mv "$model.tmp" "$model"
fi

# --- 2. llama-quantize, CPU build of the same vendored llama.cpp -------------------------
src="$peer/llama.cpp/src"
[ -f "$src/ggml/CMakeLists.txt" ] || src="$(ls -d "$peer"/sdist/llama_cpp_python-*/vendor/llama.cpp 2>/dev/null | tail -n1)"
[ -n "$src" ] && [ -f "$src/ggml/CMakeLists.txt" ] ||
  { echo "bench_convert.sh: no llama.cpp source (run scripts/bench_peer_llamacpp.sh --setup-only)" >&2; exit 1; }
lq="$bench/llama.cpp-build/bin/llama-quantize"
if [ ! -x "$lq" ]; then
  say "building llama-quantize from $src (CPU only, Release, GGML_NATIVE=ON, -j$jobs)"
  cmake -S "$src" -B "$bench/llama.cpp-build" -DCMAKE_BUILD_TYPE=Release -DBUILD_SHARED_LIBS=OFF \
    -DGGML_NATIVE=ON -DGGML_BLAS=OFF -DGGML_CUDA=OFF -DGGML_VULKAN=OFF -DGGML_METAL=OFF \
    -DLLAMA_CURL=OFF -DLLAMA_OPENSSL=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF \
    -DLLAMA_BUILD_SERVER=OFF >"$bench/llama.cpp-configure.log"
  cmake --build "$bench/llama.cpp-build" -j "$jobs" --target llama-quantize >"$bench/llama.cpp-build.log" 2>&1
fi

# --- 3. qlite ------------------------------------------------------------------------------
if [ "$do_build" = 1 ]; then
  cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null
  cmake --build "$build" -j "$jobs" --target qlite >/dev/null
fi
qlite="$build/examples/qlite"
[ "$setup_only" = 1 ] && exit 0
[ "$(free_gb)" -ge 4 ] || { echo "bench_convert.sh: less than 4 GB free in $bench" >&2; exit 1; }

# --- 4. alternate runs ---------------------------------------------------------------------
out="$bench/convert-out"
results="$bench/convert-results.tsv"  # round engine bits threads seconds max-rss-kb
: >"$results"
trap 'rm -f "$out".*' EXIT
# Wall seconds and peak RSS (KiB) of one command; its output file is removed afterwards.
measure() {  # engine bits threads round -- command...
  local engine="$1" b="$2" t="$3" r="$4"
  shift 5
  local tf="$bench/convert-time.txt"
  /usr/bin/time -f "%e %M" -o "$tf" "$@" >"$bench/convert-$engine.log" 2>&1 ||
    { echo "bench_convert.sh: $engine failed (see $bench/convert-$engine.log)" >&2; exit 1; }
  rm -f "$out".*
  printf '%s\t%s\t%s\t%s\t%s\n' "$r" "$engine" "$b" "$t" "$(tr ' ' '\t' <"$tf")" >>"$results"
}
run_qlite() {  # bits threads round
  local extra=(--weights "$1")
  [ "$1" = q4 ] && extra+=(--embed-weights q4)
  measure qlite "$1" "$2" "$3" -- "$qlite" convert "$model" -o "$out.qlm" "${extra[@]}" -t "$2" -q
}
run_llama() {
  local type=Q8_0 pure=()
  [ "$1" = q4 ] && type=Q4_0 pure=(--pure)
  measure llama.cpp "$1" "$2" "$3" -- "$lq" "${pure[@]}" "$model" "$out.gguf" "$type" "$2"
}
say "model $(basename "$model"); qlite $(git -C "$root" rev-parse --short HEAD); $(nproc) CPUs; load $(cut -d' ' -f1-3 /proc/loadavg)"
for ((r = 1; r <= rounds; r++)); do
  for t in $threads; do
    for b in $bits; do
      if ((r % 2)); then run_qlite "$b" "$t" "$r"; run_llama "$b" "$t" "$r"
      else run_llama "$b" "$t" "$r"; run_qlite "$b" "$t" "$r"; fi
    done
  done
  say "round $r of $rounds done"
done

# Medians per (bits, threads); ratio = llama.cpp seconds / qlite seconds (> 1: qlite faster).
python3 - "$results" <<'EOF'
import collections, statistics, sys
rows = collections.defaultdict(list)
for line in open(sys.argv[1]):
    r, engine, bits, threads, sec, rss = line.split()
    rows[(bits, int(threads), engine)].append((float(sec), int(rss)))
print("| bits | threads | qlite convert s | llama-quantize s | speed ratio | qlite peak RSS | llama.cpp peak RSS |")
print("|---|---|---|---|---|---|---|")
for bits, threads in sorted({(b, t) for b, t, _ in rows}):
    q = rows[(bits, threads, "qlite")]
    l = rows[(bits, threads, "llama.cpp")]
    qs, ls = statistics.median(s for s, _ in q), statistics.median(s for s, _ in l)
    qm, lm = statistics.median(m for _, m in q) / 1024, statistics.median(m for _, m in l) / 1024
    print("| %s | %d | %.2f | %.2f | %.2f | %.0f MiB | %.0f MiB |" % (bits, threads, qs, ls, ls / qs, qm, lm))
EOF
