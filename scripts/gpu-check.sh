#!/usr/bin/env bash
# The whole GPU check in one run, on a machine with a GPU (NVIDIA, AMD or Apple) and binaries
# built with the matching feature (nothing is built or downloaded here):
#
#   1. tests/wgpu.rs on the GPU instead of lavapipe: the zoo's small models give the CPU's
#      logits within 1e-4, checkpoints cross both ways, five training steps give the CPU's
#      losses within 1e-3, `train` runs end to end;
#   2. `inception bench` of GoogLeNet d2l and GoogLeNet-BN at batch 128 on the GPU (one
#      training step and one forward pass, images per second, the device finishing each);
#   3. training steps with the loss read back every step against every 10 (`--read-every`):
#      what a host synchronization per step costs;
#   4. one epoch of the seed recipe (GoogLeNet d2l at 96x96, batch 128, SGD lr 0.1, all 60,000
#      Fashion-MNIST training images, the 10,000 test images);
#   5. with --python (a Python with PyTorch and CUDA): benches/torch_zoo_bench.py on the GPU,
#      and the same epoch in PyTorch (benches/torch_epoch.py --device cuda, 8 loader workers),
#      for the ratios;
#
# and prints a Markdown table to paste into the README. Build here, with the feature:
#
#   cargo build --release --features wgpu
#   cargo test --release --features wgpu --test wgpu --no-run   # prints the test binary's path
#
# and run there:
#
#   scripts/gpu-check.sh --bin target/release/inception --tests target/release/deps/wgpu-HASH \
#       --device wgpu:discrete --data /usr/share/datasets/fashion-mnist [--python PY] [--quick]
#
# --quick runs 50 steps of the recipe instead of the epoch (to try the script on a slow device:
# `--device wgpu:cpu` on lavapipe).
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"

bin="" tests="" device="wgpu" data="" python="" quick=0
while [ $# -gt 0 ]; do
    case "$1" in
        --bin) bin="$2"; shift 2 ;;
        --tests) tests="$2"; shift 2 ;;
        --device) device="$2"; shift 2 ;;
        --data) data="$2"; shift 2 ;;
        --python) python="$2"; shift 2 ;;
        --quick) quick=1; shift ;;
        *) echo "gpu-check: unknown argument $1 (see the header of $0)" >&2; exit 2 ;;
    esac
done
[ -x "$bin" ] || { echo "gpu-check: --bin must name the inception binary built with the GPU feature" >&2; exit 2; }
[ -n "$data" ] && [ -d "$data" ] || { echo "gpu-check: --data must name the Fashion-MNIST directory" >&2; exit 2; }
export FASHION_MNIST_DIR="$data"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

echo "== the machine"
{ nvidia-smi -L 2>/dev/null || true; } | sed 's/^/   /'
{ vulkaninfo --summary 2>/dev/null | grep -E 'deviceName|driverName' || true; } | sed 's/^/   /'
"$bin" bench --model lenet --batch 1 --steps 1 --warmup 0 --device "$device" --json >/dev/null

parity="not run (no --tests)"
if [ -n "$tests" ]; then
    echo "== 1. the wgpu suite on $device"
    if INCEPTION_TEST_DEVICE="$device" CARGO_BIN_EXE_inception="$bin" CUBECL_AUTOTUNE_LEVEL=minimal \
        "$tests" --test-threads 1 2>&1 | tee "$work/tests.log"; then
        parity="passed ($(grep -o '[0-9]* passed' "$work/tests.log" | tail -1))"
    else
        parity="FAILED (see above)"
    fi
fi

# The value of `key` in the last JSON line of file $1.
json() { python3 -c "import json,sys; print(json.loads(open(sys.argv[1]).read().strip().splitlines()[-1])[sys.argv[2]])" "$1" "$2"; }

echo "== 2. bench at batch 128 on $device"
for model in googlenet googlenet-bn; do
    "$bin" bench --model "$model" --batch 128 --device "$device" --json | tee "$work/bench-$model.json"
done

echo "== 3. the cost of reading the loss every step"
steps=$([ $quick = 1 ] && echo 10 || echo 40)
for every in 1 10; do
    "$bin" train --model googlenet --device "$device" --epochs 1 --batch-size 128 \
        --limit-train $((steps * 128)) --limit-test 128 --read-every "$every" \
        --out "$work/read-$every" >"$work/read-$every.log"
done
# images_per_sec is the fifth column of metrics.csv.
ips() { sed -n 2p "$1/metrics.csv" | cut -d, -f"$(head -1 "$1/metrics.csv" | tr ',' '\n' | grep -n '^images_per_sec$' | cut -d: -f1)"; }
read1=$(ips "$work/read-1") read10=$(ips "$work/read-10")

echo "== 4. one epoch of the seed recipe on $device"
limit=()
[ $quick = 1 ] && limit=(--limit-train 6400 --limit-test 1000)
# The GPU's utilization every half second while the epoch runs (NVIDIA only).
sampler=""
if command -v nvidia-smi >/dev/null 2>&1; then
    nvidia-smi --query-gpu=utilization.gpu --format=csv,noheader,nounits -lms 500 \
        >"$work/util.log" 2>/dev/null &
    sampler=$!
fi
start=$(date +%s.%N)
"$bin" train --model googlenet --device "$device" --epochs 1 --batch-size 128 --lr 0.1 \
    "${limit[@]}" --out "$work/epoch" | tee "$work/epoch.log"
epoch_s=$(python3 -c "import sys; print(round(float(sys.argv[2]) - float(sys.argv[1]), 1))" "$start" "$(date +%s.%N)")
epoch_line=$(grep '^epoch 1' "$work/epoch.log" | tail -1)
utilization="not measured (no nvidia-smi)"
if [ -n "$sampler" ]; then
    kill "$sampler" 2>/dev/null || true
    utilization=$(awk '$1 ~ /^[0-9]+$/ { s += $1; n++ } END { if (n) printf "%.0f%% mean over %d samples", s / n, n; else print "no samples" }' "$work/util.log")
fi

torch_row="" torch_epoch=""
if [ -n "$python" ]; then
    echo "== 5. PyTorch on the GPU"
    torch_row=yes
    for model in googlenet googlenet-bn; do
        "$python" "$here/benches/torch_zoo_bench.py" --model "$model" --batch 128 --device cuda \
            | tee "$work/torch-$model.json" || torch_row=""
    done
    torch_limit=()
    [ $quick = 1 ] && torch_limit=(--limit-train 6400 --limit-test 1000)
    if "$python" "$here/benches/torch_epoch.py" --data "$data" --device cuda --workers 8 \
        --threads 8 "${torch_limit[@]}" | tee "$work/torch-epoch.json"; then
        torch_epoch="$(json "$work/torch-epoch.json" wall_s) s (training steps $(json "$work/torch-epoch.json" step_s) s, test accuracy $(json "$work/torch-epoch.json" test_acc))"
    fi
fi

echo
echo "== paste into the README"
echo "| check | $device |"
echo "|---|---|"
echo "| tests/wgpu.rs | $parity |"
for model in googlenet googlenet-bn; do
    f="$work/bench-$model.json"
    line="| bench $model b128 train / eval img/s | $(json "$f" train_img_s) / $(json "$f" eval_img_s)"
    if [ -n "$torch_row" ]; then
        t="$work/torch-$model.json"
        line="$line (PyTorch CUDA: $(json "$t" train_img_s) / $(json "$t" eval_img_s))"
    fi
    echo "$line |"
done
echo "| train img/s, loss read every step / every 10 | $read1 / $read10 |"
echo "| seed recipe$([ $quick = 1 ] && echo ' (6,400 images)'), 1 epoch | ${epoch_s} s: $epoch_line |"
echo "| GPU utilization during that epoch | $utilization |"
[ -n "$torch_epoch" ] && echo "| the same epoch in PyTorch CUDA, 8 loader workers | $torch_epoch |"
exit 0
