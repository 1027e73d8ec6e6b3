"""The depth-guided video diffuser: DF-Encoder, video denoiser, pipeline, training
and evaluation.

Importing this package is light: torch and diffusers load on first use of a name
below (PEP 562 lazy attributes).

* :class:`AnimatePainterPipeline`, :func:`load_pipeline`, :func:`save_pipeline`
  (:mod:`.pipeline`);
* :class:`DFEncoder`, :class:`ImageTokenEncoder` (:mod:`.df_encoder`);
* :class:`ProcessDenoiser` (:mod:`.denoiser`);
* :func:`load_model_config`, :class:`ModelConfig` (:mod:`.config`);
* :class:`TrainSettings` (:mod:`.train`, whose :func:`~.train.train` runs training);
* :func:`generate_process`, :func:`default_checkpoint` (:mod:`.generate`);
* :func:`evaluate_models`, :func:`heldout_samples` (:mod:`.evaluate`).
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY = {
    "AnimatePainterPipeline": ".pipeline",
    "AnimatePainterOutput": ".pipeline",
    "load_pipeline": ".pipeline",
    "save_pipeline": ".pipeline",
    "DFEncoder": ".df_encoder",
    "ImageTokenEncoder": ".df_encoder",
    "ProcessDenoiser": ".denoiser",
    "ModelConfig": ".config",
    "load_model_config": ".config",
    "TrainSettings": ".train",
    "generate_process": ".generate",
    "default_checkpoint": ".generate",
    "evaluate_models": ".evaluate",
    "heldout_samples": ".evaluate",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
