#!/usr/bin/env bash
# GPU meter check (needs an NVIDIA GPU, PyTorch and pynvml): a ~20 s bf16 load under `ecoml measure`,
# compared with NVML's total-energy counter read by an independent Python process around it and with
# nvidia-smi power samples (100 ms) integrated over the same time. Target: within 2% of the counter.
# Usage: bench/gpu-meter.sh [SECONDS] [OUT_DIR]   (run `npm run build` first; NODE overrides `node`,
# ECOML_BIN the ecoml entry point)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
seconds=${1:-20}
out=${2:-$root/bench/results/gpu-meter}
node=${NODE:-node}
ecoml=${ECOML_BIN:-$root/bin/ecoml.js}
mkdir -p "$out"
if ! command -v nvidia-smi >/dev/null || ! nvidia-smi -L >/dev/null 2>&1; then
  echo "gpu-meter: no NVIDIA GPU here (nvidia-smi missing or found no device); nothing to check" >&2
  exit 0
fi
python3 -c 'import torch, pynvml' || { echo "gpu-meter: needs python3 with torch and pynvml (nvidia-ml-py)" >&2; exit 2; }
nvidia-smi --query-gpu=timestamp,power.draw --format=csv,noheader,nounits -lms 100 > "$out/smi.csv" &
smi=$!
trap 'kill $smi 2>/dev/null || true' EXIT
sleep 1
python3 "$here/gpu/nvml_counter.py" > "$out/counter0.json"
"$node" "$ecoml" measure --json --output "$out/emissions.csv" -- python3 "$here/gpu/load.py" "$seconds" > "$out/measure.json"
python3 "$here/gpu/nvml_counter.py" > "$out/counter1.json"
sleep 0.5
kill $smi 2>/dev/null || true
python3 "$here/gpu/compare.py" "$out"
