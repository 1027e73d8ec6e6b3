"""``AnimatePainterPipeline``: image + depth -> a painting process (T frames).

A diffusers :class:`~diffusers.DiffusionPipeline`, so ``save_pretrained`` /
``from_pretrained`` round-trip the whole pipeline (UNet, DF-Encoder, image encoder,
optional VAE and CLIP processor, scheduler and the pipeline's own settings) through
one folder. Three ways to make one:

* :meth:`AnimatePainterPipeline.from_model_config`: randomly initialised from a
  config (``tiny``, ``base`` or a JSON file), pixel space;
* :meth:`AnimatePainterPipeline.from_svd`: on a pretrained Stable Video Diffusion
  image-to-video checkpoint in a local folder (its UNet, VAE, CLIP image encoder and
  scheduler), with a new DF-Encoder added (latent space);
* :func:`load_pipeline`: a saved checkpoint, with one-line errors for folders that
  are missing, not checkpoints, or whose weights don't fit their config.

Nothing is ever downloaded: every load is ``local_files_only``.
"""

from __future__ import annotations

import inspect
import json
import logging
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import numpy as np
import torch
import torch.nn.functional as F
from diffusers import DDIMScheduler, DiffusionPipeline, UNetSpatioTemporalConditionModel
from diffusers.utils import BaseOutput

from animatepainter.planner.errors import InputError, OutputError, SettingsError, one_line
from animatepainter.planner.progress import NULL_PROGRESS, Progress

from animatepainter.model.config import ModelConfig, load_model_config
from animatepainter.model.denoiser import OUTPUT_HEADS, ModelSpace, ProcessDenoiser, build_unet, expand_conv_in, unet_in_channels, unet_out_channels, zero_init_output
from animatepainter.model.df_encoder import DFEncoder, ImageTokenEncoder

log = logging.getLogger(__name__)

__all__ = ["AnimatePainterPipeline", "AnimatePainterOutput", "load_pipeline", "save_pipeline", "to_image_tensor", "to_depth_tensor"]


@dataclass
class AnimatePainterOutput(BaseOutput):
    """Output of :class:`AnimatePainterPipeline`.

    Attributes:
        frames: float32 ``(B, T, H, W, 3)`` numpy in ``[0, 1]`` (``output_type="np"``) or
            a torch tensor ``(B, T, 3, H, W)`` (``output_type="pt"``); frame 0 should be the
            blank canvas and frame ``T-1`` the finished image.
    """

    frames: Any


def to_image_tensor(image: Any) -> torch.Tensor:
    """Accept a uint8 ``(H, W, 3)`` array, a float ``(H, W, 3)`` array in ``[0, 1]``, a
    PIL RGB image, or a float tensor ``(3, H, W)`` / ``(B, 3, H, W)`` in ``[0, 1]``.

    Returns:
        float32 ``(B, 3, H, W)`` in ``[0, 1]``.

    Raises:
        InputError: anything else (wrong mode or number of channels), in one line.
    """
    try:
        from PIL import Image

        if isinstance(image, Image.Image):
            if image.mode != "RGB":
                raise InputError(f"image has mode {image.mode}; the diffuser needs RGB (load it with animatepainter.planner.images.load_image)")
            image = np.asarray(image)
    except ImportError:  # pragma: no cover - pillow is a dependency
        pass
    if isinstance(image, np.ndarray):
        if image.ndim != 3 or image.shape[2] != 3:
            raise InputError(f"image must be RGB (H, W, 3); got an array of shape {tuple(image.shape)}")
        if image.dtype == np.uint8:
            t = torch.from_numpy(image.astype(np.float32) / 255.0)
        elif np.issubdtype(image.dtype, np.floating):
            t = torch.from_numpy(image.astype(np.float32))
        else:
            raise InputError(f"image must be uint8 or float in [0, 1]; got dtype {image.dtype}")
        t = t.permute(2, 0, 1)[None]
    elif torch.is_tensor(image):
        t = image.float()
        if t.ndim == 3:
            t = t[None]
        if t.ndim != 4 or t.shape[1] != 3:
            raise InputError(f"image tensor must be (B, 3, H, W); got shape {tuple(image.shape)}")
    else:
        raise InputError(f"image must be an RGB array, PIL image or tensor; got {type(image).__name__}")
    if not torch.isfinite(t).all() or t.min() < -1e-3 or t.max() > 1 + 1e-3:
        raise InputError("image values must be finite and within [0, 1] (or uint8)")
    return t.clamp(0, 1).contiguous()


def to_depth_tensor(depth: Any, batch: int) -> torch.Tensor:
    """Accept a depth map ``(H, W)``, ``(1, H, W)`` or ``(B, 1, H, W)`` (array or tensor)
    in ``[0, 1]``, 1 = nearest.

    Returns:
        float32 ``(batch, 1, H, W)``.
    """
    t = torch.as_tensor(np.asarray(depth, np.float32) if not torch.is_tensor(depth) else depth).float()
    if t.ndim == 2:
        t = t[None, None]
    elif t.ndim == 3:
        t = t[None]
    if t.ndim != 4 or t.shape[1] != 1:
        raise InputError(f"depth must be (H, W), (1, H, W) or (B, 1, H, W); got shape {tuple(t.shape)}")
    if t.shape[0] == 1 and batch > 1:
        t = t.expand(batch, -1, -1, -1)
    if t.shape[0] != batch:
        raise InputError(f"depth batch {t.shape[0]} does not match image batch {batch}")
    if not torch.isfinite(t).all() or t.min() < -1e-3 or t.max() > 1 + 1e-3:
        raise InputError("depth values must be finite and within [0, 1] (1 = nearest)")
    return t.clamp(0, 1).contiguous()


class AnimatePainterPipeline(DiffusionPipeline):
    """Depth-guided video diffusion of the painting process.

    Components:
        unet: ``UNetSpatioTemporalConditionModel``, the video denoiser.
        scheduler: a diffusers scheduler (DDIM for the pixel models, the Stable Video
            Diffusion Euler scheduler for the SVD path).
        image_encoder: :class:`~animatepainter.model.df_encoder.ImageTokenEncoder` or a
            CLIP vision model (SVD).
        df_encoder: :class:`~animatepainter.model.df_encoder.DFEncoder`, or ``None`` (the
            ablation without it).
        vae: ``None`` (pixel space) or the SVD VAE.
        feature_extractor: the CLIP image processor (SVD) or ``None``.

    Settings (saved in ``model_index.json``): ``resolution`` (pixels, square),
    ``num_frames``, ``patch_size`` (pixel space), ``pos_freqs``, ``concat_depth``,
    ``added_time_ids``, ``output_head`` (``plain`` / ``composite``, see
    :mod:`~animatepainter.model.denoiser`), ``background`` (canvas RGB 0..255),
    ``spatial_bias`` (anchor the spatial cross-attention to the tokens' grid positions,
    see :mod:`~animatepainter.model.attention`), ``model_name``.
    """

    model_cpu_offload_seq = "image_encoder->df_encoder->unet->vae"
    _optional_components = ["df_encoder", "vae", "feature_extractor"]

    def __init__(
        self,
        unet: UNetSpatioTemporalConditionModel,
        scheduler: Any,
        image_encoder: Any,
        df_encoder: Optional[DFEncoder] = None,
        vae: Any = None,
        feature_extractor: Any = None,
        resolution: int = 32,
        num_frames: int = 8,
        patch_size: int = 2,
        pos_freqs: int = 4,
        concat_depth: bool = False,
        added_time_ids: list[float] | None = None,
        output_head: str = "plain",
        background: list[int] | None = None,
        spatial_bias: bool = False,
        model_name: str = "custom",
    ):
        super().__init__()
        self.register_modules(unet=unet, scheduler=scheduler, image_encoder=image_encoder, df_encoder=df_encoder, vae=vae, feature_extractor=feature_extractor)
        self.register_to_config(
            resolution=int(resolution),
            num_frames=int(num_frames),
            patch_size=int(patch_size),
            pos_freqs=int(pos_freqs),
            concat_depth=bool(concat_depth),
            added_time_ids=[float(v) for v in (added_time_ids if added_time_ids is not None else (7.0, 127.0, 0.0))],
            output_head=str(output_head),
            background=[int(v) for v in (background if background is not None else (255, 255, 255))],
            spatial_bias=bool(spatial_bias),
            model_name=str(model_name),
        )
        self._check_consistent()
        if self.config.spatial_bias:
            from animatepainter.model.attention import install_spatial_bias

            install_spatial_bias(self.unet, self.token_grids())

    def token_grids(self) -> list[Optional[int]]:
        """Layout of the cross-attention tokens: per group, its grid side or ``None``
        (one global token); image tokens first, then the DF-Encoder's."""
        grids: list[Optional[int]] = list(self.image_encoder.config.token_grids) if isinstance(self.image_encoder, ImageTokenEncoder) else [None]
        if self.df_encoder is not None:
            grids += list(self.df_encoder.config.token_grids)
        return grids

    # ------------------------------------------------------------------ structure
    @property
    def space(self) -> ModelSpace:
        """The diffusion space (pixel patches or VAE latents)."""
        return ModelSpace(self.vae, self.config.patch_size)

    @property
    def denoiser(self) -> ProcessDenoiser:
        """The trainable modules as one ``nn.Module`` (shares their parameters)."""
        return ProcessDenoiser(
            self.unet,
            self.df_encoder,
            self.image_encoder,
            feature_extractor=self.feature_extractor,
            pos_freqs=self.config.pos_freqs,
            concat_depth=self.config.concat_depth,
            added_time_ids=self.config.added_time_ids,
            output_head=self.config.output_head,
            background=self.config.background,
            patch_size=self.config.patch_size,
        )

    @property
    def latent_size(self) -> int:
        """Side of the UNet's grid, in cells."""
        return self.config.resolution // self.space.factor

    def _check_consistent(self) -> None:
        """Raise :class:`InputError` if the components and settings don't fit together."""
        space = self.space
        res = self.config.resolution
        if res % space.factor:
            raise InputError(f"resolution {res} px is not a multiple of the model's {space.factor} px cells")
        head = self.config.output_head
        if head not in OUTPUT_HEADS:
            raise InputError(f"output_head must be one of {', '.join(OUTPUT_HEADS)}, got {head!r}")
        if head == "composite":
            if self.vae is not None:
                raise InputError("the composite output head works in pixel space only (no VAE)")
            if self.scheduler.config.prediction_type != "sample":
                raise InputError(f"the composite output head predicts clean frames: the scheduler needs prediction_type 'sample', not {self.scheduler.config.prediction_type!r}")
        want_in = unet_in_channels(space.channels, self.config.concat_depth, self.config.pos_freqs)
        want_out = unet_out_channels(space.channels, head)
        if self.unet.config.in_channels != want_in or self.unet.config.out_channels != want_out:
            raise InputError(
                f"the UNet takes {self.unet.config.in_channels} -> {self.unet.config.out_channels} channels but the pipeline settings need "
                f"{want_in} -> {want_out} (model space {space.channels}, concat_depth={self.config.concat_depth}, pos_freqs={self.config.pos_freqs}, output_head={head})"
            )
        cad = self.unet.config.cross_attention_dim
        cad = cad[0] if isinstance(cad, (list, tuple)) else cad
        for name in ("df_encoder", "image_encoder"):
            enc = getattr(self, name)
            if isinstance(enc, (DFEncoder, ImageTokenEncoder)) and enc.config.token_dim != cad:
                raise InputError(f"{name} makes {enc.config.token_dim}-wide tokens but the UNet's cross-attention takes {cad}")

    # ------------------------------------------------------------------ builders
    @classmethod
    def from_model_config(cls, config: str | Path | ModelConfig = "tiny", use_df_encoder: Optional[bool] = None, seed: int = 0) -> "AnimatePainterPipeline":
        """A randomly initialised pixel-space pipeline.

        Args:
            config: ``"tiny"``, ``"base"``, a JSON file path, or a :class:`ModelConfig`.
            use_df_encoder: override the config (``False`` builds the ablation).
            seed: seed of the initial weights.
        """
        cfg = config if isinstance(config, ModelConfig) else load_model_config(config)
        use_df = cfg.use_df_encoder if use_df_encoder is None else bool(use_df_encoder)
        torch.manual_seed(seed)
        lat_ch = 3 * cfg.patch_size**2
        sample = cfg.resolution // cfg.patch_size
        unet = build_unet(cfg.unet, lat_ch, cfg.concat_depth, cfg.pos_freqs, cfg.num_frames, sample, output_head=cfg.output_head)
        if cfg.output_head == "composite":
            zero_init_output(unet)
        cad = cfg.unet["cross_attention_dim"]
        df = DFEncoder(token_dim=cad, pos_freqs=cfg.pos_freqs, **cfg.df_encoder) if use_df else None
        img = ImageTokenEncoder(token_dim=cad, pos_freqs=cfg.pos_freqs, **cfg.image_encoder)
        sched = DDIMScheduler(**cfg.scheduler)
        name = cfg.name if use_df else f"{cfg.name}-nodf"
        return cls(
            unet=unet,
            scheduler=sched,
            image_encoder=img,
            df_encoder=df,
            resolution=cfg.resolution,
            num_frames=cfg.num_frames,
            patch_size=cfg.patch_size,
            pos_freqs=cfg.pos_freqs,
            concat_depth=cfg.concat_depth,
            output_head=cfg.output_head,
            background=list(cfg.background),
            spatial_bias=cfg.spatial_bias,
            model_name=name,
        )

    @classmethod
    def from_svd(
        cls,
        svd_dir: str | Path,
        resolution: Optional[int] = None,
        num_frames: Optional[int] = None,
        pos_freqs: int = 4,
        concat_depth: bool = False,
        use_df_encoder: bool = True,
        df_encoder: Optional[dict[str, Any]] = None,
        spatial_bias: bool = True,
        seed: int = 0,
    ) -> "AnimatePainterPipeline":
        """Build on a Stable Video Diffusion image-to-video checkpoint in a local folder.

        The SVD UNet (8 input channels: 4 noisy + 4 image latents) keeps its weights;
        position (and depth) channels are added to its ``conv_in`` zero-initialised, and a
        new :class:`DFEncoder` (``df_encoder`` overrides its config) makes tokens as
        wide as the UNet's cross-attention, appended after the CLIP image token.

        Args:
            svd_dir: folder with ``model_index.json`` and ``unet/``, ``vae/``,
                ``image_encoder/``, ``feature_extractor/``, ``scheduler/``.
            resolution: pixel side (default: the UNet's sample size x the VAE factor).
            num_frames: frames (default: the UNet's ``num_frames``).
        """
        from diffusers import AutoencoderKLTemporalDecoder, EulerDiscreteScheduler
        from transformers import CLIPImageProcessor, CLIPVisionModelWithProjection

        root = Path(svd_dir)
        idx = root / "model_index.json"
        if not idx.is_file():
            raise InputError(f"{root}: not a Stable Video Diffusion checkpoint folder (no model_index.json)")
        try:
            unet = UNetSpatioTemporalConditionModel.from_pretrained(root, subfolder="unet", local_files_only=True)
            vae = AutoencoderKLTemporalDecoder.from_pretrained(root, subfolder="vae", local_files_only=True)
            image_encoder = CLIPVisionModelWithProjection.from_pretrained(root / "image_encoder", local_files_only=True)
            fe = CLIPImageProcessor.from_pretrained(root / "feature_extractor", local_files_only=True)
            sched = EulerDiscreteScheduler.from_pretrained(root, subfolder="scheduler", local_files_only=True)
        except (OSError, ValueError, RuntimeError, EnvironmentError) as e:
            raise InputError(f"{root}: cannot load the Stable Video Diffusion components ({_one_line(e)})") from None
        space = ModelSpace(vae, 1)
        if unet.config.in_channels != 2 * space.channels:
            raise InputError(f"{root}: the UNet takes {unet.config.in_channels} channels, not the {2 * space.channels} (noisy + image latents) of an image-to-video SVD model")
        expand_conv_in(unet, unet_in_channels(space.channels, concat_depth, pos_freqs))
        cad = unet.config.cross_attention_dim
        cad = cad[0] if isinstance(cad, (list, tuple)) else cad
        df = None
        if use_df_encoder:
            torch.manual_seed(seed)
            df = DFEncoder(token_dim=int(cad), pos_freqs=pos_freqs, **(df_encoder or {}))
        res = resolution or int(unet.config.sample_size or 64) * space.factor
        frames = num_frames or int(unet.config.num_frames)
        name = "svd" if use_df_encoder else "svd-nodf"
        return cls(
            unet=unet,
            scheduler=sched,
            image_encoder=image_encoder,
            df_encoder=df,
            vae=vae,
            feature_extractor=fe,
            resolution=res,
            num_frames=frames,
            patch_size=1,
            pos_freqs=pos_freqs,
            concat_depth=concat_depth,
            spatial_bias=spatial_bias,
            model_name=name,
        )

    # ------------------------------------------------------------------ inputs
    def prepare_inputs(self, image: Any, depth: Any) -> tuple[torch.Tensor, torch.Tensor]:
        """Validate and resize ``image`` and ``depth`` to the model's square resolution.

        Returns:
            ``image`` float32 ``(B, 3, R, R)`` in ``[-1, 1]`` and ``depth`` float32
            ``(B, 1, R, R)`` in ``[0, 1]``, ``R = config.resolution``.
        """
        img = to_image_tensor(image)
        dep = to_depth_tensor(depth, img.shape[0])
        r = self.config.resolution
        img = _resize(img, r) * 2 - 1
        dep = _resize(dep, r)
        return img, dep

    # ------------------------------------------------------------------ sampling
    @torch.no_grad()
    def __call__(
        self,
        image: Any,
        depth: Any,
        num_inference_steps: int = 20,
        generator: Optional[torch.Generator] = None,
        seed: Optional[int] = None,
        output_type: str = "np",
        return_dict: bool = True,
        progress: Progress = NULL_PROGRESS,
        denoiser: Any = None,
    ) -> AnimatePainterOutput | tuple:
        """Generate the painting process of ``image``.

        Args:
            image: the finished image (see :func:`to_image_tensor`), any size; resized
                to ``resolution x resolution``.
            depth: its depth map (see :func:`to_depth_tensor`), 1 = nearest.
            num_inference_steps: denoising steps (1..1000).
            generator: a CPU ``torch.Generator`` for the initial noise; or give ``seed``.
            seed: shorthand for ``torch.Generator().manual_seed(seed)`` (default 0).
            output_type: ``"np"`` (float32 ``(B, T, R, R, 3)``) or ``"pt"`` (``(B, T, 3, R, R)``),
                values in ``[0, 1]``.
            progress: progress reporter (one stage, one tick per step).
            denoiser: a stand-in for :attr:`denoiser` with its ``condition`` and
                ``__call__``, e.g. the onnxruntime backend
                (:class:`animatepainter.export.ort_runtime.OrtDenoiser`); default: the
                PyTorch modules.
        """
        if not 1 <= int(num_inference_steps) <= 1000:
            raise SettingsError(f"num_inference_steps must be between 1 and 1000, got {num_inference_steps}", "num_inference_steps")
        if output_type not in ("np", "pt"):
            raise SettingsError(f"output_type must be 'np' or 'pt', got {output_type!r}", "output_type")
        if generator is None:
            generator = torch.Generator().manual_seed(0 if seed is None else int(seed))
        device = self.unet.device
        dtype = self.unet.dtype
        img, dep = self.prepare_inputs(image, depth)
        img, dep = img.to(device, dtype), dep.to(device, dtype)
        den = self.denoiser if denoiser is None else denoiser
        space = self.space
        b, t, c, s = img.shape[0], self.config.num_frames, space.channels, self.latent_size
        cond = den.condition(img, space.encode(img), dep)
        # noise drawn on the CPU generator, so a seed gives the same frames on any device
        latents = torch.randn((b, t, c, s, s), generator=generator, dtype=torch.float32).to(device, dtype)
        self.scheduler.set_timesteps(int(num_inference_steps), device=device)
        latents = latents * self.scheduler.init_noise_sigma
        with progress.stage("sampling", total=len(self.scheduler.timesteps)) as st:
            for ts in self.scheduler.timesteps:
                inp = self.scheduler.scale_model_input(latents, ts)
                pred = den(inp, ts.reshape(1).to(device), cond)
                latents = self.scheduler.step(pred, ts, latents, generator=generator, return_dict=False)[0]
                st.advance(1)
        frames = space.decode(latents.flatten(0, 1), num_frames=t).float()
        frames = ((frames + 1) / 2).clamp(0, 1).reshape(b, t, 3, *frames.shape[-2:])
        if output_type == "np":
            frames = frames.permute(0, 1, 3, 4, 2).cpu().numpy()
        self.maybe_free_model_hooks()
        if not return_dict:
            return (frames,)
        return AnimatePainterOutput(frames=frames)


# ---------------------------------------------------------------------- I/O
def _one_line(e: BaseException, limit: int = 220) -> str:
    msg = one_line(e)
    return msg[:limit] + ("..." if len(msg) > limit else "")


def _resize(x: torch.Tensor, size: int) -> torch.Tensor:
    if x.shape[-2:] == (size, size):
        return x
    return F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=True)


def load_pipeline(path: str | Path, device: str | torch.device = "cpu", dtype: Optional[torch.dtype] = torch.float32) -> AnimatePainterPipeline:
    """Load a saved pipeline from a local folder, with one-line errors.

    Weights are cast to ``dtype`` (fp32 by default, also for checkpoints saved in fp16).

    Raises:
        InputError: the folder is missing, is not a pipeline checkpoint (or is a run
            whose training has not finished yet), is another pipeline class, misses a
            component, or holds weights whose shapes don't fit their config.
    """
    root = Path(path)
    if not root.exists():
        raise InputError(f"{root}: checkpoint folder not found")
    if not root.is_dir():
        raise InputError(f"{root}: is a file, not a checkpoint folder")
    idx = root / "model_index.json"
    if not idx.is_file():
        if (root / "checkpoints").is_dir():
            raise InputError(f"{root}: training has not finished (no model_index.json yet); resume it with the same `animatepainter train` command")
        raise InputError(f"{root}: not an AnimatePainter checkpoint (no model_index.json)")
    try:
        index = json.loads(idx.read_text())
    except (OSError, ValueError) as e:
        raise InputError(f"{idx}: unreadable ({_one_line(e, 120)})") from None
    cls_name = index.get("_class_name")
    if cls_name == "StableVideoDiffusionPipeline":
        raise InputError(f"{root}: a Stable Video Diffusion checkpoint, not an AnimatePainter one; build on it with `animatepainter train --svd {root}`")
    if cls_name != AnimatePainterPipeline.__name__:
        raise InputError(f"{root}: holds a {cls_name} pipeline, not an AnimatePainterPipeline")
    # settings this code does not know would be dropped silently by diffusers (missing ones take
    # the defaults, which are the older versions' behaviour)
    unknown = sorted(set(k for k in index if not k.startswith("_")) - set(inspect.signature(AnimatePainterPipeline.__init__).parameters))
    if unknown:
        raise InputError(f"{root}: model_index.json has the setting {unknown[0]!r}, which this version of animatepainter does not know (a checkpoint from a newer version?)")
    for name in ("unet", "scheduler", "image_encoder", "df_encoder", "vae", "feature_extractor"):
        spec = index.get(name)
        if not (isinstance(spec, list) and len(spec) == 2 and isinstance(spec[0], str)):
            if name in ("unet", "scheduler", "image_encoder"):
                raise InputError(f"{root}: model_index.json names no {name}")
            continue
        if not (root / name).is_dir():
            raise InputError(f"{root}: component folder {name}/ is missing")
    from diffusers.utils import logging as dlogging

    verbosity, bars = dlogging.get_verbosity(), dlogging.is_progress_bar_enabled()
    try:
        import warnings

        dlogging.set_verbosity_error()
        dlogging.disable_progress_bar()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            pipe = AnimatePainterPipeline.from_pretrained(root, local_files_only=True, torch_dtype=dtype, low_cpu_mem_usage=False)
    except InputError as e:
        raise InputError(f"{root}: {e}") from None
    except (OSError, ValueError, RuntimeError, KeyError, TypeError, EnvironmentError) as e:
        msg = _one_line(e)
        if "size mismatch" in msg or "shape" in msg.lower():
            raise InputError(f"{root}: the weights do not fit the checkpoint's config ({msg})") from None
        raise InputError(f"{root}: cannot load the checkpoint ({msg})") from None
    finally:
        dlogging.set_verbosity(verbosity)
        if bars:
            dlogging.enable_progress_bar()
    _check_no_missing_weights(pipe, root)
    pipe.set_progress_bar_config(disable=True)
    return pipe.to(device)


def _check_no_missing_weights(pipe: AnimatePainterPipeline, root: Path) -> None:
    """diffusers only warns when a config asks for layers the weights don't have (it
    initialises them randomly); for a checkpoint that is a broken file, so refuse it."""
    from safetensors import safe_open

    for name in ("unet", "df_encoder", "image_encoder"):
        mod = getattr(pipe, name, None)
        if not isinstance(mod, (UNetSpatioTemporalConditionModel, DFEncoder, ImageTokenEncoder)):
            continue
        files = sorted((root / name).glob("*.safetensors"))
        if not files:
            raise InputError(f"{root}: {name}/ has no .safetensors weights")
        keys: set[str] = set()
        for f in files:
            with safe_open(str(f), framework="pt") as fh:
                keys.update(fh.keys())
        want = set(mod.state_dict().keys())
        missing = sorted(want - keys)
        extra = sorted(keys - want)
        if missing or extra:
            what = f"missing {missing[0]}" if missing else f"unexpected {extra[0]}"
            raise InputError(f"{root}: {name} weights do not fit its config.json ({len(missing)} missing, {len(extra)} unexpected tensors; {what})")


def save_pipeline(pipe: AnimatePainterPipeline, dest: str | Path, extra_files: Optional[dict[str, bytes]] = None) -> Path:
    """Save ``pipe`` to ``dest`` so that a reader never sees a half-written checkpoint.

    Everything is written to a temp folder beside ``dest`` first; then each component
    folder is moved in and ``model_index.json`` is moved in last. Other files already in
    ``dest`` (training checkpoints, logs) are kept.

    Args:
        extra_files: more files to publish with it (name -> bytes), e.g. a model card.
    """
    dest = Path(dest)
    try:
        dest.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".pipeline-tmp-", dir=dest))
    except OSError as e:
        raise OutputError(f"{dest}: cannot write there ({e.strerror})") from None
    try:
        pipe.save_pretrained(tmp, safe_serialization=True)
        for name, data in (extra_files or {}).items():
            (tmp / name).write_bytes(data)
        items = sorted(p for p in tmp.iterdir() if p.name != "model_index.json")
        for item in items:
            target = dest / item.name
            if target.is_dir() and not target.is_symlink():
                shutil.rmtree(target)
            os.replace(item, target)
        os.replace(tmp / "model_index.json", dest / "model_index.json")
    except OSError as e:
        raise OutputError(f"{dest}: cannot save the checkpoint ({e.strerror or e})") from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return dest
