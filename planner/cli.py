"""The ``animatepainter`` command line: a thin layer over the library.

Each command lives in its own module with a ``register(app, export_app)`` function;
this module builds the application, shows progress with rich, and turns the
package's errors into one-line messages with a non-zero exit status:

* 2: bad input or settings (:class:`~animatepainter.planner.errors.AnimatePainterError`)
  or a usage error;
* 1: an unexpected internal error (``--debug`` shows its traceback);
* 130: interrupted.

Command modules keep heavy imports (torch, ray, ...) inside their functions so that
``--help`` and light commands start fast.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import sys
from typing import Iterator, Optional

import typer

from .errors import AnimatePainterError, one_line

__all__ = ["app", "main", "RichProgress"]

log = logging.getLogger("animatepainter")

app = typer.Typer(
    name="animatepainter",
    help="Turn any image into a human-like painting process and ordered, robot-executable brush strokes.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
export_app = typer.Typer(
    help="Export a stroke plan to other formats (SVG, JSON, G-code, ROS 2 bag).",
    no_args_is_help=True,
    context_settings={"help_option_names": ["-h", "--help"]},
)
app.add_typer(export_app, name="export")

#: modules that add commands, in the order they appear in ``--help``
COMMAND_MODULES = [
    "animatepainter.planner.cli_paint",
    "animatepainter.planner.cli_extract",
    "animatepainter.export.cli_plotter",
    "animatepainter.export.cli_viewer",
    "animatepainter.planner.cli_synth",
    "animatepainter.model.cli",
    "animatepainter.export.cli_onnx",
    "animatepainter.export.cli_ros",
]

_state = {"debug": False, "quiet": False}


@app.callback()
def _root(
    verbose: int = typer.Option(0, "--verbose", "-v", count=True, help="More log output (-v info, -vv debug)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bars: only the result, warnings and errors."),
    debug: bool = typer.Option(False, "--debug", help="Show the full traceback of unexpected errors."),
) -> None:
    """Turn any image into a human-like painting process and ordered brush strokes."""
    _state["debug"] = debug
    _state["quiet"] = quiet
    level = logging.WARNING if verbose == 0 else (logging.INFO if verbose == 1 else logging.DEBUG)
    from rich.console import Console
    from rich.logging import RichHandler

    # logs go to stderr: stdout stays clean for command output (listen --format jsonl, ...)
    handler = RichHandler(console=Console(stderr=True), show_time=False, show_path=False, markup=False)
    logging.basicConfig(level=level, handlers=[handler], format="%(message)s", force=True)
    # third-party libraries stay quiet unless -vv
    for name in ("PIL", "matplotlib", "urllib3", "filelock", "h5py", "numba", "jax"):
        logging.getLogger(name).setLevel(max(level, logging.WARNING))


class _RichStage:
    def __init__(self, progress, task):
        self._p = progress
        self._t = task

    def advance(self, n: int = 1) -> None:
        self._p.advance(self._t, n)


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
            disable=_state["quiet"],
            transient=False,
        )

    def __enter__(self) -> "RichProgress":
        self._progress.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self._progress.__exit__(*exc)

    @contextlib.contextmanager
    def stage(self, name: str, total: Optional[int] = None) -> Iterator[_RichStage]:
        task = self._progress.add_task(name, total=total)
        try:
            yield _RichStage(self._progress, task)
        finally:
            t = self._progress.tasks[task]
            if t.total is not None:
                self._progress.update(task, completed=t.total)


def console_print(*args, **kwargs) -> None:
    """Print a command's result or final summary to stdout with rich (also under
    ``--quiet``, which only silences progress bars)."""
    from rich.console import Console

    Console().print(*args, **kwargs)


def _load_commands() -> None:
    for name in COMMAND_MODULES:
        mod = importlib.import_module(name)
        mod.register(app, export_app)


_load_commands()


def main(argv: Optional[list[str]] = None) -> int:
    """Entry point of the ``animatepainter`` script; returns the exit status."""
    import click

    args = list(sys.argv[1:] if argv is None else argv)
    try:
        app(args=args, prog_name="animatepainter", standalone_mode=False)
        return 0
    except AnimatePainterError as e:
        _error(str(e))
        return e.exit_code
    except click.exceptions.Exit as e:
        return e.exit_code
    except click.ClickException as e:
        e.show()
        return e.exit_code
    except (click.exceptions.Abort, KeyboardInterrupt):
        _error("interrupted")
        return 130
    except MemoryError:
        _error("out of memory (try a smaller --size or fewer strokes)")
        return 1
    except Exception as e:  # noqa: BLE001 - last line of defence: one line, not a traceback
        if _state["debug"] or "--debug" in args:
            raise
        msg = one_line(e, 200)
        _error(f"internal error ({type(e).__name__}: {msg}); rerun with --debug for the traceback")
        return 1


def _error(msg: str) -> None:
    print(f"error: {msg}", file=sys.stderr)


if __name__ == "__main__":  # pragma: no cover
    # `python -m` runs this file as __main__, a second copy of the module: call the
    # imported module's main so the commands and their shared state are one
    sys.exit(importlib.import_module("animatepainter.planner.cli").main())
