"""The video denoiser: a diffusers ``UNetSpatioTemporalConditionModel`` (the Stable
Video Diffusion design) wrapped with its conditioning.

Per sampling step only the UNet runs. Its input for a batch of ``B`` processes of
``T`` frames is, per frame, the concatenation along channels of

1. the noisy process frame in the model's space (``C`` channels: pixel patches for the
   pixel-space models, VAE latents for the Stable Video Diffusion path);
2. the finished image in the same space (``C`` channels), identical for every frame;
3. optionally the depth map resized to the same grid (1 channel, ``concat_depth``);
4. Fourier position channels (``4 * pos_freqs``, see
   :func:`~animatepainter.model.df_encoder.fourier_positions`);

and its cross-attention reads the image tokens followed by the DF-Encoder depth tokens.
The frame index reaches the UNet through its temporal layers (positional frame
embeddings in the temporal transformers, temporal convolutions in the resnets).

Output head. With ``output_head="plain"`` (the Stable Video Diffusion path) the UNet's
output is the scheduler's prediction as it is. With ``output_head="composite"`` (the
pixel-space models; the scheduler predicts the clean sample, ``prediction_type="sample"``)
the UNet outputs, per cell, a residual ``r`` (``C`` channels) and one paint-gate logit
per pixel (``C/3`` channels), and the clean frames are predicted as::

    x0[t] = blank + sigmoid(g[t] + ramp[t]) * (image - blank) + r[t]

where ``ramp[t] = logit(clip(t / (T-1), 0.02, 0.98))``. A painting process is mostly
"which pixels are painted by frame t", so this head lets a small UNet spend its
capacity on *when* each pixel gets painted (the depth order) instead of on
reproducing colours it is given. With the gate and residual outputs initialised to
zero (see :func:`zero_init_output`) an untrained model is exactly the crossfade
baseline, and training moves it away from it.

Pixel space: an image ``(3, H, W)`` in ``[-1, 1]`` becomes ``(3 p^2, H/p, W/p)`` by
``pixel_unshuffle`` with patch size ``p`` (lossless; a parameter-free stand-in for a VAE
that lets a tiny UNet see a bigger neighbourhood per step).
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Any, Optional, Sequence

import torch
import torch.nn.functional as F
from diffusers import UNetSpatioTemporalConditionModel
from torch import nn

from animatepainter.model.df_encoder import DFEncoder, ImageTokenEncoder, fourier_positions

__all__ = ["Conditioning", "ModelSpace", "ProcessDenoiser", "build_unet", "expand_conv_in", "unet_in_channels", "unet_out_channels", "zero_init_output", "OUTPUT_HEADS"]

#: ways of turning the UNet output into the scheduler's prediction
OUTPUT_HEADS = ("plain", "composite")


def unet_in_channels(latent_channels: int, concat_depth: bool, pos_freqs: int) -> int:
    """Input channels the UNet needs: noisy frame + image (+ depth) + position."""
    return 2 * latent_channels + (1 if concat_depth else 0) + 4 * pos_freqs


def unet_out_channels(latent_channels: int, output_head: str) -> int:
    """Output channels the UNet needs: the prediction (plain), or residual + one gate
    per pixel (composite; ``latent_channels`` must be ``3 p^2``)."""
    if output_head == "composite":
        return latent_channels + latent_channels // 3
    return latent_channels


def zero_init_output(unet: UNetSpatioTemporalConditionModel) -> None:
    """Zero the UNet's last convolution (the composite head then starts as the crossfade)."""
    with torch.no_grad():
        unet.conv_out.weight.zero_()
        unet.conv_out.bias.zero_()


def build_unet(unet_cfg: dict[str, Any], latent_channels: int, concat_depth: bool, pos_freqs: int, num_frames: int, sample_size: int, output_head: str = "plain") -> UNetSpatioTemporalConditionModel:
    """A randomly initialised ``UNetSpatioTemporalConditionModel`` from a config dict.

    ``unet_cfg`` holds the UNet's architecture keys (``block_out_channels``,
    ``down_block_types``, ...); the channel counts, frame count and sample size come
    from the other arguments so that they always agree with the pipeline.
    """
    cfg = dict(unet_cfg)
    cfg.update(
        in_channels=unet_in_channels(latent_channels, concat_depth, pos_freqs),
        out_channels=unet_out_channels(latent_channels, output_head),
        num_frames=num_frames,
        sample_size=sample_size,
    )
    for k in ("block_out_channels", "down_block_types", "up_block_types", "num_attention_heads"):
        if isinstance(cfg.get(k), list):
            cfg[k] = tuple(cfg[k])
    return UNetSpatioTemporalConditionModel(**cfg)


def expand_conv_in(unet: UNetSpatioTemporalConditionModel, new_in: int) -> UNetSpatioTemporalConditionModel:
    """Give a pretrained UNet extra input channels, zero-initialised, so that its
    output is unchanged until training uses them (the usual way of adding
    conditioning channels to a pretrained diffusion UNet)."""
    old = unet.conv_in
    if new_in == old.in_channels:
        return unet
    if new_in < old.in_channels:
        raise ValueError(f"cannot shrink conv_in from {old.in_channels} to {new_in} channels")
    conv = nn.Conv2d(new_in, old.out_channels, old.kernel_size, old.stride, old.padding, dtype=old.weight.dtype, device=old.weight.device)
    with torch.no_grad():
        conv.weight.zero_()
        conv.weight[:, : old.in_channels] = old.weight
        conv.bias.copy_(old.bias)
    unet.conv_in = conv
    unet.register_to_config(in_channels=new_in)
    return unet


class ModelSpace:
    """Where diffusion happens: pixel patches (``vae=None``) or a VAE's latents.

    ``encode``: float ``(N, 3, H, W)`` in ``[-1, 1]`` -> ``(N, C, h, w)``;
    ``decode``: the inverse, ``(N, C, h, w)`` -> ``(N, 3, H, W)`` (about ``[-1, 1]``).
    """

    def __init__(self, vae: Optional[nn.Module], patch_size: int):
        self.vae = vae
        self.patch = int(patch_size)

    @property
    def channels(self) -> int:
        if self.vae is None:
            return 3 * self.patch * self.patch
        return int(self.vae.config.latent_channels)

    @property
    def factor(self) -> int:
        """Pixels per latent cell along a side."""
        if self.vae is None:
            return self.patch
        return 2 ** (len(self.vae.config.block_out_channels) - 1)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        if self.vae is None:
            return F.pixel_unshuffle(x, self.patch) if self.patch > 1 else x
        dtype = next(self.vae.parameters()).dtype
        z = self.vae.encode(x.to(dtype)).latent_dist.mode()
        return (z * self.vae.config.scaling_factor).to(x.dtype)

    def decode(self, z: torch.Tensor, num_frames: int) -> torch.Tensor:
        if self.vae is None:
            return F.pixel_shuffle(z, self.patch) if self.patch > 1 else z
        dtype = next(self.vae.parameters()).dtype
        z = (z / self.vae.config.scaling_factor).to(dtype)
        kwargs = {"num_frames": num_frames} if "num_frames" in inspect.signature(self.vae.decode).parameters else {}
        return self.vae.decode(z, **kwargs).sample.float()


@dataclass
class Conditioning:
    """What stays fixed over the sampling steps of one batch.

    Attributes:
        channels: float ``(B, C_cond, h, w)``: image (+ depth) + position channels,
            repeated over frames when fed to the UNet.
        tokens: float ``(B, N_tokens, cross_attention_dim)``: image tokens then depth tokens.
        added_time_ids: float ``(B, 3)``: the UNet's extra ids (Stable Video Diffusion's
            fps, motion bucket and noise-augmentation slots; constant here).
        image_latent: float ``(B, C, h, w)``: the image in the model space (composite head).
        blank_latent: float ``(B, C, h, w)``: the blank canvas in the model space.
    """

    channels: torch.Tensor
    tokens: torch.Tensor
    added_time_ids: torch.Tensor
    image_latent: torch.Tensor
    blank_latent: torch.Tensor


class ProcessDenoiser(nn.Module):
    """Everything trainable in one module: UNet, DF-Encoder and image encoder.

    Used by the pipeline (:meth:`condition` once, :meth:`forward` per step) and by
    training (the module handed to Accelerate and tracked by EMA).

    Args:
        unet: the video UNet.
        df_encoder: the DF-Encoder, or ``None`` for the ablation without it.
        image_encoder: :class:`ImageTokenEncoder`, or a transformers
            ``CLIPVisionModelWithProjection`` (Stable Video Diffusion; kept frozen).
        feature_extractor: the CLIP image processor when ``image_encoder`` is CLIP.
        pos_freqs: Fourier frequencies of the position channels.
        concat_depth: also concatenate the depth map as an input channel.
        added_time_ids: the three constant extra ids fed to the UNet.
        output_head: ``plain`` or ``composite`` (see the module docstring).
        background: canvas colour, RGB 0..255 (the composite head's blank canvas).
        patch_size: pixel patch side (composite head: channel layout of the gates).
    """

    def __init__(
        self,
        unet: UNetSpatioTemporalConditionModel,
        df_encoder: Optional[DFEncoder],
        image_encoder: nn.Module,
        feature_extractor: Any = None,
        pos_freqs: int = 4,
        concat_depth: bool = False,
        added_time_ids: Sequence[float] = (7.0, 127.0, 0.0),
        output_head: str = "plain",
        background: Sequence[int] = (255, 255, 255),
        patch_size: int = 1,
    ):
        super().__init__()
        if output_head not in OUTPUT_HEADS:
            raise ValueError(f"output_head must be one of {OUTPUT_HEADS}, got {output_head!r}")
        self.output_head = output_head
        self.patch_size = int(patch_size)
        self.register_buffer("_background", torch.tensor([float(v) / 255.0 * 2 - 1 for v in background], dtype=torch.float32), persistent=False)
        self.unet = unet
        self.df_encoder = df_encoder
        self.image_encoder = image_encoder
        self.feature_extractor = feature_extractor
        self.pos_freqs = int(pos_freqs)
        self.concat_depth = bool(concat_depth)
        self.register_buffer("_time_ids", torch.tensor(list(added_time_ids), dtype=torch.float32), persistent=False)
        if not isinstance(image_encoder, ImageTokenEncoder):
            image_encoder.requires_grad_(False)

    def image_tokens(self, image: torch.Tensor) -> torch.Tensor:
        """``image`` float ``(B, 3, H, W)`` in ``[-1, 1]`` -> ``(B, N_img, D)``."""
        if isinstance(self.image_encoder, ImageTokenEncoder):
            return self.image_encoder(image)
        # CLIP: resize to the processor's input size, normalise, one projected token
        fe = self.feature_extractor
        crop = getattr(fe, "crop_size", None) or {"height": 224, "width": 224}
        size = (int(crop["height"]), int(crop["width"]))
        x = F.interpolate((image + 1) / 2, size=size, mode="bicubic", align_corners=False, antialias=True).clamp(0, 1)
        mean = torch.tensor(fe.image_mean, device=x.device, dtype=x.dtype).view(1, 3, 1, 1)
        std = torch.tensor(fe.image_std, device=x.device, dtype=x.dtype).view(1, 3, 1, 1)
        dtype = next(self.image_encoder.parameters()).dtype
        with torch.no_grad():
            emb = self.image_encoder(((x - mean) / std).to(dtype)).image_embeds
        return emb.unsqueeze(1).to(image.dtype)

    def condition(self, image: torch.Tensor, image_latent: torch.Tensor, depth: torch.Tensor) -> Conditioning:
        """Fixed conditioning of a batch.

        Args:
            image: float ``(B, 3, H, W)`` in ``[-1, 1]``, the finished image.
            image_latent: float ``(B, C, h, w)``, the image in the model's space.
            depth: float ``(B, 1, H, W)`` in ``[0, 1]``, 1 = nearest.
        """
        b, _, h, w = image_latent.shape
        chans = [image_latent]
        if self.concat_depth:
            chans.append(F.interpolate(depth, size=(h, w), mode="area") * 2 - 1)
        if self.pos_freqs:
            pos = fourier_positions(h, w, self.pos_freqs, device=image_latent.device, dtype=image_latent.dtype)
            chans.append(pos[None].expand(b, -1, -1, -1))
        tokens = [self.image_tokens(image)]
        if self.df_encoder is not None:
            tokens.append(self.df_encoder(depth.to(image.dtype)))
        ids = self._time_ids.to(image_latent.device, image_latent.dtype)[None].expand(b, -1)
        c = image_latent.shape[1]
        # pixel_unshuffle lays channels out as [R x p^2, G x p^2, B x p^2]
        if c % 3 == 0:
            blank = self._background.to(image_latent.device, image_latent.dtype).repeat_interleave(c // 3).view(1, c, 1, 1).expand(b, c, h, w)
        else:  # VAE latents: no per-channel canvas colour (only the plain head is used there)
            blank = torch.zeros_like(image_latent)
        return Conditioning(torch.cat(chans, dim=1), torch.cat(tokens, dim=1), ids, image_latent, blank)

    def forward(
        self,
        sample: torch.Tensor,
        timestep: torch.Tensor,
        cond: Optional[Conditioning] = None,
        image: Optional[torch.Tensor] = None,
        image_latent: Optional[torch.Tensor] = None,
        depth: Optional[torch.Tensor] = None,
    ) -> torch.Tensor:
        """One denoiser evaluation.

        Args:
            sample: float ``(B, T, C, h, w)``, the (scaled) noisy frames.
            timestep: ``(B,)`` or scalar, the scheduler's timestep.
            cond: from :meth:`condition` (sampling: computed once per batch); or give
                ``image``, ``image_latent`` and ``depth`` (training: the encoders then run
                inside this call, so that distributed training sees one forward).

        Returns:
            float ``(B, T, C, h, w)``: the scheduler's prediction (v, epsilon or x0,
            as its ``prediction_type`` says).
        """
        if cond is None:
            if image is None or image_latent is None or depth is None:
                raise ValueError("give cond, or image, image_latent and depth")
            cond = self.condition(image, image_latent, depth)
        b, t = sample.shape[:2]
        cc = cond.channels[:, None].expand(b, t, -1, -1, -1)
        x = torch.cat([sample, cc.to(sample.dtype)], dim=2)
        if not torch.is_tensor(timestep):
            timestep = torch.tensor([timestep], device=sample.device)
        timestep = timestep.reshape(-1)
        if timestep.numel() == 1:
            timestep = timestep.expand(b)
        out = self.unet(x, timestep, cond.tokens.to(sample.dtype), cond.added_time_ids.to(sample.dtype), return_dict=False)[0]
        if self.output_head == "plain":
            return out
        c = sample.shape[2]
        resid, gate = out[:, :, :c], out[:, :, c:]
        frac = torch.linspace(0.0, 1.0, t, device=out.device, dtype=torch.float32).clamp(0.02, 0.98)
        ramp = torch.log(frac / (1 - frac)).to(out.dtype).view(1, t, 1, 1, 1)
        gate = torch.sigmoid(gate + ramp).repeat(1, 1, 3, 1, 1)
        img = cond.image_latent[:, None].to(out.dtype)
        blank = cond.blank_latent[:, None].to(out.dtype)
        return blank + gate * (img - blank) + resid
