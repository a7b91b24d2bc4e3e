#!/usr/bin/env bash
# Ours against the PyTorch reference (../shared/bench/torch_googlenet.py), alternating runs in
# one go so that both see the same machine: medians of each figure, and the median of the
# per-run ratios (each run of ours against the PyTorch run right next to it).
#
#   benches/compare.sh [--runs 3] [--batches "32 64 128 256"] [--threads 2]
#
# Needs a Python with PyTorch: set TORCH_PYTHON (default .venv-torch/bin/python, made with
# `python3 -m venv .venv-torch && .venv-torch/bin/pip install torch`) and the reference script
# in TORCH_BENCH (default ../shared/bench/torch_googlenet.py).
set -euo pipefail
cd "$(dirname "$0")/.."

runs=3
batches="32 64 128 256"
threads=2
while [ $# -gt 0 ]; do
  case "$1" in
    --runs) runs="$2"; shift 2 ;;
    --batches) batches="$2"; shift 2 ;;
    --threads) threads="$2"; shift 2 ;;
    *) echo "unknown option $1 (try --runs N, --batches \"32 64\", --threads N)" >&2; exit 2 ;;
  esac
done
python="${TORCH_PYTHON:-.venv-torch/bin/python}"
reference="${TORCH_BENCH:-../shared/bench/torch_googlenet.py}"
if ! "$python" -c "import torch" 2>/dev/null; then
  echo "no PyTorch at $python: python3 -m venv .venv-torch && .venv-torch/bin/pip install torch (or set TORCH_PYTHON)" >&2
  exit 1
fi
[ -f "$reference" ] || { echo "no reference script at $reference (set TORCH_BENCH)" >&2; exit 1; }

cargo build --release --quiet
ours=target/release/inception
results=$(mktemp)
trap 'rm -f "$results" "$results.time" "$results.out"' EXIT

# Peak memory of a whole process (the figure each side reports for itself would not count the
# same things), in MiB, from GNU time.
peak() { /usr/bin/time -f "%M" "$@" 2>"$results.time" >"$results.out"; tail -n1 "$results.out"; echo "rss_kib $(tail -n1 "$results.time")"; }

for batch in $batches; do
  for run in $(seq "$runs"); do
    for side in ours torch; do
      if [ "$side" = ours ]; then
        out=$(peak "$ours" bench --batch "$batch" --threads "$threads" --json)
      else
        out=$(peak "$python" "$reference" --batch "$batch" --threads "$threads")
      fi
      json=$(echo "$out" | grep '^{')
      rss=$(echo "$out" | awk '/^rss_kib/ {print $2}')
      echo "$side $batch $run $rss $json" >>"$results"
      echo "batch $batch, run $run, $side: $json (peak RSS $((rss / 1024)) MiB)" >&2
    done
  done
done

python3 - "$results" <<'PY'
import json, statistics, sys
rows = {}
for line in open(sys.argv[1]):
    side, batch, run, rss, js = line.split(" ", 4)
    d = json.loads(js)
    rows.setdefault((int(batch), side), []).append((d["train_img_s"], d["eval_img_s"], int(rss) / 1024))
print("| batch | train img/s ours | train img/s PyTorch | ratio | eval img/s ours | eval img/s PyTorch | ratio | peak MiB ours | peak MiB PyTorch |")
print("|---|---|---|---|---|---|---|---|---|")
for batch in sorted({b for b, _ in rows}):
    o, t = rows[(batch, "ours")], rows[(batch, "torch")]
    med = lambda xs, i: statistics.median(x[i] for x in xs)
    # Run k of ours ran right next to run k of PyTorch: the median of those paired ratios.
    ratio = lambda i: statistics.median(a[i] / b[i] for a, b in zip(o, t))
    print(f"| {batch} | {med(o,0):.1f} | {med(t,0):.1f} | {ratio(0):.2f}x | "
          f"{med(o,1):.1f} | {med(t,1):.1f} | {ratio(1):.2f}x | {med(o,2):.0f} | {med(t,2):.0f} |")
print(f"\nmedian of {len(o)} alternating runs each")
PY
