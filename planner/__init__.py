"""AnimatePainter's CPU core: the plan data model, depth, layering, stroke-based
rendering, ordering and the teacher planner.

Quick start::

    from animatepainter.planner import load_image, plan_painting, PaintSettings
    result = plan_painting(load_image("photo.jpg"), PaintSettings(strokes=2000))
    result.plan.save("plan.json")
"""

from __future__ import annotations

import logging
from importlib import metadata as _metadata

try:
    __version__ = _metadata.version("animatepainter")
except _metadata.PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+unknown"

from animatepainter.planner.depth import estimate_depth, prior_depth
from animatepainter.planner.errors import AnimatePainterError, InputError, OutputError, PlanError, SettingsError
from animatepainter.planner.images import load_depth, load_image
from animatepainter.planner.layers import depth_layers
from animatepainter.planner.teacher.pipeline import PaintResult, PaintSettings, plan_painting
from animatepainter.planner.plan import Brush, Canvas, Paint, Stroke, StrokePlan, load_plan, schema_path
from animatepainter.planner.render import render_plan, render_steps
from animatepainter.planner.scenes import Scene, make_scene

logging.getLogger(__name__).addHandler(logging.NullHandler())

__all__ = [
    "__version__",
    "AnimatePainterError",
    "InputError",
    "OutputError",
    "PlanError",
    "SettingsError",
    "Brush",
    "Canvas",
    "Paint",
    "Stroke",
    "StrokePlan",
    "load_plan",
    "schema_path",
    "load_image",
    "load_depth",
    "estimate_depth",
    "prior_depth",
    "depth_layers",
    "PaintSettings",
    "PaintResult",
    "plan_painting",
    "render_plan",
    "render_steps",
    "Scene",
    "make_scene",
]
