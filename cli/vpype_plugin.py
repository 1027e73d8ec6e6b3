"""The vpype plugin: ``vpype animatepainter IMAGE [options] ... write out.svg``.

Registered in vpype's plugin group (``[project.entry-points."vpype.plugins"]`` in
pyproject.toml), so that with the ``[vpype]`` extra installed the planner is a vpype
command. It plans IMAGE with the teacher planner (as ``animatepainter paint``; with
``--machine``, adapted to that machine as ``paint --machine`` does) and adds the plan
to the vpype document:

* one layer per paint, in the order each paint is first used (the layers of
  :func:`animatepainter.export.svg_layers.layer_groups` with ``by="paint"``), with
  ``vp_name`` = the paint's name, ``vp_color`` = its colour and ``vp_pen_width`` = the
  brush width (CSS px) that paints most of the layer (all of it when every stroke of the
  paint has one width, as with a pen plotter's pens);
* inside a layer, one line per stroke, in the plan's order (dabs, single-point strokes,
  become zero-length lines, as in our SVG);
* coordinates in CSS pixels (vpype's unit, 1/96 in): the plan's mm times 96 / 25.4,
  origin at the canvas's top-left corner, y down;
* the page size is the plan's canvas.

Like vpype's ``read``, the command is a global processor that *extends* the document:
on an empty pipeline its layers are 1..n; on a document that already has layers the
plan's layers go into the layers of the same ids (vpype's own merge rule).

vpype is optional for the package: only this module imports it, and nothing in the
package imports this module (vpype loads it through the entry point). The planner is
imported inside the command, so that loading the plugin (vpype loads every plugin at
each start) costs nothing.

Errors come out as vpype/click errors on one line: bad options and a bad image as usage
errors (exit status 2), anything else the planner refuses as a one-line ``Error: ...``
(exit status 2).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import click
import vpype as vp
import vpype_cli

__all__ = ["animatepainter", "plan_document", "PX_PER_MM"]

#: CSS pixels per millimetre: vpype's unit is the CSS pixel, 1/96 in.
PX_PER_MM = 96.0 / 25.4


def plan_document(plan: Any, axidraw: bool = False) -> vp.Document:
    """A :class:`~animatepainter.planner.plan.StrokePlan` as a vpype document.

    Args:
        plan: the plan (points in mm, canvas top-left origin, y down).
        axidraw: name layer ``n`` ``"<n> <paint>"``, with a leading ``!`` (AxiDraw
            pauses before it, for the paint change) from the second layer on, instead
            of the paint's name alone.

    Returns:
        A document whose layers 1..n are the plan's paints in order of first use
        (``vp_name``, ``vp_color``, ``vp_pen_width`` in px set), each holding its
        strokes in plan order as complex polylines in CSS px; page size = the canvas.
    """
    import numpy as np

    from animatepainter.export.svg_layers import axidraw_label, layer_groups

    doc = vp.Document()
    names = {p.id: p for p in plan.palette}
    for lid, (name, strokes) in enumerate(layer_groups(plan, "paint"), start=1):
        lines = []
        for s in strokes:
            pts = np.asarray(s.points, dtype=np.float64).reshape(-1, 2)
            if len(pts) == 1:  # a dab: a zero-length line (a dot with a round pen)
                pts = np.repeat(pts, 2, axis=0)
            lines.append((pts[:, 0] + 1j * pts[:, 1]) * PX_PER_MM)
        doc.add(vp.LineCollection(lines), lid)
        layer = doc.layers[lid]
        paint = names.get(strokes[0].paint)
        layer.set_property(vp.METADATA_FIELD_NAME, axidraw_label(name, lid, pause=lid > 1) if axidraw else name)
        layer.set_property(vp.METADATA_FIELD_COLOR, vp.Color(*(paint.rgb if paint is not None else strokes[0].rgb)))
        layer.set_property(vp.METADATA_FIELD_PEN_WIDTH, _main_width_mm(strokes) * PX_PER_MM)
    doc.page_size = (plan.canvas.width_mm * PX_PER_MM, plan.canvas.height_mm * PX_PER_MM)
    return doc


def _main_width_mm(strokes: list) -> float:
    """The stroke width (mm) that paints the largest area of ``strokes`` (footprint
    length x width + the round ends' width x width per stroke); the wider one on a tie.
    vpype has one pen width per layer, and a paint may be painted with several brushes."""
    area: dict[float, float] = {}
    for s in strokes:
        p = s.points
        length = sum(math.dist(p[i], p[i + 1]) for i in range(len(p) - 1))
        w = float(s.width_mm)
        area[w] = area.get(w, 0.0) + w * (length + w)
    return max(area, key=lambda w: (area[w], w))


def _plan(image: str, settings: Any, depth: str | None, machine: str | None, canvas_given: bool, jobs: int | None) -> Any:
    """Plan ``image`` with ``settings`` (:class:`PaintSettings`) as ``animatepainter
    paint`` does (teacher engine), then adapt it to ``machine`` as ``paint --machine``
    does. Raises the package's errors."""
    from animatepainter.planner.images import load_image
    from animatepainter.planner.teacher.pipeline import plan_painting
    from animatepainter.planner.teacher.sbr import check_jobs

    settings.check()
    check_jobs(jobs)
    bg = settings.background  # transparent pixels: over the given colour, as paint does
    profile = None
    if machine is not None:
        from animatepainter.planner.machine.adapt import machine_settings
        from animatepainter.planner.machine.profile import load_profile

        profile = _named(load_profile, "--machine", machine)
        settings = machine_settings(settings, profile, canvas_given=canvas_given)
    img = _named(load_image, "IMAGE", image, background=bg)
    result = plan_painting(img, settings, depth=Path(depth) if depth else None, jobs=jobs)
    plan = result.plan
    if profile is not None:
        from animatepainter.cli.paint import _compensate  # the calibrated-rig step of paint --machine
        from animatepainter.planner.machine.adapt import apply_machine

        plan, _ = apply_machine(plan, profile)
        plan = _compensate(plan, machine)
    return plan


def _named(load: Any, param: str, value: str, **kwargs: Any) -> Any:
    """``load(value, **kwargs)``, its :class:`InputError` as click's bad-parameter error
    for ``param`` (``Error: Invalid value for 'IMAGE': photo.jpg: no such file``)."""
    from animatepainter.planner.errors import InputError, one_line

    try:
        return load(value, **kwargs)
    except InputError as e:
        raise click.BadParameter(one_line(e), param_hint=f"'{param}'") from None


def _click_error(e: Exception) -> click.ClickException:
    """The package's one-line error as the click error vpype shows: settings as usage
    errors naming this command's flag (exit status 2), the rest as ``Error: ...`` with
    the package's exit status (2)."""
    from animatepainter.planner.errors import SettingsError, one_line

    if isinstance(e, SettingsError):
        if e.field:
            from animatepainter.cli.app import flag_for

            return click.UsageError(one_line(e.renamed(flag_for(e.field, animatepainter))))
        return click.UsageError(one_line(e))
    err = click.ClickException(one_line(e))
    err.exit_code = int(getattr(e, "exit_code", 2))
    return err


@click.command("animatepainter")
@click.argument("image", type=vpype_cli.PathType(dir_okay=False))
@click.option("-n", "--strokes", type=vpype_cli.IntegerType(), default=2000, show_default=True, help="Stroke budget: the most brush strokes the plan may hold (count, 1..200000).")
@click.option("--size", type=vpype_cli.IntegerType(), default=256, show_default=True, help="Working resolution: the image's long side in pixels (16..4096).")
@click.option("--seed", type=vpype_cli.IntegerType(), default=0, show_default=True, help="Random seed of the planner (the same image, options and seed give the same plan). Not vpype's global --seed.")
@click.option("--palette", type=vpype_cli.IntegerType(), default=16, show_default=True, help="Paints (= vpype layers) the stroke colours are grouped into (count, 1..256); a --machine's own paints replace it.")
@click.option("--depth-layers", "layers", type=str, default="auto", show_default=True, help="Depth layers painted far to near (count, 1..16), or 'auto': as many as the picture has depth planes. Not vpype layers: those are the paints.")
@click.option("--levels", type=vpype_cli.IntegerType(), default=5, show_default=True, help="Refinement levels, brush sizes coarse to fine (count, 1..8).")
@click.option("--background", type=vpype_cli.TextType(), default="255,255,255", show_default=True, help="Canvas colour as R,G,B (0..255) or #rrggbb; the planner paints against it.")
@click.option("--depth", type=vpype_cli.PathType(dir_okay=False), default=None, help="Depth map instead of estimating one: .npy (larger = nearer) or a grayscale image (white = nearest).")
@click.option("-m", "--machine", type=vpype_cli.TextType(), default=None, help="Machine profile (TOML file, or a bundled name: pen-plotter, servo-plotter, painting-arm): plan on its canvas with its paints and pens, in its order, as `animatepainter paint --machine`.")
@click.option("--canvas-mm", "canvas_mm", type=vpype_cli.FloatType(), nargs=2, default=None, help="Canvas WIDTH HEIGHT in millimetres; the image is fitted inside, centred. Default: 300 mm long side (or the machine's paintable area).")
@click.option("--canvas", "canvas", type=vpype_cli.PageSizeType(), default=None, help="The canvas as a vpype page size instead of --canvas-mm: a known format (a4, a3, letter, ...) or WxH with units (e.g. 20cmx15cm).")
@click.option("--axidraw", is_flag=True, help="Name the layers for the AxiDraw's layer controls: '1 <paint>', '!2 <paint>', ... ('!': pause before the layer, for the paint change). The number first also makes `write` + `read` keep the layer ids (vpype takes the first number of a label as the id, and paint names may hold digits).")
@click.option("-j", "--jobs", type=vpype_cli.IntegerType(), default=None, help="Threads the stroke fitter uses (count; default: all cores); the plan is the same for every value.")
@vpype_cli.global_processor
def animatepainter(
    document: vp.Document,
    image: str,
    strokes: int,
    size: int,
    seed: int,
    palette: int,
    layers: str,
    levels: int,
    background: str,
    depth: str | None,
    machine: str | None,
    canvas_mm: tuple[float, float] | None,
    canvas: tuple[float, float] | None,
    axidraw: bool,
    jobs: int | None,
) -> vp.Document:
    """Paint IMAGE with AnimatePainter's planner: one layer per paint (name, colour, pen width), strokes in painting order.

    Layers come in the order each paint is first used; inside a layer the strokes keep
    the plan's order (depth layers far to near, brush sizes coarse to fine). Coordinates
    are the plan's millimetres on the canvas; the page size is set to the canvas. Use
    `read --no-crop` to read the written SVG back (vpype crops at the page edge).

    Example:

        vpype animatepainter --strokes 3000 --machine pen-plotter photo.jpg write plot.svg
    """
    if canvas_mm is not None and canvas is not None:
        raise click.UsageError("--canvas-mm and --canvas both set the canvas: give one")
    if canvas is not None:
        canvas_mm = (canvas[0] / PX_PER_MM, canvas[1] / PX_PER_MM)
    from animatepainter.cli.ui import parse_layers
    from animatepainter.planner.colors import parse_rgb
    from animatepainter.planner.errors import AnimatePainterError
    from animatepainter.planner.teacher.pipeline import PaintSettings

    try:
        bg = parse_rgb(background, "--background")
        settings = PaintSettings(strokes=strokes, seed=seed, size=size, canvas_mm=canvas_mm, layers=parse_layers(layers, "--depth-layers"), levels=levels, palette=palette, background=bg)
        plan = _plan(image, settings, depth, machine, canvas_mm is not None, jobs)
    except AnimatePainterError as e:
        raise _click_error(e) from None
    document.extend(plan_document(plan, axidraw))
    return document


animatepainter.help_group = "Plugins"  # type: ignore[attr-defined]
