"""Benchmark of the frame-differencing extractor (`animatepainter extract`), issue 5.

On teacher-synthesised processes, where the true strokes are known (the teacher's
plan rendered step by step, blank canvas first; also once through an MP4 encode):

  * strokes extracted; PSNR of the rendered plan against the final frame and against
    the source image;
  * the teacher's own figures for the same stroke count: the teacher re-run with the
    extracted plan's stroke count, on the final frame (PSNR against the final frame)
    and on the image (PSNR against the image); and the plan that made the process;
  * per-step fidelity: PSNR of the plan rendered up to step t against frame t, every t;
  * order agreement: Kendall's tau-b (scipy) between the extracted strokes' order and
    the true order of the strokes covering the same pixels (``order_agreement``,
    "pixels": every pixel an extracted stroke visibly paints in its step names the
    true stroke whose paint it re-creates there, the one of nearest colour among the
    blank canvas and the true strokes the frames show at that pixel; the stroke's
    true order is the median execution index of those), plain and area-weighted;
    with the stricter readings ("match": one true stroke per extracted stroke by
    footprint likeness; "final": through the finished painting) and the metric's
    sanity checks: the extracted strokes in a random order (about 0) and the true
    strokes shuffled inside each step (high);
  * the gap at a second stroke count (the extractor with a lower --min-gain, so more
    strokes, and the teacher re-run at that count): the comparison holds along the
    curve, not only at the count the extractor picks;
  * throughput: frames/s and strokes/s of extraction at 256x256 and 512x512.

On the diffuser's output for held-out images (when a checkpoint is available: the
bundled one or ``--ckpt``): the same fidelity report against the generated frames
and the image, and a side-by-side contact sheet (frames vs plan renders) written
to ``--out``.

Run:  python bench/bench_extract.py [--quick] [--ckpt DIR] [--out DIR]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np

from animatepainter.export.video import write_mp4, write_png
from animatepainter.planner import PaintSettings, StrokePlan, make_scene, plan_painting, render_plan
from animatepainter.planner.extract import ExtractSettings, extract_plan, load_frames, order_agreement, per_step_psnr, psnr
from animatepainter.planner.extract.metrics import frames_vs_plan_sheet
from animatepainter.planner.render import render_steps


def skimage_image(name: str, size: int) -> np.ndarray:
    from skimage import data

    img = getattr(data, name)()
    h, w = img.shape[:2]
    s = min(h, w)
    img = img[(h - s) // 2 : (h - s) // 2 + s, (w - s) // 2 : (w - s) // 2 + s]
    return cv2.resize(img, (size, size), interpolation=cv2.INTER_AREA)


def teacher_process(image: np.ndarray, depth: np.ndarray | None, strokes: int, steps: int):
    """The teacher's plan of ``image`` and its process frames (blank first)."""
    size = image.shape[1]
    res = plan_painting(image, PaintSettings(strokes=strokes, size=size, steps=steps, seed=0), depth=depth)
    frames = np.stack([f for _, f in render_steps(res.plan, width_px=size)])
    return res, frames


def via_mp4(frames: np.ndarray) -> np.ndarray:
    """The frames after an H.264 encode and decode (codec noise, as a real video has)."""
    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / "process.mp4"
        write_mp4(list(frames), p, fps=4, hold_last_s=0)
        out, _ = load_frames(p)
    return out


def teacher_psnr(target: np.ndarray, strokes: int, depth: np.ndarray | None) -> float:
    size = target.shape[1]
    res = plan_painting(target, PaintSettings(strokes=max(strokes, 1), size=size, seed=0), depth=depth)
    return psnr(render_plan(res.plan, width_px=size), target)


def shuffled_orders(plan: StrokePlan, truth: StrokePlan) -> tuple[StrokePlan, StrokePlan]:
    """The metric's controls: ``plan``'s strokes in a random order (each taking the step
    of the stroke whose place it takes), and ``truth``'s strokes shuffled inside each step."""
    ss = plan.strokes
    perm = np.random.default_rng(0).permutation(len(ss))
    rand = plan.with_strokes([replace(ss[j], id=i, step=ss[i].step) for i, j in enumerate(perm)])
    steps = np.array([s.step for s in truth.strokes])
    inside = np.concatenate([np.random.default_rng(1).permutation(np.flatnonzero(steps == k)) for k in range(truth.n_steps)])
    return rand, truth.with_strokes([replace(truth.strokes[j], id=i) for i, j in enumerate(inside)])


def run_case(name: str, image: np.ndarray, depth: np.ndarray | None, strokes: int, steps: int, mp4: bool, refit: bool, sweep: tuple[float, ...] = ()) -> dict:
    size = image.shape[1]
    truth, frames = teacher_process(image, depth, strokes, steps)
    if mp4:
        frames = via_mp4(frames)
    t0 = time.perf_counter()
    res = extract_plan(frames, ExtractSettings())
    dt = time.perf_counter() - t0
    plan = res.plan
    n = len(plan.strokes)
    out = render_plan(plan, width_px=size)
    steps_psnr = per_step_psnr(plan, res.process.frames)
    row = {
        "case": name,
        "size_px": size,
        "frames": int(len(frames)),
        "true_strokes": len(truth.plan.strokes),
        "strokes": n,
        "psnr_final_db": round(psnr(out, frames[-1]), 2),
        "psnr_image_db": round(psnr(out, image), 2),
        "teacher_plan_psnr_image_db": round(psnr(render_plan(truth.plan, width_px=size), image), 2),
        "per_step_psnr_db": [round(v, 2) for v in steps_psnr],
        "per_step_min_db": round(min(steps_psnr), 2),
        "per_step_mean_db": round(float(np.mean(steps_psnr)), 2),
        "extract_s": round(dt, 2),
        "frames_per_s": round(len(frames) / dt, 2),
        "strokes_per_s": round(n / dt, 1),
    }
    agree = order_agreement(plan, truth.plan, width_px=size)
    row["tau"] = round(agree["tau"], 3)
    row["tau_area"] = round(agree["tau_area"], 3)
    row["tau_strokes"] = agree["strokes"]
    match = order_agreement(plan, truth.plan, width_px=size, mode="match")
    row["tau_match"] = round(match["tau"], 3)
    row["tau_match_area"] = round(match["tau_area"], 3)
    row["tau_final"] = round(order_agreement(plan, truth.plan, width_px=size, mode="final")["tau"], 3)
    rand, inside = shuffled_orders(plan, truth.plan)
    row["tau_random_order"] = round(order_agreement(rand, truth.plan, width_px=size)["tau"], 3)
    row["tau_truth_shuffled_in_steps"] = round(order_agreement(inside, truth.plan, width_px=size)["tau"], 3)
    if refit:
        row["teacher_same_n_psnr_final_db"] = round(teacher_psnr(frames[-1], n, depth), 2)
        row["teacher_same_n_psnr_image_db"] = round(teacher_psnr(image, n, depth), 2)
        row["gap_final_db"] = round(row["psnr_final_db"] - row["teacher_same_n_psnr_final_db"], 2)
        row["gap_image_db"] = round(row["psnr_image_db"] - row["teacher_same_n_psnr_image_db"], 2)
    row["sweep"] = []
    for mg in sweep:
        more = extract_plan(frames, ExtractSettings(min_gain=mg)).plan
        m = len(more.strokes)
        ours = psnr(render_plan(more, width_px=size), frames[-1])
        theirs = teacher_psnr(frames[-1], m, depth)
        row["sweep"].append({"min_gain": mg, "strokes": m, "psnr_final_db": round(ours, 2), "teacher_same_n_psnr_final_db": round(theirs, 2), "gap_final_db": round(ours - theirs, 2)})
    return row


def diffuser_rows(ckpt: str | None, size: int, outdir: Path) -> list[dict]:
    from animatepainter.model.generate import default_checkpoint, generate_process
    from animatepainter.model.pipeline import load_pipeline
    from animatepainter.planner.depth import estimate_depth
    from animatepainter.planner.errors import InputError

    try:
        path = ckpt or default_checkpoint()
        pipe = load_pipeline(path)
    except InputError as e:
        print(f"diffuser: skipped ({e})")
        return []
    held_out = {"scene-9101": make_scene(size, size, seed=9101).image, "chelsea": skimage_image("chelsea", size), "coffee": skimage_image("coffee", size)}
    rows = []
    for name, img in held_out.items():
        depth = estimate_depth(img)
        t0 = time.perf_counter()
        frames = generate_process(pipe, img, depth, steps=20, seed=0)
        t_gen = time.perf_counter() - t0
        t0 = time.perf_counter()
        res = extract_plan(frames, ExtractSettings(), image=img, depth=depth, engine="diffusion")
        dt = time.perf_counter() - t0
        plan = res.plan
        steps_psnr = per_step_psnr(plan, res.process.frames)
        rows.append(
            {
                "case": f"diffuser/{name}",
                "frames": int(len(frames)),
                "frame_px": int(frames.shape[2]),
                "size_px": size,
                "strokes": len(plan.strokes),
                "psnr_image_db": round(psnr(render_plan(plan, width_px=size), img), 2),
                "psnr_last_frame_db": round(steps_psnr[-1], 2),
                "per_step_psnr_db": [round(v, 2) for v in steps_psnr],
                "per_step_min_db": round(min(steps_psnr), 2),
                "per_step_mean_db": round(float(np.mean(steps_psnr)), 2),
                "teacher_same_n_psnr_image_db": round(teacher_psnr(img, len(plan.strokes), depth), 2),
                "generate_s": round(t_gen, 2),
                "extract_s": round(dt, 2),
            }
        )
        sheet = frames_vs_plan_sheet(plan, np.stack([cv2.resize(f, (size, size), interpolation=cv2.INTER_CUBIC) for f in res.process.frames]))
        write_png(sheet, outdir / f"diffuser_{name}_frames_vs_plan.png")
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="128 px cases only, no 512 px throughput run")
    ap.add_argument("--ckpt", default=None, help="diffuser checkpoint folder (default: the bundled one)")
    ap.add_argument("--out", default="out/bench_extract", help="folder for contact sheets and the JSON report")
    args = ap.parse_args(argv)
    outdir = Path(args.out)
    outdir.mkdir(parents=True, exist_ok=True)

    size, strokes = (128, 500) if args.quick else (256, 2000)
    scene = make_scene(size, size, seed=21)
    cases = [
        (f"scene-{size}", scene.image, scene.depth, False),
        (f"astronaut-{size}", skimage_image("astronaut", size), None, False),
        (f"scene-{size}-via-mp4", scene.image, scene.depth, True),
    ]
    rows = []
    sweep = () if args.quick else (0.15,)
    for name, img, dep, mp4 in cases:
        rows.append(run_case(name, img, dep, strokes, 24, mp4, refit=True, sweep=sweep))
        print(json.dumps({k: v for k, v in rows[-1].items() if k != "per_step_psnr_db"}), flush=True)
    if not args.quick:
        big = make_scene(512, 512, seed=21)
        rows.append(run_case("scene-512", big.image, big.depth, 4000, 24, False, refit=True))
        print(json.dumps({k: v for k, v in rows[-1].items() if k != "per_step_psnr_db"}), flush=True)
    diff = diffuser_rows(args.ckpt, size, outdir)
    for r in diff:
        print(json.dumps({k: v for k, v in r.items() if k != "per_step_psnr_db"}), flush=True)

    print("\nteacher-synthesised processes (true strokes known)")
    print(f"{'case':24s} {'true':>5s} {'ext':>5s} {'final':>6s} {'image':>6s} {'T@n fin':>7s} {'T@n img':>7s} {'gap f/i':>11s} {'step min/mean':>13s} {'tau':>5s} {'tau_a':>5s} {'tau_m':>5s} {'tau_ma':>6s} {'tau_f':>5s} {'rand':>5s} {'shuf':>5s}")
    for r in rows:
        gap = f"{r.get('gap_final_db', float('nan')):+.1f}/{r.get('gap_image_db', float('nan')):+.1f}"
        print(
            f"{r['case']:24s} {r['true_strokes']:5d} {r['strokes']:5d} {r['psnr_final_db']:6.2f} {r['psnr_image_db']:6.2f} "
            f"{r.get('teacher_same_n_psnr_final_db', float('nan')):7.2f} {r.get('teacher_same_n_psnr_image_db', float('nan')):7.2f} {gap:>11s} "
            f"{r['per_step_min_db']:6.2f}/{r['per_step_mean_db']:6.2f} {r['tau']:5.2f} {r['tau_area']:5.2f} {r['tau_match']:5.2f} {r['tau_match_area']:6.2f} "
            f"{r['tau_final']:5.2f} {r['tau_random_order']:5.2f} {r['tau_truth_shuffled_in_steps']:5.2f}"
        )
    print("  final/image: PSNR (dB) of the rendered plan against the final frame / the source image;")
    print("  T@n: the teacher re-run with the extracted stroke count on the final frame / the image; gap = extractor - teacher")
    print("  tau/tau_a: order agreement (\"pixels\", plain / area-weighted); tau_m/tau_ma: \"match\"; tau_f: \"final\";")
    print("  rand: tau of the extracted strokes in a random order (should be ~0); shuf: the true strokes shuffled inside steps (ceiling)")
    if any(r["sweep"] for r in rows):
        print("\nthe same comparison at more strokes (a lower --min-gain)")
        for r in rows:
            for sw in r["sweep"]:
                print(
                    f"  {r['case']:24s} min_gain {sw['min_gain']:<5g} {sw['strokes']:5d} strokes: final {sw['psnr_final_db']:.2f} dB, "
                    f"teacher at that count {sw['teacher_same_n_psnr_final_db']:.2f} dB, gap {sw['gap_final_db']:+.2f} dB"
                )
    print("\nthroughput (extraction only, this machine)")
    for r in rows:
        print(f"  {r['case']:24s} {r['size_px']}x{r['size_px']}: {r['frames']} frames in {r['extract_s']:.1f} s = {r['frames_per_s']:.2f} frames/s, {r['strokes_per_s']:.0f} strokes/s")
    if diff:
        print("\ndiffuser output, held-out images (no true strokes: fidelity only)")
        for r in diff:
            print(
                f"  {r['case']:24s} {r['frames']} frames at {r['frame_px']} px -> {r['strokes']} strokes at {r['size_px']} px: "
                f"PSNR vs image {r['psnr_image_db']:.2f} dB (teacher at that count {r['teacher_same_n_psnr_image_db']:.2f}), "
                f"per step min/mean {r['per_step_min_db']:.2f}/{r['per_step_mean_db']:.2f} dB; generate {r['generate_s']:.1f} s, extract {r['extract_s']:.1f} s"
            )
        print(f"  contact sheets: {outdir}/diffuser_*_frames_vs_plan.png")
    (outdir / "report.json").write_text(json.dumps({"teacher": rows, "diffuser": diff}, indent=1) + "\n")
    print(f"\nreport: {outdir / 'report.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
