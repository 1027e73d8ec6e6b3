"""The ExecutePlan action server on a rig (the simulated one by default).

    ros2 launch painter_ros execute.launch.py
    ros2 action send_goal --feedback /painter/execute_plan painter_msgs/action/ExecutePlan \
        "{plan_file: /abs/path/plan.json, start_index: 0}"

Use your own rig with rig:=my_package.my_module:MyRig rig_args:='{"port": "/dev/ttyUSB0"}'.
Close the loop with a camera: camera_topic:=/camera/image_raw replan_every:=25, and goals
that carry the picture being painted (see docs/closed_loop.md).
"""

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node
from launch_ros.parameter_descriptions import ParameterValue
from launch_ros.substitutions import FindPackageShare


def generate_launch_description():
    share = FindPackageShare("painter_ros")
    arg = LaunchConfiguration
    return LaunchDescription(
        [
            DeclareLaunchArgument("rig", default_value="painter_ros.execution:SimulatedRig", description="module:Class of the rig plug-in"),
            DeclareLaunchArgument("rig_args", default_value='{"time_scale": 0.01}', description="JSON keyword arguments of the rig"),
            DeclareLaunchArgument("camera_topic", default_value="", description="sensor_msgs/Image of the canvas with its corner markers ('' = open loop)"),
            DeclareLaunchArgument("replan_every", default_value="0", description="strokes between photos when the goal does not say (0 = never)"),
            Node(
                package="painter_ros",
                executable="execute_server",
                namespace="painter",
                parameters=[
                    PathJoinSubstitution([share, "config", "execute_server.yaml"]),
                    {
                        "rig": arg("rig"),
                        "rig_args": ParameterValue(arg("rig_args"), value_type=str),
                        "camera_topic": ParameterValue(arg("camera_topic"), value_type=str),
                        "replan_every": ParameterValue(arg("replan_every"), value_type=int),
                    },
                ],
                output="screen",
            ),
        ]
    )
