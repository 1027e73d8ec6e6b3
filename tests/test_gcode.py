"""Plotter exports: G-code read back by a strict independent reader, layered SVG through vpype, CLI."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from animatepainter.export.gcode import plan_to_gcode
from animatepainter.export.svg_layers import layer_groups, plan_to_layered_svg
from animatepainter.planner.errors import PlanError
from animatepainter.planner.machine.profile import profile_from_dict
from animatepainter.planner.teacher.pipeline import PaintSettings, plan_painting
from animatepainter.planner.plan import StrokePlan
from animatepainter.planner.machine.adapt import apply_machine, machine_settings
from animatepainter.planner.machine.motion import machine_report
from conftest import run_cli

ARM = {
    "name": "gcode arm",
    "kind": "painting_arm",
    "canvas": {"width_mm": 160.0, "height_mm": 120.0, "margins_mm": [8.0, 6.0, 8.0, 6.0], "origin_mm": [70.0, 15.0], "y_axis": "down"},
    "motion": {"pen_up_z_mm": 12.0, "pen_down_z_mm": 1.5, "draw_speed_mm_s": 30.0, "z_speed_mm_s": 10.0, "home_mm": [0.0, 0.0]},
    "tool_change": {"mode": "m6", "time_s": 6.0, "position_mm": [5.0, 5.0]},
    "paints": [
        {"name": "white", "rgb": [240, 240, 235], "well_mm": [20.0, 20.0]},
        {"name": "black", "rgb": [30, 30, 30], "well_mm": [20.0, 40.0]},
        {"name": "green", "rgb": [70, 140, 60], "well_mm": [20.0, 60.0]},
        {"name": "blue", "rgb": [50, 70, 170], "well_mm": [20.0, 80.0]},
        {"name": "ochre", "rgb": [200, 160, 80], "well_mm": [40.0, 20.0]},
    ],
    "brushes": [{"name": "r3", "width_mm": 3.0, "tool": 7, "capacity_mm": 40.0}, {"name": "f10", "width_mm": 10.0, "tool": 9, "capacity_mm": 90.0}],
    "stations": {"water_mm": [40.0, 100.0], "rag_mm": [55.0, 100.0], "dip_z_mm": -2.5},
}
PEN = {
    "name": "gcode plotter",
    "canvas": {"width_mm": 150.0, "height_mm": 110.0, "margin_mm": 7.0, "origin_mm": [10.0, 120.0], "y_axis": "up"},
    "motion": {"pen_up_z_mm": 4.0, "pen_down_z_mm": -0.5, "draw_speed_mm_s": 25.0},
    "tool_change": {"mode": "pause", "time_s": 12.0},
    "pens": [
        {"name": "black", "rgb": [25, 25, 25], "width_mm": 0.8, "tool": 11},
        {"name": "green", "rgb": [70, 140, 60], "width_mm": 2.0, "tool": 12},
        {"name": "blue", "rgb": [50, 70, 170], "width_mm": 2.0, "tool": 13},
        {"name": "sand", "rgb": [215, 190, 140], "width_mm": 2.0, "tool": 14},
    ],
}


SERVO = {**PEN, "name": "servo plotter", "motion": {**PEN["motion"], "pen_lift": "servo", "servo_up_s": 30, "servo_down_s": 90, "servo_delay_s": 0.15}}


@pytest.fixture(scope="module", params=["arm", "pen", "servo"])
def robot(request, scene):
    prof = profile_from_dict({"arm": ARM, "pen": PEN, "servo": SERVO}[request.param], source=f"{request.param}.toml")
    s = machine_settings(PaintSettings(strokes=150, size=48, steps=6, seed=4), prof)
    plan, _ = apply_machine(plan_painting(scene.image, s).plan, prof)
    # what a file holds: micrometre coordinates
    return StrokePlan.from_dict(plan.to_dict()), prof


# -- a strict G-code reader, written for this test (shares nothing with the writer) -----

_WORD = re.compile(r"\s*([A-Z])([-+]?(?:\d+\.\d*|\.\d+|\d+))")
_G = {0, 1, 4, 21, 90, 94}
_M = {0, 2, 3, 6}


def read_gcode(text: str, pen_down_z: float, pen_up_z: float, dip_z: float | None, servo: tuple[int, int] | None = None) -> dict:
    """Parse GRBL-style G-code, checking every line; return strokes, dips and tool events.

    Strokes are the XY paths while Z is at ``pen_down_z``; dips are XY positions where
    Z goes to ``dip_z``; tool events are ``(strokes done so far, tool number)``. With
    ``servo = (up S, down S)`` the pen is a servo on the spindle output instead: no Z
    words, ``M3 S<down>`` starts a stroke, ``M3 S<up>`` ends it, each followed by a
    ``G4`` settle delay.
    """
    assert text.endswith("\n")
    lines = text.split("\n")[:-1]
    mm = absolute = False
    feed = None
    motion = None
    x = y = z = None
    tool = None
    strokes: list[list[tuple[float, float]]] = []
    dips: list[tuple[int, tuple[float, float]]] = []
    tools: list[tuple[int, int]] = []
    pauses = 0
    ended = False
    down = False
    settle = False  # a servo move waits for its G4
    if servo is not None:
        z = pen_up_z  # no Z axis: the height never changes
    for n, raw in enumerate(lines, start=1):
        assert not ended, f"line {n}: text after M2"
        code = raw.split(";", 1)[0]
        assert "(" not in code and ")" not in code, f"line {n}: parenthesis comment"
        if not code.strip():
            continue
        words: list[tuple[str, float]] = []
        i = 0
        while i < len(code.rstrip()):
            m = _WORD.match(code, i)
            assert m, f"line {n}: cannot read {code[i:]!r}"
            words.append((m.group(1), float(m.group(2))))
            i = m.end()
        letters = [w[0] for w in words]
        assert set(letters) <= set("GMTXYZFPS"), f"line {n}: unexpected word in {raw!r}"
        assert not settle or 4 in [v for k, v in words if k == "G"], f"line {n}: servo move without a G4 settle"
        settle = False
        for k in "TXYZFPS":
            assert letters.count(k) <= 1, f"line {n}: {k} twice"
        vals = dict((k, v) for k, v in words if k not in "GM")
        gs = [v for k, v in words if k == "G"]
        ms = [v for k, v in words if k == "M"]
        for g in gs:
            assert g == int(g) and int(g) in _G, f"line {n}: unsupported G{g}"
        for mc in ms:
            assert mc == int(mc) and int(mc) in _M, f"line {n}: unsupported M{mc}"
        if 21 in gs:
            mm = True
        if 90 in gs:
            absolute = True
        if "F" in vals:
            assert vals["F"] > 0
            feed = vals["F"]
        if "T" in vals:
            assert vals["T"] == int(vals["T"]) and vals["T"] >= 0
            tool = int(vals["T"])
        if 6 in ms:
            assert tool is not None, f"line {n}: M6 without T"
            tools.append((len(strokes), tool))
        if 0 in ms:
            assert tool is not None and tools[-1:] != [(len(strokes), tool)], f"line {n}: M0 pause without a new T"
            tools.append((len(strokes), tool))
            pauses += 1
        if 2 in ms:
            ended = True
        if 3 in ms or "S" in vals:
            assert servo is not None, f"line {n}: M3/S on a Z-lift machine"
            assert 3 in ms and vals.get("S") in servo and not ({"X", "Y", "Z"} & set(vals)), f"line {n}: bad servo move"
            now_down = vals["S"] == servo[1]
            if now_down and not down:
                assert x is not None, f"line {n}: pen down at an unknown position"
                strokes.append([(x, y)])
            down, settle = now_down, True
            continue
        if 4 in gs:
            assert "P" in vals and vals["P"] >= 0 and not ({"X", "Y", "Z"} & set(vals)), f"line {n}: bad dwell"
            continue
        moves = [g for g in gs if g in (0, 1)]
        assert len(moves) <= 1
        if moves:
            motion = int(moves[0])
        if {"X", "Y", "Z"} & set(vals):
            assert servo is None or "Z" not in vals, f"line {n}: Z word on a servo-lift machine"
            assert mm and absolute, f"line {n}: motion before G21/G90"
            assert motion is not None, f"line {n}: motion without G0/G1"
            if motion == 1:
                assert feed is not None, f"line {n}: G1 without a feed rate"
            nx, ny, nz = vals.get("X", x), vals.get("Y", y), vals.get("Z", z)
            xy_moves = (nx, ny) != (x, y)
            if xy_moves:
                assert "Z" not in vals, f"line {n}: XY and Z in one move"
                assert nz is not None and nz != dip_z, f"line {n}: moving sideways in a well"
                if down:
                    assert motion == 1, f"line {n}: G0 with the pen down"
                    strokes[-1].append((nx, ny))
                else:
                    assert nz == pen_up_z, f"line {n}: travel below pen-up height"
            if "Z" in vals and nz != z:
                if nz == pen_down_z:
                    assert motion == 1, f"line {n}: pen lowered with G0"
                    assert nx is not None
                    down = True
                    strokes.append([(nx, ny)])
                elif dip_z is not None and nz == dip_z:
                    assert motion == 1
                    dips.append((len(strokes), (nx, ny)))
                else:
                    assert nz == pen_up_z, f"line {n}: unexpected height Z{nz}"
                    down = False
            x, y, z = nx, ny, nz
    assert ended, "no M2 at the end"
    assert not down and z == pen_up_z
    return {"strokes": strokes, "dips": dips, "tools": tools, "pauses": pauses}


def _reader_args(prof) -> tuple:
    """:func:`read_gcode`'s arguments for a profile: pen heights, dip height, servo S values."""
    m = prof.motion
    servo = (m.servo_up_s, m.servo_down_s) if m.pen_lift == "servo" else None
    return m.pen_down_z_mm, m.pen_up_z_mm, None if prof.pens else prof.stations.dip_z_mm, servo


def _machine_xy(prof, pts: np.ndarray) -> np.ndarray:
    """Canvas mm to machine mm, from the profile's numbers (not the package's code)."""
    ox, oy = prof.canvas.origin_mm
    sign = 1.0 if prof.canvas.y_axis == "down" else -1.0
    return np.stack([ox + pts[:, 0], oy + sign * pts[:, 1]], axis=1)


def _dedup(pts: np.ndarray) -> np.ndarray:
    keep = np.ones(len(pts), bool)
    keep[1:] = np.any(np.abs(np.diff(pts, axis=0)) > 1e-9, axis=1)
    return pts[keep]


def test_gcode_reads_back_to_the_plan(robot):
    plan, prof = robot
    text = plan_to_gcode(plan, prof)
    assert text == plan_to_gcode(plan, prof)  # deterministic
    got = read_gcode(text, *_reader_args(prof))
    if prof.motion.pen_lift == "servo":
        assert not any("Z" in ln.split(";")[0] for ln in text.splitlines())
        rep = machine_report(plan, prof)
        assert rep["time_s"]["z_s"] == round(0.15 * 2 * len(plan.strokes), 1)  # down and up per stroke
    # every stroke, every point, in order
    assert len(got["strokes"]) == len(plan.strokes)
    for i, (s, path) in enumerate(zip(plan.strokes, got["strokes"])):
        want = _dedup(np.round(_machine_xy(prof, np.asarray(s.points)), 3))
        have = _dedup(np.asarray(path, np.float64))
        assert have.shape == want.shape, f"stroke {i}: {have.shape} != {want.shape}"
        assert np.abs(have - want).max() < 1.5e-3, f"stroke {i}"
    # tool changes: before exactly the strokes whose actions say so, with their tool number
    expect_tools = [(i, prof.brushes[s.brush].tool) for i, s in enumerate(plan.strokes) if "tool" in s.actions]
    assert got["tools"] == expect_tools and len(expect_tools) >= 2
    if prof.pens:
        assert got["pauses"] == len(expect_tools) and got["dips"] == []
    else:
        assert got["pauses"] == 0
        st = prof.stations
        expect_dips = []
        for i, s in enumerate(plan.strokes):
            if "clean" in s.actions:
                expect_dips += [(i, st.water_mm), (i, st.rag_mm)]
            if "dip" in s.actions:
                expect_dips.append((i, prof.paints[s.paint].well_mm))
        expect_dips += [(len(plan.strokes), st.water_mm), (len(plan.strokes), st.rag_mm)]  # final clean
        assert [(k, tuple(xy)) for k, xy in got["dips"]] == [(k, tuple(map(float, xy))) for k, xy in expect_dips]
        assert sum("dip" in s.actions for s in plan.strokes) > sum("tool" in s.actions or "clean" in s.actions for s in plan.strokes)  # capacity reloads too


def test_the_reader_is_strict(robot):
    plan, prof = robot
    text = plan_to_gcode(plan, prof)
    args = _reader_args(prof)
    lines = text.split("\n")
    first_draw = next(i for i, ln in enumerate(lines) if ln.startswith("G1 X"))
    broken = {
        "G0 while drawing": lines[:first_draw] + [lines[first_draw].replace("G1", "G0", 1)] + lines[first_draw + 1 :],
        "no units": [ln for ln in lines if not ln.startswith("G21")],
        "no end": [ln for ln in lines if not ln.startswith("M2")],
        "unknown word": lines[:first_draw] + ["G1 X1 Y2 Q3"] + lines[first_draw:],
        "arc": lines[:first_draw] + ["G2 X1 Y2"] + lines[first_draw:],
    }
    if prof.motion.pen_lift == "servo":
        first_lift = next(i for i, ln in enumerate(lines) if ln.startswith("M3"))
        broken["no settle"] = lines[: first_lift + 1] + lines[first_lift + 2 :]
        broken["Z word"] = lines[:first_draw] + ["G0 Z5"] + lines[first_draw:]
        broken["unknown S"] = lines[:first_lift] + [lines[first_lift].replace("S30", "S31")] + lines[first_lift + 1 :]
    else:
        broken["servo on a Z machine"] = lines[:first_draw] + ["M3 S90", "G4 P0.1"] + lines[first_draw:]
    for name, ls in broken.items():
        with pytest.raises(AssertionError):
            read_gcode("\n".join(ls), *args)
    # a moved point is caught by the comparison
    got = read_gcode(text.replace(lines[first_draw], lines[first_draw].replace(" Y", " Y1", 1)), *args)
    want = _dedup(np.round(_machine_xy(prof, np.asarray(plan.strokes[0].points)), 3))
    have = _dedup(np.asarray(got["strokes"][0], np.float64))
    assert have.shape != want.shape or np.abs(have - want).max() > 0.5


def test_gcode_refuses_a_plan_that_does_not_fit(robot):
    plan, prof = robot
    other = profile_from_dict({**PEN, "canvas": {**PEN["canvas"], "width_mm": 151.0}}, source="other.toml")
    with pytest.raises(PlanError, match=r"^canvas: .*other\.toml"):
        plan_to_gcode(plan, other)
    bad = plan.with_strokes([plan.strokes[0].__class__(**{**plan.strokes[0].__dict__, "points": np.array([[1.0, 1.0], [20.0, 20.0]])})] + plan.strokes[1:])
    with pytest.raises(PlanError, match=r"strokes\[0\]\.points: \(1\.000, 1\.000\) mm lies outside the paintable area"):
        plan_to_gcode(bad, prof)


def _vpype_stat(svg: Path) -> tuple[list[int], list[int]]:
    exe = shutil.which("vpype") or str(Path(sys.executable).parent / "vpype")
    res = subprocess.run([exe, "read", "--no-crop", str(svg), "stat"], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    ids = [int(v) for v in re.findall(r"^Layer (\d+)", res.stdout, flags=re.M)]
    paths = [int(v) for v in re.findall(r"^\s+Path count: (\d+)", res.stdout, flags=re.M)]
    return ids, paths


def test_layered_svg_through_vpype_stat(robot, tmp_path):
    import vpype_cli  # noqa: F401 - a dev dependency (pyproject [dev]): a broken install fails, not skips
    plan, prof = robot
    for by in ("paint", "run"):
        groups = layer_groups(plan, by)
        svg = tmp_path / f"{by}.svg"
        svg.write_text(plan_to_layered_svg(plan, by, groups=groups))
        ids, paths = _vpype_stat(svg)
        assert ids == list(range(1, len(groups) + 1)), by
        assert paths[: len(ids)] == [len(ss) for _, ss in groups], by
        assert sum(paths[: len(ids)]) == len(plan.strokes)
    # one layer per paint, in order of first use
    first_use = list(dict.fromkeys(s.paint for s in plan.strokes))
    assert [name for name, _ in layer_groups(plan, "paint")] == [plan.palette[p].name for p in first_use]


def test_export_commands(robot, tmp_path, capsys):
    plan, prof = robot
    src = plan.save(tmp_path / "robot.json")
    gc = tmp_path / "out.gcode"
    code, out, err = run_cli(["export", "gcode", src, "-o", gc], capsys)  # the plan names its machine
    assert code == 0, err
    assert gc.read_text() == plan_to_gcode(plan, prof)
    svg = tmp_path / "out.svg"
    code, out, err = run_cli(["export", "svg", src, "-o", svg, "--by", "run"], capsys)
    assert code == 0, err
    text = svg.read_text()  # stroke layers, and the empty "!" pause layers between them
    assert text.count('inkscape:groupmode="layer"') - text.count('inkscape:label="!') == len(layer_groups(plan, "run"))
    js = tmp_path / "out.json"
    code, out, err = run_cli(["export", "json", src, "-o", js], capsys)
    assert code == 0, err
    assert js.read_text() == plan.to_json()


def test_export_adapts_a_plain_plan_and_reports_bad_input(small_result, tmp_path, capsys):
    src = small_result.plan.save(tmp_path / "plain.json")
    gc = tmp_path / "plain.gcode"
    code, _, err = run_cli(["export", "gcode", src, "-o", gc], capsys)
    assert code == 2 and "not made for a machine" in err and not gc.exists()
    prof_path = tmp_path / "pen.toml"
    prof_path.write_text(
        "[canvas]\nwidth_mm = 100\nheight_mm = 80\nmargin_mm = 5\n"
        "[[pens]]\nrgb = [0, 0, 0]\nwidth_mm = 4.0\n[[pens]]\nrgb = [200, 60, 40]\nwidth_mm = 4.0\n"
    )
    code, _, err = run_cli(["export", "json", src, "-o", tmp_path / "robot.json", "--machine", prof_path], capsys)
    assert code == 0, err
    robot = StrokePlan.load(tmp_path / "robot.json")
    assert robot.canvas.width_mm == 100 and {s.paint for s in robot.strokes} <= {0, 1} and robot.strokes[0].actions == ("tool",)
    code, _, err = run_cli(["export", "gcode", src, "-o", gc, "--machine", prof_path], capsys)
    assert code == 0 and gc.read_text().rstrip().endswith("M2 ; end of program")
    prof_path.write_text("[canvas]\nwidth_mm = 100\nheight_mm = 80\n[[pens]]\nrgb = [0, 0, 0]\nwidth_mm = -1.0\n")
    code, _, err = run_cli(["export", "gcode", src, "-o", tmp_path / "x.gcode", "--machine", prof_path], capsys)
    assert code == 2 and "pens[0].width_mm: must be > 0" in err and not (tmp_path / "x.gcode").exists()


def test_z_time_is_the_z_travel_at_the_z_speed(robot):
    """Planted fault ``motion_z_time_zero``: the time estimate's z part, worked out by
    hand from the motion rule (docs/robot.md): every stroke lowers and raises once
    (2·|up − down| at ``z_speed``), every station visit (dip, water, rag) lowers to the
    dip height and back; an arm cleans once more after the last stroke (water and rag).
    A servo lift takes its delay per change instead (a plotter: down and up per stroke)."""
    plan, prof = robot
    m = prof.motion
    if m.pen_lift == "servo":
        want = len(plan.strokes) * 2 * m.servo_delay_s
    else:
        want = len(plan.strokes) * 2 * abs(m.pen_up_z_mm - m.pen_down_z_mm) / m.z_speed_mm_s
    if not prof.pens:
        visits = sum("dip" in s.actions for s in plan.strokes) + 2 * sum("clean" in s.actions for s in plan.strokes) + 2
        want += visits * 2 * abs(m.pen_up_z_mm - prof.stations.dip_z_mm) / m.z_speed_mm_s
    rep = machine_report(plan, prof)
    assert want > 10.0
    assert abs(rep["time_s"]["z_s"] - want) <= 0.05 + 1e-9, (rep["time_s"], want)


def test_gcode_never_writes_a_negative_zero(robot):
    """Planted fault ``gcode_negative_zero``: a coordinate that rounds to zero from below
    is written ``0``, not ``-0`` (the same plan gives the same bytes whatever the sign
    of a rounding residue, and strict senders reject ``-0``). The profile's origin is
    moved so that the first point lands 0.3 µm left of the machine's zero."""
    from dataclasses import replace

    plan, prof = robot
    if prof.pens:
        spec = {**PEN, "canvas": {**PEN["canvas"], "origin_mm": [-20.0, 120.0]}}
    else:
        spec = {**ARM, "canvas": {**ARM["canvas"], "origin_mm": [-20.0, 15.0]}}
    moved = profile_from_dict(spec, source="moved.toml")
    s0 = plan.strokes[0]
    pts = np.asarray(s0.points, np.float64).copy()
    pts[0, 0] = 20.0 - 3e-4
    pts[1:, 0] = np.maximum(pts[1:, 0], 20.0)
    plan = plan.with_strokes([replace(s0, points=pts), *plan.strokes[1:]])
    text = plan_to_gcode(plan, moved)
    assert re.search(r"[XYZ]-0(?![.\d])", text) is None
    assert re.search(r"[XYZ]-0\.0*(?!\d)", text) is None
    assert re.search(r"\bX0\b", text) is not None
