"""Plan publisher node logic: the latched plan message and the paced, resumable stroke stream.

No rclpy here: :class:`PlanStream` hands out ROS-message-shaped dicts; the node
(:mod:`painter_ros.plan_publisher_node`) turns them into messages and publishes them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

from animatepainter.export.ros import convert
from animatepainter.export.ros.stream import StrokeSchedule
from animatepainter.planner.errors import SettingsError
from animatepainter.planner.plan import StrokePlan, load_plan

__all__ = ["PUBLISHER_DEFAULTS", "PlanStream", "load_plan_param"]

#: the plan publisher node's parameters and their defaults
PUBLISHER_DEFAULTS: dict[str, Any] = {
    "plan_file": "",  # plan.json to publish; "" = take plans from the plan_in topic
    "rate_hz": 10.0,  # strokes per second on the stream; 0 = as fast as delivery allows
    "start_index": 0,  # first stroke to stream (set it at run time to resume / jump)
    "paused": False,  # hold the stream (set at run time)
    "wait_for_subscribers": 1,  # stream only once this many stroke subscribers matched
    "frame_id": "canvas",  # the canvas frame in the headers
    "tick_hz": 100.0,  # how often the node checks for due strokes
}


def load_plan_param(path: str) -> StrokePlan:
    """The plan named by the ``plan_file`` parameter.

    Raises:
        SettingsError: empty path; PlanError: the file is not a valid plan.
    """
    if not path:
        raise SettingsError("plan_file is empty")
    return load_plan(Path(path).expanduser())


class PlanStream:
    """One plan being streamed.

    Args:
        plan: the plan.
        rate_hz: strokes per second (0 = unlimited, ``burst`` per tick).
        start_index: first stroke index to stream.
        frame_id: the canvas frame's name.
        burst: most strokes released per tick when behind.
    """

    def __init__(self, plan: StrokePlan, *, rate_hz: float = 10.0, start_index: int = 0, frame_id: str = convert.CANVAS_FRAME, burst: int = 64) -> None:
        convert.check_plan_fits(plan)
        self.plan = plan
        self.plan_id = convert.plan_id(plan)
        self.frame_id = frame_id
        self.rate_hz = float(rate_hz)
        self.burst = burst
        self.schedule = StrokeSchedule(len(plan.strokes), int(start_index), self.rate_hz, burst)

    @property
    def next_index(self) -> int:
        """The next stroke to send (``len(plan)`` when done)."""
        return self.schedule.next_index

    @property
    def done(self) -> bool:
        return self.schedule.done

    def restart(self, start_index: int) -> None:
        """Stream again from ``start_index`` (resume after an interruption, or jump)."""
        self.schedule = StrokeSchedule(len(self.plan.strokes), int(start_index), self.rate_hz, self.burst)

    def plan_message(self, stamp_ns: int) -> dict[str, Any]:
        """The ``painter_msgs/StrokePlan`` dict of the whole plan, stamped ``stamp_ns``."""
        return convert.plan_to_dict(self.plan, pid=self.plan_id, stamp=convert.stamp_dict(stamp_ns), frame_id=self.frame_id)

    def due(self, now_s: float, stamp_ns: int) -> list[dict[str, Any]]:
        """``painter_msgs/Stroke`` dicts due at ``now_s`` (a monotonic clock, s), in order."""
        stamp = convert.stamp_dict(stamp_ns)
        return [
            convert.stroke_to_dict(self.plan, i, pid=self.plan_id, stamp=stamp, frame_id=self.frame_id)
            for i in self.schedule.due(now_s)
        ]


def plan_from_message(d: Mapping[str, Any]) -> StrokePlan:
    """A plan from a received ``painter_msgs/StrokePlan`` dict (validated)."""
    return convert.plan_from_dict(d, source="plan_in")
