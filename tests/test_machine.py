"""Machine profiles: bundled examples, validation errors that name the field, CLI."""

from __future__ import annotations

import copy
import math
from pathlib import Path

import numpy as np
import pytest

from animatepainter.planner.errors import InputError
from animatepainter.planner.machine.profile import bundled_profiles, load_profile, profile_from_dict
from animatepainter.planner.teacher.pipeline import PaintSettings
from animatepainter.planner.machine.adapt import machine_settings
from conftest import run_cli


def _arm() -> dict:
    return {
        "name": "test arm",
        "kind": "painting_arm",
        "canvas": {"width_mm": 200.0, "height_mm": 150.0, "margin_mm": 10.0},
        "motion": {"pen_up_z_mm": 10.0, "pen_down_z_mm": 0.0},
        "paints": [{"name": "red", "rgb": [200, 30, 30], "well_mm": [-20.0, 0.0]}, {"name": "blue", "rgb": [30, 30, 200], "well_mm": [-20.0, 30.0]}],
        "brushes": [{"name": "r4", "width_mm": 4.0, "capacity_mm": 50.0}, {"name": "r10", "width_mm": 10.0}],
        "stations": {"water_mm": [-40.0, 0.0], "rag_mm": [-40.0, 30.0]},
    }


def test_bundled_profiles_load_and_round_trip():
    names = bundled_profiles()
    assert {"pen-plotter", "painting-arm", "servo-plotter"} <= set(names)
    pen, arm = load_profile("pen-plotter"), load_profile("painting-arm")
    # pens: each pen is one paint with one tip; an arm can use any paint with any brush
    assert pen.pens and len(pen.paints) == len(pen.brushes) == len(pen.tools)
    assert all(t.paint == t.brush for t in pen.tools)
    assert not arm.pens and len(arm.tools) == len(arm.paints) * len(arm.brushes)
    assert all(p.well_mm is not None for p in arm.paints) and arm.stations.water_mm and arm.stations.rag_mm
    servo = load_profile("servo-plotter")
    assert servo.motion.pen_lift == "servo" and servo.pens
    for prof in (pen, arm, servo):
        again = profile_from_dict(prof.to_dict(), source=prof.source)
        assert again == prof
        x0, y0, w, h = prof.canvas.drawable_box_mm
        assert 0 < w < prof.canvas.width_mm and 0 < h < prof.canvas.height_mm


def test_canvas_to_machine_follows_origin_and_y_axis():
    d = _arm()
    d["canvas"].update(origin_mm=[100.0, 50.0], y_axis="down")
    down = profile_from_dict(d).canvas
    assert np.allclose(down.to_machine(np.array([[10.0, 20.0]])), [[110.0, 70.0]])
    d["canvas"].update(origin_mm=[0.0, 150.0], y_axis="up")
    up = profile_from_dict(d).canvas
    assert np.allclose(up.to_machine(np.array([[10.0, 20.0], [0.0, 150.0]])), [[10.0, 130.0], [0.0, 0.0]])


def test_machine_settings_plan_on_the_paintable_area():
    prof = profile_from_dict(_arm())
    s = machine_settings(PaintSettings(), prof)
    assert s.canvas_mm == (180.0, 130.0)
    kept = machine_settings(PaintSettings(canvas_mm=(100.0, 100.0)), prof, canvas_given=True)
    assert kept.canvas_mm == (100.0, 100.0)


def _with(mutate):
    d = copy.deepcopy(_arm())
    mutate(d)
    return d


BAD = [
    ("no paints", lambda d: d.update(paints=[]), "paints"),
    ("no paints key", lambda d: d.pop("paints"), "paints"),
    ("negative width", lambda d: d["brushes"][1].update(width_mm=-2.0), "brushes[1].width_mm"),
    ("zero width", lambda d: d["brushes"][0].update(width_mm=0), "brushes[0].width_mm"),
    ("margins eat the width", lambda d: d["canvas"].update(margin_mm=100.0), "canvas.margins_mm"),
    ("margins eat the height", lambda d: (d["canvas"].pop("margin_mm"), d["canvas"].update(margins_mm=[80.0, 0.0, 80.0, 0.0])), "canvas.margins_mm"),
    ("negative margin", lambda d: (d["canvas"].pop("margin_mm"), d["canvas"].update(margins_mm=[1.0, -1.0, 0.0, 0.0])), "canvas.margins_mm"),
    ("negative canvas", lambda d: d["canvas"].update(width_mm=-5.0), "canvas.width_mm"),
    ("no canvas", lambda d: d.pop("canvas"), "canvas"),
    ("typo", lambda d: d["canvas"].update(widht_mm=3.0), "canvas.widht_mm"),
    ("bad rgb", lambda d: d["paints"][1].update(rgb=[0, 300, 0]), "paints[1].rgb"),
    ("no well", lambda d: d["paints"][0].pop("well_mm"), "paints[0].well_mm"),
    ("pen up below down", lambda d: d["motion"].update(pen_up_z_mm=-1.0), "motion.pen_up_z_mm"),
    ("negative speed", lambda d: d["motion"].update(travel_speed_mm_s=-10.0), "motion.travel_speed_mm_s"),
    ("negative capacity", lambda d: d["brushes"][0].update(capacity_mm=-1.0), "brushes[0].capacity_mm"),
    ("capacity below one dab", lambda d: d["brushes"][1].update(capacity_mm2=50.0), "brushes[1].capacity_mm2"),
    ("unknown shape", lambda d: d["brushes"][0].update(shape="fan"), "brushes[0].shape"),
    ("same tool twice", lambda d: (d["brushes"][0].update(tool=3), d["brushes"][1].update(tool=3)), "brushes"),
    ("no water", lambda d: d["stations"].pop("water_mm"), "stations.water_mm"),
    ("no pens", lambda d: (d.pop("paints"), d.pop("brushes"), d.pop("stations"), d.update(kind="pen_plotter", pens=[])), "pens"),
    ("pens and paints", lambda d: d.update(pens=[{"rgb": [0, 0, 0], "width_mm": 1.0}]), "pens"),
    ("negative pen width", lambda d: (d.pop("paints"), d.pop("brushes"), d.pop("stations"), d.update(kind="pen_plotter", pens=[{"rgb": [0, 0, 0], "width_mm": -1.0}])), "pens[0].width_mm"),
    ("bad matching", lambda d: d.update(palette={"matching": "mix"}), "palette.matching"),
    ("servo on a painting arm", lambda d: d["motion"].update(pen_lift="servo"), "motion.pen_lift"),
    ("unknown pen lift", lambda d: d["motion"].update(pen_lift="magnet"), "motion.pen_lift"),
    ("servo up = down", lambda d: (d.pop("paints"), d.pop("brushes"), d.pop("stations"), d.update(kind="pen_plotter", pens=[{"rgb": [0, 0, 0], "width_mm": 1.0}]),
                                   d["motion"].update(pen_lift="servo", servo_up_s=40, servo_down_s=40)), "motion.servo_up_s"),
    ("negative servo delay", lambda d: d["motion"].update(servo_delay_s=-0.1), "motion.servo_delay_s"),
]


@pytest.mark.parametrize("mutate,field", [(m, f) for _, m, f in BAD], ids=[b[0] for b in BAD])
def test_bad_profiles_name_the_field(mutate, field):
    with pytest.raises(InputError) as e:
        profile_from_dict(_with(mutate), source="bad.toml")
    msg = str(e.value)
    assert msg.startswith(f"bad.toml: {field}:"), msg
    assert "\n" not in msg


def test_load_profile_errors(tmp_path):
    with pytest.raises(InputError, match="no such machine profile"):
        load_profile(tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[canvas\nwidth_mm = 3\n")
    with pytest.raises(InputError, match="not valid TOML"):
        load_profile(bad)
    with pytest.raises(InputError, match="is a directory"):
        load_profile(tmp_path)
    ok = tmp_path / "ok.toml"
    ok.write_text('[canvas]\nwidth_mm = 100\nheight_mm = 80\n[[pens]]\nrgb = "#102030"\nwidth_mm = 0.5\n')
    prof = load_profile(ok)
    assert prof.kind == "pen_plotter" and prof.paints[0].rgb == (16, 32, 48) and prof.brushes[0].tool == 1


def test_paint_cli_rejects_a_bad_profile_before_planning(tmp_path, capsys, rgb_png):
    prof = tmp_path / "arm.toml"
    prof.write_text("[canvas]\nwidth_mm = 100\nheight_mm = 80\nmargin_mm = 50\n[[pens]]\nrgb = [0, 0, 0]\nwidth_mm = 1\n")
    out = tmp_path / "out"
    code, _, err = run_cli(["-q", "paint", rgb_png, "-o", out, "--machine", prof], capsys)
    assert code == 2
    assert err.startswith("error: ") and "canvas.margins_mm" in err and "Traceback" not in err
    assert not out.exists()
    code, _, err = run_cli(["-q", "paint", rgb_png, "-o", out, "--machine", Path(tmp_path / "nope.toml")], capsys)
    assert code == 2 and "no such machine profile" in err


def test_paint_cli_with_a_bundled_machine(tmp_path, capsys, scene):
    import json

    from PIL import Image

    from animatepainter.planner.plan import StrokePlan

    img = tmp_path / "scene.png"
    Image.fromarray(scene.image).save(img)
    out = tmp_path / "out"
    args = ["-q", "paint", img, "-o", out, "--strokes", "80", "--size", "48", "--video-px", "96", "--steps", "6", "--machine", "painting-arm"]
    code, stdout, err = run_cli(args, capsys)
    assert code == 0, err
    report = json.loads((out / "report.json").read_text())
    m = report["machine"]
    for key in ("paint_changes", "reloads", "dips", "cleans", "pen_down_mm", "pen_up_mm", "estimated_time_s"):
        assert key in m
    assert m["estimated_time_s"] > 0 and m["strokes"] == report["strokes"]
    plan = StrokePlan.load(out / "plan.json")
    prof = load_profile("painting-arm")
    assert (plan.canvas.width_mm, plan.canvas.height_mm) == (prof.canvas.width_mm, prof.canvas.height_mm)
    assert plan.canvas.background == prof.canvas.background
    x0, y0, w, h = prof.canvas.drawable_box_mm
    pts = np.concatenate([s.points for s in plan.strokes])
    assert np.all(pts.min(axis=0) >= [x0 - 1e-3, y0 - 1e-3]) and np.all(pts.max(axis=0) <= [x0 + w + 1e-3, y0 + h + 1e-3])
    assert plan.strokes[0].actions == ("tool", "dip") and {p.rgb for p in plan.palette} == {p.rgb for p in prof.paints}


def test_draw_time_slows_down_at_corners_only():
    """GRBL-style corner speeds: a straight path cut into pieces takes as long as one
    move; a full reversal, or any corner with zero junction deviation, stops there; a
    90° corner lies in between and gets slower as the deviation shrinks."""
    from animatepainter.planner.machine.motion import _move_time, draw_time

    v, a = 50.0, 1000.0
    line = np.stack([np.linspace(0, 30, 31), np.zeros(31)], axis=1)
    assert math.isclose(draw_time(line, v, a, 0.01), _move_time(30.0, v, a), rel_tol=1e-9)
    assert math.isclose(draw_time(line, v, 0.0, 0.01), 30.0 / v)
    back = np.array([[0, 0], [10, 0], [0, 0]], float)
    assert math.isclose(draw_time(back, v, a, 0.05), 2 * _move_time(10.0, v, a), rel_tol=1e-9)
    square = np.array([[0, 0], [20, 0], [20, 20], [0, 20], [0, 0]], float)
    stops = 4 * _move_time(20.0, v, a)
    assert math.isclose(draw_time(square, v, a, 0.0), stops, rel_tol=1e-9)
    t = [draw_time(square, v, a, d) for d in (0.001, 0.01, 0.1)]
    assert _move_time(80.0, v, a) < t[2] < t[1] < t[0] < stops
    # one 90° corner by hand: v_j² = a·δ·sin45°/(1 − sin45°), entered and left at v_j
    d = 0.01
    vj = math.sqrt(a * d * math.sin(math.pi / 4) / (1 - math.sin(math.pi / 4)))
    # each 20 mm leg: accelerate 0 -> v, cruise, decelerate v -> v_j (and mirrored)
    leg = v / a + (v - vj) / a + (20.0 - (v * v) / (2 * a) - (v * v - vj * vj) / (2 * a)) / v
    corner = np.array([[0, 0], [20, 0], [20, 20]], float)
    assert math.isclose(draw_time(corner, v, a, d), 2 * leg, rel_tol=1e-9)


def test_move_and_draw_times_worked_by_hand():
    """Figures worked out on paper (not from the code): v = 50 mm/s, a = 1000 mm/s².
    A 30 mm move reaches v (needs v²/a = 2.5 mm): 30/50 + 50/1000 = 0.65 s. A 1 mm move
    never does: triangle, 2·sqrt(1/1000) = 0.0632456 s. Two 10 mm legs at a reversal stop
    between them: 2 · (10/50 + 0.05) = 0.5 s; with no acceleration limit, 20/50 = 0.4 s."""
    from animatepainter.planner.machine.motion import _move_time, draw_time

    assert math.isclose(_move_time(30.0, 50.0, 1000.0), 0.65, rel_tol=1e-12)
    assert math.isclose(_move_time(1.0, 50.0, 1000.0), 0.0632455532, rel_tol=1e-9)
    assert math.isclose(draw_time(np.array([[0, 0], [30, 0]], float), 50.0, 1000.0, 0.01), 0.65, rel_tol=1e-12)
    back = np.array([[0, 0], [10, 0], [0, 0]], float)
    assert math.isclose(draw_time(back, 50.0, 1000.0, 0.5), 0.5, rel_tol=1e-12)
    assert math.isclose(draw_time(back, 50.0, 0.0, 0.5), 0.4, rel_tol=1e-12)
    # straight on through a vertex: no slow-down, the same as one 30 mm move
    assert math.isclose(draw_time(np.array([[0, 0], [10, 0], [30, 0]], float), 50.0, 1000.0, 0.0), 0.65, rel_tol=1e-12)


def test_fitting_with_the_machines_own_paints_beats_matching_afterwards():
    """docs/robot.md: for a brush machine with ``nearest`` matching, ``paint --machine``
    fits with the machine's paints and brush widths, which paints the picture better
    than free colours and widths matched to the machine afterwards. Measured on this
    scene (painting-arm, 600 strokes at 128 px): 19.55 dB free then matched, 20.09 dB
    own paints (+0.55 dB; +0.55 to +0.66 on scenes 0-2; +0.8 to +0.9 dB on the bench
    photographs, ``bench/bench_robot.py --fit``). 0.3 dB fails a fit that ignores the
    paints (gain 0) and leaves the real one room."""
    from dataclasses import replace

    from animatepainter.planner.machine.adapt import apply_machine
    from animatepainter.planner.metrics import psnr
    from animatepainter.planner.render import render_plan
    from animatepainter.planner.scenes import make_scene
    from animatepainter.planner.teacher.pipeline import plan_painting

    prof = load_profile("painting-arm")
    img = make_scene(96, 128, seed=1).image
    own = machine_settings(PaintSettings(strokes=600, size=128, seed=0), prof)
    assert own.paints and own.brush_widths_mm  # the machine's paints and widths go into the fit
    free = replace(own, paints=None, paint_names=None, brush_widths_mm=None)
    scores = []
    for st in (free, own):
        res = plan_painting(img, st)
        plan, _ = apply_machine(res.plan, prof)
        assert {s.paint for s in plan.strokes} <= set(range(len(prof.paints)))
        scores.append(psnr(res.image, render_plan(plan, width_px=res.image.shape[1])))
    assert scores[1] > scores[0] + 0.3, scores
