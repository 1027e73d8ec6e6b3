"""The DF-Encoder (depth-fusion encoder) and the image token encoder.

Both are small convolutional pyramids whose feature maps are pooled to fixed token
grids and flattened into tokens for the video denoiser's cross-attention:

* :class:`DFEncoder` reads the depth map (``(B, 1, H, W)``, 1 = nearest). Each pyramid
  level sees the depth at a coarser scale, so its tokens describe the scene's depth
  *layering* hierarchically: big far/near regions at the coarse grid, layer boundaries
  at the fine one. Every token carries a Fourier embedding of its grid position and a
  learned embedding of its scale, so the denoiser's queries (which see the same
  Fourier position channels, see :func:`fourier_positions`) can look up the depth of
  their own neighbourhood at each scale.
* :class:`ImageTokenEncoder` does the same for the finished RGB image (the "image
  conditioning tokens" that sit beside the DF-Encoder tokens; a Stable Video
  Diffusion checkpoint uses its CLIP image embedding instead).

The token count does not depend on the input resolution (adaptive average pooling to
``token_grids``), so one model accepts any input size.
"""

from __future__ import annotations

import math
from typing import Sequence

import torch
import torch.nn.functional as F
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.modeling_utils import ModelMixin
from torch import nn

__all__ = ["fourier_positions", "DFEncoder", "ImageTokenEncoder"]


def fourier_positions(height: int, width: int, n_freqs: int, device: torch.device | None = None, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Fourier features of pixel-centre positions.

    ``x`` and ``y`` run over ``[-1, 1]`` (pixel centres); for ``f = 0..n_freqs-1`` the
    channels are ``sin(pi 2^f x), cos(pi 2^f x), sin(pi 2^f y), cos(pi 2^f y)``.

    Returns:
        float ``(4 * n_freqs, height, width)``; an empty ``(0, height, width)`` tensor when
        ``n_freqs == 0``.
    """
    ys = (torch.arange(height, device=device, dtype=torch.float32) + 0.5) / height * 2 - 1
    xs = (torch.arange(width, device=device, dtype=torch.float32) + 0.5) / width * 2 - 1
    yy, xx = torch.meshgrid(ys, xs, indexing="ij")
    chans = []
    for f in range(n_freqs):
        w = math.pi * (2**f)
        chans += [torch.sin(w * xx), torch.cos(w * xx), torch.sin(w * yy), torch.cos(w * yy)]
    if not chans:
        return torch.zeros(0, height, width, device=device, dtype=dtype)
    return torch.stack(chans).to(dtype)


class _Stage(nn.Module):
    """conv3x3 (stride 1 or 2) -> GroupNorm -> SiLU -> conv3x3 -> SiLU."""

    def __init__(self, cin: int, cout: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride=stride, padding=1)
        self.norm = nn.GroupNorm(min(8, cout), cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.silu(self.norm(self.conv1(x)))
        return F.silu(self.conv2(x))


class _PyramidTokens(nn.Module):
    """Shared body of both encoders: conv pyramid -> pooled grids -> tokens."""

    def __init__(self, in_channels: int, block_channels: Sequence[int], token_grids: Sequence[int], token_dim: int, pos_freqs: int):
        super().__init__()
        if len(block_channels) != len(token_grids):
            raise ValueError(f"block_channels ({len(block_channels)}) and token_grids ({len(token_grids)}) must have the same length")
        self.token_grids = tuple(int(g) for g in token_grids)
        self.pos_freqs = int(pos_freqs)
        stages, cin = [], in_channels
        for i, c in enumerate(block_channels):
            stages.append(_Stage(cin, c, stride=1 if i == 0 else 2))
            cin = c
        self.stages = nn.ModuleList(stages)
        self.proj = nn.ModuleList([nn.Linear(c, token_dim) for c in block_channels])
        self.pos_proj = nn.Linear(4 * self.pos_freqs, token_dim) if self.pos_freqs > 0 else None
        self.scale_embed = nn.Parameter(torch.zeros(len(block_channels), token_dim))
        self.norm_out = nn.LayerNorm(token_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        tokens = []
        h = x
        for i, (stage, proj, g) in enumerate(zip(self.stages, self.proj, self.token_grids)):
            h = stage(h)
            pooled = F.adaptive_avg_pool2d(h, g)  # (B, C_i, g, g)
            t = proj(pooled.flatten(2).transpose(1, 2))  # (B, g*g, D)
            if self.pos_proj is not None:
                pos = fourier_positions(g, g, self.pos_freqs, device=x.device, dtype=t.dtype)
                t = t + self.pos_proj(pos.flatten(1).transpose(0, 1))[None]
            tokens.append(t + self.scale_embed[i])
        return self.norm_out(torch.cat(tokens, dim=1))


class DFEncoder(ModelMixin, ConfigMixin):
    """Depth-fusion encoder: a depth map to multi-scale depth tokens.

    Args:
        in_channels: depth channels (1).
        block_channels: channels of each pyramid level; level 0 runs at the input
            resolution, each next one at half the previous.
        token_grids: side of the square token grid each level is pooled to
            (``sum(g*g)`` tokens in all).
        token_dim: token width; must equal the denoiser's ``cross_attention_dim``.
        pos_freqs: Fourier frequencies of the token position embedding (same basis as
            the denoiser's position channels).

    Input ``depth``: float ``(B, 1, H, W)`` in ``[0, 1]``, 1 = nearest. Internally it is
    also fed as ``2*depth-1`` and as per-image standardised depth (so the layering of
    each image, whatever its depth range, is explicit).

    Output: float ``(B, sum(g*g), token_dim)``.
    """

    @register_to_config
    def __init__(self, in_channels: int = 1, block_channels: Sequence[int] = (16, 32, 64), token_grids: Sequence[int] = (16, 8, 4), token_dim: int = 64, pos_freqs: int = 4):
        super().__init__()
        self.body = _PyramidTokens(2 * in_channels, block_channels, token_grids, token_dim, pos_freqs)

    @property
    def num_tokens(self) -> int:
        return sum(g * g for g in self.config.token_grids)

    def forward(self, depth: torch.Tensor) -> torch.Tensor:
        mean = depth.mean(dim=(2, 3), keepdim=True)
        std = depth.std(dim=(2, 3), keepdim=True).clamp_min(1e-3)
        x = torch.cat([depth * 2 - 1, ((depth - mean) / std).clamp(-4, 4)], dim=1)
        return self.body(x)


class ImageTokenEncoder(ModelMixin, ConfigMixin):
    """The finished image to conditioning tokens (the tiny models' stand-in for a CLIP
    image embedding).

    Input ``image``: float ``(B, 3, H, W)`` in ``[-1, 1]``. Output: float
    ``(B, sum(g*g), token_dim)``. Arguments as :class:`DFEncoder`.
    """

    @register_to_config
    def __init__(self, in_channels: int = 3, block_channels: Sequence[int] = (16, 32), token_grids: Sequence[int] = (4, 1), token_dim: int = 64, pos_freqs: int = 4):
        super().__init__()
        self.body = _PyramidTokens(in_channels, block_channels, token_grids, token_dim, pos_freqs)

    @property
    def num_tokens(self) -> int:
        return sum(g * g for g in self.config.token_grids)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.body(image)
