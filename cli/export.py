"""``animatepainter export gcode | svg | json``: plans for plotters and painting robots."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Optional

import typer

from animatepainter.cli.choices import Layering

log = logging.getLogger(__name__)

_MACHINE_HELP = (
    "Machine profile: a TOML file or a bundled name (pen-plotter, servo-plotter, painting-arm). The plan is adapted to it "
    "(paints, brushes, reloads, order) unless it was made for it. Default: the profile recorded in the plan."
)


def _plan_and_profile(plan_path: Path, machine: Optional[str], required: bool):
    """Load the plan and the machine profile (``--machine`` or the plan's own)."""
    from animatepainter.planner.errors import PlanError
    from animatepainter.planner.machine.profile import bundled_profiles, load_profile, profile_from_dict
    from animatepainter.planner.plan import load_plan
    from animatepainter.planner.machine.adapt import ensure_machine

    plan = load_plan(plan_path)
    if machine is not None:
        profile = load_profile(machine)
    elif isinstance(plan.meta.get("machine"), dict):
        profile = profile_from_dict(plan.meta["machine"], source=f"{plan_path} meta.machine")
    elif required:
        names = ", ".join(bundled_profiles())
        raise PlanError(f"{plan_path}: the plan was not made for a machine; pass --machine PROFILE.toml (or a bundled one: {names})")
    else:
        return plan, None
    return ensure_machine(plan, profile), profile


def export_gcode(
    plan: Path = typer.Argument(..., help="Stroke plan (plan.json)."),
    out: Path = typer.Option(..., "--out", "-o", help="G-code file to write (GRBL dialect, mm)."),
    machine: Optional[str] = typer.Option(None, "--machine", "-m", help=_MACHINE_HELP),
) -> None:
    """Write the plan as GRBL G-code: G0 pen-up moves, G1 strokes, pen heights, dips, cleaning and tool changes per the machine profile."""
    from animatepainter.cli.ui import console_print
    from animatepainter.planner.machine.motion import machine_report

    from animatepainter.export.gcode import write_gcode

    p, profile = _plan_and_profile(plan, machine, required=True)
    write_gcode(p, profile, out)
    rep = machine_report(p, profile)
    console_print(
        f"[bold]{rep['strokes']}[/] strokes, {rep['paint_changes']} paint changes, {rep['dips']} dips, "
        f"estimated {rep['estimated_time_s'] / 60:.1f} min on {profile.name} -> {out}"
    )


def export_svg(
    plan: Path = typer.Argument(..., help="Stroke plan (plan.json)."),
    out: Path = typer.Option(..., "--out", "-o", help="SVG file to write (mm units, one Inkscape layer per paint)."),
    machine: Optional[str] = typer.Option(None, "--machine", "-m", help=_MACHINE_HELP + " Without one and without a recorded profile, the plan's own palette is used."),
    by: Layering = typer.Option(Layering.paint, "--by", help="Layers: 'paint' (one per paint, in order of first use; plotters), 'run' (a new layer at every paint change: the plan's exact order) or 'group' (one per depth layer and refinement level)."),
    background: bool = typer.Option(False, "--background/--no-background", help="Include the canvas-colour rectangle (plotters would draw its outline)."),
) -> None:
    """Write a plotter SVG: one Inkscape layer per paint, in paint order, readable by vpype and the AxiDraw software."""
    from animatepainter.cli.ui import console_print

    from animatepainter.planner.atomic import atomic_write_bytes

    from animatepainter.export.svg_layers import layer_groups, plan_to_layered_svg

    by = by.value  # the library takes the plain string
    p, _ = _plan_and_profile(plan, machine, required=False)
    layers = layer_groups(p, by)
    atomic_write_bytes(out, plan_to_layered_svg(p, by, background, groups=layers).encode("utf-8"))
    console_print(f"[bold]{len(layers)}[/] layers, {len(p.strokes)} paths -> {out}")


def export_json(
    plan: Path = typer.Argument(..., help="Stroke plan (plan.json)."),
    out: Path = typer.Option(..., "--out", "-o", help="Plan file to write (validated, canonical JSON)."),
    machine: Optional[str] = typer.Option(None, "--machine", "-m", help=_MACHINE_HELP + " Without one, the plan is validated and rewritten as it is."),
) -> None:
    """Write the plan as canonical JSON; with --machine, the robot plan for that machine (with reload and clean actions)."""
    from animatepainter.cli.ui import console_print

    p, profile = _plan_and_profile(plan, machine, required=False)
    p.save(out)
    extra = f" for {profile.name}" if profile is not None else ""
    console_print(f"[bold]{len(p.strokes)}[/] strokes{extra} -> {out}")


def register(app: typer.Typer, export_app: typer.Typer) -> None:
    """Add ``export gcode``, ``export svg`` and ``export json``."""
    export_app.command("gcode")(export_gcode)
    export_app.command("svg")(export_svg)
    export_app.command("json")(export_json)
