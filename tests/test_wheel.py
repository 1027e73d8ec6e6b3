"""The built wheel works on its own: one `animatepainter` package, data files included,
the CLI runs from the installed files without the source tree."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """Build from a copy of the source tree: setuptools writes ``build/`` and ``*.egg-info``
    into the folder it builds, and with ``pytest -n`` this fixture may run in two workers
    at once, which then collide on those folders."""
    out = tmp_path_factory.mktemp("wheel")
    src = tmp_path_factory.mktemp("src") / "animatepainter"
    skip = shutil.ignore_patterns(".git", ".venv", ".xfer", ".whl", "build", "dist", "out", "*.egg-info", "__pycache__", ".pytest_cache")
    shutil.copytree(ROOT, src, ignore=skip)
    cmd = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(out), str(src)]
    r = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp_path_factory.mktemp("cwd"))
    assert r.returncode == 0, r.stderr[-2000:]
    (whl,) = out.glob("animatepainter-*.whl")
    return whl


def test_wheel_has_one_top_level_package(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    tops = {n.split("/")[0] for n in names if not n.startswith("animatepainter-")}
    assert tops == {"animatepainter"}, tops
    for required in (
        "animatepainter/planner/__init__.py",
        "animatepainter/planner/schema/plan-1.schema.json",
        "animatepainter/planner/data/examples/landscape.png",
        "animatepainter/export/svg.py",
        "animatepainter/model/__init__.py",
        "animatepainter/model/data/synth.py",
        "animatepainter/planner/machine/profiles/pen-plotter.toml",
        "animatepainter/planner/schema/machine-1.schema.json",
        "animatepainter/cli/app.py",
        "animatepainter/model/checkpoints/small/unet/diffusion_pytorch_model.safetensors",
        "animatepainter/model/checkpoints/small/MODEL_CARD.md",
        "animatepainter/planner/machine/profiles/sim-arm.toml",
        "animatepainter/planner/machine/tubes/student-acrylic.toml",
        "animatepainter/planner/schema/tubes-1.schema.json",
        "animatepainter/planner/process.py",
        "animatepainter/export/lesson.py",
        "animatepainter/cli/vpype_plugin.py",
        "animatepainter/planner/rig/register.py",
        "animatepainter/export/ros/interfaces/painter_msgs/srv/Replan.srv",
    ):
        assert required in names, required
    assert not any(n.startswith(("planner/", "model/", "export/", "tests/")) for n in names)


def test_installed_wheel_runs_paint(wheel, tmp_path):
    """Install the wheel into a folder and run `paint` with only that folder and the
    dependencies on the path (``python -S``: no site processing, so the editable
    install of the source tree is not visible)."""
    target = tmp_path / "site"
    r = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target), str(wheel)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-2000:]
    deps = sysconfig.get_paths()["purelib"]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(target), deps])}
    code = (
        "import sys, animatepainter.planner as p, animatepainter.export as e;"
        "assert p.__file__.startswith(sys.argv[1]), p.__file__;"
        "from animatepainter.cli import main;"
        "from pathlib import Path;"
        "img = Path(p.__file__).parent / 'data' / 'examples' / 'landscape.png';"
        "sys.exit(main(['-q', 'paint', str(img), '-o', sys.argv[2], '--strokes', '80', '--size', '48', '--video-px', '96', '--machine', 'pen-plotter']))"
    )
    out = tmp_path / "out"
    r = subprocess.run([sys.executable, "-S", "-c", code, str(target), str(out)], capture_output=True, text=True, env=env, cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    assert (out / "plan.json").exists() and (out / "plan.svg").exists()
