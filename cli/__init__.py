"""``animatepainter.cli``: every command of the ``animatepainter`` program, each a thin
layer over a library function (the library is :mod:`animatepainter.planner`,
:mod:`animatepainter.model` and :mod:`animatepainter.export`; nothing below imports
this package).

:func:`main` is the program's entry point; :mod:`.app` builds it from the command
modules (:mod:`.paint`, :mod:`.extract`, :mod:`.export`, :mod:`.viewer`, :mod:`.synth`,
:mod:`.model`, :mod:`.onnx`, :mod:`.ros`); :mod:`.ui` shows progress and results.
"""

from __future__ import annotations


def main(argv: list[str] | None = None) -> int:
    """Run the ``animatepainter`` program with ``argv`` (default: ``sys.argv[1:]``);
    returns the exit status."""
    from animatepainter.cli.app import main as _main

    return _main(argv)
