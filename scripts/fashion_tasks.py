#!/usr/bin/env python3
"""Two disjoint image-folder tasks cut from the real Fashion-MNIST files, for measuring transfer
(README, "Fine-tuning"): a source task of 6 classes with all of their images, and a target task
of the 4 other classes with only a few training images each.

    python3 scripts/fashion_tasks.py OUT [--fashion-dir DIR] [--per-class 250] [--test-per-class 500]

writes OUT/source/{train,test}/<class>/NNNNN.png and OUT/target/{train,test}/<class>/NNNNN.png
(torchvision's ImageFolder layout; `inception train --data OUT/source` reads it). Needs numpy and
Pillow.
"""
import argparse
import gzip
import os

import numpy as np
from PIL import Image

CLASSES = ["T-shirt_top", "Trouser", "Pullover", "Dress", "Coat",
           "Sandal", "Shirt", "Sneaker", "Bag", "Ankle_boot"]
# The source task: shapes that are not upper-body garments. The target: the four that are,
# which Fashion-MNIST models confuse most (Shirt, T-shirt, Pullover, Coat).
SOURCE = [1, 3, 5, 7, 8, 9]
TARGET = [0, 2, 4, 6]


def read_idx(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    dims = data[3]
    shape = [int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(dims)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)


def write(out, images, labels, classes, per_class):
    for c in classes:
        folder = os.path.join(out, CLASSES[c])
        os.makedirs(folder, exist_ok=True)
        picked = np.flatnonzero(labels == c)
        if per_class is not None:
            picked = picked[:per_class]
        for i in picked:
            Image.fromarray(images[i]).save(os.path.join(folder, f"{i:05d}.png"))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out")
    parser.add_argument("--fashion-dir", default="/usr/share/datasets/fashion-mnist")
    parser.add_argument("--per-class", type=int, default=250,
                        help="training images per class of the target task")
    parser.add_argument("--test-per-class", type=int, default=500,
                        help="test images per class of the target task")
    args = parser.parse_args()
    split = {}
    for name, prefix in [("train", "train"), ("test", "t10k")]:
        split[name] = (
            read_idx(os.path.join(args.fashion_dir, f"{prefix}-images-idx3-ubyte.gz")),
            read_idx(os.path.join(args.fashion_dir, f"{prefix}-labels-idx1-ubyte.gz")),
        )
    for name in ["train", "test"]:
        write(os.path.join(args.out, "source", name), *split[name], SOURCE, None)
    write(os.path.join(args.out, "target", "train"), *split["train"], TARGET, args.per_class)
    write(os.path.join(args.out, "target", "test"), *split["test"], TARGET, args.test_per_class)
    print(f"wrote {args.out}/source (classes {[CLASSES[c] for c in SOURCE]}) and "
          f"{args.out}/target (classes {[CLASSES[c] for c in TARGET]}, "
          f"{args.per_class} training images each)")


if __name__ == "__main__":
    main()
