"""Stroke calibration: a test sheet, and what the rig really paints, from a photo of it.

:func:`calibration_sheet_plan` lays out, for each brush of the rig, one load of paint (the
brush's ``capacity_mm``) as eight straight segments of dark paint, left to right in rows,
with one dip per brush. :func:`measure_calibration` registers a photo of the painted
sheet (:mod:`.register`) and, for each segment, reads across it where the paint is
(its centre), how wide it is (the width at half its coverage) and how much it covers
(its opacity, against the blank canvas and the paint's colour); along the load the
opacities give the coverage just after a dip and at the end of the load (a straight
line fitted to them). Per brush the medians give the width ratio; over all segments the
median gives the rig's offset.

:func:`calibrated_rig` writes these into a copy of the profile (``[calibration]``) and
shortens each brush's ``capacity_mm`` to where its coverage would fall below
:data:`MIN_COVERAGE`, so plans made with it dip more often; :func:`compensate_plan`
moves every stroke by minus the offset and commands each width divided by its
brush's ratio.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Any

import numpy as np

from animatepainter.planner.assemble import assemble_plan, provenance
from animatepainter.planner.errors import InputError, SettingsError
from animatepainter.planner.machine.adapt import insert_actions
from animatepainter.planner.plan import Canvas, StrokePlan
from animatepainter.planner.rig.profile import Calibration, RigProfile, rig_dict

log = logging.getLogger(__name__)

__all__ = ["SHEET_PX_PER_MM", "MIN_COVERAGE", "calibration_sheet_plan", "measure_calibration", "calibrated_rig", "compensate_plan"]

#: resolution of the test sheet's pixel frame, px per mm
SHEET_PX_PER_MM = 2.0
#: segments per brush (one load)
SEGMENTS = 8
#: least coverage a calibrated plan lets a brush fall to before it dips again
MIN_COVERAGE = 0.75


def _dark_paint(rig: RigProfile) -> int:
    lum = [0.299 * p.rgb[0] + 0.587 * p.rgb[1] + 0.114 * p.rgb[2] for p in rig.machine.paints]
    return int(np.argmin(lum))


def calibration_sheet_plan(rig: RigProfile) -> StrokePlan:
    """The calibration test sheet for ``rig``: per brush, one load (``capacity_mm``) as
    :data:`SEGMENTS` horizontal segments of the darkest paint, in rows inside the
    margins; machine actions included (one dip per brush). ``meta["calibration_sheet"]``
    lists each segment: brush, commanded centre line and width, load position (0..1).

    Raises:
        SettingsError: a brush without capacity, or the sheet does not fit the canvas.
    """
    m = rig.machine
    if m.pens:
        raise SettingsError("stroke calibration is for brush rigs (paints and brushes), not pen plotters", "rig")
    x0, y0, dw, dh = m.canvas.drawable_box_mm
    paint = _dark_paint(rig)
    segs: list[dict[str, Any]] = []
    pts, brush, widths = [], [], []
    y = y0
    for b_i, b in enumerate(m.brushes):
        cap = b.capacity_mm if b.capacity_mm > 0 else 200.0
        length = cap / SEGMENTS
        pad = b.width_mm + 8.0  # room for the rig's offset and noise around each segment
        if length + 2 * pad > dw:
            raise SettingsError(f"brush {b.name!r}: segments of {length:g} mm do not fit the {dw:g} mm wide canvas", "rig")
        y += pad / 2.0 + b.width_mm / 2.0
        x = x0 + pad
        for k in range(SEGMENTS):
            if x + length > x0 + dw - pad:
                x = x0 + pad
                y += b.width_mm + pad
            if y + b.width_mm / 2.0 + pad / 2.0 > y0 + dh:
                raise SettingsError(f"the test sheet does not fit the {dw:g} x {dh:g} mm paintable area of {m.name!r}", "rig")
            p = np.array([[x, y], [x + length, y]], np.float64)
            pts.append(p)
            brush.append(b_i)
            widths.append(b.width_mm)
            segs.append({"brush": b_i, "x0": round(x, 3), "x1": round(x + length, 3), "y": round(y, 3), "width_mm": b.width_mm, "load": round((k + 0.5) / SEGMENTS, 4)})
            x += length + pad
        y += b.width_mm / 2.0 + pad / 2.0
    bg = m.canvas.background or (255, 255, 255)
    px = (int(round(dw * SHEET_PX_PER_MM)), int(round(dh * SHEET_PX_PER_MM)))
    canvas = Canvas(m.canvas.width_mm, m.canvas.height_mm, tuple(int(v) for v in bg), px, (x0, y0, dw, dh))
    n = len(pts)
    plan = assemble_plan(
        canvas,
        pts,
        brush=brush,
        paint=[paint] * n,
        rgb=[m.paints[paint].rgb] * n,
        layer=[0] * n,
        level=brush,
        step=brush,
        **m.plan_tables(),
        width_mm=widths,
        units="mm",
        meta=provenance("calibration", {"segments_per_brush": SEGMENTS}, 0, machine=m.to_dict(), calibration_sheet=segs),
    )
    return plan.with_strokes(insert_actions(plan.strokes, m))


def _profile_across(lum: np.ndarray, seg: dict[str, Any], plan: StrokePlan, reach_mm: float):
    """Coverage (``lum``: float ``(h, w)``, 0 blank .. 1 paint) of a window around a
    segment's middle: ``(ys_mm, cov_y, xs_mm, cov_x)``."""
    c = plan.canvas
    bx, by = c.image_box_mm[:2]
    s = SHEET_PX_PER_MM
    ya = int(np.floor((seg["y"] - reach_mm - by) * s))
    yb = int(np.ceil((seg["y"] + reach_mm - by) * s))
    length = seg["x1"] - seg["x0"]
    xm0 = int(np.floor((seg["x0"] + 0.2 * length - bx) * s))
    xm1 = int(np.ceil((seg["x1"] - 0.2 * length - bx) * s))
    # along the stroke: its round caps and the rig's error, short of the next segment
    # (segments are a brush width + 8 mm apart)
    along = float(seg["width_mm"]) / 2.0 + 5.0
    xa = int(np.floor((seg["x0"] - along - bx) * s))
    xb = int(np.ceil((seg["x1"] + along - bx) * s))
    h, w = lum.shape
    ya, yb, xa, xb = max(ya, 0), min(yb, h), max(xa, 0), min(xb, w)
    xm0, xm1 = max(xm0, 0), min(xm1, w)
    if yb - ya < 3 or xm1 - xm0 < 2:
        return None
    cov_y = lum[ya:yb, xm0:xm1].mean(axis=1)
    ys = by + (np.arange(ya, yb) + 0.5) / s
    band = lum[ya:yb, xa:xb]
    cov_x = band.max(axis=0)
    xs = bx + (np.arange(xa, xb) + 0.5) / s
    return ys, cov_y, xs, cov_x


def _half_extent(pos: np.ndarray, cov: np.ndarray, level: float) -> tuple[float, float] | None:
    """First and last position where ``cov`` crosses ``level`` (linear interpolation)."""
    above = np.flatnonzero(cov >= level)
    if len(above) == 0:
        return None
    i, j = above[0], above[-1]

    def cross(a, b):
        ca, cb = cov[a], cov[b]
        t = 0.5 if abs(cb - ca) < 1e-9 else (level - ca) / (cb - ca)
        return pos[a] + t * (pos[b] - pos[a])

    lo = cross(i - 1, i) if i > 0 else pos[i]
    hi = cross(j, j + 1) if j + 1 < len(pos) else pos[j]
    return float(lo), float(hi)


def measure_calibration(photo: np.ndarray, sheet: StrokePlan) -> tuple[Calibration, dict[str, Any]]:
    """Measure the rig from a photo of its painted test sheet.

    Args:
        photo: uint8 ``(H, W, 3)`` RGB photo of the sheet (markers visible).
        sheet: the plan from :func:`calibration_sheet_plan` that was painted.

    Returns:
        ``(calibration, report)``: the measured :class:`~.profile.Calibration` and, per
        brush, the commanded and measured widths, the opacities and the segments read.

    Raises:
        InputError: the photo cannot be registered, or too few segments were found.
    """
    from animatepainter.planner.rig.register import register_photo

    segs = sheet.meta.get("calibration_sheet")
    if not isinstance(segs, list) or not segs:
        raise InputError("the plan is not a calibration test sheet (made by `animatepainter rig calibrate --sheet`)")
    reg = register_photo(photo, sheet)
    img = reg.canvas
    bg = np.asarray(sheet.canvas.background, np.float64)
    paint = np.asarray(sheet.strokes[0].rgb, np.float64)
    contrast = bg - paint
    lum = (bg - img.astype(np.float64)) @ contrast / float(contrast @ contrast)  # 0 blank .. 1 paint
    nb = len(sheet.brushes)
    per: dict[int, dict[str, list[float]]] = {b: {"w": [], "op": [], "load": [], "dx": [], "dy": []} for b in range(nb)}
    for seg in segs:
        w = float(seg["width_mm"])
        prof = _profile_across(lum, seg, sheet, reach_mm=w + 6.0)
        if prof is None:
            continue
        ys, cov_y, xs, cov_x = prof
        peak = float(np.percentile(cov_y, 95))
        if peak < 0.08:
            continue
        ext = _half_extent(ys, cov_y, peak / 2.0)
        ext_x = _half_extent(xs, cov_x, float(np.percentile(cov_x, 95)) / 2.0)
        if ext is None or ext_x is None:
            continue
        width = ext[1] - ext[0]
        # opacity: the coverage integral over the measured width (robust to blur)
        step = float(ys[1] - ys[0]) if len(ys) > 1 else 1.0
        op = float(np.clip(cov_y.sum() * step / max(width, 1e-6), 0.0, 1.0))
        b = int(seg["brush"])
        per[b]["w"].append(width / w)
        per[b]["op"].append(op)
        per[b]["load"].append(float(seg["load"]))
        per[b]["dy"].append((ext[0] + ext[1]) / 2.0 - float(seg["y"]))
        # along the stroke the round caps reach w/2 past each end
        per[b]["dx"].append((ext_x[0] + ext_x[1]) / 2.0 - (float(seg["x0"]) + float(seg["x1"])) / 2.0)
    found = sum(len(v["w"]) for v in per.values())
    if found < max(3, len(segs) // 2):
        raise InputError(f"found {found} of the test sheet's {len(segs)} segments in the photo; is it the painted sheet, well lit?")
    scale, op0, op1, brushes = [], [], [], []
    for b in range(nb):
        d = per[b]
        if len(d["w"]) >= 2:
            sc = float(np.median(d["w"]))
            slope, icpt = np.polyfit(np.asarray(d["load"]), np.asarray(d["op"]), 1)
            o0, o1 = float(np.clip(icpt, 0.05, 1.0)), float(np.clip(icpt + slope, 0.05, 1.0))
        else:  # brush not found: assume it paints as commanded
            sc, o0, o1 = 1.0, 1.0, 1.0
        scale.append(sc)
        op0.append(o0)
        op1.append(o1)
        brushes.append({"brush": sheet.brushes[b].width_mm, "segments": len(d["w"]), "width_scale": round(sc, 4), "opacity_start": round(o0, 4), "opacity_end": round(o1, 4)})
    dx = float(np.median([v for d in per.values() for v in d["dx"]]))
    dy = float(np.median([v for d in per.values() for v in d["dy"]]))
    cal = Calibration(offset_mm=(dx, dy), width_scale=tuple(scale), opacity_start=tuple(op0), opacity_end=tuple(op1))
    report = {"segments_found": found, "segments": len(segs), "offset_mm": [round(dx, 4), round(dy, 4)], "brushes": brushes, "registration": reg.report}
    return cal, report


def calibrated_rig(rig: RigProfile, cal: Calibration) -> tuple[dict[str, Any], RigProfile]:
    """A copy of the rig profile with ``cal`` and shortened capacities: the TOML tables
    and the profile they make. A brush whose coverage falls below :data:`MIN_COVERAGE`
    within its load gets ``capacity_mm`` cut to where it reaches it."""
    from animatepainter.planner.rig.profile import rig_from_dict

    caps = []
    for b, o0, o1 in zip(rig.machine.brushes, cal.opacity_start, cal.opacity_end):
        cap = b.capacity_mm
        if cap > 0 and o1 < MIN_COVERAGE < o0:
            cap = max(cap * (o0 - MIN_COVERAGE) / (o0 - o1), 1.0)
        caps.append(cap)
    d = rig_dict(rig, cal, caps)
    return d, rig_from_dict(d, rig.source)


def compensate_plan(plan: StrokePlan, rig: RigProfile) -> StrokePlan:
    """What to command so that the rig paints ``plan``: each stroke moved by minus the
    calibrated offset (kept on the canvas), its width divided by its brush's width ratio;
    ``meta["calibration"]`` records what was applied. ``plan`` itself when the rig is
    not calibrated."""
    cal = rig.calibration
    if cal is None:
        return plan
    widths = np.array([b.width_mm for b in rig.machine.brushes], np.float64)
    off = np.asarray(cal.offset_mm, np.float64)
    hi = np.array([plan.canvas.width_mm, plan.canvas.height_mm])
    out = []
    for s in plan.strokes:
        b = int(np.argmin(np.abs(widths - s.width_mm)))
        sc = cal.width_scale[b] if cal.width_scale[b] > 0 else 1.0
        out.append(replace(s, points=np.clip(np.asarray(s.points, np.float64) - off, 0.0, hi), width_mm=s.width_mm / sc))
    meta = dict(plan.meta, calibration={"offset_mm": [float(v) for v in off], "width_scale": [float(v) for v in cal.width_scale]})
    return replace(plan.with_strokes(out), meta=meta)
