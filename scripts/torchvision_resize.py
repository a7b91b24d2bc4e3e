"""Writes tests/fixtures/resize/: what torchvision's transforms make of two test images, for
tests/resize_parity.rs (our resize against torchvision's, without Python at test time).

    python scripts/torchvision_resize.py   # needs torchvision and Pillow (see benches/)

The source images are drawn here (smooth gradients with a seeded pattern of sharp edges, so that
both the filter and the geometry show), saved as PNG; each output is saved as a PNG of the
8-bit values torchvision's Resize gives (ToTensor only divides them by 255).
"""
import os
import random

from PIL import Image
import torchvision.transforms as T

OUT = os.path.join(os.path.dirname(__file__), "..", "tests", "fixtures", "resize")


def source(width, height, mode, seed):
    rng = random.Random(seed)
    image = Image.new("RGB", (width, height))
    px = image.load()
    for y in range(height):
        for x in range(width):
            r = (x * 255) // max(width - 1, 1)
            g = (y * 255) // max(height - 1, 1)
            b = 255 if (x // 7 + y // 5) % 3 == 0 else rng.randrange(0, 90)
            px[x, y] = (r, g, b)
    return image.convert(mode)


def main():
    os.makedirs(OUT, exist_ok=True)
    cases = {
        "crop": lambda side: T.Compose([T.Resize(side), T.CenterCrop(side)]),
        "stretch": lambda side: T.Resize((side, side)),
    }
    for name, (w, h, mode) in {"wide_rgb": (173, 97, "RGB"), "tall_gray": (61, 130, "L"), "square_gray": (28, 28, "L")}.items():
        image = source(w, h, mode, seed=len(name))
        image.save(os.path.join(OUT, f"{name}.png"))
        for how, make in cases.items():
            for side in (24, 40, 96, 224):
                out = make(side)(image)
                assert out.size == (side, side)
                out.save(os.path.join(OUT, f"{name}_{how}_{side}.png"))
    # torchvision's ImageNet evaluation transform (interop::imagenet::preprocess).
    image = Image.open(os.path.join(OUT, "wide_rgb.png"))
    T.Compose([T.Resize(256), T.CenterCrop(224)])(image).save(
        os.path.join(OUT, "wide_rgb_imagenet_224.png"))


if __name__ == "__main__":
    main()
