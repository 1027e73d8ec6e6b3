"""Action server logic: executing a plan, stroke by stroke, on a rig.

A rig is anything with the :class:`Rig` methods; the action server loads one by name
(``rig`` parameter, ``"module:Class"``, e.g. ``"my_arm.painter:ArmRig"``) with keyword
arguments from the ``rig_args`` parameter (a JSON object). :class:`SimulatedRig` is the
default: it times strokes from their lengths and the rig's speeds and keeps a log.

No rclpy here: :func:`execute_plan` takes callbacks for feedback and cancellation.
"""

from __future__ import annotations

import importlib
import json
import logging
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Protocol, runtime_checkable

import numpy as np

from animatepainter.planner.errors import AnimatePainterError, SettingsError
from animatepainter.planner.plan import Stroke, StrokePlan

log = logging.getLogger(__name__)

__all__ = ["EXECUTOR_DEFAULTS", "Rig", "RigError", "SimulatedRig", "load_rig", "ExecutionResult", "execute_plan"]

#: the action server node's parameters and their defaults
EXECUTOR_DEFAULTS: dict[str, Any] = {
    "rig": "painter_ros.execution:SimulatedRig",  # "module:Class" of the rig plug-in
    "rig_args": "{}",  # JSON object of keyword arguments for the rig
}


class RigError(AnimatePainterError):
    """The rig could not paint a stroke (the message says why)."""

    exit_code = 1


@runtime_checkable
class Rig(Protocol):
    """What the action server needs from a painting machine. Coordinates are the plan's
    (mm, origin top-left, y down); a rig converts them to its own frame."""

    def start(self, plan: StrokePlan) -> None:
        """Prepare for ``plan`` (home, load brushes and paints)."""

    def paint(self, index: int, stroke: Stroke) -> None:
        """Paint one stroke; block until done; raise :class:`RigError` on failure."""

    def stop(self) -> None:
        """Lift the brush and stop (after the plan, on cancel, or on error)."""


@dataclass
class SimulatedRig:
    """A rig that paints in memory: it times each stroke (pen-up travel at
    ``travel_mm_s``, pen-down at ``paint_mm_s``, ``dip_s`` per paint change) and sleeps
    ``time_scale`` times that (0 = no sleeping).

    Attributes:
        painted: indices painted, in order.
        busy_s: simulated time spent, s.
        travel_mm: pen-up travel, mm.
        fail_at: raise :class:`RigError` at this stroke index (for testing failure paths).
    """

    paint_mm_s: float = 100.0
    travel_mm_s: float = 300.0
    dip_s: float = 2.0
    time_scale: float = 0.0
    fail_at: int | None = None
    painted: list[int] = field(default_factory=list)
    busy_s: float = 0.0
    travel_mm: float = 0.0
    _pos: np.ndarray | None = field(default=None, repr=False)
    _paint: int | None = field(default=None, repr=False)

    def start(self, plan: StrokePlan) -> None:
        self._pos = np.zeros(2)
        self._paint = None

    def paint(self, index: int, stroke: Stroke) -> None:
        if self.fail_at is not None and index == self.fail_at:
            raise RigError(f"simulated fault at stroke {index}")
        assert self._pos is not None, "start() first"
        pts = np.asarray(stroke.points, np.float64)
        travel = float(np.linalg.norm(pts[0] - self._pos))
        t = travel / self.travel_mm_s + stroke.length_mm / self.paint_mm_s
        if stroke.paint != self._paint:
            t += self.dip_s
            self._paint = stroke.paint
        self.travel_mm += travel
        self.busy_s += t
        self._pos = pts[-1]
        if self.time_scale > 0:
            time.sleep(t * self.time_scale)
        self.painted.append(index)

    def stop(self) -> None:
        pass


def load_rig(spec: str, args: str | dict[str, Any] = "{}") -> Rig:
    """Instantiate the rig plug-in ``"module:Class"`` with keyword arguments ``args``
    (a dict or a JSON object text).

    Raises:
        SettingsError: bad spec, missing module or class, bad arguments, or an object
            without the :class:`Rig` methods.
    """
    mod_name, sep, cls_name = spec.partition(":")
    if not sep or not mod_name or not cls_name:
        raise SettingsError(f"rig {spec!r}: use 'module:Class', e.g. 'painter_ros.execution:SimulatedRig'")
    try:
        kwargs = json.loads(args) if isinstance(args, str) else dict(args)
    except json.JSONDecodeError as e:
        raise SettingsError(f"rig_args is not JSON ({e.msg})") from None
    if not isinstance(kwargs, dict):
        raise SettingsError("rig_args must be a JSON object of keyword arguments")
    try:
        cls = getattr(importlib.import_module(mod_name), cls_name)
    except ImportError as e:
        raise SettingsError(f"rig {spec!r}: cannot import {mod_name} ({e})") from None
    except AttributeError:
        raise SettingsError(f"rig {spec!r}: {mod_name} has no {cls_name}") from None
    try:
        rig = cls(**kwargs)
    except TypeError as e:
        raise SettingsError(f"rig {spec!r}: bad rig_args ({e})") from None
    if not isinstance(rig, Rig):
        raise SettingsError(f"rig {spec!r} lacks start/paint/stop")
    return rig


@dataclass
class ExecutionResult:
    """How an execution ended (the fields of ``ExecutePlan.Result``).

    Attributes:
        success: every requested stroke was painted.
        next_index: one past the last stroke painted (the ``start_index`` to resume from).
        strokes_done: strokes painted by this execution.
        message: ``"done"``, ``"canceled"`` or the rig's error.
        replans: times the strokes left were planned again from a photo.
    """

    success: bool
    next_index: int
    strokes_done: int
    message: str
    replans: int = 0


def execute_plan(
    plan: StrokePlan,
    rig: Rig,
    start_index: int = 0,
    *,
    on_feedback: Callable[[dict[str, Any]], None] | None = None,
    should_cancel: Callable[[], bool] | None = None,
    replan_every: int = 0,
    replan: Callable[[StrokePlan, int], tuple[StrokePlan, dict[str, Any]]] | None = None,
) -> ExecutionResult:
    """Paint ``plan.strokes[start_index:]`` on ``rig``, in order.

    Args:
        plan: the plan.
        rig: the rig.
        start_index: first stroke, 0-based (resume).
        on_feedback: called after each stroke with an ``ExecutePlan.Feedback`` dict
            (``stroke_index``, ``stroke_id``, ``strokes_done``, ``strokes_total``, ``progress``
            = fraction of the whole plan painted; ``replans``, and the last replan's
            ``corner_error_mm``, ``delta_e2000`` and ``replan_s``).
        should_cancel: polled before each stroke; True stops after the current one.
        replan_every: the closed loop: after every this many strokes (0 = never), call
            ``replan``.
        replan: ``replan(plan, done) -> (new_plan, info)``: plan the strokes after
            ``done`` again (from a photo: :class:`painter_ros.replanning.PhotoReplanner`);
            the new plan keeps the first ``done`` strokes, and painting goes on with it.
            ``info`` holds ``corner_error_mm``, ``delta_e2000`` and ``replan_s``.

    Returns:
        the result; a rig error ends the execution with ``success=False``, the rig stopped;
        a replanning error (a photo that cannot be registered) too, with its message.
    """
    n = len(plan.strokes)
    if not 0 <= start_index <= n:
        raise SettingsError(f"start_index must be from 0 to {n}, got {start_index}")
    if replan_every < 0:
        raise SettingsError(f"replan_every must be >= 0 strokes, got {replan_every}")
    done = 0
    replans = 0
    last: dict[str, Any] = {"corner_error_mm": 0.0, "delta_e2000": 0.0, "replan_s": 0.0}
    i = start_index
    rig.start(plan)
    try:
        while i < n:
            if should_cancel is not None and should_cancel():
                return ExecutionResult(False, i, done, "canceled", replans)
            try:
                rig.paint(i, plan.strokes[i])
            except RigError as e:
                log.error("stroke %d: %s", i, e)
                return ExecutionResult(False, i, done, f"rig error at stroke {i}: {e}", replans)
            done += 1
            i += 1
            if replan is not None and replan_every > 0 and done % replan_every == 0 and i < n:
                try:
                    plan, info = replan(plan, i)
                except AnimatePainterError as e:
                    log.error("replanning after stroke %d: %s", i - 1, e)
                    return ExecutionResult(False, i, done, f"replanning after stroke {i - 1} failed: {e}", replans)
                replans += 1
                last = {k: float(info.get(k, 0.0)) for k in last}
                n = len(plan.strokes)
            if on_feedback is not None:
                on_feedback(
                    {
                        "stroke_index": i - 1,
                        "stroke_id": int(plan.strokes[i - 1].id),
                        "strokes_done": done,
                        "strokes_total": done + (n - i),
                        "progress": i / n,
                        "replans": replans,
                        **last,
                    }
                )
        return ExecutionResult(True, n, done, "done", replans)
    finally:
        rig.stop()
