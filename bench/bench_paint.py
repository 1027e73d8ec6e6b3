"""Benchmark of the teacher planner (`animatepainter paint`), issue 2.

Prints, for skimage's astronaut and chelsea resized to 256x256 (rendering plan.json
at 256x256):
  * the PSNR / SSIM curve against the stroke budget (250 .. 4000);
  * at 2,000 strokes: strokes, PSNR, SSIM, pen-up travel, wall time of the whole
    `paint` command run in-process (imports excluded), and the fraction of stroke
    pairs that respect the layer order, by the plan's labels and by the depth under
    each stroke;
  * the same at 512x512 (reported, no target);
  * the public renderers measured on this machine (shared/notes, not rerun here).

Run:  python bench/bench_paint.py [--quick]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
from PIL import Image
from skimage import data

from animatepainter.planner import PaintSettings, load_plan, plan_painting, render_plan
from animatepainter.cli import main as cli_main
from animatepainter.planner.images import load_depth
from animatepainter.planner.layers import depth_layers

REFERENCE = {  # shared/notes/ENVIRONMENT.md: 256x256, 2 cores, one run
    "Im2Oil": {"astronaut": (20.8, 3900, 63), "chelsea": (26.4, 4400, 70)},
    "PyPainterly": {"astronaut": (14.5, 7200, 40), "chelsea": (22.9, 3000, 35)},
    "primitive (rectangles)": {"astronaut": (23.3, 1000, 64), "chelsea": (28.8, 1000, 61)},
}
TARGET = {"astronaut": 24.0, "chelsea": 28.0}


def psnr_ssim(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    from animatepainter.planner.metrics import psnr, ssim

    return psnr(a, b), ssim(a, b)


def depth_order_fraction(plan, layers: np.ndarray) -> float:
    """Pairs i<j (execution order) whose depth layer under the stroke is non-decreasing.

    The layer under a stroke is the median layer of its vertices' pixels.
    """
    mm = plan.canvas.mm_per_px
    h, w = layers.shape
    lab = []
    for s in plan.strokes:
        ij = np.clip((s.points / mm).astype(int), 0, [w - 1, h - 1])
        lab.append(int(np.median(layers[ij[:, 1], ij[:, 0]])))
    lab = np.array(lab)
    k = lab.max() + 1
    seen = np.zeros(k, np.int64)
    bad = 0
    for v in lab:
        bad += int(seen[v + 1 :].sum())
        seen[v] += 1
    n = len(lab)
    return 1.0 - bad / (n * (n - 1) / 2)


def run_paint_cli(img: np.ndarray, size: int, strokes: int, tmp: Path) -> tuple[float, dict, Path]:
    src = tmp / f"src_{size}.png"
    Image.fromarray(img).save(src)
    out = tmp / f"out_{size}_{strokes}"
    t0 = time.perf_counter()
    code = cli_main(["-q", "paint", str(src), "-o", str(out), "--strokes", str(strokes), "--size", str(size)])
    wall = time.perf_counter() - t0
    if code != 0:
        sys.exit(f"paint failed with status {code}")
    return wall, json.loads((out / "report.json").read_text()), out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="skip the budget curve and the 512 px run")
    args = ap.parse_args()
    images = {n: cv2.resize(getattr(data, n)(), (256, 256), interpolation=cv2.INTER_AREA) for n in ("astronaut", "chelsea")}
    budgets = [] if args.quick else [250, 500, 1000, 2000, 4000]

    print("== PSNR (dB) / SSIM against the stroke budget, 256x256")
    print(f"{'image':<10}" + "".join(f"{b:>16}" for b in budgets))
    for name, img in images.items():
        row = []
        for b in budgets:
            res = plan_painting(img, PaintSettings(strokes=b, size=256))
            p, s = psnr_ssim(img, render_plan(res.plan))
            row.append(f"{p:7.2f} / {s:.3f}")
        print(f"{name:<10}" + "".join(f"{r:>16}" for r in row))

    print("\n== `paint` at 2,000 strokes (in-process CLI, imports excluded; plan.json rendered at 256x256)")
    hdr = f"{'image':<10}{'size':>6}{'strokes':>9}{'PSNR dB':>9}{'SSIM':>7}{'travel m':>10}{'wall s':>8}{'order(labels)':>15}{'order(depth)':>14}{'target':>9}"
    print(hdr)
    sizes = [256] if args.quick else [256, 512]
    results = {}
    with tempfile.TemporaryDirectory() as td:
        tmp = Path(td)
        for size in sizes:
            for name, img0 in images.items():
                img = img0 if size == 256 else cv2.resize(getattr(data, name)(), (512, 512), interpolation=cv2.INTER_AREA)
                wall, rep, out = run_paint_cli(img, size, 2000, tmp)
                plan = load_plan(out / "plan.json")
                p, s = psnr_ssim(img, render_plan(plan))
                layers = depth_layers(load_depth(out / "depth.png"), plan.meta["settings"]["layers"])
                dof = depth_order_fraction(plan, layers)
                ok = "" if size != 256 else ("PASS" if p >= TARGET[name] and wall <= 10 else "FAIL")
                results[(name, size)] = (p, wall)
                print(f"{name:<10}{size:>6}{rep['strokes']:>9}{p:>9.2f}{s:>7.3f}{rep['pen_up_travel_mm'] / 1000:>10.2f}{wall:>8.2f}{rep['layer_order_fraction']:>15.4f}{dof:>14.4f}{ok:>9}")
                stages = ", ".join(f"{k[:-2]} {v:.2f}" for k, v in rep["wall_time_s"].items() if k != "total")
                print(f"{'':<10}stages (s): {stages}")

    print("\n== Public stroke-based renderers on this machine, 256x256 (shared/notes, not rerun): PSNR dB, strokes, s")
    for r, vals in REFERENCE.items():
        print(f"{r:<24}" + "   ".join(f"{n}: {p:.1f} dB, {k} strokes, {t} s" for n, (p, k, t) in vals.items()))
    for name in images:
        p, wall = results[(name, 256)]
        best = max(REFERENCE.values(), key=lambda v: v[name][0])[name]
        print(f"{name}: AnimatePainter {p:.2f} dB with 2000 strokes in {wall:.1f} s; best public {best[0]:.1f} dB with {best[1]} in {best[2]} s -> {best[2] / wall:.1f}x faster")


if __name__ == "__main__":
    main()
