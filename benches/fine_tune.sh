#!/usr/bin/env bash
# Fine-tuning against training from scratch, measured (README, "Fine-tuning"): GoogLeNet-BN
# (1x32x32) trained on a 6-class source task cut from Fashion-MNIST, then trained on the 4 other
# classes with a few images each (--per-class, default 500), three ways for the same 10 epochs:
# from scratch (lr 0.01), fine-tuned from the source weights (lr 0.001, the new head at 10x), and
# fine-tuned with b1-b3 frozen, and from the source weights with scratch's recipe. Prints the target test accuracy after epochs 1, 3 and 10 and each
# run's wall time.
#
#   benches/fine_tune.sh [--source-epochs N] [--per-class N] [--work DIR]
#
# Needs a Python with numpy and Pillow (PYTHON=..., default python3) to write the image folders.
set -euo pipefail
cd "$(dirname "$0")/.."
source_epochs=1
per_class=500
work=target/fine-tune-bench
while [ $# -gt 0 ]; do
    case "$1" in
        --source-epochs) source_epochs=$2; shift 2 ;;
        --per-class) per_class=$2; shift 2 ;;
        --work) work=$2; shift 2 ;;
        *) echo "unknown argument $1" >&2; exit 2 ;;
    esac
done
python=${PYTHON:-python3}
cargo build --release --quiet
bin=target/release/inception
echo "CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'); AVX-512: $(grep -q avx512f /proc/cpuinfo && echo yes || echo no); $(nproc) cores"
tasks=$work/tasks-$per_class
[ -d "$tasks/target" ] || "$python" scripts/fashion_tasks.py "$tasks" --per-class "$per_class"
common="--model googlenet-bn --resize 32 --momentum 0.9 --seed 42"
timed() { # name, then the train flags
    local name=$1; shift
    local start=$SECONDS
    "$bin" train $common "$@" --out "$work/runs/$name" > "$work/$name.log"
    echo "$name $((SECONDS - start))" >> "$work/times"
}
rm -f "$work/times"
if [ ! -f "$work/runs/source/model.ckpt" ]; then
    timed source --data "$tasks/source" --epochs "$source_epochs" --batch-size 128 --lr 0.1
fi
target="--data $tasks/target --epochs 10 --batch-size 64"
timed scratch $target --lr 0.01
timed fine-tuned $target --lr 0.001 --head-lr-mult 10 --init-from "$work/runs/source/model.ckpt"
timed frozen $target --lr 0.001 --head-lr-mult 10 --init-from "$work/runs/source/model.ckpt" --freeze b1,b2,b3
timed same-recipe $target --lr 0.01 --init-from "$work/runs/source/model.ckpt"
echo
echo "| start | test acc after epoch 1 | 3 | 10 | wall time |"
echo "|---|---|---|---|---|"
for name in scratch fine-tuned frozen same-recipe; do
    acc() { awk -F, -v e="$1" 'NR > 1 && $1 == e { printf "%.3f", $4 }' "$work/runs/$name/metrics.csv"; }
    secs=$(awk -v n="$name" '$1 == n { print $2 }' "$work/times")
    echo "| $name | $(acc 1) | $(acc 3) | $(acc 10) | ${secs} s |"
done
grep -h "^source" "$work/times" | awk '{ print "(source task: " $2 " s)" }' || true
