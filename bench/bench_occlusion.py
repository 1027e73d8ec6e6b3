"""A hand in view: `animatepainter extract --occlusion-frames N` on teacher processes.

A real time-lapse shows the painter's hand and brush. Here a skin-coloured "hand" (an
ellipse that moves a little every frame) covers part of a teacher-made process for 4
frames in a row, three times, while painting goes on under it. For N in 0 (off), 2, 4
and 8 the benchmark prints:

* ``hand strokes``: extracted strokes of the hand's colour (the hand painted as paint);
* ``final dB``: PSNR of the rendered plan against the finished picture;
* ``steps dB``: mean and minimum per-step PSNR of the plan against the *true* process
  (without the hand; what was painted under the hand cannot be seen until it leaves);
* ``clean altered``: share of the pixel-frames of the process *without* a hand that
  ``remove_occlusions(N)`` changes (its price: paint painted over within N frames);
* ``filter fps``: frames per second of ``remove_occlusions`` alone.

N = 2 is too short for a 4-frame hand (it stays); N >= 4 removes it.

Run: ``python bench/bench_occlusion.py [--size 256] [--strokes 1000] [--every 10]``.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from animatepainter.planner import PaintSettings, make_scene, plan_painting, render_plan
from animatepainter.planner.extract import ExtractSettings, extract_plan, per_step_psnr, psnr, remove_occlusions
from animatepainter.planner.render import render_progress
from bench_extract import skimage_image  # the same crops as the extractor's benchmark (bench/ is on sys.path)

SKIN = np.array([224, 172, 140])
HAND_FRAMES = 4


def with_hand(process: np.ndarray, starts: list[int]) -> np.ndarray:
    """``process`` with a moving hand for :data:`HAND_FRAMES` frames from each start."""
    out = process.copy()
    t, h, w = process.shape[:3]
    yy, xx = np.mgrid[:h, :w]
    for k, s in enumerate(starts):
        for j in range(HAND_FRAMES):
            cy, cx = (0.55 + 0.1 * k) * h, (0.3 + 0.2 * k + 0.03 * j) * w
            hand = ((yy - cy) / (0.2 * h)) ** 2 + ((xx - cx) / (0.12 * w)) ** 2 < 1
            out[s + j][hand] = SKIN
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--size", type=int, default=256, help="picture side, px")
    ap.add_argument("--strokes", type=int, default=1000, help="teacher strokes")
    ap.add_argument("--every", type=int, default=10, help="strokes between frames")
    args = ap.parse_args()
    cases = {"scene": make_scene(args.size, args.size, seed=11).image, "astronaut": skimage_image("astronaut", args.size)}
    print(f"{args.size}x{args.size} px, {args.strokes} teacher strokes, a frame every {args.every} strokes; hand: {HAND_FRAMES} frames, 3 times\n")
    print(f"{'case':10s} {'N':>3s} {'strokes':>8s} {'hand strokes':>13s} {'final dB':>9s} {'steps dB mean/min':>18s} {'clean altered':>14s} {'filter fps':>11s}")
    for name, image in cases.items():
        res = plan_painting(image, PaintSettings(strokes=args.strokes, size=args.size, seed=0))
        n = len(res.plan.strokes)
        process = np.stack(list(render_progress(res.plan, after=list(range(0, n + 1, args.every)) + ([n] if n % args.every else []), width_px=args.size)))
        t = len(process)
        handed = with_hand(process, [t // 4, t // 2, 3 * t // 4])
        for occ in (0, 2, 4, 8):
            t0 = time.perf_counter()
            altered = float((remove_occlusions(process, occ) != process).any(-1).mean())
            fps = t / max(time.perf_counter() - t0, 1e-9)
            plan = extract_plan(handed, ExtractSettings(occlusion_frames=occ)).plan
            hand = sum(int(np.abs(np.asarray(s.rgb) - SKIN).max() < 12) for s in plan.strokes)
            steps = per_step_psnr(plan, process)
            final = psnr(render_plan(plan, width_px=args.size), process[-1])
            print(
                f"{name:10s} {occ:>3d} {len(plan.strokes):>8d} {hand:>13d} {final:>9.2f} "
                f"{np.mean(steps):>9.2f} / {min(steps):>5.2f} {100 * altered:>13.2f}% {fps if occ else float('nan'):>11.1f}"
            )
        print()


if __name__ == "__main__":
    main()
