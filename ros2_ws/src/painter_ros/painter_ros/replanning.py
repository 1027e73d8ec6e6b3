"""Closed-loop replanning for the action server and the planner's ``replan`` service.

No rclpy here: :class:`PhotoReplanner` takes RGB arrays (the node converts
``sensor_msgs/Image`` with :func:`painter_ros.planning.image_to_rgb`) and calls the
library: the photo is registered by its corner markers and colour patches, and the
strokes left are planned again against it
(:func:`animatepainter.planner.rig.loop.register_and_replan`).
"""

from __future__ import annotations

import logging
from typing import Any, Callable

import numpy as np

from animatepainter.planner.errors import InputError
from animatepainter.planner.plan import StrokePlan
from animatepainter.planner.rig.loop import register_and_replan
from animatepainter.planner.teacher.replan import replan_inputs

log = logging.getLogger(__name__)

__all__ = ["REPLAN_DEFAULTS", "PhotoReplanner", "replan_once"]

#: the action server's closed-loop parameters and their defaults
REPLAN_DEFAULTS: dict[str, Any] = {
    "camera_topic": "",  # sensor_msgs/Image of the canvas; "" = open loop
    "replan_every": 0,  # strokes between photos when the goal does not say; 0 = never
    "camera_timeout_s": 10.0,  # how long to wait for a photo taken after a batch
}


class PhotoReplanner:
    """``replan(plan, done)`` for :func:`painter_ros.execution.execute_plan`: takes the
    latest photo from ``latest_photo()`` (uint8 RGB, or ``None`` when none came in time)
    and plans the strokes after ``done`` again against it.

    Args:
        plan: the plan of the goal (its settings say how the picture was prepared).
        picture: uint8 ``(H, W, 3)``: the picture being painted.
        latest_photo: returns a photo of the canvas taken after the last stroke painted.
    """

    def __init__(self, plan: StrokePlan, picture: np.ndarray, latest_photo: Callable[[], np.ndarray | None]) -> None:
        self.image, self.layers = replan_inputs(plan, picture)
        self.latest_photo = latest_photo

    def __call__(self, plan: StrokePlan, done: int) -> tuple[StrokePlan, dict[str, Any]]:
        photo = self.latest_photo()
        if photo is None:
            raise InputError(f"no camera image arrived after stroke {done - 1}")
        new, _, info = register_and_replan(plan, photo, self.image, self.layers, done)
        info["replan_s"] = info["replan_s"] + info["register_s"]
        log.info("replanned after %d strokes: %d left -> %d", done, info["strokes_left_before"], info["strokes_left_after"])
        return new, info


def replan_once(plan: StrokePlan, done: int, photo: np.ndarray, picture: np.ndarray) -> tuple[StrokePlan, dict[str, Any]]:
    """The ``replan`` service: register ``photo`` and plan the strokes after ``done``
    again; returns the new plan and the response's figures."""
    rp = PhotoReplanner(plan, picture, lambda: photo)
    return rp(plan, done)
