"""Depth layers: split a depth map into K bands, 0 = farthest, and choose K for a picture.

Thresholds come from multi-level Otsu on a 256-bin depth histogram, which puts the
cuts in the valleys between depth planes (sky / far hills / foreground) rather than
at fixed quantiles. Otsu's criterion (the between-class variance) is a sum of one
term per class, so the optimal K-class partition of B ordered bins is found exactly
by dynamic programming in O(K B^2) (:func:`otsu_partition`), where scikit-image's
``threshold_multiotsu`` searches every combination (O(B^(K-1)): 6 classes take
seconds, 8 never finish). Then every connected region smaller than ``min_area`` of
the picture joins the layer along most of its border, so a layer is made of
paintable regions, not speckle: a painter blocks in a background around small
foreground details, not the details one by one.

:func:`choose_layer_count` picks the number of layers a picture's depth calls for:
the fewest Otsu classes that leave at most 2 % of the depth variance inside the
layers, counting only classes that hold at least 1 % of the picture.
"""

from __future__ import annotations

import logging

import cv2
import numpy as np

from animatepainter.planner.errors import SettingsError

log = logging.getLogger(__name__)

__all__ = ["MAX_LAYERS", "depth_layers", "choose_layer_count", "otsu_partition", "EXPLAINED_SHARE", "MIN_PLANE_SHARE", "layer_map", "check_layers", "AUTO_MAX_LAYERS"]

#: The most depth layers :func:`depth_layers` makes.
MAX_LAYERS = 16
#: Bins of the depth histogram the thresholds are chosen on.
N_BINS = 256
#: :func:`choose_layer_count`: the share of the depth variance the layers must explain.
EXPLAINED_SHARE = 0.98
#: :func:`choose_layer_count`: the share of the picture a depth plane must hold to count.
MIN_PLANE_SHARE = 0.01
#: a depth map whose values span less than this is flat: one layer
_FLAT_SPAN = 1e-4


def _histogram(depth: np.ndarray, nbins: int = N_BINS) -> tuple[np.ndarray, np.ndarray]:
    """Counts and edges of ``depth`` over its own range (as ``skimage.exposure.histogram``).

    Returns:
        float64 counts ``(nbins,)`` and float64 edges ``(nbins + 1,)``.
    """
    lo, hi = float(depth.min()), float(depth.max())
    counts, edges = np.histogram(depth, bins=nbins, range=(lo, hi))
    return counts.astype(np.float64), edges


def otsu_partition(counts: np.ndarray, centers: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The K-class partition of a histogram that maximises Otsu's between-class variance.

    Written here because the libraries that have it do not fit: scikit-image's
    ``threshold_multiotsu`` is exhaustive (exponential in K), and Fisher-Jenks packages
    (jenkspy, mapclassify) run on raw values without weights (quadratic in the pixel
    count) rather than on a weighted histogram. Otsu's criterion, sum over classes of
    ``S_c^2 / W_c`` (``W_c`` the class's count, ``S_c`` its sum of values), is additive
    over contiguous runs of bins, so the best partition of the first ``j`` bins into
    ``m`` classes extends the best partition of the first ``i < j`` bins into
    ``m - 1`` classes: an O(K B^2) dynamic programme, run here in vectorised numpy.
    Every class holds at least one pixel.

    Args:
        counts: ``(B,)`` non-negative bin weights (pixel counts or probabilities).
        centers: ``(B,)`` increasing bin values.
        k: number of classes, ``1 <= k <=`` the number of non-empty bins.

    Returns:
        ``(cuts, score)``: int64 ``(k - 1,)`` indices, class ``c`` holding bins
        ``cuts[c-1] + 1 .. cuts[c]`` (skimage's ``thresh_idx`` convention: the last bin
        of each class but the last), and float64 ``(k,)`` the best criterion
        ``sum_c S_c^2 / W_c`` with ``1..k`` classes (``score[m-1]`` for ``m`` classes).
        Ties go to the smallest cut.
    """
    w = np.asarray(counts, np.float64)
    x = np.asarray(centers, np.float64)
    b = w.size
    if not 1 <= k <= np.count_nonzero(w):
        raise ValueError(f"cannot split {np.count_nonzero(w)} non-empty bins into {k} classes")
    cw = np.concatenate([[0.0], np.cumsum(w)])  # prefix sums: bins [0, j)
    cs = np.concatenate([[0.0], np.cumsum(w * x)])
    # cost[i, j]: the class of bins i..j-1 (i < j, at least one pixel); -inf otherwise
    dw = cw[None, :] - cw[:, None]
    ds = cs[None, :] - cs[:, None]
    valid = np.triu(np.ones((b + 1, b + 1), bool), 1) & (dw > 0)
    cost = np.full((b + 1, b + 1), -np.inf)
    cost[valid] = ds[valid] ** 2 / dw[valid]
    best = cost[0].copy()  # best[j]: bins [0, j) in one class
    back = np.zeros((k, b + 1), np.int64)
    scores = [best[b]]
    for m in range(1, k):
        total = best[:, None] + cost  # split bins [0, j) into bins [0, i) (m classes) + [i, j)
        back[m] = np.argmax(total, axis=0)
        best = total[back[m], np.arange(b + 1)]
        scores.append(best[b])
    cuts = np.empty(k - 1, np.int64)
    j = b
    for m in range(k - 1, 0, -1):
        j = int(back[m, j])
        cuts[m - 1] = j - 1  # class m starts at bin j: the previous class ends at j - 1
    return cuts, np.asarray(scores, np.float64)


def _check_k(k: int, what: str = "depth layers", field: str = "layers") -> int:
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 1 <= k <= MAX_LAYERS:
        raise SettingsError(f"{what} must be between 1 and {MAX_LAYERS}, got {k}", field)
    return int(k)


def depth_layers(depth: np.ndarray, k: int = 3, smooth_px: int = 5, min_area: float = 0.01) -> np.ndarray:
    """Assign each pixel a depth layer.

    Args:
        depth: float32 ``(H, W)`` in ``[0, 1]``, 1 = nearest.
        k: number of layers, ``1..MAX_LAYERS`` (16). A map with fewer distinct depths
            than ``k`` (after binning) gets one layer per depth.
        smooth_px: median-filter size in pixels (odd; 0 or 1 disables).
        min_area: smallest region kept as it is, as a fraction of the image area;
            smaller ones join the layer around them.

    Returns:
        int32 ``(H, W)`` in ``0..m-1``, ``m <= k`` the layers that hold pixels after
        smoothing and absorption; 0 = farthest layer, the mean depth of a layer grows
        with its index.

    Raises:
        SettingsError: ``k`` outside ``1..MAX_LAYERS``.
    """
    k = _check_k(k)
    depth = np.asarray(depth, np.float32)
    if k == 1 or float(depth.max()) - float(depth.min()) < _FLAT_SPAN:
        return np.zeros(depth.shape, np.int32)
    counts, edges = _histogram(depth)
    k_eff = min(k, int(np.count_nonzero(counts)))
    if k_eff < k:
        log.debug("depth has %d distinct levels: %d layers instead of %d", k_eff, k_eff, k)
    cuts, _ = otsu_partition(counts, 0.5 * (edges[:-1] + edges[1:]), k_eff)
    # thresholds at the bin edges, so the pixels' classes are exactly the histogram's
    layers = np.digitize(depth, edges[cuts + 1]).astype(np.int32)
    if smooth_px and smooth_px > 1:
        size = int(smooth_px) | 1
        layers = cv2.medianBlur(layers.astype(np.uint8), size).astype(np.int32)
    if min_area > 0:
        layers = _absorb_small_regions(layers, k_eff, int(min_area * layers.size))
    # number the layers left far to near by their mean depth (absorption can empty a
    # thin layer or shift a mean), so layer i + 1 is always nearer than layer i
    present = np.flatnonzero(np.bincount(layers.ravel(), minlength=k_eff))
    mean = np.bincount(layers.ravel(), depth.ravel().astype(np.float64), k_eff)[present] / np.bincount(layers.ravel(), minlength=k_eff)[present]
    lut = np.zeros(k_eff, np.int32)
    lut[present[np.argsort(mean, kind="stable")]] = np.arange(present.size, dtype=np.int32)
    if present.size < k:
        log.debug("%d of %d depth layers hold pixels", present.size, k)
    return lut[layers]


def choose_layer_count(depth: np.ndarray, max_layers: int = 12) -> int:
    """How many depth layers a picture calls for: the number of its distinct depth planes.

    The criterion: the smallest K whose optimal K-class Otsu partition of the depth
    histogram explains at least :data:`EXPLAINED_SHARE` (98 %) of the depth variance
    (so the layers leave at most 2 % of it: a within-layer spread of at most a
    seventh of the picture's), less the classes of that partition that hold under
    :data:`MIN_PLANE_SHARE` (1 %) of the pixels (specks, not planes; depth_layers
    would absorb them anyway). K flat planes at distinct depths give K; on
    ``make_scene``'s exact depth (a sky, 2-4 hill ranges, a sloping ground) it gives
    within one of the true count of planes; a lone uniform slope is split into 8
    bands (a K-band partition of a slope explains ``1 - 1/K^2``); a flat map, or one
    value with a few outliers, gives 1.

    Args:
        depth: float32 ``(H, W)``, 1 = nearest (any range; only the order and spacing count).
        max_layers: the most it returns, ``1..MAX_LAYERS``.

    Returns:
        int in ``1..max_layers``.

    Raises:
        SettingsError: ``max_layers`` outside ``1..MAX_LAYERS``.
    """
    max_layers = _check_k(max_layers, "max_layers", "max_layers")
    depth = np.asarray(depth, np.float32)
    if max_layers == 1 or float(depth.max()) - float(depth.min()) < _FLAT_SPAN:
        return 1
    counts, edges = _histogram(depth)
    centers = 0.5 * (edges[:-1] + edges[1:])
    top = min(max_layers, int(np.count_nonzero(counts)))
    _, scores = otsu_partition(counts, centers, top)
    n = counts.sum()
    total = float((counts * centers**2).sum() - scores[0])  # n * variance of the binned depth
    if total <= 0:
        return 1
    explained = (scores - scores[0]) / total  # share of the variance between the classes, K = 1..top
    enough = np.flatnonzero(explained >= EXPLAINED_SHARE - 1e-9)
    kk = int(enough[0]) + 1 if enough.size else top
    cuts, _ = otsu_partition(counts, centers, kk)
    sizes = np.add.reduceat(counts, np.r_[0, cuts + 1])
    return max(1, int((sizes >= MIN_PLANE_SHARE * n).sum()))


def _absorb_small_regions(layers: np.ndarray, k: int, min_px: int) -> np.ndarray:
    """Relabel connected regions under ``min_px`` pixels with the layer along most of their border.

    One labelling of all layers' 4-connected regions (skimage.measure.label labels the
    equal-valued regions of a label image in one pass, whatever ``k``), then region
    merging on the graph of adjacent regions (edges weighted by the length of the shared
    border): the smallest region under ``min_px`` joins the layer it shares the most
    border with, merging with its neighbours in that layer; a merged region still under
    ``min_px`` is looked at again. Cost: one labelling plus a loop over the regions,
    not over the pixels or the layers. Ties go to the lower layer, then the lower id.
    """
    import heapq

    from skimage.measure import label

    comp = label(layers, background=-1, connectivity=1) - 1  # 0..n-1
    n = int(comp.max()) + 1
    area = np.bincount(comp.ravel(), minlength=n).astype(np.int64)
    if n == 1 or not (area < min_px).any():
        return layers.astype(np.int32, copy=False)
    layer_of = np.zeros(n, np.int64)
    layer_of[comp.ravel()] = layers.ravel()
    left, right, up, down = comp[:, :-1], comp[:, 1:], comp[:-1, :], comp[1:, :]
    cut_h, cut_v = left != right, up != down
    a = np.concatenate([left[cut_h], up[cut_v]]).astype(np.int64)
    b = np.concatenate([right[cut_h], down[cut_v]]).astype(np.int64)
    pair, length = np.unique(np.minimum(a, b) * n + np.maximum(a, b), return_counts=True)
    nbrs: list[dict[int, int]] = [{} for _ in range(n)]
    for p, q, ln in zip((pair // n).tolist(), (pair % n).tolist(), length.tolist()):
        nbrs[p][q] = ln
        nbrs[q][p] = ln
    sizes = area.tolist()
    lay = layer_of.tolist()
    root = list(range(n))  # the region each one has been merged into (a root maps to itself)
    heap = [(sizes[r], r) for r in range(n) if sizes[r] < min_px]
    heapq.heapify(heap)
    while heap:
        size, r = heapq.heappop(heap)
        if root[r] != r or size != sizes[r] or not nbrs[r]:
            continue  # merged away, stale entry, or the whole picture
        border = [0] * k
        for q, ln in nbrs[r].items():
            border[lay[q]] += ln
        target = max(range(k), key=lambda lyr: (border[lyr], -lyr))
        group = [q for q in nbrs[r] if lay[q] == target]
        keep = max(group, key=lambda q: (sizes[q], -q))  # the largest neighbour absorbs the rest
        for q in [r, *group]:
            if q == keep:
                continue
            root[q] = keep
            sizes[keep] += sizes[q]
            for o, ln in nbrs[q].items():
                if o != keep:
                    nbrs[o].pop(q, None)
                    if root[o] == o and o not in (r, *group):
                        nbrs[keep][o] = nbrs[keep].get(o, 0) + ln
                        nbrs[o][keep] = nbrs[keep][o]
            nbrs[keep].pop(q, None)
            nbrs[q] = {}
        if sizes[keep] < min_px:
            heapq.heappush(heap, (sizes[keep], keep))
    final = np.empty(n, np.int64)
    for r in range(n):
        q = r
        while root[q] != q:
            q = root[q]
        final[r] = lay[q]
    return final[comp].astype(np.int32)


#: the most layers the default (``layers=None``) picks
AUTO_MAX_LAYERS = 12


def layer_map(depth: np.ndarray, k: int | None = None, max_auto: int = AUTO_MAX_LAYERS) -> np.ndarray:
    """The depth layers of every engine: :func:`depth_layers` with ``k`` layers, or
    with ``k = None`` as many as the picture has depth planes
    (:func:`choose_layer_count`, at most ``max_auto``).

    Returns:
        int32 ``(H, W)`` in ``0..m-1`` (``m = map.max() + 1`` layers; 0 = farthest).
    """
    return depth_layers(depth, choose_layer_count(depth, max_auto) if k is None else k)


def check_layers(k: int | None, field: str = "layers") -> None:
    """Raise :class:`SettingsError` unless ``k`` is ``None`` (chosen for the picture) or
    a whole number of layers in ``1..MAX_LAYERS``."""
    if k is not None and (isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 1 <= k <= MAX_LAYERS):
        raise SettingsError(f"{field} must be 'auto' or a whole number of depth layers between 1 and {MAX_LAYERS}, got {k!r}", field)
