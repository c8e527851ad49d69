#!/usr/bin/env bash
# qlite_make_synthetic end to end on small shapes: files open, run and bench; the seed fixes
# the weights (same fingerprint) and changes them (different fingerprint); bad flags fail
# with a message and leave no file.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
build="${QLITE_BUILD_DIR:-$root/build}"
qlite="$build/examples/qlite"
synth="$build/examples/bench/qlite_make_synthetic"
for b in "$qlite" "$synth"; do [ -x "$b" ] || { echo "make_synthetic: $b not built" >&2; exit 1; }; done
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
fail() { echo "make_synthetic: FAIL: $*" >&2; exit 1; }
dims=(--dim 128 --ffn 344 --layers 2 --heads 4 --kv-heads 2 --vocab 400 --context 256)
fingerprint() { "$qlite" inspect "$1" | sed -n 's/^fingerprint: //p'; }

for w in q4 q8 f16 nf4; do
  "$synth" "${dims[@]}" --weights "$w" --seed 7 -q -o "$tmp/$w.qlm" > "$tmp/log" 2>&1 || { cat "$tmp/log"; fail "--weights $w"; }
  "$qlite" inspect "$tmp/$w.qlm" | grep -q "dim 128, layers 2, heads 4 (kv 2, head_dim 32), ffn 344, vocab 400" ||
    fail "$w: config not as asked"
  "$qlite" bench -m "$tmp/$w.qlm" --prompt-tokens 8 --gen-tokens 4 --reps 1 --threads 2 > "$tmp/log" 2>&1 ||
    { cat "$tmp/log"; fail "bench on $w"; }
  grep -q "decode 4 tokens" "$tmp/log" || fail "bench output for $w"
done
"$qlite" inspect "$tmp/q4.qlm" | grep -q "I4 " || fail "q4 weights not I4"
"$qlite" inspect "$tmp/q4.qlm" | grep -q "I8 " || fail "q4 embeddings not I8 (convert's default)"
"$synth" "${dims[@]}" --weights q4 --seed 7 -q -o "$tmp/again.qlm" > /dev/null
"$synth" "${dims[@]}" --weights q4 --seed 8 -q -o "$tmp/other.qlm" > /dev/null
[ "$(fingerprint "$tmp/q4.qlm")" = "$(fingerprint "$tmp/again.qlm")" ] || fail "same seed, different weights"
[ "$(fingerprint "$tmp/q4.qlm")" != "$(fingerprint "$tmp/other.qlm")" ] || fail "seed ignored"
"$synth" "${dims[@]}" --tied -q -o "$tmp/tied.qlm" > /dev/null
"$qlite" inspect "$tmp/tied.qlm" | grep -q "tied yes" || fail "--tied"

expect_fail() {
  local want="$1"; shift
  if "$synth" "$@" > "$tmp/log" 2>&1; then fail "accepted: $*"; fi
  grep -q -- "$want" "$tmp/log" || { cat "$tmp/log"; fail "message for $* lacks '$want'"; }
  [ ! -e "$tmp/bad.qlm" ] || fail "file left by: $*"
}
expect_fail "unknown --shape" --shape llama9 -o "$tmp/bad.qlm"
expect_fail "unknown --weights" "${dims[@]}" --weights q5 -o "$tmp/bad.qlm"
expect_fail "group-size" "${dims[@]}" --group-size 48 -o "$tmp/bad.qlm"
expect_fail "missing -o" "${dims[@]}"
expect_fail "bad number" "${dims[@]}" --dim x -o "$tmp/bad.qlm"
expect_fail "config" "${dims[@]}" --kv-heads 3 -o "$tmp/bad.qlm"
echo "make_synthetic: ok"
