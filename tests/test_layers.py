"""The one-way architecture: cli -> export -> model -> planner, checked with
import-linter's contracts in pyproject.toml (every import statement counts, inside
functions too), and the packaging that installs the four folders."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LAYERS = ("planner", "model", "export", "cli")


def _lint(cwd: Path, pythonpath: str | None = None) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    if pythonpath:
        env["PYTHONPATH"] = pythonpath
    exe = Path(sys.executable).with_name("lint-imports")
    return subprocess.run([str(exe), "--config", str(cwd / "pyproject.toml"), "--no-cache"], capture_output=True, text=True, cwd=cwd, env=env)


def test_import_contracts_kept():
    r = _lint(ROOT)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-2000:]
    assert "Contracts: 2 kept, 0 broken" in r.stdout


@pytest.mark.parametrize(
    "where, line, named",
    [
        # a wrong-way import hidden inside a function still counts
        ("planner/images.py", "\ndef _sneaky():\n    from animatepainter.export.svg import write_svg  # wrong way\n", "animatepainter.planner.images -> animatepainter.export.svg"),
        ("model/config.py", "\nimport animatepainter.cli.ui  # wrong way\n", "animatepainter.model.config -> animatepainter.cli.ui"),
        ("planner/layers.py", "\ndef _lazy():\n    import torch  # the core must not need torch\n", "animatepainter.planner.layers -> torch"),
    ],
)
def test_wrong_way_import_is_caught(tmp_path, where, line, named):
    """The contracts fail on a copy of the tree with one bad import added (so the
    check above can fail)."""
    pkg = tmp_path / "animatepainter"
    skip = shutil.ignore_patterns("__pycache__", "checkpoints", "*.png", "*.safetensors")
    for top in LAYERS:
        shutil.copytree(ROOT / top, pkg / top, ignore=skip)
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    with open(pkg / where, "a") as f:
        f.write(line)
    r = _lint(tmp_path, pythonpath=str(tmp_path))
    assert r.returncode != 0, r.stdout[-2000:]
    assert "BROKEN" in r.stdout and named in r.stdout, r.stdout[-2000:]


def test_every_package_folder_is_installed():
    """Every folder with an __init__.py is listed in pyproject's packages (or the wheel
    would miss it), and each maps to its folder."""
    text = (ROOT / "pyproject.toml").read_text()
    listed = set(re.findall(r'"(animatepainter(?:\.\w+)+)"', text.split("packages = [", 1)[1].split("]", 1)[0]))
    found = set()
    for top in LAYERS:
        for init in (ROOT / top).rglob("__init__.py"):
            rel = init.parent.relative_to(ROOT)
            found.add("animatepainter." + ".".join(rel.parts))
    assert found == listed, (found - listed, listed - found)


def test_core_imports_without_torch():
    """Importing the core, its rooms and the CLI's help does not load torch."""
    code = (
        "import sys, animatepainter.planner, animatepainter.planner.teacher, animatepainter.planner.extract, "
        "animatepainter.planner.machine, animatepainter.export, animatepainter.cli.app;"
        "bad = [m for m in ('torch', 'diffusers', 'transformers', 'accelerate') if m in sys.modules];"
        "assert not bad, bad"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-2000:]
