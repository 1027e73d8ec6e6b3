"""Benchmark of the depth backends and the depth layering (issues 2 and 19).

Prints, for each backend beside a height-only baseline (nearness = row index) and the
previous offline prior (kept here as a baseline, not in the library):

1. the Spearman rank correlation with the exact depth of procedural scenes (mean,
   min) and the time per image;
2. the Spearman correlation with the measured disparity of a real photograph,
   ``skimage.data.stereo_motorcycle`` (Middlebury 2014), on its valid pixels, at
   256 px;
3. the astronaut check: the mean depth (1 = nearest) of a face box, a hair box and
   two wall boxes of ``skimage.data.astronaut`` (boxes in 512 px coordinates), and
   the depth layer most of each falls in with 3 layers;
4. the prior's time at 256 and 1024 px;
5. the layering time for K = 3, 5, 6, 8, 12, 16 at 256 and 1024 px, the previous
   layering (exhaustive multi-Otsu, capped at K <= 5) beside the new one, and how
   many pixels the two put in the same layer;
6. what ``choose_layer_count`` picks: on the procedural scenes (from their exact
   depth and from the prior, beside the scenes' true count of planes: sky + hill
   ranges + ground) and on photographs (from the prior).

Run:  python bench/bench_depth.py [--scenes 30] [--depth-model DIR]
      (--depth-model: a local transformers depth model directory, e.g. Depth Anything V2 Small)
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import skimage.data
from scipy.stats import spearmanr

from animatepainter.planner import estimate_depth, make_scene
from animatepainter.planner.depth import _contact_height, _cues, _finish, _rank, _segments
from animatepainter.planner.layers import choose_layer_count, depth_layers

EXAMPLE = Path(__file__).resolve().parents[1] / "planner" / "data" / "examples" / "landscape.png"
#: astronaut boxes (rows, cols) in its 512 x 512 pixels: the face, the hair, the wall left and right of her head
FACE = (slice(70, 150), slice(180, 250))
HAIR = (slice(22, 50), slice(175, 285))
WALLS = ((slice(15, 110), slice(95, 150)), (slice(15, 110), slice(330, 380)))


def old_prior(image: np.ndarray) -> np.ndarray:
    """The offline prior before issue 19 (the baseline): ground contact 0.6, height 0.25, haze 0.15."""
    small, _, pos, haze = _cues(image)
    cue = 0.6 * _rank(_contact_height(_segments(small))) + 0.25 * _rank(pos) + 0.15 * _rank(haze)
    return _finish(cue.astype(np.float32), image.shape[:2])


def old_depth_layers(depth: np.ndarray, k: int, smooth_px: int = 5, min_area: float = 0.01) -> np.ndarray:
    """The layering before issue 19 (the baseline): skimage's exhaustive multi-Otsu, per-layer absorption."""
    from skimage.filters import threshold_multiotsu

    thresholds = threshold_multiotsu(depth, classes=k, nbins=128)
    layers = np.digitize(depth, thresholds).astype(np.int32)
    layers = cv2.medianBlur(layers.astype(np.uint8), smooth_px).astype(np.int32)
    min_px, kernel = int(min_area * layers.size), np.ones((3, 3), np.uint8)
    for _ in range(3):
        changed = False
        for lay in range(k):
            _, comp, stats, _ = cv2.connectedComponentsWithStats((layers == lay).astype(np.uint8), connectivity=4)
            for c in np.flatnonzero(stats[1:, cv2.CC_STAT_AREA] < min_px) + 1:
                x, y, w, h = stats[c, :4]
                y0, y1, x0, x1 = max(y - 1, 0), y + h + 1, max(x - 1, 0), x + w + 1
                mask = comp[y0:y1, x0:x1] == c
                ring = cv2.dilate(mask.astype(np.uint8), kernel).astype(bool) & ~mask
                around = layers[y0:y1, x0:x1][ring]
                if around.size:
                    layers[y0:y1, x0:x1][mask] = int(np.bincount(around, minlength=k).argmax())
                    changed = True
        if not changed:
            break
    return layers


def resize_max(img: np.ndarray, px: int, interp: int = cv2.INTER_AREA) -> np.ndarray:
    """``img`` scaled so that its longer side is ``px``."""
    h, w = img.shape[:2]
    s = px / max(h, w)
    return cv2.resize(img, (round(w * s), round(h * s)), interpolation=interp)


def true_planes(depth: np.ndarray) -> int:
    """make_scene's count of planes: the sky, each hill range (depths 0.08..0.44, 0.064+ apart), the ground."""
    v = np.unique(np.round(depth[(depth > 0.01) & (depth < 0.445)], 3))
    return 1 + (1 + int((np.diff(v) > 0.02).sum()) if v.size else 0) + 1


def photos() -> dict[str, np.ndarray]:
    """The photographs the project uses, uint8 RGB."""
    out = {n: getattr(skimage.data, n)() for n in ("astronaut", "chelsea", "coffee", "rocket")}
    out["camera"] = np.repeat(skimage.data.camera()[..., None], 3, axis=2)
    out["motorcycle"] = skimage.data.stereo_motorcycle()[0]
    if EXAMPLE.is_file():
        out["landscape"] = cv2.cvtColor(cv2.imread(str(EXAMPLE)), cv2.COLOR_BGR2RGB)
    return out


def timed(fn: Callable[[], object], repeat: int = 3) -> float:
    """Best wall time of ``fn()`` in ms."""
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best * 1000


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scenes", type=int, default=30)
    ap.add_argument("--size", type=int, nargs=2, default=(192, 256), metavar=("H", "W"))
    ap.add_argument("--depth-model", default=None, help="local transformers depth model directory")
    args = ap.parse_args()
    h, w = args.size
    scenes = [make_scene(h, w, seed=1000 + i) for i in range(args.scenes)]
    backends: dict[str, Callable[[np.ndarray], np.ndarray]] = {
        "height only (baseline)": lambda img: np.broadcast_to(np.arange(img.shape[0], dtype=np.float32)[:, None], img.shape[:2]),
        "old prior (baseline)": old_prior,
        "prior (default)": lambda img: estimate_depth(img, "prior"),
    }
    if args.depth_model:
        backends["transformers"] = lambda img: estimate_depth(img, "transformers", args.depth_model)

    left, _, disp = skimage.data.stereo_motorcycle()
    moto, moto_disp = resize_max(left, 256), resize_max(disp, 256, cv2.INTER_NEAREST)
    valid = np.isfinite(moto_disp)
    print(f"== Spearman correlation with exact depth ({args.scenes} procedural scenes {w}x{h}) and with measured disparity (stereo_motorcycle, {moto.shape[1]}x{moto.shape[0]}, {valid.mean():.0%} valid)")
    print(f"{'backend':<26}{'mean':>8}{'min':>8}{'ms/image':>10}{'motorcycle':>12}")
    for name, fn in backends.items():
        rhos, t0 = [], time.perf_counter()
        for sc in scenes:
            rhos.append(spearmanr(np.asarray(fn(sc.image)).ravel(), sc.depth.ravel()).statistic)
        ms = (time.perf_counter() - t0) / len(scenes) * 1000
        rho_m = spearmanr(np.asarray(fn(moto))[valid], moto_disp[valid]).statistic
        print(f"{name:<26}{np.mean(rhos):>8.3f}{np.min(rhos):>8.3f}{ms:>10.1f}{rho_m:>12.3f}")

    astro = skimage.data.astronaut()
    print("\n== astronaut: mean depth (1 = nearest) of the face, hair and wall boxes; layer of most of each (3 layers, 0 = farthest)")
    print(f"{'prior':<26}{'face':>8}{'hair':>8}{'wall L':>8}{'wall R':>8}   layers face/hair/walls")
    for name, fn in (("old prior (baseline)", old_prior), ("prior (default)", lambda img: estimate_depth(img, "prior"))):
        d = fn(astro)
        lay = depth_layers(d, 3)
        boxes = (FACE, HAIR, *WALLS)
        means = [float(d[b].mean()) for b in boxes]
        majority = [int(np.bincount(lay[b].ravel(), minlength=3).argmax()) for b in boxes]
        print(f"{name:<26}" + "".join(f"{m:>8.2f}" for m in means) + "   " + "/".join(map(str, majority)))

    print("\n== prior time (ms, best of 3)")
    for px in (256, 1024):
        img = cv2.resize(astro, (px, px), interpolation=cv2.INTER_CUBIC)
        print(f"{px:>5} px: old {timed(lambda: old_prior(img)):7.1f}   new {timed(lambda: estimate_depth(img, 'prior')):7.1f}")

    print("\n== layering time (ms, best of 3; the astronaut's prior depth), old = exhaustive multi-Otsu (K <= 5 only); same = pixels in the same layer")
    print(f"{'px':>5}{'K':>4}{'old':>10}{'new':>10}{'same':>8}")
    for px in (256, 1024):
        d = estimate_depth(cv2.resize(astro, (px, px), interpolation=cv2.INTER_CUBIC), "prior")
        for k in (3, 5, 6, 8, 12, 16):
            new = timed(lambda: depth_layers(d, k))
            if k <= 5:
                old = f"{timed(lambda: old_depth_layers(d, k), repeat=1):10.1f}"
                same = f"{(old_depth_layers(d, k) == depth_layers(d, k)).mean():8.1%}"
            else:
                old, same = f"{'-':>10}", f"{'-':>8}"
            print(f"{px:>5}{k:>4}{old}{new:>10.1f}{same}")

    print("\n== choose_layer_count (max 12)")
    picks = np.array([(true_planes(sc.depth), choose_layer_count(sc.depth), choose_layer_count(estimate_depth(sc.image, "prior"))) for sc in scenes])
    print(f"procedural scenes: true planes {' '.join(map(str, picks[:, 0]))}")
    print(f"        from exact depth       {' '.join(map(str, picks[:, 1]))}")
    print(f"        from the prior         {' '.join(map(str, picks[:, 2]))}")
    off = np.abs(picks[:, 1] - picks[:, 0])
    print(f"exact depth: equal to the true count {np.mean(off == 0):.0%}, within one {np.mean(off <= 1):.0%}; mean true {picks[:, 0].mean():.1f}, exact {picks[:, 1].mean():.1f}, prior {picks[:, 2].mean():.1f}")
    counts = {n: choose_layer_count(estimate_depth(resize_max(im, 256), "prior")) for n, im in photos().items()}
    print("photos (prior, 256 px): " + ", ".join(f"{n} {c}" for n, c in counts.items()))
    print(f"stereo_motorcycle's measured disparity: {choose_layer_count(np.where(valid, moto_disp, np.nanmin(np.where(valid, moto_disp, np.nan))))}")


if __name__ == "__main__":
    main()
