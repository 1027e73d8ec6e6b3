"""The teacher's fitter at canvas scale: compiled scoring (exact on blocks), threads that
do not change the plan, the refinement, memory and interrupt handling, and large plans
through the tools downstream."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from PIL import Image

from animatepainter.planner import PaintSettings, plan_painting, render_plan
from animatepainter.planner.errors import SettingsError
from animatepainter.planner.layers import depth_layers
from animatepainter.planner.metrics import psnr
from animatepainter.planner.scenes import make_scene
from animatepainter.planner.teacher import sbr
from animatepainter.planner.teacher.kernels import block_sums, score_candidates
from animatepainter.planner.teacher.pipeline import check_memory
from animatepainter.planner.teacher.refine import RefineSettings, refine_strokes

from conftest import run_cli


@pytest.fixture(scope="module")
def textured():
    """A 96 x 128 procedural scene with its exact depth layers (float target)."""
    sc = make_scene(96, 128, seed=11)
    return sc.image, sc.image.astype(np.float32) / 255.0, depth_layers(sc.depth, 3)


def test_block_scoring_equals_pixel_scoring():
    """Blocks inside or outside a stroke count whole, edge blocks pixel by pixel: the
    same gains and colours as scoring every pixel."""
    rng = np.random.default_rng(0)
    import cv2

    target = cv2.GaussianBlur(rng.random((160, 200, 3), dtype=np.float32), (0, 0), 3)
    canvas = cv2.GaussianBlur(rng.random((160, 200, 3), dtype=np.float32), (0, 0), 5)
    weight = (rng.random((160, 200)) > 0.2).astype(np.float32)
    cands = [np.array([[20.3, 30.2], [60.1, 50.7], [100.5, 90.2], [150.0, 120.4]]), np.array([[180.2, 10.5], [120.7, 70.1]]), np.array([[5.5, 150.5], [5.6, 150.6]])]
    variants = [sbr._variants(len(c), wd) for c, wd in zip(cands, (24.0, 40.0, 17.0))]
    pt_off = np.cumsum([0] + [len(c) for c in cands])
    var_off = np.cumsum([0] + [len(v) for v in variants])
    args = (canvas, target, weight, np.concatenate(cands), pt_off, np.asarray([r for v in variants for r in v], np.float64), var_off, np.zeros((0, 3)))
    g1, c1, v1, b1 = score_candidates(*args, parallel=False)
    for scale in (2, 4, 8):
        g, c, v, b = score_candidates(*args, parallel=True, blocks=block_sums(canvas, target, weight, scale), scale=scale)
        np.testing.assert_allclose(g, g1, rtol=1e-9, atol=1e-9)
        assert (v == v1).all() and (c == c1).all() and (b == b1).all()
    # stale block sums (the canvas changed under them) give other scores: the blocks count
    stale = block_sums(np.ones_like(canvas), target, weight, 4)
    gs, *_ = score_candidates(*args, parallel=False, blocks=stale, scale=4)
    assert not np.allclose(gs, g1, rtol=1e-6, atol=0)


def test_same_plan_for_every_thread_count(textured):
    img, target, layers = textured
    runs = []
    for jobs in (1, 2, 1):
        strokes, canvas = sbr.fit_strokes(target, layers, 3, sbr.FitSettings(budget=400), seed=5, jobs=jobs)
        runs.append((np.concatenate([s.points for s in strokes]), np.array([s.rgb for s in strokes]), canvas))
    for pts, rgb, cv in runs[1:]:
        assert np.array_equal(pts, runs[0][0]) and np.array_equal(rgb, runs[0][1]) and np.array_equal(cv, runs[0][2])


def test_jobs_give_byte_identical_plans_from_the_cli(tmp_path, capsys):
    src = tmp_path / "scene.png"
    Image.fromarray(make_scene(72, 96, seed=4).image).save(src)
    outs = []
    for jobs in ("1", "2"):
        out = tmp_path / f"j{jobs}"
        code, _, err = run_cli(["-q", "paint", src, "-o", out, "--strokes", "300", "--size", "96", "--video-px", "64", "--jobs", jobs], capsys)
        assert code == 0, err
        outs.append((out / "plan.json").read_bytes())
    assert outs[0] == outs[1]


@pytest.mark.parametrize("jobs", ["0", "-2"])
def test_bad_jobs_refused_before_work(jobs, tmp_path, capsys):
    src = tmp_path / "scene.png"
    Image.fromarray(make_scene(40, 40, seed=1).image).save(src)
    code, _, err = run_cli(["paint", src, "-o", tmp_path / "o", "--jobs", jobs], capsys)
    assert code == 2 and err.strip() == f"error: --jobs must be a whole number of threads >= 1, got {jobs}", err
    assert not (tmp_path / "o").exists()
    with pytest.raises(SettingsError, match="^jobs must be"):
        plan_painting(make_scene(40, 40, seed=1).image, PaintSettings(strokes=10, size=40), jobs=0)


def test_working_size_beyond_memory_is_refused_before_work():
    with pytest.raises(SettingsError, match=r"^size 4096 would need about \d+\.\d GiB of memory \(400 bytes per working pixel\), but 2\.0 GiB are available") as e:
        check_memory((3000, 4000), PaintSettings(size=4096), available=2 * 2**30)
    assert e.value.field == "size" and "\n" not in str(e.value)
    check_memory((3000, 4000), PaintSettings(size=1024), available=2 * 2**30)  # 1024 px fits in 2 GiB


def test_refinement_lowers_the_error_and_keeps_the_order(textured):
    img, target, layers = textured
    fitted, canvas = sbr.fit_strokes(target, layers, 3, sbr.FitSettings(budget=300), seed=2)
    refined, rcanvas = refine_strokes(fitted, target, (1.0, 1.0, 1.0), RefineSettings(passes=2))
    u8 = lambda c: np.clip(np.rint(c * 255.0), 0, 255).astype(np.uint8)  # noqa: E731
    before, after = psnr(u8(canvas), img), psnr(u8(rcanvas), img)
    assert after > before + 0.5, (before, after)
    assert [(s.layer, s.level) for s in refined] == [(s.layer, s.level) for s in fitted]
    h, w = img.shape[:2]
    moved = 0
    for s, f in zip(refined, fitted):
        changed = (s.points != f.points).any(axis=1)
        moved += int(changed.any())
        p = s.points[changed]  # a point the refinement moves lands on the picture
        assert (p[:, 0] >= 0).all() and (p[:, 0] <= w).all() and (p[:, 1] >= 0).all() and (p[:, 1] <= h).all()
    assert moved > len(fitted) // 4
    # the canvas it reports is what the renderer paints from the refined strokes
    from animatepainter.planner.render import PixelStroke, new_canvas, paint_stroke

    cv = new_canvas(h, w, (1.0, 1.0, 1.0))
    for s in refined:
        paint_stroke(cv, PixelStroke(s.points, s.width, s.rgb.astype(np.float32) / 255.0))
    assert np.abs(cv - rcanvas).max() < 1e-4


def test_refinement_keeps_a_machines_paints_and_brushes(textured):
    img, target, layers = textured
    paints = np.array([[250, 250, 250], [20, 20, 20], [200, 40, 40], [40, 60, 190], [60, 160, 70]], np.uint8)
    widths = (16.0, 8.0, 4.0)
    fitted, _ = sbr.fit_strokes(target, layers, 3, sbr.FitSettings(budget=200, widths_px=widths, palette=tuple(map(tuple, paints.tolist())), fixed_widths=True), seed=3)
    refined, _ = refine_strokes(fitted, target, (1.0, 1.0, 1.0), RefineSettings(passes=2), palette=paints, fixed_widths=True)
    allowed = {tuple(p) for p in paints.tolist()}
    assert all(tuple(int(v) for v in s.rgb) in allowed for s in refined)
    assert [s.width for s in refined] == [s.width for s in fitted]


def test_refine_setting_default_and_plan_meta(scene):
    res = plan_painting(scene.image, PaintSettings(strokes=150, size=64, seed=1))
    assert res.plan.meta["refine_passes"] == 3 and "refine_s" in res.timings
    off = plan_painting(scene.image, PaintSettings(strokes=150, size=64, seed=1, refine=0))
    assert off.plan.meta["refine_passes"] == 0 and "refine_s" not in off.timings
    assert psnr(render_plan(res.plan), res.image) > psnr(render_plan(off.plan), off.image)
    with pytest.raises(SettingsError, match="^refine must be between 0 and 10"):
        PaintSettings(refine=11).check()


def test_interrupt_during_a_long_fit_leaves_nothing(tmp_path):
    """Ctrl-C while fitting: one line, status 130, no output folder, no staging folder."""
    src = tmp_path / "big.png"
    Image.fromarray(make_scene(768, 1024, seed=2).image).save(src)
    out = tmp_path / "out"
    code = "import sys; from animatepainter.cli import main; sys.exit(main(sys.argv[1:]))"
    p = subprocess.Popen([sys.executable, "-c", code, "paint", str(src), "-o", str(out), "--size", "1024", "--strokes", "60000", "--refine", "0"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(6.0)
    assert p.poll() is None, p.communicate()
    p.send_signal(signal.SIGINT)
    _, err = p.communicate(timeout=60)
    assert p.returncode == 130, err
    assert err.strip().splitlines()[-1] == "error: interrupted", err
    assert not out.exists() and not [q for q in tmp_path.iterdir() if q.name.startswith(".")]


# -- large plans through the tools downstream ----------------------------------------------


@pytest.fixture(scope="module")
def large_paint(tmp_path_factory):
    """A plan of 6,000 strokes at 512 px (no refinement, to keep the suite fast)."""
    d = tmp_path_factory.mktemp("large")
    src = d / "scene.png"
    Image.fromarray(make_scene(384, 512, seed=8).image).save(src)
    from animatepainter.cli import main

    assert main(["-q", "paint", str(src), "-o", str(d / "out"), "--size", "512", "--strokes", "6000", "--refine", "0", "--video-px", "128"]) == 0
    return src, d / "out"


def test_large_plan_viewer(large_paint, tmp_path, capsys):
    _, out = large_paint
    code, _, err = run_cli(["-q", "viewer", out, "-o", tmp_path / "v.html"], capsys)
    assert code == 0, err
    assert (tmp_path / "v.html").stat().st_size > 100_000


def test_large_plan_on_a_machine(large_paint, tmp_path, capsys):
    src, _ = large_paint
    code, _, err = run_cli(["-q", "paint", src, "-o", tmp_path / "m", "--size", "512", "--strokes", "6000", "--refine", "0", "--machine", "pen-plotter", "--video-px", "128"], capsys)
    assert code == 0, err
    rep = json.loads((tmp_path / "m" / "report.json").read_text())
    assert rep["machine"]["strokes"] >= 1000


def test_large_plan_extract(large_paint, tmp_path, capsys):
    from animatepainter.planner import load_plan
    from animatepainter.planner.render import render_steps

    _, out = large_paint
    frames = tmp_path / "frames"
    frames.mkdir()
    for i, (_, f) in enumerate(render_steps(load_plan(out / "plan.json"), width_px=256)):
        Image.fromarray(f).save(frames / f"{i:03d}.png")
    code, _, err = run_cli(["-q", "extract", frames, "-o", tmp_path / "x", "--depth-backend", "none", "--video-px", "128"], capsys)
    assert code == 0, err
    assert json.loads((tmp_path / "x" / "report.json").read_text())["psnr_db"] > 20


def test_large_plan_synth(tmp_path):
    from animatepainter.model.data.dataset import DatasetReader
    from animatepainter.model.data.synth import SynthSettings, synth_dataset

    rep = synth_dataset([], tmp_path / "ds", SynthSettings(frames=6, size=384, strokes=5000, shard_size=1, seed=1), procedural=1, workers=1)
    assert rep.manifest["samples"] == 1
    (sample,) = list(DatasetReader(tmp_path / "ds"))
    assert len(sample["strokes"]["frame"]) > 1000  # a simple scene: the fit stops when no stroke pays
