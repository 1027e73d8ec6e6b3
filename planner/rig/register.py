"""From a photo of the canvas back to the plan's pixel frame, colour-corrected.

1. **Markers** (OpenCV ``cv2.aruco``): the four corner markers of :mod:`.layout` are
   found with sub-pixel corners. Each marker's centre is the crossing of its diagonals
   (a projective invariant, so it is exact under perspective, and the slight inward
   bias of sub-pixel corners on a blurred photo cancels out); the four centres give the
   homography from canvas mm to photo pixels. The sixteen corners then check it: the
   worst distance between a detected corner and where the homography puts it is the
   *corner error* (mm), and a photo of another canvas size shows up as a large one.
2. **Lighting**: the blank canvas around the markers and patches is the known
   background colour; a quadratic surface per channel fitted to it (in linear light,
   robustly) is the lighting, divided out.
3. **Colour**: the ColorChecker patches and the background, measured on the
   flat-fielded canvas, fit a colour correction to their known colours
   (colour-science's ``colour_correction``, Cheung 2004, in linear light).
4. **Rectify**: the image box is resampled into the plan's pixel frame (4x supersampled,
   then area-averaged), flat-fielded, corrected and sRGB-encoded.

The report gives the markers found, the corner error, and the patches' colour error
(CIEDE2000, the package's one :func:`~animatepainter.planner.colors.delta_e2000`) before
and after correction, the latter also leave-one-out (each patch corrected by a fit
without it).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from animatepainter.planner.colors import delta_e2000
from animatepainter.planner.errors import InputError, SettingsError
from animatepainter.planner.plan import Canvas, StrokePlan
from animatepainter.planner.render import to_uint8
from animatepainter.planner.rig.camera import linear_to_srgb, srgb_to_linear
from animatepainter.planner.rig.layout import ARUCO_DICT, MARKER_IDS, Layout, canvas_layout

log = logging.getLogger(__name__)

__all__ = ["Registration", "register_photo", "plan_margins", "detect_markers", "MIN_LEVEL", "MIN_SHARPNESS", "MAX_CORNER_MM"]

#: darkest usable photo: mean level (0..255) of its grey values
MIN_LEVEL = 20.0
#: least edge sharpness of the markers (steepest step across a marker edge, as a
#: share of the marker's black-to-white contrast per mm); measured on simulated
#: photos at 3.6 px/mm: 0.85 sharp, 0.47 at 2 px lens blur, 0.35 at 3 px (registered canvas
#: 26 dB against the truth, from 33 dB); at 4 px markers are no longer found
MIN_SHARPNESS = 0.3
#: largest corner error (mm) before the photo is taken for one of another canvas
MAX_CORNER_MM = 3.0
#: resolution of the rectified whole canvas used for lighting and patches, px per mm
WORK_PX_PER_MM = 2.0
#: how far paint may reach past the image box into the margins, mm (not blank canvas)
SPILL_MM = 20.0


@dataclass
class Registration:
    """A registered photo.

    Attributes:
        canvas: uint8 ``(h, w, 3)``: the image box in the plan's pixel frame, corrected.
        homography: float64 3x3, canvas mm to photo pixels.
        report: JSON-ready figures (markers, corner error, colour errors, timings).
    """

    canvas: np.ndarray
    homography: np.ndarray
    report: dict[str, Any] = field(default_factory=dict)


def _detector():
    import cv2

    p = cv2.aruco.DetectorParameters()
    p.cornerRefinementMethod = cv2.aruco.CORNER_REFINE_SUBPIX
    # read each module's bit from 8x8 samples of its middle half: robust to lens blur
    # (measured: all four markers found up to 2 px blur, against 1 px with the defaults)
    p.perspectiveRemovePixelPerCell = 8
    p.perspectiveRemoveIgnoredMarginPerCell = 0.25
    return cv2.aruco.ArucoDetector(cv2.aruco.getPredefinedDictionary(getattr(cv2.aruco, ARUCO_DICT)), p)


def detect_markers(gray: np.ndarray) -> dict[int, np.ndarray]:
    """The corner markers found in ``gray`` (uint8 ``(H, W)``): id -> float64 ``(4, 2)``
    corners in photo pixels (top-left, top-right, bottom-right, bottom-left of the
    marker). Only ids of :data:`~.layout.MARKER_IDS`, the first of each."""
    corners, ids, _ = _detector().detectMarkers(gray)
    out: dict[int, np.ndarray] = {}
    if ids is None:
        return out
    for c, i in zip(corners, ids.ravel()):
        if int(i) in MARKER_IDS and int(i) not in out:
            out[int(i)] = c.reshape(4, 2).astype(np.float64)
    return out


def _diagonal_centre(c: np.ndarray) -> np.ndarray:
    a = np.cross(np.r_[c[0], 1.0], np.r_[c[2], 1.0])
    b = np.cross(np.r_[c[1], 1.0], np.r_[c[3], 1.0])
    p = np.cross(a, b)
    return p[:2] / p[2]


def _project(h: np.ndarray, pts: np.ndarray) -> np.ndarray:
    p = np.c_[pts, np.ones(len(pts))] @ h.T
    return p[:, :2] / p[:, 2:3]


def _colour():
    from animatepainter.planner.colors import colour_science

    return colour_science()


def _rectify(photo_lin: np.ndarray, h: np.ndarray, x0: float, y0: float, mm_per_px: float, size: tuple[int, int], oversample: int = 1) -> np.ndarray:
    """Resample the photo onto a grid of ``size = (w, h)`` pixels whose pixel ``(i, j)``
    covers canvas mm ``[x0 + j s, x0 + (j + 1) s] x [y0 + i s, ...]``, ``s = mm_per_px``;
    ``oversample`` samples per pixel side, area-averaged."""
    import cv2

    w, hh = size
    k = max(int(oversample), 1)
    s = mm_per_px / k
    grid = np.array([[s, 0, x0 + 0.5 * s], [0, s, y0 + 0.5 * s], [0, 0, 1]], np.float64)
    m = h @ grid
    out = cv2.warpPerspective(photo_lin, m, (w * k, hh * k), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_REPLICATE)
    if k > 1:
        out = cv2.resize(out, (w, hh), interpolation=cv2.INTER_AREA)
    return out


def _poly_terms(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    return np.stack([np.ones_like(x), x, y, x * x, x * y, y * y], axis=-1)


def _fit_lighting(work: np.ndarray, mask: np.ndarray, width_mm: float, height_mm: float) -> np.ndarray:
    """Per-channel quadratic lighting surfaces over the canvas (coefficients ``(3, 6)``
    in normalised coordinates), fitted to the blank canvas with outliers dropped."""
    ys, xs = np.nonzero(mask)
    if len(ys) > 8000:  # a smooth surface: a few thousand samples are plenty
        keep_every = len(ys) // 8000 + 1
        ys, xs = ys[::keep_every], xs[::keep_every]
    if len(ys) < 50:
        raise InputError("too little blank canvas is visible around the markers and patches to measure the lighting")
    xn = (xs + 0.5) / WORK_PX_PER_MM / width_mm
    yn = (ys + 0.5) / WORK_PX_PER_MM / height_mm
    a = _poly_terms(xn, yn)
    vals = work[ys, xs].astype(np.float64)
    keep = np.ones(len(ys), bool)
    coef = np.zeros((3, 6))
    for _ in range(4):  # paint, dust and shadows are not lighting: drop what fits badly
        coef = np.linalg.lstsq(a[keep], vals[keep], rcond=None)[0].T
        res = np.abs(vals - a @ coef.T).max(axis=1)
        mad = np.median(res[keep]) + 1e-6
        keep = res < 4.0 * 1.4826 * mad + 0.004
    return coef


def _lighting_at(coef: np.ndarray, xn: np.ndarray, yn: np.ndarray) -> np.ndarray:
    return _poly_terms(xn, yn) @ coef.T


def _sharpness(work_gray: np.ndarray, layout: Layout) -> float:
    """Steepest step across the markers' edges, as a share of their contrast per mm
    (median over the markers; 1 / blur width, roughly)."""
    import cv2

    vals = []
    for quad in layout.markers:
        x0, y0 = (quad.min(axis=0) * WORK_PX_PER_MM).astype(int)
        x1, y1 = (quad.max(axis=0) * WORK_PX_PER_MM).astype(int)
        pad = 4
        patch = work_gray[max(y0 - pad, 0) : y1 + pad, max(x0 - pad, 0) : x1 + pad].astype(np.float32)
        if patch.size == 0:
            continue
        lo, hi = np.percentile(patch, 5), np.percentile(patch, 95)
        if hi - lo < 1e-3:
            vals.append(0.0)
            continue
        gx = cv2.Sobel(patch, cv2.CV_32F, 1, 0, ksize=3) / 8.0
        gy = cv2.Sobel(patch, cv2.CV_32F, 0, 1, ksize=3) / 8.0
        g = np.sqrt(gx * gx + gy * gy)
        vals.append(float(np.percentile(g, 99)) / float(hi - lo) * WORK_PX_PER_MM)
    return float(np.median(vals)) if vals else 0.0


def plan_margins(plan: StrokePlan) -> tuple[float, float, float, float]:
    """The margins (top, right, bottom, left, mm) of the machine a plan was made for
    (``meta["machine"]``), else those around its image box."""
    m = plan.meta.get("machine")
    if isinstance(m, dict):
        cm = m.get("canvas", {})
        if "margins_mm" in cm and len(cm["margins_mm"]) == 4:
            return tuple(float(v) for v in cm["margins_mm"])  # type: ignore[return-value]
    c = plan.canvas
    bx, by, bw, bh = c.image_box_mm
    return (by, c.width_mm - bx - bw, c.height_mm - by - bh, bx)


def register_photo(photo: np.ndarray, plan: StrokePlan, canvas_mm: tuple[float, float] | None = None, margins_mm: tuple[float, float, float, float] | None = None) -> Registration:
    """Register a photo of the canvas a plan is painted on.

    Args:
        photo: uint8 ``(H, W, 3)`` RGB.
        plan: the plan (canvas size, image box and pixel frame).
        canvas_mm, margins_mm: the physical canvas and its margins, for the marker
            layout; default: the plan's canvas and :func:`plan_margins`.

    Returns:
        :class:`Registration`.

    Raises:
        InputError: a dark or blurred photo, fewer than four markers, or markers that
            do not fit the canvas (one line saying what was found and what was expected).
    """
    import time

    t0 = time.perf_counter()
    c = plan.canvas
    cw, ch = canvas_mm or (c.width_mm, c.height_mm)
    layout = _marker_layout(cw, ch, plan_margins(plan) if margins_mm is None else margins_mm)
    photo, gray, level = _checked_photo(photo)
    found = _four_markers(gray)
    h, corner_err = _homography(found, layout, cw, ch)
    lin = srgb_to_linear(photo)  # the photo in linear light
    work, scale_px_per_mm, sharp = _work_canvas(lin, h, layout, cw, ch)
    coef = _fit_lighting(work, _blank_canvas_mask(c, layout, work.shape[:2]), cw, ch)
    flat, norm = _flat_field(work, coef)
    ccm, de_before, de_after, de_loo = _colour_correction(work, flat, norm, layout, c.background)
    canvas = _corrected_picture(lin, h, coef, norm, ccm, c, cw, ch)
    report = {
        "markers_found": sorted(found),
        "corner_error_mm": round(corner_err, 4),
        "photo_px_per_mm": round(scale_px_per_mm, 3),
        "mean_level": round(level, 1),
        "sharpness_per_mm": round(sharp, 3),
        "delta_e2000_before": _mean_max(de_before),
        "delta_e2000_after": _mean_max(de_after),
        "delta_e2000_after_leave_one_out": _mean_max(de_loo),
        "patches": len(layout.patches),
        "time_s": round(time.perf_counter() - t0, 4),
    }
    log.debug("registered: %s", report)
    return Registration(canvas, h, report)


def _mean_max(de: np.ndarray) -> dict[str, float]:
    return {"mean": round(float(de.mean()), 3), "max": round(float(de.max()), 3)}


def _marker_layout(cw: float, ch: float, margins_mm: tuple[float, float, float, float]) -> Layout:
    """Step 0: where the markers and patches are on a ``cw`` x ``ch`` mm canvas."""
    try:
        return canvas_layout(cw, ch, margins_mm)
    except SettingsError as e:
        raise InputError(f"the plan leaves no room for corner markers ({e}); make it for a rig with margins, `paint --machine RIG`") from None


def _checked_photo(photo: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """The photo as an array, its grey image and mean grey level; refuses a photo that
    is not 8-bit RGB or is too dark (:data:`MIN_LEVEL`)."""
    import cv2

    photo = np.asarray(photo)
    if photo.ndim != 3 or photo.shape[2] != 3 or photo.dtype != np.uint8:
        raise InputError(f"the photo must be 8-bit RGB, got an array of shape {photo.shape} and dtype {photo.dtype}")
    gray = cv2.cvtColor(photo, cv2.COLOR_RGB2GRAY)
    level = float(gray.mean())
    if level < MIN_LEVEL:
        raise InputError(f"the photo is too dark: mean level {level:.0f}/255, need at least {MIN_LEVEL:.0f} (more light or a longer exposure)")
    return photo, gray, level


def _four_markers(gray: np.ndarray) -> dict[int, np.ndarray]:
    """Step 1a: the four corner markers (:func:`detect_markers`), or an
    :class:`InputError` naming the ones found (and a hint when the photo looks blurred)."""
    import cv2

    found = detect_markers(gray)
    if len(found) < 4:
        ids = ", ".join(str(i) for i in sorted(found)) or "none"
        sharp = cv2.Laplacian(gray, cv2.CV_64F).var()
        hint = " (the photo looks blurred)" if sharp < 20.0 else ""
        raise InputError(
            f"found {len(found)} of the 4 corner markers (ids: {ids}){hint}; expected ids 0, 1, 2, 3 of {ARUCO_DICT} "
            f"at the canvas corners, as `animatepainter rig markers` prints them"
        )
    return found


def _homography(found: dict[int, np.ndarray], layout: Layout, cw: float, ch: float) -> tuple[np.ndarray, float]:
    """Step 1b: the homography canvas mm -> photo px from the markers' diagonal centres,
    and the corner error (mm) of the sixteen corners it checks against; refuses a
    degenerate view or one that does not fit the canvas (:data:`MAX_CORNER_MM`)."""
    import cv2

    centres_px = np.array([_diagonal_centre(found[i]) for i in MARKER_IDS])
    centres_mm = layout.markers.mean(axis=1)
    h, _ = cv2.findHomography(centres_mm, centres_px, 0)
    if h is None or not np.all(np.isfinite(h)):
        raise InputError("the four markers do not give a usable view of the canvas (they may be in a line)")
    hinv = np.linalg.inv(h)
    errs = []
    for i in MARKER_IDS:
        back = _project(hinv, found[i])  # detected corners in canvas mm
        errs.append(np.linalg.norm(back - layout.markers[MARKER_IDS.index(i)], axis=1))
    corner_err = float(np.max(errs))
    if corner_err > MAX_CORNER_MM:
        raise InputError(
            f"the markers do not fit a {cw:g} x {ch:g} mm canvas with {layout.marker_mm:g} mm markers (a corner is {corner_err:.1f} mm off, "
            f"at most {MAX_CORNER_MM:g} expected); is this a photo of another canvas?"
        )
    return h, corner_err


def _work_canvas(lin: np.ndarray, h: np.ndarray, layout: Layout, cw: float, ch: float) -> tuple[np.ndarray, float, float]:
    """The whole canvas rectified at :data:`WORK_PX_PER_MM`, in linear light (float
    ``(hpx, wpx, 3)``), the photo's scale (px per mm) and the markers' sharpness;
    refuses a photo blurred past :data:`MIN_SHARPNESS`."""
    import cv2

    scale_px_per_mm = float(np.sqrt(abs(np.linalg.det(h[:2, :2] / h[2, 2]))))
    if scale_px_per_mm > WORK_PX_PER_MM:
        lin_small = cv2.GaussianBlur(lin, (0, 0), 0.4 * scale_px_per_mm / WORK_PX_PER_MM)
    else:
        lin_small = lin
    wpx, hpx = int(round(cw * WORK_PX_PER_MM)), int(round(ch * WORK_PX_PER_MM))
    work = _rectify(lin_small, h, 0.0, 0.0, 1.0 / WORK_PX_PER_MM, (wpx, hpx))
    sharp = _sharpness(linear_to_srgb(work).mean(axis=2), layout)
    if sharp < MIN_SHARPNESS:
        raise InputError(f"the photo is too blurred: marker edges rise over {1 / max(sharp, 1e-6):.1f} mm, at most {1 / MIN_SHARPNESS:.1f} mm expected (focus the camera)")
    return work, scale_px_per_mm, sharp


def _blank_canvas_mask(c: Canvas, layout: Layout, shape: tuple[int, int]) -> np.ndarray:
    """bool ``shape = (hpx, wpx)``: the work canvas's blank pixels, outside the image
    box and its spill zone (:data:`SPILL_MM`), clear of markers, patches and the edge."""
    hpx, wpx = shape
    mask = np.ones((hpx, wpx), bool)
    bx, by, bw, bh = c.image_box_mm

    def clear(x, y, w, hh, pad):
        xa, ya = int(np.floor((x - pad) * WORK_PX_PER_MM)), int(np.floor((y - pad) * WORK_PX_PER_MM))
        xb, yb = int(np.ceil((x + w + pad) * WORK_PX_PER_MM)), int(np.ceil((y + hh + pad) * WORK_PX_PER_MM))
        mask[max(ya, 0) : max(yb, 0), max(xa, 0) : max(xb, 0)] = False

    clear(bx, by, bw, bh, SPILL_MM)
    for quad in layout.markers:
        lo, hi = quad.min(axis=0), quad.max(axis=0)
        clear(lo[0], lo[1], hi[0] - lo[0], hi[1] - lo[1], 2.0)
    for x, y, w, hh in layout.patches:
        clear(x, y, w, hh, 2.0)
    edge = int(np.ceil(3.0 * WORK_PX_PER_MM))
    mask[:edge] = mask[-edge:] = False
    mask[:, :edge] = mask[:, -edge:] = False
    return mask


def _flat_field(work: np.ndarray, coef: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Step 2: the work canvas with the lighting divided out, relative to its mean over
    the canvas (``norm``, float ``(3,)``, which the blank canvas then reads as)."""
    hpx, wpx = work.shape[:2]
    gx, gy = np.meshgrid((np.arange(wpx) + 0.5) / wpx, (np.arange(hpx) + 0.5) / hpx)
    field_work = _lighting_at(coef, gx, gy).reshape(hpx, wpx, 3)
    norm = field_work.mean(axis=(0, 1))
    return work / np.maximum(field_work / norm, 1e-3), norm


def _colour_correction(work: np.ndarray, flat: np.ndarray, norm: np.ndarray, layout: Layout, background: Sequence[int]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Step 3: the colour correction matrix (Cheung 2004, 3 terms, linear light) from
    the patches and the background, measured on the flat-fielded canvas (each patch over
    its middle half) against their known colours; and the patches' CIEDE2000 before
    correction, after it, and after it leave-one-out (float ``(P,)`` each)."""
    windows = [
        (slice(int(round((y + 0.25 * hh) * WORK_PX_PER_MM)), int(round((y + 0.75 * hh) * WORK_PX_PER_MM))),
         slice(int(round((x + 0.25 * w) * WORK_PX_PER_MM)), int(round((x + 0.75 * w) * WORK_PX_PER_MM))))
        for x, y, w, hh in layout.patches
    ]

    def read_patches(img: np.ndarray) -> np.ndarray:
        return np.array([np.median(img[win].reshape(-1, 3), axis=0) for win in windows], np.float64).reshape(-1, 3)

    meas_lin = np.vstack([read_patches(flat), norm])  # the blank canvas, flat-fielded, is its mean lighting
    ref8 = layout.patch_rgb.astype(np.float64)
    ref_lin = srgb_to_linear(np.vstack([ref8, np.asarray(background, np.float64)]) / 255.0).astype(np.float64)
    colour = _colour()
    ccm = colour.characterisation.matrix_colour_correction_Cheung2004(meas_lin, ref_lin, terms=3)
    after = meas_lin @ ccm.T
    # leave-one-out: each patch corrected by the fit of the others
    loo = np.empty_like(after)
    for k in range(len(meas_lin)):
        sel = np.arange(len(meas_lin)) != k
        m_k = colour.characterisation.matrix_colour_correction_Cheung2004(meas_lin[sel], ref_lin[sel], terms=3)
        loo[k] = meas_lin[k] @ m_k.T

    def enc(v: np.ndarray) -> np.ndarray:  # linear light -> the 8-bit sRGB a photo holds
        return to_uint8(linear_to_srgb(v))

    ref = layout.patch_rgb
    return ccm, delta_e2000(enc(read_patches(work)), ref), delta_e2000(enc(after[:-1]), ref), delta_e2000(enc(loo[:-1]), ref)


def _corrected_picture(lin: np.ndarray, h: np.ndarray, coef: np.ndarray, norm: np.ndarray, ccm: np.ndarray, c: Canvas, cw: float, ch: float) -> np.ndarray:
    """Step 4: the image box in the plan's pixel frame (uint8 ``(ih, iw, 3)``): 4x
    supersampled, flat-fielded, colour-corrected and sRGB-encoded."""
    bx, by, _, _ = c.image_box_mm
    iw, ih = c.image_px
    mm = c.mm_per_px
    pic = _rectify(lin, h, bx, by, mm, (iw, ih), oversample=4)
    px, py = np.meshgrid((bx + (np.arange(iw) + 0.5) * mm) / cw, (by + (np.arange(ih) + 0.5) * mm) / ch)
    field_pic = _lighting_at(coef, px, py).reshape(ih, iw, 3)
    pic = (pic / np.maximum(field_pic / norm, 1e-3)).reshape(-1, 3) @ ccm.T
    return to_uint8(linear_to_srgb(pic.reshape(ih, iw, 3)))
