"""Compiled kernels of the stroke fitter (numba): scoring candidate strokes and
painting them, over the pixels of each stroke's box.

Why by hand, and why numba: the fitter scores every candidate stroke (and its
shorter, wider and narrower variants) by the exact change of squared error it makes
with its best opaque colour. In NumPy that is a dozen temporaries of ``segments x
box pixels`` floats per candidate, and 80-90 % of the teacher's time; a compiled loop
over the box's pixels does the same arithmetic in one pass without temporaries, and
scores the candidates of a batch in parallel (``prange``), one candidate per thread.
Each candidate's sums are accumulated in a fixed pixel order in float64, so results
do not depend on the number of threads: plans are byte-identical for every ``--jobs``.

Coverage is the renderer's model (:mod:`animatepainter.planner.render`):
``alpha = clip(width / 2 + 0.5 - d, 0, 1)`` with ``d`` the distance from the pixel
centre to the polyline; paint is opaque.

Arrays (all C-contiguous):

* ``canvas``, ``target``: float32 ``(H, W, 3)`` RGB in [0, 1];
* ``weight``: float32 ``(H, W)``, the error's weight per pixel (0 = don't care);
* ``points``: float64 ``(n_points_total, 2)`` ``(x, y)`` px of all candidates' polylines,
  candidate ``k`` at rows ``pt_off[k]:pt_off[k + 1]`` (at least 2 points each);
* ``var``: float64 ``(n_variants_total, 3)`` rows ``(first_segment, last_segment_exclusive,
  width_px)``, candidate ``k``'s at rows ``var_off[k]:var_off[k + 1]``; the segment ranges
  are the whole stroke, prefixes ``(0, m)`` or suffixes ``(m, n_segments)``;
* ``palette``: float64 ``(P, 3)`` in [0, 1] (``P = 0``: any colour, rounded to 8 bits).
"""

from __future__ import annotations

import math
import os

import numpy as np

import numba
from numba import njit, prange

__all__ = ["polyline_box", "polyline_d2", "round_half_even", "score_candidates", "block_sums", "update_block_sums", "paint_polyline", "touched_near", "available_cores", "set_threads"]


def available_cores() -> int:
    """CPU cores this process may run on (its affinity), at least 1."""
    try:
        return max(len(os.sched_getaffinity(0)), 1)
    except AttributeError:  # pragma: no cover - not on Linux
        return max(os.cpu_count() or 1, 1)


def set_threads(n: int) -> int:
    """Use ``n`` threads in the kernels (at most the threads numba started with);
    returns the number used before."""
    old = numba.get_num_threads()
    numba.set_num_threads(max(1, min(int(n), numba.config.NUMBA_NUM_THREADS)))
    return old


@njit(cache=True, nogil=True)
def polyline_box(points: np.ndarray, a: int, b: int, pad: float, h: int, w: int):
    """Pixel box ``(y0, y1, x0, x1)`` (half-open, clipped to ``h x w``) of the points
    ``points[a:b]`` grown by ``pad`` px (as :func:`animatepainter.planner.render.stroke_bbox`
    with ``pad = width / 2 + 1``)."""
    x0 = math.inf
    x1 = -math.inf
    y0 = math.inf
    y1 = -math.inf
    for i in range(a, b):
        x0 = min(x0, points[i, 0])
        x1 = max(x1, points[i, 0])
        y0 = min(y0, points[i, 1])
        y1 = max(y1, points[i, 1])
    bx0 = max(int(math.floor(x0 - pad)), 0)
    bx1 = min(int(math.ceil(x1 + pad)) + 1, w)
    by0 = max(int(math.floor(y0 - pad)), 0)
    by1 = min(int(math.ceil(y1 + pad)) + 1, h)
    return by0, by1, bx0, bx1


@njit(cache=True, nogil=True)
def polyline_d2(points, a, b, px, py):
    """Least squared distance (float32, px^2) from point ``(px, py)`` to the polyline
    ``points[a:b]`` (a single point: a zero-length segment), as the renderer measures."""
    nseg = max(b - a - 1, 1)
    dmin = np.float32(np.inf)
    for s in range(nseg):
        i = a + s
        j = min(a + s + 1, b - 1)
        ax = np.float32(points[i, 0])
        ay = np.float32(points[i, 1])
        ux = np.float32(points[j, 0]) - ax
        uy = np.float32(points[j, 1]) - ay
        l2 = ux * ux + uy * uy
        dx = px - ax
        dy = py - ay
        t = np.float32(0.0)
        if l2 > 1e-12:
            t = (dx * ux + dy * uy) * (np.float32(1.0) / l2)
            if t < 0.0:
                t = np.float32(0.0)
            elif t > 1.0:
                t = np.float32(1.0)
        ex = dx - t * ux
        ey = dy - t * uy
        dd = ex * ex + ey * ey
        if dd < dmin:
            dmin = dd
    return dmin


@njit(cache=True, nogil=True)
def _seg_boxes(points, a, b, r):
    """Per segment of polyline ``points[a:b]`` (a single point: one zero-length
    segment): the box ``(x0, x1, y0, y1)`` of the pixel centres within ``r`` px of it."""
    nseg = max(b - a - 1, 1)
    out = np.empty((nseg, 4), np.float64)
    for s in range(nseg):
        i = a + s
        j = min(a + s + 1, b - 1)
        out[s, 0] = min(points[i, 0], points[j, 0]) - r
        out[s, 1] = max(points[i, 0], points[j, 0]) + r
        out[s, 2] = min(points[i, 1], points[j, 1]) - r
        out[s, 3] = max(points[i, 1], points[j, 1]) + r
    return out


@njit(cache=True, nogil=True)
def _row_span(sb, y, bx0, bx1):
    """Columns ``[x0, x1)`` of row ``y`` whose pixel centres may lie within reach of a
    segment (the union of the segments' boxes ``sb`` on that row), inside ``[bx0, bx1)``:
    a diagonal stroke's box is mostly empty, and the loops skip it."""
    py = y + 0.5
    lo = math.inf
    hi = -math.inf
    for s in range(sb.shape[0]):
        if sb[s, 2] <= py <= sb[s, 3]:
            lo = min(lo, sb[s, 0])
            hi = max(hi, sb[s, 1])
    if hi < lo:
        return bx0, bx0
    x0 = max(int(math.ceil(lo - 0.5)), bx0)
    x1 = min(int(math.floor(hi - 0.5)) + 1, bx1)
    return x0, max(x1, x0)


@njit(cache=True, nogil=True)
def _variant_table(var, va, vb):
    nv = vb - va
    lo = np.empty(nv, np.int64)
    hi = np.empty(nv, np.int64)
    wd = np.empty(nv, np.float64)
    wmax = 0.0
    for v in range(nv):
        lo[v] = int(var[va + v, 0])
        hi[v] = int(var[va + v, 1])
        wd[v] = var[va + v, 2]
        wmax = max(wmax, wd[v])
    return lo, hi, wd, wmax


@njit(cache=True, nogil=True)
def _seg_geometry(points, a, nseg):
    ax = np.empty(nseg, np.float32)
    ay = np.empty(nseg, np.float32)
    ux = np.empty(nseg, np.float32)
    uy = np.empty(nseg, np.float32)
    inv = np.empty(nseg, np.float32)
    for s in range(nseg):
        ax[s] = np.float32(points[a + s, 0])
        ay[s] = np.float32(points[a + s, 1])
        ux[s] = np.float32(points[a + s + 1, 0]) - ax[s]
        uy[s] = np.float32(points[a + s + 1, 1]) - ay[s]
        l2 = ux[s] * ux[s] + uy[s] * uy[s]
        inv[s] = np.float32(1.0) / l2 if l2 > 1e-12 else np.float32(0.0)
    return ax, ay, ux, uy, inv


@njit(cache=True, nogil=True)
def _seg_d2(px, py, ax, ay, ux, uy, inv, d2, sb):
    """Squared distances from ``(px, py)`` to each segment into ``d2`` (``inf`` for a
    segment whose box ``sb`` (:func:`_seg_boxes`) does not hold the point: farther
    than the reach the boxes were made with); returns the least."""
    dmin = np.float32(np.inf)
    for s in range(ax.shape[0]):
        if px < sb[s, 0] or px > sb[s, 1] or py < sb[s, 2] or py > sb[s, 3]:
            d2[s] = np.float32(np.inf)
            continue
        dx = px - ax[s]
        dy = py - ay[s]
        t = (dx * ux[s] + dy * uy[s]) * inv[s]
        if t < 0.0:
            t = np.float32(0.0)
        elif t > 1.0:
            t = np.float32(1.0)
        ex = dx - t * ux[s]
        ey = dy - t * uy[s]
        dd = ex * ex + ey * ey
        d2[s] = dd
        if dd < dmin:
            dmin = dd
    return dmin


@njit(cache=True, nogil=True)
def _range_mins(d2, pre, suf):
    nseg = d2.shape[0]
    m = np.float32(np.inf)
    for s in range(nseg):
        if d2[s] < m:
            m = d2[s]
        pre[s] = m
    m = np.float32(np.inf)
    for s in range(nseg - 1, -1, -1):
        if d2[s] < m:
            m = d2[s]
        suf[s] = m


@njit(cache=True, nogil=True)
def _pixel_terms(canvas, target, y, x, terms):
    """The error terms of pixel ``(y, x)`` into ``terms``: ``c`` (3), ``|c|^2``, ``e = c -
    target`` (3), ``e.c``."""
    c0 = np.float64(canvas[y, x, 0])
    c1 = np.float64(canvas[y, x, 1])
    c2 = np.float64(canvas[y, x, 2])
    e0 = c0 - np.float64(target[y, x, 0])
    e1 = c1 - np.float64(target[y, x, 1])
    e2 = c2 - np.float64(target[y, x, 2])
    terms[0] = c0
    terms[1] = c1
    terms[2] = c2
    terms[3] = c0 * c0 + c1 * c1 + c2 * c2
    terms[4] = e0
    terms[5] = e1
    terms[6] = e2
    terms[7] = e0 * c0 + e1 * c1 + e2 * c2


@njit(cache=True, nogil=True, inline="always")
def _add_pixel(acc, v, al, wt, terms):
    """Add a pixel of error ``terms`` at coverage ``al`` and weight ``wt`` to variant
    ``v``'s sums."""
    wa = al * wt
    waa = wa * al
    acc[v, 0] += waa
    acc[v, 1] += waa * terms[0]
    acc[v, 2] += waa * terms[1]
    acc[v, 3] += waa * terms[2]
    acc[v, 4] += waa * terms[3]
    acc[v, 5] += wa * terms[4]
    acc[v, 6] += wa * terms[5]
    acc[v, 7] += wa * terms[6]
    acc[v, 8] += wa * terms[7]


@njit(cache=True, nogil=True)
def _accumulate(canvas, target, weight, blocks, scale, points, a, b, lo, hi, wd, wmax):
    """Sums ``(V, 9)`` (q0, q1 x3, q2, e1 x3, e2) of each variant over the pixels it
    covers (with ``scale > 1``: from the ``scale x scale`` blocks' sums), and the box."""
    h, w = weight.shape
    nseg = b - a - 1
    nv = lo.shape[0]
    acc = np.zeros((nv, 9), np.float64)
    by0, by1, bx0, bx1 = polyline_box(points, a, b, wmax / 2.0 + 1.0, h, w)
    if by1 <= by0 or bx1 <= bx0:
        return acc, by0, by1, bx0, bx1
    ax, ay, ux, uy, inv = _seg_geometry(points, a, nseg)
    d2 = np.empty(nseg, np.float32)
    pre = np.empty(nseg, np.float32)  # min over segments 0..s
    suf = np.empty(nseg, np.float32)  # min over segments s..nseg-1
    terms = np.empty(8, np.float64)
    half = np.empty(nv, np.float32)  # coverage = half - distance
    half2 = np.empty(nv, np.float32)  # squared distance where coverage reaches 0
    for v in range(nv):
        half[v] = np.float32(wd[v] / 2.0 + 0.5)
        half2[v] = half[v] * half[v]
    reach2p = np.float32((wmax / 2.0 + 0.5) ** 2)
    if scale == 1:
        reach2 = reach2p
        sb = _seg_boxes(points, a, b, wmax / 2.0 + 0.5)
        for y in range(by0, by1):
            py = np.float32(y) + np.float32(0.5)
            xa, xb = _row_span(sb, y, bx0, bx1)
            for x in range(xa, xb):
                wt = weight[y, x]
                if wt == 0.0:
                    continue
                px = np.float32(x) + np.float32(0.5)
                if _seg_d2(px, py, ax, ay, ux, uy, inv, d2, sb) >= reach2:
                    continue
                _range_mins(d2, pre, suf)
                _pixel_terms(canvas, target, y, x, terms)
                for v in range(nv):
                    dv = pre[hi[v] - 1] if lo[v] == 0 else suf[lo[v]]
                    if dv >= half2[v]:
                        continue
                    al = half[v] - np.float32(math.sqrt(dv))
                    if al > 1.0:
                        al = np.float32(1.0)
                    _add_pixel(acc, v, np.float64(al), np.float64(wt), terms)
        return acc, by0, by1, bx0, bx1
    # blocks: per-block sums of w, w c, w |c|^2, w e, w e.c (:func:`block_sums`).
    # a block that a variant's stroke covers fully (coverage 1 at all its pixels) or not
    # at all adds its sums as they are; the pixels of the other blocks (a band along
    # each edge) are visited one by one, as at scale 1.
    hb, wbk = blocks.shape[0], blocks.shape[1]
    s = np.float32(scale)
    cy0 = by0 // scale
    cy1 = min((by1 + scale - 1) // scale, hb)
    cx0 = bx0 // scale
    cx1 = min((bx1 + scale - 1) // scale, wbk)
    rs = (scale - 1) * 0.70711 + 1e-3  # block centre to its farthest pixel centre, px
    reach = wmax / 2.0 + 0.5 + rs
    reach2 = np.float32(reach * reach)
    sb = _seg_boxes(points, a, b, reach)
    sbp = _seg_boxes(points, a, b, wmax / 2.0 + 0.5)  # pixels: the widest variant's reach
    mixed = np.zeros(nv, np.bool_)
    for cy in range(cy0, cy1):
        py = (np.float32(cy) + np.float32(0.5)) * s
        xa, xb = _row_span_scaled(sb, cy, cx0, cx1, scale)
        for cx in range(xa, xb):
            bw = blocks[cy, cx, 0]
            if bw == 0.0:
                continue
            px = (np.float32(cx) + np.float32(0.5)) * s
            if _seg_d2(px, py, ax, ay, ux, uy, inv, d2, sb) >= reach2:
                continue
            _range_mins(d2, pre, suf)
            any_mixed = False
            for v in range(nv):
                dc = math.sqrt(pre[hi[v] - 1] if lo[v] == 0 else suf[lo[v]])
                mixed[v] = False
                if dc - rs >= wd[v] / 2.0 + 0.5:
                    continue
                if dc + rs > wd[v] / 2.0 - 0.5:
                    mixed[v] = True
                    any_mixed = True
                    continue
                for q in range(9):
                    acc[v, q] += blocks[cy, cx, q]
            if not any_mixed:
                continue
            for y in range(cy * scale, min((cy + 1) * scale, h)):
                qy = np.float32(y) + np.float32(0.5)
                for x in range(cx * scale, min((cx + 1) * scale, w)):
                    wt = weight[y, x]
                    if wt == 0.0:
                        continue
                    qx = np.float32(x) + np.float32(0.5)
                    if _seg_d2(qx, qy, ax, ay, ux, uy, inv, d2, sbp) >= reach2p:
                        continue
                    # written out, as at scale 1 above: numba does not inline a call
                    # here, and the call costs ~1.6x on this hot loop (measured)
                    _range_mins(d2, pre, suf)
                    _pixel_terms(canvas, target, y, x, terms)
                    for v in range(nv):
                        if not mixed[v]:
                            continue
                        dv = pre[hi[v] - 1] if lo[v] == 0 else suf[lo[v]]
                        if dv >= half2[v]:
                            continue
                        al = half[v] - np.float32(math.sqrt(dv))
                        if al > 1.0:
                            al = np.float32(1.0)
                        _add_pixel(acc, v, np.float64(al), np.float64(wt), terms)
    return acc, by0, by1, bx0, bx1


@njit(cache=True, nogil=True)
def _row_span_scaled(sb, cy, cx0, cx1, scale):
    """:func:`_row_span` on a grid of ``scale``-px blocks (block centres)."""
    py = (cy + 0.5) * scale
    lo = math.inf
    hi = -math.inf
    for s in range(sb.shape[0]):
        if sb[s, 2] <= py <= sb[s, 3]:
            lo = min(lo, sb[s, 0])
            hi = max(hi, sb[s, 1])
    if hi < lo:
        return cx0, cx0
    x0 = max(int(math.ceil(lo / scale - 0.5)), cx0)
    x1 = min(int(math.floor(hi / scale - 0.5)) + 1, cx1)
    return x0, max(x1, x0)


@njit(cache=True, nogil=True)
def _best(acc, palette, rgb_out):
    """The variant and colour of largest gain from the sums ``acc``; returns
    ``(gain, variant)`` (``(-inf, -1)`` if none covers a weighted pixel)."""
    # gain(col) = -(2 col.E1 - 2 E2 + |col|^2 Q0 - 2 col.Q1 + Q2)
    best = -math.inf
    bv = -1
    npal = palette.shape[0]
    col = np.empty(3, np.float64)
    for v in range(acc.shape[0]):
        q0 = acc[v, 0]
        if q0 <= 1e-6:
            continue
        q2 = acc[v, 4]
        e2 = acc[v, 8]
        if npal == 0:
            for ch in range(3):
                # the optimal opaque colour (Q1 - E1) / Q0, rounded to 8 bits as painted
                opt = (acc[v, 1 + ch] - acc[v, 5 + ch]) / max(q0, 1e-12)
                col[ch] = min(max(round_half_even(opt * 255.0), 0.0), 255.0)
            g = 0.0
            for ch in range(3):
                cf = col[ch] / 255.0
                g += 2.0 * cf * acc[v, 5 + ch] + cf * cf * q0 - 2.0 * cf * acc[v, 1 + ch]
            g = -(g - 2.0 * e2 + q2)
            if g > best:
                best = g
                bv = v
                for ch in range(3):
                    rgb_out[ch] = int(col[ch])
        else:
            for p in range(npal):
                g = 0.0
                for ch in range(3):
                    cf = palette[p, ch]
                    g += 2.0 * cf * acc[v, 5 + ch] + cf * cf * q0 - 2.0 * cf * acc[v, 1 + ch]
                g = -(g - 2.0 * e2 + q2)
                if g > best:
                    best = g
                    bv = v
                    for ch in range(3):
                        rgb_out[ch] = int(math.floor(palette[p, ch] * 255.0 + 0.5))
    return best, bv


@njit(cache=True, nogil=True)
def _score_one(canvas, target, weight, blocks, scale, points, a, b, var, va, vb, palette, out_gain, out_rgb, out_var, out_box, k):
    """Score candidate ``k`` (points ``a:b``, variants ``va:vb``); write its best."""
    lo, hi, wd, wmax = _variant_table(var, va, vb)
    acc, by0, by1, bx0, bx1 = _accumulate(canvas, target, weight, blocks, scale, points, a, b, lo, hi, wd, wmax)
    out_box[k, 0] = by0
    out_box[k, 1] = by1
    out_box[k, 2] = bx0
    out_box[k, 3] = bx1
    g, v = _best(acc, palette, out_rgb[k])
    out_gain[k] = g
    out_var[k] = v


@njit(cache=True, nogil=True)
def round_half_even(x: float) -> float:
    """``x`` rounded to the nearest integer, ties to even (as ``np.rint``)."""
    f = math.floor(x)
    if x - f != 0.5:
        return math.floor(x + 0.5)
    return f if f % 2.0 == 0.0 else f + 1.0


@njit(cache=True, nogil=True)
def _score_range(canvas, target, weight, blocks, scale, points, pt_off, var, var_off, palette, out_gain, out_rgb, out_var, out_box, k0, k1):
    for k in range(k0, k1):
        _score_one(canvas, target, weight, blocks, scale, points, pt_off[k], pt_off[k + 1], var, var_off[k], var_off[k + 1], palette, out_gain, out_rgb, out_var, out_box, k)


@njit(cache=True, parallel=True, nogil=True)
def _score_all(canvas, target, weight, blocks, scale, points, pt_off, var, var_off, palette, out_gain, out_rgb, out_var, out_box):
    n = pt_off.shape[0] - 1
    for k in prange(n):
        _score_one(canvas, target, weight, blocks, scale, points, pt_off[k], pt_off[k + 1], var, var_off[k], var_off[k + 1], palette, out_gain, out_rgb, out_var, out_box, k)


#: an empty block map (exact, per-pixel scoring)
NO_BLOCKS = np.zeros((1, 1, 9), np.float64)


def score_candidates(
    canvas: np.ndarray,
    target: np.ndarray,
    weight: np.ndarray,
    points: np.ndarray,
    pt_off: np.ndarray,
    var: np.ndarray,
    var_off: np.ndarray,
    palette: np.ndarray,
    parallel: bool = True,
    blocks: np.ndarray | None = None,
    scale: int = 1,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Score every candidate's variants; see the module docstring for the arrays.

    With ``scale > 1`` the sums come from ``blocks`` (:func:`block_sums`, kept up to
    date with :func:`update_block_sums`), ``scale x scale`` px each: a block inside or
    outside the stroke adds its sums whole and only the blocks on its edges are
    visited pixel by pixel (the same sums as at scale 1 up to float rounding).

    Returns:
        ``(gain, rgb, variant, box)``: float64 ``(K,)`` the best variant's error
        reduction (sum of weighted squared RGB differences, [0, 1] scale; ``-inf``
        when no variant covers a weighted pixel), uint8 ``(K, 3)`` its colour, int64
        ``(K,)`` its index among the candidate's variants (-1: none), int64 ``(K, 4)``
        the box ``(y0, y1, x0, x1)`` of the widest variant.
    """
    n = len(pt_off) - 1
    gain = np.empty(n, np.float64)
    rgb = np.zeros((n, 3), np.uint8)
    vi = np.empty(n, np.int64)
    box = np.empty((n, 4), np.int64)
    bl = NO_BLOCKS if blocks is None or scale == 1 else blocks
    if parallel and n > 1:
        _score_all(canvas, target, weight, bl, int(scale), points, pt_off, var, var_off, palette, gain, rgb, vi, box)
    else:  # one thread (a rescored candidate): no thread start-up
        _score_range(canvas, target, weight, bl, int(scale), points, pt_off, var, var_off, palette, gain, rgb, vi, box, 0, n)
    return gain, rgb, vi, box


@njit(cache=True, nogil=True)
def _update_blocks(blocks, canvas, target, weight, scale, y0, y1, x0, x1):
    h, w = weight.shape
    cy0 = y0 // scale
    cy1 = min((y1 + scale - 1) // scale, blocks.shape[0])
    cx0 = x0 // scale
    cx1 = min((x1 + scale - 1) // scale, blocks.shape[1])
    for cy in range(cy0, cy1):
        for cx in range(cx0, cx1):
            for q in range(9):
                blocks[cy, cx, q] = 0.0
            for y in range(cy * scale, min((cy + 1) * scale, h)):
                for x in range(cx * scale, min((cx + 1) * scale, w)):
                    wt = np.float64(weight[y, x])
                    if wt == 0.0:
                        continue
                    c0 = np.float64(canvas[y, x, 0])
                    c1 = np.float64(canvas[y, x, 1])
                    c2 = np.float64(canvas[y, x, 2])
                    e0 = c0 - np.float64(target[y, x, 0])
                    e1 = c1 - np.float64(target[y, x, 1])
                    e2 = c2 - np.float64(target[y, x, 2])
                    blocks[cy, cx, 0] += wt
                    blocks[cy, cx, 1] += wt * c0
                    blocks[cy, cx, 2] += wt * c1
                    blocks[cy, cx, 3] += wt * c2
                    blocks[cy, cx, 4] += wt * (c0 * c0 + c1 * c1 + c2 * c2)
                    blocks[cy, cx, 5] += wt * e0
                    blocks[cy, cx, 6] += wt * e1
                    blocks[cy, cx, 7] += wt * e2
                    blocks[cy, cx, 8] += wt * (e0 * c0 + e1 * c1 + e2 * c2)


def block_sums(canvas: np.ndarray, target: np.ndarray, weight: np.ndarray, scale: int) -> np.ndarray:
    """Per-block sums, float64 ``(ceil(H / scale), ceil(W / scale), 9)``, of ``w``,
    ``w c`` (3), ``w |c|^2``, ``w e`` (3), ``w e.c`` with ``c`` the canvas, ``e = c -
    target`` and ``w`` the weight."""
    h, w = weight.shape
    blocks = np.zeros(((h + scale - 1) // scale, (w + scale - 1) // scale, 9), np.float64)
    _update_blocks(blocks, canvas, target, weight, int(scale), 0, h, 0, w)
    return blocks


def update_block_sums(blocks: np.ndarray, canvas: np.ndarray, target: np.ndarray, weight: np.ndarray, scale: int, box: tuple[int, int, int, int]) -> None:
    """Recompute the blocks of :func:`block_sums` that meet pixel box ``(y0, y1, x0, x1)``."""
    y0, y1, x0, x1 = (int(v) for v in box)
    _update_blocks(blocks, canvas, target, weight, int(scale), y0, y1, x0, x1)


@njit(cache=True, nogil=True)
def _paint(canvas, painted, err, touched, target, points, a, b, width, r, g, bl):
    h, w = painted.shape
    by0, by1, bx0, bx1 = polyline_box(points, a, b, width / 2.0 + 1.0, h, w)
    half = np.float32(width / 2.0 + 0.5)
    col = (np.float32(r / 255.0), np.float32(g / 255.0), np.float32(bl / 255.0))
    sb = _seg_boxes(points, a, b, width / 2.0 + 0.5)
    for y in range(by0, by1):
        py = np.float32(y) + np.float32(0.5)
        xa, xb = _row_span(sb, y, bx0, bx1)
        for x in range(xa, xb):
            px = np.float32(x) + np.float32(0.5)
            dmin = polyline_d2(points, a, b, px, py)
            al = half - np.float32(math.sqrt(dmin))
            if al <= 0.0:
                continue
            if al > 1.0:
                al = np.float32(1.0)
            if al > 0.5:
                painted[y, x] = True
            touched[y, x] = True
            e = np.float32(0.0)
            for ch in range(3):
                canvas[y, x, ch] += al * (col[ch] - canvas[y, x, ch])
                d = canvas[y, x, ch] - target[y, x, ch]
                e += d * d
            err[y, x] = e


def paint_polyline(
    canvas: np.ndarray,
    points: np.ndarray,
    width: float,
    rgb: np.ndarray,
    painted: np.ndarray,
    err: np.ndarray,
    touched: np.ndarray,
    target: np.ndarray,
) -> None:
    """Paint one opaque stroke onto ``canvas`` in place (the renderer's coverage) and
    keep the fitter's maps up to date.

    Args:
        canvas: float32 ``(H, W, 3)`` in [0, 1].
        points: float64 ``(n, 2)`` ``(x, y)`` px, ``n >= 1``.
        width: stroke width, px.
        rgb: uint8 ``(3,)``.
        painted: bool ``(H, W)``, set where the coverage exceeds 0.5.
        err: float32 ``(H, W)``, ``|canvas - target|^2`` per pixel, updated where painted.
        touched: bool ``(H, W)``, set wherever the stroke has any coverage.
        target: float32 ``(H, W, 3)``, the picture ``err`` measures against.
    """
    pts = np.ascontiguousarray(points, np.float64)
    _paint(canvas, painted, err, touched, target, pts, 0, len(pts), float(width), int(rgb[0]), int(rgb[1]), int(rgb[2]))


@njit(cache=True, nogil=True)
def _touched_near(touched, points, a, b, r):
    h, w = touched.shape
    by0, by1, bx0, bx1 = polyline_box(points, a, b, r + 0.5, h, w)
    sb = _seg_boxes(points, a, b, r)
    for y in range(by0, by1):
        xa, xb = _row_span(sb, y, bx0, bx1)
        for x in range(xa, xb):
            if touched[y, x]:
                return True
    return False


def touched_near(touched: np.ndarray, points: np.ndarray, reach: float) -> bool:
    """True when a pixel of bool ``touched`` ``(H, W)`` lies near polyline ``points``
    (float64 ``(n, 2)`` px): inside the union of its segments' boxes grown by
    ``reach`` px (conservative: every pixel a stroke of width ``2 * reach - 1``
    covers is tested)."""
    pts = np.ascontiguousarray(points, np.float64)
    return bool(_touched_near(touched, pts, 0, len(pts), float(reach)))
