#!/usr/bin/env bash
# Whole-model benchmarks (BENCHMARKS.md): makes the TinyLlama-shaped synthetic
# models and converts SmolLM2-135M into a cache folder (never the repo), then runs
# `qlite bench` at each thread count. Each run's bandwidth ceiling comes from the read probe
# of qlite_bench_kernels (best of its variants) run right before it: on a shared machine the
# bandwidth drifts too much within a minute for one figure taken at the start.
#
#   scripts/bench_models.sh [--threads "1 2"] [--models "tinyllama-q4 tinyllama-q8 smollm2-q4 smollm2-q8"]
#                           [--prompt-tokens 64] [--gen-tokens 32] [--reps 3] [--no-build]
# Env: QLITE_BUILD_DIR (default build), QLITE_CACHE (default ~/.cache/qlite).
# Models are made once and reused; delete $QLITE_CACHE/bench to remake them.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="${QLITE_BUILD_DIR:-$root/build}"
cache="${QLITE_CACHE:-$HOME/.cache/qlite}"
models_dir="$cache/bench"
threads="1 2"
models="tinyllama-q4 tinyllama-q8 smollm2-q4 smollm2-q8"
prompt=64 gen=32 reps=3 do_build=1
while [ $# -gt 0 ]; do
  case "$1" in
    --threads) threads="$2"; shift 2 ;;
    --models) models="$2"; shift 2 ;;
    --prompt-tokens) prompt="$2"; shift 2 ;;
    --gen-tokens) gen="$2"; shift 2 ;;
    --reps) reps="$2"; shift 2 ;;
    --no-build) do_build=0; shift ;;
    -h|--help) sed -n 2,9p "$0"; exit 0 ;;
    *) echo "bench_models.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done

if [ "$do_build" = 1 ]; then
  cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null
  cmake --build "$build" -j "${QLITE_JOBS:-2}" --target qlite qlite_make_synthetic qlite_bench_kernels >/dev/null
fi
qlite="$build/examples/qlite"
make_synth="$build/examples/bench/qlite_make_synthetic"
kernels="$build/examples/bench/qlite_bench_kernels"
mkdir -p "$models_dir"

# Makes $models_dir/NAME.qlm unless it exists. NAME = tinyllama-q4 | smollm2-q8 | ...
make_model() {
  local name="$1" out="$models_dir/$1.qlm" family="${1%-*}" weights="${1##*-}"
  [ -s "$out" ] && return 0
  case "$family" in
    tinyllama) "$make_synth" --shape tinyllama --weights "$weights" --seed 1 -q -o "$out" ;;
    smollm2)
      local gguf
      gguf="$(bash "$root/scripts/fetch_smollm2.sh")"
      "$qlite" convert "$gguf" -o "$out" --weights "$weights" -q ;;
    *) echo "bench_models.sh: unknown model $name" >&2; return 2 ;;
  esac
}

for m in $models; do make_model "$m"; done

echo "== $(date -u '+%F %T') UTC, $(nproc) cores, load: $(cut -d' ' -f1-3 /proc/loadavg)"
grep -m1 'model name' /proc/cpuinfo || true
t_csv="$(echo $threads | tr ' ' ',')"
echo "== kernels alone (qlite_bench_kernels: read probe, then i4 GemvQ8 paired with probe passes)"
"$kernels" --schemes i4 --ops q8 --threads "$t_csv" --reps 3 --mem-mb 256 | tee "$models_dir/kernels.log"
# The read probe alone at T threads (about a second); prints its best-of "-  read  T  -  GB/s
# ... VARIANT" row and leaves the log in $models_dir/probe.log.
probe() {
  "$kernels" --probe-only --threads "$1" --reps 3 --probe-mb 128 > "$models_dir/probe.log"
  awk '$2 == "read"' "$models_dir/probe.log"
}
# Read GB/s from that row.
read_gbs() { awk -v t="$1" '$1 == "-" && $2 == "read" && $3 == t { print $5 }' "$models_dir/probe.log"; }
# Weight bytes one decode token streams: every matrix, the output one included; the
# embedding table only when it is the (tied) output, one row of it otherwise.
token_bytes() {
  "$qlite" inspect "$1" --tensors |
    awk '$1 ~ /^(blk\.|output|token_embd)/ { s += $NF; if ($1 == "token_embd") e = $NF; if ($1 == "output") o = 1 }
         END { print (o ? s - e : s) }'
}
for m in $models; do
  bytes="$(token_bytes "$models_dir/$m.qlm")"
  for t in $threads; do
    echo "== $m, $t thread(s), load $(cut -d' ' -f1-3 /proc/loadavg)"
    probe_row="$(probe "$t")"  # a failing probe stops the script (set -e)
    echo "read probe just before: $probe_row"
    # CPU seconds next to wall seconds: on a shared machine, the share of the cores we got.
    timed=()
    [ -x /usr/bin/time ] && timed=(/usr/bin/time -f "process: %e s wall, %U s user, %S s sys")
    "${timed[@]}" "$qlite" bench -m "$models_dir/$m.qlm" --threads "$t" --prompt-tokens "$prompt" \
      --gen-tokens "$gen" --reps "$reps" 2>&1 | tee "$models_dir/last.log"
    decode="$(sed -n 's/.*decode [0-9]* tokens: \([0-9.]*\) tok.s.*/\1/p' "$models_dir/last.log")"
    awk -v b="$bytes" -v d="$decode" -v r="$(read_gbs "$t")" 'BEGIN {
      c = 0; if (r > 0) c = r * 1e9 / b
      f = 0; if (c > 0) f = 100 * d / c
      printf("weights per token %.1f MB; read %.2f GB/s -> ceiling %.1f tok/s; decode at %.0f%% of it\n", b / 1e6, r, c, f)
    }'
  done
done
echo "== done, load: $(cut -d' ' -f1-3 /proc/loadavg)"
