"""The teacher: the stroke-based engine that plans a painting in the painter's order.

:func:`~.pipeline.plan_painting` (image -> depth -> layers -> strokes -> order -> plan)
with its :class:`~.pipeline.PaintSettings`; :mod:`.sbr` fits the strokes (greedy
stroke-based rendering along the image's isophotes).
"""

from __future__ import annotations

from animatepainter.planner.teacher.pipeline import PaintResult, PaintSettings, assign_steps, plan_painting, working_image_and_depth
from animatepainter.planner.teacher.sbr import FitSettings, fit_strokes, level_widths

__all__ = ["PaintResult", "PaintSettings", "assign_steps", "plan_painting", "working_image_and_depth", "FitSettings", "fit_strokes", "level_widths"]
