"""rclpy nodes for AnimatePainter (ROS 2).

The nodes (``*_node.py``) are thin rclpy shells; their logic lives in plain modules that
import neither rclpy nor ROS message packages, so it is tested without ROS 2
(``tests/test_ros2_nodes.py`` in the animatepainter repository):

* :mod:`painter_ros.planning` - image messages to RGB arrays, node parameters to planner settings;
* :mod:`painter_ros.publishing` - the plan publisher's stream (pacing, resume, messages);
* :mod:`painter_ros.execution` - executing a plan on a rig (the :class:`~painter_ros.execution.Rig`
  interface, a simulated rig, loading a rig plug-in);
* :mod:`painter_ros.markers` - ``visualization_msgs/MarkerArray`` previews for RViz;
* :mod:`painter_ros.qos` - the QoS profiles, as plain data.

Messages are built from ROS-message-shaped dicts (:mod:`animatepainter.export.ros.convert`),
turned into rclpy messages by :func:`painter_ros.ros.to_msg`.
"""
