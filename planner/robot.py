"""Robot constraints: turn any :class:`StrokePlan` into one a given machine can execute.

:func:`apply_machine` takes a plan from either engine and a
:class:`~animatepainter.planner.machine.MachineProfile` and returns a plan that

1. sits on the machine's canvas inside its margins (a plan made for another canvas
   size is scaled, keeping its aspect ratio, into the paintable area; a plan made for
   this canvas must already lie inside the margins, or a :class:`PlanError` names the
   first stroke outside);
2. uses only the machine's brushes: each stroke gets the brush nearest its width (in
   ratio); a stroke more than 25 % wider than the widest brush is *filled* with
   parallel passes of that brush (a hatch across the stroke's footprint, rows
   ``(1 - HATCH_OVERLAP)`` brush widths apart, kept inside the footprint);
3. uses only the machine's paints: each stroke's colour is matched to the nearest
   paint available for its brush by CIEDE2000 in CIELAB (``palette.matching =
   "nearest"``), or with error diffusion (``"dither"``: each stroke's colour error is
   shared among up to four later, neighbouring strokes of the same layer and level,
   Floyd-Steinberg style, so that a region's *average* colour approaches the target).
   The stroke's ``rgb`` becomes the paint's, so renders show what the machine paints;
4. splits strokes longer than a brush's capacity (``capacity_mm`` / ``capacity_mm2``);
5. reorders strokes *inside* each (layer, level) run only, so the painter's order
   (far to near, coarse to fine) is kept. Two strokes whose painted footprints meet
   and whose colours differ keep their relative order, so the reordered plan renders
   like the unordered one (strokes of the same colour commute under opaque paint:
   ``c(1-a)(1-b) + p(a + b - ab)`` either way; only the float rounding of that sum can
   move a pixel by one level). Among the allowed strokes the
   order keeps the current tool (paint and brush) while it can, switches to the tool
   with the most strokes ready, and goes to the nearest stroke end (strokes may be
   painted backwards), which cuts both paint changes and pen-up travel;
6. records the machine actions before each stroke (``Stroke.actions``): ``"clean"``
   (water then rag), ``"tool"`` (brush / pen change), ``"dip"`` (load paint), wherever
   a change of paint or brush, or the brush's capacity, needs them. Pens need no dips
   or cleaning. After the last stroke the brush is cleaned (painting arms) and the
   machine returns home (implied, not stored).

:func:`machine_report` gives the figures of a robot plan (paint changes, reloads,
pen-down and pen-up distance, estimated execution time) and :func:`execution_events`
the machine-coordinate motion the G-code writer and the time estimate share.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, replace
from typing import Any, Iterator, Sequence

import numpy as np

from .errors import PlanError
from .machine import MachineProfile
from .order import overlap_pairs, precedence_greedy
from .plan import Brush, Canvas, Paint, Stroke, StrokePlan
from .progress import NULL_PROGRESS, Progress

log = logging.getLogger(__name__)

__all__ = [
    "HATCH_OVERLAP",
    "apply_machine",
    "ensure_machine",
    "machine_settings",
    "place_plan",
    "hatch_passes",
    "match_paints",
    "order_for_machine",
    "insert_actions",
    "execution_events",
    "machine_report",
    "check_plan_on_machine",
    "Event",
]

#: overlap of neighbouring hatch passes, fraction of the brush width
HATCH_OVERLAP = 0.2
#: a stroke is hatched when wider than this many times the widest brush
HATCH_FACTOR = 1.25
#: largest colour error carried by dithering, CIEDE2000-ish Lab units
DITHER_CLAMP = 25.0
_EPS_MM = 1e-6


# -- placement -------------------------------------------------------------------------


def place_plan(plan: StrokePlan, profile: MachineProfile) -> tuple[list[np.ndarray], list[float], Canvas, dict[str, Any]]:
    """Map a plan's strokes onto the machine canvas.

    Returns:
        ``(points, widths, canvas, fit)``: float64 ``(n_i, 2)`` points in machine-canvas
        mm, widths in mm, the new :class:`Canvas`, and ``fit = {"scale", "offset_mm"}``
        (new = (old - image box corner) * scale + offset).

    Raises:
        PlanError: a stroke of a plan made for this canvas size lies in the margins.
    """
    c, mc = plan.canvas, profile.canvas
    x0, y0, dw, dh = mc.drawable_box_mm
    bg = mc.background if mc.background is not None else c.background
    same = abs(c.width_mm - mc.width_mm) < 1e-3 and abs(c.height_mm - mc.height_mm) < 1e-3
    if same:
        scale, src, dst = 1.0, (0.0, 0.0), (0.0, 0.0)
        box = c.image_box_mm
    else:
        bx, by, bw, bh = c.image_box_mm
        if bw <= 0 or bh <= 0:
            bx, by, bw, bh = 0.0, 0.0, c.width_mm, c.height_mm
        scale = min(dw / bw, dh / bh)
        src = (bx, by)
        dst = (x0 + (dw - bw * scale) / 2.0, y0 + (dh - bh * scale) / 2.0)
        box = (dst[0], dst[1], bw * scale, bh * scale)
        log.info("plan canvas %gx%g mm placed on the %gx%g mm machine canvas at scale %.4f", c.width_mm, c.height_mm, mc.width_mm, mc.height_mm, scale)
    points = [(np.asarray(s.points, np.float64) - src) * scale + dst for s in plan.strokes]
    widths = [float(s.width_mm) * scale for s in plan.strokes]
    canvas = Canvas(mc.width_mm, mc.height_mm, tuple(int(v) for v in bg), tuple(c.image_px), tuple(float(v) for v in box))
    clamped = _fit_inside(points, widths, profile)
    if clamped:
        log.info("%d strokes reaching up to half their width into the margins were pulled inside", clamped)
    return points, widths, canvas, {"scale": scale, "offset_mm": [dst[0] - src[0] * scale, dst[1] - src[1] * scale], "clamped": clamped}


def _outside_error(i: int, x: float, y: float, profile: MachineProfile) -> PlanError:
    x0, y0, dw, dh = profile.canvas.drawable_box_mm
    return PlanError(
        f"strokes[{i}].points: ({x:.3f}, {y:.3f}) mm lies outside the paintable area "
        f"x {x0:g}..{x0 + dw:g}, y {y0:g}..{y0 + dh:g} mm of the {profile.canvas.width_mm:g} x {profile.canvas.height_mm:g} mm "
        f"machine canvas (canvas.margins_mm of {profile.source})"
    )


def _fit_inside(points: list[np.ndarray], widths: Sequence[float], profile: MachineProfile) -> int:
    """Pull points that stray at most half the stroke's width outside the paintable
    area (as the plan schema allows at a canvas edge) onto its edge, in place.

    Returns:
        the number of strokes changed.

    Raises:
        PlanError: a point lies farther out (stroke and point named).
    """
    x0, y0, dw, dh = profile.canvas.drawable_box_mm
    lo, hi = np.array([x0, y0]), np.array([x0 + dw, y0 + dh])
    n = 0
    for i, (p, w) in enumerate(zip(points, widths)):
        if not np.isfinite(p).all():
            x, y = p[int(np.argmax(~np.isfinite(p).all(axis=1)))]
            raise _outside_error(i, x, y, profile)
        out = np.maximum(lo - p, 0.0) + np.maximum(p - hi, 0.0)
        excess = out.max(axis=1)
        if excess.max() <= _EPS_MM:
            continue
        if excess.max() > w / 2.0 + 5e-4:
            x, y = p[int(np.argmax(excess))]
            raise _outside_error(i, x, y, profile)
        points[i] = np.clip(p, lo, hi)
        n += 1
    return n


def _check_inside(points: Sequence[np.ndarray], profile: MachineProfile) -> None:
    x0, y0, dw, dh = profile.canvas.drawable_box_mm
    tol = 5e-4 + _EPS_MM  # plans store micrometres
    for i, p in enumerate(points):
        bad = (p[:, 0] < x0 - tol) | (p[:, 1] < y0 - tol) | (p[:, 0] > x0 + dw + tol) | (p[:, 1] > y0 + dh + tol) | ~np.isfinite(p).all(axis=1)
        if bad.any():
            x, y = p[int(np.argmax(bad))]
            raise _outside_error(i, x, y, profile)


def check_plan_on_machine(plan: StrokePlan, profile: MachineProfile) -> None:
    """Check that a robot plan fits ``profile`` as it is (exports call this).

    Raises:
        PlanError: canvas size differs, a stroke lies outside the paintable area, or a
            stroke uses a paint or brush the machine does not have (field named).
    """
    c, mc = plan.canvas, profile.canvas
    if abs(c.width_mm - mc.width_mm) > 1e-3 or abs(c.height_mm - mc.height_mm) > 1e-3:
        raise PlanError(f"canvas: the plan's {c.width_mm:g} x {c.height_mm:g} mm canvas is not the machine's {mc.width_mm:g} x {mc.height_mm:g} mm (canvas.width_mm/height_mm of {profile.source})")
    _check_inside([np.asarray(s.points, np.float64) for s in plan.strokes], profile)
    n_p, n_b = len(profile.paints), len(profile.brushes)
    for i, s in enumerate(plan.strokes):
        if not 0 <= s.paint < n_p:
            raise PlanError(f"strokes[{i}].paint: {s.paint} is not a paint of the machine ({n_p} paints in {profile.source})")
        if not 0 <= s.brush < n_b:
            raise PlanError(f"strokes[{i}].brush: {s.brush} is not a brush of the machine ({n_b} brushes in {profile.source})")
        if profile.pens and s.paint != s.brush:
            raise PlanError(f"strokes[{i}].paint: pen {s.brush} has paint {s.brush}, not {s.paint} ({profile.source} lists pens)")


# -- brushes ---------------------------------------------------------------------------


def _width_classes(profile: MachineProfile) -> np.ndarray:
    return np.unique(np.array([b.width_mm for b in profile.brushes], np.float64))


def _choose_width(width: float, classes: np.ndarray) -> tuple[float, bool]:
    """Brush width for a stroke of ``width`` mm and whether to hatch."""
    widest = float(classes[-1])
    if width > widest * HATCH_FACTOR:
        return widest, True
    return float(classes[int(np.argmin(np.abs(np.log(classes / max(width, _EPS_MM)))))]), False


def hatch_passes(
    points: np.ndarray,
    width: float,
    brush_width: float,
    overlap: float = HATCH_OVERLAP,
    clip_box: tuple[float, float, float, float] | None = None,
) -> list[np.ndarray]:
    """Parallel passes of a narrower brush that fill a stroke's footprint.

    The footprint is the stroke's polyline buffered by ``width / 2`` (round caps and
    joins). The brush's centre stays inside the footprint shrunk by ``brush_width / 2``,
    so nothing is painted outside it: first one pass around that shrunk outline, then
    straight rows along the stroke's overall direction clipped to it,
    ``(1 - overlap) * brush_width`` or less apart, in alternating directions.

    Args:
        points: float ``(n, 2)`` polyline, mm.
        width: stroke width, mm.
        brush_width: width of the brush that paints the passes, mm (< ``width``).
        overlap: overlap of neighbouring passes, fraction of ``brush_width``.
        clip_box: ``(x, y, width, height)`` mm the passes must stay in (the
            machine's paintable area), or ``None``.

    Returns:
        float64 ``(m_k, 2)`` polylines, mm (at least one).
    """
    import shapely

    p = np.asarray(points, np.float64).reshape(-1, 2)
    geom = shapely.LineString(p) if len(p) > 1 and np.ptp(p, axis=0).any() else shapely.Point(p[0])
    inner = shapely.buffer(geom, (width - brush_width) / 2.0, quad_segs=8)
    if clip_box is not None:
        bx, by, bw, bh = clip_box
        inner = shapely.intersection(inner, shapely.box(bx, by, bx + bw, by + bh))
        if inner.is_empty or inner.area <= 0:
            return [p.copy()]
    d = p[-1] - p[0]
    if np.hypot(*d) < _EPS_MM:
        if len(p) > 1 and np.ptp(p, axis=0).any():  # closed loop: use its longest extent
            c = p - p.mean(axis=0)
            d = np.linalg.svd(c, full_matrices=False)[2][0]
        else:
            d = np.array([1.0, 0.0])
    u = d / np.hypot(*d)
    nrm = np.array([-u[1], u[0]])
    ring = np.asarray(shapely.get_coordinates(inner), np.float64)
    t = ring @ nrm
    s = ring @ u
    t0, t1 = float(t.min()), float(t.max())
    s0, s1 = float(s.min()) - 1.0, float(s.max()) + 1.0
    spacing = brush_width * (1.0 - overlap)
    k = max(1, math.ceil((t1 - t0) / spacing))
    rows = t0 + (np.arange(k) + 0.5) * (t1 - t0) / k
    out: list[np.ndarray] = []
    for r, tv in enumerate(rows):
        a, b = s0 * u + tv * nrm, s1 * u + tv * nrm
        piece = shapely.intersection(shapely.LineString([a, b]), inner)
        parts = [g for g in shapely.get_parts(piece) if not g.is_empty]
        segs = []
        for g in parts:
            xy = np.asarray(shapely.get_coordinates(g), np.float64)
            segs.append(xy[[0, -1]] if len(xy) > 1 else xy[:1])
        segs.sort(key=lambda q: float(q[0] @ u))
        if r % 2:  # boustrophedon: every other row backwards
            segs = [q[::-1] for q in segs[::-1]]
        out.extend(segs)
    # an outline pass along the shrunk footprint's edge paints the border band that
    # the rows' ends leave uncovered where the stroke bends
    outline = [np.asarray(shapely.get_coordinates(r), np.float64) for r in shapely.get_parts(shapely.boundary(inner)) if not r.is_empty]
    out = [q for q in outline if len(q) > 1] + out
    if not out:  # degenerate footprint: one pass along the centre line
        out = [p.copy()]
    return out


# -- paints ----------------------------------------------------------------------------


def _lab(rgb: np.ndarray) -> np.ndarray:
    from skimage.color import rgb2lab

    a = np.asarray(rgb, np.float64).reshape(-1, 3) / 255.0
    return rgb2lab(a[None])[0]


def match_paints(
    target_rgb: np.ndarray,
    candidates: Sequence[np.ndarray],
    paint_rgb: np.ndarray,
    mode: str = "nearest",
    centres: np.ndarray | None = None,
    reach_mm: np.ndarray | None = None,
    runs: np.ndarray | None = None,
) -> np.ndarray:
    """Choose a paint for each stroke by CIEDE2000 distance in CIELAB.

    Args:
        target_rgb: uint8 ``(n, 3)`` colours the strokes should leave.
        candidates: for each stroke, int array of the paints allowed with its brush.
        paint_rgb: uint8 ``(k, 3)`` the machine's paints.
        mode: ``"nearest"`` or ``"dither"``.
        centres: float ``(n, 2)`` stroke centres, mm (``"dither"`` only).
        reach_mm: float ``(n,)`` distance within which a stroke passes its error on,
            mm (``"dither"`` only; the stroke's width is a good value).
        runs: int ``(n,)`` run label; error passes only within a run (``"dither"``).

    Returns:
        int ``(n,)`` paint index per stroke.
    """
    from skimage.color import deltaE_ciede2000

    n = len(target_rgb)
    lab_t = _lab(target_rgb)
    lab_p = _lab(paint_rgb)
    out = np.zeros(n, np.int64)
    if mode == "nearest":
        # group strokes by candidate set (one per brush width class): one matrix each
        keys: dict[tuple[int, ...], list[int]] = {}
        for i, c in enumerate(candidates):
            keys.setdefault(tuple(int(v) for v in c), []).append(i)
        for cand, idx in keys.items():
            ca = np.array(cand, np.int64)
            dist = deltaE_ciede2000(lab_t[idx][:, None, :], lab_p[ca][None, :, :])
            out[idx] = ca[np.argmin(dist, axis=1)]
        return out
    if mode != "dither":
        raise ValueError(f"matching mode must be 'nearest' or 'dither', not {mode!r}")
    from scipy.spatial import cKDTree

    assert centres is not None and reach_mm is not None and runs is not None
    tree = cKDTree(centres)
    carry = np.zeros((n, 3), np.float64)
    max_reach = float(np.max(reach_mm)) if n else 0.0
    for i in range(n):
        ca = np.asarray(candidates[i], np.int64)
        t = lab_t[i] + carry[i]
        dist = deltaE_ciede2000(np.broadcast_to(t, (len(ca), 3)), lab_p[ca])
        out[i] = ca[int(np.argmin(dist))]
        err = t - lab_p[out[i]]
        # pass the error on to the nearest later strokes of the same run
        near = tree.query_ball_point(centres[i], r=float(reach_mm[i]) + 0.5 * max_reach)
        near = [j for j in near if j > i and runs[j] == runs[i]]
        if not near:
            continue
        near = np.array(near, np.int64)
        dd = np.linalg.norm(centres[near] - centres[i], axis=1)
        pick = near[np.argsort(dd, kind="stable")[:4]]
        w = np.array([7.0, 5.0, 3.0, 1.0])[: len(pick)]
        w = w / w.sum()
        carry[pick] += err[None, :] * w[:, None]
        norms = np.linalg.norm(carry[pick], axis=1)
        over = norms > DITHER_CLAMP
        if over.any():
            carry[pick[over]] *= (DITHER_CLAMP / norms[over])[:, None]
    return out


# -- capacity --------------------------------------------------------------------------


def _max_length_per_dip(width: float, capacity_mm: float, capacity_mm2: float) -> float:
    """Longest stroke one dip paints, mm (inf = unlimited)."""
    lim = math.inf
    if capacity_mm > 0:
        lim = capacity_mm
    if capacity_mm2 > 0:
        lim = min(lim, max((capacity_mm2 - math.pi * width**2 / 4.0) / width, 0.0))
    return lim


def _split_polyline(points: np.ndarray, max_len: float) -> list[np.ndarray]:
    """Cut a polyline into consecutive pieces no longer than ``max_len`` mm."""
    p = np.asarray(points, np.float64)
    seg = np.linalg.norm(np.diff(p, axis=0), axis=1) if len(p) > 1 else np.zeros(0)
    total = float(seg.sum())
    if not math.isfinite(max_len) or total <= max_len or max_len <= 0:
        return [p]
    k = math.ceil(total / max_len - 1e-9)
    cum = np.concatenate([[0.0], np.cumsum(seg)])
    cuts = np.linspace(0.0, total, k + 1)
    pieces = []
    for a, b in zip(cuts[:-1], cuts[1:]):
        inside = (cum > a) & (cum < b)
        pa = np.array([np.interp(a, cum, p[:, 0]), np.interp(a, cum, p[:, 1])])
        pb = np.array([np.interp(b, cum, p[:, 0]), np.interp(b, cum, p[:, 1])])
        pieces.append(np.vstack([pa, p[inside], pb]))
    return pieces


# -- ordering --------------------------------------------------------------------------


def _runs(keys: Sequence[tuple[int, int]]) -> list[tuple[int, int]]:
    """``[start, stop)`` of maximal runs of equal keys."""
    out = []
    start = 0
    for i in range(1, len(keys) + 1):
        if i == len(keys) or keys[i] != keys[start]:
            out.append((start, i))
            start = i
    return out


def _or_opt(
    order: list[int],
    flips: list[bool],
    firsts: np.ndarray,
    lasts: np.ndarray,
    tools: np.ndarray,
    pairs: np.ndarray,
    pos0: np.ndarray,
    switch_mm: float,
    passes: int = 3,
) -> tuple[list[int], list[bool]]:
    """Improve a run's order by moving single strokes (Or-opt), either way round.

    The cost of going from stroke ``a`` to ``b`` is the pen-up distance plus
    ``switch_mm`` when their tools differ; a stroke only moves between the last of
    the strokes that must precede it and the first that must follow it (``pairs``), so
    the render stays exact.
    """
    n = len(order)
    if n < 3:
        return order, flips
    preds: list[list[int]] = [[] for _ in range(n)]
    succs: list[list[int]] = [[] for _ in range(n)]
    for i, j in pairs:
        preds[int(j)].append(int(i))
        succs[int(i)].append(int(j))
    seq = np.array(order, np.int64)
    flp = np.array(flips, bool)
    w = switch_mm if math.isfinite(switch_mm) else 1e9  # inf: a tool change is never worth it

    def ends(q: np.ndarray, f: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        st = np.where(f[:, None], lasts[q], firsts[q])
        en = np.where(f[:, None], firsts[q], lasts[q])
        return st, en

    for _ in range(passes):
        improved = 0
        for s in list(seq):
            pos = np.empty(n, np.int64)
            pos[seq] = np.arange(n)
            k = int(pos[s])
            st, en = ends(seq, flp)
            prev_end = en[k - 1] if k > 0 else pos0
            has_next = k < n - 1
            gain = float(np.hypot(*(st[k] - prev_end))) + (w if k > 0 and tools[seq[k - 1]] != tools[s] else 0.0)
            if has_next:
                gain += float(np.hypot(*(st[k + 1] - en[k]))) + (w if tools[seq[k + 1]] != tools[s] else 0.0)
                gain -= float(np.hypot(*(st[k + 1] - prev_end))) + (w if k > 0 and tools[seq[k - 1]] != tools[seq[k + 1]] else 0.0)
            # the sequence without s, and where s may go back in: slot t = before rest[t]
            rest = np.delete(seq, k)
            rflp = np.delete(flp, k)
            rst, ren = np.delete(st, k, axis=0), np.delete(en, k, axis=0)
            rpos = np.empty(n, np.int64)
            rpos[rest] = np.arange(n - 1)
            lo = max((int(rpos[p]) + 1 for p in preds[s]), default=0)
            hi = min((int(rpos[q]) for q in succs[s]), default=n - 1)
            if hi < lo:
                continue
            slots = np.arange(lo, hi + 1)
            a_end = np.where(slots[:, None] > 0, ren[np.maximum(slots - 1, 0)], pos0)
            a_tool = np.where(slots > 0, tools[rest[np.maximum(slots - 1, 0)]], -1)
            nxt = slots < n - 1
            b_st = rst[np.minimum(slots, n - 2)]
            b_tool = tools[rest[np.minimum(slots, n - 2)]]
            base = np.where(nxt, np.hypot(*(b_st - a_end).T) + np.where((a_tool >= 0) & (a_tool != b_tool), w, 0.0), 0.0)
            best = None
            for f in (False, True):
                s_st = lasts[s] if f else firsts[s]
                s_en = firsts[s] if f else lasts[s]
                add = np.hypot(*(s_st - a_end).T) + np.where((a_tool >= 0) & (a_tool != tools[s]), w, 0.0)
                add = add + np.where(nxt, np.hypot(*(b_st - s_en).T) + np.where(b_tool != tools[s], w, 0.0), 0.0) - base
                j = int(np.argmin(add))
                if best is None or add[j] < best[0]:
                    best = (float(add[j]), int(slots[j]), f)
            if best is not None and best[0] < gain - 1e-6:
                seq = np.insert(rest, best[1], s)
                flp = np.insert(rflp, best[1], best[2])
                improved += 1
        if not improved:
            break
    return seq.tolist(), flp.tolist()


def order_for_machine(
    polylines: Sequence[np.ndarray],
    widths: Sequence[float],
    colors: np.ndarray,
    tools: np.ndarray,
    runs: Sequence[tuple[int, int]],
    fringe_mm: float,
    switch_mm: float = math.inf,
    start: np.ndarray | None = None,
    progress: Progress = NULL_PROGRESS,
) -> tuple[list[int], list[bool]]:
    """Order strokes inside each run, keeping the render exact.

    Args:
        polylines: float ``(n_i, 2)`` points, mm, in their current order.
        widths: stroke widths, mm.
        colors: uint8 ``(n, 3)`` colours; overlapping strokes of *different* colour
            keep their relative order.
        tools: int ``(n,)`` tool key (paint and brush) of each stroke.
        runs: ``[start, stop)`` index ranges reordered independently, in sequence.
        fringe_mm: anti-aliasing fringe added to each stroke's radius, mm (half a
            pixel of the finest render that must stay identical, plus margin).
        switch_mm: a tool change is worth this much pen-up travel, mm (``inf``: keep
            the tool whenever possible; 0: ignore tools, travel only).
        start: pen position before the first stroke, mm.

    Returns:
        ``(order, reversed)``: indices into ``polylines`` and whether each is painted
        backwards.
    """
    colors = np.asarray(colors).reshape(-1, 3)
    tools = np.asarray(tools, np.int64)
    order: list[int] = []
    flips: list[bool] = []
    pos = np.asarray(start, np.float64) if start is not None else (polylines[0][0] if len(polylines) else np.zeros(2))
    tool = int(tools[0]) if len(tools) else -1
    # buffer polygons are inscribed in the true circles: grow the radius to cover them
    grow = 1.0 / math.cos(math.pi / 16.0)
    with progress.stage("machine order", len(runs)) as st:
        for a, b in runs:
            idx = np.arange(a, b)
            lines = [np.asarray(polylines[i], np.float64) for i in idx]
            radii = [(widths[i] / 2.0 + fringe_mm) * grow for i in idx]
            pairs = overlap_pairs(lines, radii)
            if len(pairs):
                c = colors[idx]
                keep = (c[pairs[:, 0]] != c[pairs[:, 1]]).any(axis=1)
                pairs = pairs[keep]
            firsts = np.array([p[0] for p in lines])
            lasts = np.array([p[-1] for p in lines])
            sub, sub_flip = precedence_greedy(firsts, lasts, pairs, pos, tools[idx], tool, switch_mm)
            sub, sub_flip = _or_opt(sub, sub_flip, firsts, lasts, tools[idx], pairs, pos, switch_mm)
            for j, f in zip(sub, sub_flip):
                order.append(int(idx[j]))
                flips.append(f)
            last = lines[sub[-1]]
            pos = last[0] if sub_flip[-1] else last[-1]
            tool = int(tools[order[-1]])
            st.advance(1)
    return order, flips


# -- actions ---------------------------------------------------------------------------


def insert_actions(strokes: Sequence[Stroke], profile: MachineProfile) -> list[Stroke]:
    """Set each stroke's ``actions`` for executing ``strokes`` in order on ``profile``.

    Painting arm: a change of paint or brush cleans the brush (if it holds paint),
    changes the tool (if the brush changes) and dips; otherwise a dip is added when the
    stroke would exceed the brush's capacity since the last dip. Pens: a tool change
    whenever the pen changes. Strokes must already fit the capacity (see
    :func:`apply_machine`, which splits longer ones).
    """
    out: list[Stroke] = []
    cur_brush: int | None = None
    cur_paint: int | None = None
    load = 0.0
    for s in strokes:
        acts: list[str] = []
        if profile.pens:
            if s.brush != cur_brush:
                acts.append("tool")
        else:
            b = profile.brushes[s.brush]
            lim = _max_length_per_dip(b.width_mm, b.capacity_mm, b.capacity_mm2)
            need = s.length_mm / lim if math.isfinite(lim) and lim > 0 else 0.0
            if s.brush != cur_brush or s.paint != cur_paint:
                if cur_brush is not None:
                    acts.append("clean")
                if s.brush != cur_brush:
                    acts.append("tool")
                acts.append("dip")
                load = 0.0
            elif load + need > 1.0 + 1e-9:
                acts.append("dip")
                load = 0.0
            load += need
        cur_brush, cur_paint = s.brush, s.paint
        out.append(replace(s, actions=tuple(acts)))
    return out


# -- the whole transformation ----------------------------------------------------------


def apply_machine(
    plan: StrokePlan,
    profile: MachineProfile,
    reorder: bool = True,
    objective: str = "time",
    progress: Progress = NULL_PROGRESS,
) -> tuple[StrokePlan, dict[str, Any]]:
    """Make ``plan`` executable on ``profile`` (see the module docstring).

    Args:
        plan: any stroke plan.
        profile: the machine.
        reorder: reorder inside (layer, level) runs (``False`` keeps the plan's order,
            for comparisons).
        objective: ``"time"``: a change of paint or brush costs the travel the machine
            would cover in the time the change takes (clean, tool change, dip), so
            strokes are grouped by tool; ``"travel"``: pen-up travel only.
        progress: progress display.

    Returns:
        ``(robot_plan, report)``: the new plan (ids renumbered in execution order,
        ``meta["machine"]`` = the profile) and :func:`machine_report` of it.

    Raises:
        PlanError: the plan does not fit the machine canvas (stroke named).
    """
    points, widths, canvas, fit = place_plan(plan, profile)
    classes = _width_classes(profile)
    paint_rgb = np.array([p.rgb for p in profile.paints], np.uint8)
    brush_w = np.array([b.width_mm for b in profile.brushes], np.float64)
    # brush width per stroke and the paints usable with it
    chosen_w = []
    hatch = []
    for w in widths:
        cw, h = _choose_width(w, classes)
        chosen_w.append(cw)
        hatch.append(h)
    cand_by_w = {float(cw): np.array(sorted({t.paint for t in profile.tools if profile.brushes[t.brush].width_mm == cw}), np.int64) for cw in classes}
    candidates = [cand_by_w[cw] for cw in chosen_w]
    target = np.array([s.rgb for s in plan.strokes], np.uint8).reshape(-1, 3)
    keys = [(s.layer, s.level) for s in plan.strokes]
    run_label = np.zeros(len(keys), np.int64)
    for r, (a, b) in enumerate(_runs(keys)):
        run_label[a:b] = r
    centres = np.array([p.mean(axis=0) for p in points]).reshape(-1, 2)
    with progress.stage("paints", 1) as st:
        paints = match_paints(target, candidates, paint_rgb, profile.matching, centres, np.asarray(widths), run_label) if len(target) else np.zeros(0, np.int64)
        st.advance(1)

    # expand: hatch passes, capacity splits; each piece keeps its parent's group and step
    pieces: list[tuple[np.ndarray, int, int, int]] = []  # points, brush, paint, parent
    n_hatched = n_split = 0
    with progress.stage("brushes", len(points)) as st:
        for i, (p, w) in enumerate(zip(points, widths)):
            paint = int(paints[i])
            brush = _brush_for(profile, chosen_w[i], paint)
            bw = float(brush_w[brush])
            lines = hatch_passes(p, w, bw, clip_box=profile.canvas.drawable_box_mm) if hatch[i] else [p]
            n_hatched += bool(hatch[i])
            b = profile.brushes[brush]
            lim = _max_length_per_dip(bw, b.capacity_mm, b.capacity_mm2) if profile.needs_dips else math.inf
            for q in lines:
                parts = _split_polyline(q, lim)
                n_split += len(parts) > 1
                pieces.extend((part, brush, paint, i) for part in parts)
            st.advance(1)
    if n_hatched:
        log.info("%d strokes wider than %.3g mm filled with passes of the widest brush", n_hatched, classes[-1] * HATCH_FACTOR)
    if n_split:
        log.info("%d strokes longer than a dip paints were split", n_split)

    src = plan.strokes
    piece_keys = [keys[par] for _, _, _, par in pieces]
    lines = [q for q, _, _, _ in pieces]
    pw = [float(brush_w[b]) for _, b, _, _ in pieces]
    prgb = paint_rgb[[pt for _, _, pt, _ in pieces]] if pieces else np.zeros((0, 3), np.uint8)
    tools = np.array([b * len(profile.paints) + pt for _, b, pt, _ in pieces], np.int64)
    runs = _runs(piece_keys)
    if reorder and pieces:
        fringe = 0.75 * canvas.mm_per_px if canvas.image_px[0] > 0 and canvas.image_box_mm[2] > 0 else 0.5
        m = profile.motion
        # a tool change is worth the travel the machine covers in the change's time
        switch_s = profile.tool_change.time_s + (0.0 if profile.pens else profile.stations.wash_s + profile.stations.wipe_s + profile.stations.dip_s)
        if objective not in ("time", "travel"):
            raise ValueError(f"objective must be 'time' or 'travel', not {objective!r}")
        switch_mm = switch_s * m.travel_speed_mm_s if objective == "time" else 0.0
        order, flips = order_for_machine(lines, pw, prgb, tools, runs, fringe, switch_mm, None, progress)
    else:
        order, flips = list(range(len(pieces))), [False] * len(pieces)
    # steps: each run keeps its multiset of steps, sorted, so steps never decrease
    steps = np.array([src[par].step for _, _, _, par in pieces], np.int64)
    new_steps = np.empty_like(steps)
    pos_in_order = np.empty(len(order), np.int64)
    pos_in_order[np.asarray(order, np.int64)] = np.arange(len(order)) if order else np.zeros(0, np.int64)
    for a, b in runs:
        members = np.arange(a, b)
        slots = np.sort(pos_in_order[members])
        new_steps[slots] = np.sort(steps[members])
    strokes = []
    for k, (i, f) in enumerate(zip(order, flips)):
        q, brush, paint, par = pieces[i]
        s0 = src[par]
        strokes.append(
            Stroke(
                id=k,
                points=q[::-1] if f else q,
                width_mm=float(brush_w[brush]),
                brush=brush,
                paint=paint,
                rgb=tuple(int(v) for v in paint_rgb[paint]),
                layer=s0.layer,
                level=s0.level,
                step=int(new_steps[k]),
            )
        )
    strokes = insert_actions(strokes, profile)
    palette = [Paint(i, tuple(int(v) for v in p.rgb), p.name) for i, p in enumerate(profile.paints)]
    brushes = [Brush(j, b.width_mm, b.shape) for j, b in enumerate(profile.brushes)]
    meta = dict(plan.meta)
    meta["machine"] = profile.to_dict()
    meta["machine_fit"] = {"scale": fit["scale"], "offset_mm": fit["offset_mm"], "clamped": fit["clamped"], "source_strokes": len(src), "hatched": n_hatched, "split": n_split, "reordered": bool(reorder)}
    out = StrokePlan(canvas, palette, brushes, strokes, meta)
    StrokePlan.validate_dict(out.to_dict(), "robot plan")
    check_plan_on_machine(out, profile)
    return out, machine_report(out, profile)


def machine_settings(settings: Any, profile: MachineProfile, canvas_given: bool = False) -> Any:
    """Planner settings (:class:`~animatepainter.planner.pipeline.PaintSettings`) for
    painting on ``profile``: the canvas is the machine's paintable area (unless
    ``canvas_given``), the background its canvas colour (when the profile sets one),
    and, for brush machines with ``nearest`` colour matching, the strokes are fitted
    with the machine's paints and brush widths directly."""
    changes: dict[str, Any] = {}
    if not canvas_given:
        changes["canvas_mm"] = tuple(float(v) for v in profile.drawable_size_mm)
    if profile.canvas.background is not None:
        changes["background"] = tuple(profile.canvas.background)
    if profile.matching == "nearest" and not profile.pens:
        # fit with the machine's own paints and brushes: each stroke takes the paint
        # that lowers the error most and one of the brush widths, instead of a free
        # colour and width matched afterwards (measured on the bench images with the
        # painting-arm profile: +1.2 to +2.1 dB). Pens are thin: pen plots are fitted
        # with wide free strokes and hatched afterwards, which measured better for them.
        used = sorted({t.paint for t in profile.tools})
        changes["paints"] = tuple(tuple(int(v) for v in profile.paints[i].rgb) for i in used)
        changes["paint_names"] = tuple(profile.paints[i].name for i in used)
        changes["brush_widths_mm"] = tuple(sorted({b.width_mm for b in profile.brushes}, reverse=True))
    out = replace(settings, **changes)
    out.check()
    return out


def _brush_for(profile: MachineProfile, width: float, paint: int) -> int:
    """The brush (pen) of ``width`` that can carry ``paint``."""
    for t in profile.tools:
        if t.paint == paint and profile.brushes[t.brush].width_mm == width:
            return t.brush
    raise AssertionError("matched paint has no brush of that width")  # match_paints only offers usable paints


def ensure_machine(plan: StrokePlan, profile: MachineProfile, progress: Progress = NULL_PROGRESS) -> StrokePlan:
    """``plan`` as is when it was made for ``profile`` (checked), else
    :func:`apply_machine` of it."""
    if plan.meta.get("machine") == _roundtrip(profile.to_dict()):
        check_plan_on_machine(plan, profile)
        return plan
    log.info("adapting the plan to machine %r", profile.name)
    return apply_machine(plan, profile, progress=progress)[0]


def _roundtrip(d: dict[str, Any]) -> dict[str, Any]:
    import json

    from .plan import _jsonable

    return json.loads(json.dumps(_jsonable(d)))


# -- execution: events, time -----------------------------------------------------------


@dataclass(frozen=True)
class Event:
    """One machine operation, machine coordinates (mm, s).

    ``kind`` is ``"travel"`` (pen-up XY move to ``xy``), ``"z"`` (move to height
    ``z``; ``down`` True when lowering onto paper, well, water or rag), ``"draw"``
    (pen-down polyline ``points``, first point = current position), ``"dwell"``
    (``seconds``), ``"tool"`` (change to tool ``number``, ``label``), ``"note"``
    (``label``: what comes next, for comments). ``stroke`` is the stroke index for
    stroke events, else -1.
    """

    kind: str
    xy: tuple[float, float] | None = None
    z: float | None = None
    down: bool = False
    points: np.ndarray | None = None
    seconds: float = 0.0
    number: int = 0
    label: str = ""
    stroke: int = -1


def execution_events(plan: StrokePlan, profile: MachineProfile) -> Iterator[Event]:
    """The motion that executes a robot plan on ``profile``, start to end.

    Starts pen-up at ``motion.home_mm``; for each stroke performs its actions (clean:
    water then rag; tool: go to ``tool_change.position_mm`` and change; dip: the
    paint's well), travels to the stroke's first point, lowers, draws, raises; after
    the last stroke cleans the brush (painting arms) and returns home.
    """
    m, st = profile.motion, profile.stations
    up, down = m.pen_up_z_mm, m.pen_down_z_mm
    to_m = profile.canvas.to_machine
    yield Event("z", z=up)
    yield Event("travel", xy=tuple(m.home_mm))

    def visit(xy, seconds, label):
        yield Event("note", label=label)
        yield Event("travel", xy=(float(xy[0]), float(xy[1])))
        yield Event("z", z=st.dip_z_mm, down=True)
        if seconds > 0:
            yield Event("dwell", seconds=seconds)
        yield Event("z", z=up)

    for i, s in enumerate(plan.strokes):
        for a in s.actions:
            if a == "clean" and not profile.pens:
                if st.water_mm is not None:
                    yield from visit(st.water_mm, st.wash_s, "clean: water")
                if st.rag_mm is not None:
                    yield from visit(st.rag_mm, st.wipe_s, "clean: rag")
            elif a == "tool":
                b = profile.brushes[s.brush]
                if profile.tool_change.position_mm is not None:
                    yield Event("travel", xy=tuple(profile.tool_change.position_mm))
                label = f"{profile.paints[s.paint].name} {b.width_mm:g} mm" if profile.pens else f"{b.name}"
                yield Event("tool", number=b.tool, label=label, stroke=i)
            elif a == "dip" and not profile.pens:
                well = profile.paints[s.paint].well_mm
                if well is not None:
                    yield from visit(well, st.dip_s, f"dip: {profile.paints[s.paint].name}")
        pts = to_m(s.points)
        yield Event("note", label=f"stroke {s.id} paint {s.paint} brush {s.brush} layer {s.layer} level {s.level} step {s.step}", stroke=i)
        yield Event("travel", xy=(float(pts[0, 0]), float(pts[0, 1])), stroke=i)
        yield Event("z", z=down, down=True, stroke=i)
        yield Event("draw", points=pts, stroke=i)
        yield Event("z", z=up, stroke=i)
    if plan.strokes and not profile.pens:
        if st.water_mm is not None:
            yield from visit(st.water_mm, st.wash_s, "clean: water")
        if st.rag_mm is not None:
            yield from visit(st.rag_mm, st.wipe_s, "clean: rag")
    yield Event("travel", xy=tuple(m.home_mm))


def _move_time(length: float, speed: float, accel: float) -> float:
    """Time of a straight move from rest to rest, s (trapezoidal profile)."""
    if length <= 0:
        return 0.0
    if accel <= 0:
        return length / speed
    if length >= speed * speed / accel:
        return length / speed + speed / accel
    return 2.0 * math.sqrt(length / accel)


def draw_time(points: np.ndarray, speed: float, accel: float, junction_deviation_mm: float) -> float:
    """Time to draw a polyline from rest to rest, s, with corner slow-downs.

    The speed through each vertex is capped by GRBL's junction-deviation rule
    (``v² = a·δ·sin(θ/2) / (1 − sin(θ/2))``, θ the angle between the incoming and the
    reversed outgoing direction: straight on is unlimited, a full reversal stops), then
    by what acceleration allows from the start and before the end (GRBL's backward and
    forward planner passes, written here as running minima), and each segment runs a
    trapezoidal profile between its entry and exit speeds. Hand-written: no library
    estimates motion time for a planned path; the rule is GRBL's (planner.c).

    Args:
        points: float ``(n, 2)`` path, mm.
        speed: feed rate, mm/s (> 0).
        accel: acceleration, mm/s² (0: instant speed changes, time = length / speed).
        junction_deviation_mm: GRBL ``$11``, mm (0: stop at every corner).
    """
    p = np.asarray(points, np.float64).reshape(-1, 2)
    seg = np.diff(p, axis=0)
    L = np.hypot(seg[:, 0], seg[:, 1])
    keep = L > 1e-9
    seg, L = seg[keep], L[keep]
    if len(L) == 0:
        return 0.0
    if accel <= 0:
        return float(L.sum() / speed)
    u = seg / L[:, None]
    cap2 = np.full(len(L) + 1, speed * speed)  # squared speed cap at each vertex
    cap2[0] = cap2[-1] = 0.0  # from rest, to rest
    if len(L) > 1:
        cos_t = np.clip(-(u[:-1] * u[1:]).sum(axis=1), -1.0, 1.0)
        sin_h = np.sqrt(0.5 * (1.0 - cos_t))  # sin(θ/2)
        with np.errstate(divide="ignore", invalid="ignore"):
            vj2 = np.where(sin_h > 1.0 - 1e-9, np.inf, accel * junction_deviation_mm * sin_h / (1.0 - sin_h))
        cap2[1:-1] = np.minimum(cap2[1:-1], vj2)
    s = np.concatenate([[0.0], np.cumsum(L)])
    # backward pass: v_k² <= min_{j>=k} (cap_j² + 2a (s_j - s_k)); forward the same way
    back = np.minimum.accumulate((cap2 + 2 * accel * s)[::-1])[::-1] - 2 * accel * s
    v2 = np.minimum.accumulate(back - 2 * accel * s) + 2 * accel * s
    v2 = np.maximum(np.minimum(v2, back), 0.0)
    v0, v1 = np.sqrt(v2[:-1]), np.sqrt(v2[1:])
    vp = np.minimum(speed, np.sqrt((2 * accel * L + v2[:-1] + v2[1:]) / 2))
    vp = np.maximum(vp, np.maximum(v0, v1))
    cruise = np.maximum(L - (2 * vp * vp - v2[:-1] - v2[1:]) / (2 * accel), 0.0)
    return float(((2 * vp - v0 - v1) / accel + cruise / np.maximum(vp, 1e-12)).sum())


def machine_report(plan: StrokePlan, profile: MachineProfile) -> dict[str, Any]:
    """Machine figures of a robot plan.

    Returns:
        dict: ``profile``, ``strokes``, ``paint_changes`` and ``tool_changes``
        (consecutive strokes whose paint / tool differ), ``dips`` (all paint loads),
        ``reloads`` (dips for capacity alone), ``cleans`` (including the final one),
        ``pen_down_mm``, ``pen_up_mm`` (all pen-up XY travel: between strokes, to the
        stations and tool change position, from and back home),
        ``pen_up_between_strokes_mm``, ``estimated_time_s`` and ``time_s`` (its parts:
        draw, travel, z, dwell, tool changes). The time estimate moves at the profile's
        speeds with a trapezoidal speed profile per move; strokes slow down at their
        corners by the profile's junction deviation (:func:`draw_time`).
    """
    m = profile.motion
    strokes = plan.strokes
    paint_changes = sum(1 for a, b in zip(strokes, strokes[1:]) if a.paint != b.paint)
    tool_changes = sum(1 for a, b in zip(strokes, strokes[1:]) if a.brush != b.brush)
    dips = sum("dip" in s.actions for s in strokes)
    reloads = sum(("dip" in s.actions) and ("clean" not in s.actions) and ("tool" not in s.actions) and i > 0 for i, s in enumerate(strokes))
    cleans = sum("clean" in s.actions for s in strokes)
    t = {"draw_s": 0.0, "travel_s": 0.0, "z_s": 0.0, "dwell_s": 0.0, "tool_change_s": 0.0}
    pen_up = 0.0
    pen_down = 0.0
    pos = np.array(m.home_mm, np.float64)
    z = m.pen_up_z_mm
    for ev in execution_events(plan, profile):
        if ev.kind == "travel":
            d = float(np.hypot(*(np.asarray(ev.xy) - pos)))
            pen_up += d
            t["travel_s"] += _move_time(d, m.travel_speed_mm_s, m.acceleration_mm_s2)
            pos = np.asarray(ev.xy, np.float64)
        elif ev.kind == "z":
            if m.pen_lift == "servo":
                t["z_s"] += m.servo_delay_s if ev.z != z else 0.0
            else:
                t["z_s"] += abs(ev.z - z) / m.z_speed_mm_s
            z = ev.z
        elif ev.kind == "draw":
            p = ev.points
            d = float(np.linalg.norm(np.diff(p, axis=0), axis=1).sum()) if len(p) > 1 else 0.0
            pen_down += d
            t["draw_s"] += draw_time(p, m.draw_speed_mm_s, m.acceleration_mm_s2, m.junction_deviation_mm)
            pos = p[-1]
        elif ev.kind == "dwell":
            t["dwell_s"] += ev.seconds
        elif ev.kind == "tool":
            t["tool_change_s"] += profile.tool_change.time_s
    total = sum(t.values())
    st = profile.stations
    final_cleans = int(bool(strokes) and not profile.pens and (st.water_mm is not None or st.rag_mm is not None))
    return {
        "profile": profile.name,
        "kind": profile.kind,
        "strokes": len(strokes),
        "paint_changes": paint_changes,
        "tool_changes": tool_changes,
        "dips": dips,
        "reloads": reloads,
        "cleans": cleans + final_cleans,
        "pen_down_mm": round(pen_down, 1),
        "pen_up_mm": round(pen_up, 1),
        "pen_up_between_strokes_mm": round(plan.pen_up_travel_mm(), 1),
        "estimated_time_s": round(total, 1),
        "time_s": {k: round(v, 1) for k, v in t.items()},
    }
