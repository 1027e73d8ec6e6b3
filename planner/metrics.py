"""Image quality, the one way: PSNR and SSIM through scikit-image, and the figures of a
plan against its source image (the ``report.json`` of every engine)."""

from __future__ import annotations

from typing import Any

import numpy as np

from animatepainter.planner.plan import StrokePlan

__all__ = ["PSNR_CAP", "psnr", "ssim", "plan_metrics"]

#: PSNR reported for identical images (instead of infinity), dB
PSNR_CAP = 99.0


def psnr(a: np.ndarray, b: np.ndarray, data_range: float = 255.0) -> float:
    """PSNR in dB of two images of the same shape, capped at :data:`PSNR_CAP`.

    Args:
        a, b: uint8 images (``data_range`` 255) or float images in [0, 1]
            (``data_range`` 1), any shape, the same for both.
        data_range: the largest possible value difference.
    """
    from skimage.metrics import mean_squared_error

    mse = float(mean_squared_error(np.asarray(a, np.float64), np.asarray(b, np.float64)))
    if mse <= 0:
        return PSNR_CAP
    # the formula of skimage.metrics.peak_signal_noise_ratio, with the cap instead of inf
    return float(min(10.0 * np.log10(data_range**2 / mse), PSNR_CAP))


def ssim(a: np.ndarray, b: np.ndarray, data_range: float = 255.0) -> float:
    """Mean SSIM of two RGB images ``(H, W, 3)`` (scikit-image, 7 x 7 window, smaller on
    images under 7 px)."""
    from skimage.metrics import structural_similarity

    win = min(7, min(a.shape[:2]) // 2 * 2 - 1)
    return float(structural_similarity(a, b, channel_axis=-1, data_range=data_range, win_size=win))


def plan_metrics(plan: StrokePlan, image: np.ndarray, rendered: np.ndarray | None = None) -> dict[str, Any]:
    """Quality and machine figures of a plan against its source image.

    Args:
        plan: the plan.
        image: uint8 ``(h, w, 3)`` the image the plan reproduces; the plan is rendered
            over the image's box at this size.
        rendered: that render, if already made (uint8 ``(h, w, 3)``).

    Returns:
        dict with ``strokes``, ``psnr_db``, ``ssim``, ``pen_up_travel_mm``,
        ``pen_down_mm``, ``layer_order_fraction``, ``steps``, ``paints``, ``brushes``.
    """
    import cv2

    from animatepainter.planner.render import render_plan

    h, w = image.shape[:2]
    out = render_plan(plan, width_px=w, region="image") if rendered is None else rendered
    if out.shape[:2] != (h, w):
        out = cv2.resize(out, (w, h), interpolation=cv2.INTER_AREA)
    return {
        "strokes": len(plan.strokes),
        "psnr_db": round(psnr(image, out), 3),
        "ssim": round(ssim(image, out), 4),
        "pen_up_travel_mm": round(plan.pen_up_travel_mm(), 1),
        "pen_down_mm": round(plan.pen_down_mm(), 1),
        "layer_order_fraction": round(plan.layer_order_fraction(), 6),
        "steps": plan.n_steps,
        "paints": len(plan.palette),
        "brushes": len(plan.brushes),
    }
