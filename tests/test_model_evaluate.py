"""The evaluation metrics on processes with a known answer, and the evaluation run."""

from __future__ import annotations

import json

import numpy as np
import pytest

from animatepainter.planner.errors import InputError, SettingsError
from animatepainter.model.evaluate import (
    HeldoutSample,
    completion_spearman,
    completion_time,
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
    assert t["completion_spearman"] == 1.0 and c["completion_spearman"] == 0.0
    table = format_table(rep)
    assert table.count("\n") == 4 and "| untrained | 3 |" in table
    assert "completion (Spearman vs teacher)" in table.splitlines()[0] and "| teacher | 3 | +1.000 |" in table
    assert not rep.settings["plans"] and "| - | - |" in table  # no plan figures asked for
    assert json.loads(rep.to_json())["rows"]["teacher"]["all"]["plan_hidden_share"] is None


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
    with pytest.raises(InputError, match="has 8 frames and 32x32 px but the model micro .* makes 4 frames of 16x16 px"):
        evaluate_models({"micro": micro}, samples, steps=2)
    rep = evaluate_models({"micro": micro}, samples, steps=2, resampled=["micro"])
    m, c = rep.rows["micro"]["all"], rep.rows["crossfade"]["all"]
    assert m["n"] == 1
    # the untrained model is the crossfade at 16 px / 4 frames; resampled it stays close to it
    assert abs(m["frame_psnr"] - c["frame_psnr"]) < 3.0


def _blocks_process(order: np.ndarray, t_n: int, image: np.ndarray) -> np.ndarray:
    """White canvas; each pixel jumps to its image colour at frame ``order`` (int (H, W))."""
    blank = np.ones_like(image)
    return np.stack([np.where((order <= t)[..., None], image, blank) for t in range(t_n)]).astype(np.float32)


def test_completion_time_of_a_known_process():
    image = np.zeros((4, 6, 3), np.float32)
    order = np.arange(24).reshape(4, 6) % 5 + 1  # 1..5
    f = _blocks_process(order, 7, image)
    np.testing.assert_array_equal(completion_time(f), order)
    # a pixel painted, then wiped back to blank, then painted again settles at the second time
    g = f.copy()
    g[3, 0, 0] = 1.0  # order[0, 0] = 1: painted at 1, blank again at 3
    assert completion_time(g)[0, 0] == 4
    # a pixel still changing in the second-last frame settles only at the end: T - 1
    h = f.copy()
    h[5, 0, 1] = 0.5
    assert completion_time(h)[0, 1] == 6
    # left blank: 0; a pixel that stays within a quarter of its change of the finished colour is settled
    k = f.copy()
    k[:, 1, 1] = 1.0
    assert completion_time(k)[1, 1] == 0
    m = f.copy()
    m[2:, 2, 2] = 0.2  # 0.2 from its finished colour (0), a change of 1: settled from 2 on
    assert completion_time(m)[2, 2] == 2


def test_completion_spearman_judges_order_not_pace():
    rng = np.random.default_rng(1)
    image = (rng.random((10, 12, 3)) * 0.5).astype(np.float32)
    order = rng.integers(1, 8, (10, 12))
    truth = _blocks_process(order, 9, image)
    assert completion_spearman(truth, truth, image, np.ones(3, np.float32)) == 1.0
    # the same order at another pace (every step later, fewer frames) still scores 1
    slow = _blocks_process(np.minimum(order + 2, 12), 13, image)
    coarse = _blocks_process((order + 1) // 2, 5, image)
    assert completion_spearman(slow, truth, image, np.ones(3)) == pytest.approx(1.0)
    assert completion_spearman(coarse, truth, image, np.ones(3)) > 0.9
    # the reverse order scores -1, an unrelated one about 0
    assert completion_spearman(_blocks_process(8 - order, 9, image), truth, image, np.ones(3)) == pytest.approx(-1.0)
    assert abs(completion_spearman(_blocks_process(rng.integers(1, 8, (10, 12)), 9, image), truth, image, np.ones(3))) < 0.3
    # the crossfade settles everywhere at once: no order, 0
    s = HeldoutSample("x", image, np.zeros((10, 12), np.float32), truth, "procedural")
    assert completion_spearman(crossfade(s), truth, image, np.ones(3)) == 0.0
    # nothing painted (the image is the canvas): undefined, 0
    white = np.ones_like(image)
    assert completion_spearman(truth, truth, white, np.ones(3)) == 0.0
    with pytest.raises(InputError, match="must be"):
        completion_time(np.zeros((3, 4, 4)))


def test_held_out_teacher_and_crossfade_scores_and_the_plan_figures():
    """On held-out processes: the teacher scores 1 on completion, the crossfade ~0, and the
    diffusion engine's plan of the teacher's frames has its process figures."""
    from animatepainter.model.evaluate import plan_figures, process_metrics

    samples = heldout_samples(frames=8, size=32, procedural=2, real=("astronaut",))
    for s in samples:
        assert process_metrics(s.frames, s).completion_spearman == 1.0
        assert abs(process_metrics(crossfade(s), s).completion_spearman) < 0.2
    fig = plan_figures(samples[0].frames, samples[0])
    assert fig["plan_strokes"] > 10
    assert 0.0 <= fig["plan_hidden_share"] <= 1.0 and 0.0 <= fig["plan_share_above_20"] <= fig["plan_share_above_10"] <= 1.0


def test_evaluation_with_plan_figures_in_the_table_and_json(tmp_path):
    from animatepainter.model.pipeline import AnimatePainterPipeline

    samples = heldout_samples(frames=4, size=16, procedural=1, real=("astronaut",))
    rep = evaluate_models({"untrained": AnimatePainterPipeline.from_model_config("micro")}, samples, steps=2, plans=True)
    assert rep.settings["plans"]
    for name in ("teacher", "crossfade", "untrained"):
        for sub in ("all", "real", "procedural"):
            m = rep.rows[name][sub]
            assert m["plan_strokes"] >= 1 and 0.0 <= m["plan_hidden_share"] <= 1.0, (name, sub, m)
    doc = json.loads(rep.to_json())
    assert doc["rows"]["untrained"]["real"]["n"] == 1 and doc["settings"]["settle_fraction"] == 0.25
    for sub in ("real", "procedural", "all"):
        table = format_table(rep, sub)
        assert table.splitlines()[0].endswith("| plan hidden share | plan share > 20 dE |")
        assert all(" - |" not in line for line in table.splitlines()[2:])
    with pytest.raises(SettingsError, match="subset"):
        format_table(rep, "photos")
    with pytest.raises(SettingsError, match="workers"):
        evaluate_models({}, samples, steps=2, workers=0)


def test_evaluate_model_cli_refuses_data_of_another_frame_count_or_size(tmp_path, capsys):
    """--data of the wrong frame count or size: one line naming which, what the model
    makes, exit 2, nothing written."""
    from animatepainter.cli import main
    from animatepainter.model.data.synth import SynthSettings, synth_dataset
    from animatepainter.model.pipeline import AnimatePainterPipeline, save_pipeline

    ck = save_pipeline(AnimatePainterPipeline.from_model_config("micro"), tmp_path / "micro")  # 16 px, 4 frames
    for frames, size, says in ((6, 16, "has 6 frames but"), (4, 24, "has 24x24 px but"), (6, 24, "has 6 frames and 24x24 px but")):
        data = tmp_path / f"d{frames}-{size}"
        synth_dataset([], data, SynthSettings(frames=frames, size=size, strokes=30, levels=2, layers=2), procedural=1, workers=1)
        capsys.readouterr()
        rep = tmp_path / "eval.json"
        code = main(["evaluate-model", "--ckpt", str(ck), "--ablation", "none", "--baseline", "none", "--data", str(data), "--steps", "1", "--report", str(rep), "--no-plans"])
        err = capsys.readouterr().err.strip()
        assert code == 2 and err.count("\n") == 0 and err.startswith("error:"), err
        assert says in err and "makes 4 frames of 16x16 px" in err and "--frames 4 --size 16" in err
        assert not rep.exists()


def test_a_checkpoint_with_a_setting_this_version_does_not_know_is_refused(tmp_path, capsys):
    from animatepainter.cli import main
    from animatepainter.model.pipeline import AnimatePainterPipeline, load_pipeline, save_pipeline

    ck = save_pipeline(AnimatePainterPipeline.from_model_config("micro"), tmp_path / "micro")
    load_pipeline(ck)
    idx = json.loads((ck / "model_index.json").read_text())
    idx["frame_rate"] = 4
    (ck / "model_index.json").write_text(json.dumps(idx))
    capsys.readouterr()
    assert main(["evaluate-model", "--ckpt", str(ck), "--ablation", "none", "--baseline", "none", "--procedural", "1", "--real", ""]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "'frame_rate'" in err and "does not know" in err, err


def test_held_out_set_is_the_same_with_worker_processes():
    one = heldout_samples(frames=4, size=16, procedural=2, real=("astronaut",))
    two = heldout_samples(frames=4, size=16, procedural=2, real=("astronaut",), workers=2)
    assert [s.key for s in one] == [s.key for s in two] and [s.kind for s in one] == [s.kind for s in two]
    for a, b in zip(one, two):
        np.testing.assert_array_equal(a.frames, b.frames)
        np.testing.assert_array_equal(a.depth, b.depth)
