"""Training under Accelerate on a tiny synthesised dataset: determinism, resume after a
kill, the CLI commands (train / generate / evaluate-model) and their one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from animatepainter.planner.errors import InputError, SettingsError


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    """4 procedural samples, 16 px, 4 frames (the ``micro`` model's size), 2 shards."""
    from animatepainter.model.data.synth import SynthSettings, synth_dataset

    out = tmp_path_factory.mktemp("ds") / "ds"
    synth_dataset([], out, SynthSettings(frames=4, size=16, shard_size=2, strokes=40, levels=2, layers=2), procedural=4, workers=1)
    return out


def _settings(**kw):
    from animatepainter.model.train import TrainSettings

    base = dict(config="micro", steps=2, batch_size=2, checkpoint_every=1, shuffle_buffer=4, seed=3)
    base.update(kw)
    return TrainSettings(**base)


def _weights(ckpt: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    out = {}
    for name in ("unet", "df_encoder", "image_encoder"):
        for k, v in load_file(str(ckpt / name / "diffusion_pytorch_model.safetensors")).items():
            out[f"{name}.{k}"] = v
    return out


class _KillAfter:
    """A progress reporter that interrupts training after ``n`` steps, as a kill would."""

    def __init__(self, n: int):
        self.n = n

    def stage(self, name, total=None):
        import contextlib

        outer = self

        class _S:
            def advance(self, k=1):
                outer.n -= k
                if outer.n <= 0:
                    raise KeyboardInterrupt

        return contextlib.nullcontext(_S())


def test_train_is_deterministic_and_resumes_after_a_kill(dataset, tmp_path):
    from animatepainter.model.pipeline import load_pipeline
    from animatepainter.model.train import latest_checkpoint, train

    a = train(dataset, tmp_path / "a", _settings())
    assert a.steps == 2 and a.resumed_from == 0 and np.isfinite(a.final_loss)
    log = (tmp_path / "a" / "train_log.csv").read_text().splitlines()
    assert log[0] == "step,loss,lr,seconds" and [r.split(",")[0] for r in log[1:]] == ["1", "2"]
    pipe = load_pipeline(tmp_path / "a")
    assert pipe.config.model_name == "micro"

    # killed after step 1 (its checkpoint is saved), then the same command again
    with pytest.raises(KeyboardInterrupt):
        train(dataset, tmp_path / "b", _settings(), progress=_KillAfter(1))
    assert latest_checkpoint(tmp_path / "b").name == "step-0000001"
    assert not (tmp_path / "b" / "model_index.json").exists()
    b = train(dataset, tmp_path / "b", _settings())
    assert b.resumed_from == 1 and b.steps == 2
    wa, wb = _weights(tmp_path / "a"), _weights(tmp_path / "b")
    assert wa.keys() == wb.keys()
    for k in wa:
        torch.testing.assert_close(wa[k], wb[k], rtol=0, atol=1e-6, msg=k)
    # the same log as the uninterrupted run (steps 1, 2 once each)
    assert [r.split(",")[:2] for r in (tmp_path / "b" / "train_log.csv").read_text().splitlines()] == [r.split(",")[:2] for r in log]

    # training moved the weights away from the initial (EMA) ones
    c = train(dataset, tmp_path / "c", _settings(steps=1, learning_rate=0.0005))
    assert c.steps == 1
    wc = _weights(tmp_path / "c")
    assert any(not torch.equal(wa[k], wc[k]) for k in wa)


def test_other_settings_in_the_same_folder_are_refused(dataset, tmp_path):
    from animatepainter.model.train import train

    train(dataset, tmp_path / "run", _settings(steps=1))
    with pytest.raises(SettingsError, match="other settings.*learning_rate"):
        train(dataset, tmp_path / "run", _settings(steps=2, learning_rate=0.01))
    with pytest.raises(SettingsError, match="other settings"):
        train(dataset, tmp_path / "run", _settings(steps=2, use_df_encoder=False))


def test_dataset_that_does_not_fit_the_model(dataset, tmp_path):
    from animatepainter.model.train import train

    with pytest.raises(InputError, match="4 frames per sample, but the model makes 8"):
        train(dataset, tmp_path / "x", _settings(config="tiny"))
    with pytest.raises(InputError, match="not a synth dataset"):
        train(tmp_path, tmp_path / "y", _settings())
    with pytest.raises(InputError, match="no full batch"):
        train(dataset, tmp_path / "z", _settings(batch_size=64))
    with pytest.raises(SettingsError, match="^steps must be at least 1"):
        train(dataset, tmp_path / "w", _settings(steps=0))


def test_cli_train_generate_evaluate(dataset, tmp_path, rgb_png, capsys):
    from animatepainter.cli import main

    ck = tmp_path / "ck"
    assert main(["-q", "train", str(dataset), "-o", str(ck), "--config", "micro", "--steps", "1", "--batch-size", "2", "--save-dtype", "fp16"]) == 0
    assert (ck / "model_index.json").is_file()
    out = tmp_path / "gen"
    assert main(["-q", "generate", str(rgb_png), "-o", str(out), "--ckpt", str(ck), "--steps", "2", "--seed", "1", "--video-px", "64"]) == 0
    frames = sorted((out / "frames").glob("frame_*.png"))
    assert len(frames) == 4
    for name in ("process.mp4", "contact.png", "depth.png", "report.json"):
        assert (out / name).stat().st_size > 0
    rep = json.loads((out / "report.json").read_text())
    assert rep["frames"] == 4 and rep["frame_size_px"] == [16, 11]  # 56x40 image -> long side 16
    from PIL import Image

    assert Image.open(frames[0]).size == (16, 11)
    again = tmp_path / "gen2"
    assert main(["-q", "generate", str(rgb_png), "-o", str(again), "--ckpt", str(ck), "--steps", "2", "--seed", "1", "--video-px", "64"]) == 0
    assert all((again / "frames" / f.name).read_bytes() == f.read_bytes() for f in frames)

    capsys.readouterr()
    assert main(["-q", "evaluate-model", "--ckpt", str(ck), "--ablation", "none", "--procedural", "2", "--real", "astronaut", "--steps", "2", "--report", str(tmp_path / "eval.json")]) == 0
    printed = capsys.readouterr().out
    assert "| crossfade |" in printed and "| teacher |" in printed and "diffuser (micro)" in printed
    ev = json.loads((tmp_path / "eval.json").read_text())
    assert ev["rows"]["teacher"]["all"]["n"] == 3 and ev["rows"]["teacher"]["real"]["n"] == 1


def test_cli_errors_are_one_line(dataset, tmp_path, rgb_png, capsys):
    from animatepainter.cli import main

    capsys.readouterr()
    assert main(["generate", str(rgb_png), "-o", str(tmp_path / "o"), "--ckpt", str(tmp_path / "missing")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and "checkpoint folder not found" in err and "\n" not in err
    assert main(["generate", str(tmp_path / "nope.png"), "-o", str(tmp_path / "o"), "--ckpt", str(tmp_path)]) == 2
    assert "\n" not in capsys.readouterr().err.strip()
    assert main(["train", str(dataset), "-o", str(tmp_path / "t"), "--config", "nonexistent", "--steps", "1"]) == 2
    assert "--config" in capsys.readouterr().err
    assert main(["train", str(dataset), "-o", str(tmp_path / "t"), "--config", "micro", "--mixed-precision", "fp16", "--device", "cpu"]) == 2
    assert "needs a GPU" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_augmentation_moves_image_depth_and_frames_together():
    from animatepainter.model.train import _to_model_batch

    g = torch.Generator().manual_seed(0)
    b, t, r = 16, 3, 8
    image = torch.rand(b, 3, r, r, generator=g)
    frames = torch.rand(b, t, 3, r, r, generator=g)
    frames[:, -1] = image
    depth = image[:, :1].clone()  # depth tied to the image's red channel
    batch = {"frames": frames, "image": image, "depth": depth}
    f2, i2, d2 = _to_model_batch(batch, r, t, "dihedral", torch.Generator().manual_seed(1), "cpu")
    torch.testing.assert_close(f2[:, -1], i2)
    torch.testing.assert_close(d2, (i2[:, :1] + 1) / 2)
    assert not torch.equal(i2, image * 2 - 1)  # some samples were turned or flipped
    f3, i3, _ = _to_model_batch(batch, r, t, "none", g, "cpu")
    torch.testing.assert_close(i3, image * 2 - 1)
    with pytest.raises(InputError, match="3 frames per sample, but the model makes 5|model makes 5"):
        _to_model_batch(batch, r, 5, "none", g, "cpu")


def test_two_processes_under_torchrun_train_and_resume(dataset, tmp_path):
    """The multi-process path on CPU (gloo): `torchrun --nproc_per_node 2` runs the same
    command; one progress bar and one summary; a run stopped at step 1 and resumed with
    two processes ends with the weights of an uninterrupted one."""
    import os
    import subprocess
    import sys

    def run(out: Path, steps: int) -> subprocess.CompletedProcess:
        cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
               "-m", "animatepainter.cli", "train", str(dataset), "-o", str(out), "--config", "micro",
               "--steps", str(steps), "--batch-size", "1", "--checkpoint-every", "1", "--seed", "3", "--threads", "1"]
        env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
        r = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
        assert r.returncode == 0, (r.stdout + r.stderr)[-3000:]
        return r

    a = run(tmp_path / "a", 2)
    assert a.stdout.count("2 steps on 2 processes") == 1, a.stdout
    state = json.loads((tmp_path / "a" / "checkpoints" / "step-0000002" / "train_state.json").read_text())
    assert state == {"step": 2, "samples_seen": 4}
    run(tmp_path / "b", 1)
    b = run(tmp_path / "b", 2)
    assert "resumed at step 1" in b.stdout
    wa, wb = _weights(tmp_path / "a"), _weights(tmp_path / "b")
    for k in wa:
        torch.testing.assert_close(wa[k], wb[k], rtol=0, atol=1e-6, msg=k)


_REGISTER_THEN_TRAIN = """
import sys
from pathlib import Path
from animatepainter.cli import main

img, ds, out = sys.argv[1], sys.argv[2], Path(sys.argv[3])
assert main(["-q", "paint", img, "-o", str(out / "p"), "-n", "60", "--size", "48", "--machine", "sim-arm", "--video-px", "64"]) == 0
plan = str(out / "p" / "plan.json")
assert main(["-q", "rig", "simulate", plan, "--rig", "sim-arm", "-o", str(out / "sim"), "--to", "59"]) == 0
assert main(["-q", "rig", "register", str(out / "sim" / "photo.png"), "--plan", plan, "-o", str(out / "reg")]) == 0
assert "colour" in sys.modules, "registration did not import colour-science: the test no longer tests the crash"
sys.exit(main(["-q", "train", ds, "-o", str(out / "ck"), "--config", "micro", "--steps", "1", "--batch-size", "2"]))
"""


def test_register_a_photo_then_train_in_one_process(dataset, tmp_path, example_image_path):
    """colour-science (imported by the rig's registration) once left a spec-less
    matplotlib stand-in in ``sys.modules``; ``train`` (transformers/accelerate probe
    matplotlib) then died with ``ValueError: matplotlib.__spec__ is not set`` — what a
    user who registers a photo and then trains in one process got. A fresh process, so
    that no other test's imports decide the order."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    r = subprocess.run([sys.executable, "-c", _REGISTER_THEN_TRAIN, str(example_image_path), str(dataset), str(tmp_path)], capture_output=True, text=True, env=env, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "internal error" not in r.stderr
    assert (tmp_path / "ck" / "model_index.json").is_file()
