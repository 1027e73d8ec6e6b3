"""Depth layers: split a depth map into K bands, 0 = farthest.

Thresholds come from multi-level Otsu on the depth histogram (scikit-image's
``threshold_multiotsu``), which puts the cuts in the valleys between depth planes
(sky / far hills / foreground) rather than at fixed quantiles; when the histogram
has too few distinct values for that, equal-count quantiles are used. Then every
connected region smaller than ``min_area`` of the picture joins the layer that
surrounds most of its border, so a layer is made of paintable regions, not speckle:
a painter blocks in a background around small foreground details, not the details
one by one.
"""

from __future__ import annotations

import cv2
import numpy as np

from animatepainter.planner.errors import SettingsError

__all__ = ["depth_layers"]


def depth_layers(depth: np.ndarray, k: int = 3, smooth_px: int = 5, min_area: float = 0.01) -> np.ndarray:
    """Assign each pixel a depth layer.

    Args:
        depth: float32 ``(H, W)`` in ``[0, 1]``, 1 = nearest.
        k: number of layers (1..8).
        smooth_px: median-filter size in pixels (odd; 0 or 1 disables).
        min_area: smallest region kept as it is, as a fraction of the image area;
            smaller ones join the layer around them.

    Returns:
        int32 ``(H, W)`` in ``0..k-1``; 0 = farthest layer.
    """
    if not 1 <= k <= 8:
        raise SettingsError(f"depth layers must be between 1 and 8, got {k}")
    depth = np.asarray(depth, np.float32)
    if k == 1:
        return np.zeros(depth.shape, np.int32)
    thresholds = None
    if np.unique(np.round(depth, 3)).size > 4 * k:
        from skimage.filters import threshold_multiotsu

        try:
            thresholds = threshold_multiotsu(depth, classes=k, nbins=128)
        except ValueError:
            thresholds = None
    if thresholds is None or np.any(np.diff(thresholds) <= 0):
        thresholds = np.quantile(depth, np.linspace(0, 1, k + 1)[1:-1])
    layers = np.digitize(depth, thresholds).astype(np.int32)
    if smooth_px and smooth_px > 1:
        size = int(smooth_px) | 1
        layers = cv2.medianBlur(layers.astype(np.uint8), size).astype(np.int32)
    if min_area > 0:
        layers = _absorb_small_regions(layers, k, int(min_area * layers.size))
    return layers


def _absorb_small_regions(layers: np.ndarray, k: int, min_px: int, rounds: int = 3) -> np.ndarray:
    """Relabel connected regions under ``min_px`` pixels with their border's majority layer."""
    layers = layers.copy()
    kernel = np.ones((3, 3), np.uint8)
    for _ in range(rounds):
        changed = False
        for lay in range(k):
            n, comp, stats, _ = cv2.connectedComponentsWithStats((layers == lay).astype(np.uint8), connectivity=4)
            for c in np.flatnonzero(stats[1:, cv2.CC_STAT_AREA] < min_px) + 1:
                x, y, w, h = stats[c, :4]
                y0, y1, x0, x1 = max(y - 1, 0), y + h + 1, max(x - 1, 0), x + w + 1
                mask = (comp[y0:y1, x0:x1] == c).astype(np.uint8)
                ring = cv2.dilate(mask, kernel).astype(bool) & ~mask.astype(bool)
                around = layers[y0:y1, x0:x1][ring]
                if around.size == 0:
                    continue  # the region is the whole picture
                layers[y0:y1, x0:x1][mask.astype(bool)] = int(np.bincount(around, minlength=k).argmax())
                changed = True
        if not changed:
            break
    return layers
