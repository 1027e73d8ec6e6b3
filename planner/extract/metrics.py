"""How well an extracted plan matches its process: fidelity per step and order agreement.

* :func:`per_step_psnr`: PSNR of the plan rendered up to the end of step ``s`` against
  frame ``s + 1`` of the process, for every step.
* :func:`order_agreement`: Kendall's tau-b (scipy) between the execution order of
  the extracted strokes and the order of the true strokes covering the same pixels.
  The default, ``mode="pixels"``: every pixel an extracted stroke visibly paints
  names the true stroke whose paint it re-creates there (of the true strokes the
  frames show at that pixel, the one of the nearest colour), and the stroke's true
  order is the median execution index of those; a random order scores about 0, the
  true strokes shuffled inside each step 0.92-0.94. Also area-weighted. Two other
  readings are kept for comparison: ``"match"`` (each extracted stroke matched to one
  true stroke by footprint likeness; sparse matrices, scipy) and ``"final"`` (through
  the finished painting only).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

import cv2
import numpy as np

from animatepainter.planner.metrics import psnr
from animatepainter.planner.plan import StrokePlan
from animatepainter.planner.render import new_canvas, plan_to_pixels, render_progress, stroke_bbox, stroke_coverage

if TYPE_CHECKING:  # pragma: no cover
    from scipy import sparse

__all__ = ["per_step_psnr", "top_stroke_map", "visible_by_step", "pixel_true_order", "order_agreement", "weighted_tau", "frames_vs_plan_sheet"]

def _fit(img: np.ndarray, wh: tuple[int, int]) -> np.ndarray:
    return img if img.shape[1::-1] == tuple(wh) else cv2.resize(img, wh, interpolation=cv2.INTER_AREA)


def per_step_psnr(plan: StrokePlan, frames: np.ndarray, step_of_frame: Sequence[int] | None = None) -> list[float]:
    """PSNR of the plan rendered up to each step against the process frames.

    Args:
        plan: the plan (strokes of step ``s`` belong to frame ``s + 1``).
        frames: uint8 ``(T + 1, H, W, 3)``, ``frames[0]`` the blank canvas.
        step_of_frame: the step whose end each of ``frames[1:]`` shows (default
            ``0..T-1``).

    Returns:
        ``T`` PSNRs in dB, one per frame after the blank one.
    """
    frames = np.asarray(frames)
    n = len(frames) - 1
    steps = list(range(n)) if step_of_frame is None else list(step_of_frame)
    st = np.array([s.step for s in plan.strokes], np.int64)
    after = [int(np.searchsorted(st, s, side="right")) for s in steps]
    h, w = frames.shape[1:3]
    out = []
    for f, shot in zip(frames[1:], render_progress(plan, after, width_px=w, region="image")):
        out.append(psnr(_fit(shot, (w, h)), f))
    return out


def top_stroke_map(plan: StrokePlan, width_px: int | None = None, min_change: float = 0.0) -> np.ndarray:
    """Index (execution order) of the last stroke that painted each pixel.

    Args:
        plan: the plan.
        width_px: raster width (default the source image's), over the image box.
        min_change: a stroke claims a pixel it covers at least half only if it changes
            the pixel's colour by more than this (RGB distance, 0..255 units); 0: any
            covered pixel. With a small positive value, a stroke that repaints a pixel
            in (nearly) its own colour, which no frame can show, does not claim it.

    Returns:
        int32 ``(H, W)``; -1 where no stroke painted the pixel.
    """
    (h, w), strokes = plan_to_pixels(plan, width_px, "image")
    top = np.full((h, w), -1, np.int32)
    canvas = new_canvas(h, w, np.asarray(plan.canvas.background, np.float32) / 255.0) if min_change > 0 else None
    lim2 = (min_change / 255.0) ** 2
    for i, s in enumerate(strokes):
        box = stroke_bbox(s.points, s.width, (h, w))
        y0, y1, x0, x1 = box
        if y1 <= y0 or x1 <= x0:
            continue
        a = stroke_coverage(s.points, s.width, box)
        claim = a >= 0.5
        if canvas is not None:
            reg = canvas[y0:y1, x0:x1]
            delta = a[..., None] * (s.rgb - reg)
            claim &= (delta**2).sum(axis=2) > lim2
            reg += delta
        top[y0:y1, x0:x1][claim] = i
    return top


def _tau(ids: np.ndarray, ranks: np.ndarray) -> float:
    from scipy.stats import kendalltau

    return float(kendalltau(ids, ranks).statistic) if len(ids) >= 2 else float("nan")


def weighted_tau(x: np.ndarray, y: np.ndarray, w: np.ndarray, chunk: int = 256) -> float:
    """Kendall's tau with pair weights: ``sum w_i w_j sgn(dx) sgn(dy) / sum w_i w_j`` over
    pairs not tied in ``x`` or ``y`` (float ``(n,)`` each; NaN for no such pair).

    Why by hand: scipy's ``weightedtau`` weighs pairs by rank, not by a weight per
    item. Vectorised over blocks of ``chunk`` rows, O(n^2) time, O(chunk n) memory.
    """
    x, y, w = (np.asarray(a, np.float64) for a in (x, y, w))
    num = den = 0.0
    for i in range(0, len(x), chunk):
        sx = np.sign(x[i : i + chunk, None] - x[None])
        sy = np.sign(y[i : i + chunk, None] - y[None])
        ww = w[i : i + chunk, None] * w[None]
        num += float((ww * sx * sy).sum())
        den += float((ww * (sx != 0) * (sy != 0)).sum())
    return num / den if den > 0 else float("nan")


def _median_by(keys: np.ndarray, vals: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Unique ``keys`` and the median of ``vals`` over each (both int64 1-D)."""
    order = np.lexsort((vals, keys))
    k, v = keys[order], vals[order]
    ids, start, counts = np.unique(k, return_index=True, return_counts=True)
    return ids, (v[start + (counts - 1) // 2] + v[start + counts // 2]) / 2.0


def _footprints(plan: StrokePlan, width_px: int, min_change: float = 8.0) -> tuple[tuple[int, int], "sparse.csr_matrix", np.ndarray]:
    """What each stroke visibly paints in its own step.

    The plan is rendered step by step; a stroke's footprint is the pixels where, at
    the end of its step, it is the last stroke to cover them (coverage >= 0.5) and
    the step changed their colour by more than ``min_change`` (RGB distance, 0..255):
    what the process frames show of it.

    Returns:
        ``((H, W), footprints, rgb)``: sparse ``(strokes, H * W)`` 0/1 matrix (scipy
        CSR) and float32 ``(strokes, 3)`` colours in [0, 1].
    """
    from scipy import sparse

    (h, w), strokes = plan_to_pixels(plan, width_px, "image")
    canvas = new_canvas(h, w, np.asarray(plan.canvas.background, np.float32) / 255.0)
    steps = np.array([s.step for s in plan.strokes], np.int64)
    lim2 = (min_change / 255.0) ** 2
    rows, cols = [], []
    i = 0
    while i < len(strokes):
        j = int(np.searchsorted(steps, steps[i], side="right"))
        before = canvas.copy()
        top = np.full((h, w), -1, np.int64)
        for k in range(i, j):
            s = strokes[k]
            box = stroke_bbox(s.points, s.width, (h, w))
            y0, y1, x0, x1 = box
            if y1 <= y0 or x1 <= x0:
                continue
            a = stroke_coverage(s.points, s.width, box)
            reg = canvas[y0:y1, x0:x1]
            reg += a[..., None] * (s.rgb - reg)
            top[y0:y1, x0:x1][a >= 0.5] = k
        shown = (top >= 0) & (((canvas - before) ** 2).sum(axis=2) > lim2)
        rows.append(top[shown])
        cols.append(np.flatnonzero(shown))
        i = j
    r = np.concatenate(rows) if rows else np.zeros(0, np.int64)
    c = np.concatenate(cols) if cols else np.zeros(0, np.int64)
    m = sparse.csr_matrix((np.ones(len(r), np.float32), (r, c)), shape=(len(strokes), h * w))
    rgb = np.array([s.rgb for s in strokes], np.float32).reshape(-1, 3)
    return (h, w), m, rgb


def visible_by_step(plan: StrokePlan, width_px: int) -> tuple[tuple[int, int], np.ndarray]:
    """Which stroke each pixel shows at the end of every step.

    Args:
        plan: the plan (step ``s`` ends with frame ``s + 1`` of its process).
        width_px: raster width, over the image box.

    Returns:
        ``((H, W), tops)``: int32 ``(n_steps, H * W)``, ``tops[s, p]`` the execution
        index of the last stroke covering pixel ``p`` at least half by the end of step
        ``s``; -1 where the canvas is still blank.
    """
    (h, w), strokes = plan_to_pixels(plan, width_px, "image")
    n_steps = max(plan.n_steps, 1)
    steps = np.array([s.step for s in plan.strokes], np.int64)
    ends = np.searchsorted(steps, np.arange(n_steps), side="right")
    tops = np.empty((n_steps, h * w), np.int32)
    top = np.full((h, w), -1, np.int32)
    done = 0
    for s_, end in enumerate(ends):
        for k in range(done, int(end)):
            st = strokes[k]
            box = stroke_bbox(st.points, st.width, (h, w))
            y0, y1, x0, x1 = box
            if y1 <= y0 or x1 <= x0:
                continue
            top[y0:y1, x0:x1][stroke_coverage(st.points, st.width, box) >= 0.5] = k
        done = int(end)
        tops[s_] = top.ravel()
    return (h, w), tops


def pixel_true_order(extracted: StrokePlan, truth: StrokePlan, width_px: int, min_change: float = 8.0, chunk: int = 200_000) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The true order of the strokes covering the same pixels as each extracted stroke.

    For extracted stroke ``k`` and each pixel ``p`` of its footprint (where, at the end
    of its step, it is the top stroke and the step changed the colour by more than
    ``min_change``: what the frames show of it, :func:`_footprints`), the candidates
    are the blank canvas and the true strokes the process shows at ``p`` (the top
    true stroke at ``p`` at the end of each true step). The one whose colour is nearest
    ``k``'s (RGB) is the true stroke whose paint ``k`` re-creates at ``p``; exact
    ties (the same true stroke shown by several frames, or two of one colour) go to
    the one shown nearest in time to ``k``'s step. Pixels that re-create the blank
    canvas name no true stroke and are left out. The true order of ``k`` is the
    median execution index of the true strokes its pixels name.

    Nothing here favours the extracted order: a stroke is compared by colour with
    everything the process ever shows at its pixels, before or after its own step
    (only exact ties look at its step), so a random order scores about 0. (Taking
    instead the true strokes shown at the stroke's own frame would: every stroke
    would then name a true stroke no later than its own step, and a random order
    scores about 0.24 on the benchmark's scene.)

    Args:
        extracted, truth: the plans (the same process steps).
        width_px: raster width for both.
        min_change: smallest visible colour change, RGB distance 0..255.
        chunk: footprint pixels handled at once (memory ``chunk x true steps``).

    Returns:
        ``(ids, order, area)``: int64 extracted stroke indices (those that name a true
        stroke), float64 their true order (median true execution index), int64 the
        number of footprint pixels that named a true stroke.
    """
    shape_e, fe, ce = _footprints(extracted, width_px, min_change)
    shape_t, tops = visible_by_step(truth, width_px)
    if shape_e != shape_t:
        raise ValueError(f"plans rasterise to different sizes at {width_px} px: {shape_e} and {shape_t}")
    n_steps = tops.shape[0]
    trgb = np.array([s.rgb for s in truth.strokes], np.float32).reshape(-1, 3) / 255.0
    bg = np.asarray(truth.canvas.background, np.float32) / 255.0
    esteps = np.array([s.step for s in extracted.strokes], np.int64)
    coo = fe.tocoo()
    rows, cols = coo.row.astype(np.int64), coo.col.astype(np.int64)
    named = np.empty(len(rows), np.int64)
    frame_t = np.arange(-1, n_steps)[None, :]  # the blank canvas (before step 0), then each step's end
    for i in range(0, len(rows), chunk):
        r, c = rows[i : i + chunk], cols[i : i + chunk]
        # (m, 1 + steps): blank, then the true stroke shown at each pixel after each step
        hist = np.concatenate([np.full((len(r), 1), -1, np.int32), tops[:, c].T], axis=1)
        col = ce[r][:, None, :]
        d2 = np.where(hist >= 0, ((trgb[np.maximum(hist, 0)] - col) ** 2).sum(axis=2), ((bg - col) ** 2).sum(axis=2))
        tie = d2 <= d2.min(axis=1, keepdims=True)
        gap = np.abs(frame_t - np.minimum(esteps[r], n_steps - 1)[:, None])
        j = np.argmin(np.where(tie, gap, n_steps + 2), axis=1)
        named[i : i + chunk] = hist[np.arange(len(r)), j]
    ok = named >= 0
    if not ok.any():
        return np.zeros(0, np.int64), np.zeros(0, np.float64), np.zeros(0, np.int64)
    ids, order = _median_by(rows[ok], named[ok])
    area = np.bincount(rows[ok], minlength=len(extracted.strokes))[ids]
    return ids.astype(np.int64), order.astype(np.float64), area.astype(np.int64)


def order_agreement(extracted: StrokePlan, truth: StrokePlan, width_px: int | None = None, mode: str = "pixels", colour_sigma: float = 0.1, min_change: float | None = None) -> dict[str, float]:
    """Kendall's tau-b between extracted and true stroke order (see the module doc).

    Args:
        extracted: the extracted plan.
        truth: the plan that made the process (the same steps).
        width_px: raster width for both (default the truth's source image width).
        mode: how an extracted stroke finds the true strokes it stands for:
            ``"pixels"`` (default): the true strokes covering the same pixels, pixel
            by pixel (:func:`pixel_true_order`); its true order is their median
            execution index. A random order scores about 0, the true strokes with
            their order shuffled inside each step 0.92-0.94;
            ``"match"``: one true stroke, the one whose visible footprint (what the
            frames show it painting, see :func:`_footprints`) is most like its own
            (Jaccard index), weighted by colour likeness
            ``exp(-|rgb_e - rgb_t|^2 / (2 colour_sigma^2))`` (RGB in [0, 1]); that
            stroke's index is the true rank. Stricter where one extracted stroke
            re-creates parts of several true strokes: it can stand for one only;
            ``"final"``: the true strokes on top in the finished painting where the
            extracted stroke is on top in its own (median index). Strict: a true
            stroke that repaints a pixel in nearly the same colour, which no frame can
            show, still takes it (unless ``min_change`` says otherwise).
        colour_sigma: colour likeness scale of ``"match"``.
        min_change: smallest colour change (RGB distance, 0..255) that shows a
            stroke (``"pixels"``, ``"match"``: in its step, default 8; ``"final"``:
            see :func:`top_stroke_map`, default 0).

    Returns:
        ``{"tau": tau-b, "strokes": strokes compared, "pixels": pixels they show}``
        and, for ``"pixels"`` and ``"match"``, ``"tau_area"``: the same with every pair
        of strokes weighted by the product of their visible areas (a one-pixel
        touch-up counts for one pixel, not as much as a stroke that blocks in the
        sky). ``tau`` is NaN when fewer than two strokes can be compared.
    """
    width_px = width_px or truth.canvas.image_px[0]
    if mode == "pixels":
        ids, order, area = pixel_true_order(extracted, truth, width_px, 8.0 if min_change is None else min_change)
        if len(ids) == 0:
            return {"tau": float("nan"), "tau_area": float("nan"), "strokes": 0, "pixels": 0}
        return {"tau": _tau(ids, order), "tau_area": weighted_tau(ids, order, area), "strokes": int(len(ids)), "pixels": int(area.sum())}
    if mode == "final":
        te = top_stroke_map(extracted, width_px, min_change or 0.0)
        tt = top_stroke_map(truth, width_px, min_change or 0.0)
        if te.shape != tt.shape:
            tt = cv2.resize(tt, te.shape[::-1], interpolation=cv2.INTER_NEAREST)
        ok = (te >= 0) & (tt >= 0)
        keys, vals = te[ok].astype(np.int64), tt[ok].astype(np.int64)
        if len(keys) == 0:
            return {"tau": float("nan"), "strokes": 0, "pixels": 0}
        ids, med = _median_by(keys, vals)
        return {"tau": _tau(ids, med), "strokes": int(len(ids)), "pixels": int(len(keys))}
    if mode != "match":
        raise ValueError(f"mode must be 'pixels', 'match' or 'final', not {mode!r}")
    mc = 8.0 if min_change is None else min_change
    shape_e, fe, ce = _footprints(extracted, width_px, mc)
    shape_t, ft, ct = _footprints(truth, width_px, mc)
    if shape_e != shape_t:
        raise ValueError(f"plans rasterise to different sizes at {width_px} px: {shape_e} and {shape_t}")
    overlap = (fe @ ft.T).tocoo()  # (extracted, true) shared pixels
    if overlap.nnz == 0:
        return {"tau": float("nan"), "strokes": 0, "pixels": 0}
    d2 = ((ce[overlap.row] - ct[overlap.col]) ** 2).sum(axis=1)
    ne = np.asarray(fe.sum(axis=1)).ravel()
    nt = np.asarray(ft.sum(axis=1)).ravel()
    jaccard = overlap.data / (ne[overlap.row] + nt[overlap.col] - overlap.data)
    score = jaccard * np.exp(-d2 / (2.0 * colour_sigma**2))
    order = np.lexsort((-score, overlap.row))  # best true stroke first for each extracted one
    rows, cols = overlap.row[order], overlap.col[order]
    first = np.r_[True, rows[1:] != rows[:-1]]
    ids, best = rows[first].astype(np.int64), cols[first].astype(np.int64)
    area = ne[ids]
    return {
        "tau": _tau(ids, best.astype(np.float64)),
        "tau_area": weighted_tau(ids, best, area),
        "strokes": int(len(ids)),
        "pixels": int(area.sum()),
    }


def frames_vs_plan_sheet(plan: StrokePlan, frames: np.ndarray, max_pairs: int = 12, tile_px: int = 160) -> np.ndarray:
    """Side-by-side contact sheet: process frames beside the plan rendered up to the same step.

    Args:
        plan: the extracted plan (step ``s`` reproduces ``frames[s + 1]``).
        frames: uint8 ``(T + 1, H, W, 3)``, ``frames[0]`` the blank canvas.
        max_pairs: most (frame, render) pairs shown; steps are evenly spaced, the last
            always included.
        tile_px: width of each tile, px.

    Returns:
        uint8 ``(H', W', 3)`` RGB sheet: pairs left to right, four pairs a row, each
        render captioned with its stroke count and PSNR against the frame.
    """
    from animatepainter.planner.sheets import contact_sheet

    frames = np.asarray(frames)
    n = len(frames) - 1
    pick = np.unique(np.rint(np.linspace(1, n, min(max_pairs, n))).astype(int))
    st = np.array([s.step for s in plan.strokes], np.int64)
    after = [int(np.searchsorted(st, t - 1, side="right")) for t in pick]
    h, w = frames.shape[1:3]
    tiles, labels = [], []
    for t, k, shot in zip(pick, after, render_progress(plan, after, width_px=w, region="image")):
        shot = _fit(shot, (w, h))
        tiles += [frames[t], shot]
        labels += [f"frame {t}", f"plan n={k} {psnr(shot, frames[t]):.1f}dB"]
    return contact_sheet(tiles, labels, cols=min(8, len(tiles)), tile_px=tile_px)
