"""planner: image (topic or service) in, stroke plan out (latched).

Subscribes ``image`` (sensor_msgs/Image), serves ``plan_image`` (painter_msgs/srv/PlanImage),
publishes ``plan`` (painter_msgs/msg/StrokePlan, latched). Parameters: see
:data:`painter_ros.planning.PLANNER_DEFAULTS` and ``config/planner.yaml``.
"""

from __future__ import annotations

import threading

from rclpy.callback_groups import MutuallyExclusiveCallbackGroup
from rclpy.node import Node
from sensor_msgs.msg import Image

from animatepainter.export.ros import convert
from animatepainter.planner.errors import AnimatePainterError
from painter_msgs.msg import StrokePlan
from painter_msgs.srv import PlanImage
from painter_ros.planning import PLANNER_DEFAULTS, image_to_rgb, plan_image
from painter_ros.qos import LATCHED
from painter_ros.ros import now_ns, qos_profile, run_node, to_msg


class PlannerNode(Node):
    def __init__(self) -> None:
        super().__init__("planner")
        for name, default in PLANNER_DEFAULTS.items():
            self.declare_parameter(name, default)
        self._lock = threading.Lock()  # one planning at a time
        group = MutuallyExclusiveCallbackGroup()
        self.plan_pub = self.create_publisher(StrokePlan, "plan", qos_profile(LATCHED))
        self.create_subscription(Image, "image", self.on_image, 1, callback_group=group)
        self.create_service(PlanImage, "plan_image", self.on_plan_image, callback_group=group)
        self.get_logger().info("ready: send a sensor_msgs/Image on 'image' or call 'plan_image'")

    def _plan(self, img: Image) -> StrokePlan:
        params = {n: self.get_parameter(n).value for n in PLANNER_DEFAULTS}
        frame_id = params.pop("frame_id")
        rgb = image_to_rgb(img.encoding, img.width, img.height, img.step, bytes(img.data), img.is_bigendian)
        with self._lock:
            plan = plan_image(rgb, params)
        d = convert.plan_to_dict(plan, stamp=convert.stamp_dict(now_ns(self)), frame_id=frame_id)
        self.get_logger().info(f"plan {d['plan_id']}: {len(plan.strokes)} strokes")
        return to_msg("painter_msgs/msg/StrokePlan", d)

    def on_image(self, img: Image) -> None:
        try:
            self.plan_pub.publish(self._plan(img))
        except AnimatePainterError as e:
            self.get_logger().error(str(e))

    def on_plan_image(self, request, response):
        try:
            response.plan = self._plan(request.image)
            response.success = True
            self.plan_pub.publish(response.plan)
        except AnimatePainterError as e:
            response.success = False
            response.message = str(e)
            self.get_logger().error(str(e))
        return response


def main(args=None) -> None:
    run_node(PlannerNode, "planner", args, multithreaded=True)


if __name__ == "__main__":
    main()
