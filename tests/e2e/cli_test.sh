#!/bin/sh
# The qlite CLI end to end on stories260K: run (stdout is exactly prompt + text), fit
# (exit status against a budget), bench, soak, perplexity, chat (plain and file templates) and errors.
# usage: cli_test.sh QLITE_BINARY DATA_DIR WORK_DIR   (exit 77 = skipped)
set -u
qlite="$1"; data="$2"; work="$3"
templates="$(cd "$(dirname "$0")/../data/chat_templates" && pwd)"  # before the cd below
grammars="$(cd "$(dirname "$0")/../data/grammars" && pwd)"
tool_schema="$(cd "$(dirname "$0")/../../examples/tool_call" && pwd)/get_weather.schema.json"
bin="$data/stories260K/stories260K.bin"
if [ ! -f "$bin" ]; then
  echo "missing test data: $bin"
  [ "${CI:-}" = true ] && exit 1
  exit 77
fi
mkdir -p "$work" && cd "$work" || exit 1
fail() { echo "FAIL: $*"; exit 1; }

"$qlite" convert "$bin" --tokenizer "$data/stories260K/tok512.bin" --weights f32 -q -o cli_f32.qlm || fail convert

# run: greedy from BOS is llama2.c's published text; stdout holds nothing else.
"$qlite" run -m cli_f32.qlm -p "" -n 40 --temp 0 --ignore-eos > run.out 2> run.err || fail "run: $(cat run.err)"
head -c 60 "$data/stories260K/reference_greedy_t0.txt" > want.txt
head -c 60 run.out > got.txt
cmp -s want.txt got.txt || fail "run output '$(cat got.txt)' != reference '$(cat want.txt)'"
grep -q "tok/s" run.err || fail "run: no speeds on stderr"
grep -q "tok/s" run.out && fail "run: stats leaked to stdout"

# a prompt is echoed, then continued
"$qlite" run -m cli_f32.qlm -p "Lily wanted to" -n 8 --temp 0.8 --seed 3 --top-k 40 --top-p 0.95 --min-p 0.05 \
  --repeat-penalty 1.1 --threads 2 --window 64 --kv-type q8 > run2.out 2>/dev/null || fail "run with sampler flags"
grep -q "^Lily wanted to" run2.out || fail "run: prompt not echoed"

# --stop: the text ends before the stop string (here part of the greedy text itself)
stop="$(head -c 50 run.out | tail -c 12)"
"$qlite" run -m cli_f32.qlm -p "" -n 40 --temp 0 --ignore-eos --stop "$stop" --stop "zzzz" > stop.out 2>/dev/null \
  || fail "run --stop"
[ "$(cat stop.out)" = "$(head -c 38 run.out)" ] || fail "run --stop: '$(cat stop.out)'"
# --logit-bias: banning every token of the greedy text's first word changes it
"$qlite" run -m cli_f32.qlm -p "" -n 4 --temp 0 --logit-bias 403=-inf > bias.out 2>/dev/null || fail "run --logit-bias"
cmp -s bias.out run.out && fail "run --logit-bias changed nothing"
"$qlite" run -m cli_f32.qlm -p "" --logit-bias x=1 > /dev/null 2>&1 && fail "run accepted a bad --logit-bias"
# --save-state / --load-state: 20 + 20 tokens continue exactly as 40
"$qlite" run -m cli_f32.qlm -p "" -n 20 --temp 0.8 --seed 5 --ignore-eos --save-state s.bin > a.out 2>/dev/null \
  || fail "run --save-state"
"$qlite" run -m cli_f32.qlm -p "" -n 20 --temp 0.8 --seed 5 --ignore-eos --load-state s.bin > b.out 2>/dev/null \
  || fail "run --load-state"
"$qlite" run -m cli_f32.qlm -p "" -n 40 --temp 0.8 --seed 5 --ignore-eos > ab.out 2>/dev/null || fail "run 40"
[ "$(tr -d '\n' < a.out)$(tr -d '\n' < b.out)" = "$(tr -d '\n' < ab.out)" ] || fail "state: '$(cat a.out b.out)' != '$(cat ab.out)'"
"$qlite" run -m cli_f32.qlm -p "" -n 1 --window 64 --load-state s.bin > /dev/null 2> state.err && fail "state: other window accepted"
grep -q "parameters" state.err || fail "state: $(cat state.err)"
# run with a grammar or a JSON schema: the output follows it; a bad grammar is an error.
"$qlite" run -m cli_f32.qlm -p "" -n 300 --seed 4 --json-schema "$tool_schema" > json.out 2>/dev/null || fail "run --json-schema"
if command -v python3 > /dev/null; then
  python3 -c 'import json; d = json.loads(open("json.out").read()); assert d["tool"] == "get_weather" and d["arguments"]["city"]' \
    || fail "run --json-schema: $(cat json.out)"
fi
"$qlite" run -m cli_f32.qlm -p "" -n 200 --seed 5 --temp 1 --grammar "$grammars/list.gbnf" > list.out 2>/dev/null || fail "run --grammar"
[ -z "$(grep -v '^- ' list.out | grep -v '^$')" ] || fail "run --grammar: $(cat list.out)"
printf 'root ::= "a" |\n  (' > bad.gbnf
"$qlite" run -m cli_f32.qlm -n 4 --grammar bad.gbnf > /dev/null 2> bad.err && fail "run: bad grammar accepted"
grep -q "grammar:2:" bad.err || fail "run: bad grammar error without line:column: $(cat bad.err)"

# fit: the math, and the exit status against a budget
"$qlite" fit -m cli_f32.qlm --window 128 --kv-type f16 > fit.out || fail fit
grep -q "kv cache = layers 5 x 2 (K,V) x kv heads 4 x head dim 8 x window 128 x 2 B (f16) = 81920 B" fit.out \
  || fail "fit math: $(cat fit.out)"
"$qlite" fit -m cli_f32.qlm --memory-budget 100K > /dev/null && fail "fit: 100K budget should not fit"
"$qlite" run -m cli_f32.qlm --memory-budget 100K -p x -n 1 > /dev/null 2> budget.err && fail "run: budget ignored"
grep -q "kv cache" budget.err || fail "budget error lacks the breakdown: $(cat budget.err)"

"$qlite" bench -m cli_f32.qlm --reps 2 --prompt-tokens 16 --gen-tokens 8 > bench.out || fail bench
grep -q "decode 8 tokens" bench.out || fail "bench: $(cat bench.out)"

# a layout with no kernel of its own on any CPU (interleave4 is read through an unpacking copy
# everywhere) is pointed out by inspect and bench; rowmajor never is
"$qlite" convert "$bin" --tokenizer "$data/stories260K/tok512.bin" --weights q4 --layout interleave4 -q -o cli_il4.qlm \
  > /dev/null || fail "convert --layout interleave4"
"$qlite" inspect cli_il4.qlm | grep -q "layout this CPU reads through an unpacking copy" || fail "inspect: no layout note"
"$qlite" bench -m cli_il4.qlm --reps 1 --prompt-tokens 4 --gen-tokens 2 | grep -q "unpacking copy" || fail "bench: no layout note"
"$qlite" inspect cli_f32.qlm | grep -q "unpacking copy" && fail "inspect: layout note on a rowmajor file"

# soak, short: 40 000 sampled tokens through a 64-position window; memory flat, speed steady.
# ctest runs other tests beside this one, so a segment may run at half speed without a fault
# of its own: the slowdown bound is 2 here (a growing cost per token still exceeds it).
# QLITE_SOAK_LIMITS overrides the bounds (sanitizer builds keep freed memory in quarantine).
# shellcheck disable=SC2086  # word splitting of the limits is intended
"$qlite" soak -m cli_f32.qlm -n 40000 --segment 2500 --temp 1 ${QLITE_SOAK_LIMITS:---max-slowdown 2} > soak.out 2>&1 \
  || fail "soak: $(cat soak.out)"
grep -q "after the first segment it grew" soak.out || fail "soak: $(cat soak.out)"
"$qlite" soak -m cli_f32.qlm -n 3 > /dev/null 2>&1 && fail "soak accepted fewer than 4 segments"

"$qlite" perplexity -m cli_f32.qlm -f "$data/eval/stories_eval.txt" > ppl.out || fail perplexity
grep -q "perplexity 5.36" ppl.out || fail "perplexity: $(cat ppl.out)"
# against a base: a model against itself is identical; 4-bit weights against f32 are not
"$qlite" perplexity -m cli_f32.qlm -f "$data/eval/stories_eval.txt" --kl-base cli_f32.qlm > kl_same.out || fail kl-base
grep -q "delta ppl +0.000%" kl_same.out && grep -q "KL divergence 0.000000 .*top-1 agreement 100.000%" kl_same.out \
  || fail "kl-base against itself: $(cat kl_same.out)"
"$qlite" convert "$bin" --tokenizer "$data/stories260K/tok512.bin" --weights q4 -q -o cli_q4.qlm > /dev/null || fail "convert q4"
# Integer weights are interleave16 unless told (read in place on x86 with AVX2 and on every
# NEON CPU); double-quantized scales cannot be regrouped by 16 rows, so those stay rowmajor.
"$qlite" inspect cli_q4.qlm | grep -q -- '--layout interleave16"' || fail "convert: q4 not interleave16 by default"
"$qlite" convert "$bin" --tokenizer "$data/stories260K/tok512.bin" --weights q4 --scale-type dq -q -o cli_dq.qlm \
  > cli_dq.out || fail "convert dq"
grep -q "I4 group 32 U8/dq256 RowMajor" cli_dq.out || fail "convert dq: $(cat cli_dq.out)"
"$qlite" perplexity -m cli_q4.qlm -f "$data/eval/stories_eval.txt" --kl-base cli_f32.qlm > kl_q4.out || fail "kl-base q4"
grep -q "base perplexity 5.36" kl_q4.out || fail "kl-base: base ppl: $(cat kl_q4.out)"
grep -q "delta ppl +[1-9]" kl_q4.out && grep -q "KL divergence 0.[0-9]*[1-9]" kl_q4.out \
  && ! grep -q "agreement 100.000%" kl_q4.out || fail "kl-base q4 vs f32: $(cat kl_q4.out)"
# fixed-length chunks: the file as one stream, 7000+ tokens in 128-token chunks
"$qlite" perplexity -m cli_f32.qlm -f "$data/eval/stories_eval.txt" --chunk 128 > chunk.out || fail "chunk"
grep -q "perplexity [0-9.]* over 7[0-9][0-9][0-9] tokens" chunk.out || fail "chunk: $(cat chunk.out)"
"$qlite" perplexity -m cli_f32.qlm -f "$data/eval/stories_eval.txt" --chunk 0 > /dev/null 2>&1 && fail "--chunk 0 accepted"

printf 'Hello\n\n' | "$qlite" chat -m cli_f32.qlm -n 16 --temp 0 > chat.out 2> chat.err || fail "chat: $(cat chat.err)"
grep -q "plain (fallback) template" chat.err || fail "chat: template not reported"
[ -s chat.out ] || fail "chat: no reply"
# A template from a file renders the turns; one the interpreter cannot parse is an error with its place.
printf 'Hello\nAgain\n\n' | "$qlite" chat -m cli_f32.qlm -n 8 --temp 0 --chat-template "$templates/chatml.jinja" \
  > chat.out 2> chat.err || fail "chat --chat-template: $(cat chat.err)"
grep -q "chatml.jinja template" chat.err || fail "chat --chat-template: not reported: $(cat chat.err)"
printf '{%% for m in messages %%}{{ m.content }\n' > broken.jinja
printf 'Hello\n\n' | "$qlite" chat -m cli_f32.qlm --chat-template broken.jinja > /dev/null 2> chat.err \
  && fail "chat accepted a broken template"
grep -q "chat template line 1 col" chat.err || fail "chat broken template: $(cat chat.err)"

"$qlite" run -m does-not-exist.qlm -p x > /dev/null 2> err.txt && fail "missing model accepted"
grep -q "cannot open" err.txt || fail "missing model: $(cat err.txt)"
# Numeric flags are parsed strictly: junk, out-of-range and non-finite values are refused.
for bad in "-n abc" "-n -1" "--temp hot" "--temp nan" "-t many" "-t 0" "--top-p 2" "--top-k 1x" "--seed -3" \
           "--window 1e3" "--repeat-penalty inf" "--batch 0" "--memory-budget 44444444444444g"; do
  # shellcheck disable=SC2086
  "$qlite" run -m cli_f32.qlm -p x $bad > /dev/null 2> err.txt && fail "run accepted $bad"
  grep -q "needs\|bad --memory-budget" err.txt || fail "run $bad: $(cat err.txt)"
done
"$qlite" bench -m cli_f32.qlm --reps zero > /dev/null 2>&1 && fail "bench accepted --reps zero"
printf '' | "$qlite" chat -m cli_f32.qlm -n 12abc > /dev/null 2>&1 && fail "chat accepted -n 12abc"
# A FIFO as the model is refused at once instead of blocking in open().
rm -f fifo.qlm && mkfifo fifo.qlm
timeout 20 "$qlite" run -m fifo.qlm -p x > /dev/null 2> err.txt && fail "FIFO model accepted"
grep -q "not a regular file" err.txt || fail "FIFO model: $(cat err.txt)"
echo "cli ok"
