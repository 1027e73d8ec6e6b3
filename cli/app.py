"""The ``animatepainter`` command line: a thin layer over the library.

Each command lives in a module of this package with a ``register(app, export_app)``
function (listed in :data:`COMMANDS`); :mod:`.ui` holds what commands show (progress,
results). :func:`main` turns the package's errors into one-line messages and exit
statuses:

* 2: bad input or settings (:class:`~animatepainter.planner.errors.AnimatePainterError`,
  including :class:`~animatepainter.planner.errors.OutputError`: an output that cannot be
  written, a full disk or no permission, turned into one by the atomic writers), or a
  usage error (unknown option or command, missing argument: the usage line, the problem,
  and "did you mean" where a close name exists);
* 1: the machine's trouble elsewhere (an ``OSError`` outside the atomic writers: a device
  error, the video encoder failing; its message in one line), or an unexpected internal
  error, a bug (``--debug`` shows its traceback);
* 130: interrupted.

Library errors name settings fields (``strokes must be ...``); :func:`main` names the
flag of the command that was run instead (``--strokes must be ...``).

Command modules keep heavy imports (torch, ray, ...) inside their functions so that
``--help`` and light commands start fast.
"""

from __future__ import annotations

import difflib
import logging
import sys
from typing import Any, Optional

import typer

from animatepainter.cli import export, extract, lesson, mix, model, onnx, paint, rig, ros, synth, viewer
from animatepainter.cli.ui import deferred_interrupt, state
from animatepainter.planner.errors import AnimatePainterError, SettingsError, one_line

__all__ = ["app", "main", "COMMANDS", "GLOBAL_FLAGS"]

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
    help="Export a stroke plan to other formats (SVG, JSON, G-code, ROS 2 bag), or the diffuser to ONNX.",
    no_args_is_help=True,
    context_settings={"help_option_names": ["-h", "--help"]},
)
app.add_typer(export_app, name="export")

#: modules that add commands, in the order they appear in ``--help``
COMMANDS = [paint, extract, export, viewer, mix, lesson, synth, model, onnx, rig, ros]

#: root options that may also be written after the command (``paint IMG -o OUT -q``)
GLOBAL_FLAGS = ("-q", "--quiet", "-v", "-vv", "-vvv", "--verbose", "--debug")


@app.callback()
def _root(
    verbose: int = typer.Option(0, "--verbose", "-v", count=True, help="More log output (-v info, -vv debug); before or after the command."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bars: only the result, warnings and errors; before or after the command."),
    debug: bool = typer.Option(False, "--debug", help="Show the full traceback of unexpected errors."),
) -> None:
    """Turn any image into a human-like painting process and ordered brush strokes."""
    state.debug = debug
    state.quiet = quiet
    level = logging.WARNING if verbose == 0 else (logging.INFO if verbose == 1 else logging.DEBUG)
    from rich.console import Console
    from rich.logging import RichHandler

    # logs go to stderr: stdout stays clean for command output (listen --format jsonl, ...)
    handler = RichHandler(console=Console(stderr=True), show_time=False, show_path=False, markup=False)
    logging.basicConfig(level=level, handlers=[handler], format="%(message)s", force=True)
    # third-party libraries stay quiet unless -vv
    for name in ("PIL", "matplotlib", "urllib3", "filelock", "h5py", "numba", "jax"):
        logging.getLogger(name).setLevel(max(level, logging.WARNING))


for _module in COMMANDS:
    _module.register(app, export_app)

#: the click group behind ``app`` (built once; typer >= 0.29 brings its own copy of
#: click, so commands, options and errors are typed by duck here, not by click's classes)
_CLICK = typer.main.get_command(app)


def hoist_global_flags(args: list[str]) -> list[str]:
    """Move the root's flags (:data:`GLOBAL_FLAGS`) written after the command to the
    front, where click parses them. Only flags in an option's place move: the value of a
    command's option (``--title -v``, ``--canvas-mm 10 -q``) stays where it is, found by
    walking the click tree the arguments name; everything after ``--`` is left alone."""
    cmd: Any = _CLICK
    flags: list[str] = []
    rest: list[str] = []
    skip = 0
    for i, a in enumerate(args):
        if a == "--":
            return flags + rest + args[i:]
        if skip:
            skip -= 1
            rest.append(a)
            continue
        if a in GLOBAL_FLAGS:
            flags.append(a)
            continue
        rest.append(a)
        if a.startswith("-") and "=" not in a:
            skip = _values_taken(cmd, a)
        elif not a.startswith("-"):
            sub = getattr(cmd, "commands", {}).get(a)
            if sub is not None:
                cmd = sub
    return flags + rest


def _values_taken(cmd: Any, opt: str) -> int:
    """How many of the following arguments the option ``opt`` of ``cmd`` takes as its
    value (0 for a flag, a count or an unknown option)."""
    for p in getattr(cmd, "params", ()):
        if opt in getattr(p, "opts", ()) or opt in getattr(p, "secondary_opts", ()):
            if getattr(p, "is_flag", False) or getattr(p, "count", False) or opt in getattr(p, "secondary_opts", ()):
                return 0
            return max(1, int(getattr(p, "nargs", 1) or 1))
    return 0


def _command_for(args: list[str]) -> Any:
    """The (sub)command the arguments name, as far as they name one."""
    cmd = _CLICK
    for a in args:
        if a.startswith("-"):
            continue
        sub = getattr(cmd, "commands", {}).get(a)
        if sub is None:
            break
        cmd = sub
    return cmd


#: settings fields whose flag is not ``--`` + the field with dashes, where the command
#: that was run has no parameter of the field's name (its own parameter names come
#: first, see :func:`flag_for`). Each maps to one flag in every command that reaches it:
#: ``brushes_mm`` (ExtractSettings) is ``extract --brushes``; ``learning_rate`` and
#: ``num_workers`` (TrainSettings) are ``train --lr`` and ``--workers``; ``model_path``
#: (estimate_depth) is ``--depth-model`` of paint, extract, synth and generate;
#: ``num_inference_steps`` (the pipeline's call) is ``--steps`` of generate and
#: evaluate-model (paint's ``--sample-steps`` is checked first, as
#: DiffusionOptions.sample_steps); ``rate_hz`` (check_rate, write_bag) is ``--rate`` of
#: publish and export rosbag; ``stroke_topic`` (PlanPublisher, PlanListener, write_bag) is
#: ``--topic`` of publish, listen and export rosbag. (``start`` needs no entry: publish's
#: ``--from`` has the parameter name ``start``.)
FIELD_FLAGS = {
    "brushes_mm": "--brushes",
    "learning_rate": "--lr",
    "num_workers": "--workers",
    "model_path": "--depth-model",
    "num_inference_steps": "--steps",
    "rate_hz": "--rate",
    "stroke_topic": "--topic",
}


def flag_for(field: str, cmd: Any) -> str:
    """The flag of ``cmd`` (a click command) that sets the settings field ``field``: the
    option whose parameter name is the field, else :data:`FIELD_FLAGS`, else
    ``--field-with-dashes``."""
    for p in getattr(cmd, "params", []):
        if p.name == field and getattr(p, "param_type_name", "") == "option":
            longs = [o for o in p.opts if o.startswith("--")]
            return longs[0] if longs else p.opts[0]
    return FIELD_FLAGS.get(field, "--" + field.replace("_", "-"))


def _is_usage_error(e: BaseException) -> bool:
    """True for click's UsageError and its kinds (no such option or command, missing or
    bad parameter): they carry the context and exit with status 2."""
    return hasattr(e, "ctx") and getattr(e, "exit_code", None) == 2 and hasattr(e, "format_message")


def _usage_error(e: Any) -> int:
    """Print a usage error the usual way (usage line, hint, ``error: ...``) with a
    "did you mean" for a misspelt command; exit status 2."""
    msg = e.format_message()
    ctx = e.ctx
    commands = getattr(getattr(ctx, "command", None), "commands", None)
    if commands and msg.startswith("No such command") and "Did you mean" not in msg:
        name = msg.split("'")[1] if "'" in msg else ""
        close = difflib.get_close_matches(name, list(commands), n=3, cutoff=0.6)
        if close:
            msg += " Did you mean " + " or ".join(repr(c) for c in close) + "?"
    if ctx is not None:
        print(ctx.get_usage(), file=sys.stderr)
        if ctx.command.get_help_option(ctx) is not None:
            print(f"Try '{ctx.command_path} --help' for help.", file=sys.stderr)
        print(file=sys.stderr)
    _error(msg)
    return 2


def main(argv: Optional[list[str]] = None) -> int:
    """Entry point of the ``animatepainter`` script; returns the exit status."""
    args = hoist_global_flags(list(sys.argv[1:] if argv is None else argv))
    try:
        # typer's main, not standalone, turns Ctrl-C into the return value 130 and an
        # Exit(n) into n (commands themselves return None)
        with deferred_interrupt():
            rv = _CLICK.main(args=args, prog_name="animatepainter", standalone_mode=False)
        if isinstance(rv, int) and not isinstance(rv, bool) and rv != 0:
            if rv == 130:
                _error("interrupted")
            return rv
        return 0
    except SettingsError as e:
        _error(e.renamed(flag_for(e.field, _command_for(args))) if e.field else str(e))
        return e.exit_code
    except AnimatePainterError as e:
        _error(str(e))
        return e.exit_code
    except typer.Exit as e:
        return e.exit_code
    except typer.TyperException as e:  # click's exceptions
        if _is_usage_error(e):
            return _usage_error(e)
        e.show()
        return e.exit_code
    except (typer.Abort, KeyboardInterrupt):
        _error("interrupted")
        return 130
    except MemoryError:
        _error("out of memory (try a smaller --size or fewer strokes)")
        return 1
    except OSError as e:
        # the machine's trouble, not a bug: a full disk, a folder gone, a device error
        if state.debug or "--debug" in args:
            raise
        where = f"{e.filename}: " if getattr(e, "filename", None) else ""
        _error(f"{where}{e.strerror or one_line(e, 200)}")
        return 1
    except Exception as e:  # noqa: BLE001 - last line of defence: one line, not a traceback
        if state.debug or "--debug" in args:
            raise
        msg = one_line(e, 200)
        _error(f"internal error ({type(e).__name__}: {msg}); rerun with --debug for the traceback")
        return 1


def _error(msg: str) -> None:
    print(f"error: {msg}", file=sys.stderr)
