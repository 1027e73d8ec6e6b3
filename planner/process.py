"""The process, judged as a painter would: is each stroke's colour one a painter would
mix for the place it goes, does each stroke show in the end, and is each step's canvas
a plausible painting.

Definitions (shared by both engines, ``report.json`` and ``bench/bench_process.py``):

*reference colour* of a stroke
    the picture's mean colour under the stroke's whole footprint, weighted by the
    stroke's coverage (the renderer's model, :mod:`animatepainter.planner.render`):
    ``ref = sum(alpha * picture) / sum(alpha)``. It is what the stroke's own scale sees:
    a wide stroke's reference is a broad average, a fine one's a local colour.
*colour error* of a stroke
    CIEDE2000 between the stroke's colour and its reference colour (both sRGB, D65).
    An *honest* stroke is within a bound of it (``PaintSettings.colour_tolerance``).
*visible fraction* of a stroke
    how much of its coverage shows in the finished painting:
    ``sum(alpha_i * T_i) / sum(alpha_i)`` with ``T_i = prod_{j > i} (1 - alpha_j)`` the
    transmittance of everything painted after it. A stroke under :data:`MIN_VISIBLE`
    is *hidden*: a stroke the painting would not miss.
*step plausibility*
    each step's canvas, on the pixels painted so far, against the picture blurred to
    that step's brush scale (Gaussian, sigma = half the step's median stroke width):
    PSNR in dB, with the long side at most 512 px. A coarse step is judged against a
    coarse picture, as a painter's block-in would be.

The colour conversions and CIEDE2000 are hand-written in numba because the fitter and
the refinement evaluate them inside their compiled loops (thousands of candidates per
batch); they are tested against colour-science, which the metrics here also agree with.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np
from numba import njit

from animatepainter.planner.colors import delta_e2000, srgb_to_lab  # re-exported: the package's one CIELAB
from animatepainter.planner.errors import SettingsError
from animatepainter.planner.teacher.kernels import polyline_box, polyline_d2

if TYPE_CHECKING:  # pragma: no cover
    from animatepainter.planner.plan import StrokePlan

__all__ = [
    "MIN_VISIBLE",
    "DEFAULT_COLOUR_TOLERANCE",
    "check_colour_tolerance",
    "srgb_to_lab",
    "delta_e2000",
    "honest_colour",
    "honest_paints",
    "pack_strokes",
    "footprint_means",
    "visible_fractions",
    "visible_after_pruning",
    "stroke_colour_errors",
    "process_figures",
    "enforce_honesty",
    "step_plausibility",
    "budget_note",
    "process_report",
]

#: a stroke with less than this share of its coverage visible in the end is hidden
MIN_VISIBLE = 0.05
#: default bound of a stroke's colour error (CIEDE2000): above 10 a viewer sees a
#: different colour, not a shade of the same one (Sharma 2005: 1-2 is just noticeable)
DEFAULT_COLOUR_TOLERANCE = 10.0


def check_colour_tolerance(tol: float | None, field: str = "colour_tolerance") -> None:
    """Raise :class:`SettingsError` unless ``tol`` is ``None`` (off) or a finite bound of
    at least 1 CIEDE2000 (8-bit colours cannot promise less: rounding alone moves a
    colour by up to about 0.5)."""
    if tol is None:
        return
    if isinstance(tol, bool) or not isinstance(tol, (int, float, np.floating, np.integer)) or not np.isfinite(tol) or not 1.0 <= float(tol) <= 100.0:
        raise SettingsError(f"colour_tolerance must be a CIEDE2000 bound between 1 and 100 (or off), got {tol!r}", field)


# -- colour -------------------------------------------------------------------------
@njit(cache=True, nogil=True)
def _lin(c):
    return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4


@njit(cache=True, nogil=True)
def _f(t):
    # scikit-image's constants (0.008856, 7.787), not the exact CIE 216/24389 and
    # 24389/27 * 1/116: these compiled copies must give the very numbers of the package's
    # one CIELAB helper (:func:`animatepainter.planner.colors.srgb_to_lab`)
    return t ** (1.0 / 3.0) if t > 0.008856 else 7.787 * t + 16.0 / 116.0


@njit(cache=True, nogil=True)
def lab_of(r, g, b):
    """CIELAB ``(L, a, b)`` (D65, 2 degrees) of an sRGB colour with channels in [0, 1]:
    a compiled copy of :func:`animatepainter.planner.colors.srgb_to_lab` (scikit-image's
    conversion, the same matrix, white and constants) for the fitter's loops."""
    rl = _lin(r)
    gl = _lin(g)
    bl = _lin(b)
    x = 0.412453 * rl + 0.357580 * gl + 0.180423 * bl
    y = 0.212671 * rl + 0.715160 * gl + 0.072169 * bl
    z = 0.019334 * rl + 0.119193 * gl + 0.950227 * bl
    fx = _f(x / 0.95047)
    fy = _f(y)
    fz = _f(z / 1.08883)
    return 116.0 * fy - 16.0, 500.0 * (fx - fy), 200.0 * (fy - fz)


@njit(cache=True, nogil=True)
def de2000(l1, a1, b1, l2, a2, b2):
    """CIEDE2000 colour difference of two CIELAB colours (kL = kC = kH = 1; the
    formula as written in Sharma, Wu and Dalal 2005)."""
    c1 = math.sqrt(a1 * a1 + b1 * b1)
    c2 = math.sqrt(a2 * a2 + b2 * b2)
    cm = 0.5 * (c1 + c2)
    cm7 = cm**7
    g = 0.5 * (1.0 - math.sqrt(cm7 / (cm7 + 25.0**7)))
    a1p = (1.0 + g) * a1
    a2p = (1.0 + g) * a2
    c1p = math.sqrt(a1p * a1p + b1 * b1)
    c2p = math.sqrt(a2p * a2p + b2 * b2)
    h1p = 0.0 if (a1p == 0.0 and b1 == 0.0) else math.degrees(math.atan2(b1, a1p)) % 360.0
    h2p = 0.0 if (a2p == 0.0 and b2 == 0.0) else math.degrees(math.atan2(b2, a2p)) % 360.0
    dl = l2 - l1
    dc = c2p - c1p
    if c1p * c2p == 0.0:
        dh = 0.0
    else:
        dh = h2p - h1p
        if dh > 180.0:
            dh -= 360.0
        elif dh < -180.0:
            dh += 360.0
    dhh = 2.0 * math.sqrt(c1p * c2p) * math.sin(math.radians(dh) / 2.0)
    lm = 0.5 * (l1 + l2)
    cmp_ = 0.5 * (c1p + c2p)
    if c1p * c2p == 0.0:
        hm = h1p + h2p
    elif abs(h1p - h2p) <= 180.0:
        hm = 0.5 * (h1p + h2p)
    elif h1p + h2p < 360.0:
        hm = 0.5 * (h1p + h2p + 360.0)
    else:
        hm = 0.5 * (h1p + h2p - 360.0)
    t = (
        1.0
        - 0.17 * math.cos(math.radians(hm - 30.0))
        + 0.24 * math.cos(math.radians(2.0 * hm))
        + 0.32 * math.cos(math.radians(3.0 * hm + 6.0))
        - 0.20 * math.cos(math.radians(4.0 * hm - 63.0))
    )
    dtheta = 30.0 * math.exp(-(((hm - 275.0) / 25.0) ** 2))
    cmp7 = cmp_**7
    rc = 2.0 * math.sqrt(cmp7 / (cmp7 + 25.0**7))
    lm50 = (lm - 50.0) ** 2
    sl = 1.0 + 0.015 * lm50 / math.sqrt(20.0 + lm50)
    sc = 1.0 + 0.045 * cmp_
    sh = 1.0 + 0.015 * cmp_ * t
    rt = -math.sin(math.radians(2.0 * dtheta)) * rc
    vl = dl / sl
    vc = dc / sc
    vh = dhh / sh
    return math.sqrt(vl * vl + vc * vc + vh * vh + rt * vc * vh)


@njit(cache=True, nogil=True)
def de_rgb(c0, c1, c2, r0, r1, r2):
    """CIEDE2000 between two sRGB colours with channels in [0, 1]."""
    l1, a1, b1 = lab_of(c0, c1, c2)
    l2, a2, b2 = lab_of(r0, r1, r2)
    return de2000(l1, a1, b1, l2, a2, b2)


@njit(cache=True, nogil=True)
def _round8(v):
    return min(max(math.floor(v * 255.0 + 0.5), 0.0), 255.0)


@njit(cache=True, nogil=True)
def clamp_colour(opt, ref, tol, out):
    """The colour nearest ``opt`` along the segment ``ref -> opt`` whose CIEDE2000 from
    ``ref`` is at most ``tol``, rounded to 8 bits, into ``out`` (0..255 floats).

    ``opt``, ``ref``: float64 ``(3,)`` sRGB in [0, 1] (``opt`` may lie outside: it is
    clipped first). The loss the fitter and the refinement minimise is ``|c - opt|^2``
    times a constant, so along the segment the best honest colour is the farthest
    point inside the bound (found by bisection; the bound is convex enough along one
    segment that the first crossing is the one wanted). Returns the colour error of
    ``out``.
    """
    o0 = min(max(opt[0], 0.0), 1.0)
    o1 = min(max(opt[1], 0.0), 1.0)
    o2 = min(max(opt[2], 0.0), 1.0)
    lr, ar, br = lab_of(ref[0], ref[1], ref[2])
    c0 = _round8(o0)
    c1 = _round8(o1)
    c2 = _round8(o2)
    lc, ac, bc = lab_of(c0 / 255.0, c1 / 255.0, c2 / 255.0)
    d = de2000(lr, ar, br, lc, ac, bc)
    if d <= tol:
        out[0] = c0
        out[1] = c1
        out[2] = c2
        return d
    lo = 0.0
    hi = 1.0
    for _ in range(18):
        mid = 0.5 * (lo + hi)
        m0 = ref[0] + mid * (o0 - ref[0])
        m1 = ref[1] + mid * (o1 - ref[1])
        m2 = ref[2] + mid * (o2 - ref[2])
        lm, am, bm = lab_of(m0, m1, m2)
        if de2000(lr, ar, br, lm, am, bm) <= tol:
            lo = mid
        else:
            hi = mid
    # round, then step back toward the reference until the rounded colour is inside
    t = lo
    for _ in range(64):
        c0 = _round8(ref[0] + t * (o0 - ref[0]))
        c1 = _round8(ref[1] + t * (o1 - ref[1]))
        c2 = _round8(ref[2] + t * (o2 - ref[2]))
        lc, ac, bc = lab_of(c0 / 255.0, c1 / 255.0, c2 / 255.0)
        d = de2000(lr, ar, br, lc, ac, bc)
        if d <= tol or t <= 0.0:
            break
        t = max(t - 0.02, 0.0)
    out[0] = c0
    out[1] = c1
    out[2] = c2
    return d


@njit(cache=True, nogil=True)
def allowed_paints(palette, ref, tol, out):
    """Mark in ``out`` (bool ``(P,)``) the paints of ``palette`` (float64 ``(P, 3)`` in
    [0, 1]) a painter would take for reference colour ``ref``: those within ``tol``
    (CIEDE2000) of it, or, when none is, those as near as the nearest one (ties).
    Returns how many are marked."""
    lr, ar, br = lab_of(ref[0], ref[1], ref[2])
    n = palette.shape[0]
    d = np.empty(n, np.float64)
    dmin = math.inf
    for p in range(n):
        lp, ap, bp = lab_of(palette[p, 0], palette[p, 1], palette[p, 2])
        d[p] = de2000(lr, ar, br, lp, ap, bp)
        dmin = min(dmin, d[p])
    bound = max(tol, dmin + 1e-9)
    k = 0
    for p in range(n):
        out[p] = d[p] <= bound
        if out[p]:
            k += 1
    return k


def honest_colour(opt: np.ndarray, ref: np.ndarray, tol: float) -> np.ndarray:
    """The best colour within ``tol`` (CIEDE2000) of ``ref`` for a stroke whose
    unconstrained best colour is ``opt`` (see :func:`clamp_colour`).

    Args:
        opt, ref: sRGB, float ``(3,)`` in [0, 1].
        tol: bound, CIEDE2000 (>= 1: 8-bit rounding alone can move a colour by ~0.5).

    Returns:
        uint8 ``(3,)``.
    """
    out = np.empty(3, np.float64)
    clamp_colour(np.asarray(opt, np.float64), np.asarray(ref, np.float64), float(tol), out)
    return out.astype(np.uint8)


def honest_paints(palette: np.ndarray, ref: np.ndarray, tol: float) -> np.ndarray:
    """Which paints (uint8 ``(P, 3)``) a painter would take where the picture's colour
    is ``ref`` (float ``(3,)`` in [0, 1]): bool ``(P,)``, see :func:`allowed_paints`."""
    pal = np.asarray(palette, np.float64).reshape(-1, 3) / 255.0
    out = np.zeros(len(pal), np.bool_)
    allowed_paints(pal, np.asarray(ref, np.float64), float(tol), out)
    return out


# -- strokes on a raster ------------------------------------------------------------
# The kernels below each walk a stroke's footprint with the same two loops (bounding box,
# then `coverage` per pixel) and do different sums inside. Written out by hand on purpose:
# numba cannot pass a per-pixel body as a callback without giving up inlining (a
# first-class function call per pixel costs several times the loop), and no library
# rasterises anti-aliased polyline strokes with these per-stroke sums.
@njit(cache=True, nogil=True, inline="always")
def coverage(points, a, b, half, x, py):
    """The renderer's coverage (float32 in [0, 1]) of pixel column ``x`` on the row whose
    centre is at ``py`` by the polyline ``points[a:b]`` with ``half = width / 2 + 0.5``."""
    al = half - np.float32(math.sqrt(polyline_d2(points, a, b, np.float32(x) + np.float32(0.5), py)))
    return min(max(al, np.float32(0.0)), np.float32(1.0))


def pack_strokes(points: Sequence[np.ndarray], widths: Sequence[float]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Strokes as the kernels take them: ``(points (N, 2) float64, pt_off (n + 1,) int64,
    widths (n,) float64)``, pixel units."""
    pt_off = np.zeros(len(points) + 1, np.int64)
    pt_off[1:] = np.cumsum([len(p) for p in points])
    pts = np.ascontiguousarray(np.concatenate([np.asarray(p, np.float64).reshape(-1, 2) for p in points]) if len(points) else np.zeros((0, 2)), np.float64)
    return pts, pt_off, np.ascontiguousarray(widths, np.float64)


@njit(cache=True, nogil=True)
def footprint_mean(target, points, a, b, width, out, stride=1):
    """Coverage-weighted mean of ``target`` (float32 ``(H, W, 3)``) under the stroke
    ``points[a:b]`` of ``width`` px into ``out`` (float64 ``(3,)``); returns the
    stroke's coverage sum (px; with ``stride > 1``, over every ``stride``-th row and
    column only: an estimate, for wide strokes). A stroke covering nothing gets the
    colour under its first point."""
    h, w = target.shape[0], target.shape[1]
    y0, y1, x0, x1 = polyline_box(points, a, b, width / 2.0 + 1.0, h, w)
    half = np.float32(width / 2.0 + 0.5)
    s0 = 0.0
    s1 = 0.0
    s2 = 0.0
    sa = 0.0
    for y in range(y0, y1, stride):
        py = np.float32(y) + np.float32(0.5)
        for x in range(x0, x1, stride):
            al = coverage(points, a, b, half, x, py)
            if al <= 0.0:
                continue
            s0 += al * target[y, x, 0]
            s1 += al * target[y, x, 1]
            s2 += al * target[y, x, 2]
            sa += al
    if sa <= 0.0:
        iy = min(max(int(points[a, 1]), 0), h - 1)
        ix = min(max(int(points[a, 0]), 0), w - 1)
        out[0] = target[iy, ix, 0]
        out[1] = target[iy, ix, 1]
        out[2] = target[iy, ix, 2]
        return 0.0
    out[0] = s0 / sa
    out[1] = s1 / sa
    out[2] = s2 / sa
    return sa


@njit(cache=True, nogil=True)
def footprint_mean1(values, points, a, b, width):
    """Coverage-weighted mean of ``values`` (float32 ``(H, W)``) under the stroke
    ``points[a:b]`` of ``width`` px (0 for a stroke covering nothing)."""
    h, w = values.shape[0], values.shape[1]
    y0, y1, x0, x1 = polyline_box(points, a, b, width / 2.0 + 1.0, h, w)
    half = np.float32(width / 2.0 + 0.5)
    s = 0.0
    sa = 0.0
    for y in range(y0, y1):
        py = np.float32(y) + np.float32(0.5)
        for x in range(x0, x1):
            al = coverage(points, a, b, half, x, py)
            if al <= 0.0:
                continue
            s += al * values[y, x]
            sa += al
    return s / sa if sa > 0.0 else 0.0


@njit(cache=True)
def _footprint_means(target, points, pt_off, widths, out):
    for i in range(widths.shape[0]):
        footprint_mean(target, points, pt_off[i], pt_off[i + 1], widths[i], out[i])


def footprint_means(target: np.ndarray, points: np.ndarray, pt_off: np.ndarray, widths: np.ndarray) -> np.ndarray:
    """Reference colours: the picture's coverage-weighted mean under each stroke.

    Args:
        target: float32 ``(H, W, 3)`` RGB in [0, 1].
        points, pt_off, widths: strokes in pixels (:func:`pack_strokes`).

    Returns:
        float64 ``(n, 3)`` in [0, 1].
    """
    out = np.zeros((len(widths), 3), np.float64)
    if len(widths):
        _footprint_means(np.ascontiguousarray(target, np.float32), points, pt_off, widths, out)
    return out


@njit(cache=True)
def _visible(h, w, points, pt_off, widths, out, min_visible):
    """Visible fractions into ``out``, last stroke first; with ``min_visible > 0`` a
    stroke under it is dropped on the way (``out`` gets -1 - its fraction; it does not
    cover the strokes before it), so every kept stroke's fraction is measured against
    the kept strokes after it."""
    tr = np.ones((h, w), np.float32)
    for i in range(widths.shape[0] - 1, -1, -1):
        a, b = pt_off[i], pt_off[i + 1]
        y0, y1, x0, x1 = polyline_box(points, a, b, widths[i] / 2.0 + 1.0, h, w)
        half = np.float32(widths[i] / 2.0 + 0.5)
        sa = 0.0
        sv = 0.0
        for y in range(y0, y1):
            py = np.float32(y) + np.float32(0.5)
            for x in range(x0, x1):
                al = coverage(points, a, b, half, x, py)
                if al <= 0.0:
                    continue
                sa += al
                sv += al * tr[y, x]
        v = sv / sa if sa > 0.0 else 0.0
        if v < min_visible:
            out[i] = -1.0 - v
            continue
        out[i] = v
        for y in range(y0, y1):
            py = np.float32(y) + np.float32(0.5)
            for x in range(x0, x1):
                al = coverage(points, a, b, half, x, py)
                if al <= 0.0:
                    continue
                tr[y, x] *= np.float32(1.0) - al


def visible_fractions(shape: tuple[int, int], points: np.ndarray, pt_off: np.ndarray, widths: np.ndarray) -> np.ndarray:
    """Share of each stroke's coverage that shows in the finished painting.

    Args:
        shape: ``(H, W)`` of the raster.
        points, pt_off, widths: strokes in execution order, pixels (:func:`pack_strokes`).

    Returns:
        float64 ``(n,)`` in [0, 1] (0 for a stroke that covers no pixel of the raster).
    """
    out = np.zeros(len(widths), np.float64)
    if len(widths):
        _visible(int(shape[0]), int(shape[1]), points, pt_off, widths, out, 0.0)
    return out


def visible_after_pruning(shape: tuple[int, int], points: np.ndarray, pt_off: np.ndarray, widths: np.ndarray, min_visible: float = MIN_VISIBLE) -> tuple[np.ndarray, np.ndarray]:
    """Drop hidden strokes last to first, each measured against the strokes kept after it.

    Dropping a stroke only uncovers the strokes before it, so walking back from the
    last stroke and dropping each that shows less than ``min_visible`` keeps every
    stroke of a stack whose upper strokes were the hidden ones (a block-in under a
    hidden middle tone stays), where dropping all hidden strokes at once would strip
    the whole stack and bare the canvas.

    Returns:
        ``(keep, visible)``: bool ``(n,)`` and float64 ``(n,)`` (each kept stroke's
        visible fraction in the painting of the kept strokes; for a dropped one, what
        it had when it was dropped).
    """
    out = np.zeros(len(widths), np.float64)
    if len(widths):
        _visible(int(shape[0]), int(shape[1]), points, pt_off, widths, out, float(min_visible))
    keep = out >= 0.0
    return keep, np.where(keep, out, -1.0 - out)


# -- plans ----------------------------------------------------------------------------
def _plan_pixels(plan: "StrokePlan", image: np.ndarray):
    from animatepainter.planner.render import plan_to_pixels

    h, w = image.shape[:2]
    (rh, rw), strokes = plan_to_pixels(plan, width_px=w, region="image")
    pts, off, wd = pack_strokes([s.points for s in strokes], [s.width for s in strokes])
    return (rh, rw), pts, off, wd


def stroke_colour_errors(plan: "StrokePlan", image: np.ndarray) -> np.ndarray:
    """Each stroke's colour error: CIEDE2000 between its ``rgb`` and the picture's
    colour under it (float64 ``(n,)``).

    Args:
        plan: the plan.
        image: uint8 ``(h, w, 3)`` the picture the plan paints (its image box is
            rendered at this size).
    """
    if not plan.strokes:
        return np.zeros(0)
    _, pts, off, wd = _plan_pixels(plan, image)
    ref = footprint_means(np.asarray(image, np.float32) / 255.0, pts, off, wd)
    rgb = np.array([s.rgb for s in plan.strokes], np.uint8)
    return delta_e2000(rgb, ref)


#: the per-step figure is measured with the long side at most this many pixels: it judges
#: each step's canvas at its brush scale, and at 1,024 px / 10,000 strokes rendering and
#: blurring at full size took longer than the fit
STEP_FIGURE_MAX_PX = 512


def step_plausibility(plan: "StrokePlan", image: np.ndarray) -> list[float]:
    """Per step, PSNR (dB) of the canvas on the pixels painted so far against the
    picture blurred to the step's brush scale (see the module docstring), measured with
    the long side at most :data:`STEP_FIGURE_MAX_PX` pixels (``image`` area-resized).

    Args:
        plan: the plan.
        image: uint8 ``(H, W, 3)``, the picture.

    Returns:
        one float per step that has strokes, in step order.
    """
    import cv2

    from animatepainter.planner.metrics import psnr
    from animatepainter.planner.render import new_canvas, paint_stroke, plan_to_pixels, stroke_bbox, stroke_coverage

    h, w = image.shape[:2]
    if max(h, w) > STEP_FIGURE_MAX_PX:
        w = max(1, round(w * STEP_FIGURE_MAX_PX / max(h, w)))
    (rh, rw), strokes = plan_to_pixels(plan, width_px=w, region="image")
    canvas = new_canvas(rh, rw, np.asarray(plan.canvas.background, np.float32) / 255.0)
    painted = np.zeros((rh, rw), bool)
    img = np.asarray(image, np.float32) / 255.0
    if img.shape[:2] != (rh, rw):
        img = cv2.resize(img, (rw, rh), interpolation=cv2.INTER_AREA)
    out: list[float] = []
    i = 0
    n = len(strokes)
    steps = [s.step for s in plan.strokes]
    while i < n:
        step = steps[i]
        widths = []
        while i < n and steps[i] == step:
            st = strokes[i]
            paint_stroke(canvas, st)
            y0, y1, x0, x1 = stroke_bbox(st.points, st.width, (rh, rw))
            if y1 > y0 and x1 > x0:
                painted[y0:y1, x0:x1] |= stroke_coverage(st.points, st.width, (y0, y1, x0, x1)) > 0.5
            widths.append(st.width)
            i += 1
        sigma = max(float(np.median(widths)) / 2.0, 0.5)
        ref = cv2.GaussianBlur(img, (0, 0), sigma)
        if painted.any():
            out.append(round(psnr(canvas[painted], ref[painted], data_range=1.0), 3))
    return out


def enforce_honesty(strokes: Sequence, picture: np.ndarray, tol: float | None, palette: np.ndarray | None = None) -> int:
    """Make every stroke's colour honest, exactly (the fitter checks an estimate for
    wide strokes): a stroke farther than ``tol`` (CIEDE2000) from the picture's colour
    under its footprint takes the nearest colour inside the bound toward it (with
    ``palette``, uint8 ``(P, 3)``: the allowed paint nearest the picture's colour).

    Args:
        strokes: objects with ``points`` (px), ``width`` (px) and ``rgb`` (uint8
            ``(3,)``, replaced in place).
        picture: float32 ``(H, W, 3)`` in [0, 1].
        tol: the bound; ``None``: nothing to do.

    Returns:
        how many strokes changed colour.
    """
    if tol is None or not len(strokes):
        return 0
    pts, off, wd = pack_strokes([s.points for s in strokes], [s.width for s in strokes])
    ref = footprint_means(picture, pts, off, wd)
    rgb = np.array([s.rgb for s in strokes], np.uint8).reshape(-1, 3)
    de = delta_e2000(rgb, ref)
    changed = 0
    for i in np.flatnonzero(de > tol):
        s = strokes[i]
        if palette is None:
            s.rgb = honest_colour(rgb[i].astype(np.float64) / 255.0, ref[i], tol)
        else:
            pal = np.asarray(palette, np.uint8).reshape(-1, 3)
            ok = np.flatnonzero(honest_paints(pal, ref[i], tol))
            s.rgb = pal[ok[int(np.argmin(delta_e2000(pal[ok], ref[i][None])))]].copy()
        changed += 1
    return changed


def process_figures(plan: "StrokePlan", image: np.ndarray) -> dict[str, Any]:
    """The process figures of a plan (``report.json``'s ``process`` section).

    Args:
        plan: the plan.
        image: uint8 ``(h, w, 3)`` the picture it paints.

    Returns:
        dict: ``strokes``; ``colour_error`` (CIEDE2000 of stroke colours against the
        picture under them: ``median``, ``p95``, ``max``, ``share_above_10``,
        ``share_above_20``); ``hidden_share`` (strokes under :data:`MIN_VISIBLE`
        visible) and ``median_visible``; ``brushes`` (distinct widths, mm, and their
        count); ``steps_psnr_db`` (per step, :func:`step_plausibility`) with its
        ``min`` and ``median``.
    """
    n = len(plan.strokes)
    out: dict[str, Any] = {"strokes": n}
    if n == 0:
        return out
    de = stroke_colour_errors(plan, image)
    (rh, rw), pts, off, wd = _plan_pixels(plan, image)
    vis = visible_fractions((rh, rw), pts, off, wd)
    widths = sorted({round(s.width_mm, 2) for s in plan.strokes})
    steps = step_plausibility(plan, image)
    out["colour_error"] = {
        "median": round(float(np.median(de)), 2),
        "p95": round(float(np.percentile(de, 95)), 2),
        "max": round(float(de.max()), 2),
        "share_above_10": round(float((de > 10).mean()), 4),
        "share_above_20": round(float((de > 20).mean()), 4),
    }
    out["hidden_share"] = round(float((vis < MIN_VISIBLE).mean()), 4)
    out["median_visible"] = round(float(np.median(vis)), 3)
    out["brush_widths_mm"] = widths
    out["n_brush_widths"] = len(widths)
    out["steps_psnr_db"] = steps
    if steps:
        out["steps_psnr_min_db"] = round(float(min(steps)), 3)
        out["steps_psnr_median_db"] = round(float(np.median(steps)), 3)
    return out


# -- compositing kernels (shared by the teacher's pruning and the extractor) --------------
@njit(cache=True)
def composite_range(canvas, points, pt_off, widths, rgbs, start, stop):
    """Paint strokes ``start..stop-1`` (opaque, the renderer's coverage) onto ``canvas``
    (float32 ``(H, W, 3)`` in [0, 1]) in place; ``rgbs``: uint8 or int ``(n, 3)``."""
    h, w = canvas.shape[0], canvas.shape[1]
    for i in range(start, stop):
        a, b = pt_off[i], pt_off[i + 1]
        y0, y1, x0, x1 = polyline_box(points, a, b, widths[i] / 2.0 + 1.0, h, w)
        half = np.float32(widths[i] / 2.0 + 0.5)
        c0 = np.float32(rgbs[i, 0] / 255.0)
        c1 = np.float32(rgbs[i, 1] / 255.0)
        c2 = np.float32(rgbs[i, 2] / 255.0)
        for y in range(y0, y1):
            py = np.float32(y) + np.float32(0.5)
            for x in range(x0, x1):
                al = coverage(points, a, b, half, x, py)
                if al <= 0.0:
                    continue
                canvas[y, x, 0] += al * (c0 - canvas[y, x, 0])
                canvas[y, x, 1] += al * (c1 - canvas[y, x, 1])
                canvas[y, x, 2] += al * (c2 - canvas[y, x, 2])


@njit(cache=True)
def transmittance_range(h, w, points, pt_off, widths, start, stop):
    """Transmittance ``prod (1 - alpha_j)`` over strokes ``start..stop-1``: float32
    ``(h, w)``, 1 where none of them paints."""
    tr = np.ones((h, w), np.float32)
    for i in range(start, stop):
        a, b = pt_off[i], pt_off[i + 1]
        y0, y1, x0, x1 = polyline_box(points, a, b, widths[i] / 2.0 + 1.0, h, w)
        half = np.float32(widths[i] / 2.0 + 0.5)
        for y in range(y0, y1):
            py = np.float32(y) + np.float32(0.5)
            for x in range(x0, x1):
                al = coverage(points, a, b, half, x, py)
                if al <= 0.0:
                    continue
                tr[y, x] *= np.float32(1.0) - al
    return tr


@njit(cache=True, nogil=True)
def take_from_fragile(guard, share, slack, limit, points, width, scale, take, hit, commit):
    """Whether a new stroke ``points`` (px of a picture shrunk by ``scale``; ``width``
    likewise), painted after stroke ``limit - 1``, leaves every fragile stroke showing
    enough: at each full-size pixel it covers, it takes ``share * coverage`` from the
    fragile stroke ``guard[y, x]`` (when that one comes before ``limit``), which must
    stay within that stroke's ``slack`` (the refinement's guard,
    :func:`animatepainter.planner.teacher.refine.fragile_guard`). With ``commit``, an
    accepted stroke's takes are subtracted from ``slack``. ``take``, ``hit``: float64 and
    int64 scratch of the strokes' count (``take`` zeros, left as zeros)."""
    h, w = guard.shape[0], guard.shape[1]
    npt = points.shape[0]
    pts = np.empty((npt, 2), np.float64)
    for i in range(npt):
        pts[i, 0] = points[i, 0] * scale
        pts[i, 1] = points[i, 1] * scale
    wd = width * scale
    y0, y1, x0, x1 = polyline_box(pts, 0, npt, wd / 2.0 + 1.0, h, w)
    half = np.float32(wd / 2.0 + 0.5)
    nh = 0
    for y in range(y0, y1):
        py = np.float32(y) + np.float32(0.5)
        for x in range(x0, x1):
            g = guard[y, x]
            if g < 0 or g >= limit:
                continue
            al = coverage(pts, 0, npt, half, x, py)
            if al <= 0.0:
                continue
            if take[g] == 0.0:
                hit[nh] = g
                nh += 1
            take[g] += share[y, x] * min(al, np.float32(1.0))
    ok = True
    for q in range(nh):
        if take[hit[q]] > slack[hit[q]]:
            ok = False
    for q in range(nh):
        if ok and commit:
            slack[hit[q]] -= take[hit[q]]
        take[hit[q]] = 0.0
    return ok


def budget_note(plan: "StrokePlan") -> str | None:
    """Why a plan holds fewer strokes than its budget (``meta.settings.strokes``), in a
    sentence, or ``None`` when it holds them all (or records no budget)."""
    st = plan.meta.get("settings") if isinstance(plan.meta.get("settings"), dict) else {}
    budget = st.get("strokes")
    n = len(plan.strokes)
    if not isinstance(budget, int) or n >= budget:
        return None
    parts = []
    fitted = plan.meta.get("fitted_strokes")
    if isinstance(fitted, int) and fitted < budget:
        parts.append(f"the fit stopped at {fitted} strokes: no stroke left would change the picture enough to pay for itself")
    pruning = plan.meta.get("pruning")
    if isinstance(pruning, dict) and pruning.get("short_of_budget", 0) > 0:
        parts.append(
            f"{pruning.get('dropped_hidden', 0)} strokes ended (almost) hidden and were dropped; "
            f"{pruning.get('refilled', 0)} were fitted where strokes show, and nowhere was left for the rest"
        )
    if plan.meta.get("engine") == "diffusion":
        parts.append("the extractor found fewer strokes in the generated process")
    if not parts:
        parts.append("the engine found no more strokes to place")
    return f"{n} of {budget} strokes: " + "; ".join(parts)


def process_report(plan: "StrokePlan", image: np.ndarray) -> dict[str, Any]:
    """``report.json``'s process fields: ``process`` (:func:`process_figures`),
    ``brushes_mm`` (the plan's brush widths, widest first), ``stroke_budget`` and, when
    the plan holds fewer strokes, ``budget_note`` (:func:`budget_note`), and
    ``depth_layers`` with a ``depth_note`` when the depth map had one plane."""
    out: dict[str, Any] = {"process": process_figures(plan, image), "brushes_mm": sorted((round(b.width_mm, 3) for b in plan.brushes), reverse=True)}
    st = plan.meta.get("settings") if isinstance(plan.meta.get("settings"), dict) else {}
    if isinstance(st.get("strokes"), int):
        out["stroke_budget"] = st["strokes"]
    note = budget_note(plan)
    if note:
        out["budget_note"] = note
    n_layers = plan.meta.get("depth_layers")
    if isinstance(n_layers, int):
        out["depth_layers"] = n_layers
        if n_layers == 1 and st.get("layers") != 1:
            out["depth_note"] = "the depth map has one plane: the picture is painted as one depth layer"
    return out
