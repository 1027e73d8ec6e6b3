"""Process videos (MP4, H.264 through imageio-ffmpeg's bundled ffmpeg) and contact sheets."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Iterable, Sequence

import cv2
import numpy as np

from animatepainter.planner.atomic import atomic_path
from animatepainter.planner.errors import OutputError, one_line

log = logging.getLogger(__name__)

__all__ = ["write_mp4", "contact_sheet", "write_png", "caption"]


def _even(frame: np.ndarray) -> np.ndarray:
    h, w = frame.shape[:2]
    if h % 2 or w % 2:  # yuv420p needs even sizes: pad by one row/column
        frame = np.pad(frame, ((0, h % 2), (0, w % 2), (0, 0)), mode="edge")
    return frame


def write_mp4(frames: Iterable[np.ndarray], path: str | Path, fps: float = 12.0, hold_last_s: float = 1.0) -> Path:
    """Encode RGB frames as H.264 MP4, atomically.

    Args:
        frames: uint8 ``(H, W, 3)`` RGB arrays, all the same size.
        path: output ``.mp4``.
        fps: frames per second.
        hold_last_s: seconds the last frame is held.
    """
    import imageio.v2 as iio

    path = Path(path)
    with atomic_path(path) as tmp:
        try:
            writer = iio.get_writer(str(tmp), format="FFMPEG", mode="I", fps=fps, codec="libx264", pixelformat="yuv420p", macro_block_size=1, quality=8, ffmpeg_log_level="error")
        except Exception as e:  # imageio raises plain Exceptions when ffmpeg is missing
            raise OutputError(f"{path}: cannot start the video encoder ({one_line(e, 120)})") from None
        last = None
        try:
            for f in frames:
                last = _even(np.asarray(f, np.uint8))
                writer.append_data(last)
            if last is not None:
                for _ in range(int(round(hold_last_s * fps))):
                    writer.append_data(last)
        finally:
            writer.close()
    return path


def caption(img: np.ndarray, text: str, height: int = 18) -> np.ndarray:
    """``img`` (uint8 RGB) with a white caption bar of ``height`` px below it."""
    h, w = img.shape[:2]
    bar = np.full((height, w, 3), 255, np.uint8)
    scale = max(min(height / 30.0, w / (len(text) * 11.0 + 1)), 0.25)
    cv2.putText(bar, text, (3, height - 5), cv2.FONT_HERSHEY_SIMPLEX, scale, (20, 20, 20), 1, cv2.LINE_AA)
    return np.concatenate([img, bar], axis=0)


def contact_sheet(tiles: Sequence[np.ndarray], labels: Sequence[str], cols: int | None = None, tile_px: int = 192, gap: int = 4) -> np.ndarray:
    """Grid of captioned thumbnails.

    Args:
        tiles: uint8 ``(H, W, 3)`` RGB images (or ``(H, W)`` gray).
        labels: one caption per tile.
        cols: columns (default: about square).
        tile_px: thumbnail width in pixels.
        gap: spacing in pixels.

    Returns:
        uint8 ``(H', W', 3)`` RGB sheet.
    """
    if not tiles:
        raise ValueError("contact sheet needs at least one tile")
    n = len(tiles)
    cols = cols or int(np.ceil(np.sqrt(n * 1.5)))
    rows = int(np.ceil(n / cols))
    thumbs = []
    for t, lab in zip(tiles, labels):
        t = np.asarray(t)
        if t.ndim == 2:
            t = np.repeat(t[..., None], 3, axis=2)
        h, w = t.shape[:2]
        th = max(int(round(h * tile_px / w)), 1)
        interp = cv2.INTER_AREA if w > tile_px else cv2.INTER_NEAREST
        thumbs.append(caption(cv2.resize(t, (tile_px, th), interpolation=interp), lab))
    th = max(t.shape[0] for t in thumbs)
    sheet = np.full((rows * (th + gap) + gap, cols * (tile_px + gap) + gap, 3), 235, np.uint8)
    for k, t in enumerate(thumbs):
        r, c = divmod(k, cols)
        y, x = gap + r * (th + gap), gap + c * (tile_px + gap)
        sheet[y : y + t.shape[0], x : x + tile_px] = t
    return sheet


def write_png(img: np.ndarray, path: str | Path) -> Path:
    """Write uint8 RGB (or gray) ``img`` as PNG, atomically."""
    path = Path(path)
    arr = np.asarray(img)
    bgr = cv2.cvtColor(arr, cv2.COLOR_RGB2BGR) if arr.ndim == 3 else arr
    ok, buf = cv2.imencode(".png", bgr)
    if not ok:
        raise OutputError(f"{path}: PNG encoding failed")
    from animatepainter.planner.atomic import atomic_write_bytes

    atomic_write_bytes(path, buf.tobytes())
    return path
