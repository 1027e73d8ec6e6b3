"""``animatepainter viewer``: a self-contained HTML process viewer of a plan."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Optional

import typer

log = logging.getLogger(__name__)


def viewer(
    plan_or_outdir: Path = typer.Argument(..., metavar="PLAN_OR_OUTDIR", help="A plan.json, or the output folder of 'paint' (its plan.json, depth.png, frames/*.png and the source image named in report.json are used when present)."),
    out: Path = typer.Option(..., "--out", "-o", help="HTML file to write (one self-contained file, no network needed); an existing folder gets viewer.html inside."),
    source: Optional[Path] = typer.Option(None, "--source", help="Source image to show beside the painting, instead of the one named in report.json."),
    depth: Optional[Path] = typer.Option(None, "--depth", help="Depth map to show (.npy, or grayscale image with white = nearest), instead of depth.png."),
    frames: Optional[Path] = typer.Option(None, "--frames", help="Folder of process frames (*.png, in name order, e.g. the diffuser's), instead of frames/ beside the plan."),
    title: Optional[str] = typer.Option(None, "--title", help="Page title (default: the source image's name)."),
    max_vector_strokes: int = typer.Option(50_000, "--max-vector-strokes", help="Plans with more strokes than this (count) are shown as pre-rendered steps instead of being drawn stroke by stroke in the browser."),
    raster_px: int = typer.Option(960, "--raster-px", help="Width of the pre-rendered step pictures for large plans (pixels, 64..4096)."),
) -> None:
    """Write one HTML file that plays the painting process: slider, play/pause, layer and level filters, captions."""
    from animatepainter.export.viewer import build_viewer

    from animatepainter.cli.ui import RichProgress, console_print

    with RichProgress() as progress:
        info = build_viewer(
            plan_or_outdir,
            out,
            source=source,
            depth=depth,
            frames=frames,
            title=title,
            max_vector_strokes=max_vector_strokes,
            raster_px=raster_px,
            progress=progress,
        )
    extra = [] if info.has_source else ["no source image"]
    if info.frames:
        extra.append(f"{info.frames} diffuser frames")
    tail = f" ({', '.join(extra)})" if extra else ""
    console_print(
        f"viewer: [bold]{info.strokes}[/] strokes in {info.steps} steps, "
        f"{'drawn from vectors' if info.mode == 'vector' else 'pre-rendered steps'}, {info.bytes / 1e6:.1f} MB{tail} -> {info.path}"
    )


def register(app: typer.Typer, export_app: typer.Typer) -> None:
    """Add ``viewer`` to the CLI."""
    app.command("viewer")(viewer)
