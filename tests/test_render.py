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


def test_render_matches_the_fitters_canvas(scene):
    """The fitter's own canvas after all strokes equals rendering the plan (to 1 um
    rounding of the saved coordinates)."""
    from animatepainter.planner import PaintSettings, plan_painting
    from animatepainter.planner.teacher.sbr import FitSettings, fit_strokes
    from animatepainter.planner.layers import depth_layers

    img = scene.image
    target = img.astype(np.float32) / 255
    layers = depth_layers(scene.depth, 2)
    strokes, canvas = fit_strokes(target, layers, 2, FitSettings(budget=120), seed=0)
    c2 = new_canvas(*img.shape[:2], (1, 1, 1))
    for s in strokes:
        paint_stroke(c2, PixelStroke(s.points, s.width, s.rgb.astype(np.float32) / 255))
    assert np.array_equal(canvas, c2)

    res = plan_painting(img, PaintSettings(strokes=120, size=64, layers=2, reorder=False), depth=scene.depth)
    out = render_plan(res.plan)
    assert out.shape == img.shape


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
    cairosvg = pytest.importorskip("cairosvg")
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
