#!/usr/bin/env bash
# Ours against PyTorch on the zoo: every model that `inception bench` runs, against the same
# network in PyTorch (scripts/torch_zoo.py defines them; benches/torch_zoo_bench.py times them
# with our protocol), alternating runs in one go so that both see the same machine. Prints the
# CPU, whether it has AVX-512, and one table: medians of each figure, the median of the per-run
# ratios (each run of ours against the PyTorch run right next to it), each whole process's peak
# memory (GNU time).
#
#   benches/compare.sh [--runs 3] [--models "lenet googlenet ..."] [--batches "1 32 128"] [--threads 2]
#                      [--warmup 2] [--steps 10]
#
# `--warmup` and `--steps` (untimed and timed steps, both sides) shorten the runs of the large
# models at large batches, where one training step takes tens of seconds.
#
# Needs a Python with PyTorch, torchvision and numpy: set TORCH_PYTHON (default
# .venv-torch/bin/python, made with `python3 -m venv .venv-torch &&
# .venv-torch/bin/pip install torch torchvision numpy`). A benchmark, not a test.
set -euo pipefail
cd "$(dirname "$0")/.."

runs=3
models="lenet alexnet vgg11 vgg11-small nin googlenet googlenet-bn googlenet-paper googlenet-torchvision"
batches="1 32 128"
threads=2
warmup=2
steps=10
while [ $# -gt 0 ]; do
  case "$1" in
    --runs) runs="$2"; shift 2 ;;
    --models) models="$2"; shift 2 ;;
    --batches) batches="$2"; shift 2 ;;
    --threads) threads="$2"; shift 2 ;;
    --warmup) warmup="$2"; shift 2 ;;
    --steps) steps="$2"; shift 2 ;;
    *) echo "unknown option $1 (try --runs N, --models \"lenet nin\", --batches \"1 32\", --threads N, --warmup N, --steps N)" >&2; exit 2 ;;
  esac
done
python="${TORCH_PYTHON:-.venv-torch/bin/python}"
if ! "$python" -c "import torch, torchvision, numpy" 2>/dev/null; then
  echo "no PyTorch, torchvision and numpy at $python: python3 -m venv .venv-torch && .venv-torch/bin/pip install torch torchvision numpy (or set TORCH_PYTHON)" >&2
  exit 1
fi

cargo build --release --quiet
ours=target/release/inception
results=$(mktemp)
trap 'rm -f "$results" "$results.time" "$results.out"' EXIT
cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')
avx512=$(grep -q avx512f /proc/cpuinfo && echo yes || echo no)
echo "CPU: $cpu; AVX-512: $avx512; $threads threads; $warmup warm-up and $steps timed steps; $("$python" -c 'import torch; print("PyTorch", torch.__version__)')"

# Peak memory of a whole process (the figure each side reports for itself would not count the
# same things), in KiB, from GNU time.
peak() { /usr/bin/time -f "%M" "$@" 2>"$results.time" >"$results.out"; tail -n1 "$results.out"; echo "rss_kib $(tail -n1 "$results.time")"; }

for model in $models; do
  for batch in $batches; do
    for run in $(seq "$runs"); do
      for side in ours torch; do
        if [ "$side" = ours ]; then
          out=$(peak "$ours" bench --model "$model" --batch "$batch" --threads "$threads" \
            --warmup "$warmup" --steps "$steps" --json)
        else
          out=$(peak "$python" benches/torch_zoo_bench.py --model "$model" --batch "$batch" --threads "$threads" \
            --warmup "$warmup" --steps "$steps")
        fi
        json=$(echo "$out" | grep '^{')
        rss=$(echo "$out" | awk '/^rss_kib/ {print $2}')
        echo "$side $model $batch $run $rss $json" >>"$results"
        echo "$model, batch $batch, run $run, $side: $json (peak RSS $((rss / 1024)) MiB)" >&2
      done
    done
  done
done

python3 - "$results" <<'PY'
import json, statistics, sys
rows, order = {}, []
for line in open(sys.argv[1]):
    side, model, batch, run, rss, js = line.split(" ", 5)
    d = json.loads(js)
    key = (model, int(batch))
    if key not in order:
        order.append(key)
    rows.setdefault(key + (side,), []).append((d["train_img_s"], d["eval_img_s"], int(rss) / 1024))
print("| model | batch | train img/s ours | PyTorch | ratio | eval img/s ours | PyTorch | ratio | peak MiB ours | PyTorch |")
print("|---|---|---|---|---|---|---|---|---|---|")
for model, batch in order:
    o, t = rows[(model, batch, "ours")], rows[(model, batch, "torch")]
    med = lambda xs, i: statistics.median(x[i] for x in xs)
    # Run k of ours ran right next to run k of PyTorch: the median of those paired ratios.
    ratio = lambda i: statistics.median(a[i] / b[i] for a, b in zip(o, t))
    print(f"| {model} | {batch} | {med(o,0):.1f} | {med(t,0):.1f} | {ratio(0):.2f}x | "
          f"{med(o,1):.1f} | {med(t,1):.1f} | {ratio(1):.2f}x | {med(o,2):.0f} | {med(t,2):.0f} |")
print(f"\nmedians of {len(o)} alternating runs each")
PY
