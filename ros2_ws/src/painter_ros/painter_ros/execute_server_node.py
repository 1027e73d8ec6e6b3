"""execute_server: the ``execute_plan`` action (painter_msgs/action/ExecutePlan) on a rig.

The rig is a plug-in (``rig`` = ``"module:Class"``, ``rig_args`` = JSON keyword
arguments); the default simulates one. Goals run one at a time; cancel stops after the
current stroke, and the result's ``next_index`` is the ``start_index`` to resume from.

The closed loop: with ``camera_topic`` set (sensor_msgs/Image of the canvas, its corner
markers in view) and a goal that carries the ``picture`` being painted, every
``replan_every`` strokes (the goal's, else the parameter) the server waits up to
``camera_timeout_s`` for an image taken after the last stroke, registers it and plans
the strokes left again against it (:mod:`painter_ros.replanning`); the feedback reports
the replans.
"""

from __future__ import annotations

import threading
import time

from rclpy.action import ActionServer, CancelResponse, GoalResponse
from rclpy.callback_groups import ReentrantCallbackGroup
from rclpy.node import Node
from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import Image

from animatepainter.planner.errors import AnimatePainterError
from painter_msgs.action import ExecutePlan
from painter_ros.execution import EXECUTOR_DEFAULTS, execute_plan, load_rig
from painter_ros.planning import image_to_rgb
from painter_ros.publishing import load_plan_param, plan_from_message
from painter_ros.replanning import REPLAN_DEFAULTS, PhotoReplanner
from painter_ros.ros import run_node, to_dict


def _rgb(img: Image):
    return image_to_rgb(img.encoding, img.width, img.height, img.step, bytes(img.data), img.is_bigendian)


class ExecuteServerNode(Node):
    def __init__(self) -> None:
        super().__init__("execute_server")
        for name, default in {**EXECUTOR_DEFAULTS, **REPLAN_DEFAULTS}.items():
            self.declare_parameter(name, default)
        self.rig = load_rig(self.get_parameter("rig").value, self.get_parameter("rig_args").value)
        self._busy = threading.Lock()
        self._photo_lock = threading.Condition()
        self._photo: tuple[float, Image] | None = None  # (time received, image)
        group = ReentrantCallbackGroup()
        camera = self.get_parameter("camera_topic").value
        if camera:
            self.create_subscription(Image, camera, self.on_image, qos_profile_sensor_data, callback_group=group)
        self.server = ActionServer(
            self,
            ExecutePlan,
            "execute_plan",
            execute_callback=self.execute,
            goal_callback=self.on_goal,
            cancel_callback=lambda goal_handle: CancelResponse.ACCEPT,
            callback_group=group,
        )
        self.get_logger().info(f"rig {type(self.rig).__name__} ready on 'execute_plan'" + (f", camera on '{camera}'" if camera else ""))

    def on_image(self, img: Image) -> None:
        with self._photo_lock:
            self._photo = (time.monotonic(), img)
            self._photo_lock.notify_all()

    def _photo_after(self, t0: float):
        """The first camera image received after ``t0`` (monotonic s), or None on timeout."""
        deadline = t0 + float(self.get_parameter("camera_timeout_s").value)
        with self._photo_lock:
            while self._photo is None or self._photo[0] <= t0:
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self._photo_lock.wait(left)
            return _rgb(self._photo[1])

    def on_goal(self, goal) -> GoalResponse:
        return GoalResponse.REJECT if self._busy.locked() else GoalResponse.ACCEPT

    def execute(self, goal_handle):
        goal = goal_handle.request
        with self._busy:
            try:
                plan = plan_from_message(to_dict(goal.plan)) if len(goal.plan.strokes) else load_plan_param(goal.plan_file)
                every = int(goal.replan_every) or int(self.get_parameter("replan_every").value)
                replanner = None
                if every > 0 and goal.picture.width > 0 and self.get_parameter("camera_topic").value:
                    # a photo must be newer than the last stroke: execute_plan calls the
                    # replanner right after the rig paints it
                    replanner = PhotoReplanner(plan, _rgb(goal.picture), lambda: self._photo_after(time.monotonic()))

                def on_feedback(f):
                    goal_handle.publish_feedback(ExecutePlan.Feedback(**f))

                result = execute_plan(
                    plan,
                    self.rig,
                    int(goal.start_index),
                    on_feedback=on_feedback,
                    should_cancel=lambda: goal_handle.is_cancel_requested,
                    replan_every=every if replanner else 0,
                    replan=replanner,
                )
            except AnimatePainterError as e:
                self.get_logger().error(str(e))
                goal_handle.abort()
                return ExecutePlan.Result(success=False, next_index=int(goal.start_index), strokes_done=0, message=str(e), replans=0)
        if result.message == "canceled":
            goal_handle.canceled()
        elif result.success:
            goal_handle.succeed()
        else:
            goal_handle.abort()
        self.get_logger().info(f"{result.message}: {result.strokes_done} strokes, {result.replans} replans, next index {result.next_index}")
        return ExecutePlan.Result(
            success=result.success, next_index=result.next_index, strokes_done=result.strokes_done, message=result.message, replans=result.replans
        )


def main(args=None) -> None:
    run_node(ExecuteServerNode, "execute_server", args, multithreaded=True)


if __name__ == "__main__":
    main()
