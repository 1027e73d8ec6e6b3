"""Everything that leaves the package: file exports of a StrokePlan (SVG, JSON,
G-code, rosbag2, video, HTML viewer), ONNX export and onnxruntime inference, and the
ROS 2 wire publisher."""

from animatepainter.export.bundle import write_outputs
from animatepainter.export.svg import plan_to_svg, write_svg
from animatepainter.export.video import contact_sheet, write_mp4

__all__ = ["write_outputs", "plan_to_svg", "write_svg", "contact_sheet", "write_mp4"]
