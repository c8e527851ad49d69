#!/usr/bin/env bash
# llama.cpp and qlite measured back to back on the same shapes and bits (BENCHMARKS.md,
# "Whole model against llama.cpp"). The machine's bandwidth drifts within minutes, so the engines run
# alternately (A B, then B A, ...) and the ratio is taken per round. Not part of CI.
#
#   scripts/bench_peer_llamacpp.sh [--threads "1 2"] [--bits "q4 q8"] [--rounds 3] [--reps 3]
#                                  [--gen-tokens 32] [--prompt-tokens 16] [--prefill-tokens 64]
#                                  [--no-prefill] [--no-build] [--setup-only]
#                                  [--layout rowmajor|interleave4|interleave16]
# Env: QLITE_BUILD_DIR (default build), QLITE_CACHE (default ~/.cache/qlite),
#      QLITE_PEER_CACHE (default $QLITE_CACHE/peer): llama.cpp's source and build, the venv with
#      PyPI's gguf, the GGUF models. Everything is made once; delete a piece to remake it.
#      QLITE_PEER_LLAMA_CPP_PYTHON (default 0.3.36): the llama-cpp-python sdist whose vendored
#      llama.cpp is built ("" = the newest).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="${QLITE_BUILD_DIR:-$root/build}"
cache="${QLITE_CACHE:-$HOME/.cache/qlite}"
peer="${QLITE_PEER_CACHE:-$cache/peer}"
threads="1 2" bits="q4 q8" rounds=3 reps=3 gen=32 prompt=16 prefill=64
do_prefill=1 do_build=1 setup_only=0 layout=rowmajor
while [ $# -gt 0 ]; do
  case "$1" in
    --threads) threads="$2"; shift 2 ;;
    --bits) bits="$2"; shift 2 ;;
    --rounds) rounds="$2"; shift 2 ;;
    --reps) reps="$2"; shift 2 ;;
    --gen-tokens) gen="$2"; shift 2 ;;
    --prompt-tokens) prompt="$2"; shift 2 ;;
    --prefill-tokens) prefill="$2"; shift 2 ;;
    --no-prefill) do_prefill=0; shift ;;
    --no-build) do_build=0; shift ;;
    --setup-only) setup_only=1; shift ;;
    --layout) layout="$2"; shift 2 ;;
    -h|--help) sed -n 2,14p "$0"; exit 0 ;;
    *) echo "bench_peer_llamacpp.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
jobs="${QLITE_JOBS:-2}"
say() { echo "== $*" >&2; }
mkdir -p "$peer"

# --- 1. llama.cpp's source: the sdist of llama-cpp-python (PyPI) vendors it ---------------
src="$peer/llama.cpp/src"
"$root/scripts/peer/fetch_llamacpp_src.sh" "$peer"
version="$(cat "$peer/llama.cpp/VERSION")"
say "llama.cpp: $version"

# --- 2. llama-bench, native CPU build only -----------------------------------------------
lbench="$peer/llama.cpp/build/bin/llama-bench"
if [ ! -x "$lbench" ]; then
  say "building llama-bench (CPU only, Release, GGML_NATIVE=ON, -j$jobs)"
  commit="$(sed -n 's/.*llama.cpp commit \([^,]*\),.*/\1/p' "$peer/llama.cpp/VERSION")"
  # CPUs that list AMX (Sapphire Rapids and later) under a hypervisor that does not grant the
  # AMX tile state: -march=native turns on ggml's AMX path, and llama-bench dies with SIGILL
  # at its first batched matmul. Those builds leave AMX out (AVX-512, VNNI and BF16 stay).
  noamx=""
  grep -qw amx_tile /proc/cpuinfo 2>/dev/null && noamx="-mno-amx-tile -mno-amx-int8 -mno-amx-bf16"
  cmake -S "$src" -B "$peer/llama.cpp/build" -DCMAKE_BUILD_TYPE=Release -DBUILD_SHARED_LIBS=OFF \
    -DCMAKE_C_FLAGS="$noamx" -DCMAKE_CXX_FLAGS="$noamx" -DGGML_NATIVE=ON -DGGML_BLAS=OFF -DGGML_CUDA=OFF -DGGML_VULKAN=OFF -DGGML_METAL=OFF \
    -DLLAMA_CURL=OFF -DLLAMA_OPENSSL=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF \
    -DLLAMA_BUILD_SERVER=OFF -DLLAMA_BUILD_APP=OFF -DLLAMA_BUILD_COMMIT="${commit:-unknown}" \
    -DLLAMA_BUILD_NUMBER=0 >"$peer/llama.cpp/configure.log"
  cmake --build "$peer/llama.cpp/build" -j "$jobs" --target llama-bench >"$peer/llama.cpp/build.log"
fi

# --- 3. GGUF models (PyPI gguf in a venv; its quants module writes Q4_0 and Q8_0) ----------
if [ ! -x "$peer/venv/bin/python" ] || ! "$peer/venv/bin/python" -c 'import gguf' 2>/dev/null; then
  say "making the venv with PyPI's gguf"
  python3 -m venv "$peer/venv"
  "$peer/venv/bin/pip" install -q gguf
fi
py="$peer/venv/bin/python"
mkdir -p "$peer/models"
gguf_model() { echo "$peer/models/tinyllama-${1}_0.gguf"; }  # q4 -> tinyllama-q4_0.gguf
for b in $bits; do
  m="$(gguf_model "$b")"
  [ -s "$m" ] && continue
  say "making $m (random weights; a few minutes)"
  "$py" "$root/scripts/bench_peer_gguf.py" make "$m.tmp" --weights "$b" --seed 1
  mv "$m.tmp" "$m"
done

# --- 4. qlite and its models (the ones scripts/bench_models.sh makes) ----------------------
if [ "$do_build" = 1 ]; then
  cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null
  cmake --build "$build" -j "$jobs" --target qlite qlite_make_synthetic >/dev/null
fi
qlite="$build/examples/qlite"
# qlite's model in the chosen FORMAT.md layout (same weights: same seed).
case "$layout" in
  rowmajor) suffix="" ;;
  interleave4) suffix="-il" ;;
  interleave16) suffix="-il16" ;;
  *) echo "bench_peer_llamacpp.sh: unknown layout $layout" >&2; exit 2 ;;
esac
qlm() { echo "$cache/bench/tinyllama-$1$suffix.qlm"; }
mkdir -p "$cache/bench"
for b in $bits; do
  [ -s "$(qlm "$b")" ] ||
    "$build/examples/bench/qlite_make_synthetic" --shape tinyllama --weights "$b" --seed 1 --layout "$layout" -q \
      -o "$(qlm "$b")"
done

# Bytes one decode token streams (all matrices and norms; the embedding table is untied, so
# one row of it): the same awk as bench_models.sh for qlite, GGUFReader for llama.cpp.
qlite_bytes() {
  "$qlite" inspect "$1" --tensors |
    awk '$1 ~ /^(blk\.|output|token_embd)/ { s += $NF; if ($1 == "token_embd") e = $NF; if ($1 == "output") o = 1 }
         END { print (o ? s - e : s) }'
}
for b in $bits; do
  lb="$("$py" "$root/scripts/bench_peer_gguf.py" bytes "$(gguf_model "$b")")"
  qb="$(qlite_bytes "$(qlm "$b")")"
  awk -v b="$b" -v l="$lb" -v q="$qb" -v lm="$(basename "$(gguf_model "$b")")" -v qm="$(basename "$(qlm "$b")")" \
    'BEGIN { printf("%s weights per decode token: llama.cpp %.1f MB (%s), qlite %.1f MB (%s)\n", b, l / 1e6, lm, q / 1e6, qm) }'
done
[ "$setup_only" = 1 ] && exit 0

# --- 5. alternate runs ---------------------------------------------------------------------
results="$peer/results.tsv"  # round kind engine bits threads tok/s load1 cpu-share
: >"$results"
: >"$peer/llama-bench.log"
load1() { cut -d' ' -f1 /proc/loadavg; }
# CPU seconds over wall seconds of the whole process (load and warm-up included): the share of
# the cores a run got. Under load, a 2-thread run near 1.0 had a thread descheduled.
timed=() tfile="$peer/time.txt"
[ -x /usr/bin/time ] && timed=(/usr/bin/time -f "%e %U %S" -o "$tfile")
# llama-bench's JSON lines carry every repetition's tok/s: their median, like qlite bench's.
llama_run() {  # kind bits threads
  local args
  if [ "$1" = decode ]; then args=(-p 0 -n "$gen"); else args=(-p "$prefill" -n 0); fi
  "${timed[@]}" "$lbench" -m "$(gguf_model "$2")" -t "$3" "${args[@]}" -r "$reps" -o jsonl 2>>"$peer/llama-bench.log" |
    python3 -c 'import json, sys, statistics
for line in sys.stdin:
    r = json.loads(line)
    print("%.2f" % statistics.median(r["samples_ts"]))'
}
qlite_run() {  # kind bits threads
  local out
  if [ "$1" = decode ]; then
    out="$("${timed[@]}" "$qlite" bench -m "$(qlm "$2")" --prompt-tokens "$prompt" --gen-tokens "$gen" --reps "$reps" -t "$3")"
    sed -n 's/.*decode [0-9]* tokens: \([0-9.]*\) tok.s.*/\1/p' <<<"$out"
  else
    out="$("${timed[@]}" "$qlite" bench -m "$(qlm "$2")" --prompt-tokens "$prefill" --gen-tokens 0 --reps "$reps" -t "$3")"
    sed -n 's/.*prefill [0-9]* tokens: \([0-9.]*\) tok.s.*/\1/p' <<<"$out"
  fi
}
one() {  # round kind engine bits threads
  local l v c="-"
  l="$(load1)"
  rm -f "$tfile"
  # Both engines map their file: read it first so that neither run waits on the disk.
  if [ "$3" = llama ]; then cat "$(gguf_model "$4")" >/dev/null; else cat "$(qlm "$4")" >/dev/null; fi
  v="$("${3}_run" "$2" "$4" "$5")" || true
  [ -n "$v" ] || { echo "bench_peer_llamacpp.sh: $3 $2 $4 t$5 gave no figure (llama.cpp's stderr: $peer/llama-bench.log)" >&2; exit 1; }
  [ -s "$tfile" ] && c="$(awk '$1 > 0 { printf("%.2f", ($2 + $3) / $1) }' "$tfile")"
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" "$5" "$v" "$l" "${c:--}" | tee -a "$results" >&2
}
kinds="decode"
[ "$do_prefill" = 1 ] && kinds="decode prefill"
say "$(date -u '+%F %T') UTC, $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg); $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2)"
say "decode: llama-bench -p 0 -n $gen -r $reps | qlite bench --prompt-tokens $prompt --gen-tokens $gen --reps $reps"
[ "$do_prefill" = 1 ] &&
  say "prefill: llama-bench -p $prefill -n 0 -r $reps | qlite bench --prompt-tokens $prefill --gen-tokens 0 --reps $reps"
echo -e "round\tkind\tengine\tbits\tthreads\ttok/s\tload1\tcpu" >&2
for r in $(seq 1 "$rounds"); do
  # Odd rounds run llama.cpp first, even rounds qlite first, so drift favours neither.
  order="llama qlite"
  [ $((r % 2)) = 0 ] && order="qlite llama"
  for k in $kinds; do
    for b in $bits; do
      for t in $threads; do
        for e in $order; do one "$r" "$k" "$e" "$b" "$t"; done
      done
    done
  done
done
say "done $(date -u '+%F %T') UTC, load $(cut -d' ' -f1-3 /proc/loadavg); llama.cpp: $version"

# --- 6. summary: medians over rounds, and qlite/llama.cpp per round ------------------------
python3 - "$results" <<'EOF'
import statistics, sys
rows = [l.split("\t") for l in open(sys.argv[1]).read().splitlines()]
val = {tuple(r[:5]): r[5:] for r in rows}  # (round, kind, engine, bits, threads) -> tok/s, load1, cpu
rounds = sorted({r[0] for r in rows}, key=int)
groups = []
for r in rows:
    if (r[1], r[3], r[4]) not in groups:
        groups.append((r[1], r[3], r[4]))
def med(xs):
    xs = [float(x) for x in xs if x != "-"]
    return "%.2f" % statistics.median(xs) if xs else "-"
print("\n| kind | bits | thr | llama.cpp tok/s | qlite tok/s | qlite/llama.cpp | per round | cpu share llama.cpp / qlite | load1 per round (llama.cpp/qlite) |")
print("|---|---|---|---|---|---|---|---|---|")
for k, b, t in groups:
    both = [r for r in rounds if (r, k, "llama", b, t) in val and (r, k, "qlite", b, t) in val]
    L = [val[(r, k, "llama", b, t)] for r in both]
    Q = [val[(r, k, "qlite", b, t)] for r in both]
    ratios = [float(q[0]) / float(l[0]) for l, q in zip(L, Q)]
    print("| %s | %s | %s | %.1f | %.1f | %.2f | %s | %s / %s | %s |" % (
        k, b, t, statistics.median(float(l[0]) for l in L), statistics.median(float(q[0]) for q in Q),
        statistics.median(ratios), " ".join("%.2f" % x for x in ratios),
        med(l[2] for l in L), med(q[2] for q in Q),
        " ".join("%s/%s" % (l[1], q[1]) for l, q in zip(L, Q))))
print("\n(tok/s and cpu share: medians over %d rounds; each tok/s is the median of its run's repetitions)" % len(rounds))
EOF
