"""The fixed choices of the CLI's options, as ``str`` enums: typer turns each into a
click choice, so ``--help`` lists the choices and a bad value is click's usage error
(``Invalid value for '--engine': ... 'x' is not one of ...``, exit status 2) before any
work starts.

Commands pass ``.value`` (the plain string) on to the library, so the library and the
plans it writes see exactly the strings they always did. Where the library has the list
as a constant (:data:`~animatepainter.planner.depth.BACKENDS`,
:data:`~animatepainter.export.ort_runtime.PROVIDERS`,
:data:`~animatepainter.export.svg_layers.GROUPINGS`,
:data:`~animatepainter.export.lesson.PAPERS`), the enum is made from it, so the two cannot
drift; the others spell out the values the library's settings check accepts. The library
keeps its own checks for Python callers.

The modules imported here are light (no torch): ``--help`` stays fast.
"""

from __future__ import annotations

import enum

from animatepainter.export.lesson import PAPERS
from animatepainter.export.ort_runtime import PROVIDERS
from animatepainter.export.svg_layers import GROUPINGS
from animatepainter.planner.depth import BACKENDS

__all__ = [
    "Augment",
    "Backend",
    "DepthBackend",
    "Device",
    "ExtractDepthBackend",
    "Layering",
    "MixedPrecision",
    "PaintEngine",
    "Paper",
    "Provider",
    "SaveDtype",
    "SynthAspect",
    "SynthEngine",
    "TrainDevice",
]


def _choices(name: str, values: tuple[str, ...], doc: str) -> type[enum.Enum]:
    """A ``str`` enum called ``name`` whose members are ``values`` (each member's name is
    its value). One call per choice list, not a class each: the lists are data."""
    cls = enum.Enum(name, [(v, v) for v in values], type=str, module=__name__, qualname=name)
    cls.__doc__ = doc
    return cls


#: ``--depth-backend`` of paint, generate and synth: the library's depth estimators
DepthBackend = _choices("DepthBackend", BACKENDS, "A depth estimator (planner.depth.BACKENDS).")
#: ``extract --depth-backend``: the depth estimators, or ``none`` (every stroke on layer 0)
ExtractDepthBackend = _choices("ExtractDepthBackend", (*BACKENDS, "none"), "A depth estimator (planner.depth.BACKENDS) or 'none'.")
#: ``generate --provider``: ``auto`` or one of the onnxruntime providers by short name
Provider = _choices("Provider", ("auto", *PROVIDERS), "An onnxruntime provider (export.ort_runtime.PROVIDERS) or 'auto'.")
#: ``export svg --by``: how the SVG's layers are made
Layering = _choices("Layering", GROUPINGS, "The SVG layers' grouping (export.svg_layers.GROUPINGS).")
#: ``lesson --paper`` (matched in any case, as the library does)
Paper = _choices("Paper", tuple(PAPERS), "A paper size (export.lesson.PAPERS).")

#: the CLI's own choices (the library checks the same strings in its settings)
PaintEngine = _choices("PaintEngine", ("teacher", "diffusion"), "``paint --engine``.")
Device = _choices("Device", ("auto", "cpu", "cuda"), "``--device`` of generate and evaluate-model.")
TrainDevice = _choices("TrainDevice", ("auto", "cpu"), "``train --device`` (TrainSettings.device: a GPU is taken with ``auto``).")
MixedPrecision = _choices("MixedPrecision", ("auto", "no", "fp16", "bf16"), "``train --mixed-precision`` (TrainSettings.mixed_precision).")
SaveDtype = _choices("SaveDtype", ("fp32", "fp16"), "``train --save-dtype`` (TrainSettings.save_dtype).")
Augment = _choices("Augment", ("dihedral", "hflip", "none"), "``train --augment`` (TrainSettings.augment).")
Backend = _choices("Backend", ("torch", "onnxruntime"), "``generate --backend``: what runs the networks.")
SynthAspect = _choices("SynthAspect", ("crop", "keep"), "``synth --aspect`` (SynthSettings.aspect).")
SynthEngine = _choices("SynthEngine", ("local", "ray"), "``synth --engine`` (model.data.engines.make_engine).")
