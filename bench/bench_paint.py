"""Benchmark of the teacher planner (`animatepainter paint`), issue 2.

Prints, for skimage's astronaut and chelsea resized to 256x256 (rendering plan.json
at 256x256):
  * the PSNR / SSIM curve against the stroke budget (250 .. 4000);
  * at 2,000 strokes: strokes, PSNR, SSIM, pen-up travel, wall time of the whole
    `paint` command run in-process (imports excluded), and the fraction of stroke
    pairs that respect the layer order, by the plan's labels and by the depth under
    each stroke;
  * the same at 512x512 (reported, no target);
  * the public renderers measured on this machine (shared/notes, not rerun here);
  * with ``--scaling``: the scaling table (issue 13) over working sizes x stroke
    budgets on astronaut: wall time of the whole ``paint`` command (a fresh process),
    its strokes stage, peak RSS, PSNR and SSIM, for the previous release (a git
    worktree of ``--baseline``, run from its own source), this version without the
    refinement (``--refine 0``) and with it (the default), and the ratios.

Run:  python bench/bench_paint.py [--quick]
      python bench/bench_paint.py --scaling [--sizes 256,512,1024,2048] [--budgets 2000,10000,40000]
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


#: the last commit before the fitter's speed work (issue 13): the baseline of --scaling
BASELINE_REV = "57b7813"
ROOT = Path(__file__).resolve().parents[1]


def _baseline_tree(rev: str, tmp: Path) -> Path:
    """A folder whose ``animatepainter`` package is the source of ``rev`` (a git worktree
    with the four layers linked under one namespace, as the packaging installs them)."""
    import subprocess

    wt = tmp / "baseline-src"
    subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", "-f", str(wt), rev], check=True, capture_output=True)
    ns = tmp / "baseline-path" / "animatepainter"
    ns.mkdir(parents=True)
    for top in ("planner", "model", "export", "cli"):
        if (wt / top).is_dir():
            (ns / top).symlink_to(wt / top)
    return ns.parent


def _run_paint(src: Path, out: Path, size: int, budget: int, extra: list[str], pythonpath: Path | None, timeout: float) -> dict:
    """Run ``paint`` in a fresh process; returns wall time, peak RSS and the report."""
    import os
    import subprocess
    import sysconfig

    # the child reports its own peak RSS (KiB on Linux) on its last stderr line
    code = "import sys, resource; from animatepainter.cli import main; rc = main(sys.argv[1:]); print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr); sys.exit(rc)"
    args = ["-q", "paint", str(src), "-o", str(out), "--size", str(size), "--strokes", str(budget), "--seed", "7", *extra]
    env = dict(os.environ)
    cmd = [sys.executable, "-c", code, *args]
    if pythonpath is not None:  # the baseline's own source, not the installed package
        env["PYTHONPATH"] = os.pathsep.join([str(pythonpath), sysconfig.get_paths()["purelib"]])
        cmd = [sys.executable, "-S", "-c", code, *args]
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        _, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        return {"timeout": True}
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        sys.exit(f"paint failed ({proc.returncode}): {err.decode()[-500:]}")
    rss_mb = int(err.decode().strip().splitlines()[-1]) / 1024.0
    rep = json.loads((out / "report.json").read_text())
    return {"wall": wall, "rss_mb": rss_mb, "strokes_s": rep["wall_time_s"].get("strokes_s", float("nan")), "refine_s": rep["wall_time_s"].get("refine_s", 0.0), "psnr": rep["psnr_db"], "ssim": rep["ssim"], "n": rep["strokes"]}


def scaling(sizes: list[int], budgets: list[int], baseline: str, timeout: float, baseline_max_size: int = 4096) -> None:
    """The scaling table of issue 13 (see the module docstring)."""
    print(f"\n== Scaling: `paint` on astronaut, --seed 7, a fresh process per run; baseline = {baseline} (previous release)")
    hdr = f"{'size':>5}{'strokes':>8}  {'version':<14}{'wall s':>8}{'strokes s':>10}{'refine s':>9}{'peak MB':>9}{'PSNR dB':>9}{'SSIM':>7}{'speed-up':>9}"
    print(hdr)
    with tempfile.TemporaryDirectory() as td:
        tmp = Path(td)
        src = tmp / "astronaut.png"
        Image.fromarray(data.astronaut()).save(src)
        base_path = _baseline_tree(baseline, tmp)
        try:
            for size in sizes:
                for budget in budgets:
                    skip = {"skipped": True}
                    rows = {
                        "previous": _run_paint(src, tmp / "b", size, budget, [], base_path, timeout) if size <= baseline_max_size else skip,
                        "new, refine 0": _run_paint(src, tmp / "n0", size, budget, ["--refine", "0"], None, timeout),
                        "new": _run_paint(src, tmp / "n", size, budget, [], None, timeout),
                    }
                    prev = rows["previous"]
                    for name, r in rows.items():
                        if r.get("skipped"):
                            print(f"{size:>5}{budget:>8}  {name:<14}{'not run (--baseline-max-size)':>30}")
                            continue
                        if r.get("timeout"):
                            print(f"{size:>5}{budget:>8}  {name:<14}{'> ' + format(timeout, '.0f'):>8}")
                            continue
                        ratio = f"{prev['wall'] / r['wall']:.1f}x" if "wall" in prev and name != "previous" else ""
                        print(f"{size:>5}{budget:>8}  {name:<14}{r['wall']:>8.1f}{r['strokes_s']:>10.1f}{r['refine_s']:>9.1f}{r['rss_mb']:>9.0f}{r['psnr']:>9.2f}{r['ssim']:>7.3f}{ratio:>9}")
                    sys.stdout.flush()
        finally:
            import subprocess

            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(tmp / "baseline-src")], capture_output=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="skip the budget curve and the 512 px run")
    ap.add_argument("--scaling", action="store_true", help="only the scaling table (working size x strokes, against --baseline)")
    ap.add_argument("--sizes", default="256,512,1024,2048", help="working sizes of the scaling table, px (comma-separated)")
    ap.add_argument("--budgets", default="2000,10000,40000", help="stroke budgets of the scaling table (comma-separated)")
    ap.add_argument("--baseline", default=BASELINE_REV, help="git revision of the previous release (scaling table)")
    ap.add_argument("--timeout", type=float, default=1800.0, help="longest a single run may take, s (scaling table)")
    ap.add_argument("--baseline-max-size", type=int, default=4096, help="largest working size the previous release is run at, px (scaling table; it takes minutes at 1,024 px)")
    args = ap.parse_args()
    if args.scaling:
        scaling([int(v) for v in args.sizes.split(",")], [int(v) for v in args.budgets.split(",")], args.baseline, args.timeout, args.baseline_max_size)
        return
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
