"""``animatepainter export rosbag``: a ROS 2 bag (MCAP) read back by rosbags and mcap."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from animatepainter.export.ros import convert
from animatepainter.cli import main
from animatepainter.planner.plan import StrokePlan

from test_ros2_convert import make_plan

T0 = 1_700_000_000_000_000_000


@pytest.fixture(scope="module")
def bag(tmp_path_factory):
    d = tmp_path_factory.mktemp("bag")
    plan = make_plan(300, seed=9)
    plan.save(d / "plan.json")
    rc = main(["-q", "export", "rosbag", str(d / "plan.json"), "-o", str(d / "run1"), "--rate", "20", "--start-ns", str(T0)])
    assert rc == 0
    return plan, d / "run1"


def test_bag_folder_holds_metadata_and_one_mcap(bag):
    plan, path = bag
    assert sorted(p.name for p in path.iterdir()) == ["metadata.yaml", "run1.mcap"]
    assert not list(path.parent.glob(".run1*")), "staging folder left behind"
    meta = (path / "metadata.yaml").read_text()
    assert "storage_identifier: mcap" in meta and "version: 9" in meta


def test_rosbags_reads_every_stroke_back_equal(bag):
    """rosbags' AnyReader decodes with the definitions stored in the bag itself."""
    from rosbags.highlevel import AnyReader
    from rosbags.typesys import Stores, get_typestore

    plan, path = bag
    strokes, plans, times = [], [], []
    with AnyReader([path], default_typestore=get_typestore(Stores.EMPTY)) as reader:
        conns = {c.topic: c for c in reader.connections}
        assert {t: c.msgtype for t, c in conns.items()} == {"/painter/plan": convert.PLAN_TYPE, "/painter/strokes": convert.STROKE_TYPE}
        qos_plan = conns["/painter/plan"].ext.offered_qos_profiles[0]
        assert (qos_plan.durability.name, qos_plan.reliability.name, qos_plan.depth) == ("TRANSIENT_LOCAL", "RELIABLE", 1)
        for conn, t, raw in reader.messages():
            msg = reader.deserialize(raw, conn.msgtype)
            (plans if conn.topic == "/painter/plan" else strokes).append(msg)
            times.append(t)
    assert len(plans) == 1 and len(strokes) == len(plan.strokes)
    h = plan.canvas.height_mm
    for i, (m, s) in enumerate(zip(strokes, plan.strokes)):
        assert (m.index, m.count, m.plan_id, m.header.frame_id) == (i, len(plan.strokes), convert.plan_id(plan), "canvas")
        pts = np.array([[p.x, p.y, p.z] for p in m.points])
        got = convert.stroke_from_dict(
            {"points": [{"x": x, "y": y, "z": z} for x, y, z in pts], "id": m.id, "width": m.width, "brush_id": m.brush_id,
             "paint_id": m.paint_id, "color": {"r": m.color.r, "g": m.color.g, "b": m.color.b}, "layer": m.layer, "level": m.level, "step": m.step},
            h,
        )
        assert got == s, f"stroke {i} differs"
        assert m.header.stamp.sec * 10**9 + m.header.stamp.nanosec == T0 + round((i + 1) * 1e9 / 20)
    assert times == sorted(times) and times[0] == T0
    p = plans[0]
    assert len(p.strokes) == len(plan.strokes) and p.strokes[17].id == plan.strokes[17].id
    assert json.loads(p.meta_json)["meta"]["settings"] == {"a": [1, 2.5]}


def test_mcap_file_carries_ros2msg_schemas(bag):
    """An independent MCAP reader sees ROS 2 schemas (full .msg text) and CDR messages."""
    from mcap.reader import make_reader

    plan, path = bag
    with open(path / "run1.mcap", "rb") as f:
        r = make_reader(f)
        summary = r.get_summary()
        schemas = {s.name: s for s in summary.schemas.values()}
        assert schemas["painter_msgs/msg/Stroke"].encoding == "ros2msg"
        text = schemas["painter_msgs/msg/Stroke"].data.decode()
        assert "geometry_msgs/Point[] points" in text and "MSG: geometry_msgs/Point" in text
        assert {c.message_encoding for c in summary.channels.values()} == {"cdr"}
        counts = {summary.channels[k].topic: v for k, v in summary.statistics.channel_message_counts.items()}
    assert counts == {"/painter/plan": 1, "/painter/strokes": len(plan.strokes)}


def test_same_plan_and_start_give_the_same_messages(bag, tmp_path):
    from mcap.reader import make_reader

    plan, path = bag
    plan.save(tmp_path / "plan.json")
    assert main(["-q", "export", "rosbag", str(tmp_path / "plan.json"), "-o", str(tmp_path / "b"), "--rate", "20", "--start-ns", str(T0)]) == 0

    def messages(p: Path):
        with open(p, "rb") as f:
            return [(m.log_time, bytes(m.data)) for _, _, m in make_reader(f).iter_messages()]

    assert messages(path / "run1.mcap") == messages(tmp_path / "b" / "b.mcap")


def test_bag_errors_are_one_line(tmp_path, capsys, bag):
    plan, path = bag
    (tmp_path / "bad.json").write_text('{"schema": "animatepainter.plan/1", "canvas": ')
    assert main(["export", "rosbag", str(tmp_path / "bad.json"), "-o", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "not valid JSON" in err and err.count("\n") == 1
    assert not (tmp_path / "x").exists()
    good = tmp_path / "good.json"
    plan.save(good)
    assert main(["export", "rosbag", str(good), "-o", str(path)]) == 2
    assert "exists (choose another name or pass --overwrite)" in capsys.readouterr().err
    assert main(["export", "rosbag", str(good), "-o", str(tmp_path / "y"), "--rate", "0"]) == 2
    assert "--rate must be a positive number" in capsys.readouterr().err
    assert main(["export", "rosbag", str(good), "-o", str(tmp_path / "y"), "--topic", "/a b"]) == 2
    assert "not a valid ROS 2 topic name" in capsys.readouterr().err
    # --overwrite replaces a bag whole
    assert main(["-q", "export", "rosbag", str(good), "-o", str(tmp_path / "z"), "--rate", "5"]) == 0
    assert main(["-q", "export", "rosbag", str(good), "-o", str(tmp_path / "z"), "--rate", "50", "--overwrite"]) == 0
    assert sorted(p.name for p in (tmp_path / "z").iterdir()) == ["metadata.yaml", "z.mcap"]
    assert StrokePlan.load(good).strokes == plan.strokes
