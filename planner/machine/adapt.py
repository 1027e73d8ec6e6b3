"""Robot constraints: turn any :class:`StrokePlan` into one a given machine can execute.

:func:`apply_machine` takes a plan from either engine and a
:class:`~animatepainter.planner.machine.profile.MachineProfile` and returns a plan that

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
from dataclasses import replace
from typing import Any, Sequence

import numpy as np

from animatepainter.planner.assemble import assemble_plan
from animatepainter.planner.colors import delta_e2000_lab, srgb_to_lab
from animatepainter.planner.errors import PlanError
from animatepainter.planner.machine.motion import machine_report
from animatepainter.planner.machine.order import group_runs, order_for_machine
from animatepainter.planner.machine.profile import BrushSpec, MachineProfile
from animatepainter.planner.plan import Canvas, Stroke, StrokePlan
from animatepainter.planner.progress import NULL_PROGRESS, Progress

log = logging.getLogger(__name__)

__all__ = [
    "HATCH_OVERLAP",
    "apply_machine",
    "ensure_machine",
    "machine_settings",
    "place_plan",
    "hatch_passes",
    "match_paints",
    "insert_actions",
    "check_plan_on_machine",
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
    """CIELAB float64 ``(n, 3)`` of 0..255 RGB ``(n, 3)`` (the package's one conversion)."""
    return srgb_to_lab(np.asarray(rgb, np.float64).reshape(-1, 3) / 255.0)


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
            dist = delta_e2000_lab(lab_t[idx][:, None, :], lab_p[ca][None, :, :])
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
        dist = delta_e2000_lab(np.broadcast_to(t, (len(ca), 3)), lab_p[ca])
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


def _max_length_per_dip(b: BrushSpec) -> float:
    """Longest stroke one dip of brush ``b`` paints, mm (inf = unlimited): at most its
    ``capacity_mm``, and the length whose painted area (:meth:`BrushSpec.area_mm2`:
    length x width + the round ends) is its ``capacity_mm2``."""
    lim = math.inf
    if b.capacity_mm > 0:
        lim = b.capacity_mm
    if b.capacity_mm2 > 0:
        lim = min(lim, max((b.capacity_mm2 - b.area_mm2(0.0)) / b.width_mm, 0.0))
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
            lim = _max_length_per_dip(b)
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


#: a piece showing less than this share of itself keeps its place among same-paint strokes
FRAGILE_SHARE = 0.3


def _fragile(plan: StrokePlan, lines: list[np.ndarray], widths_mm: list[float]) -> np.ndarray | None:
    """For a plan made without hidden strokes (``meta["pruning"]``): which pieces (mm, in
    plan order) show less than :data:`FRAGILE_SHARE` of themselves, so that the machine's
    order does not hide them under a stroke of the same paint; ``None`` otherwise."""
    if plan.meta.get("pruning") is None or not lines:
        return None
    from animatepainter.planner.process import pack_strokes, visible_fractions

    c = plan.canvas
    bx, by, bw, bh = c.image_box_mm
    iw, ih = c.image_px
    if iw <= 0 or bw <= 0:
        return None
    s = iw / bw
    pts = [(np.asarray(q, np.float64) - (bx, by)) * s for q in lines]
    vis = visible_fractions((ih, iw), *pack_strokes(pts, [w * s for w in widths_mm]))
    return vis < FRAGILE_SHARE


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
    paint_rgb = np.array([p.rgb for p in profile.paints], np.uint8)
    brush_w = np.array([b.width_mm for b in profile.brushes], np.float64)
    keys = [(s.layer, s.level) for s in plan.strokes]
    chosen_w, hatch, paints = _brush_widths_and_paints(plan, profile, points, widths, keys, paint_rgb, progress)
    pieces, n_hatched, n_split = _expand_pieces(profile, points, widths, chosen_w, hatch, paints, brush_w, progress)
    runs = group_runs([keys[par] for _, _, _, par in pieces])
    order, flips = _machine_order(plan, profile, canvas, pieces, runs, paint_rgb, brush_w, reorder, objective, progress)
    new_steps = _steps_in_order(plan, pieces, order, runs)
    picked = [pieces[i] for i in order]
    src = plan.strokes
    meta = dict(plan.meta)
    meta["machine"] = profile.to_dict()
    meta["machine_fit"] = {"scale": fit["scale"], "offset_mm": fit["offset_mm"], "clamped": fit["clamped"], "source_strokes": len(src), "hatched": n_hatched, "split": n_split, "reordered": bool(reorder)}
    out = assemble_plan(
        canvas,
        [q[::-1] if f else q for (q, _, _, _), f in zip(picked, flips)],
        units="mm",
        brush=[b for _, b, _, _ in picked],
        paint=[pt for _, _, pt, _ in picked],
        rgb=[paint_rgb[pt] for _, _, pt, _ in picked],
        layer=[src[par].layer for _, _, _, par in picked],
        level=[src[par].level for _, _, _, par in picked],
        step=new_steps,
        meta=meta,
        **profile.plan_tables(),
    )
    out = out.with_strokes(insert_actions(out.strokes, profile))
    StrokePlan.validate_dict(out.to_dict(), "robot plan")
    check_plan_on_machine(out, profile)
    return out, machine_report(out, profile)


#: a piece of a stroke on the machine: points (mm), brush, paint, index of the source stroke
_Piece = tuple[np.ndarray, int, int, int]


def _brush_widths_and_paints(
    plan: StrokePlan, profile: MachineProfile, points: list[np.ndarray], widths: list[float], keys: list[tuple[int, int]], paint_rgb: np.ndarray, progress: Progress
) -> tuple[list[float], list[bool], np.ndarray]:
    """Steps 2-3: for each stroke the brush width class it takes, whether it is hatched
    (wider than the widest brush takes in one pass), and its paint (matched among those
    usable with that width; ``"dither"`` passes the error on within a (layer, level) run)."""
    classes = _width_classes(profile)
    chosen_w = []
    hatch = []
    for w in widths:
        cw, h = _choose_width(w, classes)
        chosen_w.append(cw)
        hatch.append(h)
    cand_by_w = {float(cw): np.array(sorted({t.paint for t in profile.tools if profile.brushes[t.brush].width_mm == cw}), np.int64) for cw in classes}
    candidates = [cand_by_w[cw] for cw in chosen_w]
    target = np.array([s.rgb for s in plan.strokes], np.uint8).reshape(-1, 3)
    run_label = np.zeros(len(keys), np.int64)
    for r, (a, b) in enumerate(group_runs(keys)):
        run_label[a:b] = r
    centres = np.array([p.mean(axis=0) for p in points]).reshape(-1, 2)
    with progress.stage("paints", 1) as st:
        paints = match_paints(target, candidates, paint_rgb, profile.matching, centres, np.asarray(widths), run_label) if len(target) else np.zeros(0, np.int64)
        st.advance(1)
    return chosen_w, hatch, paints


def _expand_pieces(
    profile: MachineProfile, points: list[np.ndarray], widths: list[float], chosen_w: list[float], hatch: list[bool], paints: np.ndarray, brush_w: np.ndarray, progress: Progress
) -> tuple[list[_Piece], int, int]:
    """Steps 3-4: each stroke as the pieces the machine paints: hatch passes of its brush
    for a wide stroke, each cut where one dip runs out; each piece keeps its source stroke
    (so its group and step). Returns the pieces in source order and how many strokes
    were hatched and split."""
    pieces: list[_Piece] = []
    n_hatched = n_split = 0
    with progress.stage("brushes", len(points)) as st:
        for i, (p, w) in enumerate(zip(points, widths)):
            paint = int(paints[i])
            brush = _brush_for(profile, chosen_w[i], paint)
            bw = float(brush_w[brush])
            lines = hatch_passes(p, w, bw, clip_box=profile.canvas.drawable_box_mm) if hatch[i] else [p]
            n_hatched += bool(hatch[i])
            b = profile.brushes[brush]
            lim = _max_length_per_dip(b) if profile.needs_dips else math.inf
            for q in lines:
                parts = _split_polyline(q, lim)
                n_split += len(parts) > 1
                pieces.extend((part, brush, paint, i) for part in parts)
            st.advance(1)
    if n_hatched:
        log.info("%d strokes wider than %.3g mm filled with passes of the widest brush", n_hatched, _width_classes(profile)[-1] * HATCH_FACTOR)
    if n_split:
        log.info("%d strokes longer than a dip paints were split", n_split)
    return pieces, n_hatched, n_split


def _machine_order(
    plan: StrokePlan,
    profile: MachineProfile,
    canvas: Canvas,
    pieces: list[_Piece],
    runs: list[tuple[int, int]],
    paint_rgb: np.ndarray,
    brush_w: np.ndarray,
    reorder: bool,
    objective: str,
    progress: Progress,
) -> tuple[list[int], list[bool]]:
    """Step 5: the order the machine paints the pieces in and which are painted
    backwards (:func:`order_for_machine` inside each (layer, level) run; a change of tool
    costs the travel covered in its time under ``objective="time"``); the pieces' own
    order without ``reorder``."""
    if not (reorder and pieces):
        return list(range(len(pieces))), [False] * len(pieces)
    lines = [q for q, _, _, _ in pieces]
    pw = [float(brush_w[b]) for _, b, _, _ in pieces]
    prgb = paint_rgb[[pt for _, _, pt, _ in pieces]]
    tools = np.array([b * len(profile.paints) + pt for _, b, pt, _ in pieces], np.int64)
    fringe = 0.75 * canvas.mm_per_px if canvas.image_px[0] > 0 and canvas.image_box_mm[2] > 0 else 0.5
    m = profile.motion
    # a tool change is worth the travel the machine covers in the change's time
    switch_s = profile.tool_change.time_s + (0.0 if profile.pens else profile.stations.wash_s + profile.stations.wipe_s + profile.stations.dip_s)
    if objective not in ("time", "travel"):
        raise ValueError(f"objective must be 'time' or 'travel', not {objective!r}")
    switch_mm = switch_s * m.travel_speed_mm_s if objective == "time" else 0.0
    return order_for_machine(lines, pw, prgb, tools, runs, fringe, switch_mm, None, progress, _fragile(plan, lines, pw))


def _steps_in_order(plan: StrokePlan, pieces: list[_Piece], order: list[int], runs: list[tuple[int, int]]) -> np.ndarray:
    """int64 ``(len(pieces),)``: the step of each position in the machine order. Each run
    keeps its multiset of source steps, sorted along the order, so steps never decrease."""
    steps = np.array([plan.strokes[par].step for _, _, _, par in pieces], np.int64)
    new_steps = np.empty_like(steps)
    pos_in_order = np.empty(len(order), np.int64)
    pos_in_order[np.asarray(order, np.int64)] = np.arange(len(order)) if order else np.zeros(0, np.int64)
    for a, b in runs:
        members = np.arange(a, b)
        slots = np.sort(pos_in_order[members])
        new_steps[slots] = np.sort(steps[members])
    return new_steps


def machine_settings(settings: Any, profile: MachineProfile, canvas_given: bool = False) -> Any:
    """Planner settings (:class:`~animatepainter.planner.teacher.pipeline.PaintSettings`) for
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
        # painting-arm profile: +0.8 to +0.9 dB, bench/bench_robot.py --fit). Pens are thin: pen plots are fitted
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

    from animatepainter.planner.plan import _jsonable

    return json.loads(json.dumps(_jsonable(d)))


