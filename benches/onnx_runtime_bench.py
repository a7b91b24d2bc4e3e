#!/usr/bin/env python3
"""Times ONNX Runtime's CPU inference of an exported model with `inception bench`'s protocol
(random inputs in [0, 1], untimed warm-up steps, the median of the timed steps), for
benches/onnx_runtime.sh.

    onnx_runtime_bench.py MODEL.onnx --batch 32 [--threads 2] [--warmup 2] [--steps 10]

Prints one JSON line: {"framework", "batch", "threads", "eval_ms", "eval_img_s"}.
Needs `pip install onnxruntime numpy`.
"""
import argparse
import json
import statistics
import time

import numpy as np
import onnxruntime as ort


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("model")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--steps", type=int, default=10)
    args = parser.parse_args()
    options = ort.SessionOptions()
    options.intra_op_num_threads = args.threads
    options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    session = ort.InferenceSession(args.model, options, providers=["CPUExecutionProvider"])
    shape = [args.batch] + [d for d in session.get_inputs()[0].shape[1:]]
    x = np.random.default_rng(0).random(shape, dtype=np.float32)
    times = []
    for step in range(args.warmup + args.steps):
        start = time.perf_counter()
        session.run(["logits"], {"images": x})
        if step >= args.warmup:
            times.append(time.perf_counter() - start)
    ms = statistics.median(times) * 1000
    print(json.dumps({
        "framework": f"onnxruntime {ort.__version__} (CPU)",
        "batch": args.batch,
        "threads": args.threads,
        "eval_ms": round(ms, 2),
        "eval_img_s": round(args.batch / ms * 1000, 1),
    }))


if __name__ == "__main__":
    main()
