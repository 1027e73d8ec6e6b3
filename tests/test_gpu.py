"""The GPU path: the PyTorch sampler on CUDA gives the CPU's frames (skips without CUDA),
and ``bench/bench_gpu.py --device cpu --quick`` runs every section of the GPU check on a
tiny model and brings back what the device call would (report, loss curve, evaluation,
the checkpoint in parts that unpack to a loadable pipeline)."""

from __future__ import annotations

import importlib.util
import io
import json
import tarfile
from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import skip_unless


pytestmark = pytest.mark.usefixtures("one_torch_thread")

ROOT = Path(__file__).resolve().parents[1]


def _bench():
    spec = importlib.util.spec_from_file_location("bench_gpu", ROOT / "bench" / "bench_gpu.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_cuda_sampling_gives_the_cpu_frames():
    """The bundled small, same image, depth, seed and 20 steps: CUDA (full fp32 math)
    within half a uint8 level of the CPU in every frame and pixel. Skips without CUDA,
    fails instead under ANIMATEPAINTER_REQUIRE=cuda."""
    skip_unless("cuda", torch.cuda.is_available(), "needs a CUDA GPU")
    from animatepainter.model.generate import default_checkpoint
    from animatepainter.model.pipeline import load_pipeline

    img, dep = _bench()._picture(64)
    ck = default_checkpoint("small")
    ref = load_pipeline(ck, device="cpu")(img, dep, num_inference_steps=20, seed=0).frames
    flags = (torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32)
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    try:
        got = load_pipeline(ck, device="cuda")(img, dep, num_inference_steps=20, seed=0).frames
    finally:
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = flags
    assert got.shape == ref.shape == (1, 16, 64, 64, 3)
    assert float(np.abs(got - ref).max()) < 0.5 / 255


def test_bench_gpu_quick_on_cpu(tmp_path, capsys):
    bench = _bench()
    if not torch.cuda.is_available():
        assert bench.main(["--device", "cuda", "--out", str(tmp_path / "no")]) == 2
        assert "no CUDA GPU" in capsys.readouterr().err and not (tmp_path / "no").exists()
    out = tmp_path / "out"
    assert bench.main(["--device", "cpu", "--quick", "--skip-onnx", "--workers", "1", "--out", str(out)]) == 0
    rep = json.loads((out / "report.json").read_text())
    assert rep["quick"] and rep["parity"]["cpu_repeat_max_abs_diff"] == 0.0
    assert rep["speed"]["torch_cpu_s"] > 0 and rep["speed"]["frames"] == 16
    assert any(line.startswith("onnxruntime: --skip-onnx") for line in rep["not_run"])
    assert not any("failed" in line for line in rep["not_run"]), rep["not_run"]
    assert rep["synth"]["samples"] == 4 and rep["train"]["steps"] == 3 and rep["train"]["config"] == "micro"
    rows = (out / "loss.csv").read_text().splitlines()
    assert rows[0] == "step,loss,lr,seconds" and [r.split(",")[0] for r in rows[1:]] == ["1", "2", "3"]
    assert (out / "loss.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    ev = rep["eval"]["rows"]
    assert ev["teacher"]["all"]["completion_spearman"] == 1.0 and ev["crossfade"]["all"]["completion_spearman"] == 0.0
    assert set(ev) == {"teacher", "crossfade", "diffuser (micro)", "diffuser (small, 64 px / 16 frames resampled)"}
    assert ev["diffuser (micro)"]["all"]["plan_strokes"] >= 1  # the plans were judged
    # the checkpoint parts unpack to a pipeline that loads, with its evaluation and log
    parts = sorted(out.glob("ckpt.tar.*"))
    assert len(parts) == rep["checkpoint"]["parts"] >= 1 and all(p.stat().st_size <= 15 * 2**20 for p in parts)
    with tarfile.open(fileobj=io.BytesIO(b"".join(p.read_bytes() for p in parts))) as tar:
        tar.extractall(tmp_path / "back", filter="data")
    from animatepainter.model.pipeline import load_pipeline

    back = tmp_path / "back" / "micro"
    assert load_pipeline(back).config.model_name == "micro"
    assert (back / "train_log.csv").is_file() and (back / "train_settings.json").is_file() and not (back / "checkpoints").exists()
    assert len(list(out.iterdir())) <= 7  # + the log gpu_check.sh writes: at most the 8 files a device call brings back
