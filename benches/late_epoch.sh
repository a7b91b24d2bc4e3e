#!/usr/bin/env bash
# Are training steps slower late in training than early, and is it subnormal floats? Times the
# same training steps (the first --batch Fashion-MNIST training images, SGD at lr 0 so every step
# computes on the checkpoint's own weights) from an early and a late checkpoint of one run,
# alternating, each with subnormals flushed to zero (the default) and kept (--keep-denormals).
# Prints the medians, the per-run ratios late / early and keep / flush, and how many subnormal
# numbers each state holds.
#
#   benches/late_epoch.sh EARLY.ckpt LATE.ckpt [--runs 3] [--batch 128] [--steps 10]
#
# A benchmark, not a test: the numbers depend on the machine.
set -euo pipefail
cd "$(dirname "$0")/.."

[ $# -ge 2 ] || { echo "usage: benches/late_epoch.sh EARLY.ckpt LATE.ckpt [--runs N] [--batch N] [--steps N]" >&2; exit 2; }
early="$1"; late="$2"; shift 2
runs=3; batch=128; steps=10
while [ $# -gt 0 ]; do
  case "$1" in
    --runs) runs="$2"; shift 2 ;;
    --batch) batch="$2"; shift 2 ;;
    --steps) steps="$2"; shift 2 ;;
    *) echo "unknown option $1 (try --runs N, --batch N, --steps N)" >&2; exit 2 ;;
  esac
done
for f in "$early" "$late"; do [ -f "$f" ] || { echo "no checkpoint at $f" >&2; exit 2; }; done

cargo build --release --quiet
ours=target/release/inception
results=$(mktemp)
trap 'rm -f "$results"' EXIT
echo "CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'), AVX-512: $(grep -q avx512f /proc/cpuinfo && echo yes || echo no)" >&2

# bench CKPT STEPS [FLAGS...]
bench() { "$ours" bench --checkpoint "$1" --real-images --batch "$batch" --steps "$2" --lr 0 --threads 2 --json "${@:3}"; }

for name in early late; do
  ckpt=$early; [ "$name" = late ] && ckpt=$late
  echo "$name $(bench "$ckpt" 1 --subnormals --keep-denormals --warmup 0 | grep '^{')" | sed 's/^/subnormals /' >>"$results"
done
for run in $(seq "$runs"); do
  for name in early late; do
    ckpt=$early; [ "$name" = late ] && ckpt=$late
    for mode in flush keep; do
      flag=(); [ "$mode" = keep ] && flag=(--keep-denormals)
      json=$(bench "$ckpt" "$steps" "${flag[@]}" | grep '^{')
      echo "time $name $mode $run $json" >>"$results"
      echo "run $run, $name, $mode: $json" >&2
    done
  done
done

python3 - "$results" <<'PY'
import json, statistics, sys
times, subs = {}, {}
for line in open(sys.argv[1]):
    kind, rest = line.split(" ", 1)
    if kind == "subnormals":
        name, js = rest.split(" ", 1)
        subs[name] = json.loads(js)["subnormals"]
    else:
        name, mode, run, js = rest.split(" ", 3)
        times.setdefault((name, mode), {})[int(run)] = json.loads(js)["train_ms"]
med = lambda xs: statistics.median(xs)
print("\nsubnormal numbers (one step, subnormals kept):")
for name, s in subs.items():
    print(f"  {name:<5} " + ", ".join(f"{k} {v['subnormal']} of {v['values']}" for k, v in s.items()))
print("\ntraining step, median ms:")
print(f"  {'':<6} {'flushed':>9} {'kept':>9} {'kept / flushed':>15}")
for name in ("early", "late"):
    f, k = times[(name, "flush")], times[(name, "keep")]
    r = med([k[i] / f[i] for i in f])
    print(f"  {name:<6} {med(f.values()):>9.1f} {med(k.values()):>9.1f} {r:>14.2f}x")
for mode in ("flush", "keep"):
    e, l = times[("early", mode)], times[("late", mode)]
    print(f"late / early with subnormals {'flushed' if mode == 'flush' else 'kept'}: {med([l[i] / e[i] for i in e]):.2f}x (median of per-run ratios)")
PY
