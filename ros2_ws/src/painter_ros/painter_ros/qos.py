"""QoS profiles of the painter topics, as plain data (no rclpy).

The same profiles as ``animatepainter publish`` (:mod:`animatepainter.export.ros.dds`), so
nodes and the pip-installed tools interoperate:

* ``LATCHED``: the whole plan, ``/painter/plan``: reliable, transient local, keep last 1;
  a subscriber that joins late still gets the plan (subscribe with the same profile).
* ``STREAM``: the stroke stream, ``/painter/strokes``: reliable, volatile, keep all:
  every stroke is delivered, in order.
* ``PREVIEW``: RViz markers: reliable, transient local, keep last 1 (RViz's
  "Transient Local" durability shows the preview whenever it starts).
"""

from __future__ import annotations

LATCHED = {"reliability": "reliable", "durability": "transient_local", "history": "keep_last", "depth": 1}
STREAM = {"reliability": "reliable", "durability": "volatile", "history": "keep_all", "depth": 0}
PREVIEW = {"reliability": "reliable", "durability": "transient_local", "history": "keep_last", "depth": 1}
