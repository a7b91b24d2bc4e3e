#!/usr/bin/env bash
# Loader memory at ImageNet scale: one pass of `inception bench-loader` (decode, resize to
# 224, batches of 32, 2 workers) over the first N of COUNT photos of ImageNet's sizes
# (benches/many_photos.py, made from benches/photos.sh's real photos), for growing N, with the
# whole process's peak memory (GNU time). Flat memory: the peak does not grow with N, while
# the images decoded would need COUNT x 500 x 375 x 3 bytes (112 GB for 200,000) to be held.
#
#   benches/loader_memory.sh [--count 200000] [--dir /tmp/inception-photos] [--limits "2000 20000 all"]
# Needs a Python with Pillow (TORCH_PYTHON, as benches/compare.sh). A benchmark, not a test.
set -euo pipefail
cd "$(dirname "$0")/.."

count=200000
dir=/tmp/inception-photos
limits="2000 20000 all"
while [ $# -gt 0 ]; do
  case "$1" in
    --count) count="$2"; shift 2 ;;
    --dir) dir="$2"; shift 2 ;;
    --limits) limits="$2"; shift 2 ;;
    *) echo "unknown option $1 (try --count N, --dir DIR, --limits \"2000 all\")" >&2; exit 2 ;;
  esac
done
python="${TORCH_PYTHON:-.venv-torch/bin/python}"
cargo build --release --quiet
[ -d "$dir/photos" ] || benches/photos.sh "$dir/photos"
folder="$dir/many$count"
[ -d "$folder" ] || "$python" benches/many_photos.py "$dir/photos" "$folder" --count "$count"
echo "CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'); $(find "$folder" -name '*.jpg' | wc -l) files in $folder"
time_file=$(mktemp)
trap 'rm -f "$time_file"' EXIT
for limit in $limits; do
  args=()
  [ "$limit" = all ] || args=(--limit "$limit")
  out=$(/usr/bin/time -f "%M" -o "$time_file" target/release/inception bench-loader "$folder" --workers 2 "${args[@]}")
  echo "$out" | sed "s/, peak RSS.*//"
  echo "  whole process peak: $(( $(tail -n1 "$time_file") / 1024 )) MiB"
done
