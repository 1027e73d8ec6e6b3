"""Bad input to ``export svg`` and ``export json``: exit status exactly 2, one line that
names the problem, nothing written (issue 22)."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from conftest import run_cli


@pytest.fixture(scope="module")
def plan_json(tmp_path_factory, scene) -> Path:
    d = tmp_path_factory.mktemp("plan")
    Image.fromarray(scene.image).save(d / "scene.png")
    from animatepainter.cli import main

    assert main(["-q", "paint", str(d / "scene.png"), "-o", str(d / "out"), "--strokes", "60", "--size", "48", "--video-px", "64", "--steps", "4"]) == 0
    return d / "out" / "plan.json"


def _bad(kind: str, tmp: Path, plan: Path) -> tuple[list, str]:
    if kind == "missing":
        return [tmp / "nope.json"], "no such plan file"
    if kind == "not-json":
        (tmp / "p.json").write_text("not json")
        return [tmp / "p.json"], "not valid JSON"
    if kind == "not-a-plan":
        (tmp / "p.json").write_text('{"bad": 1}')
        return [tmp / "p.json"], "must contain"
    if kind == "unknown-machine":
        return [plan, "--machine", "nosuch"], "no such machine profile"
    raise AssertionError(kind)


@pytest.mark.parametrize("fmt", ["svg", "json"])
@pytest.mark.parametrize("kind", ["missing", "not-json", "not-a-plan", "unknown-machine"])
def test_bad_input_is_one_line_exit_2_and_writes_nothing(fmt, kind, plan_json, tmp_path, capsys):
    args, says = _bad(kind, tmp_path, plan_json)
    dest = tmp_path / "o" / f"x.{fmt}"
    code, _, err = run_cli(["-q", "export", fmt, *args, "-o", dest], capsys)
    lines = [ln for ln in err.strip().splitlines() if ln.startswith("error:")]
    assert code == 2 and len(lines) == 1 and says in lines[0], (code, err)
    assert "Traceback" not in err and not dest.exists()


def test_svg_layers_by_an_unknown_grouping_is_refused(plan_json, tmp_path, capsys):
    dest = tmp_path / "x.svg"
    code, _, err = run_cli(["-q", "export", "svg", plan_json, "-o", dest, "--by", "nonsense"], capsys)
    assert code == 2 and err.strip().splitlines()[-1] == "error: Invalid value for '--by': Value error, 'nonsense' is not one of 'paint', 'run', 'group'.", err
    assert "Usage: animatepainter export svg" in err and not dest.exists()


@pytest.mark.parametrize("fmt", ["svg", "json"])
def test_an_output_that_cannot_be_written_is_refused(fmt, plan_json, tmp_path, capsys):
    f = tmp_path / "file"
    f.write_text("x")
    code, _, err = run_cli(["-q", "export", fmt, plan_json, "-o", f / f"x.{fmt}"], capsys)
    lines = [ln for ln in err.strip().splitlines() if ln.startswith("error:")]
    assert code == 2 and len(lines) == 1 and f"{f} is a file, not a folder" in lines[0], (code, err)
    assert f.read_text() == "x"
