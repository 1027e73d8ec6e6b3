"""Plan <-> painter_msgs conversions, frames and units, names, stream pacing."""

from __future__ import annotations

import json

import numpy as np
import pytest

from animatepainter.export.ros import convert, msgtypes
from animatepainter.export.ros.names import check_domain_id, check_topic, dds_topic, dds_type, ros_topic, ros_type
from animatepainter.export.ros.stream import StrokeSchedule, check_rate
from animatepainter.planner.errors import PlanError, SettingsError
from animatepainter.planner.plan import Brush, Canvas, Paint, Stroke, StrokePlan


def make_plan(n: int = 50, seed: int = 0, w: float = 300.0, h: float = 200.0) -> StrokePlan:
    rng = np.random.default_rng(seed)
    palette = [Paint(i, tuple(int(v) for v in rng.integers(0, 256, 3)), f"p{i}") for i in range(5)]
    brushes = [Brush(0, 8.0, "round"), Brush(3, 1.5, "flat")]
    strokes = []
    for i in range(n):
        k = int(rng.integers(1, 6))
        pts = np.round(np.column_stack([rng.uniform(0, w, k), rng.uniform(0, h, k)]), 3)
        b = brushes[i % 2]
        strokes.append(Stroke(1000 + i, pts, b.width_mm, b.id, i % 5, palette[i % 5].rgb, i * 3 // n, i % 4, i * 10 // n))
    c = Canvas(w, h, (250, 249, 240), (640, 427), (0.0, 0.0, w, h))
    return StrokePlan(c, palette, brushes, strokes, {"engine": "test", "version": "0.1.0", "seed": seed, "settings": {"a": [1, 2.5]}})


def test_canvas_frame_axes_and_units():
    # plan: mm, origin top-left, y down; canvas frame: m, origin bottom-left, y up, z out
    corners_mm = np.array([[0.0, 0.0], [300.0, 0.0], [0.0, 200.0], [300.0, 200.0]])
    m = convert.mm_to_canvas_m(corners_mm, 200.0)
    np.testing.assert_allclose(m, [[0.0, 0.2, 0.0], [0.3, 0.2, 0.0], [0.0, 0.0, 0.0], [0.3, 0.0, 0.0]])
    # right-handed (REP 103): x right and y up on the surface make z point out of it
    ex, ey = m[1] - m[0], m[0] - m[2]
    assert np.cross(ex, ey)[2] > 0
    back = convert.canvas_m_to_mm(m, 200.0)
    np.testing.assert_array_equal(back, corners_mm)


def test_colours_survive_float32_exactly():
    for v in range(256):
        c = convert.rgb_to_color((v, 255 - v, v // 2))
        c32 = {k: float(np.float32(x)) for k, x in c.items()}
        assert convert.color_to_rgb(c32) == (v, 255 - v, v // 2)
        assert c["a"] == 1.0


@pytest.mark.parametrize("kind", ["dds", "rosbags"])
def test_plan_round_trips_through_typed_messages_exactly(kind):
    plan = make_plan(200, seed=4)
    f = msgtypes.dds_factory() if kind == "dds" else msgtypes.rosbags_factory()
    d = convert.plan_to_dict(plan, stamp={"sec": 5, "nanosec": 6}, frame_id="easel")
    msg = f.build(convert.PLAN_TYPE, d)
    if kind == "dds":  # through the wire bytes
        msg = type(msg).deserialize(msg.serialize(use_version_2=False))
    else:
        ts = msgtypes.typestore()
        msg = ts.deserialize_cdr(ts.serialize_cdr(msg, convert.PLAN_TYPE), convert.PLAN_TYPE)
    back = convert.plan_from_dict(f.to_dict(msg, convert.PLAN_TYPE))
    assert back.to_json() == plan.to_json()
    assert back.strokes == plan.strokes
    s = d["strokes"][7]
    assert s["header"] == {"stamp": {"sec": 5, "nanosec": 6}, "frame_id": "easel"}
    assert (s["index"], s["count"], s["id"], s["plan_id"]) == (7, 200, 1007, convert.plan_id(plan))
    assert s["width"] == pytest.approx(plan.strokes[7].width_mm / 1000)
    p0 = plan.strokes[7].points[0]
    assert (s["points"][0]["x"], s["points"][0]["y"]) == pytest.approx((p0[0] / 1000, (200.0 - p0[1]) / 1000))
    assert json.loads(d["meta_json"])["image_px"] == [640, 427]


def test_plan_id_depends_on_content():
    a, b = make_plan(10, 1), make_plan(10, 2)
    assert convert.plan_id(a) == convert.plan_id(make_plan(10, 1))
    assert convert.plan_id(a) != convert.plan_id(b)
    assert len(convert.plan_id(a)) == 16


def test_ids_that_do_not_fit_uint32_are_refused():
    plan = make_plan(3)
    big = plan.with_strokes([plan.strokes[0], plan.strokes[1]] + [Stroke(2**32, plan.strokes[2].points, 1.5, 3, 0, (1, 1, 1), 0, 0, 9)])
    with pytest.raises(PlanError, match=r"strokes\[2\]\.id 4294967296 does not fit a uint32"):
        convert.plan_to_dict(big)


def test_a_malformed_plan_message_is_a_one_line_plan_error():
    d = convert.plan_to_dict(make_plan(5))
    bad = dict(d, meta_json="[1, 2]")
    with pytest.raises(PlanError, match="not a valid painter_msgs/StrokePlan"):
        convert.plan_from_dict(bad)
    off_canvas = json.loads(json.dumps(d))
    off_canvas["strokes"][2]["points"][0]["x"] = 5.0  # 5 m on a 0.3 m canvas
    with pytest.raises(PlanError, match=r"strokes\[2\]\.points: .* outside the 300.0 x 200.0 mm canvas") as e:
        convert.plan_from_dict(off_canvas)
    assert "\n" not in str(e.value)


def test_names_follow_ros2():
    assert check_topic("painter/strokes") == "/painter/strokes"
    assert dds_topic("/painter/strokes") == "rt/painter/strokes"
    assert ros_topic("rt/painter/strokes") == "/painter/strokes" and ros_topic("rq/x/y") is None
    assert dds_type("painter_msgs/msg/Stroke") == "painter_msgs::msg::dds_::Stroke_"
    assert ros_type("std_msgs::msg::dds_::String_") == "std_msgs/msg/String" and ros_type("Foo") is None
    for bad in ["", "/", "/painter/", "/9lives", "/a b", "/a//b", "/a__b", "~/x"]:
        with pytest.raises(SettingsError, match="topic"):
            check_topic(bad)
    assert check_domain_id(0) == 0 and check_domain_id(232) == 232
    for bad in [-1, 233, 1000, True]:
        with pytest.raises(SettingsError, match="^domain_id must be an integer from 0 to 232"):
            check_domain_id(bad)


def test_schedule_paces_and_resumes():
    s = StrokeSchedule(count=10, start=4, rate_hz=2.0)
    assert list(s.due(100.0)) == [4]
    assert list(s.due(100.4)) == []
    assert s.wait_s(100.4) == pytest.approx(0.1)
    assert list(s.due(100.5)) == [5]
    assert list(s.due(101.6)) == [6, 7]  # catches up after a stall
    assert list(s.due(200.0)) == [8, 9] and s.done and s.wait_s(200.0) == 0.0
    fast = StrokeSchedule(count=300, rate_hz=0.0, burst=128)
    assert len(fast.due(0.0)) == 128 and len(fast.due(0.0)) == 128 and len(fast.due(0.0)) == 44 and fast.done
    assert StrokeSchedule(count=5, start=5).done
    with pytest.raises(SettingsError, match="^start must be a stroke index from 0 to 5"):
        StrokeSchedule(count=5, start=6)
    for bad in (-1.0, float("nan"), float("inf")):
        with pytest.raises(SettingsError, match="^rate_hz must be"):
            check_rate(bad)
