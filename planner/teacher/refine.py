"""Refinement after the greedy fit: every stroke's control points, width and colour
are adjusted against the finished picture, in the painter's order.

The greedy fitter places each stroke against the canvas *as it was then*; strokes
painted later cover parts of it, and its colour and edges were never revisited. The
refinement is block coordinate descent on the whole plan's squared error, one stroke
at a time, keeping the order (so layers, levels and the overlap order stay as they
are):

* a backward pass over the strokes records, for each stroke ``i`` on a patch around
  it, the transmittance ``T_i = prod_{j > i} (1 - alpha_j)`` and the colour ``R_i``
  that the strokes after it put on top; then the final picture on that patch is
  exactly ``F = (C_{i-1} (1 - alpha_i) + col_i alpha_i) T_i + R_i``, with ``C_{i-1}`` the
  canvas before stroke ``i``;
* a forward pass, stroke by stroke, tries small moves of the stroke (the whole stroke
  and each end moved by ``step`` px along x and y, the width a quarter octave narrower
  and wider)
  and keeps the one of least error ``|F - target|^2`` with, for each, its best opaque
  colour in closed form (the same quadratic as the fitter's scoring, weighted by
  ``T_i``); ``C`` is then painted with the chosen stroke and the pass goes on. ``T_i`` and
  ``R_i`` only depend on later strokes, which this pass has not changed yet, so every
  step lowers the plan's true error.

Passes repeat with a halved step. Why by hand (numba), not a differentiable renderer
in torch: an autograd renderer must composite thousands of strokes in order for every
gradient step (seconds each at 256 px on two cores), while this update is exact for
one stroke given the others, needs no learning rate, and costs about as much as one
render per pass.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from numba import njit

from animatepainter.planner.process import allowed_paints, clamp_colour
from animatepainter.planner.teacher.kernels import polyline_box, polyline_d2, round_half_even

log = logging.getLogger(__name__)

__all__ = ["RefineSettings", "refine_strokes"]


@dataclass(frozen=True)
class RefineSettings:
    """Settings of the refinement.

    Attributes:
        passes: forward passes (each after a fresh backward pass), 0 = off.
        step_frac: first move, as a fraction of each stroke's width (the step is
            halved every pass), at least ``min_step`` px.
        min_step: smallest move, px.
        width_ratio: tried widths, ``width / width_ratio`` and ``width * width_ratio``
            (a quarter octave: widths stay on the fitter's ladder, so a plan keeps a
            small set of brushes).
        guard_visible: strokes showing less than this share of themselves are
            fragile: no move covers so much of what shows of them that they show
            less than ``guard_min`` (so the refinement does not hide strokes; 0 =
            no guard).
        guard_min: the share a fragile stroke keeps showing.
        move: False: only colours change (a stroke's coverage, so every stroke's
            visibility, stays as it is).
    """

    passes: int = 3
    step_frac: float = 0.2
    min_step: float = 0.25
    width_ratio: float = 2.0**0.25
    guard_visible: float = 0.0
    guard_min: float = 0.05
    move: bool = True


@njit(cache=True, nogil=True)
def _alpha(pts, width, y0, y1, x0, x1, out):
    """Coverage of polyline ``pts`` (float64 ``(n, 2)``) of ``width`` px over the box
    into ``out`` (float32 ``(y1 - y0, x1 - x0)``), the renderer's model."""
    half = np.float32(width / 2.0 + 0.5)
    for y in range(y0, y1):
        py = np.float32(y) + np.float32(0.5)
        for x in range(x0, x1):
            al = half - np.float32(math.sqrt(polyline_d2(pts, 0, pts.shape[0], np.float32(x) + np.float32(0.5), py)))
            out[y - y0, x - x0] = min(max(al, np.float32(0.0)), np.float32(1.0))


@njit(cache=True, nogil=True)
def _composite(canvas, al, y0, x0, rgb):
    """Paint coverage ``al`` (at ``(y0, x0)``) of colour ``rgb`` (0..255) onto ``canvas``."""
    for y in range(al.shape[0]):
        for x in range(al.shape[1]):
            a = al[y, x]
            if a <= 0.0:
                continue
            for ch in range(3):
                canvas[y0 + y, x0 + x, ch] += a * (np.float32(rgb[ch] / 255.0) - canvas[y0 + y, x0 + x, ch])


@njit(cache=True, nogil=True)
def _backward(h, w, points, pt_off, widths, rgbs, boxes, px_off, t_store, r_store):
    """Record ``T_i`` and ``R_i`` on each stroke's patch, last stroke first."""
    tr = np.ones((h, w), np.float32)
    rr = np.zeros((h, w, 3), np.float32)
    n = widths.shape[0]
    for i in range(n - 1, -1, -1):
        y0, y1, x0, x1 = boxes[i, 0], boxes[i, 1], boxes[i, 2], boxes[i, 3]
        pw = x1 - x0
        base = px_off[i]
        for y in range(y0, y1):
            for x in range(x0, x1):
                q = base + (y - y0) * pw + (x - x0)
                t_store[q] = tr[y, x]
                for ch in range(3):
                    r_store[q, ch] = rr[y, x, ch]
        al = np.empty((y1 - y0, pw), np.float32)
        _alpha(points[pt_off[i] : pt_off[i + 1]], widths[i], y0, y1, x0, x1, al)
        for y in range(y0, y1):
            for x in range(x0, x1):
                a = al[y - y0, x - x0]
                if a <= 0.0:
                    continue
                for ch in range(3):
                    rr[y, x, ch] += np.float32(rgbs[i, ch] / 255.0) * a * tr[y, x]
                tr[y, x] *= np.float32(1.0) - a


@njit(cache=True, nogil=True)
def _round8(v):
    """A colour in [0, 1] to 0..255, rounded as the fitter does."""
    return min(max(round_half_even(v * 255.0), 0.0), 255.0)


@njit(cache=True, nogil=True)
def _loss(canvas, target, al, y0, y1, x0, x1, base, pw, t_store, r_store, palette, col_out, cur, tol, ok):
    """Least error ``sum |F - target|^2`` over the patch for coverage ``al``, with the
    best colour (into ``col_out``, 0..255; the current colour ``cur`` when the stroke
    shows nowhere). With ``tol >= 0`` the colour stays honest: within ``tol``
    (CIEDE2000) of the picture's colour under the stroke's coverage, or, with a
    palette, one of the paints nearest it (``ok``: bool ``(P,)`` scratch)."""
    suu = 0.0
    sur0 = 0.0
    sur1 = 0.0
    sur2 = 0.0
    srr = 0.0
    sa = 0.0
    ref = np.zeros(3, np.float64)
    for y in range(y0, y1):
        for x in range(x0, x1):
            q = base + (y - y0) * pw + (x - x0)
            t = np.float64(t_store[q])
            a = np.float64(al[y - y0, x - x0])
            if tol >= 0.0 and a > 0.0:
                sa += a
                ref[0] += a * np.float64(target[y, x, 0])
                ref[1] += a * np.float64(target[y, x, 1])
                ref[2] += a * np.float64(target[y, x, 2])
            u = a * t
            r0 = np.float64(canvas[y, x, 0]) * (1.0 - a) * t + np.float64(r_store[q, 0]) - np.float64(target[y, x, 0])
            r1 = np.float64(canvas[y, x, 1]) * (1.0 - a) * t + np.float64(r_store[q, 1]) - np.float64(target[y, x, 1])
            r2 = np.float64(canvas[y, x, 2]) * (1.0 - a) * t + np.float64(r_store[q, 2]) - np.float64(target[y, x, 2])
            suu += u * u
            sur0 += u * r0
            sur1 += u * r1
            sur2 += u * r2
            srr += r0 * r0 + r1 * r1 + r2 * r2
    if suu <= 1e-12:
        col_out[0] = cur[0]
        col_out[1] = cur[1]
        col_out[2] = cur[2]
        return srr
    honest = tol >= 0.0 and sa > 0.0
    if honest:
        ref[0] /= sa
        ref[1] /= sa
        ref[2] /= sa
    best = math.inf
    if palette.shape[0] == 0:
        if honest:
            opt = np.empty(3, np.float64)
            opt[0] = -sur0 / suu
            opt[1] = -sur1 / suu
            opt[2] = -sur2 / suu
            clamp_colour(opt, ref, tol, col_out)
            c0 = col_out[0] / 255.0
            c1 = col_out[1] / 255.0
            c2 = col_out[2] / 255.0
        else:
            c0 = _round8(-sur0 / suu) / 255.0
            c1 = _round8(-sur1 / suu) / 255.0
            c2 = _round8(-sur2 / suu) / 255.0
            col_out[0] = c0 * 255.0
            col_out[1] = c1 * 255.0
            col_out[2] = c2 * 255.0
        return srr + 2.0 * (c0 * sur0 + c1 * sur1 + c2 * sur2) + (c0 * c0 + c1 * c1 + c2 * c2) * suu
    if honest:
        allowed_paints(palette, ref, tol, ok)
    for p in range(palette.shape[0]):
        if honest and not ok[p]:
            continue
        c0 = palette[p, 0]
        c1 = palette[p, 1]
        c2 = palette[p, 2]
        v = srr + 2.0 * (c0 * sur0 + c1 * sur1 + c2 * sur2) + (c0 * c0 + c1 * c1 + c2 * c2) * suu
        if v < best:
            best = v
            col_out[0] = math.floor(c0 * 255.0 + 0.5)
            col_out[1] = math.floor(c1 * 255.0 + 0.5)
            col_out[2] = math.floor(c2 * 255.0 + 0.5)
    return best


@njit(cache=True, nogil=True)
def _forward(canvas, target, points, pt_off, widths, rgbs, boxes, px_off, t_store, r_store, palette, steps, width_ratio, fixed_width, tol, ladder, guard, gc, slack, guard_fragile, active, move):
    """One forward pass: each stroke takes its best small move; ``canvas`` (the blank
    canvas on entry) ends as the refined picture. Returns the number of strokes moved.

    ``tol``: the honest-colour bound (CIEDE2000; < 0: off). ``ladder``: float64 the
    brush set's widths, ascending (empty: any width, moves by ``width_ratio``).
    ``guard``, ``gc``, ``slack`` (:func:`fragile_guard`; ``guard`` of shape ``(0, 0)``:
    no guard): at each pixel the fragile stroke that shows most there (-1: none) and
    how much it shows there, and per stroke how much more of it may be covered before
    it shows less than the pruning threshold. A move of a later stroke that would take
    more than that from a fragile stroke under it is not taken, nor one that leaves
    the stroke itself showing less than ``guard_fragile`` of itself (and less than
    before): the refinement does not hide strokes. ``active``: bool ``(n,)``, the
    strokes that may move (empty: all); the others are painted as they are.
    ``move``: False: colours only (no stroke covers more or less than before)."""
    h, w = canvas.shape[0], canvas.shape[1]
    n = widths.shape[0]
    moved = 0
    paint_ok = np.zeros(palette.shape[0], np.bool_)
    col = np.empty(3, np.float64)
    best_col = np.empty(3, np.float64)
    guarded = guard.shape[0] == h and guard.shape[1] == w
    take = np.zeros(n if guarded else 0, np.float64)  # per fragile stroke, this move
    hit = np.empty(n if guarded else 0, np.int64)  # the fragile strokes it touches
    best_take = np.empty(n if guarded else 0, np.float64)
    best_hit = np.empty(n if guarded else 0, np.int64)
    for i in range(n):
        y0, y1, x0, x1 = boxes[i, 0], boxes[i, 1], boxes[i, 2], boxes[i, 3]
        pw = x1 - x0
        base = px_off[i]
        a = pt_off[i]
        b = pt_off[i + 1]
        pts = points[a:b].copy()
        npt = b - a
        al = np.empty((y1 - y0, pw), np.float32)
        if active.shape[0] > 0 and not active[i]:
            _alpha(pts, widths[i], y0, y1, x0, x1, al)
            _composite(canvas, al, y0, x0, rgbs[i])
            continue
        best_al = np.empty((y1 - y0, pw), np.float32)
        wd0 = widths[i]
        st = steps[i]
        best_pts = pts.copy()
        best_w = wd0
        _alpha(pts, wd0, y0, y1, x0, x1, al)
        cur = rgbs[i].astype(np.float64)
        best = _loss(canvas, target, al, y0, y1, x0, x1, base, pw, t_store, r_store, palette, col, cur, tol, paint_ok)
        best_col[:] = col
        best_al[:, :] = al
        al0 = al.copy()
        own0 = _shown(al, y0, y1, x0, x1, base, pw, t_store) if guarded else 1.0
        n_best = 0
        # candidate moves: 0..3 the whole stroke, 4..7 its first point, 8..11 its
        # last point (+-x, +-y), 12..13 narrower / wider
        for m in range(14 if move else 0):
            cand = pts.copy()
            wd = wd0
            if m < 12:
                dx = st if m % 4 == 0 else (-st if m % 4 == 1 else 0.0)
                dy = st if m % 4 == 2 else (-st if m % 4 == 3 else 0.0)
                if m < 4:
                    for k in range(npt):
                        cand[k, 0] += dx
                        cand[k, 1] += dy
                elif m < 8:
                    cand[0, 0] += dx
                    cand[0, 1] += dy
                else:
                    cand[npt - 1, 0] += dx
                    cand[npt - 1, 1] += dy
            else:
                if fixed_width:
                    continue
                if ladder.shape[0] > 0:
                    # the next brush of the set, narrower or wider
                    j = np.searchsorted(ladder, wd0 - 1e-9)
                    if m == 12:
                        if j == 0:
                            continue
                        wd = ladder[j - 1]
                    else:
                        jj = j + 1 if j < ladder.shape[0] and abs(ladder[j] - wd0) <= 1e-9 else j
                        if jj >= ladder.shape[0]:
                            continue
                        wd = ladder[jj]
                else:
                    wd = wd0 / width_ratio if m == 12 else wd0 * width_ratio
            # the candidate must stay inside the patch the backward pass recorded
            cy0, cy1, cx0, cx1 = polyline_box(cand, 0, npt, wd / 2.0 + 1.0, h, w)
            if cy0 < y0 or cy1 > y1 or cx0 < x0 or cx1 > x1:
                continue
            ok = True  # points stay on the picture, as the fitter's do
            for k in range(npt):
                if cand[k, 0] < 0.0 or cand[k, 0] > w or cand[k, 1] < 0.0 or cand[k, 1] > h:
                    ok = False
            if not ok:
                continue
            _alpha(cand, wd, y0, y1, x0, x1, al)
            nh = 0
            if guarded:
                # what the move takes from what shows of each fragile stroke under it
                # (first order: its share at the pixel times the added coverage)
                for y in range(y0, y1):
                    for x in range(x0, x1):
                        gi = guard[y, x]
                        da = al[y - y0, x - x0] - al0[y - y0, x - x0]
                        if gi >= 0 and gi < i and da > 0.0:
                            if take[gi] == 0.0:
                                hit[nh] = gi
                                nh += 1
                            take[gi] += gc[y, x] * da
                bad = False
                for q in range(nh):
                    if take[hit[q]] > slack[hit[q]]:
                        bad = True
                if not bad:
                    # nor one that hides the stroke itself under those painted after it
                    own = _shown(al, y0, y1, x0, x1, base, pw, t_store)
                    bad = own < own0 and own < guard_fragile
                if bad:
                    for q in range(nh):
                        take[hit[q]] = 0.0
                    continue
            v = _loss(canvas, target, al, y0, y1, x0, x1, base, pw, t_store, r_store, palette, col, cur, tol, paint_ok)
            if v < best - 1e-12:
                best = v
                best_pts[:, :] = cand
                best_w = wd
                best_col[:] = col
                best_al[:, :] = al
                n_best = nh
                for q in range(nh):
                    best_hit[q] = hit[q]
                    best_take[q] = take[hit[q]]
            for q in range(nh):
                take[hit[q]] = 0.0
        for q in range(n_best):
            slack[best_hit[q]] -= best_take[q]
        if best_w != wd0 or np.any(best_pts != pts):
            moved += 1
        points[a:b] = best_pts
        widths[i] = best_w
        for ch in range(3):
            rgbs[i, ch] = int(best_col[ch])
        _composite(canvas, best_al, y0, x0, rgbs[i])
    return moved


@njit(cache=True, nogil=True)
def _shown(al, y0, y1, x0, x1, base, pw, t_store):
    """Share of coverage ``al`` (on the patch at ``base``) that shows in the end."""
    sa = 0.0
    sv = 0.0
    for y in range(y0, y1):
        for x in range(x0, x1):
            a = al[y - y0, x - x0]
            if a > 0.0:
                sa += a
                sv += a * t_store[base + (y - y0) * pw + (x - x0)]
    return sv / sa if sa > 0.0 else 0.0


#: no guard (see :func:`_forward`)
NO_GUARD = np.zeros((0, 0), np.int64)


@njit(cache=True)
def _guard(h, w, points, pt_off, widths, fragile_below, min_visible, guard, gc, slack):
    """Backward over the strokes: for each stroke showing less than ``fragile_below``
    of itself, ``slack`` = how much of what shows of it may still be covered before
    it shows less than ``min_visible`` (coverage px); ``guard[y, x]`` = the fragile
    stroke that shows most at the pixel, ``gc[y, x]`` = how much (coverage times the
    transmittance of what is painted after it)."""
    tr = np.ones((h, w), np.float32)
    n = widths.shape[0]
    for i in range(n - 1, -1, -1):
        a = pt_off[i]
        b = pt_off[i + 1]
        y0, y1, x0, x1 = polyline_box(points, a, b, widths[i] / 2.0 + 1.0, h, w)
        al = np.empty((y1 - y0, x1 - x0), np.float32)
        _alpha(points[a:b], widths[i], y0, y1, x0, x1, al)
        sa = 0.0
        sv = 0.0
        for y in range(y0, y1):
            for x in range(x0, x1):
                sa += al[y - y0, x - x0]
                sv += al[y - y0, x - x0] * tr[y, x]
        fragile = sa > 0.0 and sv < fragile_below * sa
        slack[i] = max(sv - min_visible * sa, 0.0) if fragile else math.inf
        for y in range(y0, y1):
            for x in range(x0, x1):
                c = al[y - y0, x - x0]
                if c <= 0.0:
                    continue
                v = c * tr[y, x]
                if fragile and v > gc[y, x]:
                    guard[y, x] = i
                    gc[y, x] = v
                tr[y, x] *= np.float32(1.0) - c


def fragile_guard(h: int, w: int, points: np.ndarray, pt_off: np.ndarray, widths: np.ndarray, fragile_below: float, min_visible: float = 0.05) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The refinement's guard (see :func:`_guard`): ``(guard int64 (h, w), share
    float32 (h, w), slack float64 (n,))``."""
    guard = np.full((h, w), -1, np.int64)
    gc = np.zeros((h, w), np.float32)
    slack = np.zeros(len(widths), np.float64)
    _guard(h, w, points, pt_off, widths, float(fragile_below), float(min_visible), guard, gc, slack)
    return guard, gc, slack


def refine_strokes(
    strokes: Sequence,
    target: np.ndarray,
    background: Sequence[float],
    settings: RefineSettings = RefineSettings(),
    palette: np.ndarray | None = None,
    fixed_widths: bool = False,
    progress: Callable[[int], None] | None = None,
    base: np.ndarray | None = None,
    colour_tolerance: float | None = None,
    brush_px: Sequence[float] | None = None,
    active: np.ndarray | None = None,
) -> tuple[list, np.ndarray]:
    """Refine fitted strokes in place of their order (see the module docstring).

    Args:
        strokes: :class:`~.sbr.FittedStroke` in painting order (``points`` px float64
            ``(n, 2)``, ``width`` px, ``rgb`` uint8 ``(3,)``); new objects are returned,
            the inputs are not changed.
        target: float32 ``(H, W, 3)`` RGB in [0, 1].
        background: canvas colour, RGB in [0, 1].
        settings: passes and move sizes.
        palette: the only colours allowed, uint8 ``(P, 3)`` (``None``: any colour).
        fixed_widths: keep widths (a machine's brushes).
        progress: called with 1 after each pass.
        base: float32 ``(H, W, 3)`` in [0, 1]: what is on the canvas before the first
            stroke (replanning: strokes already painted); default the blank
            ``background``.
        colour_tolerance: keep every colour honest (CIEDE2000 bound from the
            picture's colour under the stroke, see :mod:`animatepainter.planner.process`);
            ``None``: any colour.
        brush_px: a brush set (px): width moves go to the next brush of the set
            instead of by ``settings.width_ratio``.
        active: bool ``(n,)``: only these strokes move (``None``: all), e.g. the
            strokes around one that was dropped.

    Returns:
        ``(strokes, canvas)``: the refined strokes (same order, layers and levels) and
        the float32 ``(H, W, 3)`` canvas they paint.
    """
    from dataclasses import replace

    h, w = target.shape[:2]
    n = len(strokes)
    bg = np.asarray(background, np.float32).reshape(1, 1, 3)
    if base is not None:
        bg = np.ascontiguousarray(base, np.float32).reshape(h, w, 3)
    canvas = np.ascontiguousarray(np.broadcast_to(bg, (h, w, 3)), np.float32).copy()
    if n == 0 or settings.passes <= 0:
        return list(strokes), canvas
    target = np.ascontiguousarray(target, np.float32)
    pt_off = np.zeros(n + 1, np.int64)
    pt_off[1:] = np.cumsum([len(s.points) for s in strokes])
    points = np.ascontiguousarray(np.concatenate([np.asarray(s.points, np.float64).reshape(-1, 2) for s in strokes]), np.float64)
    widths = np.array([float(s.width) for s in strokes], np.float64)
    rgbs = np.array([np.asarray(s.rgb, np.int64) for s in strokes], np.int64).reshape(n, 3)
    pal = np.zeros((0, 3), np.float64) if palette is None else np.asarray(palette, np.float64).reshape(-1, 3) / 255.0
    tol = -1.0 if colour_tolerance is None else float(colour_tolerance)
    ladder = np.zeros(0, np.float64) if not brush_px else np.array(sorted(float(b) for b in brush_px), np.float64)
    act = np.zeros(0, np.bool_) if active is None else np.asarray(active, np.bool_).reshape(n)
    for p in range(settings.passes):
        steps = np.maximum(widths * settings.step_frac / (2**p), settings.min_step)
        if len(ladder):
            # the next brush up the set (or the stroke's own width at the top)
            up = ladder[np.minimum(np.searchsorted(ladder, widths + 1e-9), len(ladder) - 1)]
            reach = np.maximum(up, widths) / 2.0 + 1.0 + steps
        else:
            reach = widths * settings.width_ratio / 2.0 + 1.0 + steps
        boxes = np.array([polyline_box(points, pt_off[i], pt_off[i + 1], reach[i], h, w) for i in range(n)], np.int64).reshape(n, 4)
        areas = (boxes[:, 1] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 2])
        px_off = np.zeros(n + 1, np.int64)
        px_off[1:] = np.cumsum(areas)
        t_store = np.empty(int(px_off[-1]), np.float32)
        r_store = np.empty((int(px_off[-1]), 3), np.float32)
        _backward(h, w, points, pt_off, widths, rgbs, boxes, px_off, t_store, r_store)
        canvas[:] = bg
        if settings.guard_visible > 0:
            guard, gc, slack = fragile_guard(h, w, points, pt_off, widths, settings.guard_visible, settings.guard_min)
        else:
            guard, gc, slack = NO_GUARD, np.zeros((0, 0), np.float32), np.zeros(n, np.float64)
        moved = _forward(canvas, target, points, pt_off, widths, rgbs, boxes, px_off, t_store, r_store, pal, steps, settings.width_ratio, fixed_widths, tol, ladder, guard, gc, slack, float(settings.guard_min), act, bool(settings.move))
        log.debug("refinement pass %d: %d of %d strokes moved", p + 1, moved, n)
        if progress is not None:
            progress(1)
    out = []
    for i, s in enumerate(strokes):
        out.append(replace(s, points=points[pt_off[i] : pt_off[i + 1]].copy(), width=float(widths[i]), rgb=rgbs[i].astype(np.uint8)))
    return out, canvas
