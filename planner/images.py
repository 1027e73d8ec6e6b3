"""Reading images and depth maps, with every odd case turned into RGB or a clear error.

Decoding is Pillow's; this module decides what the planner accepts:

* 8- and 16-bit, grayscale, palette, CMYK and float images become 8-bit RGB
  (16-bit and float are scaled to the full 0..255 range of their type);
* alpha (RGBA, LA, PA, transparent palette) is composited over the canvas colour;
* images smaller than :data:`MIN_SIDE` on a side are refused;
* images larger than :data:`MAX_PIXELS` are refused before they are decoded;
  images larger than the working size are downscaled (area filter).
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
from pathlib import Path
from typing import Sequence

import cv2
import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from animatepainter.planner.errors import InputError, one_line

log = logging.getLogger(__name__)

__all__ = ["MIN_SIDE", "MAX_PIXELS", "load_image", "to_rgb8", "resize_long_side", "load_depth", "file_sha256"]

#: smallest accepted image side, pixels
MIN_SIDE = 8
#: largest accepted image, pixels (width x height); bigger files are refused unread
MAX_PIXELS = 100_000_000


def file_sha256(path: str | Path) -> str:
    """SHA-256 hex digest of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def to_rgb8(img: Image.Image, background: Sequence[int] = (255, 255, 255)) -> np.ndarray:
    """Convert any Pillow image to uint8 RGB ``(H, W, 3)``.

    Alpha is composited over ``background`` (RGB 0..255). 16-bit and 32-bit integer
    images are scaled from their full range (0..65535 for 16-bit); float images from
    0..1 when they fit in it, else from their min..max.
    """
    mode = img.mode
    if mode == "P":
        img = img.convert("RGBA" if "transparency" in img.info else "RGB")
        mode = img.mode
    if mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = np.asarray(img.convert("RGBA"), np.float32) / 255.0
        a = rgba[..., 3:4]
        bg = np.asarray(background, np.float32).reshape(1, 1, 3) / 255.0
        rgb = rgba[..., :3] * a + bg * (1.0 - a)
        return np.clip(np.rint(rgb * 255.0), 0, 255).astype(np.uint8)
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        arr = np.asarray(img).astype(np.float64)
        top = 65535.0 if mode.startswith("I;16") or arr.max(initial=0) <= 65535 else float(arr.max())
        g = np.clip(np.rint(arr / top * 255.0), 0, 255).astype(np.uint8)
        return np.repeat(g[..., None], 3, axis=2)
    if mode == "F":
        with np.errstate(invalid="ignore"):  # signalling NaNs warn when cast
            arr = np.asarray(img, np.float64)
        # NaN becomes 0, +-inf the largest / smallest finite value (not +-1.8e308, whose
        # range overflows below)
        finite = arr[np.isfinite(arr)]
        arr = np.nan_to_num(arr, nan=0.0, posinf=finite.max(initial=0.0), neginf=finite.min(initial=0.0))
        lo, hi = (0.0, 1.0) if arr.min(initial=0) >= 0 and arr.max(initial=0) <= 1 else (arr.min(), arr.max())
        g = np.clip(np.rint((arr - lo) / max(hi - lo, 1e-12) * 255.0), 0, 255).astype(np.uint8)
        return np.repeat(g[..., None], 3, axis=2)
    if mode == "1":
        img = img.convert("L")
    return np.ascontiguousarray(np.asarray(img.convert("RGB"), np.uint8))


@contextlib.contextmanager
def _no_bomb_check():
    """Let Pillow open any header: the size limit is checked here, before decoding,
    with a message that names the size (Pillow's own check would only say "bomb")."""
    old = Image.MAX_IMAGE_PIXELS
    Image.MAX_IMAGE_PIXELS = None
    try:
        yield
    finally:
        Image.MAX_IMAGE_PIXELS = old


def load_image(path: str | Path, background: Sequence[int] = (255, 255, 255)) -> np.ndarray:
    """Read an image file as uint8 RGB ``(H, W, 3)``.

    Args:
        path: any format Pillow reads (PNG, JPEG, TIFF, WebP, BMP, ...).
        background: RGB 0..255 that transparent pixels are composited over.

    Raises:
        InputError: missing, unreadable, corrupt, empty, not an image, smaller than
            :data:`MIN_SIDE` or larger than :data:`MAX_PIXELS`.
    """
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: no such file")
    if path.is_dir():
        raise InputError(f"{path}: is a folder, not an image")
    if path.stat().st_size == 0:
        raise InputError(f"{path}: file is empty")
    try:
        with _no_bomb_check(), Image.open(path) as im:
            w, h = im.size
            if w * h > MAX_PIXELS:
                raise InputError(
                    f"{path}: image is {w}x{h} px ({w * h / 1e6:.0f} MP), above the {MAX_PIXELS / 1e6:.0f} MP limit; downscale it first"
                )
            if min(w, h) < MIN_SIDE:
                raise InputError(f"{path}: image is {w}x{h} px; need at least {MIN_SIDE} px on each side")
            im = ImageOps.exif_transpose(im)
            im.load()  # 16-bit colour PNGs decode to 8-bit RGB(A) here
            return to_rgb8(im, background)
    except InputError:
        raise
    except UnidentifiedImageError:
        raise InputError(f"{path}: not an image (unknown or unsupported format)") from None
    except (OSError, SyntaxError, ValueError) as e:
        raise InputError(f"{path}: corrupt or truncated image ({one_line(e, 120)})") from None


def resize_long_side(img: np.ndarray, size: int) -> np.ndarray:
    """Resize so the long side is ``size`` px (area filter when shrinking, cubic when
    enlarging). ``img`` is ``(H, W)`` or ``(H, W, C)``; the dtype is kept."""
    h, w = img.shape[:2]
    if max(h, w) == size:
        return img
    s = size / max(h, w)
    nw, nh = max(int(round(w * s)), 1), max(int(round(h * s)), 1)
    interp = cv2.INTER_AREA if s < 1 else cv2.INTER_CUBIC
    out = cv2.resize(img, (nw, nh), interpolation=interp)
    if img.ndim == 3 and out.ndim == 2:
        out = out[..., None]
    return out


def load_depth(path: str | Path, shape: tuple[int, int] | None = None) -> np.ndarray:
    """Read a user-supplied depth map as float32 ``(H, W)`` in ``[0, 1]``, 1 = nearest.

    ``.npy`` files are taken as they are (any real dtype), rescaled to ``[0, 1]`` if
    outside it. Images (PNG, 8- or 16-bit grayscale; colour is averaged) are scaled
    by their type's range: white = nearest.

    Args:
        path: ``.npy`` or an image file.
        shape: ``(H, W)`` the depth map must match (the source image's size), checked
            as an aspect ratio and resized to it.

    Raises:
        InputError: unreadable, not 2-D, non-finite, or of another aspect ratio than
            the image.
    """
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: no such depth file")
    if path.suffix.lower() == ".npy":
        try:
            arr = np.load(path, allow_pickle=False)
        except MemoryError:  # the header claims a huge array
            raise InputError(f"{path}: .npy depth map is too large to load") from None
        except Exception as e:  # damaged files raise OSError, ValueError, EOFError, BadZipFile, TokenError, ...
            raise InputError(f"{path}: not a readable .npy depth map ({one_line(e, 100)})") from None
        if not isinstance(arr, np.ndarray):  # np.load opened a .npz archive
            arr.close()
            raise InputError(f"{path}: is an .npz archive, not a .npy depth map")
        if arr.ndim == 3 and arr.shape[-1] == 1:
            arr = arr[..., 0]
        if arr.ndim != 2 or arr.dtype.kind not in "iuf":
            raise InputError(f"{path}: depth must be a 2-D array of real numbers, got shape {arr.shape} {arr.dtype}")
        if arr.size == 0:
            raise InputError(f"{path}: depth map is empty (shape {arr.shape})")
        arr = arr.astype(np.float64)
        if not np.isfinite(arr).all():
            raise InputError(f"{path}: depth map holds NaN or infinite values")
        lo, hi = float(arr.min()), float(arr.max())
        if lo < 0.0 or hi > 1.0:
            # halved (exactly) so that hi - lo cannot overflow, e.g. for (-1e308, 1e308)
            arr = (arr * 0.5 - lo * 0.5) / max(hi * 0.5 - lo * 0.5, 0.5e-12)
        depth = arr.astype(np.float32)
    else:
        try:
            raw = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
        except cv2.error as e:  # e.g. a header claiming more than OpenCV's size limit
            raise InputError(f"{path}: not a readable depth image ({one_line(e, 120)})") from None
        if raw is None:
            raise InputError(f"{path}: not a readable depth image")
        if raw.ndim == 3:
            raw = raw[..., :3].mean(axis=2)
        if raw.dtype.kind == "f" and not np.isfinite(raw).all():
            raise InputError(f"{path}: depth image holds NaN or infinite values")
        top = 65535.0 if raw.dtype == np.uint16 else (255.0 if raw.dtype == np.uint8 else float(np.max(raw)) or 1.0)
        # clipped before float32: a float image's raw / top can overflow it
        depth = np.clip(raw.astype(np.float64) / top, 0.0, 1.0).astype(np.float32)
    if shape is not None:
        h, w = shape
        dh, dw = depth.shape
        if abs(dw / dh - w / h) > 0.01 * (w / h):
            raise InputError(f"{path}: depth map is {dw}x{dh} px but the image is {w}x{h} px (different aspect ratio)")
        if (dh, dw) != (h, w):
            depth = cv2.resize(depth, (w, h), interpolation=cv2.INTER_LINEAR)
    return np.clip(depth, 0.0, 1.0).astype(np.float32)
