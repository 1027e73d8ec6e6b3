"""The HTML process viewer: ``animatepainter viewer`` and :mod:`animatepainter.export.viewer`.

The browser tests open the written file in headless Chromium (Debian's ``chromium``,
driven by Playwright for Python, whose wheel brings its own driver: no browser is
downloaded), move the slider and compare screenshots of the canvas with the package
renderer (:func:`animatepainter.planner.render.render_plan`). They skip only when no
Chromium is installed (``.ci/run`` installs it); ``ANIMATEPAINTER_CHROMIUM`` names
another binary.
"""

from __future__ import annotations

import base64
import io
import json
import os
import re
import shutil
import time
from importlib import resources
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from animatepainter.export.viewer import build_viewer, find_inputs, viewer_data
from animatepainter.cli import main
from animatepainter.planner.metrics import psnr
from animatepainter.planner.errors import InputError, PlanError, SettingsError
from animatepainter.planner.plan import load_plan
from animatepainter.planner.render import render_plan, step_ends
from conftest import skip_unless

EXAMPLE = Path(str(resources.files("animatepainter.planner").joinpath("data/examples/landscape.png")))

# Measured with Debian's Chromium 156 (canvas 2D, software raster): the canvas matches
# render_plan at 50-53 dB (400- and 2,000-stroke plans, 518 and 921 px wide); Chromium
# anti-aliases with Skia, not the package's analytic coverage, hence not exact. For
# scale: every stroke shifted by 0.5 mm, or 10% too thin, gives 34 dB; the last 20
# strokes missing, 44 dB.
PSNR_VECTOR_DB = 45.0
# raster mode: JPEG q90 steps at 480 px, resampled by the browser (measured 41 dB)
PSNR_RASTER_DB = 36.0



def read_data(html_path: Path) -> dict:
    """The JSON object embedded in a viewer page."""
    text = html_path.read_text(encoding="utf-8")
    m = re.search(r'<script id="viewer-data" type="application/json">(.*?)</script>', text, re.S)
    assert m, "no embedded data"
    return json.loads(m.group(1))


@pytest.fixture(scope="module")
def paint_dir(tmp_path_factory) -> Path:
    """A real ``paint`` output folder (400 strokes, 12 steps; about 1 s)."""
    out = tmp_path_factory.mktemp("paint") / "landscape"
    rc = main(["-q", "paint", str(EXAMPLE), "-o", str(out), "-n", "400", "--size", "96", "--steps", "12", "--layers", "3", "--video-px", "64"])
    assert rc == 0
    return out


@pytest.fixture(scope="module")
def viewer_file(paint_dir: Path, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("viewer") / "viewer.html"
    assert main(["-q", "viewer", str(paint_dir), "-o", str(out)]) == 0
    return out


@pytest.fixture(scope="module")
def raster_file(paint_dir: Path, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("viewer") / "raster.html"
    assert main(["-q", "viewer", str(paint_dir), "-o", str(out), "--max-vector-strokes", "100", "--raster-px", "480"]) == 0
    return out


@pytest.fixture(scope="module")
def no_source_file(paint_dir: Path, tmp_path_factory) -> Path:
    """A paint folder whose report names a source image that is gone."""
    d = tmp_path_factory.mktemp("moved") / "out"
    shutil.copytree(paint_dir, d)
    rep = json.loads((d / "report.json").read_text())
    rep["source"] = str(d / "gone.png")
    (d / "report.json").write_text(json.dumps(rep))
    out = d / "viewer.html"
    assert main(["-q", "viewer", str(d), "-o", str(out)]) == 0
    return out


# -- the file ------------------------------------------------------------------------------


def test_file_is_self_contained(viewer_file: Path) -> None:
    text = viewer_file.read_text(encoding="utf-8")
    assert text.startswith("<!doctype html>")
    assert not re.search(r"https?://|ftp://|//[a-z0-9.-]+\.[a-z]{2,}/", text, re.I), "a network address in the page"
    assert not re.search(r"<link\b|<script[^>]+\bsrc=|@import|url\(", text, re.I)
    for src in re.findall(r'\bsrc="([^"]*)"', text):
        assert src.startswith("data:")
    assert "Content-Security-Policy" in text and "default-src 'none'" in text


def test_embedded_strokes_are_the_plan(viewer_file: Path, paint_dir: Path) -> None:
    plan = load_plan(paint_dir / "plan.json")
    d = read_data(viewer_file)
    assert d["mode"] == "vector" and d["n_strokes"] == len(plan.strokes) >= 390
    s = d["strokes"]
    pts = np.frombuffer(base64.b64decode(s["points"]), "<f4").reshape(-1, 2)
    off = np.frombuffer(base64.b64decode(s["offsets"]), "<u4")
    rgb = np.frombuffer(base64.b64decode(s["rgb"]), "u1").reshape(-1, 3)
    width = np.frombuffer(base64.b64decode(s["width"]), "<f4")
    layer = np.frombuffer(base64.b64decode(s["layer"]), "<u2")
    for i in (0, 137, len(plan.strokes) - 1):
        st = plan.strokes[i]
        np.testing.assert_allclose(pts[off[i] : off[i + 1]], st.points, atol=1e-4)
        assert tuple(rgb[i]) == tuple(st.rgb) and layer[i] == st.layer
        assert abs(width[i] - st.width_mm) < 1e-4
    assert [x["end"] for x in d["steps"]] == step_ends(plan)
    assert d["brushes_mm"] == sorted({round(b.width_mm, 2) for b in plan.brushes}, reverse=True) and len(d["brushes_mm"]) <= 8
    assert sum(sum(c for _, c in x["paints"]) for x in d["steps"]) == len(plan.strokes)
    assert d["done"][0] == 0.0 and d["done"][-1] == 1.0 and len(d["done"]) == plan.n_steps + 1
    assert d["source"].startswith("data:image/jpeg;base64,") and d["depth"].startswith("data:image/png;base64,")


def test_raster_mode_prerenders_steps(raster_file: Path, paint_dir: Path) -> None:
    plan = load_plan(paint_dir / "plan.json")
    d = read_data(raster_file)
    assert d["mode"] == "raster" and "strokes" not in d
    assert d["raster"]["cuts"] == [0] + step_ends(plan)
    last = np.asarray(Image.open(io.BytesIO(base64.b64decode(d["raster"]["images"][-1].split(",", 1)[1]))).convert("RGB"))
    ref = render_plan(plan, width_px=480, region="canvas")
    assert last.shape == ref.shape and psnr(last, ref) > 38.0


def test_missing_source_is_noted(no_source_file: Path) -> None:
    d = read_data(no_source_file)
    assert d["source"] is None and "gone.png" in d["source_note"] and "not found" in d["source_note"]
    assert d["depth"] is not None


def test_a_changed_source_is_noted(paint_dir: Path, viewer_file: Path, tmp_path: Path, capsys) -> None:
    """docs/viewer.md: a source image other than the one the plan was made from
    (``meta.source_sha256``) is shown with a note saying it changed, and a warning; the
    very image it was made from gets no note."""
    assert read_data(viewer_file)["source_note"] == ""  # report.json names the example itself
    changed = tmp_path / "landscape.png"
    img = np.asarray(Image.open(EXAMPLE).convert("RGB")).copy()
    img[:8, :8] = 255 - img[:8, :8]  # a small edit: same size, other bytes
    Image.fromarray(img).save(changed)
    out = tmp_path / "v.html"
    capsys.readouterr()
    assert main(["-q", "viewer", str(paint_dir), "-o", str(out), "--source", str(changed)]) == 0
    d = read_data(out)
    assert d["source"] is not None and d["source_note"] == "landscape.png has changed since the plan was made."
    assert "SHA-256 mismatch" in " ".join(capsys.readouterr().err.split())  # the CLI's warning (rich may wrap it)
    same = tmp_path / "same.html"
    assert main(["-q", "viewer", str(paint_dir), "-o", str(same), "--source", str(EXAMPLE)]) == 0
    assert read_data(same)["source_note"] == ""


def test_raster_mode_embeds_at_most_121_steps_evenly(paint_dir: Path, tmp_path: Path) -> None:
    """docs/viewer.md: at most 121 pre-rendered pictures; more steps are sampled evenly.
    The 400 strokes put two to a step give 200 steps, 201 cuts (0, 2, ..., 400); 121 of
    them evenly spaced are the cuts at indices round(k x 200 / 120), k = 0..120 (worked
    out here, not by the module), the first blank and the last the finished plan."""
    import dataclasses

    plan = load_plan(paint_dir / "plan.json")
    assert len(plan.strokes) == 400
    many = dataclasses.replace(plan, strokes=[dataclasses.replace(s, step=i // 2) for i, s in enumerate(plan.strokes)])
    many.save(tmp_path / "plan.json")
    out = tmp_path / "v.html"
    assert main(["-q", "viewer", str(tmp_path / "plan.json"), "-o", str(out), "--max-vector-strokes", "100", "--raster-px", "64"]) == 0
    d = read_data(out)
    want = [2 * round(k * 5 / 3) for k in range(121)]  # 200 k / 120 = 5 k / 3, never a half
    assert d["raster"]["cuts"] == want and want[0] == 0 and want[-1] == 400
    assert len(d["raster"]["images"]) == 121
    last = np.asarray(Image.open(io.BytesIO(base64.b64decode(d["raster"]["images"][-1].split(",", 1)[1]))).convert("RGB"))
    assert psnr(last, render_plan(many, width_px=64, region="canvas")) > 30.0


def test_frames_and_plan_file_input(paint_dir: Path, tmp_path: Path) -> None:
    d = tmp_path / "out"
    shutil.copytree(paint_dir, d)
    (d / "frames").mkdir()
    for k in range(5):
        Image.fromarray(np.full((48, 64, 3), 40 * k, np.uint8)).save(d / "frames" / f"{k:04d}.png")
    inputs = find_inputs(d / "plan.json")
    assert len(inputs.frames) == 5 and inputs.source is not None and inputs.depth is not None
    data = viewer_data(inputs)
    assert len(data["frames"]) == 5 and all(f.startswith("data:image/jpeg") for f in data["frames"])


def test_build_viewer_into_folder(paint_dir: Path, tmp_path: Path) -> None:
    info = build_viewer(paint_dir / "plan.json", tmp_path, title="<b>x</b>")
    assert info.path == tmp_path / "viewer.html" and info.mode == "vector" and info.bytes == info.path.stat().st_size
    text = info.path.read_text()
    assert "<title>&lt;b&gt;x&lt;/b&gt;</title>" in text and "<b>x</b>" not in text
    assert [p.name for p in tmp_path.iterdir()] == ["viewer.html"]  # no temp files left


@pytest.mark.parametrize(
    "args, needle",
    [
        (["{missing}"], "no such plan file or folder"),
        (["{empty}"], "holds no plan.json"),
        (["{badjson}"], "not valid JSON"),
        (["{paint}", "--source", "{missing}"], "no such file"),
        (["{paint}", "--depth", "{missing}"], "no such depth file"),
        (["{paint}", "--raster-px", "10"], "--raster-px"),
        (["{paint}", "--max-vector-strokes", "-1"], "--max-vector-strokes"),
    ],
)
def test_bad_input_one_line_error(args, needle, paint_dir: Path, tmp_path: Path, capsys) -> None:
    (tmp_path / "empty").mkdir()
    (tmp_path / "bad.json").write_text("{not json")
    subs = {"missing": str(tmp_path / "nope.json"), "empty": str(tmp_path / "empty"), "badjson": str(tmp_path / "bad.json"), "paint": str(paint_dir)}
    out = tmp_path / "v.html"
    rc = main(["-q", "viewer", *[a.format(**subs) for a in args], "-o", str(out)])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and err.startswith("error: ") and needle in err and "\n" not in err
    assert not out.exists()


def test_library_errors_are_typed(tmp_path: Path) -> None:
    with pytest.raises(PlanError):
        find_inputs(tmp_path / "nope")
    with pytest.raises(InputError):
        find_inputs(_tiny_plan(tmp_path), source=tmp_path / "none.png")
    with pytest.raises(SettingsError):
        build_viewer(_tiny_plan(tmp_path), tmp_path / "v.html", raster_px=5)


def _tiny_plan(tmp_path: Path) -> Path:
    from animatepainter.planner.plan import Brush, Canvas, Paint, Stroke, StrokePlan

    plan = StrokePlan(
        Canvas(100.0, 50.0, (250, 250, 250), (200, 100), (0.0, 0.0, 100.0, 50.0)),
        [Paint(0, (200, 30, 30), "red")],
        [Brush(0, 5.0)],
        [Stroke(0, np.array([[10.0, 10.0], [90.0, 40.0]]), 5.0, 0, 0, (200, 30, 30), 0, 0, 0)],
        {"engine": "test", "version": "0"},
    )
    return plan.save(tmp_path / "tiny.json")


# -- in the browser ------------------------------------------------------------------------


def _chromium() -> str | None:
    for c in (os.environ.get("ANIMATEPAINTER_CHROMIUM"), shutil.which("chromium"), "/usr/bin/chromium", shutil.which("chromium-browser")):
        if c and os.access(c, os.X_OK):
            return c
    return None


@pytest.fixture(scope="module")
def browser():
    exe = _chromium()
    skip_unless("chromium", exe is not None, "Chromium not found (install Debian's 'chromium' as .ci/run does, or set ANIMATEPAINTER_CHROMIUM)")
    from playwright.sync_api import sync_playwright

    args = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--no-first-run", "--disable-quic", "--disable-dev-shm-usage"]
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=exe, args=args)
        try:
            yield b
        finally:
            b.close()


class Page:
    """A viewer page in a browser tab, with what it fetched and logged."""

    def __init__(self, browser, path: Path, width: int = 1280, height: int = 800, mobile: bool = False):
        self.ctx = browser.new_context(viewport={"width": width, "height": height}, device_scale_factor=1, is_mobile=mobile, has_touch=mobile)
        self.page = self.ctx.new_page()
        self.requests: list[str] = []
        self.errors: list[str] = []
        self.page.on("request", lambda r: self.requests.append(r.url))
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.url = path.resolve().as_uri()
        self.page.goto(self.url)
        self.page.wait_for_selector("body[data-ready='1']", timeout=15000)

    def wait(self, js: str, timeout_s: float = 15.0) -> None:
        """Poll a JS expression until true (the page's CSP forbids the eval that
        ``wait_for_function`` uses; ``evaluate`` goes through DevTools)."""
        t0 = time.monotonic()
        while not self.page.evaluate(js):
            assert time.monotonic() - t0 < timeout_s, f"timed out waiting for {js}"
            self.page.wait_for_timeout(20)

    def settle(self) -> None:
        self.wait("document.body.dataset.drawn === document.body.dataset.pos")

    def pos(self) -> int:
        return int(self.page.evaluate("document.body.dataset.pos"))

    def canvas(self) -> np.ndarray:
        self.settle()
        png = self.page.locator("#canvas").screenshot()
        return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))

    def slide(self, value: int) -> None:
        self.page.locator("#slider").fill(str(value))
        self.settle()

    def close(self) -> None:
        assert not self.errors, self.errors
        assert set(self.requests) <= {self.url}, f"the page fetched {set(self.requests) - {self.url}}"
        self.ctx.close()


def _render(plan, shot: np.ndarray, upto: int | None = None) -> np.ndarray:
    ref = render_plan(plan, width_px=shot.shape[1], region="canvas", upto=upto)
    assert ref.shape == shot.shape, (ref.shape, shot.shape)
    return ref


def test_browser_slider_draws_the_plan(browser, viewer_file: Path, paint_dir: Path) -> None:
    plan = load_plan(paint_dir / "plan.json")
    v = Page(browser, viewer_file)
    blank = v.canvas()
    assert blank.shape[1] > 300 and blank.shape[0] > 200
    assert np.abs(blank.astype(int) - np.array(plan.canvas.background)).max() <= 1
    assert "Blank canvas" in v.page.inner_text("#cap-main")
    assert f"{len(plan.brushes)} brushes (" in v.page.inner_text("#cap-sub")

    v.slide(150)
    mid = v.canvas()
    assert v.pos() == 150
    cap = v.page.inner_text("#caption")
    assert re.search(r"Step \d+ of 12", cap) and "% of the picture done" in cap
    assert psnr(mid, _render(plan, mid, upto=150)) > PSNR_VECTOR_DB

    v.slide(400)
    final = v.canvas()
    ref = _render(plan, final)
    assert psnr(final, ref) > PSNR_VECTOR_DB
    assert psnr(final, mid) < 25.0 and psnr(mid, blank) < 25.0  # the canvas changes as the slider moves
    assert "100% of the picture done" in v.page.inner_text("#caption")

    v.slide(len(plan.strokes) - 1)  # stroke by stroke: one stroke less is another picture
    assert not np.array_equal(v.canvas(), final)

    v.slide(150)  # back again: restarts from a snapshot
    assert psnr(v.canvas(), mid) > 45.0

    # one depth layer at a time: the strokes of layer 0 alone
    v.page.select_option("#layer", "0")
    v.slide(400)
    only0 = plan.with_strokes([s for s in plan.strokes if s.layer == 0])
    shot = v.canvas()
    assert psnr(shot, _render(only0, shot)) > PSNR_VECTOR_DB
    assert psnr(shot, final) < 25.0
    assert "depth layer 1 only" in v.page.inner_text("#paint-info")
    v.close()


def test_browser_keyboard_play_and_depth(browser, viewer_file: Path, paint_dir: Path) -> None:
    plan = load_plan(paint_dir / "plan.json")
    ends = step_ends(plan)
    v = Page(browser, viewer_file)
    kb = v.page.keyboard
    nxt = lambda p: min(e for e in ends if e > p)  # noqa: E731 - the next step's end
    kb.press("ArrowRight")
    assert v.pos() == 1
    kb.press("ArrowDown")
    a = nxt(1)
    assert v.pos() == a
    kb.press("ArrowDown")
    assert v.pos() == nxt(a)
    kb.press("ArrowUp")
    assert v.pos() == a
    kb.press("End")
    assert v.pos() == len(plan.strokes)
    kb.press("Home")
    assert v.pos() == 0
    assert v.page.evaluate("document.body.dataset.ref") == "source"
    kb.press("d")
    assert v.page.evaluate("document.body.dataset.ref") == "depth"
    assert v.page.get_attribute("#ref-img", "src").startswith("data:image/png")
    kb.press("l")
    assert v.page.input_value("#layer") == "0"
    kb.press("a")
    assert v.page.input_value("#layer") == "-1"
    kb.press("Space")
    v.wait("Number(document.body.dataset.pos) > 20")
    kb.press("Space")
    assert v.page.evaluate("document.body.dataset.playing") == "0"
    p = v.pos()
    v.page.wait_for_timeout(300)
    assert v.pos() == p and 0 < p < len(plan.strokes)
    v.page.click("#next-step")
    assert v.pos() in ends and v.pos() > p
    v.close()


def test_browser_phone_layout(browser, viewer_file: Path) -> None:
    v = Page(browser, viewer_file, 390, 844, mobile=True)
    over = v.page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert over <= 0, f"page is {over} px wider than the phone"
    box = v.page.locator("#canvas").bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= 390 and box["width"] > 300
    play = v.page.locator("#play").bounding_box()
    assert play["height"] >= 44 and play["y"] < 844  # big enough to tap, on the first screen
    v.close()


def test_browser_raster_mode(browser, raster_file: Path, paint_dir: Path) -> None:
    plan = load_plan(paint_dir / "plan.json")
    v = Page(browser, raster_file)
    notice = v.page.locator("#notice")
    assert notice.is_visible() and "pre-rendered" in notice.inner_text() and f"{len(plan.strokes)} strokes" in notice.inner_text()
    assert v.page.is_disabled("#layer") and v.page.is_disabled("#level")
    blank = v.canvas()
    v.page.keyboard.press("ArrowRight")  # one step
    assert v.pos() == step_ends(plan)[0]
    step1 = v.canvas()
    v.page.keyboard.press("End")
    final = v.canvas()
    assert psnr(final, _render(plan, final)) > PSNR_RASTER_DB
    assert psnr(step1, blank) < 30.0 and psnr(step1, final) < 30.0
    v.close()


def test_browser_missing_source(browser, no_source_file: Path) -> None:
    v = Page(browser, no_source_file)
    assert v.page.evaluate("document.body.dataset.ref") == "depth"
    assert "not found" in v.page.inner_text("#ref-note")
    assert v.page.is_disabled("#tab-source")
    v.page.keyboard.press("End")
    assert v.canvas().std() > 10  # still paints
    v.close()


def test_browser_diffuser_frames_follow_the_steps(browser, paint_dir: Path, tmp_path: Path) -> None:
    from animatepainter.planner.render import render_steps

    d = tmp_path / "out"
    shutil.copytree(paint_dir, d)
    (d / "frames").mkdir()
    plan = load_plan(d / "plan.json")
    for k, (_, f) in enumerate(render_steps(plan, 64)):  # blank + one frame per step
        Image.fromarray(f).save(d / "frames" / f"{k:04d}.png")
    out = d / "viewer.html"
    assert main(["-q", "viewer", str(d), "-o", str(out)]) == 0
    frames = read_data(out)["frames"]
    assert len(frames) == plan.n_steps + 1
    v = Page(browser, out)
    v.page.keyboard.press("ArrowDown")
    v.page.keyboard.press("ArrowDown")  # the end of step 2 (plan step 1)
    v.page.keyboard.press("g")
    assert v.page.evaluate("document.body.dataset.ref") == "frames"
    assert v.page.inner_text("#ref-info") == f"frame 3 of {len(frames)}"
    assert v.page.get_attribute("#ref-img", "src") == frames[2]
    v.close()
