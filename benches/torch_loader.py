"""torchvision's ImageFolder + DataLoader on a folder of images: one pass, timed, as
`inception bench-loader` measures ours (decode, Resize(side) + CenterCrop(side) or
Resize((side, side)), ToTensor, batches collated). Prints one JSON line.

    python benches/torch_loader.py DIR [--side 224] [--resize-mode crop|stretch]
        [--batch-size 32] [--workers 2] [--limit N]

`workers` is the DataLoader's `num_workers` (worker processes; 0: in the main process).
Peak memory: the main process's and the largest worker's (ru_maxrss), MiB.
"""
import argparse
import json
import resource
import time

import torch
from torch.utils.data import DataLoader, Subset
from torchvision import datasets, transforms as T


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("folder")
    parser.add_argument("--side", type=int, default=224)
    parser.add_argument("--resize-mode", choices=["crop", "stretch"], default="crop")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--limit", type=int)
    args = parser.parse_args()
    torch.set_num_threads(1)
    side = args.side
    resize = (
        [T.Resize(side), T.CenterCrop(side)]
        if args.resize_mode == "crop"
        else [T.Resize((side, side))]
    )
    start = time.perf_counter()
    dataset = datasets.ImageFolder(args.folder, transform=T.Compose(resize + [T.ToTensor()]))
    if args.limit is not None:
        dataset = Subset(dataset, range(min(args.limit, len(dataset))))
    loader = DataLoader(dataset, batch_size=args.batch_size, num_workers=args.workers)
    images = batches = 0
    for x, _ in loader:
        images += x.shape[0]
        batches += 1
    seconds = time.perf_counter() - start
    mb = lambda who: resource.getrusage(who).ru_maxrss / 1024
    print(json.dumps({
        "images": images,
        "batches": batches,
        "seconds": seconds,
        "images_per_s": images / seconds,
        "workers": args.workers,
        "side": side,
        "batch": args.batch_size,
        "peak_rss_mb": mb(resource.RUSAGE_SELF),
        "peak_rss_worker_mb": mb(resource.RUSAGE_CHILDREN),
    }))


if __name__ == "__main__":
    main()
