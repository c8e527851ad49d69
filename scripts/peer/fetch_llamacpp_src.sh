#!/usr/bin/env bash
# llama.cpp's source for the peer scripts (bench_peer_llamacpp.sh, arm_peer_insns.sh): the
# sdist of llama-cpp-python (PyPI) vendors it. Fetched once into PEER/llama.cpp/src, with
# PEER/llama.cpp/VERSION naming what it is; delete the src folder to fetch again.
#
#   scripts/peer/fetch_llamacpp_src.sh PEER
# Env: QLITE_PEER_LLAMA_CPP_PYTHON (default 0.3.36): the llama-cpp-python sdist ("" = the newest).
set -euo pipefail
peer="${1:?usage: $0 PEER_CACHE_DIR}"
src="$peer/llama.cpp/src"
[ -f "$src/ggml/CMakeLists.txt" ] && exit 0
echo "== fetching llama-cpp-python's sdist from PyPI" >&2
rm -rf "$peer/sdist" "$src" && mkdir -p "$peer/sdist" "$peer/llama.cpp"
pin="${QLITE_PEER_LLAMA_CPP_PYTHON-0.3.36}"
python3 -m pip download -q --no-deps --no-binary :all: "llama-cpp-python${pin:+==$pin}" -d "$peer/sdist"
tarball="$(ls "$peer"/sdist/llama_cpp_python-*.tar.gz | head -n1)"
tar xzf "$tarball" -C "$peer/sdist"
top="$peer/sdist/$(basename "$tarball" .tar.gz)"
[ -f "$top/vendor/llama.cpp/ggml/CMakeLists.txt" ] ||
  { echo "fetch_llamacpp_src.sh: $tarball has no vendor/llama.cpp" >&2; exit 1; }
mv "$top/vendor/llama.cpp" "$src"
# The sdist has no git metadata; its CHANGELOG names the llama.cpp commit it vendors
# (the first "update llama.cpp to ggml-org/llama.cpp@HASH" line, under the newest release).
ver="$(basename "$top" | sed 's/^llama_cpp_python-//')"
commit="$(grep -m1 -o 'llama.cpp@[0-9a-f]*' "$top/CHANGELOG.md" | cut -d@ -f2 || true)"
ggml="$(awk '/set\(GGML_VERSION_(MAJOR|MINOR|PATCH)/ { gsub(/\)/, "", $2); v = v (v ? "." : "") $2 } END { print v }' \
  "$src/ggml/CMakeLists.txt")"
printf 'llama-cpp-python %s, llama.cpp commit %s, ggml %s\n' "$ver" "${commit:-unknown}" "$ggml" \
  >"$peer/llama.cpp/VERSION"
rm -rf "$peer/sdist"
