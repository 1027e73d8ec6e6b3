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


def save_tiny_depth_model(path):
    """Save a randomly initialised Depth Anything model (DINOv2 backbone, 56 px input)
    and its image processor to ``path``; returns ``path``. A local folder for the
    ``transformers`` depth backend, made here: nothing is downloaded."""
    import torch  # a base dependency: a broken install fails, not skips
    from transformers import DepthAnythingConfig, DepthAnythingForDepthEstimation, Dinov2Config, DPTImageProcessor

    bb = Dinov2Config(hidden_size=32, num_hidden_layers=4, num_attention_heads=2, intermediate_size=64, image_size=56, patch_size=14, out_features=["stage1", "stage2", "stage3", "stage4"], reshape_hidden_states=False)
    cfg = DepthAnythingConfig(backbone_config=bb, reassemble_hidden_size=32, neck_hidden_sizes=[8, 16, 32, 32], fusion_hidden_size=16, head_hidden_size=8, patch_size=14)
    torch.manual_seed(0)
    DepthAnythingForDepthEstimation(cfg).eval().save_pretrained(path)
    DPTImageProcessor(size={"height": 56, "width": 56}, keep_aspect_ratio=False, ensure_multiple_of=14).save_pretrained(path)
    return path


# -- "internal error" is for real bugs ---------------------------------------------------------
# The CLI's last line of defence prints "error: internal error (...)" and exits 1 for an
# exception nothing else handled. No case in the tests should reach it: every bad input has
# its own one-line message and exit status 2. This guard records every such line printed by
# an in-process CLI call and fails the test that caused it (mark a test
# ``@pytest.mark.internal_error_expected`` if it provokes one on purpose).


def pytest_configure(config):
    config.addinivalue_line("markers", "internal_error_expected: the test provokes the CLI's 'internal error' on purpose")


@pytest.fixture(autouse=True)
def _no_internal_error(request, monkeypatch):
    import animatepainter.cli.app as cli_app

    seen: list[str] = []
    real = cli_app._error

    def recording(msg: str) -> None:
        if msg.startswith("internal error"):
            seen.append(msg)
        real(msg)

    monkeypatch.setattr(cli_app, "_error", recording)
    yield
    if seen and request.node.get_closest_marker("internal_error_expected") is None:
        pytest.fail(f"the CLI said 'internal error' (reserved for real bugs): {seen[0]}", pytrace=False)


# -- strict skips ----------------------------------------------------------------------------
# A test that needs something outside the Python install (a browser, ROS 2's rosidl tools, a
# CUDA GPU with onnxruntime-gpu) skips where it is missing, unless that thing is named in
# ANIMATEPAINTER_REQUIRE (comma-separated, e.g. "chromium,rosidl" as .ci/run sets it, or
# "cuda" on a GPU machine): then the missing thing is a failure, so a run that is meant to
# exercise it cannot pass silently without it (docs/DEVELOPING.md, "Skips that must not skip").

#: what ANIMATEPAINTER_REQUIRE may name
REQUIRABLE = ("chromium", "rosidl", "cuda")


def required_extras() -> set[str]:
    """The names in ANIMATEPAINTER_REQUIRE; an unknown name is an error (a typo must not
    quietly require nothing)."""
    import os

    names = {n.strip().lower() for n in os.environ.get("ANIMATEPAINTER_REQUIRE", "").split(",") if n.strip()}
    unknown = names - set(REQUIRABLE)
    if unknown:
        raise pytest.UsageError(f"ANIMATEPAINTER_REQUIRE: unknown {', '.join(sorted(unknown))} (known: {', '.join(REQUIRABLE)})")
    return names


def skip_unless(what: str, available: bool, reason: str) -> None:
    """Skip the running test with ``reason`` unless ``available``; fail instead when
    ``what`` (one of :data:`REQUIRABLE`) is required by ANIMATEPAINTER_REQUIRE."""
    if what not in REQUIRABLE:
        raise ValueError(f"skip_unless: {what!r} is not one of {REQUIRABLE}")
    if available:
        return
    if what in required_extras():
        pytest.fail(f"{what} is required (ANIMATEPAINTER_REQUIRE) but missing: {reason}", pytrace=False)
    pytest.skip(reason)
