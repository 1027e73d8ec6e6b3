"""Self-supervised painting-process data: T-frame videos synthesised from any images.

For each input (an image file, or a procedural scene with exact depth) a sample is
made in four steps:

1. the image is resized (and, by default, centre-cropped to a square) to ``size`` px;
2. depth is estimated (``depth_backend``) or, for procedural scenes, taken exactly;
3. the teacher (:func:`~animatepainter.planner.teacher.pipeline.plan_painting`) fits strokes
   in the painter's order: depth layers far -> near, refinement coarse -> fine;
4. the process is rendered as ``T`` frames from the blank canvas to the finished
   image **by erasure** (the AnimatePainter paper's data pipeline).

Erasure, as done here
---------------------
The strokes are split into frames ``1..T-1`` (each plan step goes whole to one
frame, so a frame never mixes the tail of one (layer, level) group with a later group
unless there are more groups than frames). Rendering them in order gives, per pixel
``p`` of depth layer ``L[p]`` (the teacher's layer map, 0 = farthest):

* ``done[p]``: the frame of the last stroke that covers ``p`` (anti-aliased coverage
  of at least 0.5), but no later than ``end[L[p]]``, the frame of the last stroke of
  layers ``<= L[p]``. The painter's order finishes far layers before near ones; the
  teacher's near strokes that spill over a farther pixel only mend what the far pass
  left, so they do not make a finished far pixel unfinished. Pixels that no stroke
  covers (the teacher skips those the canvas already matches) are done when their
  layer ends.
* ``start[p]``: the frame of the first stroke that covers ``p``, or ``done[p]`` if
  that is earlier.

Frame ``t`` then shows, per pixel:

* the **real image** where ``p`` is finished (``done[p] <= t``);
* the **stroke render** after all strokes up to frame ``t`` where painting has begun
  but strokes still come (``start[p] <= t < done[p]``): a coarse far-layer block-in,
  say, that a near object or a finer level will paint over;
* the **blank canvas** where nothing has been painted yet (``t < start[p]``).

Seen backwards from the finished picture this is the paper's erasure: strokes are
removed from the real image in reverse painting order, each removal uncovering the
rendering of the strokes beneath, until only the canvas is left. It guarantees that
frame 0 is the blank canvas, frame ``T-1`` is the real image (not its stroke
approximation), the painted area only grows, and every pixel of layer ``k`` is
painted by the frame that ends layer ``k``: far before near.

The change mask of frame ``t`` marks the pixels whose 8-bit value differs from frame
``t-1``. Each sample also stores the strokes each frame adds (see
:mod:`.dataset` for the on-disk format).

Scale-out
---------
:func:`synth_dataset` cuts the inputs into shards of ``shard_size`` samples. Samples
are made by an engine: ``"local"`` (a pool of worker processes on this machine) or
``"ray"`` (Ray tasks on a local Ray instance or a cluster at ``ray_address``). Both
call the same :func:`run_job` with a per-sample seed derived from ``(seed, index)``,
and the driver writes the shards in key order, so engines, worker counts and runs
give byte-identical shards. Only the driver writes files: Ray workers on other
machines need the package installed and read access to the inputs, not to the
output folder.

Each shard is written to a hidden temp file and renamed when complete, then its
record ``shard-NNNNNN.json`` (SHA-256, keys, sources, failures, settings) is written.
A rerun skips every shard whose record matches the settings and inputs and whose tar
still has the recorded SHA-256, so an interrupted run resumes where it stopped and a
crash never leaves a half-written shard under a visible name.
"""

from __future__ import annotations

import contextlib
import dataclasses
import glob as globlib
import json
import logging
import math
import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator, Sequence

import cv2
import numpy as np

from animatepainter.planner.atomic import atomic_path, atomic_write_bytes, check_writable_dir
from animatepainter.model.data.dataset import FORMAT, MANIFEST, decode_sample, encode_sample
from animatepainter.planner.errors import AnimatePainterError, OutputError, SettingsError, one_line
from animatepainter.planner.images import file_sha256
from animatepainter.planner.progress import NULL_PROGRESS, Progress
from animatepainter.model.data.engines import check_ray_address, make_engine

if TYPE_CHECKING:  # pragma: no cover
    from animatepainter.planner.plan import StrokePlan

log = logging.getLogger(__name__)

__all__ = [
    "SynthSettings",
    "SampleJob",
    "JobResult",
    "ProcessFrames",
    "SynthReport",
    "erasure_frames",
    "stroke_frames",
    "layer_ends",
    "sample_seed",
    "synthesize",
    "expand_inputs",
    "make_jobs",
    "run_job",
    "preview_sheet",
    "synth_dataset",
]

#: file suffixes picked up when a folder or glob is given
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".webp", ".bmp", ".gif", ".ppm", ".pgm")
#: coverage from which a stroke counts as painting a pixel
COVER_THRESHOLD = 0.5
#: tar member mtime, so shards are byte-identical across runs
_TAR_MTIME = 0.0
_SHARD_RE = re.compile(r"^shard-(\d{6,})\.(tar|json)$")


# ----------------------------------------------------------------------------------
# settings and jobs
# ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class SynthSettings:
    """What every sample of a dataset is made with.

    Attributes:
        frames: frames per sample ``T`` (2..256), blank canvas and finished image
            included.
        size: side of the square samples in px (16..1024); with ``aspect="keep"`` the
            long side.
        aspect: ``"crop"``: scale the short side to ``size`` and centre-crop a square
            (batchable samples); ``"keep"``: scale the long side to ``size``.
        strokes: teacher stroke budget per sample; ``None``: ``size**2 / 32`` clamped to
            100..4000 (128 strokes at 64 px, 2048 at 256 px).
        layers: depth layers K (1..16; ``None``: as many as the picture has depth
            planes, the teacher's default); levels: refinement levels (1..8).
        seed: dataset seed; sample ``i`` uses a seed derived from ``(seed, i)``.
        background: canvas colour, RGB 0..255.
        depth_backend: ``"prior"`` or ``"transformers"`` (needs ``depth_model``);
            procedural scenes always use their exact depth.
        depth_model: local directory of a transformers depth model.
        shard_size: samples per shard (1..100000).
    """

    frames: int = 16
    size: int = 256
    aspect: str = "crop"
    strokes: int | None = None
    layers: int | None = None
    levels: int = 5
    seed: int = 0
    background: tuple[int, int, int] = (255, 255, 255)
    depth_backend: str = "prior"
    depth_model: str | None = None
    shard_size: int = 64

    def check(self) -> None:
        """Raise :class:`SettingsError` naming the first impossible setting."""
        if not 2 <= self.frames <= 256:
            raise SettingsError(f"frames must be between 2 and 256 (blank canvas and finished image included), got {self.frames}", "frames")
        if not 16 <= self.size <= 1024:
            raise SettingsError(f"size must be between 16 and 1024 px, got {self.size}", "size")
        if self.aspect not in ("crop", "keep"):
            raise SettingsError(f"aspect must be 'crop' or 'keep', got {self.aspect!r}", "aspect")
        if self.strokes is not None and not 1 <= self.strokes <= 200_000:
            raise SettingsError(f"strokes must be between 1 and 200000, got {self.strokes}", "strokes")
        if not 1 <= self.shard_size <= 100_000:
            raise SettingsError(f"shard_size must be between 1 and 100000, got {self.shard_size}", "shard_size")
        if self.depth_backend not in ("prior", "transformers"):
            raise SettingsError(f"depth_backend must be 'prior' or 'transformers', got {self.depth_backend!r}", "depth_backend")
        if self.depth_backend == "transformers" and not self.depth_model:
            raise SettingsError("depth_model is required by the 'transformers' depth backend (a local model folder)", "depth_model")
        self.paint_settings(0).check()

    @property
    def stroke_budget(self) -> int:
        """Strokes per sample (``strokes`` or the size-based default)."""
        if self.strokes is not None:
            return int(self.strokes)
        return int(min(max(round(self.size * self.size / 32), 100), 4000))

    def paint_settings(self, seed: int):
        """The teacher's :class:`~animatepainter.planner.teacher.pipeline.PaintSettings` for a
        sample with ``seed``: ``steps = T - 1`` so that plan steps map onto frames."""
        from animatepainter.planner.teacher.pipeline import PaintSettings

        return PaintSettings(
            strokes=self.stroke_budget,
            seed=int(seed),
            size=self.size,
            layers=self.layers,
            levels=self.levels,
            steps=self.frames - 1,
            background=tuple(int(v) for v in self.background),
            depth_backend=self.depth_backend,
            depth_model=self.depth_model,
        )

    def fingerprint(self) -> dict[str, Any]:
        """Everything that decides a shard's bytes (recorded in the manifest and in
        each shard record; a resume only reuses shards with the same fingerprint)."""
        from animatepainter.planner import __version__

        d = dataclasses.asdict(self)
        d["background"] = list(self.background)
        d["strokes"] = self.stroke_budget
        d["version"] = __version__
        return d


@dataclass(frozen=True)
class SampleJob:
    """One sample to make.

    Attributes:
        index: position in the dataset (0-based); decides the shard and the key.
        key: sample key (``index`` as 8 digits).
        source: the image path as given, or ``"procedural:<index>"``.
        seed: the sample's seed (see :func:`sample_seed`).
    """

    index: int
    key: str
    source: str
    seed: int

    @property
    def procedural(self) -> bool:
        return self.source.startswith("procedural:")


@dataclass
class JobResult:
    """What :func:`run_job` returns: encoded members or the reason it failed.

    Attributes:
        index, key, source: the job's.
        members: WebDataset members (``{"__key__": ..., "image.png": bytes, ...}``),
            ``None`` on failure.
        preview: PNG bytes of the contact sheet (when asked for), else ``None``.
        reason: one-line reason of a failure, else ``None``.
    """

    index: int
    key: str
    source: str
    members: dict[str, Any] | None = None
    preview: bytes | None = None
    reason: str | None = None


def sample_seed(seed: int, index: int) -> int:
    """Seed of sample ``index`` of a dataset made with ``seed`` (0..2**31-1),
    independent of engine, worker and shard."""
    return int(np.random.SeedSequence([int(seed) & 0xFFFFFFFF, int(index)]).generate_state(1)[0] & 0x7FFFFFFF)


def expand_inputs(items: Sequence[str | Path]) -> list[str]:
    """Expand image arguments into a sorted, de-duplicated list of paths.

    A folder contributes every file with an image suffix below it (recursively); a
    pattern with ``*``, ``?`` or ``[`` is a glob (``**`` recurses) and contributes its
    matching files with an image suffix; anything else is taken as one file, even if
    it does not exist or has another suffix (it then fails with a reason in the
    manifest, and the run goes on). Order: arguments in turn, each expanded sorted.
    """
    out: list[str] = []
    seen: set[str] = set()

    def add(p: str) -> None:
        if p not in seen:
            seen.add(p)
            out.append(p)

    for item in items:
        s = str(item)
        if any(c in s for c in "*?["):
            matches = sorted(m for m in globlib.glob(s, recursive=True) if os.path.isfile(m) and m.lower().endswith(IMAGE_SUFFIXES))
            if not matches:
                log.warning("%s: matches no image files", s)
            for m in matches:
                add(m)
        elif os.path.isdir(s):
            found = sorted(
                str(Path(root) / f)
                for root, _, files in os.walk(s)
                for f in files
                if f.lower().endswith(IMAGE_SUFFIXES) and not f.startswith(".")
            )
            if not found:
                log.warning("%s: folder holds no image files", s)
            for m in found:
                add(m)
        else:
            add(s)
    return out


def make_jobs(files: Sequence[str], procedural: int, seed: int) -> list[SampleJob]:
    """Jobs for ``files`` (indices ``0..len(files)-1``) then ``procedural`` scenes."""
    if procedural < 0:
        raise SettingsError(f"procedural must be >= 0, got {procedural}", "procedural")
    sources = [str(f) for f in files] + [f"procedural:{i}" for i in range(procedural)]
    return [SampleJob(i, f"{i:08d}", src, sample_seed(seed, i)) for i, src in enumerate(sources)]


# ----------------------------------------------------------------------------------
# one sample
# ----------------------------------------------------------------------------------


@dataclass
class ProcessFrames:
    """The erasure process of one plan (see the module docstring).

    Attributes:
        frames: uint8 ``(T, H, W, 3)``; ``frames[0]`` blank canvas, ``frames[-1]`` the
            image.
        masks: bool ``(T, H, W)``, pixels that changed from frame ``t-1`` (``masks[0]``
            all False).
        start: uint8 ``(H, W)`` frame (1..T-1) at which each pixel is first painted.
        done: uint8 ``(H, W)`` frame (>= start) from which each pixel shows the image.
        stroke_frame: int32 ``(N,)`` frame that adds each stroke (non-decreasing).
        strokes_upto: int ``(T,)`` number of strokes painted by frame ``t``.
    """

    frames: np.ndarray
    masks: np.ndarray
    start: np.ndarray
    done: np.ndarray
    stroke_frame: np.ndarray
    strokes_upto: np.ndarray


def stroke_frames(steps: Sequence[int], n_steps: int, frames: int) -> np.ndarray:
    """Frame (1..T-1) of each stroke from its plan ``step`` (0..n_steps-1).

    Step ``s`` goes to frame ``ceil((s + 1) (T - 1) / n_steps)``: steps stay whole, the
    last step lands on the last frame, and with ``n_steps == T - 1`` step ``s`` is frame
    ``s + 1``.

    Returns:
        int32 ``(N,)``.
    """
    s = np.asarray(steps, np.int64)
    if s.size == 0:
        return np.zeros(0, np.int32)
    n = max(int(n_steps), 1)
    return np.maximum(-(-((s + 1) * (frames - 1)) // n), 1).astype(np.int32)


def layer_ends(stroke_layer: np.ndarray, stroke_frame: np.ndarray, n_layers: int, frames: int) -> np.ndarray:
    """Frame that ends each depth layer: the last frame holding a stroke of layers
    ``<= k``; for a layer with no strokes at or before it, the first frame of a nearer
    layer; ``T - 1`` when there are no strokes.

    Returns:
        int32 ``(n_layers,)``, non-decreasing.
    """
    ends = np.full(n_layers, frames - 1, np.int32)
    sl, sf = np.asarray(stroke_layer), np.asarray(stroke_frame)
    for k in range(n_layers):
        upto = sf[sl <= k]
        if upto.size:
            ends[k] = upto.max()
        elif (sl > k).any():
            ends[k] = sf[sl > k].min()
    return np.maximum.accumulate(ends)


def erasure_frames(plan: "StrokePlan", image: np.ndarray, layers: np.ndarray, frames: int) -> ProcessFrames:
    """Render the painting process of ``plan`` as ``frames`` frames, by erasure.

    Args:
        plan: a :class:`~animatepainter.planner.plan.StrokePlan` whose source image is
            ``image`` (its strokes are rasterised at the image's pixel size).
        image: uint8 ``(H, W, 3)`` the finished image (the last frame).
        layers: int ``(H, W)`` depth layer of each pixel, 0 = farthest (the teacher's
            :attr:`~animatepainter.planner.teacher.pipeline.PaintResult.layers`).
        frames: ``T >= 2``.

    Returns:
        :class:`ProcessFrames`.
    """
    from animatepainter.planner.render import new_canvas, plan_to_pixels, stroke_bbox, stroke_coverage, to_uint8

    image = np.asarray(image, np.uint8)
    h, w = image.shape[:2]
    layers = np.asarray(layers)
    if layers.shape != (h, w):
        raise ValueError(f"layer map is {layers.shape} but the image is {(h, w)}")
    t_n = int(frames)
    (ph, pw), pstrokes = plan_to_pixels(plan, width_px=w, region="image")
    if (ph, pw) != (h, w):
        raise ValueError(f"plan rasterises to {pw}x{ph} px but the image is {w}x{h} px")
    bg = np.asarray(plan.canvas.background, np.float32) / 255.0
    canvas = new_canvas(h, w, bg)
    blank = to_uint8(canvas)
    sframe = stroke_frames([s.step for s in plan.strokes], plan.n_steps, t_n)
    never = np.int32(t_n)  # "no stroke covers it": later than any frame
    first = np.full((h, w), never, np.int32)
    last = np.full((h, w), -1, np.int32)
    snaps: list[np.ndarray] = [blank]
    k = 0
    for t in range(1, t_n):
        while k < len(pstrokes) and sframe[k] <= t:
            st = pstrokes[k]
            y0, y1, x0, x1 = box = stroke_bbox(st.points, st.width, (h, w))
            if y1 > y0 and x1 > x0:
                a = stroke_coverage(st.points, st.width, box)
                region = canvas[y0:y1, x0:x1]
                region += a[..., None] * (np.asarray(st.rgb, np.float32) - region)
                cov = a >= COVER_THRESHOLD
                f = first[y0:y1, x0:x1]  # views: the assignments write through
                f[cov] = np.minimum(f[cov], t)
                last[y0:y1, x0:x1][cov] = t
            k += 1
        snaps.append(to_uint8(canvas))
    n_layers = int(max(layers.max(initial=0), max((s.layer for s in plan.strokes), default=0))) + 1
    ends = layer_ends([s.layer for s in plan.strokes], sframe, n_layers, t_n)
    cap = ends[np.clip(layers, 0, n_layers - 1)]
    done = np.where(last >= 1, np.minimum(last, cap), cap)
    start = np.minimum(first, done)
    out = np.empty((t_n, h, w, 3), np.uint8)
    for t in range(t_n):
        fr = np.where((start <= t)[..., None], snaps[t], blank)
        out[t] = np.where((done <= t)[..., None], image, fr)
    masks = np.zeros((t_n, h, w), bool)
    masks[1:] = (out[1:] != out[:-1]).any(axis=3)
    upto = np.array([int(np.count_nonzero(sframe <= t)) for t in range(t_n)], np.int64)
    return ProcessFrames(out, masks, start.astype(np.uint8), done.astype(np.uint8), sframe, upto)


def _fit_size(img: np.ndarray, size: int, aspect: str) -> np.ndarray:
    """Scale (area filter down, cubic up) and, for ``aspect="crop"``, centre-crop a
    ``size`` x ``size`` square; ``"keep"``: long side ``size``."""
    from animatepainter.planner.images import resize_long_side

    if aspect == "keep":
        return resize_long_side(img, size)
    h, w = img.shape[:2]
    s = size / min(h, w)
    nw, nh = max(int(round(w * s)), size), max(int(round(h * s)), size)
    if (nw, nh) != (w, h):
        img = cv2.resize(img, (nw, nh), interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_CUBIC)
    y0, x0 = (nh - size) // 2, (nw - size) // 2
    return np.ascontiguousarray(img[y0 : y0 + size, x0 : x0 + size])


def synthesize(job: SampleJob, settings: SynthSettings) -> dict[str, Any]:
    """Make one sample.

    Returns:
        the arguments of :func:`~animatepainter.model.data.dataset.encode_sample`:
        ``key``, ``image`` uint8 ``(H, W, 3)``, ``depth`` float32 ``(H, W)`` (1 =
        nearest), ``frames`` uint8 ``(T, H, W, 3)``, ``masks`` bool ``(T, H, W)``,
        ``start`` / ``done`` uint8 ``(H, W)``, ``strokes`` and ``meta`` dicts.

    Raises:
        InputError: the image cannot be read or used.
    """
    from animatepainter.planner import __version__
    from animatepainter.planner.images import load_image
    from animatepainter.planner.teacher.pipeline import plan_painting
    from animatepainter.planner.scenes import make_scene

    # the teacher gets the low 16 bits of the sample seed (it only breaks ties and
    # seeds the palette's k-means with it; fixed so that datasets stay reproducible
    # across versions); the scene seed keeps all 31 bits
    ps = settings.paint_settings(job.seed & 0xFFFF)
    meta: dict[str, Any] = {"key": job.key, "index": job.index, "source": job.source, "seed": job.seed}
    if job.procedural:
        scene = make_scene(settings.size, settings.size, job.seed)
        img, depth, sha = scene.image, scene.depth, None
        meta["depth"] = "exact"
    else:
        img = _fit_size(load_image(job.source, background=settings.background), settings.size, settings.aspect)
        depth, sha = None, file_sha256(job.source)
        meta["depth"] = settings.depth_backend
        meta["source_sha256"] = sha
    res = plan_painting(img, ps, depth=depth, source_sha256=sha)
    image = res.image
    h, w = image.shape[:2]
    proc = erasure_frames(res.plan, image, res.layers, settings.frames)
    _, pstrokes = _pixel_strokes(res.plan, w)
    strokes = {
        "frame": proc.stroke_frame.tolist(),
        "layer": [s.layer for s in res.plan.strokes],
        "level": [s.level for s in res.plan.strokes],
        "width_px": [round(float(p.width), 3) for p in pstrokes],
        "rgb": [list(s.rgb) for s in res.plan.strokes],
        "points_px": [np.round(p.points, 2).tolist() for p in pstrokes],
    }
    meta.update(
        {
            "frames": settings.frames,
            "height": h,
            "width": w,
            "strokes": len(res.plan.strokes),
            "strokes_upto": proc.strokes_upto.tolist(),
            "settings": settings.fingerprint(),
            "background": list(settings.background),
            "version": __version__,
        }
    )
    return {
        "key": job.key,
        "image": image,
        "depth": np.asarray(res.depth, np.float32),
        "frames": proc.frames,
        "masks": proc.masks,
        "start": proc.start,
        "done": proc.done,
        "strokes": strokes,
        "meta": meta,
    }


def _pixel_strokes(plan: "StrokePlan", width_px: int) -> tuple[tuple[int, int], list]:
    from animatepainter.planner.render import plan_to_pixels

    return plan_to_pixels(plan, width_px=width_px, region="image")


def preview_sheet(sample: dict[str, Any]) -> np.ndarray:
    """Contact sheet of a sample: every frame (captioned with its step and the strokes
    it adds), the depth map and the map of when each pixel is first painted.

    Args:
        sample: as returned by :func:`synthesize` (uint8 frames ``(T, H, W, 3)``) or by
            :func:`~animatepainter.model.data.dataset.decode_sample` (float32 frames
            ``(T, 3, H, W)``).

    Returns:
        uint8 ``(H', W', 3)`` RGB image.
    """
    from animatepainter.planner.sheets import contact_sheet

    frames = np.asarray(sample["frames"])
    depth = np.asarray(sample["depth"], np.float32)
    start = np.asarray(sample["start"])
    if frames.dtype != np.uint8:  # decoded: float (T, 3, H, W)
        frames = np.clip(np.rint(frames.transpose(0, 2, 3, 1) * 255.0), 0, 255).astype(np.uint8)
        depth, start = depth[0], start[0]
    t_n = frames.shape[0]
    upto = sample["meta"]["strokes_upto"]
    labels = ["t=0 blank"] + [f"t={t} +{upto[t] - upto[t - 1]} strokes" for t in range(1, t_n - 1)] + [f"t={t_n - 1} image"]
    tiles = list(frames)
    tiles.append(np.clip(np.rint(depth * 255.0), 0, 255).astype(np.uint8))
    labels.append("depth, white=near")
    tiles.append(np.clip(np.rint(start.astype(np.float32) * (255.0 / max(t_n - 1, 1))), 0, 255).astype(np.uint8))
    labels.append("first painted")
    tile_px = int(min(max(frames.shape[2], 128), 256))
    return contact_sheet(tiles, labels, cols=min(t_n + 2, 10), tile_px=tile_px)


def run_job(job: SampleJob, settings: SynthSettings, preview: bool = False) -> JobResult:
    """Make, encode and (optionally) preview one sample; never raises for a bad input.

    The engines call this in their workers. A failure of one input (an
    :class:`~animatepainter.planner.errors.AnimatePainterError`, or any other error,
    which is logged with its traceback) is returned as ``reason`` so the run goes on.
    """
    cv2.setNumThreads(1)  # one sample per core: no oversubscription inside a worker
    try:
        sample = synthesize(job, settings)
        members = encode_sample(**sample)
        png = None
        if preview:
            from animatepainter.model.data.dataset import _png

            png = _png(preview_sheet(sample))
        return JobResult(job.index, job.key, job.source, members=members, preview=png)
    except AnimatePainterError as e:
        return JobResult(job.index, job.key, job.source, reason=one_line(e, 300))
    except MemoryError:
        return JobResult(job.index, job.key, job.source, reason="out of memory")
    except Exception as e:  # noqa: BLE001 - one odd image must not stop a million-image run
        log.warning("%s: unexpected %s", job.source, type(e).__name__, exc_info=True)
        return JobResult(job.index, job.key, job.source, reason=f"unexpected {type(e).__name__}: {one_line(e, 300)}")


# ----------------------------------------------------------------------------------
# the dataset: shards, records, manifest, resume
# ----------------------------------------------------------------------------------


@dataclass
class SynthReport:
    """Summary of a :func:`synth_dataset` run.

    Attributes:
        manifest: the manifest as written.
        made: samples made in this run; failed: inputs that failed in this run.
        skipped_shards: shards found complete and kept.
        wall_s: wall time, seconds; samples_per_s: ``(made + failed) / wall_s`` of
            the synthesis stage.
    """

    manifest: dict[str, Any]
    made: int = 0
    failed: int = 0
    skipped_shards: int = 0
    wall_s: float = 0.0
    samples_per_s: float = 0.0
    path: Path = field(default_factory=Path)


def _shard_name(j: int) -> str:
    return f"shard-{j:06d}"


def _source_id(src: str) -> list[Any]:
    """What identifies an input for resuming: the path as given and its size."""
    if src.startswith("procedural:"):
        return [src, None]
    try:
        return [src, os.stat(src).st_size]
    except OSError:
        return [src, None]


def _shard_complete(out: Path, j: int, fp: dict[str, Any], sources: list[list[Any]]) -> dict[str, Any] | None:
    """The shard's record if its tar is complete for these settings and inputs."""
    rec_path = out / f"{_shard_name(j)}.json"
    tar = out / f"{_shard_name(j)}.tar"
    if not rec_path.exists() or not tar.exists():
        return None
    try:
        rec = json.loads(rec_path.read_text())
    except (OSError, ValueError):
        return None
    if rec.get("settings") != fp or rec.get("sources") != sources:
        return None
    if tar.stat().st_size != rec.get("bytes") or file_sha256(tar) != rec.get("sha256"):
        log.warning("%s: checksum differs from its record; making it again", tar)
        return None
    return rec


def _check_previous(out: Path, fp: dict[str, Any], overwrite: bool) -> None:
    """Refuse to mix samples of other settings into a dataset folder."""
    mf = out / MANIFEST
    prev = None
    if mf.exists():
        try:
            prev = json.loads(mf.read_text()).get("settings")
        except (OSError, ValueError, AttributeError):
            prev = None
    if prev is None:
        for rec_path in sorted(out.glob("shard-*.json"))[:1]:
            with contextlib.suppress(OSError, ValueError, AttributeError):
                prev = json.loads(rec_path.read_text()).get("settings")
    if prev is not None and prev != fp and not overwrite:
        diff = [f"{k} {prev.get(k)!r} -> {fp.get(k)!r}" for k in fp if prev.get(k) != fp.get(k)]
        raise SettingsError(f"{out} holds a dataset made with other settings ({', '.join(diff)[:160]}); use another folder or --overwrite")


def _clean_stale(out: Path, n_shards: int) -> None:
    """Remove temp files of an interrupted run and, after a change of inputs or
    settings, shards beyond the new count."""
    for p in out.glob(".shard-*"):
        with contextlib.suppress(OSError):
            p.unlink()
    for p in out.glob(f".{MANIFEST}.*"):
        with contextlib.suppress(OSError):
            p.unlink()
    for p in out.glob("shard-*"):
        m = _SHARD_RE.match(p.name)
        if m and int(m.group(1)) >= n_shards:
            log.info("%s: beyond the %d shards of this dataset; removed", p, n_shards)
            p.unlink()


def _fill_shard(
    writer: Any,
    jobs: Sequence[SampleJob],
    results: Iterator[JobResult],
    keys: list[str],
    failures: list[dict[str, str]],
    previews: Path | None,
    advance: Callable[[int], None],
) -> None:
    """Write the next ``len(jobs)`` results into ``writer``; note keys and failures."""
    for job in jobs:
        res = next(results)
        if res.index != job.index:  # pragma: no cover - engines keep order
            raise RuntimeError(f"engine returned sample {res.index} for {job.index}")
        if res.members is None:
            failures.append({"key": res.key, "source": res.source, "reason": res.reason or "unknown"})
            log.info("skipped %s: %s", res.source, res.reason)
        else:
            writer.write(res.members)
            keys.append(res.key)
            if previews is not None and res.preview is not None:
                atomic_write_bytes(previews / f"{res.key}.png", res.preview)
        advance(1)


def _write_shard(
    out: Path,
    j: int,
    jobs: Sequence[SampleJob],
    results: Iterator[JobResult],
    fp: dict[str, Any],
    previews: Path | None,
    advance: Callable[[int], None],
) -> dict[str, Any]:
    """Write shard ``j`` from the next ``len(jobs)`` results, atomically, and its record."""
    import webdataset as wds

    name = _shard_name(j)
    tar = out / f"{name}.tar"
    keys: list[str] = []
    failures: list[dict[str, str]] = []
    with atomic_path(tar) as tmp:
        with open(tmp, "wb") as f:
            writer = wds.TarWriter(f, encoder=False, mtime=_TAR_MTIME, user="animatepainter", group="animatepainter", mode=0o444)
            try:
                _fill_shard(writer, jobs, results, keys, failures, previews, advance)
            finally:
                writer.close()  # also on errors: the temp file is then dropped whole
            f.flush()
            os.fsync(f.fileno())
        size = tmp.stat().st_size
        digest = file_sha256(tmp)
    rec = {
        "name": f"{name}.tar",
        "samples": len(keys),
        "bytes": size,
        "sha256": digest,
        "keys": keys,
        "failures": failures,
        "sources": [_source_id(jb.source) for jb in jobs],
        "settings": fp,
    }
    atomic_write_bytes(out / f"{name}.json", (json.dumps(rec, indent=1, sort_keys=True) + "\n").encode())
    return rec


def _previews_from_shard(out: Path, rec: dict[str, Any], previews: Path) -> None:
    """Write missing previews of a kept shard from its stored samples."""
    import webdataset as wds

    from animatepainter.model.data.dataset import _png

    if all((previews / f"{k}.png").exists() for k in rec["keys"]):
        return
    for raw in wds.tarfile_to_samples()(iter([{"url": str(out / rec["name"])}])):
        s = decode_sample(raw)
        if not (previews / f"{s['key']}.png").exists():
            atomic_write_bytes(previews / f"{s['key']}.png", _png(preview_sheet(s)))


def synth_dataset(
    inputs: Sequence[str | Path],
    out: str | Path,
    settings: SynthSettings = SynthSettings(),
    *,
    procedural: int = 0,
    engine: str = "local",
    workers: int | None = None,
    ray_address: str | None = None,
    preview: bool = False,
    overwrite: bool = False,
    progress: Progress = NULL_PROGRESS,
) -> SynthReport:
    """Synthesise a painting-process dataset (see the module docstring).

    Args:
        inputs: image files, folders and glob patterns (see :func:`expand_inputs`).
        out: dataset folder (created); resumed if it holds a run with the same
            settings.
        settings: per-sample settings (checked before any work).
        procedural: number of procedural scenes (exact depth) added after the inputs.
        engine: ``"local"`` or ``"ray"``.
        workers: worker processes (local) or concurrent Ray tasks; default: CPU count
            (local, or a new local Ray instance) or the cluster's CPUs.
        ray_address: Ray cluster to join (``HOST:PORT``, ``ray://HOST:PORT``,
            ``auto``); default: start a local Ray instance.
        preview: also write ``previews/<key>.png`` contact sheets.
        overwrite: allow replacing a dataset made with other settings.
        progress: progress display (a ``synth`` stage counting samples).

    Returns:
        :class:`SynthReport`.

    Raises:
        SettingsError: invalid settings, no inputs, other settings in ``out``, or Ray
            unreachable.
        OutputError: ``out`` cannot be written.
    """
    from animatepainter.planner import __version__

    settings.check()
    if workers is not None and workers < 1:
        raise SettingsError(f"workers must be >= 1, got {workers}", "workers")
    eng = make_engine(engine, workers, ray_address)
    if engine == "ray" and ray_address:
        check_ray_address(ray_address)  # before any work, not minutes into the run
    out = Path(out)
    check_writable_dir(out)
    files = expand_inputs(inputs)
    jobs = make_jobs(files, procedural, settings.seed)
    if not jobs:
        raise SettingsError("no input images (give image files, folders or glob patterns, or --procedural N)")
    fp = settings.fingerprint()
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise OutputError(f"{out}: cannot create ({e.strerror})") from None
    _check_previous(out, fp, overwrite)
    n_shards = math.ceil(len(jobs) / settings.shard_size)
    _clean_stale(out, n_shards)
    previews = out / "previews" if preview else None
    if previews is not None:
        previews.mkdir(exist_ok=True)

    shards = [jobs[j * settings.shard_size : (j + 1) * settings.shard_size] for j in range(n_shards)]
    records: dict[int, dict[str, Any]] = {}
    with progress.stage("check shards", n_shards) as st:
        for j, sj in enumerate(shards):
            rec = _shard_complete(out, j, fp, [_source_id(jb.source) for jb in sj])
            if rec is not None:
                records[j] = rec
                if previews is not None:
                    _previews_from_shard(out, rec, previews)
            st.advance(1)
    todo = [j for j in range(n_shards) if j not in records]
    if records:
        log.info("%s: %d of %d shards already complete; kept", out, len(records), n_shards)
    report = SynthReport(manifest={}, skipped_shards=len(records), path=out)
    todo_jobs = [jb for j in todo for jb in shards[j]]
    t0 = time.perf_counter()
    if todo_jobs:
        with eng, progress.stage("synth", len(todo_jobs)) as st:
            results = eng.imap(run_job, todo_jobs, settings, preview)
            try:
                for j in todo:
                    rec = _write_shard(out, j, shards[j], results, fp, previews, st.advance)
                    records[j] = rec
                    report.made += rec["samples"]
                    report.failed += len(rec["failures"])
            finally:
                close = getattr(results, "close", None)
                if close is not None:
                    close()
    report.wall_s = time.perf_counter() - t0
    report.samples_per_s = (report.made + report.failed) / report.wall_s if todo_jobs and report.wall_s > 0 else 0.0

    ordered = [records[j] for j in range(n_shards)]
    failures = [f for r in ordered for f in r["failures"]]
    manifest = {
        "format": FORMAT,
        "version": __version__,
        "settings": fp,
        "inputs": len(jobs),
        "samples": sum(r["samples"] for r in ordered),
        "failed": len(failures),
        "shards": [{"name": r["name"], "samples": r["samples"], "bytes": r["bytes"], "sha256": r["sha256"]} for r in ordered],
        "failures": failures,
    }
    atomic_write_bytes(out / MANIFEST, (json.dumps(manifest, indent=1) + "\n").encode())
    report.manifest = manifest
    if todo_jobs:
        log.info(
            "%d samples made, %d failed, in %.1f s (%.2f samples/s) with %s",
            report.made,
            report.failed,
            report.wall_s,
            report.samples_per_s,
            eng.name,
        )
    return report
