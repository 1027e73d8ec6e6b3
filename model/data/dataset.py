"""The synthetic painting-process dataset: its on-disk format and a streaming reader.

``animatepainter synth`` (see :mod:`.synth`) writes a folder::

    DATASET/
      manifest.json          counts, settings, shards with SHA-256, failed inputs + reasons
      shard-000000.tar       WebDataset tar shards (samples in key order)
      shard-000000.json      per-shard record (checksum, keys, failures) used to resume
      previews/<key>.png     contact sheets, with --preview

Each sample is a group of tar members ``<key>.<field>`` (the WebDataset convention: the
key is the member name up to the first dot). Everything is stored as 8-bit (or 16-bit)
PNG or JSON, so a 64x64x8-frame sample takes a few tens of kB:

============== =================================================================
field          content
============== =================================================================
``image.png``  the finished image, RGB 8-bit ``(H, W)``
``depth.png``  depth, 16-bit gray, ``65535`` = nearest
``frames.png`` the ``T`` process frames stacked vertically: RGB ``(T*H, W)``;
               frame 0 is the blank canvas, frame ``T-1`` equals ``image.png``
``masks.png``  change masks stacked vertically, gray ``(T*H, W)``, 255 where frame
               ``t`` differs from frame ``t-1`` (mask 0 is all zero)
``start.png``  gray ``(H, W)``: the frame at which each pixel is first painted
``done.png``   gray ``(H, W)``: the frame from which each pixel shows the image
``strokes.json`` stroke metadata (below)
``meta.json``  settings and provenance of the sample
============== =================================================================

``strokes.json`` holds the teacher's strokes in painting order, column-wise:
``frame`` (the frame 1..T-1 that adds the stroke), ``layer`` (depth layer, 0 =
farthest), ``level`` (refinement level, 0 = coarsest), ``width_px`` (brush diameter,
pixels of the sample), ``rgb`` (``[r, g, b]`` 0..255) and ``points_px`` (the polyline,
``[[x, y], ...]`` in pixels of the sample, origin at the top-left corner of the image,
x right, y down).

:class:`DatasetReader` streams samples with the ``webdataset`` package and decodes
them to float32 arrays; :meth:`DatasetReader.torch_dataset` gives a PyTorch
``IterableDataset`` that splits shards across DataLoader workers and across
distributed (Accelerate / torchrun) processes; :func:`collate` batches samples.
"""

from __future__ import annotations

import json
import logging
import os
import random
from pathlib import Path
from typing import Any, Iterator, Sequence

import cv2
import numpy as np

from animatepainter.planner.errors import InputError, OutputError, one_line

log = logging.getLogger(__name__)

__all__ = [
    "FORMAT",
    "MANIFEST",
    "TENSOR_FIELDS",
    "encode_sample",
    "decode_sample",
    "read_manifest",
    "DatasetReader",
    "collate",
]

#: ``format`` of ``manifest.json``
FORMAT = "animatepainter.synth/1"
#: manifest file name inside a dataset folder
MANIFEST = "manifest.json"
#: sample fields that are arrays (stacked by :func:`collate`)
TENSOR_FIELDS = ("image", "depth", "frames", "masks", "start", "done")
#: tar members of one sample, without the key
MEMBERS = ("image.png", "depth.png", "frames.png", "masks.png", "start.png", "done.png", "strokes.json", "meta.json")
# PNG zlib level: 3 is ~2x faster to write than 9 and within a few percent of its size
_PNG_LEVEL = 3


def _png(arr: np.ndarray) -> bytes:
    """PNG bytes of uint8/uint16 ``(H, W)`` gray or ``(H, W, 3)`` RGB."""
    a = np.ascontiguousarray(arr)
    if a.ndim == 3:
        a = cv2.cvtColor(a, cv2.COLOR_RGB2BGR)
    ok, buf = cv2.imencode(".png", a, [cv2.IMWRITE_PNG_COMPRESSION, _PNG_LEVEL])
    if not ok:  # pragma: no cover - cv2 only fails on unsupported dtypes
        raise OutputError(f"PNG encoding failed for an array {a.dtype} {a.shape}")
    return buf.tobytes()


def _unpng(data: bytes, what: str) -> np.ndarray:
    a = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    if a is None:
        raise InputError(f"{what}: not a readable PNG")
    if a.ndim == 3:
        a = cv2.cvtColor(a, cv2.COLOR_BGR2RGB)
    return a


def _json(obj: Any) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()


def encode_sample(
    key: str,
    image: np.ndarray,
    depth: np.ndarray,
    frames: np.ndarray,
    masks: np.ndarray,
    start: np.ndarray,
    done: np.ndarray,
    strokes: dict[str, list],
    meta: dict[str, Any],
) -> dict[str, bytes | str]:
    """Encode one sample as WebDataset members (deterministic bytes).

    Args:
        key: sample key (no dots or slashes).
        image: uint8 ``(H, W, 3)`` the finished image.
        depth: float32 ``(H, W)`` in [0, 1], 1 = nearest (stored to 1/65535).
        frames: uint8 ``(T, H, W, 3)`` process frames.
        masks: bool ``(T, H, W)`` change masks.
        start, done: uint8 ``(H, W)`` frame indices (see the module docstring).
        strokes: column-wise stroke metadata (see the module docstring).
        meta: JSON-able settings and provenance.

    Returns:
        ``{"__key__": key, "image.png": bytes, ...}`` for ``webdataset.TarWriter``.
    """
    if "." in key or "/" in key:
        raise ValueError(f"sample key {key!r} must not contain '.' or '/'")
    t, h, w = frames.shape[:3]
    d16 = np.clip(np.rint(np.asarray(depth, np.float64) * 65535.0), 0, 65535).astype(np.uint16)
    return {
        "__key__": key,
        "image.png": _png(image),
        "depth.png": _png(d16),
        "frames.png": _png(frames.reshape(t * h, w, 3)),
        "masks.png": _png(masks.reshape(t * h, w).astype(np.uint8) * np.uint8(255)),
        "start.png": _png(start.astype(np.uint8)),
        "done.png": _png(done.astype(np.uint8)),
        "strokes.json": _json(strokes),
        "meta.json": _json(meta),
    }


def decode_sample(raw: dict[str, Any]) -> dict[str, Any]:
    """Decode the tar members of one sample (as ``webdataset`` groups them).

    Returns:
        dict with ``key`` (str); ``image`` float32 ``(3, H, W)`` in [0, 1]; ``depth``
        float32 ``(1, H, W)`` in [0, 1] (1 = nearest); ``frames`` float32
        ``(T, 3, H, W)`` in [0, 1] (``frames[0]`` blank canvas, ``frames[-1]`` =
        ``image``); ``masks`` float32 ``(T, 1, H, W)`` in {0, 1} (``masks[0]`` zero);
        ``start`` / ``done`` int16 ``(1, H, W)`` frame indices; ``strokes`` dict of
        arrays (``frame``/``layer``/``level`` int32 ``(N,)``, ``width_px`` float32
        ``(N,)``, ``rgb`` uint8 ``(N, 3)``, ``points_px`` list of float32 ``(n_i, 2)``);
        ``meta`` dict.

    Raises:
        InputError: a member is missing or unreadable.
    """
    key = str(raw.get("__key__", "?"))
    where = f"{raw.get('__url__', 'dataset')}: sample {key}"
    missing = [m for m in MEMBERS if m not in raw]
    if missing:
        raise InputError(f"{where}: missing {', '.join(missing)}")
    meta = json.loads(raw["meta.json"])
    st = json.loads(raw["strokes.json"])
    image = _unpng(raw["image.png"], where)
    h, w = image.shape[:2]
    t = int(meta["frames"])
    frames = _unpng(raw["frames.png"], where)
    masks = _unpng(raw["masks.png"], where)
    if frames.shape != (t * h, w, 3) or masks.shape != (t * h, w):
        raise InputError(f"{where}: frames/masks do not hold {t} frames of {w}x{h} px")
    depth = _unpng(raw["depth.png"], where).astype(np.float32) / np.float32(65535.0)
    strokes = {
        "frame": np.asarray(st["frame"], np.int32),
        "layer": np.asarray(st["layer"], np.int32),
        "level": np.asarray(st["level"], np.int32),
        "width_px": np.asarray(st["width_px"], np.float32),
        "rgb": np.asarray(st["rgb"], np.uint8).reshape(-1, 3),
        "points_px": [np.asarray(p, np.float32).reshape(-1, 2) for p in st["points_px"]],
    }
    u8 = np.float32(255.0)  # x / 255 (not x * (1/255)): exactly k/255 rounded once
    return {
        "key": key,
        "image": image.transpose(2, 0, 1).astype(np.float32) / u8,
        "depth": depth[None],
        "frames": frames.reshape(t, h, w, 3).transpose(0, 3, 1, 2).astype(np.float32) / u8,
        "masks": (masks.reshape(t, 1, h, w) > 127).astype(np.float32),
        "start": _unpng(raw["start.png"], where).astype(np.int16)[None],
        "done": _unpng(raw["done.png"], where).astype(np.int16)[None],
        "strokes": strokes,
        "meta": meta,
    }


def read_manifest(path: str | Path) -> dict[str, Any]:
    """Read ``manifest.json`` of a dataset folder (or the file itself).

    Raises:
        InputError: no manifest, unreadable, or not a synth dataset.
    """
    p = Path(path)
    mf = p / MANIFEST if p.is_dir() else p
    if not mf.exists():
        raise InputError(f"{p}: not a synth dataset (no {MANIFEST}; make one with `animatepainter synth`)")
    try:
        m = json.loads(mf.read_text())
    except (OSError, ValueError) as e:
        raise InputError(f"{mf}: unreadable manifest ({one_line(e, 100)})") from None
    if not isinstance(m, dict) or m.get("format") != FORMAT:
        raise InputError(f"{mf}: not an {FORMAT} manifest")
    return m


def _dist_info(rank: int | None, world_size: int | None) -> tuple[int, int]:
    """``(rank, world_size)``: the arguments, else torch.distributed, else the
    ``RANK`` / ``WORLD_SIZE`` environment variables (set by accelerate and torchrun)."""
    if rank is not None and world_size is not None:
        r, n = int(rank), int(world_size)
    else:
        r, n = 0, 1
        try:
            import torch.distributed as dist

            if dist.is_available() and dist.is_initialized():
                r, n = dist.get_rank(), dist.get_world_size()
            else:
                r, n = int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1))
        except ImportError:  # pragma: no cover - torch is a dependency
            r, n = int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1))
    if n < 1 or not 0 <= r < n:
        raise ValueError(f"rank {r} is not in 0..world_size-1 (world_size {n})")
    return r, n


def _to_torch(sample: dict[str, Any]) -> dict[str, Any]:
    import torch

    out = dict(sample)
    for k in TENSOR_FIELDS:
        out[k] = torch.from_numpy(np.ascontiguousarray(sample[k]))
    return out


def _stream(
    urls: Sequence[str],
    *,
    shuffle_buffer: int,
    seed: int,
    epoch: int,
    rank: int,
    world_size: int,
    worker: int,
    num_workers: int,
    tensors: bool,
) -> Iterator[dict[str, Any]]:
    """Samples of this (rank, worker)'s share of the shards, decoded."""
    import webdataset as wds

    urls = list(urls)
    if shuffle_buffer > 0:
        random.Random(seed * 1_000_003 + epoch).shuffle(urls)
    readers = world_size * num_workers
    if len(urls) >= readers:
        # shards are dealt round-robin: first across processes, then across workers
        mine = urls[rank::world_size][worker::num_workers]
        samples: Iterator[dict[str, Any]] = wds.tarfile_to_samples()(iter([{"url": u} for u in mine]))
    else:
        # fewer shards than readers: every reader streams all shards and keeps every
        # readers-th sample (more I/O, but no process or worker is left without data)
        me = rank * num_workers + worker
        every = wds.tarfile_to_samples()(iter([{"url": u} for u in urls]))
        samples = (x for i, x in enumerate(every) if i % readers == me)
    if shuffle_buffer > 0:
        stream_seed = ((seed * 1_000_003 + epoch) * 65_537 + rank) * 257 + worker
        samples = wds.shuffle(shuffle_buffer, initial=shuffle_buffer, seed=stream_seed)(samples)
    for raw in samples:
        s = decode_sample(raw)
        yield _to_torch(s) if tensors else s


_TORCH_CLASSES: dict[str, type] = {}


def _make_torch_shards() -> type:
    """Build the ``IterableDataset`` class on first use, so that importing this module
    (as every synth worker does) does not import torch."""
    from torch.utils.data import IterableDataset, get_worker_info

    class _TorchShards(IterableDataset):
        """A PyTorch ``IterableDataset`` over a dataset's shards (see
        :meth:`DatasetReader.torch_dataset`)."""

        def __init__(self, urls: Sequence[str], shuffle_buffer: int, seed: int, rank: int, world_size: int) -> None:
            super().__init__()
            self.urls = list(urls)
            self.shuffle_buffer = shuffle_buffer
            self.seed = seed
            self.rank = rank
            self.world_size = world_size
            self.epoch = 0

        def set_epoch(self, epoch: int) -> None:
            """Reshuffle differently for ``epoch`` (call before each epoch, as with
            ``DistributedSampler``; no effect without a shuffle buffer)."""
            self.epoch = int(epoch)

        def __iter__(self) -> Iterator[dict[str, Any]]:
            info = get_worker_info()
            worker, num_workers = (info.id, info.num_workers) if info is not None else (0, 1)
            return _stream(
                self.urls,
                shuffle_buffer=self.shuffle_buffer,
                seed=self.seed,
                epoch=self.epoch,
                rank=self.rank,
                world_size=self.world_size,
                worker=worker,
                num_workers=num_workers,
                tensors=True,
            )

    _TorchShards.__module__ = __name__
    _TorchShards.__qualname__ = "_TorchShards"
    return _TorchShards


def __getattr__(name: str) -> Any:
    # PEP 562: ``_TorchShards`` is created lazily but stays a module attribute, so
    # DataLoader workers started with "spawn" can unpickle datasets made from it
    if name == "_TorchShards":
        if name not in _TORCH_CLASSES:
            _TORCH_CLASSES[name] = _make_torch_shards()
        return _TORCH_CLASSES[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def collate(batch: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Batch samples: array fields stacked into tensors with a leading batch axis
    (``image`` float32 ``(B, 3, H, W)``, ``frames`` ``(B, T, 3, H, W)``, ...); ``key``,
    ``strokes`` and ``meta`` become lists. All samples must share ``T``, ``H``, ``W``
    (``synth --aspect crop``, the default, makes them square)."""
    import torch

    if not batch:
        raise ValueError("collate needs at least one sample")
    out: dict[str, Any] = {}
    for k in TENSOR_FIELDS:
        items = [torch.as_tensor(s[k]) for s in batch]
        shapes = {tuple(x.shape) for x in items}
        if len(shapes) > 1:
            raise ValueError(f"cannot batch {k!r} of different shapes {sorted(shapes)}; synthesise with --aspect crop")
        out[k] = torch.stack(items)
    for k in ("key", "strokes", "meta"):
        out[k] = [s[k] for s in batch]
    return out


class DatasetReader:
    """Stream a dataset written by ``animatepainter synth``.

    Iterating yields decoded samples (see :func:`decode_sample` for the fields, shapes
    and dtypes) as NumPy arrays, shard by shard in key order, or shuffled with a
    buffer of ``shuffle_buffer`` samples (shard order shuffled too), reproducibly for
    a given ``seed``.

    Args:
        path: the dataset folder (holding ``manifest.json``).
        shuffle_buffer: samples held for shuffling; 0 keeps the stored order.
        seed: seed of the shuffles.

    Raises:
        InputError: not a dataset folder, or a shard listed in the manifest is missing.
    """

    def __init__(self, path: str | Path, shuffle_buffer: int = 0, seed: int = 0) -> None:
        self.path = Path(path)
        self.manifest = read_manifest(self.path)
        if shuffle_buffer < 0:
            raise ValueError(f"shuffle_buffer must be >= 0, got {shuffle_buffer}")
        self.shuffle_buffer = int(shuffle_buffer)
        self.seed = int(seed)
        self.shards = [self.path / s["name"] for s in self.manifest["shards"]]
        missing = [s.name for s in self.shards if not s.exists()]
        if missing:
            raise InputError(f"{self.path}: shard {missing[0]} listed in the manifest is missing ({len(missing)} missing)")

    def __len__(self) -> int:
        """Number of samples (from the manifest)."""
        return int(self.manifest["samples"])

    @property
    def frames(self) -> int:
        """Frames per sample ``T``."""
        return int(self.manifest["settings"]["frames"])

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return _stream(
            [str(s) for s in self.shards],
            shuffle_buffer=self.shuffle_buffer,
            seed=self.seed,
            epoch=0,
            rank=0,
            world_size=1,
            worker=0,
            num_workers=1,
            tensors=False,
        )

    def torch_dataset(self, rank: int | None = None, world_size: int | None = None):
        """A PyTorch ``IterableDataset`` of this dataset, samples as torch tensors.

        Shards are dealt round-robin to the ``world_size`` processes (``rank`` is this
        one; default: ``torch.distributed`` if initialised, else the ``RANK`` /
        ``WORLD_SIZE`` environment variables that ``accelerate launch`` and ``torchrun``
        set, else a single process), then to the DataLoader workers of each process.
        With fewer shards than ``world_size x num_workers`` readers, every reader
        streams all shards and keeps every n-th sample instead (same split, more
        I/O; make more shards with ``synth --shard-size`` for large runs). Use
        :func:`collate` as the DataLoader's ``collate_fn`` and call ``set_epoch`` on
        the returned dataset before each epoch to reshuffle.

        Returns:
            an ``IterableDataset`` whose items are dicts like :func:`decode_sample`'s
            with the array fields as ``torch.Tensor``.
        """
        r, n = _dist_info(rank, world_size)
        cls = __getattr__("_TorchShards")
        return cls([str(s) for s in self.shards], self.shuffle_buffer, self.seed, r, n)

    #: :func:`collate`, for ``DataLoader(..., collate_fn=reader.collate)``
    collate = staticmethod(collate)
