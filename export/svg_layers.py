"""StrokePlan to a plotter SVG: one Inkscape layer per paint (or per paint run), named
for the AxiDraw software's layer controls.

The document is in millimetres (``viewBox`` in mm, one user unit = 1 mm), as
:mod:`animatepainter.export.svg`. Layers are top-level ``<g inkscape:groupmode="layer">``
groups, in plotting order.

Layer names (AxiDraw layer control, https://wiki.evilmadscientist.com/AxiDraw_Layer_Control,
as the AxiDraw software parses them: a leading ``%`` makes a documentation layer that is
never plotted; else a leading ``!`` forces a pause before the layer; then an optional
layer number; then ``+S``/``+H``/``+D`` codes, which must follow the number directly;
the rest is free text):

* a **stroke layer** is ``"<n> <name>"``: ``n`` = 1, 2, ... in document (= plotting)
  order, unique, then the paint's name (``"3 cadmium red"``). The number is what the
  AxiDraw's Layers mode plots one at a time (``axicli --mode layers --layer 3``) and
  vpype's layer id (the first number of a label);
* a **pause layer** sits between two stroke layers wherever the pen changes (every
  boundary with ``by="paint"`` and ``by="run"``): an empty layer named
  ``"!pause: load <name> for layer <n>"``, with no number. AxiDraw's Plot mode (all
  layers) pauses there, pen up, for the paint change, and resumes with layer ``n``.
  Why a layer of its own rather than a ``!`` on the next paint's layer: in Layers mode
  only numbered layers are plotted, so plotting one paint at a time (the usual multi-pen
  workflow) does not stop at the start of every layer, while Plot mode still pauses
  between paints; and the stroke layers keep the numbers 1..n, which vpype reads as its
  layer ids (an empty group is dropped by vpype, so the pause layers do not become vpype
  layers). The cost: tools that drop empty layers (vpype ``read``/``write``) drop the
  pauses too; docs/robot.md shows the vpype recipe that puts ``!`` on the layer names.
* the canvas rectangle (``background=True``) is a documentation layer
  (``"%canvas background"``), which AxiDraw does not plot.

No ``+S``/``+H``/``+D`` codes are written: AxiDraw's speeds and heights are percentages
of its own configured ranges, which a machine profile (mm/s, mm) does not know.
AxiDraw's Layers mode selects numbers 0..1000; more layers than that (``--by run`` on a
long plan) still plot in Plot mode.

Grouping (``by``):

* ``"paint"``: one layer per paint, in the order each paint is first used; inside a
  layer the strokes keep the plan's order. This is what a pen plotter wants, but when
  paints interleave in the plan (opaque paint painted over other colours) it changes
  the painting order, which the module logs as a warning.
* ``"run"``: a new layer at every change of paint (or pen) in the plan's execution
  order: the plan's order exactly, as many pen changes as the plan has.
* ``"group"``: one layer per (depth layer, refinement level) run, all paints mixed
  (for comparisons with plotter tools that sort inside layers); a pause layer only
  precedes a layer that holds a single pen different from the previous stroke's.

Paths carry the stroke's colour and width with round caps and joins; no background
rectangle unless asked (a plotter would draw its outline).
"""

from __future__ import annotations

import logging
from pathlib import Path

from animatepainter.planner.atomic import atomic_write_bytes
from animatepainter.planner.errors import SettingsError
from animatepainter.planner.plan import Stroke, StrokePlan

from animatepainter.export.svg import svg_head, svg_layer

log = logging.getLogger(__name__)

__all__ = ["GROUPINGS", "AXIDRAW_MAX_LAYER", "axidraw_label", "layer_groups", "plot_layers", "plan_to_layered_svg", "write_layered_svg"]

GROUPINGS = ("paint", "run", "group")

#: the largest layer number AxiDraw's Layers mode can select
AXIDRAW_MAX_LAYER = 1000


def axidraw_label(text: str, number: int | None = None, pause: bool = False) -> str:
    """An AxiDraw layer name: ``"!"`` if the AxiDraw must pause before the layer, then the
    layer number (if any), then ``text`` after a space (``"!3 cadmium red"``). Without a
    number, ``text`` must not start with a digit or ``+`` (AxiDraw would read a number
    or a control code)."""
    if number is None:
        if text[:1].isdigit() or text[:1] == "+":
            raise ValueError(f"an unnumbered AxiDraw layer name must not start with a digit or '+': {text!r}")
        return ("!" if pause else "") + text
    return f"{'!' if pause else ''}{int(number)} {text}"


def layer_groups(plan: StrokePlan, by: str = "paint") -> list[tuple[str, list[Stroke]]]:
    """The layers of :func:`plan_to_layered_svg`: ``[(name, strokes), ...]`` in plotting order."""
    if by not in GROUPINGS:
        raise SettingsError(f"by must be one of {', '.join(GROUPINGS)}, got {by!r}", "by")
    names = {p.id: p.name for p in plan.palette}
    widths = {b.id: b.width_mm for b in plan.brushes}
    out: list[tuple[str, list[Stroke]]] = []
    if by == "paint":
        first: dict[int, list[Stroke]] = {}
        for s in plan.strokes:
            first.setdefault(s.paint, []).append(s)
        out = [(names.get(p, f"paint {p}"), ss) for p, ss in first.items()]
        runs = sum(1 for a, b in zip(plan.strokes, plan.strokes[1:]) if a.paint != b.paint) + (1 if plan.strokes else 0)
        if runs > len(out):
            log.warning(
                "one layer per paint: the plan changes paint %d times over %d paints, so plotting paint by paint "
                "changes its painting order (a layer per paint run keeps it: animatepainter export svg --by run)",
                runs - 1,
                len(out),
            )
        return out
    for s in plan.strokes:
        if by == "run":
            key = (s.paint, s.brush)
            name = f"{names.get(s.paint, f'paint {s.paint}')} {widths.get(s.brush, s.width_mm):g} mm"
        else:
            key = (s.layer, s.level)
            name = f"layer {s.layer} level {s.level}"
        if out and out[-1][2] == key:  # type: ignore[misc]
            out[-1][1].append(s)
        else:
            out.append((name, [s], key))  # type: ignore[arg-type]
    return [(n, ss) for n, ss, _ in out]  # type: ignore[misc]


def plot_layers(
    plan: StrokePlan,
    by: str = "paint",
    pause: bool = True,
    groups: list[tuple[str, list[Stroke]]] | None = None,
) -> list[tuple[str, list[Stroke]]]:
    """The layers of the plotter SVG with their AxiDraw names, in document (plotting)
    order: ``[(label, strokes), ...]``; pause layers have no strokes (see the module
    docstring for the naming rules).

    Args:
        plan: the plan.
        by: ``"paint"``, ``"run"`` or ``"group"``.
        pause: put a pause layer wherever the pen changes between two layers.
        groups: :func:`layer_groups` of the plan with ``by``, if already computed.
    """
    groups = groups if groups is not None else layer_groups(plan, by)
    if len(groups) > AXIDRAW_MAX_LAYER:
        log.warning(
            "%d layers: AxiDraw's Layers mode selects layer numbers 0..%d only (Plot mode plots them all)", len(groups), AXIDRAW_MAX_LAYER
        )

    def pen(s: Stroke):
        return s.paint if by == "paint" else (s.paint, s.brush)

    out: list[tuple[str, list[Stroke]]] = []
    prev = None
    for n, (name, strokes) in enumerate(groups, start=1):
        pens = {pen(s) for s in strokes}
        if pause and prev is not None and len(pens) == 1 and pen(strokes[0]) != prev:
            out.append((axidraw_label(f"pause: load {name} for layer {n}", pause=True), []))
        out.append((axidraw_label(name, n), strokes))
        prev = pen(strokes[-1])
    return out


def plan_to_layered_svg(
    plan: StrokePlan,
    by: str = "paint",
    background: bool = False,
    pause: bool = True,
    groups: list[tuple[str, list[Stroke]]] | None = None,
) -> str:
    """The plan as a layered plotter SVG (deterministic: same plan, same bytes).

    Args:
        plan: the plan.
        by: ``"paint"``, ``"run"`` or ``"group"`` (see the module docstring).
        background: include the canvas-colour rectangle (in a ``%`` documentation layer).
        pause: an empty ``!`` pause layer between two layers whose pens differ (AxiDraw
            pauses there in Plot mode).
        groups: :func:`layer_groups` of the plan, if already computed.
    """
    out = svg_head(plan, background, f" (layers by {by})")
    n = 0
    for label, strokes in plot_layers(plan, by, pause, groups):
        if strokes:
            n += 1
            out += svg_layer(f"layer{n}", label, strokes)
        else:
            out += svg_layer(f"pause{n + 1}", label, strokes)
    out.append("</svg>")
    return "\n".join(out) + "\n"


def write_layered_svg(plan: StrokePlan, path: str | Path, by: str = "paint", background: bool = False, pause: bool = True) -> Path:
    """Write :func:`plan_to_layered_svg` to ``path`` atomically."""
    path = Path(path)
    atomic_write_bytes(path, plan_to_layered_svg(plan, by, background, pause).encode("utf-8"))
    return path
