"""Evaluating a painting-process diffuser against the teacher's ground truth.

Held-out samples are synthesised by the package's own data pipeline
(:func:`animatepainter.model.data.synth.synthesize`: teacher strokes, erasure frames) from
procedural scenes made with a dataset seed that training did not use, and from real
photographs shipped with scikit-image (``skimage.data``; no procedural training scene
is a photograph). Each model generates the process of every held-out image from its
image and depth; the metrics compare it with the ground-truth frames:

``final_psnr``
    PSNR (dB) of the last generated frame against the conditioning image.
``frame_psnr`` / ``frame_ssim``
    PSNR (dB) / SSIM of each intermediate generated frame (``1..T-2``: the process
    itself; frame 0 is the blank canvas and frame ``T-1`` the image, which any method
    that starts blank and ends on the image gets exactly) against the ground-truth
    frame at the same index, averaged over frames, then over samples.
``depth_order``
    Spearman rank correlation, over the pixels whose finished colour differs from the
    blank canvas by more than ``2 * PAINT_THRESHOLD``, between each pixel's
    first-painted frame (the first frame at which it differs from the blank canvas by
    more than ``PAINT_THRESHOLD`` in some channel; ``T`` if never) and its nearness
    (depth, 1 = nearest). Far painted first = positive; the teacher's painter's order
    scores high, an order unrelated to depth about 0.
``monotonic``
    Coverage monotonicity: the fraction of consecutive frame pairs in which the
    painted fraction (same detector) does not drop by more than 1 percentage point.
``completion_spearman``
    *When each place gets painted*, against the teacher. A pixel's **completion time**
    (:func:`completion_time`) is the first frame index from which on the pixel stays
    *settled*: within a quarter (:data:`SETTLE_FRACTION`) of its own change (largest
    channel difference between the blank canvas and its finished colour, colours in
    ``[0, 1]``; at least :data:`SETTLE_FLOOR`) of the process's own finished frame
    ``T-1``. A pixel still changing in frame ``T-2`` gets ``T-1`` (it never settled
    during the process); one that never leaves its finished colour gets 0. The score is
    the Spearman rank correlation between the generated process's completion-time map
    and the ground truth's, over the pixels whose finished colour (the held-out image)
    differs from the blank canvas by more than ``2 * PAINT_THRESHOLD`` (the pixels that
    get painted; the same mask as ``depth_order``). It judges the *order* of the
    painting, not its frames: a process that paints the same places in the same order
    at another pace, or that commits to another consistent order inside a group the
    teacher paints at once, loses little, where frame PSNR punishes every frame that is
    not the teacher's. The teacher scores 1 (identical maps); 0 when undefined (a map
    constant on the mask that is not the teacher's, or fewer than 3 pixels).
    Why relative: the crossfade brings every pixel the same share of its way in each
    frame, so it settles everywhere at once (a constant map: 0, "no order"); with an
    absolute tolerance (0.1) its low-contrast pixels settled first, and because the
    teacher's far background is often light, the crossfade scored +0.5 on procedural
    scenes.
``plan_*`` (with ``plans=True``)
    The process-quality figures of the *diffusion engine's plan* made from the
    process: the frame-differencing extractor
    (:func:`animatepainter.planner.extract.extract_plan`, the settings ``paint
    --engine diffusion`` uses, :func:`plan_figures`) turns the frames (uint8, at the
    model's resolution) into strokes, with colours from the held-out image, and
    :func:`animatepainter.planner.process.process_figures` judges the plan:
    ``plan_strokes``, ``plan_hidden_share`` (strokes less than 5 % visible in the
    finished painting), ``plan_share_above_10`` / ``plan_share_above_20`` (strokes
    more than 10 / 20 CIEDE2000 from the picture's colour under them). ``NaN`` (JSON
    ``null``) where not computed, or where the extractor refuses the process.

Baselines in the same run: ``crossfade`` (frame ``t`` = ``blank + (image - blank) t /
(T-1)``, a process with no order) and, when given, the ablation without the
DF-Encoder trained with the same budget. The ground truth itself is scored too
(``teacher``), as the ceiling of ``depth_order`` and ``monotonic`` (and 1 on
``completion_spearman`` by definition). Means are per subset: ``real`` (the
photographs), ``procedural`` and ``all``.

A model made for another resolution or frame count (e.g. ``tiny``, 32 px / 8 frames,
against ``small``'s 64 px / 16 frames) can be scored on the same held-out set when named in
``evaluate_models(resampled=...)``: it gets the held-out image and depth resized to its own
resolution (area filter), and its frames are brought to the held-out size by
:func:`resample_process` (bicubic in space, linear in time) before scoring.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterable, Optional, Sequence

import numpy as np

from animatepainter.planner.errors import InputError, SettingsError
from animatepainter.planner.metrics import psnr, ssim
from animatepainter.planner.progress import NULL_PROGRESS, Progress

log = logging.getLogger(__name__)

__all__ = [
    "PAINT_THRESHOLD",
    "SETTLE_FRACTION",
    "SETTLE_FLOOR",
    "REAL_IMAGES",
    "HELDOUT_SEED",
    "HeldoutSample",
    "ProcessMetrics",
    "first_painted",
    "completion_time",
    "completion_spearman",
    "plan_figures",
    "check_samples_fit",
    "depth_order_score",
    "coverage_monotonicity",
    "process_metrics",
    "crossfade",
    "resample_process",
    "heldout_samples",
    "evaluate_models",
    "format_table",
    "SUBSETS",
    "PLAN_FIELDS",
    "EvalReport",
]

#: a pixel counts as painted once it differs from the blank canvas by this much (0..1)
PAINT_THRESHOLD = 0.1
#: a pixel is settled once it stays within this share of its own change (blank canvas to
#: finished colour, largest channel) of its finished colour: :func:`completion_time`
SETTLE_FRACTION = 0.25
#: ... and never closer than this (colours in 0..1), for pixels that barely change
SETTLE_FLOOR = 0.05
#: real photographs of ``skimage.data`` used as held-out images (those present offline)
REAL_IMAGES = ("astronaut", "chelsea", "coffee", "rocket", "motorcycle_left", "camera")
#: dataset seed of the held-out procedural scenes (training datasets use other seeds)
HELDOUT_SEED = 9_001


@dataclass
class HeldoutSample:
    """One held-out ground-truth process.

    Attributes:
        key: name (``procedural-N`` or the photograph's name).
        image: float32 ``(H, W, 3)`` in ``[0, 1]``.
        depth: float32 ``(H, W)`` in ``[0, 1]``, 1 = nearest.
        frames: float32 ``(T, H, W, 3)`` in ``[0, 1]``, the teacher's process.
        kind: ``procedural`` or ``real``.
    """

    key: str
    image: np.ndarray
    depth: np.ndarray
    frames: np.ndarray
    kind: str


@dataclass
class ProcessMetrics:
    """Metrics of one process (see the module docstring); means over samples when
    aggregated."""

    final_psnr: float
    frame_psnr: float
    frame_ssim: float
    depth_order: float
    monotonic: float
    completion_spearman: float = float("nan")
    plan_strokes: float = float("nan")
    plan_hidden_share: float = float("nan")
    plan_share_above_10: float = float("nan")
    plan_share_above_20: float = float("nan")
    n: int = 1


#: the fields of :class:`ProcessMetrics` that :func:`plan_figures` fills
PLAN_FIELDS = ("plan_strokes", "plan_hidden_share", "plan_share_above_10", "plan_share_above_20")


def first_painted(frames: np.ndarray, blank: np.ndarray, threshold: float = PAINT_THRESHOLD) -> np.ndarray:
    """First frame at which each pixel differs from the blank canvas.

    Args:
        frames: float ``(T, H, W, 3)`` in ``[0, 1]``.
        blank: float ``(H, W, 3)`` or ``(3,)``, the canvas colour.

    Returns:
        int ``(H, W)`` in ``0..T`` (``T`` = never painted).
    """
    diff = np.abs(np.asarray(frames, np.float32) - np.asarray(blank, np.float32)).max(axis=-1) > threshold  # (T, H, W)
    t_n = diff.shape[0]
    return np.where(diff.any(axis=0), diff.argmax(axis=0), t_n)


def completion_time(frames: np.ndarray, fraction: float = SETTLE_FRACTION, floor: float = SETTLE_FLOOR) -> np.ndarray:
    """Each pixel's completion time: the first frame from which on it stays settled.

    A pixel is *settled* in frame ``t`` when its colour there is within
    ``max(floor, fraction * c)`` (largest channel difference, colours in ``[0, 1]``) of
    its colour in the finished frame ``T-1``, where ``c`` is the largest channel
    difference between its finished colour and frame 0 (the blank canvas): it has gone
    at least ``1 - fraction`` of its way and does not leave again.

    Args:
        frames: float ``(T, H, W, 3)`` in ``[0, 1]``, blank canvas first.
        fraction: share of a pixel's own change still allowed (0..1).
        floor: smallest tolerance, for pixels that barely change (``[0, 1]`` units).

    Returns:
        int ``(H, W)`` in ``0..T-1``: the smallest ``t`` such that the pixel is settled in
        every frame ``t..T-1``. ``0``: it never leaves its finished colour (e.g. left
        blank); ``T-1``: it is unsettled in frame ``T-2``, i.e. it never settled during the
        process and only has its colour because the process ends there.
    """
    f = np.asarray(frames, np.float32)
    if f.ndim != 4 or f.shape[-1] != 3 or f.shape[0] < 1:
        raise InputError(f"a process must be (T, H, W, 3) frames, got shape {tuple(f.shape)}")
    change = np.abs(f[-1] - f[0]).max(axis=-1)  # (H, W)
    tol = np.maximum(np.float32(floor), np.float32(fraction) * change) + np.float32(1e-6)  # (float rounding at the boundary)
    away = np.abs(f - f[-1:]).max(axis=-1) > tol  # (T, H, W): unsettled in frame t
    t_n = f.shape[0]
    # the last unsettled frame is T-1-r for the first r (from the end) -> settled from T-r on
    return np.where(away.any(axis=0), t_n - away[::-1].argmax(axis=0), 0).astype(np.int64)


def _painted_mask(image: np.ndarray, blank: np.ndarray, threshold: float = PAINT_THRESHOLD) -> np.ndarray:
    """bool ``(H, W)``: the pixels whose finished colour differs from the blank canvas
    by more than ``2 * threshold`` (largest channel), i.e. the ones seen being painted."""
    return np.abs(np.asarray(image, np.float32) - np.asarray(blank, np.float32)).max(axis=-1) > 2 * threshold


def completion_spearman(frames: np.ndarray, truth: np.ndarray, image: np.ndarray, blank: np.ndarray) -> float:
    """Spearman correlation of two processes' completion-time maps (:func:`completion_time`)
    over the painted pixels (finished colour ``image`` more than ``2 * PAINT_THRESHOLD``
    from ``blank``).

    Args:
        frames: float ``(T, H, W, 3)`` in ``[0, 1]``, the process judged.
        truth: float ``(T', H, W, 3)``, the ground-truth process (``T'`` may differ:
            each map is a rank order, so only the order counts).
        image: float ``(H, W, 3)``, the finished picture; blank: ``(H, W, 3)`` or ``(3,)``.

    Returns:
        rho in ``[-1, 1]``: 1 when the maps agree (identical maps give 1, also when
        constant); 0 when undefined (either map constant on the mask and the maps
        differ, or fewer than 3 painted pixels).
    """
    from scipy.stats import spearmanr

    mask = _painted_mask(image, blank)
    if mask.sum() < 3:
        return 0.0
    a = completion_time(frames)[mask]
    b = completion_time(truth)[mask]
    if np.array_equal(a, b):
        return 1.0
    if np.ptp(a) == 0 or np.ptp(b) == 0:
        return 0.0
    rho = spearmanr(a, b).statistic
    return float(rho) if np.isfinite(rho) else 0.0


def depth_order_score(frames: np.ndarray, image: np.ndarray, depth: np.ndarray, blank: np.ndarray, threshold: float = PAINT_THRESHOLD) -> float:
    """Spearman correlation between first-painted frame and nearness (far first > 0).

    Only pixels whose finished colour differs from the canvas by more than
    ``2 * threshold`` count (others cannot be seen being painted). Returns 0 when the
    correlation is undefined (constant times or depth, or fewer than 3 pixels).
    """
    from scipy.stats import spearmanr

    visible = _painted_mask(image, blank, threshold)
    if visible.sum() < 3:
        return 0.0
    t = first_painted(frames, blank, threshold)[visible].astype(np.float64)
    d = np.asarray(depth, np.float64)[visible]
    if np.ptp(t) == 0 or np.ptp(d) == 0:
        return 0.0
    rho = spearmanr(t, d).statistic
    return float(rho) if np.isfinite(rho) else 0.0


def coverage_monotonicity(frames: np.ndarray, blank: np.ndarray, threshold: float = PAINT_THRESHOLD, tolerance: float = 0.01) -> float:
    """Fraction of consecutive frame pairs whose painted fraction does not drop by more
    than ``tolerance`` (1.0 = the canvas only ever fills up)."""
    painted = np.abs(np.asarray(frames, np.float32) - np.asarray(blank, np.float32)).max(axis=-1) > threshold
    cov = painted.reshape(painted.shape[0], -1).mean(axis=1)
    if cov.size < 2:
        return 1.0
    return float(np.mean(np.diff(cov) >= -tolerance))


def process_metrics(frames: np.ndarray, sample: HeldoutSample) -> ProcessMetrics:
    """Score a generated process ``frames`` float ``(T, H, W, 3)`` against ``sample``."""
    gt = sample.frames
    if frames.shape != gt.shape:
        raise ValueError(f"generated frames {frames.shape} and ground truth {gt.shape} differ in shape")
    blank = gt[0]
    mid = slice(1, -1) if gt.shape[0] > 2 else slice(None)
    psnrs = [psnr(f, g, data_range=1.0) for f, g in zip(frames[mid], gt[mid])]
    ssims = [ssim(f, g, data_range=1.0) for f, g in zip(frames[mid], gt[mid])]
    return ProcessMetrics(
        final_psnr=psnr(frames[-1], sample.image, data_range=1.0),
        frame_psnr=float(np.mean(psnrs)),
        frame_ssim=float(np.mean(ssims)),
        depth_order=depth_order_score(frames, sample.image, sample.depth, blank),
        monotonic=coverage_monotonicity(frames, blank),
        completion_spearman=completion_spearman(frames, gt, sample.image, blank),
    )


def _u8(a: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(np.asarray(a, np.float32) * 255.0), 0, 255).astype(np.uint8)


def plan_figures(frames: np.ndarray, sample: HeldoutSample) -> dict[str, float]:
    """The process figures of the diffusion engine's plan made from ``frames``.

    The frames (uint8, at their own resolution) go through the frame-differencing
    extractor with the settings ``paint --engine diffusion`` gives it
    (:func:`~animatepainter.model.engine.engine_extract_settings` of
    :class:`~animatepainter.planner.teacher.pipeline.PaintSettings`' defaults: palette,
    layers, seed, honest colours and no hidden strokes; the canvas colour of the
    held-out process), the held-out image as the
    picture and its depth for the layers; the plan is judged by
    :func:`~animatepainter.planner.process.process_figures` against that picture.

    Args:
        frames: float ``(T, H, W, 3)`` in ``[0, 1]``.
        sample: the held-out sample (its image is the picture, uint8 ``(H, W, 3)`` here).

    Returns:
        the :data:`PLAN_FIELDS` (stroke count and shares in ``[0, 1]``); ``NaN`` each if
        the extractor refuses the process (logged).
    """
    from animatepainter.planner.errors import AnimatePainterError
    from animatepainter.model.engine import engine_extract_settings
    from animatepainter.planner.extract import extract_plan
    from animatepainter.planner.process import process_figures
    from animatepainter.planner.teacher.pipeline import PaintSettings

    blank = tuple(int(v) for v in _u8(sample.frames[0]).reshape(-1, 3)[0])
    ex = engine_extract_settings(PaintSettings(), background=blank)
    image = _u8(sample.image)
    try:
        plan = extract_plan(_u8(frames), ex, image=image, depth=sample.depth, engine="diffusion").plan
    except AnimatePainterError as e:
        log.warning("%s: no plan from this process (%s)", sample.key, e)
        return {k: float("nan") for k in PLAN_FIELDS}
    fig = process_figures(plan, image)
    if not fig.get("strokes"):
        return {"plan_strokes": 0.0, "plan_hidden_share": float("nan"), "plan_share_above_10": float("nan"), "plan_share_above_20": float("nan")}
    return {
        "plan_strokes": float(fig["strokes"]),
        "plan_hidden_share": float(fig["hidden_share"]),
        "plan_share_above_10": float(fig["colour_error"]["share_above_10"]),
        "plan_share_above_20": float(fig["colour_error"]["share_above_20"]),
    }


def _plan_job(args: tuple[np.ndarray, HeldoutSample]) -> dict[str, float]:
    return plan_figures(*args)


def _pool_map(fn: Any, items: Sequence[Any], workers: int, progress: Progress, stage: str) -> list[Any]:
    """``[fn(x) for x in items]`` (``fn`` a module-level function), in order, a progress tick
    each; ``workers > 1``: in spawned worker processes with single-threaded BLAS and
    OpenCV, as the synthesis engine's (spawn, not fork: the driver may run threads)."""
    out: list[Any] = []
    with progress.stage(stage, total=len(items)) as st:
        if workers <= 1 or len(items) < 2:
            for x in items:
                out.append(fn(x))
                st.advance(1)
            return out
        import multiprocessing as mp
        from concurrent.futures import ProcessPoolExecutor

        from animatepainter.model.data.engines import _single_threaded_env, _worker_init

        with _single_threaded_env():
            pool = ProcessPoolExecutor(min(workers, len(items)), mp_context=mp.get_context("spawn"), initializer=_worker_init)
        with pool:
            for r in pool.map(fn, items):
                out.append(r)
                st.advance(1)
    return out


def check_samples_fit(samples: Sequence[HeldoutSample], resolution: int, num_frames: int, model: str = "the model") -> None:
    """Raise :class:`InputError` naming what does not fit if any held-out sample is not a
    ``num_frames``-frame process of ``resolution x resolution`` pixels.

    The message says which (frames, size or both), the sample's and the model's
    figures, and how to make a fitting set.
    """
    for s in samples:
        t, h, w = s.frames.shape[:3]
        bad = []
        if t != num_frames:
            bad.append(f"{t} frames")
        if (h, w) != (resolution, resolution) or s.image.shape[:2] != (resolution, resolution):
            bad.append(f"{w}x{h} px")
        if bad:
            raise InputError(
                f"held-out sample {s.key} has {' and '.join(bad)} but {model} makes {num_frames} frames of {resolution}x{resolution} px; "
                f"synthesise the held-out data with --frames {num_frames} --size {resolution}"
            )


def crossfade(sample: HeldoutSample) -> np.ndarray:
    """The no-order baseline: a linear crossfade from the blank canvas to the image,
    float32 ``(T, H, W, 3)``."""
    t_n = sample.frames.shape[0]
    a = np.linspace(0.0, 1.0, t_n, dtype=np.float32)[:, None, None, None]
    blank = sample.frames[0][None]
    return blank + (sample.image[None] - blank) * a


def resample_process(frames: np.ndarray, num_frames: int, size: int) -> np.ndarray:
    """A process brought to another frame count and square size.

    Space: bicubic (``cv2.INTER_CUBIC``, clipped to ``[0, 1]``) to ``size x size``; time:
    frame ``j`` of the output is the linear blend of the input frames around input time
    ``j (T_in - 1) / (num_frames - 1)``, so the first and last frames are kept as they are.

    Args:
        frames: float ``(T_in, H, W, 3)`` in ``[0, 1]``.
        num_frames: output frame count (>= 2); size: output side in pixels.

    Returns:
        float32 ``(num_frames, size, size, 3)`` in ``[0, 1]``.
    """
    import cv2

    f = np.asarray(frames, np.float32)
    if f.shape[1:3] != (size, size):
        f = np.stack([cv2.resize(x, (size, size), interpolation=cv2.INTER_CUBIC if size > x.shape[0] else cv2.INTER_AREA) for x in f])
        f = np.clip(f, 0.0, 1.0)
    t_in = f.shape[0]
    if t_in == num_frames:
        return f
    pos = np.linspace(0.0, t_in - 1, num_frames)
    lo = np.floor(pos).astype(int).clip(0, t_in - 1)
    hi = np.minimum(lo + 1, t_in - 1)
    a = (pos - lo).astype(np.float32)[:, None, None, None]
    return (f[lo] * (1 - a) + f[hi] * a).astype(np.float32)


def _mean(ms: Sequence[ProcessMetrics]) -> ProcessMetrics:
    """Means over samples; a field that is ``NaN`` for some samples (no plan) is the
    mean of the others, ``NaN`` if it is for all."""
    names = [f for f in ProcessMetrics.__dataclass_fields__ if f != "n"]
    if not ms:
        return ProcessMetrics(**{f: float("nan") for f in names}, n=0)
    out = {}
    for f in names:
        v = np.array([getattr(m, f) for m in ms], np.float64)
        out[f] = float(np.mean(v[np.isfinite(v)])) if np.isfinite(v).any() else float("nan")
    return ProcessMetrics(**out, n=len(ms))


def _real_image_paths(names: Iterable[str]) -> list[tuple[str, Path]]:
    import skimage.data

    root = Path(skimage.data.__file__).parent
    out = []
    for n in names:
        hits = sorted(root.glob(f"{n}.*"))
        if hits:
            out.append((n, hits[0]))
        else:
            log.warning("skimage.data image %r is not installed here; skipped", n)
    return out


def _synth_job(args: tuple[Any, Any]) -> dict[str, Any]:
    from animatepainter.model.data.synth import synthesize

    return synthesize(*args)


def heldout_samples(
    frames: int,
    size: int,
    procedural: int = 16,
    real: Sequence[str] = REAL_IMAGES,
    seed: int = HELDOUT_SEED,
    progress: Progress = NULL_PROGRESS,
    workers: int = 1,
) -> list[HeldoutSample]:
    """Synthesise the held-out set with the package's data pipeline.

    Args:
        frames: ``T``; size: square side in pixels (the model's resolution).
        procedural: procedural scenes (exact depth), from dataset seed ``seed``.
        real: names of ``skimage.data`` photographs (depth from the offline prior).
        workers: worker processes (the same samples for any count).
    """
    from animatepainter.model.data.synth import SynthSettings, make_jobs

    settings = SynthSettings(frames=frames, size=size, seed=seed)
    settings.check()
    reals = _real_image_paths(real)
    jobs = make_jobs([str(p) for _, p in reals], procedural, seed)
    names = [n for n, _ in reals] + [f"procedural-{i}" for i in range(procedural)]
    made = _pool_map(_synth_job, [(job, settings) for job in jobs], workers, progress, "held-out data")
    return [
        HeldoutSample(
            key=name,
            image=s["image"].astype(np.float32) / 255.0,
            depth=np.asarray(s["depth"], np.float32),
            frames=s["frames"].astype(np.float32) / 255.0,
            kind="procedural" if job.procedural else "real",
        )
        for job, name, s in zip(jobs, names, made)
    ]


def samples_from_dataset(path: str | Path, limit: Optional[int] = None) -> list[HeldoutSample]:
    """Held-out samples from a dataset folder made by ``animatepainter synth``."""
    from animatepainter.model.data.dataset import DatasetReader

    out = []
    for s in DatasetReader(path):
        kind = "procedural" if str(s["meta"].get("source", "")).startswith("procedural:") else "real"
        out.append(
            HeldoutSample(
                key=s["key"],
                image=s["image"].transpose(1, 2, 0),
                depth=s["depth"][0],
                frames=s["frames"].transpose(0, 2, 3, 1),
                kind=kind,
            )
        )
        if limit and len(out) >= limit:
            break
    if not out:
        raise InputError(f"{path}: the dataset holds no samples")
    return out


def generate_for(
    pipe: Any,
    samples: Sequence[HeldoutSample],
    steps: int,
    seed: int,
    batch_size: int = 8,
    progress: Progress = NULL_PROGRESS,
    name: str = "model",
    resample: bool = False,
) -> list[np.ndarray]:
    """Run ``pipe`` on every sample (batched); returns float32 ``(T, H, W, 3)`` each, the
    samples' frame count and size.

    Args:
        resample: a model of another resolution or frame count is run at its own
            resolution and its frames resampled (:func:`resample_process`); without it such
            a model is an :class:`InputError`.
    """
    import cv2
    import torch

    res = pipe.config.resolution
    t_model = pipe.config.num_frames
    out: list[np.ndarray] = []
    g = torch.Generator().manual_seed(seed)
    with progress.stage(name, total=len(samples)) as st:
        for i in range(0, len(samples), batch_size):
            chunk = samples[i : i + batch_size]
            if not resample:
                check_samples_fit(chunk, res, t_model, f"the model {name} (which works at {res}x{res})")

            def fit(a: np.ndarray) -> np.ndarray:
                return a if a.shape[:2] == (res, res) else cv2.resize(a, (res, res), interpolation=cv2.INTER_AREA if a.shape[0] > res else cv2.INTER_CUBIC)

            img = torch.from_numpy(np.stack([np.clip(fit(s.image), 0, 1).transpose(2, 0, 1) for s in chunk]))
            dep = torch.from_numpy(np.stack([np.clip(fit(s.depth), 0, 1)[None] for s in chunk]))
            frames = pipe(img, dep, num_inference_steps=steps, generator=g).frames
            for f, s in zip(frames, chunk):
                f = np.asarray(f, np.float32)
                if resample and f.shape != s.frames.shape:
                    f = resample_process(f, s.frames.shape[0], s.frames.shape[1])
                out.append(f)
            st.advance(len(chunk))
    return out


@dataclass
class EvalReport:
    """Result of :func:`evaluate_models`.

    Attributes:
        rows: method name -> {"all": metrics, "procedural": ..., "real": ...} (dicts).
        samples: held-out sample keys; settings: how the run was made; seconds: wall time.
    """

    rows: dict[str, dict[str, dict[str, float]]]
    samples: list[str]
    settings: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0

    def to_json(self) -> bytes:
        """The report as JSON (``NaN``, a figure not computed, is written ``null``)."""

        def clean(x: Any) -> Any:
            if isinstance(x, dict):
                return {k: clean(v) for k, v in x.items()}
            if isinstance(x, (list, tuple)):
                return [clean(v) for v in x]
            if isinstance(x, float) and not np.isfinite(x):
                return None
            return x

        return json.dumps(clean(asdict(self)), indent=1, sort_keys=True, allow_nan=False).encode()


def evaluate_models(
    models: dict[str, Any],
    samples: Sequence[HeldoutSample],
    steps: int = 20,
    seed: int = 0,
    progress: Progress = NULL_PROGRESS,
    keep_frames: Optional[dict[str, list[np.ndarray]]] = None,
    resampled: Iterable[str] = (),
    plans: bool = False,
    workers: int = 1,
) -> EvalReport:
    """Score ``models`` (name -> pipeline) and the baselines on ``samples``.

    Rows: ``teacher`` (the ground truth scored against itself), ``crossfade``, then
    each model in the given order. Each row holds the metric means over all samples
    and over the procedural and real subsets.

    Args:
        keep_frames: if given, filled with name -> generated frames per sample.
        resampled: names of ``models`` made for another resolution / frame count, run at
            their own and resampled to the held-out set's (see :func:`generate_for`).
        plans: also the ``plan_*`` figures (:func:`plan_figures`: one extraction per row
            and sample, a few seconds each at 64 px on one core).
        workers: processes for the plan figures (1: in this process).

    Raises:
        InputError: held-out samples that do not fit a (not resampled) model, before
            any work; SettingsError: no samples, steps < 1, workers < 1.
    """
    if not samples:
        raise SettingsError("the held-out set is empty")
    if steps < 1:
        raise SettingsError(f"steps must be at least 1, got {steps}", "steps")
    if workers < 1:
        raise SettingsError(f"workers must be at least 1, got {workers}", "workers")
    resampled = set(resampled)
    for name, pipe in models.items():
        if name not in resampled:
            c = pipe.config
            check_samples_fit(samples, int(c.resolution), int(c.num_frames), f"the model {name} (which works at {c.resolution}x{c.resolution})")
    t0 = time.perf_counter()
    per: dict[str, list[ProcessMetrics]] = {}
    processes: dict[str, list[np.ndarray]] = {"teacher": [s.frames for s in samples], "crossfade": [crossfade(s) for s in samples]}
    for name, pipe in models.items():
        gen = generate_for(pipe, samples, steps, seed, progress=progress, name=name, resample=name in resampled)
        if keep_frames is not None:
            keep_frames[name] = gen
        processes[name] = gen
    for name, gen in processes.items():
        per[name] = [process_metrics(f, s) for f, s in zip(gen, samples)]
    if plans:
        names = list(processes)
        jobs = [(f, s) for n in names for f, s in zip(processes[n], samples)]
        figs = iter(_pool_map(_plan_job, jobs, workers, progress, "plans"))
        for n in names:
            for m in per[n]:
                for k, v in next(figs).items():
                    setattr(m, k, v)
    rows = {}
    for name, ms in per.items():
        rows[name] = {
            "all": asdict(_mean(ms)),
            "procedural": asdict(_mean([m for m, s in zip(ms, samples) if s.kind == "procedural"])),
            "real": asdict(_mean([m for m, s in zip(ms, samples) if s.kind == "real"])),
        }
    settings = {"steps": steps, "seed": seed, "paint_threshold": PAINT_THRESHOLD, "settle_fraction": SETTLE_FRACTION, "settle_floor": SETTLE_FLOOR, "plans": bool(plans)}
    return EvalReport(rows=rows, samples=[s.key for s in samples], settings=settings, seconds=time.perf_counter() - t0)


#: subsets of a report, in the order :func:`format_table` callers print them, and their titles
SUBSETS = {"real": "photographs", "procedural": "procedural scenes", "all": "all"}


def format_table(report: EvalReport, subset: str = "all") -> str:
    """One subset of the report as a Markdown table (one row per method).

    Columns: completion-time Spearman against the teacher, depth order, frame PSNR /
    SSIM, final PSNR, coverage monotonicity, and (``-`` where not computed) the
    diffusion-engine plan's hidden share and share of strokes above 20 CIEDE2000.
    """
    if subset not in SUBSETS:
        raise SettingsError(f"subset must be one of {', '.join(SUBSETS)}, got {subset!r}", "subset")

    def num(v: Optional[float], spec: str) -> str:
        return "-" if v is None or not np.isfinite(v) else format(v, spec)

    head = "| method | n | completion (Spearman vs teacher) | depth order (Spearman) | frame PSNR dB | frame SSIM | final PSNR dB | monotonic | plan hidden share | plan share > 20 dE |"
    lines = [head, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for name, r in report.rows.items():
        m = r[subset]
        if not m["n"]:
            continue
        lines.append(
            f"| {name} | {m['n']} | {num(m.get('completion_spearman'), '+.3f')} | {num(m['depth_order'], '+.3f')} | {num(m['frame_psnr'], '.2f')} | "
            f"{num(m['frame_ssim'], '.3f')} | {num(m['final_psnr'], '.2f')} | {num(m['monotonic'], '.3f')} | "
            f"{num(m.get('plan_hidden_share'), '.3f')} | {num(m.get('plan_share_above_20'), '.4f')} |"
        )
    return "\n".join(lines)
