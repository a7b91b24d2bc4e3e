"""PyTorch's side of `benches/compare.sh`: any zoo model of `scripts/torch_zoo.py`, with the
protocol of `inception bench` (and of ../shared/bench/torch_googlenet.py): input ~ N(0, 1) of
shape (B, C, S, S) at the model's own input size, labels i % classes; a training step is
forward + mean softmax cross-entropy (plus 0.3 x each auxiliary head's, for the models that
have them, as ours computes) + backward + SGD(lr 0.05); 2 warm-up steps, median of 10 timed
steps; eval = forward only, in eval mode, under no_grad. Prints one JSON line last.

    .venv-torch/bin/python benches/torch_zoo_bench.py --model googlenet --batch 128 --threads 2

`--device cuda` runs it on the GPU (each timed step ends with `torch.cuda.synchronize()`), for
`scripts/gpu-check.sh`.
"""
import argparse, json, pathlib, statistics, sys, time

import torch
import torch.nn.functional as F

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent / "scripts"))
import torch_zoo  # noqa: E402


def median_seconds(fn, warmup, timed, sync=lambda: None):
    times = []
    for _ in range(warmup + timed):
        sync()
        start = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - start)
    return statistics.median(times[warmup:])


def paper_training_logits(model, x):
    """Article 001's GoogLeNet in training: the main logits and both auxiliary heads'."""
    aux = []
    for name in ["conv1", "maxpool1", "conv2", "maxpool2", "inception3a", "inception3b", "maxpool3",
                 "inception4a", "inception4b", "inception4c", "inception4d", "inception4e",
                 "maxpool4", "inception5a", "inception5b", "avgpool"]:
        x = getattr(model, name)(x)
        if name == "inception4a":
            aux.append(model.aux1(x))
        if name == "inception4d":
            aux.append(model.aux2(x))
    return model.fc(model.dropout(torch.flatten(x, 1))), aux


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="googlenet", choices=list(torch_zoo.ZOO))
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
    args = ap.parse_args()
    device = torch.device(args.device)
    sync = (lambda: torch.cuda.synchronize(device)) if device.type == "cuda" else (lambda: None)
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    ctor, classes, (c, h, w) = torch_zoo.ZOO[args.model]
    model = ctor(classes).to(device)
    x = torch.randn(args.batch, c, h, w).to(device)
    y = (torch.arange(args.batch) % classes).to(device)
    opt = torch.optim.SGD(model.parameters(), lr=0.05)

    def loss():
        if isinstance(model, torch_zoo.GoogLeNetPaper):
            logits, aux = paper_training_logits(model, x)
        else:
            out = model(x)
            # torchvision's GoogLeNet in training: (logits, aux2, aux1).
            logits, aux = (out[0], list(out[1:])) if isinstance(out, tuple) else (out, [])
        return F.cross_entropy(logits, y) + sum(0.3 * F.cross_entropy(a, y) for a in aux)

    def train_step():
        opt.zero_grad()
        loss().backward()
        opt.step()

    model.train()
    train_s = median_seconds(train_step, args.warmup, args.steps, sync)
    model.eval()
    with torch.no_grad():
        eval_s = median_seconds(lambda: model(x), args.warmup, args.steps, sync)
    print(json.dumps({
        "framework": f"pytorch {torch.__version__}", "model": args.model, "batch": args.batch,
        "threads": args.threads, "device": args.device, "train_ms": round(train_s * 1e3, 1),
        "train_img_s": round(args.batch / train_s, 2), "eval_ms": round(eval_s * 1e3, 1),
        "eval_img_s": round(args.batch / eval_s, 2),
    }))


if __name__ == "__main__":
    main()
