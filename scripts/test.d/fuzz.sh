#!/usr/bin/env bash
# The libFuzzer targets (tests/fuzz) under ASan + UBSan, built with clang in build-fuzz;
# each target first replays its regression inputs (tests/fuzz/regressions/<target>, every
# past finding), then fuzzes for QLITE_FUZZ_SECONDS (default 30) from seeds made of
# ../shared/models. A finding fails the run and is left in build-fuzz/artifacts/.
# A longer run, one target:  QLITE_FUZZ_SECONDS=3600 QLITE_FUZZ_ONLY=gguf bash scripts/test.d/fuzz.sh
# QLITE_SKIP_FUZZ=1 skips.
set -euo pipefail
if [ "${QLITE_SKIP_FUZZ:-0}" = 1 ]; then echo "fuzz: skipped (QLITE_SKIP_FUZZ=1)"; exit 0; fi
root="$(cd "$(dirname "$0")/../.." && pwd)"
build="${QLITE_FUZZ_BUILD_DIR:-$root/build-fuzz}"
main_build="${QLITE_BUILD_DIR:-$root/build}"
data="${QLITE_TEST_DATA:-$root/../shared/models}"
seconds="${QLITE_FUZZ_SECONDS:-30}"
all_targets=(qlm qlm_session qla gguf safetensors llama2c tokenizer cli_args chat_template grammar json_schema)
targets=("${all_targets[@]}")
[ -n "${QLITE_FUZZ_ONLY:-}" ] && targets=("$QLITE_FUZZ_ONLY")
start=$SECONDS
bash "$root/scripts/sanitizer_build.sh" fuzz "$build" qlite_fuzz
fuzz="$build/tests/fuzz/qlite_fuzz"
echo "fuzz: built in $((SECONDS - start)) s"

# Seeds, from the shared models (the .qlm and .qla ones converted by the main build's CLI).
seeds="$build/seeds"
rm -rf "$seeds" && mkdir -p "$seeds"
for t in "${all_targets[@]}"; do mkdir -p "$seeds/$t"; done
qlite="$main_build/examples/qlite"
if [ -x "$qlite" ] && [ -f "$data/stories260K/stories260K.bin" ]; then
  tok="$data/stories260K/tok512.bin"
  for w in q4 q8 f16; do
    "$qlite" convert "$data/stories260K/stories260K.bin" --tokenizer "$tok" --weights "$w" -q -o "$seeds/qlm/$w.qlm" >/dev/null
  done
  "$qlite" convert "$data/stories260K-gguf/stories260K-Q4_0.gguf" -q -o "$seeds/qlm/gguf_q4_0.qlm" >/dev/null
  cp "$seeds/qlm/"*.qlm "$seeds/qlm_session/"
  "$qlite" convert-lora "$data/lora/stories260K-lora-sea" --base "$seeds/qlm/q8.qlm" -o "$seeds/qla/sea.qla" >/dev/null
else
  echo "fuzz: no $qlite or test data: the .qlm/.qla targets start from nothing"
fi
if [ -d "$data/stories260K" ]; then
  cp "$data"/stories260K-gguf/*.gguf "$seeds/gguf/"
  cp "$data/stories260K/stories260K.bin" "$seeds/llama2c/"
  python3 - "$data" "$seeds" <<'PY'
import os, struct, sys
data, seeds = sys.argv[1], sys.argv[2]
cfg = open(os.path.join(data, "stories260K-hf/config.json"), "rb").read()
st = open(os.path.join(data, "stories260K-hf/model.safetensors"), "rb").read()
open(os.path.join(seeds, "safetensors/stories260K"), "wb").write(struct.pack("<I", len(cfg)) + cfg + st)
lines = [l for l in open(os.path.join(data, "eval/stories_eval.txt"), "rb").read().split(b"\n") if l][:8]
extra = [b"12345678901234567890 x", b"  \t\n\r\n  a", "h\u00e9t \u00e9t\u00e9 \u4e2d\u6587 \U0001F600".encode(), b"\xff\xfe\xc3(", b"<s></s><unk>"]
for i, text in enumerate(lines + extra):
    for sel in range(5):
        open(os.path.join(seeds, "tokenizer/%d_%d" % (i, sel)), "wb").write(bytes([sel | (0x80 if i % 2 else 0)]) + text)
for i, args in enumerate([["-m", "a.qlm", "-t", "4", "--temp", "0.7", "--top-p", "0.9", "--seed", "3"],
                          ["--window", "64", "--sinks", "4", "--kv-type", "q4", "--memory-budget", "64M", "--lora", "x.qla:0.5"],
                          ["--weights", "q4a", "--group-size", "64", "--scale-type", "dq", "--layout", "interleave16"],
                          ["--device", "cuda:1", "--batch", "32", "--repeat-penalty", "1.1", "--repeat-last-n", "64"]]):
    open(os.path.join(seeds, "cli_args/%d" % i), "wb").write(b"\0".join(a.encode() for a in args))
PY
fi

# Chat templates: the real ones in the repository, each with two selector bytes.
for f in "$root"/tests/data/chat_templates/*.jinja; do
  for sel in 1 14; do
    { printf "\\$(printf '%03o' "$sel")"; cat "$f"; } > "$seeds/chat_template/$(basename "$f" .jinja)_$sel"
  done
done

# Grammars and JSON schemas: the ones in the repository.
cp "$root"/tests/data/grammars/*.gbnf "$seeds/grammar/"
cp "$root"/tests/data/grammars/*.json "$root"/examples/tool_call/*.json "$seeds/json_schema/"

export QLITE_FUZZ_DATA="$data"
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
mkdir -p "$build/artifacts" "$build/logs"
for t in "${targets[@]}"; do
  export QLITE_FUZZ_TARGET="$t"
  regressions="$root/tests/fuzz/regressions/$t"
  if [ -d "$regressions" ] && [ -n "$(ls -A "$regressions")" ]; then
    "$fuzz" "$regressions"/* > "$build/logs/$t.replay" 2>&1 || { tail -40 "$build/logs/$t.replay"; echo "fuzz: $t: a regression input fails again"; exit 1; }
  fi
  corpus="$build/corpus/$t"
  mkdir -p "$corpus"
  # Per input: 10 s (a slow input is a finding: no quadratic work), 2 GB of malloc.
  dict=()  # a target's dictionary of keywords, if it has one
  [ -f "$root/tests/fuzz/$t.dict" ] && dict=(-dict="$root/tests/fuzz/$t.dict")
  if ! "$fuzz" "${dict[@]}" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2560 -malloc_limit_mb=2048 \
      -artifact_prefix="$build/artifacts/$t-" -print_final_stats=1 "$corpus" "$seeds/$t" > "$build/logs/$t.log" 2>&1; then
    tail -60 "$build/logs/$t.log"
    echo "fuzz: $t found a failure; the input is in $build/artifacts/ (add it to tests/fuzz/regressions/$t/)"
    exit 1
  fi
  echo "fuzz: $t ok ($(grep -o 'stat::number_of_executed_units: *[0-9]*' "$build/logs/$t.log" | grep -o '[0-9]*$') runs)"
done
echo "fuzz: ok in $((SECONDS - start)) s"
