"""Options with a fixed list of choices are typer enum choices (issue 22): a value
outside the list is click's usage error (the usage line, then ``error: Invalid value for
'--opt': ... 'x' is not one of ...``, exit status exactly 2) before any work starts and
before anything is written; ``--help`` lists the choices and the default; the commands
pass the plain string (``.value``) on, so the library and its plans are unchanged."""

from __future__ import annotations

import re
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import run_cli

# (command, option, its choices in order, its default) for every enum option of the CLI
CHOICES = [
    (["paint"], "--engine", ("teacher", "diffusion"), "teacher"),
    (["paint"], "--depth-backend", ("prior", "transformers"), "prior"),
    (["extract"], "--depth-backend", ("prior", "transformers", "none"), "prior"),
    (["train"], "--mixed-precision", ("auto", "no", "fp16", "bf16"), "auto"),
    (["train"], "--device", ("auto", "cpu"), "auto"),
    (["train"], "--save-dtype", ("fp32", "fp16"), "fp32"),
    (["train"], "--augment", ("dihedral", "hflip", "none"), "dihedral"),
    (["generate"], "--device", ("auto", "cpu", "cuda"), "auto"),
    (["generate"], "--backend", ("torch", "onnxruntime"), "torch"),
    (["generate"], "--provider", ("auto", "tensorrt", "cuda", "cpu"), "auto"),
    (["generate"], "--depth-backend", ("prior", "transformers"), "prior"),
    (["evaluate-model"], "--device", ("auto", "cpu", "cuda"), "auto"),
    (["synth"], "--aspect", ("crop", "keep"), "crop"),
    (["synth"], "--engine", ("local", "ray"), "local"),
    (["synth"], "--depth-backend", ("prior", "transformers"), "prior"),
    (["lesson"], "--paper", ("a4", "letter"), "a4"),
    (["export", "svg"], "--by", ("paint", "run", "group"), "paint"),
]

_IDS = [f"{' '.join(c)} {o}" for c, o, _, _ in CHOICES]


@pytest.fixture
def inputs(tmp_path) -> dict[str, Path]:
    """Real (tiny) inputs, so that only the bad choice is wrong."""
    img = tmp_path / "in" / "img.png"
    img.parent.mkdir()
    Image.fromarray(np.full((16, 16, 3), 128, np.uint8)).save(img)
    frames = tmp_path / "in" / "frames"
    frames.mkdir()
    for i in range(3):
        Image.fromarray(np.full((16, 16, 3), 255 - 60 * i, np.uint8)).save(frames / f"{i}.png")
    dataset = tmp_path / "in" / "dataset"
    dataset.mkdir()
    plan = tmp_path / "in" / "plan.json"
    plan.write_text("{}")
    return {"img": img, "frames": frames, "dataset": dataset, "plan": plan}


def _args(cmd: list[str], inputs: dict[str, Path], out: Path) -> list:
    """The command with its inputs and an output under ``out`` (which must not appear)."""
    name = " ".join(cmd)
    if name == "paint":
        return ["paint", inputs["img"], "-o", out]
    if name == "extract":
        return ["extract", inputs["frames"], "-o", out]
    if name == "train":
        return ["train", inputs["dataset"], "-o", out]
    if name == "generate":
        return ["generate", inputs["img"], "-o", out]
    if name == "evaluate-model":
        return ["evaluate-model", "--report", out / "report.json"]
    if name == "synth":
        return ["synth", inputs["img"], "-o", out]
    if name == "lesson":
        return ["lesson", inputs["plan"], "-o", out / "lesson.pdf"]
    if name == "export svg":
        return ["export", "svg", inputs["plan"], "-o", out / "plan.svg"]
    raise AssertionError(name)


def _listing(d: Path) -> list[str]:
    return sorted(str(p.relative_to(d)) for p in d.rglob("*"))


def _bad_values(option: str, choices: tuple[str, ...]) -> list[str]:
    # a near miss in case, a made-up value; train --device takes no 'cuda' (TrainSettings)
    bad = ["bogus", choices[0].upper() if option != "--paper" else "a5"]
    return bad + (["cuda"] if "cuda" not in choices and option == "--device" else [])


@pytest.mark.parametrize("cmd, option, choices, default", CHOICES, ids=_IDS)
def test_a_bad_choice_is_a_usage_error_before_any_work(cmd, option, choices, default, inputs, tmp_path, capsys):
    out = tmp_path / "out"
    before = _listing(tmp_path)
    for bad in _bad_values(option, choices):
        t0 = time.perf_counter()
        code, _, err = run_cli(["-q", *_args(cmd, inputs, out), option, bad], capsys)
        took = time.perf_counter() - t0
        assert code == 2, (bad, err)
        lines = err.strip().splitlines()
        assert lines[0].startswith(f"Usage: animatepainter {' '.join(cmd)} "), err
        listed = ", ".join(repr(c) for c in choices)
        assert lines[-1] == f"error: Invalid value for '{option}': Value error, {bad!r} is not one of {listed}.", err
        assert "Traceback" not in err and sum(ln.startswith("error:") for ln in lines) == 1, err
        assert not out.exists() and _listing(tmp_path) == before, bad  # nothing made, no temp file left
        assert took < 0.5, f"{' '.join(cmd)} {option} {bad}: refused after {took:.2f} s (work started?)"


@pytest.mark.parametrize("cmd, option, choices, default", CHOICES, ids=_IDS)
def test_help_lists_the_choices_and_the_default(cmd, option, choices, default, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "600")  # one row per option: rich wraps help at the terminal's width
    code, out, _ = run_cli([*cmd, "--help"], capsys)
    assert code == 0
    rows = [ln for ln in out.splitlines() if re.search(rf"\s{re.escape(option)}\s+<", ln)]
    assert len(rows) == 1, out
    assert f"<{'|'.join(choices)}>" in rows[0], rows[0]
    assert f"[default: {default}]" in rows[0], rows[0]


def test_enums_follow_the_library_constants():
    """The enums made from library constants cannot drift from them."""
    from animatepainter.cli import choices as ch
    from animatepainter.export.lesson import PAPERS
    from animatepainter.export.ort_runtime import PROVIDERS
    from animatepainter.export.svg_layers import GROUPINGS
    from animatepainter.planner.depth import BACKENDS

    def values(e):
        return tuple(m.value for m in e)

    assert values(ch.DepthBackend) == BACKENDS
    assert values(ch.ExtractDepthBackend) == (*BACKENDS, "none")
    assert values(ch.Provider) == ("auto", *PROVIDERS)
    assert values(ch.Layering) == GROUPINGS
    assert values(ch.Paper) == tuple(PAPERS)
    for e in (ch.DepthBackend, ch.PaintEngine, ch.Device, ch.Provider, ch.Paper):
        assert all(isinstance(m, str) and m.name == m.value for m in e)


# -- a good choice: the library gets the plain string, the outputs are unchanged ---------------


def test_a_good_choice_gives_the_same_plan_bytes_as_the_default(tmp_path, scene, capsys):
    img = tmp_path / "scene.png"
    Image.fromarray(scene.image).save(img)
    fast = ["--strokes", "40", "--size", "32", "--video-px", "64", "--steps", "4"]
    code, _, err = run_cli(["-q", "paint", img, "-o", tmp_path / "default", *fast], capsys)
    assert code == 0, err
    code, _, err = run_cli(["-q", "paint", img, "-o", tmp_path / "given", *fast, "--engine", "teacher", "--depth-backend", "prior"], capsys)
    assert code == 0, err
    for name in ("plan.json", "plan.svg"):
        assert (tmp_path / "given" / name).read_bytes() == (tmp_path / "default" / name).read_bytes(), name
    plan = tmp_path / "default" / "plan.json"
    assert run_cli(["-q", "export", "svg", plan, "-o", tmp_path / "a.svg"], capsys)[0] == 0
    assert run_cli(["-q", "export", "svg", plan, "-o", tmp_path / "b.svg", "--by", "paint"], capsys)[0] == 0
    assert (tmp_path / "a.svg").read_bytes() == (tmp_path / "b.svg").read_bytes()


def _stop_with(seen: dict, key: str, value) -> None:
    """Record what the library was given, then end the command (exit 2) before work."""
    from animatepainter.planner.errors import SettingsError

    seen[key] = value
    raise SettingsError("stopped by the test")


def test_the_library_gets_plain_strings(monkeypatch, inputs, tmp_path, capsys):
    """``.value`` is passed on: the library sees ``str``, never the enum (whose str() and
    format() differ from the string's); ``--paper`` is matched in any case, as the library
    does."""
    import animatepainter.export.lesson as lesson_mod
    import animatepainter.export.svg_layers as svg_layers
    import animatepainter.model.data.synth as synth_mod
    import animatepainter.planner.teacher.pipeline as pipeline

    seen: dict = {}
    monkeypatch.setattr(pipeline.PaintSettings, "check", lambda self: _stop_with(seen, "paint", self.depth_backend))
    monkeypatch.setattr(synth_mod.SynthSettings, "check", lambda self: _stop_with(seen, "synth", (self.aspect, self.depth_backend)))
    monkeypatch.setattr(lesson_mod, "write_lesson", lambda *a, **k: _stop_with(seen, "lesson", k["paper"]))
    monkeypatch.setattr(svg_layers, "layer_groups", lambda plan, by="paint": _stop_with(seen, "svg", by))
    monkeypatch.setattr("animatepainter.cli.export._plan_and_profile", lambda *a, **k: (None, None))
    out = tmp_path / "out"
    runs = [
        ["paint", inputs["img"], "-o", out, "--depth-backend", "transformers"],
        ["synth", inputs["img"], "-o", out, "--aspect", "keep", "--depth-backend", "prior"],
        ["lesson", inputs["plan"], "-o", out / "l.pdf", "--paper", "Letter"],
        ["export", "svg", inputs["plan"], "-o", out / "x.svg", "--by", "run"],
    ]
    for args in runs:
        code, _, err = run_cli(["-q", *args], capsys)
        assert code == 2 and err.strip() == "error: stopped by the test", err
    assert seen == {"paint": "transformers", "synth": ("keep", "prior"), "lesson": "letter", "svg": "run"}
    for v in (seen["paint"], *seen["synth"], seen["lesson"], seen["svg"]):
        assert type(v) is str, repr(v)
    assert not out.exists()
