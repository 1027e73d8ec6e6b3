"""The closed loop over the wire: the simulated rig as a DDS node, and a controller that
paints through it, photographs, registers and replans.

:class:`RigNode` is the simulated rig (:mod:`animatepainter.planner.rig`) as a ROS 2
node would be: it subscribes the latched plan topic (``painter_msgs/StrokePlan``, for
the canvas) and the stroke stream (``painter_msgs/Stroke``), paints each stroke as it
arrives with the rig's errors (machine actions such as dips chosen by the rig, as a
real rig's driver does), and after every ``every`` strokes publishes a photo of the
canvas on the camera topic (``sensor_msgs/Image``, ``rgb8``; its stamp is the rig's
clock, one second per stroke painted, so the controller can tell which batch it shows).

:class:`WirePainter` is the controller's side, a
:data:`~animatepainter.planner.rig.loop.PaintBatch`: it publishes the plan (latched)
and streams a batch of strokes, then waits for the photo the rig takes after it;
:func:`~animatepainter.planner.rig.loop.closed_loop` registers it and replans, and the
next batch comes from the new plan. With the same seed the rig's errors and the
camera's noise are those of the in-process loop (``animatepainter rig run``), so the two
paint the same canvas up to the micrometre rounding of the wire format.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import numpy as np

from animatepainter.planner.plan import StrokePlan
from animatepainter.planner.render import to_uint8
from animatepainter.planner.rig.loop import SimulatedPainter
from animatepainter.planner.rig.profile import RigProfile

from animatepainter.export.ros import convert
from animatepainter.export.ros.dds import DEFAULT_PLAN_TOPIC, DEFAULT_STROKE_TOPIC, DeliveryError, Participant, PlanListener, PlanPublisher, _secs

log = logging.getLogger(__name__)

__all__ = ["DEFAULT_CAMERA_TOPIC", "IMAGE_TYPE", "image_to_dict", "image_from_msg", "RigNode", "WirePainter"]

DEFAULT_CAMERA_TOPIC = "/painter/camera"
IMAGE_TYPE = "sensor_msgs/msg/Image"


def image_to_dict(rgb: np.ndarray, stamp_ns: int, frame_id: str = "camera") -> dict[str, Any]:
    """``sensor_msgs/Image`` dict (``rgb8``) of a uint8 ``(H, W, 3)`` image."""
    h, w = rgb.shape[:2]
    return {
        "header": {"stamp": convert.stamp_dict(stamp_ns), "frame_id": frame_id},
        "height": int(h),
        "width": int(w),
        "encoding": "rgb8",
        "is_bigendian": 0,
        "step": int(w * 3),
        "data": np.ascontiguousarray(rgb, np.uint8).ravel().tolist(),
    }


def image_from_msg(msg: Any) -> np.ndarray:
    """uint8 ``(H, W, 3)`` of a received ``sensor_msgs/Image`` (``rgb8``) sample.

    Raises:
        DeliveryError: another encoding, or a size that does not match the data.
    """
    if msg.encoding != "rgb8" or len(msg.data) != msg.height * msg.step or msg.step != msg.width * 3:
        raise DeliveryError(f"camera image {msg.width}x{msg.height} {msg.encoding!r}: expected rgb8 with {msg.width * 3} bytes per row")
    return np.asarray(msg.data, np.uint8).reshape(msg.height, msg.width, 3)


class RigNode:
    """The simulated rig on the wire (see the module docstring).

    Args:
        participant: the DDS participant.
        rig: the rig that paints (its errors and camera).
        every: strokes between photos.
        seed: seed of its errors and of the camera noise (as :class:`~animatepainter.planner.rig.loop.SimulatedPainter`).
        stroke_topic, plan_topic, camera_topic: ROS 2 topics.
    """

    def __init__(
        self,
        participant: Participant,
        rig: RigProfile,
        every: int,
        seed: int = 0,
        *,
        stroke_topic: str = DEFAULT_STROKE_TOPIC,
        plan_topic: str = DEFAULT_PLAN_TOPIC,
        camera_topic: str = DEFAULT_CAMERA_TOPIC,
    ) -> None:
        self.p = participant
        self.rig, self.every = rig, int(every)
        self.listener = PlanListener(participant, stroke_topic=stroke_topic, plan_topic=plan_topic)
        self.camera = participant.writer(camera_topic, IMAGE_TYPE, latched=False)
        self.plan: StrokePlan | None = None
        self.received: list = []
        # paints and photographs as the in-process loop does (same errors, same noise)
        self.painter = SimulatedPainter(rig, seed)
        self.count = None  # strokes of the latest plan
        self.pending: list[dict[str, Any]] = []

    @property
    def painted(self) -> int:
        return len(self.received)

    @property
    def photos(self) -> int:
        return self.painter.photos

    @property
    def complete(self) -> bool:
        """Every stroke of the latest plan painted."""
        return self.count is not None and self.painted >= self.count

    def _paint(self, d: dict[str, Any]) -> None:
        assert self.plan is not None
        s = convert.stroke_from_dict(d, self.plan.canvas.height_mm)
        self.received.append(s)
        self.count = int(d["count"])
        i = len(self.received) - 1
        photo, _ = self.painter(self.plan.with_strokes(self.received), i, i + 1, self.painted % self.every == 0 and not self.complete)
        if photo is not None:
            # the rig's clock: one second per stroke painted
            self.camera.write(self.p.factory.build(IMAGE_TYPE, image_to_dict(photo, self.painted * 1_000_000_000)))
            log.info("photo %d after %d strokes", self.photos, self.painted)

    def spin_once(self, timeout_s: float = 0.2) -> None:
        """Take what arrived; paint the strokes in order (once a plan is known)."""
        for r in self.listener.poll(timeout_s):
            if r.kind == "plan":
                self.plan = convert.plan_from_dict(r.data, source="the plan topic")
            elif r.kind == "stroke":
                self.pending.append(r.data)
            elif r.kind == "problem":
                log.warning("%s", r.text)
        while self.pending and self.plan is not None:
            d = self.pending.pop(0)
            if int(d["index"]) != self.painted:
                raise DeliveryError(f"stroke {d['index']} arrived, stroke {self.painted} expected: the rig paints strokes in order, each once")
            self._paint(d)

    def run(self, timeout_s: float = 0.0) -> np.ndarray:
        """Paint until the latest plan is complete (or ``timeout_s`` passes, 0 = no limit);
        returns the true canvas, uint8 ``(h, w, 3)``.

        Raises:
            DeliveryError: the plan was not completed in time.
        """
        t_end = time.monotonic() + timeout_s if timeout_s > 0 else float("inf")
        while not self.complete:
            if time.monotonic() > t_end:
                raise DeliveryError(f"painted {self.painted} strokes in {timeout_s:g} s; the plan has {self.count if self.count is not None else 'an unknown number of'}")
            self.spin_once(0.2)
        self.camera.wait_for_acks(_secs(5.0))
        assert self.painter.canvas is not None
        return to_uint8(self.painter.canvas)


class WirePainter:
    """The controller's :data:`~animatepainter.planner.rig.loop.PaintBatch` over DDS (see
    the module docstring).

    Args:
        participant: the DDS participant.
        wait_for: rig nodes to wait for before the first stroke (count).
        timeout_s: how long to wait for the rig and for each photo.
        stroke_topic, plan_topic, camera_topic: ROS 2 topics.
    """

    def __init__(
        self,
        participant: Participant,
        *,
        wait_for: int = 1,
        timeout_s: float = 60.0,
        stroke_topic: str = DEFAULT_STROKE_TOPIC,
        plan_topic: str = DEFAULT_PLAN_TOPIC,
        camera_topic: str = DEFAULT_CAMERA_TOPIC,
    ) -> None:
        from cyclonedds.core import InstanceState, ReadCondition, SampleState, ViewState, WaitSet

        self.p = participant
        self.wait_for, self.timeout_s = wait_for, timeout_s
        self.topics = {"stroke_topic": stroke_topic, "plan_topic": plan_topic}
        self.camera_topic = camera_topic
        self.publisher: PlanPublisher | None = None
        self.camera = participant.reader(camera_topic, IMAGE_TYPE, latched=False)
        self._ws = WaitSet(participant.dp)
        self._ws.attach(ReadCondition(self.camera, SampleState.Any | ViewState.Any | InstanceState.Any))
        self.photos_received = 0
        self.sent = 0

    def _publisher(self, plan: StrokePlan) -> PlanPublisher:
        if self.publisher is None:
            self.publisher = PlanPublisher(plan, self.p, **self.topics)
            self.publisher.wait_for_subscribers(self.wait_for, self.timeout_s)
        else:  # the same writers, another plan
            self.publisher.plan = plan
            self.publisher.plan_id = convert.plan_id(plan)
        return self.publisher

    def __call__(self, commanded: StrokePlan, start: int, stop: int, photo: bool):
        pub = self._publisher(commanded)
        pub.publish_plan()
        for i in range(start, stop):
            pub._write(pub.stroke_writer, pub.stroke_message(i), f"stroke {i}")
        self.sent = stop
        if not photo:
            pub.wait_for_acks(self.timeout_s)
            return None, None
        return self._photo_after(stop), None

    def _photo_after(self, painted: int) -> np.ndarray:
        from cyclonedds.internal import InvalidSample

        t_end = time.monotonic() + self.timeout_s
        while time.monotonic() < t_end:
            self._ws.wait(_secs(0.2))
            for s in self.camera.take(N=16):
                if isinstance(s, InvalidSample):
                    continue
                self.photos_received += 1
                at = int(s.header.stamp.sec)  # the rig's clock: strokes painted
                if at == painted:
                    return image_from_msg(s)
                log.warning("a photo after %d strokes arrived, waiting for the one after %d", at, painted)
        raise DeliveryError(f"no photo of the canvas after stroke {painted - 1} arrived on {self.camera_topic} within {self.timeout_s:g} s")

    def finish(self) -> None:
        """Wait until the rig acknowledged every stroke."""
        if self.publisher is not None:
            self.publisher.wait_for_acks(self.timeout_s)

