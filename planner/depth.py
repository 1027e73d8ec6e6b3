"""Monocular depth: ``estimate_depth(image) -> float32 (H, W) in [0, 1], 1 = nearest``.

Backends:

``"prior"`` (the default, offline, no weights)
    A classical cue combination: figure and ground (what is reached from the top
    border across small colour steps is the backdrop, a flat far plane; a figure
    stands in front of it), ground contact (a region standing on the ground is as
    near as the point where it touches it; regions from Felzenszwalb's segmentation,
    so depth follows object boundaries, the part layering needs most), height in the
    frame (lower is nearer in most photographs and landscapes) and aerial perspective
    (far things drift toward the sky's colour). It is a prior, not a network:
    ``bench/bench_depth.py`` measures it against the exact depth of procedural
    scenes and the measured disparity of a real photograph
    (``skimage.data.stereo_motorcycle``), beside the height-only baseline and the
    previous prior.

``"transformers"``
    A monocular depth network of the Depth Anything / DPT family through Hugging Face
    ``transformers`` (``AutoModelForDepthEstimation``), loaded only from a local
    directory given by the user (``local_files_only``; nothing is downloaded). These
    models predict relative inverse depth (disparity), which is already "larger =
    nearer"; models that predict metric depth (ZoeDepth, ``depth_kind="metric"``) are
    inverted.

Every engine also takes a user-supplied depth map (:func:`animatepainter.planner.images.load_depth`).
"""

from __future__ import annotations

import functools
import logging
from pathlib import Path
from typing import Literal

import cv2
import numpy as np

from animatepainter.planner.errors import InputError, SettingsError, one_line

log = logging.getLogger(__name__)

__all__ = ["estimate_depth", "prior_depth", "TransformersDepth", "normalize_depth", "BACKENDS"]

BACKENDS = ("prior", "transformers")


def normalize_depth(d: np.ndarray) -> np.ndarray:
    """Min-max normalise to float32 ``[0, 1]`` (a constant map becomes all 0.5)."""
    d = np.asarray(d, np.float32)
    lo, hi = float(d.min()), float(d.max())
    if hi - lo < 1e-12:
        return np.full(d.shape, 0.5, np.float32)
    return ((d - lo) / (hi - lo)).astype(np.float32)


def _rank(x: np.ndarray) -> np.ndarray:
    """Ranks of ``x`` mapped to ``[0, 1]`` (ties share the order of appearance)."""
    flat = x.ravel()
    order = np.argsort(flat, kind="stable")
    r = np.empty(flat.size, np.float32)
    r[order] = np.linspace(0.0, 1.0, flat.size, dtype=np.float32)
    return r.reshape(x.shape)


def _segments(image: np.ndarray, scale: float = 100.0) -> np.ndarray:
    """Felzenszwalb's graph segmentation of ``image`` (uint8 ``(H, W, 3)``): int ``(H, W)`` labels."""
    from skimage.segmentation import felzenszwalb

    return felzenszwalb(image, scale=scale, sigma=0.8, min_size=30)


def _contact_height(labels: np.ndarray) -> np.ndarray:
    """Ground-contact cue: for each pixel, how low in the frame its region reaches.

    Regions that stand on the ground are as near as the point where they touch it,
    so a whole tree gets the depth of its base.

    Args:
        labels: int ``(H, W)`` region labels (:func:`_segments`).

    Returns:
        float32 ``(H, W)``: the 90th percentile of the row index (0 = top) of the
        pixel's region, divided by ``H``.
    """
    h, w = labels.shape
    rows = np.broadcast_to(np.arange(h, dtype=np.float32)[:, None], (h, w)).ravel()
    flat = labels.ravel()
    order = np.lexsort((rows, flat))  # by region, then by row
    lab_sorted = flat[order]
    starts = np.r_[0, np.flatnonzero(np.diff(lab_sorted)) + 1]
    ends = np.r_[starts[1:], len(lab_sorted)]
    q = starts + np.floor((ends - starts - 1) * 0.9).astype(np.int64)
    per_region = np.zeros(int(flat.max()) + 1, np.float32)
    per_region[lab_sorted[starts]] = rows[order][q]
    return per_region[labels] / np.float32(h)


def _backdrop_distance(labels: np.ndarray, lab: np.ndarray) -> np.ndarray:
    """Figure-ground cue: how far each region is from the top border, across colour edges.

    The geodesic distance (Wei et al., "Geodesic saliency using background priors",
    ECCV 2012) on the graph of adjacent regions, an edge costing the CIELAB distance
    between the two regions' mean colours, from the regions on the top row. The
    backdrop of a portrait or a still life (a wall, a sky) touches the top border and
    is reached across small colour steps; a figure in front of it is reached only
    across its contour. In a landscape the distance grows band by band from the sky
    down, as depth does.

    Args:
        labels: int ``(H, W)`` region labels.
        lab: float32 ``(H, W, 3)`` CIELAB (L in 0..100).

    Returns:
        float32 ``(H, W)``: the distance in ΔE units (0 on the backdrop's seeds).
    """
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import dijkstra

    flat = labels.ravel()
    n = int(flat.max()) + 1
    count = np.maximum(np.bincount(flat, minlength=n), 1).astype(np.float64)
    mean = np.stack([np.bincount(flat, lab[..., c].ravel().astype(np.float64), n) for c in range(3)], 1) / count[:, None]
    a = np.concatenate([labels[:, :-1].ravel(), labels[:-1, :].ravel()])
    b = np.concatenate([labels[:, 1:].ravel(), labels[1:, :].ravel()])
    cross = a != b
    pairs = np.unique(np.stack([np.minimum(a[cross], b[cross]), np.maximum(a[cross], b[cross])], 1), axis=0)
    cost = np.linalg.norm(mean[pairs[:, 0]] - mean[pairs[:, 1]], axis=1) + 1e-6  # > 0: an edge of the sparse graph
    graph = coo_matrix((np.r_[cost, cost], (np.r_[pairs[:, 0], pairs[:, 1]], np.r_[pairs[:, 1], pairs[:, 0]])), shape=(n, n)).tocsr()
    dist = dijkstra(graph, directed=False, indices=np.unique(labels[0]), min_only=True)
    dist = np.where(np.isfinite(dist), dist, 0.0)  # labels not in the picture
    return dist[labels].astype(np.float32)


#: :func:`prior_depth`: colour distance (ΔE) from the top border at which a region is
#: figure rather than backdrop (``1 - exp(-(d / s)^2)``: 63 % figure at ``s``)
FIGURE_DELTA_E = 15.0
#: :func:`prior_depth`: the nearness of the farthest figure, on the backdrop's 0 .. 1 scale
FIGURE_BASE = 0.5


def prior_depth(image: np.ndarray) -> np.ndarray:
    """Depth from classical monocular cues (the offline default).

    Two parts. *Figure and ground*: the geodesic colour distance of each region from
    the top border (:func:`_backdrop_distance`) says how much it is figure
    (``f = 1 - exp(-(d / 15 ΔE)^2)``): the backdrop that touches the top (a wall, the
    sky) is one flat far plane and a figure stands in front of it, so a portrait's
    face and hair come forward of the wall behind them. *Order among the figures*: the
    cues ranked and mixed, ground contact (0.5, see :func:`_contact_height`), height in
    the frame (0.2), the distance from the top border (0.2) and aerial perspective
    (0.1: Lab distance from the colour of the top rows). Nearness is
    ``f * (0.5 + 0.5 * mix)``, then a light blur. Regions from Felzenszwalb's
    segmentation, so depth follows object boundaries, the part layering needs most.
    Deterministic; the cues are computed at <= 256 px (:func:`_cues`).

    Args:
        image: uint8 ``(H, W, 3)`` RGB.

    Returns:
        float32 ``(H, W)`` in ``[0, 1]``, 1 = nearest.
    """
    small, lab, pos, haze = _cues(image)
    labels = _segments(small)
    contact = _contact_height(labels)
    dist = _backdrop_distance(labels, lab)
    mix = 0.5 * _rank(contact) + 0.2 * _rank(pos) + 0.2 * _rank(dist) + 0.1 * _rank(haze)
    figure = 1.0 - np.exp(-((dist / np.float32(FIGURE_DELTA_E)) ** 2))
    return _finish((figure * (FIGURE_BASE + (1.0 - FIGURE_BASE) * mix)).astype(np.float32), np.shape(image)[:2])


def _cues(image: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The prior's working image and its per-pixel cues, at <= 256 px.

    The cues are low-frequency and segmentation cost grows with size, so the prior
    works on ``image`` (uint8 ``(H, W, 3)``) scaled down to at most 256 px.

    Returns:
        ``(small, lab, pos, haze)``: the uint8 ``(h, w, 3)`` working image, float32
        ``(h, w, 3)`` CIELAB, float32 ``(h, w)`` height in the frame (0 top .. 1
        bottom) and float32 ``(h, w)`` Lab distance from the median colour of the top
        tenth of the rows (aerial perspective).
    """
    img = np.asarray(image)
    h, w = img.shape[:2]
    s = min(1.0, 256.0 / max(h, w))
    small = cv2.resize(img, (max(int(w * s), 8), max(int(h * s), 8)), interpolation=cv2.INTER_AREA) if s < 1 else img
    sh, sw = small.shape[:2]
    lab = cv2.cvtColor(small.astype(np.float32) / 255.0, cv2.COLOR_RGB2LAB)
    pos = np.broadcast_to(np.linspace(0.0, 1.0, sh, dtype=np.float32)[:, None], (sh, sw))
    sky = np.median(lab[: max(sh // 10, 1)].reshape(-1, 3), axis=0)
    haze = np.linalg.norm(lab - sky, axis=2)
    return small, lab, pos, haze


def _finish(cue: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """A light blur of the working-size ``cue``, back to ``shape`` (H, W), normalised to [0, 1]."""
    cue = cv2.GaussianBlur(cue, (0, 0), 1.0)
    if cue.shape != tuple(shape):
        cue = cv2.resize(cue, (shape[1], shape[0]), interpolation=cv2.INTER_LINEAR)
    return normalize_depth(cue)


class TransformersDepth:
    """A ``transformers`` depth-estimation model loaded from a local directory.

    Args:
        path: directory with ``config.json``, the weights and the image processor's
            ``preprocessor_config.json`` (what ``save_pretrained`` writes).
        device: torch device string (default ``"cpu"``).
        depth_kind: ``"auto"`` (by model type), ``"disparity"`` (larger = nearer, Depth
            Anything and DPT) or ``"metric"`` (larger = farther, ZoeDepth).

    Raises:
        InputError: the directory is missing or does not hold a depth model.
    """

    def __init__(self, path: str | Path, device: str = "cpu", depth_kind: Literal["auto", "disparity", "metric"] = "auto"):
        path = Path(path)
        if not (path / "config.json").is_file():
            raise InputError(f"{path}: not a transformers model directory (no config.json)")
        import torch
        from transformers import AutoImageProcessor, AutoModelForDepthEstimation

        try:
            self.model = AutoModelForDepthEstimation.from_pretrained(path, local_files_only=True).to(device).eval()
        except (OSError, ValueError, KeyError) as e:
            raise InputError(f"{path}: cannot load a depth-estimation model ({one_line(e, 140)})") from None
        try:
            self.processor = AutoImageProcessor.from_pretrained(path, local_files_only=True)
        except (OSError, ValueError) as e:
            raise InputError(f"{path}: no image processor config beside the model ({one_line(e, 120)})") from None
        self.device = device
        self.torch = torch
        if depth_kind == "auto":
            depth_kind = "metric" if getattr(self.model.config, "model_type", "") == "zoedepth" else "disparity"
        self.depth_kind = depth_kind

    def __call__(self, image: np.ndarray) -> np.ndarray:
        """Depth of ``image`` (uint8 ``(H, W, 3)``) as float32 ``(H, W)`` in [0, 1], 1 = nearest."""
        torch = self.torch
        h, w = image.shape[:2]
        inputs = self.processor(images=image, return_tensors="pt")
        inputs = {k: v.to(self.device) for k, v in inputs.items()}
        with torch.inference_mode():
            pred = self.model(**inputs).predicted_depth  # (1, h', w')
        pred = torch.nn.functional.interpolate(pred[:, None].float(), size=(h, w), mode="bicubic", align_corners=False)[0, 0]
        d = pred.cpu().numpy()
        if self.depth_kind == "metric":
            d = -d
        return normalize_depth(d)


@functools.lru_cache(maxsize=2)
def _cached_model(path: str, device: str) -> TransformersDepth:
    return TransformersDepth(path, device)


def estimate_depth(image: np.ndarray, backend: str = "prior", model_path: str | Path | None = None, device: str = "cpu") -> np.ndarray:
    """Estimate depth from one RGB image.

    Args:
        image: uint8 ``(H, W, 3)`` RGB.
        backend: ``"prior"`` (offline default) or ``"transformers"``.
        model_path: local model directory, required by ``"transformers"``.
        device: torch device for ``"transformers"``.

    Returns:
        float32 ``(H, W)`` in ``[0, 1]``, 1 = nearest.
    """
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise InputError(f"depth needs a uint8 RGB image (H, W, 3), got {image.dtype} {image.shape}")
    if backend == "prior":
        return prior_depth(image)
    if backend == "transformers":
        if model_path is None:
            raise SettingsError("model_path is required by the 'transformers' depth backend (a local model directory)", "model_path")
        return _cached_model(str(Path(model_path).resolve()), device)(image)
    raise SettingsError(f"unknown depth backend {backend!r} (choose from {', '.join(BACKENDS)})")
