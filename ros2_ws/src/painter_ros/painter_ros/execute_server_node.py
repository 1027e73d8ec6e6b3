"""execute_server: the ``execute_plan`` action (painter_msgs/action/ExecutePlan) on a rig.

The rig is a plug-in (``rig`` = ``"module:Class"``, ``rig_args`` = JSON keyword
arguments); the default simulates one. Goals run one at a time; cancel stops after the
current stroke, and the result's ``next_index`` is the ``start_index`` to resume from.
"""

from __future__ import annotations

import threading

from rclpy.action import ActionServer, CancelResponse, GoalResponse
from rclpy.callback_groups import ReentrantCallbackGroup
from rclpy.node import Node

from animatepainter.planner.errors import AnimatePainterError
from painter_msgs.action import ExecutePlan
from painter_ros.execution import EXECUTOR_DEFAULTS, execute_plan, load_rig
from painter_ros.publishing import load_plan_param, plan_from_message
from painter_ros.ros import run_node, to_dict


class ExecuteServerNode(Node):
    def __init__(self) -> None:
        super().__init__("execute_server")
        for name, default in EXECUTOR_DEFAULTS.items():
            self.declare_parameter(name, default)
        self.rig = load_rig(self.get_parameter("rig").value, self.get_parameter("rig_args").value)
        self._busy = threading.Lock()
        self.server = ActionServer(
            self,
            ExecutePlan,
            "execute_plan",
            execute_callback=self.execute,
            goal_callback=self.on_goal,
            cancel_callback=lambda goal_handle: CancelResponse.ACCEPT,
            callback_group=ReentrantCallbackGroup(),
        )
        self.get_logger().info(f"rig {type(self.rig).__name__} ready on 'execute_plan'")

    def on_goal(self, goal) -> GoalResponse:
        return GoalResponse.REJECT if self._busy.locked() else GoalResponse.ACCEPT

    def execute(self, goal_handle):
        goal = goal_handle.request
        with self._busy:
            try:
                plan = plan_from_message(to_dict(goal.plan)) if len(goal.plan.strokes) else load_plan_param(goal.plan_file)
                result = execute_plan(
                    plan,
                    self.rig,
                    int(goal.start_index),
                    on_feedback=lambda f: goal_handle.publish_feedback(ExecutePlan.Feedback(**f)),
                    should_cancel=lambda: goal_handle.is_cancel_requested,
                )
            except AnimatePainterError as e:
                self.get_logger().error(str(e))
                goal_handle.abort()
                return ExecutePlan.Result(success=False, next_index=int(goal.start_index), strokes_done=0, message=str(e))
        if result.message == "canceled":
            goal_handle.canceled()
        elif result.success:
            goal_handle.succeed()
        else:
            goal_handle.abort()
        self.get_logger().info(f"{result.message}: {result.strokes_done} strokes, next index {result.next_index}")
        return ExecutePlan.Result(success=result.success, next_index=result.next_index, strokes_done=result.strokes_done, message=result.message)


def main(args=None) -> None:
    run_node(ExecuteServerNode, "execute_server", args, multithreaded=True)


if __name__ == "__main__":
    main()
