"""Frame-differencing stroke extraction: a painting process (frames or a video) to an
ordered :class:`~animatepainter.planner.plan.StrokePlan`.

Quick start::

    from animatepainter.planner.extract import load_frames, extract_plan, ExtractSettings
    frames, _ = load_frames("timelapse.mp4")
    result = extract_plan(frames, ExtractSettings(palette=12))
    result.plan.save("plan.json")

Modules: :mod:`.frames` (reading and checking a process), :mod:`.change` (where and
when paint changes), :mod:`.fill` (regions to brush paths with shapely), :mod:`.fitstep`
(one step's strokes), :mod:`.refine` (sub-pixel placement of a path), :mod:`.core`
(the extractor), :mod:`.metrics` (fidelity and order agreement against a known plan).
"""

from __future__ import annotations

from animatepainter.planner.extract.change import ChangeSettings, Changes, detect_changes, hold_means
from animatepainter.planner.extract.core import ExtractResult, ExtractSettings, default_brushes_mm, extract_plan
from animatepainter.planner.extract.fill import FillSettings, cover_paths, mask_to_polygon
from animatepainter.planner.extract.frames import Process, load_frames, prepare_process, remove_occlusions
from animatepainter.planner.extract.metrics import order_agreement, per_step_psnr, pixel_true_order, top_stroke_map
from animatepainter.planner.metrics import psnr
from animatepainter.planner.extract.refine import refine_path

__all__ = [
    "ChangeSettings",
    "Changes",
    "detect_changes",
    "hold_means",
    "ExtractResult",
    "ExtractSettings",
    "default_brushes_mm",
    "extract_plan",
    "FillSettings",
    "cover_paths",
    "mask_to_polygon",
    "Process",
    "load_frames",
    "prepare_process",
    "remove_occlusions",
    "order_agreement",
    "per_step_psnr",
    "pixel_true_order",
    "refine_path",
    "psnr",
    "top_stroke_map",
]
