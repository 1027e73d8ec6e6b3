"""``animatepainter extract``: a painting process (frames or a video) to a stroke plan."""

from __future__ import annotations

import hashlib
import logging
import time
from pathlib import Path
from typing import Optional

import typer

from animatepainter.cli.choices import ExtractDepthBackend

log = logging.getLogger(__name__)


def parse_brushes(text: Optional[str]) -> tuple[float, ...] | None:
    """``"12,6,3"`` (mm) to a tuple of widths; ``None`` or ``""`` for the default."""
    from animatepainter.planner.errors import SettingsError

    if text is None or not text.strip():
        return None
    try:
        widths = tuple(float(v) for v in text.replace(" ", "").split(",") if v)
    except ValueError:
        raise SettingsError(f"--brushes {text!r}: give widths in mm separated by commas, e.g. 12,6,3") from None
    if not widths:
        raise SettingsError(f"--brushes {text!r}: give widths in mm separated by commas, e.g. 12,6,3")
    return widths


def extract(
    frames: Path = typer.Argument(..., help="The painting process: a folder of frames (PNG, JPEG, ...; natural file-name order) or a video file (MP4, MOV, WebM, GIF, ...), blank canvas to finished."),
    out: Path = typer.Option(..., "--out", "-o", help="Output folder: plan.json, plan.svg, process.mp4, contact.png, report.json, frames_vs_plan.png."),
    palette: int = typer.Option(16, "--palette", help="Paints the stroke colours are grouped into, by k-means in CIELAB (count, 1..256)."),
    brushes: Optional[str] = typer.Option(None, "--brushes", help="Brush widths in millimetres, comma-separated, e.g. 24,12,6,3. Default: five brushes from 1/8 of the picture's long side down, each half the last."),
    canvas_mm: Optional[tuple[float, float]] = typer.Option(None, "--canvas-mm", help="Canvas WIDTH HEIGHT in millimetres; the picture is fitted inside, centred. Default: 300 mm long side, the frames' aspect ratio."),
    image: Optional[Path] = typer.Option(None, "--image", help="The finished picture at full resolution (same aspect ratio as the frames): colours and detail are taken from it, timing from the frames."),
    depth: Optional[Path] = typer.Option(None, "--depth", help="Depth map of the picture (.npy, larger = nearer, or a grayscale image, white = nearest): each stroke gets the depth layer under it. Default: estimated (--depth-backend)."),
    depth_backend: ExtractDepthBackend = typer.Option(ExtractDepthBackend.prior, "--depth-backend", help="Depth estimator when --depth is not given, run on the finished picture (--image, else the last frame): 'prior' (offline cue-based default), 'transformers' (needs --depth-model) or 'none' (every stroke on layer 0). Layers only label strokes; the order is the frames'."),
    depth_model: Optional[Path] = typer.Option(None, "--depth-model", help="Local directory of a transformers depth model (Depth Anything / DPT), for --depth-backend transformers. Nothing is downloaded."),
    layers: str = typer.Option("auto", "--layers", help="Depth layers when --depth is given (count, 1..16), or 'auto': as many as the depth map has planes (at most 12)."),
    colour_tolerance: str = typer.Option("off", "--colour-tolerance", help="Honest colours: the most a stroke's colour may differ from the picture's colour under it (CIEDE2000, 1..100; the picture is --image, else the last frame), or 'off' (default: the plan follows the frames)."),
    min_visible: float = typer.Option(0.0, "--min-visible", help="Drop strokes showing less than this share of themselves in the finished painting, heal the gaps and spend their budget on finishing touches that show (fraction, 0..1; 0, the default, keeps every stroke: the plan follows the frames step by step)."),
    background: str = typer.Option("auto", "--background", help="Blank canvas colour as R,G,B (0..255) or #rrggbb; 'auto' reads it from the frames."),
    reverse: bool = typer.Option(False, "--reverse", help="Play the frames backwards: for an erasure video, or one that runs from finished to blank."),
    threshold: float = typer.Option(3.0, "--threshold", help="Smallest colour change between frames that counts as paint (CIELAB Delta E, 0.5..100); raised automatically on noisy frames."),
    occlusion_frames: int = typer.Option(0, "--occlusion-frames", help="Remove anything that covers the canvas for at most N frames in a row (a hand, the brush, a shadow in a real time-lapse): a pixel's run of at most N still frames between two others is not paint (count, 0..30; 0: off). Paint that is painted over within N frames is dropped too."),
    detail: float = typer.Option(60.0, "--detail", help="Scale of the colour segmentation of each step's change (Felzenszwalb scale, 1..10000): larger merges more, smaller keeps finer parts."),
    min_gain: float = typer.Option(0.5, "--min-gain", help="Smallest error a stroke must remove to be painted (sum of squared RGB differences on a 0..1 scale, per 256x256 px of picture; larger: fewer strokes)."),
    refine: int = typer.Option(6, "--refine", help="Sub-pixel refinement of each stroke's path onto the frames' anti-aliased edges (most Gauss-Newton iterations, 0..50; 0: paths stay on whole-pixel outlines)."),
    size: Optional[int] = typer.Option(None, "--size", help="Working resolution: long side in pixels (16..4096). Default: --image's size, else the frames' size."),
    max_frames: int = typer.Option(200, "--max-frames", help="Most frames used (count, 2..10000); longer inputs are evenly subsampled."),
    seed: int = typer.Option(0, "--seed", help="Seed of the palette's k-means; the same input, options and seed give a byte-identical plan."),
    video_px: int = typer.Option(512, "--video-px", help="Width of process.mp4 frames (pixels, 64..4096)."),
    fps: float = typer.Option(24.0, "--fps", help="Frame rate of process.mp4 (frames per second)."),
) -> None:
    """Turn a painting process (frames or a video) into ordered brush strokes: where and when paint changes becomes strokes, step by step."""
    from animatepainter.export.bundle import write_outputs
    from animatepainter.export.video import write_png

    from animatepainter.planner.atomic import OutputDir, check_writable_dir
    from animatepainter.cli.ui import RichProgress, console_print, parse_layers, parse_tolerance
    from animatepainter.planner.colors import parse_rgb
    from animatepainter.planner.errors import SettingsError
    from animatepainter.planner.extract import ExtractSettings, extract_plan, load_frames
    from animatepainter.planner.extract.metrics import frames_vs_plan_sheet, per_step_psnr
    from animatepainter.planner.images import file_sha256, load_depth, load_image

    settings = ExtractSettings(
        palette=palette,
        brushes_mm=parse_brushes(brushes),
        canvas_mm=tuple(canvas_mm) if canvas_mm else None,
        background=None if background.strip().lower() == "auto" else parse_rgb(background, "--background"),
        reverse=reverse,
        threshold=threshold,
        occlusion_frames=occlusion_frames,
        detail=detail,
        min_gain=min_gain,
        refine=refine,
        size=size,
        layers=parse_layers(layers),
        colour_tolerance=parse_tolerance(colour_tolerance),
        min_visible=min_visible,
        seed=seed,
        max_frames=max_frames,
    )
    settings.check()
    depth_backend = depth_backend.value  # the library takes the plain string
    if depth_backend == "transformers" and depth_model is None and depth is None:
        raise SettingsError("--depth-backend transformers needs --depth-model DIR (a local Depth Anything / DPT folder)")
    if not 64 <= video_px <= 4096:
        raise SettingsError(f"--video-px must be between 64 and 4096, got {video_px}")
    if not 1 <= fps <= 120:
        raise SettingsError(f"--fps must be between 1 and 120, got {fps}")
    check_writable_dir(out)
    t0 = time.perf_counter()
    seq, n_read = load_frames(frames, max_frames=max_frames, size=size if image is None else None)
    img = load_image(image) if image is not None else None
    dep = load_depth(depth, (img if img is not None else seq[0]).shape[:2]) if depth is not None else None
    timings = {"load_s": time.perf_counter() - t0}
    if dep is None and depth_backend != "none":
        from animatepainter.planner.depth import estimate_depth

        t1 = time.perf_counter()
        finished = img if img is not None else (seq[0] if reverse else seq[-1])
        dep = estimate_depth(finished, backend=depth_backend, model_path=depth_model)
        timings["depth_s"] = time.perf_counter() - t1
    # a video is named by its bytes; a folder by its decoded frames
    source_hash = file_sha256(frames) if frames.is_file() else hashlib.sha256(seq.tobytes()).hexdigest()
    meta = {"source": {"frames": frames.name, "image": image.name if image else None}}
    with RichProgress() as progress:
        result = extract_plan(seq, settings, image=img, depth=dep, source_sha256=source_hash, meta=meta, progress=progress)
        timings.update(result.timings)
        t1 = time.perf_counter()
        steps_psnr = per_step_psnr(result.plan, result.process.frames)
        timings["fidelity_s"] = time.perf_counter() - t1
        extra = {
            "source": str(frames),
            "frames_read": int(n_read),
            "frames_used": int(len(result.process.frames)),
            "frame_px": list(result.process.frames.shape[2:0:-1]),
            "prepended_blank_frame": bool(result.process.prepended_blank),
            "reversed": bool(result.process.reversed),
            "per_step_psnr_db": [round(v, 2) for v in steps_psnr],
            "per_step_psnr_mean_db": round(float(sum(steps_psnr) / len(steps_psnr)), 3),
        }
        with OutputDir(out) as stage:
            report = write_outputs(
                result.plan,
                result.image,
                stage,
                depth=result.depth,
                timings=timings,
                extra_report=extra,
                video_px=video_px,
                fps=fps,
                progress=progress,
            )
            write_png(frames_vs_plan_sheet(result.plan, result.process.frames), stage / "frames_vs_plan.png")
    console_print(
        f"[bold]{report['strokes']}[/] strokes from {extra['frames_used']} frames, PSNR {report['psnr_db']:.2f} dB "
        f"(per step {extra['per_step_psnr_mean_db']:.2f} dB on average), pen-up travel {report['pen_up_travel_mm'] / 1000:.2f} m, "
        f"{report['wall_time_s']['total']:.1f} s -> {out}"
    )


def register(app: typer.Typer, export_app: typer.Typer) -> None:
    """Add ``extract`` to the CLI."""
    app.command("extract")(extract)
