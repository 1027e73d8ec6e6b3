"""Model configurations: ``tiny`` and ``small`` (CPU), ``base`` (one GPU), or a user JSON file.

A config names everything that shapes the model (resolution, frames, pixel patch size,
position channels, UNet / DF-Encoder / image-encoder architecture, scheduler) and the
training defaults. The same code builds every size
(:meth:`~animatepainter.model.pipeline.AnimatePainterPipeline.from_model_config`).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from animatepainter.planner.errors import SettingsError

__all__ = ["ModelConfig", "load_model_config", "BUILTIN_CONFIGS"]

#: configs shipped in ``model/configs/``
BUILTIN_CONFIGS = ("tiny", "small", "base", "micro")

_REQUIRED = ("resolution", "num_frames", "patch_size", "unet", "df_encoder", "image_encoder", "scheduler")


@dataclass(frozen=True)
class ModelConfig:
    """A model configuration (see ``model/configs/tiny.json`` for the keys).

    Attributes:
        name: short name (``tiny``, ``small``, ``base``, ...).
        resolution: square frame side in pixels.
        num_frames: frames T of the process, blank canvas to finished image.
        patch_size: pixel-space patch side (the UNet grid is ``resolution / patch_size``).
        pos_freqs: Fourier frequencies of the position channels / token embeddings.
        concat_depth: also feed depth as a concatenated input channel (off by default,
            so that the DF-Encoder is the model's only depth path).
        use_df_encoder: build the DF-Encoder (``False`` = the ablation).
        output_head: ``composite`` (pixel space: paint gates over the image, see
            :mod:`~animatepainter.model.denoiser`) or ``plain``.
        background: canvas colour, RGB 0..255 (the blank first frame).
        spatial_bias: anchor the spatial cross-attention to the tokens' grid positions
            (see :mod:`~animatepainter.model.attention`).
        unet, df_encoder, image_encoder, scheduler: keyword arguments of each part.
        train: training defaults (``batch_size``, ``learning_rate``, ``warmup_steps``,
            ``ema_decay``, ``snr_gamma``, ``weight_decay``).
    """

    name: str
    resolution: int
    num_frames: int
    patch_size: int
    unet: dict[str, Any]
    df_encoder: dict[str, Any]
    image_encoder: dict[str, Any]
    scheduler: dict[str, Any]
    pos_freqs: int = 4
    concat_depth: bool = False
    use_df_encoder: bool = True
    output_head: str = "composite"
    background: tuple[int, int, int] = (255, 255, 255)
    spatial_bias: bool = True
    train: dict[str, Any] = field(default_factory=dict)
    description: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def load_model_config(spec: str | Path) -> ModelConfig:
    """Load a built-in config by name (``tiny``, ``small``, ``base``, ``micro`` for tests) or a JSON file by path.

    Raises:
        SettingsError: unknown name, unreadable file, or missing/invalid keys (one line).
    """
    text: str
    s = str(spec)
    if s in BUILTIN_CONFIGS:
        text = resources.files("animatepainter.model").joinpath("configs", f"{s}.json").read_text()
        src = s
    else:
        p = Path(s)
        if not p.is_file():
            raise SettingsError(f"config {s!r}: not one of {', '.join(BUILTIN_CONFIGS)} and no such JSON file", "config")
        try:
            text = p.read_text()
        except OSError as e:
            raise SettingsError(f"config {p}: unreadable ({e.strerror})", "config") from None
        src = str(p)
    try:
        d = json.loads(text)
    except ValueError as e:
        raise SettingsError(f"config {src}: not valid JSON ({e})", "config") from None
    if not isinstance(d, dict):
        raise SettingsError(f"config {src}: must be a JSON object", "config")
    missing = [k for k in _REQUIRED if k not in d]
    if missing:
        raise SettingsError(f"config {src}: missing key(s) {', '.join(missing)}", "config")
    known = set(ModelConfig.__dataclass_fields__)
    unknown = sorted(set(d) - known)
    if unknown:
        raise SettingsError(f"config {src}: unknown key(s) {', '.join(unknown)}", "config")
    d.setdefault("name", Path(src).stem)
    cfg = ModelConfig(**d)
    if cfg.resolution < 8 or cfg.resolution % cfg.patch_size:
        raise SettingsError(f"config {src}: resolution {cfg.resolution} must be >= 8 and a multiple of patch_size {cfg.patch_size}", "config")
    down = len(cfg.unet.get("block_out_channels", [])) - 1
    grid = cfg.resolution // cfg.patch_size
    if down < 0 or grid % (2**down):
        raise SettingsError(f"config {src}: the UNet grid ({grid} cells) must be divisible by 2^{down} (its down-sampling)", "config")
    if cfg.output_head not in ("plain", "composite"):
        raise SettingsError(f"config {src}: output_head must be 'plain' or 'composite', got {cfg.output_head!r}", "config")
    if cfg.output_head == "composite" and cfg.scheduler.get("prediction_type") != "sample":
        raise SettingsError(f"config {src}: output_head 'composite' needs scheduler prediction_type 'sample'", "config")
    if len(cfg.background) != 3 or any(not 0 <= int(v) <= 255 for v in cfg.background):
        raise SettingsError(f"config {src}: background must be three integers 0..255", "config")
    if cfg.num_frames < 2:
        raise SettingsError(f"config {src}: num_frames must be at least 2", "config")
    if any(int(c) % 32 for c in cfg.unet.get("block_out_channels", [])):
        raise SettingsError(f"config {src}: unet block_out_channels must be multiples of 32 (GroupNorm with 32 groups)", "config")
    return cfg
