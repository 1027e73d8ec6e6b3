"""Planner node logic: ``sensor_msgs/Image`` data to RGB, parameters to planner settings.

No rclpy here: the node (:mod:`painter_ros.planner_node`) passes plain values in.
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from animatepainter.planner.errors import InputError, SettingsError
from animatepainter.planner.teacher.pipeline import PaintSettings, plan_painting
from animatepainter.planner.plan import StrokePlan

__all__ = ["PLANNER_DEFAULTS", "settings_from_params", "image_to_rgb", "plan_image"]

#: the planner node's parameters and their defaults (units as in ``animatepainter paint``)
PLANNER_DEFAULTS: dict[str, Any] = {
    "strokes": 2000,  # stroke budget (count, 1..200000)
    "seed": 0,  # random seed (same image + parameters + seed -> same plan)
    "size": 256,  # working resolution, long side in px (16..4096)
    "layers": 0,  # depth layers painted far to near (1..16); 0 = as many as the picture has depth planes
    "colour_tolerance": 10.0,  # honest colours: CIEDE2000 bound from the picture under each stroke (1..100); 0 = off
    "max_brushes": 8,  # the most brush widths a plan uses (1..64)
    "levels": 5,  # refinement levels, brush sizes coarse to fine (1..8)
    "steps": 24,  # process steps (frames)
    "palette": 16,  # paints (1..256)
    "canvas_width_mm": 0.0,  # canvas size in mm; 0 x 0 = 300 mm long side, the image's aspect
    "canvas_height_mm": 0.0,
    "background": [255, 255, 255],  # canvas colour, RGB 0..255
    "depth_backend": "prior",  # "prior" (offline) or "transformers" (needs depth_model)
    "depth_model": "",  # local directory of a transformers depth model
    "frame_id": "canvas",  # the canvas frame of the published plan
}


def settings_from_params(params: Mapping[str, Any]) -> PaintSettings:
    """Planner settings from the node's parameters (missing ones take their defaults).

    Raises:
        SettingsError: an unknown parameter or an impossible value (one line).
    """
    unknown = sorted(set(params) - set(PLANNER_DEFAULTS))
    if unknown:
        raise SettingsError(f"unknown planner parameter {unknown[0]!r} (known: {', '.join(PLANNER_DEFAULTS)})")
    p = {**PLANNER_DEFAULTS, **params}
    w, h = float(p["canvas_width_mm"]), float(p["canvas_height_mm"])
    if (w > 0) != (h > 0):
        raise SettingsError("canvas_width_mm and canvas_height_mm must both be positive, or both 0 (automatic)")
    bg = tuple(int(v) for v in p["background"])
    if len(bg) != 3 or any(not 0 <= v <= 255 for v in bg):
        raise SettingsError(f"background must be three integers 0..255, got {list(p['background'])}")
    s = PaintSettings(
        strokes=int(p["strokes"]),
        seed=int(p["seed"]),
        size=int(p["size"]),
        canvas_mm=(w, h) if w > 0 else None,
        layers=int(p["layers"]) or None,
        colour_tolerance=float(p["colour_tolerance"]) or None,
        max_brushes=int(p["max_brushes"]),
        levels=int(p["levels"]),
        steps=int(p["steps"]),
        palette=int(p["palette"]),
        background=bg,  # type: ignore[arg-type]
        depth_backend=str(p["depth_backend"]),
        depth_model=str(p["depth_model"]) or None,
    )
    s.check()
    return s


# encoding -> (channels, dtype, order of R, G, B in the channels)
_ENCODINGS = {
    "rgb8": (3, np.uint8, (0, 1, 2)),
    "bgr8": (3, np.uint8, (2, 1, 0)),
    "rgba8": (4, np.uint8, (0, 1, 2)),
    "bgra8": (4, np.uint8, (2, 1, 0)),
    "mono8": (1, np.uint8, (0, 0, 0)),
    "8uc1": (1, np.uint8, (0, 0, 0)),
    "8uc3": (3, np.uint8, (2, 1, 0)),  # OpenCV's default channel order
    "rgb16": (3, np.uint16, (0, 1, 2)),
    "bgr16": (3, np.uint16, (2, 1, 0)),
    "rgba16": (4, np.uint16, (0, 1, 2)),
    "bgra16": (4, np.uint16, (2, 1, 0)),
    "mono16": (1, np.uint16, (0, 0, 0)),
    "16uc1": (1, np.uint16, (0, 0, 0)),
}


def image_to_rgb(encoding: str, width: int, height: int, step: int, data: bytes, is_bigendian: int = 0) -> np.ndarray:
    """The pixels of a ``sensor_msgs/Image`` as uint8 ``(height, width, 3)`` RGB.

    Args:
        encoding: the message's encoding (``rgb8``, ``bgr8``, ``rgba8``, ``bgra8``,
            ``mono8``, their 16-bit forms, ``8UC1``, ``8UC3``, ``16UC1``).
        width, height: image size, px.
        step: bytes per row (may include padding).
        data: the pixel bytes.
        is_bigendian: byte order of 16-bit samples.

    Raises:
        InputError: unsupported encoding, or a size that does not match the data.
    """
    enc = encoding.lower()
    if enc not in _ENCODINGS:
        raise InputError(f"image encoding {encoding!r} is not supported (use one of {', '.join(sorted(_ENCODINGS))})")
    ch, dtype, order = _ENCODINGS[enc]
    itemsize = np.dtype(dtype).itemsize
    if width < 1 or height < 1:
        raise InputError(f"image is {width} x {height} px: nothing to paint")
    row = width * ch * itemsize
    if step < row or len(data) < step * (height - 1) + row:
        raise InputError(f"image {width} x {height} {encoding}: step {step} and {len(data)} data bytes do not hold the pixels")
    buf = np.frombuffer(bytes(data), np.uint8)
    rows = np.lib.stride_tricks.as_strided(buf, shape=(height, row), strides=(step, 1))
    px = np.ascontiguousarray(rows).view(np.dtype(dtype).newbyteorder(">" if is_bigendian else "<")).reshape(height, width, ch)
    if itemsize == 2:
        px = (px.astype(np.uint32) * 255 + 32767) // 65535
    rgb = px[..., list(order)]
    return np.ascontiguousarray(rgb.astype(np.uint8))


def plan_image(image_rgb: np.ndarray, params: Mapping[str, Any]) -> StrokePlan:
    """Plan a painting of ``image_rgb`` (uint8 ``(H, W, 3)``) with the node's parameters."""
    return plan_painting(image_rgb, settings_from_params(params)).plan
