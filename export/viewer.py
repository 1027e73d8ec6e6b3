"""A self-contained HTML process viewer for teaching: ``animatepainter viewer``.

:func:`build_viewer` writes one HTML file that needs no server and no network:
the page's CSS and JavaScript, the plan's strokes and every image (source, depth
map, the diffuser's frames) are inlined, images as ``data:`` URIs. Opened in any
current browser it shows the painting being built, beside the source image:

* a timeline slider and play/pause over the whole process, stroke by stroke, with
  buttons and keys to jump step by step;
* the strokes are drawn from the plan's vectors on an HTML ``<canvas>`` with the
  package's stroke model (opaque, round caps and joins at the stroke width, colour
  ``Stroke.rgb``), so the last step looks like
  :func:`animatepainter.planner.render.render_plan` with ``region="canvas"``;
* filters that show one depth layer or one refinement level at a time, and a
  reference panel with the source image, the depth map and (when present) the
  diffuser's process frames;
* a caption per step: layer and level, stroke count, paints, and what share of the
  picture is done.

Two display modes:

``vector``  (plans of at most ``max_vector_strokes`` strokes) the strokes are
            embedded as little-endian typed arrays (float32 mm coordinates) and the
            page draws them itself; moving forward draws only the new strokes,
            moving back restarts from a cached snapshot at a step end.
``raster``  (larger plans, e.g. 200k strokes, which a browser cannot redraw while a
            slider is dragged) each step is pre-rendered with the package renderer
            and embedded as a JPEG; the slider moves step by step, stroke-by-stroke
            playback and the layer/level filters are off, and the page says so.

"Share of the picture done" after a step is ``1 - mean|final - now| / mean|final -
blank|`` over the rendered canvas (clipped to ``[0, 1]``): how far the canvas has
come from the blank towards the finished painting. Within a step the page
interpolates by stroke count.
"""

from __future__ import annotations

import base64
import html
import io
import json
import logging
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from animatepainter.planner.atomic import atomic_write_bytes
from animatepainter.planner.errors import InputError, OutputError, PlanError, SettingsError, one_line
from animatepainter.planner.plan import StrokePlan, load_plan
from animatepainter.planner.progress import NULL_PROGRESS, Progress
from animatepainter.planner.render import render_progress, step_ends
from animatepainter.planner.images import file_sha256

log = logging.getLogger(__name__)

__all__ = [
    "DEFAULT_MAX_VECTOR_STROKES",
    "DEFAULT_RASTER_PX",
    "ViewerInputs",
    "ViewerInfo",
    "find_inputs",
    "viewer_data",
    "viewer_html",
    "build_viewer",
]

#: plans with more strokes than this are shown as pre-rendered steps
DEFAULT_MAX_VECTOR_STROKES = 50_000
#: width in pixels of the pre-rendered step images of the raster mode
DEFAULT_RASTER_PX = 960
#: the most step images the raster mode embeds (steps are sampled evenly beyond it)
MAX_RASTER_FRAMES = 121
#: the most diffuser frames embedded (sampled evenly beyond it)
MAX_DIFFUSER_FRAMES = 240
#: long side of the embedded source image / depth map / diffuser frames, px
SOURCE_MAX_PX = 1024
DEPTH_MAX_PX = 768
FRAME_MAX_PX = 384
#: width of the renders the "share done" figures are measured on, px
DONE_SHARE_PX = 192

_TEMPLATE = "viewer_template.html"
_DATA_MARK = "/*__VIEWER_DATA__*/"
_TITLE_MARK = "__VIEWER_TITLE__"


@dataclass
class ViewerInputs:
    """What a viewer is built from (see :func:`find_inputs`).

    Attributes:
        plan: the stroke plan.
        plan_path: where it was read from.
        source: uint8 ``(h, w, 3)`` source image, or ``None`` when not found.
        source_note: why there is no source image, or a remark about it ("" if none).
        depth: uint8 ``(h, w)`` depth map, white = nearest, or ``None``.
        frames: uint8 ``(h, w, 3)`` diffuser process frames in order (may be empty).
        title: page title.
    """

    plan: StrokePlan
    plan_path: Path
    source: np.ndarray | None = None
    source_note: str = ""
    depth: np.ndarray | None = None
    frames: list[np.ndarray] = field(default_factory=list)
    title: str = "AnimatePainter process"


@dataclass(frozen=True)
class ViewerInfo:
    """What :func:`build_viewer` wrote.

    Attributes:
        path: the HTML file.
        mode: ``"vector"`` or ``"raster"``.
        strokes: strokes in the plan.
        steps: process steps in the plan.
        bytes: size of the file.
        has_source, has_depth: whether those images are embedded.
        frames: diffuser frames embedded.
    """

    path: Path
    mode: str
    strokes: int
    steps: int
    bytes: int
    has_source: bool
    has_depth: bool
    frames: int


# -- finding the inputs ---------------------------------------------------------------


def _read_report(folder: Path) -> dict[str, Any]:
    p = folder / "report.json"
    if not p.is_file():
        return {}
    try:
        d = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        log.warning("%s: ignored, not readable JSON (%s)", p, one_line(e, 100))
        return {}
    return d if isinstance(d, dict) else {}


def _load_source(path: Path, plan: StrokePlan, explicit: bool) -> tuple[np.ndarray | None, str]:
    from animatepainter.planner.images import load_image

    try:
        img = load_image(path, background=plan.canvas.background)
    except InputError as e:
        if explicit:
            raise
        log.warning("source image not shown: %s", e)
        return None, f"Source image not available ({e})."
    want = plan.meta.get("source_sha256")
    if isinstance(want, str) and want and file_sha256(path) != want:
        log.warning("%s differs from the image this plan was made from (SHA-256 mismatch)", path)
        return img, f"{path.name} has changed since the plan was made."
    return img, ""


def _load_depth8(path: Path, explicit: bool) -> np.ndarray | None:
    from animatepainter.planner.images import load_depth

    try:
        d = load_depth(path)
    except InputError as e:
        if explicit:
            raise
        log.warning("depth map not shown: %s", e)
        return None
    return np.clip(np.rint(d * 255.0), 0, 255).astype(np.uint8)


def _load_frames(folder: Path) -> list[np.ndarray]:
    from animatepainter.planner.images import load_image

    files = sorted(p for p in folder.glob("*.png") if p.is_file())
    if not files:
        return []
    if len(files) > MAX_DIFFUSER_FRAMES:
        idx = np.unique(np.linspace(0, len(files) - 1, MAX_DIFFUSER_FRAMES).round().astype(int))
        files = [files[i] for i in idx]
    out = []
    for f in files:
        try:
            out.append(_fit(load_image(f), FRAME_MAX_PX))
        except InputError as e:
            log.warning("diffuser frames not shown: %s", e)
            return []
    return out


def find_inputs(
    plan_or_outdir: str | Path,
    source: str | Path | None = None,
    depth: str | Path | None = None,
    frames: str | Path | None = None,
    title: str | None = None,
) -> ViewerInputs:
    """Gather the plan and the images a viewer shows.

    Args:
        plan_or_outdir: a plan file, or the output folder of ``paint`` (its
            ``plan.json`` is read). Beside the plan, ``depth.png``, ``report.json``
            (whose ``"source"`` names the source image) and ``frames/*.png`` (the
            diffuser's process frames) are used when present; anything missing or
            unreadable there is left out with a warning, and the viewer still works.
        source: the source image, overriding ``report.json`` (must be readable).
        depth: a depth map (``.npy`` or grayscale image, white = nearest),
            overriding ``depth.png`` (must be readable).
        frames: a folder of process frames (``*.png``, in name order), overriding
            ``frames/``.
        title: page title; default from the source image's name.

    Raises:
        PlanError: no plan there, or not a valid plan.
        InputError: an explicitly given image is missing or unreadable.
    """
    p = Path(plan_or_outdir)
    if p.is_dir():
        plan_path = p / "plan.json"
        if not plan_path.is_file():
            raise PlanError(f"{p}: folder holds no plan.json (give a plan file or the output folder of 'paint')")
    elif p.exists():
        plan_path = p
    else:
        raise PlanError(f"{p}: no such plan file or folder")
    plan = load_plan(plan_path)
    folder = plan_path.parent
    report = _read_report(folder)

    src_img: np.ndarray | None = None
    note = ""
    src_path: Path | None = None
    if source is not None:
        src_path = Path(source)
        src_img, note = _load_source(src_path, plan, explicit=True)
    else:
        named = report.get("source")
        if isinstance(named, str) and named:
            cands = [Path(named)] if Path(named).is_absolute() else [Path(named), folder / named, folder / Path(named).name]
            src_path = next((c for c in cands if c.is_file()), None)
            if src_path is None:
                log.warning("source image %s (from %s) not found; the viewer shows none", named, folder / "report.json")
                note = f"Source image {Path(named).name} was not found when this viewer was made."
            else:
                src_img, note = _load_source(src_path, plan, explicit=False)
        else:
            note = "No source image was given."

    depth8: np.ndarray | None = None
    if depth is not None:
        depth8 = _load_depth8(Path(depth), explicit=True)
    elif (folder / "depth.png").is_file():
        depth8 = _load_depth8(folder / "depth.png", explicit=False)

    frame_dir = Path(frames) if frames is not None else folder / "frames"
    if frames is not None and not frame_dir.is_dir():
        raise InputError(f"{frame_dir}: no such folder of frames")
    fr = _load_frames(frame_dir) if frame_dir.is_dir() else []
    if frames is not None and not fr:
        raise InputError(f"{frame_dir}: holds no readable *.png frames")

    if title is None:
        named = report.get("source")
        stem = src_path.stem if src_path is not None else (Path(named).stem if isinstance(named, str) and named else (folder.name if plan_path.name == "plan.json" else plan_path.stem))
        title = f"{stem} · AnimatePainter"
    return ViewerInputs(plan, plan_path, src_img, note, depth8, fr, title)


# -- encoding -----------------------------------------------------------------------------


def _fit(img: np.ndarray, max_px: int) -> np.ndarray:
    """Downscale so the long side is at most ``max_px`` (area filter); dtype kept."""
    import cv2

    h, w = img.shape[:2]
    if max(h, w) <= max_px:
        return img
    s = max_px / max(h, w)
    return cv2.resize(img, (max(1, round(w * s)), max(1, round(h * s))), interpolation=cv2.INTER_AREA)


def _data_uri(img: np.ndarray, fmt: str = "JPEG", quality: int = 90) -> str:
    """uint8 ``(h, w)`` or ``(h, w, 3)`` image as a ``data:`` URI (JPEG or PNG)."""
    from PIL import Image

    buf = io.BytesIO()
    im = Image.fromarray(np.ascontiguousarray(img))
    if fmt == "PNG":
        im.save(buf, format="PNG", optimize=True)
        mime = "image/png"
    else:
        im.save(buf, format="JPEG", quality=quality, subsampling=0 if quality >= 90 else 2)
        mime = "image/jpeg"
    return f"data:{mime};base64,{base64.b64encode(buf.getvalue()).decode('ascii')}"


def _b64(arr: np.ndarray, dtype: str) -> str:
    return base64.b64encode(np.ascontiguousarray(arr, dtype=np.dtype(dtype)).tobytes()).decode("ascii")


def _done_shares(frames: Sequence[np.ndarray]) -> list[float]:
    """``1 - mean|final - f| / mean|final - blank|`` per frame (frames[0] blank)."""
    final = frames[-1].astype(np.float32)
    base = float(np.abs(final - frames[0].astype(np.float32)).mean())
    if base <= 1e-9:
        return [1.0 for _ in frames]
    return [float(np.clip(1.0 - np.abs(final - f.astype(np.float32)).mean() / base, 0.0, 1.0)) for f in frames]


def _step_table(plan: StrokePlan) -> list[dict[str, Any]]:
    """Per-step facts for the captions: stroke range, layers, levels, paints used."""
    ends = step_ends(plan)
    out = []
    start = 0
    for k, end in enumerate(ends):
        ss = plan.strokes[start:end]
        paints: dict[int, int] = {}
        for s in ss:
            paints[s.paint] = paints.get(s.paint, 0) + 1
        out.append(
            {
                "start": start,
                "end": end,
                "layers": sorted({s.layer for s in ss}),
                "levels": sorted({s.level for s in ss}),
                "widths": [round(min(s.width_mm for s in ss), 2), round(max(s.width_mm for s in ss), 2)] if ss else [],
                "paints": sorted(paints.items(), key=lambda kv: (-kv[1], kv[0])),
            }
        )
        start = end
    return out


def viewer_data(
    inputs: ViewerInputs,
    max_vector_strokes: int = DEFAULT_MAX_VECTOR_STROKES,
    raster_px: int = DEFAULT_RASTER_PX,
    progress: Progress = NULL_PROGRESS,
) -> dict[str, Any]:
    """The JSON object the page reads (strokes, steps, captions, images).

    Args:
        inputs: plan and images.
        max_vector_strokes: above this many strokes, use the raster mode.
        raster_px: width of the raster mode's step images, px (64..4096).
        progress: progress display (the renders of long plans take seconds).

    Returns:
        a JSON-serialisable dict; ``"mode"`` is ``"vector"`` or ``"raster"``.
    """
    if max_vector_strokes < 0:
        raise SettingsError(f"max_vector_strokes must be 0 or more, got {max_vector_strokes}", "max_vector_strokes")
    if not 64 <= raster_px <= 4096:
        raise SettingsError(f"raster_px must be between 64 and 4096, got {raster_px}", "raster_px")
    plan = inputs.plan
    c = plan.canvas
    n = len(plan.strokes)
    ends = step_ends(plan)
    mode = "vector" if n <= max_vector_strokes else "raster"
    n_layers = 1 + max((s.layer for s in plan.strokes), default=-1)
    n_levels = 1 + max((s.level for s in plan.strokes), default=-1)
    data: dict[str, Any] = {
        "version": 1,
        "mode": mode,
        "title": inputs.title,
        "canvas": {
            "width_mm": c.width_mm,
            "height_mm": c.height_mm,
            "background": list(c.background),
            "image_px": list(c.image_px),
            "image_box_mm": list(c.image_box_mm),
        },
        "n_strokes": n,
        "n_layers": n_layers,
        "n_levels": n_levels,
        "palette": {str(p.id): {"name": p.name, "rgb": list(p.rgb)} for p in plan.palette},
        "brushes_mm": sorted({round(b.width_mm, 2) for b in plan.brushes}, reverse=True),
        "steps": _step_table(plan),
        "engine": plan.meta.get("engine"),
        "source": None,
        "source_note": inputs.source_note,
        "depth": None,
        "frames": [],
        "max_vector_strokes": max_vector_strokes,
    }
    if inputs.source is not None:
        data["source"] = _data_uri(_fit(inputs.source, SOURCE_MAX_PX), "JPEG", 92)
    if inputs.depth is not None:
        data["depth"] = _data_uri(_fit(inputs.depth, DEPTH_MAX_PX), "PNG")
    data["frames"] = [_data_uri(f, "JPEG", 85) for f in inputs.frames]

    if mode == "vector":
        pts = [np.asarray(s.points, np.float64).reshape(-1, 2) for s in plan.strokes]
        counts = np.array([len(p) for p in pts], np.int64)
        off = np.zeros(n + 1, np.int64)
        np.cumsum(counts, out=off[1:])
        allp = np.concatenate(pts) if pts else np.zeros((0, 2))
        data["strokes"] = {
            "points": _b64(allp, "<f4"),
            "offsets": _b64(off, "<u4"),
            "width": _b64(np.array([s.width_mm for s in plan.strokes]), "<f4"),
            "rgb": _b64(np.array([s.rgb for s in plan.strokes], np.int64).reshape(-1), "u1"),
            "layer": _b64(np.array([s.layer for s in plan.strokes]), "<u2"),
            "level": _b64(np.array([s.level for s in plan.strokes]), "<u2"),
            "paint": _b64(np.array([s.paint for s in plan.strokes]), "<u2"),
        }
        with progress.stage("captions", len(ends) + 1) as st:
            shots = []
            for f in render_progress(plan, [0] + ends, DONE_SHARE_PX, region="canvas"):
                shots.append(f)
                st.advance(1)
        data["done"] = [round(v, 4) for v in _done_shares(shots)]
    else:
        # The browser cannot redraw this many strokes while the slider moves, so the
        # steps are rendered here, with the package renderer, once.
        cuts = [0] + ends
        if len(cuts) > MAX_RASTER_FRAMES:
            idx = np.unique(np.linspace(0, len(cuts) - 1, MAX_RASTER_FRAMES).round().astype(int))
            cuts = [cuts[i] for i in idx]
        log.warning(
            "%d strokes is more than the %d the viewer draws smoothly: embedding %d pre-rendered steps (%d px wide)",
            n, max_vector_strokes, len(cuts), raster_px,
        )
        with progress.stage("render steps", len(cuts)) as st:
            shots = []
            for f in render_progress(plan, cuts, raster_px, region="canvas"):
                shots.append(f)
                st.advance(1)
        done = _done_shares(shots)
        data["raster"] = {
            "width_px": raster_px,
            "cuts": cuts,
            "images": [_data_uri(f, "JPEG", 90) for f in shots],
        }
        data["done_at"] = [round(v, 4) for v in done]
        # done share at each step end, from the nearest rendered cut before it
        data["done"] = [0.0] + [round(done[int(np.searchsorted(cuts, e, side="right")) - 1], 4) for e in ends]
    return data


def _template() -> str:
    return resources.files("animatepainter.export").joinpath(_TEMPLATE).read_text(encoding="utf-8")


def viewer_html(data: dict[str, Any]) -> str:
    """The page: the template with ``data`` inlined (``<`` escaped so the JSON cannot
    close its ``<script>`` element)."""
    text = json.dumps(data, separators=(",", ":"), ensure_ascii=True).replace("<", "\\u003c")
    page = _template()
    head, sep1, rest = page.partition(_TITLE_MARK)
    mid, sep2, tail = rest.partition(_DATA_MARK)
    if not (sep1 and sep2):  # pragma: no cover - packaging error
        raise OutputError(f"the viewer template {_TEMPLATE} is damaged (placeholders missing); reinstall animatepainter")
    # split, not str.replace: the title and the data may contain the other marker
    return head + html.escape(str(data.get("title", ""))) + mid + text + tail


def build_viewer(
    plan_or_outdir: str | Path,
    out: str | Path,
    source: str | Path | None = None,
    depth: str | Path | None = None,
    frames: str | Path | None = None,
    title: str | None = None,
    max_vector_strokes: int = DEFAULT_MAX_VECTOR_STROKES,
    raster_px: int = DEFAULT_RASTER_PX,
    progress: Progress = NULL_PROGRESS,
) -> ViewerInfo:
    """Write the self-contained HTML process viewer of a plan (or ``paint`` folder).

    Args:
        plan_or_outdir, source, depth, frames, title: see :func:`find_inputs`.
        out: the HTML file to write (atomically); an existing folder gets
            ``viewer.html`` inside it.
        max_vector_strokes, raster_px, progress: see :func:`viewer_data`.

    Returns:
        what was written.

    Raises:
        PlanError, InputError, SettingsError, OutputError: one-line messages.
    """
    out = Path(out)
    if out.is_dir():
        out = out / "viewer.html"
    if max_vector_strokes < 0:
        raise SettingsError(f"max_vector_strokes must be 0 or more, got {max_vector_strokes}", "max_vector_strokes")
    if not 64 <= raster_px <= 4096:
        raise SettingsError(f"raster_px must be between 64 and 4096, got {raster_px}", "raster_px")
    inputs = find_inputs(plan_or_outdir, source=source, depth=depth, frames=frames, title=title)
    data = viewer_data(inputs, max_vector_strokes=max_vector_strokes, raster_px=raster_px, progress=progress)
    body = viewer_html(data).encode("utf-8")
    try:
        atomic_write_bytes(out, body)
    except OSError as e:
        raise OutputError(f"{out}: cannot write ({e.strerror or e})") from None
    info = ViewerInfo(
        path=out,
        mode=data["mode"],
        strokes=data["n_strokes"],
        steps=len(data["steps"]),
        bytes=len(body),
        has_source=data["source"] is not None,
        has_depth=data["depth"] is not None,
        frames=len(data["frames"]),
    )
    log.info("viewer: %s (%s mode, %d strokes, %.1f MB)", out, info.mode, info.strokes, info.bytes / 1e6)
    return info
