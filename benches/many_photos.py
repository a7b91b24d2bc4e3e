"""A folder of COUNT JPEG photos of ImageNet's sizes, made from a folder of real photos
(benches/photos.sh): for loader memory at scale (`benches/loader_memory.sh`).

    python benches/many_photos.py SRC DST [--count 200000] [--distinct 10]

From every photo of SRC/<class>/, `--distinct` seeded random crops (a quarter of the photo or
more, aspect ratio 3:4 to 4:3), resized so that the shorter side is 300 to 500 pixels and
saved as JPEG (quality 90): what ImageNet's photos look like. DST/<class>/ then holds COUNT
files in all, hard links to those crops (so 200,000 files take the disk space of a few
hundred), each decoded on its own when read. Needs Pillow.
"""
import argparse
import os
import random

from PIL import Image


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("src")
    parser.add_argument("dst")
    parser.add_argument("--count", type=int, default=200_000)
    parser.add_argument("--distinct", type=int, default=10)
    args = parser.parse_args()
    rng = random.Random(0)
    crops = {}
    distinct = os.path.join(args.dst + ".distinct")
    for klass in sorted(os.listdir(args.src)):
        os.makedirs(os.path.join(distinct, klass), exist_ok=True)
        for name in sorted(os.listdir(os.path.join(args.src, klass))):
            photo = Image.open(os.path.join(args.src, klass, name)).convert("RGB")
            w, h = photo.size
            for k in range(args.distinct):
                area = w * h * rng.uniform(0.25, 1.0)
                ratio = rng.uniform(3 / 4, 4 / 3)
                cw = min(w, int((area * ratio) ** 0.5))
                ch = min(h, int((area / ratio) ** 0.5))
                left, top = rng.randint(0, w - cw), rng.randint(0, h - ch)
                short = rng.randint(300, 500)
                scale = short / min(cw, ch)
                crop = photo.crop((left, top, left + cw, top + ch)).resize(
                    (max(1, round(cw * scale)), max(1, round(ch * scale))), Image.BILINEAR)
                path = os.path.join(distinct, klass, f"{os.path.splitext(name)[0]}_{k}.jpg")
                crop.save(path, quality=90)
                crops.setdefault(klass, []).append(path)
    everything = [(k, p) for k, paths in crops.items() for p in paths]
    for i in range(args.count):
        klass, path = everything[i % len(everything)]
        folder = os.path.join(args.dst, klass)
        if i < len(everything):
            os.makedirs(folder, exist_ok=True)
        os.link(path, os.path.join(folder, f"{i:07d}.jpg"))
    print(f"{args.count} files in {args.dst} ({len(everything)} distinct photos in {distinct})")


if __name__ == "__main__":
    main()
