"""Mixing recipes (issue 21): the subtractive model against mixing facts RGB averaging
gets wrong, recipes, tube sets, the ``mix`` command and recipes in machine profiles."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import jsonschema
import numpy as np
import pytest

from animatepainter.planner import mixing
from animatepainter.planner.errors import InputError, PlanError, SettingsError
from animatepainter.planner.machine.tubes import bundled_tube_sets, load_tubes, tube_set_from_dict, tubes_schema_path
from animatepainter.planner.mixing import mix, mixable, recipe_for, recipe_gamut, recipes_for_palette, srgb_to_lab
from animatepainter.planner.plan import Brush, Canvas, Paint, Stroke, StrokePlan, schema_path

from conftest import run_cli
from test_machine_schema import ARM_TOML

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib


@pytest.fixture(scope="module")
def tubes():
    return load_tubes("student-acrylic")


def lch(rgb) -> tuple[float, float, float]:
    """CIELAB lightness, chroma and hue angle (degrees) of an sRGB colour."""
    L, a, b = srgb_to_lab(rgb)
    return float(L), float(math.hypot(a, b)), float(math.degrees(math.atan2(b, a)) % 360)


def rgb_average(a, b, p: int = 1, q: int = 1) -> np.ndarray:
    return (p * np.asarray(a, float) + q * np.asarray(b, float)) / (p + q)


#: CIELAB hue angles of greens: from a yellow-green to just short of sRGB cyan (196 degrees)
GREEN = (120.0, 190.0)

PRIMARIES = {"name": "primaries", "tubes": [{"name": "white", "rgb": [255, 255, 255]}, {"name": "blue", "rgb": [0, 0, 255]}, {"name": "yellow", "rgb": [255, 255, 0]}]}


# -- the model against mixing facts ----------------------------------------------------


def test_blue_and_yellow_make_a_green_where_rgb_averaging_makes_a_grey():
    ts = tube_set_from_dict(PRIMARIES, "primaries")
    assert lch(rgb_average((0, 0, 255), (255, 255, 0)))[1] < 1  # RGB: #808080, a grey
    mixes = {(p, q): lch(mix(ts, {"blue": p, "yellow": q})) for p, q in [(2, 1), (1, 1), (1, 2), (1, 3)]}
    assert all(c > 20 for _, c, _ in mixes.values()), mixes  # never a grey
    L, c, h = mixes[(1, 2)]
    assert GREEN[0] <= h <= GREEN[1], mixes
    # more yellow: lighter and yellower (hue falls towards yellow's ~100 degrees)
    assert mixes[(1, 3)][0] > mixes[(1, 2)][0] > mixes[(1, 1)][0] and mixes[(1, 3)][2] < mixes[(1, 2)][2] < mixes[(1, 1)][2]


@pytest.mark.parametrize("blue,yellow,parts", [
    ("phthalo blue", "cadmium yellow medium", (1, 1)),
    ("phthalo blue", "lemon yellow", (1, 2)),
    ("ultramarine blue", "cadmium yellow medium", (1, 1)),
    ("ultramarine blue", "lemon yellow", (1, 3)),
])
def test_the_sets_blues_and_yellows_make_greens(tubes, blue, yellow, parts):
    L, c, h = lch(mix(tubes, {blue: parts[0], yellow: parts[1]}))
    assert GREEN[0] <= h <= GREEN[1] and c > 20, (L, c, h)
    # RGB averaging of the same tubes gives no green: an olive of a yellow's hue
    h_rgb = lch(rgb_average(tubes.tubes[tubes.index(blue)].rgb, tubes.tubes[tubes.index(yellow)].rgb, *parts))[2]
    assert h_rgb < GREEN[0], h_rgb


@pytest.mark.parametrize("a,b", [("quinacridone crimson", "phthalo green"), ("ultramarine blue", "burnt sienna"), ("cadmium red light", "phthalo green"), ("ultramarine blue", "cadmium yellow medium")])
def test_a_colour_and_its_complement_lose_chroma(tubes, a, b):
    ca, cb = lch(tubes.tubes[tubes.index(a)].rgb)[1], lch(tubes.tubes[tubes.index(b)].rgb)[1]
    chroma = [lch(mix(tubes, {a: p, b: q}))[1] for p, q in [(4, 1), (3, 1), (2, 1), (1, 1), (1, 2), (1, 3), (1, 4)]]
    assert chroma[3] < min(ca, cb)  # 1 : 1 is duller than either
    assert min(chroma) < 0.5 * min(ca, cb), (ca, cb, chroma)  # and some ratio is near a grey


def test_neighbouring_colours_keep_their_chroma(tubes):
    """The control: a yellow and a red (not complements) make a bright orange."""
    a, b = "lemon yellow", "cadmium red light"
    L, c, h = lch(mix(tubes, {a: 1, b: 1}))
    assert c > 0.8 * min(lch(tubes.tubes[tubes.index(a)].rgb)[1], lch(tubes.tubes[tubes.index(b)].rgb)[1])
    assert 30 < h < 70  # between the red (~38) and the yellow (~98): orange


def test_white_lightens_and_lowers_chroma(tubes):
    checked = 0
    for t in tubes.tubes:
        L0, c0, _ = lch(t.rgb)
        if c0 < 20:  # greys and dark earths: chroma is not what white changes there
            continue
        ramp = [lch(mix(tubes, {t.name: 1, "titanium white": w}))[:2] for w in (1, 2, 4, 8)]
        Ls, cs = [L0] + [x[0] for x in ramp], [c0] + [x[1] for x in ramp]
        assert all(np.diff(Ls) > 0), (t.name, Ls)
        assert all(np.diff(cs) < 0), (t.name, cs)
        checked += 1
    assert checked >= 8


def test_tints_of_a_transparent_and_an_opaque_paint_differ():
    """Two constants at work: with the same masstone, a transparent paint (low scattering)
    tints white more weakly than an opaque one."""
    ts = tube_set_from_dict({"tubes": [{"name": "white", "rgb": [244, 243, 238]}, {"name": "a", "rgb": [40, 60, 150], "opacity": "opaque"},
                                       {"name": "b", "rgb": [40, 60, 150], "opacity": "transparent"}]}, "t")
    assert mix(ts, {"a": 1}) == mix(ts, {"b": 1})
    assert lch(mix(ts, {"a": 1, "white": 4}))[0] < lch(mix(ts, {"b": 1, "white": 4}))[0] - 5


def test_a_tube_mixed_with_itself_is_itself(tubes):
    for t in tubes.tubes:
        for n in (1, 3):
            got = mix(tubes, {t.name: n})
            assert mixing.delta_e2000(srgb_to_lab(got), srgb_to_lab(t.rgb)) < 1.0, (t.name, got, t.rgb)
    # and any sRGB colour as a tube: the spectral recovery gives its colour back
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (40, 3))
    _, _, w = mixing._observer()
    for c in rgb:
        xyz = mixing.masstone_reflectance(tuple(int(v) for v in c)) @ w
        assert mixing.delta_e2000(mixing._xyz_to_lab(xyz), srgb_to_lab(c)) < 1.0, c


def test_mix_rejects_unknown_tubes_and_bad_parts(tubes):
    with pytest.raises(SettingsError, match="'cobalt violet' is not a tube of student-acrylic"):
        mix(tubes, {"cobalt violet": 1})
    for bad in (0, 1.5, True):
        with pytest.raises(SettingsError, match="whole number of parts"):
            mix(tubes, {"titanium white": bad})


# -- recipes ---------------------------------------------------------------------------


def test_recipes_keep_the_limits_and_are_reduced(tubes):
    g = recipe_gamut(tubes, 8)
    parts = np.asarray(g.parts, int)
    assert ((parts > 0).sum(1) <= 3).all() and (parts.sum(1) <= 8).all() and (parts >= 0).all()
    assert all(math.gcd(*map(int, row[row > 0])) == 1 for row in parts)
    assert len({tuple(r) for r in parts}) == len(parts)  # each recipe once
    assert recipe_gamut(tubes, 8) is g  # mixed once per set and limits


def test_a_tubes_own_colour_and_a_mixed_colour_are_found(tubes):
    r = recipe_for(tubes.tubes[6].rgb, tubes)
    assert r.parts == ((tubes.tubes[6].name, 1),) and r.delta_e2000 < 1 and r.in_gamut
    want = mix(tubes, {"titanium white": 3, "ultramarine blue": 1})
    r = recipe_for(want, tubes)
    assert r.delta_e2000 < 0.5 and r.in_gamut
    assert r.describe() == " : ".join(f"{n} {name}" for name, n in r.parts)
    assert [n for _, n in r.parts] == sorted((n for _, n in r.parts), reverse=True)


def test_the_search_finds_the_same_recipe_as_trying_every_one(tubes):
    g = recipe_gamut(tubes, 8)
    targets = np.random.default_rng(1).integers(0, 256, (30, 3)).astype(np.uint8)
    got = recipes_for_palette(targets, tubes, max_parts=8)
    for t, r in zip(targets, got):
        de = mixing.delta_e2000(srgb_to_lab(t)[None], g.lab)
        assert r.delta_e2000 == pytest.approx(float(de.min()), abs=1e-9), t


def test_the_searchs_lower_bound_never_exceeds_ciede2000():
    rng = np.random.default_rng(3)
    a, b = srgb_to_lab(rng.integers(0, 256, (20000, 3))), srgb_to_lab(rng.integers(0, 256, (20000, 3)))
    b[:5000] = a[:5000] + rng.normal(0, 2, (5000, 3))  # near pairs too
    de = mixing.delta_e2000(a, b)
    lb = np.array([mixing._lower_bound(a[i], float(np.hypot(*a[i, 1:])), b[i : i + 1], np.hypot(b[i : i + 1, 1], b[i : i + 1, 2]))[0] for i in range(len(a))])
    assert (lb <= de + 1e-12).all()
    assert (lb > 0.2 * de).mean() > 0.75  # and not a useless one


def test_recipes_are_deterministic_and_per_colour(tubes):
    pal = np.random.default_rng(2).integers(0, 256, (24, 3)).astype(np.uint8)
    a = recipes_for_palette(pal, tubes)
    assert a == recipes_for_palette(pal, tubes)
    assert a[5] == recipe_for(pal[5], tubes)  # the palette around a colour does not change its recipe
    m = mixable(pal, tubes)
    assert m.shape == pal.shape and m.dtype == np.uint8 and [tuple(x) for x in m] == [r.rgb for r in a]
    assert mixable(pal[3], tubes).shape == (3,)


def test_out_of_gamut_is_flagged_with_its_best_recipe(tubes):
    r = recipe_for((255, 0, 255), tubes)  # a magenta no student set reaches
    assert not r.in_gamut and r.delta_e2000 > mixing.GAMUT_DELTA_E and r.parts
    d = r.to_json(paint=7)
    assert list(d) == ["paint", "parts", "rgb", "delta_e2000", "in_gamut"]
    assert d["paint"] == 7 and d["in_gamut"] is False and d["delta_e2000"] == round(r.delta_e2000, 2)
    assert all(isinstance(name, str) and isinstance(n, int) for name, n in d["parts"])
    assert recipe_for((255, 0, 255), tubes, gamut_delta_e=100).in_gamut


def test_bad_limits_name_the_setting(tubes):
    with pytest.raises(SettingsError, match="max_parts") as e:
        recipe_for((1, 2, 3), tubes, max_parts=0)
    assert e.value.field == "max_parts"
    with pytest.raises(SettingsError, match="max_tubes"):
        recipe_for((1, 2, 3), tubes, max_tubes=4)
    with pytest.raises(SettingsError, match="gamut_delta_e"):
        recipe_for((1, 2, 3), tubes, gamut_delta_e=-1)
    with pytest.raises(SettingsError, match="shape"):
        recipes_for_palette(np.zeros((4, 2)), tubes)


def test_colour_science_leaves_no_matplotlib_stand_in():
    import importlib.util

    from animatepainter.planner.colors import colour_science

    colour_science()
    assert not any(type(m).__name__ == "MagicMock" for n, m in sys.modules.items() if n.split(".")[0] in ("matplotlib", "mpl_toolkits", "cycler"))
    try:
        importlib.util.find_spec("matplotlib")  # what transformers does; raised ValueError with the stand-in
    except ValueError as e:  # pragma: no cover - the failure this guards against
        pytest.fail(str(e))


# -- tube sets -------------------------------------------------------------------------


def test_bundled_set_validates_and_has_the_tubes_of_a_student_set():
    assert "student-acrylic" in bundled_tube_sets()
    schema = json.loads(tubes_schema_path().read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    for name, path in bundled_tube_sets().items():
        jsonschema.Draft202012Validator(schema).validate(tomllib.loads(path.read_text()))
        ts = load_tubes(name)
        assert ts.name == name and ts.whites and len(ts) >= 10
    ts = load_tubes("student-acrylic")
    for want in ("titanium white", "mars black", "lemon yellow", "ultramarine blue", "phthalo blue", "phthalo green", "burnt umber", "yellow ochre"):
        assert want in ts.names
    assert ts.tubes[ts.index("Ultramarine  Blue")].pigment == "PB29"  # case and spaces ignored
    assert {t.opacity for t in ts.tubes} <= set(mixing.SCATTERING)
    assert tube_set_from_dict(ts.to_dict(), ts.source) == ts


GOOD = """\
schema = "animatepainter.tubes/1"
name = "mine"
[[tubes]]
name = "white"
rgb = [245, 245, 240]
[[tubes]]
name = "blue"
rgb = "#1e3c8c"
pigment = "PB15:3"
"""

BAD_SETS = [
    ("bad colour", ('"#1e3c8c"', "[300, 0, 0]"), "tubes[1].rgb", "must be an [R, G, B] colour (integers 0..255) or '#rrggbb', got [300, 0, 0]"),
    ("bad hex", ('"#1e3c8c"', '"#1e3c8"'), "tubes[1].rgb", "got '#1e3c8'"),
    ("duplicate name", ('name = "blue"', 'name = " White"'), "tubes[1].name", "'White' is used twice (also tubes[0])"),
    ("no white", ("[245, 245, 240]", "[200, 200, 190]"), "tubes", "no white"),
    ("single tube", ('[[tubes]]\nname = "blue"\nrgb = "#1e3c8c"\npigment = "PB15:3"\n', ""), "tubes", "at least 2 tubes (a white and a colour), got 1"),
    ("no tubes", ("[[tubes]]", "[[tubs]]"), "tubs", "unknown key"),
    ("unknown key", ('pigment = "PB15:3"', 'pigment = "PB15:3"\ncolour = 1'), "tubes[1].colour", "unknown key"),
    ("bad pigment", ('"PB15:3"', '"ultramarine"'), "tubes[1].pigment", "Colour Index generic names"),
    ("bad opacity", ('pigment = "PB15:3"', 'opacity = "glossy"'), "tubes[1].opacity", "must be one of opaque, semi-opaque"),
    ("no name", ('name = "blue"\n', ""), "tubes[1].name", "missing"),
    ("version", ('"animatepainter.tubes/1"', '"animatepainter.tubes/2"'), "schema", "got 'animatepainter.tubes/2'"),
]


@pytest.mark.parametrize("change,field,problem", [b[1:] for b in BAD_SETS], ids=[b[0] for b in BAD_SETS])
def test_bad_tube_sets_say_file_key_and_value_on_one_line(tmp_path, change, field, problem):
    expect_one_line_error(load_tubes, tmp_path / "mine.toml", GOOD, change, f"{field}: ", problem)


def expect_one_line_error(load, path: Path, text: str, change: tuple[str, str], field: str, problem: str) -> None:
    """``load`` of ``text`` with one change raises an InputError of one line: the file, ``field``, ``problem``."""
    assert change[0] in text
    path.write_text(text.replace(change[0], change[1], 1))
    with pytest.raises(InputError) as e:
        load(path)
    assert str(e.value).startswith(f"{path}: {field}") and problem in str(e.value) and "\n" not in str(e.value), str(e.value)


def test_tube_set_files_that_do_not_load(tmp_path):
    with pytest.raises(InputError, match="no such tube set .*student-acrylic"):
        load_tubes(tmp_path / "nope.toml")
    (tmp_path / "x.toml").write_text("name = [")
    with pytest.raises(InputError, match="not valid TOML"):
        load_tubes(tmp_path / "x.toml")
    good = tmp_path / "good.toml"
    good.write_text(GOOD)
    ts = load_tubes(good)
    assert ts.names == ("white", "blue") and ts.tubes[1].rgb == (30, 60, 140) and ts.tubes[1].opacity == "transparent"


# -- plans and the mix command ---------------------------------------------------------


def small_plan(palette=((200, 60, 40), (40, 60, 160), (255, 0, 255))) -> StrokePlan:
    paints = [Paint(i, tuple(rgb), f"paint-{i}") for i, rgb in enumerate(palette)]
    strokes = [Stroke(i, np.array([[10.0 + i, 10.0], [30.0, 20.0 + i]]), 2.0, 0, i % max(len(paints), 1), paints[i % len(paints)].rgb if paints else (0, 0, 0), 0, 0, i)
               for i in range(4 if paints else 0)]
    return StrokePlan(Canvas(100.0, 80.0, image_px=(100, 80), image_box_mm=(0.0, 0.0, 100.0, 80.0)), paints, [Brush(0, 2.0)], strokes, {"engine": "test", "version": "0"})


def test_recipes_in_a_plans_meta_round_trip_and_validate(tmp_path, tubes):
    plan = small_plan()
    mixed = mixing.with_mixing(plan, tubes, max_parts=8)
    path = mixed.save(tmp_path / "plan.json")
    back = StrokePlan.load(path)
    jsonschema.Draft202012Validator(json.loads(schema_path().read_text())).validate(json.loads(path.read_text()))
    m = back.meta["mixing"]
    assert m == mixed.meta["mixing"] and set(m) == {"tubes", "tube_set", "model", "max_parts", "recipes"}  # (plan files sort meta's keys)
    assert m["tubes"] == "student-acrylic" and m["model"] == mixing.MODEL and m["max_parts"] == 8
    assert m["tube_set"][0] == {"name": "titanium white", "rgb": [244, 243, 238], "pigment": "PW6"}
    assert [r["paint"] for r in m["recipes"]] == [0, 1, 2] and m["recipes"][2]["in_gamut"] is False
    assert back.strokes == plan.strokes and back.palette == plan.palette
    bad = json.loads(path.read_text())
    bad["meta"]["mixing"]["recipes"][0]["in_gamut"] = "yes"
    with pytest.raises(PlanError, match="meta.mixing.recipes"):
        StrokePlan.from_dict(bad)


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def test_mix_writes_recipes_into_an_output_folder(tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    small_plan().save(out / "plan.json")
    (out / "report.json").write_text(json.dumps({"strokes": 4}, indent=2) + "\n")
    code, stdout, err = run_cli(["mix", out, "--tubes", "student-acrylic", "--max-parts", "8"], capsys)
    assert code == 0, err
    plan = StrokePlan.load(out / "plan.json")
    report = json.loads((out / "report.json").read_text())
    assert report["mixing"] == plan.meta["mixing"] and report["strokes"] == 4
    assert "titanium white" in stdout and "#c83c28" in stdout and "3 paints" in stdout
    assert sorted(p.name for p in out.iterdir()) == ["plan.json", "report.json"]
    assert [p.name for p in tmp_path.iterdir()] == ["out"]  # no stage left behind


def test_mix_to_a_json_file_leaves_the_plan_alone(tmp_path, capsys):
    path = small_plan().save(tmp_path / "p.json")
    before = path.read_bytes()
    code, _, err = run_cli(["mix", path, "-t", "student-acrylic", "-o", tmp_path / "recipes.json"], capsys)
    assert code == 0, err
    assert path.read_bytes() == before
    block = json.loads((tmp_path / "recipes.json").read_text())
    assert block["max_parts"] == mixing.DEFAULT_MAX_PARTS and len(block["recipes"]) == 3
    code, _, err = run_cli(["mix", path, "-t", "student-acrylic"], capsys)  # a plan file is rewritten in place
    assert code == 0, err and StrokePlan.load(path).meta["mixing"]["recipes"] == block["recipes"]


def _bad_input(kind: str, folder: Path) -> list:
    plan = folder / "plan.json"
    if kind == "missing plan":
        return [folder / "nope.json", "--tubes", "student-acrylic"]
    if kind == "folder without a plan":
        (folder / "plan.json").unlink()
        return [folder, "--tubes", "student-acrylic"]
    if kind == "malformed plan":
        plan.write_text('{"schema": "animatepainter.plan/1", "canvas": ')
        return [plan, "--tubes", "student-acrylic"]
    if kind == "invalid plan":
        d = json.loads(plan.read_text())
        d["palette"][0]["rgb"] = [1, 2]
        plan.write_text(json.dumps(d))
        return [folder, "--tubes", "student-acrylic"]
    if kind == "no paints":
        small_plan(palette=()).save(plan)
        return [folder, "--tubes", "student-acrylic"]
    if kind == "bad tube set":
        (folder / "set.toml").write_text(GOOD.replace("[245, 245, 240]", "[200, 200, 190]"))
        return [folder, "--tubes", folder / "set.toml"]
    if kind == "no such tube set":
        return [folder, "--tubes", "oil-paints"]
    if kind == "bad max parts":
        return [folder, "--tubes", "student-acrylic", "--max-parts", "0"]
    if kind == "malformed report":
        (folder / "report.json").write_text("{")
        return [folder, "--tubes", "student-acrylic"]
    raise AssertionError(kind)


BAD_INPUT = {
    "missing plan": "no such plan file or folder",
    "folder without a plan": "no plan.json in this folder",
    "malformed plan": "not valid JSON",
    "invalid plan": "palette[0].rgb",
    "no paints": "the plan has no paints to mix",
    "bad tube set": "tubes: no white",
    "no such tube set": "no such tube set",
    "bad max parts": "--max-parts must be",
    "malformed report": "cannot read the report",
}


@pytest.mark.parametrize("kind", sorted(BAD_INPUT))
def test_mix_bad_input_is_one_line_exit_2_and_nothing_written(tmp_path, kind, capsys):
    folder = tmp_path / "out"
    folder.mkdir()
    small_plan().save(folder / "plan.json")
    (folder / "report.json").write_text('{"strokes": 4}\n')
    args = _bad_input(kind, folder)
    before = _snapshot(folder)
    code, _, err = run_cli(["mix", *args], capsys)
    assert code == 2, err
    assert err.startswith("error: ") and len(err.strip().splitlines()) == 1 and BAD_INPUT[kind] in err, err
    assert _snapshot(folder) == before
    assert [p.name for p in tmp_path.iterdir()] == ["out"]


def test_mix_help_gives_units(capsys):
    code, out, _ = run_cli(["mix", "--help"], capsys)
    text = " ".join(out.split())
    assert code == 0
    for opt, unit in [("--tubes", "sRGB"), ("--max-parts", "volume"), ("--gamut", "CIEDE2000"), ("--out", "JSON")]:
        assert opt in text and unit in text


# -- machine profiles name the recipe that fills each well -----------------------------

ARM = (
    ARM_TOML.replace('kind = "painting_arm"\n', 'kind = "painting_arm"\ntubes = "student-acrylic"\n')
    .replace("well_mm = [-20, 0]\n", 'well_mm = [-20, 0]\nrecipe = [["Titanium White", 3], ["ultramarine blue", 1]]\n')
    + "[[paints]]\nrgb = [150, 180, 220]\nwell_mm = [-20, 20]\n"
)


def test_a_machine_profile_names_the_recipe_of_each_well(tmp_path):
    from animatepainter.planner.machine.profile import load_profile, profile_from_dict

    path = tmp_path / "arm.toml"
    path.write_text(ARM)
    prof = load_profile(path)
    assert prof.tubes == "student-acrylic"
    assert prof.paints[0].recipe == (("titanium white", 3), ("ultramarine blue", 1)) and prof.paints[1].recipe is None
    d = prof.to_dict()
    assert d["tubes"] == "student-acrylic" and d["paints"][0]["recipe"] == [["titanium white", 3], ["ultramarine blue", 1]]
    assert profile_from_dict(json.loads(json.dumps(d)), source=str(path)) == prof
    # a set beside the profile, named by its file
    (tmp_path / "mine.toml").write_text(GOOD)
    path.write_text(ARM.replace('"student-acrylic"', '"mine.toml"').replace('["Titanium White", 3], ["ultramarine blue", 1]', '["white", 2], ["blue", 1]'))
    prof = load_profile(path)
    assert prof.tubes == str((tmp_path / "mine.toml").resolve()) and prof.paints[0].recipe == (("white", 2), ("blue", 1))


@pytest.mark.parametrize("change,field,problem", [
    (('"ultramarine blue", 1', '"cobalt violet", 1'), "paints[0].recipe[1]", "'cobalt violet' is not a tube of student-acrylic"),
    (('tubes = "student-acrylic"\n', ""), "paints[0].recipe", "no top-level tubes"),
    (('"ultramarine blue", 1', '"titanium white", 1'), "paints[0].recipe[1]", "listed twice"),
    (('"ultramarine blue", 1', '"ultramarine blue", 0'), "paints[0].recipe[1][1]", "must be >= 1, got 0"),
    (('"student-acrylic"', '"no-such-set"'), "tubes", "no such tube set"),
])
def test_bad_recipes_in_a_profile_are_one_line_errors(tmp_path, change, field, problem):
    from animatepainter.planner.machine.profile import load_profile

    expect_one_line_error(load_profile, tmp_path / "arm.toml", ARM, change, f"{field}: ", problem)


def test_paint_with_tubes_keeps_the_palette_mixable(tmp_path, rgb_png, capsys):
    """``paint --tubes``: every paint is a colour the set mixes, with its recipe in the
    plan's meta and report.json; a machine's paints get recipes as they are."""
    import json

    from conftest import run_cli

    code, _, err = run_cli(["paint", rgb_png, "-o", tmp_path / "o", "--strokes", "100", "--size", "48", "--tubes", "student-acrylic", "-q"], capsys)
    assert code == 0, err
    plan = json.loads((tmp_path / "o" / "plan.json").read_text())
    rep = json.loads((tmp_path / "o" / "report.json").read_text())
    mixing = plan["meta"]["mixing"]
    assert rep["mixing"] == mixing and mixing["tubes"] == "student-acrylic"
    by_id = {r["paint"]: r for r in mixing["recipes"]}
    for p in plan["palette"]:
        r = by_id[p["id"]]
        assert 1 <= len(r["parts"]) <= 3 and r["delta_e2000"] < 1.0, r  # the paint is what its recipe mixes
    code, _, err = run_cli(["paint", rgb_png, "-o", tmp_path / "m", "--strokes", "80", "--size", "48", "--machine", "painting-arm", "--tubes", "student-acrylic", "-q"], capsys)
    assert code == 0, err
    plan = json.loads((tmp_path / "m" / "plan.json").read_text())
    assert [r["paint"] for r in plan["meta"]["mixing"]["recipes"]] == [p["id"] for p in plan["palette"]]
    code, _, err = run_cli(["paint", rgb_png, "-o", tmp_path / "x", "--tubes", "no-such-set"], capsys)
    assert code == 2 and err.startswith("error: ") and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "x").exists()
