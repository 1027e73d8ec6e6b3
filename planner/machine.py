"""Machine profiles: the physical rig a plan is executed on (TOML, validated).

A profile describes a pen plotter or a painting robot: the canvas (size, margins,
where it sits in machine coordinates), the paints (or pens), the brushes, how much
paint a brush holds between dips, where the paint wells and the water and rag are,
speeds, and the pen-up / pen-down heights. :func:`load_profile` reads one from a
TOML file (or a bundled example by name, see :func:`bundled_profiles`) and checks
every field; a bad profile raises :class:`~animatepainter.planner.errors.InputError`
with one line naming the field, e.g. ``brushes[1].width_mm: must be > 0, got -2``.

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

The annotated bundled examples (``animatepainter/planner/data/machines/*.toml``) are
the reference of the format; ``docs/robot.md`` describes every key.
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from .errors import InputError, one_line

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
    "bundled_profiles",
    "profile_from_dict",
]

PROFILE_SCHEMA = "animatepainter.machine/1"
KINDS = ("pen_plotter", "painting_arm")
SHAPES = ("round", "flat")
MATCHING = ("nearest", "dither")
TOOL_CHANGE_MODES = ("pause", "m6")
PEN_LIFTS = ("z", "servo")


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
    of its well (``None`` for pens)."""

    name: str
    rgb: tuple[int, int, int]
    well_mm: tuple[float, float] | None = None


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

    @property
    def drawable_size_mm(self) -> tuple[float, float]:
        """``(width, height)`` of the paintable area, mm."""
        return self.canvas.drawable_box_mm[2:]

    @property
    def needs_dips(self) -> bool:
        """True when brushes carry paint from wells (painting arm), False for pens."""
        return not self.pens

    def tool_number(self, brush: int) -> int:
        """Tool number (``T`` word) of brush (or pen) ``brush``."""
        return self.brushes[brush].tool

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
            "tool_change": {"mode": t.mode, "time_s": t.time_s},
        }
        if c.background is not None:
            d["canvas"]["background"] = list(c.background)
        if t.position_mm is not None:
            d["tool_change"]["position_mm"] = list(t.position_mm)
        if self.pens:
            d["pens"] = [
                {"name": p.name, "rgb": list(p.rgb), "width_mm": b.width_mm, "shape": b.shape, "tool": b.tool}
                for p, b in zip(self.paints, self.brushes)
            ]
        else:
            d["paints"] = [{"name": p.name, "rgb": list(p.rgb), **({"well_mm": list(p.well_mm)} if p.well_mm else {})} for p in self.paints]
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


# -- loading ---------------------------------------------------------------------------


def bundled_profiles() -> dict[str, Path]:
    """Bundled example profiles by name (``"pen-plotter"``, ``"servo-plotter"``, ``"painting-arm"``)."""
    root = Path(str(resources.files("animatepainter.planner").joinpath("data/machines")))
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
    p = Path(path_or_name)
    if not p.exists():
        bundled = bundled_profiles()
        if str(path_or_name) in bundled:
            p = bundled[str(path_or_name)]
        else:
            names = ", ".join(bundled)
            raise InputError(f"{path_or_name}: no such machine profile (a TOML file, or a bundled one: {names})")
    if p.is_dir():
        raise InputError(f"{p}: is a directory, not a machine profile")
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as e:
        raise InputError(f"{p}: cannot read the machine profile ({one_line(e)})") from None
    except tomllib.TOMLDecodeError as e:
        raise InputError(f"{p}: not valid TOML ({one_line(e)})") from None
    return profile_from_dict(data, source=str(p))


class _Checker:
    """Field readers that raise one-line InputErrors naming the field."""

    def __init__(self, source: str):
        self.source = source

    def fail(self, field: str, msg: str) -> None:
        raise InputError(f"{self.source}: {field}: {msg}")

    def table(self, d: Mapping[str, Any], key: str, path: str, allowed: tuple[str, ...], required: bool = False) -> dict[str, Any]:
        field = f"{path}{key}"
        if key not in d:
            if required:
                self.fail(field, "missing (a table is needed)")
            return {}
        v = d[key]
        if not isinstance(v, dict):
            self.fail(field, f"must be a table, got {type(v).__name__}")
        self.known(v, field + ".", allowed)
        return v

    def known(self, d: Mapping[str, Any], prefix: str, allowed: tuple[str, ...]) -> None:
        for k in d:
            if k not in allowed:
                self.fail(f"{prefix}{k}", f"unknown key (expected one of: {', '.join(allowed)})")

    def num(self, d: Mapping[str, Any], key: str, path: str, default: float | None = None, minimum: float | None = None, positive: bool = False) -> float:
        field = f"{path}{key}"
        if key not in d:
            if default is None:
                self.fail(field, "missing (a number is needed)")
            return float(default)
        v = d[key]
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            self.fail(field, f"must be a finite number, got {v!r}")
        if positive and v <= 0:
            self.fail(field, f"must be > 0, got {v}")
        if minimum is not None and v < minimum:
            self.fail(field, f"must be >= {minimum}, got {v}")
        return float(v)

    def integer(self, d: Mapping[str, Any], key: str, path: str, default: int, minimum: int = 0) -> int:
        field = f"{path}{key}"
        v = d.get(key, default)
        if isinstance(v, bool) or not isinstance(v, int):
            self.fail(field, f"must be an integer, got {v!r}")
        if v < minimum:
            self.fail(field, f"must be >= {minimum}, got {v}")
        return int(v)

    def text(self, d: Mapping[str, Any], key: str, path: str, default: str | None = None, choices: tuple[str, ...] | None = None) -> str:
        field = f"{path}{key}"
        if key not in d:
            if default is None:
                self.fail(field, "missing (a string is needed)")
            return default
        v = d[key]
        if not isinstance(v, str):
            self.fail(field, f"must be a string, got {v!r}")
        if choices is not None and v not in choices:
            self.fail(field, f"must be one of {', '.join(choices)}, got {v!r}")
        return v

    def xy(self, d: Mapping[str, Any], key: str, path: str, default: tuple[float, float] | None = None, required: bool = False) -> tuple[float, float] | None:
        field = f"{path}{key}"
        if key not in d:
            if required:
                self.fail(field, "missing (an [X, Y] position in mm is needed)")
            return default
        v = d[key]
        if not (isinstance(v, list) and len(v) == 2 and all(isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) for x in v)):
            self.fail(field, f"must be [X, Y] in mm, got {v!r}")
        return (float(v[0]), float(v[1]))

    def rgb(self, d: Mapping[str, Any], key: str, path: str, required: bool = True) -> tuple[int, int, int] | None:
        field = f"{path}{key}"
        if key not in d:
            if required:
                self.fail(field, "missing (an [R, G, B] colour, 0..255 each, is needed)")
            return None
        v = d[key]
        if isinstance(v, str):
            t = v.strip()
            if len(t) == 7 and t.startswith("#"):
                try:
                    return tuple(int(t[i : i + 2], 16) for i in (1, 3, 5))  # type: ignore[return-value]
                except ValueError:
                    pass
            self.fail(field, f"must be [R, G, B] (0..255) or '#rrggbb', got {v!r}")
        if not (isinstance(v, list) and len(v) == 3 and all(isinstance(x, int) and not isinstance(x, bool) and 0 <= x <= 255 for x in v)):
            self.fail(field, f"must be [R, G, B] with integers 0..255, got {v!r}")
        return (int(v[0]), int(v[1]), int(v[2]))

    def items(self, d: Mapping[str, Any], key: str) -> list[dict[str, Any]]:
        v = d.get(key, [])
        if not isinstance(v, list) or not all(isinstance(x, dict) for x in v):
            self.fail(key, f"must be an array of tables ([[{key}]]), got {type(v).__name__}")
        return v


_TOP = ("schema", "name", "kind", "canvas", "motion", "palette", "paints", "brushes", "pens", "stations", "tool_change")
_CANVAS = ("width_mm", "height_mm", "margins_mm", "margin_mm", "background", "origin_mm", "y_axis")
_MOTION = ("travel_speed_mm_s", "draw_speed_mm_s", "z_speed_mm_s", "acceleration_mm_s2", "junction_deviation_mm", "pen_up_z_mm", "pen_down_z_mm", "home_mm",
           "pen_lift", "servo_up_s", "servo_down_s", "servo_delay_s")
_PAINT = ("name", "rgb", "well_mm")
_BRUSH = ("name", "width_mm", "shape", "tool", "capacity_mm", "capacity_mm2")
_PEN = ("name", "rgb", "width_mm", "shape", "tool")
_STATIONS = ("water_mm", "rag_mm", "dip_z_mm", "dip_s", "wash_s", "wipe_s")
_TOOL_CHANGE = ("mode", "time_s", "position_mm")


def profile_from_dict(d: Any, source: str = "profile") -> MachineProfile:
    """Validate a parsed profile (TOML tables as dicts) and build it.

    Raises:
        InputError: one line naming ``source`` and the first bad field.
    """
    ck = _Checker(source)
    if not isinstance(d, dict):
        ck.fail("(top level)", "must be a table")
    ck.known(d, "", _TOP)
    if "schema" in d and d["schema"] != PROFILE_SCHEMA:
        ck.fail("schema", f"{d['schema']!r} is not supported (this version reads {PROFILE_SCHEMA!r})")
    name = ck.text(d, "name", "", default=Path(source).stem)
    kind = ck.text(d, "kind", "", default="painting_arm" if "paints" in d else "pen_plotter", choices=KINDS)

    # canvas
    cd = ck.table(d, "canvas", "", _CANVAS, required=True)
    width = ck.num(cd, "width_mm", "canvas.", positive=True)
    height = ck.num(cd, "height_mm", "canvas.", positive=True)
    if "margins_mm" in cd and "margin_mm" in cd:
        ck.fail("canvas.margin_mm", "give margin_mm (all sides) or margins_mm ([top, right, bottom, left]), not both")
    if "margin_mm" in cd:
        mg = ck.num(cd, "margin_mm", "canvas.", minimum=0.0)
        margins = (mg, mg, mg, mg)
    elif "margins_mm" in cd:
        v = cd["margins_mm"]
        if not (isinstance(v, list) and len(v) == 4 and all(isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) for x in v)):
            ck.fail("canvas.margins_mm", f"must be [top, right, bottom, left] in mm, got {v!r}")
        if any(x < 0 for x in v):
            ck.fail("canvas.margins_mm", f"margins must be >= 0 mm, got {v!r}")
        margins = tuple(float(x) for x in v)  # type: ignore[assignment]
    else:
        margins = (0.0, 0.0, 0.0, 0.0)
    top, right, bottom, left = margins
    if left + right >= width:
        ck.fail("canvas.margins_mm", f"left + right margins ({left + right:g} mm) leave nothing of the {width:g} mm canvas width")
    if top + bottom >= height:
        ck.fail("canvas.margins_mm", f"top + bottom margins ({top + bottom:g} mm) leave nothing of the {height:g} mm canvas height")
    canvas = MachineCanvas(
        width_mm=width,
        height_mm=height,
        margins_mm=margins,  # type: ignore[arg-type]
        background=ck.rgb(cd, "background", "canvas.", required=False),
        origin_mm=ck.xy(cd, "origin_mm", "canvas.", default=(0.0, 0.0)),  # type: ignore[arg-type]
        y_axis=ck.text(cd, "y_axis", "canvas.", default="down", choices=("down", "up")),
    )

    # motion
    md = ck.table(d, "motion", "", _MOTION)
    motion = Motion(
        travel_speed_mm_s=ck.num(md, "travel_speed_mm_s", "motion.", default=Motion.travel_speed_mm_s, positive=True),
        draw_speed_mm_s=ck.num(md, "draw_speed_mm_s", "motion.", default=Motion.draw_speed_mm_s, positive=True),
        z_speed_mm_s=ck.num(md, "z_speed_mm_s", "motion.", default=Motion.z_speed_mm_s, positive=True),
        acceleration_mm_s2=ck.num(md, "acceleration_mm_s2", "motion.", default=0.0, minimum=0.0),
        junction_deviation_mm=ck.num(md, "junction_deviation_mm", "motion.", default=Motion.junction_deviation_mm, minimum=0.0),
        pen_up_z_mm=ck.num(md, "pen_up_z_mm", "motion.", default=Motion.pen_up_z_mm),
        pen_down_z_mm=ck.num(md, "pen_down_z_mm", "motion.", default=Motion.pen_down_z_mm),
        home_mm=ck.xy(md, "home_mm", "motion.", default=(0.0, 0.0)),  # type: ignore[arg-type]
        pen_lift=ck.text(md, "pen_lift", "motion.", default="z", choices=PEN_LIFTS),
        servo_up_s=ck.integer(md, "servo_up_s", "motion.", default=Motion.servo_up_s),
        servo_down_s=ck.integer(md, "servo_down_s", "motion.", default=Motion.servo_down_s),
        servo_delay_s=ck.num(md, "servo_delay_s", "motion.", default=Motion.servo_delay_s, minimum=0.0),
    )
    if motion.pen_lift == "servo":
        if kind != "pen_plotter":
            ck.fail("motion.pen_lift", "'servo' is for pen plotters (a painting arm lowers its brush into wells on Z)")
        if motion.servo_up_s == motion.servo_down_s:
            ck.fail("motion.servo_up_s", f"must differ from servo_down_s (both {motion.servo_up_s})")
    if motion.pen_up_z_mm <= motion.pen_down_z_mm:
        ck.fail("motion.pen_up_z_mm", f"must be above pen_down_z_mm ({motion.pen_down_z_mm:g} mm), got {motion.pen_up_z_mm:g}")

    pal = ck.table(d, "palette", "", ("matching",))
    matching = ck.text(pal, "matching", "palette.", default="nearest", choices=MATCHING)

    tcd = ck.table(d, "tool_change", "", _TOOL_CHANGE)
    tool_change = ToolChange(
        mode=ck.text(tcd, "mode", "tool_change.", default="pause", choices=TOOL_CHANGE_MODES),
        time_s=ck.num(tcd, "time_s", "tool_change.", default=ToolChange.time_s, minimum=0.0),
        position_mm=ck.xy(tcd, "position_mm", "tool_change."),
    )

    # tools
    pens = "pens" in d
    if pens and ("paints" in d or "brushes" in d):
        ck.fail("pens", "give [[pens]] (pen plotter) or [[paints]] and [[brushes]], not both")
    paints: list[PaintSpec] = []
    brushes: list[BrushSpec] = []
    tools: list[Tool] = []
    if pens:
        items = ck.items(d, "pens")
        if not items:
            ck.fail("pens", "no pens: at least one [[pens]] entry is needed")
        for i, pd in enumerate(items):
            path = f"pens[{i}]."
            ck.known(pd, path, _PEN)
            nm = ck.text(pd, "name", path, default=f"pen-{i}")
            number = ck.integer(pd, "tool", path, default=i + 1)
            paints.append(PaintSpec(nm, ck.rgb(pd, "rgb", path)))  # type: ignore[arg-type]
            brushes.append(BrushSpec(nm, ck.num(pd, "width_mm", path, positive=True), ck.text(pd, "shape", path, default="round", choices=SHAPES), number))
            tools.append(Tool(i, i, number))
        stations = Stations()
        if "stations" in d:
            ck.fail("stations", "pens need no paint wells or water; remove [stations] or use [[paints]] and [[brushes]]")
    else:
        items = ck.items(d, "paints")
        if not items:
            ck.fail("paints", "no paints: at least one [[paints]] entry (or [[pens]]) is needed")
        needs_well = kind == "painting_arm"
        for i, pd in enumerate(items):
            path = f"paints[{i}]."
            ck.known(pd, path, _PAINT)
            paints.append(PaintSpec(ck.text(pd, "name", path, default=f"paint-{i}"), ck.rgb(pd, "rgb", path), ck.xy(pd, "well_mm", path, required=needs_well)))  # type: ignore[arg-type]
        bitems = ck.items(d, "brushes")
        if not bitems:
            ck.fail("brushes", "no brushes: at least one [[brushes]] entry is needed")
        for j, bd in enumerate(bitems):
            path = f"brushes[{j}]."
            ck.known(bd, path, _BRUSH)
            brushes.append(
                BrushSpec(
                    name=ck.text(bd, "name", path, default=f"brush-{j}"),
                    width_mm=ck.num(bd, "width_mm", path, positive=True),
                    shape=ck.text(bd, "shape", path, default="round", choices=SHAPES),
                    tool=ck.integer(bd, "tool", path, default=j + 1),
                    capacity_mm=ck.num(bd, "capacity_mm", path, default=0.0, minimum=0.0),
                    capacity_mm2=ck.num(bd, "capacity_mm2", path, default=0.0, minimum=0.0),
                )
            )
        for j, b in enumerate(brushes):
            dab = math.pi * b.width_mm**2 / 4.0
            if 0 < b.capacity_mm2 <= dab:
                ck.fail(f"brushes[{j}].capacity_mm2", f"{b.capacity_mm2:g} mm^2 does not even paint one dab of this {b.width_mm:g} mm brush ({dab:.3g} mm^2)")
        tools = [Tool(i, j, brushes[j].tool) for j in range(len(brushes)) for i in range(len(paints))]
        sd = ck.table(d, "stations", "", _STATIONS, required=needs_well)
        stations = Stations(
            water_mm=ck.xy(sd, "water_mm", "stations.", required=needs_well),
            rag_mm=ck.xy(sd, "rag_mm", "stations.", required=needs_well),
            dip_z_mm=ck.num(sd, "dip_z_mm", "stations.", default=motion.pen_down_z_mm),
            dip_s=ck.num(sd, "dip_s", "stations.", default=Stations.dip_s, minimum=0.0),
            wash_s=ck.num(sd, "wash_s", "stations.", default=Stations.wash_s, minimum=0.0),
            wipe_s=ck.num(sd, "wipe_s", "stations.", default=Stations.wipe_s, minimum=0.0),
        )
        if stations.dip_z_mm >= motion.pen_up_z_mm:
            ck.fail("stations.dip_z_mm", f"must be below motion.pen_up_z_mm ({motion.pen_up_z_mm:g} mm), got {stations.dip_z_mm:g}")
    numbers = [b.tool for b in brushes]
    if len(set(numbers)) != len(numbers):
        dup = next(n for n in numbers if numbers.count(n) > 1)
        ck.fail("pens" if pens else "brushes", f"tool number {dup} is used twice")
    return MachineProfile(
        name=name,
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
    )
