#!/usr/bin/env bash
# The data pipeline alone, ours against torchvision's ImageFolder + DataLoader: decode, resize
# (shorter side to 224, centre crop), to tensors, batches of 32, on real JPEG photos of mixed
# sizes (benches/photos.sh), with the same number of workers, alternating runs. Prints the
# CPU and, per worker count, the medians of images/s, the median of the per-run ratios and the
# peak memory of each whole process tree (GNU time: ours one process; torchvision's main
# process, its workers are separate processes and report their own peak in the JSON).
#
#   benches/loader.sh [--runs 3] [--workers "1 2"] [--copies 4] [--dir /tmp/inception-photos]
#                     [--folder DIR --limit N]
#
# `--folder` times another folder instead (benches/many_photos.py makes one of ImageNet's
# sizes), its first N images with `--limit`.
# The folder holds every photo `--copies` times (hard links: the same bytes, so after the
# first pass both sides read them from the page cache and time decoding, not the disk).
# Needs a Python with torchvision (TORCH_PYTHON, as benches/compare.sh). A benchmark, not a test.
set -euo pipefail
cd "$(dirname "$0")/.."

runs=3
workers_list="1 2"
copies=4
dir=/tmp/inception-photos
side=224
folder=
limit=()
while [ $# -gt 0 ]; do
  case "$1" in
    --runs) runs="$2"; shift 2 ;;
    --workers) workers_list="$2"; shift 2 ;;
    --copies) copies="$2"; shift 2 ;;
    --dir) dir="$2"; shift 2 ;;
    --side) side="$2"; shift 2 ;;
    --folder) folder="$2"; shift 2 ;;
    --limit) limit=(--limit "$2"); shift 2 ;;
    *) echo "unknown option $1 (try --runs N, --workers \"1 2\", --copies K, --dir DIR, --side S)" >&2; exit 2 ;;
  esac
done
python="${TORCH_PYTHON:-.venv-torch/bin/python}"
if ! "$python" -c "import torch, torchvision" 2>/dev/null; then
  echo "no torchvision at $python: python3 -m venv .venv-torch && .venv-torch/bin/pip install torch torchvision (or set TORCH_PYTHON)" >&2
  exit 1
fi
cargo build --release --quiet
ours=target/release/inception

photos="$dir/photos"
if [ -z "$folder" ]; then
  folder="$dir/x$copies"
  [ -d "$photos" ] || benches/photos.sh "$photos"
fi
if [ ! -d "$folder" ]; then
  for class in "$photos"/*/; do
    class=$(basename "$class")
    mkdir -p "$folder/$class"
    for copy in $(seq "$copies"); do
      for file in "$photos/$class"/*.jpg; do
        ln "$file" "$folder/$class/${copy}_$(basename "$file")"
      done
    done
  done
fi
echo "CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'); $(nproc) cores; $("$python" -c 'import torch, torchvision, PIL; print("torchvision", torchvision.__version__, "Pillow", PIL.__version__)')"
echo "$(find "$folder" -name '*.jpg' | wc -l) photos in $folder ${limit[*]}, resized to ${side}x${side}"

results=$(mktemp)
trap 'rm -f "$results" "$results.time"' EXIT
for workers in $workers_list; do
  for run in $(seq "$runs"); do
    for side_name in ours torch; do
      if [ "$side_name" = ours ]; then
        json=$(/usr/bin/time -f "%M" -o "$results.time" "$ours" bench-loader "$folder" --side "$side" --workers "$workers" "${limit[@]}" --json)
      else
        json=$(/usr/bin/time -f "%M" -o "$results.time" "$python" benches/torch_loader.py "$folder" --side "$side" --workers "$workers" "${limit[@]}")
      fi
      rss=$(tail -n1 "$results.time")
      rate=$(echo "$json" | "$python" -c 'import json, sys; print(round(json.load(sys.stdin)["images_per_s"], 2))')
      echo "$workers $run $side_name $rate $rss" >>"$results"
      echo "workers $workers, run $run, $side_name: $rate images/s, peak RSS $((rss / 1024)) MiB" >&2
    done
  done
done
"$python" - "$results" <<'PY'
import statistics, sys
rows = [line.split() for line in open(sys.argv[1])]
print("| workers | ours images/s | torchvision images/s | ratio (median of runs) | peak MiB ours / torchvision main |")
print("|---|---|---|---|---|")
for workers in dict.fromkeys(r[0] for r in rows):
    get = lambda side, i: [float(r[i]) for r in rows if r[0] == workers and r[2] == side]
    ours, torch = get("ours", 3), get("torch", 3)
    ratios = [a / b for a, b in zip(ours, torch)]
    rss = lambda side: statistics.median(get(side, 4)) / 1024
    print(f"| {workers} | {statistics.median(ours):.1f} | {statistics.median(torch):.1f} | "
          f"{statistics.median(ratios):.2f}x ({', '.join(f'{r:.2f}' for r in ratios)}) | "
          f"{rss('ours'):.0f} / {rss('torch'):.0f} |")
PY
