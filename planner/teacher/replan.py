"""Replanning: keep what is done, plan the rest against what is really on the canvas.

A plan's first ``done`` strokes are kept as painted. The strokes left are grouped as
the plan groups them, in the painter's order (runs of the same depth layer and brush
level: far to near, coarse to fine); each group is fitted again, with at most as many
strokes as it had, by the teacher's fitter (:func:`~.sbr.fit_groups`) starting from the
canvas as it is (a registered photo) instead of the canvas the plan expected. The
plan's paints and brushes stay: new strokes take one of the plan's paints (the ones on
the rig) and its brush widths.

A stroke is only placed where it lowers the error against the picture, so nothing that
is already right is painted again: on a canvas that equals the picture no stroke is
added, and on the canvas the plan expected the groups are refilled with at most the
strokes they had. The same inputs and seed give the same plan, byte for byte.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Callable

import numpy as np

from animatepainter.planner.assemble import assemble_plan
from animatepainter.planner.errors import InputError, PlanError
from animatepainter.planner.order import order_groups
from animatepainter.planner.plan import Stroke, StrokePlan
from animatepainter.planner.teacher.refine import RefineSettings, refine_strokes
from animatepainter.planner.teacher.sbr import FitSettings, fit_groups

log = logging.getLogger(__name__)

__all__ = ["remaining_groups", "level_widths_px", "replan_inputs", "replan"]


def remaining_groups(plan: StrokePlan, done: int) -> list[tuple[int, int, int]]:
    """Runs of (layer, level) among strokes ``done..`` in order: ``(layer, level, count)``."""
    out: list[tuple[int, int, int]] = []
    for s in plan.strokes[done:]:
        if out and out[-1][:2] == (s.layer, s.level):
            out[-1] = (s.layer, s.level, out[-1][2] + 1)
        else:
            out.append((s.layer, s.level, 1))
    return out


def level_widths_px(plan: StrokePlan) -> tuple[float, ...]:
    """Brush width (px of the plan's pixel frame) of each level: the teacher's own
    (``meta["levels_width_px"]``), else the median width of each level's strokes."""
    lw = plan.meta.get("levels_width_px")
    n_levels = max((s.level for s in plan.strokes), default=-1) + 1
    if isinstance(lw, list) and len(lw) >= n_levels and all(isinstance(v, (int, float)) and v > 0 for v in lw):
        return tuple(float(v) for v in lw)
    mm = plan.canvas.mm_per_px
    out = []
    for lvl in range(n_levels):
        ws = [s.width_mm / mm for s in plan.strokes if s.level == lvl]
        out.append(float(np.median(ws)) if ws else (out[-1] / 2.0 if out else 8.0))
    return tuple(out)


def replan_inputs(plan: StrokePlan, picture: np.ndarray, depth: np.ndarray | str | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The picture at the plan's pixel frame and its depth layers, as the teacher made
    them (the plan's recorded ``size``, depth estimator and ``layers``).

    Args:
        plan: a plan made by the teacher (``meta["engine"] == "teacher"``).
        picture: uint8 ``(H, W, 3)``: the image the plan was made from.
        depth: the depth map the plan was made with, when one was given (see
            ``plan_painting``); default: estimated again, as the teacher did.

    Returns:
        ``(image, layers)``: uint8 ``(h, w, 3)`` and int ``(h, w)``.

    Raises:
        PlanError: not a teacher plan.
        InputError: the picture does not come out at the plan's pixel frame.
    """
    from animatepainter.planner.layers import layer_map
    from animatepainter.planner.teacher.pipeline import PaintSettings, working_image_and_depth

    st = plan.meta.get("settings") if isinstance(plan.meta.get("settings"), dict) else None
    if st is None or plan.meta.get("engine") != "teacher":
        raise PlanError("replanning needs a plan made by `paint` (the teacher), which records its settings")
    ps = PaintSettings(size=int(st.get("size", 256)), depth_backend=str(st.get("depth_backend", "prior")), depth_model=st.get("depth_model"))
    work, d = working_image_and_depth(np.asarray(picture), ps, depth)
    w, h = plan.canvas.image_px
    if work.shape[:2] != (h, w):
        raise InputError(f"the picture comes out at {work.shape[1]}x{work.shape[0]} px at the plan's working size, the plan's pixel frame is {w}x{h} px: is it the plan's image?")
    k = st.get("layers", 3)  # None: chosen for the picture, as the teacher chose
    return work, layer_map(d, None if k is None else int(k))


def replan(
    plan: StrokePlan,
    image: np.ndarray,
    layers: np.ndarray,
    canvas: np.ndarray,
    done: int,
    seed: int | None = None,
    jobs: int | None = None,
    progress: Callable[[int], None] | None = None,
    refine: int | None = None,
) -> StrokePlan:
    """Keep strokes ``0..done-1`` and plan the rest against ``canvas``.

    Args:
        plan: the plan being painted.
        image: uint8 ``(h, w, 3)``: the picture at the plan's pixel frame (the working
            image it was planned from).
        layers: int ``(h, w)``: the depth layer of each pixel (0 = farthest).
        canvas: uint8 or float32 (``[0, 1]``) ``(h, w, 3)``: what is on the canvas now,
            in the plan's pixel frame (a registered photo).
        done: strokes already painted, ``0..len(plan)``.
        seed: seed of the fitter (default: the plan's seed + ``done``).
        jobs: fitter threads (the result is the same for every value).
        progress: called with the number of strokes planned.
        refine: refinement passes of the new strokes (:mod:`.refine`, against the
            picture over what is on the canvas); default: the plan's own
            (``meta["refine_passes"]``).

    Returns:
        the new plan: the same canvas, paints, brushes and first ``done`` strokes,
        then the new ones (ids renumbered; machine actions redone when the plan is for
        a machine); ``meta["replan"]`` says what was done.

    Raises:
        PlanError: ``done`` outside the plan.
        InputError: ``image``, ``layers`` or ``canvas`` not of the plan's pixel frame.
    """
    n = len(plan.strokes)
    cf, target = _checked_inputs(plan, image, layers, canvas, done)
    seed = int(plan.meta.get("seed", 0)) + done if seed is None else int(seed)
    fitted = _fit_remaining(plan, target, np.asarray(layers), cf, done, seed, jobs, progress, refine)
    # order inside each group for travel, then spread each group's strokes over the
    # steps its old strokes had
    if fitted:
        order, flips = order_groups([f.points for f in fitted], [(f.layer, f.level) for f in fitted], [f.width / 2.0 + 0.5 for f in fitted])
    else:
        order, flips = [], []
    ordered = [fitted[i] for i in order]
    new = _assemble_new(plan, ordered, flips, _spread_steps(plan, done, ordered))
    kept = list(plan.strokes[:done])
    added = [replace(s, id=done + i, actions=()) for i, s in enumerate(new.strokes)]
    strokes = _redo_machine_actions(plan, kept, added)
    meta = dict(plan.meta)
    meta["replan"] = {"done": done, "seed": seed, "strokes_before": n - done, "strokes_after": len(added), "replans": int(plan.meta.get("replan", {}).get("replans", 0)) + 1 if isinstance(plan.meta.get("replan"), dict) else 1}
    log.debug("replanned after %d strokes: %d left -> %d new", done, n - done, len(added))
    return replace(plan, strokes=strokes, meta=meta)


def _checked_inputs(plan: StrokePlan, image: np.ndarray, layers: np.ndarray, canvas: np.ndarray, done: int) -> tuple[np.ndarray, np.ndarray]:
    """Refuse a ``done`` outside the plan and arrays not of its pixel frame; return the
    canvas and the picture as float32 ``(h, w, 3)`` in ``[0, 1]``."""
    n = len(plan.strokes)
    if isinstance(done, bool) or not isinstance(done, (int, np.integer)) or not 0 <= done <= n:
        raise PlanError(f"done must be between 0 and the plan's {n} strokes, got {done}")
    w, h = plan.canvas.image_px
    for name, arr, shape in (("image", image, (h, w, 3)), ("canvas", canvas, (h, w, 3)), ("layers", layers, (h, w))):
        if np.asarray(arr).shape != shape:
            got = "x".join(str(v) for v in np.asarray(arr).shape[:2][::-1])
            raise InputError(f"the {name} is {got} px, the plan's pixel frame is {w}x{h} px")
    canvas = np.asarray(canvas)
    cf = canvas.astype(np.float32) / 255.0 if canvas.dtype == np.uint8 else np.clip(canvas.astype(np.float32), 0.0, 1.0)
    return cf, np.asarray(image, np.float32) / 255.0


def _fit_remaining(
    plan: StrokePlan, target: np.ndarray, layers: np.ndarray, cf: np.ndarray, done: int, seed: int, jobs: int | None, progress: Callable[[int], None] | None, refine: int | None
) -> list:
    """The remaining (layer, level) groups fitted again over the canvas ``cf`` with the
    plan's brush widths and paints, then (``refine`` passes, default the plan's own) the
    teacher's refinement of the new strokes over the canvas. Returns the fitted strokes."""
    groups = remaining_groups(plan, done)
    widths = level_widths_px(plan)
    settings = plan.meta.get("settings", {}) if isinstance(plan.meta.get("settings"), dict) else {}
    fixed = bool(settings.get("brush_widths_mm"))
    palette = _palette(plan)
    fs = FitSettings(widths_px=widths, palette=palette, fixed_widths=fixed)
    if refine is None:
        rp = plan.meta.get("refine_passes", 0)
        refine = int(rp) if isinstance(rp, int) and not isinstance(rp, bool) and 0 <= rp <= 10 else 0
    # (measured on the bench images with sim-arm: refitting the groups beats refining
    # the plan's own remaining strokes against the canvas, 2.2 against 1.3 dB)
    fitted, _ = fit_groups(target, layers, cf, groups, fs, seed=seed, progress=progress, jobs=jobs)
    if refine and fitted:
        # the teacher's refinement of the new strokes, over what is on the canvas
        pal = np.array(palette, np.uint8).reshape(-1, 3)
        fitted, _ = refine_strokes(fitted, target, (1.0, 1.0, 1.0), RefineSettings(passes=refine), pal, fixed, base=cf)
    return fitted


def _palette(plan: StrokePlan) -> tuple[tuple[int, ...], ...]:
    return tuple(tuple(int(v) for v in p.rgb) for p in plan.palette)


def _spread_steps(plan: StrokePlan, done: int, ordered: list) -> list:
    """The step of each new stroke: each group's new strokes take, in order, the steps
    its old remaining strokes had (at least the last painted stroke's), never decreasing."""
    old_steps: dict[tuple[int, int], list[int]] = {}
    for s in plan.strokes[done:]:
        old_steps.setdefault((s.layer, s.level), []).append(s.step)
    first = plan.strokes[done - 1].step if done else 0
    counts: dict[tuple[int, int], int] = {}
    for f in ordered:
        counts[(f.layer, f.level)] = counts.get((f.layer, f.level), 0) + 1
    seen: dict[tuple[int, int], int] = {}
    steps = []
    for f in ordered:
        key = (f.layer, f.level)
        j = seen.get(key, 0)
        seen[key] = j + 1
        olds = old_steps.get(key, [first])
        steps.append(max(olds[j * len(olds) // counts[key]], first))
    return list(np.maximum.accumulate(steps)) if steps else []


def _assemble_new(plan: StrokePlan, ordered: list, flips: list, steps: list) -> StrokePlan:
    """The new strokes as a plan on the old one's canvas, paints and brushes (each
    stroke's paint is the palette entry of its colour, its brush the nearest width)."""
    pal = np.array(_palette(plan), np.uint8).reshape(-1, 3)
    colours = np.array([f.rgb for f in ordered], np.uint8).reshape(-1, 3)
    paint = np.argmax((colours[:, None, :] == pal[None]).all(axis=2), axis=1) if len(colours) else np.zeros(0, int)
    mm = plan.canvas.mm_per_px
    bw = np.array([b.width_mm for b in plan.brushes], np.float64)
    return assemble_plan(
        plan.canvas,
        [f.points[::-1] if fl else f.points for f, fl in zip(ordered, flips)],
        width_mm=[f.width * mm for f in ordered],
        brush=[int(plan.brushes[int(np.argmin(np.abs(bw - f.width * mm)))].id) for f in ordered],
        paint=[int(plan.palette[int(i)].id) for i in paint],
        rgb=colours,
        layer=[f.layer for f in ordered],
        level=[f.level for f in ordered],
        step=steps,
        palette=[p.rgb for p in plan.palette],
        brushes_mm=[b.width_mm for b in plan.brushes],
        paint_names=[p.name for p in plan.palette],
        brush_shapes=[b.shape for b in plan.brushes],
        meta={},
    )


def _redo_machine_actions(plan: StrokePlan, kept: list[Stroke], added: list[Stroke]) -> list[Stroke]:
    """``kept + added``; for a plan made for a machine (its strokes carry actions), the
    added strokes' machine actions worked out again after the kept ones."""
    strokes = kept + added
    machine = plan.meta.get("machine")
    if isinstance(machine, dict) and any(s.actions for s in plan.strokes):
        from animatepainter.planner.machine.adapt import insert_actions
        from animatepainter.planner.machine.profile import profile_from_dict

        strokes = kept + insert_actions(strokes, profile_from_dict(machine, "the plan's machine"))[len(kept):]
    return strokes
