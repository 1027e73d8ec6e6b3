"""`animatepainter extract` end to end: outputs, video input, bad input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from animatepainter.export.video import write_mp4, write_png
from animatepainter.planner import StrokePlan
from animatepainter.planner.render import render_steps
from conftest import run_cli

FAST = ["--video-px", "96"]


@pytest.fixture(scope="module")
def frames(small_result) -> np.ndarray:
    """7 frames of the teacher's process (64x48 px), blank first."""
    return np.stack([f for _, f in render_steps(small_result.plan)])[::2]


def _folder(root: Path, frames: np.ndarray, name: str = "frames") -> Path:
    d = root / name
    d.mkdir()
    for i, f in enumerate(frames):
        write_png(f, d / f"frame_{i}.png")  # natural order: frame_2 before frame_10
    return d


def test_extract_folder_writes_every_output(frames, tmp_path, capsys):
    src = _folder(tmp_path, frames)
    (src / "notes.txt").write_text("not a frame")
    out = tmp_path / "out"
    # not --quiet: the summary line is part of what the command gives
    code, stdout, stderr = run_cli(["extract", src, "-o", out, "--palette", "6", "--brushes", "40,20,10,5", *FAST], capsys)
    assert code == 0, stderr
    names = {p.name for p in out.iterdir()}
    assert {"plan.json", "plan.svg", "process.mp4", "contact.png", "report.json", "frames_vs_plan.png", "depth.png"} <= names
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")], "staging folder left behind"
    plan = StrokePlan.load(out / "plan.json")
    assert len(plan.palette) <= 6 and [b.width_mm for b in plan.brushes] == [40.0, 20.0, 10.0, 5.0]
    report = json.loads((out / "report.json").read_text())
    assert report["strokes"] == len(plan.strokes) > 0
    assert report["frames_used"] == len(frames) and len(report["per_step_psnr_db"]) == len(frames) - 1
    assert min(report["per_step_psnr_db"]) > 20 and report["psnr_db"] > 22
    assert report["engine"] == "extract"
    assert "strokes from" in stdout
    # depth estimated on the last frame by default (layers label strokes, far = 0); none: all 0
    assert len({st.layer for st in plan.strokes}) > 1 and "depth_s" in report["wall_time_s"]
    code, _, stderr = run_cli(["-q", "extract", src, "-o", tmp_path / "flat", "--palette", "6", "--brushes", "40,20,10,5", "--depth-backend", "none", *FAST], capsys)
    assert code == 0, stderr
    flat = StrokePlan.load(tmp_path / "flat" / "plan.json")
    assert {st.layer for st in flat.strokes} == {0} and [st.points.tolist() for st in flat.strokes] == [st.points.tolist() for st in plan.strokes]


def test_extract_video_and_erasure_video(frames, tmp_path, capsys):
    video = tmp_path / "process.mp4"
    write_mp4(list(frames), video, fps=4, hold_last_s=0)
    code, _, stderr = run_cli(["-q", "extract", video, "-o", tmp_path / "a", *FAST], capsys)
    assert code == 0, stderr
    plan = StrokePlan.load(tmp_path / "a" / "plan.json")
    assert plan.meta["frames"]["read"] == len(frames) and len(plan.strokes) > 0

    erasure = tmp_path / "erasure.mp4"
    write_mp4(list(frames[::-1]), erasure, fps=4, hold_last_s=0)
    code, _, stderr = run_cli(["-q", "extract", erasure, "-o", tmp_path / "b", *FAST], capsys)
    assert code == 2 and "less painted over time" in stderr and "--reverse" in stderr
    assert len(stderr.strip().splitlines()) == 1 and not (tmp_path / "b").exists()
    code, _, stderr = run_cli(["-q", "extract", erasure, "-o", tmp_path / "b", "--reverse", *FAST], capsys)
    assert code == 0, stderr
    assert StrokePlan.load(tmp_path / "b" / "plan.json").meta["frames"]["reversed"] is True


def test_more_than_max_frames_warns_and_keeps_first_and_last(small_result, tmp_path, capsys):
    """The teacher's 13 frames with ``--max-frames 5``: a warning on stderr says 13 frames
    were read and 5 used, ``report.json`` records 13 read and 5 used (4 steps), and the plan
    still matches the finished picture (> 22 dB: the last frame was kept)."""
    from animatepainter.planner.metrics import psnr
    from animatepainter.planner.render import render_plan

    every = np.stack([f for _, f in render_steps(small_result.plan)])
    assert len(every) == 13
    src = _folder(tmp_path, every)
    out = tmp_path / "out"
    code, _, stderr = run_cli(["-q", "extract", src, "-o", out, "--max-frames", "5", "--depth-backend", "none", *FAST], capsys)
    assert code == 0, stderr
    said = " ".join(stderr.split())  # rich may wrap the log line
    assert "13 frames; using 5 evenly spaced ones (--max-frames)" in said, stderr
    report = json.loads((out / "report.json").read_text())
    assert report["frames_read"] == 13 and report["frames_used"] == 5
    assert len(report["per_step_psnr_db"]) == 4
    plan = StrokePlan.load(out / "plan.json")
    done = render_plan(plan, width_px=every.shape[2])
    assert done.shape == every[-1].shape and psnr(done, every[-1]) > 22


def _bad(tmp_path: Path, frames: np.ndarray, kind: str) -> list:
    if kind == "sizes":
        d = _folder(tmp_path, frames[:3])
        write_png(np.zeros((30, 30, 3), np.uint8), d / "frame_9.png")
        return [d]
    if kind == "single":
        return [_folder(tmp_path, frames[-1:])]
    if kind == "image":
        write_png(frames[-1], tmp_path / "one.png")
        return [tmp_path / "one.png"]
    if kind == "video":
        (tmp_path / "broken.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"garbage" * 50)
        return [tmp_path / "broken.mp4"]
    if kind == "still":
        return [_folder(tmp_path, np.repeat(frames[-1:], 4, axis=0))]
    if kind == "empty":
        (tmp_path / "empty").mkdir()
        return [tmp_path / "empty"]
    if kind == "missing":
        return [tmp_path / "nope"]
    if kind == "brushes":
        return [_folder(tmp_path, frames), "--brushes", "10,x"]
    if kind == "refine":
        return [_folder(tmp_path, frames), "--refine", "99"]
    if kind == "depth-model":
        return [_folder(tmp_path, frames), "--depth-backend", "transformers"]
    raise ValueError(kind)


@pytest.mark.parametrize(
    "kind,message",
    [
        ("sizes", "frames differ in size"),
        ("single", "single frame"),
        ("image", "single image"),
        ("video", "not a readable video"),
        ("still", "frames never change"),
        ("empty", "holds no frames"),
        ("missing", "no such file or folder"),
        ("brushes", "--brushes"),
        ("refine", "--refine"),
        ("depth-model", "--depth-model"),
    ],
)
def test_bad_input_one_line_and_nothing_written(frames, tmp_path, capsys, kind, message):
    args = _bad(tmp_path, frames, kind)
    out = tmp_path / "out"
    code, _, stderr = run_cli(["-q", "extract", args[0], "-o", out, *args[1:]], capsys)
    assert code == 2, stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and message in lines[0], stderr
    assert not out.exists()


def test_unknown_depth_backend_is_a_usage_error(frames, tmp_path, capsys):
    """A choice outside the list (the library's BACKENDS, or none) is click's usage error
    (issue 22): exit status 2, the option and the bad value named, nothing written."""
    out = tmp_path / "out"
    code, _, stderr = run_cli(["-q", "extract", _folder(tmp_path, frames), "-o", out, "--depth-backend", "magic"], capsys)
    assert code == 2, stderr
    last = stderr.strip().splitlines()[-1]
    assert last == "error: Invalid value for '--depth-backend': Value error, 'magic' is not one of 'prior', 'transformers', 'none'.", stderr
    assert "Usage: animatepainter extract" in stderr and "Traceback" not in stderr
    assert not out.exists()


def test_help_names_units(capsys):
    code, stdout, _ = run_cli(["extract", "--help"], capsys)
    assert code == 0
    text = " ".join(stdout.replace("│", " ").split())  # rich wraps help inside a box
    for needle in ("millimetres", "Delta E", "pixels", "--reverse", "--palette", "--canvas-mm", "--refine", "Gauss-Newton iterations"):
        assert needle in text
