"""Robot-ready plans: ordering for a machine vs vpype's linesort, replay PSNR, vpype stat.

For each bench image (skimage.data astronaut and chelsea at 256x256, and the bundled
example) the teacher plans on the machine's paintable area *without* its own
ordering; then

* ``before``: the plan adapted to the machine (paints, brushes, reloads) in the
  teacher's fitting order;
* ``ours``: the same with :func:`animatepainter.planner.machine.adapt.apply_machine`'s
  ordering (inside each (layer, level) run, tool-grouped, render-exact);
* ``vpype/run``: vpype ``linesort`` (greedy) run on the plotter SVG of ``ours`` with one
  layer per paint run (``export svg --by run``): vpype may reorder inside each layer,
  the layers stay in order, so the painter's order and the paint changes are ours;
* ``vpype/group``: vpype ``linesort`` on an SVG with one layer per (layer, level) run
  (``--by group``): the painter's order holds but paints mix freely;
* ``vpype/global``: all strokes in one layer, then ``linesort``: what a global sort
  does to a painter's plan.

Each order is replayed through the package's renderer; figures: pen-up travel between
strokes (m), paint changes, estimated machine time (min), replay PSNR against the
image (dB), and ``diff px``: pixels whose replay differs from ``before``'s. ``ours`` must
stay within 10 % of ``vpype/run``'s travel and replay like ``before`` (every pixel within
one level, the float rounding of compositing same-colour strokes in another order; PSNR
within 0.01 dB). Finally ``vpype read --no-crop plan.svg stat`` is run on the
``--by paint`` export and its layer and path counts are checked.

``--fit`` instead measures what fitting with the machine's own paints and brush widths
(``paint --machine`` on a brush machine with ``nearest`` matching) is worth: each image is
fitted twice on the machine's paintable area, once with the machine's paints and widths
and once with free colours and widths matched to the machine afterwards
(:func:`apply_machine`), and both plans are rendered against the image; the gain column,
and the range under the table, is what the own paints are worth in dB (docs/robot.md
quotes it).

Run: ``python bench/bench_robot.py [--profile painting-arm|pen-plotter|FILE] [--strokes N] [--fit]``.
"""

from __future__ import annotations

import argparse
import logging
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np


def _images() -> list[tuple[str, np.ndarray]]:
    import cv2
    from skimage import data

    import animatepainter.planner as pkg
    from animatepainter.planner.images import load_image

    out = []
    for name in ("astronaut", "chelsea"):
        img = getattr(data, name)()
        out.append((name, cv2.resize(img, (256, 256), interpolation=cv2.INTER_AREA)))
    out.append(("landscape", load_image(Path(pkg.__file__).parent / "data" / "examples" / "landscape.png")))
    return out


def _vpype_order(svg: Path, pipeline: str, plan, layers: list[list[int]] | None):
    """Run vpype on ``svg``, map its lines back to ``plan``'s strokes.

    Args:
        layers: stroke indices written to each SVG layer (vpype layer ids 1, 2, ...),
            to match lines inside their own layer; ``None`` matches against all.

    Returns the replayed plan (strokes in vpype's order, reversed where vpype flipped
    them) and vpype's own wall time.
    """
    import vpype_cli
    from scipy.spatial import cKDTree

    t0 = time.perf_counter()
    doc = vpype_cli.execute(f"read --no-crop {svg} {pipeline}")
    dt = time.perf_counter() - t0
    px = 96.0 / 25.4
    n = len(plan.strokes)
    used = np.zeros(n, bool)
    strokes = []
    for lid in sorted(doc.layers):
        pool = np.array(layers[lid - 1] if layers is not None else range(n), np.int64)
        ends = []  # (start, end) of each pooled stroke forwards, then backwards
        for flip in (False, True):
            for i in pool:
                q = np.asarray(plan.strokes[i].points, np.float64)
                q = q[::-1] if flip else q
                ends.append(np.concatenate([q[0], q[-1]]))
        tree = cKDTree(np.array(ends))
        m = len(pool)
        for line in doc.layers[lid]:
            q = np.stack([line.real, line.imag], axis=1) / px
            dist, idx = tree.query(np.concatenate([q[0], q[-1]]), k=min(16, 2 * m))
            pick = next(((int(pool[int(j) % m]), int(j) >= m) for d, j in zip(np.atleast_1d(dist), np.atleast_1d(idx)) if d < 0.01 and not used[pool[int(j) % m]]), None)
            if pick is None:
                raise RuntimeError(f"vpype line from {q[0]} to {q[-1]} matches no stroke")
            i, flip = pick
            used[i] = True
            s = plan.strokes[i]
            strokes.append(replace(s, points=np.asarray(s.points)[::-1] if flip else s.points, step=0, actions=()))
    if not used.all():
        raise RuntimeError(f"{int((~used).sum())} strokes missing from vpype's output")
    return plan.with_strokes(strokes), dt


def _vpype_stat(svg: Path) -> tuple[int, list[int]] | None:
    """``vpype read --no-crop svg stat``: (layer count, path count per layer)."""
    exe = shutil.which("vpype") or str(Path(sys.executable).parent / "vpype")
    if not Path(exe).exists():
        return None
    out = subprocess.run([exe, "read", "--no-crop", str(svg), "stat"], capture_output=True, text=True, check=True).stdout
    layers = re.findall(r"^Layer (\d+)", out, flags=re.M)
    paths = [int(v) for v in re.findall(r"^\s+Path count: (\d+)", out, flags=re.M)]
    return len(layers), paths[: len(layers)]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--profile", default="painting-arm", help="machine profile (file or bundled name)")
    ap.add_argument("--strokes", type=int, default=2000, help="stroke budget per image (count)")
    ap.add_argument("--fit", action="store_true", help="compare fitting with the machine's own paints against free fitting matched afterwards")
    args = ap.parse_args()
    if args.fit:
        return fit_comparison(args.profile, args.strokes)

    from animatepainter.export.svg_layers import layer_groups, write_layered_svg
    from animatepainter.planner.metrics import psnr as psnr_db
    from animatepainter.planner.machine.profile import load_profile
    from animatepainter.planner.teacher.pipeline import PaintSettings, plan_painting
    from animatepainter.planner.render import render_plan
    from animatepainter.planner.machine.adapt import apply_machine, insert_actions, machine_settings
    from animatepainter.planner.machine.motion import machine_report

    logging.getLogger("animatepainter.export.svg_layers").setLevel(logging.ERROR)  # per-paint layers warn by design
    prof = load_profile(args.profile)
    print(f"machine: {prof.name}; {args.strokes} strokes per image; vpype linesort (greedy) on the same SVGs\n")
    head = f"{'image':<10} {'order':<13} {'strokes':>7} {'pen-up m':>9} {'paint ch':>8} {'time min':>8} {'PSNR dB':>8} {'diff px':>8} {'sort s':>7}"
    print(head)
    print("-" * len(head))
    ok = True
    tmp = Path(tempfile.mkdtemp(prefix="bench_robot."))
    summary = []
    try:
        for name, img in _images():
            settings = machine_settings(PaintSettings(strokes=args.strokes, size=256, seed=0, reorder=False), prof)
            res = plan_painting(img, settings)
            w = res.image.shape[1]
            before, _ = apply_machine(res.plan, prof, reorder=False)
            t0 = time.perf_counter()
            ours, _ = apply_machine(res.plan, prof, reorder=True)
            t_ours = time.perf_counter() - t0
            ref = render_plan(before, width_px=w)

            def row(label: str, plan, secs: float) -> dict:
                out = render_plan(plan, width_px=w)
                psnr = psnr_db(res.image, out)
                diff = np.abs(out.astype(np.int16) - ref.astype(np.int16)).max(axis=2)
                same = bool(diff.max() <= 1)  # equal up to float rounding of the compositing order
                ndiff = int((diff > 0).sum())
                changes = sum(1 for a, b in zip(plan.strokes, plan.strokes[1:]) if a.paint != b.paint)
                tmin = machine_report(plan, prof)["estimated_time_s"] / 60.0
                r = {"order": label, "travel_m": plan.pen_up_travel_mm() / 1000.0, "changes": changes, "psnr": psnr, "same": same, "time_min": tmin}
                print(f"{name:<10} {label:<13} {len(plan.strokes):>7} {r['travel_m']:>9.2f} {changes:>8} {tmin:>8.1f} {psnr:>8.2f} {ndiff:>8} {secs:>7.2f}")
                return r

            rows = {"before": row("before", before, 0.0), "ours": row("ours", ours, t_ours)}
            t0 = time.perf_counter()
            ours_travel, _ = apply_machine(res.plan, prof, reorder=True, objective="travel")
            rows["ours/travel"] = row("ours/travel", ours_travel, time.perf_counter() - t0)
            for label, by, pipe in (("vpype/run", "run", "linesort"), ("vpype/group", "group", "linesort"), ("vpype/global", "group", "lmove all 1 linesort")):
                svg = tmp / f"{name}-{by}.svg"
                write_layered_svg(ours, svg, by=by, pause=False)
                ids = {s.id: i for i, s in enumerate(ours.strokes)}
                layers = None if "lmove" in pipe else [[ids[s.id] for s in ss] for _, ss in layer_groups(ours, by)]
                replay, secs = _vpype_order(svg, pipe, ours, layers)
                rows[label] = row(label, replay.with_strokes(insert_actions(replay.strokes, prof)), secs)
            ratio = rows["ours"]["travel_m"] / rows["vpype/run"]["travel_m"]
            same_psnr = rows["ours"]["same"] and abs(rows["ours"]["psnr"] - rows["before"]["psnr"]) < 0.01
            # vpype stat on the per-paint plotter SVG
            svg = tmp / f"{name}-paint.svg"
            write_layered_svg(ours, svg, by="paint")
            expect = [len(ss) for _, ss in layer_groups(ours, "paint")]
            stat = _vpype_stat(svg)
            stat_ok = stat is not None and stat[0] == len(expect) and stat[1] == expect
            print(
                f"{name:<10} ours/vpype-run travel {ratio:.3f} (<= 1.10: {ratio <= 1.10}); travel cut x{rows['before']['travel_m'] / rows['ours']['travel_m']:.1f}, "
                f"paint changes cut x{rows['before']['changes'] / max(rows['ours']['changes'], 1):.1f}; replay PSNR equal: {same_psnr}; "
                f"global sort costs {rows['ours']['psnr'] - rows['vpype/global']['psnr']:.2f} dB; "
                f"vpype stat: {stat[0] if stat else '?'} layers, {sum(stat[1]) if stat else '?'} paths (expected {len(expect)}, {sum(expect)}): {stat_ok}\n"
            )
            ratio_t = rows["ours/travel"]["travel_m"] / rows["vpype/group"]["travel_m"]
            print(f"{name:<10} travel objective: ours/vpype-group travel {ratio_t:.3f}, replay exact: {rows['ours/travel']['same']}\n")
            ok &= ratio <= 1.10 and same_psnr and stat_ok and rows["ours/travel"]["same"]
            summary.append((name, ratio, same_psnr, stat_ok))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print("all checks passed" if ok else "SOME CHECKS FAILED")
    return 0 if ok else 1


def fit_comparison(profile: str, strokes: int) -> int:
    """Own paints and widths vs free fitting matched afterwards: PSNR of each (dB)."""
    from animatepainter.planner.machine.adapt import apply_machine, machine_settings
    from animatepainter.planner.machine.profile import load_profile
    from animatepainter.planner.metrics import psnr as psnr_db
    from animatepainter.planner.render import render_plan
    from animatepainter.planner.teacher.pipeline import PaintSettings, plan_painting

    prof = load_profile(profile)
    own_fit = prof.matching == "nearest" and not prof.pens
    print(f"machine: {prof.name}; {strokes} strokes per image; own paints and widths in the fit: {own_fit}\n")
    head = f"{'image':<10} {'free then matched dB':>21} {'own paints dB':>14} {'gain dB':>8} {'free s':>7} {'own s':>7}"
    print(head)
    print("-" * len(head))
    gains = []
    for name, img in _images():
        own = machine_settings(PaintSettings(strokes=strokes, size=256, seed=0), prof)
        free = replace(own, paints=None, paint_names=None, brush_widths_mm=None)
        row = []
        for st in (free, own):
            t0 = time.perf_counter()
            res = plan_painting(img, st)
            plan, _ = apply_machine(res.plan, prof)
            secs = time.perf_counter() - t0
            row.append((psnr_db(res.image, render_plan(plan, width_px=res.image.shape[1])), secs))
        gain = row[1][0] - row[0][0]
        gains.append(gain)
        print(f"{name:<10} {row[0][0]:>21.2f} {row[1][0]:>14.2f} {gain:>+8.2f} {row[0][1]:>7.1f} {row[1][1]:>7.1f}")
    print(f"\nown paints gain: {min(gains):+.2f} to {max(gains):+.2f} dB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
