"""The vpype plugin (``vpype animatepainter ...``, cli/vpype_plugin.py) run through vpype
itself, and the AxiDraw layer names of our own plotter SVG (export/svg_layers.py) and of
plan.svg (export/svg.py)."""

from __future__ import annotations

import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest

from animatepainter.export.svg import plan_to_svg
from animatepainter.export.svg_layers import axidraw_label, layer_groups, plan_to_layered_svg, plot_layers
from animatepainter.planner.images import load_image
from animatepainter.planner.machine.adapt import apply_machine, machine_settings
from animatepainter.planner.machine.profile import load_profile
from animatepainter.planner.teacher.pipeline import PaintSettings, plan_painting

PX = 96.0 / 25.4
INK = "{http://www.inkscape.org/namespaces/inkscape}"
SVG = "{http://www.w3.org/2000/svg}"
ARGS = "--strokes 200 --size 64 --seed 3"


@pytest.fixture(scope="module")
def image(tmp_path_factory) -> Path:
    """A tiny picture with a few colour regions, written by the test."""
    y, x = np.mgrid[0:48, 0:64]
    img = np.stack([x * 4, y * 5, 255 - x * 3], -1).astype(np.uint8)
    img[10:30, 20:40] = (200, 40, 40)
    img[30:44, 5:25] = (30, 160, 60)
    from PIL import Image

    path = tmp_path_factory.mktemp("img") / "tiny.png"
    Image.fromarray(img).save(path)
    return path


@pytest.fixture(scope="module")
def vpype_cli():
    import vpype_cli  # the [vpype] extra (also in [dev], which make setup installs): a broken install fails

    return vpype_cli


@pytest.fixture(scope="module")
def plain_plan(image):
    """The plan the plugin makes for ``ARGS`` (same settings, same seed)."""
    return plan_painting(load_image(image), PaintSettings(strokes=200, size=64, seed=3)).plan


@pytest.fixture(scope="module")
def pen_plan(image):
    """The plan of ``ARGS --machine pen-plotter`` (as ``paint --machine``)."""
    prof = load_profile("pen-plotter")
    res = plan_painting(load_image(image), machine_settings(PaintSettings(strokes=200, size=64, seed=3), prof))
    return apply_machine(res.plan, prof)[0]


def _lines_px(doc, lid) -> list[np.ndarray]:
    return [np.stack([ln.real, ln.imag], axis=1) for ln in doc.layers[lid]]


def _check_document(doc, plan, names=None, tol_px=1e-6):
    """``doc`` holds ``plan``: one layer per paint in first-use order (ids 1..n), the
    paint's name (or ``names``), colour and pen width, its strokes in plan order at
    mm * 96 / 25.4 px; page size = the canvas."""
    import vpype as vp

    first_use = list(dict.fromkeys(s.paint for s in plan.strokes))
    paints = {p.id: p for p in plan.palette}
    assert sorted(doc.layers) == list(range(1, len(first_use) + 1))
    assert len(first_use) >= 3  # enough paints for the order to mean something
    assert sum(len(doc.layers[lid]) for lid in doc.layers) == len(plan.strokes)
    assert doc.page_size == pytest.approx((plan.canvas.width_mm * PX, plan.canvas.height_mm * PX), abs=1e-3)
    for lid, pid in enumerate(first_use, start=1):
        layer = doc.layers[lid]
        mine = [s for s in plan.strokes if s.paint == pid]  # plan order
        want_name = names[lid - 1] if names else paints[pid].name
        assert layer.property(vp.METADATA_FIELD_NAME) == want_name
        c = layer.property(vp.METADATA_FIELD_COLOR)
        assert (c.red, c.green, c.blue) == tuple(paints[pid].rgb)
        widths = {s.width_mm for s in mine}
        width_px = layer.property(vp.METADATA_FIELD_PEN_WIDTH)
        if len(widths) == 1:
            assert width_px == pytest.approx(widths.pop() * PX, abs=1e-3)
        else:  # several brushes for one paint: one of them (the one painting most)
            assert min(abs(width_px - w * PX) for w in widths) < 1e-3
        got = _lines_px(doc, lid)
        assert len(got) == len(mine)
        for line, s in zip(got, mine):
            want = np.asarray(s.points, np.float64) * PX
            want = np.repeat(want, 2, axis=0) if len(want) == 1 else want
            assert line.shape == want.shape and np.abs(line - want).max() < tol_px


def test_entry_point_is_registered():
    """vpype finds the plugin through its plugin group (pyproject's entry point; a stale
    editable install needs `pip install -e .`)."""
    from importlib.metadata import entry_points

    import click

    eps = [ep for ep in entry_points().select(group="vpype.plugins") if ep.name == "animatepainter"]
    assert len(eps) == 1, "entry point missing: reinstall the package (pip install -e .)"
    cmd = eps[0].load()
    assert isinstance(cmd, click.Command) and cmd.name == "animatepainter"


def test_plugin_fills_the_document(vpype_cli, image, plain_plan):
    doc = vpype_cli.execute(f"animatepainter {ARGS} {image}")
    _check_document(doc, plain_plan)
    # several brushes per paint here: the layer's pen width is the one painting most of it
    assert any(len({s.width_mm for s in plain_plan.strokes if s.paint == p.id}) > 1 for p in plain_plan.palette)


def test_plugin_with_a_machine_writes_and_reads_back(vpype_cli, image, pen_plan, tmp_path):
    """--machine pen-plotter: the pens' names, colours and widths; `write` then
    `read --no-crop` gives the same layers back (names without digits keep their ids)."""
    out = tmp_path / "out.svg"
    doc = vpype_cli.execute(f"animatepainter {ARGS} --machine pen-plotter {image} write {out}")
    _check_document(doc, pen_plan)
    back = vpype_cli.execute(f"read --no-crop {out}")
    _check_document(back, pen_plan, tol_px=1e-3)  # write keeps 4 decimals of px


def test_axidraw_names_survive_write_and_read(vpype_cli, image, plain_plan, tmp_path):
    """--axidraw: '1 <paint>', '!2 <paint>', ...; the default paint names hold digits
    ('paint-07 #rrggbb'), which vpype would take as layer ids without the number first."""
    n = len({s.paint for s in plain_plan.strokes})
    names = [name for name, _ in layer_groups(plain_plan, "paint")]
    assert any(re.search(r"\d", nm) for nm in names)
    want = [axidraw_label(nm, i, pause=i > 1) for i, nm in enumerate(names, start=1)]
    assert want[0] == f"1 {names[0]}" and want[1] == f"!2 {names[1]}"
    out = tmp_path / "ax.svg"
    doc = vpype_cli.execute(f"animatepainter {ARGS} --axidraw {image} write {out}")
    _check_document(doc, plain_plan, names=want)
    labels = [lab for lab, _ in _top_layers(out.read_text())]
    assert labels == want and len(labels) == n
    _check_document(vpype_cli.execute(f"read --no-crop {out}"), plain_plan, names=want, tol_px=1e-3)


def test_docs_vpype_recipe_for_axidraw_names(vpype_cli, image, plain_plan):
    """The docs/robot.md recipe that names any vpype document's layers for AxiDraw."""
    recipe = "forlayer name \"%('!' if _i else '') + str(_lid) + ' ' + _name%\" end"
    doc = vpype_cli.execute(f"animatepainter {ARGS} {image} {recipe}")
    names = [name for name, _ in layer_groups(plain_plan, "paint")]
    _check_document(doc, plain_plan, names=[axidraw_label(nm, i, pause=i > 1) for i, nm in enumerate(names, start=1)])


def test_bad_input_is_a_click_error(vpype_cli, image, tmp_path):
    import click

    def fails(cmd: str, kind: type) -> str:
        with pytest.raises(kind) as e:
            vpype_cli.execute(cmd)
        return e.value.format_message()  # what vpype prints after "Error: "

    assert re.fullmatch(r"Invalid value for 'IMAGE': .*missing\.png: no such file", fails(f"animatepainter {tmp_path / 'missing.png'}", click.BadParameter))
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not a png")
    assert fails(f"animatepainter {bad}", click.BadParameter).startswith(f"Invalid value for 'IMAGE': {bad}")
    assert fails(f"animatepainter --strokes 0 {image}", click.UsageError) == "--strokes must be between 1 and 200000, got 0"
    assert fails(f"animatepainter --depth-layers 17 {image}", click.UsageError).startswith("--depth-layers must be 'auto' or a whole number of depth layers between 1 and 16")
    assert "no such machine profile" in fails(f"animatepainter --machine no-such-rig {image}", click.BadParameter)
    assert "give one" in fails(f"animatepainter --canvas a4 --canvas-mm 100 100 {image}", click.UsageError)
    assert all("\n" not in fails(c, click.ClickException) for c in (f"animatepainter --background nope {image}", f"animatepainter --canvas-mm 0 5 {image}"))
    # the console script: usage error, exit status 2, one line, no traceback
    exe = Path(sys.executable).with_name("vpype")
    r = subprocess.run([str(exe), "animatepainter", "--size", "8", str(image), "stat"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "Error: --size must be between 16 and 4096 px, got 8" in r.stderr.splitlines()


def test_vpype_canvas_option(vpype_cli, image):
    """--canvas takes vpype page sizes (here 200 x 150 mm) like --canvas-mm."""
    doc = vpype_cli.execute(f"animatepainter --strokes 50 --size 32 --canvas 200mmx150mm {image}")
    assert doc.page_size == pytest.approx((200 * PX, 150 * PX), abs=1e-3)


def test_package_imports_without_vpype():
    """vpype is optional: with it unimportable, the package, its CLI and the SVG exports
    still import (only the plugin module needs it)."""
    code = (
        "import sys; sys.modules['vpype'] = None; sys.modules['vpype_cli'] = None\n"
        "import animatepainter.planner, animatepainter.export, animatepainter.export.svg_layers, animatepainter.cli.app\n"
        "try:\n    import animatepainter.cli.vpype_plugin\nexcept ImportError:\n    print('plugin needs vpype')\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.strip() == "plugin needs vpype"


# --- AxiDraw layer names of our own SVGs ---------------------------------------------


def _axidraw(label: str) -> tuple[bool, bool, int | None, str]:
    """How the AxiDraw software reads a layer name (its layer-control rules): a leading
    ``%`` is a documentation layer (skipped); else a leading ``!`` pauses before the
    layer; then an optional layer number; the rest is text. -> (doc, pause, number, text)"""
    if label.startswith("%"):
        return True, False, None, label[1:]
    pause = label.startswith("!")
    m = re.match(r"(\d*)(.*)", label[1:] if pause else label, re.S)
    return False, pause, int(m.group(1)) if m.group(1) else None, m.group(2)


def _top_layers(svg: str) -> list[tuple[str, int]]:
    """(label, number of paths) of each top-level Inkscape layer, in document order."""
    root = ET.fromstring(svg)
    return [(g.get(INK + "label"), len(g.findall(SVG + "path"))) for g in root if g.tag == SVG + "g" and g.get(INK + "groupmode") == "layer"]


@pytest.mark.parametrize("by", ["paint", "run"])
def test_axidraw_layer_names(pen_plan, by):
    groups = layer_groups(pen_plan, by)
    layers = _top_layers(plan_to_layered_svg(pen_plan, by, groups=groups))
    parsed = [(_axidraw(lab), n) for lab, n in layers]
    strokes = [(p, n) for p, n in parsed if n]
    # stroke layers: numbered 1..n (unique, increasing in plot order), not paused, named
    assert [p[2] for p, _ in strokes] == list(range(1, len(groups) + 1))
    assert [n for _, n in strokes] == [len(ss) for _, ss in groups]
    assert all(not p[0] and not p[1] for p, _ in strokes)
    assert [p[3] for p, _ in strokes] == [f" {name}" for name, _ in groups]
    # pause layers: empty, unnumbered (Layers mode skips them), exactly where the pen changes
    pauses = [i for i, (p, n) in enumerate(parsed) if p[1]]
    assert all(parsed[i][1] == 0 and parsed[i][0][2] is None and not parsed[i][0][0] for i in pauses)
    changes = [k for k in range(1, len(groups)) if groups[k][1][0].paint != groups[k - 1][1][-1].paint or (by == "run" and groups[k][1][0].brush != groups[k - 1][1][-1].brush)]
    assert len(changes) == len(groups) - 1  # by paint / by run: every boundary changes the pen
    layer_index = [i for i, (p, n) in enumerate(parsed) if n]
    assert pauses == [layer_index[k] - 1 for k in changes]  # right before the new pen's layer
    assert all(groups[k][0] in layers[layer_index[k] - 1][0] for k in changes)  # says what to load
    assert not parsed[0][0][1]  # no pause before the first paint
    # pause=False: stroke layers only
    assert [lab for lab, _ in _top_layers(plan_to_layered_svg(pen_plan, by, pause=False))] == [lab for lab, n in layers if n]


def test_axidraw_group_layers_pause_only_for_one_pen(pen_plan):
    """--by group layers mix pens: a pause precedes only a single-pen layer whose pen
    differs from the last stroke's."""
    out = plot_layers(pen_plan, "group")
    prev = None
    for i, (label, ss) in enumerate(out):
        if not ss:
            continue
        pens = {(s.paint, s.brush) for s in ss}
        paused = i > 0 and not out[i - 1][1]
        assert paused == (prev is not None and len(pens) == 1 and (ss[0].paint, ss[0].brush) != prev)
        prev = (ss[-1].paint, ss[-1].brush)


def test_background_and_plan_svg_are_documentation_layers(pen_plan):
    """The canvas rectangle and every plan.svg step layer are AxiDraw documentation
    layers (plan.svg's steps mix paints: no single pen can plot them), while vpype still
    reads the step number first."""
    layered = _top_layers(plan_to_layered_svg(pen_plan, "paint", background=True))
    assert _axidraw(layered[0][0])[0] and layered[0][1] == 0
    assert not any(_axidraw(lab)[0] for lab, _ in layered[1:])
    steps = _top_layers(plan_to_svg(pen_plan))
    assert all(_axidraw(lab)[0] for lab, _ in steps)
    nums = [int(re.search(r"\d+", lab).group()) for lab, _ in steps[1:]]
    assert nums == sorted({s.step + 1 for s in pen_plan.strokes})
    with pytest.raises(ValueError):
        axidraw_label("3 reds")


def _paint_changes(strokes) -> int:
    """How often the paint changes along ``strokes`` (counted here with groupby, not
    with the module's own zip count)."""
    from itertools import groupby

    return max(len([k for k, _ in groupby(s.paint for s in strokes)]) - 1, 0)


def test_by_paint_warns_when_it_changes_the_painting_order(vpype_cli, image, plain_plan, tmp_path, caplog, capsys):
    """docs/robot.md: one layer per paint changes the painting order where paints
    interleave, and says so (how often, over how many paints, and the ``--by run`` way
    out); a plan whose paints come one after another gets no warning. The vpype plugin
    (one layer per paint too) and ``export svg --by paint`` both say it; ``--by run``
    does not."""
    import dataclasses
    import logging

    from conftest import run_cli

    n_paints = len({s.paint for s in plain_plan.strokes})
    changes = _paint_changes(plain_plan.strokes)
    assert changes > n_paints - 1  # the test plan interleaves its paints
    want = f"the plan changes paint {changes} times over {n_paints} paints"
    with caplog.at_level(logging.WARNING, logger="animatepainter"):
        layer_groups(plain_plan, "paint")
    said = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(said) == 1 and want in said[0] and "--by run" in said[0], said

    # the same strokes paint by paint (stable, first-use order): nothing to warn about
    first = {p: i for i, p in enumerate(dict.fromkeys(s.paint for s in plain_plan.strokes))}
    grouped = dataclasses.replace(plain_plan, strokes=sorted(plain_plan.strokes, key=lambda s: first[s.paint]))
    assert _paint_changes(grouped.strokes) == n_paints - 1
    sizes = [len(ss) for _, ss in layer_groups(plain_plan, "paint")]
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="animatepainter"):
        assert [len(ss) for _, ss in layer_groups(grouped, "paint")] == sizes  # the same layers
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]

    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="animatepainter"):
        vpype_cli.execute(f"animatepainter {ARGS} {image}")
    assert any(want in r.getMessage() for r in caplog.records), [r.getMessage() for r in caplog.records]

    plan_path = tmp_path / "plan.json"
    plain_plan.save(plan_path)
    for by, warned in (("paint", True), ("run", False)):
        code, _, err = run_cli(["export", "svg", plan_path, "-o", tmp_path / f"{by}.svg", "--by", by], capsys)
        assert code == 0, err
        assert (want in " ".join(err.split())) is warned, (by, err)
