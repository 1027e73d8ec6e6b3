"""Generate a painting process for one image with a trained pipeline.

:func:`generate_process` is the library entry point used by ``animatepainter generate``
(and by the diffusion engine of ``paint``): it takes an image of any size and aspect
ratio, runs the diffuser at the model's square resolution, and returns the frames
resized back to the image's aspect ratio.
"""

from __future__ import annotations

import logging
from importlib import resources
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from animatepainter.planner.errors import InputError
from animatepainter.planner.progress import NULL_PROGRESS, Progress

log = logging.getLogger(__name__)

__all__ = ["DEFAULT_CHECKPOINT", "default_checkpoint", "generate_process", "frames_to_u8"]

#: name of the checkpoint bundled with the package (``model/checkpoints/<name>``)
DEFAULT_CHECKPOINT = "small"


def default_checkpoint(name: str = DEFAULT_CHECKPOINT) -> Path:
    """Folder of a checkpoint bundled in the package.

    Raises:
        InputError: the package was installed without it.
    """
    p = Path(str(resources.files("animatepainter.model").joinpath("checkpoints", name)))
    if not (p / "model_index.json").is_file():
        raise InputError(f"the bundled checkpoint {name!r} is missing from this installation ({p}); pass --ckpt DIR")
    return p


def frames_to_u8(frames: np.ndarray) -> np.ndarray:
    """float ``(T, H, W, 3)`` in ``[0, 1]`` -> uint8 ``(T, H, W, 3)``."""
    return np.clip(np.rint(np.asarray(frames, np.float32) * 255.0), 0, 255).astype(np.uint8)


def generate_process(
    pipe: Any,
    image: np.ndarray,
    depth: np.ndarray,
    steps: int = 20,
    seed: int = 0,
    progress: Progress = NULL_PROGRESS,
    denoiser: Any = None,
) -> np.ndarray:
    """The painting process of ``image`` as frames.

    Args:
        pipe: an :class:`~animatepainter.model.pipeline.AnimatePainterPipeline`.
        image: uint8 ``(H, W, 3)`` RGB, any size.
        depth: float32 ``(H, W)`` in ``[0, 1]`` (1 = nearest), the same size as ``image``.
        steps: denoising steps; seed: seed of the initial noise.
        denoiser: backend stand-in for the pipeline's PyTorch denoiser (e.g.
            :class:`~animatepainter.export.ort_runtime.OrtDenoiser`); default PyTorch.

    Returns:
        uint8 ``(T, h, w, 3)``: frame 0 the blank canvas .. frame ``T-1`` the image, at
        the model's resolution ``R`` on the long side and the image's aspect ratio
        (``h, w <= R``).
    """
    img = np.asarray(image)
    if img.ndim != 3 or img.shape[2] != 3 or img.dtype != np.uint8:
        raise InputError(f"image must be uint8 RGB (H, W, 3); got {img.dtype} {tuple(img.shape)}")
    dep = np.asarray(depth, np.float32)
    if dep.shape != img.shape[:2]:
        raise InputError(f"depth is {dep.shape[1]}x{dep.shape[0]} px but the image is {img.shape[1]}x{img.shape[0]} px")
    r = int(pipe.config.resolution)
    h, w = img.shape[:2]
    sq = cv2.resize(img, (r, r), interpolation=cv2.INTER_AREA if max(h, w) > r else cv2.INTER_CUBIC)
    dsq = cv2.resize(dep, (r, r), interpolation=cv2.INTER_AREA if max(h, w) > r else cv2.INTER_LINEAR)
    out = pipe(sq, np.clip(dsq, 0, 1), num_inference_steps=steps, seed=seed, progress=progress, denoiser=denoiser).frames[0]  # (T, r, r, 3)
    s = r / max(h, w)
    oh, ow = max(int(round(h * s)), 1), max(int(round(w * s)), 1)
    frames = frames_to_u8(out)
    if (oh, ow) != (r, r):
        frames = np.stack([cv2.resize(f, (ow, oh), interpolation=cv2.INTER_AREA) for f in frames])
    return frames
