"""Spatially anchored cross-attention for the DF-Encoder's tokens.

Cross-attention is blind to position: a query at pixel ``p`` sees every depth token
alike unless its learned projections happen to line up with the tokens' position
embeddings, which takes a small model many steps to learn. Since the DF-Encoder's
tokens sit on known grids (one grid per pyramid level), the spatial cross-attention
layers of the UNet get an additive logit bias

    bias(q, k) = - |pos(q) - pos(k)|^2 / (2 sigma_k^2),   sigma_k = half a cell of k's grid

for every token with a position (global tokens, e.g. Stable Video Diffusion's CLIP
embedding or a 1x1 grid, get 0). Each query then reads mostly the depth tokens around
its own location, at every scale of the pyramid: fine grids tell it its own layer,
coarse grids the layering of its surroundings. The projections are still learned; the
bias only says where to look first. It has no parameters, so it is rebuilt from the
encoders' configs whenever a pipeline is made or loaded (and nothing changes in the
saved weights).

Written by hand (diffusers has no positional attention bias for its video UNet); the
arithmetic is diffusers' ``AttnProcessor2_0`` with an ``attn_mask``.
"""

from __future__ import annotations

import math
from typing import Optional, Sequence

import torch
import torch.nn.functional as F

__all__ = ["token_layout", "SpatialBiasAttnProcessor", "install_spatial_bias"]


def token_layout(grids: Sequence[Optional[int]]) -> tuple[torch.Tensor, torch.Tensor]:
    """Positions and widths of concatenated token grids.

    Args:
        grids: per token group, the side ``g`` of its square grid (``g*g`` tokens, row
            major, cell centres in ``[-1, 1]``), or ``None`` for one global token.

    Returns:
        ``xy`` float32 ``(N, 2)`` token centres (``x``, ``y``) and ``sigma`` float32
        ``(N,)`` (``0`` = global token, no bias).
    """
    xy, sigma = [], []
    for g in grids:
        if g is None or g <= 1:
            n = 1 if g is None else g * g
            xy.append(torch.zeros(n, 2))
            sigma.append(torch.zeros(n))
            continue
        c = (torch.arange(g, dtype=torch.float32) + 0.5) / g * 2 - 1
        yy, xx = torch.meshgrid(c, c, indexing="ij")
        xy.append(torch.stack([xx.flatten(), yy.flatten()], dim=1))
        sigma.append(torch.full((g * g,), 0.5 * 2.0 / g))
    return torch.cat(xy), torch.cat(sigma)


class SpatialBiasAttnProcessor:
    """Scaled-dot-product cross-attention with the distance bias above.

    Args:
        xy: ``(N, 2)`` token centres; sigma: ``(N,)`` widths (0 = no bias). The queries
            must form a square grid (``L = s*s`` positions, row major); otherwise no
            bias is added.
    """

    def __init__(self, xy: torch.Tensor, sigma: torch.Tensor):
        self.xy = xy.float()
        self.sigma = sigma.float()
        self._cache: dict[tuple, torch.Tensor] = {}

    def bias(self, n_queries: int, device: torch.device, dtype: torch.dtype) -> Optional[torch.Tensor]:
        """``(1, 1, L, N)`` additive logits, or ``None`` if the queries are not a square grid."""
        side = int(round(math.sqrt(n_queries)))
        if side * side != n_queries:
            return None
        key = (n_queries, str(device), dtype)
        if key not in self._cache:
            c = (torch.arange(side, dtype=torch.float32) + 0.5) / side * 2 - 1
            yy, xx = torch.meshgrid(c, c, indexing="ij")
            q = torch.stack([xx.flatten(), yy.flatten()], dim=1)  # (L, 2)
            d2 = ((q[:, None, :] - self.xy[None]) ** 2).sum(-1)  # (L, N)
            has = self.sigma > 0
            b = torch.where(has[None], -d2 / (2 * self.sigma.clamp_min(1e-6)[None] ** 2), torch.zeros_like(d2))
            self._cache[key] = b[None, None].to(device=device, dtype=dtype)
        return self._cache[key]

    def __call__(self, attn, hidden_states: torch.Tensor, encoder_hidden_states: Optional[torch.Tensor] = None, attention_mask: Optional[torch.Tensor] = None, temb=None, *args, **kwargs) -> torch.Tensor:
        if encoder_hidden_states is None or attention_mask is not None or attn.spatial_norm is not None or attn.group_norm is not None or hidden_states.ndim != 3:
            raise ValueError("SpatialBiasAttnProcessor only serves plain cross-attention on (B, L, C) queries")
        if encoder_hidden_states.shape[1] != self.xy.shape[0]:
            raise ValueError(f"cross-attention got {encoder_hidden_states.shape[1]} tokens but the bias was built for {self.xy.shape[0]}")
        residual = hidden_states
        b, n_q, _ = hidden_states.shape
        query = attn.to_q(hidden_states)
        ehs = attn.norm_encoder_hidden_states(encoder_hidden_states) if attn.norm_cross else encoder_hidden_states
        key = attn.to_k(ehs)
        value = attn.to_v(ehs)
        head_dim = key.shape[-1] // attn.heads
        query = query.view(b, -1, attn.heads, head_dim).transpose(1, 2)
        key = key.view(b, -1, attn.heads, head_dim).transpose(1, 2)
        value = value.view(b, -1, attn.heads, head_dim).transpose(1, 2)
        if attn.norm_q is not None:
            query = attn.norm_q(query)
        if attn.norm_k is not None:
            key = attn.norm_k(key)
        mask = self.bias(n_q, query.device, query.dtype)
        out = F.scaled_dot_product_attention(query, key, value, attn_mask=mask, dropout_p=0.0, is_causal=False)
        out = out.transpose(1, 2).reshape(b, -1, attn.heads * head_dim).to(query.dtype)
        out = attn.to_out[1](attn.to_out[0](out))
        if attn.residual_connection:
            out = out + residual
        return out / attn.rescale_output_factor


def install_spatial_bias(unet, grids: Sequence[Optional[int]]) -> int:
    """Give the spatial cross-attention layers (``transformer_blocks.*.attn2``, not the
    temporal ones) of a ``UNetSpatioTemporalConditionModel`` the distance bias for
    tokens laid out as ``grids`` (see :func:`token_layout`).

    Returns:
        the number of layers changed.
    """
    from diffusers.models.attention_processor import AttnProcessor2_0

    xy, sigma = token_layout(grids)
    proc = SpatialBiasAttnProcessor(xy, sigma)
    procs = {}
    n = 0
    for name in unet.attn_processors:
        if ".transformer_blocks." in name and name.endswith("attn2.processor") and "temporal" not in name:
            procs[name] = proc
            n += 1
        else:
            procs[name] = AttnProcessor2_0()
    unet.set_attn_processor(procs)
    return n
