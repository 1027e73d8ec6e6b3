"""`animatepainter paint --engine diffusion`: depth -> diffuser -> extractor -> plan.

The diffuser here is a tiny randomly initialised pipeline saved to a temp folder
(no download, no trained weights needed): the test is about the glue, the
resolution hand-over and the stroke cap, not the model's quality.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch  # a base dependency (pyproject): a broken install fails, not skips
from PIL import Image

from animatepainter.planner import PaintSettings, StrokePlan
from animatepainter.planner.errors import SettingsError
from conftest import run_cli



@pytest.fixture(scope="module")
def tiny_ckpt(tmp_path_factory) -> Path:
    from animatepainter.model.pipeline import AnimatePainterPipeline, save_pipeline

    torch.manual_seed(0)
    pipe = AnimatePainterPipeline.from_model_config("tiny")
    return save_pipeline(pipe, tmp_path_factory.mktemp("ckpt") / "tiny")


@pytest.fixture(scope="module")
def scene_png(tmp_path_factory, scene) -> Path:
    p = tmp_path_factory.mktemp("img") / "scene.png"
    Image.fromarray(scene.image).save(p)
    return p


def test_paint_with_the_diffusion_engine(scene_png, tiny_ckpt, tmp_path, capsys):
    out = tmp_path / "out"
    args = ["-q", "paint", scene_png, "-o", out, "--engine", "diffusion", "--ckpt", tiny_ckpt, "--sample-steps", "2", "--size", "64", "--strokes", "400", "--video-px", "96"]
    code, _, stderr = run_cli(args, capsys)
    assert code == 0, stderr
    plan = StrokePlan.load(out / "plan.json")
    report = json.loads((out / "report.json").read_text())
    assert report["engine"] == "diffusion" and plan.meta["engine"] == "diffusion"
    assert 0 < len(plan.strokes) <= 400
    # the diffuser runs at 32 px; the plan is at the working size of the image
    assert plan.meta["diffuser"]["frame_px"][0] <= 32 and plan.canvas.image_px == (64, 48)
    assert report["psnr_db"] > 20  # colours and detail come from the image
    assert {"depth_s", "diffuse_s", "strokes_s"} <= set(report["wall_time_s"])
    assert {"depth.png", "process.mp4", "contact.png", "plan.svg"} <= {p.name for p in out.iterdir()}


def test_stroke_cap_and_bad_options(scene, tiny_ckpt, capsys, scene_png, tmp_path):
    from animatepainter.model.pipeline import load_pipeline
    from animatepainter.model.engine import DiffusionOptions, plan_with_diffusion

    pipe = load_pipeline(tiny_ckpt)
    opts = DiffusionOptions(sample_steps=2)
    capped = plan_with_diffusion(scene.image, PaintSettings(size=64, strokes=60), depth=scene.depth, options=opts, pipe=pipe)
    assert 0 < len(capped.plan.strokes) <= 60
    assert capped.plan.meta["settings"]["min_gain"] > 0.5  # extracted again with a higher bar
    assert {s.layer for s in capped.plan.strokes} <= set(range(capped.layers.max() + 1))
    with pytest.raises(SettingsError, match="^sample_steps must be"):
        plan_with_diffusion(scene.image, PaintSettings(size=64), options=DiffusionOptions(sample_steps=0), pipe=pipe)
    code, _, stderr = run_cli(["-q", "paint", scene_png, "-o", tmp_path / "o", "--engine", "magic"], capsys)
    assert code == 2 and stderr.strip().splitlines()[-1] == "error: Invalid value for '--engine': Value error, 'magic' is not one of 'teacher', 'diffusion'.", stderr
    code, _, stderr = run_cli(["-q", "paint", scene_png, "-o", tmp_path / "o", "--engine", "diffusion", "--ckpt", tmp_path / "none"], capsys)
    assert code == 2 and "checkpoint folder not found" in stderr and len(stderr.strip().splitlines()) == 1
    assert not (tmp_path / "o").exists()
