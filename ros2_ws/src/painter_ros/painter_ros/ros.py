"""The rclpy side of the dict <-> message bridge, and QoS profiles (needs ROS 2)."""

from __future__ import annotations

from typing import Any, Callable, Mapping

from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
from rosidl_runtime_py.convert import message_to_ordereddict
from rosidl_runtime_py.set_message import set_message_fields
from rosidl_runtime_py.utilities import get_message

_REL = {"reliable": ReliabilityPolicy.RELIABLE, "best_effort": ReliabilityPolicy.BEST_EFFORT}
_DUR = {"volatile": DurabilityPolicy.VOLATILE, "transient_local": DurabilityPolicy.TRANSIENT_LOCAL}
_HIST = {"keep_last": HistoryPolicy.KEEP_LAST, "keep_all": HistoryPolicy.KEEP_ALL}


def qos_profile(spec: Mapping[str, Any]) -> QoSProfile:
    """An rclpy QoSProfile from a :mod:`painter_ros.qos` dict."""
    return QoSProfile(
        reliability=_REL[spec["reliability"]],
        durability=_DUR[spec["durability"]],
        history=_HIST[spec["history"]],
        depth=int(spec["depth"]),
    )


def to_msg(msgtype: str, data: Mapping[str, Any]) -> Any:
    """An rclpy message of ``msgtype`` (``"painter_msgs/msg/Stroke"``) filled from a dict."""
    msg = get_message(msgtype)()
    set_message_fields(msg, data)
    return msg


def to_dict(msg: Any) -> dict[str, Any]:
    """An rclpy message as nested dicts and lists."""
    return message_to_ordereddict(msg)


def now_ns(node) -> int:
    """The node's clock (ROS time; sim time when use_sim_time is set), ns."""
    return node.get_clock().now().nanoseconds


def run_node(make_node: Callable[[], Any], name: str, args: Any = None, multithreaded: bool = False) -> None:
    """The ``main`` of every painter_ros node: init, build, spin until Ctrl-C, shut down.

    A node whose parameters are invalid raises ``AnimatePainterError`` while it is
    built: that is logged as one fatal line and the process exits with status 2.
    """
    import rclpy
    from rclpy.executors import MultiThreadedExecutor
    from rclpy.logging import get_logger

    from animatepainter.planner.errors import AnimatePainterError

    rclpy.init(args=args)
    try:
        node = make_node()
    except AnimatePainterError as e:
        get_logger(name).fatal(str(e))
        rclpy.try_shutdown()
        raise SystemExit(2)
    try:
        if multithreaded:
            executor = MultiThreadedExecutor()
            executor.add_node(node)
            executor.spin()
        else:
            rclpy.spin(node)
    except KeyboardInterrupt:
        pass
    finally:
        node.destroy_node()
        rclpy.try_shutdown()
