"""The logic of the ros2_ws/painter_ros nodes, tested without ROS 2 (rclpy is not
installable here). The rclpy shells only translate between these functions and ROS."""

from __future__ import annotations

import ast
import importlib
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from animatepainter.export.ros import convert, msgtypes
from animatepainter.planner.errors import InputError, SettingsError
from animatepainter.planner.teacher.pipeline import PaintSettings

from test_ros2_convert import make_plan

PKG = Path(__file__).resolve().parents[1] / "ros2_ws" / "src" / "painter_ros"
sys.path.insert(0, str(PKG))

LOGIC = ["planning", "publishing", "execution", "markers", "qos", "replanning"]
SHELLS = ["planner_node", "plan_publisher_node", "execute_server_node", "preview_node", "ros"]


def _imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module.split(".")[0])
    return names


def test_logic_is_plain_python_and_shells_are_rclpy():
    ros_only = {"rclpy", "rosidl_runtime_py", "rcl_interfaces", "sensor_msgs", "visualization_msgs", "painter_msgs", "launch", "launch_ros"}
    for name in LOGIC:
        assert not (_imports(PKG / "painter_ros" / f"{name}.py") & ros_only), f"{name}.py must not need ROS 2"
        importlib.import_module(f"painter_ros.{name}")
    for name in SHELLS:
        assert "rclpy" in _imports(PKG / "painter_ros" / f"{name}.py")
    for f in list((PKG / "launch").glob("*.launch.py")) + list((PKG / "painter_ros").glob("*.py")) + [PKG / "setup.py"]:
        compile(f.read_text(), str(f), "exec")  # every file at least parses
    setup = (PKG / "setup.py").read_text()
    for exe, mod in [("planner", "planner_node"), ("plan_publisher", "plan_publisher_node"), ("execute_server", "execute_server_node"), ("preview", "preview_node")]:
        assert f'"{exe} = painter_ros.{mod}:main"' in setup
        for launch in (PKG / "launch").glob("*.launch.py"):
            text = launch.read_text()
            if f'executable="{exe}"' in text:
                assert 'package="painter_ros"' in text


def test_parameter_files_match_the_declared_defaults():
    """rclpy refuses a YAML value whose type differs from the declared default's
    (e.g. 10 for a double), so every config key must exist with the same type."""
    from painter_ros.execution import EXECUTOR_DEFAULTS
    from painter_ros.markers import PREVIEW_DEFAULTS
    from painter_ros.planning import PLANNER_DEFAULTS
    from painter_ros.publishing import PUBLISHER_DEFAULTS
    from painter_ros.replanning import REPLAN_DEFAULTS

    for fname, defaults in [
        ("planner.yaml", PLANNER_DEFAULTS),
        ("plan_publisher.yaml", PUBLISHER_DEFAULTS),
        ("execute_server.yaml", {**EXECUTOR_DEFAULTS, **REPLAN_DEFAULTS}),
        ("preview.yaml", PREVIEW_DEFAULTS),
    ]:
        params = yaml.safe_load((PKG / "config" / fname).read_text())["/**"]["ros__parameters"]
        assert set(params) == set(defaults), fname
        for k, v in params.items():
            assert type(v) is type(defaults[k]), f"{fname}: {k} is {type(v).__name__}, declared {type(defaults[k]).__name__}"


def test_planner_parameters_give_the_cli_defaults_and_refuse_bad_values():
    from painter_ros.planning import settings_from_params

    assert settings_from_params({}) == PaintSettings()
    s = settings_from_params({"strokes": 500, "canvas_width_mm": 400.0, "canvas_height_mm": 300.0, "background": [1, 2, 3], "frame_id": "x"})
    assert (s.strokes, s.canvas_mm, s.background) == (500, (400.0, 300.0), (1, 2, 3))
    with pytest.raises(SettingsError, match="unknown planner parameter 'stroke'"):
        settings_from_params({"stroke": 5})
    with pytest.raises(SettingsError, match="^strokes must be between"):
        settings_from_params({"strokes": 0})
    with pytest.raises(SettingsError, match="both be positive"):
        settings_from_params({"canvas_width_mm": 100.0})
    with pytest.raises(SettingsError, match="background"):
        settings_from_params({"background": [1, 2, 300]})


def test_image_messages_become_rgb():
    from painter_ros.planning import image_to_rgb

    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (5, 7, 3), dtype=np.uint8)
    pad = 3  # rows padded to `step`, as drivers do

    def rows(a: np.ndarray) -> bytes:
        flat = a.reshape(a.shape[0], -1).view(np.uint8)
        return b"".join(bytes(r) + b"\xee" * pad for r in flat)

    np.testing.assert_array_equal(image_to_rgb("rgb8", 7, 5, 21 + pad, rows(rgb)), rgb)
    np.testing.assert_array_equal(image_to_rgb("bgr8", 7, 5, 21 + pad, rows(rgb[..., ::-1].copy())), rgb)
    rgba = np.concatenate([rgb, np.full((5, 7, 1), 9, np.uint8)], axis=2)
    np.testing.assert_array_equal(image_to_rgb("rgba8", 7, 5, 28 + pad, rows(rgba)), rgb)
    gray = rgb[..., 0].copy()
    np.testing.assert_array_equal(image_to_rgb("mono8", 7, 5, 7 + pad, rows(gray)), np.repeat(gray[..., None], 3, axis=2))
    g16 = gray.astype(np.uint16) * 257  # 16-bit full scale, both byte orders
    np.testing.assert_array_equal(image_to_rgb("mono16", 7, 5, 14 + pad, rows(g16.astype("<u2"))), np.repeat(gray[..., None], 3, axis=2))
    np.testing.assert_array_equal(image_to_rgb("16UC1", 7, 5, 14 + pad, rows(g16.astype(">u2")), is_bigendian=1), np.repeat(gray[..., None], 3, axis=2))
    with pytest.raises(InputError, match="encoding 'yuv422' is not supported"):
        image_to_rgb("yuv422", 7, 5, 14, b"\0" * 70)
    with pytest.raises(InputError, match="do not hold the pixels"):
        image_to_rgb("rgb8", 7, 5, 21, b"\0" * 100)
    with pytest.raises(InputError, match="nothing to paint"):
        image_to_rgb("rgb8", 0, 5, 0, b"")


def test_plan_stream_paces_resumes_and_round_trips():
    from painter_ros.publishing import PlanStream, plan_from_message

    plan = make_plan(30, seed=5)
    s = PlanStream(plan, rate_hz=10.0, start_index=12, frame_id="easel")
    first = s.due(50.0, 123)
    assert [d["index"] for d in first] == [12] and first[0]["header"] == {"stamp": {"sec": 0, "nanosec": 123}, "frame_id": "easel"}
    assert [d["index"] for d in s.due(50.35, 0)] == [13, 14, 15]
    s.restart(28)
    assert [d["index"] for d in s.due(60.0, 0) + s.due(60.1, 0)] == [28, 29] and s.done
    msg = msgtypes.rosbags_factory().build(convert.PLAN_TYPE, s.plan_message(10**9))
    back = plan_from_message(msgtypes.rosbags_factory().to_dict(msg, convert.PLAN_TYPE))
    assert back.to_json() == plan.to_json()


def test_execution_feedback_cancel_resume_and_rig_errors():
    from painter_ros.execution import SimulatedRig, execute_plan, load_rig

    plan = make_plan(40, seed=6)
    rig = SimulatedRig()
    fb: list[dict] = []
    r = execute_plan(plan, rig, on_feedback=fb.append)
    assert (r.success, r.next_index, r.strokes_done, r.message) == (True, 40, 40, "done")
    assert [f["stroke_index"] for f in fb] == list(range(40)) and fb[-1]["progress"] == 1.0
    assert fb[5]["stroke_id"] == plan.strokes[5].id and fb[5]["strokes_total"] == 40
    assert rig.painted == list(range(40)) and rig.busy_s > 0 and rig.travel_mm > 0
    # feedback matches the action's Feedback fields
    from rosbags.typesys import get_types_from_msg

    feedback_def = msgtypes.interface_files()["action/ExecutePlan.action"].split("\n---\n")[2]
    fields = [f for f, _ in get_types_from_msg(feedback_def, "painter_msgs/msg/ExecutePlan_Feedback")["painter_msgs/msg/ExecutePlan_Feedback"][1]]
    assert sorted(fields) == sorted(fb[0])
    # cancel after 10 strokes, then resume from next_index: every stroke painted once
    rig2 = SimulatedRig()
    calls = iter(range(1000))
    r1 = execute_plan(plan, rig2, should_cancel=lambda: next(calls) >= 10)
    assert (r1.success, r1.next_index, r1.message) == (False, 10, "canceled")
    r2 = execute_plan(plan, rig2, r1.next_index)
    assert r2.success and rig2.painted == list(range(40))
    # a rig fault stops the plan and says where to resume
    rig3 = load_rig("painter_ros.execution:SimulatedRig", '{"fail_at": 17}')
    r3 = execute_plan(plan, rig3)
    assert (r3.success, r3.next_index, r3.strokes_done) == (False, 17, 17) and "simulated fault at stroke 17" in r3.message
    with pytest.raises(SettingsError, match="use 'module:Class'"):
        load_rig("SimulatedRig")
    with pytest.raises(SettingsError, match="cannot import"):
        load_rig("no_such_module_x:Rig")
    with pytest.raises(SettingsError, match="has no Nope"):
        load_rig("painter_ros.execution:Nope")
    with pytest.raises(SettingsError, match="bad rig_args"):
        load_rig("painter_ros.execution:SimulatedRig", '{"speed": 1}')
    with pytest.raises(SettingsError, match="lacks start/paint/stop"):
        load_rig("painter_ros.execution:ExecutionResult", '{"success": true, "next_index": 0, "strokes_done": 0, "message": ""}')
    with pytest.raises(SettingsError, match="start_index must be from 0 to 40"):
        execute_plan(plan, SimulatedRig(), 41)


@pytest.mark.parametrize("store", ["ros2_humble", "ros2_jazzy"])
def test_preview_markers_are_valid_marker_arrays(store):
    """The marker dicts build and serialise as visualization_msgs/MarkerArray of both
    distributions (Jazzy's Marker has more fields; left-out fields get defaults)."""
    from painter_ros import markers

    plan = make_plan(25, seed=8)
    d = convert.plan_to_dict(plan, stamp={"sec": 1, "nanosec": 2})
    arr = markers.plan_markers(d, d["header"]["stamp"])
    f = msgtypes.rosbags_factory(store)
    msg = f.build("visualization_msgs/msg/MarkerArray", {"markers": arr})
    raw = f.store.serialize_cdr(msg, "visualization_msgs/msg/MarkerArray")
    back = f.store.deserialize_cdr(raw, "visualization_msgs/msg/MarkerArray").markers
    assert back[0].action == markers.DELETEALL and back[1].type == markers.CUBE
    assert (back[1].scale.x, back[1].scale.y) == pytest.approx((0.3, 0.2)) and back[1].header.frame_id == "canvas"
    for i, (m, s) in enumerate(zip(back[2:], plan.strokes)):
        assert m.id == i and m.header.frame_id == "canvas"
        if len(s.points) == 1:
            assert m.type == markers.SPHERE and m.pose.position.x == pytest.approx(s.points[0][0] / 1000)
        else:
            assert m.type == markers.LINE_STRIP and len(m.points) == len(s.points)
            assert m.scale.x == pytest.approx(s.width_mm / 1000)
            assert m.points[0].y == pytest.approx((plan.canvas.height_mm - s.points[0][1]) / 1000)
        assert convert.color_to_rgb({"r": m.color.r, "g": m.color.g, "b": m.color.b}) == tuple(s.rgb)
    zs = [m.points[0].z if m.type == markers.LINE_STRIP else m.pose.position.z for m in back[2:]]
    assert zs == sorted(zs) and zs[0] > 0  # later strokes drawn over earlier ones
    assert len(markers.plan_markers(d, d["header"]["stamp"], upto=5)) == 2 + 5


def test_node_qos_matches_the_wire_and_the_bag():
    from painter_ros import qos

    from animatepainter.export.ros.bag import bag_qos

    from cyclonedds.qos import Policy

    from animatepainter.export.ros.dds import ros_qos

    for spec, latched in ((qos.LATCHED, True), (qos.STREAM, False)):
        b = bag_qos(latched=latched)
        assert (spec["reliability"], spec["durability"], spec["history"], spec["depth"]) == (
            b.reliability.name.lower(), b.durability.name.lower(), b.history.name.lower(), b.depth
        )
        q = ros_qos("RIHS01_x", latched=latched)
        assert isinstance(q[Policy.Reliability], Policy.Reliability.Reliable)
        assert q[Policy.Durability] == (Policy.Durability.TransientLocal if latched else Policy.Durability.Volatile)
        assert q[Policy.History] == (Policy.History.KeepLast(1) if latched else Policy.History.KeepAll)
        assert q[Policy.Userdata].data == b"typehash=RIHS01_x;"
        # plain CDR only: ROS 2's rmw offers and accepts XCDR1, so an XCDR2 writer would not match
        dr = q[Policy.DataRepresentation]
        assert dr.use_cdrv0_representation and not dr.use_xcdrv2_representation


class _CameraRig:
    """A painter_ros rig plug-in backed by the simulated rig (animatepainter.planner.rig):
    paints each stroke with the rig's errors and photographs the canvas on demand."""

    def __init__(self, rig, plan, seed=0):
        self.rig, self.seed = rig, seed
        self.canvas = None
        self.state = None
        self.plan = plan
        self.photos = 0

    def start(self, plan):
        from animatepainter.planner.rig.execute import blank_canvas

        self.canvas = blank_canvas(plan)

    def paint(self, index, stroke):
        from animatepainter.planner.rig.execute import execute_strokes

        one = self.plan.with_strokes([stroke])
        self.canvas, self.state, _ = execute_strokes(one, self.rig, self.canvas, 0, 1, self.seed, self.state)

    def stop(self):
        pass

    def photo(self):
        from animatepainter.planner.rig.camera import physical_canvas, photograph

        self.photos += 1
        return photograph(physical_canvas(self.plan, self.canvas, self.rig), self.rig, seed=self.photos)[0]


def test_execution_closes_the_loop_with_a_camera(scene):
    """The action server's logic with a camera: every N strokes the latest photo is
    registered and the strokes left are planned again; the feedback says so."""
    from painter_ros.execution import execute_plan
    from painter_ros.replanning import PhotoReplanner, replan_once

    from animatepainter.planner.rig.loop import plan_for_rig
    from animatepainter.planner.rig.profile import load_rig

    rig = load_rig("sim-arm")
    plan, res = plan_for_rig(scene.image, rig, PaintSettings(strokes=120, size=80, seed=1))
    # the plan as a node receives it: through the message
    plan = convert.plan_from_dict(convert.plan_to_dict(plan), source="test")
    cam = _CameraRig(rig, plan)
    replanner = PhotoReplanner(plan, scene.image, cam.photo)
    fb: list[dict] = []
    r = execute_plan(plan, cam, on_feedback=fb.append, replan_every=40, replan=replanner)
    assert r.success and r.replans == cam.photos == 2
    assert [f["replans"] for f in fb][39:42] == [1, 1, 1] and fb[-1]["replans"] == 2
    assert fb[-1]["strokes_done"] == fb[-1]["strokes_total"] == r.strokes_done
    assert 0 < fb[-1]["corner_error_mm"] < 1.0 and 0 < fb[-1]["delta_e2000"] < 2.0 and fb[-1]["replan_s"] > 0
    # a camera that sends nothing stops the goal with a clear message
    r2 = execute_plan(plan, _CameraRig(rig, plan), replan_every=40, replan=PhotoReplanner(plan, scene.image, lambda: None))
    assert not r2.success and r2.next_index == 40 and "no camera image arrived after stroke 39" in r2.message
    # the replan service's logic
    new, info = replan_once(plan, 60, cam.photo(), scene.image)
    assert new.strokes[:60] == plan.strokes[:60] and info["strokes_left_before"] == len(plan) - 60
