"""A painting lesson: a plan as a printable PDF and print-ready HTML (``animatepainter lesson``).

A lesson is one more view of a :class:`~animatepainter.planner.plan.StrokePlan`, made for a
person at an easel. It has ``plan.n_steps + 1`` pages:

* **a cover**: the picture (the source image, when the plan's output folder names it), the
  finished painting (the package renderer's ``render_plan``), the palette as swatches with
  their names, a plain colour description and, when ``plan.meta["mixing"]`` holds them, the
  mixing recipes ("3 titanium white : 1 ultramarine blue (ΔE 1.8)"; out-of-gamut ones marked),
  and the brushes by size, drawn at true size (scaled down only when they do not fit, and then
  all by the same factor, which is printed);
* **one page per process step** (strokes carry ``step``): the canvas after the step with what
  the step adds in full colour and everything painted before faded (desaturated, lightened)
  and outlined, the canvas after the step in true colour, the paints and brushes the step uses
  (swatches, widths in mm, stroke counts) and one or two plain sentences generated from the
  plan (see :func:`step_sentences`).

Both files come from one :class:`Lesson` (the content, images as JPEG bytes): the PDF is drawn
with reportlab (BSD), with Bitstream Vera, the TrueType family reportlab ships, registered and
embedded (subset) so text is extractable and no base-14 font is used; the HTML is one file with
the same images and fonts inlined as ``data:`` URIs and an ``@page`` rule sized to the paper,
with one ``<section class="page">`` per PDF page. Neither needs a network.

Writing is all-or-nothing: both files are written to temp names beside their destinations and
renamed only when both are complete (:func:`animatepainter.planner.atomic.atomic_path`).
"""

from __future__ import annotations

import base64
import contextlib
import html
import io
import logging
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np

from animatepainter.planner.atomic import atomic_path, check_writable_dir
from animatepainter.planner.colors import hex_rgb
from animatepainter.planner.errors import OutputError, PlanError, SettingsError
from animatepainter.planner.plan import Brush, Paint, StrokePlan
from animatepainter.planner.progress import NULL_PROGRESS, Progress
from animatepainter.planner.render import plan_to_pixels, render_steps, stroke_bbox, stroke_coverage

# the output folder is read the way the viewer reads it; _fit is its area-filter downscale
from animatepainter.export.viewer import _fit, find_inputs

log = logging.getLogger(__name__)

__all__ = [
    "PAPERS",
    "Recipe",
    "PaintUse",
    "BrushUse",
    "StepPage",
    "Lesson",
    "LessonInfo",
    "paper_size",
    "plan_recipes",
    "colour_words",
    "depth_phrase",
    "region_phrase",
    "direction_sentence",
    "step_sentences",
    "build_lesson",
    "lesson_pdf",
    "lesson_html",
    "write_lesson",
]

#: paper name -> (width, height) in PostScript points (1/72 inch), portrait
PAPERS: dict[str, tuple[float, float]] = {"a4": (595.2756, 841.8898), "letter": (612.0, 792.0)}
_CSS_PAPER = {"a4": "A4", "letter": "letter"}
_PT_PER_MM = 72.0 / 25.4
#: page margin, mm (PDF and HTML)
MARGIN_MM = 14.0
#: long side of the step pictures (highlighted view), px: ~140 dpi across an A4 text width
MAIN_PX = 960
#: long side of the "canvas after this step" thumbnails and the cover pictures, px
THUMB_PX = 520
COVER_PX = 900
JPEG_QUALITY = 82
#: a step's strokes shorter than this many brush widths count as dabs
DAB_RATIO = 0.6

_FONT_FILES = {"AP-Vera": "Vera.ttf", "AP-Vera-Bold": "VeraBd.ttf", "AP-Vera-Italic": "VeraIt.ttf", "AP-Vera-BoldItalic": "VeraBI.ttf"}


# -- the content ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Recipe:
    """A mixing recipe of one paint, from ``plan.meta["mixing"]["recipes"]``.

    Attributes:
        paint: the paint id.
        parts: ``(tube name, whole parts)`` in the recipe's order.
        delta_e: CIEDE2000 difference of the predicted mix to the paint, or ``None``.
        in_gamut: False when the tubes cannot reach the paint (this is the closest mix).
        rgb: the colour the recipe predicts, or ``None``.
    """

    paint: int
    parts: tuple[tuple[str, int], ...]
    delta_e: float | None
    in_gamut: bool
    rgb: tuple[int, int, int] | None = None

    def text(self, delta: str = "Δ") -> str:
        """``"3 titanium white : 1 ultramarine blue (ΔE 1.8)"``; ``"(out of gamut, ΔE 7.4)"``
        when the tubes cannot reach the paint (the recipe is then the closest mix)."""
        body = " : ".join(f"{n} {name}" for name, n in self.parts)
        de = f"{delta}E {self.delta_e:.1f}" if self.delta_e is not None else ""
        if not self.in_gamut:
            return f"{body} (out of gamut{', ' + de if de else ''})"
        return f"{body} ({de})" if de else body


@dataclass(frozen=True)
class PaintUse:
    """A paint as a page shows it: the paint, how many strokes use it there, its recipe."""

    paint: Paint
    strokes: int
    words: str
    recipe: Recipe | None = None


@dataclass(frozen=True)
class BrushUse:
    """A brush as a page shows it: the brush and how many strokes use it there."""

    brush: Brush
    strokes: int


@dataclass(frozen=True)
class StepPage:
    """One process step's page.

    Attributes:
        step: the step (0-based, as in the plan; pages say ``step + 1``).
        heading: ``"Step 3 of 24: the far background"``.
        sentences: the generated instructions (:func:`step_sentences`).
        strokes: strokes in the step; ``done``: strokes painted once it is finished.
        paints, brushes: what the step uses, most strokes first / largest first.
        highlight_jpeg: the canvas after the step, this step in colour, the rest faded.
        after_jpeg: the canvas after the step in true colour (smaller).
    """

    step: int
    heading: str
    sentences: list[str]
    strokes: int
    done: int
    paints: list[PaintUse]
    brushes: list[BrushUse]
    highlight_jpeg: bytes
    after_jpeg: bytes


@dataclass
class Lesson:
    """Everything a lesson shows, independent of the paper and the format.

    Attributes:
        title: the picture's name.
        facts: one line of figures (steps, strokes, paints, brushes, canvas size).
        aspect: canvas height / width.
        source_jpeg: the source picture, or ``None``; ``source_note`` says why not.
        finished_jpeg: the finished painting (all strokes).
        palette: every paint, in palette order, with its stroke count and recipe.
        brushes: every brush, largest first, with its stroke count.
        mixing_note: where the recipes come from ("" when the plan has none).
        steps: one page per process step.
        total_strokes: strokes in the plan.
    """

    title: str
    facts: str
    aspect: float
    source_jpeg: bytes | None
    source_note: str
    finished_jpeg: bytes
    palette: list[PaintUse]
    brushes: list[BrushUse]
    mixing_note: str
    steps: list[StepPage] = field(default_factory=list)
    total_strokes: int = 0

    @property
    def pages(self) -> int:
        """Pages of the lesson: the cover and one per step."""
        return 1 + len(self.steps)


@dataclass(frozen=True)
class LessonInfo:
    """What :func:`write_lesson` wrote: paths, page count, sizes in bytes."""

    pdf: Path
    html: Path | None
    pages: int
    steps: int
    paper: str
    pdf_bytes: int
    html_bytes: int
    has_source: bool
    recipes: int


def paper_size(paper: str) -> tuple[float, float]:
    """``(width, height)`` in points of ``"a4"`` or ``"letter"`` (any case).

    Raises:
        SettingsError: another name (field ``paper``).
    """
    key = str(paper).strip().lower()
    if key not in PAPERS:
        raise SettingsError(f"paper must be one of {', '.join(PAPERS)}, got {paper!r}", "paper")
    return PAPERS[key]


# -- recipes ------------------------------------------------------------------------------------


def plan_recipes(plan: StrokePlan) -> tuple[dict[int, Recipe], str]:
    """The mixing recipes in ``plan.meta["mixing"]``, by paint id, and a note on their source.

    The format (written by ``animatepainter mix``) is ``{"tubes": name, "tube_set": [...],
    "model": str, "max_parts": int, "recipes": [{"paint": id, "parts": [[tube, n], ...],
    "rgb": [r, g, b], "delta_e2000": float, "in_gamut": bool}, ...]}``. A plan without it
    has no recipes (``({}, "")``); malformed entries are skipped with a warning, since a
    lesson without a recipe is still a lesson.
    """
    mixing = plan.meta.get("mixing")
    if mixing is None:
        return {}, ""
    if not isinstance(mixing, dict) or not isinstance(mixing.get("recipes"), list):
        log.warning("plan meta.mixing ignored: not an object with a list of recipes")
        return {}, ""
    paint_ids = {p.id for p in plan.palette}
    out: dict[int, Recipe] = {}
    skipped = 0
    for r in mixing["recipes"]:
        rec = _recipe(r, paint_ids)
        if rec is None:
            skipped += 1
        else:
            out[rec.paint] = rec
    if skipped:
        log.warning("plan meta.mixing: %d malformed recipe(s) ignored", skipped)
    tubes = mixing.get("tubes")
    model = mixing.get("model")
    note = ""
    if out:
        note = "Mixing recipes in whole parts"
        if isinstance(tubes, str) and tubes:
            note += f" from the tube set '{tubes}'"
        if isinstance(model, str) and model:
            note += f" (predicted with {model})"
        note += (
            "; ΔE is the CIEDE2000 difference of the mix to the paint (below 2 is hard to see). "
            "In red: out of gamut, the tubes cannot reach the paint and the recipe is the closest mix."
        )
    return out, note


def _recipe(r: Any, paint_ids: set[int]) -> Recipe | None:
    if not isinstance(r, dict):
        return None
    pid, parts = r.get("paint"), r.get("parts")
    if not isinstance(pid, int) or isinstance(pid, bool) or pid not in paint_ids or not isinstance(parts, list) or not parts:
        return None
    clean: list[tuple[str, int]] = []
    for p in parts:
        if not (isinstance(p, (list, tuple)) and len(p) == 2 and isinstance(p[0], str) and isinstance(p[1], int) and not isinstance(p[1], bool) and p[1] > 0):
            return None
        clean.append((p[0], p[1]))
    de = r.get("delta_e2000")
    de = float(de) if isinstance(de, (int, float)) and not isinstance(de, bool) and math.isfinite(de) else None
    rgb = r.get("rgb")
    rgb_t = tuple(int(v) for v in rgb) if isinstance(rgb, (list, tuple)) and len(rgb) == 3 and all(isinstance(v, (int, float)) for v in rgb) else None
    return Recipe(pid, tuple(clean), de, r.get("in_gamut") is not False, rgb_t)  # type: ignore[arg-type]


# -- words ------------------------------------------------------------------------------------------

# Reference hues (CIELAB hue angle of a typical colour of each name). Written by hand: no
# well-kept library names colours the way a painter speaks (CSS-name libraries answer
# "thistle" or "peru"); a lightness / chroma / hue description is enough for a lesson.
_HUE_REFS = {
    "red": (200, 30, 30),
    "orange": (235, 130, 20),
    "yellow": (240, 215, 30),
    "yellow-green": (150, 190, 40),
    "green": (40, 140, 60),
    "blue-green": (20, 140, 140),
    "blue": (40, 90, 200),
    "violet": (110, 60, 180),
    "magenta": (190, 40, 140),
}


def _lab(rgb: Sequence[int]) -> np.ndarray:
    from skimage.color import rgb2lab

    return rgb2lab(np.asarray(rgb, np.float64).reshape(1, 1, 3) / 255.0).reshape(3)


_HUES: dict[str, float] | None = None


def colour_words(rgb: Sequence[int]) -> str:
    """A plain description of a colour: ``"light greyish blue"``, ``"dark brown"``, ``"white"``.

    From CIELAB lightness ``L``, chroma ``C`` and hue: neutrals (``C < 7``) by lightness;
    others by the nearest reference hue, "light" above ``L = 72``, "dark" below 38,
    "greyish" below ``C = 20``; dark oranges and reds are brown, dark yellows olive, light
    reds and magentas pink.
    """
    global _HUES
    if _HUES is None:
        _HUES = {}
        for name, ref in _HUE_REFS.items():
            lab = _lab(ref)
            _HUES[name] = math.degrees(math.atan2(lab[2], lab[1])) % 360.0
    L, a, b = (float(v) for v in _lab(rgb))
    C = math.hypot(a, b)
    if C < 7.0:
        if L > 92:
            return "white"
        if L < 12:
            return "black"
        tone = "light grey" if L > 70 else ("grey" if L > 40 else "dark grey")
        return tone
    h = math.degrees(math.atan2(b, a)) % 360.0
    name = min(_HUES, key=lambda n: min(abs(h - _HUES[n]), 360.0 - abs(h - _HUES[n])))  # type: ignore[index]
    if name in ("orange", "red") and L < 55 and C < 60:
        name = "brown"
    elif name == "yellow" and L < 60:
        name = "olive"
    elif name in ("red", "magenta") and L > 72:
        name = "pink"
    words = []
    if L > 72 and name != "pink":
        words.append("light")
    elif L < 38:
        words.append("dark")
    if C < 20:
        words.append("greyish")
    words.append(name)
    return " ".join(words)


def _n_layers(plan: StrokePlan) -> int:
    top = 1 + max((s.layer for s in plan.strokes), default=0)
    settings = plan.meta.get("settings")
    k = settings.get("layers") if isinstance(settings, dict) else None
    return max(top, k) if isinstance(k, int) and not isinstance(k, bool) and k > 0 else top


def depth_phrase(layer: int, n_layers: int) -> str:
    """Words for depth layer ``layer`` of ``n_layers`` (0 = farthest): ``"the far
    background"``, ``"the middle distance"``, ..., ``"the nearest things"``."""
    if n_layers <= 1:
        return "the whole picture"
    if layer <= 0:
        return "the far background"
    if layer >= n_layers - 1:
        return "the nearest things"
    f = layer / (n_layers - 1)
    if n_layers == 3 or 0.4 <= f <= 0.6:
        return "the middle distance"
    return "the distant middle ground" if f < 0.4 else "the nearer middle ground"


def _weighted_points(strokes: Sequence[Any], step_mm: float) -> tuple[np.ndarray, np.ndarray]:
    """Points standing for the painted area of ``strokes``: every segment cut into pieces
    of at most ``step_mm``, each piece's midpoint weighted by its length x the stroke
    width, and each stroke's end points by the area of a round cap (mm, mm^2)."""
    pts, wts = [], []
    for s in strokes:
        p = np.asarray(s.points, np.float64).reshape(-1, 2)
        w = float(s.width_mm)
        cap = math.pi * w * w / 8.0
        pts.append(p[[0, -1]])
        wts.append(np.array([cap, cap]))
        if len(p) > 1:
            a, d = p[:-1], np.diff(p, axis=0)
            seg = np.linalg.norm(d, axis=1)
            n = np.maximum(1, np.ceil(seg / step_mm)).astype(np.int64)
            idx = np.repeat(np.arange(len(seg)), n)
            k = np.arange(len(idx)) - np.repeat(np.cumsum(n) - n, n)  # piece number in its segment
            t = (k + 0.5) / n[idx]
            pts.append(a[idx] + t[:, None] * d[idx])
            wts.append((seg / n)[idx] * w)
    return np.concatenate(pts), np.concatenate(wts)


def _wquantile(v: np.ndarray, w: np.ndarray, q: Sequence[float]) -> np.ndarray:
    order = np.argsort(v, kind="stable")
    cw = np.cumsum(w[order])
    cw /= cw[-1]
    return v[order][np.minimum(np.searchsorted(cw, np.asarray(q)), len(v) - 1)]


def region_phrase(strokes: Sequence[Any], width_mm: float, height_mm: float) -> str:
    """Where on the canvas ``strokes`` lie: ``"all over the picture"``, ``"across the top"``,
    ``"down the left side"``, ``"in the top-left"``, ``"in the centre"``, ...

    From the painted area's weighted centre (thirds of the canvas) and the span of its
    10 %..90 % weighted quantiles: a span over 65 % of the width (height) is a band across
    (down) the picture.
    """
    if not strokes:
        return ""
    p, w = _weighted_points(strokes, math.hypot(width_mm, height_mm) / 60.0)
    if w.sum() <= 0:
        w = np.ones_like(w)
    cx = float(np.average(p[:, 0], weights=w)) / width_mm
    cy = float(np.average(p[:, 1], weights=w)) / height_mm
    qx = _wquantile(p[:, 0], w, (0.1, 0.9)) / width_mm
    qy = _wquantile(p[:, 1], w, (0.1, 0.9)) / height_mm
    wide, tall = qx[1] - qx[0] > 0.65, qy[1] - qy[0] > 0.65
    col = 0 if cx < 1 / 3 else (1 if cx < 2 / 3 else 2)
    row = 0 if cy < 1 / 3 else (1 if cy < 2 / 3 else 2)
    if wide and tall:
        return "all over the picture"
    if wide:
        return ("across the top", "across the middle", "along the bottom")[row]
    if tall:
        return ("down the left side", "down the middle", "down the right side")[col]
    return (
        ("in the top-left", "at the top centre", "in the top-right"),
        ("on the left", "in the centre", "on the right"),
        ("in the bottom-left", "at the bottom centre", "in the bottom-right"),
    )[row][col]


def _orientation(strokes: Sequence[Any]) -> tuple[float, float, float]:
    """``(mean angle in degrees, -90..90 with y down; coherence 0..1; share of dabs)``.

    Angles are axial (a stroke drawn left or right runs the same way), so they are
    averaged as doubled angles weighted by segment length; the coherence is the length of
    that mean (1 = all parallel, 0 = every direction).
    """
    z, total, dabs = 0j, 0.0, 0
    for s in strokes:
        p = np.asarray(s.points, np.float64).reshape(-1, 2)
        if s.length_mm < DAB_RATIO * s.width_mm:
            dabs += 1
        if len(p) < 2:
            continue
        d = np.diff(p, axis=0)
        seg = np.hypot(d[:, 0], d[:, 1])
        z += complex((seg * np.exp(2j * np.arctan2(d[:, 1], d[:, 0]))).sum())
        total += float(seg.sum())
    if total <= 0:
        return 0.0, 0.0, 1.0 if strokes else 0.0
    z /= total
    return math.degrees(np.angle(z) / 2.0), abs(z), dabs / len(strokes)


def direction_sentence(strokes: Sequence[Any]) -> str:
    """How the strokes run, from their mean orientation and its spread: ``"Most strokes run
    horizontally."``, ``"... roughly vertically, bending to follow the forms."``, ``"The
    strokes follow the forms, in many directions."`` or ``"Use short dabs ..."``."""
    if not strokes:
        return ""
    ang, coh, dabs = _orientation(strokes)
    if dabs >= 0.6:
        return "Use one short dab." if len(strokes) == 1 else "Use short dabs rather than long strokes."
    a = abs(ang)
    if a < 22.5:
        way = "horizontally"
    elif a > 67.5:
        way = "vertically"
    elif ang > 0:  # y points down: positive angles go right and down
        way = "diagonally, from upper left to lower right"
    else:
        way = "diagonally, from lower left to upper right"
    if coh >= 0.6:
        return f"Most strokes run {way}."
    if coh >= 0.3:
        return f"The strokes run roughly {way}, bending to follow the forms."
    return "The strokes follow the forms, in many directions."


def _size_word(brush_id: int, brushes: Sequence[Brush]) -> str:
    ws = sorted({b.width_mm for b in brushes})
    if len(ws) <= 1:
        return ""
    w = next(b.width_mm for b in brushes if b.id == brush_id)
    r = ws.index(w) / (len(ws) - 1)
    return "large" if r >= 2 / 3 else ("fine" if r <= 1 / 3 else "medium")


def _mm(w: float) -> str:
    return f"{w:.1f}" if w < 10 else f"{w:.0f}"


def step_sentences(plan: StrokePlan, step: int) -> list[str]:
    """One or two plain sentences for process step ``step`` (0-based), generated from the plan.

    The first says what to paint, where and with what: the verb ("Block in" for the first
    step that touches a depth layer, then "Build up" / "Refine" / "Add details to" by brush
    size), the depth layer (:func:`depth_phrase`; layers with at least a quarter of the
    step's strokes), the part of the picture (:func:`region_phrase`) and the brush (the one
    that paints most of the step's area, "mostly" when the others paint over a tenth of it:
    "large" / "medium" / "fine" by its rank among the plan's brushes, and its width).
    The second says how the strokes run (:func:`direction_sentence`).
    """
    ss = [s for s in plan.strokes if s.step == step]
    if not ss:
        return ["Nothing new is painted in this step: let the paint settle and compare the canvas with the picture."]
    k = _n_layers(plan)
    counts: dict[int, int] = {}
    for s in ss:
        counts[s.layer] = counts.get(s.layer, 0) + 1
    main_layers = sorted(l for l, n in counts.items() if n >= 0.25 * len(ss)) or [max(counts, key=counts.get)]  # type: ignore[arg-type]
    phrases: list[str] = []
    for l in main_layers:
        ph = depth_phrase(l, k)
        if ph not in phrases:
            phrases.append(ph)
    where = " and ".join(phrases)
    earlier = {s.layer for s in plan.strokes if s.step < step}
    by_brush: dict[int, float] = {}  # painted area, mm^2
    for s in ss:
        by_brush[s.brush] = by_brush.get(s.brush, 0.0) + s.length_mm * s.width_mm + math.pi * s.width_mm**2 / 4.0
    brush_id = max(sorted(by_brush), key=lambda b: by_brush[b])
    brush = next(b for b in plan.brushes if b.id == brush_id)
    size = _size_word(brush_id, plan.brushes)
    several = by_brush[brush_id] < 0.9 * sum(by_brush.values())
    if not set(main_layers) <= earlier:
        verb = "Block in"
    else:
        verb = {"large": "Build up", "medium": "Refine", "fine": "Add details to"}.get(size, "Refine")
    region = region_phrase(ss, plan.canvas.width_mm, plan.canvas.height_mm)
    tool = ("mostly with " if several else "with ") + (f"a {size} brush" if size else "the brush")
    tool += f" ({_mm(brush.width_mm)}\u00a0mm)"  # no line break inside "9.4 mm"
    sentences = [f"{verb} {where} {region}, {tool}."]
    d = direction_sentence(ss)
    if d:
        sentences.append(d)
    return sentences


# -- images ---------------------------------------------------------------------------------------


def _jpeg(img: np.ndarray, quality: int = JPEG_QUALITY) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(img)).save(buf, format="JPEG", quality=quality, optimize=True)
    return buf.getvalue()


def _step_masks(plan: StrokePlan, width_px: int) -> Iterator[np.ndarray]:
    """Coverage of each step's own strokes, step by step: float32 ``(H, W)`` in [0, 1]
    (one at a time, so memory does not grow with the number of steps)."""
    (h, w), px = plan_to_pixels(plan, width_px, region="canvas")
    by_step: list[list[int]] = [[] for _ in range(plan.n_steps)]
    for i, st in enumerate(plan.strokes):
        by_step[st.step].append(i)
    for idx in by_step:
        mask = np.zeros((h, w), np.float32)
        for i in idx:
            ps = px[i]
            box = stroke_bbox(ps.points, ps.width, (h, w))
            y0, y1, x0, x1 = box
            if y1 > y0 and x1 > x0:
                m = mask[y0:y1, x0:x1]
                np.maximum(m, stroke_coverage(ps.points, ps.width, box), out=m)
        yield mask


def _highlight(after: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """``after`` with the pixels outside ``mask`` faded (grey, lightened) and the mask's
    edge outlined: uint8 ``(H, W, 3)``."""
    import cv2

    a = after.astype(np.float32)
    grey = a @ np.array([0.299, 0.587, 0.114], np.float32)
    muted = 0.3 * a + 0.7 * grey[..., None]
    faded = 255.0 - (255.0 - muted) * 0.42
    m = mask[..., None]
    out = a * m + faded * (1.0 - m)
    solid = (mask > 0.5).astype(np.uint8)
    if solid.any():
        k = max(3, int(round(min(mask.shape) / 300)) * 2 + 1)
        edge = cv2.morphologyEx(solid, cv2.MORPH_GRADIENT, np.ones((k, k), np.uint8)) > 0
        edge &= solid == 0
        out[edge] = out[edge] * 0.25 + np.array([214.0, 40.0, 120.0], np.float32) * 0.75
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def _long_to_width(plan: StrokePlan, long_px: int) -> int:
    c = plan.canvas
    return long_px if c.width_mm >= c.height_mm else max(16, int(round(long_px * c.width_mm / c.height_mm)))


# -- building ---------------------------------------------------------------------------------------


def _uses(plan: StrokePlan, strokes: Sequence[Any], recipes: dict[int, Recipe], words: dict[int, str]) -> tuple[list[PaintUse], list[BrushUse]]:
    pc: dict[int, int] = {}
    bc: dict[int, int] = {}
    for s in strokes:
        pc[s.paint] = pc.get(s.paint, 0) + 1
        bc[s.brush] = bc.get(s.brush, 0) + 1
    paints = {p.id: p for p in plan.palette}
    brushes = {b.id: b for b in plan.brushes}
    pu = [PaintUse(paints[i], n, words[i], recipes.get(i)) for i, n in sorted(pc.items(), key=lambda kv: (-kv[1], kv[0]))]
    bu = [BrushUse(brushes[i], n) for i, n in sorted(bc.items(), key=lambda kv: (-brushes[kv[0]].width_mm, kv[0]))]
    return pu, bu


def build_lesson(
    plan: StrokePlan,
    source: np.ndarray | None = None,
    source_note: str = "",
    title: str = "Painting lesson",
    progress: Progress = NULL_PROGRESS,
) -> Lesson:
    """The content of a lesson of ``plan``.

    Args:
        plan: the plan (at least one stroke).
        source: uint8 ``(h, w, 3)`` source image to show on the cover, or ``None``.
        source_note: what the cover says when there is no source image.
        title: the picture's name.
        progress: progress display (one render of the plan per step).

    Raises:
        PlanError: the plan has no strokes.
    """
    if not plan.strokes or plan.n_steps < 1:
        raise PlanError("the plan has no strokes (no process steps): nothing to teach")
    recipes, mixing_note = plan_recipes(plan)
    words = {p.id: colour_words(p.rgb) for p in plan.palette}
    c = plan.canvas
    n_steps = plan.n_steps
    all_p, all_b = _uses(plan, plan.strokes, recipes, words)
    used = {u.paint.id: u for u in all_p}
    palette = [used.get(p.id, PaintUse(p, 0, words[p.id], recipes.get(p.id))) for p in plan.palette]
    bused = {u.brush.id: u for u in all_b}
    brushes = [bused.get(b.id, BrushUse(b, 0)) for b in sorted(plan.brushes, key=lambda b: (-b.width_mm, b.id))]
    facts = (
        f"{n_steps} steps · {len(plan.strokes)} strokes · {len(plan.palette)} paints · {len(plan.brushes)} brushes · "
        f"canvas {_mm(c.width_mm)} × {_mm(c.height_mm)} mm"
    )
    width_px = _long_to_width(plan, MAIN_PX)
    masks = _step_masks(plan, width_px)
    by_step: list[list[Any]] = [[] for _ in range(n_steps)]
    for s in plan.strokes:
        by_step[s.step].append(s)
    pages: list[StepPage] = []
    done = 0
    final: np.ndarray | None = None
    with progress.stage("lesson pages", n_steps) as st:
        for (k, after), mask in zip(render_steps(plan, width_px, region="canvas", include_blank=False), masks):
            ss = by_step[k]
            done += len(ss)
            pu, bu = _uses(plan, ss, recipes, words)
            pages.append(
                StepPage(
                    step=k,
                    heading=f"Step {k + 1} of {n_steps}",
                    sentences=step_sentences(plan, k),
                    strokes=len(ss),
                    done=done,
                    paints=pu,
                    brushes=bu,
                    highlight_jpeg=_jpeg(_highlight(after, mask)),
                    after_jpeg=_jpeg(_fit(after, THUMB_PX)),
                )
            )
            final = after
            st.advance(1)
    assert final is not None
    return Lesson(
        title=title,
        facts=facts,
        aspect=c.height_mm / c.width_mm,
        source_jpeg=_jpeg(_fit(source, COVER_PX), 88) if source is not None else None,
        source_note="" if source is not None else (source_note or _NO_SOURCE),
        finished_jpeg=_jpeg(_fit(final, COVER_PX), 88),
        palette=palette,
        brushes=brushes,
        mixing_note=mixing_note,
        steps=pages,
        total_strokes=len(plan.strokes),
    )


# -- PDF ----------------------------------------------------------------------------------------------


def _register_fonts() -> None:
    """Register Bitstream Vera (shipped in reportlab's package) as embeddable TrueType fonts."""
    import reportlab
    from reportlab.lib.fonts import addMapping
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont

    if "AP-Vera" in pdfmetrics.getRegisteredFontNames():
        return
    folder = Path(reportlab.__file__).parent / "fonts"
    for name, file in _FONT_FILES.items():
        pdfmetrics.registerFont(TTFont(name, str(folder / file)))
    for bold in (0, 1):
        for italic in (0, 1):
            addMapping("AP-Vera", bold, italic, ("AP-Vera", "AP-Vera-Bold", "AP-Vera-Italic", "AP-Vera-BoldItalic")[bold + 2 * italic])


def _pdf_text(s: str) -> str:
    # Bitstream Vera has U+2206 INCREMENT but not U+0394 GREEK CAPITAL DELTA
    return s.replace("Δ", "∆")


class _Page:
    """Drawing helpers on one reportlab canvas, with ``y`` measured down from the page top (pt)."""

    def __init__(self, c: Any, size: tuple[float, float]):
        self.c = c
        self.W, self.H = size
        self.m = MARGIN_MM * _PT_PER_MM
        self.cw = self.W - 2 * self.m

    def text(self, x: float, y: float, s: str, size: float = 10, font: str = "AP-Vera", color: Sequence[float] = (0.1, 0.1, 0.1), align: str = "left") -> None:
        c = self.c
        c.setFillColorRGB(*color)
        c.setFont(font, size)
        s = _pdf_text(s)
        if align == "right":
            c.drawRightString(x, self.H - y - size, s)
        elif align == "centre":
            c.drawCentredString(x, self.H - y - size, s)
        else:
            c.drawString(x, self.H - y - size, s)

    def para(self, x: float, y: float, width: float, s: str, size: float = 10, leading: float | None = None, font: str = "AP-Vera", color: Sequence[float] = (0.1, 0.1, 0.1)) -> float:
        """Draw wrapped text (``s`` is escaped here); returns its height, pt."""
        from reportlab.lib.colors import Color
        from reportlab.lib.styles import ParagraphStyle
        from reportlab.platypus import Paragraph

        st = ParagraphStyle("p", fontName=font, fontSize=size, leading=leading or size * 1.3, textColor=Color(*color))
        p = Paragraph(html.escape(_pdf_text(s)), st)
        _, h = p.wrap(width, self.H)
        p.drawOn(self.c, x, self.H - y - h)
        return h

    def para_height(self, width: float, s: str, size: float = 10, leading: float | None = None) -> float:
        from reportlab.lib.styles import ParagraphStyle
        from reportlab.platypus import Paragraph

        st = ParagraphStyle("p", fontName="AP-Vera", fontSize=size, leading=leading or size * 1.3)
        return Paragraph(html.escape(_pdf_text(s)), st).wrap(width, self.H)[1]

    def image(self, jpeg: bytes, x: float, y: float, bw: float, bh: float, aspect: float, centre: bool = True) -> tuple[float, float, float]:
        """Fit an image of ``aspect`` (h / w) into a box; returns ``(x, w, h)`` drawn, pt."""
        from reportlab.lib.utils import ImageReader

        w = min(bw, bh / aspect)
        h = w * aspect
        x0 = x + (bw - w) / 2 if centre else x
        self.c.drawImage(ImageReader(io.BytesIO(jpeg)), x0, self.H - y - h, w, h)
        self.c.setStrokeColorRGB(0.75, 0.75, 0.75)
        self.c.setLineWidth(0.5)
        self.c.rect(x0, self.H - y - h, w, h, stroke=1, fill=0)
        return x0, w, h

    def swatch(self, x: float, y: float, w: float, h: float, rgb: Sequence[int]) -> None:
        c = self.c
        c.setFillColorRGB(*(v / 255.0 for v in rgb))
        c.setStrokeColorRGB(0.55, 0.55, 0.55)
        c.setLineWidth(0.5)
        c.roundRect(x, self.H - y - h, w, h, min(w, h) * 0.12, stroke=1, fill=1)

    def brush_mark(self, cx: float, y_bottom: float, width: float, shape: str) -> None:
        """The footprint of a brush, ``width`` pt across, standing on ``y_bottom``."""
        c = self.c
        c.setFillColorRGB(0.22, 0.22, 0.25)
        c.setStrokeColorRGB(0.22, 0.22, 0.25)
        if shape == "flat":
            h = max(width * 0.3, 1.0)
            c.rect(cx - width / 2, self.H - y_bottom, width, h, stroke=0, fill=1)
        else:
            c.circle(cx, self.H - y_bottom + width / 2, width / 2, stroke=0, fill=1)

    def footer(self, title: str, page: int, pages: int) -> None:
        self.c.setStrokeColorRGB(0.8, 0.8, 0.8)
        self.c.setLineWidth(0.5)
        yb = self.H - self.m * 0.6
        self.c.line(self.m, self.H - yb + 2, self.W - self.m, self.H - yb + 2)
        self.text(self.m, yb - 6, f"{title} · AnimatePainter lesson", 7.5, color=(0.45, 0.45, 0.45))
        self.text(self.W - self.m, yb - 6, f"page {page} of {pages}", 7.5, color=(0.45, 0.45, 0.45), align="right")


def _row_pt(lines: int) -> float:
    """Height of one paint row of ``lines`` text lines at full size, pt."""
    return 9.0 * lines + 6.0


_SWATCH_PT = 26.0  # swatch width at full size, pt
_COL_GAP_PT = 8.0


def _recipe_units(text: str) -> list[str]:
    """``"3 a : 1 b (ΔE 1.8)"`` -> ``["3 a", ": 1 b", "(ΔE 1.8)"]``: the pieces a recipe
    may be wrapped between."""
    body, paren, tail = text.partition(" (")
    units = body.split(" : ")
    units = units[:1] + [": " + p for p in units[1:]]
    return units + (["(" + tail] if paren else [])


def _recipe_lines(u: PaintUse, width: float, size: float) -> list[str]:
    """The recipe of ``u`` wrapped to ``width`` pt at ``size`` (at most two lines)."""
    from reportlab.lib.utils import simpleSplit
    from reportlab.pdfbase.pdfmetrics import stringWidth

    if u.recipe is None:
        return []
    # wrap between the recipe's parts, not inside "3 titanium white" or "(ΔE 1.8)"
    text = _pdf_text(u.recipe.text())
    units = _recipe_units(text)
    lines: list[str] = []
    for unit in units:
        if lines and stringWidth(lines[-1] + " " + unit, "AP-Vera", size) <= width:
            lines[-1] += " " + unit
        else:
            lines.extend(simpleSplit(unit, "AP-Vera", size, width) or [unit])
    if len(lines) > 2:
        lines = [lines[0], _clip(" ".join(lines[1:]), width, size)]
    return lines


def _paint_lines(uses: Sequence[PaintUse], width: float, cols: int, compact: bool = False) -> int:
    """Text lines per paint row: the name, the description, the recipe's lines (0..2);
    ``compact`` (step pages) puts the stroke count beside the name and leaves the
    description out where a recipe stands."""
    colw = (width - _COL_GAP_PT * (cols - 1)) / cols
    rec = max((len(_recipe_lines(u, colw - _SWATCH_PT - 5.0, 8.0)) for u in uses), default=0)
    return 1 + max(rec, 1) if compact else 2 + rec


def _paint_rows(pg: _Page, uses: Sequence[PaintUse], x: float, y: float, width: float, height: float, cols: int, compact: bool = False) -> float:
    """Paint swatches in ``cols`` columns (filled down, then across) within ``height`` pt.

    Each row: a swatch, the paint's name, its colour in words (and hex, unless the name
    has it) with its stroke count, and its recipe when there is one (wrapped to two
    lines; red when out of gamut); see :func:`_paint_lines` for ``compact``. Rows shrink
    to fit, to 70 % at the least; past that the rest is summed up in one line. Returns
    the height used, pt.
    """
    from reportlab.pdfbase.pdfmetrics import stringWidth

    if not uses:
        return 0.0
    lines = _paint_lines(uses, width, cols, compact)
    row = _row_pt(lines)
    colw = (width - _COL_GAP_PT * (cols - 1)) / cols
    rows = math.ceil(len(uses) / cols)
    scale = max(0.7, min(1.0, height / (rows * row)))
    r = row * scale
    fits = max(1, int(height // r)) * cols
    shown = list(uses)
    rest: list[PaintUse] = []
    if len(shown) > fits:
        shown, rest = shown[: fits - 1], shown[fits - 1 :]
    rows = math.ceil((len(shown) + (1 if rest else 0)) / cols)
    fs = 8.0 * scale
    lead = fs * 1.22
    sw = _SWATCH_PT * scale
    sh = min(r - 5.0 * scale, sw)
    grey = (0.3, 0.3, 0.3)
    for i, u in enumerate(shown):
        cx = x + (i // rows) * (colw + _COL_GAP_PT)
        cy = y + (i % rows) * r
        pg.swatch(cx, cy, sw, sh, u.paint.rgb)
        tx = cx + sw + 5.0 * scale
        tw = colw - sw - 5.0 * scale
        hx = hex_rgb(u.paint.rgb)
        about = u.words if hx in u.paint.name.lower() else f"{u.words} · {hx}"
        count = _plural(u.strokes, "stroke")
        line = 1
        if compact:
            tail = f" · {count}"
            name = _clip(u.paint.name, max(tw - stringWidth(tail, "AP-Vera", fs), tw * 0.5), fs + 0.5, bold=True)
            pg.text(tx, cy, name, fs + 0.5, "AP-Vera-Bold")
            pg.text(tx + stringWidth(name, "AP-Vera-Bold", fs + 0.5), cy + 0.5, _clip(tail, tw - stringWidth(name, "AP-Vera-Bold", fs + 0.5), fs), fs, color=grey)
            if u.recipe is None:
                pg.text(tx, cy + lead, _clip(about, tw, fs), fs, color=grey)
        else:
            pg.text(tx, cy, _clip(u.paint.name, tw, fs + 0.5, bold=True), fs + 0.5, "AP-Vera-Bold")
            pg.text(tx, cy + lead, _clip(f"{about} · {count}", tw, fs), fs, color=grey)
            line = 2
        if u.recipe is not None:
            col = (0.1, 0.35, 0.15) if u.recipe.in_gamut else (0.75, 0.1, 0.1)
            for j, text in enumerate(_recipe_lines(u, tw, fs)[: lines - line]):
                pg.text(tx, cy + (line + j) * lead, text, fs, color=col)
    if rest:
        i = len(shown)
        cx = x + (i // rows) * (colw + _COL_GAP_PT)
        cy = y + (i % rows) * r
        pg.text(cx, cy, f"and {len(rest)} more paints ({_plural(sum(u.strokes for u in rest), 'stroke')})", fs, "AP-Vera-Italic")
    return rows * r


def _clip(s: str, width: float, size: float, bold: bool = False) -> str:
    """``s`` cut with an ellipsis to fit ``width`` pt at ``size``."""
    from reportlab.pdfbase.pdfmetrics import stringWidth

    font = "AP-Vera-Bold" if bold else "AP-Vera"
    s = _pdf_text(s)
    if stringWidth(s, font, size) <= width:
        return s
    while s and stringWidth(s + "…", font, size) > width:
        s = s[:-1]
    return s + "…"


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _brush_labels(b: BrushUse) -> tuple[str, str]:
    return f"{_mm(b.brush.width_mm)} mm", _plural(b.strokes, "stroke")


def _brush_slots(brushes: Sequence[BrushUse], s: float) -> list[float]:
    """Width (pt) each brush mark takes at ``s`` pt per mm: the mark or its labels."""
    from reportlab.pdfbase.pdfmetrics import stringWidth

    out = []
    for b in brushes:
        l1, l2 = _brush_labels(b)
        out.append(max(b.brush.width_mm * s, stringWidth(l1, "AP-Vera-Bold", 7.5), stringWidth(l2, "AP-Vera", 6.5)) + 6.0)
    return out


#: height of the two label lines under the brush marks, pt
_BRUSH_LABELS_PT = 22.0
_BRUSH_ROW_GAP_PT = 6.0


def _brush_rows(brushes: Sequence[BrushUse], s: float, width: float) -> tuple[list[list[tuple[BrushUse, float]]], float]:
    """Brush marks at ``s`` pt per mm packed into rows of ``width`` pt (largest first):
    ``(rows of (brush, slot width), total height in pt)``."""
    rows: list[list[tuple[BrushUse, float]]] = [[]]
    used = 0.0
    for b, slot in zip(brushes, _brush_slots(brushes, s)):
        if rows[-1] and used + slot > width:
            rows.append([])
            used = 0.0
        rows[-1].append((b, slot))
        used += slot
    h = sum(max(b.brush.width_mm for b, _ in r) * s + _BRUSH_LABELS_PT for r in rows) + _BRUSH_ROW_GAP_PT * (len(rows) - 1)
    return rows, h


def _brush_scale(brushes: Sequence[BrushUse], width: float, height: float, most: float = _PT_PER_MM) -> float:
    """pt per mm for the brush marks: ``most`` (true size by default) unless the marks and
    their labels, in rows, do not fit ``width`` x ``height`` pt; then all shrink by one
    factor (the same for every brush, so relative sizes stay true)."""
    if not brushes:
        return most
    s = most
    while s > 0.02 and _brush_rows(brushes, s, width)[1] > height:
        s *= 0.95
    return s


def _draw_brushes(pg: _Page, brushes: Sequence[BrushUse], x: float, y: float, width: float, s: float) -> float:
    """Brush marks at ``s`` pt per mm in rows within ``width`` pt, bottoms aligned in each
    row, each labelled with its width and stroke count; returns the height used, pt."""
    rows, h = _brush_rows(brushes, s, width)
    for r in rows:
        big = max(b.brush.width_mm for b, _ in r) * s
        cx = x
        for b, slot in r:
            l1, l2 = _brush_labels(b)
            pg.brush_mark(cx + slot / 2, y + big, b.brush.width_mm * s, b.brush.shape)
            pg.text(cx + slot / 2, y + big + 4, l1, 7.5, "AP-Vera-Bold", align="centre")
            pg.text(cx + slot / 2, y + big + 13, l2, 6.5, color=(0.35, 0.35, 0.35), align="centre")
            cx += slot
        y += big + _BRUSH_LABELS_PT + _BRUSH_ROW_GAP_PT
    return h


def _brush_heading(pg: _Page, x: float, y: float, width: float, s: float) -> None:
    pg.text(x, y, "Brushes, largest first", 13, "AP-Vera-Bold")
    note = _scale_note(s / _PT_PER_MM, "true size when printed at 100 %: hold your brush against it")
    pg.para(x, y + 17, width, f"({note})", 8, font="AP-Vera-Italic", color=(0.4, 0.4, 0.4))


def _draw_cover(pg: _Page, lesson: Lesson) -> None:
    """The cover: title, the picture and the finished painting, paints, brushes.

    The palette gets the room it needs; the pictures get what is left (between a fifth
    and two fifths of the page). Brushes are drawn at true size where they fit: beside the
    pictures when those leave a third of the width free (portrait canvases), else below
    the palette; otherwise all shrink by one printed factor.
    """
    m, cw = pg.m, pg.cw
    y = m
    pg.text(m, y, f"Painting lesson: {lesson.title}", 20, "AP-Vera-Bold")
    y += 28
    pg.text(m, y, lesson.facts, 9.5, color=(0.3, 0.3, 0.3))
    y += 18
    bottom = pg.H - m - 14
    avail = bottom - y
    cols = 2 if len(lesson.palette) <= 24 else 3
    lines = _paint_lines(lesson.palette, cw, cols)
    note_h = pg.para_height(cw, lesson.mixing_note, 8) + 4 if lesson.mixing_note else 0.0
    pal_need = 18 + note_h + math.ceil(len(lesson.palette) / cols) * _row_pt(lines) + 10
    two = lesson.source_jpeg is not None
    src_note_h = 0.0 if two else pg.para_height(cw, lesson.source_note, 8.5) + 4
    n_pics = 2 if two else 1
    brush_head = 30.0
    # pictures at their natural size, then the brushes beside them if room is left there
    pic_w = (cw - 12) / 2 if two else cw * 0.72
    pic_h = min(pic_w * lesson.aspect, avail * 0.4)
    pic_w = pic_h / lesson.aspect
    side_w = cw - n_pics * pic_w - 12 * (n_pics - 1) - 18
    beside = side_w >= cw / 3
    if beside:
        pic_h = max(min(pic_h, avail - pal_need - 16 - src_note_h), avail * 0.2)
        pic_w = pic_h / lesson.aspect
        side_w = cw - n_pics * pic_w - 12 * (n_pics - 1) - 18
        s = _brush_scale(lesson.brushes, side_w, pic_h + 16 - brush_head)
        brush_need = 0.0
    else:
        s = _brush_scale(lesson.brushes, cw, avail * 0.3)
        brush_need = brush_head + _brush_rows(lesson.brushes, s, cw)[1] + 10
        pic_h = max(min(pic_h, avail - pal_need - brush_need - 16 - src_note_h), avail * 0.2)
        pic_w = pic_h / lesson.aspect
        left_over = avail - pic_h - 16 - src_note_h - pal_need
        if left_over < brush_need:  # shrink the brushes, to a 12 mm block at the least
            s = _brush_scale(lesson.brushes, cw, max(left_over - brush_head - 10, 12 * _PT_PER_MM))
            brush_need = brush_head + _brush_rows(lesson.brushes, s, cw)[1] + 10
    # the pictures: from the left with the brushes beside them, else centred
    x = m if beside else m + (cw - n_pics * pic_w - 12 * (n_pics - 1)) / 2
    if two:
        pg.image(lesson.source_jpeg, x, y, pic_w, pic_h, lesson.aspect)  # type: ignore[arg-type]
        pg.text(x + pic_w / 2, y + pic_h + 3, "The picture", 8.5, "AP-Vera-Italic", align="centre")
        x += pic_w + 12
    pg.image(lesson.finished_jpeg, x, y, pic_w, pic_h, lesson.aspect)
    pg.text(x + pic_w / 2, y + pic_h + 3, "The finished painting", 8.5, "AP-Vera-Italic", align="centre")
    if beside:
        bx = x + pic_w + 18
        _brush_heading(pg, bx, y, side_w, s)
        _draw_brushes(pg, lesson.brushes, bx, y + brush_head, side_w, s)
    y += pic_h + 16
    if not two:
        y += pg.para(m, y, cw, lesson.source_note, 8.5, font="AP-Vera-Italic", color=(0.45, 0.3, 0.1)) + 4
    pg.text(m, y, "Paints", 13, "AP-Vera-Bold")
    y += 18
    if lesson.mixing_note:
        y += pg.para(m, y, cw, lesson.mixing_note, 8, color=(0.3, 0.3, 0.3)) + 4
    y += _paint_rows(pg, lesson.palette, m, y, cw, bottom - brush_need - 10 - y, cols) + 10
    if not beside:
        _brush_heading(pg, m, y, cw, s)
        y += brush_head + _draw_brushes(pg, lesson.brushes, m, y + brush_head, cw, s) + 14
    if bottom - y >= pg.para_height(cw, HOW_TO, 9) + 16:
        pg.text(m, y, "How to use this lesson", 11, "AP-Vera-Bold")
        pg.para(m, y + 15, cw, HOW_TO, 9, color=(0.2, 0.2, 0.2))


#: the cover's short guide (PDF and HTML), shown where there is room
HOW_TO = (
    "Each page that follows is one step, in the order a painter works: far things before near ones, "
    "large brushes before fine ones. Before a step, mix the paints it lists; then paint where its big "
    "picture shows colour (the outlined parts), with the brush it names, letting the strokes run the way "
    "its sentences say. The smaller picture shows how the canvas should look once the step is done."
)

_NO_SOURCE = "Only the plan is shown here, not the source picture: the finished painting is what to aim for."


@dataclass(frozen=True)
class _StepBoxes:
    """The pictures of a step page, in the page's unit (PDF points or HTML mm).

    The highlighted canvas is up to the content width and half its height. When that
    leaves 30 % of the width free (a portrait canvas), it may grow to 60 % of the height
    and the canvas after the step and the brushes stand beside it (``side``); else they
    are in a row below: the canvas after the step
    ``thumb_w`` x ``thumb_h``, the brushes ``brush_w`` wide.
    """

    height: float
    main_h: float
    side: bool
    thumb_w: float
    thumb_h: float
    brush_w: float

    @classmethod
    def plan(cls, width: float, height: float, aspect: float, gap: float) -> "_StepBoxes":
        main_h = min(width * aspect, height * 0.5)
        side = width - main_h / aspect - gap >= 0.3 * width
        if side:  # as tall as 60 % of the page while 30 % of the width stays free
            main_h = max(main_h, min(height * 0.6, (0.7 * width - gap) * aspect))
        thumb_w = width * 0.38
        return cls(height, main_h, side, thumb_w, min(thumb_w * aspect, height * 0.2), width - thumb_w - gap)

    def main_given(self, over: float) -> float:
        """The highlighted canvas's height once it gives way, to 28 % of the content
        height at the least, where the page is ``over`` too full."""
        return max(self.height * 0.28, self.main_h - over) if over > 0 else self.main_h


def _draw_step(pg: _Page, lesson: Lesson, page: StepPage, brush_scale: float) -> None:
    """One step's page: heading and progress, the sentences, the highlighted canvas, the
    canvas after the step and the brushes (beside the canvas when it is narrow, else in a
    row below it), then the paints across the page.

    The highlighted canvas gets up to half the page and gives way (to 28 % at the least)
    when the paints need the room; then the paint rows shrink.
    """
    m, cw = pg.m, pg.cw
    y = m
    pg.text(m, y, page.heading, 17, "AP-Vera-Bold")
    pg.text(m + cw, y + 5, f"{_plural(page.strokes, 'stroke')} · {page.done} of {lesson.total_strokes} painted", 8.5, color=(0.35, 0.35, 0.35), align="right")
    y += 24
    # progress bar: share of strokes painted once this step is done
    c = pg.c
    c.setFillColorRGB(0.9, 0.9, 0.9)
    c.rect(m, pg.H - y - 3, cw, 3, stroke=0, fill=1)
    c.setFillColorRGB(0.84, 0.16, 0.47)
    c.rect(m, pg.H - y - 3, cw * page.done / max(lesson.total_strokes, 1), 3, stroke=0, fill=1)
    y += 10
    y += pg.para(m, y, cw, " ".join(page.sentences), 12, leading=16) + 8
    bottom = pg.H - m - 14
    content = bottom - m
    cols = 1 if len(page.paints) <= 3 else 2
    paints_need = 16.0 + (math.ceil(len(page.paints) / cols) * _row_pt(_paint_lines(page.paints, cw, cols, True)) if page.paints else 12.0)
    caption = 18.0
    box = _StepBoxes.plan(cw, content, lesson.aspect, 16.0)
    side, thumb_w, thumb_h, bw = box.side, box.thumb_w, box.thumb_h, box.brush_w
    if side:
        row_a = 0.0
    else:
        bs = _brush_scale(page.brushes, bw, 40 * _PT_PER_MM + _BRUSH_LABELS_PT, most=brush_scale) if page.brushes else brush_scale
        brush_h = _brush_rows(page.brushes, bs, bw)[1] if page.brushes else 0.0
        row_a = 15.0 + max(thumb_h, brush_h) + 10.0
    main_h = box.main_given(y + box.main_h + caption + row_a + paints_need - bottom)
    x0, mw, mh = pg.image(page.highlight_jpeg, m, y, cw if not side else main_h / lesson.aspect, main_h, lesson.aspect, centre=not side)
    pg.text(m, y + mh + 3, "In colour, outlined: what this step adds. Faded: what is already on the canvas.", 8, "AP-Vera-Italic", color=(0.35, 0.35, 0.35))
    if side:
        sx = m + mw + 16
        side_w = cw - mw - 16
        pg.text(sx, y, "The canvas after this step", 10, "AP-Vera-Bold")
        bs = _brush_scale(page.brushes, side_w, max(mh * 0.45, 20.0), most=brush_scale) if page.brushes else brush_scale
        brush_h = 15.0 + _brush_rows(page.brushes, bs, side_w)[1] if page.brushes else 0.0
        _, _, th = pg.image(page.after_jpeg, sx, y + 15, side_w, mh - 15 - brush_h - 12, lesson.aspect, centre=False)
        if page.brushes:
            _brush_block(pg, page, sx, y + 15 + th + 12, side_w, bs)
        y += mh + caption
    else:
        y += mh + caption
        pg.text(m, y, "The canvas after this step", 10, "AP-Vera-Bold")
        _, _, th = pg.image(page.after_jpeg, m, y + 15, thumb_w, thumb_h, lesson.aspect, centre=False)
        if page.brushes:
            _brush_block(pg, page, m + thumb_w + 16, y, bw, bs)
        y += row_a
    pg.text(m, y, "Paints in this step", 10, "AP-Vera-Bold")
    y += 16
    if not page.paints:
        pg.text(m, y, "none", 9, "AP-Vera-Italic")
        return
    _paint_rows(pg, page.paints, m, y, cw, bottom - y, cols, compact=True)


def _scale_note(fraction: float, true_words: str) -> str:
    """What a page says about its brush marks: ``true_words`` at true size, else by how
    much they are drawn smaller; ``fraction`` = drawn size / true size (one for all)."""
    return true_words if fraction >= 1.0 - 1e-6 else f"drawn at {fraction:.0%} of true size"


def _brush_block(pg: _Page, page: StepPage, x: float, y: float, width: float, s: float) -> None:
    """The step's brushes under their heading, which says whether they are at true size or
    by how much they are drawn smaller (a student holds a brush against its mark)."""
    from reportlab.pdfbase.pdfmetrics import stringWidth

    note = f"({_scale_note(s / _PT_PER_MM, 'true size')})"
    head = "Brushes in this step"
    room = lambda h: width - stringWidth(h, "AP-Vera-Bold", 10) - 6.0  # noqa: E731
    if stringWidth(note, "AP-Vera-Italic", 8) > room(head):
        head = "Brushes"  # a narrow column: the note matters more than the words "in this step"
        if stringWidth(note, "AP-Vera-Italic", 8) > room(head):
            note = f"(at {s / _PT_PER_MM:.0%})"
    pg.text(x, y, head, 10, "AP-Vera-Bold")
    pg.text(x + width, y + 2, note, 8, "AP-Vera-Italic", color=(0.4, 0.4, 0.4), align="right")
    _draw_brushes(pg, page.brushes, x, y + 15, width, s)


def lesson_pdf(lesson: Lesson, paper: str = "a4") -> bytes:
    """The lesson as PDF bytes: one cover and one page per step, on ``paper``.

    Fonts are Bitstream Vera, embedded as TrueType subsets; images are JPEGs passed
    through as they are. The document is invariant (no creation date or random id), so the
    same lesson gives the same bytes.
    """
    from reportlab.pdfgen import canvas as rl_canvas

    size = paper_size(paper)
    _register_fonts()
    buf = io.BytesIO()
    c = rl_canvas.Canvas(buf, pagesize=size, invariant=1, pageCompression=1, initialFontName="AP-Vera", initialFontSize=10)
    c.setTitle(f"Painting lesson: {lesson.title}")
    c.setAuthor("AnimatePainter")
    c.setSubject(lesson.facts)
    c.setCreator("AnimatePainter lesson (reportlab)")
    pg = _Page(c, size)
    _draw_cover(pg, lesson)
    pg.footer(lesson.title, 1, lesson.pages)
    c.showPage()
    # brush marks at true size where they fit, as on the cover
    step_scale = _PT_PER_MM
    for i, page in enumerate(lesson.steps):
        pg = _Page(c, size)
        _draw_step(pg, lesson, page, step_scale)
        pg.footer(lesson.title, i + 2, lesson.pages)
        c.showPage()
    c.save()
    return buf.getvalue()


# -- HTML ----------------------------------------------------------------------------------------------


def _uri(data: bytes, mime: str) -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def _font_faces() -> str:
    import reportlab

    folder = Path(reportlab.__file__).parent / "fonts"
    faces = []
    for file, weight, style in (("Vera.ttf", "normal", "normal"), ("VeraBd.ttf", "bold", "normal"), ("VeraIt.ttf", "normal", "italic")):
        faces.append(
            f"@font-face{{font-family:'AP Vera';font-weight:{weight};font-style:{style};"
            f"src:url({_uri((folder / file).read_bytes(), 'font/ttf')}) format('truetype')}}"
        )
    return "\n".join(faces)


_CSS = """
*{box-sizing:border-box}
body{margin:0;font-family:'AP Vera',sans-serif;color:#1a1a1a;font-size:10pt;line-height:1.3}
section.page{position:relative;width:__W__mm;height:__H__mm;padding:__M__mm;overflow:hidden;
  break-after:page;page-break-after:always;background:#fff}
section.page:last-child{break-after:auto;page-break-after:auto}
@media screen{body{background:#d8d8d8}section.page{margin:8mm auto;box-shadow:0 1px 6px rgba(0,0,0,.3)}}
@media print{section.page{margin:0;box-shadow:none}}
h1{font-size:20pt;margin:0 0 2mm}h2{font-size:17pt;margin:0}h3{font-size:11pt;margin:3mm 0 2mm}
.facts,.small{color:#555;font-size:8.5pt}.note{color:#73501a;font-style:italic;font-size:8.5pt}
.pics{display:flex;gap:4mm;justify-content:center;margin-top:4mm}.pics figure{margin:0;text-align:center}
figure img{display:block;margin:0 auto;max-width:100%;border:.2mm solid #bbb}
figcaption{font-style:italic;font-size:8.5pt;margin-top:1mm}
.swatches{display:grid;gap:1.5mm 4mm}
.sw{display:flex;gap:2mm;align-items:flex-start;font-size:7.5pt;line-height:1.25;min-width:0}
.sw i{flex:none;width:9mm;height:7mm;border:.2mm solid #888;border-radius:1mm}
.sw b{font-size:8pt}.dense .sw{font-size:6.5pt}.dense .sw b{font-size:6.8pt}.dense .sw i{width:7mm;height:5.5mm}.sw>div>span{display:block;white-space:nowrap;overflow:hidden;text-overflow:ellipsis}
.sw>div>span.recipe{white-space:normal;color:#1a5a26}.sw>div>span.recipe.out{color:#b01a1a}.nb{white-space:nowrap}
.brushes{display:flex;gap:1.5mm;align-items:flex-end;flex-wrap:wrap}
.brush{text-align:center;font-size:7pt;white-space:nowrap}.brush div{background:#383840;margin:0 auto 1mm}
.brush .round{border-radius:50%}
.head{display:flex;justify-content:space-between;align-items:baseline}
.bar{height:1mm;background:#e6e6e6;margin:2mm 0 3mm}.bar div{height:100%;background:#d62878}
.say{font-size:12pt;line-height:1.35;margin:0 0 3mm}
.top{display:flex;gap:5mm;align-items:flex-start}.top .side{flex:1;min-width:0}
.rowa{display:flex;gap:5mm;margin-top:1mm}
figure.main{margin:0}figure.main img{margin:0 auto}figure.main figcaption{text-align:left}
.rowa img,.side img{display:block;border:.2mm solid #bbb}
.footer{position:absolute;left:__M__mm;right:__M__mm;bottom:5mm;display:flex;justify-content:space-between;
  font-size:7pt;color:#777;border-top:.2mm solid #ccc;padding-top:1mm}
"""


def _html_text(s: str) -> str:
    """Escaped text whose no-break spaces become spans that do not wrap (browsers draw
    Vera's U+00A0 wider than its space)."""
    return re.sub("(\\S+)\u00a0(\\S+)", r'<span class="nb">\1 \2</span>', html.escape(s))


def _swatches_html(uses: Sequence[PaintUse], cols: int, compact: bool = False, dense: bool = False, rest: Sequence[PaintUse] = ()) -> str:
    """Paint swatches as a CSS grid (see :func:`_paint_rows` for what a row holds);
    ``dense`` in smaller type, ``rest`` summed up in a last line."""
    e = html.escape
    out = [f'<div class="swatches{" dense" if dense else ""}" style="grid-template-columns:repeat({cols},minmax(0,1fr))">']
    for u in uses:
        hx = hex_rgb(u.paint.rgb)
        about = u.words if hx in u.paint.name.lower() else f"{u.words} · {hx}"
        count = _plural(u.strokes, "stroke")
        rec = ""
        if u.recipe is not None:
            cls = "recipe" if u.recipe.in_gamut else "recipe out"
            units = " ".join(f'<span class="nb">{e(t)}</span>' for t in _recipe_units(u.recipe.text()))
            rec = f'<span class="{cls}">{units}</span>'
        if compact:
            body = f"<span><b>{e(u.paint.name)}</b> · {count}</span>" + (rec or f"<span>{e(about)}</span>")
        else:
            body = f"<span><b>{e(u.paint.name)}</b></span><span>{e(about)} · {count}</span>{rec}"
        out.append(f'<div class="sw"><i style="background:{hx}"></i><div style="min-width:0">{body}</div></div>')
    if rest:
        out.append(f'<div class="sw"><i>and {len(rest)} more paints ({_plural(sum(u.strokes for u in rest), "stroke")})</i></div>')
    out.append("</div>")
    return "".join(out)


def _brushes_html(brushes: Sequence[BrushUse], scale: float) -> str:
    """Brush marks in CSS millimetres: ``scale`` = drawn mm per true mm."""
    out = ['<div class="brushes">']
    for b in brushes:
        w = b.brush.width_mm * scale
        h = w if b.brush.shape != "flat" else max(w * 0.3, 0.4)
        cls = "round" if b.brush.shape != "flat" else "flat"
        out.append(
            f'<div class="brush" style="width:{max(w + 1.5, 14):.2f}mm"><div class="{cls}" style="width:{w:.2f}mm;height:{h:.2f}mm"></div>'
            f"<b>{_mm(b.brush.width_mm)} mm</b><br>{_plural(b.strokes, 'stroke')}</div>"
        )
    out.append("</div>")
    return "".join(out)


def _step_brushes_html(brushes: Sequence[BrushUse], scale: float) -> str:
    """A step page's brushes under their heading, which says "(true size)" or by how much
    they are drawn smaller; empty for a step without strokes."""
    if not brushes:
        return ""
    return f'<h3>Brushes in this step <span class="small">({_scale_note(scale, "true size")})</span></h3>' + _brushes_html(brushes, scale)


# sizes the HTML layout plans with, mm (the CSS below sets the fonts they come from)
_H_LINE = 3.3  # a line of swatch text (7.5 pt, line-height 1.25)
_H_HEAD = 8.0  # an h3 with its margins
_H_SAY = 5.8  # a line of the step sentences (12 pt, line-height 1.35)


def _brushes_mm(brushes: Sequence[BrushUse], scale: float, width: float) -> float:
    """Height the brush marks take in rows of ``width`` mm at ``scale``, mm."""
    rows: list[list[float]] = [[]]
    used = 0.0
    for b in brushes:
        slot = max(b.brush.width_mm * scale + 1.5, 14.0) + 1.5
        if rows[-1] and used + slot > width:
            rows.append([])
            used = 0.0
        rows[-1].append(b.brush.width_mm * scale)
        used += slot
    return sum(max(r) + 7.5 for r in rows if r)


def _html_brush_scale(brushes: Sequence[BrushUse], width: float, height: float) -> float:
    s = 1.0
    while s > 0.02 and brushes and _brushes_mm(brushes, s, width) > height:
        s *= 0.95
    return s


def _swatch_row_mm(uses: Sequence[PaintUse], cols: int, width: float, compact: bool = False, dense: bool = False) -> float:
    """Height of one row of swatches, mm (``dense``: 6.5 pt type instead of 7.5 pt)."""
    k = 6.5 / 7.5 if dense else 1.0
    colw = (width - 4.0 * (cols - 1)) / cols
    # a recipe line holds about colw / 1.45 mm characters of 7.5 pt Vera
    per = max(10, int((colw - 11.0) / (1.45 * k)))
    rec = max((math.ceil(len(u.recipe.text()) / per) for u in uses if u.recipe is not None), default=0)
    lines = 1 + max(rec, 1) if compact else 2 + rec
    return lines * _H_LINE * k + 1.5


def _swatches_mm(uses: Sequence[PaintUse], cols: int, width: float, compact: bool = False, dense: bool = False) -> float:
    if not uses:
        return 0.0
    return math.ceil(len(uses) / cols) * _swatch_row_mm(uses, cols, width, compact, dense)


def _swatch_block(uses: Sequence[PaintUse], cols: int, width: float, room: float, compact: bool = False) -> str:
    """Swatches that fit ``room`` mm: as they are, else in smaller type and one or two
    more columns, else the first ones and a line for the rest."""
    for c, dense in ((cols, False), (cols + 1, True), (cols + 2, True)):
        if _swatches_mm(uses, c, width, compact, dense) <= room:
            return _swatches_html(uses, c, compact, dense)
    c = cols + 2
    n = max(1, int(room // _swatch_row_mm(uses, c, width, compact, True))) * c - 1
    return _swatches_html(uses[: max(n, 1)], c, compact, True, uses[max(n, 1) :])


def lesson_html(lesson: Lesson, paper: str = "a4") -> str:
    """The lesson as one print-ready HTML page: a ``<section class="page">`` per PDF page,
    sized by an ``@page`` rule for ``paper``; images and fonts inlined, no scripts, no network.

    Each section is one sheet of fixed size; its pictures get explicit heights in mm,
    planned like the PDF's layout from the space the text, swatches and brushes need.
    """
    pw, ph = paper_size(paper)
    key = str(paper).strip().lower()
    wmm, hmm = pw / _PT_PER_MM, ph / _PT_PER_MM
    e = html.escape
    css = _CSS.replace("__W__", f"{wmm:.1f}").replace("__H__", f"{hmm - 0.5:.1f}").replace("__M__", f"{MARGIN_MM:g}")
    inner_w = wmm - 2 * MARGIN_MM
    inner_h = hmm - 2 * MARGIN_MM - 8.0  # the footer's band
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>Painting lesson: {e(lesson.title)}</title>",
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<style>\n@page {{ size: {_CSS_PAPER[key]} portrait; margin: 0; }}\n{_font_faces()}\n{css}</style>",
        "</head><body>",
    ]

    def footer(i: int) -> str:
        return f'<div class="footer"><span>{e(lesson.title)} · AnimatePainter lesson</span><span>page {i} of {lesson.pages}</span></div>'

    def img(data: bytes, alt: str, h: float) -> str:
        return f'<img src="{_uri(data, "image/jpeg")}" alt="{e(alt)}" style="height:{h:.1f}mm;width:{h / lesson.aspect:.1f}mm">'

    # -- cover (planned like _draw_cover: brushes beside narrow pictures, else below)
    two = lesson.source_jpeg is not None
    cols = 2 if len(lesson.palette) <= 24 else 3
    pal = _H_HEAD + (10.0 if lesson.mixing_note else 0.0) + _swatches_mm(lesson.palette, cols, inner_w)
    how = _H_HEAD + 16.0
    n_pics = 2 if two else 1
    top = 16.0 + 8.0 + (0.0 if two else 9.0)  # title and facts, captions, the no-source note
    pic_w = (inner_w - 4) / 2 if two else inner_w * 0.72
    pic_h = min(pic_w * lesson.aspect, inner_h * 0.4)
    side_w = inner_w - n_pics * (pic_h / lesson.aspect) - 4 * (n_pics - 1) - 6
    beside = side_w >= inner_w / 3
    if beside:
        pic_h = max(min(pic_h, inner_h - top - pal), inner_h * 0.2)
        side_w = inner_w - n_pics * (pic_h / lesson.aspect) - 4 * (n_pics - 1) - 6
        s = _html_brush_scale(lesson.brushes, side_w, pic_h + 6 - _H_HEAD - 5)
        brushes = 0.0
    else:
        s = _html_brush_scale(lesson.brushes, inner_w, inner_h * 0.3)
        brushes = _H_HEAD + _brushes_mm(lesson.brushes, s, inner_w)
        pic_h = max(min(pic_h, inner_h - top - pal - brushes), inner_h * 0.2)
        room = inner_h - top - pal - pic_h
        if room < brushes:  # shrink the brushes
            s = _html_brush_scale(lesson.brushes, inner_w, max(room - _H_HEAD, 12.0))
            brushes = _H_HEAD + _brushes_mm(lesson.brushes, s, inner_w)
    scale_note = _scale_note(s, "true size when printed at 100 %")
    brush_html = f'<h3>Brushes, largest first <span class="small">({scale_note})</span></h3>' + _brushes_html(lesson.brushes, s)
    cover = [f'<section class="page" id="cover"><h1>Painting lesson: {e(lesson.title)}</h1><div class="facts">{e(lesson.facts)}</div>']
    cover.append(f'<div class="pics" style="justify-content:{"flex-start" if beside else "center"}">')
    if two:
        cover.append(f"<figure>{img(lesson.source_jpeg, 'the picture', pic_h)}<figcaption>The picture</figcaption></figure>")  # type: ignore[arg-type]
    cover.append(f"<figure>{img(lesson.finished_jpeg, 'the finished painting', pic_h)}<figcaption>The finished painting</figcaption></figure>")
    if beside:
        cover.append(f'<div style="flex:1;min-width:0;margin-left:2mm">{brush_html}</div>')
    cover.append("</div>")
    if not two:
        cover.append(f'<p class="note">{e(lesson.source_note)}</p>')
    cover.append("<h3>Paints</h3>")
    if lesson.mixing_note:
        cover.append(f'<p class="small">{e(lesson.mixing_note)}</p>')
    cover.append(_swatch_block(lesson.palette, cols, inner_w, inner_h - top - pic_h - brushes - _H_HEAD - (10.0 if lesson.mixing_note else 0.0) - 3.0))
    if not beside:
        cover.append(brush_html)
    if inner_h - top - pal - pic_h - brushes >= how:
        cover.append(f'<h3>How to use this lesson</h3><p class="small" style="color:#333">{e(HOW_TO)}</p>')
    cover.append(footer(1) + "</section>")
    parts.append("".join(cover))

    # -- steps
    for i, p in enumerate(lesson.steps):
        share = p.done / max(lesson.total_strokes, 1)
        say = " ".join(p.sentences)
        head = 9.0 + 6.0 + _H_SAY * math.ceil(len(say) / 70) + 3.0
        pcols = 1 if len(p.paints) <= 3 else 2
        paints = _H_HEAD + (_swatches_mm(p.paints, pcols, inner_w, compact=True) if p.paints else 5.0)
        box = _StepBoxes.plan(inner_w, inner_h, lesson.aspect, 5.0)
        side, thumb_w, thumb_h, bw = box.side, box.thumb_w, box.thumb_h, box.brush_w
        if side:
            row_a = 0.0
        else:
            bs = _html_brush_scale(p.brushes, bw, 40.0 + 7.5)
            row_a = _H_HEAD + max(thumb_h, _brushes_mm(p.brushes, bs, bw)) + 2.0
        main_h = box.main_given(head + box.main_h + 6.0 + row_a + paints - inner_h)
        sec = [
            f'<section class="page" id="step-{p.step + 1}"><div class="head"><h2>{e(p.heading)}</h2>'
            f'<span class="small">{_plural(p.strokes, "stroke")} · {p.done} of {lesson.total_strokes} painted</span></div>'
            f'<div class="bar"><div style="width:{share * 100:.1f}%"></div></div>'
            f'<p class="say">{_html_text(say)}</p>'
        ]
        caption = "<figcaption>In colour, outlined: what this step adds. Faded: what is already on the canvas.</figcaption>"
        main = f'<figure class="main">{img(p.highlight_jpeg, f"what step {p.step + 1} adds", main_h)}{caption}</figure>'
        if side:
            sw_mm = inner_w - main_h / lesson.aspect - 5
            bs = _html_brush_scale(p.brushes, sw_mm, max(main_h * 0.45, 10.0))
            bh = _H_HEAD + _brushes_mm(p.brushes, bs, sw_mm) if p.brushes else 0.0
            th = min(sw_mm * lesson.aspect, main_h - _H_HEAD - bh - 3)
            sec.append(
                f'<div class="top">{main}<div class="side"><h3>The canvas after this step</h3>{img(p.after_jpeg, f"the canvas after step {p.step + 1}", th)}'
                + _step_brushes_html(p.brushes, bs)
                + "</div></div>"
            )
        else:
            sec.append(
                f'{main}<div class="rowa"><div style="flex:0 0 {thumb_w:.1f}mm"><h3>The canvas after this step</h3>'
                f'{img(p.after_jpeg, f"the canvas after step {p.step + 1}", min(thumb_h, thumb_w * lesson.aspect))}</div>'
                f"<div style=\"flex:1;min-width:0\">{_step_brushes_html(p.brushes, bs)}</div></div>"
            )
        room = inner_h - head - main_h - 6.0 - row_a - _H_HEAD - 3.0
        sec.append("<h3>Paints in this step</h3>" + (_swatch_block(p.paints, pcols, inner_w, room, compact=True) if p.paints else '<p class="small">none</p>'))
        sec.append(footer(i + 2) + "</section>")
        parts.append("".join(sec))
    parts.append("</body></html>\n")
    return "\n".join(parts)


# -- writing --------------------------------------------------------------------------------------------


def _check_out(path: Path, what: str) -> None:
    """Fail early, before any work, when ``path`` cannot become a ``what`` file."""
    if path.is_dir():
        raise OutputError(f"{path}: is a folder, not a {what} file")
    try:
        check_writable_dir(path.parent)
    except OutputError as e:
        raise OutputError(f"cannot write the {what} {path} ({e})") from None
    if path.exists() and not os.access(path, os.W_OK):
        raise OutputError(f"{path}: cannot write there (permission denied)")


def write_lesson(
    plan_or_outdir: str | Path,
    out: str | Path,
    html_out: str | Path | None | bool = True,
    paper: str = "a4",
    source: str | Path | None = None,
    title: str | None = None,
    progress: Progress = NULL_PROGRESS,
) -> LessonInfo:
    """Write a lesson PDF (and its HTML) of a plan, both or neither.

    Args:
        plan_or_outdir: a plan file, or the output folder of ``paint`` (its ``plan.json``;
            the source image named in its ``report.json`` goes on the cover, found the way
            the viewer finds it, :func:`animatepainter.export.viewer.find_inputs`).
        out: the PDF to write.
        html_out: the HTML to write; ``True`` (default) puts it beside the PDF with the
            suffix ``.html``; ``None`` or ``False`` writes none.
        paper: ``"a4"`` or ``"letter"``.
        source: a source image for the cover instead of the one the folder names.
        title: the picture's name (default: the source image's, else the plan's folder).
        progress: progress display.

    Raises:
        PlanError: no plan there, a malformed plan, or a plan with no strokes.
        SettingsError: an unknown paper size (field ``paper``) or the same path for both files.
        OutputError: an output path that cannot be written.
    """
    paper_size(paper)
    pdf_path = Path(out)
    html_path: Path | None
    if html_out is True:
        html_path = pdf_path.with_suffix(".html") if pdf_path.suffix.lower() != ".html" else pdf_path.with_name(pdf_path.name + ".html")
    elif html_out is None or html_out is False:
        html_path = None
    else:
        html_path = Path(html_out)  # type: ignore[arg-type]
    if html_path is not None and html_path.resolve() == pdf_path.resolve():
        raise SettingsError(f"html_out must differ from the PDF path ({pdf_path})", "html_out")
    _check_out(pdf_path, "PDF")
    if html_path is not None:
        _check_out(html_path, "HTML")

    inputs = find_inputs(plan_or_outdir, source=source, frames=None)
    plan = inputs.plan
    if not plan.strokes:
        raise PlanError(f"{inputs.plan_path}: the plan has no strokes (no process steps): nothing to teach")
    name = title or inputs.title.removesuffix(" · AnimatePainter")
    note = ""
    if inputs.source is None:
        note = f"{inputs.source_note} {_NO_SOURCE}" if inputs.source_note else _NO_SOURCE
    lesson = build_lesson(plan, inputs.source, note, name, progress)
    pdf = lesson_pdf(lesson, paper)
    page = lesson_html(lesson, paper).encode("utf-8") if html_path is not None else b""
    try:
        with contextlib.ExitStack() as stack:
            targets: list[tuple[Path, bytes]] = [(pdf_path, pdf)] + ([(html_path, page)] if html_path is not None else [])
            for dest, data in targets:
                tmp = stack.enter_context(atomic_path(dest))
                with open(tmp, "wb") as f:
                    f.write(data)
                    f.flush()
                    os.fsync(f.fileno())
            # leaving the stack renames the temps over their destinations, both complete
    except OSError as e:
        raise OutputError(f"{pdf_path}: cannot write the lesson ({e.strerror or e})") from None
    log.info("lesson: %d pages, %.1f MB PDF -> %s", lesson.pages, len(pdf) / 1e6, pdf_path)
    return LessonInfo(
        pdf=pdf_path,
        html=html_path,
        pages=lesson.pages,
        steps=len(lesson.steps),
        paper=str(paper).strip().lower(),
        pdf_bytes=len(pdf),
        html_bytes=len(page),
        has_source=lesson.source_jpeg is not None,
        recipes=sum(1 for u in lesson.palette if u.recipe is not None),
    )
