"""StrokePlan to SVG, in millimetres.

The document is ``width_mm`` x ``height_mm`` with a ``viewBox`` in mm, so one user
unit is one millimetre and plotter tools (Inkscape, vpype, AxiDraw) read true sizes.
Each process step is an Inkscape layer (``inkscape:groupmode="layer"``) labelled
with its step, depth layer and refinement level; each stroke is a ``<path>`` with
round caps and joins at its width, in execution order, so any SVG renderer paints it
like :func:`animatepainter.planner.render.render_plan`.

The canvas colour is a ``<rect>`` in a group of its own (``id="background"``) before
the layers; ``background=False`` leaves it out for plotters, which would otherwise
draw its outline.

``plan.svg`` is a picture of the process, not a plotter file: a step paints with
several paints, which no single pen can plot. So its layer labels start with ``%``,
which makes them AxiDraw *documentation layers* that the AxiDraw software never plots
(https://wiki.evilmadscientist.com/AxiDraw_Layer_Control), and so does the background
group: plotting ``plan.svg`` on an AxiDraw plots nothing, instead of every paint with
one pen. The plotter file is :mod:`animatepainter.export.svg_layers` (``export svg``).
The step number follows the ``%`` (``"%1 · step 0 · ..."``), so vpype, which takes the
first number of a label as the layer id, still reads one layer per step, ids from 1.
Renderers ignore the labels: the picture is unchanged.
"""

from __future__ import annotations

from collections import OrderedDict
from pathlib import Path
from xml.sax.saxutils import escape, quoteattr

from animatepainter.planner.atomic import atomic_write_bytes
from animatepainter.planner.colors import hex_rgb
from animatepainter.planner.plan import StrokePlan

__all__ = ["plan_to_svg", "write_svg", "hex_rgb", "svg_head"]


def _num(v: float) -> str:
    s = f"{float(v):.3f}".rstrip("0").rstrip(".")
    return "0" if s in ("-0", "") else s


def _path_d(points) -> str:
    pts = [(float(x), float(y)) for x, y in points]
    if len(pts) == 1:  # a dab: zero-length segment, drawn as a dot by the round cap
        pts = pts * 2
    head = f"M{_num(pts[0][0])},{_num(pts[0][1])}"
    return head + "".join(f"L{_num(x)},{_num(y)}" for x, y in pts[1:])


def svg_head(plan: StrokePlan, background: bool = True, title_suffix: str = "") -> list[str]:
    """Opening lines of a plan's SVG document: the ``<svg>`` element sized in mm with a
    mm ``viewBox``, its title, and (``background``) the canvas-colour rectangle in a
    non-layer group. The caller appends the layers and ``</svg>``."""
    c = plan.canvas
    w, h = _num(c.width_mm), _num(c.height_mm)
    out = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        f'<svg xmlns="http://www.w3.org/2000/svg" xmlns:inkscape="http://www.inkscape.org/namespaces/inkscape" '
        f'version="1.1" width="{w}mm" height="{h}mm" viewBox="0 0 {w} {h}">',
        f"<title>{escape(str(plan.meta.get('title', 'AnimatePainter stroke plan')))}{title_suffix}</title>",
    ]
    if background:  # a documentation layer: AxiDraw does not plot its outline
        out.append(
            f'<g id="background" inkscape:groupmode="layer" inkscape:label="%canvas background">'
            f'<rect x="0" y="0" width="{w}" height="{h}" fill="{hex_rgb(c.background)}"/></g>'
        )
    return out


def plan_to_svg(plan: StrokePlan, background: bool = True) -> str:
    """The plan as SVG text (deterministic: same plan, same bytes).

    Args:
        plan: the plan.
        background: include the canvas-colour rectangle.
    """
    out = svg_head(plan, background)
    steps: "OrderedDict[int, list]" = OrderedDict()
    for s in plan.strokes:
        steps.setdefault(s.step, []).append(s)
    for step, strokes in steps.items():
        layers = sorted({s.layer for s in strokes})
        levels = sorted({s.level for s in strokes})
        # "%": an AxiDraw documentation layer (a step mixes paints: not one pen's layer);
        # then the step counted from 1: vpype takes the first number of a label as the
        # layer id, and 0 is not a valid one there
        label = f"%{step + 1} · step {step} · layer {_span(layers)} · level {_span(levels)} · {len(strokes)} strokes"
        out += svg_layer(f"step-{step:04d}", label, strokes)
    out.append("</svg>")
    return "\n".join(out) + "\n"


def svg_layer(layer_id: str, label: str, strokes: list) -> list[str]:
    """Lines of one Inkscape layer (``<g inkscape:groupmode="layer">``) holding
    ``strokes`` as round-capped paths, in mm, in order."""
    out = [
        f'<g inkscape:groupmode="layer" id="{layer_id}" inkscape:label={quoteattr(label)} '
        'fill="none" stroke-linecap="round" stroke-linejoin="round">'
    ]
    for s in strokes:
        out.append(f'<path id="s{s.id}" d="{_path_d(s.points)}" stroke="{hex_rgb(s.rgb)}" stroke-width="{_num(s.width_mm)}"/>')
    out.append("</g>")
    return out


def _span(values: list[int]) -> str:
    return str(values[0]) if len(values) == 1 else f"{values[0]}-{values[-1]}"


def write_svg(plan: StrokePlan, path: str | Path, background: bool = True) -> Path:
    """Write :func:`plan_to_svg` to ``path`` atomically."""
    path = Path(path)
    atomic_write_bytes(path, plan_to_svg(plan, background).encode("utf-8"))
    return path
