"""The printable marker sheet of a canvas, as SVG in millimetres.

Draws the four ArUco corner markers and the ColorChecker patches of
:func:`animatepainter.planner.rig.layout.canvas_layout` at their true size (the
``viewBox`` is in mm), each marker module a black square, with the paintable area
outlined in light grey. Print it at 100 % on the canvas (or cut and stick the pieces
at the places shown) so that ``animatepainter rig register`` can read photos of it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from animatepainter.planner.atomic import atomic_write_bytes
from animatepainter.planner.colors import hex_rgb
from animatepainter.planner.rig.layout import ARUCO_DICT, MARKER_IDS, Layout, marker_image

__all__ = ["markers_svg", "write_markers_svg"]


def _n(v: float) -> str:
    s = f"{float(v):.3f}".rstrip("0").rstrip(".")
    return s or "0"


def markers_svg(layout: Layout, margins_mm: tuple[float, float, float, float]) -> str:
    """SVG text of the marker sheet of ``layout`` (canvas ``layout.canvas_mm``)."""
    w, h = layout.canvas_mm
    top, right, bottom, left = margins_mm
    out = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{_n(w)}mm" height="{_n(h)}mm" viewBox="0 0 {_n(w)} {_n(h)}">',
        f"<title>AnimatePainter marker sheet, {_n(w)} x {_n(h)} mm canvas, {ARUCO_DICT} ids 0-3, ColorChecker patches</title>",
        f'<rect x="{_n(left)}" y="{_n(top)}" width="{_n(w - left - right)}" height="{_n(h - top - bottom)}" fill="none" stroke="#cccccc" stroke-width="0.3"/>',
    ]
    for mid, quad in zip(MARKER_IDS, layout.markers):
        bits = marker_image(mid, 6) < 128  # one pixel per module: 4x4 bits and the border
        cell = layout.marker_mm / 6.0
        x0, y0 = quad[0]
        out.append(f'<g id="marker-{mid}" fill="#000000">')
        for r, c in zip(*np.nonzero(bits)):
            out.append(f'<rect x="{_n(x0 + c * cell)}" y="{_n(y0 + r * cell)}" width="{_n(cell)}" height="{_n(cell)}"/>')
        out.append("</g>")
    out.append('<g id="patches">')
    for (x, y, pw, ph), rgb in zip(layout.patches, layout.patch_rgb):
        out.append(f'<rect x="{_n(x)}" y="{_n(y)}" width="{_n(pw)}" height="{_n(ph)}" fill="{hex_rgb(tuple(int(v) for v in rgb))}"/>')
    out.append("</g>")
    out.append("</svg>")
    return "\n".join(out) + "\n"


def write_markers_svg(layout: Layout, margins_mm: tuple[float, float, float, float], path: str | Path) -> Path:
    """Write :func:`markers_svg` to ``path`` atomically."""
    atomic_write_bytes(Path(path), markers_svg(layout, margins_mm).encode("utf-8"))
    return Path(path)
