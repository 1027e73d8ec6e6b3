"""The one data model: :class:`StrokePlan`, versioned JSON on disk.

Coordinates are millimetres on the canvas, origin at the top-left corner, x to the
right and y down (as in SVG). Strokes are kept in execution order. The JSON Schema
ships in the package (``animatepainter/planner/schema/plan-1.schema.json``, see
:func:`schema_path`) and every plan is validated against it, and against the rules a
schema cannot express (unique ids, references to existing paints and brushes, points
on the canvas, non-decreasing steps), when it is written or read.

The JSON layout is fixed byte for byte: keys in a set order, floats rounded to
``1e-3`` mm (a micrometre), one stroke per line. The same plan always gives the
same bytes.
"""

from __future__ import annotations

import functools
import json
import math
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np

from animatepainter.planner.atomic import atomic_write_bytes
from animatepainter.planner.errors import PlanError

__all__ = [
    "SCHEMA_ID",
    "Canvas",
    "Paint",
    "Brush",
    "Stroke",
    "StrokePlan",
    "schema_path",
    "load_plan",
]

SCHEMA_ID = "animatepainter.plan/1"
MM_DECIMALS = 3
#: deepest nesting of lists and objects accepted in ``meta`` (copied recursively)
MAX_META_NESTING = 64


def schema_path() -> Path:
    """Path of the published JSON Schema of plan files (inside the installed package)."""
    return Path(str(resources.files("animatepainter.planner").joinpath("schema/plan-1.schema.json")))


@functools.lru_cache(maxsize=1)
def _validator():
    # fastjsonschema compiles the schema to Python: ~25x faster than jsonschema on
    # plans of thousands of strokes (the tests check files with jsonschema too)
    import fastjsonschema

    return fastjsonschema.compile(json.loads(schema_path().read_text()))


@dataclass(frozen=True)
class Canvas:
    """The physical canvas.

    Attributes:
        width_mm, height_mm: canvas size in mm.
        background: blank-canvas colour, RGB 0..255.
        image_px: ``(width, height)`` in pixels of the source image.
        image_box_mm: ``(x, y, width, height)`` in mm where the source image sits.
    """

    width_mm: float
    height_mm: float
    background: tuple[int, int, int] = (255, 255, 255)
    image_px: tuple[int, int] = (1, 1)
    image_box_mm: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0)

    @property
    def mm_per_px(self) -> float:
        """Size of one source-image pixel on the canvas, mm."""
        return self.image_box_mm[2] / self.image_px[0]


@dataclass(frozen=True)
class Paint:
    """A paint (or pen): ``id``, ``rgb`` 0..255, a human-readable ``name``."""

    id: int
    rgb: tuple[int, int, int]
    name: str


@dataclass(frozen=True)
class Brush:
    """A tool: ``id``, ``width_mm`` (diameter for round brushes), ``shape``."""

    id: int
    width_mm: float
    shape: str = "round"


@dataclass(frozen=True)
class Stroke:
    """One brush stroke.

    Attributes:
        id: unique id within the plan.
        points: float64 ``(n, 2)`` polyline vertices ``(x, y)`` in mm, ``n >= 1``.
        width_mm: painted width, mm.
        brush: id of the brush in ``StrokePlan.brushes``.
        paint: id of the paint in ``StrokePlan.palette``.
        rgb: the colour the stroke should leave, RGB 0..255.
        layer: depth layer, 0 = farthest.
        level: refinement level, 0 = coarsest.
        step: process step (frame) that introduced it.
        actions: machine actions before this stroke, in order (robot plans, see
            :mod:`animatepainter.planner.machine.adapt`): ``"clean"`` (wash and wipe the
            brush), ``"tool"`` (change to this stroke's brush or pen), ``"dip"``
            (load this stroke's paint). Empty for plans not made for a machine.
    """

    id: int
    points: np.ndarray
    width_mm: float
    brush: int
    paint: int
    rgb: tuple[int, int, int]
    layer: int
    level: int
    step: int
    actions: tuple[str, ...] = ()

    def __eq__(self, other: object) -> bool:  # numpy field: compare by value
        if not isinstance(other, Stroke):
            return NotImplemented
        return (
            (self.id, self.width_mm, self.brush, self.paint, tuple(self.rgb), self.layer, self.level, self.step)
            == (other.id, other.width_mm, other.brush, other.paint, tuple(other.rgb), other.layer, other.level, other.step)
            and np.array_equal(self.points, other.points)
            and tuple(self.actions) == tuple(other.actions)
        )

    __hash__ = None  # type: ignore[assignment]

    @property
    def length_mm(self) -> float:
        """Pen-down length of the polyline, mm."""
        p = np.asarray(self.points, np.float64)
        return float(np.linalg.norm(np.diff(p, axis=0), axis=1).sum()) if len(p) > 1 else 0.0


@dataclass
class StrokePlan:
    """Ordered brush strokes on a canvas; every stage reads and writes it.

    Attributes:
        canvas: the physical canvas.
        palette: the paints.
        brushes: the tools.
        strokes: strokes in execution order.
        meta: provenance: ``engine``, ``version``, ``source_sha256``, ``seed``,
            ``settings`` and anything a stage adds. Must be JSON-serialisable and free
            of timings so that plans are reproducible byte for byte.
    """

    canvas: Canvas
    palette: list[Paint]
    brushes: list[Brush]
    strokes: list[Stroke]
    meta: dict[str, Any] = field(default_factory=dict)

    # -- derived views ------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.strokes)

    @property
    def n_steps(self) -> int:
        """Number of process steps (1 + the largest ``step``; 0 for an empty plan)."""
        return 1 + max((s.step for s in self.strokes), default=-1)

    def pen_up_travel_mm(self) -> float:
        """Pen-up travel between consecutive strokes, mm (from each stroke's last
        point to the next one's first; travel from and back to a home position is not
        included)."""
        if len(self.strokes) < 2:
            return 0.0
        ends = np.array([s.points[-1] for s in self.strokes[:-1]], np.float64)
        starts = np.array([s.points[0] for s in self.strokes[1:]], np.float64)
        return float(np.linalg.norm(starts - ends, axis=1).sum())

    def pen_down_mm(self) -> float:
        """Total pen-down (stroke) length, mm."""
        return float(sum(s.length_mm for s in self.strokes))

    def layer_order_fraction(self) -> float:
        """Fraction of stroke pairs ``i < j`` (execution order) with ``layer_i <= layer_j``.

        1.0 means no stroke is ever painted after a nearer one. Computed exactly in
        O(n log n) from layer counts.
        """
        layers = np.array([s.layer for s in self.strokes], np.int64)
        n = len(layers)
        if n < 2:
            return 1.0
        k = int(layers.max()) + 1
        seen = np.zeros(k, np.int64)
        bad = 0
        for lay in layers:  # count earlier strokes on a nearer layer
            bad += int(seen[lay + 1 :].sum())
            seen[lay] += 1
        return 1.0 - bad / (n * (n - 1) / 2)

    def with_strokes(self, strokes: Sequence[Stroke]) -> "StrokePlan":
        """A copy with another stroke list (canvas, palette, brushes, meta shared)."""
        return replace(self, strokes=list(strokes))

    # -- (de)serialisation --------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """The plan as plain JSON types, floats rounded to micrometres."""
        c = self.canvas
        return {
            "schema": SCHEMA_ID,
            "canvas": {
                "width_mm": _r(c.width_mm),
                "height_mm": _r(c.height_mm),
                "background": [int(v) for v in c.background],
                "image_px": [int(v) for v in c.image_px],
                "image_box_mm": [_r(v) for v in c.image_box_mm],
            },
            "palette": [{"id": int(p.id), "rgb": [int(v) for v in p.rgb], "name": p.name} for p in self.palette],
            "brushes": [{"id": int(b.id), "width_mm": _r(b.width_mm), "shape": b.shape} for b in self.brushes],
            "strokes": [_stroke_dict(s) for s in self.strokes],
            "meta": _jsonable(self.meta),
        }

    def to_json(self) -> str:
        """Canonical JSON text: fixed key order, one stroke per line, trailing newline."""
        d = self.to_dict()
        self.validate_dict(d)
        head = {k: v for k, v in d.items() if k != "strokes"}
        lines = ["{"]
        for key in ("schema", "canvas", "palette", "brushes"):
            lines.append(f"  {json.dumps(key)}: {json.dumps(head[key], separators=(', ', ': '))},")
        lines.append('  "strokes": [')
        body = [f"    {json.dumps(s, separators=(',', ':'))}" for s in d["strokes"]]
        lines.append(",\n".join(body)) if body else None
        lines.append("  ],")
        lines.append(f'  "meta": {json.dumps(head["meta"], sort_keys=True, separators=(", ", ": "))}')
        lines.append("}")
        return "\n".join(line for line in lines if line is not None) + "\n"

    def save(self, path: str | Path) -> Path:
        """Validate and write the plan to ``path`` atomically (temp file + rename)."""
        path = Path(path)
        atomic_write_bytes(path, self.to_json().encode("utf-8"))
        return path

    @staticmethod
    def validate_dict(d: Any, source: str = "plan") -> None:
        """Check a plan dict against the JSON Schema and the cross-field rules.

        Raises:
            PlanError: one line naming the first problem and where it is.
        """
        import fastjsonschema

        try:
            _validator()(d)
        except fastjsonschema.JsonSchemaValueException as e:
            path = [int(p) if p.isdigit() else p for p in (e.path or ["data"])[1:]]
            text = e.message.replace(str(e.name), "").strip() if e.name else e.message
            raise PlanError(f"{source}: {_json_path(path)}: {_short(text)}") from None
        # what the schema lets through: NaN and Infinity (Python's JSON reads them, and
        # 1e400 as inf), integers beyond the float range, a box of negative size, and
        # meta nested deeper than to_dict() can copy
        cv = d["canvas"]
        for key in ("width_mm", "height_mm"):
            _check_number(cv[key], f"canvas.{key}", source, size=True)
        for j, v in enumerate(cv["image_box_mm"]):
            _check_number(v, f"canvas.image_box_mm[{j}]", source)
        if min(cv["image_box_mm"][2:]) < 0:
            raise PlanError(f"{source}: canvas.image_box_mm: width and height must not be negative, got {cv['image_box_mm'][2:]}")
        for j, b in enumerate(d["brushes"]):
            _check_number(b["width_mm"], f"brushes[{j}].width_mm", source, size=True)
        if _nesting(d["meta"]) > MAX_META_NESTING:
            raise PlanError(f"{source}: meta: nested more than {MAX_META_NESTING} levels deep")
        pal = {p["id"] for p in d["palette"]}
        bru = {b["id"] for b in d["brushes"]}
        if len(pal) != len(d["palette"]):
            raise PlanError(f"{source}: palette: paint ids are not unique")
        if len(bru) != len(d["brushes"]):
            raise PlanError(f"{source}: brushes: brush ids are not unique")
        wmm, hmm = cv["width_mm"], cv["height_mm"]
        tol = 1e-6 + 0.5 * max((b["width_mm"] for b in d["brushes"]), default=0.0)
        ids: set[int] = set()
        last_step = 0
        for i, s in enumerate(d["strokes"]):
            if s["id"] in ids:
                raise PlanError(f"{source}: strokes[{i}].id: {s['id']} is used twice")
            ids.add(s["id"])
            if s["paint"] not in pal:
                raise PlanError(f"{source}: strokes[{i}].paint: {s['paint']} is not in the palette")
            if s["brush"] not in bru:
                raise PlanError(f"{source}: strokes[{i}].brush: {s['brush']} is not a brush of the plan")
            if s["step"] < last_step:
                raise PlanError(f"{source}: strokes[{i}].step: {s['step']} comes after step {last_step} (steps must not decrease)")
            last_step = s["step"]
            _check_number(s["width_mm"], f"strokes[{i}].width_mm", source, size=True)
            for x, y in s["points"]:
                if not (_finite(x) and _finite(y)):
                    raise PlanError(f"{source}: strokes[{i}].points: {_short(f'({x}, {y})', 60)} is not a pair of finite numbers")
                if x < -tol or y < -tol or x > wmm + tol or y > hmm + tol:
                    raise PlanError(f"{source}: strokes[{i}].points: ({x}, {y}) mm lies outside the {wmm} x {hmm} mm canvas")

    @classmethod
    def from_dict(cls, d: Any, source: str = "plan") -> "StrokePlan":
        """Build a plan from a parsed JSON object, validating it first."""
        cls.validate_dict(d, source)
        c = d["canvas"]
        canvas = Canvas(
            width_mm=float(c["width_mm"]),
            height_mm=float(c["height_mm"]),
            background=tuple(int(v) for v in c["background"]),
            image_px=tuple(int(v) for v in c["image_px"]),
            image_box_mm=tuple(float(v) for v in c["image_box_mm"]),
        )
        # ints: the schema's "integer" also takes integral floats (1.0)
        palette = [Paint(int(p["id"]), tuple(int(v) for v in p["rgb"]), p["name"]) for p in d["palette"]]
        brushes = [Brush(int(b["id"]), float(b["width_mm"]), b["shape"]) for b in d["brushes"]]
        strokes = [
            Stroke(
                id=int(s["id"]),
                points=np.asarray(s["points"], np.float64).reshape(-1, 2),
                width_mm=float(s["width_mm"]),
                brush=int(s["brush"]),
                paint=int(s["paint"]),
                rgb=tuple(int(v) for v in s["rgb"]),
                layer=int(s["layer"]),
                level=int(s["level"]),
                step=int(s["step"]),
                actions=tuple(s.get("actions", ())),
            )
            for s in d["strokes"]
        ]
        return cls(canvas, palette, brushes, strokes, dict(d["meta"]))

    @classmethod
    def load(cls, path: str | Path) -> "StrokePlan":
        """Read and validate a plan file.

        Raises:
            PlanError: unreadable, not JSON, or not a valid plan (one-line message).
        """
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise PlanError(f"{path}: no such plan file") from None
        except IsADirectoryError:
            raise PlanError(f"{path}: is a directory, not a plan file") from None
        except (OSError, UnicodeDecodeError) as e:
            raise PlanError(f"{path}: cannot read the plan ({_short(str(e))})") from None
        try:
            d = json.loads(text)
        except json.JSONDecodeError as e:
            raise PlanError(f"{path}: not valid JSON (line {e.lineno}, column {e.colno}: {e.msg})") from None
        except RecursionError:
            raise PlanError(f"{path}: not a plan (JSON nested too deeply)") from None
        except ValueError as e:  # e.g. an integer of more than 4300 digits
            raise PlanError(f"{path}: not valid JSON ({_short(str(e))})") from None
        if isinstance(d, dict) and isinstance(d.get("schema"), str) and d["schema"] != SCHEMA_ID:
            raise PlanError(f"{path}: schema {d['schema']!r} is not supported (this version reads {SCHEMA_ID!r})")
        return cls.from_dict(d, source=str(path))


def load_plan(path: str | Path) -> StrokePlan:
    """Read and validate a plan file (see :meth:`StrokePlan.load`)."""
    return StrokePlan.load(path)


def _r(v: float) -> float:
    out = round(float(v), MM_DECIMALS)
    return 0.0 if out == 0 else out  # no "-0.0"


def _stroke_dict(s: Stroke) -> dict[str, Any]:
    pts = np.round(np.asarray(s.points, np.float64), MM_DECIMALS) + 0.0
    d = {
        "id": int(s.id),
        "points": pts.tolist(),
        "width_mm": _r(s.width_mm),
        "brush": int(s.brush),
        "paint": int(s.paint),
        "rgb": [int(v) for v in s.rgb],
        "layer": int(s.layer),
        "level": int(s.level),
        "step": int(s.step),
    }
    if s.actions:  # only robot plans have them: other plans keep their bytes
        d["actions"] = [str(a) for a in s.actions]
    return d


def _jsonable(v: Any) -> Any:
    if isinstance(v, dict):
        return {str(k): _jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    if isinstance(v, np.ndarray):
        return _jsonable(v.tolist())
    if isinstance(v, (np.integer,)):
        return int(v)
    if isinstance(v, (np.floating, float)):
        f = float(v)
        return round(f, 6) if math.isfinite(f) else None
    if isinstance(v, Path):
        return str(v)
    return v


def _finite(v: Any) -> bool:
    try:
        return math.isfinite(v)
    except OverflowError:  # an integer beyond the float range
        return False


def _check_number(v: Any, where: str, source: str, size: bool = False) -> None:
    """``v`` is finite; a ``size`` (> 0 by the schema) also stays > 0 when the file
    rounds it to micrometres."""
    if not _finite(v):
        got = v if isinstance(v, float) else "an integer beyond the float range"
        raise PlanError(f"{source}: {where}: must be a finite number, got {got}")
    if size and _r(v) <= 0:
        raise PlanError(f"{source}: {where}: {v} mm is below the 0.001 mm precision of plan files")


def _nesting(v: Any) -> int:
    """Depth of nested lists and dicts in ``v`` (0 for a scalar), without recursion."""
    deepest, todo = 0, [(v, 0)]
    while todo:
        v, depth = todo.pop()
        if isinstance(v, (dict, list, tuple)):
            depth += 1
            if depth > MAX_META_NESTING:
                return depth
            deepest = max(deepest, depth)
            todo.extend((x, depth) for x in (v.values() if isinstance(v, dict) else v))
    return deepest


def _json_path(path: Iterable[Any]) -> str:
    out = ""
    for p in path:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out or "(top level)"


def _short(msg: str, limit: int = 160) -> str:
    msg = " ".join(msg.split())
    return msg if len(msg) <= limit else msg[: limit - 1] + "…"
