"""Depth layering (multi-level Otsu by dynamic programming, the layer count) and the
offline prior's figure-ground cue (issue 19)."""

from __future__ import annotations

import itertools
import time

import cv2
import numpy as np
import pytest
from skimage.exposure import histogram
from skimage.filters import threshold_multiotsu

from animatepainter.planner import SettingsError, depth_layers, make_scene, prior_depth
from animatepainter.planner.layers import MAX_LAYERS, choose_layer_count, otsu_partition


def _criterion(counts: np.ndarray, centers: np.ndarray, cuts) -> float:
    """Otsu's criterion, sum over classes of S^2 / W, for classes ending at ``cuts`` (float64)."""
    b = np.r_[0, np.asarray(cuts, int) + 1, len(counts)]
    w = np.array([counts[b[i] : b[i + 1]].sum() for i in range(len(b) - 1)], np.float64)
    s = np.array([(counts[b[i] : b[i + 1]] * centers[b[i] : b[i + 1]]).sum() for i in range(len(b) - 1)], np.float64)
    return float((s**2 / w).sum()) if (w > 0).all() else -np.inf


def _maps() -> dict[str, np.ndarray]:
    yy, xx = np.mgrid[0:96, 0:128].astype(np.float32)
    blobs = 0.6 * np.exp(-((xx - 40) ** 2 + (yy - 30) ** 2) / 400) + 0.4 * np.exp(-((xx - 90) ** 2 + (yy - 60) ** 2) / 900) + 0.2 * yy / 96
    return {
        "scene (exact)": make_scene(96, 128, seed=4).depth,
        "scene (prior)": prior_depth(make_scene(96, 128, seed=7).image),
        "blobs": blobs.astype(np.float32),
    }


def test_dp_matches_skimage_multiotsu():
    same = 0
    for name, depth in _maps().items():
        counts, centers = histogram(depth.ravel(), 64, source_range="image")
        counts = counts.astype(np.float64)
        for k in range(2, 6):
            ref = np.searchsorted(centers, threshold_multiotsu(hist=(counts, centers), classes=k))
            cuts, scores = otsu_partition(counts, centers, k)
            assert cuts.shape == (k - 1,) and np.all(np.diff(cuts) > 0)
            ours, theirs = _criterion(counts, centers, cuts), _criterion(counts, centers, ref)
            assert ours == pytest.approx(scores[-1], rel=1e-12)
            # skimage's thresholds, or an equivalent partition: skimage searches in float32
            # and can stop a hair short of the optimum (near ties, or empty bins); never better
            assert ours >= theirs * (1 - 1e-12), (name, k, cuts, ref)
            assert np.array_equal(cuts, ref) or ours - theirs < 1e-3 * ours, (name, k, cuts, ref)
            same += np.array_equal(cuts, ref)
    assert same >= 8, same  # of 12


def test_dp_is_the_exact_optimum():
    counts, centers = histogram(_maps()["scene (prior)"].ravel(), 24, source_range="image")
    for k in (2, 3, 4):
        cuts, _ = otsu_partition(counts, centers, k)
        best = max(_criterion(counts, centers, c) for c in itertools.combinations(range(len(counts) - 1), k - 1))
        assert _criterion(counts, centers, cuts) == pytest.approx(best, rel=1e-12)


def test_many_layers_are_fast_and_ordered():
    sc = make_scene(256, 256, seed=3)
    depth = prior_depth(sc.image)
    t0 = time.perf_counter()
    lay = depth_layers(depth, 12)
    assert time.perf_counter() - t0 < 5.0  # the exhaustive search never finished at 8
    for k in (2, 3, 6, 12, MAX_LAYERS):
        lay = depth_layers(depth, k)
        m = int(lay.max()) + 1
        assert lay.dtype == np.int32 and lay.shape == depth.shape and lay.min() == 0 and m <= k
        assert set(np.unique(lay)) == set(range(m))  # no gaps in the numbering
        means = [float(depth[lay == i].mean()) for i in range(m)]
        assert np.all(np.diff(means) > 0), (k, means)  # 0 = farthest
    assert int(depth_layers(depth, 12).max()) + 1 >= 8  # finer layering is really finer


def test_small_regions_join_their_surround():
    depth = np.full((100, 100), 0.2, np.float32)
    depth[50:, :] = 0.8  # two planes
    depth[20:26, 20:26] = 0.8  # a speck of the near plane inside the far one (0.36 % of the picture)
    lay = depth_layers(depth, 2)
    assert (lay[:50] == 0).all() and (lay[50:] == 1).all()
    kept = depth_layers(depth, 2, min_area=0)
    assert (kept[21:25, 21:25] == 1).all()


def test_flat_and_few_valued_maps():
    flat = np.full((40, 50), 0.5, np.float32)
    assert (depth_layers(flat, 6) == 0).all()
    assert choose_layer_count(flat) == 1
    three = np.repeat(np.float32([0.1, 0.5, 0.9]), [20, 20, 20])[:, None] * np.ones((1, 50), np.float32)
    lay = depth_layers(three, 8)  # fewer depths than layers: one layer per depth
    assert set(np.unique(lay)) == {0, 1, 2} and (lay[:20] == 0).all() and (lay[-20:] == 2).all()


def test_layer_count_errors():
    d = make_scene(32, 32, seed=0).depth
    for bad in (0, 17, 20, -1):
        with pytest.raises(SettingsError, match=f"^depth layers must be between 1 and 16, got {bad}$"):
            depth_layers(d, bad)
    with pytest.raises(SettingsError, match="depth layers must be"):
        depth_layers(d, 2.5)
    with pytest.raises(SettingsError, match="^max_layers must be between 1 and 16, got 0$"):
        choose_layer_count(d, max_layers=0)


def _planes(depths, shares, noise=0.004, seed=0):
    """Horizontal bands at ``depths`` taking ``shares`` of the rows, with a little noise."""
    rows = np.round(np.cumsum([0, *shares]) / sum(shares) * 200).astype(int)
    d = np.zeros((200, 160), np.float32)
    for v, a, b in zip(depths, rows[:-1], rows[1:]):
        d[a:b] = v
    return d + np.random.default_rng(seed).normal(0, noise, d.shape).astype(np.float32)


def test_choose_layer_count_counts_planes():
    assert choose_layer_count(_planes([0.1, 0.4, 0.6, 0.95], [3, 2, 2, 3])) == 4
    assert choose_layer_count(_planes([0.0, 0.3, 0.5, 0.7, 1.0], [1, 1, 1, 1, 1])) == 5
    assert choose_layer_count(_planes([0.0, 1.0], [1, 1])) == 2
    # a one-valued map with a speck of outliers (0.5 % of the pixels) is one plane
    d = np.full((100, 100), 0.3, np.float32)
    d[:5, :10] = 0.9
    assert choose_layer_count(d) == 1
    # a uniform slope is split into bands, more than 3 and no more than the cap
    ramp = np.broadcast_to(np.linspace(0, 1, 200, dtype=np.float32)[:, None], (200, 100))
    assert 5 <= choose_layer_count(ramp) <= 12
    assert choose_layer_count(ramp, max_layers=4) == 4
    # the chosen count holds on a scene's exact depth: sky, hills, ground (within one)
    sc = make_scene(192, 256, seed=1001)  # a sky, 4 hill ranges and the ground: 6 planes
    assert abs(choose_layer_count(sc.depth) - 6) <= 1


def _portrait(head: bool, h: int = 192, w: int = 160, seed: int = 0):
    """A textured flat backdrop touching every border, a figure in the centre of the lower half."""
    rng = np.random.default_rng(seed)

    def noise(cells):
        return cv2.resize(rng.random((cells, cells)).astype(np.float32), (w, h), interpolation=cv2.INTER_CUBIC)

    img = np.empty((h, w, 3), np.float32)
    img[:] = (196, 186, 170)
    img += 14 * (noise(12) - 0.5)[..., None] + np.linspace(-8, 8, h, dtype=np.float32)[:, None, None]
    fig = np.zeros((h, w), np.uint8)
    cv2.ellipse(fig, (w // 2, int(0.68 * h)), (int(0.2 * w), int(0.22 * h)), 0, 0, 360, 1, -1)
    if head:  # a head above the body, high in the frame (where height alone says far)
        cv2.circle(fig, (w // 2, int(0.36 * h)), int(0.12 * w), 1, -1)
    img[fig > 0] = (np.float32([205, 95, 55]) + 18 * (noise(20) - 0.5)[..., None])[fig > 0]
    return np.clip(np.rint(img), 0, 255).astype(np.uint8), fig.astype(bool)


@pytest.mark.parametrize("head", [False, True])
def test_prior_puts_a_portraits_subject_in_front(head):
    img, fig = _portrait(head)
    depth = prior_depth(img)
    assert depth[fig].mean() > depth[~fig].mean() + 0.3
    lay = depth_layers(depth, 3)
    subject = np.bincount(lay[fig], minlength=3).argmax()
    backdrop = np.bincount(lay[~fig], minlength=3).argmax()
    assert subject > backdrop
    if head:
        h = img.shape[0]
        head_px = fig.copy()
        head_px[int(0.46 * h) :] = False
        assert np.bincount(lay[head_px], minlength=3).argmax() > backdrop
    assert np.array_equal(depth, prior_depth(img))  # deterministic
