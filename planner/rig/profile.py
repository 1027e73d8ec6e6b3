"""Rig profiles: a machine profile plus how the rig really paints and is photographed.

A rig profile is a machine profile (:mod:`animatepainter.planner.machine.profile`, the
same TOML file) with up to three more sections:

``[execution]``
    the rig's errors, drawn per stroke from a seed: position noise and a constant
    offset and rotation of the whole rig (mm, degrees), a width bias and noise
    (fractions of the commanded width), colour noise (RGB 0..255) and paint running dry
    along a load (coverage falls from ``opacity_start`` just after a dip to
    ``opacity_end`` when the brush's ``capacity_mm`` is used up).
``[camera]``
    how the canvas is photographed: photo size (px), tilt and roll (degrees), the share
    of the photo the canvas fills, lens blur (px), sensor noise (0..255), a colour cast
    and exposure (gains in linear light), vignetting (a fraction) and JPEG quality.
``[calibration]``
    what :mod:`.calibrate` measured (absent until then): the rig's offset (mm), each
    brush's painted-to-commanded width ratio and its coverage after a dip and at the
    end of a load. Plans made with a calibrated profile compensate
    (:func:`~.calibrate.compensate_plan`).

Every value has a default (a perfect rig and camera) and a range; a bad value raises
:class:`~animatepainter.planner.errors.InputError` naming the file, the field and the
value, e.g. ``my-rig.toml: execution.position_noise_mm: must be >= 0, got -1``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Mapping

from animatepainter.planner.atomic import atomic_write_bytes
from animatepainter.planner.errors import InputError
from animatepainter.planner.machine.profile import MachineProfile, build_section, profile_from_dict, read_profile_toml

__all__ = ["Execution", "Camera", "Calibration", "RigProfile", "load_rig", "rig_from_dict", "save_rig"]


@dataclass(frozen=True)
class Execution:
    """How the rig misses (see the module docstring). Lengths mm, angles degrees,
    ``width_*`` fractions of the commanded width, ``color_noise`` RGB 0..255,
    opacities 0..1."""

    position_noise_mm: float = 0.0
    offset_mm: tuple[float, float] = (0.0, 0.0)
    rotation_deg: float = 0.0
    width_bias: float = 0.0
    width_noise: float = 0.0
    color_noise: float = 0.0
    opacity_start: float = 1.0
    opacity_end: float = 1.0


@dataclass(frozen=True)
class Camera:
    """How the canvas is photographed (see the module docstring)."""

    image_px: tuple[int, int] = (1600, 1200)
    tilt_deg: float = 0.0
    roll_deg: float = 0.0
    fill: float = 0.9
    blur_px: float = 0.0
    noise: float = 0.0
    cast: tuple[float, float, float] = (1.0, 1.0, 1.0)
    exposure: float = 1.0
    vignetting: float = 0.0
    jpeg_quality: int = 0


@dataclass(frozen=True)
class Calibration:
    """What :func:`~.calibrate.measure_calibration` measured; per-brush lists follow the
    profile's ``[[brushes]]``.

    Attributes:
        offset_mm: the rig's constant offset, mm (painted minus commanded position).
        width_scale: painted / commanded width of each brush.
        opacity_start: coverage just after a dip, of each brush (0..1).
        opacity_end: coverage at the end of a load (``capacity_mm``), of each brush.
    """

    offset_mm: tuple[float, float] = (0.0, 0.0)
    width_scale: tuple[float, ...] = ()
    opacity_start: tuple[float, ...] = ()
    opacity_end: tuple[float, ...] = ()


@dataclass(frozen=True)
class RigProfile:
    """A machine with its execution errors and camera.

    Attributes:
        machine: the machine profile.
        execution: how it paints.
        camera: how its canvas is photographed.
        calibration: what was measured, or ``None``.
        raw: the parsed TOML (to write a calibrated copy).
        source: the file it came from (for messages).
    """

    machine: MachineProfile
    execution: Execution = Execution()
    camera: Camera = Camera()
    calibration: Calibration | None = None
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)
    source: str = "rig profile"


def load_rig(path_or_name: str | Path) -> RigProfile:
    """Read and validate a rig profile (a TOML file, or a bundled name such as ``sim-arm``).

    Raises:
        InputError: unreadable, not TOML, or a field is missing or impossible.
    """
    data, source = read_profile_toml(path_or_name, "rig profile")
    return rig_from_dict(data, source)


def rig_from_dict(d: Any, source: str = "rig profile") -> RigProfile:
    """Validate a parsed rig profile (see :func:`load_rig`): the machine profile's schema
    checks every section (types, ranges, units in its descriptions); the calibration's
    lists must have one value per brush."""
    machine = profile_from_dict(d, source)
    ex = build_section(Execution, d.get("execution", {}))
    cam = build_section(Camera, d.get("camera", {}))
    cal = None
    if "calibration" in d:
        cal = build_section(Calibration, d["calibration"])
        nb = len(machine.brushes)
        for name in ("width_scale", "opacity_start", "opacity_end"):
            v = getattr(cal, name)
            if len(v) != nb:
                raise InputError(f"{source}: calibration.{name}: needs one value per brush ({nb}), got {len(v)}")
    return RigProfile(machine, ex, cam, cal, dict(d), source)


def rig_dict(rig: RigProfile, calibration: Calibration | None = None, capacity_mm: list[float] | None = None) -> dict[str, Any]:
    """The rig profile as TOML tables: the file it was read from, with ``calibration``
    (and new brush ``capacity_mm`` values) when given."""
    d = {k: v for k, v in rig.raw.items()} if rig.raw else rig.machine.to_dict()
    d.setdefault("execution", {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(rig.execution).items()})
    d.setdefault("camera", {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(rig.camera).items()})
    if calibration is not None:
        d["calibration"] = {k: [round(float(x), 4) for x in v] for k, v in asdict(calibration).items()}
    if capacity_mm is not None:
        d["brushes"] = [dict(b, capacity_mm=round(float(c), 1)) for b, c in zip(d["brushes"], capacity_mm)]
    return d


def save_rig(d: Mapping[str, Any], path: str | Path, header: str = "") -> Path:
    """Write rig-profile tables ``d`` as TOML (tomli-w), atomically; check it reads back."""
    import tomli_w

    text = (header + "\n" if header else "") + tomli_w.dumps(dict(d))
    rig_from_dict(dict(d), str(path))  # never write a profile that would not load
    atomic_write_bytes(Path(path), text.encode("utf-8"))
    return Path(path)
