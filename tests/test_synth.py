"""``animatepainter synth``: erasure process frames, shards, engines, resume, bad input."""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from animatepainter.model.data import synth as synth_mod
from animatepainter.cli import main
from animatepainter.model.data.dataset import DatasetReader
from animatepainter.planner.errors import SettingsError
from animatepainter.planner.render import stroke_bbox, stroke_coverage
from animatepainter.planner.scenes import make_scene
from animatepainter.model.data.synth import SynthSettings, make_jobs, synth_dataset, synthesize

SIZE, T = 64, 8
SETTINGS = SynthSettings(frames=T, size=SIZE, shard_size=2, seed=3)
BLANK = np.ones(3, np.float32)  # white canvas, as float in [0, 1]


def _write_rgb(path: Path, img: np.ndarray) -> None:
    assert cv2.imwrite(str(path), cv2.cvtColor(img, cv2.COLOR_RGB2BGR))


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> dict:
    """Three good images (one wider than tall), and three bad inputs among them."""
    d = tmp_path_factory.mktemp("inputs")
    good = []
    for i, (h, w) in enumerate([(SIZE, SIZE), (SIZE, SIZE + 32), (SIZE, SIZE)]):
        p = d / f"img{i}.png"
        _write_rgb(p, make_scene(h, w, seed=100 + i).image)
        good.append(p)
    corrupt = d / "corrupt.png"
    corrupt.write_bytes(b"\x89PNG\r\n\x1a\nthis is not a png")
    tiny = d / "tiny.png"
    _write_rgb(tiny, np.zeros((4, 4, 3), np.uint8))
    missing = d / "missing.jpg"
    order = [str(good[0]), str(corrupt), str(good[1]), str(missing), str(tiny), str(good[2])]
    return {"paths": order, "good": [str(p) for p in good], "bad": [str(corrupt), str(missing), str(tiny)]}


def _run(inputs: dict, out: Path, engine: str, workers: int, **kw):
    return synth_dataset(inputs["paths"], out, SETTINGS, procedural=2, engine=engine, workers=workers, **kw)


@pytest.fixture(scope="module")
def local_ds(inputs, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("local") / "ds"
    _run(inputs, out, "local", 2, preview=True)
    return out


@pytest.fixture(scope="module")
def ray_ds(inputs, tmp_path_factory) -> Path:
    import ray  # the [ray] extra, which make setup installs: a broken install fails, not skips

    assert not ray.is_initialized()
    out = tmp_path_factory.mktemp("ray") / "ds"
    _run(inputs, out, "ray", 2)  # starts a local Ray instance with 2 CPUs and shuts it down
    assert not ray.is_initialized()
    return out


def _manifest(ds: Path) -> dict:
    return json.loads((ds / "manifest.json").read_text())


def _samples(ds: Path) -> list[dict]:
    return list(DatasetReader(ds))


def test_manifest_counts_and_failures(local_ds, inputs):
    m = _manifest(local_ds)
    assert m["inputs"] == 8 and m["samples"] == 5 and m["failed"] == 3
    assert len(m["shards"]) == 4 and sum(s["samples"] for s in m["shards"]) == 5
    reasons = {f["source"]: f["reason"] for f in m["failures"]}
    assert set(reasons) == set(inputs["bad"])
    assert "corrupt" in reasons[inputs["bad"][0]] or "not a readable image" in reasons[inputs["bad"][0]]
    assert "no such file" in reasons[inputs["bad"][1]]
    assert "4x4" in reasons[inputs["bad"][2]]
    for s in m["shards"]:
        assert hashlib.sha256((local_ds / s["name"]).read_bytes()).hexdigest() == s["sha256"]
    assert not list(local_ds.glob(".*")), "temp files left behind"


def test_frames_blank_to_image(local_ds, inputs):
    samples = {s["meta"]["source"]: s for s in _samples(local_ds)}
    assert len(samples) == 5
    for src, s in samples.items():
        frames, image = s["frames"], s["image"]
        assert frames.shape == (T, 3, SIZE, SIZE) and frames.dtype == np.float32
        np.testing.assert_array_equal(frames[0], np.broadcast_to(BLANK[:, None, None], frames[0].shape))
        np.testing.assert_array_equal(frames[-1], image)
        if not src.startswith("procedural:"):  # the last frame is the real input image
            file_rgb = cv2.cvtColor(cv2.imread(src), cv2.COLOR_BGR2RGB)
            x0 = (file_rgb.shape[1] - SIZE) // 2  # --aspect crop: centre square
            np.testing.assert_array_equal(np.rint(image * 255).astype(np.uint8), file_rgb[:, x0 : x0 + SIZE].transpose(2, 0, 1))
        # masks mark exactly the pixels that changed
        changed = (frames[1:] != frames[:-1]).any(axis=1, keepdims=True)
        assert not s["masks"][0].any()
        np.testing.assert_array_equal(s["masks"][1:] > 0, changed)


def test_coverage_never_decreases(local_ds):
    for s in _samples(local_ds):
        frames = s["frames"]
        painted = (frames != BLANK[None, :, None, None]).any(axis=1)  # (T, H, W)
        counts = painted.reshape(T, -1).sum(axis=1)
        assert counts[0] == 0 and counts[-1] > 0.95 * SIZE * SIZE
        assert np.all(np.diff(counts) >= 0), counts
        # and pixel by pixel: a pixel is blank before the frame it starts, shows paint from
        # that frame on, and stays painted
        start = s["start"][0]
        for t in range(T):
            assert not painted[t][start > t].any()
            assert painted[t][start <= t].all()
        assert not (painted[:-1] & ~painted[1:]).any()
        started = [(start <= t).sum() for t in range(T)]
        assert np.all(np.diff(started) >= 0) and started[-1] == SIZE * SIZE


def test_far_layers_painted_before_near(local_ds):
    for s in _samples(local_ds):
        farness = 1.0 - s["depth"][0]
        start = s["start"][0]
        steps = [t for t in range(1, T) if (start == t).sum() >= 0.01 * start.size]
        mean_far = np.array([farness[start == t].mean() for t in steps])
        # the mean farness of the pixels first painted at each step falls over time
        rho = np.corrcoef(np.argsort(np.argsort(steps)), np.argsort(np.argsort(-mean_far)))[0, 1]
        assert rho > 0.5, (s["key"], steps, mean_far.round(2))
        assert mean_far[0] > mean_far[-1] + 0.2, (s["key"], mean_far.round(2))


def test_strokes_metadata(local_ds):
    for s in _samples(local_ds):
        st, meta = s["strokes"], s["meta"]
        n = meta["strokes"]
        assert len(st["frame"]) == len(st["layer"]) == len(st["points_px"]) == n > 0
        assert st["rgb"].shape == (n, 3) and np.all(st["width_px"] > 0)
        assert np.all(np.diff(st["frame"]) >= 0) and st["frame"].min() >= 1 and st["frame"].max() == T - 1
        assert np.all(np.diff(st["layer"]) >= 0)  # far layers first
        assert np.bincount(st["frame"], minlength=T).cumsum().tolist() == meta["strokes_upto"]
        for pts in st["points_px"][:20]:
            assert pts.shape[1] == 2 and np.all((pts > -1) & (pts < SIZE + 1))
        assert meta["strokes_upto"][0] == 0 and meta["strokes_upto"][-1] == n
        # a pixel starts in the frame of the first stroke that covers it, so the pixels a
        # stroke of frame t fully covers have started by frame t
        start = s["start"][0]
        for pts, w, f in zip(st["points_px"], st["width_px"], st["frame"]):
            pts = np.asarray(pts, np.float64)
            box = stroke_bbox(pts, float(w), start.shape)
            cov = stroke_coverage(pts, float(w), box) >= 0.99
            y0, y1, x0, x1 = box
            assert (start[y0:y1, x0:x1][cov] <= f).all()


def test_identical_across_engines_and_runs(local_ds, ray_ds, inputs, tmp_path):
    a, b = _manifest(local_ds), _manifest(ray_ds)
    assert a == b
    for s in a["shards"]:
        assert (local_ds / s["name"]).read_bytes() == (ray_ds / s["name"]).read_bytes()
    # a third run, in-process with one worker, gives the same bytes
    out = tmp_path / "again"
    _run(inputs, out, "local", 1)
    assert _manifest(out) == a


def test_preview_contact_sheets(local_ds):
    keys = [s["key"] for s in _samples(local_ds)]
    for k in keys:
        img = cv2.imread(str(local_ds / "previews" / f"{k}.png"))
        assert img is not None and img.shape[1] > 128 * 5
        assert img.std() > 10  # not a blank sheet


def test_resume_skips_complete_shards(local_ds, inputs, tmp_path):
    import shutil

    out = tmp_path / "ds"
    shutil.copytree(local_ds, out)
    before = _manifest(out)
    rep = _run(inputs, out, "local", 1)
    assert rep.skipped_shards == 4 and rep.made == 0 and _manifest(out) == before
    # a damaged shard fails its checksum and is made again; the others are kept
    name = before["shards"][1]["name"]
    data = bytearray((out / name).read_bytes())
    data[600] ^= 0xFF
    (out / name).write_bytes(bytes(data))
    rep = _run(inputs, out, "local", 1)
    assert rep.skipped_shards == 3 and rep.made + rep.failed == 2
    assert _manifest(out) == before


def test_crash_never_leaves_a_corrupt_shard(inputs, local_ds, tmp_path, monkeypatch):
    out = tmp_path / "ds"
    real = synth_mod.run_job
    calls = {"n": 0}

    def dying(job, settings, preview=False):
        calls["n"] += 1
        if calls["n"] == 4:  # mid-way through the second shard
            raise KeyboardInterrupt
        return real(job, settings, preview)

    monkeypatch.setattr(synth_mod, "run_job", dying)
    with pytest.raises(KeyboardInterrupt):
        _run(inputs, out, "local", 1)
    assert (out / "shard-000000.tar").exists() and not (out / "shard-000001.tar").exists()
    assert not (out / "manifest.json").exists()
    assert not list(out.glob(".shard-*")), "temp shard left behind"
    monkeypatch.setattr(synth_mod, "run_job", real)
    rep = _run(inputs, out, "local", 1)
    assert rep.skipped_shards == 1
    assert _manifest(out) == _manifest(local_ds)


def test_other_settings_refused_unless_overwrite(local_ds, tmp_path):
    import shutil

    out = tmp_path / "ds"
    shutil.copytree(local_ds, out)
    other = SynthSettings(frames=4, size=32, shard_size=2, seed=3)
    with pytest.raises(SettingsError, match="other settings.*frames 8 -> 4"):
        synth_dataset([], out, other, procedural=1, workers=1)
    rep = synth_dataset([], out, other, procedural=1, workers=1, overwrite=True)
    assert rep.manifest["samples"] == 1 and sorted(p.name for p in out.glob("shard-*")) == ["shard-000000.json", "shard-000000.tar"]


def test_erasure_frames_unit():
    """Directly on one procedural sample: the rules of the erasure process."""
    s = synthesize(make_jobs([], 1, 0)[0], SynthSettings(frames=5, size=32))
    frames, start, done, image = s["frames"], s["start"], s["done"], s["image"]
    assert frames.shape == (5, 32, 32, 3) and frames.dtype == np.uint8
    assert np.all(start >= 1) and np.all(done >= start) and np.all(done <= 4)
    for t in range(5):
        fin = done <= t
        np.testing.assert_array_equal(frames[t][fin], image[fin])
        np.testing.assert_array_equal(frames[t][start > t], np.full(((start > t).sum(), 3), 255, np.uint8))


@pytest.mark.parametrize(
    "args, msg",
    [
        (["--frames", "1"], "--frames must be between 2 and 256"),
        (["--frames", "1000"], "--frames must be between 2 and 256"),
        (["--size", "8"], "--size must be between 16 and 1024"),
        (["--workers", "0"], "--workers must be >= 1"),
    ],
)
def test_cli_bad_settings_fail_before_work(args, msg, tmp_path, capsys):
    out = tmp_path / "ds"
    rc = main(["synth", "--procedural", "1", "-o", str(out), *args])
    err = capsys.readouterr().err
    assert rc == 2 and msg in err and err.count("\n") == 1
    assert not out.exists()


def test_cli_unknown_engine_is_a_usage_error(tmp_path, capsys):
    """An engine outside the list is click's usage error (issue 22): exit status 2, the
    option and the bad value named, nothing made."""
    out = tmp_path / "ds"
    rc = main(["synth", "--procedural", "1", "-o", str(out), "--engine", "spark"])
    err = capsys.readouterr().err
    assert rc == 2 and err.strip().splitlines()[-1] == "error: Invalid value for '--engine': Value error, 'spark' is not one of 'local', 'ray'.", err
    assert "Usage: animatepainter synth" in err and not out.exists()


def test_cli_no_inputs(tmp_path, capsys):
    rc = main(["synth", "-o", str(tmp_path / "ds")])
    assert rc == 2 and "no input images" in capsys.readouterr().err


def test_cli_unreachable_ray_address(tmp_path, capsys):
    t0 = time.perf_counter()
    rc = main(["synth", "--procedural", "1", "-o", str(tmp_path / "ds"), "--engine", "ray", "--ray-address", "127.0.0.1:1"])
    err = capsys.readouterr().err
    assert rc == 2 and "cannot reach the Ray cluster at 127.0.0.1:1" in err
    assert time.perf_counter() - t0 < 30
    assert not (tmp_path / "ds").exists()
    rc = main(["synth", "--procedural", "1", "-o", str(tmp_path / "ds"), "--ray-address", "127.0.0.1:1"])
    assert rc == 2 and "--ray-address needs --engine ray" in capsys.readouterr().err


def test_cli_end_to_end_with_preview(tmp_path, capsys):
    out = tmp_path / "ds"
    rc = main(["-q", "synth", "--procedural", "2", "-o", str(out), "--frames", "4", "--size", "32", "--workers", "1", "--preview"])
    assert rc == 0, capsys.readouterr().err
    assert "2 samples in 1 shards, 0 inputs failed" in capsys.readouterr().out
    assert len(DatasetReader(out)) == 2
    assert sorted(p.name for p in (out / "previews").iterdir()) == ["00000000.png", "00000001.png"]
    # no -n: the default budget, 32 px -> 32^2 / 32 = 32, raised to the floor of 100
    assert _manifest(out)["settings"]["strokes"] == 100


@pytest.mark.parametrize(
    "size, strokes, budget",
    # worked by hand from docs/synth.md: PX^2 / 32 within 100..4000, or -n as given
    [(16, None, 100), (56, None, 100), (57, None, 102), (64, None, 128), (256, None, 2048), (357, None, 3983), (358, None, 4000), (1024, None, 4000), (64, 7, 7), (1024, 9000, 9000)],
)
def test_default_stroke_budget(size, strokes, budget):
    """``-n`` omitted: ``size**2 / 32`` rounded, within 100..4000 (56 px gives 98, 57 px
    101.5 -> 102, 357 px 3982.8 -> 3983); given: used as is. The manifest's fingerprint
    records the budget actually used."""
    st = SynthSettings(size=size, strokes=strokes)
    assert st.stroke_budget == budget
    assert st.fingerprint()["strokes"] == budget
    assert st.paint_settings(0).strokes == budget
