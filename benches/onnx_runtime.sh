#!/usr/bin/env bash
# Our inference against ONNX Runtime's on the same network and weights: a model is trained for
# a moment, exported with `inception export --format onnx`, and `inception bench --checkpoint`
# (eval img/s) alternates with benches/onnx_runtime_bench.py on the exported file, at each
# batch size. Prints the CPU, each run, and the medians with the median of the per-run ratios.
#
#   benches/onnx_runtime.sh [--model googlenet] [--runs 3] [--batches "1 32"] [--threads 2]
#
# Needs a Python with onnxruntime and numpy: set ONNX_PYTHON (default .venv-onnx/bin/python,
# made with `python3 -m venv .venv-onnx && .venv-onnx/bin/pip install onnx onnxruntime numpy`).
# A benchmark, not a test.
set -euo pipefail
cd "$(dirname "$0")/.."

model=googlenet
runs=3
batches="1 32"
threads=2
while [ $# -gt 0 ]; do
  case "$1" in
    --model) model="$2"; shift 2 ;;
    --runs) runs="$2"; shift 2 ;;
    --batches) batches="$2"; shift 2 ;;
    --threads) threads="$2"; shift 2 ;;
    *) echo "unknown option $1 (try --model NAME, --runs N, --batches \"1 32\", --threads N)" >&2; exit 2 ;;
  esac
done
python="${ONNX_PYTHON:-.venv-onnx/bin/python}"
if ! "$python" -c "import onnxruntime, numpy" 2>/dev/null; then
  echo "no onnxruntime and numpy at $python: python3 -m venv .venv-onnx && .venv-onnx/bin/pip install onnx onnxruntime numpy (or set ONNX_PYTHON)" >&2
  exit 1
fi

cargo build --release --quiet
ours=target/release/inception
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$ours" train --model "$model" --epochs 1 --limit-train 256 --limit-test 64 --batch-size 64 \
  --out "$work/run" > /dev/null
"$ours" export --format onnx --checkpoint "$work/run/model.ckpt" --out "$work/model.onnx"

cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')
avx512=$(grep -qw avx512f /proc/cpuinfo && echo yes || echo no)
echo "CPU: $cpu (AVX-512: $avx512), $threads threads; $("$python" -c 'import onnxruntime as o; print("onnxruntime", o.__version__)')"
echo "model: $model; eval img/s, ours (inception bench --checkpoint) and ONNX Runtime, alternating"
for batch in $batches; do
  : > "$work/ratios"; : > "$work/a"; : > "$work/b"
  for run in $(seq "$runs"); do
    a=$("$ours" bench --checkpoint "$work/run/model.ckpt" --batch "$batch" --threads "$threads" --json \
      | sed 's/.*"eval_img_s":\([0-9.]*\).*/\1/')
    b=$("$python" benches/onnx_runtime_bench.py "$work/model.onnx" --batch "$batch" --threads "$threads" \
      | sed 's/.*"eval_img_s": \([0-9.]*\).*/\1/')
    echo "batch $batch run $run: ours $a img/s, onnxruntime $b img/s"
    echo "$a" >> "$work/a"; echo "$b" >> "$work/b"
    awk -v a="$a" -v b="$b" 'BEGIN { printf "%.3f\n", a / b }' >> "$work/ratios"
  done
  median() { sort -g "$1" | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
  echo "batch $batch: ours $(median "$work/a") img/s, onnxruntime $(median "$work/b") img/s, ours / onnxruntime $(median "$work/ratios")x (median of per-run ratios)"
done
