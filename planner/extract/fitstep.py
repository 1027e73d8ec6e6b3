"""One process step: the change region to strokes that reproduce the next frame.

Analysis by synthesis, with the region's geometry proposing the strokes:

1. the pixels of the region still wrong on the canvas (farther than
   ``threshold_rgb`` from the target) are split into parts of one colour (Felzenszwalb
   segmentation + connected components; rims and specks merged into neighbours);
2. each part becomes a polygon and, for its widest fitting brushes, brush paths that
   fill it (rings and hatching inside ``buffer(-w/2)``, and again reaching
   :data:`OFFSETS` px further, :mod:`.fill`): the candidates;
3. each candidate is scored exactly: its anti-aliased coverage on the canvas (the
   package renderer's model), its best opaque colour in closed form, and the squared
   error it removes over *all* pixels it touches (so spilling onto finished paint
   costs, and covering a neighbour that is wrong anyway does not);
4. candidates are accepted best first; one whose box overlaps a stroke accepted in
   the same round is scored again on the updated canvas; a stroke must remove at
   least ``min_gain``;
5. an accepted path's vertices are moved by fractions of a pixel (Gauss-Newton on
   the exact error, :mod:`.refine`), so its edges land on the anti-aliased edges of
   the frame instead of the whole-pixel outline it was traced from (on teacher
   processes: +1.2..2.2 dB PSNR with about half the strokes, bench/bench_extract.py);
6. rounds repeat on what is still wrong, with a finer segmentation each time
   (coarse blocking first, detail after), until nothing worth a stroke is left.

The canvas is updated in place with the accepted strokes (their exact render).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Sequence

import cv2
import numpy as np
import shapely.errors

from animatepainter.planner.render import coverage_from_d2, segment_d2, stroke_bbox
from animatepainter.planner.extract.change import drop_specks
from animatepainter.planner.extract.fill import FillSettings, cover_paths, mask_to_polygon, simplify_path
from animatepainter.planner.extract.refine import refine_path

log = logging.getLogger(__name__)

#: each brush proposes its paths twice: staying inside the part's outline, and
#: reaching this much further (px). The outline comes from whole pixels, the frames'
#: edges are anti-aliased; letting the score choose between the two gains ~0.9 dB on
#: teacher processes for the same stroke count (bench/bench_extract.py)
OFFSETS = (0.0, 0.4)

#: a region whose pieces' boxes cover less than this fraction of its own box is
#: segmented piece by piece (Felzenszwalb's cost grows with the pixels it is given)
SPLIT_BELOW = 0.5

__all__ = ["StepSettings", "StepStroke", "fit_step", "path_coverage", "segment_parts", "absorb_slivers"]


@dataclass(frozen=True)
class StepSettings:
    """Settings of one step's fitting.

    Attributes:
        scales: Felzenszwalb scale of each round's segmentation (coarse to fine; the
            last repeats).
        rounds: most rounds per step.
        min_gain: smallest error a stroke must remove: sum over pixels of squared RGB
            differences in [0, 1].
        threshold_rgb: pixels closer than this (RGB distance, [0, 1] units) to the
            target count as done.
        brushes_per_part: how many of the widest fitting brushes propose paths per part.
        min_px: smallest part, px.
        seg_min: Felzenszwalb ``min_size``, px.
        refine: most sub-pixel refinement iterations of each accepted path
            (:func:`.refine.refine_path`); 0: paths as proposed.
    """

    scales: tuple[float, ...] = (240.0, 60.0, 15.0)
    rounds: int = 3
    min_gain: float = 0.5
    threshold_rgb: float = 0.03
    brushes_per_part: int = 2
    min_px: int = 4
    seg_min: int = 4
    refine: int = 6


@dataclass
class StepStroke:
    """An accepted stroke, pixel coordinates: ``points`` float64 ``(n, 2)``, ``brush``
    index, ``rgb`` uint8 ``(3,)``, ``gain`` (error removed)."""

    points: np.ndarray
    brush: int
    rgb: np.ndarray
    gain: float


def path_coverage(points: np.ndarray, width: float, shape: tuple[int, int]) -> tuple[tuple[int, int, int, int], np.ndarray]:
    """Anti-aliased coverage of a polyline, as :func:`animatepainter.planner.render.stroke_coverage`.

    Long polylines are evaluated segment by segment over each segment's own box (the
    renderer evaluates every segment over the whole box, which costs ``segments x
    box`` for a hatch path across a large region).

    Args:
        points: float ``(n, 2)`` ``(x, y)`` pixels.
        width: brush width, px.
        shape: ``(H, W)`` of the raster.

    Returns:
        ``(box, alpha)``: ``(y0, y1, x0, x1)`` and float32 coverage over the box.
    """
    box = stroke_bbox(points, width, shape)
    y0, y1, x0, x1 = box
    if y1 <= y0 or x1 <= x0:
        return box, np.zeros((max(y1 - y0, 0), max(x1 - x0, 0)), np.float32)
    nseg = max(len(points) - 1, 1)
    if nseg * (y1 - y0) * (x1 - x0) <= 300_000:
        return box, coverage_from_d2(segment_d2(points, box).min(axis=0), width)
    d2 = np.full((y1 - y0, x1 - x0), np.inf, np.float32)
    for i in range(nseg):
        seg = points[i : i + 2]
        sb = stroke_bbox(seg, width, shape)
        if sb[1] <= sb[0] or sb[3] <= sb[2]:
            continue
        sub = d2[sb[0] - y0 : sb[1] - y0, sb[2] - x0 : sb[3] - x0]
        np.minimum(sub, segment_d2(seg, sb)[0], out=sub)
    return box, coverage_from_d2(d2, width)


def score_stroke(canvas: np.ndarray, target: np.ndarray, box: tuple[int, int, int, int], alpha: np.ndarray) -> tuple[float, np.ndarray]:
    """Error removed by painting ``alpha`` over ``box`` in its best opaque colour.

    Returns ``(gain, rgb_uint8)``; gain is ``-inf`` when the stroke covers nothing.
    """
    y0, y1, x0, x1 = box
    sel = alpha > 0
    if not sel.any():
        return -np.inf, np.zeros(3, np.uint8)
    a = alpha[sel][:, None]
    c = canvas[y0:y1, x0:x1][sel]
    t = target[y0:y1, x0:x1][sel]
    den = float((a * a).sum())
    num = (a * (t - c * (1.0 - a))).sum(axis=0)
    rgb = np.clip(np.rint(num / max(den, 1e-12) * 255.0), 0, 255).astype(np.uint8)
    col = rgb.astype(np.float32) / 255.0
    new = c + a * (col - c)
    gain = float(((c - t) ** 2).sum() - ((new - t) ** 2).sum())
    return gain, rgb


def absorb_slivers(labels: np.ndarray, small: int, reach: float) -> np.ndarray:
    """Merge small and one-pixel-thin parts into the nearest large part.

    The anti-aliased rim of a stroke is a band of blended colours that the
    segmentation keeps apart; on its own each piece would cost a stroke. A part is a
    sliver when it has fewer than ``small`` px or no 2x2 block of its pixels; its
    pixels join the nearest pixel of another part within ``reach`` px (Euclidean
    distance transform, scipy). Labels are then renumbered consecutively (int32
    ``(h, w)``, 0 = none).
    """
    from scipy import ndimage
    from skimage.measure import label as cc_label

    if labels.max() == 0:
        return labels
    same = (labels[:-1, :-1] == labels[1:, :-1]) & (labels[:-1, :-1] == labels[:-1, 1:]) & (labels[:-1, :-1] == labels[1:, 1:]) & (labels[:-1, :-1] > 0)
    blocks = np.bincount(labels[:-1, :-1][same], minlength=labels.max() + 1)
    areas = np.bincount(labels.ravel(), minlength=labels.max() + 1)
    thick = (blocks > 0) & (areas >= small)
    thick[0] = False
    keep = thick[labels]
    thin = (labels > 0) & ~keep
    if not thin.any() or not keep.any():
        return labels
    dist, (iy, ix) = ndimage.distance_transform_edt(~keep, return_indices=True)
    near = labels[iy, ix]
    out = np.where(keep, labels, 0)
    move = thin & (dist <= reach)
    out[move] = near[move]
    out[thin & ~move] = labels[thin & ~move] + labels.max()  # far from any thick part: stays its own
    return cc_label(out, background=0, connectivity=1).astype(np.int32)


def segment_parts(target: np.ndarray, region: np.ndarray, scale: float, min_size: int) -> tuple[np.ndarray, list, np.ndarray]:
    """Split ``region`` into connected parts of one colour.

    Args:
        target: uint8 ``(H, W, 3)``.
        region: bool ``(H, W)``, not empty.
        scale: Felzenszwalb scale.
        min_size: Felzenszwalb smallest segment, px.

    Returns:
        ``(labels, slices, box)``: int32 part labels (0 = none) over ``box``,
        ``scipy.ndimage.find_objects`` slices into the full image (index ``k - 1`` for
        label ``k``), and ``box = (y0, y1, x0, x1)`` the region's bounding box.
    """
    from scipy import ndimage
    from skimage.measure import label as cc_label
    from skimage.segmentation import felzenszwalb

    ys, xs = np.nonzero(region)
    y0, y1, x0, x1 = int(ys.min()), int(ys.max()) + 1, int(xs.min()), int(xs.max()) + 1
    inside = region[y0:y1, x0:x1]
    crop = target[y0:y1, x0:x1]
    # a scattered region (catch-up, late rounds) is segmented piece by piece, each
    # over its own box: the graph then holds the region's pixels, not its whole box
    n, comp, stats, _ = cv2.connectedComponentsWithStats(inside.astype(np.uint8), connectivity=8)
    boxes = stats[1:, cv2.CC_STAT_WIDTH].astype(np.int64) * stats[1:, cv2.CC_STAT_HEIGHT]
    if n > 2 and boxes.sum() < SPLIT_BELOW * inside.size:
        seg = np.zeros(inside.shape, np.int64)
        top = 0
        for k in range(1, n):
            bx, by, bw, bh = stats[k, :4]
            sl = (slice(by, by + bh), slice(bx, bx + bw))
            own = comp[sl] == k
            part = felzenszwalb(crop[sl], scale=scale, sigma=0.5, min_size=min_size) + 1 + top
            seg[sl][own] = part[own]
            top = int(part.max())
    else:
        seg = np.where(inside, felzenszwalb(crop, scale=scale, sigma=0.5, min_size=min_size) + 1, 0)
    labels = absorb_slivers(cc_label(seg, background=0, connectivity=1).astype(np.int32), 2 * min_size, np.sqrt(min_size))
    slices = [(slice(s[0].start + y0, s[0].stop + y0), slice(s[1].start + x0, s[1].stop + x0)) if s is not None else None for s in ndimage.find_objects(labels)]
    return labels, slices, (y0, y1, x0, x1)


def _overlap(a: tuple, b: tuple) -> bool:
    return a[0] < b[1] and b[0] < a[1] and a[2] < b[3] and b[2] < a[3]


def _candidates(labels: np.ndarray, slices: list, widths: Sequence[float], min_px: int, per_part: int, fill: FillSettings, err2: np.ndarray, min_gain: float) -> list[tuple[np.ndarray, int]]:
    """Brush paths proposed by each part: ``(points px, brush index)``.

    A part smaller than ``min_px`` or whose whole error (``err2`` summed over it) is
    below ``min_gain`` proposes nothing: no stroke there could pay for itself.
    """
    out: list[tuple[np.ndarray, int]] = []
    areas = np.bincount(labels.ravel())
    errs = np.bincount(labels.ravel(), weights=err2.ravel())
    for k, sl in enumerate(slices, start=1):
        if sl is None or areas[k] < min_px or errs[k] < min_gain:
            continue
        m = labels[sl] == k
        # inscribed radius from the distance transform (OpenCV): which brushes fit,
        # without trying each with a polygon buffer
        inside = cv2.distanceTransform(np.pad(m, 1).astype(np.uint8), cv2.DIST_L2, 5)
        radius = float(inside.max()) - 0.5
        fits = [bi for bi, w in enumerate(widths) if radius > w / 2.0][:per_part] or [len(widths) - 1]
        try:
            out += _part_paths(m, (sl[1].start, sl[0].start), radius, fits, widths, fill)
        except shapely.errors.GEOSException as e:  # a degenerate outline; its pixels stay for the next round
            log.debug("part %d: geometry failed (%s); skipped", k, e)
    return out


def _part_paths(mask: np.ndarray, offset: tuple[int, int], radius: float, fits: list[int], widths: Sequence[float], fill: FillSettings) -> list[tuple[np.ndarray, int]]:
    """Brush paths of one part (bool ``mask`` at pixel ``offset``) for the brushes ``fits``."""
    out: list[tuple[np.ndarray, int]] = []
    poly = mask_to_polygon(mask, offset)
    if poly.is_empty:
        return out
    for bi in fits:
        w = widths[bi]
        # the centre region, where the brush paints this part only; a part thinner
        # than the brush (only the finest gets here) is followed along its shrunken
        # outline instead, spilling a little (the score decides)
        for delta in OFFSETS:
            room = poly.buffer(-w / 2.0 + delta, quad_segs=fill.quad_segs)
            if room.is_empty or room.area <= 0.1 * w:
                if delta:
                    continue
                room = poly.buffer(-min(w / 4.0, 0.8 * max(radius, 0.05)), quad_segs=fill.quad_segs)
            if room.is_empty:
                continue
            out += [(simplify_path(p, fill.simplify_px), bi) for p in cover_paths(room, w, fill)]
    if not out:  # thinner than the buffers allow: a dab of the finest at its heart
        pt = poly.representative_point()
        out.append((np.array([[pt.x, pt.y]], np.float64), fits[-1]))
    return out


def fit_step(
    canvas: np.ndarray,
    target: np.ndarray,
    target_u8: np.ndarray,
    region: np.ndarray,
    widths: Sequence[float],
    settings: StepSettings,
    fill: FillSettings = FillSettings(),
) -> list[StepStroke]:
    """Strokes that move ``canvas`` toward ``target`` over ``region``.

    Args:
        canvas: float32 ``(H, W, 3)`` in [0, 1], updated in place.
        target: float32 ``(H, W, 3)`` in [0, 1].
        target_u8: the same, uint8 (for segmentation).
        region: bool ``(H, W)``: where this step paints.
        widths: brush widths, px, widest first.
        settings: step settings.
        fill: path settings.

    Returns:
        accepted strokes in the order they were painted.
    """
    shape = canvas.shape[:2]
    thr2 = settings.threshold_rgb**2
    strokes: list[StepStroke] = []
    for r in range(settings.rounds):
        err2 = ((canvas - target) ** 2).sum(axis=2)
        active = drop_specks(region & (err2 > thr2), settings.min_px)
        if not active.any():
            break
        scale = settings.scales[min(r, len(settings.scales) - 1)]
        labels, slices, (y0, y1, x0, x1) = segment_parts(target_u8, active, scale, settings.seg_min)
        full = np.zeros(shape, np.int32)
        full[y0:y1, x0:x1] = labels
        cands = _candidates(full, slices, widths, settings.min_px, settings.brushes_per_part, fill, err2, settings.min_gain)
        scored = []
        for pts, bi in cands:
            box, alpha = path_coverage(pts, widths[bi], shape)
            gain, rgb = score_stroke(canvas, target, box, alpha)
            if gain > settings.min_gain:
                scored.append((gain, rgb, pts, bi, box, alpha))
        scored.sort(key=lambda s: -s[0])
        painted: list[tuple] = []
        added = 0
        for gain, rgb, pts, bi, box, alpha in scored:
            if any(_overlap(box, b) for b in painted):
                gain, rgb = score_stroke(canvas, target, box, alpha)
                if gain <= settings.min_gain:
                    continue
            if settings.refine > 0:
                npts, ngain, nrgb = refine_path(pts, widths[bi], canvas, target, gain, rgb, settings.refine)
                if ngain > gain:
                    pts, gain, rgb = npts, ngain, nrgb
                    box, alpha = path_coverage(pts, widths[bi], shape)
            y0, y1, x0, x1 = box
            reg = canvas[y0:y1, x0:x1]
            # the same composite as render.paint_stroke (path_coverage is its coverage)
            reg += alpha[..., None] * (rgb.astype(np.float32) / 255.0 - reg)
            painted.append(box)
            strokes.append(StepStroke(pts, bi, rgb, gain))
            added += 1
        if added == 0:
            break
    return strokes
