"""RViz preview logic: ``visualization_msgs/Marker`` dicts of a plan and its strokes.

Markers are in the plan's canvas frame (metres, origin bottom-left, y up, z out of the
surface): the canvas as a thin box at z < 0, each stroke as a ``LINE_STRIP`` of its
width and colour, lifted by a hair per stroke so later strokes draw over earlier ones.
No rclpy here: the preview node turns the dicts into messages.
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping

__all__ = ["PREVIEW_DEFAULTS", "LINE_STRIP", "CUBE", "SPHERE", "ADD", "DELETEALL", "canvas_marker", "stroke_marker", "plan_markers", "delete_all"]

# visualization_msgs/Marker constants
CUBE = 1
SPHERE = 2
LINE_STRIP = 4
ADD = 0
DELETEALL = 3

#: height step between consecutive strokes, m (keeps the painting order visible in RViz)
Z_STEP_M = 1e-6


def _header(frame_id: str, stamp: Mapping[str, int]) -> dict[str, Any]:
    return {"stamp": dict(stamp), "frame_id": frame_id}


def delete_all(frame_id: str, stamp: Mapping[str, int], ns: str = "painter") -> dict[str, Any]:
    """A marker that clears every marker of namespace ``ns`` (sent before a new plan)."""
    return {"header": _header(frame_id, stamp), "ns": ns, "id": 0, "action": DELETEALL}


def canvas_marker(plan: Mapping[str, Any], stamp: Mapping[str, int], ns: str = "painter/canvas") -> dict[str, Any]:
    """The blank canvas of a ``painter_msgs/StrokePlan`` dict: a 1 mm thick box under z = 0."""
    w, h = float(plan["canvas_width"]), float(plan["canvas_height"])
    bg = plan["background"]
    return {
        "header": _header(plan["header"]["frame_id"], stamp),
        "ns": ns,
        "id": 0,
        "type": CUBE,
        "action": ADD,
        "pose": {"position": {"x": w / 2, "y": h / 2, "z": -0.0005}, "orientation": {"x": 0.0, "y": 0.0, "z": 0.0, "w": 1.0}},
        "scale": {"x": w, "y": h, "z": 0.001},
        "color": {"r": float(bg["r"]), "g": float(bg["g"]), "b": float(bg["b"]), "a": 1.0},
        "frame_locked": True,
    }


def stroke_marker(stroke: Mapping[str, Any], stamp: Mapping[str, int] | None = None, ns: str = "painter/strokes") -> dict[str, Any]:
    """A ``LINE_STRIP`` of a ``painter_msgs/Stroke`` dict: id = the stroke's index, width
    = the stroke's width (m), its colour; a one-point stroke becomes a sphere (a dab)."""
    pts = list(stroke["points"])
    z = Z_STEP_M * (int(stroke["index"]) + 1)
    c = stroke["color"]
    m: dict[str, Any] = {
        "header": _header(stroke["header"]["frame_id"], stamp if stamp is not None else stroke["header"]["stamp"]),
        "ns": ns,
        "id": int(stroke["index"]),
        "action": ADD,
        "color": {"r": float(c["r"]), "g": float(c["g"]), "b": float(c["b"]), "a": 1.0},
        "frame_locked": True,
    }
    wd = float(stroke["width"])
    if len(pts) == 1:
        p = pts[0]
        m.update(
            type=SPHERE,
            pose={"position": {"x": float(p["x"]), "y": float(p["y"]), "z": z}, "orientation": {"x": 0.0, "y": 0.0, "z": 0.0, "w": 1.0}},
            scale={"x": wd, "y": wd, "z": wd / 10},
        )
    else:
        m.update(
            type=LINE_STRIP,
            pose={"orientation": {"x": 0.0, "y": 0.0, "z": 0.0, "w": 1.0}},
            scale={"x": wd, "y": 0.0, "z": 0.0},
            points=[{"x": float(p["x"]), "y": float(p["y"]), "z": z} for p in pts],
        )
    return m


def plan_markers(plan: Mapping[str, Any], stamp: Mapping[str, int], upto: int | None = None) -> list[dict[str, Any]]:
    """The preview of a whole ``painter_msgs/StrokePlan`` dict: clear, canvas, then the
    first ``upto`` strokes (all by default)."""
    strokes: Iterable[Mapping[str, Any]] = plan["strokes"][: upto if upto is not None else None]
    frame = plan["header"]["frame_id"]
    return [delete_all(frame, stamp, "painter/strokes"), canvas_marker(plan, stamp)] + [stroke_marker(s, stamp) for s in strokes]


#: the preview node's parameters and their defaults
PREVIEW_DEFAULTS: dict[str, Any] = {
    "mode": "stream",  # "stream": the canvas when a plan arrives, then each stroke as it is streamed; "plan": the whole plan at once
}
