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
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
