"""Property-based (hypothesis) tests of the loaders a user feeds by hand.

Random and mutated plan JSON, machine-profile TOML, images and depth maps must give
either a valid result or a one-line error of the package's own type naming the file
(:class:`PlanError` for plans, :class:`InputError` for the rest), never a traceback of
another exception. Runs are deterministic (``derandomize=True``, no example database).
"""

from __future__ import annotations

import copy
import datetime
import io
import json
import math
import os
import pickle
import struct
import sys
import warnings
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from PIL import Image

from animatepainter.planner.errors import AnimatePainterError, InputError, PlanError
from animatepainter.planner.images import MAX_PIXELS, MIN_SIDE, load_depth, load_image
from animatepainter.planner.machine.profile import MachineProfile, bundled_profiles, load_profile
from animatepainter.planner.plan import Brush, Canvas, Paint, Stroke, StrokePlan, load_plan
from animatepainter.planner.render import render_plan

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

# corrupt TIFFs make Pillow warn before it fails (or copes)
pytestmark = pytest.mark.filterwarnings("ignore::UserWarning:PIL.TiffImagePlugin")


def fuzz(n: int):
    """Deterministic hypothesis settings for ``n`` examples (tmp_path is reused: every
    example overwrites its own files)."""
    return settings(
        max_examples=n,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
    )


def assert_one_line(err: BaseException, path: Path, kind: type[AnimatePainterError]) -> None:
    """``err`` is the package's ``kind``, one non-empty line that names ``path``."""
    assert isinstance(err, kind), f"{type(err).__name__}: {err}"
    text = str(err)
    assert text.strip() and "\n" not in text and "\r" not in text, repr(text)
    assert str(path) in text, text


# -- mutating a parsed document ----------------------------------------------------------


def node_paths(node: Any, prefix: tuple = (), keep=lambda path: True) -> list[tuple]:
    """Paths (key/index tuples) of every node of a JSON/TOML tree, the root included."""
    out = [prefix]
    if isinstance(node, dict):
        items = list(node.items())
    elif isinstance(node, list):
        items = list(enumerate(node))
    else:
        items = []
    for k, v in items:
        if keep(prefix + (k,)):
            out += node_paths(v, prefix + (k,), keep)
    return out


def get_at(doc: Any, path: tuple) -> Any:
    for k in path:
        doc = doc[k]
    return doc


@st.composite
def mutated(draw, base: Any, values: st.SearchStrategy, keep=lambda path: True, max_ops: int = 3, key_text: st.SearchStrategy | None = None,
            numbers: st.SearchStrategy | None = None) -> Any:
    """A copy of ``base`` with 1..max_ops edits: delete a key or item, replace a value
    (a number mostly by one of ``numbers``), duplicate, swap or truncate a list, add an
    unknown key."""
    doc = copy.deepcopy(base)
    for _ in range(draw(st.integers(1, max_ops))):
        paths = [p for p in node_paths(doc, keep=keep) if p]
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent, key = get_at(doc, path[:-1]), path[-1]
        op = draw(st.sampled_from(["delete", "replace", "replace", "replace", "duplicate", "swap", "truncate", "add_key"]))
        if op == "delete":
            del parent[key]
        elif op == "replace":
            old = parent[key]
            number = isinstance(old, (int, float)) and not isinstance(old, bool)
            parent[key] = copy.deepcopy(draw(numbers if number and numbers is not None and draw(st.integers(0, 3)) else values))
        elif op == "duplicate" and isinstance(parent, list):
            parent.insert(key, copy.deepcopy(parent[key]))
        elif op == "swap" and isinstance(parent, list) and len(parent) > 1:
            j = draw(st.integers(0, len(parent) - 1))
            parent[key], parent[j] = parent[j], parent[key]
        elif op == "truncate" and isinstance(parent[key], list):
            del parent[key][draw(st.integers(0, len(parent[key]))) :]
        elif op == "add_key" and isinstance(parent[key], dict):
            name = draw(key_text if key_text is not None else st.text(max_size=6))
            parent[key][name] = copy.deepcopy(draw(values))  # never share the constants
    return doc


@st.composite
def byte_edits(draw, data: bytes) -> bytes:
    """``data`` unchanged, truncated, with a few bytes overwritten, or cut to its head."""
    op = draw(st.sampled_from(["none", "none", "truncate", "flip", "flip", "head"]))
    if op == "truncate" and data:
        return data[: draw(st.integers(0, len(data) - 1))]
    if op == "flip" and data:
        buf = bytearray(data)
        for _ in range(draw(st.integers(1, 4))):
            buf[draw(st.integers(0, len(buf) - 1))] = draw(st.integers(0, 255))
        return bytes(buf)
    if op == "head":
        return data[: draw(st.sampled_from([8, 16, 33, 64, 128]))]
    return data


# -- 1. plan JSON ------------------------------------------------------------------------

# stand-ins: values json.dumps cannot write (or writes too slowly), put in the text
RAW = {
    "@@deep-array@@": "[" * 5000 + "]" * 5000,
    "@@deep-object@@": '{"a": ' * 5000 + "1" + "}" * 5000,
    "@@nested-900@@": "[" * 900 + "]" * 900,
    "@@bigint-5000@@": "1" + "0" * 5000,
    "@@1e400@@": "1e400",
    "@@-1e400@@": "-1e400",
    "@@-0@@": "-0",
    "@@1E2@@": "1E2",
}

JSON_WEIRD = [
    None, True, False, 0, -1, 1, 2, 3, 255, 256, 2**31, 2**63, -(2**63), 10**30, 10**400,
    0.5, -0.0, 1.0, 1e-300, 1e300, -1e300, 1.7976931348623157e308, math.nan, math.inf, -math.inf,
    "", "x", "0", "NaN", "animatepainter.plan/1", "animatepainter.plan/2", "round", "flat", "clean", "\x00", "\ud800", "\u00e9\u2028",
    [], {}, [[]], [0], [0, 0], [0, 0, 0], [0, 0, 0, 0], [None], [[0, 0]], [[0, 0], [1e308, 1e308]], [-1, -1, -1],
    {"id": 0}, {"engine": "x", "version": "1"}, ["clean", "clean"], [[1], [1]], [{}, {}],
    *RAW,
]

json_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=8)
)
json_values = st.recursive(json_scalars, lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=4), c, max_size=3), max_leaves=6)
plan_values = st.one_of(st.sampled_from(JSON_WEIRD), json_values)
# numbers at the edges: NaN, infinities, beyond the float range, tiny, integral floats
NUMBERS_WEIRD = [math.nan, math.inf, -math.inf, 10**400, -(10**400), 2**63, 1e300, -1e300, 1e-300, -1e-300, 0, -0.0, -1, 0.5, 1.0, 3.0, 1e16,
                 "@@1e400@@", "@@-1e400@@", "@@bigint-5000@@", "@@-0@@", "@@1E2@@"]
plan_numbers = st.one_of(st.sampled_from(NUMBERS_WEIRD), st.sampled_from(NUMBERS_WEIRD), st.floats(), st.integers())


def dumps_raw(doc: Any) -> str:
    """JSON text of ``doc`` with the :data:`RAW` stand-ins replaced."""
    text = json.dumps(doc)
    for k, v in RAW.items():
        text = text.replace(json.dumps(k), v)
    return text


@pytest.fixture(scope="module")
def base_plan() -> dict:
    """A real teacher plan of a 32x32 scene, 30 strokes, as a dict."""
    from animatepainter.planner import PaintSettings, make_scene, plan_painting

    sc = make_scene(32, 32, seed=1)
    res = plan_painting(sc.image, PaintSettings(strokes=30, size=32, steps=4, seed=1), depth=sc.depth)
    d = res.plan.to_dict()
    StrokePlan.validate_dict(d)
    d["strokes"][1]["actions"] = ["clean", "dip"]  # the optional field, too
    return d


def plan_keep(path: tuple) -> bool:
    """Mutate the second and last strokes and their first points, the first palette
    entry and brush only (few paths, so that every part of a plan gets hit)."""
    if len(path) >= 2 and path[0] == "strokes" and path[1] not in (1, 29):
        return False
    if len(path) >= 2 and path[0] in ("palette", "brushes") and path[1] != 0:
        return False
    if len(path) >= 4 and path[2] == "points" and path[3] != 0:
        return False
    if len(path) >= 2 and path[0] == "meta" and path[1] == "settings":
        return False
    return True


def render_size(plan: StrokePlan) -> tuple[str, int]:
    """Region and raster height render_plan(plan, width_px=32) uses. A plan without an
    image box (zero size, as Canvas defaults to) renders its whole canvas."""
    c = plan.canvas
    bx, by, bw, bh = c.image_box_mm
    if bw > 0 and bh > 0:
        return "image", (c.image_px[1] if c.image_px[0] == 32 else int(round(bh * 32 / bw)))
    return "canvas", int(round(c.height_mm * 32 / c.width_mm))


def check_plan_file(path: Path) -> StrokePlan | None:
    """load_plan(path) is a plan that validates, renders and round-trips, or a PlanError."""
    try:
        plan = load_plan(path)
    except AnimatePainterError as e:
        assert_one_line(e, path, PlanError)
        return None
    d = plan.to_dict()
    StrokePlan.validate_dict(d)
    region, h = render_size(plan)
    if h <= 4096:  # an extreme but valid aspect ratio would need a huge raster
        img = render_plan(plan, width_px=32, region=region)
        assert img.dtype == np.uint8 and img.shape == (h, 32, 3)
    again = path.with_name(path.stem + "-again.json")
    assert load_plan(plan.save(again)).to_dict() == d
    return plan


@fuzz(500)
@given(data=st.data())
def test_plan_mutated_dict(tmp_path, base_plan, data):
    doc = data.draw(mutated(base_plan, plan_values, keep=plan_keep, max_ops=2, numbers=plan_numbers))
    p = tmp_path / "plan.json"
    p.write_text(dumps_raw(doc), encoding="utf-8")
    check_plan_file(p)


@fuzz(200)
@given(data=st.data())
def test_plan_mutated_bytes(tmp_path, base_plan, data):
    text = json.dumps(base_plan)
    if data.draw(st.booleans()):
        text = StrokePlan.from_dict(base_plan).to_json()  # the canonical layout
    raw = text.encode("utf-8")
    enc = data.draw(st.sampled_from(["utf-8", "utf-8", "utf-8", "bom", "utf-16", "latin-1-junk"]))
    if enc == "bom":
        raw = b"\xef\xbb\xbf" + raw
    elif enc == "utf-16":
        raw = text.encode("utf-16")
    elif enc == "latin-1-junk":
        i = data.draw(st.integers(0, len(raw)))
        raw = raw[:i] + b"\xff\xfe\xc3" + raw[i:]
    raw = data.draw(byte_edits(raw))
    p = tmp_path / "plan.json"
    p.write_bytes(raw)
    check_plan_file(p)


@fuzz(80)
@given(raw=st.one_of(st.binary(max_size=200), json_values.map(lambda v: json.dumps(v).encode()), st.text(max_size=50).map(str.encode)))
def test_plan_random_files(tmp_path, raw):
    p = tmp_path / "plan.json"
    p.write_bytes(raw)
    assert check_plan_file(p) is None  # nothing random is a plan


@pytest.mark.parametrize(
    "edit",
    [
        pytest.param(lambda d: d["strokes"].__setitem__(0, "@@deep-array@@"), id="5000-deep-array"),
        pytest.param(lambda d: d["meta"].__setitem__("x", "@@nested-900@@"), id="900-deep-meta"),
        pytest.param(lambda d: d["meta"].__setitem__("x", "@@deep-object@@"), id="5000-deep-object"),
        pytest.param(lambda d: d["strokes"][0]["points"][0].__setitem__(0, 10**400), id="400-digit-int-point"),
        pytest.param(lambda d: d["strokes"][0].__setitem__("id", "@@bigint-5000@@"), id="5000-digit-int"),
        pytest.param(lambda d: d["canvas"].__setitem__("width_mm", 10**400), id="400-digit-int-width"),
        pytest.param(lambda d: d["canvas"].__setitem__("width_mm", math.nan), id="nan-canvas-width"),
        pytest.param(lambda d: d["canvas"].__setitem__("height_mm", "@@1e400@@"), id="1e400-canvas-height"),
        pytest.param(lambda d: d["canvas"]["image_box_mm"].__setitem__(2, math.nan), id="nan-image-box"),
        pytest.param(lambda d: d["canvas"]["image_box_mm"].__setitem__(3, -5.0), id="negative-image-box"),
        pytest.param(lambda d: d["strokes"][0].__setitem__("width_mm", math.inf), id="inf-stroke-width"),
        pytest.param(lambda d: d["brushes"][0].__setitem__("width_mm", math.inf), id="inf-brush-width"),
        pytest.param(lambda d: d["brushes"][0].__setitem__("width_mm", 0.0004), id="brush-width-saved-as-0"),
        pytest.param(lambda d: d["strokes"][0].__setitem__("width_mm", 1e-300), id="stroke-width-saved-as-0"),
    ],
)
def test_plan_regressions(tmp_path, base_plan, edit):
    """Inputs that crashed (RecursionError, OverflowError, ValueError), or loaded plans
    that could not be rendered (NaN / infinite sizes) or saved (sizes that round to 0)."""
    doc = copy.deepcopy(base_plan)
    edit(doc)
    p = tmp_path / "plan.json"
    p.write_text(dumps_raw(doc))
    with pytest.raises(PlanError) as e:
        load_plan(p)
    assert_one_line(e.value, p, PlanError)


def test_plan_integral_floats_become_ints(tmp_path, base_plan):
    """The schema's "integer" accepts 1.0: the plan keeps ints (np.bincount of steps)."""
    doc = copy.deepcopy(base_plan)
    for k in ("id", "brush", "paint", "layer", "level", "step"):
        doc["strokes"][0][k] = float(doc["strokes"][0][k])
    doc["canvas"]["image_px"] = [32.0, 32.0]
    p = tmp_path / "plan.json"
    p.write_text(json.dumps(doc))
    plan = check_plan_file(p)
    s = plan.strokes[0]
    assert all(type(v) is int for v in (s.id, s.brush, s.paint, s.layer, s.level, s.step, *plan.canvas.image_px))


def test_plan_without_image_box_loads(tmp_path):
    """Canvas() defaults to a zero image box: such plans stay valid."""
    plan = StrokePlan(Canvas(120.0, 100.0), [Paint(0, (1, 2, 3), "a")], [Brush(1, 2.5)],
                      [Stroke(0, np.array([[10.0, 10.0], [50.0, 60.0]]), 2.5, 1, 0, (1, 2, 3), 0, 0, 0)], {"engine": "test", "version": "0"})
    assert check_plan_file(plan.save(tmp_path / "plan.json")) == plan


# -- 2. machine profile TOML -------------------------------------------------------------


def toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return "nan" if math.isnan(v) else ("inf" if v == math.inf else "-inf" if v == -math.inf else repr(v))
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False).replace("\x7f", "\\u007f")  # JSON's escapes are TOML's
    if isinstance(v, (datetime.datetime, datetime.date, datetime.time)):
        return v.isoformat()
    if isinstance(v, list):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{toml_value(str(k))} = {toml_value(x)}" for k, x in v.items()) + "}"
    raise TypeError(f"no TOML for {v!r}")


def toml_dumps(doc: dict) -> str:
    """A tiny TOML writer: every top-level key on one line, tables inline; the
    :data:`RAW` stand-ins are replaced."""
    text = "".join(f"{toml_value(str(k))} = {toml_value(v)}\n" for k, v in doc.items())
    for k, v in RAW.items():
        text = text.replace(json.dumps(k), v)
    return text


BUNDLED = {name: tomllib.loads(path.read_text(encoding="utf-8")) for name, path in bundled_profiles().items()}

TOML_WEIRD = [
    True, False, 0, -1, 1, 2, 255, 256, 2**31, 2**63 - 1, -(2**63), 0.5, -0.0, 1e-300, 1e300, -1e300,
    math.nan, math.inf, -math.inf, "", "x", "0", "#ff0000", "#zzzzzz", "#fff", "round", "flat", "z", "servo",
    "up", "down", "pause", "m6", "nearest", "dither", "pen_plotter", "painting_arm", "animatepainter.machine/2",
    datetime.date(2020, 1, 2), datetime.datetime(2020, 1, 2, 3, 4, 5), datetime.time(1, 2, 3),
    [], {}, [0, 0], [0, 0, 0], [0, 0, 0, 0], [-1, 0], [1e300, -1e300], [math.nan, 0], [[]], [{}], [0, "x"], {"x": 1},
    [300, 300, 300], [1.5, 2, 3], {"name": "a", "rgb": [1, 2, 3], "width_mm": 1.0}, {"width_mm": 1.0},
]
toml_scalars = st.one_of(
    st.booleans(), st.integers(), st.sampled_from([2**64, -(2**64), 10**30, 10**400]), st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=8),
)
toml_values = st.one_of(
    st.sampled_from(TOML_WEIRD),
    st.recursive(toml_scalars, lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text("abcxyz_", max_size=4), c, max_size=3), max_leaves=6),
)
toml_numbers = plan_numbers
toml_keys = st.one_of(st.sampled_from(["width_mm", "rgb", "tool", "pens", "paints", "brushes", "stations", "margin_mm", "margins_mm", "x", "a\nb", ""]), st.text(max_size=5))


def profile_keep(path: tuple) -> bool:
    """Mutate the first two of each array of tables only (few paths, so that every
    field gets hit)."""
    return not (len(path) >= 2 and path[0] in ("pens", "paints", "brushes") and path[1] not in (0, 1))


def check_profile_file(path: Path) -> MachineProfile | None:
    try:
        prof = load_profile(path)
    except AnimatePainterError as e:
        assert_one_line(e, path, InputError)
        return None
    assert isinstance(prof, MachineProfile)
    assert math.isfinite(prof.canvas.width_mm) and prof.canvas.width_mm > 0
    assert math.isfinite(prof.canvas.height_mm) and prof.canvas.height_mm > 0
    return prof


def test_toml_writer_round_trips_bundled_profiles(tmp_path):
    for name, doc in BUNDLED.items():
        assert tomllib.loads(toml_dumps(doc)) == doc
        p = tmp_path / f"{name}.toml"
        p.write_text(toml_dumps(doc), encoding="utf-8")
        assert check_profile_file(p) is not None


@fuzz(400)
@given(data=st.data())
def test_profile_mutated_dict(tmp_path, data):
    name = data.draw(st.sampled_from(sorted(BUNDLED)))
    doc = data.draw(mutated(BUNDLED[name], toml_values, keep=profile_keep, max_ops=2, key_text=toml_keys, numbers=toml_numbers))
    p = tmp_path / "machine.toml"
    p.write_text(toml_dumps(doc), encoding="utf-8")
    check_profile_file(p)


@fuzz(150)
@given(data=st.data())
def test_profile_mutated_bytes(tmp_path, data):
    name = data.draw(st.sampled_from(sorted(BUNDLED)))
    raw = bundled_profiles()[name].read_bytes()
    raw = data.draw(byte_edits(raw))
    if data.draw(st.integers(0, 5)) == 0:
        raw = raw.replace(b"\n", b"\xff\n", 1)  # not UTF-8
    p = tmp_path / "machine.toml"
    p.write_bytes(raw)
    check_profile_file(p)


@fuzz(60)
@given(raw=st.one_of(st.binary(max_size=200), st.text(max_size=80).map(str.encode)))
def test_profile_random_files(tmp_path, raw):
    p = tmp_path / "machine.toml"
    p.write_bytes(raw)
    check_profile_file(p)


# Crashed profile.py as it was when these tests were written (it has since been
# rewritten): OverflowError from math.isfinite / float of a huge int, a message on two
# lines for a key with a newline, tomllib's RecursionError and 4300-digit ValueError.
@pytest.mark.parametrize(
    "edit",
    [
        pytest.param(lambda d: d["canvas"].__setitem__("width_mm", 10**400), id="400-digit-int"),
        pytest.param(lambda d: d["motion"].__setitem__("home_mm", [10**400, 0]), id="400-digit-int-in-xy"),
        pytest.param(lambda d: d["canvas"].__setitem__("a\nb", 1), id="key-with-newline"),
        pytest.param(lambda d: d.__setitem__("name\r", "x"), id="key-with-cr"),
        pytest.param(lambda d: d.__setitem__("x", "@@deep-array@@"), id="5000-deep-array"),
        pytest.param(lambda d: d["canvas"].__setitem__("width_mm", "@@bigint-5000@@"), id="5000-digit-int"),
    ],
)
def test_profile_regressions(tmp_path, edit):
    doc = copy.deepcopy(BUNDLED["pen-plotter"])
    edit(doc)
    p = tmp_path / "machine.toml"
    p.write_text(toml_dumps(doc), encoding="utf-8")
    with pytest.raises(InputError) as e:
        load_profile(p)
    assert_one_line(e.value, p, InputError)


# -- 3. images ---------------------------------------------------------------------------

# (mode, format): what Pillow writes
IMAGE_KINDS = [
    ("1", "PNG"), ("L", "PNG"), ("LA", "PNG"), ("P", "PNG"), ("PT", "PNG"), ("I;16", "PNG"), ("RGB", "PNG"), ("RGBA", "PNG"),
    ("1", "TIFF"), ("L", "TIFF"), ("LA", "TIFF"), ("I;16", "TIFF"), ("I;16B", "TIFF"), ("I", "TIFF"), ("F", "TIFF"), ("CMYK", "TIFF"), ("RGBA", "TIFF"), ("YCbCr", "TIFF"),
    ("L", "JPEG"), ("RGB", "JPEG"), ("CMYK", "JPEG"),
    ("P", "GIF"), ("PT", "GIF"), ("1", "BMP"), ("L", "BMP"), ("P", "BMP"), ("RGB", "BMP"), ("RGBA", "BMP"),
    ("RGB", "WEBP"), ("RGBA", "WEBP"), ("RGB", "PPM"), ("L", "PPM"), ("I;16", "PPM"), ("RGB", "TGA"), ("RGBA", "ICO"),
]
SUFFIX = {"PNG": ".png", "TIFF": ".tif", "JPEG": ".jpg", "GIF": ".gif", "BMP": ".bmp", "WEBP": ".webp", "PPM": ".ppm", "TGA": ".tga", "ICO": ".ico"}
BYTES_PER_PX = {"L": 1, "P": 1, "PT": 1, "LA": 2, "I;16": 2, "I;16B": 2, "I": 4, "F": 4, "RGB": 3, "YCbCr": 3, "RGBA": 4, "CMYK": 4}
SIDES = st.sampled_from([1, 2, 7, 8, 9, 12, 16, 33])


def make_image(mode: str, w: int, h: int, seed: int) -> Image.Image:
    """A ``w`` x ``h`` image of ``mode`` with random pixels (any bit pattern: float
    images get NaN, inf and huge values too). ``"PT"``: palette with transparency."""
    rng = np.random.default_rng(seed)
    if mode == "1":
        return Image.frombytes("1", (w, h), rng.bytes(((w + 7) // 8) * h))
    im = Image.frombytes("P" if mode == "PT" else mode, (w, h), rng.bytes(BYTES_PER_PX[mode] * w * h))
    if mode in ("P", "PT"):
        im.putpalette(rng.bytes(768))
        if mode == "PT":
            im.info["transparency"] = int(rng.integers(0, 256))
    return im


def encode(im: Image.Image, fmt: str) -> bytes | None:
    buf = io.BytesIO()
    try:
        kw = {"transparency": im.info["transparency"]} if "transparency" in im.info else {}
        im.save(buf, fmt, **kw)
    except (OSError, ValueError, KeyError, TypeError):
        return None  # Pillow cannot write this mode in this format
    return buf.getvalue()


def check_image_file(path: Path) -> np.ndarray | None:
    try:
        rgb = load_image(path)
    except AnimatePainterError as e:
        assert_one_line(e, path, InputError)
        return None
    assert isinstance(rgb, np.ndarray) and rgb.dtype == np.uint8 and rgb.ndim == 3 and rgb.shape[2] == 3
    assert min(rgb.shape[:2]) >= MIN_SIDE and rgb.flags.c_contiguous
    return rgb


@fuzz(400)
@given(kind=st.sampled_from(IMAGE_KINDS), w=SIDES, h=SIDES, seed=st.integers(0, 2**32 - 1), data=st.data())
def test_image_modes_sizes_and_damage(tmp_path, kind, w, h, seed, data):
    mode, fmt = kind
    raw = encode(make_image(mode, w, h, seed), fmt)
    if raw is None:
        return
    damaged = data.draw(byte_edits(raw))
    p = tmp_path / f"img{SUFFIX[fmt]}"
    p.write_bytes(damaged)
    rgb = check_image_file(p)
    if damaged == raw and fmt != "ICO":  # (damage can change the size; ICO pads it)
        if min(w, h) >= MIN_SIDE:
            assert rgb is not None, f"a valid {mode} {fmt} {w}x{h} image was refused"
            assert rgb.shape == (h, w, 3)
        else:
            assert rgb is None  # too small: refused


@fuzz(80)
@given(raw=st.binary(max_size=300), suffix=st.sampled_from([".png", ".jpg", ".tif", ".gif", ".bin", ""]), magic=st.sampled_from([b"", b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"II*\x00", b"MM\x00*", b"GIF89a", b"BM", b"RIFF\x00\x00\x00\x00WEBP", b"P6\n"]))
def test_image_random_bytes(tmp_path, raw, suffix, magic):
    p = tmp_path / f"img{suffix}"
    p.write_bytes(magic + raw)
    assert check_image_file(p) is None


def png_header_only(w: int, h: int) -> bytes:
    """A PNG (8-bit RGB) claiming ``w`` x ``h``, with an empty IDAT: no pixel data."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)) + chunk(b"IDAT", b"") + chunk(b"IEND", b"")


def test_image_size_limits(tmp_path):
    p = tmp_path / "huge.png"
    p.write_bytes(png_header_only(20_000, 20_000))  # 400 MP, refused before decoding
    assert 20_000 * 20_000 > MAX_PIXELS
    with pytest.raises(InputError, match="MP limit") as e:
        load_image(p)
    assert_one_line(e.value, p, InputError)
    p = tmp_path / "line.png"
    Image.new("RGB", (1, 64)).save(p)
    with pytest.raises(InputError, match=f"at least {MIN_SIDE} px") as e:
        load_image(p)
    assert_one_line(e.value, p, InputError)


def test_image_float_with_infinities(tmp_path):
    """+-inf in a float image took the range to +-1.8e308: inf - -inf overflowed (a
    RuntimeWarning and pixels of any value); now they are the extreme finite values."""
    p = tmp_path / "f.tif"
    arr = np.tile(np.array([0.0, 0.5, np.inf, -np.inf, np.nan, 1.0], np.float32), (8, 2))
    Image.fromarray(arr, "F").save(p)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        rgb = check_image_file(p)
    assert rgb[0, :6, 0].tolist() == [0, 128, 255, 0, 0, 255]


# -- 4. depth maps -----------------------------------------------------------------------

NPY_DTYPES = ["u1", "i1", "u2", "i2", "i4", "i8", "u8", "f2", "f4", "f8", "g", "c8", "c16", "?", "U3", "S2", "M8[s]", "m8[s]", "V4", "O", [("a", "<f4"), ("b", "<i2")]]


def npy_arrays(dtype: Any, shape: tuple[int, ...]) -> st.SearchStrategy[np.ndarray]:
    """Arrays of any content (NaN, inf, extremes) of ``dtype``."""
    dt = np.dtype(dtype)
    if dt.kind == "V" and dt.names is None:
        return st.just(np.zeros(shape, dt))
    if dt.kind == "O":
        return st.lists(json_scalars, min_size=math.prod(shape), max_size=math.prod(shape)).map(lambda v: np.array(v + [None], dtype=object)[:-1].reshape(shape))
    return hnp.arrays(dt, shape)
DEPTH_IMAGE_KINDS = [("L", "PNG"), ("I;16", "PNG"), ("RGB", "PNG"), ("RGBA", "PNG"), ("LA", "PNG"), ("P", "PNG"), ("1", "PNG"), ("L", "JPEG"),
                     ("F", "TIFF"), ("I", "TIFF"), ("I;16", "TIFF"), ("RGB", "TIFF"), ("CMYK", "TIFF"), ("RGB", "BMP"), ("RGB", "WEBP")]


class PickleTrap:
    """Unpickling it makes a folder: the loaders must never unpickle."""

    def __init__(self, path: str):
        self.path = path

    def __reduce__(self):
        return (os.mkdir, (self.path,))


def check_depth_file(path: Path, shape: tuple[int, int] | None) -> np.ndarray | None:
    try:
        depth = load_depth(path, shape)
    except AnimatePainterError as e:
        assert_one_line(e, path, InputError)
        return None
    assert isinstance(depth, np.ndarray) and depth.dtype == np.float32 and depth.ndim == 2
    if shape is not None:
        assert depth.shape == tuple(shape)
    assert np.isfinite(depth).all() and depth.min() >= 0.0 and depth.max() <= 1.0
    return depth


shapes_arg = st.one_of(st.none(), st.tuples(st.integers(1, 40), st.integers(1, 40)))


@fuzz(400)
@given(dtype=st.sampled_from(NPY_DTYPES), shape=hnp.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=6) | st.sampled_from([(8, 12), (12, 8, 1), (16, 16)]),
       data=st.data(), arg=st.sampled_from(["none", "same", "transposed", "random"]))
def test_depth_npy(tmp_path, dtype, shape, data, arg):
    arr = data.draw(npy_arrays(dtype, shape))
    buf = io.BytesIO()
    np.save(buf, arr, allow_pickle=True)
    raw = data.draw(byte_edits(buf.getvalue()))
    p = tmp_path / "depth.npy"
    p.write_bytes(raw)
    if arg == "none":
        want = None
    elif arg == "random":
        want = data.draw(shapes_arg)
    else:
        hw = (arr.shape + (1, 1))[:2] if arr.ndim >= 2 else (1, max(arr.size, 1))
        want = (max(hw[0], 1), max(hw[1], 1))
        if arg == "transposed":
            want = want[::-1]
    check_depth_file(p, want)


@fuzz(250)
@given(kind=st.sampled_from(DEPTH_IMAGE_KINDS), w=SIDES, h=SIDES, seed=st.integers(0, 2**32 - 1), shape=shapes_arg, data=st.data())
def test_depth_images(tmp_path, kind, w, h, seed, shape, data):
    mode, fmt = kind
    im = make_image(mode, w, h, seed)
    raw = encode(im, fmt)
    if raw is None:
        return
    damaged = data.draw(byte_edits(raw))
    p = tmp_path / f"depth{SUFFIX[fmt]}"
    p.write_bytes(damaged)
    want = data.draw(st.sampled_from([shape, (h, w), None]))
    depth = check_depth_file(p, want)
    if damaged == raw and want in ((h, w), None) and (mode != "F" or np.isfinite(np.asarray(im)).all()):
        assert depth is not None, f"a valid {mode} {fmt} {w}x{h} depth image was refused"
        assert depth.shape == (h, w)


@fuzz(60)
@given(raw=st.binary(max_size=300), suffix=st.sampled_from([".npy", ".png", ".tif", ".exr", ""]), magic=st.sampled_from([b"", b"\x93NUMPY\x01\x00", b"\x93NUMPY\x02\x00", b"\x93NUMPY\x03\x00", b"PK\x03\x04", b"\x80\x04", b"\x89PNG\r\n\x1a\n"]), shape=shapes_arg)
def test_depth_random_bytes(tmp_path, raw, suffix, magic, shape):
    p = tmp_path / f"depth{suffix}"
    p.write_bytes(magic + raw)
    check_depth_file(p, shape)


def test_depth_never_unpickles(tmp_path):
    trap = tmp_path / "UNPICKLED"
    files = {}
    files["pickle.npy"] = pickle.dumps(PickleTrap(str(trap)))
    buf = io.BytesIO()
    np.save(buf, np.array([[PickleTrap(str(trap)), 1.0]], dtype=object), allow_pickle=True)
    files["object.npy"] = buf.getvalue()
    buf = io.BytesIO()
    np.savez(buf, a=np.array([PickleTrap(str(trap))], dtype=object))
    files["archive.npy"] = buf.getvalue()  # an .npz under a .npy name
    for name, raw in files.items():
        p = tmp_path / name
        p.write_bytes(raw)
        with pytest.raises(InputError) as e:
            load_depth(p, (4, 4))
        assert_one_line(e.value, p, InputError)
    assert not trap.exists()


def npy_header_only(shape: tuple[int, ...], descr: str = "<f8") -> bytes:
    """A version-1 .npy header claiming ``shape``, and 64 bytes of data."""
    head = repr({"descr": descr, "fortran_order": False, "shape": shape})
    head += " " * (-(10 + len(head) + 1) % 64) + "\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(head)) + head.encode() + b"\0" * 64


def save_tiff(p: Path, arr: np.ndarray) -> Path:
    p = p.with_suffix(".tif")
    Image.fromarray(arr, "F").save(p)
    return p


def tiff_claiming_width(p: Path, width: int) -> Path:
    """A 1x1 float TIFF whose ImageWidth tag says ``width``."""
    buf = io.BytesIO()
    Image.fromarray(np.zeros((1, 1), np.float32), "F").save(buf, "TIFF")
    entry = b"\x00\x01\x04\x00\x01\x00\x00\x00"  # tag 256 (ImageWidth), LONG, count 1
    raw = buf.getvalue().replace(entry + struct.pack("<I", 1), entry + struct.pack("<I", width), 1)
    return write(p.with_suffix(".tif"), raw)


def write(p: Path, raw: bytes) -> Path:
    p.write_bytes(raw)
    return p


def npz_as_npy(p: Path) -> Path:
    np.savez(p.with_suffix(".npz"), a=np.zeros((4, 4)))
    return p.with_suffix(".npz").rename(p)


@pytest.mark.parametrize(
    "make",
    [
        pytest.param(lambda p: np.save(p, np.zeros((0, 5))) or p, id="empty-array-ValueError"),
        pytest.param(lambda p: write(p, b""), id="empty-file-EOFError"),
        pytest.param(npz_as_npy, id="npz-as-npy-AttributeError"),
        pytest.param(lambda p: write(p, npy_header_only((100_000, 100_000))), id="header-claims-80-GB-MemoryError"),
        pytest.param(lambda p: np.save(p, np.ones((4, 4), np.complex128)) or p, id="complex-dropped-imaginary-part"),
        pytest.param(lambda p: save_tiff(p, np.full((8, 8), np.nan, np.float32)), id="nan-float-tiff-gave-nan"),
        pytest.param(lambda p: save_tiff(p, np.full((8, 8), np.inf, np.float32)), id="inf-float-tiff-gave-nan"),
        pytest.param(lambda p: tiff_claiming_width(p, 2**24 + 1), id="tiff-too-wide-cv2.error"),
    ],
)
def test_depth_regressions(tmp_path, make):
    p = make(tmp_path / "depth.npy")
    with pytest.raises(InputError) as e:
        load_depth(p, (8, 8))
    assert_one_line(e.value, p, InputError)


def test_depth_huge_range_stays_finite(tmp_path):
    """(-1e308, 1e308): hi - lo overflows to inf; the result must still be in [0, 1]."""
    p = tmp_path / "depth.npy"
    np.save(p, np.array([[-1e308, 1e308], [0.0, 1.0]]))
    d = check_depth_file(p, (2, 2))
    assert d is not None and d[0, 0] == 0.0 and d[0, 1] == 1.0 and abs(d[1, 0] - 0.5) < 1e-6
