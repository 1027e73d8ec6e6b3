"""Machine profiles: the published JSON Schema, in step with the dataclasses and the loader."""

from __future__ import annotations

import dataclasses
import json
import re
import sys
from importlib import resources
from typing import Any, Iterator

import jsonschema
import pytest

from animatepainter.planner.errors import InputError
from animatepainter.planner.machine.profile import (
    RIG_SECTIONS,
    PROFILE_SCHEMA,
    BrushSpec,
    MachineCanvas,
    MachineProfile,
    Motion,
    PaintSpec,
    Stations,
    ToolChange,
    bundled_profiles,
    load_profile,
    machine_schema_path,
    profile_from_dict,
)
from animatepainter.planner.plan import schema_path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

# the schema's tables and the dataclass each one becomes
TABLES = {"canvas": MachineCanvas, "motion": Motion, "paints": PaintSpec, "brushes": BrushSpec, "stations": Stations, "tool_change": ToolChange}
# documented exceptions: keys that are not a field of their table's dataclass ...
KEY_ONLY = {("canvas", "margin_mm")}  # shorthand: margins_mm with the same value on every side
# ... and absent keys whose default is the loader's, not the dataclass's (the schema says it in words)
LOADER_DEFAULTS = {("brushes", "tool"), ("stations", "dip_z_mm")}  # position counted from 1; motion.pen_down_z_mm
# MachineProfile fields with no key of their own
DERIVED = {"tools", "source", "matching", "pens"}  # paints x brushes; the file; palette.matching; given [[pens]]


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    return json.loads(machine_schema_path().read_text(encoding="utf-8"))


def _props(schema: dict[str, Any], table: str) -> dict[str, Any]:
    node = schema["properties"][table]
    return (node["items"] if node.get("type") == "array" else node)["properties"]


def _all_properties(node: dict[str, Any], path: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    """Every ``(dotted path, property schema)`` of the schema, tables and arrays of tables included."""
    for key, sub in node.get("properties", {}).items():
        yield f"{path}{key}", sub
        inner = sub.get("items", sub) if sub.get("type") == "array" else sub
        yield from _all_properties(inner, f"{path}{key}.")


def test_schema_is_published_valid_and_names_the_format(schema):
    assert resources.files("animatepainter.planner").joinpath("schema/machine-1.schema.json").is_file()
    plan_schema = json.loads(schema_path().read_text())
    assert schema["$schema"] == plan_schema["$schema"]  # the same draft as plan files
    jsonschema.Draft202012Validator.check_schema(schema)
    assert PROFILE_SCHEMA in schema["title"] and schema["$id"].endswith("/machine-1.schema.json")
    assert schema["properties"]["schema"]["const"] == PROFILE_SCHEMA
    assert schema["additionalProperties"] is False
    for path, sub in _all_properties(schema):
        node = sub["items"] if sub.get("type") == "array" else sub
        if node.get("type") == "object":
            assert node["additionalProperties"] is False, f"{path}: unknown keys must be errors"


@pytest.mark.parametrize("table", sorted(TABLES))
def test_schema_tables_and_dataclasses_have_the_same_keys(schema, table):
    keys = set(_props(schema, table))
    fields = {f.name for f in dataclasses.fields(TABLES[table])}
    assert keys - fields == {k for t, k in KEY_ONLY if t == table}, f"[{table}] keys without a field"
    assert fields - keys == set(), f"{TABLES[table].__name__} fields without a key in [{table}]"


def test_schema_top_level_pens_and_palette_match_the_profile(schema):
    fields = {f.name for f in dataclasses.fields(MachineProfile)}
    # a key per field, plus the version tag, the palette table (matching) and [[pens]]
    assert set(schema["properties"]) == (fields - DERIVED) | {"schema", "palette", "pens"} | set(RIG_SECTIONS)
    assert set(_props(schema, "palette")) == {"matching"}
    # a pen is one paint (no well) and one brush (no dip capacity)
    pen = set(_props(schema, "pens"))
    paint = {f.name for f in dataclasses.fields(PaintSpec)} - {"well_mm"}
    brush = {f.name for f in dataclasses.fields(BrushSpec)} - {"capacity_mm", "capacity_mm2"}
    assert pen == paint | brush


def _same(json_value: Any, py_value: Any) -> bool:
    if isinstance(json_value, list):
        return isinstance(py_value, tuple) and len(json_value) == len(py_value) and all(map(_same, json_value, py_value))
    return json_value == py_value and type(json_value) is not bool


@pytest.mark.parametrize("table", sorted(TABLES))
def test_schema_defaults_are_the_dataclass_defaults(schema, table):
    """A documented default is the dataclass's; every dataclass default is documented
    (or, where the loader picks another, listed in LOADER_DEFAULTS)."""
    props = _props(schema, table)
    for f in dataclasses.fields(TABLES[table]):
        if f.name not in props:
            continue
        doc = props[f.name]
        if (table, f.name) in LOADER_DEFAULTS:
            assert "default" not in doc and "default" in doc["description"], (table, f.name)
        elif f.default is dataclasses.MISSING or f.default is None:
            assert "default" not in doc, (table, f.name)
        else:
            assert "default" in doc and _same(doc["default"], f.default), (table, f.name, doc.get("default"), f.default)
    assert _props(schema, "palette")["matching"]["default"] == MachineProfile.matching


def test_absent_keys_take_the_dataclass_defaults():
    prof = profile_from_dict({"canvas": {"width_mm": 100, "height_mm": 80}, "pens": [{"rgb": [0, 0, 0], "width_mm": 1}]}, source="min.toml")
    assert prof.motion == Motion() and prof.tool_change == ToolChange() and prof.stations == Stations()
    assert prof.canvas == MachineCanvas(100.0, 80.0) and prof.matching == MachineProfile.matching
    assert prof.name == "min" and prof.kind == "pen_plotter" and prof.brushes[0].tool == 1 and prof.paints[0].name == "pen-0"
    assert isinstance(prof.canvas.width_mm, float) and isinstance(prof.brushes[0].width_mm, float)


UNITS = [("_mm_s2", "mm/s^2"), ("_mm_s", "mm/s"), ("_mm2", "mm^2"), ("_mm", "mm"), ("_deg", "degrees"), ("_px", "px")]


@pytest.mark.parametrize("section", RIG_SECTIONS)
def test_rig_sections_match_their_dataclasses(schema, section):
    """A rig profile's [execution], [camera] and [calibration]: the schema's keys and
    defaults are the dataclasses' (animatepainter.planner.rig.profile)."""
    from animatepainter.planner.rig.profile import Calibration, Camera, Execution

    cls = {"execution": Execution, "camera": Camera, "calibration": Calibration}[section]
    props = schema["properties"][section]["properties"]
    assert set(props) == {f.name for f in dataclasses.fields(cls)}
    for f in dataclasses.fields(cls):
        if "default" in props[f.name]:
            assert _same(props[f.name]["default"], f.default), (section, f.name)
        else:
            assert section == "calibration", (section, f.name)


def test_every_key_is_described_with_its_unit(schema):
    for path, sub in _all_properties(schema):
        text = sub.get("description", "")
        assert text, f"{path}: no description"
        key = path.rsplit(".", 1)[-1]
        unit = next((u for suffix, u in UNITS if key.endswith(suffix)), None)
        if unit is not None:
            assert unit in text, f"{path}: description does not give the unit {unit}: {text!r}"
        elif key.endswith("_s"):  # seconds, except the servo's spindle S values
            assert re.search(r", s\b", text) or "spindle S value" in text, f"{path}: no unit: {text!r}"
        elif sub.get("type") not in ("object", "array"):
            assert "no unit" in text or "RGB" in text, f"{path}: say its unit or 'no unit': {text!r}"


@pytest.mark.parametrize("name", sorted(bundled_profiles()))
def test_bundled_profiles_validate_with_jsonschema_and_load(schema, name):
    data = tomllib.loads(bundled_profiles()[name].read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator(schema).validate(data)
    prof = load_profile(name)
    assert prof.source == str(bundled_profiles()[name]) and prof.paints and prof.brushes


@pytest.mark.parametrize("name", sorted(bundled_profiles()))
def test_to_dict_validates_and_round_trips(schema, name):
    prof = load_profile(name)
    d = prof.to_dict()
    jsonschema.Draft202012Validator(schema).validate(d)
    assert profile_from_dict(d, source=prof.source) == prof
    # as written to a plan's meta (JSON), too
    assert profile_from_dict(json.loads(json.dumps(d)), source=prof.source) == prof


PEN_TOML = """\
schema = "animatepainter.machine/1"
[canvas]
width_mm = 100
height_mm = 80
margin_mm = 5
[motion]
draw_speed_mm_s = 30
[[pens]]
rgb = "#102030"
width_mm = 0.5
[[pens]]
rgb = [200, 20, 20]
width_mm = 2
"""

ARM_TOML = """\
kind = "painting_arm"
[canvas]
width_mm = 200
height_mm = 150
[stations]
water_mm = [0, 0]
rag_mm = [0, 20]
[[paints]]
rgb = [200, 30, 30]
well_mm = [-20, 0]
[[brushes]]
width_mm = 4
[[brushes]]
width_mm = 10
"""

BAD = [
    # (name, profile text, replace (old, new), field, problem and value in the message)
    ("negative width", ARM_TOML, ("width_mm = 10", "width_mm = -2"), "brushes[1].width_mm", "must be > 0, got -2"),
    ("typo", PEN_TOML, ("height_mm = 80", "height_mm = 80\nwidht_mm = 3"), "canvas.widht_mm", "unknown key (expected one of: width_mm, height_mm, "),
    ("bad hex", PEN_TOML, ('"#102030"', '"#10203"'), "pens[0].rgb", "'#rrggbb', got '#10203'"),
    ("bad rgb", ARM_TOML, ("[200, 30, 30]", "[200, 300, 30]"), "paints[0].rgb", "got [200, 300, 30]"),
    ("three numbers for [X, Y]", ARM_TOML, ("rag_mm = [0, 20]", "rag_mm = [0, 20, 1]"), "stations.rag_mm", "[X, Y] position in mm, got [0, 20, 1]"),
    ("nan speed", PEN_TOML, ("draw_speed_mm_s = 30", "draw_speed_mm_s = nan"), "motion.draw_speed_mm_s", "must be a finite number, got nan"),
    ("tool as a float", ARM_TOML, ("width_mm = 4", "width_mm = 4\ntool = 1.0"), "brushes[0].tool", "must be an integer, got 1.0"),
    ("unknown shape", PEN_TOML, ("width_mm = 2", 'width_mm = 2\nshape = "fan"'), "pens[1].shape", "must be one of round, flat, got 'fan'"),
    ("version", PEN_TOML, ('"animatepainter.machine/1"', '"animatepainter.machine/2"'), "schema", "got 'animatepainter.machine/2'"),
    ("missing height", PEN_TOML, ("height_mm = 80\n", ""), "canvas.height_mm", "missing (a number is needed)"),
    ("negative margin", PEN_TOML, ("margin_mm = 5", "margins_mm = [1, -1, 0, 0]"), "canvas.margins_mm", "got [1, -1, 0, 0]"),
    ("both margins", PEN_TOML, ("margin_mm = 5", "margin_mm = 5\nmargins_mm = [1, 1, 1, 1]"), "canvas.margin_mm", "not both"),
    ("no wells", ARM_TOML, ("well_mm = [-20, 0]\n", ""), "paints[0].well_mm", "missing (an [X, Y] position in mm is needed)"),
    ("dip above pen up", ARM_TOML, ("rag_mm = [0, 20]", "rag_mm = [0, 20]\ndip_z_mm = 9"), "stations.dip_z_mm", "must be below motion.pen_up_z_mm (5 mm), got 9"),
    ("stations with pens", PEN_TOML, ("[[pens]]", "[stations]\ndip_s = 1\n[[pens]]"), "stations", "pens need no paint wells"),
    ("beyond the float range", PEN_TOML, ("width_mm = 100", "width_mm = 1" + "0" * 400), "canvas.width_mm", "must be a finite number, got 1000"),
    ("key with a newline", PEN_TOML, ("height_mm = 80", 'height_mm = 80\n"a\\nb" = 1'), 'canvas."a\\nb"', "unknown key"),
]


@pytest.mark.parametrize("text,change,field,problem", [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_bad_profiles_say_file_field_and_value_on_one_line(tmp_path, text, change, field, problem):
    assert change[0] in text
    path = tmp_path / "my-rig.toml"
    path.write_text(text.replace(change[0], change[1], 1))
    with pytest.raises(InputError) as e:
        load_profile(path)
    msg = str(e.value)
    assert msg.startswith(f"{path}: {field}: "), msg
    assert problem in msg and "\n" not in msg, msg


def test_several_problems_give_the_first_in_schema_order(tmp_path):
    path = tmp_path / "my-rig.toml"
    path.write_text(ARM_TOML.replace("width_mm = 10", "width_mm = -10").replace("height_mm = 150", "height_mm = -1"))
    with pytest.raises(InputError, match=r"my-rig\.toml: canvas\.height_mm: must be > 0, got -1$"):
        load_profile(path)
    path.write_text(ARM_TOML.replace("height_mm = 150", "height_mm = -1\ncolour = 1"))
    with pytest.raises(InputError, match=r"my-rig\.toml: canvas\.colour: unknown key"):
        load_profile(path)


def test_good_variants_load(tmp_path):
    path = tmp_path / "pen.toml"
    path.write_text(PEN_TOML)
    prof = load_profile(path)
    assert prof.paints[0].rgb == (16, 32, 48) and prof.canvas.margins_mm == (5.0, 5.0, 5.0, 5.0)
    assert [b.tool for b in prof.brushes] == [1, 2] and prof.motion.draw_speed_mm_s == 30.0
    path = tmp_path / "arm.toml"
    path.write_text(ARM_TOML)
    arm = load_profile(path)
    assert arm.kind == "painting_arm" and arm.stations.dip_z_mm == arm.motion.pen_down_z_mm and len(arm.tools) == 2
