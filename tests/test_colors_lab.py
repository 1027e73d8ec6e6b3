"""The package's one CIELAB / CIEDE2000 (issue 22): ``planner.colors`` against the
published test data of Sharma, Wu and Dalal (2005) and against colour-science, and the
four places that used to convert on their own (palette k-means, machine paint matching,
the extractor's frame differences, the rig's colour-correction figures) now use it."""

from __future__ import annotations

import numpy as np
import pytest

from animatepainter.planner import colors
from animatepainter.planner.colors import delta_e2000, delta_e2000_lab, lab_to_srgb, srgb_to_lab

# Sharma, Wu & Dalal, "The CIEDE2000 color-difference formula: implementation notes,
# supplementary test data, and mathematical observations", Color Res. Appl. 30 (2005),
# Table 1 (hand-copied): L1 a1 b1, L2 a2 b2, Delta E00 to 4 decimals.
SHARMA_2005 = [
    ((50.0000, 2.6772, -79.7751), (50.0000, 0.0000, -82.7485), 2.0425),
    ((50.0000, 3.1571, -77.2803), (50.0000, 0.0000, -82.7485), 2.8615),
    ((50.0000, 2.8361, -74.0200), (50.0000, 0.0000, -82.7485), 3.4412),
    ((50.0000, -1.3802, -84.2814), (50.0000, 0.0000, -82.7485), 1.0000),
    ((50.0000, -1.1848, -84.8006), (50.0000, 0.0000, -82.7485), 1.0000),
    ((50.0000, -0.9009, -85.5211), (50.0000, 0.0000, -82.7485), 1.0000),
    ((50.0000, 0.0000, 0.0000), (50.0000, -1.0000, 2.0000), 2.3669),
    ((50.0000, -1.0000, 2.0000), (50.0000, 0.0000, 0.0000), 2.3669),
    ((50.0000, 2.4900, -0.0010), (50.0000, -2.4900, 0.0009), 7.1792),
    ((50.0000, 2.4900, -0.0010), (50.0000, -2.4900, 0.0010), 7.1792),
    ((50.0000, 2.4900, -0.0010), (50.0000, -2.4900, 0.0011), 7.2195),
    ((50.0000, 2.4900, -0.0010), (50.0000, -2.4900, 0.0012), 7.2195),
    ((50.0000, -0.0010, 2.4900), (50.0000, 0.0009, -2.4900), 4.8045),
    ((50.0000, -0.0010, 2.4900), (50.0000, 0.0010, -2.4900), 4.8045),
    ((50.0000, -0.0010, 2.4900), (50.0000, 0.0011, -2.4900), 4.7461),
    ((50.0000, 2.5000, 0.0000), (50.0000, 0.0000, -2.5000), 4.3065),
    ((50.0000, 2.5000, 0.0000), (73.0000, 25.0000, -18.0000), 27.1492),
    ((50.0000, 2.5000, 0.0000), (61.0000, -5.0000, 29.0000), 22.8977),
    ((50.0000, 2.5000, 0.0000), (56.0000, -27.0000, -3.0000), 31.9030),
    ((50.0000, 2.5000, 0.0000), (58.0000, 24.0000, 15.0000), 19.4535),
    ((50.0000, 2.5000, 0.0000), (50.0000, 3.1736, 0.5854), 1.0000),
    ((50.0000, 2.5000, 0.0000), (50.0000, 3.2972, 0.0000), 1.0000),
    ((50.0000, 2.5000, 0.0000), (50.0000, 1.8634, 0.5757), 1.0000),
    ((50.0000, 2.5000, 0.0000), (50.0000, 3.2592, 0.3350), 1.0000),
    ((60.2574, -34.0099, 36.2677), (60.4626, -34.1751, 39.4387), 1.2644),
    ((63.0109, -31.0961, -5.8663), (62.8187, -29.7946, -4.0864), 1.2630),
    ((61.2901, 3.7196, -5.3901), (61.4292, 2.2480, -4.9620), 1.8731),
    ((35.0831, -44.1164, 3.7933), (35.0232, -40.0716, 1.5901), 1.8645),
    ((22.7233, 20.0904, -46.6940), (23.0331, 14.9730, -42.5619), 2.0373),
    ((36.4612, 47.8580, 18.3852), (36.2715, 50.5065, 21.2231), 1.4146),
    ((90.8027, -2.0831, 1.4410), (91.1528, -1.6435, 0.0447), 1.4441),
    ((90.9257, -0.5406, -0.9208), (88.6381, -0.8985, -0.7239), 1.5381),
    ((6.7747, -0.2908, -2.4247), (5.8714, -0.0985, -2.2286), 0.6377),
    ((2.0776, 0.0795, -1.1350), (0.9033, -0.0636, -0.5514), 0.9082),
]


def test_ciede2000_matches_sharma_2005_published_pairs():
    a = np.array([p[0] for p in SHARMA_2005])
    b = np.array([p[1] for p in SHARMA_2005])
    want = np.array([p[2] for p in SHARMA_2005])
    got = delta_e2000_lab(a, b)
    assert got.shape == (len(SHARMA_2005),)
    assert np.abs(got - want).max() < 5e-5  # the table's 4 decimals
    assert np.allclose(delta_e2000_lab(b, a), got, atol=1e-12)  # symmetric


def test_ciede2000_matches_colour_science():
    colour = colors.colour_science()
    rng = np.random.default_rng(0)
    la = srgb_to_lab(rng.integers(0, 256, (500, 3)).astype(np.uint8))
    lb = srgb_to_lab(rng.integers(0, 256, (500, 3)).astype(np.uint8))
    ref = np.asarray(colour.delta_E(la, lb, method="CIE 2000"))
    assert np.abs(delta_e2000_lab(la, lb) - ref).max() < 1e-9
    for a, b, _ in SHARMA_2005[:8]:
        assert delta_e2000_lab(a, b) == pytest.approx(float(colour.delta_E(np.array(a), np.array(b), method="CIE 2000")), abs=1e-9)


def test_lab_conversion_hand_worked_and_against_colour_science():
    # white is L = 100, a = b = 0 against the D65 white (to 0.005: the 6-digit sRGB
    # matrix's rows miss the white point in the 5th digit); black is 0; sRGB red's
    # CIELAB (D65) is about (53.24, 80.09, 67.20) in every reference table
    lab = srgb_to_lab(np.array([[255, 255, 255], [0, 0, 0], [255, 0, 0]], np.uint8))
    assert np.allclose(lab[0], (100.0, 0.0, 0.0), atol=5e-3)
    assert np.allclose(lab[1], 0.0, atol=1e-9)
    assert np.allclose(lab[2], (53.24, 80.09, 67.20), atol=0.02)
    # uint8 and the same colours as floats 0..1 agree; shapes are kept
    rgb = np.random.default_rng(1).integers(0, 256, (4, 5, 3)).astype(np.uint8)
    assert srgb_to_lab(rgb).shape == (4, 5, 3)
    assert np.array_equal(srgb_to_lab(rgb), srgb_to_lab(rgb / 255.0))
    # colour-science's sRGB matrix is derived from the primaries (a few 1e-4 apart from
    # the 6-digit one used here): CIELAB agrees to well under a just-noticeable step
    colour = colors.colour_science()
    ref = colour.XYZ_to_Lab(colour.sRGB_to_XYZ(rgb / 255.0))
    assert np.abs(srgb_to_lab(rgb) - ref).max() < 0.05
    # and back again, to the 8-bit colour
    assert np.array_equal(np.rint(lab_to_srgb(srgb_to_lab(rgb)) * 255).astype(np.uint8), rgb)
    assert delta_e2000(rgb, rgb).max() == 0.0


def _spy(monkeypatch, module, name):
    calls = []
    real = getattr(module, name)

    def spy(*a, **k):
        calls.append(name)
        return real(*a, **k)

    monkeypatch.setattr(module, name, spy)
    return calls


def test_palette_kmeans_uses_the_helper(monkeypatch):
    from animatepainter.planner import assemble

    s = _spy(monkeypatch, assemble, "srgb_to_lab")
    t = _spy(monkeypatch, assemble, "lab_to_srgb")
    rgb = np.random.default_rng(2).integers(0, 256, (60, 3)).astype(np.uint8)
    paints, labels = assemble.make_palette(rgb, 4, seed=0)
    assert s and t and len(paints) == 4 and labels.shape == (60,)


def test_machine_paint_matching_uses_the_helper(monkeypatch):
    from animatepainter.planner.machine import adapt

    s = _spy(monkeypatch, adapt, "srgb_to_lab")
    d = _spy(monkeypatch, adapt, "delta_e2000_lab")
    target = np.array([[250, 10, 10], [10, 10, 240], [128, 128, 128]], np.uint8)
    paints = np.array([[255, 0, 0], [0, 0, 255], [120, 120, 120]], np.uint8)
    got = adapt.match_paints(target, [np.arange(3)] * 3, paints)
    assert s and d and list(got) == [0, 1, 2]
    # the same choice as the helper's CIEDE2000 makes directly
    assert list(got) == list(np.argmin(delta_e2000(target[:, None], paints[None]), axis=1))


def test_extractor_lab_is_the_helper():
    from animatepainter.planner.extract.frames import lab_of

    rgb = np.random.default_rng(3).integers(0, 256, (6, 7, 3)).astype(np.uint8)
    got = lab_of(rgb)
    assert got.dtype == np.float32 and got.shape == (6, 7, 3)
    assert np.array_equal(got, srgb_to_lab(rgb).astype(np.float32))


def test_rig_registration_figures_use_the_helper():
    from animatepainter.planner.rig import register

    assert register.delta_e2000 is colors.delta_e2000


def test_the_fitters_compiled_copies_and_the_mixing_model_use_the_same_numbers():
    """process.py's numba ``lab_of``/``de2000`` (inside the fitter's loops) and the mixing
    model's Lab give the helper's numbers (to rounding), dark colours included, where the
    exact CIE constants would differ from scikit-image's by up to 1.6e-4."""
    from animatepainter.planner import mixing, process
    from animatepainter.planner.colors import delta_e2000, srgb_to_lab
    from skimage.color import rgb2xyz

    rng = np.random.default_rng(3)
    a = rng.integers(0, 256, (500, 3)).astype(np.uint8)
    a[:12] = np.arange(12)[:, None]  # the linear segment near black
    b = rng.integers(0, 256, (500, 3)).astype(np.uint8)
    lab = np.array([process.lab_of(*(x / 255.0)) for x in a])
    assert np.abs(lab - srgb_to_lab(a)).max() < 1e-9
    la, lb = srgb_to_lab(a), srgb_to_lab(b)
    de = np.array([process.de2000(*p, *q) for p, q in zip(la, lb)])
    assert np.abs(de - delta_e2000(a, b)).max() < 1e-9
    assert process.srgb_to_lab is srgb_to_lab
    assert np.abs(mixing.srgb_to_lab(a.astype(np.int64)) - la).max() < 1e-12  # 0..255 in any dtype
    xyz = rgb2xyz(a.reshape(1, -1, 3) / 255.0)[0]
    assert np.abs(mixing._xyz_to_lab(xyz) - la).max() < 1e-9
    assert np.abs(mixing.delta_e2000(la, lb) - delta_e2000(a, b)).max() < 1e-12
