#!/usr/bin/env bash
# Data-parallel scaling on one machine: the same training (the article's GoogLeNet recipe on
# the first N Fashion-MNIST images resized to 96, global batch 128) as one process with one
# thread, one process with two threads, and `mpirun -np 2` ranks of one thread each,
# alternating, median of --runs. Prints the CPU, training images/s of each (from metrics.csv),
# and for the two ranks the time of the gradients' all-reduce per step and its share of the
# step (the line rank 0 prints after each epoch). With --sync-bn (for a network with batch
# norm), a fourth setup: the two ranks with `--sync-bn`, whose statistics are summed across
# ranks in every batch norm's forward and backward pass (what that costs).
#
#   benches/ranks.sh [--runs 3] [--model googlenet] [--images 2560] [--batch 128] [--sync-bn]
#
# Builds with `--features mpi` (Open MPI: libopenmpi-dev openmpi-bin libclang-dev). A
# benchmark, not a test: the numbers depend on the machine.
set -euo pipefail
cd "$(dirname "$0")/.."

runs=3; model=googlenet; images=2560; batch=128; setups="1x1 1x2 2x1"
while [ $# -gt 0 ]; do
  case "$1" in
    --runs) runs="$2"; shift 2 ;;
    --model) model="$2"; shift 2 ;;
    --images) images="$2"; shift 2 ;;
    --batch) batch="$2"; shift 2 ;;
    --sync-bn) setups="$setups 2x1s"; shift ;;
    *) echo "unknown option $1 (try --runs N, --model NAME, --images N, --batch N, --sync-bn)" >&2; exit 2 ;;
  esac
done
command -v mpirun >/dev/null || { echo "no mpirun: apt-get install libopenmpi-dev openmpi-bin libclang-dev" >&2; exit 1; }
cargo build --release --quiet --features mpi
ours=target/release/inception
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
echo "CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'); $(nproc) cores; AVX-512: $(grep -q avx512f /proc/cpuinfo && echo yes || echo no)"
echo "$model, $images training images, global batch $batch, 1 epoch (test pass on 128 images)"

args=(train --model "$model" --limit-train "$images" --limit-test 128 --epochs 1 --batch-size "$batch" --no-download)
for run in $(seq "$runs"); do
  for setup in $setups; do
    out="$work/$setup-$run"
    case "$setup" in
      1x1) "$ours" "${args[@]}" --threads 1 --out "$out" >"$out.log" ;;
      1x2) "$ours" "${args[@]}" --threads 2 --out "$out" >"$out.log" ;;
      2x1) mpirun --allow-run-as-root --oversubscribe -np 2 "$ours" "${args[@]}" --threads 1 --out "$out" >"$out.log" ;;
      2x1s) mpirun --allow-run-as-root --oversubscribe -np 2 "$ours" "${args[@]}" --threads 1 --sync-bn --out "$out" >"$out.log" ;;
    esac
    echo "run $run, $setup: $(grep '^epoch 1' "$out.log") $(grep 'all-reduce' "$out.log" || true)" >&2
  done
done

python3 - "$work" "$runs" $setups <<'PY'
import csv, re, statistics, sys
work, runs, setups = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
def img_s(setup, run):
    with open(f"{work}/{setup}-{run}/metrics.csv") as f:
        return float(next(csv.DictReader(f))["images_per_sec"])
names = {"1x1": "1 process, 1 thread", "1x2": "1 process, 2 threads", "2x1": "2 ranks x 1 thread",
         "2x1s": "2 ranks x 1 thread, --sync-bn"}
names = {s: names[s] for s in setups}
med = {s: statistics.median(img_s(s, r) for r in range(1, runs + 1)) for s in names}
print("| setup | train img/s (median) | vs 1 thread |")
print("|---|---|---|")
for s, name in names.items():
    print(f"| {name} | {med[s]:.1f} | {med[s] / med['1x1']:.2f}x |")
ms, share = [], []
for r in range(1, runs + 1):
    m = re.search(r"all-reduce of the gradients: ([\d.]+) ms per step, ([\d.]+)%", open(f"{work}/2x1-{r}.log").read())
    ms.append(float(m.group(1))); share.append(float(m.group(2)))
print(f"\n2 ranks: all-reduce {statistics.median(ms):.1f} ms per step, {statistics.median(share):.1f}% of the step (medians of {runs})")
PY
