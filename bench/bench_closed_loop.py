"""Benchmark of the closed loop on the simulated rig (issue 14).

For each image x seed (a plan of ``--strokes`` strokes at ``--size`` px, made once with
the teacher for the ``sim-arm`` rig), paints it with the simulated rig:

* ideal: the plan painted by a perfect rig;
* open loop: as planned, with the rig's errors;
* calibrated open loop: planned with the profile `rig calibrate --simulate` measured
  (offset, widths, reload cadence; one calibration per seed), no photos;
* closed loop for each N in ``--every``: a photo every N strokes, registered and
  replanned (with the rig's offset learnt from the photos).

Prints PSNR against the picture (medians over images x seeds), the gain of the closed
loop over the open one, the share of the ideal-to-open gap it recovers, the worst
registration error (true, mm) and colour error after correction (dE2000), and the time
per replan and per photo (register). ``--json`` writes every run.

Images: the bundled landscape and skimage's astronaut, chelsea, coffee, rocket and
camera (offline).

With ``--registration`` it measures only the registration, on photos of the same rig
after 25 %, 50 % and 100 % of each plan: the true worst corner error (mm), the patches'
colour error before and after correction (and leave-one-out), the registered canvas
against the true one (PSNR), and the time per photo.

Run:  python bench/bench_closed_loop.py                 # 6 images x 3 seeds x N in 10,25,50,100
      python bench/bench_closed_loop.py --quick         # 2 images x 1 seed x N in 25,100
      python bench/bench_closed_loop.py --registration  # registration only
"""

from __future__ import annotations

import argparse
import json
import time
import numpy as np
from skimage import data

from pathlib import Path

from animatepainter.planner.images import load_image
from animatepainter.planner.metrics import psnr
from animatepainter.planner.render import to_uint8
from animatepainter.planner.rig.calibrate import calibrated_rig, calibration_sheet_plan, measure_calibration
from animatepainter.planner.rig.camera import physical_canvas, photograph
from animatepainter.planner.rig.execute import execute_strokes
from animatepainter.planner.rig.loop import plan_for_rig, run_loop, run_open_loop
from animatepainter.planner.rig.profile import load_rig
from animatepainter.planner.teacher.pipeline import PaintSettings


def images(names: list[str]) -> dict[str, np.ndarray]:
    out = {}
    for n in names:
        if n == "landscape":
            out[n] = load_image(Path(__file__).resolve().parents[1] / "planner" / "data" / "examples" / "landscape.png")
        else:
            img = getattr(data, n)()
            out[n] = np.repeat(img[..., None], 3, axis=2) if img.ndim == 2 else img[..., :3]
    return out


def calibrate(rig, seed: int):
    sheet = calibration_sheet_plan(rig)
    painted, _, _ = execute_strokes(sheet, rig, seed=seed)
    photo, _ = photograph(physical_canvas(sheet, painted, rig), rig, seed=seed)
    cal, report = measure_calibration(photo, sheet)
    return calibrated_rig(rig, cal)[1], report


def registration(rig, imgs: dict[str, np.ndarray], seeds: list[int], a) -> None:
    """Registration only: photos of the rig's canvas at 25/50/100 % of each plan."""
    from animatepainter.planner.rig.loop import true_corner_error_mm
    from animatepainter.planner.rig.register import register_photo

    rows = []
    mc = rig.machine.canvas
    for seed in seeds:
        for name, img in imgs.items():
            plan, _ = plan_for_rig(img, rig, PaintSettings(strokes=a.strokes, size=a.size, seed=seed))
            canvas, state, done = None, None, 0
            for k, frac in enumerate((0.25, 0.5, 1.0)):
                stop = int(round(frac * len(plan)))
                canvas, state, _ = execute_strokes(plan, rig, canvas, done, stop, seed, state)
                done = stop
                photo, h_true = photograph(physical_canvas(plan, canvas, rig), rig, seed=seed * 100003 + k)
                t0 = time.perf_counter()
                reg = register_photo(photo, plan)
                dt = time.perf_counter() - t0
                truth = to_uint8(canvas)
                rows.append({
                    "image": name, "seed": seed, "strokes": stop,
                    "corner_mm": true_corner_error_mm(h_true, reg.homography, (mc.width_mm, mc.height_mm)),
                    "de_before": reg.report["delta_e2000_before"]["mean"], "de_after": reg.report["delta_e2000_after"]["mean"],
                    "de_after_max": reg.report["delta_e2000_after"]["max"], "de_loo": reg.report["delta_e2000_after_leave_one_out"]["mean"],
                    "psnr": psnr(reg.canvas, truth), "s": dt,
                })
    get = lambda k: np.array([r[k] for r in rows])  # noqa: E731
    print(f"registration: {len(rows)} photos ({len(imgs)} images x {len(seeds)} seeds x 3 moments), camera {rig.camera}")
    print(f"  true corner error, mm:       worst {get('corner_mm').max():.3f}, median {np.median(get('corner_mm')):.3f}")
    print(f"  patches dE2000 before:       mean {get('de_before').mean():.2f}, worst photo {get('de_before').max():.2f}")
    print(f"  patches dE2000 after:        mean {get('de_after').mean():.2f}, worst photo {get('de_after').max():.2f} (worst patch {get('de_after_max').max():.2f})")
    print(f"  after, leave-one-out:        mean {get('de_loo').mean():.2f}, worst photo {get('de_loo').max():.2f}")
    print(f"  registered vs true canvas:   PSNR median {np.median(get('psnr')):.2f} dB, worst {get('psnr').min():.2f} dB")
    print(f"  time per photo:              {get('s').mean():.3f} s")
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"registration": rows, "args": vars(a)}, f, indent=1)


def replan_timing(rig, imgs: dict[str, np.ndarray], budgets: list[int], a) -> None:
    """Time of one replan (fit + refinement of what is left) after 25 strokes (the most
    left) and after half the plan, at ``--size``, for each stroke budget."""
    from animatepainter.planner.rig.loop import register_and_replan

    print(f"replan time at {a.size} px (after 25 strokes / after half the plan), {len(imgs)} images:")
    for n in budgets:
        early, half = [], []
        for name, img in imgs.items():
            plan, res = plan_for_rig(img, rig, PaintSettings(strokes=n, size=a.size, seed=0))
            canvas, state, done = None, None, 0
            for stop, sink in ((25, early), (len(plan) // 2, half)):
                canvas, state, _ = execute_strokes(plan, rig, canvas, done, stop, 0, state)
                done = stop
                photo, _ = photograph(physical_canvas(plan, canvas, rig), rig, seed=stop)
                _, _, info = register_and_replan(plan, photo, res.image, res.layers, stop)
                sink.append(info["replan_s"])
        print(f"  {n:5d} strokes: after 25 mean {np.mean(early):.2f} s, max {np.max(early):.2f} s; after half mean {np.mean(half):.2f} s, max {np.max(half):.2f} s")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", default="landscape,astronaut,chelsea,coffee,rocket,camera")
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--every", default="10,25,50,100")
    ap.add_argument("--strokes", type=int, default=1000)
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--rig", default="sim-arm")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--json", default=None, help="write every run here")
    ap.add_argument("--registration", action="store_true", help="measure the registration only")
    ap.add_argument("--calibrated-closed", action="store_true", help="also run the closed loop planned with the calibrated profile")
    ap.add_argument("--replan-timing", default=None, help="time replans only, for these stroke budgets (e.g. 800,2000)")
    a = ap.parse_args()
    if a.quick:
        a.images, a.seeds, a.every = "landscape,astronaut", "0", "25,100"
    rig = load_rig(a.rig)
    imgs = images(a.images.split(","))
    seeds = [int(s) for s in a.seeds.split(",")]
    everys = [int(s) for s in a.every.split(",")]
    if a.registration:
        registration(rig, imgs, seeds, a)
        return
    if a.replan_timing:
        replan_timing(rig, imgs, [int(v) for v in a.replan_timing.split(",")], a)
        return
    runs = []
    cal_reports = {}
    print(f"closed loop on {a.rig}: {len(imgs)} images x {len(seeds)} seeds, {a.strokes} strokes at {a.size} px, N in {everys}", flush=True)
    for seed in seeds:
        t0 = time.perf_counter()
        cal_rig, cal_reports[seed] = calibrate(rig, seed)
        print(f"  seed {seed}: calibrated in {time.perf_counter() - t0:.1f} s: offset {cal_reports[seed]['offset_mm']} mm, widths {[b['width_scale'] for b in cal_reports[seed]['brushes']]}", flush=True)
        for name, img in imgs.items():
            settings = PaintSettings(strokes=a.strokes, size=a.size, seed=seed)
            planned = plan_for_rig(img, rig, settings)
            plan, res = planned
            cal_plan, _ = plan_for_rig(img, cal_rig, settings)
            open_cal = psnr(run_open_loop(cal_plan, cal_rig, seed, executor=rig), res.image)
            for n in everys:
                t1 = time.perf_counter()
                r = run_loop(img, rig, settings, n, seed=seed, planned=planned)
                rep = dict(r.report, image=name, calibrated_open_loop_psnr_db=round(open_cal, 3), wall_s=round(time.perf_counter() - t1, 2))
                if a.calibrated_closed:
                    rc = run_loop(img, cal_rig, settings, n, seed=seed, executor=rig)
                    rep["calibrated_closed_loop_psnr_db"] = rc.report["closed_loop_psnr_db"]
                runs.append(rep)
                print(
                    f"  {name:10s} seed {seed} N={n:3d}: ideal {rep['ideal_psnr_db']:6.2f}  open {rep['open_loop_psnr_db']:6.2f}  "
                    f"open+cal {open_cal:6.2f}  closed {rep['closed_loop_psnr_db']:6.2f}  gain {rep['gain_db']:+5.2f} dB  "
                    f"recovered {rep['gap_recovered']:.2f}  replan {rep['replan_s']['mean'] if rep['replan_s'] else 0:.2f} s  {rep['wall_s']:.0f} s",
                    flush=True,
                )
    print()
    print(f"{'N':>4} {'runs':>5} {'ideal':>7} {'open':>7} {'open+cal':>9} {'closed':>7} {'gain dB':>8} {'recovered':>10} {'reg mm':>7} {'dE after':>9} {'replan s':>9} {'max':>6} {'photo s':>8} {'run s':>6}")
    for n in everys:
        rs = [r for r in runs if r["every"] == n]
        med = lambda k: float(np.median([r[k] for r in rs]))  # noqa: E731
        print(
            f"{n:4d} {len(rs):5d} {med('ideal_psnr_db'):7.2f} {med('open_loop_psnr_db'):7.2f} {med('calibrated_open_loop_psnr_db'):9.2f} "
            f"{med('closed_loop_psnr_db'):7.2f} {med('gain_db'):+8.2f} {med('gap_recovered'):10.2f} "
            f"{max(r['registration_error_mm'] for r in rs):7.3f} {max(r['delta_e2000_after'] for r in rs):9.2f} "
            f"{np.mean([r['replan_s']['mean'] for r in rs]):9.3f} {max(r['replan_s']['max'] for r in rs):6.2f} "
            f"{np.mean([r['register_s']['mean'] for r in rs]):8.3f} {np.median([r['wall_s'] for r in rs]):6.1f}"
        )
    if a.calibrated_closed:
        for n in everys:
            rs = [r for r in runs if r["every"] == n]
            d = [r["calibrated_closed_loop_psnr_db"] - r["open_loop_psnr_db"] for r in rs]
            dc = [r["calibrated_closed_loop_psnr_db"] - r["calibrated_open_loop_psnr_db"] for r in rs]
            print(f"N={n}: calibrated closed loop {np.median([r['calibrated_closed_loop_psnr_db'] for r in rs]):.2f} dB (median): "
                  f"{np.median(d):+.2f} dB over the open loop, {np.median(dc):+.2f} dB over the calibrated open loop")
    first = [r for r in runs if r["every"] == everys[0]]
    better = sum(r["calibrated_open_loop_psnr_db"] > r["open_loop_psnr_db"] for r in first)
    print(f"\ncalibrated open loop beats open loop in {better} of {len(first)} image x seed pairs "
          f"(median {np.median([r['calibrated_open_loop_psnr_db'] - r['open_loop_psnr_db'] for r in first]):+.2f} dB)")
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"runs": runs, "calibration": {str(k): v for k, v in cal_reports.items()}, "args": vars(a)}, f, indent=1)


if __name__ == "__main__":
    main()
