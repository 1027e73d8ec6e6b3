"""What sits on the canvas margins for the camera: corner markers and colour patches.

Four ArUco markers (OpenCV's ``DICT_4X4_50``, ids 0, 1, 2, 3 at the top-left, top-right,
bottom-right and bottom-left corners) give the photo's geometry; a row of colour
patches along the top and bottom margins, between the markers, gives its colours.
The patches are the 24 colours of the ColorChecker Classic chart (X-Rite's published
sRGB values, 8-bit), so a photo of a real sheet can be corrected the same way; the
blank canvas around them shows the lighting.

Everything here is in canvas millimetres (origin at the top-left corner, y down) and
depends only on the canvas size and margins: :func:`canvas_layout` of a plan's canvas and
of a machine profile agree, and ``animatepainter rig markers`` prints the same layout.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from animatepainter.planner.errors import SettingsError

__all__ = ["ARUCO_DICT", "MARKER_IDS", "PATCH_RGB", "Layout", "canvas_layout", "marker_image", "draw_layout"]

#: OpenCV ArUco dictionary of the corner markers
ARUCO_DICT = "DICT_4X4_50"
#: marker ids at the top-left, top-right, bottom-right and bottom-left corners
MARKER_IDS = (0, 1, 2, 3)
#: ColorChecker Classic, sRGB 8-bit (X-Rite's published values), row by row
PATCH_RGB: tuple[tuple[int, int, int], ...] = (
    (115, 82, 68), (194, 150, 130), (98, 122, 157), (87, 108, 67), (133, 128, 177), (103, 189, 170),
    (214, 126, 44), (80, 91, 166), (193, 90, 99), (94, 60, 108), (157, 188, 64), (224, 163, 46),
    (56, 61, 150), (70, 148, 73), (175, 54, 60), (231, 199, 31), (187, 86, 149), (8, 133, 161),
    (243, 243, 242), (200, 200, 200), (160, 160, 160), (122, 122, 121), (85, 85, 85), (52, 52, 52),
)
#: smallest marker that is still found reliably in a photo, mm
MIN_MARKER_MM = 8.0


@dataclass(frozen=True)
class Layout:
    """Markers and patches on one canvas.

    Attributes:
        canvas_mm: ``(width, height)``.
        marker_mm: side of each marker (its black border included), mm.
        markers: float64 ``(4, 4, 2)``: the corners (top-left, top-right, bottom-right,
            bottom-left, as OpenCV reports them) of markers ``MARKER_IDS``, mm.
        patches: float64 ``(P, 4)``: ``(x, y, width, height)`` of each patch, mm.
        patch_rgb: uint8 ``(P, 3)``: each patch's colour.
    """

    canvas_mm: tuple[float, float]
    marker_mm: float
    markers: np.ndarray
    patches: np.ndarray
    patch_rgb: np.ndarray


def canvas_layout(width_mm: float, height_mm: float, margins_mm: tuple[float, float, float, float]) -> Layout:
    """The markers and patches of a ``width_mm x height_mm`` canvas with ``margins_mm``
    (top, right, bottom, left): markers fill 2/3 of the narrowest margin (at most 25
    mm, a multiple of 1.5 mm), centred in the corner squares; patches as large as the markers, in the top and
    bottom margins between them.

    Raises:
        SettingsError: a margin is too narrow for a marker (``MIN_MARKER_MM`` x 1.5).
    """
    m = float(min(margins_mm))
    # a whole number of 0.25 mm per module (6 modules: 4 bits and the border), so the
    # simulated canvas (4 px/mm) draws every module on whole pixels
    size = math.floor(min(m * 2.0 / 3.0, 25.0) / 1.5) * 1.5
    if size < MIN_MARKER_MM:
        raise SettingsError(
            f"margins of {m:g} mm are too narrow for the corner markers: give every margin at least {MIN_MARKER_MM * 1.5:g} mm", "margins_mm"
        )
    top, right, bottom, left = (float(v) for v in margins_mm)
    # marker centres: in the middle of each corner square of the margins
    cx = (left / 2.0, width_mm - right / 2.0, width_mm - right / 2.0, left / 2.0)
    cy = (top / 2.0, top / 2.0, height_mm - bottom / 2.0, height_mm - bottom / 2.0)
    h = size / 2.0
    markers = np.array([[[x - h, y - h], [x + h, y - h], [x + h, y + h], [x - h, y + h]] for x, y in zip(cx, cy)], np.float64)
    # patches: between the markers, along the top and the bottom margins
    gap = size / 4.0
    x0, x1 = left + gap, width_mm - right - gap
    per_row = max(int((x1 - x0 + gap) // (size + gap)), 0)
    n = min(len(PATCH_RGB), 2 * per_row)
    rows = [(top / 2.0, (n + 1) // 2), (height_mm - bottom / 2.0, n // 2)]
    patches = []
    for yc, k in rows:
        span = k * size + (k - 1) * gap
        start = (width_mm - span) / 2.0
        for j in range(k):
            patches.append((start + j * (size + gap), yc - h, size, size))
    return Layout(
        canvas_mm=(float(width_mm), float(height_mm)),
        marker_mm=size,
        markers=markers,
        patches=np.array(patches, np.float64).reshape(-1, 4),
        patch_rgb=np.array(PATCH_RGB[: len(patches)], np.uint8).reshape(-1, 3),
    )


def marker_image(marker_id: int, side_px: int) -> np.ndarray:
    """ArUco marker ``marker_id`` of :data:`ARUCO_DICT`, uint8 ``(side_px, side_px)``
    (0 black, 255 white), its black border included (OpenCV's ``generateImageMarker``)."""
    import cv2

    d = cv2.aruco.getPredefinedDictionary(getattr(cv2.aruco, ARUCO_DICT))
    return cv2.aruco.generateImageMarker(d, int(marker_id), int(side_px), borderBits=1)


def draw_layout(raster: np.ndarray, layout: Layout, px_per_mm: float) -> np.ndarray:
    """Draw the markers and patches onto ``raster`` (uint8 ``(H, W, 3)``, the whole canvas
    at ``px_per_mm``) in place, and return it. Each marker is drawn at a whole number of
    pixels per module and placed on whole pixels, so its corners are exact."""
    import cv2

    for mid, corners in zip(MARKER_IDS, layout.markers):
        x0, y0 = corners[0] * px_per_mm
        side = int(round(layout.marker_mm * px_per_mm))
        img = marker_image(mid, side)
        xi, yi = int(round(x0)), int(round(y0))
        raster[yi : yi + side, xi : xi + side] = img[:, :, None]
    for (x, y, w, h), rgb in zip(layout.patches, layout.patch_rgb):
        p0 = (int(round(x * px_per_mm)), int(round(y * px_per_mm)))
        p1 = (int(round((x + w) * px_per_mm)) - 1, int(round((y + h) * px_per_mm)) - 1)
        cv2.rectangle(raster, p0, p1, tuple(int(v) for v in rgb), thickness=-1)
    return raster
