"""The painting process, judged step by step: today's release against this version.

For each photograph (the skimage ones the project uses, and its own example) x engine
(teacher, diffusion) x setup (default, ``--machine painting-arm``), ``paint`` runs in a
fresh process twice: with the previous release (a git worktree of ``--baseline``, run
from its own source and its own bundled checkpoint) and with this version. Both plans
are then measured the same way, by this version's
:func:`animatepainter.planner.process.process_figures`:

* colour error: CIEDE2000 between each stroke's colour and the picture's colour under
  it: shares above 10 and 20, median;
* hidden: share of strokes with less than 5 % of their coverage visible in the end;
* brushes: distinct stroke widths;
* PSNR, SSIM and the layer-order fraction of the finished plan (``report.json``);
* steps: each step's canvas, on the pixels painted so far, against the picture blurred
  to that step's brush scale (PSNR dB; the worst and the median step);
* structure: inside each (layer, level) group, Spearman(position, stroke length)
  (negative: long strokes first), and the pen-up travel (m), beside the travel of the
  same plan ordered nearest first (the previous release's order: the price of
  structure first);
* seconds: ``paint``'s wall time.

It prints one table per engine and setup and writes a contact sheet
(``--sheet``, default ``bench_process.png``) with, per photograph, the previous and the
new process side by side (six steps and the finished painting each).

``--layers-timing`` prints instead ``paint``'s time by ``--layers`` (1, 3, 6, 12, auto).

Run: ``python bench/bench_process.py [--quick] [--engines teacher,diffusion]
[--setups default,machine] [--baseline REV]`` or ``--layers-timing``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

from bench_paint import _baseline_tree  # noqa: E402 - the same worktree mechanism

#: today's release: main before the process work (issue 19)
BASELINE_REV = "005e213"
PHOTOS = ("astronaut", "chelsea", "coffee", "rocket", "motorcycle_left", "camera", "landscape")
QUICK = ("astronaut", "chelsea", "landscape")


def _photo(name: str) -> np.ndarray:
    from skimage import data

    from animatepainter.planner.images import load_image

    if name == "landscape":
        return load_image(ROOT / "planner" / "data" / "examples" / "landscape.png")
    if name == "motorcycle_left":
        return data.stereo_motorcycle()[0]
    img = getattr(data, name)()
    return np.stack([img] * 3, axis=-1) if img.ndim == 2 else img


def _paint(src: Path, out: Path, args: list[str], pythonpath: Path | None, timeout: float) -> float:
    """``paint SRC -o OUT ARGS`` in a fresh process (the baseline's own source when
    ``pythonpath`` is given); returns its wall time, s."""
    import os
    import sysconfig

    code = "import sys; from animatepainter.cli import main; sys.exit(main(sys.argv[1:]))"
    env = dict(os.environ, OMP_NUM_THREADS="1")
    cmd = [sys.executable, "-c", code, "-q", "paint", str(src), "-o", str(out), *args]
    if pythonpath is not None:
        env["PYTHONPATH"] = os.pathsep.join([str(pythonpath), sysconfig.get_paths()["purelib"]])
        cmd = [sys.executable, "-S", "-c", code, "-q", "paint", str(src), "-o", str(out), *args]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, timeout=timeout)
    if proc.returncode != 0:
        sys.exit(f"paint failed ({proc.returncode}): {proc.stderr.decode()[-600:]}")
    return time.perf_counter() - t0


def _structure(plan) -> float:
    """Mean over (layer, level) groups of 10+ strokes of Spearman(position, length)."""
    from scipy.stats import spearmanr

    groups: dict[tuple[int, int], list[float]] = {}
    for s in plan.strokes:
        pts = np.asarray(s.points)
        groups.setdefault((s.layer, s.level), []).append(float(np.hypot(*np.diff(pts, axis=0).T).sum()) if len(pts) > 1 else 0.0)
    rhos = [spearmanr(np.arange(len(v)), v).statistic for v in groups.values() if len(v) >= 10 and np.ptp(v) > 0]
    return float(np.nanmean(rhos)) if rhos else float("nan")


def _travel_nearest_first(plan) -> float:
    """Pen-up travel (m) of the same plan's strokes ordered nearest first inside each
    group (the previous release's order), for the structure-first order's price."""
    from animatepainter.planner.order import order_groups, travel_length

    lines = [np.asarray(s.points) for s in plan.strokes]
    groups = [(s.layer, s.level) for s in plan.strokes]
    radii = [s.width_mm / 2 + plan.canvas.mm_per_px / 2 for s in plan.strokes]
    order, flips = order_groups(lines, groups, radii, structure=0.0)
    return travel_length([lines[i][::-1] if f else lines[i] for i, f in zip(order, flips)]) / 1000.0


def _measure(out: Path, image: np.ndarray) -> dict:
    from animatepainter.planner import load_plan
    from animatepainter.planner.images import resize_long_side
    from animatepainter.planner.process import process_figures

    plan = load_plan(out / "plan.json")
    rep = json.loads((out / "report.json").read_text())
    w, h = rep["image_px"]
    work = resize_long_side(image, max(w, h))
    f = process_figures(plan, work)
    return {
        "plan": plan,
        "work": work,
        "strokes": len(plan.strokes),
        "de10": f["colour_error"]["share_above_10"],
        "de20": f["colour_error"]["share_above_20"],
        "de_med": f["colour_error"]["median"],
        "hidden": f["hidden_share"],
        "brushes": f["n_brush_widths"],
        "psnr": rep["psnr_db"],
        "ssim": rep["ssim"],
        "layer_order": rep["layer_order_fraction"],
        "step_min": f.get("steps_psnr_min_db", float("nan")),
        "step_med": f.get("steps_psnr_median_db", float("nan")),
        "structure": _structure(plan),
        "travel_m": rep["pen_up_travel_mm"] / 1000.0,
        "travel_nearest_m": _travel_nearest_first(plan) if not plan.meta.get("machine") else float("nan"),
    }


def _strip(m: dict, tile: int = 112) -> list[np.ndarray]:
    """Six steps spread over the process and the finished painting."""
    from animatepainter.planner.render import render_progress, step_ends

    plan = m["plan"]
    ends = step_ends(plan)
    pick = sorted({ends[int(round(i))] for i in np.linspace(0, len(ends) - 1, 7)[:-1]}) + [len(plan.strokes)]
    return list(render_progress(plan, pick, width_px=tile, region="image"))


HEAD = f"{'photo':<16}{'version':<9}{'strokes':>8}{'>10dE':>7}{'>20dE':>7}{'med dE':>7}{'hidden':>7}{'brush':>6}{'PSNR':>7}{'SSIM':>6}{'layer':>6}{'stepmin':>8}{'stepmed':>8}{'struct':>7}{'travel':>7}{'sec':>6}"


def _row(name: str, version: str, m: dict) -> str:
    return (
        f"{name:<16}{version:<9}{m['strokes']:>8}{m['de10']:>7.3f}{m['de20']:>7.3f}{m['de_med']:>7.2f}{m['hidden']:>7.3f}{m['brushes']:>6}"
        f"{m['psnr']:>7.2f}{m['ssim']:>6.3f}{m['layer_order']:>6.2f}{m['step_min']:>8.2f}{m['step_med']:>8.2f}{m['structure']:>7.2f}{m['travel_m']:>7.1f}{m['sec']:>6.0f}"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help=f"three photographs ({', '.join(QUICK)})")
    ap.add_argument("--photos", default=None, help="comma-separated photographs (default: all seven)")
    ap.add_argument("--engines", default="teacher,diffusion", help="teacher and/or diffusion")
    ap.add_argument("--setups", default="default,machine", help="default and/or machine (--machine painting-arm)")
    ap.add_argument("--baseline", default=BASELINE_REV, help="git revision of the previous release")
    ap.add_argument("--size", type=int, default=256, help="working size, px")
    ap.add_argument("--strokes", type=int, default=2000, help="stroke budget")
    ap.add_argument("--timeout", type=float, default=1800.0, help="most seconds one paint may take")
    ap.add_argument("--sheet", default="bench_process.png", help="contact sheet to write (before | after per photograph)")
    ap.add_argument("--json", default=None, help="also write the figures as JSON here")
    ap.add_argument("--layers-timing", action="store_true", help="only the time of --layers 1, 3, 6, 12 and auto (teacher, astronaut and chelsea)")
    args = ap.parse_args()
    if args.layers_timing:
        layers_timing(args.size, args.strokes, args.timeout)
        return
    from animatepainter.planner.sheets import contact_sheet

    photos = args.photos.split(",") if args.photos else (QUICK if args.quick else PHOTOS)
    engines = [e for e in args.engines.split(",") if e]
    setups = [s for s in args.setups.split(",") if s]
    results: dict = {}
    tiles: list[np.ndarray] = []
    labels: list[str] = []
    with tempfile.TemporaryDirectory() as td:
        tmp = Path(td)
        base = _baseline_tree(args.baseline, tmp)
        try:
            for engine in engines:
                for setup in setups:
                    extra = ["--size", str(args.size), "--strokes", str(args.strokes), "--seed", "0", "--engine", engine, "--video-px", "64"]
                    if setup == "machine":
                        extra += ["--machine", "painting-arm"]
                    print(f"\n== {engine}, {setup}: {args.size} px, {args.strokes} strokes; before = {args.baseline}, after = this version")
                    print(HEAD)
                    for name in photos:
                        img = _photo(name)
                        src = tmp / f"{name}.png"
                        Image.fromarray(img).save(src)
                        for version, pp in (("before", base), ("after", None)):
                            out = tmp / f"{name}-{engine}-{setup}-{version}"
                            sec = _paint(src, out, extra, pp, args.timeout)
                            m = _measure(out, img)
                            m["sec"] = sec
                            print(_row(name, version, m), flush=True)
                            results.setdefault(engine, {}).setdefault(setup, {}).setdefault(name, {})[version] = {k: v for k, v in m.items() if k not in ("plan", "work")}
                            if setup == "default":
                                strip = _strip(m)
                                tiles += strip
                                short = {"teacher": "T", "diffusion": "D"}.get(engine, engine)
                                labels += [f"{name[:9]} {short} {version}"] + [f"{version} {i + 2}" for i in range(len(strip) - 2)] + [f"{version} end"]
                    _summary(results[engine][setup])
        finally:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(tmp / "baseline-src")], capture_output=True)
    if tiles:
        from animatepainter.export.video import write_png

        write_png(contact_sheet(tiles, labels, cols=7, tile_px=112), args.sheet)
        print(f"\ncontact sheet: {args.sheet} (rows: each photograph's process before, then after)")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1, default=float))


def layers_timing(size: int, strokes: int, timeout: float, repeats: int = 2) -> None:
    """``paint`` wall time by ``--layers`` (the fastest of ``repeats`` runs), and its ratio
    to ``--layers 3`` (goal: 12 layers at most 1.5 times 3)."""
    print(f"\n== --layers: paint wall time, {size} px, {strokes} strokes, fastest of {repeats}")
    print(f"{'photo':<12}{'layers':>8}{'used':>6}{'wall s':>8}{'x layers 3':>11}{'PSNR':>7}")
    with tempfile.TemporaryDirectory() as td:
        tmp = Path(td)
        for name in ("astronaut", "chelsea"):
            src = tmp / f"{name}.png"
            Image.fromarray(_photo(name)).save(src)
            base = None
            for k in ("3", "1", "6", "12", "auto"):
                out = tmp / f"{name}-{k}"
                sec = min(_paint(src, out, ["--size", str(size), "--strokes", str(strokes), "--layers", k, "--video-px", "64"], None, timeout) for _ in range(repeats))
                rep = json.loads((out / "report.json").read_text())
                base = sec if k == "3" else base
                print(f"{name:<12}{k:>8}{rep.get('depth_layers', 0):>6}{sec:>8.1f}{sec / base:>11.2f}{rep['psnr_db']:>7.2f}", flush=True)


def _summary(rows: dict) -> None:
    """Means over the photographs, before and after, and the travel ratio."""
    keys = ("de10", "de20", "hidden", "brushes", "psnr", "ssim", "step_min", "step_med", "structure", "travel_m", "sec")
    for version in ("before", "after"):
        vals = {k: float(np.nanmean([r[version][k] for r in rows.values()])) for k in keys}
        print(f"{'mean':<16}{version:<9}" + "  ".join(f"{k} {v:.3f}" for k, v in vals.items()))
    tr = np.mean([r["after"]["travel_m"] / r["before"]["travel_m"] for r in rows.values()])
    own = np.nanmean([r["after"]["travel_m"] / r["after"]["travel_nearest_m"] for r in rows.values()])
    print(f"pen-up travel after / before: {tr:.3f}; structure-first / nearest-first on the same plans: {own:.3f}")


if __name__ == "__main__":
    main()
