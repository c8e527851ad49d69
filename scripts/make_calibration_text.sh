#!/usr/bin/env bash
# Writes a calibration text for `qlite convert --calibrate` sampled from the model itself
# (temperature 1, one story per seed): text the model finds typical, and none of the
# evaluation text. tests/data/calibration/stories260K_samples.txt was made with
#   scripts/make_calibration_text.sh stories260K_f32.qlm 40 250 > tests/data/calibration/stories260K_samples.txt
# where stories260K_f32.qlm is `qlite convert stories260K.bin --weights f32 --embed-weights f32`.
set -euo pipefail
model="$1" count="${2:-40}" tokens="${3:-250}"
qlite="${QLITE_BUILD_DIR:-$(cd "$(dirname "$0")/.." && pwd)/build}/examples/qlite"
for seed in $(seq 1 "$count"); do
  "$qlite" run -m "$model" -p "" -n "$tokens" --temp 1.0 --seed "$seed" 2>/dev/null | tr '\n' ' '
  echo
done
