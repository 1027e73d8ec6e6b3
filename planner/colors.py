"""Colours as users write them: the one parser of ``R,G,B`` / ``#rrggbb`` text and the
one ``#rrggbb`` formatter, used by the CLI, machine profiles and every export."""

from __future__ import annotations

import functools
import sys
import warnings
from typing import Any, Sequence

from animatepainter.planner.errors import SettingsError

__all__ = ["parse_rgb", "hex_rgb", "is_rgb", "paint_name"]


def _from_hex(text: str) -> tuple[int, int, int] | None:
    t = text.strip()
    if len(t) != 7 or not t.startswith("#"):
        return None
    try:
        return tuple(int(t[i : i + 2], 16) for i in (1, 3, 5))  # type: ignore[return-value]
    except ValueError:
        return None


def parse_rgb(value: Any, what: str = "colour") -> tuple[int, int, int]:
    """An RGB colour from ``"R,G,B"`` text (0..255 each), ``"#rrggbb"`` or a sequence
    of three integers 0..255.

    Args:
        value: the colour as given.
        what: how to name it in the error (a settings field or a flag).

    Returns:
        ``(r, g, b)``, ints 0..255.

    Raises:
        SettingsError: anything else (one line, quoting ``value``).
    """
    if isinstance(value, str):
        rgb = _from_hex(value)
        if rgb is not None:
            return rgb
        try:
            parts = [int(v) for v in value.strip().split(",")]
        except ValueError:
            parts = []
        if len(parts) == 3 and all(0 <= v <= 255 for v in parts):
            return tuple(parts)  # type: ignore[return-value]
        raise SettingsError(f"{what} {value!r}: use R,G,B (0..255) or #rrggbb")
    if is_rgb(value):
        return tuple(int(v) for v in value)  # type: ignore[return-value]
    raise SettingsError(f"{what} {value!r}: use R,G,B (0..255) or #rrggbb")


def is_rgb(value: Any) -> bool:
    """True for a sequence of exactly three integers (not bools) in 0..255."""
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence) or len(value) != 3:
        return False
    return all(isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= 255 for v in value)


def hex_rgb(rgb: Sequence[int]) -> str:
    """``(r, g, b)`` 0..255 to ``#rrggbb``."""
    r, g, b = (int(v) for v in rgb)
    return f"#{r:02x}{g:02x}{b:02x}"


def paint_name(index: int, rgb: Sequence[int]) -> str:
    """The default name of paint ``index`` of colour ``rgb``: ``paint-NN #rrggbb``."""
    return f"paint-{index:02d} {hex_rgb(rgb)}"


#: colour-science mocks these when matplotlib is missing (see :func:`colour_science`)
_MOCKED_PREFIXES = ("matplotlib", "mpl_toolkits", "cycler")


@functools.lru_cache(maxsize=1)
def colour_science() -> Any:
    """colour-science, imported quietly. Where matplotlib is not installed, importing it
    puts ``unittest.mock.MagicMock`` objects into ``sys.modules["matplotlib"]`` (and a
    few more); a later ``importlib.util.find_spec("matplotlib")`` (transformers and
    accelerate do this) then raises. Those stand-ins are removed again: colour's
    plotting is never used here."""
    from unittest import mock

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # it warns about optional packages it lacks
        import colour
    for name in [n for n in sys.modules if n.split(".")[0] in _MOCKED_PREFIXES]:
        if isinstance(sys.modules[name], mock.MagicMock):
            del sys.modules[name]
    return colour


# -- CIELAB and CIEDE2000: the package's one definition --------------------------------
#
# Every "ΔE" the package reports or compares against (machine paint matching, palette
# k-means, the extractor's painted / changed thresholds, the rig's colour-correction
# figures) is computed here, with scikit-image's conversion: sRGB (IEC 61966-2-1 transfer
# curve, the matrix of ``skimage.color.xyz_from_rgb``) to XYZ, then CIELAB against the D65
# white of the CIE 1931 2° observer (0.95047, 1, 1.08883). The compiled copies in
# :mod:`animatepainter.planner.process` (numba, inside the fitter's loops) use the same
# matrix and white point with the exact CIE epsilon / kappa, within 2e-4 of these.

import numpy as np  # noqa: E402  (the Lab helpers' block is kept together here)

__all__ += ["srgb_to_lab", "lab_to_srgb", "delta_e2000_lab", "delta_e2000"]


def _unit_rgb(rgb: Any) -> np.ndarray:
    """float64 sRGB in 0..1 from uint8 (0..255) or float (already 0..1) ``(..., 3)``."""
    a = np.asarray(rgb)
    return a.astype(np.float64) / 255.0 if a.dtype == np.uint8 else a.astype(np.float64)


def srgb_to_lab(rgb: Any) -> np.ndarray:
    """CIELAB (D65, 2°) of sRGB colours.

    Args:
        rgb: ``(..., 3)``, uint8 0..255 or float 0..1 (any other dtype is read as 0..1).

    Returns:
        float64 ``(..., 3)``: L in 0..100, a and b about -128..127.
    """
    from skimage.color import rgb2lab

    f = _unit_rgb(rgb)
    if f.shape[-1:] != (3,):
        raise ValueError(f"srgb_to_lab wants (..., 3) colours, got shape {f.shape}")
    return rgb2lab(f.reshape(1, -1, 3))[0].reshape(f.shape)


def lab_to_srgb(lab: Any) -> np.ndarray:
    """sRGB float64 ``(..., 3)`` in 0..1 (clipped to the gamut) of CIELAB ``(..., 3)``
    (D65, 2°): the inverse of :func:`srgb_to_lab`."""
    from skimage.color import lab2rgb

    a = np.asarray(lab, np.float64)
    return lab2rgb(a.reshape(1, -1, 3))[0].reshape(a.shape)


def delta_e2000_lab(lab_a: Any, lab_b: Any) -> np.ndarray:
    """CIEDE2000 (Sharma, Wu and Dalal 2005; kL = kC = kH = 1) between CIELAB colours
    ``(..., 3)``, broadcast: float64 ``(...)``."""
    from skimage.color import deltaE_ciede2000

    a, b = np.broadcast_arrays(np.asarray(lab_a, np.float64), np.asarray(lab_b, np.float64))
    return np.asarray(deltaE_ciede2000(a, b), np.float64)


def delta_e2000(rgb_a: Any, rgb_b: Any) -> np.ndarray:
    """CIEDE2000 between sRGB colours ``(..., 3)`` (uint8 0..255 or float 0..1, as
    :func:`srgb_to_lab`), broadcast: float64 ``(...)``."""
    return delta_e2000_lab(srgb_to_lab(rgb_a), srgb_to_lab(rgb_b))
