"""preview: ``visualization_msgs/MarkerArray`` of the plan and the streamed strokes, for RViz.

Subscribes ``plan`` and ``strokes``; publishes ``preview`` (latched). Mode ``stream``
draws the canvas when a plan arrives and each stroke as it is streamed; mode ``plan``
draws the whole plan at once. Fixed frame in RViz: the plan's canvas frame.
"""

from __future__ import annotations

from rclpy.node import Node
from visualization_msgs.msg import MarkerArray

from painter_msgs.msg import Stroke, StrokePlan
from painter_ros.markers import PREVIEW_DEFAULTS, canvas_marker, delete_all, plan_markers, stroke_marker
from painter_ros.qos import LATCHED, PREVIEW, STREAM
from painter_ros.ros import qos_profile, run_node, to_dict, to_msg


class PreviewNode(Node):
    def __init__(self) -> None:
        super().__init__("preview")
        for name, default in PREVIEW_DEFAULTS.items():
            self.declare_parameter(name, default)
        self.mode = self.get_parameter("mode").value
        if self.mode not in ("stream", "plan"):
            raise SystemExit(f"preview: mode must be 'stream' or 'plan', got {self.mode!r}")
        self.pub = self.create_publisher(MarkerArray, "preview", qos_profile(PREVIEW))
        self.create_subscription(StrokePlan, "plan", self.on_plan, qos_profile(LATCHED))
        self.create_subscription(Stroke, "strokes", self.on_stroke, qos_profile(STREAM))

    def _send(self, markers) -> None:
        self.pub.publish(to_msg("visualization_msgs/msg/MarkerArray", {"markers": markers}))

    def on_plan(self, msg: StrokePlan) -> None:
        d = to_dict(msg)
        stamp = d["header"]["stamp"]
        if self.mode == "plan":
            self._send(plan_markers(d, stamp))
        else:
            self._send([delete_all(d["header"]["frame_id"], stamp, "painter/strokes"), canvas_marker(d, stamp)])

    def on_stroke(self, msg: Stroke) -> None:
        if self.mode == "stream":
            self._send([stroke_marker(to_dict(msg))])


def main(args=None) -> None:
    run_node(PreviewNode, "preview", args)


if __name__ == "__main__":
    main()
