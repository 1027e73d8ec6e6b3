"""``animatepainter paint``: image to stroke plan and process outputs."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Optional

import typer

from animatepainter.cli.choices import DepthBackend, PaintEngine

log = logging.getLogger(__name__)


def paint(
    image: Path = typer.Argument(..., help="Image to paint (PNG, JPEG, TIFF, WebP, ...). Alpha is composited on the canvas colour; 16-bit and grayscale are converted."),
    out: Path = typer.Option(..., "--out", "-o", help="Output folder: plan.json, plan.svg, process.mp4, contact.png, report.json, depth.png."),
    strokes: int = typer.Option(2000, "--strokes", "-n", help="Stroke budget: the most brush strokes the plan may hold (count, 1..200000)."),
    seed: int = typer.Option(0, "--seed", help="Random seed; the same image, options and seed give a byte-identical plan."),
    depth: Optional[Path] = typer.Option(None, "--depth", help="Depth map to use instead of estimating one: .npy (any range, larger = nearer) or a grayscale image (white = nearest); same aspect ratio as IMAGE."),
    depth_backend: DepthBackend = typer.Option(DepthBackend.prior, "--depth-backend", help="Depth estimator when --depth is not given: 'prior' (offline cue-based default) or 'transformers' (needs --depth-model)."),
    depth_model: Optional[Path] = typer.Option(None, "--depth-model", help="Local directory of a transformers depth model (Depth Anything / DPT), for --depth-backend transformers. Nothing is downloaded."),
    canvas_mm: Optional[tuple[float, float]] = typer.Option(None, "--canvas-mm", help="Canvas WIDTH HEIGHT in millimetres; the image is fitted inside, centred. Default: 300 mm long side, the image's aspect ratio."),
    size: int = typer.Option(256, "--size", help="Working resolution: the image's long side is resized to this many pixels before planning (16..4096)."),
    layers: str = typer.Option("auto", "--layers", help="Depth layers K painted far to near (count, 1..16), or 'auto': as many as the picture has depth planes (at most 12; a one-plane depth map gets one)."),
    levels: int = typer.Option(5, "--levels", help="Refinement levels, brush sizes coarse to fine; the coarsest brush is 1/8 of the long side, each next one half as wide (count, 1..8)."),
    steps: int = typer.Option(24, "--steps", help="Process steps (frames) the plan is divided into; at least one per (layer, level) group (count)."),
    palette: int = typer.Option(16, "--palette", help="Paints the stroke colours are grouped into, by k-means in CIELAB (count, 1..256)."),
    background: str = typer.Option("255,255,255", "--background", help="Canvas colour as R,G,B (0..255 each) or #rrggbb."),
    video_px: int = typer.Option(512, "--video-px", help="Width of process.mp4 frames (pixels, 64..4096)."),
    fps: float = typer.Option(24.0, "--fps", help="Frame rate of process.mp4 (frames per second)."),
    engine: PaintEngine = typer.Option(PaintEngine.teacher, "--engine", help="'teacher' (stroke-based, CPU, deterministic) or 'diffusion' (depth -> diffuser -> frame-differencing extractor; --strokes caps the stroke count)."),
    ckpt: Optional[Path] = typer.Option(None, "--ckpt", help="Diffuser checkpoint folder for --engine diffusion. Default: the bundled `small` model (64 px, 16 frames; `tiny` is the 32 px one)."),
    sample_steps: int = typer.Option(20, "--sample-steps", help="Denoising steps of the diffuser for --engine diffusion (count, 1..1000)."),
    refine: Optional[int] = typer.Option(None, "--refine", help="Refinement passes after the greedy fit: each stroke's control points, width and colour adjusted against the finished picture, in the painter's order (count, 0..10; 0 = off). Default: 3 at --size up to 512 px, 0 above (about 1.4 s at 256 px / 2,000 strokes, 53 s at 1,024 px / 10,000 on 2 cores)."),
    jobs: Optional[int] = typer.Option(None, "--jobs", "-j", help="Threads the stroke fitter uses (count; default: all cores). The plan is byte-identical for every value."),
    colour_tolerance: str = typer.Option("10", "--colour-tolerance", help="Honest colours: the most a stroke's colour may differ from the picture's colour under it (CIEDE2000, 1..100), or 'off' to choose colours for the finished canvas only (which may compensate for what later strokes cover)."),
    max_brushes: int = typer.Option(8, "--max-brushes", help="The most brush widths a plan uses (count, 1..64); a machine profile keeps its own brushes."),
    min_visible: Optional[float] = typer.Option(None, "--min-visible", help="Strokes showing less than this share of themselves in the finished painting are dropped and their budget refitted where strokes show (fraction, 0..1; 0 keeps every stroke). Default: 0.05 when the plan is refined (--size up to 512 px), else 0 (it needs the refinement, and both cost more than the fit at larger sizes)."),
    tubes: Optional[str] = typer.Option(None, "--tubes", help="Tube set (TOML file, or a bundled name: student-acrylic): keep the palette to colours these tubes mix, and give each paint a mixing recipe (plan meta and report.json)."),
    machine: Optional[str] = typer.Option(None, "--machine", help="Machine profile (TOML file, or a bundled name: pen-plotter, servo-plotter, painting-arm): plan on its canvas inside its margins with only its paints and brushes, add reload/clean actions, order for it; report.json gains a 'machine' section (paint changes, reloads, distances, estimated time)."),
) -> None:
    """Plan a painting of IMAGE: depth, layers far to near, strokes coarse to fine, in a travel-saving order."""
    from animatepainter.export.bundle import write_outputs
    from animatepainter.planner.colors import parse_rgb

    from animatepainter.planner.atomic import check_writable_dir
    from animatepainter.cli.ui import RichProgress, console_print, parse_layers, parse_tolerance
    from animatepainter.planner.errors import SettingsError
    from animatepainter.planner.images import file_sha256, load_image
    from animatepainter.planner.teacher.pipeline import PaintSettings, plan_painting
    from animatepainter.planner.teacher.sbr import check_jobs

    bg = parse_rgb(background, "--background")
    settings = PaintSettings(
        strokes=strokes,
        seed=seed,
        size=size,
        canvas_mm=tuple(canvas_mm) if canvas_mm else None,
        layers=parse_layers(layers),
        levels=levels,
        steps=steps,
        palette=palette,
        background=bg,
        depth_backend=depth_backend.value,
        depth_model=str(depth_model) if depth_model else None,
        refine=refine,
        colour_tolerance=parse_tolerance(colour_tolerance),
        max_brushes=max_brushes,
        min_visible=min_visible,
    )
    settings.check()
    check_jobs(jobs)
    profile = None
    if machine is not None:
        from animatepainter.planner.machine.profile import load_profile
        from animatepainter.planner.machine.adapt import machine_settings

        profile = load_profile(machine)
        settings = machine_settings(settings, profile, canvas_given=canvas_mm is not None)
    if not 64 <= video_px <= 4096:
        raise SettingsError(f"--video-px must be between 64 and 4096, got {video_px}")
    if not 1 <= fps <= 120:
        raise SettingsError(f"--fps must be between 1 and 120, got {fps}")
    tube_set = None
    if tubes is not None:
        from animatepainter.planner.machine.tubes import load_tubes

        tube_set = load_tubes(tubes)
    check_writable_dir(out)
    t0 = time.perf_counter()
    # alpha is composited on the canvas the plan paints on: with --machine, the machine's
    img = load_image(image, background=tuple(settings.background))
    timings = {"load_s": time.perf_counter() - t0}
    if max(img.shape[:2]) > 4 * size:
        log.warning("%s is %dx%d px; planning at %d px on the long side (--size)", image, img.shape[1], img.shape[0], size)
    with RichProgress() as progress:
        if engine is PaintEngine.diffusion:
            from animatepainter.model.engine import DiffusionOptions, plan_with_diffusion

            opts = DiffusionOptions(ckpt=str(ckpt) if ckpt else None, sample_steps=sample_steps)
            result = plan_with_diffusion(img, settings, depth=depth, options=opts, source_sha256=file_sha256(image), progress=progress)
        else:
            result = plan_painting(img, settings, depth=depth, source_sha256=file_sha256(image), progress=progress, jobs=jobs)
        timings.update(result.timings)
        plan, extra = result.plan, {"source": str(image.resolve())}
        if profile is not None:
            from animatepainter.planner.machine.adapt import apply_machine

            t0 = time.perf_counter()
            plan, extra["machine"] = apply_machine(plan, profile, progress=progress)
            plan = _compensate(plan, machine)
            timings["machine_s"] = time.perf_counter() - t0
        if tube_set is not None:
            from animatepainter.planner.mixing import mixable_plan, with_mixing

            t0 = time.perf_counter()
            # a machine's paints are what its wells hold: they get recipes; otherwise the
            # palette itself is kept to colours the tubes mix
            plan = with_mixing(plan, tube_set) if profile is not None else mixable_plan(plan, tube_set)
            extra["mixing"] = plan.meta["mixing"]
            timings["mixing_s"] = time.perf_counter() - t0
        report = write_outputs(
            plan,
            result.image,
            out,
            depth=result.depth,
            timings=timings,
            extra_report=extra,
            video_px=video_px,
            fps=fps,
            progress=progress,
        )
    console_print(
        f"[bold]{report['strokes']}[/] strokes, PSNR {report['psnr_db']:.2f} dB, SSIM {report['ssim']:.3f}, "
        f"pen-up travel {report['pen_up_travel_mm'] / 1000:.2f} m, {report['wall_time_s']['total']:.1f} s -> {out}"
    )


def _compensate(plan, machine: str):
    """With a calibrated rig profile (``rig calibrate``), the plan commands what makes
    the rig paint the plan: strokes moved by minus its offset, widths divided by each
    brush's measured ratio (its reload cadence is already in the profile's capacities)."""
    from animatepainter.planner.machine.profile import read_profile_toml

    data, _ = read_profile_toml(machine)
    if "calibration" not in data:
        return plan
    from animatepainter.planner.rig.calibrate import compensate_plan
    from animatepainter.planner.rig.profile import load_rig

    rig = load_rig(machine)
    log.info("compensating the calibrated rig: offset %s mm, width ratios %s", rig.calibration.offset_mm, rig.calibration.width_scale)
    return compensate_plan(plan, rig)


def register(app: typer.Typer, export_app: typer.Typer) -> None:
    """Add ``paint`` to the CLI."""
    app.command("paint")(paint)
