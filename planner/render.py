"""Rasterising brush strokes: the one renderer every stage uses.

A stroke is an opaque polyline of constant width with round caps and round joins
(the SVG ``stroke-linecap="round" stroke-linejoin="round"`` model). Its coverage of
a pixel is approximated analytically from the distance ``d`` between the pixel centre
and the polyline::

    alpha = clip(width / 2 + 0.5 - d, 0, 1)

which is the area coverage of a one-pixel box filter across a straight edge, the
same model SVG rasterisers (resvg, cairo) approximate with their anti-aliasing.

Paint is opaque: ``canvas = canvas * (1 - alpha) + rgb * alpha``.

Why by hand: OpenCV's thick lines snap widths to whole pixels and its anti-aliasing
does not follow the SVG coverage model, and scikit-image draws no thick polylines.
The stroke fitter needs the exact coverage it will later render, so fitting, the
process video and the metrics all call :func:`stroke_coverage` below.

Coordinates are pixels with the origin at the top-left *corner* of the image: pixel
``(row i, col j)`` covers ``[j, j+1] x [i, i+1]`` and its centre is ``(j+0.5, i+0.5)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Iterable, Iterator, Sequence

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    from animatepainter.planner.plan import StrokePlan

__all__ = [
    "PixelStroke",
    "stroke_bbox",
    "stroke_coverage",
    "paint_stroke",
    "new_canvas",
    "plan_to_pixels",
    "render_plan",
    "render_progress",
    "render_steps",
    "step_ends",
]


@dataclass(frozen=True)
class PixelStroke:
    """A stroke in pixel coordinates of a raster.

    Attributes:
        points: float64 array ``(n, 2)`` of ``(x, y)`` in pixels, ``n >= 1``.
        width: stroke width in pixels (the brush diameter).
        rgb: float32 array ``(3,)`` in ``[0, 1]``.
    """

    points: np.ndarray
    width: float
    rgb: np.ndarray


def stroke_bbox(points: np.ndarray, width: float, shape: tuple[int, int]) -> tuple[int, int, int, int]:
    """Pixel bounding box ``(y0, y1, x0, x1)`` (half-open) a stroke can touch.

    Args:
        points: ``(n, 2)`` float ``(x, y)`` in pixels.
        width: stroke width in pixels.
        shape: ``(H, W)`` of the raster; the box is clipped to it and may be empty.
    """
    pad = width / 2.0 + 1.0
    x0 = int(np.floor(points[:, 0].min() - pad))
    x1 = int(np.ceil(points[:, 0].max() + pad)) + 1
    y0 = int(np.floor(points[:, 1].min() - pad))
    y1 = int(np.ceil(points[:, 1].max() + pad)) + 1
    h, w = shape
    return max(y0, 0), min(y1, h), max(x0, 0), min(x1, w)


def segment_d2(points: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    """Squared distance from each pixel centre of ``box`` to each polyline segment.

    Args:
        points: float array ``(n, 2)`` of ``(x, y)`` pixel coordinates, ``n >= 1``.
        box: ``(y0, y1, x0, x1)`` half-open pixel box (non-empty).

    Returns:
        float32 array ``(max(n - 1, 1), y1 - y0, x1 - x0)`` in px^2; a single point
        counts as one zero-length segment.
    """
    y0, y1, x0, x1 = box
    pts = np.asarray(points, np.float32)
    if len(pts) == 1:
        pts = np.concatenate([pts, pts])
    a = pts[:-1, :, None, None]  # (s, 2, 1, 1)
    ab = (pts[1:] - pts[:-1])[:, :, None, None]
    l2 = (ab * ab).sum(axis=1)  # (s, 1, 1)
    inv = np.where(l2 > 1e-12, np.float32(1.0) / np.maximum(l2, np.float32(1e-12)), np.float32(0.0)).astype(np.float32)
    dx = (np.arange(x0, x1, dtype=np.float32) + np.float32(0.5))[None, None, :] - a[:, 0]
    dy = (np.arange(y0, y1, dtype=np.float32) + np.float32(0.5))[None, :, None] - a[:, 1]
    t = np.clip((dx * ab[:, 0] + dy * ab[:, 1]) * inv, 0.0, 1.0)
    ex = dx - t * ab[:, 0]
    ey = dy - t * ab[:, 1]
    return ex * ex + ey * ey


def coverage_from_d2(d2: np.ndarray, width: float) -> np.ndarray:
    """Coverage ``clip(width/2 + 0.5 - sqrt(d2), 0, 1)`` (float32, same shape as ``d2``)."""
    alpha = np.float32(width / 2.0 + 0.5) - np.sqrt(d2)
    return np.clip(alpha, 0.0, 1.0, out=alpha)


def stroke_coverage(points: np.ndarray, width: float, box: tuple[int, int, int, int]) -> np.ndarray:
    """Anti-aliased coverage of one round-capped, round-joined polyline.

    Args:
        points: float array ``(n, 2)`` of ``(x, y)`` pixel coordinates, ``n >= 1``.
        width: stroke width in pixels (> 0).
        box: ``(y0, y1, x0, x1)`` half-open pixel box to evaluate, e.g. from
            :func:`stroke_bbox`.

    Returns:
        float32 array ``(y1 - y0, x1 - x0)`` of coverage in ``[0, 1]``.
    """
    y0, y1, x0, x1 = box
    if y1 <= y0 or x1 <= x0:
        return np.zeros((max(y1 - y0, 0), max(x1 - x0, 0)), np.float32)
    return coverage_from_d2(segment_d2(points, box).min(axis=0), width)


def paint_stroke(canvas: np.ndarray, stroke: PixelStroke) -> None:
    """Composite one opaque stroke onto ``canvas`` in place.

    Args:
        canvas: float32 array ``(H, W, 3)`` in ``[0, 1]``.
        stroke: the stroke, in this canvas's pixel coordinates.
    """
    box = stroke_bbox(stroke.points, stroke.width, canvas.shape[:2])
    y0, y1, x0, x1 = box
    if y1 <= y0 or x1 <= x0:
        return
    a = stroke_coverage(stroke.points, stroke.width, box)[..., None]
    region = canvas[y0:y1, x0:x1]
    region += a * (np.asarray(stroke.rgb, np.float32) - region)


def new_canvas(height: int, width: int, background: Iterable[float]) -> np.ndarray:
    """A blank canvas: float32 ``(height, width, 3)`` filled with ``background`` in ``[0, 1]``."""
    bg = np.asarray(list(background), np.float32).reshape(1, 1, 3)
    return np.broadcast_to(bg, (height, width, 3)).copy()


def to_uint8(canvas: np.ndarray) -> np.ndarray:
    """float32 ``(H, W, 3)`` in ``[0, 1]`` to uint8 ``(H, W, 3)``, rounding to nearest."""
    return np.clip(np.rint(canvas * 255.0), 0, 255).astype(np.uint8)


def _raster_geometry(plan: "StrokePlan", width_px: int | None, region: str) -> tuple[int, int, float, float, float]:
    """Size and mm->px transform of a raster of ``plan``.

    Returns ``(H, W, scale_px_per_mm, offset_x_mm, offset_y_mm)``: a point at
    ``(x_mm, y_mm)`` lands on pixel ``((x_mm - ox) * s, (y_mm - oy) * s)``.
    """
    c = plan.canvas
    if region == "image":
        bx, by, bw, bh = c.image_box_mm
        iw, ih = c.image_px
        if width_px is None:
            width_px = iw
        s = width_px / bw
        return int(round(bh * s)) if width_px != iw else ih, width_px, s, bx, by
    if region == "canvas":
        if width_px is None:
            width_px = int(round(c.width_mm * c.image_px[0] / c.image_box_mm[2]))
        s = width_px / c.width_mm
        return int(round(c.height_mm * s)), width_px, s, 0.0, 0.0
    raise ValueError(f"region must be 'image' or 'canvas', not {region!r}")


def plan_to_pixels(plan: "StrokePlan", width_px: int | None = None, region: str = "image") -> tuple[tuple[int, int], list[PixelStroke]]:
    """Convert a plan's strokes (mm) to pixel strokes on a raster.

    Args:
        plan: the plan.
        width_px: raster width in pixels; default the source image's width.
        region: ``"image"`` rasterises the box where the source image sits on the
            canvas (for comparisons with the image); ``"canvas"`` the whole canvas.

    Returns:
        ``((H, W), strokes)`` with strokes in execution order.
    """
    h, w, s, ox, oy = _raster_geometry(plan, width_px, region)
    out = []
    for st in plan.strokes:
        pts = (np.asarray(st.points, np.float64) - (ox, oy)) * s
        out.append(PixelStroke(pts, st.width_mm * s, np.asarray(st.rgb, np.float32) / 255.0))
    return (h, w), out


def render_plan(plan: "StrokePlan", width_px: int | None = None, region: str = "image", upto: int | None = None) -> np.ndarray:
    """Render a plan to an RGB image.

    Args:
        plan: the plan to render.
        width_px: output width in pixels (height follows the aspect ratio); default the
            source image's pixel width.
        region: ``"image"`` (the source image's box on the canvas) or ``"canvas"``.
        upto: render only the first ``upto`` strokes (execution order).

    Returns:
        uint8 array ``(H, W, 3)``.
    """
    (h, w), strokes = plan_to_pixels(plan, width_px, region)
    canvas = new_canvas(h, w, np.asarray(plan.canvas.background, np.float32) / 255.0)
    for st in strokes[:upto]:
        paint_stroke(canvas, st)
    return to_uint8(canvas)


def render_progress(plan: "StrokePlan", after: Sequence[int], width_px: int | None = None, region: str = "image") -> Iterator[np.ndarray]:
    """Render the canvas once, taking snapshots along the way.

    Args:
        plan: the plan.
        after: non-decreasing stroke counts; a snapshot is yielded once that many
            strokes are painted (0 = the blank canvas).
        width_px, region: as in :func:`render_plan`.

    Yields:
        uint8 ``(H, W, 3)`` frames, one per entry of ``after``.
    """
    (h, w), strokes = plan_to_pixels(plan, width_px, region)
    canvas = new_canvas(h, w, np.asarray(plan.canvas.background, np.float32) / 255.0)
    done = 0
    for n in after:
        n = min(int(n), len(strokes))
        while done < n:
            paint_stroke(canvas, strokes[done])
            done += 1
        yield to_uint8(canvas)


def step_ends(plan: "StrokePlan") -> list[int]:
    """Stroke count at the end of each process step (``len == plan.n_steps``; an
    empty step repeats the previous count)."""
    counts = np.bincount([s.step for s in plan.strokes], minlength=plan.n_steps)
    return np.cumsum(counts).tolist()


def render_steps(plan: "StrokePlan", width_px: int | None = None, region: str = "image", include_blank: bool = True) -> Iterator[tuple[int, np.ndarray]]:
    """Yield ``(step, frame)``: the canvas once every stroke up to ``step`` is painted.

    With ``include_blank`` the first item is ``(-1, blank canvas)``. Frames are uint8
    ``(H, W, 3)``; see :func:`render_plan` for ``width_px`` and ``region``.
    """
    ends = step_ends(plan)
    after = ([0] if include_blank else []) + ends
    labels = ([-1] if include_blank else []) + list(range(len(ends)))
    yield from zip(labels, render_progress(plan, after, width_px, region))
