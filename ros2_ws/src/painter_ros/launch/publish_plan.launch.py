"""Publish a plan file: latched plan + stroke stream, RViz preview, canvas frame.

    ros2 launch painter_ros publish_plan.launch.py plan_file:=/abs/path/plan.json rate_hz:=5.0

Topics (namespace /painter): plan (latched StrokePlan), strokes (Stroke stream), preview
(MarkerArray). The static transform parent_frame -> canvas puts the canvas's bottom-left
corner at (canvas_x, canvas_y, canvas_z) m, turned by canvas_yaw rad (REP 103 axes).
"""

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument
from launch.conditions import IfCondition
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node
from launch_ros.substitutions import FindPackageShare


def generate_launch_description():
    share = FindPackageShare("painter_ros")
    cfg = lambda name: PathJoinSubstitution([share, "config", name])  # noqa: E731
    arg = LaunchConfiguration
    return LaunchDescription(
        [
            DeclareLaunchArgument("plan_file", description="absolute path of the plan.json to publish"),
            DeclareLaunchArgument("rate_hz", default_value="10.0", description="strokes per second (0 = unlimited)"),
            DeclareLaunchArgument("start_index", default_value="0", description="first stroke to stream (resume)"),
            DeclareLaunchArgument("rviz", default_value="true", description="start RViz with the preview"),
            DeclareLaunchArgument("parent_frame", default_value="world", description="frame the canvas is placed in"),
            DeclareLaunchArgument("canvas_x", default_value="0.0", description="canvas origin (bottom-left corner) in parent_frame, m"),
            DeclareLaunchArgument("canvas_y", default_value="0.0"),
            DeclareLaunchArgument("canvas_z", default_value="0.0"),
            DeclareLaunchArgument("canvas_yaw", default_value="0.0", description="rotation of the canvas about z, rad"),
            Node(
                package="painter_ros",
                executable="plan_publisher",
                namespace="painter",
                parameters=[cfg("plan_publisher.yaml"), {"plan_file": arg("plan_file"), "rate_hz": arg("rate_hz"), "start_index": arg("start_index")}],
                output="screen",
            ),
            Node(package="painter_ros", executable="preview", namespace="painter", parameters=[cfg("preview.yaml")], output="screen"),
            Node(
                package="tf2_ros",
                executable="static_transform_publisher",
                arguments=[
                    "--x", arg("canvas_x"), "--y", arg("canvas_y"), "--z", arg("canvas_z"), "--yaw", arg("canvas_yaw"),
                    "--frame-id", arg("parent_frame"), "--child-frame-id", "canvas",
                ],
            ),
            Node(
                package="rviz2",
                executable="rviz2",
                arguments=["-d", PathJoinSubstitution([share, "rviz", "preview.rviz"])],
                condition=IfCondition(arg("rviz")),
            ),
        ]
    )
