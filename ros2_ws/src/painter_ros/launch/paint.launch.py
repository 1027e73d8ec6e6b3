"""The whole pipeline: planner (image in) -> plan publisher (stream) -> RViz preview.

    ros2 launch painter_ros paint.launch.py
    ros2 service call /painter/plan_image painter_msgs/srv/PlanImage "{image: ...}"
    # or publish a sensor_msgs/Image on /painter/image (e.g. from a camera driver, remapped)

The planner publishes each plan latched on /painter/plan; the plan publisher streams its
strokes on /painter/strokes at rate_hz; the preview draws them on /painter/preview.
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
            DeclareLaunchArgument("strokes", default_value="2000", description="stroke budget per plan"),
            DeclareLaunchArgument("rate_hz", default_value="10.0", description="strokes per second on the stream"),
            DeclareLaunchArgument("rviz", default_value="true", description="start RViz with the preview"),
            Node(
                package="painter_ros",
                executable="planner",
                namespace="painter",
                parameters=[cfg("planner.yaml"), {"strokes": arg("strokes")}],
                output="screen",
            ),
            Node(
                package="painter_ros",
                executable="plan_publisher",
                namespace="painter",
                parameters=[cfg("plan_publisher.yaml"), {"plan_file": "", "rate_hz": arg("rate_hz")}],
                output="screen",
            ),
            Node(package="painter_ros", executable="preview", namespace="painter", parameters=[cfg("preview.yaml")], output="screen"),
            Node(
                package="tf2_ros",
                executable="static_transform_publisher",
                arguments=["--frame-id", "world", "--child-frame-id", "canvas"],
            ),
            Node(
                package="rviz2",
                executable="rviz2",
                arguments=["-d", PathJoinSubstitution([share, "rviz", "preview.rviz"])],
                condition=IfCondition(arg("rviz")),
            ),
        ]
    )
