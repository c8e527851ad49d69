#!/usr/bin/env bash
# Installs what qlite needs on Debian/Ubuntu (as root, through apt) when it is missing.
# Usage: scripts/setup.sh [extra-package ...]
set -euo pipefail
pkgs=(build-essential cmake pkg-config libhwy-dev libmimalloc-dev libflatbuffers-dev flatbuffers-compiler
      libgtest-dev libgmock-dev libbenchmark-dev python3)
pkgs+=("$@")
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then exit 0; fi
echo "setup: installing ${missing[*]}" >&2
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
# A mirror caught mid-sync fails `apt-get update` for one index (seen in CI: "File has
# unexpected size ... Mirror sync in progress?"): install from the indexes that did arrive,
# and retry the whole step a few times before giving up.
for attempt in 1 2 3 4; do
  $SUDO apt-get update -qq || echo "setup: apt-get update reported errors (attempt $attempt)" >&2
  if $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null; then exit 0; fi
  [ "$attempt" -eq 4 ] || sleep $((attempt * 20))
done
echo "setup: could not install ${missing[*]}" >&2
exit 1
