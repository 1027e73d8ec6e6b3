"""Mixing recipes: which tubes, in which whole parts, make a paint (subtractive, not RGB).

The model (``"km2-jakob2019"``, :data:`MODEL`) is two-constant Kubelka–Munk theory on
spectra recovered from each tube's sRGB colour:

1. **Each tube's masstone reflectance** ``R_i(λ)``, 400–700 nm every 10 nm (31 bands),
   is recovered from its sRGB colour with Jakob & Hanika's sigmoid-of-a-quadratic
   function space (W. Jakob, J. Hanika, "A Low-Dimensional Function Space for Efficient
   Spectral Upsampling", Computer Graphics Forum 38(2), Eurographics 2019; implemented
   by colour-science as ``colour.recovery.XYZ_to_sd_Jakob2019``), under CIE D65 with the
   CIE 1931 2° observer (sRGB's white). These spectra are smooth, stay inside (0, 1) and
   have the plateau-and-edge shape of real pigments (a yellow absorbs below ~500 nm and
   reflects above it; a blue the opposite), which is what makes blue and yellow overlap
   in the green. The recovery reproduces the tube's colour (ΔE2000 < 0.6 for every sRGB
   colour, far less for most).
2. **Absorption and scattering.** Kubelka–Munk's ratio of an opaque layer is
   ``K/S = (1 - R)² / (2 R)`` (Kubelka & Munk 1931). Each tube gets one scattering
   coefficient ``S_i``, relative to an opaque white's 1.0, from the opacity rating on its
   label (:data:`SCATTERING`: opaque 0.5, semi-opaque 0.3, semi-transparent 0.18,
   transparent 0.1; a white scatters twice as much as a coloured paint of its rating),
   and ``K_i(λ) = S_i · (K/S)_i(λ)``.
3. **Mixing** ``p_i`` parts by volume: concentrations ``c_i = p_i / Σ p``, and Duncan's
   two-constant rule (D. R. Duncan, Proc. Phys. Soc. 52, 390, 1940; E. Allen, "Colorant
   formulation and shading", Optical Radiation Measurements vol. 2, 1980)
   ``K = Σ c_i K_i``, ``S = Σ c_i S_i``; the opaque mixture reflects
   ``R = 1 + K/S - sqrt((K/S)² + 2 K/S)``, integrated to CIE XYZ (D65, 2°), then sRGB
   and CIELAB. Differences are CIEDE2000 (``colour.delta_E(..., method="CIE 2000")``).

Why two constants: a transparent blue (phthalo, ultramarine) scatters little, so in a
mix with an opaque yellow the yellow's scattering carries the blue's absorption, which
is how a blue and a yellow make a green: #0000ff and #ffff00, which RGB averaging
turns grey (#808080), mix to a blue-green at 1 : 1 and a green at 1 : 2 (#00655c). The
same model makes a colour and its complement neutralise, and white lighten a colour
while it loses chroma; a tube mixed with itself is itself (``tests/test_mixing.py``
checks each). A very dark colour is a strong tinter here, as a dark masstone is in
paint: #0c0040 (nearly black) with #ffec00 stays a dark blue even at 1 : 5.

Limits (see also ``docs/mixing.md``): no measured pigment spectra (tubes are given as
sRGB, so metameric pairs mix alike and a tube's spectrum has one reflectance band: no
secondary peaks such as ultramarine's red rise); scattering is one number per tube
from its opacity rating, not measured (it sets the tinting strength: a strong tinter
whose masstone is given lighter than it is will mix too weak); no surface (Saunderson)
correction; opaque layers only (no glazes, no canvas showing through); no drying shift
(acrylics darken as they dry); parts are by volume. Predictions are a painter's guide,
not a colour-matching instrument's.

Recipes: at most :data:`MAX_TUBES` tubes in whole parts adding up to at most
``max_parts`` (:data:`DEFAULT_MAX_PARTS`), parts without a common factor (2 : 2 is 1 : 1).
Every recipe of a set is mixed once (:func:`recipe_gamut`, cached) and searched; the
best is the smallest CIEDE2000 to the target (ties: fewer tubes, fewer parts, then the
set's order), and a target whose best recipe is further than ``gamut_delta_e``
(:data:`GAMUT_DELTA_E`) is flagged out of gamut, still with its best recipe.

Public API: :func:`recipe_for`, :func:`recipes_for_palette`, :func:`mixable` (the nearest
mixable colour), :func:`mix` (what a recipe predicts), :func:`mixing_meta` and
:func:`with_mixing` (the ``meta["mixing"]`` block of a plan), :class:`Recipe`; tube sets
are :mod:`animatepainter.planner.machine.tubes` (re-exported: :func:`load_tubes`,
:class:`TubeSet`).
"""

from __future__ import annotations

import functools
import itertools
import logging
import math
import warnings
from dataclasses import dataclass, replace
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from animatepainter.planner import colors
from animatepainter.planner.colors import colour_science, delta_e2000_lab
from animatepainter.planner.errors import InputError, SettingsError
from animatepainter.planner.machine.tubes import Tube, TubeSet, bundled_tube_sets, load_tubes

__all__ = [
    "MODEL",
    "mixable_plan",
    "WAVELENGTHS_NM",
    "SCATTERING",
    "WHITE_SCATTERING",
    "DEFAULT_MAX_PARTS",
    "MAX_TUBES",
    "GAMUT_DELTA_E",
    "Recipe",
    "Gamut",
    "Tube",
    "TubeSet",
    "load_tubes",
    "bundled_tube_sets",
    "srgb_to_lab",
    "delta_e2000",
    "masstone_reflectance",
    "tube_coefficients",
    "km_reflectance",
    "mix",
    "recipe_gamut",
    "recipe_for",
    "recipes_for_palette",
    "mixable",
    "mixing_meta",
    "with_mixing",
    "recipe_text",
]

log = logging.getLogger(__name__)

#: short name of the model, recorded in ``meta.mixing.model``
MODEL = "km2-jakob2019"
#: the spectral bands of the model, nm
WAVELENGTHS_NM = np.arange(400, 701, 10)
#: scattering coefficient of a coloured paint by opacity rating, relative to an opaque white's 1.0
SCATTERING = {"opaque": 0.5, "semi-opaque": 0.3, "semi-transparent": 0.18, "transparent": 0.1}
#: a white scatters this many times what a coloured paint of the same rating does
WHITE_SCATTERING = 2.0
#: default limit of a recipe's total parts
DEFAULT_MAX_PARTS = 12
#: most tubes in a recipe
MAX_TUBES = 3
#: a target whose best recipe is further than this (CIEDE2000) is out of gamut
GAMUT_DELTA_E = 5.0
#: reflectances are kept in [R_MIN, 1): a perfect black would absorb without limit
R_MIN = 1e-3
#: nearest recipes in CIELAB whose CIEDE2000 bounds the search (see :func:`_best`)
_CANDIDATES = 64
#: bounds of CIEDE2000's weights (Sharma, Wu, Dalal 2005, eqs. 10-22), for the exact
#: search of :func:`_lower_bound`: S_L <= 1 + 0.015 * 50^2 / sqrt(20 + 50^2) = 1.747 for
#: L* in 0..100; |R_T| <= 2 sin(60 deg), so the chroma-hue part is at least
#: 1 - sin(60 deg) = 0.134 of (dC'/S)^2 + (dH'/S)^2 with S = max(S_C, S_H) = S_C
#: (T <= 1.93); S_C = 1 + 0.045 mean(C'), and C' <= 1.5 C*ab (G <= 0.5)
_SL_MAX = 1.75
_RT_FLOOR = 0.133
_SC_SLOPE = 0.045 * 1.5 / 2.0


# -- colour science --------------------------------------------------------------------




@functools.lru_cache(maxsize=1)
def _observer() -> tuple[Any, Any, np.ndarray]:
    """``(cmfs, illuminant, weights)``: the CIE 1931 2° observer and D65 on the model's
    bands, and float64 ``(31, 3)`` weights so that ``XYZ = R @ weights`` (Y of a perfect
    reflector = 1)."""
    colour = colour_science()
    shape = colour.SpectralShape(int(WAVELENGTHS_NM[0]), int(WAVELENGTHS_NM[-1]), 10)
    cmfs = colour.MSDS_CMFS["CIE 1931 2 Degree Standard Observer"].copy().align(shape)
    illuminant = colour.SDS_ILLUMINANTS["D65"].copy().align(shape)
    w = cmfs.values * illuminant.values[:, None]
    w = w / w[:, 1].sum()
    w.setflags(write=False)
    return cmfs, illuminant, w


def srgb_to_lab(rgb: Any) -> np.ndarray:
    """CIELAB (D65, 2°) of sRGB colours given 0..255 in any dtype (tube files and plans
    hold integers): ``(..., 3)`` in, float64 ``(..., 3)`` out; the package's one CIELAB
    (:func:`animatepainter.planner.colors.srgb_to_lab`)."""
    return colors.srgb_to_lab(np.asarray(rgb, np.float64) / 255.0)


def _xyz_to_lab(xyz: np.ndarray) -> np.ndarray:
    """CIELAB of XYZ ``(..., 3)`` (Y of white = 1), float64 ``(..., 3)``: scikit-image's
    ``xyz2lab`` against D65 / 2°, the white and constants of the package's one CIELAB
    (:func:`animatepainter.planner.colors.srgb_to_lab`), so a mix's ΔE means what it
    means everywhere else."""
    from skimage.color import xyz2lab

    a = np.asarray(xyz, np.float64)
    return xyz2lab(a.reshape(1, -1, 3), illuminant="D65", observer="2")[0].reshape(a.shape)


def _xyz_to_srgb8(xyz: np.ndarray) -> np.ndarray:
    """sRGB uint8 ``(..., 3)`` of XYZ ``(..., 3)`` (Y of white = 1), clipped to the sRGB gamut."""
    rgb = np.asarray(colour_science().XYZ_to_sRGB(xyz), np.float64)
    return np.clip(np.rint(rgb * 255.0), 0, 255).astype(np.uint8)


delta_e2000 = delta_e2000_lab  # CIEDE2000 between CIELAB colours, the package's one (colors.delta_e2000_lab)


# -- the model -------------------------------------------------------------------------


@functools.lru_cache(maxsize=1024)
def masstone_reflectance(rgb: tuple[int, int, int]) -> np.ndarray:
    """Reflectance of a thick layer of a paint of sRGB colour ``rgb`` (0..255): float64
    ``(31,)`` on :data:`WAVELENGTHS_NM`, in ``[R_MIN, 1)`` (Jakob & Hanika 2019; read-only,
    cached)."""
    colour = colour_science()
    cmfs, illuminant, _ = _observer()
    xyz = colour.sRGB_to_XYZ(np.asarray(rgb, np.float64) / 255.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sd = colour.recovery.XYZ_to_sd_Jakob2019(xyz, cmfs=cmfs, illuminant=illuminant)
    r = np.clip(np.asarray(sd.values, np.float64), R_MIN, 1.0 - 1e-9)
    r.setflags(write=False)
    return r


def tube_coefficients(tubes: TubeSet) -> tuple[np.ndarray, np.ndarray]:
    """Kubelka–Munk coefficients of the tubes: ``(K, S)``, float64 ``(N, 31)`` absorption
    and ``(N,)`` scattering (relative to an opaque white's 1.0; no unit)."""
    return _coefficients(tubes.tubes, tubes.whites)


@functools.lru_cache(maxsize=32)
def _coefficients(tubes: tuple[Tube, ...], whites: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    s = np.array([SCATTERING[t.opacity] * (WHITE_SCATTERING if i in whites else 1.0) for i, t in enumerate(tubes)], np.float64)
    r = np.stack([masstone_reflectance(tuple(int(v) for v in t.rgb)) for t in tubes])
    k = s[:, None] * (1.0 - r) ** 2 / (2.0 * r)
    k.setflags(write=False)
    s.setflags(write=False)
    return k, s


def km_reflectance(k_over_s: np.ndarray) -> np.ndarray:
    """Reflectance of an opaque layer of absorption/scattering ratio ``k_over_s`` (any shape, >= 0)."""
    q = np.asarray(k_over_s, np.float64)
    return 1.0 + q - np.sqrt(q * q + 2.0 * q)


def _mix_xyz(conc: np.ndarray, k: np.ndarray, s: np.ndarray) -> np.ndarray:
    """XYZ ``(M, 3)`` of mixtures with volume fractions ``conc`` ``(M, N)``."""
    _, _, w = _observer()
    ks = (conc @ k) / (conc @ s)[:, None]
    return km_reflectance(ks) @ w


def _parts_vector(tubes: TubeSet, parts: Mapping[str, int] | Iterable[tuple[str, int]]) -> np.ndarray:
    items = list(parts.items()) if isinstance(parts, Mapping) else [tuple(p) for p in parts]
    vec = np.zeros(len(tubes), np.float64)
    for name, n in items:
        try:
            i = tubes.index(str(name))
        except KeyError:
            raise SettingsError(f"parts: {name!r} is not a tube of {tubes.name} (its tubes: {', '.join(tubes.names)})", "parts") from None
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
            raise SettingsError(f"parts: {name!r} needs a whole number of parts >= 1, got {n!r}", "parts")
        vec[i] += int(n)
    if not vec.any():
        raise SettingsError("parts: a recipe needs at least one tube", "parts")
    return vec


def mix(tubes: TubeSet, parts: Mapping[str, int] | Iterable[tuple[str, int]]) -> tuple[int, int, int]:
    """The colour the model predicts for a recipe.

    Args:
        tubes: the set.
        parts: ``{tube name: parts}`` or ``[(tube name, parts), ...]``, whole parts >= 1.

    Returns:
        ``(r, g, b)`` sRGB 0..255 (clipped to sRGB).

    Raises:
        SettingsError: a name not in the set, or parts that are not whole numbers >= 1.
    """
    vec = _parts_vector(tubes, parts)
    k, s = tube_coefficients(tubes)
    xyz = _mix_xyz((vec / vec.sum())[None], k, s)
    return tuple(int(v) for v in _xyz_to_srgb8(xyz)[0])  # type: ignore[return-value]


# -- recipes ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Recipe:
    """The best recipe for a target colour.

    Attributes:
        target: the colour wanted, sRGB 0..255.
        parts: ``((tube name, whole parts), ...)``, most parts first (ties in the set's order).
        rgb: the colour the recipe predicts, sRGB 0..255.
        delta_e2000: CIEDE2000 from the prediction to the target.
        in_gamut: ``delta_e2000`` (to 2 decimals) ``<= gamut_delta_e`` of the search.
    """

    target: tuple[int, int, int]
    parts: tuple[tuple[str, int], ...]
    rgb: tuple[int, int, int]
    delta_e2000: float
    in_gamut: bool

    def describe(self) -> str:
        """``"3 titanium white : 1 ultramarine blue"``."""
        return recipe_text(self.parts)

    def to_json(self, paint: int | None = None) -> dict[str, Any]:
        """The recipe as written to a plan's ``meta.mixing.recipes``: ``{"paint" (when
        given), "parts": [[tube, parts], ...], "rgb": [r, g, b], "delta_e2000" (2
        decimals), "in_gamut"}``."""
        d: dict[str, Any] = {} if paint is None else {"paint": int(paint)}
        d["parts"] = [[name, int(n)] for name, n in self.parts]
        d["rgb"] = [int(v) for v in self.rgb]
        d["delta_e2000"] = round(float(self.delta_e2000), 2)
        d["in_gamut"] = bool(self.in_gamut)
        return d


@dataclass(frozen=True)
class Gamut:
    """Every recipe of a tube set, mixed once (:func:`recipe_gamut`).

    Attributes:
        tubes: the set.
        max_parts, max_tubes: the limits the recipes keep.
        parts: int16 ``(M, N)`` parts of each tube in each recipe.
        lab: float64 ``(M, 3)`` CIELAB the model predicts.
        rgb: uint8 ``(M, 3)`` the same as sRGB (clipped).
        tree: a k-d tree of ``lab``.
        by_lightness: int64 ``(M,)`` the recipes in order of L*; ``sorted_lab`` and
            ``sorted_chroma`` their CIELAB and C*ab in that order.
    """

    tubes: TubeSet
    max_parts: int
    max_tubes: int
    parts: np.ndarray
    lab: np.ndarray
    rgb: np.ndarray
    tree: Any
    by_lightness: np.ndarray
    sorted_lab: np.ndarray
    sorted_chroma: np.ndarray

    def __len__(self) -> int:
        return len(self.parts)

    def recipe(self, i: int, target: Sequence[int], delta_e: float, gamut_delta_e: float) -> Recipe:
        """Recipe ``i`` as a :class:`Recipe` for ``target``."""
        row = self.parts[i]
        order = sorted(np.flatnonzero(row), key=lambda j: (-int(row[j]), int(j)))
        return Recipe(
            target=tuple(int(v) for v in target),  # type: ignore[arg-type]
            parts=tuple((self.tubes.tubes[j].name, int(row[j])) for j in order),
            rgb=tuple(int(v) for v in self.rgb[i]),  # type: ignore[arg-type]
            delta_e2000=float(delta_e),
            in_gamut=bool(round(float(delta_e), 2) <= gamut_delta_e),  # as reported: 2 decimals
        )


def _check_limits(max_parts: int, max_tubes: int) -> None:
    if isinstance(max_parts, bool) or not isinstance(max_parts, (int, np.integer)) or not 1 <= max_parts <= 24:
        raise SettingsError(f"max_parts must be a whole number of parts from 1 to 24, got {max_parts!r}", "max_parts")
    if isinstance(max_tubes, bool) or not isinstance(max_tubes, (int, np.integer)) or not 1 <= max_tubes <= MAX_TUBES:
        raise SettingsError(f"max_tubes must be 1 to {MAX_TUBES}, got {max_tubes!r}", "max_tubes")


@functools.lru_cache(maxsize=None)
def _part_vectors(k: int, max_parts: int) -> np.ndarray:
    """int16 ``(n, k)``: every way to give ``k`` tubes whole parts >= 1 adding up to at
    most ``max_parts``, without a common factor, in lexicographic order."""
    rows = [p for p in itertools.product(range(1, max_parts - k + 2), repeat=k) if sum(p) <= max_parts and math.gcd(*p) == 1]
    return np.array(rows, np.int16).reshape(-1, k)


def recipe_gamut(tubes: TubeSet, max_parts: int = DEFAULT_MAX_PARTS, max_tubes: int = MAX_TUBES) -> Gamut:
    """Every recipe of ``tubes`` (at most ``max_tubes`` tubes, whole parts adding up to
    at most ``max_parts``) and the colour each one mixes to; cached per set and limits.

    Recipes are listed by number of tubes, then tube combination (the set's order), then
    parts (lexicographic): the order ties are broken in.
    """
    _check_limits(max_parts, max_tubes)
    return _gamut(tubes, int(max_parts), int(max_tubes))


@functools.lru_cache(maxsize=8)
def _gamut(tubes: TubeSet, max_parts: int, max_tubes: int) -> Gamut:
    from scipy.spatial import cKDTree

    n = len(tubes)
    blocks = []
    for k in range(1, min(max_tubes, n) + 1):
        pv = _part_vectors(k, max_parts)
        if len(pv) == 0:
            continue
        for combo in itertools.combinations(range(n), k):
            block = np.zeros((len(pv), n), np.int16)
            block[:, combo] = pv
            blocks.append(block)
    parts = np.concatenate(blocks)
    k_, s_ = tube_coefficients(tubes)
    xyz = np.empty((len(parts), 3), np.float64)
    step = 8192  # bounded memory: (step, 31) spectra at a time
    for a in range(0, len(parts), step):
        p = parts[a : a + step].astype(np.float64)
        xyz[a : a + step] = _mix_xyz(p / p.sum(axis=1, keepdims=True), k_, s_)
    lab = _xyz_to_lab(xyz)
    rgb = _xyz_to_srgb8(xyz)
    order = np.argsort(lab[:, 0], kind="stable")
    sorted_lab = lab[order]
    sorted_chroma = np.hypot(sorted_lab[:, 1], sorted_lab[:, 2])
    for arr in (parts, lab, rgb, order, sorted_lab, sorted_chroma):
        arr.setflags(write=False)
    log.debug("tube set %s: %d recipes of <= %d tubes and <= %d parts", tubes.name, len(parts), max_tubes, max_parts)
    return Gamut(tubes, max_parts, max_tubes, parts, lab, rgb, cKDTree(lab), order, sorted_lab, sorted_chroma)


def _as_palette(rgb: Any, what: str) -> np.ndarray:
    arr = np.asarray(rgb)
    if arr.ndim == 0 or arr.shape[-1] != 3 or arr.size == 0:
        raise SettingsError(f"{what} must be RGB colours of shape (3,) or (P, 3), got shape {arr.shape}", what)
    if not np.issubdtype(arr.dtype, np.number) or not np.all(np.isfinite(arr)) or arr.min() < 0 or arr.max() > 255:
        raise SettingsError(f"{what} must hold numbers 0..255", what)
    return np.rint(arr.reshape(-1, 3)).astype(np.uint8)


def _lower_bound(lab_t: np.ndarray, chroma_t: float, lab: np.ndarray, chroma: np.ndarray) -> np.ndarray:
    """A lower bound of CIEDE2000 from one CIELAB colour ``(3,)`` to many ``(n, 3)``
    (their C*ab given), cheaper than CIEDE2000 itself (see ``_SL_MAX``)."""
    d = lab - lab_t
    s_c = 1.0 + _SC_SLOPE * (chroma_t + chroma)
    return np.sqrt((d[:, 0] / _SL_MAX) ** 2 + _RT_FLOOR * (d[:, 1] ** 2 + d[:, 2] ** 2) / s_c**2)


def _best(gamut: Gamut, targets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Index of the best recipe and its CIEDE2000, per target ``(P, 3)`` uint8.

    Exact, not approximate (hand-written: no library searches by CIEDE2000, and a k-d
    tree in CIELAB alone misses the best recipe of saturated and out-of-gamut colours,
    whose CIEDE2000 neighbours lie far away in CIELAB): the nearest recipes in CIELAB
    give each target an upper bound ``d`` of the best CIEDE2000; a recipe can only beat
    it within ``_SL_MAX * d`` in L* and where :func:`_lower_bound` is at most ``d``, and
    all of those are compared."""
    lab_t = srgb_to_lab(targets)
    chroma_t = np.hypot(lab_t[:, 1], lab_t[:, 2])
    k = min(_CANDIDATES, len(gamut))
    _, near = gamut.tree.query(lab_t, k=k)
    near = np.asarray(near, np.int64).reshape(len(targets), k)
    bound = delta_e2000(lab_t[:, None, :], gamut.lab[near]).min(axis=1) + 1e-9
    best = np.empty(len(targets), np.int64)
    best_de = np.empty(len(targets), np.float64)
    for i in range(len(targets)):
        lo = int(np.searchsorted(gamut.sorted_lab[:, 0], lab_t[i, 0] - _SL_MAX * bound[i], side="left"))
        hi = int(np.searchsorted(gamut.sorted_lab[:, 0], lab_t[i, 0] + _SL_MAX * bound[i], side="right"))
        keep = np.flatnonzero(_lower_bound(lab_t[i], chroma_t[i], gamut.sorted_lab[lo:hi], gamut.sorted_chroma[lo:hi]) <= bound[i])
        cand = gamut.by_lightness[lo:hi][keep]
        de = delta_e2000(lab_t[i], gamut.lab[cand])
        parts = gamut.parts[cand]
        j = np.lexsort((cand, parts.sum(axis=1, dtype=np.int64), (parts > 0).sum(axis=1), de))[0]
        best[i], best_de[i] = cand[j], de[j]
    return best, best_de


def recipes_for_palette(
    palette_rgb: Any,
    tubes: TubeSet | str,
    *,
    max_parts: int = DEFAULT_MAX_PARTS,
    max_tubes: int = MAX_TUBES,
    gamut_delta_e: float = GAMUT_DELTA_E,
) -> list[Recipe]:
    """The best recipe for each colour of a palette.

    Args:
        palette_rgb: uint8 ``(P, 3)`` (or ``(3,)``) sRGB colours 0..255.
        tubes: a :class:`TubeSet`, or a bundled set's name or a TOML path.
        max_parts: most parts a recipe adds up to (whole parts, 1..24).
        max_tubes: most tubes in a recipe (1..3).
        gamut_delta_e: CIEDE2000 beyond which a colour is flagged out of gamut.

    Returns:
        one :class:`Recipe` per colour, in order. Deterministic.

    Raises:
        SettingsError: bad limits or colours. InputError: a tube set that does not load.
    """
    if isinstance(gamut_delta_e, bool) or not isinstance(gamut_delta_e, (int, float, np.number)) or not 0 <= gamut_delta_e < math.inf:
        raise SettingsError(f"gamut_delta_e must be a CIEDE2000 difference >= 0, got {gamut_delta_e!r}", "gamut_delta_e")
    ts = load_tubes(tubes)
    targets = _as_palette(palette_rgb, "palette_rgb")
    gamut = recipe_gamut(ts, max_parts, max_tubes)
    best, de = _best(gamut, targets)
    return [gamut.recipe(int(i), t, float(d), gamut_delta_e) for i, t, d in zip(best, targets, de)]


def recipe_for(rgb: Sequence[int], tubes: TubeSet | str, **limits: Any) -> Recipe:
    """The best recipe for one sRGB colour ``(r, g, b)`` 0..255 (see :func:`recipes_for_palette`
    for ``max_parts``, ``max_tubes`` and ``gamut_delta_e``)."""
    return recipes_for_palette(np.asarray(rgb).reshape(1, 3), tubes, **limits)[0]


def mixable(rgb: Any, tubes: TubeSet | str, *, max_parts: int = DEFAULT_MAX_PARTS, max_tubes: int = MAX_TUBES) -> np.ndarray:
    """The nearest colour(s) the set can mix: what the best recipe of each colour predicts.

    Args:
        rgb: sRGB colours 0..255, shape ``(3,)`` or ``(P, 3)``.
        tubes: a :class:`TubeSet`, or a bundled set's name or a TOML path.
        max_parts, max_tubes: the recipes' limits (see :func:`recipes_for_palette`).

    Returns:
        uint8 array of the same shape as ``rgb``: e.g. ``paint --tubes`` keeps a palette
        to ``mixable(palette, tubes)``. Deterministic.
    """
    shape = np.shape(rgb)
    ts = load_tubes(tubes)
    targets = _as_palette(rgb, "rgb")
    gamut = recipe_gamut(ts, max_parts, max_tubes)
    best, _ = _best(gamut, targets)
    return gamut.rgb[best].reshape(shape).copy()


def mixing_meta(
    palette: Sequence[Any],
    tubes: TubeSet | str,
    *,
    max_parts: int = DEFAULT_MAX_PARTS,
    max_tubes: int = MAX_TUBES,
    gamut_delta_e: float = GAMUT_DELTA_E,
) -> dict[str, Any]:
    """The ``meta["mixing"]`` block of a plan: ``{"tubes": set name, "tube_set": [{"name",
    "rgb", "pigment"}, ...], "model", "max_parts", "recipes": [{"paint", "parts", "rgb",
    "delta_e2000", "in_gamut"}, ...]}``.

    Args:
        palette: the plan's paints (:class:`~animatepainter.planner.plan.Paint`: ``id``
            and ``rgb`` are used), in order.
        tubes, max_parts, max_tubes, gamut_delta_e: see :func:`recipes_for_palette`.

    Raises:
        InputError: an empty palette.
    """
    if len(palette) == 0:
        raise InputError("the plan has no paints to mix")
    ts = load_tubes(tubes)
    recipes = recipes_for_palette(np.array([p.rgb for p in palette], np.uint8), ts, max_parts=max_parts, max_tubes=max_tubes, gamut_delta_e=gamut_delta_e)
    return {
        "tubes": ts.name,
        "tube_set": ts.to_json(),
        "model": MODEL,
        "max_parts": int(max_parts),
        "recipes": [r.to_json(paint=p.id) for p, r in zip(palette, recipes)],
    }


def with_mixing(plan: Any, tubes: TubeSet | str, **limits: Any) -> Any:
    """A copy of ``plan`` (:class:`~animatepainter.planner.plan.StrokePlan`) whose meta has
    the ``"mixing"`` block of :func:`mixing_meta` (strokes, palette and the rest kept)."""
    return replace(plan, meta={**plan.meta, "mixing": mixing_meta(plan.palette, tubes, **limits)})


def recipe_text(parts: Sequence[Sequence[Any]]) -> str:
    """``[["titanium white", 3], ["ultramarine blue", 1]]`` -> ``"3 titanium white : 1 ultramarine blue"``."""
    return " : ".join(f"{int(n)} {name}" for name, n in parts)



def mixable_plan(plan: Any, tubes: TubeSet | str, **limits: Any) -> Any:
    """``paint --tubes``: a copy of ``plan`` whose paints are colours the set mixes.

    Each paint becomes the colour its best recipe predicts (:func:`mixable`; a default
    ``paint-NN #rrggbb`` name follows its new colour), and the meta gets the recipes
    (:func:`mixing_meta`, each recipe now predicting its paint exactly). Strokes keep their
    own colours (what each should leave on the canvas) and their paints.
    """
    from animatepainter.planner.colors import paint_name
    from animatepainter.planner.plan import Paint

    ts = load_tubes(tubes)
    rgb = mixable(np.array([p.rgb for p in plan.palette], np.uint8).reshape(-1, 3), ts, **{k: v for k, v in limits.items() if k in ("max_parts", "max_tubes")})
    paints = []
    for i, (p, c) in enumerate(zip(plan.palette, rgb)):
        c = tuple(int(v) for v in c)
        name = paint_name(i, c) if p.name == paint_name(i, p.rgb) else p.name
        paints.append(Paint(p.id, c, name))
    return with_mixing(replace(plan, palette=paints), ts, **limits)
