"""What every command shows a person: progress bars (rich), results on stdout, and the
global ``--quiet`` / ``--debug`` state the root options set."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any, Iterator, Optional

__all__ = ["state", "RichProgress", "console_print", "deferred_interrupt", "on_signal"]


@dataclass
class _State:
    """Global options of the command line (set by the root callback)."""

    quiet: bool = False
    debug: bool = False
    interrupt: bool = False  # Ctrl-C pressed, not acted on yet (see deferred_interrupt)


#: the global options of this run
state = _State()


class _RichStage:
    def __init__(self, progress: Any, task: Any) -> None:
        self._p = progress
        self._t = task

    def advance(self, n: int = 1) -> None:
        self._p.advance(self._t, n)
        if state.interrupt:  # a safe point to stop at (see deferred_interrupt)
            raise KeyboardInterrupt


class RichProgress:
    """A :class:`~animatepainter.planner.progress.Progress` drawn with rich: one bar per
    stage, with elapsed and remaining time; silent under ``--quiet``."""

    def __init__(self) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

        self._progress = Progress(
            TextColumn("{task.description:>14}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            disable=state.quiet,
            transient=False,
        )

    def __enter__(self) -> "RichProgress":
        self._progress.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._progress.__exit__(*exc)

    @contextlib.contextmanager
    def stage(self, name: str, total: Optional[int] = None) -> Iterator[_RichStage]:
        task = self._progress.add_task(name, total=total)
        yield _RichStage(self._progress, task)
        # a stage that ends early (budget left over) shows as done; one stopped by an
        # error or Ctrl-C keeps its count
        t = self._progress.tasks[task]
        if t.total is not None:
            self._progress.update(task, completed=t.total)


@contextlib.contextmanager
def deferred_interrupt(grace_s: float = 1.0) -> Iterator[None]:
    """Ctrl-C stops the command at its next progress step, in plain Python, instead of
    wherever the signal lands: inside a compiled (numba) parallel loop being launched or
    a progress bar being drawn, an exception from a signal handler can leave a thread
    pool or a lock in a state the process cannot exit from. If no progress step comes
    within ``grace_s`` seconds (or Ctrl-C is pressed again) it stops at once, as usual.
    A no-op outside the main thread."""
    import _thread
    import signal
    import threading

    timers: list[threading.Timer] = []

    def handler(signum: int, frame: Any) -> None:  # noqa: ARG001
        if state.interrupt:
            raise KeyboardInterrupt
        state.interrupt = True
        timer = threading.Timer(grace_s, _thread.interrupt_main)
        timer.daemon = True
        timers.append(timer)
        timer.start()

    state.interrupt = False
    try:
        with on_signal(signal.SIGINT, handler):
            yield
    finally:
        for t in timers:
            t.cancel()
        state.interrupt = False


@contextlib.contextmanager
def on_signal(signum: int, handler: Any) -> Iterator[None]:
    """``handler`` for signal ``signum`` inside the block, the previous one after it; a
    no-op outside the main thread (where Python cannot set handlers)."""
    import signal

    try:
        old = signal.signal(signum, handler)
    except ValueError:  # not the main thread
        yield
        return
    try:
        yield
    finally:
        signal.signal(signum, old)


def console_print(*args: Any, **kwargs: Any) -> None:
    """Print a command's result or final summary to stdout with rich (also under
    ``--quiet``, which only silences progress bars)."""
    from rich.console import Console

    Console().print(*args, **kwargs)


def parse_layers(value: str | None, flag: str = "--layers") -> int | None:
    """``--layers``: ``auto`` (``None``: as many as the picture has depth planes) or a
    whole number of layers."""
    from animatepainter.planner.errors import SettingsError
    from animatepainter.planner.layers import MAX_LAYERS

    if value is None or str(value).strip().lower() == "auto":
        return None
    try:
        k = int(str(value).strip())
    except ValueError:
        raise SettingsError(f"{flag} must be 'auto' or a whole number of depth layers between 1 and {MAX_LAYERS}, got {value!r}") from None
    if not 1 <= k <= MAX_LAYERS:
        raise SettingsError(f"{flag} must be 'auto' or a whole number of depth layers between 1 and {MAX_LAYERS}, got {value!r}")
    return k


def parse_tolerance(value: str | None, flag: str = "--colour-tolerance") -> float | None:
    """``--colour-tolerance``: a CIEDE2000 bound, or ``off`` (``None``)."""
    from animatepainter.planner.errors import SettingsError

    if value is None or str(value).strip().lower() in ("off", "none"):
        return None
    try:
        v = float(str(value).strip())
    except ValueError:
        raise SettingsError(f"{flag} must be a CIEDE2000 bound between 1 and 100, or 'off', got {value!r}") from None
    if not (1.0 <= v <= 100.0):
        raise SettingsError(f"{flag} must be a CIEDE2000 bound between 1 and 100, or 'off', got {value!r}")
    return v
