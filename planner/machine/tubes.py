"""Tube sets: the tubes of paint a person (or a mixing station) owns (TOML, validated).

A tube set is a small TOML file: the set's ``name`` and, per ``[[tubes]]`` entry, the
tube's ``name``, its colour ``rgb`` (sRGB 0..255 or ``'#rrggbb'``, the paint straight
from the tube in a thick layer: its masstone) and, where known, its ``pigment`` (Colour
Index generic name, e.g. ``PB29``) and ``opacity`` (the rating printed on the tube)::

    schema = "animatepainter.tubes/1"
    name = "my-set"
    [[tubes]]
    name = "titanium white"
    rgb = [244, 243, 238]
    pigment = "PW6"
    [[tubes]]
    name = "ultramarine blue"
    rgb = "#232d8c"
    pigment = "PB29"

:func:`load_tubes` reads one (or a bundled set by name, see :func:`bundled_tube_sets`:
``student-acrylic``), checks it against the published JSON Schema
(``animatepainter/planner/schema/tubes-1.schema.json``, :func:`tubes_schema_path`), then
against the rules a schema cannot express: names unique (ignoring case), and at least
one white (:data:`WHITE_MIN_L`, :data:`WHITE_MAX_CHROMA`), since tints need one. A bad
set raises :class:`~animatepainter.planner.errors.InputError` with one line naming the
file, the key and the value, e.g. ``my-set.toml: tubes[2].rgb: must be an [R, G, B]
colour (integers 0..255) or '#rrggbb', got [300, 0, 0]``.

What the tubes mix to is :mod:`animatepainter.planner.mixing`.
"""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from animatepainter.planner.colors import hex_rgb, parse_rgb
from animatepainter.planner.errors import InputError, one_line
from animatepainter.planner.machine.profile import read_profile_toml, strict_validator

__all__ = [
    "TUBES_SCHEMA",
    "OPACITIES",
    "PIGMENT_OPACITY",
    "WHITE_MIN_L",
    "WHITE_MAX_CHROMA",
    "Tube",
    "TubeSet",
    "load_tubes",
    "bundled_tube_sets",
    "tube_set_from_dict",
    "tubes_schema_path",
]

TUBES_SCHEMA = "animatepainter.tubes/1"
#: opacity ratings, most opaque first
OPACITIES = ("opaque", "semi-opaque", "semi-transparent", "transparent")
#: a white: CIELAB (D65) L* at least this ...
WHITE_MIN_L = 85.0
#: ... and chroma C*ab at most this
WHITE_MAX_CHROMA = 10.0

#: the usual opacity rating of common artists' pigments (Colour Index generic names),
#: as manufacturers print it on tubes (ratings vary a little between brands and with
#: the pigment's grade; a tube's own ``opacity`` key overrides this). Pigments not
#: listed are taken as "semi-opaque".
PIGMENT_OPACITY: dict[str, str] = {
    # whites and blacks
    "PW6": "opaque", "PW4": "semi-transparent", "PW5": "semi-opaque", "PW1": "opaque",
    "PBk11": "opaque", "PBk9": "semi-opaque", "PBk6": "opaque", "PBk7": "opaque", "PBk31": "semi-transparent",
    # yellows and oranges
    "PY3": "semi-transparent", "PY74": "semi-opaque", "PY65": "semi-opaque", "PY73": "semi-opaque",
    "PY97": "semi-transparent", "PY150": "transparent", "PY153": "transparent", "PY110": "semi-transparent",
    "PY35": "opaque", "PY37": "opaque", "PY184": "opaque", "PY53": "opaque",
    "PY42": "opaque", "PY43": "opaque", "PO20": "opaque", "PO73": "semi-opaque", "PO62": "semi-opaque", "PO43": "semi-transparent",
    # reds and violets
    "PR108": "opaque", "PR254": "semi-opaque", "PR255": "semi-opaque", "PR170": "semi-opaque",
    "PR112": "semi-transparent", "PR188": "semi-transparent", "PR101": "opaque", "PR102": "opaque",
    "PV19": "transparent", "PR122": "transparent", "PR177": "transparent", "PR206": "transparent",
    "PR209": "transparent", "PR83": "transparent", "PV23": "transparent", "PV15": "semi-transparent", "PV16": "semi-transparent",
    # blues and greens
    "PB29": "semi-transparent", "PB15": "transparent", "PB15:1": "transparent", "PB15:3": "transparent",
    "PB15:4": "transparent", "PB15:6": "transparent", "PB27": "transparent", "PB60": "transparent",
    "PB28": "semi-opaque", "PB35": "opaque", "PB36": "opaque",
    "PG7": "transparent", "PG36": "transparent", "PG18": "transparent", "PG17": "opaque", "PG19": "opaque", "PG50": "opaque",
    # earths
    "PBr7": "opaque", "PBr6": "opaque", "PBr24": "opaque",
}
_DEFAULT_OPACITY = "semi-opaque"


def tubes_schema_path() -> Path:
    """Path of the published JSON Schema of tube sets (inside the installed package)."""
    return Path(str(resources.files("animatepainter.planner").joinpath("schema/tubes-1.schema.json")))


def bundled_tube_sets() -> dict[str, Path]:
    """Bundled tube sets by name (``"student-acrylic"``)."""
    root = Path(str(resources.files("animatepainter.planner.machine").joinpath("tubes")))
    return {p.stem: p for p in sorted(root.glob("*.toml"))}


@dataclass(frozen=True)
class Tube:
    """One tube.

    Attributes:
        name: as a recipe says it (``"ultramarine blue"``).
        rgb: masstone colour, sRGB 0..255.
        pigment: Colour Index generic name(s) (``"PB29"``), ``None`` if not given.
        opacity: one of :data:`OPACITIES` (the file's, else the pigment's usual one).
    """

    name: str
    rgb: tuple[int, int, int]
    pigment: str | None = None
    opacity: str = _DEFAULT_OPACITY

    def to_json(self) -> dict[str, Any]:
        """``{"name", "rgb": [r, g, b], "pigment": str | None}`` (as in a plan's meta.mixing.tube_set)."""
        return {"name": self.name, "rgb": [int(v) for v in self.rgb], "pigment": self.pigment}


@dataclass(frozen=True)
class TubeSet:
    """A validated tube set (see the module docstring).

    Attributes:
        name: the set's name.
        tubes: the tubes, in file order.
        whites: indices of the tubes that are whites (at least one).
        source: the file it came from (for messages).
    """

    name: str
    tubes: tuple[Tube, ...]
    whites: tuple[int, ...]
    source: str = "tubes"

    def __len__(self) -> int:
        return len(self.tubes)

    @property
    def names(self) -> tuple[str, ...]:
        """The tubes' names, in order."""
        return tuple(t.name for t in self.tubes)

    def index(self, name: str) -> int:
        """Position of the tube called ``name`` (case and surrounding spaces ignored).

        Raises:
            KeyError: no such tube.
        """
        key = _key(name)
        for i, t in enumerate(self.tubes):
            if _key(t.name) == key:
                return i
        raise KeyError(name)

    def to_json(self) -> list[dict[str, Any]]:
        """The tubes as plain JSON types (a plan's ``meta.mixing.tube_set``)."""
        return [t.to_json() for t in self.tubes]

    def to_dict(self) -> dict[str, Any]:
        """The set in the TOML layout (``tube_set_from_dict`` of it gives the same set)."""
        tubes = []
        for t in self.tubes:
            d: dict[str, Any] = {"name": t.name, "rgb": list(t.rgb)}
            if t.pigment is not None:
                d["pigment"] = t.pigment
            d["opacity"] = t.opacity
            tubes.append(d)
        return {"schema": TUBES_SCHEMA, "name": self.name, "tubes": tubes}


def load_tubes(name_or_path: "str | Path | TubeSet") -> TubeSet:
    """Read and validate a tube set.

    Args:
        name_or_path: a TOML file, or the name of a bundled set (see
            :func:`bundled_tube_sets`) when no such file exists (a :class:`TubeSet`
            is returned as it is).

    Raises:
        InputError: no such file or set, unreadable, not TOML, or a bad set (one line
            naming the file and the key).
    """
    if isinstance(name_or_path, TubeSet):
        return name_or_path
    data, source = read_profile_toml(name_or_path, what="tube set", bundled=bundled_tube_sets())
    return tube_set_from_dict(data, source=source)


def tube_set_from_dict(d: Any, source: str = "tubes") -> TubeSet:
    """Validate a parsed tube set (TOML tables as dicts, or its :meth:`TubeSet.to_dict`)
    and build it.

    Raises:
        InputError: one line naming ``source``, the first bad key and its value.
    """
    _check_schema(d, source)
    tubes: list[Tube] = []
    seen: dict[str, int] = {}
    for i, td in enumerate(d["tubes"]):
        name = " ".join(td["name"].split())
        if _key(name) in seen:
            raise InputError(f"{source}: tubes[{i}].name: {name!r} is used twice (also tubes[{seen[_key(name)]}])")
        seen[_key(name)] = i
        pigment = " ".join(td["pigment"].split()) if "pigment" in td else None
        opacity = td.get("opacity") or _pigment_opacity(pigment)
        tubes.append(Tube(name=name, rgb=parse_rgb(td["rgb"], f"tubes[{i}].rgb"), pigment=pigment, opacity=opacity))
    whites = tuple(i for i, t in enumerate(tubes) if _is_white(t.rgb))
    if not whites:
        raise InputError(
            f"{source}: tubes: no white (a tube whose colour has L* >= {WHITE_MIN_L:g} and chroma <= {WHITE_MAX_CHROMA:g}, "
            f"e.g. titanium white {hex_rgb((244, 243, 238))}); tints need one"
        )
    name = d.get("name", Path(source).stem)
    return TubeSet(name=" ".join(name.split()), tubes=tuple(tubes), whites=whites, source=source)


def _key(name: str) -> str:
    return " ".join(name.split()).casefold()


def _pigment_opacity(pigment: str | None) -> str:
    """The usual opacity of the first pigment of ``pigment`` (``"PB15:3"``, ``"PY3, PY74"``)."""
    if not pigment:
        return _DEFAULT_OPACITY
    first = re.split(r"\s*[,+/]\s*", pigment.strip())[0].replace(" ", "")
    code = "P" + first[1:3].capitalize() + first[3:] if first[1:3].upper() in ("BK", "BR") else first.upper()
    return PIGMENT_OPACITY.get(code, PIGMENT_OPACITY.get(code.split(":")[0], _DEFAULT_OPACITY))


def _is_white(rgb: tuple[int, int, int]) -> bool:
    from animatepainter.planner.mixing import srgb_to_lab  # mixing imports this module

    L, a, b = srgb_to_lab(rgb)
    return bool(L >= WHITE_MIN_L and (a * a + b * b) ** 0.5 <= WHITE_MAX_CHROMA)


# -- the published schema, with one-line messages --------------------------------------


@functools.lru_cache(maxsize=1)
def _schema() -> dict[str, Any]:
    return json.loads(tubes_schema_path().read_text(encoding="utf-8"))


@functools.lru_cache(maxsize=1)
def _validator() -> Any:
    return strict_validator(_schema())


def _where(path: list[str | int]) -> str:
    text = ""
    for key in path:
        if isinstance(key, str) and not re.fullmatch(r"[A-Za-z0-9_-]+", key):
            key = json.dumps(key)
        text += f"[{key}]" if isinstance(key, int) else (f".{key}" if text else key)
    return text or "(top level)"


def _problem(err: Any, doc: Any) -> tuple[list[str | int], str]:
    """A jsonschema error on ``doc`` as ``(key path, problem)`` quoting the value."""
    path: list[str | int] = list(err.absolute_path)
    v, kw, arg = err.instance, err.validator, err.validator_value
    if "rgb" in path:  # a colour is shown whole, whatever part of it is wrong
        path = path[: path.index("rgb") + 1]
        value = doc
        for k in path:
            value = value[k]
        return path, f"must be {_schema()['$defs']['rgb']['title']}, got {value!r}"
    if kw == "additionalProperties":
        allowed = list(err.schema.get("properties", {}))
        extra = next(k for k in v if k not in allowed)
        return path + [extra], f"unknown key (expected one of: {', '.join(allowed)})"
    if kw == "required":
        key = next(k for k in arg if k not in v)
        return path + [key], "missing"
    if kw == "minItems" and path == ["tubes"]:
        return path, f"a set needs at least {arg} tubes (a white and a colour), got {len(v)}"
    if kw == "type":
        nouns = {"string": "a string", "array": "an array of tables ([[tubes]])" if path == ["tubes"] else "an array", "object": "a table"}
        shown = type(v).__name__ if isinstance(v, (dict, list)) else repr(v)
        return path, f"must be {nouns.get(str(arg), str(arg))}, got {shown}"
    if kw == "enum":
        return path, f"must be one of {', '.join(map(str, arg))}, got {v!r}"
    if kw == "const":
        return path, f"must be {arg!r} (the version this release reads), got {v!r}"
    if kw == "pattern" and path[-1:] == ["pigment"]:
        return path, f"must be Colour Index generic names such as 'PB29', 'PB15:3' or 'PY3, PY74', got {v!r}"
    if kw in ("minLength", "pattern"):
        return path, f"must not be empty, got {v!r}"
    return path, one_line(err.message, 200)  # pragma: no cover - a keyword this schema does not use


def _check_schema(d: Any, source: str) -> None:
    """Validate ``d`` against the published schema; raise the first problem (in key
    order) as a one-line InputError naming ``source`` and the key."""
    errors = list(_validator().iter_errors(d))
    if not errors:
        return
    problems = [_problem(e, d) for e in errors]
    path, msg = min(problems, key=lambda p: [(0, k) if isinstance(k, int) else (1, _order(k)) for k in p[0]])
    raise InputError(f"{source}: {_where(path)}: {msg}")


_KEY_ORDER = ("schema", "name", "description", "tubes", "rgb", "pigment", "opacity")


def _order(key: str) -> int:
    return _KEY_ORDER.index(key) if key in _KEY_ORDER else -1
