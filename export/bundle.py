"""The output folder of ``paint`` (and every engine that ends in a plan).

Files, all written into a staging folder and published together
(:class:`animatepainter.planner.atomic.OutputDir`):

``plan.json``   the StrokePlan (validated against its JSON Schema)
``plan.svg``    the plan in mm, an Inkscape layer per process step
``process.mp4`` blank canvas to finished painting
``contact.png`` the process as a grid of steps, beside the source and its depth
``report.json`` stroke count, PSNR/SSIM of the rendered plan against the image,
                pen-up travel, wall time of each stage
``depth.png``   the depth map used (white = nearest), when there is one
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any

import numpy as np

from animatepainter.planner.atomic import OutputDir, atomic_write_bytes
from animatepainter.planner.metrics import plan_metrics
from animatepainter.planner.process import process_report
from animatepainter.planner.plan import StrokePlan
from animatepainter.planner.progress import NULL_PROGRESS, Progress
from animatepainter.planner.render import render_progress, step_ends

from animatepainter.export.svg import write_svg
from animatepainter.export.video import contact_sheet, write_mp4, write_png

log = logging.getLogger(__name__)

__all__ = ["write_outputs", "step_caption"]


def step_caption(plan: StrokePlan, step: int) -> str:
    """Short caption of a process step: layers, levels and stroke count."""
    ss = [s for s in plan.strokes if s.step == step]
    if not ss:
        return f"step {step}"
    lay = sorted({s.layer for s in ss})
    lev = sorted({s.level for s in ss})
    fmt = lambda v: str(v[0]) if len(v) == 1 else f"{v[0]}-{v[-1]}"  # noqa: E731
    return f"{step}: L{fmt(lay)} lv{fmt(lev)} n{len(ss)}"


def _video_frames(plan: StrokePlan, width_px: int, n_frames: int):
    n = len(plan.strokes)
    cuts = sorted(set(np.linspace(0, n, max(n_frames, 2)).round().astype(int).tolist()))
    return render_progress(plan, cuts, width_px, region="canvas")


def write_outputs(
    plan: StrokePlan,
    image: np.ndarray,
    outdir: str | Path,
    depth: np.ndarray | None = None,
    timings: dict[str, float] | None = None,
    extra_report: dict[str, Any] | None = None,
    video_px: int = 512,
    video_frames: int = 96,
    fps: float = 24.0,
    progress: Progress = NULL_PROGRESS,
) -> dict[str, Any]:
    """Write the standard outputs of a plan into ``outdir``, all or nothing.

    Args:
        plan: the plan.
        image: uint8 ``(h, w, 3)`` the working image the plan reproduces.
        outdir: output folder (created; existing files of the same names replaced).
        depth: float32 ``(h, w)`` depth in [0, 1] to show and save, optional.
        timings: stage wall times so far (seconds), copied into the report.
        extra_report: more fields for ``report.json``.
        video_px: width of the video frames, px (even).
        video_frames: frames of painting in the video (plus a one-second hold).
        fps: video frame rate.
        progress: progress display.

    Returns:
        the report (as written to ``report.json``).
    """
    timings = dict(timings or {})
    with OutputDir(outdir) as stage:
        t0 = time.perf_counter()
        with progress.stage("write plan", 2) as st:
            plan.save(stage / "plan.json")
            st.advance(1)
            write_svg(plan, stage / "plan.svg")
            st.advance(1)
        timings["write_plan_s"] = time.perf_counter() - t0

        t0 = time.perf_counter()
        with progress.stage("video", video_frames) as st:
            frames = _video_frames(plan, video_px - video_px % 2, video_frames)

            def counted():
                for f in frames:
                    st.advance(1)
                    yield f

            write_mp4(counted(), stage / "process.mp4", fps=fps)
        timings["video_s"] = time.perf_counter() - t0

        t0 = time.perf_counter()
        with progress.stage("contact sheet", 1) as st:
            ends = step_ends(plan)
            shots = list(render_progress(plan, ends, image.shape[1], region="image"))
            tiles = shots + [image]
            labels = [step_caption(plan, i) for i in range(len(ends))] + ["source"]
            if depth is not None:
                d8 = np.clip(np.rint(depth * 255.0), 0, 255).astype(np.uint8)
                tiles.append(d8)
                labels.append("depth (white = near)")
                write_png(d8, stage / "depth.png")
            write_png(contact_sheet(tiles, labels), stage / "contact.png")
            st.advance(1)
        timings["contact_s"] = time.perf_counter() - t0

        t0 = time.perf_counter()
        report: dict[str, Any] = plan_metrics(plan, image, shots[-1] if shots else None)
        report.update(process_report(plan, image))
        timings["metrics_s"] = time.perf_counter() - t0
        report["engine"] = plan.meta.get("engine")
        report["canvas_mm"] = [plan.canvas.width_mm, plan.canvas.height_mm]
        report["image_px"] = list(image.shape[1::-1])
        report.update(extra_report or {})
        report["wall_time_s"] = {k: round(v, 3) for k, v in timings.items()}
        report["wall_time_s"]["total"] = round(sum(timings.values()), 3)
        atomic_write_bytes(stage / "report.json", (json.dumps(report, indent=2) + "\n").encode())
    return report
