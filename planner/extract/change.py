"""Where and when paint changes: robust, colour-aware differencing of process frames.

Each frame is compared with the *accepted* state of the canvas so far (a background
model), not only with the previous frame, so slow changes add up until they count
and flicker never does:

1. frames are slightly blurred (Gaussian, ``sigma`` px) and converted to CIELAB;
2. ``dE_t = |Lab(F_t) - Lab(G_{t-1})|`` (Delta E 1976), where ``G`` is the accepted state;
3. the threshold adapts to the frames' noise: ``max(threshold, 4 * sigma)`` where
   ``sigma`` is a robust noise level of the difference (:func:`noise_sigma`, from
   neighbouring pixels, so it holds when a step repaints most of the canvas);
4. hysteresis (scikit-image's ``apply_hysteresis_threshold``, low = half the threshold)
   keeps the faint anti-aliased rims of strong changes and drops isolated faint noise;
5. a change that the *next* frame reverts (``F_{t+1}`` back within half the threshold of
   ``G_{t-1}``) is flicker and is dropped;
6. connected specks smaller than ``min_area`` px are dropped (OpenCV connected components);
7. ``G_t = where(mask_t, F_t, G_{t-1})``.

The result is the change mask of every step and the "clean" process ``G``.
:func:`hold_means` gives what the extractor paints toward: each frame with every
pixel averaged over the frames in which it holds still between two changes.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import cv2
import numpy as np

from animatepainter.planner.extract.frames import lab_of

log = logging.getLogger(__name__)

__all__ = ["ChangeSettings", "Changes", "detect_changes", "drop_specks", "noise_sigma", "hold_means"]


@dataclass(frozen=True)
class ChangeSettings:
    """Settings of the change detector.

    Attributes:
        threshold: smallest colour change that counts as paint, CIELAB Delta E (> 0).
        sigma: Gaussian pre-blur, px (0 = none).
        min_area: smallest connected change kept, px.
        noise_factor: the adaptive threshold is this many robust noise sigmas.
        flicker: drop changes the next frame reverts.
    """

    threshold: float = 5.0
    sigma: float = 0.6
    min_area: int = 4
    noise_factor: float = 4.0
    flicker: bool = True


@dataclass
class Changes:
    """Output of :func:`detect_changes` for ``T + 1`` frames.

    Attributes:
        masks: bool ``(T, H, W)``: ``masks[t - 1]`` is where frame ``t`` adds paint.
        clean: uint8 ``(T + 1, H, W, 3)`` accepted canvas state after each frame
            (``clean[0]`` is the blank frame).
        thresholds: float ``(T,)`` Delta E threshold used for each step.
        max_de: float ``(T,)`` largest change between consecutive accepted states.
    """

    masks: np.ndarray
    clean: np.ndarray
    thresholds: np.ndarray
    max_de: np.ndarray

    @property
    def last_change(self) -> np.ndarray:
        """int32 ``(H, W)``: the last frame index (1..T) that changes each pixel, 0 = never."""
        t = self.masks.shape[0]
        rev = self.masks[::-1]
        any_ = rev.any(axis=0)
        return np.where(any_, t - np.argmax(rev, axis=0), 0).astype(np.int32)

    @property
    def first_change(self) -> np.ndarray:
        """int32 ``(H, W)``: the first frame index (1..T) that changes each pixel, 0 = never."""
        any_ = self.masks.any(axis=0)
        return np.where(any_, np.argmax(self.masks, axis=0) + 1, 0).astype(np.int32)


def drop_specks(mask: np.ndarray, min_area: int) -> np.ndarray:
    """``mask`` (bool ``(H, W)``) without 8-connected components smaller than ``min_area`` px."""
    if min_area <= 1 or not mask.any():
        return mask
    n, lab, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    keep = stats[:, cv2.CC_STAT_AREA] >= min_area
    keep[0] = False
    return keep[lab]


def noise_sigma(diff: np.ndarray) -> float:
    """Robust noise level of a difference image, Delta E units.

    Args:
        diff: float ``(H, W, 3)`` CIELAB difference of two frames.

    Pixel noise is uncorrelated between neighbours while paint changes come in
    regions, so the median absolute difference of horizontal neighbours (MAD, scaled
    to a Gaussian sigma, divided by sqrt 2 for the two pixels) measures the noise
    whether one pixel in a hundred changes or all of them do.
    """
    d = np.abs(diff[:, 1:] - diff[:, :-1]).reshape(-1, 3)
    sig = 1.4826 * np.median(d, axis=0) / np.sqrt(2.0)
    return float(np.sqrt((sig**2).sum()))


def _blur_lab(frame: np.ndarray, sigma: float) -> np.ndarray:
    f = cv2.GaussianBlur(frame, (0, 0), sigma) if sigma > 0 else frame
    return lab_of(f)


def detect_changes(frames: np.ndarray, settings: ChangeSettings = ChangeSettings()) -> Changes:
    """Change masks of a process.

    Args:
        frames: uint8 ``(T + 1, H, W, 3)`` RGB, ``frames[0]`` the blank canvas.
        settings: detector settings.

    Returns:
        :class:`Changes`.
    """
    from skimage.filters import apply_hysteresis_threshold

    frames = np.asarray(frames, np.uint8)
    n = len(frames) - 1
    h, w = frames.shape[1:3]
    masks = np.zeros((n, h, w), bool)
    clean = np.empty_like(frames)
    clean[0] = frames[0]
    thresholds = np.zeros(n, np.float64)
    max_de = np.zeros(n, np.float64)
    g_lab = _blur_lab(frames[0], settings.sigma)
    g_raw = lab_of(frames[0])
    nxt_lab = _blur_lab(frames[1], settings.sigma)
    for t in range(1, n + 1):
        cur_lab = nxt_lab
        nxt_lab = _blur_lab(frames[t + 1], settings.sigma) if t < n else None
        cur_raw = lab_of(frames[t])
        de = np.linalg.norm(cur_lab - g_lab, axis=2)
        # the noise level from the unblurred frames (blurring correlates neighbours)
        thr = max(settings.threshold, settings.noise_factor * noise_sigma(cur_raw - g_raw))
        thresholds[t - 1] = thr
        m = apply_hysteresis_threshold(de, thr / 2.0, thr)
        if settings.flicker and nxt_lab is not None and m.any():
            back = np.linalg.norm(nxt_lab - g_lab, axis=2) < thr / 2.0
            m &= ~back
        m = drop_specks(m, settings.min_area)
        masks[t - 1] = m
        clean[t] = np.where(m[..., None], frames[t], clean[t - 1])
        if m.any():
            max_de[t - 1] = float(de[m].max())
            g_lab = np.where(m[..., None], cur_lab, g_lab)
            g_raw = np.where(m[..., None], cur_raw, g_raw)
    log.debug("change thresholds (Delta E): %s", np.round(thresholds, 2).tolist())
    return Changes(masks, clean, thresholds, max_de)


def hold_means(frames: np.ndarray, masks: np.ndarray) -> np.ndarray:
    """The process with each pixel's value averaged over the frames it holds still.

    Between two changes (``masks``) a pixel shows the same paint, so every frame of
    that interval observes one value; their mean removes the frames' own noise (a
    video codec's, a camera's) without touching edges, as a spatial filter would.

    Args:
        frames: uint8 ``(T + 1, H, W, 3)``, ``frames[0]`` the blank canvas.
        masks: bool ``(T, H, W)``, ``masks[t - 1]`` where frame ``t`` changes.

    Returns:
        uint8 ``(T + 1, H, W, 3)``: ``out[t]`` the mean of ``frames[a:b]`` at each
        pixel, where ``a <= t`` is the pixel's last change (0 for none) and ``b > t``
        its next one (``T + 1`` for none).
    """
    frames = np.asarray(frames, np.uint8)
    n, h, w = frames.shape[:3]
    out = np.empty_like(frames)
    # rows in bands, so the running sums stay near 64 MB whatever the video's size
    band = max(1, int(64e6 // max(4 * (n + 1) * w * 3, 1)))
    idx = np.arange(n, dtype=np.int32)[:, None, None]
    for r0 in range(0, h, band):
        f = frames[:, r0 : r0 + band]
        chg = np.concatenate([np.ones((1,) + f.shape[1:3], bool), masks[:, r0 : r0 + band].astype(bool)])
        start = np.maximum.accumulate(np.where(chg, idx, 0), axis=0)
        end = np.minimum.accumulate(np.where(chg, idx, n)[::-1], axis=0)[::-1]  # next change at or after t
        end = np.concatenate([end[1:], np.full((1,) + end.shape[1:], n, end.dtype)])  # strictly after t
        # exact in float32: sums of integers below 2^24
        cum = np.concatenate([np.zeros((1,) + f.shape[1:], np.float32), np.cumsum(f, axis=0, dtype=np.float32)])
        hi = np.take_along_axis(cum, end[..., None], axis=0)
        lo = np.take_along_axis(cum, start[..., None], axis=0)
        out[:, r0 : r0 + band] = np.clip(np.rint((hi - lo) / (end - start)[..., None]), 0, 255)
    return out
