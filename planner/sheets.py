"""Contact sheets: grids of captioned thumbnails (OpenCV), the pictures every engine,
the extractor's checks and the data previews show a process with."""

from __future__ import annotations

from typing import Sequence

import cv2
import numpy as np

__all__ = ["caption", "contact_sheet"]


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
