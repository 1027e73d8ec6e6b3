"""StrokePlan to a plotter SVG: one Inkscape layer per paint (or per paint run).

The document is in millimetres (``viewBox`` in mm, one user unit = 1 mm), as
:mod:`animatepainter.export.svg`. Layers are ``<g inkscape:groupmode="layer">``
labelled ``"<n> <paint name>"`` with ``n`` = 1, 2, ... in plotting order, which is
how vpype (layer id = the first number in the label) and the AxiDraw software
(layers plot in the order of their leading number) read them. A layer whose pen
differs from the previous layer's label starts with ``!``, the AxiDraw code that
pauses before the layer so the operator can swap pens.

Grouping (``by``):

* ``"paint"``: one layer per paint, in the order each paint is first used; inside a
  layer the strokes keep the plan's order. This is what a pen plotter wants, but when
  paints interleave in the plan (opaque paint painted over other colours) it changes
  the painting order, which the module logs as a warning.
* ``"run"``: a new layer at every change of paint (or pen) in the plan's execution
  order: the plan's order exactly, as many pen changes as the plan has.
* ``"group"``: one layer per (depth layer, refinement level) run, all paints mixed
  (for comparisons with plotter tools that sort inside layers).

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

__all__ = ["GROUPINGS", "layer_groups", "plan_to_layered_svg", "write_layered_svg"]

GROUPINGS = ("paint", "run", "group")


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
                "changes its painting order (use --by run to keep it)",
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
        background: include a canvas-colour rectangle (in its own non-layer group).
        pause: prefix ``!`` to the label of a layer whose pen (paint and brush)
            differs from the previous layer's (AxiDraw pauses there).
        groups: :func:`layer_groups` of the plan, if already computed.
    """
    out = svg_head(plan, background, f" (layers by {by})")
    prev_tool = None
    for n, (name, strokes) in enumerate(groups if groups is not None else layer_groups(plan, by), start=1):
        tools = {(s.paint, s.brush) for s in strokes}
        first_tool = (strokes[0].paint, strokes[0].brush)
        bang = "!" if pause and prev_tool is not None and first_tool != prev_tool and len(tools) == 1 else ""
        prev_tool = (strokes[-1].paint, strokes[-1].brush)
        out += svg_layer(f"layer{n}", f"{bang}{n} {name}", strokes)
    out.append("</svg>")
    return "\n".join(out) + "\n"


def write_layered_svg(plan: StrokePlan, path: str | Path, by: str = "paint", background: bool = False, pause: bool = True) -> Path:
    """Write :func:`plan_to_layered_svg` to ``path`` atomically."""
    path = Path(path)
    atomic_write_bytes(path, plan_to_layered_svg(plan, by, background, pause).encode("utf-8"))
    return path
