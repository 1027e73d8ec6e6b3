"""StrokePlan <-> ``painter_msgs`` messages (as ROS-message-shaped dicts); frames and units.

Frames and units (REP 103: right-handed frames, SI units):

* A plan is in **millimetres**, SVG convention: origin at the canvas's top-left corner,
  x to the right, y **down**.
* The ROS side uses the **``canvas`` frame**, in **metres**: origin at the canvas's
  **bottom-left** corner, x to the right along the bottom edge, y **up** along the left
  edge, z out of the painted surface (towards the brush). When the canvas lies flat on a
  table, top edge away from the robot, z points up and the frame is oriented like the
  robot's ``base_link`` (REP 103 x forward / y left, turned by -90 degrees about z), so a
  single static transform ``base_link -> canvas`` (or ``world -> canvas``, REP 105 style)
  places the canvas in the robot's world.

  ``X = x_mm / 1000``, ``Y = (canvas_height_mm - y_mm) / 1000``, ``Z = 0``, and back
  ``x_mm = 1000 X``, ``y_mm = canvas_height_mm - 1000 Y`` (rounded to the plan's 1 um).

* Widths are metres; colours ``std_msgs/ColorRGBA`` with r, g, b = RGB / 255 (``a = 1``);
  the float32 on the wire gives the same 0..255 integers back when rounded.

The dicts here have the layout of the messages (nested dicts for sub-messages, lists
for sequences): :class:`~.msgtypes.MessageFactory` turns them into rosbags or Cyclone DDS
messages, and ``rosidl_runtime_py.set_message_fields`` into rclpy messages.
"""

from __future__ import annotations

import hashlib
import json
import time
from typing import Any, Mapping, Sequence

import numpy as np

from animatepainter.planner.errors import PlanError
from animatepainter.planner.plan import MM_DECIMALS, Brush, Canvas, Paint, Stroke, StrokePlan

__all__ = [
    "CANVAS_FRAME",
    "STROKE_TYPE",
    "PLAN_TYPE",
    "UINT32_MAX",
    "plan_id",
    "stamp_dict",
    "stamp_ns",
    "mm_to_canvas_m",
    "canvas_m_to_mm",
    "rgb_to_color",
    "color_to_rgb",
    "stroke_to_dict",
    "stroke_from_dict",
    "plan_to_dict",
    "plan_from_dict",
    "check_plan_fits",
]

CANVAS_FRAME = "canvas"
STROKE_TYPE = "painter_msgs/msg/Stroke"
PLAN_TYPE = "painter_msgs/msg/StrokePlan"
UINT32_MAX = 2**32 - 1


def plan_id(plan: StrokePlan) -> str:
    """The plan's identity on the wire: the first 16 hex digits of the SHA-256 of its
    canonical JSON (:meth:`StrokePlan.to_json`)."""
    return hashlib.sha256(plan.to_json().encode("utf-8")).hexdigest()[:16]


def stamp_dict(t_ns: int | None = None) -> dict[str, int]:
    """``builtin_interfaces/Time`` of ``t_ns`` nanoseconds since the UNIX epoch (default: now)."""
    t_ns = time.time_ns() if t_ns is None else int(t_ns)
    return {"sec": t_ns // 1_000_000_000, "nanosec": t_ns % 1_000_000_000}


def stamp_ns(stamp: Mapping[str, Any]) -> int:
    """Nanoseconds since the UNIX epoch of a ``builtin_interfaces/Time`` dict."""
    return int(stamp["sec"]) * 1_000_000_000 + int(stamp["nanosec"])


def mm_to_canvas_m(points_mm: np.ndarray, height_mm: float) -> np.ndarray:
    """Plan points (mm, SVG axes) -> canvas-frame points (m).

    Args:
        points_mm: float ``(n, 2)``, ``(x, y)`` mm, origin top-left, y down.
        height_mm: canvas height, mm.

    Returns:
        float64 ``(n, 3)``, ``(X, Y, Z)`` m, origin bottom-left, y up, Z = 0.
    """
    p = np.asarray(points_mm, np.float64).reshape(-1, 2)
    out = np.zeros((len(p), 3), np.float64)
    out[:, 0] = p[:, 0] / 1000.0
    out[:, 1] = (float(height_mm) - p[:, 1]) / 1000.0
    return out


def canvas_m_to_mm(points_m: np.ndarray, height_mm: float) -> np.ndarray:
    """Canvas-frame points (m; ``(n, 2)`` or ``(n, 3)``, Z ignored) -> plan points
    (float64 ``(n, 2)`` mm, SVG axes), rounded to the plan's micrometre."""
    p = np.asarray(points_m, np.float64)
    p = p.reshape(-1, p.shape[-1] if p.ndim > 1 else 3)
    out = np.empty((len(p), 2), np.float64)
    out[:, 0] = p[:, 0] * 1000.0
    out[:, 1] = float(height_mm) - p[:, 1] * 1000.0
    return np.round(out, MM_DECIMALS) + 0.0


def rgb_to_color(rgb: Sequence[int]) -> dict[str, float]:
    """RGB 0..255 -> ``std_msgs/ColorRGBA`` dict (0..1, ``a = 1``)."""
    r, g, b = (int(v) for v in rgb)
    return {"r": r / 255.0, "g": g / 255.0, "b": b / 255.0, "a": 1.0}


def color_to_rgb(color: Mapping[str, float]) -> tuple[int, int, int]:
    """``std_msgs/ColorRGBA`` dict -> RGB 0..255 (rounded, clipped)."""
    return tuple(int(min(255, max(0, round(float(color[k]) * 255.0)))) for k in ("r", "g", "b"))  # type: ignore[return-value]


def check_plan_fits(plan: StrokePlan) -> None:
    """Check that the plan's integers fit the ``uint32`` fields of ``painter_msgs``.

    Raises:
        PlanError: naming the first value that does not fit.
    """
    if len(plan.strokes) > UINT32_MAX:
        raise PlanError(f"plan: {len(plan.strokes)} strokes do not fit painter_msgs/Stroke.count (uint32)")
    for what, items in (("palette", plan.palette), ("brushes", plan.brushes)):
        for i, it in enumerate(items):
            if not 0 <= it.id <= UINT32_MAX:
                raise PlanError(f"plan: {what}[{i}].id {it.id} does not fit a uint32 of painter_msgs")
    for i, s in enumerate(plan.strokes):
        for name in ("id", "paint", "brush", "layer", "level", "step"):
            v = getattr(s, name)
            if not 0 <= v <= UINT32_MAX:
                raise PlanError(f"plan: strokes[{i}].{name} {v} does not fit a uint32 of painter_msgs/Stroke")


def stroke_to_dict(
    plan: StrokePlan,
    index: int,
    *,
    pid: str,
    stamp: Mapping[str, int] | None = None,
    frame_id: str = CANVAS_FRAME,
) -> dict[str, Any]:
    """``painter_msgs/Stroke`` dict of ``plan.strokes[index]``.

    Args:
        plan: the plan.
        index: 0-based position of the stroke in execution order.
        pid: the plan's :func:`plan_id`.
        stamp: ``builtin_interfaces/Time`` dict (default: now).
        frame_id: the canvas frame's name.
    """
    s = plan.strokes[index]
    pts = mm_to_canvas_m(s.points, plan.canvas.height_mm)
    return {
        "header": {"stamp": dict(stamp) if stamp is not None else stamp_dict(), "frame_id": frame_id},
        "plan_id": pid,
        "index": int(index),
        "count": len(plan.strokes),
        "id": int(s.id),
        "points": [{"x": x, "y": y, "z": z} for x, y, z in pts.tolist()],
        "width": float(s.width_mm) / 1000.0,
        "color": rgb_to_color(s.rgb),
        "paint_id": int(s.paint),
        "brush_id": int(s.brush),
        "layer": int(s.layer),
        "level": int(s.level),
        "step": int(s.step),
    }


def stroke_from_dict(d: Mapping[str, Any], height_mm: float) -> Stroke:
    """A plan :class:`Stroke` from a ``painter_msgs/Stroke`` dict (``height_mm``: the
    canvas height, to turn the canvas frame back into SVG axes)."""
    pts = np.array([[p["x"], p["y"], p["z"]] for p in d["points"]], np.float64).reshape(-1, 3)
    return Stroke(
        id=int(d["id"]),
        points=canvas_m_to_mm(pts, height_mm),
        width_mm=round(float(d["width"]) * 1000.0, MM_DECIMALS),
        brush=int(d["brush_id"]),
        paint=int(d["paint_id"]),
        rgb=color_to_rgb(d["color"]),
        layer=int(d["layer"]),
        level=int(d["level"]),
        step=int(d["step"]),
    )


def plan_to_dict(
    plan: StrokePlan,
    *,
    pid: str | None = None,
    stamp: Mapping[str, int] | None = None,
    frame_id: str = CANVAS_FRAME,
) -> dict[str, Any]:
    """``painter_msgs/StrokePlan`` dict of the whole plan (strokes in execution order,
    each stamped like the plan)."""
    check_plan_fits(plan)
    pid = pid or plan_id(plan)
    stamp = dict(stamp) if stamp is not None else stamp_dict()
    c = plan.canvas
    rest = {"image_px": [int(v) for v in c.image_px], "image_box_mm": [float(v) for v in c.image_box_mm], "meta": plan.to_dict()["meta"]}
    return {
        "header": {"stamp": stamp, "frame_id": frame_id},
        "plan_id": pid,
        "canvas_width": float(c.width_mm) / 1000.0,
        "canvas_height": float(c.height_mm) / 1000.0,
        "background": rgb_to_color(c.background),
        "palette": [{"id": int(p.id), "color": rgb_to_color(p.rgb), "name": p.name} for p in plan.palette],
        "brushes": [{"id": int(b.id), "width": float(b.width_mm) / 1000.0, "shape": b.shape} for b in plan.brushes],
        "strokes": [stroke_to_dict(plan, i, pid=pid, stamp=stamp, frame_id=frame_id) for i in range(len(plan.strokes))],
        "meta_json": json.dumps(rest, sort_keys=True, separators=(",", ":")),
    }


def plan_from_dict(d: Mapping[str, Any], source: str = "painter_msgs/StrokePlan") -> StrokePlan:
    """A validated :class:`StrokePlan` from a ``painter_msgs/StrokePlan`` dict.

    Raises:
        PlanError: the message does not make a valid plan (one line).
    """
    try:
        rest = json.loads(d["meta_json"]) if d.get("meta_json") else {}
        if not isinstance(rest, dict):
            raise ValueError("meta_json is not a JSON object")
        height_mm = round(float(d["canvas_height"]) * 1000.0, MM_DECIMALS)
        canvas = Canvas(
            width_mm=round(float(d["canvas_width"]) * 1000.0, MM_DECIMALS),
            height_mm=height_mm,
            background=color_to_rgb(d["background"]),
            image_px=tuple(int(v) for v in rest.get("image_px", (1, 1))),  # type: ignore[arg-type]
            image_box_mm=tuple(float(v) for v in rest.get("image_box_mm", (0.0, 0.0, 0.0, 0.0))),  # type: ignore[arg-type]
        )
        palette = [Paint(int(p["id"]), color_to_rgb(p["color"]), str(p["name"])) for p in d["palette"]]
        brushes = [Brush(int(b["id"]), round(float(b["width"]) * 1000.0, MM_DECIMALS), str(b["shape"])) for b in d["brushes"]]
        strokes = [stroke_from_dict(s, height_mm) for s in d["strokes"]]
        meta = rest.get("meta", {})
    except (KeyError, TypeError, ValueError) as e:
        raise PlanError(f"{source}: not a valid painter_msgs/StrokePlan ({type(e).__name__}: {e})") from None
    plan = StrokePlan(canvas, palette, brushes, strokes, dict(meta) if isinstance(meta, dict) else {})
    # the same checks as a plan file: schema, ids, references, points on the canvas
    StrokePlan.validate_dict(plan.to_dict(), source)
    return plan
