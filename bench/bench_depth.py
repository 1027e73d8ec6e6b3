"""Benchmark of the depth backends against exact depth (procedural scenes), issue 2.

Prints the Spearman rank correlation between each backend's depth and the scenes'
true depth (mean, min over scenes) and the time per image, beside a height-only
baseline (nearness = row index) that any useful prior should beat.

Run:  python bench/bench_depth.py [--scenes 30] [--depth-model DIR]
      (--depth-model: a local transformers depth model directory, e.g. Depth Anything V2 Small)
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from scipy.stats import spearmanr

from animatepainter.planner import estimate_depth, make_scene


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scenes", type=int, default=30)
    ap.add_argument("--size", type=int, nargs=2, default=(192, 256), metavar=("H", "W"))
    ap.add_argument("--depth-model", default=None, help="local transformers depth model directory")
    args = ap.parse_args()
    h, w = args.size
    scenes = [make_scene(h, w, seed=1000 + i) for i in range(args.scenes)]
    backends = {
        "height only (baseline)": lambda img: np.broadcast_to(np.arange(img.shape[0], dtype=np.float32)[:, None], img.shape[:2]),
        "prior (default)": lambda img: estimate_depth(img, "prior"),
    }
    if args.depth_model:
        backends["transformers"] = lambda img: estimate_depth(img, "transformers", args.depth_model)
    print(f"== Spearman correlation with exact depth, {args.scenes} procedural scenes {w}x{h}")
    print(f"{'backend':<26}{'mean':>8}{'min':>8}{'ms/image':>10}")
    for name, fn in backends.items():
        rhos, t0 = [], time.perf_counter()
        for sc in scenes:
            rhos.append(spearmanr(np.asarray(fn(sc.image)).ravel(), sc.depth.ravel()).statistic)
        ms = (time.perf_counter() - t0) / len(scenes) * 1000
        print(f"{name:<26}{np.mean(rhos):>8.3f}{np.min(rhos):>8.3f}{ms:>10.1f}")


if __name__ == "__main__":
    main()
