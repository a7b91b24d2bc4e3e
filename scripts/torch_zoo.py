"""The inception model zoo in PyTorch, with the exact state-dict names `inception import`
expects and `inception export` writes, and the parity check between the two frameworks.

Setup (CPU is enough; any recent PyTorch):

    python3 -m venv .venv-torch && .venv-torch/bin/pip install torch torchvision safetensors

Usage:

    .venv-torch/bin/python scripts/torch_zoo.py parity            # all models
    .venv-torch/bin/python scripts/torch_zoo.py parity --models lenet googlenet

`parity` does, for every model:
1. builds it in PyTorch (torchvision's own `googlenet`, `alexnet` and `vgg11` for
   googlenet-torchvision and the network files nets/alexnet-torchvision.toml and
   nets/vgg11-torchvision.toml) and fills its
   state dict with deterministic pseudo-random weights (`fill`, the same generator as
   `tests/parity.rs`), and a deterministic input;
2. writes the inference-mode logits to `tests/fixtures/parity/<model>.json` (small: no weights,
   the Rust test regenerates them), and `lenet.pth` / `lenet.safetensors` as real PyTorch files;
3. saves the state dict as `.pth` and `.safetensors` in a temporary directory and runs
   `cargo test --release --test parity` with INCEPTION_PARITY_FILES pointing there, so the Rust
   side also imports the real PyTorch files of every model;
4. round-trips each `.pth` through `inception import` and `inception export` and loads the
   result back into PyTorch with `load_state_dict(strict=True)`: the tensors must be equal and
   the logits the same.

Two more commands reproduce a `predict` run with PyTorch's own preprocessing:

    .venv-torch/bin/python scripts/torch_zoo.py save googlenet-torchvision googlenet.pth
    .venv-torch/bin/python scripts/torch_zoo.py predict --weights googlenet.pth photo.jpg

`save` writes a model's state dict filled as `parity` fills it (a stand-in for pretrained
weights where they cannot be downloaded); `predict` prints torchvision GoogLeNet's top 5 for
an image with torchvision's ImageNet transforms (resize 256, center crop 224, normalize), to
hold against `inception predict` on the imported weights.

Naming rules (also in src/interop/names.rs): a convolution with batch norm is torchvision's
`BasicConv2d` (`conv`, `bn`); one without is an `nn.Conv2d` whose ReLU runs in `forward`; dense
layers flatten their input (Gluon's `Dense`); Inception paths are `branch1`..`branch4`.
"""
import argparse, json, math, os, pathlib, subprocess, sys, tempfile
from collections import OrderedDict

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

ROOT = pathlib.Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures" / "parity"


# ----------------------------------------------------------------------------- layers

class ConvReLU(nn.Conv2d):
    """Gluon's Conv2D(..., activation='relu'): an nn.Conv2d (names weight, bias) plus ReLU."""

    def forward(self, x):
        return F.relu(super().forward(x))


class BasicConv2d(nn.Module):
    """torchvision's BasicConv2d; with bias=True and eps=1e-5 it is article 001's conv_block."""

    def __init__(self, cin, cout, bias=False, eps=0.001, **kw):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, bias=bias, **kw)
        self.bn = nn.BatchNorm2d(cout, eps=eps)

    def forward(self, x):
        return F.relu(self.bn(self.conv(x)))


class Dense(nn.Linear):
    """Gluon's Dense: flattens its input; optional ReLU."""

    def __init__(self, cin, cout, relu=False):
        super().__init__(cin, cout)
        self.relu = relu

    def forward(self, x):
        y = super().forward(torch.flatten(x, 1))
        return F.relu(y) if self.relu else y


def plain_conv(cin, cout, kernel_size, **kw):
    return ConvReLU(cin, cout, kernel_size, **kw)


def block_conv(cin, cout, kernel_size, **kw):
    return BasicConv2d(cin, cout, bias=True, eps=1e-5, kernel_size=kernel_size, **kw)


class Inception(nn.Module):
    def __init__(self, cin, c1, c2, c3, c4, conv=plain_conv, k3=5):
        super().__init__()
        self.branch1 = conv(cin, c1, 1)
        self.branch2 = nn.Sequential(conv(cin, c2[0], 1), conv(c2[0], c2[1], 3, padding=1))
        self.branch3 = nn.Sequential(conv(cin, c3[0], 1), conv(c3[0], c3[1], k3, padding=k3 // 2))
        self.branch4 = nn.Sequential(nn.MaxPool2d(3, 1, 1), conv(cin, c4, 1))

    def forward(self, x):
        return torch.cat([self.branch1(x), self.branch2(x), self.branch3(x), self.branch4(x)], 1)


# ----------------------------------------------------------------------------- models

def lenet(classes):
    return nn.Sequential(
        ConvReLU(1, 20, 5), nn.MaxPool2d(2, 2), ConvReLU(20, 50, 3), nn.MaxPool2d(2, 2),
        nn.Flatten(), Dense(50 * 5 * 5, 128, relu=True), Dense(128, classes))


def alexnet(classes):
    return nn.Sequential(
        ConvReLU(1, 96, 11, stride=4), nn.MaxPool2d(3, 2),
        ConvReLU(96, 256, 5, padding=2), nn.MaxPool2d(3, 2),
        ConvReLU(256, 384, 3, padding=1), ConvReLU(384, 384, 3, padding=1),
        ConvReLU(384, 256, 3, padding=1), nn.MaxPool2d(3, 2), nn.Flatten(),
        Dense(6400, 4096, relu=True), nn.Dropout(0.5), Dense(4096, 4096, relu=True),
        nn.Dropout(0.5), Dense(4096, classes))


def vgg11(classes, ratio=1):
    arch = [(1, 64), (1, 128), (2, 256), (2, 512), (2, 512)]
    blocks, cin = OrderedDict(), 1
    for i, (convs, c) in enumerate(arch):
        c //= ratio
        layers = []
        for _ in range(convs):
            layers.append(ConvReLU(cin, c, 3, padding=1))
            cin = c
        blocks[f"vgg_block_{i + 1}"] = nn.Sequential(*layers, nn.MaxPool2d(2, 2))
    hidden = 4096 // ratio
    blocks["fc"] = nn.Sequential(
        nn.Flatten(), Dense(cin * 7 * 7, hidden, relu=True), nn.Dropout(0.5),
        Dense(hidden, hidden, relu=True), nn.Dropout(0.5), Dense(hidden, classes))
    return nn.Sequential(blocks)


def nin(classes):
    def block(cin, c, k, s, p):
        return nn.Sequential(ConvReLU(cin, c, k, stride=s, padding=p), ConvReLU(c, c, 1), ConvReLU(c, c, 1))
    return nn.Sequential(
        block(1, 96, 11, 4, 0), nn.MaxPool2d(3, 2), block(96, 256, 5, 1, 2), nn.MaxPool2d(3, 2),
        block(256, 384, 3, 1, 1), nn.MaxPool2d(3, 2), nn.Dropout(0.5), block(384, classes, 3, 1, 1),
        nn.AdaptiveAvgPool2d(1), nn.Flatten())


def googlenet_d2l(classes, conv=plain_conv):
    pool = lambda: nn.MaxPool2d(3, 2, 1)
    inc = lambda *a: Inception(*a, conv=conv)
    return nn.Sequential(OrderedDict(
        b1=nn.Sequential(conv(1, 64, 7, stride=2, padding=3), pool()),
        b2=nn.Sequential(conv(64, 64, 1), conv(64, 192, 3, padding=1), pool()),
        b3=nn.Sequential(inc(192, 64, (96, 128), (16, 32), 32), inc(256, 128, (128, 192), (32, 96), 64), pool()),
        b4=nn.Sequential(inc(480, 192, (96, 208), (16, 48), 64), inc(512, 160, (112, 224), (24, 64), 64),
                         inc(512, 128, (128, 256), (24, 64), 64), inc(512, 112, (144, 288), (32, 64), 64),
                         inc(528, 256, (160, 320), (32, 128), 128), pool()),
        b5=nn.Sequential(inc(832, 256, (160, 320), (32, 128), 128), inc(832, 384, (192, 384), (48, 128), 128),
                         nn.AdaptiveAvgPool2d(1)),
        dense=Dense(1024, classes)))


class AuxPaper(nn.Module):
    """Article 001's InceptionAux."""

    def __init__(self, cin, classes):
        super().__init__()
        self.pool = nn.AvgPool2d(5, 3)
        self.conv = block_conv(cin, 128, 1)
        self.fc1 = nn.Linear(2048, 1024)
        self.dropout = nn.Dropout(0.7)
        self.fc2 = nn.Linear(1024, classes)

    def forward(self, x):
        x = torch.flatten(self.conv(self.pool(x)), 1)
        return self.fc2(self.dropout(F.relu(self.fc1(x))))


class GoogLeNetPaper(nn.Module):
    """Article 001's GoogLeNet (conv_block everywhere, pooling with padding 1)."""

    def __init__(self, classes):
        super().__init__()
        inc = lambda *a: Inception(*a, conv=block_conv)
        self.conv1 = block_conv(3, 64, 7, stride=2, padding=3)
        self.maxpool1 = nn.MaxPool2d(3, 2, 1)
        self.conv2 = block_conv(64, 192, 3, padding=1)
        self.maxpool2 = nn.MaxPool2d(3, 2, 1)
        self.inception3a = inc(192, 64, (96, 128), (16, 32), 32)
        self.inception3b = inc(256, 128, (128, 192), (32, 96), 64)
        self.maxpool3 = nn.MaxPool2d(3, 2, 1)
        self.inception4a = inc(480, 192, (96, 208), (16, 48), 64)
        self.inception4b = inc(512, 160, (112, 224), (24, 64), 64)
        self.inception4c = inc(512, 128, (128, 256), (24, 64), 64)
        self.inception4d = inc(512, 112, (144, 288), (32, 64), 64)
        self.inception4e = inc(528, 256, (160, 320), (32, 128), 128)
        self.maxpool4 = nn.MaxPool2d(3, 2, 1)
        self.inception5a = inc(832, 256, (160, 320), (32, 128), 128)
        self.inception5b = inc(832, 384, (192, 384), (48, 128), 128)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(0.4)
        self.fc = nn.Linear(1024, classes)
        self.aux1 = AuxPaper(512, classes)
        self.aux2 = AuxPaper(528, classes)

    def forward(self, x):
        for name in ["conv1", "maxpool1", "conv2", "maxpool2", "inception3a", "inception3b", "maxpool3",
                     "inception4a", "inception4b", "inception4c", "inception4d", "inception4e",
                     "maxpool4", "inception5a", "inception5b", "avgpool"]:
            x = getattr(self, name)(x)
        return self.fc(self.dropout(torch.flatten(x, 1)))


def torchvision_model(name):
    def build(classes):
        import torchvision
        return getattr(torchvision.models, name)(weights=None, num_classes=classes)
    return build


def googlenet_torchvision(classes):
    import torchvision
    return torchvision.models.googlenet(weights=None, num_classes=classes, aux_logits=True,
                                        transform_input=True, init_weights=True)


# name: (constructor, classes, input CxHxW)
ZOO = OrderedDict([
    ("lenet", (lenet, 10, (1, 28, 28))),
    ("alexnet", (alexnet, 10, (1, 224, 224))),
    ("vgg11", (vgg11, 10, (1, 224, 224))),
    ("vgg11-small", (lambda c: vgg11(c, ratio=8), 10, (1, 224, 224))),
    ("nin", (nin, 10, (1, 224, 224))),
    ("googlenet", (googlenet_d2l, 10, (1, 96, 96))),
    ("googlenet-bn", (lambda c: googlenet_d2l(c, conv=block_conv), 10, (1, 96, 96))),
    ("googlenet-paper", (GoogLeNetPaper, 10, (3, 224, 224))),
    ("googlenet-torchvision", (googlenet_torchvision, 1000, (3, 224, 224))),
    # Network files (not zoo models) of torchvision's own AlexNet and VGG-11.
    ("alexnet-torchvision", (torchvision_model("alexnet"), 10, (3, 224, 224))),
    ("vgg11-torchvision", (torchvision_model("vgg11"), 10, (3, 224, 224))),
])
# Models that are network files in nets/ rather than zoo models.
NETS = {"alexnet-torchvision": "nets/alexnet-torchvision.toml",
        "vgg11-torchvision": "nets/vgg11-torchvision.toml"}
BATCH = 2


# ----------------------------------------------------------------------------- weights

MASK = (1 << 64) - 1


def fnv1a64(text):
    h = 0xCBF29CE484222325
    for byte in text.encode():
        h = ((h ^ byte) * 0x100000001B3) & MASK
    return h


def uniform(name, count, lo, hi):
    """`count` float32 values in [lo, hi): splitmix64 seeded by FNV-1a of `name`, 53-bit
    uniforms computed in float64 and rounded to float32 (bit-identical to tests/parity.rs)."""
    with np.errstate(over="ignore"):
        i = np.arange(1, count + 1, dtype=np.uint64)
        z = np.uint64(fnv1a64(name)) + i * np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
    u = (z >> np.uint64(11)).astype(np.float64) * (2.0 ** -53)
    return (lo + (hi - lo) * u).astype(np.float32)


def value_range(name, shape):
    """Where each kind of tensor draws from: He-uniform weights, small biases, batch-norm scales
    around 1 and positive variances, so activations keep their scale through deep networks."""
    if name.endswith("running_var"):
        return 0.5, 1.5
    if name.endswith("running_mean"):
        return -0.5, 0.5
    if len(shape) == 1:
        return (0.5, 1.5) if name.endswith("weight") else (-0.2, 0.2)
    bound = math.sqrt(6.0 / int(np.prod(shape[1:])))
    return -bound, bound


def fill(model):
    state = model.state_dict()
    for name, tensor in state.items():
        if tensor.is_floating_point():
            lo, hi = value_range(name, tuple(tensor.shape))
            values = uniform(name, tensor.numel(), lo, hi).reshape(tuple(tensor.shape))
            tensor.copy_(torch.from_numpy(values))
    return model


def make_input(c, h, w):
    return torch.from_numpy(uniform("input", BATCH * c * h * w, 0.0, 1.0).reshape(BATCH, c, h, w))


# ----------------------------------------------------------------------------- commands

def build(name):
    ctor, classes, (c, h, w) = ZOO[name]
    model = fill(ctor(classes)).eval()
    return model, classes, (c, h, w)


def max_rel_error(ours, theirs):
    return float((ours - theirs).abs().max() / theirs.abs().max().clamp_min(1e-30))


def parity(args):
    from safetensors.torch import load_file, save_file
    torch.set_num_threads(args.threads)
    FIXTURES.mkdir(parents=True, exist_ok=True)
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="inception-parity-"))
    binary = ROOT / "target" / "release" / "inception"
    subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=ROOT, check=True)
    for name in args.models:
        model, classes, (c, h, w) = build(name)
        x = make_input(c, h, w)
        with torch.no_grad():
            logits = model(x)
        fixture = {
            "model": name, "classes": classes, "input": [BATCH, c, h, w],
            "transform_input": name == "googlenet-torchvision",
            "torch": torch.__version__, "logits": logits.tolist(),
        }
        if name in NETS:
            fixture["net"] = NETS[name]
        (FIXTURES / f"{name}.json").write_text(json.dumps(fixture) + "\n")
        state = model.state_dict()
        torch.save(state, tmp / f"{name}.pth")
        save_file({k: v.contiguous() for k, v in state.items()}, str(tmp / f"{name}.safetensors"))
        if name == "lenet":
            torch.save(state, FIXTURES / "lenet.pth")
            save_file(state, str(FIXTURES / "lenet.safetensors"))
        # Round trip through our command line.
        ckpt, exported = tmp / f"{name}.ckpt", tmp / f"{name}.export.safetensors"
        network = ["--net", str(ROOT / NETS[name])] if name in NETS else ["--model", name]
        subprocess.run([str(binary), "import", "--from", str(tmp / f"{name}.pth"), *network,
                        "--input", f"{c}x{h}x{w}", "--out", str(ckpt)], check=True, stdout=subprocess.DEVNULL)
        subprocess.run([str(binary), "export", "--checkpoint", str(ckpt), "--out", str(exported)],
                       check=True, stdout=subprocess.DEVNULL)
        back, _, _ = build(name)
        back.load_state_dict(load_file(str(exported)), strict=True)
        same = all(torch.equal(state[k], v) for k, v in back.state_dict().items()
                   if v.is_floating_point())
        with torch.no_grad():
            err = max_rel_error(back(x), logits)
        print(f"{name:<22} logits {tuple(logits.shape)}  import+export round trip: "
              f"tensors {'equal' if same else 'DIFFERENT'}, logits max rel error {err:.2e}")
        if not same or err > 0:
            sys.exit(f"{name}: the round trip through inception changed the weights")
    env = dict(os.environ, INCEPTION_PARITY_FILES=str(tmp))
    subprocess.run(["cargo", "test", "--release", "--test", "parity", "--", "--nocapture"],
                   cwd=ROOT, env=env, check=True)


def save(args):
    model, _, _ = build(args.model)
    torch.save(model.state_dict(), args.out)
    print(f"wrote {args.model} with deterministic weights to {args.out}")


def predict(args):
    import torchvision
    from PIL import Image
    from torchvision.models import GoogLeNet_Weights
    torch.set_num_threads(args.threads)
    model = torchvision.models.googlenet(weights=None, aux_logits=True, transform_input=True,
                                         init_weights=False)
    model.load_state_dict(torch.load(args.weights), strict=True)
    model.eval()
    transform = GoogLeNet_Weights.IMAGENET1K_V1.transforms()
    categories = GoogLeNet_Weights.IMAGENET1K_V1.meta["categories"]
    for path in args.images:
        x = transform(Image.open(path).convert("RGB")).unsqueeze(0)
        with torch.no_grad():
            probs = torch.softmax(model(x), 1)[0]
        top = torch.topk(probs, args.top)
        names = [f"{categories[i]} ({100 * p:.1f}%)" for p, i in zip(top.values.tolist(), top.indices.tolist())]
        print(f"{path}: {', '.join(names)}")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("parity", help="write the parity fixtures and check them against inception")
    p.add_argument("--models", nargs="+", default=list(ZOO), choices=list(ZOO))
    p.add_argument("--threads", type=int, default=2)
    p = sub.add_parser("save", help="save a model's state dict with the deterministic weights")
    p.add_argument("model", choices=list(ZOO))
    p.add_argument("out")
    p = sub.add_parser("predict", help="torchvision GoogLeNet's top 5 for images")
    p.add_argument("--weights", required=True, help="state dict of torchvision's googlenet")
    p.add_argument("--top", type=int, default=5)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("images", nargs="+")
    args = parser.parse_args()
    {"parity": parity, "save": save, "predict": predict}[args.command](args)


if __name__ == "__main__":
    main()
