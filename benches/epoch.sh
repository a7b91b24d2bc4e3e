#!/usr/bin/env bash
# One real epoch, ours against PyTorch: the article's recipe (GoogLeNet d2l, Fashion-MNIST
# resized to 96x96, batch 128, SGD lr 0.1, Xavier initialization, one loader thread) for one
# epoch plus the test pass: `inception train --epochs 1` against benches/torch_epoch.py
# (torchvision's FashionMNIST, Resize(96), one DataLoader worker, the same initialization; until
# 2026-12-05 it kept PyTorch's default one, with which that network stayed at chance),
# alternating. Prints each run's whole-process wall time, the time inside training steps, and
# the rest (loading waits, test pass, figures, checkpoint, start-up), and the median ratio
# PyTorch / ours.
#
#   benches/epoch.sh [--runs 2] [--limit-train N] [--limit-test N] [--data DIR] [--threads 2]
#
# Without limits it is all 60,000 training and 10,000 test images (about 20 minutes a run on 2
# cores). Needs TORCH_PYTHON as benches/compare.sh does. A benchmark, not a test.
set -euo pipefail
cd "$(dirname "$0")/.."

runs=2; threads=2; data=/usr/share/datasets/fashion-mnist; limits=()
while [ $# -gt 0 ]; do
  case "$1" in
    --runs) runs="$2"; shift 2 ;;
    --threads) threads="$2"; shift 2 ;;
    --data) data="$2"; shift 2 ;;
    --limit-train|--limit-test) limits+=("$1" "$2"); shift 2 ;;
    *) echo "unknown option $1 (try --runs N, --limit-train N, --limit-test N, --data DIR, --threads N)" >&2; exit 2 ;;
  esac
done
python="${TORCH_PYTHON:-.venv-torch/bin/python}"
"$python" -c "import torch, torchvision, numpy" 2>/dev/null || { echo "no PyTorch, torchvision and numpy at $python (see benches/compare.sh)" >&2; exit 1; }

cargo build --release --quiet
ours=target/release/inception
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
echo "CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'); AVX-512: $(grep -q avx512f /proc/cpuinfo && echo yes || echo no); data: $data ${limits[*]}"

for run in $(seq "$runs"); do
  for side in ours torch; do
    start=$(date +%s.%N)
    if [ "$side" = ours ]; then
      rm -rf "$work/run"
      "$ours" train --epochs 1 --threads "$threads" --data "$data" --no-download --out "$work/run" "${limits[@]}" >"$work/log" 2>&1
      steps=$(python3 -c "import csv,sys; print(next(csv.DictReader(open(sys.argv[1])))['step_seconds'])" "$work/run/metrics.csv")
      detail=$(grep '^epoch 1' "$work/log")
    else
      json=$("$python" benches/torch_epoch.py --data "$data" --threads "$threads" "${limits[@]}" | grep '^{')
      steps=$(python3 -c "import json,sys; print(json.loads(sys.argv[1])['step_s'])" "$json")
      detail=$json
    fi
    wall=$(python3 -c "import sys; print(round($(date +%s.%N) - $start, 1))")
    # PyTorch's own clock starts after Python has imported torch (seconds of start-up that a
    # long epoch would not notice): the fairer figure for a short run.
    [ "$side" = torch ] && wall=$(python3 -c "import json,sys; print(json.loads(sys.argv[1])['wall_s'])" "$json")
    echo "$side $run $wall $steps" >>"$work/results"
    echo "run $run, $side: wall $wall s, steps $steps s ($detail)" >&2
  done
done

python3 - "$work/results" <<'PY'
import statistics, sys
rows = {}
for line in open(sys.argv[1]):
    side, run, wall, steps = line.split()
    rows.setdefault(side, []).append((float(wall), float(steps)))
print("| | wall s | in training steps s | outside steps s | outside share |")
print("|---|---|---|---|---|")
for side, name in (("ours", "inception"), ("torch", "PyTorch")):
    for wall, steps in rows[side]:
        print(f"| {name} | {wall:.1f} | {steps:.1f} | {wall - steps:.1f} | {100 * (wall - steps) / wall:.1f}% |")
ratio = statistics.median(t[0] / o[0] for o, t in zip(rows["ours"], rows["torch"]))
print(f"\nPyTorch wall / ours, median of per-run ratios: {ratio:.2f}x")
PY
