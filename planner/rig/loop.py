"""The closed loop on the simulated rig: paint, photograph, register, replan, repeat.

:func:`run_loop` plans a picture for the rig's machine with the teacher, then paints it
twice with the same rig and seed:

* **open loop**: every stroke as planned;
* **closed loop**: ``every`` strokes at a time; after each batch the canvas is
  photographed (:mod:`.camera`), registered (:mod:`.register`) and what is left of the
  plan is planned again against it (:func:`~animatepainter.planner.teacher.replan.replan`).

Both final canvases (the ground truth of the simulation) are compared with the picture
(PSNR), and with the plan painted by a perfect rig (the *ideal*). With a calibrated rig
profile (:mod:`.calibrate`) the plans compensate the rig's measured offset and width
before they are executed.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from animatepainter.planner.metrics import psnr
from animatepainter.planner.plan import StrokePlan
from animatepainter.planner.progress import NULL_PROGRESS, Progress
from animatepainter.planner.render import render_plan, to_uint8
from animatepainter.planner.rig.camera import physical_canvas, photograph
from animatepainter.planner.rig.execute import RigState, execute_strokes
from animatepainter.planner.rig.profile import RigProfile
from animatepainter.planner.rig.register import register_photo

log = logging.getLogger(__name__)

__all__ = ["LoopResult", "PaintBatch", "SimulatedPainter", "closed_loop", "plan_for_rig", "run_open_loop", "run_loop", "register_and_replan", "estimate_shift", "true_corner_error_mm"]


@dataclass
class LoopResult:
    """What :func:`run_loop` made.

    Attributes:
        plan: the plan as first made (open loop).
        final_plan: the plan as finally painted (closed loop: kept strokes + replans).
        target: uint8 ``(h, w, 3)`` the picture at the plan's pixel frame.
        ideal, open_loop, closed_loop: uint8 ``(h, w, 3)`` the canvases.
        photos: ``(strokes done, photo, registered canvas, replanned)`` of the photos
            kept (``replanned``: the canvas the new plan aims at, rendered).
        report: JSON-ready figures (see :func:`run_loop`).
    """

    plan: StrokePlan
    final_plan: StrokePlan
    target: np.ndarray
    ideal: np.ndarray
    open_loop: np.ndarray
    closed_loop: np.ndarray
    photos: list[tuple[int, np.ndarray, np.ndarray, np.ndarray]] = field(default_factory=list)
    report: dict[str, Any] = field(default_factory=dict)


def plan_for_rig(image: np.ndarray, rig: RigProfile, settings: Any, depth: Any = None, progress: Progress = NULL_PROGRESS, jobs: int | None = None):
    """Plan ``image`` for the rig's machine with the teacher (``paint --machine``):
    returns ``(plan, PaintResult)``; with a calibrated rig the plan compensates it."""
    from animatepainter.planner.machine.adapt import apply_machine, machine_settings
    from animatepainter.planner.teacher.pipeline import plan_painting

    result = plan_painting(image, machine_settings(settings, rig.machine), depth=depth, progress=progress, jobs=jobs)
    plan, _ = apply_machine(result.plan, rig.machine, progress=progress)
    return plan, result


def register_and_replan(plan: StrokePlan, photo: np.ndarray, image: np.ndarray, layers: np.ndarray, done: int, seed: int | None = None, jobs: int | None = None) -> tuple[StrokePlan, Any, dict[str, Any]]:
    """One step of the loop: register ``photo`` (uint8 RGB) against ``plan`` and plan the
    strokes after ``done`` again against it (``image``, ``layers``: the picture at the
    plan's pixel frame, see :func:`~animatepainter.planner.teacher.replan.replan_inputs`).

    Returns:
        ``(new plan, registration, info)``; ``info``: ``register_s``, ``replan_s``,
        ``corner_error_mm``, ``delta_e2000`` (mean after correction), strokes left before
        and after.
    """
    from animatepainter.planner.teacher.replan import replan

    t0 = time.perf_counter()
    reg = register_photo(photo, plan)
    t1 = time.perf_counter()
    new = replan(plan, image, layers, reg.canvas, done, seed=seed, jobs=jobs)
    t2 = time.perf_counter()
    info = {
        "register_s": t1 - t0,
        "replan_s": t2 - t1,
        "corner_error_mm": reg.report["corner_error_mm"],
        "delta_e2000": reg.report["delta_e2000_after"]["mean"],
        "strokes_left_before": len(plan) - done,
        "strokes_left_after": len(new) - done,
    }
    return new, reg, info


def _offset(rig: RigProfile) -> np.ndarray:
    return np.asarray(rig.calibration.offset_mm if rig.calibration else (0.0, 0.0), np.float64)


def _with_offset(rig: RigProfile, offset_mm: np.ndarray) -> RigProfile:
    """``rig`` with its calibrated offset replaced by ``offset_mm`` (a calibration with
    unit widths and coverage when it had none)."""
    from dataclasses import replace

    from animatepainter.planner.rig.profile import Calibration

    nb = len(rig.machine.brushes)
    cal = rig.calibration or Calibration((0.0, 0.0), (1.0,) * nb, (1.0,) * nb, (1.0,) * nb)
    return replace(rig, calibration=replace(cal, offset_mm=(float(offset_mm[0]), float(offset_mm[1]))))


def true_corner_error_mm(h_true: np.ndarray, h_est: np.ndarray, canvas_mm: tuple[float, float]) -> float:
    """Worst distance (mm) between the canvas corners and where the estimated
    registration puts them (canvas mm -> photo by the truth, back by the estimate)."""
    w, h = canvas_mm
    pts = np.array([[0, 0], [w, 0], [w, h], [0, h]], np.float64)
    p = np.c_[pts, np.ones(4)] @ h_true.T
    p = p / p[:, 2:3]
    q = p @ np.linalg.inv(h_est).T
    q = q[:, :2] / q[:, 2:3]
    return float(np.linalg.norm(q - pts, axis=1).max())


#: largest rig offset the loop looks for, plan pixels
MAX_SHIFT_PX = 6


def estimate_shift(before: np.ndarray, after: np.ndarray, plan: StrokePlan, start: int, stop: int) -> tuple[np.ndarray, float] | None:
    """Where strokes ``start..stop-1`` landed against where they were commanded: the
    shift (mm, ``(dx, dy)``) that best aligns their commanded coverage with what changed
    between two registered canvases (uint8 ``(h, w, 3)``), and the match's strength
    (normalised cross-correlation, 0..1); ``None`` when too little changed.

    Why by hand: OpenCV's ``matchTemplate`` gives the correlation map; the sub-pixel peak
    (a parabola through the best shift and its neighbours) is the usual three lines."""
    import cv2

    from animatepainter.planner.render import plan_to_pixels, stroke_bbox, stroke_coverage

    (h, w), strokes = plan_to_pixels(plan.with_strokes(plan.strokes[start:stop]))
    pred = np.zeros((h, w), np.float32)
    for st in strokes:
        bb = stroke_bbox(st.points, st.width, (h, w))
        y0, y1, x0, x1 = bb
        if y1 > y0 and x1 > x0:
            np.maximum(pred[y0:y1, x0:x1], stroke_coverage(st.points, st.width, bb), out=pred[y0:y1, x0:x1])
    obs = np.linalg.norm(after.astype(np.float32) - before.astype(np.float32), axis=2)
    if pred.sum() < 20 or obs.sum() < 1:
        return None
    m = MAX_SHIFT_PX
    tmpl = pred[m:-m, m:-m]
    if tmpl.std() < 1e-6:
        return None
    res = cv2.matchTemplate(obs, tmpl, cv2.TM_CCOEFF_NORMED)
    _, peak, _, (px, py) = cv2.minMaxLoc(res)

    def sub(a, b, c):
        d = a - 2 * b + c
        return 0.0 if abs(d) < 1e-9 else 0.5 * (a - c) / d

    dx = px - m + (sub(res[py, px - 1], res[py, px], res[py, px + 1]) if 0 < px < res.shape[1] - 1 else 0.0)
    dy = py - m + (sub(res[py - 1, px], res[py, px], res[py + 1, px]) if 0 < py < res.shape[0] - 1 else 0.0)
    return np.array([dx, dy]) * plan.canvas.mm_per_px, float(peak)


def run_open_loop(plan: StrokePlan, rig: RigProfile, seed: int, executor: RigProfile | None = None) -> np.ndarray:
    """The plan painted without looking: uint8 ``(h, w, 3)``; commanded as ``rig``'s
    calibration says (when it has one), painted by ``executor`` (default: ``rig``)."""
    from animatepainter.planner.rig.calibrate import compensate_plan

    canvas, _, _ = execute_strokes(compensate_plan(plan, rig), executor or rig, seed=seed)
    return to_uint8(canvas)


#: ``paint(commanded_plan, start, stop, photo) -> (photo, true homography)``: paint
#: strokes ``start..stop-1`` of the commanded plan and, when ``photo``, photograph the
#: canvas (uint8 RGB; the homography from canvas mm to photo pixels when known, else
#: None); ``(None, None)`` without a photo
PaintBatch = Callable[[StrokePlan, int, int, bool], "tuple[np.ndarray | None, np.ndarray | None]"]


class SimulatedPainter:
    """A :data:`PaintBatch` on the simulated rig, in this process: paints with
    :func:`~.execute.execute_strokes` and photographs with :mod:`.camera` (the k-th
    photo's noise from seed ``seed * 100003 + k``).

    Attributes:
        canvas: float32 ``(h, w, 3)`` the true canvas so far (None before the first batch).
        photos: photos taken.
    """

    def __init__(self, rig: RigProfile, seed: int = 0) -> None:
        self.rig, self.seed = rig, seed
        self.canvas: np.ndarray | None = None
        self.state: RigState | None = None
        self.photos = 0

    def __call__(self, commanded: StrokePlan, start: int, stop: int, photo: bool):
        self.canvas, self.state, _ = execute_strokes(commanded, self.rig, self.canvas, start, stop, self.seed, self.state)
        if not photo:
            return None, None
        return self.photograph(commanded)

    def photograph(self, plan: StrokePlan):
        """Photograph the canvas now: ``(photo, true homography)``."""
        out = photograph(physical_canvas(plan, self.canvas, self.rig), self.rig, seed=self.seed * 100003 + self.photos)
        self.photos += 1
        return out


def closed_loop(
    plan: StrokePlan,
    image: np.ndarray,
    layers: np.ndarray,
    rig: RigProfile,
    every: int,
    paint: PaintBatch,
    seed: int = 0,
    jobs: int | None = None,
    learn_offset: bool = True,
    progress: Progress = NULL_PROGRESS,
    truth: bool = False,
    keep_photos: int = 8,
    true_canvas: Callable[[], np.ndarray] | None = None,
) -> tuple[StrokePlan, list[tuple[int, np.ndarray, np.ndarray, np.ndarray]], dict[str, Any]]:
    """Paint ``plan`` ``every`` strokes at a time with ``paint``, photographing, registering
    and replanning after each batch (not after the last).

    Args:
        plan: the plan (for the rig's machine).
        image, layers: the picture at the plan's pixel frame and its depth layers.
        rig: the rig profile the planner knows (its calibration compensates commands).
        every: strokes between photos.
        paint: paints a batch and photographs the canvas (:data:`PaintBatch`).
        seed: the replans' seeds are ``seed + done``.
        jobs: fitter threads.
        learn_offset: learn the rig's remaining offset from the photos
            (:func:`estimate_shift`) and compensate it in the strokes that follow.
        progress: progress display.
        truth: ``paint`` returns the true homographies: report the true registration error.
        keep_photos: photos (evenly spread) returned.
        true_canvas: returns the true canvas now (float32 ``(h, w, 3)``, a simulation):
            report how well each registered photo matches it (PSNR).

    Returns:
        ``(final plan, photos, stats)``: photos as ``(strokes done, photo, registered
        canvas, replanned)`` (the last: the new plan rendered, what it aims at); stats: ``photos``, ``replans``, ``corner_error_mm``,
        ``registration_error_mm`` (true, when ``truth``), ``registered_psnr_db`` (the
        registered photos against the true canvas, with ``true_canvas``),
        ``delta_e2000_after``, ``replan_s``, ``register_s``, ``learnt_offset_mm``.
    """
    from animatepainter.planner.rig.calibrate import compensate_plan

    current = plan
    done = 0
    photos: list[tuple[int, np.ndarray, np.ndarray, StrokePlan]] = []
    replan_times: list[float] = []
    register_times: list[float] = []
    reg_errors: list[float] = []
    corner_errors: list[float] = []
    de_after: list[float] = []
    reg_psnr: list[float] = []
    mc = rig.machine.canvas
    # the rig's offset, learnt from the photos: where each batch landed against where
    # it was commanded (weighted mean over the batches), compensated from then on
    shifts: list[np.ndarray] = []
    weights: list[float] = []
    learnt = rig
    previous = render_plan(plan.with_strokes([]))
    with progress.stage("closed loop", len(plan)) as st:
        while done < len(current):
            stop = min(done + every, len(current))
            commanded = compensate_plan(current, learnt)
            last = stop >= len(current)
            photo, h_true = paint(commanded, done, stop, not last)
            st.advance(stop - done)
            start, done = done, stop
            if last:
                break
            new, reg, info = register_and_replan(current, photo, image, layers, done, seed=seed + done, jobs=jobs)
            register_times.append(info["register_s"])
            replan_times.append(info["replan_s"])
            if truth and h_true is not None:
                reg_errors.append(true_corner_error_mm(h_true, reg.homography, (mc.width_mm, mc.height_mm)))
            corner_errors.append(info["corner_error_mm"])
            de_after.append(info["delta_e2000"])
            if true_canvas is not None:
                reg_psnr.append(psnr(reg.canvas, to_uint8(true_canvas())))
            photos.append((done, photo, reg.canvas, new))
            if learn_offset:
                # where the batch landed against where it was commanded: the rig's whole
                # offset (commands were already compensated), which replaces the estimate
                est = estimate_shift(previous, reg.canvas, commanded, start, done)
                if est is not None and est[1] > 0.2:
                    shifts.append(est[0])
                    weights.append(est[1])
                    learnt = _with_offset(rig, np.average(np.array(shifts), axis=0, weights=weights))
            previous = reg.canvas
            current = new
            log.debug("after %d strokes: %d left -> %d", done, info["strokes_left_before"], info["strokes_left_after"])
    n_photos = len(photos)
    if len(photos) > keep_photos:
        idx = np.unique(np.linspace(0, len(photos) - 1, keep_photos).round().astype(int))
        photos = [photos[i] for i in idx]
    rendered = [(d, p, r, render_plan(pl)) for d, p, r, pl in photos]
    stats = {
        "photos": n_photos,
        "replans": len(replan_times),
        "registration_error_mm": round(max(reg_errors), 4) if reg_errors else None,
        "corner_error_mm": round(max(corner_errors), 4) if corner_errors else None,
        "delta_e2000_after": round(max(de_after), 3) if de_after else None,
        "registered_psnr_db": {"mean": round(float(np.mean(reg_psnr)), 3), "min": round(float(np.min(reg_psnr)), 3)} if reg_psnr else None,
        "replan_s": {"mean": round(float(np.mean(replan_times)), 4), "max": round(float(np.max(replan_times)), 4)} if replan_times else None,
        "register_s": {"mean": round(float(np.mean(register_times)), 4)} if register_times else None,
        "learnt_offset_mm": [round(float(v), 4) for v in _offset(learnt)],
    }
    return current, rendered, stats


def run_loop(
    image: np.ndarray,
    rig: RigProfile,
    settings: Any,
    every: int,
    seed: int = 0,
    depth: Any = None,
    progress: Progress = NULL_PROGRESS,
    jobs: int | None = None,
    keep_photos: int = 8,
    executor: RigProfile | None = None,
    learn_offset: bool = True,
    planned: tuple[StrokePlan, Any] | None = None,
) -> LoopResult:
    """Paint ``image`` open-loop and closed-loop on the simulated rig.

    Args:
        image: uint8 ``(H, W, 3)`` RGB.
        rig: the rig profile the planner knows (calibrated or not).
        settings: :class:`~animatepainter.planner.teacher.pipeline.PaintSettings`.
        every: strokes painted between photos (>= 1).
        seed: seed of the plan, the rig's errors and the camera noise.
        depth: optional depth map (see ``plan_painting``).
        progress: progress display.
        jobs: fitter threads.
        keep_photos: how many photos (evenly spread) to keep in the result.
        executor: the rig that really paints (default: ``rig``); a calibrated copy of
            a profile plans, the profile itself paints.
        learn_offset: estimate the rig's remaining offset from the photos (where each
            batch landed against where it was commanded, :func:`estimate_shift`) and
            compensate it in the strokes that follow.
        planned: ``(plan, PaintResult)`` of :func:`plan_for_rig` when already made
            (benchmarks reuse one plan for several ``every``).

    Returns:
        :class:`LoopResult`; its report holds ``ideal_psnr_db``, ``open_loop_psnr_db``,
        ``closed_loop_psnr_db``, ``gap_recovered`` (share of the ideal-to-open gap the
        loop wins back), ``photos``, ``replans``, ``registration_error_mm`` (worst, true),
        ``corner_error_mm`` (worst, as the registration sees it), ``delta_e2000_after``
        (worst mean over the photos), ``replan_s`` (mean and max time per replan),
        ``register_s`` and the stroke counts.
    """
    from animatepainter.planner.errors import SettingsError

    if isinstance(every, bool) or not isinstance(every, (int, np.integer)) or every < 1:
        raise SettingsError(f"every must be a whole number of strokes >= 1, got {every!r}", "every")
    executor = executor or rig
    t0 = time.perf_counter()
    plan, result = planned if planned is not None else plan_for_rig(image, rig, settings, depth=depth, progress=progress, jobs=jobs)
    plan_s = time.perf_counter() - t0
    target, layers = result.image, result.layers
    w, h = plan.canvas.image_px
    ideal = render_plan(plan)
    open_canvas = run_open_loop(plan, rig, seed, executor)

    painter = SimulatedPainter(executor, seed)
    current, photos, stats = closed_loop(plan, target, layers, rig, every, painter, seed=seed, jobs=jobs, learn_offset=learn_offset, progress=progress, truth=True, keep_photos=keep_photos, true_canvas=lambda: painter.canvas)
    canvas = painter.canvas
    closed = to_uint8(canvas) if canvas is not None else ideal.copy()
    p_ideal, p_open, p_closed = psnr(ideal, target), psnr(open_canvas, target), psnr(closed, target)
    gap = p_ideal - p_open
    report: dict[str, Any] = {
        "strokes_planned": len(plan),
        "strokes_painted_closed_loop": len(current),
        "every": int(every),
        "seed": int(seed),
        "ideal_psnr_db": round(p_ideal, 3),
        "open_loop_psnr_db": round(p_open, 3),
        "closed_loop_psnr_db": round(p_closed, 3),
        "gain_db": round(p_closed - p_open, 3),
        "gap_recovered": round((p_closed - p_open) / gap, 3) if gap > 1e-6 else None,
        **stats,
        "plan_s": round(plan_s, 3),
        "total_s": round(time.perf_counter() - t0, 3),
        "image_px": [w, h],
    }
    return LoopResult(plan, current, target, ideal, open_canvas, closed, photos, report)
