"""Depth layers: split a depth map into K bands, 0 = farthest.

Thresholds come from multi-level Otsu on the depth histogram (scikit-image's
``threshold_multiotsu``), which puts the cuts in the valleys between depth planes
(sky / far hills / foreground) rather than at fixed quantiles; when the histogram
has too few distinct values for that, equal-count quantiles are used. Small islands
are removed with a median filter so a layer is made of paintable regions, not
speckle.
"""

from __future__ import annotations

import cv2
import numpy as np

from .errors import SettingsError

__all__ = ["depth_layers"]


def depth_layers(depth: np.ndarray, k: int = 3, smooth_px: int = 5) -> np.ndarray:
    """Assign each pixel a depth layer.

    Args:
        depth: float32 ``(H, W)`` in ``[0, 1]``, 1 = nearest.
        k: number of layers (1..8).
        smooth_px: median-filter size in pixels (odd; 0 or 1 disables).

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
    return layers
