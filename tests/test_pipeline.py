"""Teacher pipeline pieces: steps, palette, canvas geometry, stroke fitting."""

from __future__ import annotations

import numpy as np
import pytest

from animatepainter.planner import PaintSettings, SettingsError, plan_painting
from animatepainter.planner.teacher.pipeline import assign_steps, canvas_for, make_palette
from animatepainter.planner.teacher.sbr import FitSettings, fit_strokes, level_widths


def test_assign_steps_respects_groups():
    groups = [(0, 0)] * 5 + [(0, 1)] * 20 + [(1, 0)] * 3 + [(1, 1)] * 72
    steps = assign_steps(groups, 10)
    assert len(steps) == len(groups) and steps == sorted(steps)
    assert max(steps) + 1 == 10
    by_step: dict[int, set] = {}
    for s, g in zip(steps, groups):
        by_step.setdefault(s, set()).add(g)
    assert all(len(v) == 1 for v in by_step.values())
    # fewer steps asked than groups: one step per group
    assert max(assign_steps(groups, 2)) + 1 == 4


def test_palette_groups_colours():
    rng = np.random.default_rng(0)
    cols = np.concatenate([rng.normal(c, 3, (50, 3)) for c in ([200, 30, 30], [20, 20, 200], [240, 240, 240])]).clip(0, 255).astype(np.uint8)
    paints, labels = make_palette(cols, 3, seed=0)
    assert paints.shape == (3, 3) and labels.shape == (150,)
    assert len(set(labels[:50])) == 1 and len(set(labels[50:100])) == 1 and len(set(labels[100:])) == 1
    assert paints[0].mean() > paints[-1].mean()  # light to dark


def test_canvas_fits_image_inside_centred():
    c = canvas_for((200, 100), (300.0, 300.0), (255, 255, 255))
    assert c.image_box_mm == (0.0, 75.0, 300.0, 150.0)
    c = canvas_for((100, 200), None, (0, 0, 0))
    assert (c.width_mm, c.height_mm) == (150.0, 300.0)
    assert c.mm_per_px == 1.5


def test_fitting_reduces_error_and_respects_budget(scene):
    target = scene.image.astype(np.float32) / 255
    layers = np.zeros(target.shape[:2], np.int32)
    strokes, canvas = fit_strokes(target, layers, 1, FitSettings(budget=80), seed=0)
    assert 0 < len(strokes) <= 80
    err0 = ((1.0 - target) ** 2).mean()
    assert ((canvas - target) ** 2).mean() < 0.3 * err0
    assert all(s.gain > 0 for s in strokes)
    levels = [s.level for s in strokes]
    assert levels == sorted(levels)
    assert level_widths(64, 48) == (8.0, 4.0, 2.0)


def test_far_layers_are_painted_first(scene):
    res = plan_painting(scene.image, PaintSettings(strokes=200, size=64), depth=scene.depth)
    layers = [s.layer for s in res.plan.strokes]
    assert layers == sorted(layers) and len(set(layers)) == res.plan.meta["depth_layers"] >= 3
    # a near stroke must not repaint finished background: its middle lies on a pixel
    # of its own layer or a nearer one (except the finest level's finishing touches)
    mm = res.plan.canvas.mm_per_px
    h, w = res.layers.shape
    finest = max(s.level for s in res.plan.strokes)
    ok = []
    for s in res.plan.strokes:
        if s.layer == 0 or s.level == finest:
            continue
        mid = s.points[len(s.points) // 2] / mm
        x, y = min(max(int(mid[0]), 0), w - 1), min(max(int(mid[1]), 0), h - 1)
        ok.append(res.layers[y, x] >= s.layer)
    assert len(ok) > 20 and np.mean(ok) > 0.85, np.mean(ok)


def test_settings_are_checked():
    with pytest.raises(SettingsError, match="^strokes must be"):
        PaintSettings(strokes=0).check()
    with pytest.raises(SettingsError, match="^layers must be"):
        PaintSettings(layers=17).check()
    with pytest.raises(SettingsError, match="^palette must be"):
        PaintSettings(palette=0).check()


def test_fixed_paints_and_brushes(scene):
    """With a machine's paints and brushes, every stroke uses exactly one of each."""
    paints = ((250, 250, 250), (20, 20, 20), (200, 60, 40), (60, 120, 200), (90, 160, 70))
    widths = (12.0, 6.0, 3.0)
    res = plan_painting(scene.image, PaintSettings(strokes=150, size=64, paints=paints, paint_names=("w", "k", "r", "b", "g"), brush_widths_mm=widths))
    plan = res.plan
    assert [p.rgb for p in plan.palette] == list(paints) and [p.name for p in plan.palette] == ["w", "k", "r", "b", "g"]
    assert sorted(b.width_mm for b in plan.brushes) == sorted(widths)
    levels = {}
    for s in plan.strokes:
        assert tuple(s.rgb) == paints[s.paint]
        assert s.width_mm == pytest.approx(plan.brushes[s.brush].width_mm, abs=1e-9)
        levels.setdefault(s.level, set()).add(s.width_mm)
    assert len(levels) <= 3
    with pytest.raises(SettingsError, match="brush widths"):
        PaintSettings(brush_widths_mm=(3.0, -1.0)).check()
    with pytest.raises(SettingsError, match="paints"):
        PaintSettings(paints=((0, 0, 300),)).check()


def test_refinement_is_on_up_to_512_px_and_off_above_by_default():
    """README: refinement (and the hidden-stroke pruning that needs it) runs by default up
    to ``--size 512`` and not above; ``refine`` given is used at any size. Seen from
    the run itself: the timings have a ``refine_s`` stage only when it ran, and neither
    ``refine_s`` nor ``prune_s`` when both are off."""
    from animatepainter.planner.scenes import make_scene

    img = make_scene(400, 520, seed=2).image
    ran = {}
    for size, refine in ((512, None), (520, None), (520, 1)):
        t = plan_painting(img, PaintSettings(strokes=25, size=size, seed=0, refine=refine, levels=2, layers=1)).timings
        ran[(size, refine)] = ("refine_s" in t, "prune_s" in t)
    assert ran == {(512, None): (True, False), (520, None): (False, False), (520, 1): (True, False)}, ran
