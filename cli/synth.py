"""``animatepainter synth``: painting-process training data from image collections."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Optional

import typer

from animatepainter.cli.choices import DepthBackend, SynthAspect, SynthEngine

log = logging.getLogger(__name__)


def _progress_with_rate():
    """The CLI's rich progress display with a samples-per-second column."""
    from rich.progress import ProgressColumn
    from rich.text import Text

    from animatepainter.cli.ui import RichProgress

    class RateColumn(ProgressColumn):
        def render(self, task) -> Text:
            if task.description != "synth":
                return Text("")
            speed = task.finished_speed or task.speed
            return Text(f"{speed:.2f} samples/s" if speed else "-- samples/s", style="progress.data.speed")

    p = RichProgress()
    p._progress.columns = (*p._progress.columns, RateColumn())
    return p


def synth(
    images: Optional[list[str]] = typer.Argument(None, help="Image files, folders (searched recursively for .png/.jpg/.tif/.webp/...) or glob patterns ('photos/**/*.jpg'); unreadable ones are skipped and listed in the manifest."),
    out: Path = typer.Option(..., "--out", "-o", help="Dataset folder: shard-NNNNNN.tar (WebDataset), manifest.json, previews/. Rerunning resumes: complete shards are kept."),
    frames: int = typer.Option(16, "--frames", "-T", help="Frames per sample, blank canvas to finished image included (count, 2..256)."),
    size: int = typer.Option(256, "--size", help="Sample size: images are scaled and centre-cropped to SIZE x SIZE pixels (16..1024); with --aspect keep, the long side."),
    aspect: SynthAspect = typer.Option(SynthAspect.crop, "--aspect", help="'crop': square samples that batch together; 'keep': keep the aspect ratio."),
    engine: SynthEngine = typer.Option(SynthEngine.local, "--engine", help="'local': worker processes on this machine; 'ray': Ray tasks (local Ray, or a cluster with --ray-address). Same samples either way."),
    ray_address: Optional[str] = typer.Option(None, "--ray-address", help="Ray cluster to join: HOST:PORT, ray://HOST:PORT or auto. Default: start Ray on this machine."),
    workers: Optional[int] = typer.Option(None, "--workers", "-j", help="Worker processes (local) or concurrent Ray tasks (count). Default: the CPU count (of the cluster, with --ray-address)."),
    seed: int = typer.Option(0, "--seed", help="Dataset seed; sample i's seed is derived from (seed, i), so engines and worker counts give identical samples."),
    procedural: int = typer.Option(0, "--procedural", help="Also make N procedural landscapes with exact depth (count)."),
    strokes: Optional[int] = typer.Option(None, "--strokes", "-n", help="Teacher stroke budget per sample (count). Default: SIZE^2/32 within 100..4000."),
    layers: str = typer.Option("auto", "--layers", help="Depth layers painted far to near (count, 1..16), or 'auto': as many as each picture has depth planes (at most 12)."),
    levels: int = typer.Option(5, "--levels", help="Refinement levels, brush sizes coarse to fine (count, 1..8)."),
    shard_size: int = typer.Option(64, "--shard-size", help="Samples per tar shard (count). Make at least (training processes x loader workers) shards."),
    background: str = typer.Option("255,255,255", "--background", help="Canvas colour as R,G,B (0..255 each) or #rrggbb."),
    depth_backend: DepthBackend = typer.Option(DepthBackend.prior, "--depth-backend", help="Depth of image files: 'prior' (offline default) or 'transformers' (needs --depth-model). Procedural scenes use their exact depth."),
    depth_model: Optional[Path] = typer.Option(None, "--depth-model", help="Local directory of a transformers depth model (Depth Anything / DPT). Nothing is downloaded."),
    preview: bool = typer.Option(False, "--preview", help="Also write previews/KEY.png: a contact sheet of each sample's frames, depth and paint order."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace a dataset in --out that was made with other settings (default: refuse)."),
) -> None:
    """Synthesise painting-process videos (T frames, blank canvas to the real image, by stroke erasure) as WebDataset shards."""
    from animatepainter.cli.ui import console_print, parse_layers
    from animatepainter.planner.colors import parse_rgb
    from animatepainter.model.data.synth import SynthSettings, synth_dataset

    settings = SynthSettings(
        frames=frames,
        size=size,
        aspect=aspect.value,
        strokes=strokes,
        layers=parse_layers(layers),
        levels=levels,
        seed=seed,
        background=parse_rgb(background, "--background"),
        depth_backend=depth_backend.value,
        depth_model=str(depth_model) if depth_model else None,
        shard_size=shard_size,
    )
    settings.check()  # before inputs are listed or Ray is started
    with _progress_with_rate() as progress:
        report = synth_dataset(
            images or [],
            out,
            settings,
            procedural=procedural,
            engine=engine.value,
            workers=workers,
            ray_address=ray_address,
            preview=preview,
            overwrite=overwrite,
            progress=progress,
        )
    m = report.manifest
    rate = f", {report.samples_per_s:.2f} samples/s with start-up" if report.made + report.failed else ""
    kept = f", {report.skipped_shards} complete shards kept" if report.skipped_shards else ""
    console_print(
        f"[bold]{m['samples']}[/] samples in {len(m['shards'])} shards, {m['failed']} inputs failed "
        f"(made {report.made} in {report.wall_s:.1f} s{rate}{kept}) -> {out}"
    )
    for f in m["failures"][:5]:
        console_print(f"  skipped {f['source']}: {f['reason']}")
    if m["failed"] > 5:
        console_print(f"  ... and {m['failed'] - 5} more; see {out / 'manifest.json'}")


def register(app: typer.Typer, export_app: typer.Typer) -> None:
    """Add ``synth`` to the CLI."""
    app.command("synth")(synth)
