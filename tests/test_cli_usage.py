"""Command-line conventions: usage errors are usage errors (usage line, the problem,
"did you mean", exit status 2, never "internal error"); -q/-v work before or after the
command; every export lives under ``export`` (``export-onnx`` stays as an alias)."""

from __future__ import annotations

import subprocess
import sys

import pytest
from PIL import Image

from conftest import run_cli


@pytest.fixture(scope="module")
def img(tmp_path_factory, scene):
    p = tmp_path_factory.mktemp("img") / "scene.png"
    Image.fromarray(scene.image).save(p)
    return p


@pytest.mark.parametrize(
    "args, usage, problem",
    [
        (["paint", "x.png", "-o", "out", "--bogus"], "Usage: animatepainter paint", "No such option: --bogus"),
        (["paint"], "Usage: animatepainter paint", "Missing argument"),
        (["paint", "x.png"], "Usage: animatepainter paint", "Missing option '--out'"),
        (["paitn"], "Usage: animatepainter [OPTIONS] COMMAND", "No such command 'paitn'. Did you mean 'paint'"),
        (["export", "onn", "x"], "Usage: animatepainter export", "No such command 'onn'. Did you mean 'onnx'"),
        (["export", "gcode"], "Usage: animatepainter export gcode", "Missing argument"),
        (["paint", "x.png", "-o", "out", "--strokes", "many"], "Usage: animatepainter paint", "Invalid value for '--strokes'"),
        (["--bogus"], "Usage: animatepainter", "No such option: --bogus"),
    ],
)
def test_usage_errors_exit_2_with_usage_line(args, usage, problem, capsys):
    code, out, err = run_cli(args, capsys)
    assert code == 2, err
    assert usage in err, err
    assert "error: " in err and problem in err, err
    assert "internal error" not in err and "Traceback" not in err
    assert err.strip().splitlines()[-1].startswith("error: "), err


@pytest.mark.parametrize("where", ["before", "after"])
def test_quiet_and_verbose_before_or_after_the_command(img, tmp_path, where, capsys):
    cmd = ["paint", img, "-o", tmp_path / "o", "--strokes", "40", "--size", "32", "--video-px", "64", "--steps", "4"]
    args = ["-q", "-v", *cmd] if where == "before" else [*cmd, "-q", "-v"]
    code, out, err = run_cli(args, capsys)
    assert code == 0, err
    assert "strokes, PSNR" in out  # the result line stays under --quiet
    assert "━" not in out + err  # no progress bar
    assert (tmp_path / "o" / "plan.json").exists()


def test_global_flags_are_not_taken_by_any_command():
    """Moving -q/-v/--debug to the front is safe only while no command has an option of
    those names."""
    from animatepainter.cli.app import GLOBAL_FLAGS, _CLICK

    def walk(cmd, path):
        for p in cmd.params:
            clash = set(getattr(p, "opts", [])) & set(GLOBAL_FLAGS)
            assert not clash or cmd is _CLICK, f"{path}: option {clash} clashes with a root flag"
        for name, sub in getattr(cmd, "commands", {}).items():
            walk(sub, f"{path} {name}")

    walk(_CLICK, "animatepainter")


def test_hoisting_leaves_arguments_after_double_dash():
    from animatepainter.cli.app import hoist_global_flags

    assert hoist_global_flags(["paint", "a.png", "-q", "-o", "x"]) == ["-q", "paint", "a.png", "-o", "x"]
    assert hoist_global_flags(["paint", "--", "-q"]) == ["paint", "--", "-q"]


def test_hoisting_leaves_an_options_value_alone():
    """``-v``/``-q`` that are an option's value stay that option's value; real flags after
    them still move."""
    from animatepainter.cli.app import hoist_global_flags

    # lesson --title takes a value: "-v" is the title, the later "-q" is the global flag
    assert hoist_global_flags(["lesson", "p", "--title", "-v", "-q"]) == ["-q", "lesson", "p", "--title", "-v"]
    # --canvas-mm takes two values
    assert hoist_global_flags(["paint", "a.png", "--canvas-mm", "10", "-q", "-v"]) == ["-v", "paint", "a.png", "--canvas-mm", "10", "-q"]
    # "--opt=value" carries its own value; a flag option takes none
    assert hoist_global_flags(["lesson", "p", "--title=-v", "-q"]) == ["-q", "lesson", "p", "--title=-v"]
    assert hoist_global_flags(["evaluate-model", "--no-plans", "-v"]) == ["-v", "evaluate-model", "--no-plans"]


def test_export_onnx_lives_under_export_with_the_old_alias(capsys):
    code, out, _ = run_cli(["export", "--help"], capsys)
    assert code == 0 and "onnx" in out and "gcode" in out and "rosbag" in out
    code, out, _ = run_cli(["--help"], capsys)
    assert code == 0 and "export-onnx" not in out  # hidden alias
    for args in (["export", "onnx", "--help"], ["export-onnx", "--help"]):
        code, out, _ = run_cli(args, capsys)
        assert code == 0 and "--opset" in out


def test_settings_errors_name_the_flag(img, tmp_path, capsys):
    code, _, err = run_cli(["paint", img, "-o", tmp_path / "o", "--canvas-mm", "0", "10"], capsys)
    assert code == 2 and err.strip() == "error: --canvas-mm needs two positive sizes in mm, got 0.0 10.0", err


def test_python_m_runs_the_cli():
    r = subprocess.run([sys.executable, "-m", "animatepainter.cli", "paitn"], capture_output=True, text=True)
    assert r.returncode == 2 and "Did you mean 'paint'" in r.stderr, r.stderr
