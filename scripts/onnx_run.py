#!/usr/bin/env python3
"""Runs an exported ONNX model the way a deployment would, for tests/onnx.rs.

    onnx_run.py MODEL.onnx INPUT.f32 N C H W OUTPUT.f32

Checks the model with onnx.checker (full check: shapes and types inferred through the whole
graph), runs it with ONNX Runtime on the CPU on the float32 batch in INPUT.f32 (raw,
little-endian, [N, C, H, W]) and writes the output `logits` to OUTPUT.f32 the same way.
Prints one JSON line saying what it saw (opset, input and output shapes, metadata keys).
Needs `pip install onnx onnxruntime numpy` (.ci/run installs them in a virtual environment).
"""
import json
import sys

import numpy as np
import onnx
import onnxruntime as ort


def main():
    model_path, input_path, n, c, h, w, output_path = sys.argv[1:8]
    # The path form loads external data (weights beside the model) too.
    onnx.checker.check_model(model_path, full_check=True)
    model = onnx.load(model_path, load_external_data=False)
    x = np.fromfile(input_path, dtype="<f4").reshape(int(n), int(c), int(h), int(w))
    session = ort.InferenceSession(model_path, providers=["CPUExecutionProvider"])
    (logits,) = session.run(["logits"], {"images": x})
    logits.astype("<f4").tofile(output_path)

    def dims(value):
        return [d.dim_param or d.dim_value for d in value.type.tensor_type.shape.dim]

    print(json.dumps({
        "opset": max(o.version for o in model.opset_import if o.domain in ("", "ai.onnx")),
        "inputs": {i.name: dims(i) for i in model.graph.input},
        "outputs": {o.name: dims(o) for o in model.graph.output},
        "output_shape": list(logits.shape),
        "metadata": sorted(p.key for p in model.metadata_props),
        "onnxruntime": ort.__version__,
    }))


if __name__ == "__main__":
    main()
