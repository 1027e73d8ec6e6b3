"""Machine motion: the events that execute a robot plan, and the time model (GRBL-style)."""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Any, Iterator

import numpy as np

from animatepainter.planner.machine.profile import MachineProfile
from animatepainter.planner.plan import StrokePlan

log = logging.getLogger(__name__)

__all__ = ["Event", "execution_events", "draw_time", "machine_report"]


# -- execution: events, time -----------------------------------------------------------


@dataclass(frozen=True)
class Event:
    """One machine operation, machine coordinates (mm, s).

    ``kind`` is ``"travel"`` (pen-up XY move to ``xy``), ``"z"`` (move to height
    ``z``; ``down`` True when lowering onto paper, well, water or rag), ``"draw"``
    (pen-down polyline ``points``, first point = current position), ``"dwell"``
    (``seconds``), ``"tool"`` (change to tool ``number``, ``label``), ``"note"``
    (``label``: what comes next, for comments). ``stroke`` is the stroke index for
    stroke events, else -1.
    """

    kind: str
    xy: tuple[float, float] | None = None
    z: float | None = None
    down: bool = False
    points: np.ndarray | None = None
    seconds: float = 0.0
    number: int = 0
    label: str = ""
    stroke: int = -1


def execution_events(plan: StrokePlan, profile: MachineProfile) -> Iterator[Event]:
    """The motion that executes a robot plan on ``profile``, start to end.

    Starts pen-up at ``motion.home_mm``; for each stroke performs its actions (clean:
    water then rag; tool: go to ``tool_change.position_mm`` and change; dip: the
    paint's well), travels to the stroke's first point, lowers, draws, raises; after
    the last stroke cleans the brush (painting arms) and returns home.
    """
    m, st = profile.motion, profile.stations
    up, down = m.pen_up_z_mm, m.pen_down_z_mm
    to_m = profile.canvas.to_machine
    yield Event("z", z=up)
    yield Event("travel", xy=tuple(m.home_mm))

    def visit(xy, seconds, label):
        yield Event("note", label=label)
        yield Event("travel", xy=(float(xy[0]), float(xy[1])))
        yield Event("z", z=st.dip_z_mm, down=True)
        if seconds > 0:
            yield Event("dwell", seconds=seconds)
        yield Event("z", z=up)

    for i, s in enumerate(plan.strokes):
        for a in s.actions:
            if a == "clean" and not profile.pens:
                if st.water_mm is not None:
                    yield from visit(st.water_mm, st.wash_s, "clean: water")
                if st.rag_mm is not None:
                    yield from visit(st.rag_mm, st.wipe_s, "clean: rag")
            elif a == "tool":
                b = profile.brushes[s.brush]
                if profile.tool_change.position_mm is not None:
                    yield Event("travel", xy=tuple(profile.tool_change.position_mm))
                label = f"{profile.paints[s.paint].name} {b.width_mm:g} mm" if profile.pens else f"{b.name}"
                yield Event("tool", number=b.tool, label=label, stroke=i)
            elif a == "dip" and not profile.pens:
                well = profile.paints[s.paint].well_mm
                if well is not None:
                    yield from visit(well, st.dip_s, f"dip: {profile.paints[s.paint].name}")
        pts = to_m(s.points)
        yield Event("note", label=f"stroke {s.id} paint {s.paint} brush {s.brush} layer {s.layer} level {s.level} step {s.step}", stroke=i)
        yield Event("travel", xy=(float(pts[0, 0]), float(pts[0, 1])), stroke=i)
        yield Event("z", z=down, down=True, stroke=i)
        yield Event("draw", points=pts, stroke=i)
        yield Event("z", z=up, stroke=i)
    if plan.strokes and not profile.pens:
        if st.water_mm is not None:
            yield from visit(st.water_mm, st.wash_s, "clean: water")
        if st.rag_mm is not None:
            yield from visit(st.rag_mm, st.wipe_s, "clean: rag")
    yield Event("travel", xy=tuple(m.home_mm))


def _move_time(length: float, speed: float, accel: float) -> float:
    """Time of a straight move from rest to rest, s (trapezoidal profile)."""
    if length <= 0:
        return 0.0
    if accel <= 0:
        return length / speed
    if length >= speed * speed / accel:
        return length / speed + speed / accel
    return 2.0 * math.sqrt(length / accel)


def draw_time(points: np.ndarray, speed: float, accel: float, junction_deviation_mm: float) -> float:
    """Time to draw a polyline from rest to rest, s, with corner slow-downs.

    The speed through each vertex is capped by GRBL's junction-deviation rule
    (``v² = a·δ·sin(θ/2) / (1 − sin(θ/2))``, θ the angle between the incoming and the
    reversed outgoing direction: straight on is unlimited, a full reversal stops), then
    by what acceleration allows from the start and before the end (GRBL's backward and
    forward planner passes, written here as running minima), and each segment runs a
    trapezoidal profile between its entry and exit speeds. Hand-written: no library
    estimates motion time for a planned path; the rule is GRBL's (planner.c).

    Args:
        points: float ``(n, 2)`` path, mm.
        speed: feed rate, mm/s (> 0).
        accel: acceleration, mm/s² (0: instant speed changes, time = length / speed).
        junction_deviation_mm: GRBL ``$11``, mm (0: stop at every corner).
    """
    p = np.asarray(points, np.float64).reshape(-1, 2)
    seg = np.diff(p, axis=0)
    L = np.hypot(seg[:, 0], seg[:, 1])
    keep = L > 1e-9
    seg, L = seg[keep], L[keep]
    if len(L) == 0:
        return 0.0
    if accel <= 0:
        return float(L.sum() / speed)
    u = seg / L[:, None]
    cap2 = np.full(len(L) + 1, speed * speed)  # squared speed cap at each vertex
    cap2[0] = cap2[-1] = 0.0  # from rest, to rest
    if len(L) > 1:
        cos_t = np.clip(-(u[:-1] * u[1:]).sum(axis=1), -1.0, 1.0)
        sin_h = np.sqrt(0.5 * (1.0 - cos_t))  # sin(θ/2)
        with np.errstate(divide="ignore", invalid="ignore"):
            vj2 = np.where(sin_h > 1.0 - 1e-9, np.inf, accel * junction_deviation_mm * sin_h / (1.0 - sin_h))
        cap2[1:-1] = np.minimum(cap2[1:-1], vj2)
    s = np.concatenate([[0.0], np.cumsum(L)])
    # backward pass: v_k² <= min_{j>=k} (cap_j² + 2a (s_j - s_k)); forward the same way
    back = np.minimum.accumulate((cap2 + 2 * accel * s)[::-1])[::-1] - 2 * accel * s
    v2 = np.minimum.accumulate(back - 2 * accel * s) + 2 * accel * s
    v2 = np.maximum(np.minimum(v2, back), 0.0)
    v0, v1 = np.sqrt(v2[:-1]), np.sqrt(v2[1:])
    vp = np.minimum(speed, np.sqrt((2 * accel * L + v2[:-1] + v2[1:]) / 2))
    vp = np.maximum(vp, np.maximum(v0, v1))
    cruise = np.maximum(L - (2 * vp * vp - v2[:-1] - v2[1:]) / (2 * accel), 0.0)
    return float(((2 * vp - v0 - v1) / accel + cruise / np.maximum(vp, 1e-12)).sum())


def machine_report(plan: StrokePlan, profile: MachineProfile) -> dict[str, Any]:
    """Machine figures of a robot plan.

    Returns:
        dict: ``profile``, ``strokes``, ``paint_changes`` and ``tool_changes``
        (consecutive strokes whose paint / tool differ), ``dips`` (all paint loads),
        ``reloads`` (dips for capacity alone), ``cleans`` (including the final one),
        ``pen_down_mm``, ``pen_up_mm`` (all pen-up XY travel: between strokes, to the
        stations and tool change position, from and back home),
        ``pen_up_between_strokes_mm``, ``estimated_time_s`` and ``time_s`` (its parts:
        draw, travel, z, dwell, tool changes). The time estimate moves at the profile's
        speeds with a trapezoidal speed profile per move; strokes slow down at their
        corners by the profile's junction deviation (:func:`draw_time`).
    """
    m = profile.motion
    strokes = plan.strokes
    paint_changes = sum(1 for a, b in zip(strokes, strokes[1:]) if a.paint != b.paint)
    tool_changes = sum(1 for a, b in zip(strokes, strokes[1:]) if a.brush != b.brush)
    dips = sum("dip" in s.actions for s in strokes)
    reloads = sum(("dip" in s.actions) and ("clean" not in s.actions) and ("tool" not in s.actions) and i > 0 for i, s in enumerate(strokes))
    cleans = sum("clean" in s.actions for s in strokes)
    t = {"draw_s": 0.0, "travel_s": 0.0, "z_s": 0.0, "dwell_s": 0.0, "tool_change_s": 0.0}
    pen_up = 0.0
    pen_down = 0.0
    pos = np.array(m.home_mm, np.float64)
    z = m.pen_up_z_mm
    for ev in execution_events(plan, profile):
        if ev.kind == "travel":
            d = float(np.hypot(*(np.asarray(ev.xy) - pos)))
            pen_up += d
            t["travel_s"] += _move_time(d, m.travel_speed_mm_s, m.acceleration_mm_s2)
            pos = np.asarray(ev.xy, np.float64)
        elif ev.kind == "z":
            if m.pen_lift == "servo":
                t["z_s"] += m.servo_delay_s if ev.z != z else 0.0
            else:
                t["z_s"] += abs(ev.z - z) / m.z_speed_mm_s
            z = ev.z
        elif ev.kind == "draw":
            p = ev.points
            d = float(np.linalg.norm(np.diff(p, axis=0), axis=1).sum()) if len(p) > 1 else 0.0
            pen_down += d
            t["draw_s"] += draw_time(p, m.draw_speed_mm_s, m.acceleration_mm_s2, m.junction_deviation_mm)
            pos = p[-1]
        elif ev.kind == "dwell":
            t["dwell_s"] += ev.seconds
        elif ev.kind == "tool":
            t["tool_change_s"] += profile.tool_change.time_s
    total = sum(t.values())
    st = profile.stations
    final_cleans = int(bool(strokes) and not profile.pens and (st.water_mm is not None or st.rag_mm is not None))
    return {
        "profile": profile.name,
        "kind": profile.kind,
        "strokes": len(strokes),
        "paint_changes": paint_changes,
        "tool_changes": tool_changes,
        "dips": dips,
        "reloads": reloads,
        "cleans": cleans + final_cleans,
        "pen_down_mm": round(pen_down, 1),
        "pen_up_mm": round(pen_up, 1),
        "pen_up_between_strokes_mm": round(plan.pen_up_travel_mm(), 1),
        "estimated_time_s": round(total, 1),
        "time_s": {k: round(v, 1) for k, v in t.items()},
    }

