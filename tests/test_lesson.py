"""The painting lesson (``animatepainter lesson``): PDF + print-ready HTML of a plan."""

from __future__ import annotations

import html
import json
import os
import re
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from animatepainter.export import lesson as L
from animatepainter.planner import PaintSettings, plan_painting
from animatepainter.planner.plan import Brush, Canvas, Paint, Stroke, StrokePlan, load_plan
from conftest import skip_unless

import pypdfium2 as pdfium  # a [dev] dependency: a broken install fails, not skips

TUBES = [
    {"name": "titanium white", "rgb": [250, 250, 245], "pigment": "PW6"},
    {"name": "ultramarine blue", "rgb": [30, 40, 140], "pigment": "PB29"},
    {"name": "burnt umber", "rgb": [90, 60, 40], "pigment": "PBr7"},
]


def _norm(text: str) -> str:
    """Text with every whitespace run as one space and PDF's ∆ (Vera has no Δ) as Δ."""
    return " ".join(text.replace("\u2206", "Δ").replace("\ufffe", "").split())


@pytest.fixture(scope="module")
def outdir(tmp_path_factory, scene) -> Path:
    """A paint-like output folder: plan.json (with recipes), report.json naming the source."""
    from PIL import Image

    plan = plan_painting(scene.image, PaintSettings(strokes=200, size=64, steps=6, seed=2, refine=0)).plan
    recipes = []
    for i, p in enumerate(plan.palette):
        parts = [["titanium white", 3], ["ultramarine blue", 1]] if i % 2 else [["burnt umber", 2], ["titanium white", 1], ["ultramarine blue", 1]]
        recipes.append({"paint": p.id, "parts": parts, "rgb": list(p.rgb), "delta_e2000": 1.25 + i, "in_gamut": i != 1})
    plan.meta["mixing"] = {"tubes": "test-set", "tube_set": TUBES, "model": "test model", "max_parts": 6, "recipes": recipes}
    d = tmp_path_factory.mktemp("paint_out")
    plan.save(d / "plan.json")
    Image.fromarray(scene.image).save(d / "source.png")
    (d / "report.json").write_text(json.dumps({"source": "source.png"}))
    return d


@pytest.fixture(scope="module")
def written(outdir, tmp_path_factory):
    """The lesson of ``outdir`` on A4 through the CLI: (pdf path, html path, plan)."""
    from animatepainter.cli.app import main

    d = tmp_path_factory.mktemp("lesson")
    assert main(["lesson", str(outdir), "-o", str(d / "lesson.pdf"), "-q"]) == 0
    return d / "lesson.pdf", d / "lesson.html", load_plan(outdir / "plan.json")


def test_pages_render_text_and_size(written, tmp_path):
    pdf_path, html_path, plan = written
    assert plan.n_steps >= 4
    doc = pdfium.PdfDocument(str(pdf_path))
    assert len(doc) == plan.n_steps + 1
    texts = []
    for i in range(len(doc)):
        page = doc[i]
        w, h = page.get_size()
        assert abs(w - 595.28) < 0.5 and abs(h - 841.89) < 0.5  # A4 in points
        img = page.render(scale=0.5).to_pil().convert("RGB")
        png = tmp_path / f"page{i}.png"
        img.save(png)
        a = np.asarray(img, np.float32)
        # non-blank: a visible share of the page is neither white nor one flat colour
        assert (a.min(axis=2) < 235).mean() > 0.02, f"page {i} is (nearly) blank"
        assert a.std() > 20
        texts.append(_norm(page.get_textpage().get_text_range()))
    cover = texts[0]
    assert "Painting lesson: source" in cover
    assert "The picture" in cover and "The finished painting" in cover
    recipes, _ = L.plan_recipes(plan)
    for p in plan.palette:
        if any(s.paint == p.id for s in plan.strokes):
            assert p.name in cover
        if p.id in recipes:
            # the recipe may be wrapped between its parts: compare without spaces
            assert recipes[p.id].text().replace(" ", "") in cover.replace(" ", "")
    assert "out of gamut" in cover
    for k in range(plan.n_steps):
        page = texts[k + 1]
        assert f"Step {k + 1} of {plan.n_steps}" in page
        for sentence in L.step_sentences(plan, k):
            assert _norm(sentence) in page, (k, sentence)
        for s in {s.paint for s in plan.strokes if s.step == k}:
            assert next(p.name for p in plan.palette if p.id == s) in page
    assert pdf_path.stat().st_size < 2_000_000


def test_fonts_embedded_truetype(written):
    pdf_path, _, _ = written
    raw = pdf_path.read_bytes()
    # no base-14 font is referenced; every font has an embedded TrueType program
    fonts = re.findall(rb"/BaseFont\s*/([A-Za-z0-9+\-]+)", raw)
    assert fonts and all(b"Vera" in f for f in fonts), fonts
    assert raw.count(b"/FontFile2") >= len(set(fonts)) - raw.count(b"/Subtype /Type0")
    doc = pdfium.PdfDocument(str(pdf_path))
    tp = doc[1].get_textpage()
    for i in range(0, tp.count_chars(), 7):
        font = pdfium.raw.FPDFTextObj_GetFont(pdfium.raw.FPDFText_GetTextObject(tp, i))
        if font:
            assert pdfium.raw.FPDFFont_GetIsEmbedded(font) == 1


def test_html_one_section_per_page(written):
    pdf_path, html_path, plan = written
    page = html_path.read_text(encoding="utf-8")
    assert page.count('<section class="page"') == plan.n_steps + 1
    assert re.search(r"@page\s*\{\s*size:\s*A4", page)
    assert "<script" not in page.lower()
    # nothing fetched: every src / url() is inline data
    refs = re.findall(r"""(?:src=["']|url\()([^"')]+)""", page)
    assert refs and all(r.startswith("data:") for r in refs)
    assert "http://" not in page and "https://" not in page
    sections = page.split('<section class="page"')[1:]
    for k in range(plan.n_steps):
        sec = sections[k + 1]
        assert sec.startswith(f' id="step-{k + 1}"')
        text = _norm(html.unescape(re.sub(r"<[^>]+>", " ", sec)))
        for sentence in L.step_sentences(plan, k):
            assert _norm(sentence) in text


def test_letter_and_plan_only(outdir, tmp_path):
    """A plan file alone (no report.json beside it): the cover says so and shows only the
    finished painting; Letter pages are 612 x 792 pt."""
    from animatepainter.cli.app import main

    plan_file = tmp_path / "alone.json"
    shutil.copy(outdir / "plan.json", plan_file)
    out = tmp_path / "letter.pdf"
    assert main(["lesson", str(plan_file), "-o", str(out), "--paper", "Letter", "--html", str(tmp_path / "print.html"), "-q"]) == 0
    doc = pdfium.PdfDocument(str(out))
    assert len(doc) == load_plan(plan_file).n_steps + 1
    assert all(abs(doc[i].get_size()[0] - 612) < 0.5 and abs(doc[i].get_size()[1] - 792) < 0.5 for i in range(len(doc)))
    cover = _norm(doc[0].get_textpage().get_text_range())
    assert "The finished painting" in cover and "The picture" not in cover
    assert "not the source picture" in cover
    page = (tmp_path / "print.html").read_text(encoding="utf-8")
    assert re.search(r"@page\s*\{\s*size:\s*letter", page)
    assert not (tmp_path / "letter.html").exists()


def test_same_lesson_same_bytes(outdir):
    plan = load_plan(outdir / "plan.json")
    lesson = L.build_lesson(plan, title="t")
    assert L.lesson_pdf(lesson, "a4") == L.lesson_pdf(lesson, "a4")
    assert lesson.pages == plan.n_steps + 1


def _cover_images(pdf_path: Path) -> list[np.ndarray]:
    """The images drawn on the PDF's first page, decoded to RGB arrays."""
    doc = pdfium.PdfDocument(str(pdf_path))
    objs = doc[0].get_objects(filter=[pdfium.raw.FPDF_PAGEOBJ_IMAGE])
    return [np.asarray(o.get_bitmap().to_pil().convert("RGB")) for o in objs]


def test_no_html_title_and_source_options(outdir, tmp_path, capsys):
    """``--source`` puts the given picture on the cover instead of the one report.json
    names (a flat magenta picture is one of the cover's images, and the folder's source is
    not); ``--title`` is the cover heading and every page's footer; ``--no-html`` writes
    the PDF alone (nothing else appears in the folder)."""
    from PIL import Image

    from animatepainter.cli.app import main

    magenta = tmp_path / "pic.png"
    Image.fromarray(np.full((48, 64, 3), (230, 20, 200), np.uint8)).save(magenta)
    d = tmp_path / "out"
    d.mkdir()
    pdf = d / "lesson.pdf"
    assert main(["lesson", str(outdir), "-o", str(pdf), "--no-html", "--title", "Farm in the hills", "--source", str(magenta), "-q"]) == 0
    assert sorted(p.name for p in d.iterdir()) == ["lesson.pdf"]
    doc = pdfium.PdfDocument(str(pdf))
    texts = [_norm(doc[i].get_textpage().get_text_range()) for i in range(len(doc))]
    assert "Painting lesson: Farm in the hills" in texts[0] and "Painting lesson: source" not in texts[0]
    assert all("Farm in the hills · AnimatePainter lesson" in t for t in texts), texts
    assert "The picture" in texts[0]

    def flat_magenta(a: np.ndarray) -> bool:
        return a.size > 0 and bool(np.abs(a.reshape(-1, 3).mean(axis=0) - (230, 20, 200)).max() < 12 and a.std(axis=(0, 1)).max() < 12)

    assert any(flat_magenta(a) for a in _cover_images(pdf))
    # without --source the cover shows the folder's source, which is not flat magenta
    assert main(["lesson", str(outdir), "-o", str(tmp_path / "plain.pdf"), "--no-html", "-q"]) == 0
    assert not any(flat_magenta(a) for a in _cover_images(tmp_path / "plain.pdf"))
    assert not (tmp_path / "plain.html").exists()


def test_html_with_no_html_is_an_error(outdir, tmp_path, capsys):
    """``--html PATH`` with ``--no-html``: exit 2, one ``error:`` line naming both options,
    nothing written."""
    _bad(["lesson", str(outdir), "-o", str(tmp_path / "l.pdf"), "--html", str(tmp_path / "l.html"), "--no-html"], tmp_path, capsys, "--html and --no-html cannot be used together")


MARK_RGB = (56, 56, 64)  # the brush marks' fill, 0.22 0.22 0.25 (export/lesson.py, brush_mark)


def _marks_mm(page) -> list[float]:
    """Widths (mm, from the PDF's own geometry: 72 pt = 25.4 mm) of the brush marks on a
    PDF page, widest first."""
    import ctypes

    import pypdfium2.raw as raw

    out = []
    for o in page.get_objects(filter=[raw.FPDF_PAGEOBJ_PATH]):
        r, g, b, a = (ctypes.c_uint() for _ in range(4))
        raw.FPDFPageObj_GetFillColor(o.raw, r, g, b, a)
        if (r.value, g.value, b.value) == MARK_RGB:
            left, _, right, _ = o.get_bounds()
            out.append((right - left) * 25.4 / 72.0)
    return sorted(out, reverse=True)


@pytest.mark.parametrize("widths", [(2.0, 6.0, 20.0), (2.0, 6.0, 120.0)], ids=["fit", "too-big"])
def test_brushes_at_true_size_or_at_the_factor_the_page_states(widths, tmp_path):
    """docs/lesson.md: brush marks are true size when printed at 100 %, or, where they do
    not fit, all drawn by one factor that the page prints, on the cover and on every step
    page, in the PDF and in the HTML. Measured from the PDF's path objects: 2, 6 and
    20 mm brushes are 2, 6 and 20 mm wide on every page; with a 120 mm brush every page's
    marks are one factor f of their brushes and that page says "drawn at f of true size"
    (before the fix the step pages drew them at 32 % and said nothing)."""
    strokes = [([(10 + 20 * i, 20), (40 + 20 * i, 60)], i % 3, 0) for i in range(6)]
    plan = _plan(strokes, layers=1, widths=widths)
    plan = replace(plan, strokes=[replace(st, step=i // 3) for i, st in enumerate(plan.strokes)])  # two steps
    plan.save(tmp_path / "plan.json")
    from animatepainter.cli.app import main

    assert main(["lesson", str(tmp_path / "plan.json"), "-o", str(tmp_path / "l.pdf"), "-q"]) == 0
    doc = pdfium.PdfDocument(str(tmp_path / "l.pdf"))
    assert len(doc) == 3
    true = sorted(widths, reverse=True)
    for i in range(len(doc)):
        drawn = _marks_mm(doc[i])
        used = true if i == 0 else sorted({widths[b] for _, b, _ in strokes[3 * (i - 1): 3 * i]}, reverse=True)
        assert len(drawn) == len(used), (i, drawn)
        ratios = [d / t for d, t in zip(drawn, used)]
        assert max(ratios) - min(ratios) < 1e-3, (i, drawn, used)  # one factor for all
        f = ratios[0]
        text = _norm(doc[i].get_textpage().get_text_range())
        if max(widths) <= 20:
            assert abs(f - 1.0) < 1e-4, (i, drawn)
            assert ("true size when printed at 100 %" if i == 0 else "(true size)") in text
        else:
            assert f < 0.9, (i, drawn)
            assert f"drawn at {f:.0%} of true size" in text, (i, f, text)
            assert "true size when printed" not in text and "(true size)" not in text
    page_html = (tmp_path / "l.html").read_text()
    sections = re.findall(r'<section class="page" id="(?:cover|step-\d+)">.*?</section>', page_html, re.S)
    assert len(sections) == 3
    for sec in sections:
        marks = [float(w) for w in re.findall(r'<div class="(?:round|flat)" style="width:([0-9.]+)mm', sec)]
        shown = [float(m) for m in re.findall(r"<b>([0-9.]+) mm</b>", sec)]
        assert marks and len(marks) == len(shown)
        f = marks[0] / shown[0]
        assert all(abs(m / w - f) < 0.01 for m, w in zip(marks, shown))
        if max(widths) <= 20:
            assert abs(f - 1.0) < 0.01 and "true size" in sec
        else:
            assert f < 0.9 and f"drawn at {f:.0%} of true size" in sec, (f, sec[:300])


# -- the sentences -----------------------------------------------------------------------


def _plan(strokes: list[tuple[list[tuple[float, float]], int, int]], layers: int = 3, widths=(2.0, 6.0, 20.0)) -> StrokePlan:
    """A 300 x 200 mm plan of strokes ``(points, brush id, layer)``, one step each."""
    canvas = Canvas(300.0, 200.0, (255, 255, 255), (300, 200), (0.0, 0.0, 300.0, 200.0))
    brushes = [Brush(i, w) for i, w in enumerate(widths)]
    ss = [
        Stroke(i, np.asarray(pts, np.float64), widths[b], b, 0, (40, 60, 160), layer, 0, 0)
        for i, (pts, b, layer) in enumerate(strokes)
    ]
    return StrokePlan(canvas, [Paint(0, (40, 60, 160), "blue")], brushes, ss, {"engine": "test", "version": "0", "settings": {"layers": layers}})


def test_sentences_horizontal_band_at_top_far_layer_large_brush():
    rng = np.random.default_rng(0)
    strokes = [([(x, y), (x + 60, y + rng.normal(0, 1))], 2, 0) for x in (10, 80, 150, 220) for y in (15, 30, 45)]
    first, second = L.step_sentences(_plan(strokes), 0)
    assert first == "Block in the far background across the top, with a large brush (20\u00a0mm)."
    assert second == "Most strokes run horizontally."


def test_sentences_vertical_left_near_fine():
    strokes = [([(x, 20), (x, 180)], 0, 2) for x in (10, 25, 40, 55)]
    first, second = L.step_sentences(_plan(strokes), 0)
    assert "the nearest things" in first and "down the left side" in first and "fine brush (2.0\u00a0mm)" in first
    assert second == "Most strokes run vertically."


def test_sentences_diagonal_corner_and_forms():
    diag = [([(200 + d, 130 + d), (240 + d, 170 + d)], 1, 1) for d in (0, 5, 10)]
    first, second = L.step_sentences(_plan(diag), 0)
    assert "the middle distance" in first and "in the bottom-right" in first and "medium brush" in first
    assert second == "Most strokes run diagonally, from upper left to lower right."
    up = [([(40 + d, 60 - d), (80 + d, 20 - d)], 1, 1) for d in (0, 5, 10)]
    assert L.step_sentences(_plan(up), 0)[1] == "Most strokes run diagonally, from lower left to upper right."
    # curls in every direction: no main orientation
    t = np.linspace(0, 2 * np.pi, 24)
    curls = [([(150 + r * np.cos(a), 100 + r * np.sin(a)) for a in t], 1, 1) for r in (10, 20, 30)]
    first, second = L.step_sentences(_plan(curls), 0)
    assert "in the centre" in first
    assert second == "The strokes follow the forms, in many directions."
    dabs = [([(x, 100)], 1, 1) for x in range(20, 280, 20)]
    assert L.step_sentences(_plan(dabs), 0)[1] == "Use short dabs rather than long strokes."


def test_sentences_follow_the_step_order():
    """A layer's first step blocks in; a later step on it refines; several brushes say 'mostly'."""
    plan = _plan([([(10, 20), (290, 20)], 2, 0), ([(10, 30), (290, 30)], 1, 0), ([(10, 40), (290, 40)], 2, 0)])
    strokes = [replace(s, step=(0 if i < 1 else 1)) for i, s in enumerate(plan.strokes)]
    plan = plan.with_strokes(strokes)
    assert L.step_sentences(plan, 0)[0].startswith("Block in the far background")
    later = L.step_sentences(plan, 1)[0]
    assert later.startswith("Build up the far background") and "mostly with a large brush" in later


def test_a_step_without_strokes_gets_its_page():
    plan = _plan([([(10, 20), (290, 20)], 2, 0), ([(10, 150), (290, 150)], 0, 2)])
    plan = plan.with_strokes([replace(plan.strokes[0], step=0), replace(plan.strokes[1], step=2)])
    assert plan.n_steps == 3
    assert L.step_sentences(plan, 1)[0].startswith("Nothing new is painted in this step")
    lesson = L.build_lesson(plan, title="gap")
    doc = pdfium.PdfDocument(L.lesson_pdf(lesson, "letter"))
    assert len(doc) == 4
    assert "Nothing new is painted" in _norm(doc[2].get_textpage().get_text_range())
    assert L.lesson_html(lesson, "letter").count('<section class="page"') == 4


def test_depth_phrases():
    assert L.depth_phrase(0, 5) == "the far background"
    assert L.depth_phrase(4, 5) == "the nearest things"
    assert L.depth_phrase(2, 5) == "the middle distance"
    assert L.depth_phrase(1, 5) == "the distant middle ground"
    assert L.depth_phrase(3, 5) == "the nearer middle ground"
    assert L.depth_phrase(0, 1) == "the whole picture"


def test_colour_words_and_recipe_text():
    assert L.colour_words((255, 255, 255)) == "white"
    assert L.colour_words((0, 0, 0)) == "black"
    assert L.colour_words((40, 60, 200)).endswith("blue")
    assert L.colour_words((110, 70, 40)).endswith("brown")
    assert "green" in L.colour_words((40, 150, 60))
    r = L.Recipe(0, (("titanium white", 3), ("ultramarine blue", 1)), 1.8, True)
    assert r.text() == "3 titanium white : 1 ultramarine blue (ΔE 1.8)"
    out = L.Recipe(0, (("burnt umber", 1),), 7.44, False)
    assert out.text() == "1 burnt umber (out of gamut, ΔE 7.4)"


def test_malformed_recipes_are_ignored(outdir):
    plan = load_plan(outdir / "plan.json")
    plan.meta["mixing"] = {"recipes": [{"paint": 999, "parts": [["a", 1]]}, {"paint": 0, "parts": [["a", 0]]}, "x"]}
    assert L.plan_recipes(plan) == ({}, "")
    plan.meta["mixing"] = "not an object"
    assert L.plan_recipes(plan) == ({}, "")
    del plan.meta["mixing"]
    assert L.plan_recipes(plan) == ({}, "")


# -- bad input ------------------------------------------------------------------------------


def _listing(d: Path) -> list[str]:
    return sorted(str(p.relative_to(d)) for p in d.rglob("*"))


def _bad(args: list[str], d: Path, capsys, expect: str) -> None:
    from animatepainter.cli.app import main

    before = _listing(d)
    assert main([*args, "-q"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and "\n" not in err and expect in err, err
    assert _listing(d) == before  # nothing written, no temp file left


def test_bad_input_exits_2_and_leaves_nothing(outdir, tmp_path, capsys):
    empty = StrokePlan(Canvas(100.0, 80.0, (255, 255, 255), (100, 80), (0.0, 0.0, 100.0, 80.0)), [Paint(0, (1, 2, 3), "a")], [Brush(0, 2.0)], [], {"engine": "t", "version": "0"})
    empty.save(tmp_path / "empty.json")
    (tmp_path / "broken.json").write_text('{"schema": "animatepainter.plan/1", "canvas": ')
    (tmp_path / "afile").write_text("x")
    out = str(tmp_path / "l.pdf")
    _bad(["lesson", str(tmp_path / "empty.json"), "-o", out], tmp_path, capsys, "no strokes")
    _bad(["lesson", str(tmp_path / "broken.json"), "-o", out], tmp_path, capsys, "not valid JSON")
    _bad(["lesson", str(tmp_path / "missing.json"), "-o", out], tmp_path, capsys, "no such plan")
    _bad(["lesson", str(outdir), "-o", str(tmp_path / "afile" / "l.pdf")], tmp_path, capsys, "cannot write the PDF")
    _bad(["lesson", str(outdir), "-o", str(tmp_path)], tmp_path, capsys, "is a folder")
    # the PDF could be written but the HTML cannot: neither appears
    _bad(["lesson", str(outdir), "-o", out, "--html", str(tmp_path / "afile" / "l.html")], tmp_path, capsys, "cannot write the HTML")


def test_unknown_paper_is_a_usage_error(outdir, tmp_path, capsys):
    """A paper outside the list is click's usage error (issue 22): exit status 2, the
    option and the bad value named, the choices listed, nothing written."""
    from animatepainter.cli.app import main

    before = _listing(tmp_path)
    assert main(["lesson", str(outdir), "-o", str(tmp_path / "l.pdf"), "--paper", "a5", "-q"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.splitlines()[-1] == "error: Invalid value for '--paper': Value error, 'a5' is not one of 'a4', 'letter'.", err
    assert "Usage: animatepainter lesson" in err and "Traceback" not in err
    assert _listing(tmp_path) == before


def test_write_failure_leaves_nothing(outdir, tmp_path, monkeypatch):
    """The disk fills up while the second file (the HTML) is written: the PDF, already
    complete in its temp file, is not published either, and no temp file is left."""
    from animatepainter.planner.errors import OutputError

    real, calls = os.fsync, []

    def fsync(fd):
        calls.append(fd)
        if len(calls) == 2:
            raise OSError(28, "No space left on device")
        real(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    with pytest.raises(OutputError, match="No space left"):
        L.write_lesson(outdir, tmp_path / "x.pdf")
    assert len(calls) == 2
    assert os.listdir(tmp_path) == []


# -- the HTML in a browser ---------------------------------------------------------------------


def _chromium() -> str | None:
    for c in (os.environ.get("ANIMATEPAINTER_CHROMIUM"), shutil.which("chromium"), "/usr/bin/chromium", shutil.which("chromium-browser")):
        if c and os.access(c, os.X_OK):
            return c
    return None


def test_html_prints_one_sheet_per_page(written):
    """Printed by Chromium, the HTML is steps + 1 A4 sheets, no section's content is cut
    off, and the page asks for nothing over the network."""
    exe = _chromium()
    skip_unless("chromium", exe is not None, "Chromium not found (install Debian's 'chromium' as .ci/run does, or set ANIMATEPAINTER_CHROMIUM)")
    from playwright.sync_api import sync_playwright

    _, html_path, plan = written
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=exe, args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        try:
            page = b.new_page()
            asked: list[str] = []
            page.on("request", lambda r: asked.append(r.url))
            page.goto(html_path.as_uri())
            sizes = page.evaluate("() => [...document.querySelectorAll('section.page')].map(s => [s.scrollHeight - s.clientHeight, s.scrollWidth - s.clientWidth])")
            page.emulate_media(media="print")
            printed = page.pdf(prefer_css_page_size=True, print_background=True)
        finally:
            b.close()
    assert len(sizes) == plan.n_steps + 1 and all(dh <= 1 and dw <= 1 for dh, dw in sizes), sizes
    assert all(u.startswith(("file:", "data:")) for u in asked), asked
    doc = pdfium.PdfDocument(printed)
    assert len(doc) == plan.n_steps + 1
    w, h = doc[0].get_size()
    assert abs(w - 595.3) < 1.5 and abs(h - 841.9) < 1.5
