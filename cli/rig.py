"""``animatepainter rig ...`` (the simulated rig, markers, registration, calibration,
the closed loop) and ``animatepainter replan``."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any, Optional

import numpy as np
import typer

from animatepainter.planner.render import to_uint8

log = logging.getLogger(__name__)

rig_app = typer.Typer(
    help="The closed loop: a simulated rig and camera, marker sheets, photo registration, stroke calibration, and painting with feedback.",
    no_args_is_help=True,
    context_settings={"help_option_names": ["-h", "--help"]},
)

RIG_HELP = "Rig profile: a machine profile with [execution] and [camera] sections (TOML file, or the bundled 'sim-arm')."


# options several commands share (a factory each: typer needs one object per parameter)
def _every_opt(what: str = "Strokes painted between photos (count, >= 1).") -> Any:
    return typer.Option(25, "--every", help=what)


def _strokes_opt() -> Any:
    return typer.Option(1500, "--strokes", "-n", help="Stroke budget of the plan (count, 1..200000).")


def _size_opt() -> Any:
    return typer.Option(256, "--size", help="Working resolution: the image's long side, px (16..4096).")


def _learn_opt() -> Any:
    return typer.Option(True, "--learn-offset/--no-learn-offset", help="Estimate the rig's offset from the photos and compensate it in later strokes.")


def _jobs_opt() -> Any:
    return typer.Option(None, "--jobs", "-j", help="Threads of the stroke fitter (count; default: all cores).")


def _topic_opts() -> tuple[Any, Any, Any]:
    return (
        typer.Option("/painter/strokes", "--topic", help="ROS 2 topic of the stroke stream (painter_msgs/msg/Stroke)."),
        typer.Option("/painter/plan", "--plan-topic", help="ROS 2 topic of the latched plan (painter_msgs/msg/StrokePlan), for the canvas."),
        typer.Option("/painter/camera", "--camera-topic", help="ROS 2 topic of the photos (sensor_msgs/msg/Image, rgb8; stamp = strokes painted, in seconds)."),
    )


def _dds_opts() -> tuple[Any, Any]:
    return (
        typer.Option(0, "--domain-id", envvar="ROS_DOMAIN_ID", show_envvar=False, help="DDS domain id, 0..232 (ROS 2's ROS_DOMAIN_ID; default: $ROS_DOMAIN_ID, else 0)."),
        typer.Option(None, "--localhost/--no-localhost", help="Talk on the loopback interface only (ROS 2's localhost mode). Default: from ROS_LOCALHOST_ONLY."),
    )


def _check_every(every: int) -> None:
    from animatepainter.planner.errors import SettingsError

    if every < 1:
        raise SettingsError(f"--every must be a whole number of strokes >= 1, got {every}")


def _check_seed(seed: Optional[int]) -> None:
    """A seed numpy's generators take (a negative one fails deep in the work, after the
    painting started)."""
    from animatepainter.planner.errors import SettingsError

    if seed is not None and seed < 0:
        raise SettingsError(f"--seed must be a whole number >= 0, got {seed}")


def _check_timeout(timeout: float, *, zero: Optional[str]) -> None:
    """``--timeout`` seconds: finite and > 0, or also 0 where ``zero`` says what 0 means.
    A negative or NaN timeout would otherwise wait forever."""
    import math

    from animatepainter.planner.errors import SettingsError

    if not math.isfinite(timeout) or timeout < 0 or (timeout == 0 and zero is None):
        want = f"a number of seconds >= 0 ({zero})" if zero else "a number of seconds > 0"
        raise SettingsError(f"--timeout must be {want}, got {timeout:g}")


def _check_wire(domain_id: int, stroke_topic: str, plan_topic: str, camera_topic: str) -> tuple[str, str, str]:
    """Check the DDS domain and the three topic names before any participant is made; the
    names made absolute. The topics carry three different types, so they must differ."""
    from animatepainter.export.ros.names import check_domain_id, check_topic
    from animatepainter.planner.errors import SettingsError

    check_domain_id(domain_id)
    st = check_topic(stroke_topic, "stroke_topic")
    pt = check_topic(plan_topic, "plan_topic")
    ct = check_topic(camera_topic, "camera_topic")
    if pt == st:
        raise SettingsError(f"plan_topic {pt} is also the stroke topic (--topic): the topics must differ, they carry different types", "plan_topic")
    if ct in (st, pt):
        other = "stroke topic (--topic)" if ct == st else "plan topic (--plan-topic)"
        raise SettingsError(f"camera_topic {ct} is also the {other}: the topics must differ, they carry different types", "camera_topic")
    return st, pt, ct


def _check_loop_rig(r: Any, given: str) -> None:
    """The loop photographs the rig's canvas: its margins must hold the corner markers.
    Checked before the plan is made (it would fail at the first photo); ``given``: the
    --rig value as written."""
    from animatepainter.planner.errors import SettingsError
    from animatepainter.planner.rig.layout import canvas_layout

    mc = r.machine.canvas
    try:
        canvas_layout(mc.width_mm, mc.height_mm, tuple(mc.margins_mm))
    except SettingsError as e:
        raise SettingsError(f"--rig {given}: the canvas's {e} (the loop photographs them)") from None


def _check_calibrated(cal: Any, executor: Any, given: Path) -> None:
    """``rig run --calibrated``: a profile with [calibration] of the rig that paints;
    ``given``: the --calibrated value as written."""
    from animatepainter.planner.errors import SettingsError

    if cal.calibration is None:
        raise SettingsError(f"--calibrated {given}: has no [calibration] section (make one with `animatepainter rig calibrate`)")
    a, b = cal.machine.canvas, executor.machine.canvas
    if abs(a.width_mm - b.width_mm) > 1e-3 or abs(a.height_mm - b.height_mm) > 1e-3:
        raise SettingsError(
            f"--calibrated {given}: its canvas is {a.width_mm:g} x {a.height_mm:g} mm, the rig's (--rig) is {b.width_mm:g} x {b.height_mm:g} mm; calibrate this rig"
        )


def _loop_inputs(image: Path, out: Path, strokes: int, size: int, seed: int, every: int, jobs: int | None) -> tuple[Any, np.ndarray]:
    """Check a loop command's settings and output folder, then read the image:
    ``(PaintSettings, image)``."""
    from animatepainter.planner.atomic import check_writable_dir
    from animatepainter.planner.images import load_image
    from animatepainter.planner.teacher.pipeline import PaintSettings
    from animatepainter.planner.teacher.sbr import check_jobs

    settings = PaintSettings(strokes=strokes, size=size, seed=seed)
    settings.check()
    check_jobs(jobs)
    _check_every(every)
    _check_seed(seed)
    check_writable_dir(out)
    return settings, load_image(image)


def _save_png(path: Path, img: np.ndarray) -> None:
    from animatepainter.export.video import write_png

    write_png(img, path)


def _save_json(path: Path, data: Any) -> None:
    from animatepainter.planner.atomic import atomic_write_bytes

    atomic_write_bytes(path, (json.dumps(data, indent=2, sort_keys=True) + "\n").encode("utf-8"))


def _load_canvas_png(path: Path, plan: Any) -> np.ndarray:
    from animatepainter.planner.errors import InputError
    from animatepainter.planner.images import load_image

    img = load_image(path)
    w, h = plan.canvas.image_px
    if img.shape[:2] != (h, w):
        raise InputError(f"{path}: the canvas image is {img.shape[1]}x{img.shape[0]} px, the plan's pixel frame is {w}x{h} px")
    return img


@rig_app.command("simulate")
def simulate(
    plan_path: Path = typer.Argument(..., metavar="PLAN", help="Stroke plan made for the rig (`paint --machine RIG`)."),
    rig: str = typer.Option(..., "--rig", help=RIG_HELP),
    out: Path = typer.Option(..., "--out", "-o", help="Output folder: canvas.png (the true canvas, the plan's pixel frame), photo.png (the camera's view), report.json."),
    seed: int = typer.Option(0, "--seed", help="Seed of the rig's errors and the camera noise; the same seed gives the same canvas and photo."),
    start: int = typer.Option(0, "--from", help="First stroke to paint (index, 0-based)."),
    stop: Optional[int] = typer.Option(None, "--to", help="Last stroke to paint (index, inclusive). Default: the plan's last."),
    canvas: Optional[Path] = typer.Option(None, "--canvas", help="PNG of what is already on the canvas, in the plan's pixel frame (a previous canvas.png). Default: blank."),
) -> None:
    """Paint strokes FROM..TO of PLAN with the simulated rig and photograph the canvas."""
    from animatepainter.cli.ui import console_print
    from animatepainter.planner.atomic import OutputDir, check_writable_dir
    from animatepainter.planner.errors import SettingsError
    from animatepainter.planner.metrics import psnr
    from animatepainter.planner.plan import StrokePlan
    from animatepainter.planner.render import render_plan
    from animatepainter.planner.rig.camera import physical_canvas, photograph
    from animatepainter.planner.rig.execute import check_plan_for_rig, execute_strokes
    from animatepainter.planner.rig.profile import load_rig

    _check_seed(seed)
    r = load_rig(rig)
    plan = StrokePlan.load(plan_path)
    check_plan_for_rig(plan, r)
    n = len(plan)
    last = n - 1 if stop is None else stop
    if not 0 <= start <= n:
        raise SettingsError(f"--from must be between 0 and {n} (the plan has {n} strokes), got {start}")
    if not start - 1 <= last <= n - 1:
        raise SettingsError(f"--to must be between --from - 1 ({start - 1}) and {n - 1} (the plan's last stroke), got {last}")
    check_writable_dir(out)
    base = _load_canvas_png(canvas, plan).astype(np.float32) / 255.0 if canvas else None
    painted, state, done = execute_strokes(plan, r, base, start, last + 1, seed)
    photo, h_true = photograph(physical_canvas(plan, painted, r), r, seed=seed)
    truth = to_uint8(painted)
    ideal = render_plan(plan, upto=last + 1) if start == 0 and canvas is None else None
    report = {
        "rig": r.machine.name,
        "seed": seed,
        "from": start,
        "to": last,
        "strokes_painted": len(done),
        "homography_mm_to_photo": np.round(h_true, 9).tolist(),
        "photo_px": list(r.camera.image_px),
        "canvas_px": list(plan.canvas.image_px),
        "psnr_vs_plan_db": round(psnr(truth, ideal), 3) if ideal is not None else None,
    }
    with OutputDir(out) as stage:
        _save_png(stage / "canvas.png", truth)
        _save_png(stage / "photo.png", photo)
        _save_json(stage / "report.json", report)
    extra = f", {report['psnr_vs_plan_db']:.2f} dB against the plan" if ideal is not None else ""
    console_print(f"painted strokes {start}..{last} ({len(done)}){extra} -> {out}")


@rig_app.command("markers")
def markers(
    out: Path = typer.Option(..., "--out", "-o", help="SVG file to write (true size, mm)."),
    canvas_mm: Optional[tuple[float, float]] = typer.Option(None, "--canvas-mm", help="Canvas WIDTH HEIGHT in millimetres."),
    margins_mm: Optional[tuple[float, float, float, float]] = typer.Option(None, "--margins-mm", help="Margins TOP RIGHT BOTTOM LEFT in mm (markers and patches go there). Default: 30 mm each."),
    rig: Optional[str] = typer.Option(None, "--rig", help="Take the canvas and margins from this machine or rig profile instead."),
) -> None:
    """Write the printable sheet of corner markers (ArUco DICT_4X4_50, ids 0-3) and colour patches of a canvas."""
    from animatepainter.cli.ui import console_print
    from animatepainter.export.markers_svg import write_markers_svg
    from animatepainter.planner.errors import SettingsError
    from animatepainter.planner.rig.layout import canvas_layout

    if rig is not None:
        from animatepainter.planner.machine.profile import load_profile

        mc = load_profile(rig).canvas
        size, margins = (mc.width_mm, mc.height_mm), tuple(mc.margins_mm)
    else:
        if canvas_mm is None:
            raise SettingsError("give --canvas-mm WIDTH HEIGHT (or --rig PROFILE)")
        size = tuple(float(v) for v in canvas_mm)
        margins = tuple(float(v) for v in margins_mm) if margins_mm else (30.0,) * 4
    if not all(np.isfinite(v) and v > 0 for v in size):
        raise SettingsError(f"--canvas-mm must be two sizes > 0 mm, got {size[0]:g} {size[1]:g}")
    if any(not np.isfinite(v) or v < 0 for v in margins) or margins[1] + margins[3] >= size[0] or margins[0] + margins[2] >= size[1]:
        raise SettingsError("--margins-mm must be >= 0 and leave some of the canvas")
    layout = canvas_layout(size[0], size[1], margins)  # type: ignore[arg-type]
    write_markers_svg(layout, margins, out)  # type: ignore[arg-type]
    console_print(f"{len(layout.markers)} markers ({layout.marker_mm:g} mm) and {len(layout.patches)} colour patches -> {out}")


@rig_app.command("register")
def register_cmd(
    photo_path: Path = typer.Argument(..., metavar="PHOTO", help="Photo of the canvas with its four corner markers visible."),
    plan_path: Path = typer.Option(..., "--plan", help="The plan being painted (its canvas and pixel frame)."),
    out: Path = typer.Option(..., "--out", "-o", help="Output folder: canvas.png (the photo rectified into the plan's pixel frame, colour-corrected), report.json."),
) -> None:
    """Rectify and colour-correct a photo of the canvas into the plan's pixel frame."""
    from animatepainter.cli.ui import console_print
    from animatepainter.planner.atomic import OutputDir, check_writable_dir
    from animatepainter.planner.images import load_image
    from animatepainter.planner.plan import StrokePlan
    from animatepainter.planner.rig.register import register_photo

    plan = StrokePlan.load(plan_path)
    photo = load_image(photo_path)
    check_writable_dir(out)
    reg = register_photo(photo, plan)
    with OutputDir(out) as stage:
        _save_png(stage / "canvas.png", reg.canvas)
        _save_json(stage / "report.json", {**reg.report, "homography_mm_to_photo": np.round(reg.homography, 9).tolist()})
    r = reg.report
    console_print(
        f"4 markers, corner error {r['corner_error_mm']:.2f} mm, colour error {r['delta_e2000_before']['mean']:.1f} -> "
        f"{r['delta_e2000_after']['mean']:.2f} dE2000 -> {out}"
    )


@rig_app.command("calibrate")
def calibrate(
    rig: str = typer.Option(..., "--rig", help=RIG_HELP),
    out: Path = typer.Option(..., "--out", "-o", help="Output folder: sheet.json and sheet.svg (the test sheet); with --photo or --simulate also calibrated.toml (the profile with [calibration]) and report.json."),
    photo: Optional[Path] = typer.Option(None, "--photo", help="Photo of the painted test sheet (markers visible): measure the rig from it."),
    simulate_sheet: bool = typer.Option(False, "--simulate", help="Paint the test sheet with the simulated rig and photograph it, then measure (no real rig needed)."),
    seed: int = typer.Option(0, "--seed", help="Seed of the simulated rig and camera, with --simulate."),
) -> None:
    """Make the stroke test sheet of a rig and, from a photo of it painted, measure the rig's real width, offset and coverage per brush into a calibrated copy of its profile."""
    from animatepainter.cli.ui import console_print
    from animatepainter.export.svg import write_svg
    from animatepainter.planner.atomic import OutputDir, check_writable_dir
    from animatepainter.planner.errors import InputError, SettingsError
    from animatepainter.planner.images import load_image
    from animatepainter.planner.rig.calibrate import calibrated_rig, calibration_sheet_plan, measure_calibration
    from animatepainter.planner.rig.profile import load_rig, save_rig

    if photo is not None and simulate_sheet:
        raise SettingsError("give --photo or --simulate, not both")
    _check_seed(seed)
    r = load_rig(rig)
    try:
        sheet = calibration_sheet_plan(r)
    except SettingsError as e:  # a pen plotter: nothing to calibrate
        raise SettingsError(f"--rig {rig}: {e}") from None
    check_writable_dir(out)
    img = None
    if photo is not None:
        img = load_image(photo)
    elif simulate_sheet:
        from animatepainter.planner.rig.camera import physical_canvas, photograph
        from animatepainter.planner.rig.execute import execute_strokes

        painted, _, _ = execute_strokes(sheet, r, seed=seed)
        img, _ = photograph(physical_canvas(sheet, painted, r), r, seed=seed)
    result = None
    if img is not None:
        try:
            cal, report = measure_calibration(img, sheet)
        except InputError as e:
            if photo is None:
                raise
            raise InputError(f"{photo}: {e}") from None
        tables, _ = calibrated_rig(r, cal)
        result = (tables, report)
    with OutputDir(out) as stage:
        sheet.save(stage / "sheet.json")
        write_svg(sheet, stage / "sheet.svg")
        if result is not None:
            tables, report = result
            if simulate_sheet:
                _save_png(stage / "photo.png", img)
            save_rig(tables, stage / "calibrated.toml", header=f"# {r.machine.name}: calibrated by `animatepainter rig calibrate` from {'a simulated sheet' if simulate_sheet else photo}")
            _save_json(stage / "report.json", report)
    if result is None:
        console_print(f"test sheet: {len(sheet)} strokes over {len(sheet.brushes)} brushes -> {out}/sheet.json, sheet.svg; paint it, photograph it, and run again with --photo")
        return
    widths = ", ".join(f"{b['brush']:g} mm x{b['width_scale']:.2f}" for b in report["brushes"])
    console_print(f"offset {report['offset_mm'][0]:+.2f} {report['offset_mm'][1]:+.2f} mm, widths {widths} -> {out}/calibrated.toml")


@rig_app.command("run")
def run(
    image: Path = typer.Argument(..., help="Image to paint."),
    rig: str = typer.Option(..., "--rig", help=RIG_HELP + " It paints (the simulated truth)."),
    every: int = _every_opt(),
    out: Path = typer.Option(..., "--out", "-o", help="Output folder: open_loop.png, closed_loop.png (true final canvases), ideal.png, plan.json (as first planned), final_plan.json (as painted), contact.png (the canvases, then each photo, what registration made of it, and what the new plan aims at), report.json."),
    seed: int = typer.Option(0, "--seed", help="Seed of the plan, the rig's errors and the camera; the same seed gives the same run."),
    strokes: int = _strokes_opt(),
    size: int = _size_opt(),
    calibrated: Optional[Path] = typer.Option(None, "--calibrated", help="Plan with this calibrated rig profile (from `rig calibrate`); --rig still paints."),
    learn_offset: bool = _learn_opt(),
    jobs: Optional[int] = _jobs_opt(),
) -> None:
    """Paint IMAGE with the simulated rig twice, open-loop and closed-loop (photo, register, replan every N strokes), and compare."""
    from animatepainter.cli.ui import RichProgress, console_print
    from animatepainter.planner.atomic import OutputDir
    from animatepainter.planner.images import file_sha256
    from animatepainter.planner.rig.loop import run_loop
    from animatepainter.planner.rig.profile import load_rig
    from animatepainter.planner.sheets import contact_sheet

    executor = load_rig(rig)
    _check_loop_rig(executor, rig)
    planner_rig = executor
    if calibrated:
        planner_rig = load_rig(calibrated)
        _check_calibrated(planner_rig, executor, calibrated)
    settings, img = _loop_inputs(image, out, strokes, size, seed, every, jobs)
    with RichProgress() as progress:
        res = run_loop(img, planner_rig, settings, every, seed=seed, progress=progress, jobs=jobs, executor=executor, learn_offset=learn_offset)
    tiles = [res.target, res.open_loop, res.closed_loop]
    labels = [f"picture (ideal: {res.report['ideal_psnr_db']:.1f} dB)", f"open loop {res.report['open_loop_psnr_db']:.1f} dB", f"closed loop {res.report['closed_loop_psnr_db']:.1f} dB"]
    for done, photo, reg, aim in res.photos:
        tiles += [photo, reg, aim]
        labels += [f"photo after {done}", f"registered after {done}", f"replanned after {done}"]
    report = {**res.report, "source": str(image.resolve()), "source_sha256": file_sha256(image), "rig": executor.source, "planned_with": planner_rig.source}
    with OutputDir(out) as stage:
        _save_png(stage / "picture.png", res.target)
        _save_png(stage / "ideal.png", res.ideal)
        _save_png(stage / "open_loop.png", res.open_loop)
        _save_png(stage / "closed_loop.png", res.closed_loop)
        _save_png(stage / "contact.png", contact_sheet(tiles, labels, cols=3))
        res.plan.save(stage / "plan.json")
        res.final_plan.save(stage / "final_plan.json")
        _save_json(stage / "report.json", report)
    r = res.report
    console_print(
        f"ideal {r['ideal_psnr_db']:.2f} dB, open loop {r['open_loop_psnr_db']:.2f} dB, closed loop {r['closed_loop_psnr_db']:.2f} dB "
        f"({r['photos']} photos, replan {r['replan_s']['mean'] if r['replan_s'] else 0:.2f} s each) -> {out}"
    )


@rig_app.command("serve")
def serve(
    rig: str = typer.Option(..., "--rig", help=RIG_HELP),
    every: int = _every_opt("Strokes painted between photos (count, >= 1); the controller (`rig drive`) must use the same."),
    out: Path = typer.Option(..., "--out", "-o", help="Output folder, written when the plan is complete: canvas.png (the true canvas, the plan's pixel frame), report.json."),
    seed: int = typer.Option(0, "--seed", help="Seed of the rig's errors and the camera noise (the same as `rig run --seed` paints the same canvas)."),
    stroke_topic: str = _topic_opts()[0],
    plan_topic: str = _topic_opts()[1],
    camera_topic: str = _topic_opts()[2],
    timeout: float = typer.Option(0.0, "--timeout", help="Give up when the plan is not complete after this many seconds (0 = wait until interrupted)."),
    domain_id: int = _dds_opts()[0],
    localhost: Optional[bool] = _dds_opts()[1],
) -> None:
    """The simulated rig as a DDS node: paint the strokes streamed to it and publish a photo of the canvas every N strokes."""
    from animatepainter.cli.ui import console_print
    from animatepainter.export.ros.dds import Participant
    from animatepainter.export.ros.rigsim import RigNode
    from animatepainter.planner.atomic import OutputDir, check_writable_dir
    from animatepainter.planner.rig.profile import load_rig

    stroke_topic, plan_topic, camera_topic = _check_wire(domain_id, stroke_topic, plan_topic, camera_topic)
    _check_timeout(timeout, zero="0 = wait until interrupted")
    _check_every(every)
    _check_seed(seed)
    r = load_rig(rig)
    _check_loop_rig(r, rig)
    check_writable_dir(out)
    node = RigNode(Participant(domain_id, localhost=localhost), r, every, seed, stroke_topic=stroke_topic, plan_topic=plan_topic, camera_topic=camera_topic)
    console_print(f"rig {r.machine.name!r} listening on {stroke_topic} (domain {domain_id}), photos on {camera_topic} every {every} strokes")
    canvas = node.run(timeout)
    with OutputDir(out) as stage:
        _save_png(stage / "canvas.png", canvas)
        _save_json(stage / "report.json", {"strokes_painted": node.painted, "photos": node.photos, "seed": seed, "every": every, "rig": r.source})
    console_print(f"painted {node.painted} strokes, {node.photos} photos -> {out}")


@rig_app.command("drive")
def drive(
    image: Path = typer.Argument(..., help="Image to paint."),
    rig: str = typer.Option(..., "--rig", help=RIG_HELP + " The planner's view of the rig (the rig node paints)."),
    every: int = _every_opt("Strokes between photos (count, >= 1); the rig node (`rig serve`) must use the same."),
    out: Path = typer.Option(..., "--out", "-o", help="Output folder: plan.json (as first planned), final_plan.json (as painted), contact.png (the plans, then each photo, what registration made of it, and what the new plan aims at), report.json."),
    seed: int = typer.Option(0, "--seed", help="Seed of the plan and the replans."),
    strokes: int = _strokes_opt(),
    size: int = _size_opt(),
    learn_offset: bool = _learn_opt(),
    stroke_topic: str = _topic_opts()[0],
    plan_topic: str = _topic_opts()[1],
    camera_topic: str = _topic_opts()[2],
    timeout: float = typer.Option(60.0, "--timeout", help="Seconds to wait for the rig node to appear and for each photo (> 0)."),
    domain_id: int = _dds_opts()[0],
    localhost: Optional[bool] = _dds_opts()[1],
    jobs: Optional[int] = _jobs_opt(),
) -> None:
    """Paint IMAGE through a rig on the DDS wire (`rig serve`), closed-loop: stream N strokes, take its photo, register, replan, repeat."""
    from animatepainter.cli.ui import RichProgress, console_print
    from animatepainter.export.ros.dds import Participant
    from animatepainter.export.ros.rigsim import WirePainter
    from animatepainter.planner.atomic import OutputDir
    from animatepainter.planner.render import render_plan
    from animatepainter.planner.rig.loop import closed_loop, plan_for_rig
    from animatepainter.planner.rig.profile import load_rig
    from animatepainter.planner.sheets import contact_sheet

    stroke_topic, plan_topic, camera_topic = _check_wire(domain_id, stroke_topic, plan_topic, camera_topic)
    _check_timeout(timeout, zero=None)
    r = load_rig(rig)
    _check_loop_rig(r, rig)
    settings, img = _loop_inputs(image, out, strokes, size, seed, every, jobs)
    painter = WirePainter(Participant(domain_id, localhost=localhost), timeout_s=timeout, stroke_topic=stroke_topic, plan_topic=plan_topic, camera_topic=camera_topic)
    with RichProgress() as progress:
        plan, res = plan_for_rig(img, r, settings, progress=progress, jobs=jobs)
        final, photos, stats = closed_loop(plan, res.image, res.layers, r, every, painter, seed=seed, jobs=jobs, learn_offset=learn_offset, progress=progress)
    painter.finish()
    tiles, labels = [res.image, render_plan(plan), render_plan(final)], ["picture", "first plan", "final plan"]
    for done, photo, reg, aim in photos:
        tiles += [photo, reg, aim]
        labels += [f"photo after {done}", f"registered after {done}", f"replanned after {done}"]
    with OutputDir(out) as stage:
        plan.save(stage / "plan.json")
        final.save(stage / "final_plan.json")
        _save_png(stage / "contact.png", contact_sheet(tiles, labels, cols=3))
        _save_json(stage / "report.json", {**stats, "strokes_planned": len(plan), "strokes_painted": len(final), "every": every, "seed": seed, "photos_received": painter.photos_received})
    console_print(f"{len(final)} strokes painted through the rig, {stats['photos']} photos, {stats['replans']} replans -> {out}")


def replan_cmd(
    image: Path = typer.Argument(..., help="The image the plan was made from."),
    plan_path: Path = typer.Option(..., "--plan", help="The plan being painted."),
    canvas: Path = typer.Option(..., "--canvas", help="PNG of what is on the canvas now, in the plan's pixel frame (e.g. `rig register`'s canvas.png)."),
    done: int = typer.Option(..., "--done", help="Strokes of the plan already painted (count, 0..the plan's length); they are kept."),
    out: Path = typer.Option(..., "--out", "-o", help="Output folder: plan.json (kept strokes, then the new ones), plan.svg, preview.png (the canvas with the new strokes painted), report.json."),
    seed: Optional[int] = typer.Option(None, "--seed", help="Seed of the fitter. Default: the plan's seed + DONE."),
    depth: Optional[Path] = typer.Option(None, "--depth", help="The depth map the plan was made with, if one was given to `paint` (.npy or grayscale image)."),
    jobs: Optional[int] = typer.Option(None, "--jobs", "-j", help="Threads of the stroke fitter (count; default: all cores). The plan is byte-identical for every value."),
) -> None:
    """Keep the first DONE strokes of PLAN and plan the rest against what is on CANVAS, in the painter's order."""
    import time

    from animatepainter.cli.ui import console_print
    from animatepainter.export.svg import write_svg
    from animatepainter.planner.atomic import OutputDir, check_writable_dir
    from animatepainter.planner.errors import InputError, PlanError
    from animatepainter.planner.images import file_sha256, load_image
    from animatepainter.planner.plan import StrokePlan
    from animatepainter.planner.render import paint_stroke, plan_to_pixels
    from animatepainter.planner.teacher.replan import replan, replan_inputs
    from animatepainter.planner.teacher.sbr import check_jobs

    check_jobs(jobs)
    _check_seed(seed)
    plan = StrokePlan.load(plan_path)
    if not 0 <= done <= len(plan):
        raise PlanError(f"--done must be between 0 and the plan's {len(plan)} strokes, got {done}")
    sha = plan.meta.get("source_sha256")
    if sha and sha != file_sha256(image):
        raise InputError(f"{image}: not the image the plan was made from (its SHA-256 differs from the plan's source_sha256)")
    cv = _load_canvas_png(canvas, plan)
    check_writable_dir(out)
    img = load_image(image, background=tuple(plan.canvas.background))
    work, layers = replan_inputs(plan, img, str(depth) if depth else None)
    t0 = time.perf_counter()
    new = replan(plan, work, layers, cv, done, seed=seed, jobs=jobs)
    dt = time.perf_counter() - t0
    preview = cv.astype(np.float32) / 255.0
    _, strokes = plan_to_pixels(new.with_strokes(new.strokes[done:]))
    for s in strokes:
        paint_stroke(preview, s)
    from animatepainter.planner.metrics import psnr

    report = {"done": done, "strokes_left_before": len(plan) - done, "strokes_left_after": len(new) - done, "replan_s": round(dt, 4), "canvas_psnr_db": round(psnr(cv, work), 3), "preview_psnr_db": round(psnr(to_uint8(preview), work), 3)}
    with OutputDir(out) as stage:
        new.save(stage / "plan.json")
        write_svg(new, stage / "plan.svg")
        _save_png(stage / "preview.png", to_uint8(preview))
        _save_json(stage / "report.json", report)
    console_print(f"kept {done} strokes, {len(plan) - done} left -> {len(new) - done} new, canvas {report['canvas_psnr_db']:.2f} -> {report['preview_psnr_db']:.2f} dB, {dt:.2f} s -> {out}")


def register(app: typer.Typer, export_app: typer.Typer) -> None:
    """Add ``rig`` and ``replan`` to the CLI."""
    app.add_typer(rig_app, name="rig")
    app.command("replan")(replan_cmd)
