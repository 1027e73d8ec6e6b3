"""ROS 2 without ROS 2: ``painter_msgs`` on the DDS wire, in rosbag2 files, and the
conversions the ``ros2_ws/painter_ros`` nodes share.

* :mod:`.msgtypes` - the ``painter_msgs`` interface files (shipped as package data, the
  same bytes as ``ros2_ws/src/painter_msgs``), a rosbags typestore with them registered,
  and typed messages built from them for rosbags and for Cyclone DDS (the wire types are
  generated from the ``.msg`` text, so they cannot drift from it).
* :mod:`.convert` - :class:`~animatepainter.planner.plan.StrokePlan` <-> ROS-message-shaped
  dicts; frames and units (plan mm, SVG axes -> the ``canvas`` frame, metres, REP 103).
* :mod:`.names` - ROS 2 topic and type names and their DDS spellings, domain ids.
* :mod:`.stream` - pacing a stroke stream at a rate, resumable from a stroke index.
* :mod:`.dds` - publisher and listener over Eclipse Cyclone DDS, the way a ROS 2 node with
  ``rmw_cyclonedds_cpp`` talks (``rt/`` topics, ``pkg::msg::dds_::Name_`` types, XCDR1, QoS).
* :mod:`.listen` - the subscriber application behind ``animatepainter listen``: subscribe,
  collect strokes and the plan, stop by a rule (``Until``), format a line per message
  (``LineFormat``: text or JSON Lines), count and summarise (``ListenSession``, ``receive``).
* :mod:`.bag` - ROS 2 bags (MCAP storage) of a plan, written with rosbags.

Importing this package is cheap: cyclonedds and rosbags are imported by the modules
that need them.
"""

from __future__ import annotations

__all__ = ["msgtypes", "convert", "names", "stream", "dds", "listen", "bag"]
