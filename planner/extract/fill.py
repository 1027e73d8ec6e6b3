"""Region to brush paths: vector geometry with shapely.

A region (a connected set of pixels to be painted one colour) becomes a polygon
(:func:`mask_to_polygon`); for a brush of width ``w`` the polygon shrunk by ``w/2``
(``buffer(-w/2)``) is where the brush centre may go without the paint spilling out,
the *centre region*. :func:`cover_paths` fills a centre region:

* the brush follows the centre region's boundary rings, which paint the region's
  edges cleanly (a region about as wide as the brush is covered by its ring alone,
  which then runs along the region's middle);
* where the interior lies farther than ``w/2`` from every ring, parallel hatch lines
  ``spacing * w`` apart along the region's long axis (minimum rotated rectangle)
  fill it;
* rings and hatch lines are chained boustrophedon-wise into as few polylines as
  possible: two pieces join when the pen-down move between them stays inside the
  centre region.

Polylines are simplified (Douglas-Peucker, :func:`simplify_path`). Coordinates are pixels,
origin at the top-left corner of the image (pixel ``(i, j)`` covers
``[j, j+1] x [i, i+1]``), as in :mod:`animatepainter.planner.render`.

Why shapely and not a raster method: offsetting, clipping and containment tests on
polygons are exact and cost the same at any resolution, and the output are vector
paths for a machine, not pixels.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np
import shapely
import shapely.errors
from shapely.geometry import LineString, Polygon
from shapely.geometry.base import BaseGeometry

__all__ = ["FillSettings", "mask_to_polygon", "cover_paths", "simplify_path", "polygons"]


@dataclass(frozen=True)
class FillSettings:
    """Settings of the path filler.

    Attributes:
        spacing: distance between hatch lines, in brush widths (0.3..1.0).
        simplify_px: Douglas-Peucker tolerance of the paths, px.
        quad_segs: segments per quarter circle in buffers (shapely's ``quad_segs``).
    """

    spacing: float = 0.8
    simplify_px: float = 0.35
    quad_segs: int = 2


def mask_to_polygon(mask: np.ndarray, offset: tuple[float, float] = (0.0, 0.0), simplify_px: float = 0.5) -> BaseGeometry:
    """Vectorise a bool mask into a (multi)polygon along the pixel edges.

    Args:
        mask: bool ``(h, w)``.
        offset: ``(x, y)`` pixel position of ``mask[0, 0]``'s corner in the image.
        simplify_px: Douglas-Peucker tolerance of the outline (OpenCV
            ``approxPolyDP``), px: the pixel staircase becomes straight edges, and
            later buffers run on a tenth of the vertices.

    Returns:
        shapely ``Polygon`` / ``MultiPolygon`` (possibly empty) in image pixels.

    OpenCV traces the boundary pixels' centres (with holes, ``RETR_CCOMP``); growing
    that outline by half a pixel (mitred) puts it on the pixel edges.
    """
    m = np.ascontiguousarray(mask, np.uint8)
    contours, hier = cv2.findContours(m, cv2.RETR_CCOMP, cv2.CHAIN_APPROX_SIMPLE)
    if not contours:
        return Polygon()
    if simplify_px > 0:
        contours = [cv2.approxPolyDP(c, simplify_px, True) if len(c) > 3 else c for c in contours]
    ox, oy = offset[0] + 0.5, offset[1] + 0.5
    hier = hier[0]
    parts: list[BaseGeometry] = []
    for i, c in enumerate(contours):
        if hier[i][3] >= 0:  # a hole: added with its parent
            continue
        shell = _ring_geom(c, ox, oy)
        holes = []
        j = hier[i][2]
        while j >= 0:
            holes.append(_ring_geom(contours[j], ox, oy))
            j = hier[j][0]
        g = shell
        if holes:
            # hole contours trace the object's pixels around the hole: shrink by their pixel
            hole = shapely.union_all([h.buffer(-0.5, join_style="mitre") if h.area > 1 else h for h in holes])
            g = g.difference(hole) if not hole.is_empty else g
        parts.append(g)
    out = shapely.union_all(parts)
    return out.buffer(0.5, join_style="mitre", mitre_limit=2.0)


def _ring_geom(c: np.ndarray, ox: float, oy: float) -> BaseGeometry:
    pts = c.reshape(-1, 2).astype(np.float64) + (ox, oy)
    if len(pts) >= 3:
        g = shapely.make_valid(Polygon(pts))
        # a contour that runs out and back along a one-pixel line has no area
        return g if g.area > 0 else LineString(pts).buffer(1e-3)
    if len(pts) == 2:
        return LineString(pts).buffer(1e-3)
    return shapely.Point(pts[0]).buffer(1e-3)


def polygons(g: BaseGeometry) -> list[Polygon]:
    """The non-empty polygons of any shapely geometry."""
    return [p for p in shapely.get_parts(g) if isinstance(p, Polygon) and not p.is_empty]


def _hatch(poly: Polygon, inner: BaseGeometry, step: float) -> list[np.ndarray]:
    """Hatch segments of ``poly`` every ``step`` px along its long axis, where ``inner`` needs them.

    Returns polylines in boustrophedon order (alternate lines reversed).
    """
    rect = poly.minimum_rotated_rectangle
    xy = np.asarray(rect.exterior.coords)[:4]
    e1, e2 = xy[1] - xy[0], xy[2] - xy[1]
    axis = e1 if np.hypot(*e1) >= np.hypot(*e2) else e2
    u = axis / max(np.hypot(*axis), 1e-12)
    nrm = np.array([-u[1], u[0]])
    ib = np.asarray(inner.exterior.coords) if isinstance(inner, Polygon) else np.asarray(shapely.get_coordinates(inner))
    pb = np.asarray(poly.exterior.coords)
    t_in = ib @ nrm
    lo, hi = float(t_in.min()), float(t_in.max())
    n_lines = max(int(math.ceil((hi - lo) / step)), 1)
    offs = lo + (hi - lo - (n_lines - 1) * step) / 2.0 + step * np.arange(n_lines)
    s = pb @ u
    s0, s1 = float(s.min()) - 1.0, float(s.max()) + 1.0
    a = offs[:, None] * nrm[None] + s0 * u[None]
    b = offs[:, None] * nrm[None] + s1 * u[None]
    lines = shapely.linestrings(np.stack([a, b], axis=1))
    try:
        clipped = shapely.intersection(lines, poly)
    except shapely.errors.GEOSException:
        # a degenerate sliver of a buffer (GEOS "non-noded intersection"): snap it to
        # a 1e-6 px grid and try once more; the rings still cover the part if not
        try:
            clipped = shapely.intersection(lines, shapely.set_precision(poly, 1e-6), grid_size=1e-6)
        except shapely.errors.GEOSException:
            return []
    out: list[np.ndarray] = []
    for k, g in enumerate(clipped):
        segs = [p for p in shapely.get_parts(g) if isinstance(p, LineString) and p.length > 0]
        if not segs:
            continue
        segs = [p for p in segs if p.intersects(inner)] or []
        segs.sort(key=lambda p: float(np.asarray(p.coords)[:, :2].mean(axis=0) @ u))
        if k % 2:
            segs = segs[::-1]
        for p in segs:
            c = np.asarray(p.coords)[:, :2]
            if (c[-1] - c[0]) @ u < 0:
                c = c[::-1]
            out.append(c[::-1] if k % 2 else c)
    return out


def _chain(pieces: list[np.ndarray], room: BaseGeometry) -> list[np.ndarray]:
    """Join consecutive pieces whose pen-down connector stays inside ``room``."""
    if not pieces:
        return []
    shapely.prepare(room)
    paths = [pieces[0]]
    for p in pieces[1:]:
        a, b = paths[-1][-1], p[0]
        if np.hypot(*(a - b)) < 1e-9 or room.covers(LineString([a, b])):
            paths[-1] = np.concatenate([paths[-1], p[1:] if np.hypot(*(a - b)) < 1e-9 else p], axis=0)
        else:
            paths.append(p)
    return paths


def _rotate_ring(ring: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Closed ring (first == last point) restarted at its vertex nearest ``target``."""
    core = ring[:-1]
    k = int(np.argmin(((core - target) ** 2).sum(axis=1)))
    r = np.concatenate([core[k:], core[:k]], axis=0)
    return np.concatenate([r, r[:1]], axis=0)


def cover_paths(room: BaseGeometry, width: float, settings: FillSettings = FillSettings()) -> list[np.ndarray]:
    """Brush paths that cover a centre region.

    Args:
        room: the centre region (shapely geometry, px): where the brush centre may go.
        width: brush width, px.
        settings: hatch spacing and buffer resolution.

    Returns:
        float64 ``(n, 2)`` ``(x, y)`` polylines; with the brush's width they paint
        ``room`` grown by ``width / 2``. Degenerate parts (lines, points) become
        paths as they are.
    """
    paths: list[np.ndarray] = []
    for poly in polygons(room):
        rings = [np.asarray(poly.exterior.coords)[:, :2]] + [np.asarray(r.coords)[:, :2] for r in poly.interiors]
        inner = poly.buffer(-0.45 * width, quad_segs=settings.quad_segs)
        hatch: list[np.ndarray] = []
        if not inner.is_empty:
            for ip in polygons(inner):
                hatch += _hatch(poly, ip, settings.spacing * width)
        pieces = []
        start = hatch[0][0] if hatch else rings[0][0]
        for r in rings:
            pieces.append(_rotate_ring(r, start))
        paths += _chain(pieces[:1] + hatch + pieces[1:], poly)
    for g in shapely.get_parts(room):  # degenerate centre regions: lines and points
        if isinstance(g, LineString) and not g.is_empty:
            paths.append(np.asarray(g.coords)[:, :2])
        elif isinstance(g, shapely.Point) and not g.is_empty:
            paths.append(np.asarray(g.coords)[:, :2])
    return paths


def simplify_path(path: np.ndarray, tol: float) -> np.ndarray:
    """Douglas-Peucker simplification of a float ``(n, 2)`` polyline (shapely), ``tol`` px;
    at least its two end points stay."""
    if len(path) <= 2 or tol <= 0:
        return path
    g = LineString(path).simplify(tol, preserve_topology=False)
    c = np.asarray(g.coords)[:, :2]
    return c if len(c) >= 2 else path[[0, -1]]
