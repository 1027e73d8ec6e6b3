"""planner: image (topic or service) in, stroke plan out (latched).

Subscribes ``image`` (sensor_msgs/Image), serves ``plan_image`` (painter_msgs/srv/PlanImage)
and ``replan`` (painter_msgs/srv/Replan: the strokes left of a plan planned again from a
photo of the canvas), publishes ``plan`` (painter_msgs/msg/StrokePlan, latched). Parameters: see
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
from painter_msgs.srv import PlanImage, Replan
from painter_ros.planning import PLANNER_DEFAULTS, image_to_rgb, plan_image
from painter_ros.publishing import plan_from_message
from painter_ros.qos import LATCHED
from painter_ros.replanning import replan_once
from painter_ros.ros import now_ns, qos_profile, run_node, to_dict, to_msg


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
        self.create_service(Replan, "replan", self.on_replan, callback_group=group)
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


    def on_replan(self, request, response):
        try:
            plan = plan_from_message(to_dict(request.plan))
            photo = image_to_rgb(request.photo.encoding, request.photo.width, request.photo.height, request.photo.step, bytes(request.photo.data), request.photo.is_bigendian)
            picture = image_to_rgb(request.picture.encoding, request.picture.width, request.picture.height, request.picture.step, bytes(request.picture.data), request.picture.is_bigendian)
            with self._lock:
                new, info = replan_once(plan, int(request.done), photo, picture)
            frame_id = self.get_parameter("frame_id").value
            response.plan = to_msg("painter_msgs/msg/StrokePlan", convert.plan_to_dict(new, stamp=convert.stamp_dict(now_ns(self)), frame_id=frame_id))
            response.success = True
            response.strokes_left_before = int(info["strokes_left_before"])
            response.strokes_left_after = int(info["strokes_left_after"])
            response.corner_error_mm = float(info["corner_error_mm"])
            response.delta_e2000 = float(info["delta_e2000"])
            response.replan_s = float(info["replan_s"])
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
