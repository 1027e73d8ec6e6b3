"""The evaluation metrics on processes with a known answer, and the evaluation run."""

from __future__ import annotations

import numpy as np
import pytest

from animatepainter.model.evaluate import (
    HeldoutSample,
    coverage_monotonicity,
    crossfade,
    depth_order_score,
    evaluate_models,
    first_painted,
    format_table,
    heldout_samples,
    process_metrics,
)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _ordered_process(far_first: bool, t_n: int = 6, h: int = 12, w: int = 10) -> HeldoutSample:
    """A dark image on a white canvas, painted in bands by depth (depth = row, 1 = bottom)."""
    rng = np.random.default_rng(0)
    image = (rng.random((h, w, 3)) * 0.4).astype(np.float32)
    depth = np.repeat(np.linspace(0, 1, h, dtype=np.float32)[:, None], w, axis=1)
    blank = np.ones((h, w, 3), np.float32)
    order = depth if far_first else 1 - depth  # painted once t/(T-1) passes it
    frames = np.stack([np.where((order <= t / (t_n - 1))[..., None], image, blank) for t in range(t_n)])
    frames[0] = blank
    return HeldoutSample("synthetic", image, depth, frames, "procedural")


def test_depth_order_sign_and_magnitude():
    far = _ordered_process(True)
    near = _ordered_process(False)
    assert depth_order_score(far.frames, far.image, far.depth, far.frames[0]) > 0.9
    assert depth_order_score(near.frames, near.image, near.depth, near.frames[0]) < -0.9
    # a crossfade of a uniform-contrast image paints every pixel at once: no order
    flat = HeldoutSample("flat", np.zeros((8, 8, 3), np.float32), far.depth[:8, :8], far.frames[:, :8, :8], "procedural")
    assert depth_order_score(crossfade(flat), flat.image, flat.depth, np.ones(3, np.float32)) == 0.0


def test_first_painted_and_monotonicity():
    s = _ordered_process(True)
    fp = first_painted(s.frames, s.frames[0])
    assert fp.shape == s.depth.shape and fp.min() >= 1 and fp.max() <= s.frames.shape[0] - 1
    never = first_painted(np.ones((3, 2, 2, 3), np.float32), np.ones(3, np.float32))
    assert (never == 3).all()
    assert coverage_monotonicity(s.frames, s.frames[0]) == 1.0
    erased = s.frames.copy()
    erased[3] = erased[0]  # the canvas is wiped half way
    assert coverage_monotonicity(erased, s.frames[0]) == pytest.approx(4 / 5)


def test_process_metrics_of_truth_and_of_crossfade():
    s = _ordered_process(True)
    m = process_metrics(s.frames, s)
    assert m.frame_psnr == 99.0 and m.frame_ssim == pytest.approx(1.0) and m.final_psnr == 99.0
    c = process_metrics(crossfade(s), s)
    assert c.final_psnr == 99.0 and c.frame_psnr < 20 and c.frame_ssim < 1.0 and c.monotonic == 1.0
    assert c.depth_order < m.depth_order


def test_evaluation_run_has_every_row_and_the_untrained_model_is_the_crossfade():
    from animatepainter.model.pipeline import AnimatePainterPipeline

    samples = heldout_samples(frames=4, size=16, procedural=2, real=("astronaut",))
    assert [s.kind for s in samples] == ["real", "procedural", "procedural"]
    assert all(s.frames.shape == (4, 16, 16, 3) for s in samples)
    # held-out procedural scenes differ from a training set made with seed 0
    from animatepainter.model.data.synth import make_jobs

    train_seeds = {j.seed for j in make_jobs([], 64, 0)}
    held_seeds = {j.seed for j in make_jobs([], 2, 9001)}
    assert not train_seeds & held_seeds
    pipe = AnimatePainterPipeline.from_model_config("micro")
    rep = evaluate_models({"untrained": pipe}, samples, steps=2)
    assert list(rep.rows) == ["teacher", "crossfade", "untrained"]
    u, c, t = rep.rows["untrained"]["all"], rep.rows["crossfade"]["all"], rep.rows["teacher"]["all"]
    assert u["frame_psnr"] == pytest.approx(c["frame_psnr"], abs=1e-3)
    assert u["depth_order"] == pytest.approx(c["depth_order"], abs=1e-6)
    assert t["depth_order"] > 0.5  # the teacher paints far first
    table = format_table(rep)
    assert table.count("\n") == 4 and "| untrained | 3 |" in table


def test_resample_process_keeps_the_ends_and_is_linear_in_time():
    from animatepainter.model.evaluate import resample_process

    s = _ordered_process(True, t_n=5, h=8, w=8)
    fade = crossfade(s)  # linear in time: resampling it in time is exact
    up = resample_process(fade, 9, 8)
    assert up.shape == (9, 8, 8, 3) and up.dtype == np.float32
    np.testing.assert_allclose(up, crossfade(HeldoutSample("x", s.image, s.depth, np.zeros((9, 8, 8, 3), np.float32) + s.frames[0], "real")), atol=1e-6)
    big = resample_process(s.frames, 5, 16)
    assert big.shape == (5, 16, 16, 3) and 0.0 <= big.min() and big.max() <= 1.0
    np.testing.assert_allclose(big[0], 1.0)  # the blank canvas stays blank


def test_a_model_of_another_size_is_resampled_only_when_asked():
    from animatepainter.model.pipeline import AnimatePainterPipeline
    from animatepainter.planner.errors import InputError

    samples = heldout_samples(frames=8, size=32, procedural=1, real=())
    micro = AnimatePainterPipeline.from_model_config("micro")  # 16 px, 4 frames
    with pytest.raises(InputError, match="works at 16x16"):
        evaluate_models({"micro": micro}, samples, steps=2)
    rep = evaluate_models({"micro": micro}, samples, steps=2, resampled=["micro"])
    m, c = rep.rows["micro"]["all"], rep.rows["crossfade"]["all"]
    assert m["n"] == 1
    # the untrained model is the crossfade at 16 px / 4 frames; resampled it stays close to it
    assert abs(m["frame_psnr"] - c["frame_psnr"]) < 3.0
