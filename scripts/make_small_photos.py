"""Make the photograph part of the ``small`` checkpoint's training set (offline, deterministic).

Writes square PNG crops of the photographs bundled with scikit-image (``skimage.data``:
files inside the installed package, nothing is downloaded) into a folder, for
``animatepainter synth``. The held-out photographs of ``animatepainter evaluate-model``
(``animatepainter.model.evaluate.REAL_IMAGES``) are never used, nor ``motorcycle_right``
(the other half of the held-out ``motorcycle_left`` stereo pair: almost the same picture).

Crops: for each source image, square windows of side ``s * min(H, W)`` for
``s`` in ``SCALES``, placed on an ``n x n`` grid of positions (``n`` per scale in
``GRID``), so each image gives 1 + 4 + 9 = 14 crops from the whole picture down to about a
third of it. Grayscale images are written as 3-channel grey; alpha is dropped. The
crops are written at full resolution (``synth --size`` scales them down).

Usage::

    python scripts/make_small_photos.py -o data-small-photos
    animatepainter synth data-small-photos ...   # see model/checkpoints/small/MODEL_CARD.md
"""

from __future__ import annotations

import argparse
import hashlib
import json
from pathlib import Path

import numpy as np
from PIL import Image

#: skimage.data files used (file name in the package's data folder -> short name)
SOURCES: dict[str, str] = {
    "brick.png": "brick",
    "cell.png": "cell",
    "clock_motion.png": "clock_motion",
    "coins.png": "coins",
    "color.png": "color",
    "grass.png": "grass",
    "gravel.png": "gravel",
    "hubble_deep_field.jpg": "hubble_deep_field",
    "ihc.png": "immunohistochemistry",
    "logo.png": "logo",
    "microaneurysms.png": "microaneurysms",
    "moon.png": "moon",
    "page.png": "page",
    "retina.jpg": "retina",
    "text.png": "text",
}
#: crop side as a fraction of the image's short side, and the grid of positions per scale
SCALES: tuple[float, ...] = (1.0, 0.6, 0.35)
GRID: tuple[int, ...] = (1, 2, 3)
#: never used for training (held out by evaluate-model, or nearly the same as a held-out one)
EXCLUDED: tuple[str, ...] = ("astronaut", "chelsea", "coffee", "rocket", "motorcycle_left", "camera", "motorcycle_right")


def _rgb(path: Path) -> np.ndarray:
    """Load an image file as uint8 (H, W, 3) RGB."""
    im = Image.open(path)
    if im.mode in ("RGBA", "LA", "P"):
        im = im.convert("RGBA")
        bg = Image.new("RGBA", im.size, (255, 255, 255, 255))
        im = Image.alpha_composite(bg, im)
    return np.asarray(im.convert("RGB"), dtype=np.uint8)


def crops(img: np.ndarray) -> list[tuple[str, np.ndarray]]:
    """Square crops of ``img`` (uint8 H x W x 3) at ``SCALES`` on ``GRID`` positions: (tag, crop) pairs."""
    h, w = img.shape[:2]
    out = []
    for s, n in zip(SCALES, GRID):
        side = max(16, int(round(s * min(h, w))))
        ys = np.linspace(0, h - side, n).round().astype(int) if n > 1 else [(h - side) // 2]
        xs = np.linspace(0, w - side, n).round().astype(int) if n > 1 else [(w - side) // 2]
        for i, y in enumerate(ys):
            for j, x in enumerate(xs):
                out.append((f"s{int(s * 100):03d}-{i}{j}", img[y : y + side, x : x + side]))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-o", "--out", required=True, type=Path, help="output folder of PNG crops")
    args = ap.parse_args()
    import skimage.data

    from animatepainter.model.evaluate import REAL_IMAGES

    assert set(REAL_IMAGES) <= set(EXCLUDED), "a held-out photograph is not excluded"
    root = Path(skimage.data.__file__).parent
    args.out.mkdir(parents=True, exist_ok=True)
    manifest = []
    for fname, name in SOURCES.items():
        assert name not in EXCLUDED
        img = _rgb(root / fname)
        for tag, c in crops(img):
            dest = args.out / f"{name}-{tag}.png"
            Image.fromarray(np.ascontiguousarray(c)).save(dest)
            manifest.append({"file": dest.name, "source": f"skimage.data/{fname}", "sha256": hashlib.sha256(dest.read_bytes()).hexdigest()})
    (args.out / "photos.json").write_text(json.dumps(manifest, indent=1) + "\n")
    print(f"{len(manifest)} crops of {len(SOURCES)} skimage.data images -> {args.out}")


if __name__ == "__main__":
    main()
