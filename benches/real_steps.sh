#!/usr/bin/env bash
# Training steps on real images against the benchmark's random ones, both sides: a short real
# epoch of the article's recipe (`inception train --epochs 1 --limit-train 128*STEPS` and
# benches/torch_epoch.py, GoogLeNet d2l, Fashion-MNIST resized to 96, batch 128) against
# `inception bench` and benches/torch_zoo_bench.py (random normal images), alternating. Prints
# each side's seconds per step both ways and PyTorch / ours on the real steps. It asks whether
# what `benches/compare.sh` measures holds on real data, in minutes rather than the hour of
# `benches/epoch.sh`. The real epoch's per-step figure includes its first step (warm-up) on
# both sides.
#
#   benches/real_steps.sh [--runs 3] [--steps 20] [--data DIR] [--threads 2]
#
# Needs TORCH_PYTHON as benches/compare.sh does. A benchmark, not a test.
set -euo pipefail
cd "$(dirname "$0")/.."

runs=3; steps=20; threads=2; data=/usr/share/datasets/fashion-mnist
while [ $# -gt 0 ]; do
  case "$1" in
    --runs) runs="$2"; shift 2 ;;
    --steps) steps="$2"; shift 2 ;;
    --threads) threads="$2"; shift 2 ;;
    --data) data="$2"; shift 2 ;;
    *) echo "unknown option $1 (try --runs N, --steps N, --data DIR, --threads N)" >&2; exit 2 ;;
  esac
done
python="${TORCH_PYTHON:-.venv-torch/bin/python}"
"$python" -c "import torch, torchvision, numpy" 2>/dev/null || { echo "no PyTorch, torchvision and numpy at $python (see benches/compare.sh)" >&2; exit 1; }

cargo build --release --quiet
ours=target/release/inception
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
images=$((128 * steps))
echo "CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'); AVX-512: $(grep -q avx512f /proc/cpuinfo && echo yes || echo no); $steps real steps of 128 images"
echo "run | ours real s/step | ours random | PyTorch real | PyTorch random | PyTorch / ours (real)"
for run in $(seq "$runs"); do
  rm -rf "$work/run"
  "$ours" train --epochs 1 --threads "$threads" --data "$data" --no-download --out "$work/run" \
    --limit-train "$images" --limit-test 128 >"$work/log" 2>&1
  ours_real=$(python3 -c "import csv,sys; print(float(next(csv.DictReader(open(sys.argv[1])))['step_seconds']) / $steps)" "$work/run/metrics.csv")
  ours_random=$("$ours" bench --batch 128 --threads "$threads" --warmup 1 --steps 10 2>&1 | sed -n 's/^train: *\([0-9.]*\) ms.*/\1/p')
  torch_real=$("$python" benches/torch_epoch.py --data "$data" --threads "$threads" --limit-train "$images" --limit-test 128 | grep '^{' | python3 -c "import json,sys; print(json.load(sys.stdin)['step_s'] / $steps)")
  torch_random=$("$python" benches/torch_zoo_bench.py --model googlenet --batch 128 --threads "$threads" --warmup 1 --steps 10 | grep '^{' | python3 -c "import json,sys; print(json.load(sys.stdin)['train_ms'])")
  python3 -c "import sys; o, ob, t, tb = map(float, sys.argv[1:]); print(f'{$run} | {o:.2f} | {ob / 1e3:.2f} | {t:.2f} | {tb / 1e3:.2f} | {t / o:.2f}x')" \
    "$ours_real" "$ours_random" "$torch_real" "$torch_random"
done
