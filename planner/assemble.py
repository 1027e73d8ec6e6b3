"""From fitted strokes to a :class:`~animatepainter.planner.plan.StrokePlan`: the one
place that places a picture on a canvas, converts pixels to millimetres, names paints,
lists brushes and records provenance.

Every engine ends here: the teacher (:mod:`animatepainter.planner.teacher`), the
extractor (:mod:`animatepainter.planner.extract`) and the machine adaptation
(:mod:`animatepainter.planner.machine.adapt`) all call :func:`assemble_plan`.
"""

from __future__ import annotations

from dataclasses import asdict, is_dataclass
from typing import Any, Sequence

import numpy as np

from animatepainter.planner.colors import lab_to_srgb, paint_name, srgb_to_lab
from animatepainter.planner.errors import SettingsError
from animatepainter.planner.plan import Brush, Canvas, Paint, Stroke, StrokePlan

__all__ = [
    "DEFAULT_CANVAS_LONG_MM",
    "check_canvas_mm",
    "check_background",
    "canvas_for",
    "make_palette",
    "provenance",
    "assemble_plan",
]

#: long side of the default canvas, mm
DEFAULT_CANVAS_LONG_MM = 300.0
#: shortest canvas side, mm (below it a plan's finest brush would round to nothing)
MIN_CANVAS_MM = 10.0


def check_canvas_mm(canvas_mm: tuple[float, float] | None, field: str = "canvas_mm") -> None:
    """Raise :class:`SettingsError` unless ``canvas_mm`` is ``None`` or two positive,
    finite sizes in mm up to 100 m."""
    if canvas_mm is None:
        return
    w, h = canvas_mm
    if not (np.isfinite(w) and np.isfinite(h)) or w <= 0 or h <= 0:
        raise SettingsError(f"{field} needs two positive sizes in mm, got {w} {h}", field)
    if max(w, h) > 100_000:
        raise SettingsError(f"{field} {w} {h}: larger than 100 m", field)
    if min(w, h) < MIN_CANVAS_MM:
        raise SettingsError(f"{field} {w:g} {h:g}: the canvas is too small to paint on; it needs at least {MIN_CANVAS_MM:g} mm on each side", field)


def check_background(rgb: tuple[int, int, int] | None, field: str = "background") -> None:
    """Raise :class:`SettingsError` unless ``rgb`` is ``None`` or three values 0..255."""
    if rgb is not None and (len(rgb) != 3 or any(not 0 <= int(v) <= 255 for v in rgb)):
        raise SettingsError(f"{field} must be three values 0..255, got {rgb}", field)


def canvas_for(image_wh: tuple[int, int], canvas_mm: tuple[float, float] | None, background: tuple[int, int, int]) -> Canvas:
    """Canvas geometry for an image of ``(width, height)`` px.

    The image is fitted inside the canvas, centred, keeping its aspect ratio; without
    ``canvas_mm`` the canvas is the image's shape with a 300 mm long side.
    """
    iw, ih = image_wh
    if canvas_mm is None:
        s = DEFAULT_CANVAS_LONG_MM / max(iw, ih)
        cw, ch = iw * s, ih * s
        return Canvas(round(cw, 3), round(ch, 3), tuple(background), (iw, ih), (0.0, 0.0, round(cw, 3), round(ch, 3)))
    cw, ch = (float(v) for v in canvas_mm)
    s = min(cw / iw, ch / ih)
    bw, bh = iw * s, ih * s
    return Canvas(cw, ch, tuple(background), (iw, ih), ((cw - bw) / 2.0, (ch - bh) / 2.0, bw, bh))


def make_palette(colors: np.ndarray, k: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Group stroke colours into ``k`` paints by k-means in CIELAB.

    Args:
        colors: uint8 ``(n, 3)`` RGB of the strokes.
        k: number of paints wanted (fewer if there are fewer distinct colours).
        seed: k-means seed.

    Returns:
        ``(paints, labels)``: uint8 ``(k', 3)`` RGB paints sorted light to dark, and
        int ``(n,)`` the paint of each stroke.
    """
    from scipy.cluster.vq import kmeans2

    colors = np.asarray(colors, np.uint8).reshape(-1, 3)
    if len(colors) == 0:
        return np.zeros((0, 3), np.uint8), np.zeros(0, int)
    uniq = np.unique(colors, axis=0)
    k = max(1, min(k, len(uniq)))
    lab = srgb_to_lab(colors)
    if k == len(uniq):
        centres = srgb_to_lab(uniq)
    else:
        # k-means++ seeding, best of a few restarts (deterministic through ``seed``)
        best = None
        rng = np.random.default_rng(seed)  # any int seed; restarts draw from one stream
        for _ in range(4):
            cand, lab_idx = kmeans2(lab, k, iter=25, minit="++", seed=rng)
            sse = float(((lab - cand[lab_idx]) ** 2).sum())
            if best is None or sse < best[0]:
                best = (sse, cand)
        centres = best[1]
    order = np.lexsort((centres[:, 2], centres[:, 1], -centres[:, 0]))  # light to dark
    centres = centres[order]
    labels = np.argmin(((lab[:, None, :] - centres[None]) ** 2).sum(axis=2), axis=1)
    rgb = np.clip(np.rint(lab_to_srgb(centres) * 255.0), 0, 255).astype(np.uint8)
    return rgb, labels


def provenance(engine: str, settings: Any, seed: int, source_sha256: str | None = None, **extra: Any) -> dict[str, Any]:
    """The ``meta`` of a new plan: ``engine``, package ``version``, ``seed``, the
    engine's ``settings`` (a dataclass; its ``seed`` is recorded once, at the top),
    ``source_sha256`` when given, and ``extra`` (JSON types)."""
    from animatepainter.planner import __version__

    fields = asdict(settings) if is_dataclass(settings) else dict(settings)
    meta: dict[str, Any] = {
        "engine": engine,
        "version": __version__,
        "seed": seed,
        "settings": {k: v for k, v in fields.items() if k != "seed"},
    }
    meta.update(extra)
    if source_sha256:
        meta["source_sha256"] = source_sha256
    return meta


def assemble_plan(
    canvas: Canvas,
    points: Sequence[np.ndarray],
    *,
    brush: Sequence[int],
    paint: Sequence[int],
    rgb: np.ndarray | Sequence[Sequence[int]],
    layer: Sequence[int],
    level: Sequence[int],
    step: Sequence[int],
    palette: np.ndarray | Sequence[Sequence[int]],
    brushes_mm: Sequence[float],
    meta: dict[str, Any],
    width_mm: Sequence[float] | None = None,
    paint_names: Sequence[str] | None = None,
    brush_shapes: Sequence[str] | None = None,
    units: str = "px",
) -> StrokePlan:
    """Build a plan from strokes given column by column, in execution order.

    Args:
        canvas: where the picture sits (:func:`canvas_for`).
        points: each stroke's polyline, float ``(n_i, 2)`` ``(x, y)``: working-image
            pixels (``units="px"``, converted with the canvas's image box) or canvas
            millimetres (``units="mm"``).
        brush: brush index of each stroke (into ``brushes_mm``).
        paint: paint index of each stroke (into ``palette``).
        rgb: each stroke's colour, uint8-valued ``(n, 3)``.
        layer, level, step: depth layer (0 = farthest), refinement level (0 =
            coarsest) and process step of each stroke.
        palette: the paints' colours, ``(k, 3)`` RGB 0..255.
        brushes_mm: the brushes' widths, mm.
        meta: the plan's provenance (:func:`provenance`).
        width_mm: each stroke's width, mm; default: its brush's width.
        paint_names: the paints' names; default ``paint-NN #rrggbb``.
        brush_shapes: the brushes' shapes; default all ``"round"``.
        units: ``"px"`` or ``"mm"`` (of ``points``).

    Returns:
        the plan (not validated: :meth:`StrokePlan.save` validates).
    """
    if units not in ("px", "mm"):
        raise ValueError(f"units must be 'px' or 'mm', not {units!r}")
    mm = canvas.mm_per_px if units == "px" else 1.0
    origin = np.asarray(canvas.image_box_mm[:2], np.float64) if units == "px" else np.zeros(2)
    strokes = []
    for i, pts in enumerate(points):
        b = int(brush[i])
        strokes.append(
            Stroke(
                id=i,
                points=pts * mm + origin if units == "px" else pts,
                width_mm=float(width_mm[i]) if width_mm is not None else float(brushes_mm[b]),
                brush=b,
                paint=int(paint[i]),
                rgb=tuple(int(v) for v in rgb[i]),
                layer=int(layer[i]),
                level=int(level[i]),
                step=int(step[i]),
            )
        )
    names = list(paint_names) if paint_names is not None else [paint_name(i, c) for i, c in enumerate(palette)]
    pal = [Paint(i, tuple(int(v) for v in c), str(names[i])) for i, c in enumerate(palette)]
    shapes = list(brush_shapes) if brush_shapes is not None else ["round"] * len(brushes_mm)
    brs = [Brush(j, w, shapes[j]) for j, w in enumerate(brushes_mm)]
    return StrokePlan(canvas, pal, brs, strokes, meta)
