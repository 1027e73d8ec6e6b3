"""Progress reporting without a UI dependency in library code.

Library functions take a :class:`Progress`; the CLI passes one that draws rich
progress bars, and library callers get :data:`NULL_PROGRESS` (silent) by default.
"""

from __future__ import annotations

import contextlib
from typing import Iterator, Protocol

__all__ = ["Progress", "Stage", "NullProgress", "NULL_PROGRESS"]


class Stage(Protocol):
    """A running stage: call :meth:`advance` as work completes."""

    def advance(self, n: int = 1) -> None: ...


class Progress(Protocol):
    """Something that shows stages of work; ``stage`` is a context manager."""

    def stage(self, name: str, total: int | None = None) -> contextlib.AbstractContextManager[Stage]: ...


class _NullStage:
    def advance(self, n: int = 1) -> None:
        pass


class NullProgress:
    """Shows nothing."""

    @contextlib.contextmanager
    def stage(self, name: str, total: int | None = None) -> Iterator[Stage]:
        yield _NullStage()


NULL_PROGRESS = NullProgress()
