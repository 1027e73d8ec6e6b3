"""The frame-differencing stroke extractor: a painting process to an ordered StrokePlan.

For each step ``t`` (frame ``t`` of the process, frame 0 the blank canvas):

1. **where**: the change mask of frame ``t`` (:mod:`.change`), plus *catch-up*: pixels
   painted in an earlier frame where the plan's own canvas is still far from the
   target (closed loop: the extractor renders its strokes as it goes, so an error
   left at step ``t - 1`` is fixed at step ``t``, not carried to the end); pixels the
   canvas already matches are dropped;
2. **what**: the step's target is frame ``t`` with every pixel averaged over the
   frames it holds still between two changes (:func:`.change.hold_means`: a video's
   noise averages out, and a change too small to count still shows); with a
   full-resolution ``image`` (the diffusion engine), pixels whose last change is at
   or before ``t`` (they are finished) take the image's colours and detail instead,
   and the last step paints toward the image everywhere;
3. **strokes**: :func:`.fitstep.fit_step` splits the region into parts of one colour
   (Felzenszwalb segmentation, scikit-image), turns each part into brush paths with
   shapely (:mod:`.fill`), scores every path exactly against the target with its best
   opaque colour, moves each accepted path's vertices by fractions of a pixel onto
   the frame's anti-aliased edges (:mod:`.refine`), and paints the ones that pay for
   themselves, best first, in rounds from coarse parts to fine ones;
4. **order**: inside a step, strokes are reordered to cut pen-up travel, keeping every
   pair that overlaps in its painted order
   (:func:`animatepainter.planner.order.order_groups`), so the reordering does not
   change the picture; steps follow the frames;
5. the canvas carries the strokes' exact render (the package's coverage model), so
   the strokes of step ``t`` over the canvas of step ``t - 1`` reproduce frame ``t``.

Colours are grouped into the palette by k-means in CIELAB
(:func:`animatepainter.planner.assemble.make_palette`); each stroke keeps its own
target colour in ``rgb`` and names the nearest paint. Depth layers come from a depth
map when one is given (the layer under most of the stroke's points), else 0 (the
``extract`` command estimates one by default).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any, Sequence

import cv2
import numpy as np

from animatepainter.planner.assemble import assemble_plan, canvas_for, check_background, check_canvas_mm, make_palette, provenance
from animatepainter.planner.errors import InputError, SettingsError
from animatepainter.planner.images import MIN_SIDE, resize_long_side
from animatepainter.planner.layers import check_layers
from animatepainter.planner.process import check_colour_tolerance
from animatepainter.planner.order import order_groups
from animatepainter.planner.plan import Canvas, StrokePlan
from animatepainter.planner.progress import NULL_PROGRESS, Progress
from animatepainter.planner.render import new_canvas, to_uint8
from animatepainter.planner.extract.change import ChangeSettings, Changes, detect_changes, drop_specks, hold_means
from animatepainter.planner.extract.fill import FillSettings
from animatepainter.planner.extract.fitstep import StepSettings, fit_step
from animatepainter.planner.extract.frames import Process, lab_of, prepare_process, remove_occlusions

log = logging.getLogger(__name__)

__all__ = ["ExtractSettings", "ExtractResult", "extract_plan", "default_brushes_mm"]

#: number of default brushes (long side / 8, halved each time, as the teacher's levels)
DEFAULT_BRUSHES = 5


@dataclass(frozen=True)
class ExtractSettings:
    """Options of the extractor (``animatepainter extract``).

    Attributes:
        palette: number of paints the stroke colours are grouped into (1..256).
        brushes_mm: brush widths in mm (any order; used widest first). ``None``: five
            brushes from 1/8 of the image's long side down, each half the last (the
            teacher's levels), at least two working pixels wide.
        canvas_mm: ``(width, height)`` of the canvas, mm; the image is fitted inside,
            centred. ``None``: long side 300 mm, the frames' aspect ratio.
        background: blank canvas colour RGB 0..255; ``None``: read from the frames.
        reverse: play the frames backwards (erasure videos).
        threshold: smallest colour change that counts as paint, CIELAB Delta E.
        occlusion_frames: remove anything that covers the canvas for at most this many
            frames in a row (hands, brushes, shadows in a real time-lapse; see
            :func:`~animatepainter.planner.extract.frames.remove_occlusions`), 0..30;
            0: off.
        catch_up: a pixel painted earlier whose canvas is farther than
            ``catch_up * threshold`` from the target is repainted (closed loop);
            0 disables catch-up.
        detail: Felzenszwalb scale of the colour segmentation of a step's region; each
            step segments at 4x, 1x and 1/4 of it in turn (coarse parts first).
        min_area: smallest part painted, in squares of the finest brush width.
        min_gain: smallest error a stroke must remove to be painted: the sum over
            its pixels of squared RGB differences (0..1 scale), for a 256 x 256
            picture (scaled with the picture's area). Larger: fewer strokes.
        spacing: hatch line spacing, in brush widths.
        size: working resolution, long side in px; ``None``: the target image's size,
            else the frames' size.
        layers: depth layers when a depth map is given (1..16; ``None``: as many as the
            picture has depth planes, see :func:`~animatepainter.planner.layers.layer_map`).
        seed: seed of the palette's k-means.
        max_frames: most frames read from the input (longer inputs are subsampled).
        refine: most sub-pixel refinement iterations of each stroke's path (0..50;
            0: paths stay on the whole-pixel outlines they were traced from).
        colour_tolerance: honest colours: the most a stroke's colour may differ from
            the picture's colour under it (CIEDE2000, 1..100; the picture is the target
            image when one is given, else the last frame); ``None`` (default): off, the
            plan follows the frames. The diffusion engine sets it, as the teacher's
            default (:data:`~animatepainter.planner.process.DEFAULT_COLOUR_TOLERANCE`).
        min_visible: strokes showing less than this share of themselves in the
            finished painting are dropped, the gaps healed and their budget spent on
            finishing touches (see :func:`_settle`); 0 (default): keep all, the plan
            follows the frames step by step. The diffusion engine sets 0.05.
        settle: passes of the refinement that closes the gaps dropped strokes leave
            (0..10).
    """

    palette: int = 16
    brushes_mm: tuple[float, ...] | None = None
    canvas_mm: tuple[float, float] | None = None
    background: tuple[int, int, int] | None = None
    reverse: bool = False
    threshold: float = 3.0
    occlusion_frames: int = 0
    catch_up: float = 2.0
    detail: float = 60.0
    min_area: float = 0.5
    min_gain: float = 0.5
    spacing: float = 0.8
    size: int | None = None
    layers: int | None = None
    seed: int = 0
    max_frames: int = 200
    refine: int = 6
    colour_tolerance: float | None = None
    min_visible: float = 0.0
    settle: int = 2

    def check(self) -> None:
        """Raise :class:`SettingsError` naming the first impossible setting."""
        if not 1 <= self.palette <= 256:
            raise SettingsError(f"palette must be between 1 and 256, got {self.palette}", "palette")
        if self.brushes_mm is not None:
            if len(self.brushes_mm) == 0 or len(self.brushes_mm) > 32:
                raise SettingsError(f"brushes_mm needs 1 to 32 widths in mm, got {len(self.brushes_mm)}", "brushes_mm")
            if any(not (np.isfinite(b) and b > 0) for b in self.brushes_mm):
                raise SettingsError(f"brushes_mm widths must be positive mm, got {','.join(str(b) for b in self.brushes_mm)}", "brushes_mm")
        check_canvas_mm(self.canvas_mm)
        check_background(self.background)
        if not 0.5 <= self.threshold <= 100:
            raise SettingsError(f"threshold must be between 0.5 and 100 (Delta E), got {self.threshold}", "threshold")
        if not 0 <= self.occlusion_frames <= 30:
            raise SettingsError(f"occlusion_frames must be between 0 and 30, got {self.occlusion_frames}", "occlusion_frames")
        if not (self.catch_up == 0 or 1 <= self.catch_up <= 20):
            raise SettingsError(f"catch_up must be 0 (off) or between 1 and 20, got {self.catch_up}", "catch_up")
        if not 1 <= self.detail <= 10_000:
            raise SettingsError(f"detail must be between 1 and 10000, got {self.detail}", "detail")
        if not 0 <= self.min_area <= 100:
            raise SettingsError(f"min_area must be between 0 and 100, got {self.min_area}", "min_area")
        if not 0.3 <= self.spacing <= 1.0:
            raise SettingsError(f"spacing must be between 0.3 and 1.0 brush widths, got {self.spacing}", "spacing")
        if self.size is not None and not 16 <= self.size <= 4096:
            raise SettingsError(f"size must be between 16 and 4096 px, got {self.size}", "size")
        check_layers(self.layers)
        check_colour_tolerance(self.colour_tolerance)
        if not (isinstance(self.min_visible, (int, float)) and 0.0 <= float(self.min_visible) < 1.0):
            raise SettingsError(f"min_visible must be a fraction in [0, 1), got {self.min_visible!r}", "min_visible")
        if not 0 <= self.settle <= 10:
            raise SettingsError(f"settle must be between 0 and 10 passes, got {self.settle}", "settle")
        if not 0 <= self.refine <= 50:
            raise SettingsError(f"refine must be between 0 and 50 iterations, got {self.refine}", "refine")
        if not 2 <= self.max_frames <= 10_000:
            raise SettingsError(f"max_frames must be between 2 and 10000, got {self.max_frames}", "max_frames")


@dataclass
class ExtractResult:
    """What :func:`extract_plan` makes.

    Attributes:
        plan: the stroke plan; stroke ``step`` ``s`` was introduced by frame ``s + 1``
            of ``process.frames``.
        image: uint8 ``(H, W, 3)`` at the working resolution: the target image, or
            the last frame when there is none.
        process: the checked process (blank frame first), at the frames' resolution.
        changes: change masks and accepted frames (at the frames' resolution).
        depth: float32 ``(H, W)`` depth used for layers, or ``None``.
        timings: wall time of each stage, seconds.
    """

    plan: StrokePlan
    image: np.ndarray
    process: Process
    changes: Changes
    depth: np.ndarray | None = None
    timings: dict[str, float] = field(default_factory=dict)


def default_brushes_mm(image_wh: tuple[int, int], mm_per_px: float, n: int = DEFAULT_BRUSHES) -> tuple[float, ...]:
    """Default brush widths, mm, widest first: long side / 8 halved ``n - 1`` times, at least 2 px."""
    from animatepainter.planner.teacher.sbr import level_widths

    w, h = image_wh
    return tuple(round(px * mm_per_px, 2) for px in level_widths(h, w, n))


def _resize(img: np.ndarray, wh: tuple[int, int], interp: int) -> np.ndarray:
    return img if img.shape[1::-1] == tuple(wh) else cv2.resize(img, wh, interpolation=interp)


def _up_mask(mask: np.ndarray, wh: tuple[int, int]) -> np.ndarray:
    if mask.shape[::-1] == tuple(wh):
        return mask
    return cv2.resize(mask.astype(np.uint8) * 255, wh, interpolation=cv2.INTER_LINEAR) >= 128


def _delta_e(a_lab: np.ndarray, b_lab: np.ndarray) -> np.ndarray:
    return np.linalg.norm(a_lab - b_lab, axis=2)


def extract_plan(
    frames: np.ndarray,
    settings: ExtractSettings = ExtractSettings(),
    image: np.ndarray | None = None,
    depth: np.ndarray | None = None,
    source_sha256: str | None = None,
    engine: str = "extract",
    meta: dict[str, Any] | None = None,
    progress: Progress = NULL_PROGRESS,
) -> ExtractResult:
    """Turn a painting process into an ordered stroke plan.

    Args:
        frames: uint8 ``(T, h, w, 3)`` RGB frames in time order (``T >= 2``), blank
            canvas first (a blank frame is prepended when the first is painted).
        settings: extractor options.
        image: optional uint8 ``(H, W, 3)`` full-resolution target with the frames'
            aspect ratio: colours and detail come from it, timing from the frames.
        depth: optional float32 ``(H', W')`` depth in [0, 1] (1 = nearest), same
            aspect ratio: strokes get the depth layer under them.
        source_sha256: hash of the input, recorded in ``plan.meta``.
        engine: ``plan.meta["engine"]``.
        meta: more provenance for ``plan.meta`` (JSON types, no timings).
        progress: progress display.

    Returns:
        :class:`ExtractResult`.

    Raises:
        InputError: a process that never changes, gets less painted over time, or
            does not match ``image`` / ``depth`` in aspect ratio.
        SettingsError: impossible settings.
    """
    settings.check()
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    frames = np.asarray(frames)
    process = prepare_process(frames, settings.background, settings.reverse, n_read=len(frames))
    if settings.occlusion_frames:
        process.frames = remove_occlusions(process.frames, settings.occlusion_frames)
    bg = process.background
    work = _working_picture(process, image, settings)
    h, w = work.shape[:2]
    wh = (w, h)
    changes = _changes_of(process, settings)
    timings["changes_s"] = time.perf_counter() - t0

    canvas = canvas_for(wh, settings.canvas_mm, bg)
    brushes_mm, widths_px = _brushes(settings, wh, canvas.mm_per_px)
    layer_map, depth = _depth_layers(depth, wh, settings)
    bgf = np.asarray(bg, np.float32) / 255.0
    n_steps = len(process.frames) - 1
    t0 = time.perf_counter()
    raw = _strokes_of_steps(process, changes, work if image is not None else None, wh, bgf, widths_px, settings, progress)
    timings["strokes_s"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    layer_of = _stroke_layers(raw, layer_map, wh)
    settled = None
    if raw and (settings.colour_tolerance is not None or settings.min_visible > 0):
        picture = work if image is not None else _resize(process.frames[-1], wh, cv2.INTER_AREA)
        raw, layer_of, settled = _settle(raw, layer_of, picture, widths_px, bgf, settings, progress)
        timings["settle_s"] = time.perf_counter() - t0
        t0 = time.perf_counter()
    plan = _assemble_extracted(raw, layer_of, canvas, brushes_mm, process, settings, engine, settled, meta, source_sha256, wh)
    timings["plan_s"] = time.perf_counter() - t0
    log.info("extracted %d strokes from %d frames", len(plan.strokes), n_steps + 1)
    return ExtractResult(plan=plan, image=work, process=process, changes=changes, depth=depth, timings=timings)


#: an extracted stroke before assembly: points (px, working frame), brush, rgb (uint8), step
_Raw = tuple[np.ndarray, int, np.ndarray, int]


def _working_picture(process: Process, image: np.ndarray | None, settings: ExtractSettings) -> np.ndarray:
    """The picture strokes are fitted at: ``image`` (checked: uint8 RGB with the frames'
    aspect ratio) or else the last frame, resized to ``settings.size``; at least
    :data:`MIN_SIDE` px on each side."""
    fh, fw = process.frames.shape[1:3]
    if image is not None:
        image = np.asarray(image)
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise InputError(f"target image must be uint8 RGB (H, W, 3), got {image.dtype} {image.shape}")
        if abs(image.shape[1] / image.shape[0] - fw / fh) > 0.02 * fw / fh:
            raise InputError(f"target image is {image.shape[1]}x{image.shape[0]} px but the frames are {fw}x{fh} px (different aspect ratio)")
        work = resize_long_side(image, settings.size) if settings.size else image
    else:
        work = resize_long_side(process.frames[-1], settings.size) if settings.size else process.frames[-1]
    h, w = work.shape[:2]
    if min(h, w) < MIN_SIDE:
        raise SettingsError(f"working size {w}x{h} px is too small; need at least {MIN_SIDE} px on each side")
    return work


def _changes_of(process: Process, settings: ExtractSettings) -> Changes:
    """The process's change masks (:func:`detect_changes`); a still input is refused
    even when it starts painted (then the blank frame put before it would make one
    change, the whole picture at once)."""
    changes = detect_changes(process.frames, ChangeSettings(threshold=settings.threshold))
    own = changes.masks[1:] if process.prepended_blank else changes.masks
    if not own.any():
        given = process.frames[1:] if process.prepended_blank else process.frames
        steps_de = np.linalg.norm(lab_of(given[1:]) - lab_of(given[:-1]), axis=-1).max()
        raise InputError(
            f"frames never change: the largest colour change between frames is Delta E {steps_de:.1f}, "
            f"below the threshold {settings.threshold:g} (--threshold)"
        )
    return changes


def _brushes(settings: ExtractSettings, wh: tuple[int, int], mm: float) -> tuple[tuple[float, ...], list[float]]:
    """The brush widths, mm (widest first; ``settings.brushes_mm`` or the defaults for
    the picture) and in working px; refuses a finest brush wider than half the picture."""
    w, h = wh
    brushes_mm = tuple(sorted(set(round(float(b), 3) for b in (settings.brushes_mm or default_brushes_mm(wh, mm))), reverse=True))
    widths_px = [b / mm for b in brushes_mm]
    if widths_px[-1] > min(h, w) / 2:
        raise SettingsError(f"brushes_mm: the finest brush ({brushes_mm[-1]} mm) is wider than half the picture ({min(h, w) * mm / 2:.1f} mm); give finer ones", "brushes_mm")
    if widths_px[-1] < 1.0:
        log.warning("the finest brush (%g mm) is %.2f px at the working size; strokes that thin render faintly", brushes_mm[-1], widths_px[-1])
    return brushes_mm, widths_px


def _depth_layers(depth: np.ndarray | None, wh: tuple[int, int], settings: ExtractSettings) -> tuple[np.ndarray | None, np.ndarray | None]:
    """``(layer_map, depth)`` at the working size, or ``(None, None)`` without a depth
    map; refuses one of another aspect ratio."""
    from animatepainter.planner.layers import layer_map as layers_of

    if depth is None:
        return None, None
    w, h = wh
    d = np.asarray(depth, np.float32)
    if d.ndim != 2 or abs(d.shape[1] / d.shape[0] - w / h) > 0.02 * w / h:
        raise InputError(f"depth map is {d.shape[-1]}x{d.shape[0]} px but the picture is {w}x{h} px (different aspect ratio)")
    d = _resize(np.clip(d, 0, 1), wh, cv2.INTER_LINEAR)
    return layers_of(d, settings.layers), d


def _strokes_of_steps(
    process: Process, changes: Changes, work: np.ndarray | None, wh: tuple[int, int], bgf: np.ndarray, widths_px: list[float], settings: ExtractSettings, progress: Progress
) -> list[_Raw]:
    """The strokes of each step, in painting order: each step paints, over the canvas
    so far, toward its frame where it changed (and, with ``catch_up``, where the canvas
    is still far from it), its strokes ordered for travel from where the pen stopped.
    With a target picture ``work``, a pixel painted for the last time takes the
    picture's colour (and every pixel at the last step)."""
    w, h = wh
    fill_settings = FillSettings(spacing=settings.spacing)
    min_px = max(int(round(settings.min_area * widths_px[-1] ** 2)), 2)
    seg_min = max(int(round(0.25 * widths_px[-1] ** 2)), 4)
    catch_thr = settings.catch_up * settings.threshold
    close_px = max(int(round(widths_px[-1])), 1)
    area_scale = h * w / 256.0**2
    step_settings = StepSettings(
        scales=tuple(settings.detail * f for f in (4.0, 1.0, 0.25)),
        min_gain=settings.min_gain * area_scale,
        # Delta E 1 is about 1% of the RGB range for mid colours
        threshold_rgb=settings.threshold / 100.0,
        min_px=min_px,
        seg_min=seg_min,
        refine=settings.refine,
    )
    last_change = _up_mask_int(changes.last_change, wh)
    first_change = _up_mask_int(changes.first_change, wh)
    work_lab = lab_of(work) if work is not None else None
    cv = new_canvas(h, w, bgf)
    # each step paints toward its frame with every pixel averaged over the frames it
    # holds still (the frames' noise averages out; a change too small to count
    # still shows, unlike the accepted state, which keeps the older value)
    held = hold_means(process.frames, changes.masks)
    n_steps = len(process.frames) - 1
    raw: list[_Raw] = []
    pen = None
    with progress.stage("extract", n_steps) as st:
        for t in range(1, n_steps + 1):
            target = _resize(held[t], wh, cv2.INTER_LINEAR)
            tgt_lab = lab_of(target)
            painted_before = (first_change > 0) & (first_change <= t)
            if work is not None:
                final = painted_before & (last_change <= t)
                if t == n_steps:
                    final = np.ones_like(final)
                    painted_before = final
                target = np.where(final[..., None], work, target)
                tgt_lab = np.where(final[..., None], work_lab, tgt_lab)
            err = _delta_e(lab_of(to_uint8(cv)), tgt_lab)
            region = _up_mask(changes.masks[t - 1], wh)
            if catch_thr > 0:
                region = region | (painted_before & (err > catch_thr))
            region = drop_specks(_close(region, close_px), min_px)
            found = fit_step(cv, target.astype(np.float32) / 255.0, target, region, widths_px, step_settings, fill_settings) if region.any() else []
            if found:
                lines = [s.points for s in found]
                radii = [widths_px[s.brush] / 2.0 + 0.5 for s in found]
                order, flips = order_groups(lines, [(0, 0)] * len(found), radii, start=pen)
                for i, f in zip(order, flips):
                    s = found[i]
                    raw.append((s.points[::-1] if f else s.points, s.brush, s.rgb, t - 1))
                pen = raw[-1][0][-1]
            st.advance(1)
    return raw


def _stroke_layers(raw: list[_Raw], layer_map: np.ndarray | None, wh: tuple[int, int]) -> list[int]:
    """Each stroke's depth layer: the most common one under its points (0 without depth)."""
    w, h = wh
    layer_of = [0] * len(raw)
    if layer_map is not None:
        for k, (pts, *_rest) in enumerate(raw):
            ij = np.clip(np.floor(pts).astype(np.int64), 0, [w - 1, h - 1])
            layer_of[k] = int(np.bincount(layer_map[ij[:, 1], ij[:, 0]]).argmax())
    return layer_of


def _assemble_extracted(
    raw: list[_Raw],
    layer_of: list[int],
    canvas: Canvas,
    brushes_mm: tuple[float, ...],
    process: Process,
    settings: ExtractSettings,
    engine: str,
    settled: Any,
    meta: dict[str, Any] | None,
    source_sha256: str | None,
    wh: tuple[int, int],
) -> StrokePlan:
    """The plan: paints by k-means of the strokes' colours, a stroke's level its brush,
    and the provenance (frames used, pruning, ``meta``, ``source_sha256``)."""
    fh, fw = process.frames.shape[1:3]
    paints, labels_p = make_palette(np.array([r[2] for r in raw], np.uint8).reshape(-1, 3), settings.palette, settings.seed)
    frames_meta = {
        "read": int(process.source_frames),
        "used": int(len(process.frames) - process.prepended_blank),
        "size_px": [fw, fh],
        "prepended_blank": bool(process.prepended_blank),
        "reversed": bool(process.reversed),
        "background": list(process.background),
    }
    plan_meta = provenance(engine, settings, settings.seed, working_px=list(wh), frames=frames_meta, **({"pruning": settled.to_json()} if settled is not None else {}))
    plan_meta.update(meta or {})
    if source_sha256:
        plan_meta["source_sha256"] = source_sha256
    return assemble_plan(
        canvas,
        [r[0] for r in raw],
        brush=[r[1] for r in raw],
        paint=labels_p,
        rgb=np.array([r[2] for r in raw], np.uint8).reshape(-1, 3),
        layer=layer_of,
        level=[r[1] for r in raw],
        step=[r[3] for r in raw],
        palette=paints,
        brushes_mm=brushes_mm,
        meta=plan_meta,
    )


def _settle(raw: list, layer_of: list[int], picture: np.ndarray, widths_px: Sequence[float], bg: np.ndarray, settings: ExtractSettings, progress: Progress):
    """The extracted strokes made a painter's process, as the teacher's are: honest
    colours (within ``settings.colour_tolerance`` CIEDE2000 of the picture under each
    stroke) and none (almost) hidden (:func:`animatepainter.planner.teacher.prune.drop_and_heal`:
    the hidden ones dropped last to first, the gaps they leave closed by the teacher's
    refinement against ``picture`` with the extractor's brushes). Steps and layers stay
    each stroke's own; nothing is added, so a plan can only get fewer strokes.

    Returns ``(raw, layer_of, report)`` in the same form as given."""
    from dataclasses import dataclass

    from animatepainter.planner.process import footprint_means, honest_colour, pack_strokes
    from animatepainter.planner.teacher.prune import FRAGILE_VISIBLE, GUARD_MIN, PruneReport, drop_and_heal
    from animatepainter.planner.teacher.refine import RefineSettings, refine_strokes
    from animatepainter.planner.teacher.sbr import FittedStroke

    @dataclass
    class _Stroke(FittedStroke):
        step: int = 0

    target = np.asarray(picture, np.float32) / 255.0
    strokes = [_Stroke(np.asarray(p, np.float64), float(widths_px[b]), np.asarray(c, np.uint8), int(k), int(b), 0.0, int(t)) for (p, b, c, t), k in zip(raw, layer_of)]
    tol = settings.colour_tolerance
    if tol is not None:
        pts, off, wd = pack_strokes([s.points for s in strokes], [s.width for s in strokes])
        ref = footprint_means(target, pts, off, wd)
        for s, r in zip(strokes, ref):
            s.rgb = honest_colour(s.rgb.astype(np.float64) / 255.0, r, tol)
    report = PruneReport()
    if settings.min_visible > 0:
        with progress.stage("settle", max(settings.settle, 1)) as st:

            def refine(ss: list, n: int, active: np.ndarray | None = None, guarded: bool = False) -> list:
                rs = RefineSettings(passes=n, guard_visible=FRAGILE_VISIBLE if guarded else 0.0, guard_min=GUARD_MIN)
                out, _ = refine_strokes(ss, target, bg, rs, None, True, st.advance if active is None else None, colour_tolerance=tol, active=active)
                return out

            strokes = drop_and_heal(strokes, target.shape[:2], settings.min_visible, refine if settings.settle else None, settings.settle, report=report)
        lost = len(raw) - len(strokes)
        if lost > 0:
            # their budget goes to finishing touches that show: the finest brush over
            # the finished canvas, where it still differs most from the picture
            strokes, added = _finishing_touches(strokes, target, widths_px, bg, tol, lost, settings)
            report.refilled += added
        report.short = len(raw) - len(strokes)
    out = [(s.points, int(s.level), np.asarray(s.rgb, np.uint8), int(s.step)) for s in strokes]
    return out, [int(s.layer) for s in strokes], report


def _finishing_touches(strokes: list, target: np.ndarray, widths_px: Sequence[float], bg: np.ndarray, tol: float | None, quota: int, settings: ExtractSettings) -> tuple[list, int]:
    """Up to ``quota`` strokes of the finest brush fitted by the teacher's fitter
    (:func:`animatepainter.planner.teacher.sbr.fit_groups`) on the canvas ``strokes``
    paint, appended in the last step; each must show (later touches may not hide it:
    what is still hidden at the end is dropped)."""
    from dataclasses import replace

    from animatepainter.planner.process import composite_range, pack_strokes
    from animatepainter.planner.teacher.prune import prune_hidden
    from animatepainter.planner.teacher.sbr import FitSettings, fit_groups

    h, w = target.shape[:2]
    pts, off, wd = pack_strokes([s.points for s in strokes], [s.width for s in strokes])
    canvas = np.ascontiguousarray(np.broadcast_to(bg.reshape(1, 1, 3), (h, w, 3)), np.float32).copy()
    composite_range(canvas, pts, off, wd, np.array([s.rgb for s in strokes], np.int64).reshape(-1, 3), 0, len(strokes))
    widths = tuple(sorted({float(v) for v in widths_px}, reverse=True))
    fs = FitSettings(widths_px=widths, fixed_widths=True, colour_tolerance=tol)
    last = max((s.step for s in strokes), default=0)
    found, _ = fit_groups(target, np.zeros((h, w), np.int32), canvas, [(0, len(widths) - 1, int(quota))], fs, seed=settings.seed)
    layer = max((s.layer for s in strokes), default=0)
    tmpl = strokes[-1] if strokes else None
    new = [replace(tmpl, points=f.points, width=f.width, rgb=f.rgb, layer=layer, level=int(np.argmin(np.abs(np.asarray(widths_px) - f.width))), step=last) for f in found] if tmpl is not None else []
    out = prune_hidden(strokes + new, (h, w), settings.min_visible)
    return out, len(out) - len(strokes) if len(out) >= len(strokes) else 0


def _close(mask: np.ndarray, px: int) -> np.ndarray:
    """Morphological closing of bool ``mask`` with a ``(2 px + 1)`` square, then holes
    under ``(2 px + 1)^2`` px filled: a stroke over a similar colour changes only part of
    its pixels, and its region should not fall apart into specks."""
    from skimage.morphology import remove_small_holes

    k = np.ones((2 * px + 1, 2 * px + 1), np.uint8)
    closed = cv2.morphologyEx(mask.astype(np.uint8), cv2.MORPH_CLOSE, k).astype(bool)
    return remove_small_holes(closed, max_size=(2 * px + 1) ** 2 - 1)


def _up_mask_int(a: np.ndarray, wh: tuple[int, int]) -> np.ndarray:
    """Nearest-neighbour resize of an int map to ``wh``."""
    return a if a.shape[::-1] == tuple(wh) else cv2.resize(a.astype(np.int32), wh, interpolation=cv2.INTER_NEAREST)
