"""Everything that leaves the package: file exports of a StrokePlan (SVG, JSON,
G-code, rosbag2, video, HTML viewer), ONNX export and onnxruntime inference, and the
ROS 2 wire publisher."""

from .bundle import plan_metrics, write_outputs
from .svg import plan_to_svg, write_svg
from .video import contact_sheet, write_mp4

__all__ = ["plan_metrics", "write_outputs", "plan_to_svg", "write_svg", "contact_sheet", "write_mp4"]
