"""Robot plans: machine paints and brushes, render-exact ordering, reload/clean actions, estimates."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from animatepainter.planner.errors import PlanError
from animatepainter.planner.machine.profile import profile_from_dict
from animatepainter.planner.teacher.pipeline import PaintSettings, plan_painting
from animatepainter.planner.plan import Brush, Canvas, Paint, Stroke, StrokePlan
from animatepainter.planner.render import render_plan
from animatepainter.planner.machine.adapt import apply_machine, hatch_passes, machine_settings, match_paints
from animatepainter.planner.machine.motion import machine_report
from animatepainter.planner.machine.order import order_for_machine


def arm_dict() -> dict:
    paints = [[240, 240, 235], [30, 30, 35], [200, 40, 35], [40, 60, 160], [60, 130, 60], [200, 160, 70]]
    return {
        "name": "test arm",
        "kind": "painting_arm",
        "canvas": {"width_mm": 200.0, "height_mm": 150.0, "margin_mm": 10.0, "origin_mm": [50.0, 20.0]},
        "motion": {"travel_speed_mm_s": 100.0, "draw_speed_mm_s": 50.0, "z_speed_mm_s": 20.0, "pen_up_z_mm": 10.0, "pen_down_z_mm": 0.0},
        "tool_change": {"mode": "m6", "time_s": 5.0},
        "paints": [{"name": f"p{i}", "rgb": rgb, "well_mm": [10.0, 10.0 + 15 * i]} for i, rgb in enumerate(paints)],
        "brushes": [
            {"name": "r2", "width_mm": 2.0, "capacity_mm": 60.0},
            {"name": "r5", "width_mm": 5.0, "capacity_mm": 90.0},
            {"name": "f12", "width_mm": 12.0, "shape": "flat", "capacity_mm": 150.0, "capacity_mm2": 1500.0},
        ],
        "stations": {"water_mm": [10.0, 120.0], "rag_mm": [30.0, 120.0], "dip_z_mm": -3.0},
    }


def pen_dict() -> dict:
    return {
        "name": "test plotter",
        "canvas": {"width_mm": 200.0, "height_mm": 150.0, "margin_mm": 10.0, "origin_mm": [0.0, 150.0], "y_axis": "up"},
        "motion": {"pen_up_z_mm": 3.0, "pen_down_z_mm": 0.0},
        "tool_change": {"mode": "pause", "time_s": 10.0},
        "pens": [
            {"name": "black", "rgb": [20, 20, 20], "width_mm": 1.0},
            {"name": "green", "rgb": [60, 140, 60], "width_mm": 3.0},
            {"name": "blue", "rgb": [50, 80, 170], "width_mm": 3.0},
            {"name": "sand", "rgb": [210, 190, 140], "width_mm": 3.0},
        ],
    }


@pytest.fixture(scope="module")
def arm():
    return profile_from_dict(arm_dict(), source="arm.toml")


@pytest.fixture(scope="module")
def pen():
    return profile_from_dict(pen_dict(), source="pen.toml")


@pytest.fixture(scope="module")
def source_plan(scene, arm):
    """The teacher's plan on the arm's paintable area, in fitting order (unordered)."""
    s = machine_settings(PaintSettings(strokes=300, size=64, steps=12, seed=1, reorder=False), arm)
    return plan_painting(scene.image, s).plan


@pytest.fixture(scope="module")
def arm_plans(source_plan, arm):
    before, rep_before = apply_machine(source_plan, arm, reorder=False)
    ours, rep_ours = apply_machine(source_plan, arm)
    return before, rep_before, ours, rep_ours


def _runs(plan):
    out = []
    for s in plan.strokes:
        key = (s.layer, s.level)
        if out and out[-1][0] == key:
            out[-1][1] += 1
        else:
            out.append([key, 1])
    return out


def test_robot_plan_uses_only_the_machine_and_renders_like_the_unordered_plan(arm_plans, arm, source_plan):
    before, rep_before, ours, rep_ours = arm_plans
    assert [p.rgb for p in ours.palette] == [p.rgb for p in arm.paints]
    assert [b.width_mm for b in ours.brushes] == [b.width_mm for b in arm.brushes]
    assert (ours.canvas.width_mm, ours.canvas.height_mm) == (200.0, 150.0)
    for s in ours.strokes:
        assert tuple(s.rgb) == ours.palette[s.paint].rgb
        assert s.width_mm == ours.brushes[s.brush].width_mm
        assert np.all(s.points >= 10.0 - 1e-9) and np.all(s.points[:, 0] <= 190.0 + 1e-9) and np.all(s.points[:, 1] <= 140.0 + 1e-9)
    # the planner fitted with the arm's own paints and brushes: nothing to match or fill
    arm_rgb = {tuple(p.rgb) for p in arm.paints}
    arm_w = {b.width_mm for b in arm.brushes}
    for s in source_plan.strokes:
        assert tuple(s.rgb) in arm_rgb and min(abs(s.width_mm - w) for w in arm_w) < 1e-6
    assert ours.meta["machine_fit"]["hatched"] == 0
    # the painter's order: the same (layer, level) runs with the same sizes, in the same order
    assert _runs(ours) == _runs(before)
    # render-exact reordering: every pixel equal, up to the float rounding of compositing
    # same-colour strokes in another order (one level, on a handful of pixels at most)
    diff = np.abs(render_plan(before).astype(int) - render_plan(ours).astype(int))
    assert diff.max() <= 1 and (diff > 0).mean() < 1e-3
    # and it pays: less pen-up travel, fewer paint changes, less time
    assert ours.pen_up_travel_mm() < 0.6 * before.pen_up_travel_mm()
    assert rep_ours["paint_changes"] < 0.7 * rep_before["paint_changes"]
    assert rep_ours["estimated_time_s"] < rep_before["estimated_time_s"]
    for key in ("strokes", "paint_changes", "reloads", "dips", "cleans", "pen_down_mm", "pen_up_mm", "estimated_time_s"):
        assert key in rep_ours
    # pen-down length: each polyline's segment lengths, summed here (not the plan's method)
    drawn = sum(float(np.hypot(*np.diff(np.asarray(s.points, np.float64), axis=0).T).sum()) for s in ours.strokes)
    assert drawn > 100.0 and rep_ours["pen_down_mm"] == pytest.approx(drawn, abs=0.1)
    assert rep_ours["pen_up_mm"] > rep_ours["pen_up_between_strokes_mm"]  # station trips count too


def test_travel_objective_travels_less(source_plan, arm, arm_plans):
    _, _, ours, rep = arm_plans
    travel, rep_t = apply_machine(source_plan, arm, objective="travel")
    assert travel.pen_up_travel_mm() < ours.pen_up_travel_mm()
    assert rep_t["paint_changes"] >= rep["paint_changes"]
    assert np.abs(render_plan(travel).astype(int) - render_plan(ours).astype(int)).max() <= 1


def test_actions_where_paint_brush_or_capacity_need_them(arm_plans, arm):
    ours = arm_plans[2]
    prev = None
    since_dip = 0.0
    reloads = 0
    for i, s in enumerate(ours.strokes):
        cap = arm.brushes[s.brush].capacity_mm
        area_cap = arm.brushes[s.brush].capacity_mm2
        w = arm.brushes[s.brush].width_mm
        limit = min(cap, (area_cap - math.pi * w * w / 4) / w) if area_cap else cap
        assert s.length_mm <= limit + 1e-6, f"stroke {i} longer than one dip paints"
        if prev is None:
            assert s.actions == ("tool", "dip")
        elif (s.paint, s.brush) != (prev.paint, prev.brush):
            expect = ("clean", "tool", "dip") if s.brush != prev.brush else ("clean", "dip")
            assert s.actions == expect, (i, s.actions)
        elif s.actions:
            assert s.actions == ("dip",)
            assert since_dip + s.length_mm > limit - 1e-6, f"stroke {i}: reload not needed"
            reloads += 1
        else:
            assert since_dip + s.length_mm <= limit + 1e-6, f"stroke {i}: brush ran dry"
        since_dip = s.length_mm if "dip" in s.actions else since_dip + s.length_mm
        prev = s
    assert reloads > 0
    assert machine_report(ours, arm)["reloads"] == reloads


def test_pen_plotter_plan_has_pen_changes_only(scene, pen):
    s = machine_settings(PaintSettings(strokes=200, size=64, steps=8, seed=2), pen)
    src = plan_painting(scene.image, s).plan
    plan, rep = apply_machine(src, pen)
    assert all(s.paint == s.brush for s in plan.strokes)  # a pen is one colour with one tip
    changes = 0
    for i, s in enumerate(plan.strokes):
        changed = i == 0 or s.brush != plan.strokes[i - 1].brush
        assert s.actions == (("tool",) if changed else ())
        changes += changed and i > 0
    assert rep["tool_changes"] == changes and rep["dips"] == 0 and rep["cleans"] == 0
    assert rep["time_s"]["tool_change_s"] == pytest.approx(10.0 * (changes + 1), abs=0.1)


def test_robot_plans_are_deterministic_and_round_trip(arm_plans, source_plan, arm, tmp_path):
    _, _, ours, _ = arm_plans
    again, _ = apply_machine(source_plan, arm)
    assert again.to_json() == ours.to_json()
    p = ours.save(tmp_path / "robot.json")
    back = StrokePlan.load(p)
    assert back.to_json() == ours.to_json() and back.strokes[0].actions == ("tool", "dip")
    assert [s.actions for s in back.strokes] == [s.actions for s in ours.strokes]
    assert back.meta["machine"]["name"] == "test arm"
    # plans made for no machine keep their bytes: no "actions" key at all
    assert '"actions"' not in source_plan.to_json()
    d = json.loads(ours.to_json())
    d["strokes"][0]["actions"] = ["dip", "paint"]
    with pytest.raises(PlanError, match=r"strokes\[0\]\.actions"):
        StrokePlan.from_dict(d)


def _plan(strokes, w=200.0, h=150.0, palette=((200, 40, 35), (40, 60, 160))):
    canvas = Canvas(w, h, (255, 255, 255), (200, 150), (0.0, 0.0, w, h))
    pal = [Paint(i, rgb, f"p{i}") for i, rgb in enumerate(palette)]
    widths = sorted({s[1] for s in strokes})
    brushes = [Brush(i, bw) for i, bw in enumerate(widths)]
    out = [
        Stroke(i, np.asarray(p, np.float64), bw, widths.index(bw), paint, pal[paint].rgb, 0, 0, 0)
        for i, (p, bw, paint) in enumerate(strokes)
    ]
    return StrokePlan(canvas, pal, brushes, out, {"engine": "test", "version": "0"})


def test_overlapping_strokes_keep_their_order_only_across_colours():
    red, blue = np.array([[200, 40, 35]]), np.array([[40, 60, 160]])
    lines = [
        np.array([[0.0, 0.0], [10.0, 0.0]]),  # 0 red
        np.array([[5.0, -5.0], [5.0, 5.0]]),  # 1 blue, crosses 0
        np.array([[0.0, 0.0], [1.5, 0.0]]),  # 2 red, on top of 0 only (same colour: may move)
        np.array([[50.0, 0.0], [60.0, 0.0]]),  # 3 red, far
    ]
    colors = np.concatenate([red, blue, red, red])
    tools = np.array([0, 1, 0, 0])
    order, _ = order_for_machine(lines, [2.0] * 4, colors, tools, [(0, 4)], fringe_mm=0.5, start=np.array([1.0, 1.0]))
    pos = {s: k for k, s in enumerate(order)}
    assert pos[0] < pos[1]  # red painted over by blue stays under it
    assert pos[2] < pos[0]  # same colour on top of each other: free, and 2 is nearest the start
    assert pos[3] < pos[1]  # red strokes first: one paint change
    # travel only: blue as soon as it is free and nearest
    order_t, _ = order_for_machine(lines, [2.0] * 4, colors, tools, [(0, 4)], fringe_mm=0.5, switch_mm=0.0, start=np.array([1.0, 1.0]))
    pos_t = {s: k for k, s in enumerate(order_t)}
    assert pos_t[2] < pos_t[0] < pos_t[1] < pos_t[3]


def test_hatch_passes_fill_the_footprint_and_stay_inside():
    import shapely

    pts = np.array([[20.0, 50.0], [60.0, 58.0], [100.0, 52.0]])
    width, brush = 24.0, 5.0
    passes = hatch_passes(pts, width, brush)
    assert len(passes) >= math.ceil((width - brush) / (brush * 0.8))
    footprint = shapely.LineString(pts).buffer(width / 2, quad_segs=32)
    painted = shapely.union_all([shapely.LineString(p).buffer(brush / 2, quad_segs=32) if len(p) > 1 else shapely.Point(p[0]).buffer(brush / 2) for p in passes])
    assert painted.difference(footprint.buffer(0.02)).area < 1e-6  # nothing outside the stroke (polygon chords: 0.015 mm)
    assert painted.intersection(footprint).area > 0.97 * footprint.area  # and it is filled
    clipped = hatch_passes(pts, width, brush, clip_box=(0.0, 0.0, 200.0, 55.0))
    assert max(float(p[:, 1].max()) for p in clipped) <= 55.0 + 1e-9


def test_dither_mixes_paints_where_nearest_cannot():
    paints = np.array([[0, 0, 0], [255, 255, 255]], np.uint8)
    n = 60
    target = np.full((n, 3), 119, np.uint8)  # mid grey in CIELAB (L* ~ 50)
    centres = np.stack(np.meshgrid(np.arange(10.0), np.arange(6.0)), -1).reshape(-1, 2) * 3.0
    cands = [np.array([0, 1])] * n
    nearest = match_paints(target, cands, paints, "nearest")
    assert len(set(nearest.tolist())) == 1
    dith = match_paints(target, cands, paints, "dither", centres, np.full(n, 3.0), np.zeros(n, np.int64))
    frac = float(np.mean(dith == 1))
    assert 0.3 < frac < 0.7


def test_strokes_outside_the_paintable_area_are_errors(arm):
    # a plan made for this machine's canvas size, with a stroke in the 10 mm margin
    plan = _plan([([[3.0, 40.0], [30.0, 40.0]], 2.0, 0), ([[50.0, 50.0], [80.0, 60.0]], 2.0, 1)])
    with pytest.raises(PlanError, match=r"strokes\[0\]\.points: \(3\.000, 40\.000\) mm lies outside the paintable area.*canvas\.margins_mm"):
        apply_machine(plan, arm)
    # up to half the stroke's width outside is pulled onto the edge (as plans allow at canvas edges)
    ok = _plan([([[9.5, 40.0], [30.0, 40.0]], 2.0, 0), ([[50.0, 50.0], [80.0, 60.0]], 2.0, 1)])
    out, _ = apply_machine(ok, arm)
    assert min(float(s.points[:, 0].min()) for s in out.strokes) == pytest.approx(10.0)
    assert out.meta["machine_fit"]["clamped"] == 1


def test_time_estimate_by_hand(pen):
    # one 50 mm stroke with the 1 mm black pen; home at (0, 0); canvas y up, origin (0, 150)
    plan = _plan([([[20.0, 30.0], [70.0, 30.0]], 1.0, 0)], palette=((20, 20, 20),))
    robot, rep = apply_machine(plan, pen)
    (s,) = robot.strokes
    assert s.actions == ("tool",) and s.brush == 0
    m = pen.motion
    start, end = np.array([20.0, 120.0]), np.array([70.0, 120.0])  # machine coordinates
    travel = np.hypot(*start) + np.hypot(*end)  # home -> start, end -> home
    z = 2 * (m.pen_up_z_mm - m.pen_down_z_mm) / m.z_speed_mm_s
    expect = travel / m.travel_speed_mm_s + 50.0 / m.draw_speed_mm_s + z + pen.tool_change.time_s
    assert rep["estimated_time_s"] == pytest.approx(expect, abs=0.1)
    assert rep["pen_up_mm"] == pytest.approx(travel, abs=0.1) and rep["pen_down_mm"] == pytest.approx(50.0, abs=0.05)


@pytest.mark.parametrize("switch_mm", [0.0, 5.0, math.inf])
def test_precedence_greedy_keeps_every_pair_and_tool_mode_cuts_changes(switch_mm):
    """The one greedy behind both orderings (painter's groups and machine runs): a
    permutation that honours every ``i before j`` pair; tool-aware modes change tools
    no more often than the travel-only one."""
    from animatepainter.planner.order import precedence_greedy

    rng = np.random.default_rng(3)
    n = 120
    firsts = rng.uniform(0, 100, (n, 2))
    lasts = firsts + rng.normal(0, 5, (n, 2))
    a = rng.integers(0, n, 300)
    b = rng.integers(0, n, 300)
    pairs = np.stack([np.minimum(a, b), np.maximum(a, b)], 1)
    pairs = pairs[pairs[:, 0] < pairs[:, 1]]
    tools = rng.integers(0, 4, n)
    order, flips = precedence_greedy(firsts, lasts, pairs, np.zeros(2), tools, int(tools[0]), switch_mm)
    assert sorted(order) == list(range(n)) and len(flips) == n
    rank = np.empty(n, int)
    rank[order] = np.arange(n)
    assert (rank[pairs[:, 0]] < rank[pairs[:, 1]]).all()
    changes = int((np.diff(tools[order]) != 0).sum())
    travel, _ = precedence_greedy(firsts, lasts, pairs, np.zeros(2), tools, int(tools[0]), 0.0)
    assert changes <= int((np.diff(tools[travel]) != 0).sum())
    if switch_mm == 0.0:  # travel only: the first pick is the stroke end nearest the start
        d = np.minimum(np.hypot(*firsts.T), np.hypot(*lasts.T))
        free = np.setdiff1d(np.arange(n), pairs[:, 1])
        assert order[0] == free[np.argmin(d[free])]
