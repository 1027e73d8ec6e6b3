"""Process videos (MP4, H.264 through imageio-ffmpeg's bundled ffmpeg) and PNG files."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Iterable

import cv2
import numpy as np

from animatepainter.planner.atomic import atomic_path
from animatepainter.planner.errors import OutputError, one_line
from animatepainter.planner.sheets import caption, contact_sheet

log = logging.getLogger(__name__)

__all__ = ["write_mp4", "contact_sheet", "write_png", "caption"]

# contact sheets are plain image grids, made in the core (extract and synth previews
# use them too); re-exported here beside the other picture outputs


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
