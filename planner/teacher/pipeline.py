"""The teacher planner, top to bottom: image -> depth -> layers -> strokes -> order -> plan.

:func:`plan_painting` is the whole algorithm; the CLI's ``paint`` writes its outputs
with :func:`animatepainter.export.bundle.write_outputs`.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from animatepainter.planner.assemble import assemble_plan, canvas_for, check_background, check_canvas_mm, make_palette, provenance
from animatepainter.planner.depth import estimate_depth
from animatepainter.planner.errors import SettingsError
from animatepainter.planner.images import MIN_SIDE, load_depth, resize_long_side
from animatepainter.planner.layers import check_layers, layer_map
from animatepainter.planner.order import order_groups
from animatepainter.planner.plan import StrokePlan
from animatepainter.planner.process import DEFAULT_COLOUR_TOLERANCE, MIN_VISIBLE, check_colour_tolerance, enforce_honesty
from animatepainter.planner.progress import NULL_PROGRESS, Progress
from animatepainter.planner.teacher.prune import FRAGILE_VISIBLE, GUARD_MIN, prune_and_refill
from animatepainter.planner.teacher.refine import RefineSettings, refine_strokes
from animatepainter.planner.teacher.sbr import FitSettings, check_jobs, fit_strokes, level_widths

log = logging.getLogger(__name__)

__all__ = ["PaintSettings", "PaintResult", "plan_painting", "working_image_and_depth", "assign_steps"]


@dataclass(frozen=True)
class PaintSettings:
    """Options of the teacher planner (``animatepainter paint``).

    Attributes:
        strokes: stroke budget, the most strokes the plan may hold (1..200000).
        seed: seed of every random choice.
        size: working resolution: the image's long side is resized to this, px.
        canvas_mm: ``(width, height)`` of the canvas in mm; the image is fitted inside,
            centred. ``None``: long side 300 mm, the image's aspect ratio.
        layers: number of depth layers K (1..16), painted far to near; ``None``: as
            many as the picture has depth planes (:func:`~animatepainter.planner.layers.choose_layer_count`,
            at most 12; a depth map of one plane gets one layer).
        levels: number of refinement levels (brush sizes), 1..8.
        steps: number of process steps (frames) the plan is divided into; at least one
            per non-empty (layer, level) group.
        palette: number of paints the stroke colours are grouped into (1..256).
        background: canvas colour, RGB 0..255.
        depth_backend: ``"prior"`` or ``"transformers"`` (see :mod:`.depth`).
        depth_model: local model directory for ``"transformers"``.
        reorder: cut pen-up travel inside each (layer, level) group.
        refine: passes of the refinement after the greedy fit (control points,
            widths and colours against the finished picture, in the painter's order;
            :mod:`.refine`), 0..10; 0 = off. ``None``: :data:`REFINE_PASSES` at
            working sizes up to :data:`REFINE_AUTO_MAX_SIZE` px, 0 above (its cost
            grows with the painted area: about 1.4 s at 256 px / 2,000 strokes, 53 s
            at 1,024 px / 10,000 on 2 cores).
        paints: the only colours strokes may have (RGB 0..255), e.g. a machine's
            paints; they become the plan's palette, in this order (``palette`` is then
            ignored). ``None``: any colour, grouped into ``palette`` paints afterwards.
        paint_names: names of ``paints`` (default ``paint-NN #rrggbb``).
        brush_widths_mm: the only stroke widths, mm (a machine's brushes): the
            refinement levels are these widths, widest first (``levels`` is then
            ignored). ``None``: ``levels`` widths from 1/8 of the long side down.
        colour_tolerance: honest colours: the most a stroke's colour may differ from
            the picture's colour under it (CIEDE2000, >= 1; see
            :mod:`animatepainter.planner.process`), in the fit, the refinement and the
            plan; with ``paints``, a stroke takes one of the paints nearest the
            picture's colour there. ``None``: off (colours chosen for the finished
            canvas only, which may compensate for what later strokes cover).
        max_brushes: the most brush widths a plan uses (a painter's set, 1..64): the
            fit and the refinement take widths from a geometric ladder of this many
            (ignored with ``brush_widths_mm``, a machine's own brushes).
        min_visible: strokes with less of their coverage than this visible in the
            finished painting are dropped and their budget refitted where strokes
            show (:mod:`.prune`); 0 = keep every stroke. ``None``: :data:`MIN_VISIBLE`
            (5 %) when the plan is refined, else 0: the refinement is what closes the
            gaps a dropped under-stroke leaves (without it, dropping costs 1-2 dB), and
            both cost more than the fit above 512 px (measured at 768 px / 5,000
            strokes: 10 s fit, 42 s to prune and refill).
    """

    strokes: int = 2000
    seed: int = 0
    size: int = 256
    canvas_mm: tuple[float, float] | None = None
    layers: int | None = None
    levels: int = 5
    steps: int = 24
    palette: int = 16
    background: tuple[int, int, int] = (255, 255, 255)
    depth_backend: str = "prior"
    depth_model: str | None = None
    reorder: bool = True
    refine: int | None = None
    paints: tuple[tuple[int, int, int], ...] | None = None
    paint_names: tuple[str, ...] | None = None
    brush_widths_mm: tuple[float, ...] | None = None
    colour_tolerance: float | None = DEFAULT_COLOUR_TOLERANCE
    max_brushes: int = 8
    min_visible: float | None = None

    def check(self) -> None:
        """Raise :class:`SettingsError` naming the first impossible setting."""
        if not 1 <= self.strokes <= 200_000:
            raise SettingsError(f"strokes must be between 1 and 200000, got {self.strokes}", "strokes")
        if not 16 <= self.size <= 4096:
            raise SettingsError(f"size must be between 16 and 4096 px, got {self.size}", "size")
        check_canvas_mm(self.canvas_mm)
        check_layers(self.layers)
        if not 1 <= self.levels <= 8:
            raise SettingsError(f"levels must be between 1 and 8, got {self.levels}", "levels")
        if not 1 <= self.steps <= 10_000:
            raise SettingsError(f"steps must be between 1 and 10000, got {self.steps}", "steps")
        if not 1 <= self.palette <= 256:
            raise SettingsError(f"palette must be between 1 and 256, got {self.palette}", "palette")
        check_colour_tolerance(self.colour_tolerance)
        if isinstance(self.max_brushes, bool) or not isinstance(self.max_brushes, (int, np.integer)) or not 1 <= self.max_brushes <= 64:
            raise SettingsError(f"max_brushes must be a whole number between 1 and 64, got {self.max_brushes!r}", "max_brushes")
        if self.min_visible is not None and not (isinstance(self.min_visible, (int, float)) and 0.0 <= float(self.min_visible) < 1.0):
            raise SettingsError(f"min_visible must be a fraction in [0, 1), got {self.min_visible!r}", "min_visible")
        if self.refine is not None and not 0 <= self.refine <= 10:
            raise SettingsError(f"refine must be between 0 and 10 passes, got {self.refine}", "refine")
        check_background(self.background)
        if self.paints is not None:
            if not self.paints or any(len(p) != 3 or any(not 0 <= int(v) <= 255 for v in p) for p in self.paints):
                raise SettingsError("paints must be one or more RGB colours, 0..255 each")
            if self.paint_names is not None and len(self.paint_names) != len(self.paints):
                raise SettingsError("paint_names must name every paint")
        if self.brush_widths_mm is not None:
            if not self.brush_widths_mm or any(not (np.isfinite(b) and b > 0) for b in self.brush_widths_mm):
                raise SettingsError("brush widths must be one or more positive sizes in mm")


@dataclass
class PaintResult:
    """What :func:`plan_painting` makes.

    Attributes:
        plan: the stroke plan.
        image: uint8 ``(h, w, 3)`` the working image (source resized to ``size``).
        depth: float32 ``(h, w)`` in [0, 1], 1 = nearest.
        layers: int32 ``(h, w)`` depth layer per pixel, 0 = farthest.
        timings: wall time of each stage, seconds.
    """

    plan: StrokePlan
    image: np.ndarray
    depth: np.ndarray
    layers: np.ndarray
    timings: dict[str, float] = field(default_factory=dict)


def brush_ladder(widths_px: Sequence[float], max_brushes: int) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """A painter's brush set for the levels' widths: ``(ladder, levels)``.

    The ladder is ``max_brushes`` widths (px, descending) spaced geometrically from
    sqrt(2) times the coarsest level's width (the fitter's widest variant) down to the
    finest level's; each level's width is snapped to its nearest brush (several levels
    may share one when there are fewer brushes than levels).
    """
    wmax = float(widths_px[0]) * math.sqrt(2.0)
    wmin = float(widths_px[-1])
    n = int(max_brushes)
    if n == 1 or wmax <= wmin * (1 + 1e-9):
        ladder = [float(widths_px[0])]
    else:
        ladder = [round(wmax * (wmin / wmax) ** (i / (n - 1)), 3) for i in range(n)]
    ladder = sorted(set(ladder), reverse=True)
    arr = np.asarray(ladder)
    levels = tuple(float(arr[int(np.argmin(np.abs(np.log(arr) - math.log(float(v)))))]) for v in widths_px)
    return tuple(ladder), levels


def assign_steps(groups: list[tuple[int, int]], n_steps: int) -> list[int]:
    """Split strokes (in execution order, grouped by ``(layer, level)``) into steps.

    Steps never straddle a group: each non-empty group gets at least one step and the
    rest are shared out in proportion to stroke counts (largest remainder), so the
    plan has ``max(n_steps, groups)`` steps of contiguous strokes.

    Returns:
        step index of each stroke (non-decreasing).
    """
    if not groups:
        return []
    runs: list[tuple[tuple[int, int], int]] = []
    for g in groups:
        if runs and runs[-1][0] == g:
            runs[-1] = (g, runs[-1][1] + 1)
        else:
            runs.append((g, 1))
    counts = np.array([c for _, c in runs], np.float64)
    extra = max(n_steps - len(runs), 0)
    alloc = np.ones(len(runs), np.int64)
    if extra:
        quota = counts / counts.sum() * extra
        base = np.floor(quota).astype(np.int64)
        rem = extra - int(base.sum())
        order = np.argsort(-(quota - base), kind="stable")[:rem]
        base[order] += 1
        alloc += base
    alloc = np.minimum(alloc, counts.astype(np.int64))  # no empty steps
    steps: list[int] = []
    step = 0
    for (_, c), k in zip(runs, alloc):
        bounds = np.linspace(0, c, k + 1)
        for i in range(c):
            steps.append(step + int(np.searchsorted(bounds, i, side="right") - 1))
        step += int(k)
    return steps


def working_image_and_depth(
    image: np.ndarray,
    settings: PaintSettings,
    depth: np.ndarray | str | Path | None = None,
    progress: Progress = NULL_PROGRESS,
) -> tuple[np.ndarray, np.ndarray]:
    """The image at the working size and its depth: the first stage of every engine.

    Args:
        image: uint8 ``(H, W, 3)`` RGB, at least :data:`MIN_SIDE` px on each side.
        settings: uses ``size``, ``depth_backend`` and ``depth_model``.
        depth: float ``(H, W)`` in [0, 1] (1 = nearest), a depth file (``.npy`` or an
            image), or ``None`` to estimate it.
        progress: progress display (stage "depth").

    Returns:
        ``(work, depth)``: uint8 ``(h, w, 3)`` with ``max(h, w) == settings.size`` and
        float32 ``(h, w)`` in [0, 1].
    """
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise SettingsError(f"planning needs a uint8 RGB image (H, W, 3), got {image.dtype} {image.shape}")
    if min(image.shape[:2]) < MIN_SIDE:
        raise SettingsError(f"image is {image.shape[1]}x{image.shape[0]} px; need at least {MIN_SIDE} px on each side")
    work = resize_long_side(image, settings.size)
    h, w = work.shape[:2]
    if min(h, w) < MIN_SIDE:
        raise SettingsError(f"size {settings.size} would make the image {w}x{h} px; the short side needs {MIN_SIDE} px", "size")
    with progress.stage("depth", 1) as st:
        if depth is None:
            d = estimate_depth(work, settings.depth_backend, settings.depth_model)
        elif isinstance(depth, (str, Path)):
            d = resize_long_side(load_depth(depth, image.shape[:2]), settings.size)
        else:
            d = np.asarray(depth, np.float32)
            if d.shape != image.shape[:2]:
                raise SettingsError(f"depth map is {d.shape[1]}x{d.shape[0]} px but the image is {image.shape[1]}x{image.shape[0]} px")
            d = resize_long_side(np.clip(d, 0, 1), settings.size)
        st.advance(1)
    return work, np.asarray(d, np.float32).reshape(h, w)


#: the least error a stroke must remove per pixel it paints (squared RGB in [0, 1]),
#: so that strokes go where they change the picture, not over what is already
#: right: measured on astronaut and chelsea (256 px, 2,000 strokes), 0.002 is worth
#: +0.5-0.7 dB after refinement and leaves fewer strokes to end hidden
MIN_GAIN_PX = 0.002
#: refinement passes by default (``PaintSettings.refine = None``)
REFINE_PASSES = 3
#: largest working size refined by default, px (above, refinement is opt-in)
REFINE_AUTO_MAX_SIZE = 512


def min_visible_for(settings: PaintSettings) -> float:
    """The pruning threshold ``settings`` ask for (resolving ``min_visible = None``)."""
    if settings.min_visible is not None:
        return float(settings.min_visible)
    return MIN_VISIBLE if refine_passes(settings) > 0 else 0.0


def refine_passes(settings: PaintSettings) -> int:
    """The refinement passes ``settings`` ask for (resolving ``refine = None``)."""
    if settings.refine is not None:
        return int(settings.refine)
    return REFINE_PASSES if settings.size <= REFINE_AUTO_MAX_SIZE else 0


#: memory the teacher holds per working pixel, bytes: the target, canvas and error maps
#: (float32), each level's blurred target and stroke directions, the block sums, masks,
#: the refinement's patches, and the outputs' renders (measured peak RSS at 2048 px,
#: 40,000 strokes, divided by the pixels, with headroom)
BYTES_PER_PX = 400
#: memory the process needs besides, bytes (Python, NumPy, OpenCV, numba)
BASE_BYTES = 600 * 2**20


def available_memory() -> int | None:
    """Bytes of memory available to a new allocation (Linux ``MemAvailable``), or
    ``None`` where it cannot be read."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def check_memory(image_hw: tuple[int, int], settings: PaintSettings, available: int | None = None) -> None:
    """Refuse, before any work, a working size whose fit would not fit in memory.

    The teacher needs about :data:`BYTES_PER_PX` bytes per pixel of the working picture
    (``settings.size`` on the long side) plus :data:`BASE_BYTES`.

    Raises:
        SettingsError: naming ``size``, the need and what is available.
    """
    h, w = (int(v) for v in image_hw[:2])
    if h < 1 or w < 1:
        return
    scale = settings.size / max(h, w)
    px = max(int(round(h * scale)), 1) * max(int(round(w * scale)), 1)
    need = BASE_BYTES + BYTES_PER_PX * px
    have = available_memory() if available is None else available
    if have is not None and need > have:
        gib = 2.0**30
        raise SettingsError(
            f"size {settings.size} would need about {need / gib:.1f} GiB of memory ({BYTES_PER_PX} bytes per working pixel), "
            f"but {have / gib:.1f} GiB are available; use a smaller size",
            "size",
        )


def plan_painting(
    image: np.ndarray,
    settings: PaintSettings = PaintSettings(),
    depth: np.ndarray | str | Path | None = None,
    source_sha256: str | None = None,
    progress: Progress = NULL_PROGRESS,
    jobs: int | None = None,
) -> PaintResult:
    """Plan a painting of ``image`` with the teacher (stroke-based) engine.

    Args:
        image: uint8 ``(H, W, 3)`` RGB.
        settings: planner options.
        depth: optional depth: float ``(H, W)`` in [0, 1] (1 = nearest) or a path to a
            depth file (``.npy`` / image); default: estimated with
            ``settings.depth_backend``.
        source_sha256: hash of the source file, recorded in ``plan.meta``.
        progress: progress display.
        jobs: threads the stroke fitter uses (default: every core this process may
            run on); the plan is the same for every value.

    Returns:
        :class:`PaintResult`.
    """
    settings.check()
    check_jobs(jobs)
    check_memory(np.asarray(image).shape[:2], settings)
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    work, d = working_image_and_depth(image, settings, depth, progress)
    h, w = work.shape[:2]
    layers = layer_map(d, settings.layers)
    n_layers = int(layers.max()) + 1
    if n_layers == 1 and settings.layers != 1:
        log.info("the depth map has one plane: one depth layer")
    timings["depth_s"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    canvas = canvas_for((w, h), settings.canvas_mm, settings.background)
    mm = canvas.mm_per_px
    ladder: tuple[float, ...] | None = None
    if settings.brush_widths_mm:
        widths = tuple(sorted({float(b) / mm for b in settings.brush_widths_mm}, reverse=True))
    else:
        ladder, widths = brush_ladder(level_widths(h, w, settings.levels), settings.max_brushes)
        widths = tuple(sorted(set(widths), reverse=True))
    tol = settings.colour_tolerance
    min_visible = min_visible_for(settings)
    fit_settings = FitSettings(
        budget=settings.strokes,
        widths_px=widths,
        palette=settings.paints,
        fixed_widths=bool(settings.brush_widths_mm),
        colour_tolerance=tol,
        brush_px=ladder,
        # (with a machine's few paints a stroke rarely matches the picture closely enough
        # to pay that much per pixel: the bar would stop the fit early)
        min_gain_px=MIN_GAIN_PX if min_visible > 0 and not settings.paints else 0.0,
    )
    target = work.astype(np.float32) / 255.0
    bg = np.asarray(settings.background, np.float32) / 255.0
    with progress.stage("strokes", settings.strokes) as st:
        fitted, _ = fit_strokes(target, layers, n_layers, fit_settings, background=bg, seed=settings.seed, progress=st.advance, jobs=jobs)
    n_fitted = len(fitted)
    timings["strokes_s"] = time.perf_counter() - t0
    passes = refine_passes(settings)
    paints = np.asarray(settings.paints, np.uint8) if settings.paints else None
    fixed = bool(settings.brush_widths_mm)
    pruned = None
    if fitted and (passes or min_visible > 0):
        t0 = time.perf_counter()
        with progress.stage("refine" if passes else "prune", max(passes, 1)) as st:

            def refine(strokes: list, n: int, active: np.ndarray | None = None, guarded: bool = False) -> list:
                rs = RefineSettings(passes=n, guard_visible=FRAGILE_VISIBLE if guarded else 0.0, guard_min=GUARD_MIN)
                tick = st.advance if active is None else None
                return refine_strokes(strokes, target, bg, rs, paints, fixed, tick, colour_tolerance=tol, brush_px=ladder, active=active)[0]

            if min_visible > 0:
                # the refinement also closes the gaps that dropping a hidden
                # under-stroke leaves (.prune)
                fitted, pruned = prune_and_refill(fitted, target, layers, fit_settings, bg, settings.seed, min_visible, refine=refine if passes else None, passes=passes)
            else:
                fitted = refine(fitted, passes)
        timings["refine_s" if passes else "prune_s"] = time.perf_counter() - t0
    # the fit checks wide strokes' colours on an estimate: now exactly
    enforce_honesty(fitted, target, tol, paints)

    t0 = time.perf_counter()
    with progress.stage("order", 1) as st:
        polylines = [f.points for f in fitted]
        groups = [(f.layer, f.level) for f in fitted]
        if settings.reorder and fitted:
            radii = [f.width / 2.0 + 0.5 for f in fitted]
            order, flips = order_groups(polylines, groups, radii)
        else:
            order, flips = list(range(len(fitted))), [False] * len(fitted)
        st.advance(1)
    ordered = [fitted[i] for i in order]
    steps = assign_steps([(f.layer, f.level) for f in ordered], settings.steps)
    colours = np.array([f.rgb for f in ordered], np.uint8).reshape(-1, 3)
    if settings.paints:
        paints = np.asarray(settings.paints, np.uint8).reshape(-1, 3)
        # every stroke has one of the paints' colours: its paint is that colour's first index
        labels = np.argmax((colours[:, None, :] == paints[None]).all(axis=2), axis=1)
    else:
        paints, labels = make_palette(colours, settings.palette, settings.seed)
    if settings.brush_widths_mm:
        brush_w = sorted({round(float(b), 3) for b in settings.brush_widths_mm})
    else:
        brush_w = sorted({round(f.width * mm, 2) for f in ordered})
    bw_arr = np.asarray(brush_w)
    plan = assemble_plan(
        canvas,
        [f.points[::-1] if flip else f.points for f, flip in zip(ordered, flips)],
        width_mm=[f.width * mm for f in ordered],
        brush=[int(np.argmin(np.abs(bw_arr - f.width * mm))) for f in ordered],
        paint=labels,
        rgb=colours,
        layer=[f.layer for f in ordered],
        level=[f.level for f in ordered],
        step=steps,
        palette=paints,
        brushes_mm=brush_w,
        paint_names=settings.paint_names,
        meta=provenance(
            "teacher",
            settings,
            settings.seed,
            source_sha256,
            levels_width_px=list(widths),
            working_px=[w, h],
            depth_layers=n_layers,
            fitted_strokes=n_fitted,
            refine_passes=passes,
            **({"brush_set_px": list(ladder)} if ladder else {}),
            **({"pruning": pruned.to_json()} if pruned is not None else {}),
        ),
    )
    timings["order_s"] = time.perf_counter() - t0
    return PaintResult(plan=plan, image=work, depth=d, layers=layers, timings=timings)
