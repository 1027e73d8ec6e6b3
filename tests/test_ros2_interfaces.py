"""painter_msgs: the shipped copies, the ROS 2 parsers' view, and the DDS wire types."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from animatepainter.export.ros import convert, msgtypes
from conftest import skip_unless
from animatepainter.export.ros.names import dds_type

ROOT = Path(__file__).resolve().parents[1]
WS_MSGS = ROOT / "ros2_ws" / "src" / "painter_msgs"
SYSTEM_PY = shutil.which("python3", path="/usr/bin:/bin")


def _ws_files() -> dict[str, str]:
    out = {}
    for kind, suffix in (("msg", ".msg"), ("srv", ".srv"), ("action", ".action")):
        for f in sorted((WS_MSGS / kind).glob(f"*{suffix}")):
            out[f"{kind}/{f.name}"] = f.read_text(encoding="utf-8")
    return out


def test_shipped_interfaces_equal_the_ros2_ws_files():
    shipped = msgtypes.interface_files()
    ws = _ws_files()
    assert set(shipped) == set(ws), "package data and ros2_ws/src/painter_msgs list different interface files"
    for name in ws:
        assert shipped[name] == ws[name], f"export/ros/interfaces/painter_msgs/{name} differs from ros2_ws; copy it over"
    # and CMakeLists.txt generates exactly these files
    cmake = (WS_MSGS / "CMakeLists.txt").read_text()
    for name in ws:
        assert f'"{name}"' in cmake, f"{name} is not in painter_msgs/CMakeLists.txt"


def _rosidl_available() -> bool:
    if not SYSTEM_PY:
        return False
    r = subprocess.run([SYSTEM_PY, "-c", "import em, rosidl_adapter.msg, rosidl_parser.parser"], capture_output=True)
    return r.returncode == 0


def test_rosidl_accepts_the_interfaces_and_agrees_with_rosbags(tmp_path):
    """The ROS 2 toolchain's own parsers (rosidl_adapter: .msg/.srv/.action -> .idl, as
    rosidl_generate_interfaces does; rosidl_parser: the .idl) accept every file, and see the
    same fields as the rosbags parser the package builds its wire types from. Skips without
    rosidl, fails instead under ANIMATEPAINTER_REQUIRE=rosidl (.ci/run)."""
    skip_unless("rosidl", _rosidl_available(), "ROS 2's rosidl Python tools are not installed (Debian: apt-get install python3-rosidl python3-empy)")
    script = r"""
import json, sys, pathlib
from rosidl_adapter.parser import parse_message_file, parse_service_file, parse_action_file
from rosidl_adapter.msg import convert_msg_to_idl
from rosidl_adapter.srv import convert_srv_to_idl
from rosidl_adapter.action import convert_action_to_idl
from rosidl_parser.parser import parse_idl_file
from rosidl_parser.definition import IdlLocator
pkg = pathlib.Path(sys.argv[1]); out = pathlib.Path(sys.argv[2])
fields = {}
for f in sorted((pkg / "msg").glob("*.msg")):
    spec = parse_message_file("painter_msgs", str(f))
    fields["painter_msgs/msg/" + f.stem] = [[f2.name, str(f2.type)] for f2 in spec.fields]
for f in sorted((pkg / "srv").glob("*.srv")):
    parse_service_file("painter_msgs", str(f))
for f in sorted((pkg / "action").glob("*.action")):
    parse_action_file("painter_msgs", str(f))
idls = []
for kind, conv in (("msg", convert_msg_to_idl), ("srv", convert_srv_to_idl), ("action", convert_action_to_idl)):
    for f in sorted((pkg / kind).glob("*." + kind)):
        idls.append(conv(pkg, "painter_msgs", pathlib.Path(kind) / f.name, out / kind))
for p in idls:
    parse_idl_file(IdlLocator(p.parent, pathlib.Path(p.name)))
print(json.dumps({"fields": fields, "idl": [str(p.relative_to(out)) for p in idls]}))
"""
    r = subprocess.run([SYSTEM_PY, "-c", script, str(WS_MSGS), str(tmp_path)], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    got = json.loads(r.stdout.strip().splitlines()[-1])  # rosidl_adapter prints progress lines first
    assert sorted(got["idl"]) == sorted(
        ["msg/Brush.idl", "msg/Paint.idl", "msg/Stroke.idl", "msg/StrokePlan.idl", "srv/PlanImage.idl", "srv/Replan.idl", "action/ExecutePlan.idl"]
    )
    ours = msgtypes.painter_msg_types()
    for name, flds in got["fields"].items():
        assert [f[0] for f in flds] == [f[0] for f in ours[name][1]], name


def test_action_and_service_sections_parse_with_rosbags():
    from rosbags.typesys import get_types_from_msg

    files = msgtypes.interface_files()
    goal, result, feedback = files["action/ExecutePlan.action"].split("\n---\n")
    req, resp = files["srv/PlanImage.srv"].split("\n---\n")
    rreq, rresp = files["srv/Replan.srv"].split("\n---\n")
    parsed = {}
    for text, name in ((goal, "Goal"), (result, "Result"), (feedback, "Feedback")):
        parsed.update(get_types_from_msg(text, f"painter_msgs/msg/ExecutePlan_{name}"))
    for text, name in ((req, "Request"), (resp, "Response")):
        parsed.update(get_types_from_msg(text, f"painter_msgs/msg/PlanImage_{name}"))
    for text, name in ((rreq, "Request"), (rresp, "Response")):
        parsed.update(get_types_from_msg(text, f"painter_msgs/msg/Replan_{name}"))
    assert [f for f, _ in parsed["painter_msgs/msg/ExecutePlan_Goal"][1]] == ["plan", "plan_file", "start_index", "picture", "replan_every"]
    assert [f for f, _ in parsed["painter_msgs/msg/ExecutePlan_Feedback"][1]] == [
        "stroke_index", "stroke_id", "strokes_done", "strokes_total", "progress", "replans", "corner_error_mm", "delta_e2000", "replan_s"
    ]
    assert [f for f, _ in parsed["painter_msgs/msg/PlanImage_Response"][1]] == ["success", "message", "plan"]
    assert [f for f, _ in parsed["painter_msgs/msg/Replan_Request"][1]] == ["plan", "done", "photo", "picture"]


def test_wire_types_are_generated_from_the_msg_files():
    f = msgtypes.dds_factory()
    ts = msgtypes.typestore()
    for name in msgtypes.MESSAGES:
        msgtype = f"painter_msgs/msg/{name}"
        cls = f.cls(msgtype)
        assert cls.__idl_typename__ == dds_type(msgtype) == f"painter_msgs::msg::dds_::{name}_"
        assert list(cls.__annotations__) == [fname for fname, _ in ts.fielddefs[msgtype][1]]
        msg_fields = [
            line.split()[1] for line in msgtypes.msg_text(name).splitlines() if line.strip() and not line.lstrip().startswith("#")
        ]
        assert list(cls.__annotations__) == msg_fields
    # the nested standard types carry their ROS 2 DDS names too
    assert f.cls("geometry_msgs/msg/Point").__idl_typename__ == "geometry_msgs::msg::dds_::Point_"
    assert f.cls("std_msgs/msg/Header").__idl_typename__ == "std_msgs::msg::dds_::Header_"


def test_a_changed_msg_file_changes_the_wire_type(monkeypatch):
    """No drift: the wire types follow the .msg text (here a field added to Stroke.msg)."""
    real = msgtypes.msg_text

    def patched(name):
        text = real(name)
        return text + "\nfloat64 pressure\n" if name == "Stroke" else text

    monkeypatch.setattr(msgtypes, "msg_text", patched)
    from rosbags.typesys import Stores, get_typestore

    ts = get_typestore(Stores.ROS2_JAZZY)
    ts.register(msgtypes.painter_msg_types())
    f = msgtypes.MessageFactory(ts, "dds")
    assert list(f.cls(convert.STROKE_TYPE).__annotations__)[-1] == "pressure"
    assert "pressure" not in msgtypes.dds_factory().cls(convert.STROKE_TYPE).__annotations__


def _sample_plan_dict(rng: np.random.Generator) -> dict:
    from animatepainter.planner.plan import Brush, Canvas, Paint, Stroke, StrokePlan

    strokes = [
        Stroke(
            id=i,
            points=np.round(rng.uniform(0, 100, (rng.integers(1, 7), 2)), 3),
            width_mm=2.5,
            brush=1,
            paint=i % 2,
            rgb=(int(rng.integers(256)), 7, 255),
            layer=i % 3,
            level=0,
            step=i,
        )
        for i in range(20)
    ]
    plan = StrokePlan(Canvas(120.0, 100.0), [Paint(0, (1, 2, 3), "a"), Paint(1, (250, 0, 9), "b")], [Brush(1, 2.5)], strokes, {"engine": "test", "version": "0"})
    return convert.plan_to_dict(plan, stamp={"sec": 1700000000, "nanosec": 123})


def test_dds_bytes_equal_rosbags_cdr_bytes():
    """Cyclone DDS's XCDR1 serialisation of the generated types is byte for byte the CDR
    that rosbags (an independent implementation of ROS 2's CDR) writes: what a ROS 2 rmw
    puts on the wire and expects to read."""
    d = _sample_plan_dict(np.random.default_rng(3))
    dds, rb, ts = msgtypes.dds_factory(), msgtypes.rosbags_factory(), msgtypes.typestore()
    for msgtype, data in ((convert.PLAN_TYPE, d), (convert.STROKE_TYPE, d["strokes"][5])):
        wire = dds.build(msgtype, data).serialize(use_version_2=False)
        ref = bytes(ts.serialize_cdr(rb.build(msgtype, data), msgtype))
        assert wire[:4] == b"\x00\x01\x00\x00"  # CDR_LE encapsulation, as ROS 2 sends
        assert wire == ref
        back = dds.to_dict(dds.cls(msgtype).deserialize(ref), msgtype)
        assert back == rb.to_dict(ts.deserialize_cdr(wire, msgtype), msgtype)


def test_message_factory_rejects_wrong_fields_and_fills_defaults():
    f = msgtypes.dds_factory()
    with pytest.raises(ValueError, match="has no field 'pressure'"):
        f.build(convert.STROKE_TYPE, {"pressure": 1.0})
    with pytest.raises(ValueError, match="not an integer"):
        f.build(convert.STROKE_TYPE, {"index": 2.5})
    with pytest.raises(ValueError, match="not a string"):
        f.build(convert.STROKE_TYPE, {"plan_id": 5})
    m = f.build(convert.STROKE_TYPE, {"index": 3})
    assert m.index == 3 and m.points == [] and m.header.frame_id == "" and m.color.a == 0.0
