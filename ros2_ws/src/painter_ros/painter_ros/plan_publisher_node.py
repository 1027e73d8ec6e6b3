"""plan_publisher: the whole plan latched on ``plan``, its strokes streamed on ``strokes``.

With ``plan_file`` set it publishes that file; otherwise it streams every plan that
arrives on ``plan`` (from the planner node). Set ``start_index`` at run time to resume
(``ros2 param set /painter/plan_publisher start_index 120``), ``paused`` to hold.
Parameters: :data:`painter_ros.publishing.PUBLISHER_DEFAULTS`, ``config/plan_publisher.yaml``.
"""

from __future__ import annotations

import time

from rcl_interfaces.msg import SetParametersResult
from rclpy.node import Node

from animatepainter.planner.errors import AnimatePainterError
from painter_msgs.msg import Stroke, StrokePlan
from painter_ros.publishing import PUBLISHER_DEFAULTS, PlanStream, load_plan_param, plan_from_message
from painter_ros.qos import LATCHED, STREAM
from painter_ros.ros import now_ns, qos_profile, run_node, to_dict, to_msg


class PlanPublisherNode(Node):
    def __init__(self) -> None:
        super().__init__("plan_publisher")
        for name, default in PUBLISHER_DEFAULTS.items():
            self.declare_parameter(name, default)
        self.p = {n: self.get_parameter(n).value for n in PUBLISHER_DEFAULTS}
        self.stream: PlanStream | None = None
        self._reported = -1
        self.stroke_pub = self.create_publisher(Stroke, "strokes", qos_profile(STREAM))
        if self.p["plan_file"]:
            self.plan_pub = self.create_publisher(StrokePlan, "plan", qos_profile(LATCHED))
            plan = load_plan_param(self.p["plan_file"])  # a bad file ends the node with its one-line error
            self._start(plan, int(self.p["start_index"]))
            self.plan_pub.publish(to_msg("painter_msgs/msg/StrokePlan", self.stream.plan_message(now_ns(self))))
        else:
            self.create_subscription(StrokePlan, "plan", self.on_plan, qos_profile(LATCHED))
            self.get_logger().info("waiting for plans on 'plan'")
        self.add_on_set_parameters_callback(self.on_params)
        self.create_timer(1.0 / float(self.p["tick_hz"]), self.on_tick)

    def _start(self, plan, start_index: int) -> None:
        self.stream = PlanStream(plan, rate_hz=float(self.p["rate_hz"]), start_index=start_index, frame_id=self.p["frame_id"])
        self._reported = -1
        self.get_logger().info(f"plan {self.stream.plan_id}: streaming strokes {start_index}..{len(plan.strokes) - 1} at {self.p['rate_hz']} Hz")

    def on_plan(self, msg: StrokePlan) -> None:
        try:
            self._start(plan_from_message(to_dict(msg)), 0)
        except AnimatePainterError as e:
            self.get_logger().error(f"plan on 'plan' ignored: {e}")

    def on_params(self, params) -> SetParametersResult:
        for prm in params:
            if prm.name not in PUBLISHER_DEFAULTS:
                continue
            if prm.name == "start_index" and self.stream is not None:
                n = len(self.stream.plan.strokes)
                if not 0 <= prm.value <= n:
                    return SetParametersResult(successful=False, reason=f"start_index must be 0..{n}")
                self.stream.restart(int(prm.value))
                self.get_logger().info(f"resuming at stroke {prm.value}")
            elif prm.name == "rate_hz":
                if prm.value < 0:
                    return SetParametersResult(successful=False, reason="rate_hz must be >= 0")
                if self.stream is not None:
                    self.stream.rate_hz = float(prm.value)
                    self.stream.restart(self.stream.next_index)
            self.p[prm.name] = prm.value
        return SetParametersResult(successful=True)

    def on_tick(self) -> None:
        s = self.stream
        if s is None or s.done or self.p["paused"]:
            return
        if self.stroke_pub.get_subscription_count() < int(self.p["wait_for_subscribers"]):
            return
        for d in s.due(time.monotonic(), now_ns(self)):
            self.stroke_pub.publish(to_msg("painter_msgs/msg/Stroke", d))
        n = len(s.plan.strokes)
        tenth = 10 * s.next_index // max(1, n)
        if tenth != self._reported:
            self._reported = tenth
            self.get_logger().info(f"plan {s.plan_id}: {s.next_index}/{n} strokes sent")


def main(args=None) -> None:
    run_node(PlanPublisherNode, "plan_publisher", args)


if __name__ == "__main__":
    main()
