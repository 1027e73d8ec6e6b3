"""The renderer: coverage model, agreement with the fitter and with an SVG rasteriser."""

from __future__ import annotations

import numpy as np
import pytest

from animatepainter.planner.render import (
    PixelStroke,
    new_canvas,
    paint_stroke,
    render_plan,
    render_progress,
    render_steps,
    stroke_bbox,
    stroke_coverage,
)


def test_coverage_area_matches_geometry():
    """A round-capped segment of length L and width w covers L*w + pi*(w/2)^2 px."""
    pts = np.array([[20.3, 30.7], [70.1, 41.2]])
    w = 9.0
    box = stroke_bbox(pts, w, (100, 100))
    a = stroke_coverage(pts, w, box)
    length = float(np.hypot(*(pts[1] - pts[0])))
    expect = length * w + np.pi * (w / 2) ** 2
    assert a.sum() == pytest.approx(expect, rel=0.01)
    assert a.max() == 1.0 and a.min() == 0.0


def test_polyline_joins_are_round():
    """A 90-degree corner covers the same as two capsules minus their shared disc."""
    pts = np.array([[20.0, 20.0], [60.0, 20.0], [60.0, 60.0]])
    w = 8.0
    a = stroke_coverage(pts, w, stroke_bbox(pts, w, (100, 100))).sum()
    expect = 2 * 40 * w + np.pi * (w / 2) ** 2
    assert a == pytest.approx(expect, rel=0.01)


def test_single_point_is_a_dot():
    pts = np.array([[10.0, 10.0]])
    a = stroke_coverage(pts, 6.0, stroke_bbox(pts, 6.0, (32, 32)))
    assert a.sum() == pytest.approx(np.pi * 9, rel=0.03)


def test_paint_is_opaque_and_clipped_to_canvas():
    c = new_canvas(20, 30, (1, 1, 1))
    paint_stroke(c, PixelStroke(np.array([[-50.0, 10.0], [80.0, 10.0]]), 4.0, np.array([0.2, 0.4, 0.6], np.float32)))
    assert np.allclose(c[10, 15], [0.2, 0.4, 0.6])
    assert np.allclose(c[0, 0], [1, 1, 1])


def test_render_matches_the_fitters_canvas(scene, tmp_path):
    """The fitter's own canvas after all strokes equals painting its strokes one by one;
    a plan of those strokes, saved (coordinates rounded to 1 um) and loaded, keeps every
    point and width within 0.5 um of the fitter's and renders within one 8-bit level of
    the fitter's canvas (1 um is ~1/5000 px here, so rounding may flip a level, no more)."""
    from animatepainter.planner.assemble import assemble_plan, canvas_for, provenance
    from animatepainter.planner.layers import depth_layers
    from animatepainter.planner.plan import StrokePlan
    from animatepainter.planner.render import to_uint8
    from animatepainter.planner.teacher.sbr import FitSettings, fit_strokes

    img = scene.image
    h, w = img.shape[:2]
    target = img.astype(np.float32) / 255
    layers = depth_layers(scene.depth, 2)
    strokes, canvas = fit_strokes(target, layers, 2, FitSettings(budget=120), seed=0)
    c2 = new_canvas(h, w, (1, 1, 1))
    for s in strokes:
        paint_stroke(c2, PixelStroke(s.points, s.width, s.rgb.astype(np.float32) / 255))
    assert np.array_equal(canvas, c2)

    cv = canvas_for((w, h), None, (255, 255, 255))
    mm = cv.mm_per_px
    n = len(strokes)
    assert n > 50
    plan = assemble_plan(
        cv, [s.points for s in strokes], brush=range(n), paint=range(n), rgb=[s.rgb for s in strokes],
        layer=[s.layer for s in strokes], level=[s.level for s in strokes], step=[0] * n,
        palette=[s.rgb for s in strokes], brushes_mm=[s.width * mm for s in strokes], meta=provenance("test", {}, 0),
    )
    back = StrokePlan.load(plan.save(tmp_path / "plan.json"))
    assert len(back.strokes) == n
    for s, b in zip(strokes, back.strokes):
        assert np.abs(np.asarray(b.points) - s.points * mm).max() <= 0.5e-3 + 1e-9
        assert abs(b.width_mm - s.width * mm) <= 0.5e-3 + 1e-9
    ours = render_plan(back)
    assert ours.shape == img.shape
    diff = np.abs(ours.astype(int) - to_uint8(canvas).astype(int))
    assert diff.max() <= 1 and (diff > 0).mean() < 0.01, (diff.max(), (diff > 0).mean())


def test_reordering_keeps_the_render_exactly(scene):
    from animatepainter.planner import PaintSettings, plan_painting

    a = plan_painting(scene.image, PaintSettings(strokes=250, size=64, reorder=False), depth=scene.depth).plan
    b = plan_painting(scene.image, PaintSettings(strokes=250, size=64, reorder=True), depth=scene.depth).plan
    assert np.array_equal(render_plan(a), render_plan(b))
    assert b.pen_up_travel_mm() < 0.8 * a.pen_up_travel_mm()


def test_progress_frames_are_monotone(small_result):
    plan = small_result.plan
    frames = [f for _, f in render_steps(plan)]
    assert len(frames) == plan.n_steps + 1
    assert (frames[0] == 255).all()  # blank white canvas
    assert np.array_equal(frames[-1], render_plan(plan))
    snaps = list(render_progress(plan, [0, 10, len(plan.strokes)]))
    assert np.array_equal(snaps[-1], frames[-1])
    assert np.array_equal(snaps[1], render_plan(plan, upto=10))


def test_svg_rasterised_independently_matches(small_result, tmp_path):
    """cairosvg (an independent SVG renderer) draws plan.svg like render_plan."""
    import cairosvg  # a [dev] dependency: a broken install fails here, not skips
    import cv2
    from skimage.metrics import peak_signal_noise_ratio

    from animatepainter.export.svg import write_svg

    plan = small_result.plan
    path = write_svg(plan, tmp_path / "plan.svg")
    w = 256
    h = int(round(plan.canvas.height_mm * w / plan.canvas.width_mm))
    png = cairosvg.svg2png(url=str(path), output_width=w, output_height=h)
    theirs = cv2.cvtColor(cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
    ours = render_plan(plan, width_px=w, region="canvas")
    assert theirs.shape == ours.shape
    psnr = peak_signal_noise_ratio(theirs, ours, data_range=255)
    assert psnr > 40.0, psnr
