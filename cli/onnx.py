"""``animatepainter export onnx``: the diffuser's networks as ONNX graphs (``export-onnx``
is kept as a hidden alias of earlier releases).

torch and onnx are imported inside the command, so ``--help`` stays fast.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from animatepainter.export.onnx_export import DEFAULT_OPSET, MAX_OPSET, MIN_OPSET


def export_onnx_cmd(
    out: Path = typer.Option(..., "--out", "-o", help="Output folder: condition.onnx, denoiser.onnx and manifest.json (published whole; an older export there is replaced)."),
    ckpt: Optional[Path] = typer.Option(None, "--ckpt", help="Checkpoint folder (from `animatepainter train`). Default: the bundled `small` model (64 px, 16 frames; `tiny` is the 32 px one)."),
    fp16: bool = typer.Option(False, "--fp16", help="fp16 weights and compute (inputs/outputs stay float32), meant for the CUDA and TensorRT providers (use the default fp32 on CPU)."),
    opset: int = typer.Option(DEFAULT_OPSET, "--opset", help=f"ONNX opset ({MIN_OPSET}..{MAX_OPSET})."),
    threads: Optional[int] = typer.Option(None, "--threads", help="CPU threads torch may use while tracing (count)."),
) -> None:
    """Export the diffuser (DF-Encoder + conditioning, and the per-step video denoiser) to ONNX for onnxruntime / TensorRT."""
    from animatepainter.model.generate import default_checkpoint
    from animatepainter.cli.ui import RichProgress, console_print
    from animatepainter.planner.errors import SettingsError

    from animatepainter.export.onnx_export import export_onnx

    if threads is not None:
        if threads < 1:
            raise SettingsError(f"--threads must be at least 1, got {threads}")
        import torch

        torch.set_num_threads(threads)
    ck = ckpt if ckpt is not None else default_checkpoint()
    with RichProgress() as progress:
        man = export_onnx(ck, out, fp16=fp16, opset=opset, progress=progress)
    diffs = man["validation"]["max_abs_diff"]
    shown = ", ".join(f"{k} {v:.1e}" if v is not None else f"{k} not run on CPU" for k, v in diffs.items())
    size = sum(g["bytes"] for g in man["graphs"].values()) / 1e6
    console_print(f"{man['checkpoint']['model_name']} -> {out} ({man['precision']}, opset {man['opset']}, {size:.1f} MB); max |onnxruntime - PyTorch|: {shown}")


def register(app: typer.Typer, export_app: typer.Typer) -> None:
    """Add ``export onnx`` (every export is under ``export``) and the hidden alias
    ``export-onnx`` of earlier releases."""
    export_app.command("onnx")(export_onnx_cmd)
    app.command("export-onnx", hidden=True)(export_onnx_cmd)
