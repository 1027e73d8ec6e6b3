"""An interrupted or too-short training run continues: the same `animatepainter train`
command with more --steps picks up at the last checkpoint's step, and the loss log goes
on from there (the kill-and-rerun case with the same steps is in test_model_train.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    """The ``micro`` model's data (16 px, 4 frames) made by the command, 4 scenes in 2 shards."""
    from animatepainter.cli import main

    out = tmp_path_factory.mktemp("ds") / "ds"
    args = ["-q", "synth", "-o", str(out), "--procedural", "4", "--frames", "4", "--size", "16", "--shard-size", "2", "-n", "40", "--levels", "2", "--layers", "2", "-j", "1"]
    assert main(args) == 0
    return out


def _log_steps(out: Path) -> list[tuple[str, str]]:
    rows = (out / "train_log.csv").read_text().splitlines()
    assert rows[0] == "step,loss,lr,seconds"
    return [tuple(r.split(",")[:2]) for r in rows[1:]]


def test_a_run_given_more_steps_resumes_at_its_last_step_and_the_log_continues(dataset, tmp_path, capsys):
    from animatepainter.cli import main
    from animatepainter.model.pipeline import load_pipeline
    from animatepainter.model.train import latest_checkpoint

    out = tmp_path / "run"
    args = ["-q", "train", str(dataset), "-o", str(out), "--config", "micro", "--batch-size", "2", "--checkpoint-every", "2", "--threads", "1", "--seed", "5"]
    assert main(args + ["--steps", "2"]) == 0
    assert latest_checkpoint(out).name == "step-0000002"
    first = _log_steps(out)
    assert [s for s, _ in first] == ["1", "2"]
    load_pipeline(out)  # the published weights of the short run load

    capsys.readouterr()
    assert main([a for a in args if a != "-q"] + ["--steps", "4"]) == 0
    printed = capsys.readouterr().out
    assert "4 steps (resumed at step 2)" in printed, printed
    assert latest_checkpoint(out).name == "step-0000004"
    state = json.loads((out / "checkpoints" / "step-0000004" / "train_state.json").read_text())
    assert state["step"] == 4 and state["samples_seen"] == 8
    log = _log_steps(out)
    assert log[:2] == first and [s for s, _ in log] == ["1", "2", "3", "4"]  # steps 1-2 kept, 3-4 added once
    # the newest two checkpoints are kept (--keep-checkpoints 2), no temp folders left
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == ["step-0000002", "step-0000004"]
    assert not [p for p in out.iterdir() if p.name.startswith(".")]
    assert load_pipeline(out).config.model_name == "micro"

    # the same command again: nothing left to do, it says so and keeps the log
    assert main(args + ["--steps", "4"]) == 0
    assert _log_steps(out) == log
