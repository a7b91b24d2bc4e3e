"""PyTorch's side of `benches/epoch.sh`: one epoch of the article's recipe on Fashion-MNIST
(GoogLeNet d2l from scripts/torch_zoo.py, torchvision's FashionMNIST with Resize(96) +
ToTensor, batch 128, shuffled, SGD lr 0.1, Xavier initialization, one loader worker) followed
by the test pass, as `inception train --epochs 1` does. Prints one JSON line: the wall time of
the whole epoch (training and test pass) and the time inside the training steps.

    .venv-torch/bin/python benches/torch_epoch.py --data /usr/share/datasets/fashion-mnist \
        [--limit-train N] [--limit-test N] [--threads 2] [--device cuda] [--workers 1] \
        [--init xavier|torch]

With `--device cuda` the model and each batch go to the GPU (`scripts/gpu-check.sh` runs it so,
with more loader workers: one worker cannot resize images as fast as a GPU trains on them).

torchvision's FashionMNIST reads the four IDX files from ROOT/FashionMNIST/raw/; they are
decompressed there (a temporary directory) from --data, which holds them plain or gzipped.
"""
import argparse, gzip, json, pathlib, shutil, sys, tempfile, time

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Subset
from torchvision import datasets, transforms

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent / "scripts"))
import torch_zoo  # noqa: E402

FILES = ["train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte",
         "t10k-labels-idx1-ubyte"]


def raw_root(data, tmp):
    raw = pathlib.Path(tmp) / "FashionMNIST" / "raw"
    raw.mkdir(parents=True)
    for name in FILES:
        plain, packed = pathlib.Path(data) / name, pathlib.Path(data) / (name + ".gz")
        if plain.exists():
            shutil.copy(plain, raw / name)
        else:
            with gzip.open(packed) as src, open(raw / name, "wb") as dst:
                shutil.copyfileobj(src, dst)
    return tmp


def xavier(model):
    """The recipe's initialization, as `inception train` does it: Glorot uniform weights for
    every convolution and dense layer (d2l's `net.initialize(init=init.Xavier())`), zero biases.
    With PyTorch's default initialization instead, lr 0.1 leaves this network at chance for the
    whole epoch (loss 2.303, test accuracy 0.10), which is not the run being compared."""
    for m in model.modules():
        if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear)):
            torch.nn.init.xavier_uniform_(m.weight)
            if m.bias is not None:
                torch.nn.init.zeros_(m.bias)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True)
    ap.add_argument("--limit-train", type=int)
    ap.add_argument("--limit-test", type=int)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
    ap.add_argument("--workers", type=int, default=1, help="DataLoader worker processes")
    ap.add_argument("--init", choices=["xavier", "torch"], default="xavier",
                    help="xavier: the recipe's (d2l's init.Xavier(), as `inception train`); "
                         "torch: PyTorch's default, with which lr 0.1 does not learn")
    args = ap.parse_args()
    device = torch.device(args.device)
    torch.set_num_threads(args.threads)
    torch.manual_seed(42)
    with tempfile.TemporaryDirectory() as tmp:
        root = raw_root(args.data, tmp)
        start = time.perf_counter()
        tf = transforms.Compose([transforms.Resize(96), transforms.ToTensor()])
        train = datasets.FashionMNIST(root, train=True, download=False, transform=tf)
        test = datasets.FashionMNIST(root, train=False, download=False, transform=tf)
        if args.limit_train:
            train = Subset(train, range(args.limit_train))
        if args.limit_test:
            test = Subset(test, range(args.limit_test))
        pin = device.type == "cuda"
        train_loader = DataLoader(train, batch_size=128, shuffle=True, num_workers=args.workers,
                                  pin_memory=pin)
        test_loader = DataLoader(test, batch_size=128, num_workers=args.workers, pin_memory=pin)
        model = torch_zoo.googlenet_d2l(10).to(device)
        if args.init == "xavier":
            xavier(model)
        opt = torch.optim.SGD(model.parameters(), lr=0.1)
        model.train()
        step_seconds, seen, loss_sum = 0.0, 0, 0.0
        for x, y in train_loader:
            x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
            t = time.perf_counter()
            opt.zero_grad()
            loss = F.cross_entropy(model(x), y)
            loss.backward()
            opt.step()
            loss_sum += loss.item() * len(y)
            step_seconds += time.perf_counter() - t
            seen += len(y)
        model.eval()
        correct = 0
        with torch.no_grad():
            for x, y in test_loader:
                x, y = x.to(device), y.to(device)
                correct += (model(x).argmax(1) == y).sum().item()
        wall = time.perf_counter() - start
    print(json.dumps({"framework": f"pytorch {torch.__version__}", "device": str(device),
                      "workers": args.workers, "train_images": seen,
                      "test_images": len(test), "loss": loss_sum / seen,
                      "test_acc": correct / len(test), "wall_s": round(wall, 1),
                      "step_s": round(step_seconds, 1)}))


if __name__ == "__main__":
    main()
