"""ROS 2 bags of a plan (rosbag2, MCAP storage), written with rosbags.

The bag holds two topics, with the QoS a live ``animatepainter publish`` offers:

* the plan topic (default ``/painter/plan``): one ``painter_msgs/msg/StrokePlan`` at
  the bag's start time, offered latched (reliable, transient local, keep last 1), so
  ``ros2 bag play`` republishes it latched;
* the stroke topic (default ``/painter/strokes``): one ``painter_msgs/msg/Stroke`` per
  stroke, in execution order, stroke ``i`` at ``start + (i + 1) / rate`` seconds (reliable,
  volatile, keep all).

Each message's ``header.stamp`` equals its time in the bag. The MCAP file carries each
type's full ``.msg`` definition (``ros2msg`` schemas) and RIHS01 type hashes, so tools
without ``painter_msgs`` installed (rosbags, Foxglove) can decode it; ``ros2 bag play``
needs ``painter_msgs`` built (``ros2_ws``). The bag is written in rosbag2 format
version 9 (ROS 2 Jazzy and later). Output is atomic: the bag is assembled in a hidden
folder beside the destination and renamed into place when complete.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import time
from pathlib import Path

from animatepainter.planner.atomic import current_umask, publish_dir, recover_dir, stage_dir
from animatepainter.planner.errors import OutputError, SettingsError, one_line
from animatepainter.planner.plan import StrokePlan
from animatepainter.planner.progress import NULL_PROGRESS, Progress

from animatepainter.export.ros import convert
from animatepainter.export.ros.dds import DEFAULT_PLAN_TOPIC, DEFAULT_STROKE_TOPIC, _check_topics
from animatepainter.export.ros.msgtypes import DEFAULT_STORE, rosbags_factory

log = logging.getLogger(__name__)

__all__ = ["write_bag", "bag_qos"]

#: rosbag2's spelling of "default / infinite" for QoS durations
_INFINITE = (9223372036, 854775807)


def bag_qos(*, latched: bool):
    """The rosbags QoS profile recorded for a topic: latched (plan) or streamed (strokes)."""
    from rosbags.interfaces import Qos, QosDurability, QosHistory, QosLiveliness, QosReliability, QosTime

    inf = QosTime(*_INFINITE)
    return Qos(
        history=QosHistory.KEEP_LAST if latched else QosHistory.KEEP_ALL,
        depth=1 if latched else 0,
        reliability=QosReliability.RELIABLE,
        durability=QosDurability.TRANSIENT_LOCAL if latched else QosDurability.VOLATILE,
        deadline=inf,
        lifespan=inf,
        liveliness=QosLiveliness.AUTOMATIC,
        liveliness_lease_duration=inf,
        avoid_ros_namespace_conventions=False,
    )


def write_bag(
    plan: StrokePlan,
    bag: str | Path,
    *,
    stroke_topic: str = DEFAULT_STROKE_TOPIC,
    plan_topic: str = DEFAULT_PLAN_TOPIC,
    rate_hz: float = 10.0,
    start_ns: int | None = None,
    frame_id: str = convert.CANVAS_FRAME,
    overwrite: bool = False,
    store: str = DEFAULT_STORE,
    progress: Progress = NULL_PROGRESS,
) -> Path:
    """Write ``plan`` as a ROS 2 bag folder ``bag`` (``metadata.yaml`` + ``<name>.mcap``).

    Args:
        plan: the plan.
        bag: the bag folder to create.
        stroke_topic, plan_topic: ROS 2 topic names.
        rate_hz: strokes per second of bag time (> 0).
        start_ns: bag start time, ns since the UNIX epoch (default: now); the same plan
            and ``start_ns`` give the same messages.
        frame_id: the canvas frame's name in the headers.
        overwrite: replace an existing bag folder.
        store: ROS 2 distribution of the standard message definitions recorded.
        progress: progress reporter (one step per stroke).

    Returns:
        the bag folder.

    Raises:
        SettingsError: bad topic names or rate.
        OutputError: the bag exists (without ``overwrite``) or cannot be written.
    """
    from rosbags.rosbag2 import StoragePlugin, Writer, WriterError

    stroke_topic, plan_topic = _check_topics(stroke_topic, plan_topic)
    if not (rate_hz > 0 and rate_hz <= 1e6):
        raise SettingsError(f"rate_hz must be a positive number of strokes per second of bag time (up to 1e6), got {rate_hz}", "rate_hz")
    convert.check_plan_fits(plan)
    bag = Path(bag)
    if bag.exists() and not overwrite:
        raise OutputError(f"{bag}: exists (choose another name or pass --overwrite)")
    if bag.exists() and not bag.is_dir():
        raise OutputError(f"{bag}: exists and is not a bag folder")
    parent = bag.resolve().parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
        stage = Path(tempfile.mkdtemp(prefix=f".{bag.name}.tmp-", dir=parent))
    except OSError as e:
        raise OutputError(f"{bag}: cannot write there ({e.strerror})") from None
    try:
        inner = stage / bag.name
        factory = rosbags_factory(store)
        ts = factory.store
        t0 = time.time_ns() if start_ns is None else int(start_ns)
        pid = convert.plan_id(plan)
        n = len(plan.strokes)
        try:
            with Writer(inner, version=Writer.VERSION_LATEST, storage_plugin=StoragePlugin.MCAP) as w:
                c_plan = w.add_connection(plan_topic, convert.PLAN_TYPE, typestore=ts, offered_qos_profiles=[bag_qos(latched=True)])
                c_stroke = w.add_connection(stroke_topic, convert.STROKE_TYPE, typestore=ts, offered_qos_profiles=[bag_qos(latched=False)])
                pd = convert.plan_to_dict(plan, pid=pid, stamp=convert.stamp_dict(t0), frame_id=frame_id)
                w.write(c_plan, t0, ts.serialize_cdr(factory.build(convert.PLAN_TYPE, pd), convert.PLAN_TYPE))
                with progress.stage("bag", n) as st:
                    for i in range(n):
                        t = t0 + round((i + 1) * 1e9 / rate_hz)
                        d = convert.stroke_to_dict(plan, i, pid=pid, stamp=convert.stamp_dict(t), frame_id=frame_id)
                        w.write(c_stroke, t, ts.serialize_cdr(factory.build(convert.STROKE_TYPE, d), convert.STROKE_TYPE))
                        st.advance(1)
        except (WriterError, OSError) as e:
            raise OutputError(f"{bag}: cannot write the bag ({one_line(e, 160)})") from None
        _publish_dir(inner, bag)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    log.info("wrote %s: plan %s, %d strokes on %s at %g Hz", bag, pid, n, stroke_topic, rate_hz)
    return bag


def _publish_dir(src: Path, dest: Path) -> None:
    """Move the finished bag folder ``src`` to ``dest``, replacing an older bag there
    whole, in one step, only once the new one is complete
    (:func:`animatepainter.planner.atomic.publish_dir`)."""
    try:
        os.chmod(src, 0o777 & ~current_umask())
        staged = stage_dir(dest)
        try:
            os.replace(src, staged)  # over the empty staging folder, same file system
            recover_dir(dest)
            publish_dir(staged, dest, keep_others=False)
        finally:
            shutil.rmtree(staged, ignore_errors=True)
    except OSError as e:
        raise OutputError(f"{dest}: cannot publish the bag ({e.strerror or e})") from None
