"""The checkpoint bundled with the package: it loads offline, generates by default, and
does what its model card claims on a small held-out set (vs crossfade and the ablation)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from animatepainter.model.generate import default_checkpoint


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_bundled_checkpoints_and_cards():
    from animatepainter.model.pipeline import load_pipeline

    ck = default_checkpoint()
    card = (ck / "MODEL_CARD.md").read_text()
    assert "animatepainter train data-tiny -o tiny --config tiny --steps 600" in card
    settings = json.loads((ck / "train_settings.json").read_text())
    assert settings["dataset"]["size"] == 32 and settings["dataset"]["frames"] == 8 and settings["dataset_samples"] == 640
    log = (ck / "train_log.csv").read_text().splitlines()
    assert len(log) == 601  # header + one row per step
    size = sum(p.stat().st_size for p in ck.rglob("*") if p.is_file())
    assert size < 8 * 2**20
    pipe = load_pipeline(ck)
    assert pipe.config.model_name == "tiny" and pipe.df_encoder is not None
    assert pipe.unet.dtype == torch.float32  # stored as fp16, run as fp32
    abl = load_pipeline(default_checkpoint("tiny-nodf"))
    assert abl.df_encoder is None and abl.config.resolution == pipe.config.resolution


def test_generate_uses_the_bundled_model_by_default(tmp_path, example_image_path):
    from animatepainter.cli import main

    out = tmp_path / "g"
    assert main(["-q", "generate", str(example_image_path), "-o", str(out), "--steps", "5", "--video-px", "64"]) == 0
    rep = json.loads((out / "report.json").read_text())
    assert rep["model"] == "tiny" and rep["frames"] == 8
    from PIL import Image

    first = np.asarray(Image.open(out / "frames" / "frame_000.png"), np.float32) / 255
    last = np.asarray(Image.open(out / "frames" / "frame_007.png"), np.float32) / 255
    assert first.mean() > 0.9  # a (nearly) blank white canvas
    assert last.mean() < first.mean() - 0.1


def test_bundled_model_beats_crossfade_and_ablation_on_held_out_images():
    from animatepainter.model.evaluate import evaluate_models, heldout_samples
    from animatepainter.model.pipeline import load_pipeline

    samples = heldout_samples(8, 32, procedural=3, real=("astronaut", "chelsea", "coffee"))
    models = {"tiny": load_pipeline(default_checkpoint()), "nodf": load_pipeline(default_checkpoint("tiny-nodf"))}
    rows = evaluate_models(models, samples, steps=10).rows
    tiny, nodf, cross = rows["tiny"]["all"], rows["nodf"]["all"], rows["crossfade"]["all"]
    assert tiny["frame_psnr"] > cross["frame_psnr"] + 2.0
    assert tiny["depth_order"] > cross["depth_order"] + 0.5
    assert tiny["depth_order"] > nodf["depth_order"] + 0.1
    assert tiny["final_psnr"] > 30 and tiny["monotonic"] >= 0.95
