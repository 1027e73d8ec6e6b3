"""Shared fixtures: small procedural images and plans made once per session."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from animatepainter.planner import PaintSettings, make_scene, plan_painting


@pytest.fixture(scope="module")
def one_torch_thread():
    """One torch thread for a module: on a shared 2-core machine OpenMP spinning makes
    2 threads ~10x slower."""
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="session")
def scene():
    """A 64x48 procedural landscape with exact depth."""
    return make_scene(48, 64, seed=3)


@pytest.fixture(scope="session")
def small_result(scene):
    """The teacher's plan of ``scene`` (300 strokes, 64 px)."""
    return plan_painting(scene.image, PaintSettings(strokes=300, size=64, steps=12, seed=1, refine=0))


@pytest.fixture(scope="session")
def example_image_path() -> Path:
    import animatepainter.planner as pkg

    return Path(pkg.__file__).parent / "data" / "examples" / "landscape.png"


@pytest.fixture
def rgb_png(tmp_path) -> Path:
    """A small random RGB PNG."""
    from PIL import Image

    img = (np.random.default_rng(0).random((40, 56, 3)) * 255).astype(np.uint8)
    p = tmp_path / "img.png"
    Image.fromarray(img).save(p)
    return p


def run_cli(args: list[str], capsys) -> tuple[int, str, str]:
    """Run the CLI in-process; returns (exit status, stdout, stderr)."""
    from animatepainter.cli import main

    code = main([str(a) for a in args])
    out = capsys.readouterr()
    return code, out.out, out.err
