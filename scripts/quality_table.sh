#!/usr/bin/env bash
# Regenerates the quantization quality table of format/QUALITY.md: stories260K converted in
# every scheme and granularity, with and without calibration (--calibrate on the committed
# sample text, all three methods), measured against the f32 model on the eval stories
# (qlite perplexity -f, one line per sequence after BOS). Also the KV cache storage types
# with f32 weights. Not part of CI; takes about a minute.
#   scripts/quality_table.sh [QLITE_TEST_DATA]   (default ../shared/models)
# Bits per weight: the stored bytes of every matrix (codes, scales, mins, double-quantization
# tables, rows padded to 32 columns), embeddings included, times 8 over the matrices'
# weights, as `qlite inspect` counts them; norms (f32, 0.3 % of the weights) excluded.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
data="${1:-${QLITE_TEST_DATA:-$root/../shared/models}}"
qlite="${QLITE_BUILD_DIR:-$root/build}/examples/qlite"
calib="$root/tests/data/calibration/stories260K_samples.txt"
eval_text="$data/eval/stories_eval.txt"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
src=("$data/stories260K/stories260K.bin" --tokenizer "$data/stories260K/tok512.bin")
"$qlite" convert "${src[@]}" -o "$work/f32.qlm" --weights f32 --embed-weights f32 -q >/dev/null

measure() {  # model [perplexity flags...] -> "ppl | dppl | KL | top-1"
  local m="$1"; shift
  "$qlite" perplexity -m "$m" -f "$eval_text" --kl-base "$work/f32.qlm" "$@" 2>&1 | awk '
    /^perplexity/ {ppl=$2}
    /^delta ppl/ {d=$3}
    /^KL divergence/ {kl=$3; top=$NF}
    END {printf "%.4f | %s | %.4f | %s", ppl, d, kl, top}'
}

echo "| weights (every matrix) | calibration | bits/weight | file | ppl | Δppl | KL (nats/token) | top-1 |"
echo "|---|---|---|---|---|---|---|---|"
echo "| f32 | - | 32.00 | $(( $(stat -c %s "$work/f32.qlm") / 1024 )) KiB | $(measure "$work/f32.qlm") |"
for scheme in "q8" "q4" "q4a" "nf4"; do
  for gran in "--group-size 32" "--group-size 64" "--group-size 128" "--granularity row" "--group-size 32 --scale-type dq"; do
    for cal in "" "--calibrate $calib"; do
      out="$work/m.qlm"
      # shellcheck disable=SC2086
      "$qlite" convert "${src[@]}" -o "$out" --weights $scheme --embed-weights $scheme $gran $cal -q >/dev/null 2>&1
      bits="$("$qlite" inspect "$out" | awk '/^  (I8|I4|U4|NF4|F16|BF16) / {p += $2; b += $2 * $6} END {printf "%.2f", 8 * b / p}')"
      name="$scheme $(echo "$gran" | sed 's/--group-size /group /; s/--granularity //; s/--scale-type dq/dq scales/')"
      echo "| $name | ${cal:+imatrix+awq+gptq} | $bits | $(( $(stat -c %s "$out") / 1024 )) KiB | $(measure "$out") |"
    done
  done
done
# Every matrix at 4 bits within 4.6 stored bits per weight: ffn_down (172 columns, padded
# to 192) in NF4, the rest int4 with min, all with u8 double-quantized scales.
for cal in "" "--calibrate $calib"; do
  out="$work/m.qlm"
  # shellcheck disable=SC2086
  "$qlite" convert "${src[@]}" -o "$out" --weights q4a --embed-weights q4a --scale-type dq \
    --tensor-weights ffn_down=nf4 $cal -q >/dev/null 2>&1
  bits="$("$qlite" inspect "$out" | awk '/^  (I8|I4|U4|NF4|F16|BF16) / {p += $2; b += $2 * $6} END {printf "%.2f", 8 * b / p}')"
  echo "| q4a group 32 dq scales, ffn_down nf4 | ${cal:+imatrix+awq+gptq} | $bits | $(( $(stat -c %s "$out") / 1024 )) KiB | $(measure "$out") |"
done
echo
echo "| KV cache (f32 weights) | ppl | Δppl |"
echo "|---|---|---|"
base_ppl="$("$qlite" perplexity -m "$work/f32.qlm" -f "$eval_text" 2>&1 | awk '/^perplexity/ {print $2}')"
for kv in f32 f16 q8 q4; do
  ppl="$("$qlite" perplexity -m "$work/f32.qlm" -f "$eval_text" --kv-type "$kv" 2>&1 | awk '/^perplexity/ {print $2}')"
  echo "| $kv | $ppl | $(awk -v a="$ppl" -v b="$base_ppl" 'BEGIN {printf "%+.3f%%", 100 * (a / b - 1)}') |"
done
