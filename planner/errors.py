"""Exceptions with one-line, user-facing messages.

Library code raises these for problems with the user's input or settings; the CLI
prints ``error: <message>`` and exits non-zero without a traceback.
"""

from __future__ import annotations

__all__ = ["AnimatePainterError", "InputError", "PlanError", "SettingsError", "OutputError", "one_line"]


class AnimatePainterError(Exception):
    """Base class: a problem the user can fix; ``str(err)`` is one line naming it."""

    exit_code = 2


class InputError(AnimatePainterError):
    """An input file (image, depth map, frames, checkpoint) is unreadable or unusable."""


class PlanError(AnimatePainterError):
    """A stroke plan is malformed or violates the schema."""


class SettingsError(AnimatePainterError):
    """A setting is impossible (e.g. ``strokes = 0``).

    Library code names the settings *field* (``PaintSettings.strokes``): the message
    starts with it, and ``field`` holds it, so that the command line can say the flag
    instead (``--strokes must be ...``) while Python callers read the field they set.
    """

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field

    def renamed(self, name: str) -> str:
        """The message with its leading field name replaced by ``name`` (a flag)."""
        text = str(self)
        if self.field and text.startswith(self.field):
            return name + text[len(self.field) :]
        return text


class OutputError(AnimatePainterError):
    """An output location cannot be written."""


def one_line(e: BaseException | str, limit: int | None = None) -> str:
    """``e``'s text on one line (whitespace runs, newlines included, become one space),
    cut to ``limit`` characters: the detail an error message quotes from a library."""
    text = " ".join(str(e).split())
    return text if limit is None else text[:limit]
