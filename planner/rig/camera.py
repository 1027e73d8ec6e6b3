"""The simulated camera: a photograph of the physical canvas.

:func:`physical_canvas` lays out the whole canvas at ``px_per_mm``: the blank canvas,
the corner markers and colour patches (:mod:`.layout`) and the painted picture (a
canvas in the plan's pixel frame, resized into the image box). :func:`photograph`
looks at it through a pinhole camera tilted by ``tilt_deg`` and rolled by ``roll_deg``
(a perspective warp), then, in linear light, applies the colour cast, exposure and
vignetting, lens blur, sensor noise, and finally sRGB encoding and JPEG. It returns the
photo and the true homography from canvas mm to photo pixels, the ground truth the
registration is measured against.
"""

from __future__ import annotations

import math

import numpy as np

from animatepainter.planner.plan import StrokePlan
from animatepainter.planner.render import to_uint8
from animatepainter.planner.rig.layout import canvas_layout, draw_layout
from animatepainter.planner.rig.profile import Camera, RigProfile

__all__ = ["SIM_PX_PER_MM", "physical_canvas", "camera_homography", "photograph", "srgb_to_linear", "linear_to_srgb"]

#: resolution of the simulated physical canvas, px per mm (finer than any photo of it)
SIM_PX_PER_MM = 4.0


# The sRGB transfer curve (IEC 61966-2-1) is written out here rather than taken from
# colour-science (``cctf_decoding`` / ``cctf_encoding``, the same formula) on purpose:
# every simulated photo and every registration carries whole photos (megapixels)
# through it, several times, and tables are what make that cheap. Measured on a 2000 x
# 1500 photo: decoding uint8 by a 256-entry table 0.3 s against colour-science's 3.6 s,
# encoding by a 64k-entry table 0.11 s against 0.48 s, within 1e-4 of colour-science.
def srgb_to_linear(v: np.ndarray) -> np.ndarray:
    """sRGB-encoded values to linear light (IEC 61966-2-1), float32: uint8 (0..255,
    by table) or floats in [0, 1]."""
    v = np.asarray(v)
    if v.dtype == np.uint8:
        return _DECODE_U8[v]
    v = v.astype(np.float32)
    return np.where(v <= 0.04045, v / 12.92, ((v + 0.055) / 1.055) ** 2.4).astype(np.float32)


def linear_to_srgb(v: np.ndarray) -> np.ndarray:
    """Linear light in [0, 1] to sRGB-encoded values in [0, 1], float32 (a 64k-entry
    table: within 2e-4, 0.05/255, of the formula)."""
    v = np.clip(np.asarray(v, np.float32), 0.0, 1.0)
    return _ENCODE[(v * np.float32(_ENC_N - 1) + np.float32(0.5)).astype(np.int32)]


def _encode_exact(v: np.ndarray) -> np.ndarray:
    return np.where(v <= 0.0031308, v * 12.92, 1.055 * np.maximum(v, 0) ** (1 / 2.4) - 0.055)


_ENC_N = 65536
_ENCODE = _encode_exact(np.linspace(0.0, 1.0, _ENC_N)).astype(np.float32)
_DECODE_U8 = srgb_to_linear(np.arange(256, dtype=np.float32) / 255.0)


def physical_canvas(plan: StrokePlan, painted: np.ndarray, rig: RigProfile, px_per_mm: float = SIM_PX_PER_MM) -> np.ndarray:
    """The whole canvas as it stands: uint8 ``(round(H_mm px_per_mm), round(W_mm px_per_mm), 3)``.

    Args:
        plan: the plan (its canvas gives the image box).
        painted: float32 ``(h, w, 3)`` in [0, 1]: the picture in the plan's pixel frame.
        rig: the rig (canvas size, margins, background).
        px_per_mm: raster resolution.
    """
    import cv2

    mc = rig.machine.canvas
    W, H = int(round(mc.width_mm * px_per_mm)), int(round(mc.height_mm * px_per_mm))
    bg = mc.background if mc.background is not None else plan.canvas.background
    raster = np.empty((H, W, 3), np.uint8)
    raster[:] = np.asarray(bg, np.uint8)
    bx, by, bw, bh = plan.canvas.image_box_mm
    # the picture: its pixel frame maps to the image box (pixel corners at box corners)
    h, w = painted.shape[:2]
    sx, sy = bw * px_per_mm / w, bh * px_per_mm / h
    m = np.array([[sx, 0.0, bx * px_per_mm], [0.0, sy, by * px_per_mm]], np.float64)
    # pixel centres: dst = src * s + offset, with the half-pixel shifts of both grids
    m[0, 2] += 0.5 * sx - 0.5
    m[1, 2] += 0.5 * sy - 0.5
    img8 = to_uint8(painted)
    pic = cv2.warpAffine(img8, m, (W, H), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_TRANSPARENT, dst=raster.copy())
    x0, y0 = int(math.floor(bx * px_per_mm)), int(math.floor(by * px_per_mm))
    x1, y1 = int(math.ceil((bx + bw) * px_per_mm)), int(math.ceil((by + bh) * px_per_mm))
    raster[y0:y1, x0:x1] = pic[y0:y1, x0:x1]
    draw_layout(raster, canvas_layout(mc.width_mm, mc.height_mm, mc.margins_mm), px_per_mm)
    return raster


def camera_homography(cam: Camera, canvas_mm: tuple[float, float]) -> np.ndarray:
    """The 3x3 homography from canvas mm to photo pixels of a pinhole camera above the
    canvas centre, pitched by ``tilt_deg`` and rolled by ``roll_deg``, scaled so the
    canvas spans ``fill`` of the photo, centred (float64)."""
    cw, ch = canvas_mm
    t, r = math.radians(cam.tilt_deg), math.radians(cam.roll_deg)
    rx = np.array([[1, 0, 0], [0, math.cos(t), -math.sin(t)], [0, math.sin(t), math.cos(t)]])
    rz = np.array([[math.cos(r), -math.sin(r), 0], [math.sin(r), math.cos(r), 0], [0, 0, 1]])
    rot = rz @ rx
    dist = 1.2 * max(cw, ch)
    # canvas point (x, y, 0) -> camera: rot @ (x - cw/2, y - ch/2, 0) + (0, 0, dist)
    h = np.column_stack([rot[:, 0], rot[:, 1], np.array([0.0, 0.0, dist]) - rot[:, 0] * cw / 2 - rot[:, 1] * ch / 2])
    corners = np.array([[0, 0, 1], [cw, 0, 1], [cw, ch, 1], [0, ch, 1]], np.float64).T
    p = h @ corners
    p = p[:2] / p[2]
    W, H = cam.image_px
    lo, hi = p.min(axis=1), p.max(axis=1)
    s = cam.fill * min(W / (hi[0] - lo[0]), H / (hi[1] - lo[1]))
    mid = (lo + hi) / 2.0
    fit = np.array([[s, 0, W / 2.0 - s * mid[0]], [0, s, H / 2.0 - s * mid[1]], [0, 0, 1]])
    out = fit @ h
    return out / out[2, 2]


def photograph(physical: np.ndarray, rig: RigProfile, seed: int = 0, px_per_mm: float = SIM_PX_PER_MM) -> tuple[np.ndarray, np.ndarray]:
    """Photograph the physical canvas.

    Args:
        physical: uint8 ``(H, W, 3)`` from :func:`physical_canvas`.
        rig: the rig (its ``camera`` section).
        seed: seed of the sensor noise.
        px_per_mm: resolution of ``physical``.

    Returns:
        ``(photo, homography)``: uint8 ``(image_px[1], image_px[0], 3)`` RGB, and the
        float64 3x3 map from canvas mm to photo pixel coordinates (pixel centres at
        integers, OpenCV's convention).
    """
    import cv2

    cam = rig.camera
    mc = rig.machine.canvas
    hmm = camera_homography(cam, (mc.width_mm, mc.height_mm))
    # raster pixel (centre at integer i) is at canvas mm (i + 0.5) / px_per_mm
    to_mm = np.array([[1 / px_per_mm, 0, 0.5 / px_per_mm], [0, 1 / px_per_mm, 0.5 / px_per_mm], [0, 0, 1]])
    hpx = hmm @ to_mm
    W, H = cam.image_px
    lin = srgb_to_linear(physical)
    # shrinking: blur the raster first so the warp does not alias
    scale = math.sqrt(abs(np.linalg.det(hpx[:2, :2])))
    if scale < 1.0:
        lin = cv2.GaussianBlur(lin, (0, 0), 0.5 / scale)
    surround = np.full(3, 0.02, np.float32)  # the table around the canvas
    photo = cv2.warpPerspective(lin, hpx, (W, H), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=tuple(float(v) for v in surround))
    # lighting: a linear fall-off from the lit (left) side, colour cast, exposure
    xs = np.linspace(0.0, 1.0, W, dtype=np.float32)[None, :]
    ys = np.linspace(0.0, 1.0, H, dtype=np.float32)[:, None]
    light = 1.0 - cam.vignetting * (0.7 * xs + 0.3 * ys)
    photo = photo * light[..., None] * (np.asarray(cam.cast, np.float32) * cam.exposure)[None, None, :]
    if cam.blur_px > 0:
        photo = cv2.GaussianBlur(photo, (0, 0), cam.blur_px)
    enc = linear_to_srgb(photo) * 255.0
    if cam.noise > 0:
        rng = np.random.default_rng([seed, 7919])
        enc = enc + rng.normal(0.0, cam.noise, enc.shape).astype(np.float32)
    out = np.clip(np.round(enc), 0, 255).astype(np.uint8)
    if cam.jpeg_quality > 0:
        ok, buf = cv2.imencode(".jpg", cv2.cvtColor(out, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, int(cam.jpeg_quality)])
        out = cv2.cvtColor(cv2.imdecode(buf, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
    return out, hmm
