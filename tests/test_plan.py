"""The StrokePlan data model: JSON round trip, schema, validation messages."""

from __future__ import annotations

import json

import numpy as np
import pytest

from animatepainter.planner import PlanError, StrokePlan, load_plan, schema_path


def test_roundtrip_is_byte_identical(small_result, tmp_path):
    plan = small_result.plan
    p1 = plan.save(tmp_path / "a.json")
    loaded = load_plan(p1)
    p2 = loaded.save(tmp_path / "b.json")
    assert p1.read_bytes() == p2.read_bytes()
    assert len(loaded.strokes) == len(plan.strokes)
    for a, b in zip(loaded.strokes, plan.strokes):
        np.testing.assert_allclose(a.points, b.points, atol=5e-4 + 1e-12)  # rounded to 1 um
        assert (a.rgb, a.layer, a.level, a.step, a.paint, a.brush) == (tuple(b.rgb), b.layer, b.level, b.step, b.paint, b.brush)
    assert loaded.canvas.width_mm == pytest.approx(plan.canvas.width_mm)
    assert [s.id for s in loaded.strokes] == [s.id for s in plan.strokes]


def test_written_plan_validates_with_reference_validator(small_result, tmp_path):
    """The file validates with jsonschema (the reference implementation), not only
    with the fast validator the writer uses."""
    import jsonschema

    path = small_result.plan.save(tmp_path / "plan.json")
    schema = json.loads(schema_path().read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.Draft202012Validator(schema).validate(json.loads(path.read_text()))


def test_plan_content_follows_the_design(small_result):
    plan = small_result.plan
    d = plan.to_dict()
    assert d["schema"] == "animatepainter.plan/1"
    assert len(plan.strokes) <= 300
    keys = [(s.layer, s.level) for s in plan.strokes]
    assert keys == sorted(keys), "strokes must be in (layer, level) order"
    steps = [s.step for s in plan.strokes]
    assert steps == sorted(steps) and steps[0] == 0
    assert plan.layer_order_fraction() == 1.0
    assert {s.paint for s in plan.strokes} <= {p.id for p in plan.palette}
    brush_w = {b.id: b.width_mm for b in plan.brushes}
    for s in plan.strokes:
        assert s.points.shape[1] == 2 and len(s.points) >= 2
        assert brush_w[s.brush] == pytest.approx(s.width_mm, abs=0.006)
        assert (s.points[:, 0] >= -s.width_mm).all() and (s.points[:, 0] <= plan.canvas.width_mm + s.width_mm).all()
    assert plan.meta["engine"] == "teacher" and plan.meta["seed"] == 1


def _mutated(plan, fn):
    d = json.loads(plan.to_json())
    fn(d)
    return d


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda d: d["strokes"][0].__setitem__("width_mm", -1.0), "strokes[0].width_mm"),
        (lambda d: d.pop("canvas"), "canvas"),
        (lambda d: d["strokes"][1].__setitem__("rgb", [1, 2]), "strokes[1].rgb"),
        (lambda d: d["strokes"][1].__setitem__("paint", 999), "strokes[1].paint: 999 is not in the palette"),
        (lambda d: d["strokes"][2].__setitem__("id", d["strokes"][1]["id"]), "is used twice"),
        (lambda d: d["strokes"][2]["points"].append([1e5, 3.0]), "outside"),
        (lambda d: d["strokes"][-1].__setitem__("step", 0), "steps must not decrease"),
        (lambda d: d["strokes"][0].__setitem__("colour", [1, 2, 3]), "strokes[0]"),
    ],
)
def test_validation_names_the_problem(small_result, mutate, message):
    d = _mutated(small_result.plan, mutate)
    with pytest.raises(PlanError) as e:
        StrokePlan.from_dict(d, "plan.json")
    text = str(e.value)
    assert message in text and "\n" not in text


@pytest.mark.parametrize(
    "content, message",
    [
        (b"", "not valid JSON"),
        (b"{not json", "not valid JSON"),
        (b"[1, 2]", "must be object"),
        (b'{"schema": "animatepainter.plan/99"}', "not supported"),
        (b"\xff\xfe\x00", "cannot read"),
    ],
)
def test_malformed_files(tmp_path, content, message):
    p = tmp_path / "plan.json"
    p.write_bytes(content)
    with pytest.raises(PlanError, match=message):
        load_plan(p)


def test_missing_file(tmp_path):
    with pytest.raises(PlanError, match="no such plan file"):
        load_plan(tmp_path / "nope.json")


def test_layer_order_fraction_counts_inversions(small_result):
    plan = small_result.plan
    s = plan.strokes
    near, far = s[-1], s[0]
    assert near.layer > far.layer
    swapped = plan.with_strokes([near] + s[1:-1] + [far])
    frac = swapped.layer_order_fraction()
    n = len(s)
    layers = np.array([x.layer for x in swapped.strokes])
    bad = sum(int((layers[i] > layers[i + 1 :]).sum()) for i in range(n))
    assert frac == pytest.approx(1 - bad / (n * (n - 1) / 2))
    assert frac < 1.0


def test_pen_up_travel(small_result):
    plan = small_result.plan
    pts = [s.points for s in plan.strokes]
    manual = sum(float(np.hypot(*(b[0] - a[-1]))) for a, b in zip(pts[:-1], pts[1:]))
    assert plan.pen_up_travel_mm() == pytest.approx(manual)
