"""The simulated rig: paint a plan's strokes the way a real rig would.

Each stroke executed gets seeded errors (:class:`~.profile.Execution`):

* position: the whole rig is rotated by ``rotation_deg`` about the canvas centre and
  shifted by ``offset_mm``; each stroke is shifted by a further ``N(0, position_noise_mm)``
  per axis;
* width: ``commanded x (1 + width_bias) x (1 + N(0, width_noise))`` (at least 10 %);
* colour: ``N(0, color_noise)`` added per channel (RGB 0..255);
* paint running dry: a stroke's coverage falls linearly from ``opacity_start`` (just
  after a dip) to ``opacity_end`` (the brush's ``capacity_mm`` of pen-down length used);
  a stroke paints ``canvas = canvas (1 - a c) + rgb a c`` with ``a`` the renderer's
  anti-aliased coverage and ``c`` the stroke's coverage at its midpoint.

The errors of the k-th stroke executed come from ``numpy.random.default_rng([seed, k])``,
so a closed loop and an open loop with the same seed draw the same errors for the same
position in the run, and painting strokes in chunks gives the same canvas as painting
them at once (the state carries over in :class:`RigState`).

Canvases are float32 ``(H, W, 3)`` RGB in ``[0, 1]`` in the plan's pixel frame
(``plan.canvas.image_px``, the source image's box on the canvas): the ground truth of
what is on the canvas.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Sequence

import numpy as np

from animatepainter.planner.errors import PlanError
from animatepainter.planner.machine.adapt import insert_actions
from animatepainter.planner.plan import Stroke, StrokePlan
from animatepainter.planner.render import new_canvas, stroke_bbox, stroke_coverage
from animatepainter.planner.rig.profile import RigProfile

__all__ = ["RigState", "ExecutedStroke", "check_plan_for_rig", "blank_canvas", "execute_strokes", "rig_transform"]


@dataclass
class RigState:
    """What the rig carries from one stroke to the next.

    Attributes:
        executed: strokes painted so far (numbers the per-stroke error draws).
        load_mm: pen-down length painted since the last dip, mm.
        brush, paint: what the brush holds (``None``: nothing yet).
    """

    executed: int = 0
    load_mm: float = 0.0
    brush: int | None = None
    paint: int | None = None


@dataclass(frozen=True)
class ExecutedStroke:
    """One stroke as the rig painted it (for reports and calibration).

    Attributes:
        index: the stroke's index in the plan.
        points_mm: float64 ``(n, 2)`` where it really went, canvas mm.
        width_mm: the width it really painted, mm.
        rgb: the colour it really left, RGB 0..255 (floats).
        opacity: its coverage, 0..1.
    """

    index: int
    points_mm: np.ndarray
    width_mm: float
    rgb: tuple[float, float, float]
    opacity: float


def check_plan_for_rig(plan: StrokePlan, rig: RigProfile) -> None:
    """Raise :class:`PlanError` unless ``plan`` is laid out on the rig's canvas (made
    with ``paint --machine`` for this rig, or a profile of the same canvas)."""
    from animatepainter.planner.machine.profile import bundled_profiles

    mc = rig.machine.canvas
    c = plan.canvas
    if abs(c.width_mm - mc.width_mm) > 1e-3 or abs(c.height_mm - mc.height_mm) > 1e-3:
        bundled = {str(p): name for name, p in bundled_profiles().items()}
        raise PlanError(
            f"the plan is for a {c.width_mm:g} x {c.height_mm:g} mm canvas, the rig's is {mc.width_mm:g} x {mc.height_mm:g} mm; "
            f"make the plan with `paint --machine {bundled.get(rig.source, rig.source)}`"
        )


def blank_canvas(plan: StrokePlan) -> np.ndarray:
    """The blank canvas in the plan's pixel frame: float32 ``(H, W, 3)`` in [0, 1]."""
    w, h = plan.canvas.image_px
    return new_canvas(h, w, np.asarray(plan.canvas.background, np.float32) / 255.0)


def rig_transform(rig: RigProfile, points_mm: np.ndarray) -> np.ndarray:
    """Where the rig puts commanded canvas points: its constant rotation about the
    canvas centre and its offset (no per-stroke noise). float64 ``(n, 2)`` mm."""
    ex, mc = rig.execution, rig.machine.canvas
    c = np.array([mc.width_mm / 2.0, mc.height_mm / 2.0])
    t = math.radians(ex.rotation_deg)
    rot = np.array([[math.cos(t), -math.sin(t)], [math.sin(t), math.cos(t)]])
    return (np.asarray(points_mm, np.float64) - c) @ rot.T + c + np.asarray(ex.offset_mm)


def _capacity(rig: RigProfile, width_mm: float) -> float:
    """Pen-down length one dip of the rig's brush nearest ``width_mm`` paints, mm."""
    brushes = rig.machine.brushes
    b = min(brushes, key=lambda b: (abs(b.width_mm - width_mm), b.width_mm))
    return b.capacity_mm if b.capacity_mm > 0 else math.inf


def execute_strokes(
    plan: StrokePlan,
    rig: RigProfile,
    canvas: np.ndarray | None = None,
    start: int = 0,
    stop: int | None = None,
    seed: int = 0,
    state: RigState | None = None,
) -> tuple[np.ndarray, RigState, list[ExecutedStroke]]:
    """Paint strokes ``start .. stop - 1`` of ``plan`` with the rig's errors.

    Args:
        plan: a plan on the rig's canvas (:func:`check_plan_for_rig`); its ``dip``
            actions reload the brush (a plan without actions gets the machine's, see
            :func:`~animatepainter.planner.machine.adapt.insert_actions`).
        rig: the rig.
        canvas: float32 ``(H, W, 3)`` in [0, 1] in the plan's pixel frame, painted in
            place (a copy is not made); ``None``: the blank canvas.
        start, stop: the strokes to paint (``stop`` ``None``: to the end).
        seed: seed of the errors.
        state: the rig's state after the strokes painted before (``None``: a fresh rig,
            brush clean).

    Returns:
        ``(canvas, state, executed)``.
    """
    check_plan_for_rig(plan, rig)
    n = len(plan.strokes)
    stop = n if stop is None else stop
    if not 0 <= start <= stop <= n:
        raise PlanError(f"strokes {start}..{stop - 1} are not in the plan's 0..{n - 1}")
    if canvas is None:
        canvas = blank_canvas(plan)
    w_px, h_px = plan.canvas.image_px
    if canvas.shape != (h_px, w_px, 3):
        raise PlanError(f"the canvas is {canvas.shape[1]}x{canvas.shape[0]} px, the plan's pixel frame is {w_px}x{h_px} px")
    state = replace(state) if state is not None else RigState()
    strokes: Sequence[Stroke] = plan.strokes
    if not any(s.actions for s in strokes):
        strokes = insert_actions(strokes, rig.machine) if not rig.machine.pens else strokes
    ex = rig.execution
    mm = plan.canvas.mm_per_px
    box = np.asarray(plan.canvas.image_box_mm[:2], np.float64)
    done: list[ExecutedStroke] = []
    for i in range(start, stop):
        s = strokes[i]
        rng = np.random.default_rng([seed, state.executed])
        shift = rng.normal(0.0, 1.0, 2) * ex.position_noise_mm
        wscale = max(1.0 + rng.normal() * ex.width_noise, 0.1) * (1.0 + ex.width_bias)
        rgb = np.clip(np.asarray(s.rgb, np.float64) + rng.normal(0.0, 1.0, 3) * ex.color_noise, 0.0, 255.0)
        if "dip" in s.actions or s.brush != state.brush or s.paint != state.paint:
            state.load_mm = 0.0
        length = s.length_mm
        cap = _capacity(rig, s.width_mm)
        used = min((state.load_mm + length / 2.0) / cap, 1.0) if math.isfinite(cap) else 0.0
        opacity = ex.opacity_start + (ex.opacity_end - ex.opacity_start) * used
        state.load_mm += length
        state.brush, state.paint = s.brush, s.paint
        state.executed += 1
        pts_mm = rig_transform(rig, s.points) + shift
        width_mm = max(s.width_mm * wscale, 1e-3)
        done.append(ExecutedStroke(i, pts_mm, width_mm, tuple(float(v) for v in rgb), float(opacity)))
        pts = (pts_mm - box) / mm
        wpx = width_mm / mm
        bb = stroke_bbox(pts, wpx, (h_px, w_px))
        y0, y1, x0, x1 = bb
        if y1 <= y0 or x1 <= x0:
            continue
        a = stroke_coverage(pts, wpx, bb)[..., None] * np.float32(opacity)
        region = canvas[y0:y1, x0:x1]
        region += a * (rgb.astype(np.float32) / np.float32(255.0) - region)
    return canvas, state, done
