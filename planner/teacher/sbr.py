"""Stroke-based rendering: fit opaque brush strokes to an image, in the painter's order.

The fitter works group by group, in the order the strokes will be painted:
depth layer 0 (farthest) to K-1 (nearest), and inside each layer refinement level
0 (widest brush) to L-1 (finest). For layer ``k`` the objective is the squared colour
error over the pixels of layers ``<= k``; pixels of nearer layers are "don't care"
because nearer strokes paint over them later. So a far layer is blocked in freely
behind the foreground (as painters do) while a near stroke that spills onto finished
background pays for the damage. Strokes start on pixels of layer ``k``, except at
the finest level(s) (``touch_up_levels``), whose finishing touches may also start on
the farther layers. A stroke's ``layer`` is the pass that painted it, so execution
order is sorted by layer.

Inside a group the fitter repeats a greedy batch step:

1. error map ``e = weight * |canvas - target|^2``, box-blurred at the brush size;
2. seeds at local maxima of the blurred error (non-maximum suppression at one
   brush width), best first;
3. from each seed a curved stroke grows both ways along the image's isophotes (the
   smoothed structure tensor's minor eigenvector), as in Hertzmann's painterly
   rendering, while the blurred target stays close to the seed colour;
4. each candidate, and its shorter and wider/narrower variants, is scored by the
   exact change of error it makes with its optimal opaque colour (closed form); the
   best variant is painted if it lowers the error.

Full-image work is vectorised with NumPy/OpenCV; scoring and painting candidates run
in compiled kernels (:mod:`.kernels`, numba), the candidates of a batch in parallel.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Callable, Sequence

import cv2
import numpy as np

from animatepainter.planner.render import stroke_bbox
from animatepainter.planner.errors import SettingsError
from animatepainter.planner.process import allowed_paints, clamp_colour, footprint_mean, footprint_mean1, take_from_fragile
from animatepainter.planner.teacher.kernels import available_cores, block_sums, paint_polyline, score_candidates, set_threads, touched_near, update_block_sums

log = logging.getLogger(__name__)

__all__ = ["FitSettings", "FittedStroke", "fit_strokes", "fit_groups", "level_widths"]


@dataclass(frozen=True)
class FitSettings:
    """Settings of the stroke fitter.

    Attributes:
        budget: maximum number of strokes (> 0).
        widths_px: brush width (diameter, pixels) of each refinement level, coarse to
            fine. Default: :func:`level_widths` of the image size.
        level_share: fraction of the budget each level may use (same length as
            ``widths_px``; unused budget passes on to the next level, and a level
            that needs more strokes to cover what is still blank borrows from the
            next ones). Default: :func:`_default_share` (more to the fine levels the
            larger the budget).
        max_len_factor: longest stroke, in brush widths.
        color_tol: how far (RGB distance in [0, sqrt(3)]) the target may drift from the
            seed colour before a growing stroke stops.
        batch: seeds tried per greedy batch.
        min_gain: smallest error reduction (sum of squared [0,1] RGB differences) a
            stroke must make to be painted.
        palette: the only colours strokes may have (RGB 0..255, e.g. a machine's
            paints); each stroke takes the one that lowers the error most. ``None``:
            any colour (the optimal one, rounded to 8 bits).
        fixed_widths: strokes take only the ``widths_px`` widths (a machine's
            brushes) instead of 0.5x..2x their level's width.
        touch_up_levels: how many of the finest levels of layer k's pass may start
            strokes on the farther, finished layers too (finishing touches while the
            foreground is painted). 0 keeps every stroke on its own layer; measured
            on the bench images, 1 is worth 0.9-2.7 dB PSNR at the same stroke count.
        colour_tolerance: honest colours: the most a stroke's colour may differ
            (CIEDE2000) from the picture's colour under its footprint
            (:mod:`animatepainter.planner.process`); a stroke whose best colour lies
            outside takes the best colour inside (with ``palette``: one of the paints
            nearest the picture's colour there). ``None``: any colour.
        brush_px: a brush set: the only widths strokes may take (px), when given
            (``widths_px`` must then be among them); else see ``fixed_widths``.
        min_gain_px: the least error a stroke must remove per pixel it paints
            (squared RGB in [0, 1]) besides ``min_gain``: strokes go where they change
            the picture, not over what is already right; 0 = off.
    """

    budget: int = 2000
    widths_px: tuple[float, ...] | None = None
    level_share: tuple[float, ...] | None = None
    max_len_factor: float = 12.0
    color_tol: float = 0.2
    batch: int = 128
    min_gain: float = 1e-3
    touch_up_levels: int = 1
    palette: tuple[tuple[int, int, int], ...] | None = None
    fixed_widths: bool = False
    colour_tolerance: float | None = None
    brush_px: tuple[float, ...] | None = None
    min_gain_px: float = 0.0

    def allowed_widths(self) -> tuple[float, ...] | None:
        """The only widths strokes may have: ``brush_px`` when given, else ``widths_px``
        when ``fixed_widths``; ``None``: any width (0.5x..2x the level's)."""
        if self.brush_px:
            return tuple(self.brush_px)
        return tuple(self.widths_px) if self.fixed_widths and self.widths_px else None


@dataclass
class FittedStroke:
    """A stroke as fitted, in pixel coordinates of the working image.

    Attributes:
        points: float64 ``(n, 2)`` ``(x, y)`` pixel coordinates (n >= 2).
        width: width in pixels.
        rgb: uint8 ``(3,)`` colour.
        layer: depth layer (0 = farthest).
        level: refinement level (0 = coarsest).
        gain: error reduction when it was painted (sum of squared RGB in [0, 1]).
    """

    points: np.ndarray
    width: float
    rgb: np.ndarray
    layer: int
    level: int
    gain: float = field(default=0.0)


def level_widths(height: int, width: int, levels: int = 5) -> tuple[float, ...]:
    """Default brush widths in pixels, coarse to fine, for an ``height x width`` image.

    The coarsest brush is 1/8 of the long side; each level halves it, down to 2 px.
    """
    long_side = max(height, width)
    widths = []
    w = long_side / 8.0
    for _ in range(levels):
        widths.append(max(round(w, 2), 2.0))
        w /= 2.0
    # collapse repeats at the 2 px floor
    out: list[float] = []
    for w in widths:
        if not out or w < out[-1]:
            out.append(w)
    return tuple(out)


def _default_share(n: int, budget: int, area_px: int) -> tuple[float, ...]:
    """Share of the budget per level, coarse to fine: weights ``e**level``, normalised.

    ``e`` grows with the stroke density: 1 (equal shares) at 250 strokes per 256x256
    px, 2 (doubling per level) from 1,000 on. Measured on the bench images, doubling is
    best for rich budgets, while a small budget spent mostly on fine brushes leaves
    the canvas blank in places (astronaut at 250 strokes: 11.7 dB with e = 2, 18.5 dB
    with e = 1).
    """
    density = budget * (256 * 256) / max(area_px, 1)
    e = float(np.clip(1.0 + 0.5 * np.log2(max(density, 1e-9) / 250.0), 1.0, 2.0))
    raw = np.array([e**i for i in range(n)], np.float64)
    return tuple((raw / raw.sum()).tolist())


def _orientation(target: np.ndarray, sigma: float) -> tuple[np.ndarray, np.ndarray]:
    """Stroke direction field: unit vectors along isophotes at scale ``sigma`` (px).

    Returns two float32 ``(H, W)`` arrays ``(cos, sin)``.
    """
    gray = cv2.cvtColor(target, cv2.COLOR_RGB2GRAY)
    g = cv2.GaussianBlur(gray, (0, 0), max(sigma * 0.5, 0.7))
    gx = cv2.Sobel(g, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(g, cv2.CV_32F, 0, 1, ksize=3)
    s = max(sigma, 1.0)
    jxx = cv2.GaussianBlur(gx * gx, (0, 0), s)
    jxy = cv2.GaussianBlur(gx * gy, (0, 0), s)
    jyy = cv2.GaussianBlur(gy * gy, (0, 0), s)
    # angle of the gradient's principal direction; strokes run perpendicular to it
    theta = 0.5 * np.arctan2(2.0 * jxy, jxx - jyy) + np.pi / 2.0
    return np.cos(theta).astype(np.float32), np.sin(theta).astype(np.float32)


class _Fitter:
    """State of one fitting run (canvas, target, error), shared by the groups."""

    def __init__(
        self,
        target: np.ndarray,
        background: np.ndarray,
        rng: np.random.Generator,
        palette: np.ndarray | None = None,
        canvas: np.ndarray | None = None,
        picture: np.ndarray | None = None,
        tol: float | None = None,
    ):
        self.target = target
        # the picture honest colours are measured against (the target itself, except
        # when refilling a plan, where the target is rewritten, see .prune)
        self.picture = np.ascontiguousarray(target if picture is None else picture, np.float32)
        self.tol = tol
        # refilling (.prune): float32 (H, W) how much of a new stroke shows in the
        # finished painting per pixel, and the least share a placed stroke must show
        self.shown: np.ndarray | None = None
        self.min_shown = 0.0
        # and the guard of the strokes already painted (full-size px: guard, share,
        # slack, the number of strokes before the new ones; see
        # .refine.fragile_guard): a new stroke may not hide one of them
        self.guard: tuple | None = None
        # the power of two this fitter's picture is shrunk by (full-size px: 1)
        self.px_scale = 1
        self.palette = None if palette is None else np.asarray(palette, np.uint8).reshape(-1, 3)
        self.palette_f = None if palette is None else self.palette.astype(np.float64) / 255.0
        self.h, self.w = target.shape[:2]
        if canvas is None:
            canvas = np.broadcast_to(background.reshape(1, 1, 3), target.shape)
        self.canvas = np.ascontiguousarray(canvas, np.float32).copy()
        self.painted = np.zeros(target.shape[:2], bool)  # covered by some stroke
        self.err = ((self.canvas - target) ** 2).sum(axis=2)  # |canvas - target|^2, kept up to date
        self.touched = np.zeros(target.shape[:2], bool)  # covered by a stroke of this batch
        self.rng = rng
        self.kernel_palette = np.zeros((0, 3), np.float64) if palette is None else np.ascontiguousarray(self.palette_f)

    # -- scoring ---------------------------------------------------------------
    def score(self, cands: list[np.ndarray], variants: list[list[tuple[int, int, float]]], weight: np.ndarray, parallel: bool = True, blocks: np.ndarray | None = None, scale: int = 1, palette: np.ndarray | None = None):
        """Score the variants of each grown stroke (compiled, see :mod:`.kernels`).

        Each variant is ``(first_segment, last_segment_exclusive, width_px)``; its best
        colour and error reduction come in closed form from a few sums over the pixels
        it covers (no trial renders).

        With ``scale > 1`` the candidates are scored on ``blocks`` (block sums of
        ``scale x scale`` px, see :func:`~.kernels.block_sums`).

        Returns ``(gain, rgb, variant, box)`` arrays over the candidates (see
        :func:`~.kernels.score_candidates`).
        """
        pt_off = np.zeros(len(cands) + 1, np.int64)
        pt_off[1:] = np.cumsum([len(p) for p in cands])
        var_off = np.zeros(len(cands) + 1, np.int64)
        var_off[1:] = np.cumsum([len(v) for v in variants])
        points = np.ascontiguousarray(np.concatenate(cands, axis=0), np.float64)
        var = np.asarray([row for v in variants for row in v], np.float64).reshape(-1, 3)
        pal = self.kernel_palette if palette is None else np.ascontiguousarray(palette, np.float64).reshape(-1, 3)
        return score_candidates(self.canvas, self.target, weight, points, pt_off, var, var_off, pal, parallel, blocks, scale)

    def guard_ok(self, sub: np.ndarray, width: float) -> bool:
        """Whether painting ``sub`` (``width`` px, this fitter's scale) leaves every
        stroke of :attr:`guard` showing enough; if so, its takes are booked."""
        guard, share, slack, limit, take, hit = self.guard
        return bool(take_from_fragile(guard, share, slack, int(limit), np.ascontiguousarray(sub, np.float64), float(width), float(self.px_scale), take, hit, True))

    def honest(self, sub: np.ndarray, width: float, rgb: np.ndarray, gain: float, weight: np.ndarray, blocks: np.ndarray | None, scale: int) -> tuple[np.ndarray, float]:
        """The stroke ``sub`` (float64 ``(n, 2)`` px) of ``width`` px with its best colour
        ``rgb`` (uint8 ``(3,)``, error reduction ``gain``) made honest: when ``rgb`` is
        farther than :attr:`tol` (CIEDE2000) from the picture's colour under the stroke,
        the best colour inside the bound (or, with paints, the best of the paints
        nearest the picture's colour) and its error reduction, scored again. Returns
        ``(rgb, gain)``."""
        if self.tol is None:
            return rgb, gain
        ref = np.empty(3, np.float64)
        # an estimate for wide strokes (every few pixels: the plan is made exactly
        # honest at the end, see planner.process.enforce_honesty)
        footprint_mean(self.picture, sub, 0, len(sub), float(width), ref, max(int(width / 6.0), 1))
        var = [[(0, max(len(sub) - 1, 1), float(width))]]
        if self.palette is None:
            out = np.empty(3, np.float64)
            clamp_colour(rgb.astype(np.float64) / 255.0, ref, float(self.tol), out)
            if np.array_equal(out, rgb):
                return rgb, gain
            pal = out.reshape(1, 3) / 255.0
        else:
            ok = np.zeros(len(self.palette), np.bool_)
            allowed_paints(self.palette_f, ref, float(self.tol), ok)
            if ok[(self.palette == rgb[None]).all(axis=1)].any():
                return rgb, gain
            pal = self.palette_f[ok]
        g, c, v, _ = self.score([sub], var, weight, parallel=False, blocks=blocks, scale=scale, palette=pal)
        return c[0], (float(g[0]) if v[0] >= 0 else -np.inf)

    def apply(self, points: np.ndarray, width: float, rgb: np.ndarray) -> None:
        """Paint one stroke onto the canvas (the renderer's coverage model); the pixels
        it covers are marked in :attr:`touched`."""
        paint_polyline(self.canvas, points, width, rgb, self.painted, self.err, self.touched, self.target)

    # -- candidates --------------------------------------------------------------
    def seeds(self, seed_mask: np.ndarray, width: float, n: int, taken: np.ndarray, min_err: float = 0.0) -> np.ndarray:
        """Up to ``n`` seed pixels ``(x, y)`` (float, pixel centres) at error maxima
        inside ``seed_mask`` (float32 ``(H, W)``, 1 where strokes may start)."""
        err = self.err * seed_mask
        k = max(int(round(width)), 1) | 1
        blur = cv2.boxFilter(err, -1, (k, k), normalize=True, borderType=cv2.BORDER_REFLECT)
        blur[taken] = 0.0
        win = max(int(round(width)), 3) | 1
        peak = cv2.dilate(blur, np.ones((win, win), np.uint8))
        # (a stroke removes at most the error under it: where the mean error is under
        # min_err, no stroke can pay min_err per pixel)
        cand = (blur >= peak) & (blur > max(1e-6, min_err))
        ys, xs = np.nonzero(cand)
        if len(ys) == 0:
            return np.zeros((0, 2), np.float64)
        # tiny seeded jitter breaks ties deterministically
        vals = blur[ys, xs] + self.rng.random(len(ys), dtype=np.float32) * np.float32(1e-9)
        order = np.argsort(-vals, kind="stable")[:n]
        return np.stack([xs[order] + 0.5, ys[order] + 0.5], axis=1).astype(np.float64)

    def grow(self, seeds: np.ndarray, width: float, blur_t: np.ndarray, dirs: tuple[np.ndarray, np.ndarray], max_len: float, tol: float) -> list[np.ndarray]:
        """Grow a curved polyline from every seed along the direction field.

        Vectorised over seeds: each step moves all live strokes at once.
        Returns a list of ``(n_i, 2)`` point arrays (n_i >= 2).
        """
        m = len(seeds)
        step = max(width * 0.75, 1.0)
        n_steps = max(int(max_len / step / 2.0), 1)
        cosf, sinf = dirs
        h, w = self.h, self.w
        iy = np.clip(seeds[:, 1].astype(int), 0, h - 1)
        ix = np.clip(seeds[:, 0].astype(int), 0, w - 1)
        c0 = blur_t[iy, ix]  # (m, 3) seed colour
        d0 = np.stack([cosf[iy, ix], sinf[iy, ix]], axis=1)
        sides = []
        for sign in (1.0, -1.0):
            pos = seeds.copy()
            prev = d0 * sign
            alive = np.ones(m, bool)
            track = [pos.copy()]
            for _ in range(n_steps):
                iy = np.clip(pos[:, 1].astype(int), 0, h - 1)
                ix = np.clip(pos[:, 0].astype(int), 0, w - 1)
                d = np.stack([cosf[iy, ix], sinf[iy, ix]], axis=1)
                flip = (d * prev).sum(axis=1) < 0
                d[flip] *= -1.0
                nxt = pos + d * step
                inside = (nxt[:, 0] >= 0) & (nxt[:, 0] < w) & (nxt[:, 1] >= 0) & (nxt[:, 1] < h)
                jy = np.clip(nxt[:, 1].astype(int), 0, h - 1)
                jx = np.clip(nxt[:, 0].astype(int), 0, w - 1)
                dc = np.linalg.norm(blur_t[jy, jx] - c0, axis=1)
                alive &= inside & (dc < tol)
                pos = np.where(alive[:, None], nxt, pos)
                prev = np.where(alive[:, None], d, prev)
                track.append(pos.copy())
                if not alive.any():
                    break
            sides.append(np.stack(track, axis=1))  # (m, steps+1, 2)
        out = []
        for i in range(m):
            fwd = _dedupe(sides[0][i])
            back = _dedupe(sides[1][i])
            pts = np.concatenate([back[::-1], fwd[1:]], axis=0)
            if len(pts) < 2:
                # a dab: a short segment along the local direction
                pts = np.stack([seeds[i] - d0[i] * step * 0.25, seeds[i] + d0[i] * step * 0.25])
            out.append(pts)
        return out


def _dedupe(track: np.ndarray) -> np.ndarray:
    keep = np.ones(len(track), bool)
    keep[1:] = np.any(np.abs(np.diff(track, axis=0)) > 1e-9, axis=1)
    return track[keep]


#: longest stroke as a fraction of the image's long side (caps coarse strokes: the
#: bench images lose nothing and fitting runs ~1.7x faster than without a cap)
MAX_LEN_FRAC = 0.3
#: pixels a stroke covers, in squared brush widths, when budgeting coverage
COVER_AREA = 4.0
#: seeds tried per stroke still to place (best-first selection among them)
OVERSAMPLE = 4
#: block size of the block sums wide brushes are scored with, px
BLOCK_PX = 4
#: narrowest a wide brush gets on the shrunk picture it is fitted on, px
MIN_WORK_WIDTH = 8.0
#: shortest side of a shrunk picture, px
MIN_WORK_SIDE = 32


def _variants(n_points: int, width: float, allowed: tuple[float, ...] | None = None) -> list[tuple[int, int, float]]:
    """Variants of a grown stroke of ``n_points`` points: ``(first_segment,
    last_segment_exclusive, width_px)``.

    The whole stroke, its prefixes and suffixes of 1/4, 1/2 and 3/4 of the length,
    and the whole stroke at other widths: 0.5x, 0.71x, 1.41x and 2x ``width``, or,
    with ``allowed`` (a machine's brushes), every allowed width within 0.5x..2x.
    """
    nseg = max(n_points - 1, 1)
    out = [(0, nseg, width)]
    if nseg >= 2:
        for frac in (0.25, 0.5, 0.75):
            m = min(max(int(round(nseg * frac)), 1), nseg - 1)
            out.append((0, m, width))
            out.append((nseg - m, nseg, width))
    if allowed is None:
        # width factors on a sqrt(2) ladder, so the levels' widths line up on few brushes
        others = [width * f for f in (0.5, 0.7071, 1.4142, 2.0)]
    else:
        others = [w for w in allowed if 0.5 * width - 1e-9 <= w <= 2.0 * width + 1e-9 and w != width]
    out.extend((0, nseg, w) for w in others)
    return list(dict.fromkeys(out))


def fit_strokes(
    target: np.ndarray,
    layers: np.ndarray,
    n_layers: int,
    settings: FitSettings,
    *,
    background: Sequence[float] = (1.0, 1.0, 1.0),
    seed: int = 0,
    progress: Callable[[int], None] | None = None,
    jobs: int | None = None,
) -> tuple[list[FittedStroke], np.ndarray]:
    """Fit opaque brush strokes to ``target`` in the painter's order.

    Args:
        target: float32 ``(H, W, 3)`` RGB in ``[0, 1]``.
        layers: int ``(H, W)`` depth layer of each pixel, 0 = farthest.
        n_layers: number of layers K (layers hold values ``0..K-1``).
        settings: fitter settings; ``budget`` is the maximum stroke count.
        background: canvas colour, RGB in ``[0, 1]``.
        seed: seed of the tie-breaking jitter.
        progress: called with the number of strokes added, as they are added.
        jobs: threads scoring candidates (default: every core this process may run
            on); the result is the same for every value.

    Returns:
        ``(strokes, canvas)``: strokes in painting order (layer-major, then level,
        then the order they were found); canvas float32 ``(H, W, 3)`` after all of
        them, exactly what rendering the strokes gives.
    """
    check_jobs(jobs)
    old_threads = set_threads(jobs or available_cores())
    try:
        return _fit_strokes(target, layers, n_layers, settings, background, seed, progress)
    finally:
        set_threads(old_threads)


def check_jobs(jobs: int | None) -> None:
    """Raise :class:`~animatepainter.planner.errors.SettingsError` unless ``jobs`` is
    ``None`` or a whole number of threads >= 1."""
    if jobs is not None and (isinstance(jobs, bool) or not isinstance(jobs, (int, np.integer)) or jobs < 1):
        raise SettingsError(f"jobs must be a whole number of threads >= 1, got {jobs!r}", "jobs")


def _fit_strokes(target, layers, n_layers, settings, background, seed, progress):
    target = np.ascontiguousarray(target, np.float32)
    h, w = target.shape[:2]
    widths = settings.widths_px or level_widths(h, w)
    share = settings.level_share or _default_share(len(widths), settings.budget, h * w)
    if len(share) != len(widths):
        raise ValueError("level_share and widths_px must have the same length")
    rng = np.random.default_rng(seed)
    fit = _Fitter(target, np.asarray(background, np.float32), rng, settings.palette, tol=settings.colour_tolerance)

    # layer budgets: proportional to each layer's area-weighted detail
    grad = cv2.Laplacian(cv2.cvtColor(target, cv2.COLOR_RGB2GRAY), cv2.CV_32F)
    detail = np.abs(grad) + 0.02
    layer_w = np.array([detail[layers == k].sum() for k in range(n_layers)], np.float64)
    layer_w = layer_w / max(layer_w.sum(), 1e-12)

    guides = _Guides(target, widths)
    strokes: list[FittedStroke] = []
    total = settings.budget
    carry = 0.0  # budget a group left unused (> 0) or overspent (< 0)
    for k in range(n_layers):
        if not (layers == k).any():
            continue
        layer_budget = total * layer_w[k]
        for lvl, wd in enumerate(widths):
            planned = layer_budget * share[lvl] + carry
            # coverage first: a level gets at least the strokes it takes to cover what
            # is still blank on this layer (a stroke covers ~COVER_AREA x width^2),
            # at most half the budget left; the finer levels pay it back
            blank = float(((layers == k) & ~fit.painted).sum())
            cover = int(np.ceil(blank / (COVER_AREA * wd * wd)))
            left = total - len(strokes)
            quota = min(max(int(round(planned)), min(cover, left // 2)), left)
            if quota <= 0:
                carry = planned
                continue
            used = _fit_level(fit, guides, layers, k, lvl, quota, settings, background, rng, strokes, progress)
            carry = planned - used
    return strokes, fit.canvas


class _Guides:
    """Per level: the scale it is fitted at (multi-resolution: a wide brush is fitted on
    the picture shrunk by a power of two, where it stays at least MIN_WORK_WIDTH px wide,
    and its strokes are painted at full size), the shrunk target, and the level's guides
    (blurred target, stroke directions) at that scale."""

    def __init__(self, target: np.ndarray, widths: Sequence[float]):
        h, w = target.shape[:2]
        self.target = target
        self.widths = tuple(widths)
        self.scales = [level_scale(wd, h, w) for wd in widths]
        self.shrunk = {sc: _shrink(target, sc) for sc in sorted(set(self.scales))}
        self.blurs = [cv2.GaussianBlur(self.shrunk[sc], (0, 0), max(wd / sc / 4.0, 0.5)) for wd, sc in zip(widths, self.scales)]
        self.dirs = [_orientation(self.shrunk[sc], wd / sc / 2.0) for wd, sc in zip(widths, self.scales)]


def group_masks(layers: np.ndarray, k: int, lvl: int, n_levels: int, touch_up_levels: int) -> tuple[np.ndarray, np.ndarray]:
    """The error weight and seed mask (float32 ``(H, W)``) of group (layer ``k``, level
    ``lvl``): the error counts on this layer and the farther, finished ones; strokes
    start on this layer only, or on the finished ones too at the finest
    ``touch_up_levels``."""
    weight = (layers <= k).astype(np.float32)
    seed_mask = weight if lvl >= n_levels - touch_up_levels else (layers == k).astype(np.float32)
    return weight, seed_mask


def _fit_level(fit: "_Fitter", guides: _Guides, layers: np.ndarray, k: int, lvl: int, quota: int, settings: FitSettings, background, rng, strokes: list, progress, masks: tuple[np.ndarray, np.ndarray] | None = None) -> int:
    """Fit up to ``quota`` strokes of level ``lvl`` on layer ``k`` (with the masks of
    :func:`group_masks`, or ``masks = (weight, seed_mask)``), painted onto ``fit``'s
    canvas and appended to ``strokes``. Returns how many.

    A wide brush is fitted on the picture shrunk by a power of two (:class:`_Guides`);
    when ``fit``'s target is not the picture itself (a refill, :mod:`.prune`) the
    target is shrunk weighted by the error weight."""
    wd = guides.widths[lvl]
    weight, sm = group_masks(layers, k, lvl, len(guides.widths), settings.touch_up_levels) if masks is None else masks
    sc = guides.scales[lvl]
    if sc == 1:
        return _fit_group(fit, weight, sm, wd, guides.blurs[lvl], guides.dirs[lvl], quota, settings, k, lvl, strokes, progress)
    if fit.target is guides.target:
        small_target = guides.shrunk[sc]
    else:
        ws = _shrink(weight, sc)
        small_target = np.where(ws[..., None] > 0, _shrink(fit.target * weight[..., None], sc) / np.maximum(ws, 1e-12)[..., None], _shrink(fit.canvas, sc)).astype(np.float32)
    small = _Fitter(small_target, np.asarray(background, np.float32), rng, settings.palette, canvas=_shrink(fit.canvas, sc), picture=guides.shrunk[sc], tol=fit.tol)
    if fit.shown is not None:
        small.shown, small.min_shown = _shrink(fit.shown, sc), fit.min_shown
    small.guard, small.px_scale = fit.guard, sc
    found: list[FittedStroke] = []
    used = _fit_group(small, _shrink(weight, sc), _shrink(sm, sc), wd / sc, guides.blurs[lvl], guides.dirs[lvl], quota, settings, k, lvl, found, progress, sc)
    for st in found:  # to full size, painted on the full canvas in order
        st.points = st.points * sc
        st.width = st.width * sc
        st.gain = st.gain * sc * sc
        fit.apply(st.points, st.width, st.rgb)
    strokes.extend(found)
    return used


def fit_groups(
    target: np.ndarray,
    layers: np.ndarray,
    canvas: np.ndarray,
    groups: Sequence[tuple[int, int, int]],
    settings: FitSettings,
    *,
    seed: int = 0,
    progress: Callable[[int], None] | None = None,
    jobs: int | None = None,
) -> tuple[list[FittedStroke], np.ndarray]:
    """Fit strokes for the given (layer, level) groups, in order, starting from a
    painted ``canvas`` instead of a blank one (replanning what is left of a plan).

    Args:
        target: float32 ``(H, W, 3)`` RGB in ``[0, 1]``.
        layers: int ``(H, W)`` depth layer of each pixel, 0 = farthest.
        canvas: float32 ``(H, W, 3)`` in ``[0, 1]``: what is on the canvas now.
        groups: ``(layer, level, quota)``: at most ``quota`` strokes of brush level
            ``level`` (an index into ``settings.widths_px``, which must be given) on
            ``layer``, in painting order.
        settings: fitter settings (``budget`` is not used).
        seed: seed of the tie-breaking jitter.
        progress: called with the number of strokes added.
        jobs: threads (see :func:`fit_strokes`).

    Returns:
        ``(strokes, canvas)`` as :func:`fit_strokes`. A stroke is only added where it
        lowers the error by more than ``settings.min_gain``, so a canvas that is
        already right gets none.
    """
    if not settings.widths_px:
        raise ValueError("fit_groups needs settings.widths_px")
    check_jobs(jobs)
    old_threads = set_threads(jobs or available_cores())
    try:
        target = np.ascontiguousarray(target, np.float32)
        rng = np.random.default_rng(seed)
        bg = np.ones(3, np.float32)
        fit = _Fitter(target, bg, rng, settings.palette, canvas=canvas, tol=settings.colour_tolerance)
        guides = _Guides(target, settings.widths_px)
        strokes: list[FittedStroke] = []
        for k, lvl, quota in groups:
            if quota > 0 and (layers == k).any():
                _fit_level(fit, guides, layers, k, lvl, int(quota), settings, bg, rng, strokes, progress)
        return strokes, fit.canvas
    finally:
        set_threads(old_threads)


def level_scale(width: float, h: int, w: int) -> int:
    """The power of two a level of brush ``width`` px is fitted at on an ``h x w`` picture:
    the largest that keeps the brush :data:`MIN_WORK_WIDTH` px wide and the picture's
    short side :data:`MIN_WORK_SIDE` px."""
    sc = 1
    while width / (2 * sc) >= MIN_WORK_WIDTH and min(h, w) / (2 * sc) >= MIN_WORK_SIDE:
        sc *= 2
    return sc


def _shrink(img: np.ndarray, sc: int) -> np.ndarray:
    """``img`` (float32 ``(H, W)`` or ``(H, W, 3)``) averaged over ``sc x sc`` blocks
    (OpenCV area resampling; pixel ``i`` of the result covers ``[i sc, (i + 1) sc)``)."""
    if sc == 1:
        return img
    h, w = img.shape[:2]
    return np.ascontiguousarray(cv2.resize(img, (max(w // sc, 1), max(h // sc, 1)), interpolation=cv2.INTER_AREA), np.float32)


def _area(points: np.ndarray, variant: tuple[int, int, float]) -> float:
    """Painted area (px^2) of a variant ``(first_segment, last_segment_exclusive,
    width)`` of the polyline ``points``: length times width plus the round caps."""
    i, j, wd = variant
    seg = np.diff(points[i : j + 1], axis=0)
    return float(np.hypot(seg[:, 0], seg[:, 1]).sum() * wd + np.pi * wd * wd / 4.0)


def _batch_size(settings: FitSettings, h: int, w: int) -> int:
    """Seeds tried per greedy batch: ``settings.batch`` up to 256 x 256 px, growing as the
    area to the power 0.75 above (a batch scores its candidates against one canvas:
    larger pictures take larger batches, but not proportionally, as the greedy order
    then goes stale; measured at 512 and 1,024 px, 0.75 beats 1.0 and 0.5)."""
    return max(int(round(settings.batch * max(h * w / 65536.0, 1.0) ** 0.75)), 1)


def block_scale(width: float) -> int:
    """Block size (px) of the block sums candidates of a brush ``width`` px wide are
    scored with (1: pixel by pixel). Blocks inside or outside a stroke count whole and
    only those on its edges pixel by pixel, so the scores are the same; measured on
    strokes 16-128 px wide, 4 px blocks are fastest (2-5x faster than pixels)."""
    return BLOCK_PX if width >= 4 * BLOCK_PX else 1


def _fit_group(fit: _Fitter, weight: np.ndarray, seed_mask: np.ndarray, width: float, blur_t: np.ndarray, dirs, quota: int, settings: FitSettings, layer: int, level: int, strokes: list, progress, px_scale: int = 1) -> int:
    """Fit up to ``quota`` strokes of ``width`` px on ``fit`` (a picture shrunk by
    ``px_scale``: the allowed widths, full-size px, are shrunk likewise)."""
    used = 0
    max_len = min(settings.max_len_factor * width, MAX_LEN_FRAC * max(fit.h, fit.w))
    taken = np.zeros((fit.h, fit.w), bool)
    batch = _batch_size(settings, fit.h, fit.w)
    allowed = settings.allowed_widths()
    if allowed is not None and px_scale != 1:
        allowed = tuple(a / px_scale for a in allowed)
    scale = block_scale(width)
    # wide brushes: scored with block sums of the error terms, kept up to date as
    # strokes are painted (see .kernels.score_candidates)
    blocks = block_sums(fit.canvas, fit.target, weight, scale) if scale > 1 else None
    stale = 0
    while used < quota:
        seeds = fit.seeds(seed_mask, width, min(batch, (quota - used) * OVERSAMPLE), taken, settings.min_gain_px)
        if len(seeds) == 0:
            break
        cands = fit.grow(seeds, width, blur_t, dirs, max_len, settings.color_tol)
        variants = [_variants(len(pts), width, allowed) for pts in cands]
        gain, rgb, vi, _ = fit.score(cands, variants, weight, blocks=blocks, scale=scale)
        good = (vi >= 0) & (gain > settings.min_gain)
        if settings.min_gain_px > 0:
            area = np.array([_area(cands[k], variants[k][vi[k]]) if good[k] else 1.0 for k in range(len(cands))])
            good &= gain > settings.min_gain_px * area
        reach = [max(vw for _, _, vw in v) / 2.0 + 0.5 for v in variants]
        for sd in seeds[~good]:
            taken[int(sd[1]), int(sd[0])] = True
        # best first; a candidate within reach of a pixel painted in this batch is
        # scored again on the updated canvas
        order = np.flatnonzero(good)
        order = order[np.argsort(-gain[order], kind="stable")]
        fit.touched[:] = False
        added = 0
        for k in order:
            g, c, v = float(gain[k]), rgb[k], int(vi[k])
            if touched_near(fit.touched, cands[k], reach[k]):
                g2, c2, v2, _ = fit.score([cands[k]], [variants[k]], weight, parallel=False, blocks=blocks, scale=scale)
                if v2[0] < 0 or g2[0] <= settings.min_gain:
                    continue
                g, c, v = float(g2[0]), c2[0], int(v2[0])
            i, j, wd = variants[k][v]
            sub = cands[k][i : j + 1]
            if fit.tol is not None:
                c, g = fit.honest(sub, wd, c, g, weight, blocks, scale)
                if g <= settings.min_gain:
                    taken[int(seeds[k][1]), int(seeds[k][0])] = True
                    continue
            if fit.shown is not None and footprint_mean1(fit.shown, sub, 0, len(sub), float(wd)) < fit.min_shown:
                taken[int(seeds[k][1]), int(seeds[k][0])] = True
                continue
            if fit.guard is not None and not fit.guard_ok(sub, wd):
                taken[int(seeds[k][1]), int(seeds[k][0])] = True
                continue
            fit.apply(sub, wd, c)
            if blocks is not None:
                update_block_sums(blocks, fit.canvas, fit.target, weight, scale, stroke_bbox(sub, wd, (fit.h, fit.w)))
            strokes.append(FittedStroke(sub.copy(), float(wd), c.copy(), layer, level, g))
            used += 1
            added += 1
            if progress is not None:
                progress(1)
            if used >= quota:
                break
        if added == 0:
            stale += 1
            if stale >= 3:
                break
        else:
            stale = 0
    return used
