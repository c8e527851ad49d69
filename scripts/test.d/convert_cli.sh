#!/usr/bin/env bash
# `qlite convert` end to end: every source format and weight scheme converts, bad input
# fails with a message and a non-zero exit and leaves no output file.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
qlite="${QLITE_BUILD_DIR:-$root/build}/examples/qlite"
data="${QLITE_TEST_DATA:-$root/../shared/models}"
[ -x "$qlite" ] || { echo "convert_cli: $qlite not built" >&2; exit 1; }
if [ ! -d "$data/stories260K" ]; then
  [ "${CI:-}" = true ] && { echo "convert_cli: missing $data" >&2; exit 1; }
  echo "convert_cli: skipped (no test data at $data)"; exit 0
fi
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
fail() { echo "convert_cli: FAIL: $*" >&2; exit 1; }

"$qlite" convert --help | grep -q -- "--weights" || fail "--help"
for src in "$data/stories260K/stories260K.bin" "$data/stories260K-hf" "$data/stories260K-gguf/stories260K-Q8_0.gguf"; do
  for args in "--weights q4" "--weights q4a --group-size 64" "--weights q8 --granularity row" \
              "--weights nf4 --scale-type dq" "--weights f16" "--weights bf16" "--weights f32" \
              "--weights q4 --layout interleave4 --embed-weights q4" "--weights q8 --granularity tensor --scale-type f32" \
              "--weights q4 --layout interleave16" "--weights q4a --layout auto --embed-weights f16"; do
    # shellcheck disable=SC2086
    "$qlite" convert "$src" -o "$tmp/out.qlm" $args -q > "$tmp/log" 2>&1 || { cat "$tmp/log"; fail "$src $args"; }
    grep -q "bits/param" "$tmp/log" || fail "no summary for $src $args"
    [ -s "$tmp/out.qlm" ] || fail "no output for $src $args"
    rm -f "$tmp/out.qlm"
  done
done
# The default keeps a quantized GGUF's values and says so per source type (error 0).
"$qlite" convert "$data/stories260K-gguf/stories260K-Q4_0.gguf" -o "$tmp/kept.qlm" -q > "$tmp/log" 2>&1 ||
  { cat "$tmp/log"; fail "default convert of a Q4_0 GGUF"; }
grep -q "^Q4_0 .*-> I4 group 32 F16.*exactly.*error max 0," "$tmp/log" || { cat "$tmp/log"; fail "Q4_0 not kept"; }
grep -q "^F16 .*-> F16" "$tmp/log" || { cat "$tmp/log"; fail "F16 not kept"; }
"$qlite" convert "$data/stories260K-gguf/stories260K-Q4_0.gguf" -o "$tmp/forced.qlm" --weights q8 -q > "$tmp/log" 2>&1
grep -q "^Q4_0 .*-> I8 .*quantized" "$tmp/log" || { cat "$tmp/log"; fail "--weights q8 not forced"; }
rm -f "$tmp/kept.qlm" "$tmp/forced.qlm"
expect_fail() {
  local want="$1"; shift
  if "$qlite" convert "$@" > "$tmp/log" 2>&1; then fail "accepted: $*"; fi
  grep -q -- "$want" "$tmp/log" || { cat "$tmp/log"; fail "message for $* lacks '$want'"; }
  [ ! -e "$tmp/bad.qlm" ] || fail "partial output left by: $*"
}
head -c 5000 "$data/stories260K-gguf/stories260K-Q4_0.gguf" > "$tmp/cut.gguf"
printf 'GGUX0000000000000000000000' > "$tmp/magic.gguf"
expect_fail "truncated" "$tmp/cut.gguf" -o "$tmp/bad.qlm"
expect_fail "GGUF" "$tmp/magic.gguf" -o "$tmp/bad.qlm"
expect_fail "unknown --weights" "$data/stories260K/stories260K.bin" -o "$tmp/bad.qlm" --weights q5
expect_fail "group-size" "$data/stories260K/stories260K.bin" -o "$tmp/bad.qlm" --group-size 48
expect_fail "missing -o" "$data/stories260K/stories260K.bin"
expect_fail "cannot open" "$tmp/nothing.bin" -o "$tmp/bad.qlm"
expect_fail "pieces" "$data/stories260K/stories260K.bin" --tokenizer "$data/tokenizers/llama2-32k/tokenizer.bin" -o "$tmp/bad.qlm"
# -o never replaces an input (any spelling of it) or a device; the input stays intact.
cp "$data/stories260K/stories260K.bin" "$tmp/in.bin"
expect_fail "is the input" "$tmp/in.bin" --tokenizer "$data/stories260K/tok512.bin" -o "$tmp/in.bin"
expect_fail "is the input" "$tmp/in.bin" --tokenizer "$data/stories260K/tok512.bin" -o "$tmp/../$(basename "$tmp")/in.bin"
expect_fail "is the input" "$tmp/in.bin" --tokenizer "$data/stories260K/tok512.bin" -o "$data/stories260K/tok512.bin"
expect_fail "not a regular file" "$tmp/in.bin" --tokenizer "$data/stories260K/tok512.bin" -o /dev/null
cmp -s "$tmp/in.bin" "$data/stories260K/stories260K.bin" || fail "the input was modified"
"$qlite" convert "$tmp/in.bin" --tokenizer "$data/stories260K/tok512.bin" -o "$tmp/base.qlm" -q > /dev/null
if "$qlite" convert-lora "$data/lora/stories260K-lora-pip" --base "$tmp/base.qlm" -o "$tmp/base.qlm" > "$tmp/log" 2>&1; then
  fail "convert-lora replaced its base"
fi
grep -q "is the input" "$tmp/log" || { cat "$tmp/log"; fail "convert-lora -o BASE: no message"; }
# A FIFO as the source is refused at once (open() on it would wait for a writer forever).
mkfifo "$tmp/fifo.gguf"
timeout 20 "$qlite" convert "$tmp/fifo.gguf" -o "$tmp/bad.qlm" > "$tmp/log" 2>&1 && fail "FIFO source accepted"
grep -q "not a regular file" "$tmp/log" || { cat "$tmp/log"; fail "FIFO source: $(cat "$tmp/log")"; }
# A sparse llama2.c checkpoint whose shapes claim 16 GB per matrix: under a 4 GB address-space
# limit the allocation fails; the CLI reports it (no abort, exit 134) and leaves no OUT.tmpPID.
python3 -c "import struct,sys; sys.stdout.buffer.write(struct.pack('7i', 65536, 65536, 1, 1, 1, 512, 256))" > "$tmp/huge.bin"
truncate -s 120461197340 "$tmp/huge.bin"
status=0
(ulimit -v 4000000; "$qlite" convert "$tmp/huge.bin" --tokenizer "$data/stories260K/tok512.bin" -o "$tmp/bad.qlm" -q) \
  > "$tmp/log" 2>&1 || status=$?
[ "$status" = 1 ] || { cat "$tmp/log"; fail "huge shapes: exit $status, want 1"; }
grep -q "out of memory" "$tmp/log" || { cat "$tmp/log"; fail "huge shapes: no message"; }
ls "$tmp" | grep -q "bad.qlm" && fail "huge shapes left $(ls "$tmp" | grep bad.qlm)"
rm -f "$tmp/huge.bin"
echo "convert_cli: ok"
