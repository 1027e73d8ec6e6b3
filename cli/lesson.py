"""``animatepainter lesson``: a printable painting lesson (PDF + print-ready HTML) of a plan."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Optional

import typer

from animatepainter.cli.choices import Paper

log = logging.getLogger(__name__)


def lesson(
    plan_or_outdir: Path = typer.Argument(..., metavar="PLAN_OR_OUTDIR", help="A plan.json, or the output folder of 'paint' (its plan.json, and the source image named in report.json for the cover)."),
    out: Path = typer.Option(..., "--out", "-o", help="PDF file to write (cover + one page per process step)."),
    paper: Paper = typer.Option(Paper.a4, "--paper", case_sensitive=False, help="Paper size: a4 (210 x 297 mm) or letter (8.5 x 11 in)."),
    html: Optional[Path] = typer.Option(None, "--html", help="Print-ready HTML file to write (one file, images inlined). Default: beside the PDF, with the suffix .html."),
    no_html: bool = typer.Option(False, "--no-html", help="Write the PDF only."),
    source: Optional[Path] = typer.Option(None, "--source", help="Source image for the cover, instead of the one named in report.json."),
    title: Optional[str] = typer.Option(None, "--title", help="The picture's name on the pages (default: the source image's name)."),
) -> None:
    """Write a painting lesson: the picture, palette and brushes, then one page per step with what to paint, where and how."""
    from animatepainter.export.lesson import write_lesson
    from animatepainter.planner.errors import SettingsError

    if no_html and html is not None:
        raise SettingsError("--html and --no-html cannot be used together")

    from animatepainter.cli.ui import RichProgress, console_print

    with RichProgress() as progress:
        info = write_lesson(
            plan_or_outdir,
            out,
            html_out=False if no_html else (html if html is not None else True),
            paper=paper.value,
            source=source,
            title=title,
            progress=progress,
        )
    extra = [] if info.has_source else ["no source image"]
    if info.recipes:
        extra.append(f"{info.recipes} recipes")
    tail = f" ({', '.join(extra)})" if extra else ""
    html_part = f" and {info.html} ({info.html_bytes / 1e6:.1f} MB)" if info.html is not None else ""
    console_print(f"lesson: [bold]{info.pages}[/] pages ({info.steps} steps), {info.paper}, {info.pdf_bytes / 1e6:.1f} MB{tail} -> {info.pdf}{html_part}")


def register(app: typer.Typer, export_app: typer.Typer) -> None:
    """Add ``lesson`` to the CLI."""
    app.command("lesson")(lesson)
