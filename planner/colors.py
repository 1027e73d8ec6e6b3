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
