"""Machine profiles: the physical rig a plan is executed on (TOML, validated).

A profile describes a pen plotter or a painting robot: the canvas (size, margins,
where it sits in machine coordinates), the paints (or pens), the brushes, how much
paint a brush holds between dips, where the paint wells and the water and rag are,
speeds, and the pen-up / pen-down heights. :func:`load_profile` reads one from a
TOML file (or a bundled example by name, see :func:`bundled_profiles`) and checks
it against the published JSON Schema (``animatepainter/planner/schema/machine-1.schema.json``,
see :func:`machine_schema_path`), then against the rules a schema cannot express; a bad
profile raises :class:`~animatepainter.planner.errors.InputError` with one line naming
the file, the field and the value, e.g. ``brushes[1].width_mm: must be > 0, got -2``.

Two ways to list the tools:

* ``[[paints]]`` and ``[[brushes]]`` (a painting arm): any brush can take any paint;
  changing paint means cleaning the brush and dipping it in another well; changing
  brush is a tool change.
* ``[[pens]]`` (a pen plotter): each pen is one colour with one tip width; changing
  colour or width is a pen change (a tool change). Internally pen ``i`` becomes paint
  ``i`` and brush ``i``, usable only together.

Units: millimetres, seconds, RGB 0..255. Canvas coordinates (those of a
:class:`~animatepainter.planner.plan.StrokePlan`) have their origin at the canvas's
top-left corner, x right, y down; ``canvas.origin_mm`` and ``canvas.y_axis`` map them
to machine coordinates (:meth:`MachineCanvas.to_machine`). Positions of wells,
stations and home are machine coordinates.

The schema is the reference of the format (every key with its unit and default); the
annotated bundled examples (``animatepainter/planner/machine/profiles/*.toml``) show it
in use and ``docs/robot.md`` explains it.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
import re
import sys
import types
import typing
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from animatepainter.planner.colors import parse_rgb
from animatepainter.planner.errors import InputError, one_line

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

__all__ = [
    "MachineCanvas",
    "Motion",
    "PaintSpec",
    "BrushSpec",
    "Tool",
    "Stations",
    "ToolChange",
    "MachineProfile",
    "load_profile",
    "read_profile_toml",
    "build_section",
    "bundled_profiles",
    "profile_from_dict",
    "machine_schema_path",
    "strict_validator",
]

PROFILE_SCHEMA = "animatepainter.machine/1"
#: sections a rig profile adds to a machine profile (see :mod:`animatepainter.planner.rig.profile`)
RIG_SECTIONS = ("execution", "camera", "calibration")


def machine_schema_path() -> Path:
    """Path of the published JSON Schema of machine profiles (inside the installed
    package): every table and key, its type, limits, default and unit."""
    return Path(str(resources.files("animatepainter.planner").joinpath("schema/machine-1.schema.json")))


@dataclass(frozen=True)
class MachineCanvas:
    """The canvas on the machine.

    Attributes:
        width_mm, height_mm: canvas size, mm.
        margins_mm: ``(top, right, bottom, left)`` strips the machine must not paint, mm.
        background: colour of the blank canvas, RGB 0..255 (``None``: the planner's).
        origin_mm: machine ``(X, Y)`` of the canvas's top-left corner, mm.
        y_axis: ``"down"``: machine Y grows down the canvas (as in SVG, AxiDraw);
            ``"up"``: machine Y grows up the canvas (most GRBL gantries).
    """

    width_mm: float
    height_mm: float
    margins_mm: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0)
    background: tuple[int, int, int] | None = None
    origin_mm: tuple[float, float] = (0.0, 0.0)
    y_axis: str = "down"

    @property
    def drawable_box_mm(self) -> tuple[float, float, float, float]:
        """``(x, y, width, height)`` of the paintable area inside the margins, canvas mm."""
        top, right, bottom, left = self.margins_mm
        return (left, top, self.width_mm - left - right, self.height_mm - top - bottom)

    def to_machine(self, points: np.ndarray) -> np.ndarray:
        """Canvas mm ``(n, 2)`` to machine mm ``(n, 2)`` (float64)."""
        p = np.asarray(points, np.float64).reshape(-1, 2)
        ox, oy = self.origin_mm
        ys = p[:, 1] if self.y_axis == "down" else -p[:, 1]
        return np.stack([ox + p[:, 0], oy + ys], axis=1)


@dataclass(frozen=True)
class Motion:
    """Speeds and heights.

    Attributes:
        travel_speed_mm_s: pen-up XY speed (G0), mm/s.
        draw_speed_mm_s: pen-down XY speed (G1), mm/s.
        z_speed_mm_s: speed of lowering the pen, mm/s (raising uses G0 at the same
            speed in the time estimate).
        acceleration_mm_s2: XY acceleration for the time estimate (trapezoidal speed
            profile per move); 0 ignores acceleration.
        junction_deviation_mm: how far the path may cut a corner at full speed, mm
            (GRBL's ``$11``; its default 0.01); sets the speed through each stroke's
            corners in the time estimate (0: stop at every corner).
        pen_up_z_mm, pen_down_z_mm: Z of the tool tip when travelling / painting, mm.
        pen_lift: ``"z"`` (the pen rides on the Z axis) or ``"servo"`` (a hobby servo on
            the spindle PWM output lifts it, as on most GRBL pen plotters: the G-code
            has ``M3 S<servo_up_s>`` / ``M3 S<servo_down_s>`` and no Z words).
        servo_up_s, servo_down_s: spindle ``S`` values that put the servo up / down.
        servo_delay_s: wait after each servo move, s (``G4``; also the time estimate's
            lift time).
        home_mm: machine ``(X, Y)`` where the job starts and ends, mm.
    """

    travel_speed_mm_s: float = 100.0
    draw_speed_mm_s: float = 40.0
    z_speed_mm_s: float = 20.0
    acceleration_mm_s2: float = 0.0
    junction_deviation_mm: float = 0.01
    pen_up_z_mm: float = 5.0
    pen_down_z_mm: float = 0.0
    home_mm: tuple[float, float] = (0.0, 0.0)
    pen_lift: str = "z"
    servo_up_s: int = 1000
    servo_down_s: int = 0
    servo_delay_s: float = 0.2


@dataclass(frozen=True)
class PaintSpec:
    """A paint (or a pen's ink): ``name``, ``rgb`` 0..255, ``well_mm`` machine ``(X, Y)``
    of its well (``None`` for pens), and ``recipe``: the tube recipe that fills the well,
    ``((tube name, whole parts), ...)`` of the profile's ``tubes`` set (``None``: not given)."""

    name: str
    rgb: tuple[int, int, int]
    well_mm: tuple[float, float] | None = None
    recipe: tuple[tuple[str, int], ...] | None = None


@dataclass(frozen=True)
class BrushSpec:
    """A brush (or a pen's tip).

    Attributes:
        name: label.
        width_mm: painted width, mm (> 0).
        shape: ``"round"`` or ``"flat"``.
        tool: tool number (``T`` word in G-code), >= 0.
        capacity_mm: pen-down length painted per dip, mm; 0 = unlimited.
        capacity_mm2: area painted per dip (length x width + round ends), mm^2;
            0 = unlimited.
    """

    name: str
    width_mm: float
    shape: str = "round"
    tool: int = 0
    capacity_mm: float = 0.0
    capacity_mm2: float = 0.0

    def area_mm2(self, length_mm: float) -> float:
        """Area painted by a stroke of ``length_mm`` with this brush, mm^2."""
        return length_mm * self.width_mm + math.pi * self.width_mm**2 / 4.0


@dataclass(frozen=True)
class Tool:
    """A usable paint/brush combination: indices into the profile's ``paints`` and
    ``brushes``, and the tool number loaded for it."""

    paint: int
    brush: int
    number: int


@dataclass(frozen=True)
class Stations:
    """Paint wells, water and rag (painting arms).

    Attributes:
        water_mm, rag_mm: machine ``(X, Y)`` of the water pot and the rag, mm.
        dip_z_mm: Z of the tip when dipping into a well, the water or the rag, mm.
        dip_s: time the brush stays in a well, s.
        wash_s: time in the water, s.
        wipe_s: time on the rag, s.
    """

    water_mm: tuple[float, float] | None = None
    rag_mm: tuple[float, float] | None = None
    dip_z_mm: float = 0.0
    dip_s: float = 1.0
    wash_s: float = 3.0
    wipe_s: float = 1.5


@dataclass(frozen=True)
class ToolChange:
    """How a tool (brush or pen) is changed.

    Attributes:
        mode: ``"pause"``: the G-code selects ``T<n>`` and pauses (``M0``) for the
            operator (plain GRBL); ``"m6"``: ``T<n> M6`` (grblHAL, LinuxCNC, tool changers).
        time_s: duration of a change in the time estimate, s.
        position_mm: machine ``(X, Y)`` to go to for the change; ``None`` = stay.
    """

    mode: str = "pause"
    time_s: float = 20.0
    position_mm: tuple[float, float] | None = None


@dataclass(frozen=True)
class MachineProfile:
    """A validated machine profile (see the module docstring).

    Attributes:
        name: label.
        kind: ``"pen_plotter"`` or ``"painting_arm"``.
        canvas, motion, stations, tool_change: see their classes.
        paints, brushes: what the machine has.
        tools: usable (paint, brush) combinations.
        pens: the profile listed ``[[pens]]`` (each pen one paint and one brush).
        matching: colour matching: ``"nearest"`` paint in CIELAB (CIEDE2000) or
            ``"dither"`` (error diffusion between neighbouring strokes).
        source: the file it came from (for messages).
        tubes: the tube set the paints' recipes use (a bundled set's name or the path of
            its TOML file, see :mod:`animatepainter.planner.machine.tubes`), or ``None``.
    """

    name: str
    kind: str
    canvas: MachineCanvas
    motion: Motion
    paints: tuple[PaintSpec, ...]
    brushes: tuple[BrushSpec, ...]
    tools: tuple[Tool, ...]
    stations: Stations
    tool_change: ToolChange
    pens: bool = False
    matching: str = "nearest"
    source: str = "profile"
    tubes: str | None = None

    @property
    def drawable_size_mm(self) -> tuple[float, float]:
        """``(width, height)`` of the paintable area, mm."""
        return self.canvas.drawable_box_mm[2:]

    @property
    def needs_dips(self) -> bool:
        """True when brushes carry paint from wells (painting arm), False for pens."""
        return not self.pens

    def plan_tables(self) -> dict[str, list[Any]]:
        """The plan's paint and brush tables for this machine, as
        :func:`~animatepainter.planner.assemble.assemble_plan` takes them: ``palette``
        (RGB 0..255 per paint), ``paint_names``, ``brushes_mm`` (widths, mm) and
        ``brush_shapes``, in the profile's order (a stroke's paint / brush id indexes them)."""
        return {
            "palette": [p.rgb for p in self.paints],
            "paint_names": [p.name for p in self.paints],
            "brushes_mm": [b.width_mm for b in self.brushes],
            "brush_shapes": [b.shape for b in self.brushes],
        }

    def to_dict(self) -> dict[str, Any]:
        """The profile as plain JSON types, in the TOML layout (``profile_from_dict``
        of it gives the same profile)."""
        c, m, s, t = self.canvas, self.motion, self.stations, self.tool_change
        d: dict[str, Any] = {
            "schema": PROFILE_SCHEMA,
            "name": self.name,
            "kind": self.kind,
            "canvas": {
                "width_mm": c.width_mm,
                "height_mm": c.height_mm,
                "margins_mm": list(c.margins_mm),
                "origin_mm": list(c.origin_mm),
                "y_axis": c.y_axis,
            },
            "motion": {
                "travel_speed_mm_s": m.travel_speed_mm_s,
                "draw_speed_mm_s": m.draw_speed_mm_s,
                "z_speed_mm_s": m.z_speed_mm_s,
                "acceleration_mm_s2": m.acceleration_mm_s2,
                "junction_deviation_mm": m.junction_deviation_mm,
                "pen_up_z_mm": m.pen_up_z_mm,
                "pen_down_z_mm": m.pen_down_z_mm,
                "home_mm": list(m.home_mm),
                **(
                    {"pen_lift": m.pen_lift, "servo_up_s": m.servo_up_s, "servo_down_s": m.servo_down_s, "servo_delay_s": m.servo_delay_s}
                    if m.pen_lift == "servo"
                    else {}
                ),
            },
            "palette": {"matching": self.matching},
            **({"tubes": self.tubes} if self.tubes is not None else {}),
            "tool_change": {"mode": t.mode, "time_s": t.time_s},
        }
        if c.background is not None:
            d["canvas"]["background"] = list(c.background)
        if t.position_mm is not None:
            d["tool_change"]["position_mm"] = list(t.position_mm)
        if self.pens:
            d["pens"] = [
                {"name": p.name, "rgb": list(p.rgb), "width_mm": b.width_mm, "shape": b.shape, "tool": b.tool, **_recipe_dict(p)}
                for p, b in zip(self.paints, self.brushes)
            ]
        else:
            d["paints"] = [{"name": p.name, "rgb": list(p.rgb), **({"well_mm": list(p.well_mm)} if p.well_mm else {}), **_recipe_dict(p)} for p in self.paints]
            d["brushes"] = [
                {"name": b.name, "width_mm": b.width_mm, "shape": b.shape, "tool": b.tool, "capacity_mm": b.capacity_mm, "capacity_mm2": b.capacity_mm2}
                for b in self.brushes
            ]
            st: dict[str, Any] = {"dip_z_mm": s.dip_z_mm, "dip_s": s.dip_s, "wash_s": s.wash_s, "wipe_s": s.wipe_s}
            if s.water_mm is not None:
                st["water_mm"] = list(s.water_mm)
            if s.rag_mm is not None:
                st["rag_mm"] = list(s.rag_mm)
            d["stations"] = st
        return d


def _recipe_dict(p: PaintSpec) -> dict[str, Any]:
    return {"recipe": [[name, n] for name, n in p.recipe]} if p.recipe is not None else {}


# -- loading ---------------------------------------------------------------------------


def bundled_profiles() -> dict[str, Path]:
    """Bundled example profiles by name (``"pen-plotter"``, ``"servo-plotter"``, ``"painting-arm"``)."""
    root = Path(str(resources.files("animatepainter.planner.machine").joinpath("profiles")))
    return {p.stem: p for p in sorted(root.glob("*.toml"))}


def load_profile(path_or_name: str | Path) -> MachineProfile:
    """Read and validate a machine profile.

    Args:
        path_or_name: a TOML file, or the name of a bundled profile (see
            :func:`bundled_profiles`) when no such file exists.

    Raises:
        InputError: unreadable, not TOML, or a field is missing or impossible (one
            line naming the file and the field).
    """
    data, source = read_profile_toml(path_or_name)
    return profile_from_dict(data, source=source)


def read_profile_toml(path_or_name: str | Path, what: str = "machine profile", bundled: Mapping[str, Path] | None = None) -> tuple[dict[str, Any], str]:
    """The parsed TOML of a profile file (or of a bundled profile by name) and the path
    it came from, for messages.

    Args:
        path_or_name: a TOML file, or a bundled name.
        what: what the file is, for messages.
        bundled: the bundled files by name (default: :func:`bundled_profiles`; tube sets
            pass theirs).

    Raises:
        InputError: no such file or bundled name, unreadable, or not TOML.
    """
    p = Path(path_or_name)
    if not p.exists():
        bundled = bundled_profiles() if bundled is None else bundled
        if str(path_or_name) in bundled:
            p = bundled[str(path_or_name)]
        else:
            names = ", ".join(bundled)
            raise InputError(f"{path_or_name}: no such {what} (a TOML file, or a bundled one: {names})")
    if p.is_dir():
        raise InputError(f"{p}: is a directory, not a {what}")
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as e:
        raise InputError(f"{p}: cannot read the {what} ({one_line(e)})") from None
    except ValueError as e:  # TOMLDecodeError, or an integer of more than 4300 digits
        raise InputError(f"{p}: not valid TOML ({one_line(e, 200)})") from None
    except RecursionError:
        raise InputError(f"{p}: not valid TOML (nested too deeply)") from None
    return data, str(p)


# -- validation: the published JSON Schema, then the rules a schema cannot express -------


def _is_number(checker: Any, v: Any) -> bool:
    """A finite int or float, not a bool (TOML allows ``nan`` and ``inf``, and integers
    beyond the float range; a machine does not)."""
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return False
    try:
        return math.isfinite(float(v))
    except OverflowError:
        return False


def _is_integer(checker: Any, v: Any) -> bool:
    """An int written as one (``1``, not ``1.0``), not a bool."""
    return isinstance(v, int) and not isinstance(v, bool)


@functools.lru_cache(maxsize=1)
def _schema() -> dict[str, Any]:
    """The published machine-profile schema, parsed (read once)."""
    return json.loads(machine_schema_path().read_text(encoding="utf-8"))


@functools.lru_cache(maxsize=1)
def _validator() -> Any:
    return strict_validator(_schema())


def strict_validator(schema: Mapping[str, Any]) -> Any:
    """A JSON Schema (draft 2020-12) validator of ``schema`` whose numbers must be finite
    and whose integers must be written as integers (TOML files: machine profiles, tube sets)."""
    # imported here: loading a profile is rare, starting the CLI is not
    import jsonschema

    base = jsonschema.Draft202012Validator
    checker = base.TYPE_CHECKER.redefine_many({"number": _is_number, "integer": _is_integer})
    return jsonschema.validators.extend(base, type_checker=checker)(schema)


_Node = tuple[Mapping[str, Any], bool]
_Path = list[str | int]


def _resolve(node: Mapping[str, Any]) -> _Node:
    """``node`` with its local ``$ref`` followed, and whether that led to a titled
    ``$defs`` entry: a kind of value (an [X, Y] position, a colour, the margins) that
    messages name as a whole, with its title."""
    ref = node.get("$ref")
    if ref is None:
        return node, False
    target = _schema()["$defs"][ref.rsplit("/", 1)[1]]
    return target, "title" in target


def _walk(path: _Path) -> list[_Node | None]:
    """The schema node at each depth ``0..len(path)`` of an instance ``path``; ``None``
    where the schema has none (an unknown key, inside a titled value)."""
    out: list[_Node | None] = [(_schema(), False)]
    for key in path:
        here = out[-1]
        child = None
        if here is not None and not here[1]:
            child = here[0].get("items") if isinstance(key, int) else here[0].get("properties", {}).get(key)
        out.append(_resolve(child) if isinstance(child, dict) else None)
    return out


def _order(path: _Path) -> tuple[int, ...]:
    """Sort key: keys in the schema's order (unknown keys first, as they are checked
    first), array entries by index; a table before the keys in it."""
    key: list[int] = []
    for name, node in zip(path, _walk(path)):
        if isinstance(name, int):
            key.append(name)
        else:
            props = list(node[0].get("properties", {})) if node is not None else []
            key.append(props.index(name) if name in props else -1)
    return tuple(key)


_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")


def _field(path: _Path) -> str:
    """``["brushes", 1, "width_mm"]`` -> ``"brushes[1].width_mm"`` (other than bare keys
    quoted, as in TOML: ``canvas."a b"``)."""
    text = ""
    for key in path:
        if isinstance(key, str) and not _BARE_KEY.fullmatch(key):
            key = json.dumps(key)  # a TOML quoted key: one line whatever it holds
        text += f"[{key}]" if isinstance(key, int) else (f".{key}" if text else key)
    return text or "(top level)"


def _noun(node: Mapping[str, Any], key: str | int, finite: bool = True) -> str:
    """What a schema node asks for: ``"a finite number"`` (``"a number"`` without
    ``finite``), ``"a table"``, ``"an array of tables ([[pens]])"``, or a titled value's
    title."""
    node, titled = _resolve(node)
    if titled:
        return str(node["title"])
    kind = node.get("type")
    if kind == "array" and _resolve(node.get("items", {}))[0].get("type") == "object":
        return f"an array of tables ([[{key}]])"
    nouns = {"number": "a finite number" if finite else "a number", "integer": "an integer", "string": "a string", "object": "a table", "array": "an array"}
    return nouns.get(str(kind), "a value")


def _missing(path: _Path) -> str:
    """The problem with the absent key at ``path`` (whose parent is a table of the schema)."""
    parent = _walk(path[:-1])[-1]
    node = parent[0].get("properties", {}).get(path[-1], {}) if parent is not None else {}
    return f"missing ({_noun(node, path[-1], finite=False)} is needed)"


def _describe(err: Any, doc: Any) -> tuple[_Path, str]:
    """A jsonschema error as ``(field path, problem)``; the problem quotes the value."""
    path: _Path = list(err.absolute_path)
    nodes = _walk(path)
    for depth in range(1, len(nodes)):
        here = nodes[depth]
        if here is not None and here[1]:  # a bad [X, Y], colour or margins: show all of it
            value = doc
            for k in path[:depth]:
                value = value[k]
            return path[:depth], f"must be {here[0]['title']}, got {value!r}"
    v, kw, arg = err.instance, err.validator, err.validator_value
    node = nodes[-1][0] if nodes[-1] is not None else err.schema
    if kw == "additionalProperties":
        allowed = list(node.get("properties", {}))
        extra = next(k for k in v if k not in allowed)
        return path + [extra], f"unknown key (expected one of: {', '.join(allowed)})"
    if kw == "required":
        key = next(k for k in arg if k not in v)
        return path + [key], _missing(path + [key])
    if kw == "type":
        shown = type(v).__name__ if arg in ("object", "array") else repr(v)
        return path, f"must be {_noun(node, path[-1] if path else '')}, got {shown}"
    if kw == "enum":
        return path, f"must be one of {', '.join(map(str, arg))}, got {v!r}"
    if kw == "const":
        return path, f"must be {arg!r} (the version this release reads), got {v!r}"
    ops = {"minimum": ">=", "exclusiveMinimum": ">", "maximum": "<=", "exclusiveMaximum": "<"}
    if kw in ops:
        return path, f"must be {ops[kw]} {arg}, got {v!r}"
    if kw == "minItems" and path and _resolve(node.get("items", {}))[0].get("type") == "object":
        key = path[-1]
        return path, f"no {key}: at least {'one' if arg == 1 else arg} [[{key}]] {'entry is' if arg == 1 else 'entries are'} needed, got {v!r}"
    return path, one_line(err.message, 200)  # pragma: no cover - a keyword this schema does not use


def _check_schema(d: Any, source: str) -> None:
    """Validate ``d`` against the published schema; raise the first problem (in the
    schema's key order) as a one-line InputError naming ``source`` and the field."""
    problems = [_describe(e, d) for e in _validator().iter_errors(d)]
    if problems:
        path, msg = min(problems, key=lambda p: _order(p[0]))
        raise InputError(f"{source}: {_field(path)}: {msg}")


@functools.lru_cache(maxsize=None)
def _hints(cls: type) -> dict[str, Any]:
    """Field types of dataclass ``cls`` (the annotations are strings: evaluated once)."""
    return typing.get_type_hints(cls)


def _coerce(tp: Any, v: Any) -> Any:
    """A schema-valid TOML value as the dataclass field type ``tp`` wants it: floats for
    ``float`` (``100`` -> ``100.0``), tuples for ``[X, Y]`` / ``[R, G, B]`` / margins,
    ``'#rrggbb'`` as ``(r, g, b)``."""
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        tp = next(a for a in typing.get_args(tp) if a is not type(None))
    if typing.get_origin(tp) is tuple:
        if isinstance(v, str):
            return parse_rgb(v)
        item = typing.get_args(tp)[0]
        return tuple(item(x) for x in v)
    if tp in (float, int):
        return tp(v)
    return v


def build_section(cls: type, table: Mapping[str, Any], **defaults: Any) -> Any:
    """``cls`` from the keys of ``table`` that are its fields (others are ignored: the
    schema checked them); ``defaults`` for absent keys where the loader's default is not
    the dataclass's (e.g. a brush's tool number is its position); else the dataclass's."""
    hints = _hints(cls)
    kw = {f.name: _coerce(hints[f.name], table[f.name] if f.name in table else defaults[f.name])
          for f in dataclasses.fields(cls) if f.name in table or f.name in defaults}
    return cls(**kw)


def profile_from_dict(d: Any, source: str = "profile") -> MachineProfile:
    """Validate a parsed profile (TOML tables as dicts) and build it.

    ``d`` is checked against the published schema (:func:`machine_schema_path`), then
    against the rules a schema cannot express (margins that leave some canvas, pen up
    above pen down, servo settings, brush capacity, dip height, unique tool numbers,
    pens or paints and brushes, what a painting arm needs). Absent keys take the
    dataclasses' defaults (mm, mm/s, s).

    Raises:
        InputError: one line naming ``source``, the first bad field and its value, e.g.
            ``my-rig.toml: brushes[1].width_mm: must be > 0, got -2``.
    """

    # (a rig profile's RIG_SECTIONS are checked by the schema too, and read by
    # animatepainter.planner.rig.profile)
    _check_schema(d, source)
    kind = d.get("kind", "painting_arm" if "paints" in d else "pen_plotter")
    canvas = _canvas_section(d, source)
    motion = _motion_section(d, kind, source)
    matching = d.get("palette", {}).get("matching", MachineProfile.matching)
    tool_change: ToolChange = build_section(ToolChange, d.get("tool_change", {}))
    pens = "pens" in d
    if pens and ("paints" in d or "brushes" in d):
        _fail(source, "pens", "give [[pens]] (pen plotter) or [[paints]] and [[brushes]], not both")
    paints, brushes, tools, stations = _pen_tools(d, source) if pens else _paint_tools(d, kind, motion, source)
    numbers = [b.tool for b in brushes]
    if len(set(numbers)) != len(numbers):
        dup = next(n for n in numbers if numbers.count(n) > 1)
        _fail(source, "pens" if pens else "brushes", f"tool number {dup} is used twice")
    tubes = _check_recipes(d.get("tubes"), paints, "pens" if pens else "paints", source)
    return MachineProfile(
        name=d.get("name", Path(source).stem),
        kind=kind,
        canvas=canvas,
        motion=motion,
        paints=tuple(paints),
        brushes=tuple(brushes),
        tools=tuple(tools),
        stations=stations,
        tool_change=tool_change,
        pens=pens,
        matching=matching,
        source=source,
        tubes=tubes,
    )


def _fail(source: str, field: str, msg: str) -> typing.NoReturn:
    """Raise the loader's one-line :class:`InputError`: ``SOURCE: FIELD: MSG``."""
    raise InputError(f"{source}: {field}: {msg}")


def _canvas_section(d: Mapping[str, Any], source: str) -> MachineCanvas:
    """``[canvas]``: ``margin_mm`` (all sides) or ``margins_mm``, which must leave some
    canvas in both directions."""
    cd = d["canvas"]
    if "margins_mm" in cd and "margin_mm" in cd:
        _fail(source, "canvas.margin_mm", "give margin_mm (all sides) or margins_mm ([top, right, bottom, left]), not both")
    margins = [cd["margin_mm"]] * 4 if "margin_mm" in cd else cd.get("margins_mm", MachineCanvas.margins_mm)
    canvas: MachineCanvas = build_section(MachineCanvas, {**cd, "margins_mm": margins})
    top, right, bottom, left = canvas.margins_mm
    if left + right >= canvas.width_mm:
        _fail(source, "canvas.margins_mm", f"left + right margins ({left + right:g} mm) leave nothing of the {canvas.width_mm:g} mm canvas width")
    if top + bottom >= canvas.height_mm:
        _fail(source, "canvas.margins_mm", f"top + bottom margins ({top + bottom:g} mm) leave nothing of the {canvas.height_mm:g} mm canvas height")
    return canvas


def _motion_section(d: Mapping[str, Any], kind: str, source: str) -> Motion:
    """``[motion]``: a servo pen lift only on a pen plotter (with distinct up / down
    times), and the pen's up height above its down height."""
    motion: Motion = build_section(Motion, d.get("motion", {}))
    if motion.pen_lift == "servo":
        if kind != "pen_plotter":
            _fail(source, "motion.pen_lift", "'servo' is for pen plotters (a painting arm lowers its brush into wells on Z)")
        if motion.servo_up_s == motion.servo_down_s:
            _fail(source, "motion.servo_up_s", f"must differ from servo_down_s (both {motion.servo_up_s})")
    if motion.pen_up_z_mm <= motion.pen_down_z_mm:
        _fail(source, "motion.pen_up_z_mm", f"must be above pen_down_z_mm ({motion.pen_down_z_mm:g} mm), got {motion.pen_up_z_mm:g}")
    return motion


def _pen_tools(d: Mapping[str, Any], source: str) -> tuple[list[PaintSpec], list[BrushSpec], list[Tool], Stations]:
    """``[[pens]]``: each pen is a paint and a brush (tool number: its position + 1, unless
    given) and one tool; pens take no ``[stations]``."""
    paints: list[PaintSpec] = []
    brushes: list[BrushSpec] = []
    tools: list[Tool] = []
    for i, pd in enumerate(d["pens"]):
        paints.append(build_section(PaintSpec, pd, name=f"pen-{i}"))
        brushes.append(build_section(BrushSpec, pd, name=f"pen-{i}", tool=i + 1))
        tools.append(Tool(i, i, brushes[-1].tool))
    if "stations" in d:
        _fail(source, "stations", "pens need no paint wells or water; remove [stations] or use [[paints]] and [[brushes]]")
    return paints, brushes, tools, Stations()


def _paint_tools(d: Mapping[str, Any], kind: str, motion: Motion, source: str) -> tuple[list[PaintSpec], list[BrushSpec], list[Tool], Stations]:
    """``[[paints]]``, ``[[brushes]]`` and ``[stations]``: every paint with every brush is
    a tool; a painting arm needs a well per paint, water and rag stations, and a dip
    height below the pen-up height; a brush's ``capacity_mm2`` must paint at least one dab."""
    if "paints" not in d:
        _fail(source, "paints", "no paints: at least one [[paints]] entry (or [[pens]]) is needed")
    needs_well = kind == "painting_arm"
    paints: list[PaintSpec] = []
    for i, pd in enumerate(d["paints"]):
        if needs_well and "well_mm" not in pd:
            _fail(source, f"paints[{i}].well_mm", _missing(["paints", i, "well_mm"]))
        paints.append(build_section(PaintSpec, pd, name=f"paint-{i}"))
    if "brushes" not in d:
        _fail(source, "brushes", "no brushes: at least one [[brushes]] entry is needed")
    brushes: list[BrushSpec] = [build_section(BrushSpec, bd, name=f"brush-{j}", tool=j + 1) for j, bd in enumerate(d["brushes"])]
    for j, b in enumerate(brushes):
        dab = math.pi / 4.0 * b.width_mm * b.width_mm  # not **2: 1e300 gives inf, not OverflowError
        if 0 < b.capacity_mm2 <= dab:
            _fail(source, f"brushes[{j}].capacity_mm2", f"{b.capacity_mm2:g} mm^2 does not even paint one dab of this {b.width_mm:g} mm brush ({dab:.3g} mm^2)")
    tools = [Tool(i, j, brushes[j].tool) for j in range(len(brushes)) for i in range(len(paints))]
    sd = d.get("stations", {})
    if needs_well:
        if "stations" not in d:
            _fail(source, "stations", _missing(["stations"]))
        for key in ("water_mm", "rag_mm"):
            if key not in sd:
                _fail(source, f"stations.{key}", _missing(["stations", key]))
    stations: Stations = build_section(Stations, sd, dip_z_mm=motion.pen_down_z_mm)
    if stations.dip_z_mm >= motion.pen_up_z_mm:
        _fail(source, "stations.dip_z_mm", f"must be below motion.pen_up_z_mm ({motion.pen_up_z_mm:g} mm), got {stations.dip_z_mm:g}")
    return paints, brushes, tools, stations


def _check_recipes(tubes: str | None, paints: list[PaintSpec], key: str, source: str) -> str | None:
    """Check the paints' recipes against the tube set ``tubes`` (a bundled name, or a
    TOML path, relative to the profile's folder or the working directory); the recipes
    get the set's spelling of the tube names (in place). Returns how the set is named
    from now on: the bundled name, or the file's path."""
    with_recipe = [i for i, p in enumerate(paints) if p.recipe is not None]
    if tubes is None:
        if with_recipe:
            raise InputError(f"{source}: {key}[{with_recipe[0]}].recipe: names tubes, but the profile has no top-level tubes = \"SET\" (a bundled tube set or a TOML file)")
        return None
    from animatepainter.planner.machine.tubes import bundled_tube_sets, load_tubes

    ref = Path(tubes)
    beside = Path(source).parent / ref
    if not ref.is_absolute() and not ref.exists() and beside.is_file():
        ref = beside
    try:
        tube_set = load_tubes(ref if ref.exists() else tubes)
    except InputError as e:
        raise InputError(f"{source}: tubes: {e}") from None
    for i in with_recipe:
        canon: list[tuple[str, int]] = []
        for j, (name, n) in enumerate(paints[i].recipe or ()):
            try:
                tube = tube_set.tubes[tube_set.index(name)].name
            except KeyError:
                raise InputError(f"{source}: {key}[{i}].recipe[{j}]: {name!r} is not a tube of {tube_set.name} (its tubes: {', '.join(tube_set.names)})") from None
            if any(tube == c for c, _ in canon):
                raise InputError(f"{source}: {key}[{i}].recipe[{j}]: {name!r} is listed twice")
            canon.append((tube, int(n)))
        paints[i] = dataclasses.replace(paints[i], recipe=tuple(canon))
    return tubes if not ref.exists() and tubes in bundled_tube_sets() else str(ref.resolve())
