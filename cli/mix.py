"""``animatepainter mix``: a tube recipe for every paint of a plan."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any, Optional

import typer

from animatepainter.planner.mixing import DEFAULT_MAX_PARTS, GAMUT_DELTA_E

log = logging.getLogger(__name__)


def mix(
    plan_or_outdir: Path = typer.Argument(..., metavar="PLAN_OR_OUTDIR", help="A plan.json, or the output folder of 'paint' (its plan.json, and its report.json if there is one)."),
    tubes: str = typer.Option(..., "--tubes", "-t", help="Tube set (no unit): a TOML file or a bundled name (student-acrylic). Colours are sRGB 0..255."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="JSON file to write the recipes to (the plan's meta.mixing block) instead of rewriting the plan (and report.json)."),
    max_parts: int = typer.Option(DEFAULT_MAX_PARTS, "--max-parts", help="Most parts a recipe adds up to (whole parts by volume, count, 1..24); at most 3 tubes per recipe."),
    gamut_delta_e: float = typer.Option(GAMUT_DELTA_E, "--gamut", help="Colour difference (CIEDE2000, no unit) beyond which a paint is flagged out of gamut: no recipe comes that close."),
) -> None:
    """Give each paint of a plan the best recipe of at most three tubes in small whole parts (a subtractive Kubelka-Munk model, not RGB averaging), the colour it mixes to and its CIEDE2000 from the paint; the recipes go into the plan's meta (and report.json), or to --out."""
    from animatepainter.cli.ui import console_print
    from animatepainter.planner.atomic import OutputDir, atomic_write_bytes
    from animatepainter.planner.errors import PlanError
    from animatepainter.planner.mixing import load_tubes, mixing_meta
    from animatepainter.planner.plan import StrokePlan

    from animatepainter.planner.errors import OutputError

    if out is not None and out.is_dir():
        raise OutputError(f"{out}: is a folder; --out names the JSON file to write")
    plan_path, report_path = _locate(plan_or_outdir)
    plan = StrokePlan.load(plan_path)
    if not plan.palette:
        raise PlanError(f"{plan_path}: the plan has no paints to mix")
    tube_set = load_tubes(tubes)
    report = _read_report(report_path) if report_path is not None and out is None else None
    block = mixing_meta(plan.palette, tube_set, max_parts=max_parts, gamut_delta_e=gamut_delta_e)

    if out is not None:
        atomic_write_bytes(out, (json.dumps(block, indent=2) + "\n").encode("utf-8"))
        dest = str(out)
    else:
        new_plan = StrokePlan(plan.canvas, plan.palette, plan.brushes, plan.strokes, {**plan.meta, "mixing": block})
        if plan_or_outdir.is_dir():
            with OutputDir(plan_or_outdir) as stage:  # plan.json and report.json, both or neither
                new_plan.save(stage / "plan.json")
                if report is not None:
                    atomic_write_bytes(stage / "report.json", (json.dumps({**report, "mixing": block}, indent=2) + "\n").encode("utf-8"))
            dest = str(plan_path) + (" and report.json" if report is not None else "")
        else:
            new_plan.save(plan_path)
            dest = str(plan_path)
    _show(plan, block, tube_set.name)
    inside = sum(r["in_gamut"] for r in block["recipes"])
    console_print(f"[bold]{len(block['recipes'])}[/] paints, {inside} in gamut of {tube_set.name} ({block['model']}, <= {max_parts} parts) -> {dest}")


def _locate(plan_or_outdir: Path) -> tuple[Path, Optional[Path]]:
    """``(plan file, report.json or None)`` of a plan file or an output folder."""
    from animatepainter.planner.errors import PlanError

    if plan_or_outdir.is_dir():
        plan = plan_or_outdir / "plan.json"
        if not plan.is_file():
            raise PlanError(f"{plan_or_outdir}: no plan.json in this folder")
        report = plan_or_outdir / "report.json"
        return plan, report if report.is_file() else None
    if not plan_or_outdir.exists():
        raise PlanError(f"{plan_or_outdir}: no such plan file or folder")
    return plan_or_outdir, None


def _read_report(path: Path) -> dict[str, Any]:
    from animatepainter.planner.errors import InputError

    try:
        report = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError, RecursionError) as e:
        raise InputError(f"{path}: cannot read the report ({' '.join(str(e).split())[:200]})") from None
    if not isinstance(report, dict):
        raise InputError(f"{path}: not a report (a JSON object is needed)")
    return report


def _show(plan: Any, block: dict[str, Any], set_name: str) -> None:
    """A table: paint, its swatch, the recipe, what it mixes to, CIEDE2000, in gamut."""
    from rich.table import Table

    from animatepainter.cli.ui import console_print
    from animatepainter.planner.colors import hex_rgb
    from animatepainter.planner.mixing import recipe_text

    table = Table(title=f"recipes from {set_name}")
    for name, justify in (("paint", "left"), ("swatch", "left"), ("recipe", "left"), ("mixes to", "left"), ("ΔE2000", "right"), ("in gamut", "center")):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    names = {p.id: p for p in plan.palette}
    for r in block["recipes"]:
        paint = names[r["paint"]]
        want, got = hex_rgb(paint.rgb), hex_rgb(r["rgb"])
        table.add_row(
            f"{paint.id} {paint.name}",
            f"[on {want}]    [/] {want}",
            recipe_text(r["parts"]),
            f"[on {got}]    [/] {got}",
            f"{r['delta_e2000']:.2f}",
            "yes" if r["in_gamut"] else "[bold red]no[/]",
        )
    console_print(table)


def register(app: typer.Typer, export_app: typer.Typer) -> None:
    """Add ``mix``."""
    app.command("mix")(mix)
