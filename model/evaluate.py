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

Baselines in the same run: ``crossfade`` (frame ``t`` = ``blank + (image - blank) t /
(T-1)``, a process with no order) and, when given, the ablation without the
DF-Encoder trained with the same budget. The ground truth itself is scored too
(``teacher``), as the ceiling of ``depth_order`` and ``monotonic``.

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
    "REAL_IMAGES",
    "HELDOUT_SEED",
    "HeldoutSample",
    "ProcessMetrics",
    "first_painted",
    "depth_order_score",
    "coverage_monotonicity",
    "process_metrics",
    "crossfade",
    "resample_process",
    "heldout_samples",
    "evaluate_models",
    "format_table",
]

#: a pixel counts as painted once it differs from the blank canvas by this much (0..1)
PAINT_THRESHOLD = 0.1
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
    n: int = 1


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


def depth_order_score(frames: np.ndarray, image: np.ndarray, depth: np.ndarray, blank: np.ndarray, threshold: float = PAINT_THRESHOLD) -> float:
    """Spearman correlation between first-painted frame and nearness (far first > 0).

    Only pixels whose finished colour differs from the canvas by more than
    ``2 * threshold`` count (others cannot be seen being painted). Returns 0 when the
    correlation is undefined (constant times or depth, or fewer than 3 pixels).
    """
    from scipy.stats import spearmanr

    visible = np.abs(np.asarray(image, np.float32) - np.asarray(blank, np.float32)).max(axis=-1) > 2 * threshold
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
    if not ms:
        return ProcessMetrics(*(float("nan"),) * 5, n=0)
    return ProcessMetrics(
        final_psnr=float(np.mean([m.final_psnr for m in ms])),
        frame_psnr=float(np.mean([m.frame_psnr for m in ms])),
        frame_ssim=float(np.mean([m.frame_ssim for m in ms])),
        depth_order=float(np.mean([m.depth_order for m in ms])),
        monotonic=float(np.mean([m.monotonic for m in ms])),
        n=len(ms),
    )


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


def heldout_samples(
    frames: int,
    size: int,
    procedural: int = 16,
    real: Sequence[str] = REAL_IMAGES,
    seed: int = HELDOUT_SEED,
    progress: Progress = NULL_PROGRESS,
) -> list[HeldoutSample]:
    """Synthesise the held-out set with the package's data pipeline.

    Args:
        frames: ``T``; size: square side in pixels (the model's resolution).
        procedural: procedural scenes (exact depth), from dataset seed ``seed``.
        real: names of ``skimage.data`` photographs (depth from the offline prior).
    """
    from animatepainter.model.data.synth import SynthSettings, make_jobs, synthesize

    settings = SynthSettings(frames=frames, size=size, seed=seed)
    settings.check()
    reals = _real_image_paths(real)
    jobs = make_jobs([str(p) for _, p in reals], procedural, seed)
    names = [n for n, _ in reals] + [f"procedural-{i}" for i in range(procedural)]
    out = []
    with progress.stage("held-out data", total=len(jobs)) as st:
        for job, name in zip(jobs, names):
            s = synthesize(job, settings)
            out.append(
                HeldoutSample(
                    key=name,
                    image=s["image"].astype(np.float32) / 255.0,
                    depth=np.asarray(s["depth"], np.float32),
                    frames=s["frames"].astype(np.float32) / 255.0,
                    kind="procedural" if job.procedural else "real",
                )
            )
            st.advance(1)
    return out


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
            for s in chunk:
                if resample:
                    continue
                if s.image.shape[:2] != (res, res):
                    raise InputError(f"held-out sample {s.key} is {s.image.shape[1]}x{s.image.shape[0]} px but the model works at {res}x{res}")
                if s.frames.shape[0] != t_model:
                    raise InputError(f"held-out sample {s.key} has {s.frames.shape[0]} frames but the model makes {t_model}")

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
        return json.dumps(asdict(self), indent=1, sort_keys=True).encode()


def evaluate_models(
    models: dict[str, Any],
    samples: Sequence[HeldoutSample],
    steps: int = 20,
    seed: int = 0,
    progress: Progress = NULL_PROGRESS,
    keep_frames: Optional[dict[str, list[np.ndarray]]] = None,
    resampled: Iterable[str] = (),
) -> EvalReport:
    """Score ``models`` (name -> pipeline) and the baselines on ``samples``.

    Rows: ``teacher`` (the ground truth scored against itself), ``crossfade``, then
    each model in the given order. Each row holds the metric means over all samples
    and over the procedural and real subsets.

    Args:
        keep_frames: if given, filled with name -> generated frames per sample.
        resampled: names of ``models`` made for another resolution / frame count, run at
            their own and resampled to the held-out set's (see :func:`generate_for`).
    """
    if not samples:
        raise SettingsError("the held-out set is empty")
    if steps < 1:
        raise SettingsError(f"steps must be at least 1, got {steps}", "steps")
    t0 = time.perf_counter()
    per: dict[str, list[ProcessMetrics]] = {}
    per["teacher"] = [process_metrics(s.frames, s) for s in samples]
    per["crossfade"] = [process_metrics(crossfade(s), s) for s in samples]
    resampled = set(resampled)
    for name, pipe in models.items():
        gen = generate_for(pipe, samples, steps, seed, progress=progress, name=name, resample=name in resampled)
        if keep_frames is not None:
            keep_frames[name] = gen
        per[name] = [process_metrics(f, s) for f, s in zip(gen, samples)]
    rows = {}
    for name, ms in per.items():
        rows[name] = {
            "all": asdict(_mean(ms)),
            "procedural": asdict(_mean([m for m, s in zip(ms, samples) if s.kind == "procedural"])),
            "real": asdict(_mean([m for m, s in zip(ms, samples) if s.kind == "real"])),
        }
    return EvalReport(rows=rows, samples=[s.key for s in samples], settings={"steps": steps, "seed": seed, "paint_threshold": PAINT_THRESHOLD}, seconds=time.perf_counter() - t0)


def format_table(report: EvalReport, subset: str = "all") -> str:
    """The report as a Markdown table (one row per method)."""
    head = "| method | n | final PSNR dB | frame PSNR dB | frame SSIM | depth order (Spearman) | coverage monotonic |"
    lines = [head, "|---|---:|---:|---:|---:|---:|---:|"]
    for name, r in report.rows.items():
        m = r[subset]
        if not m["n"]:
            continue
        lines.append(f"| {name} | {m['n']} | {m['final_psnr']:.2f} | {m['frame_psnr']:.2f} | {m['frame_ssim']:.3f} | {m['depth_order']:+.3f} | {m['monotonic']:.3f} |")
    return "\n".join(lines)
