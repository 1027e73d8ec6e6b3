"""Sub-pixel refinement of a stroke's path against an anti-aliased target.

A candidate path comes from a polygon traced along whole pixels, so its edges sit
up to half a pixel from the anti-aliased edges the frames show. This module moves
the path's vertices by fractions of a pixel to lower the exact squared error of
painting it (the package's coverage model, :mod:`animatepainter.planner.render`):

* coverage is ``a = clip(w/2 + 0.5 - d, 0, 1)`` with ``d`` the distance from a pixel
  centre to the nearest segment, so ``a`` depends on the vertices only through the
  pixels of the anti-aliased band (``0 < a < 1``), where ``da/dd = -1``; for a pixel
  whose nearest point on segment ``A -> B`` is ``q = A + u (B - A)``,
  ``dd/dA = -(1 - u) e / d`` and ``dd/dB = -u e / d`` with ``e = p - q``;
* the error of painting colour ``k`` over canvas ``c`` toward target ``t`` is
  ``E = sum |c + a (k - c) - t|^2``; ``k`` is the closed-form best colour, so (by the
  envelope theorem) ``dE/dv`` needs no derivative of ``k``;
* each vertex takes a damped Gauss-Newton step from its own 2 x 2 system
  (``dE/da = 2 (k - c).(c + a (k - c) - t)``, curvature ``2 |k - c|^2``), at most
  :data:`MAX_STEP` px; the step is kept only if the exact score (a fresh render of
  the coverage and the best colour) improves, else it is halved once.

A closed ring (first point = last point) keeps its seam closed. Everything is
vectorised over pixels; the loop runs over a few iterations only.

Why by hand: the renderer's coverage model is the package's own (no library
differentiates it), and the fitter needs its exact error, not a smooth stand-in.
"""

from __future__ import annotations

import numpy as np

from animatepainter.planner.render import stroke_bbox

__all__ = ["nearest_segment", "refine_path", "MAX_STEP"]

#: largest move of a vertex in one iteration, px
MAX_STEP = 0.5


def _seg_fields(a: np.ndarray, b: np.ndarray, px: np.ndarray, py: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Squared distance, position ``u`` and offset ``e = p - q`` of pixel centres
    ``px`` (w,) x ``py`` (h,) to segments ``a -> b`` (float32 ``(s, 2)`` each);
    arrays ``(s, h, w)``."""
    ab = b - a
    l2 = (ab * ab).sum(axis=1)
    inv = np.where(l2 > 1e-12, 1.0 / np.maximum(l2, 1e-12), 0.0).astype(np.float32)
    dx = px[None, None, :] - a[:, 0, None, None]
    dy = py[None, :, None] - a[:, 1, None, None]
    t = np.clip((dx * ab[:, 0, None, None] + dy * ab[:, 1, None, None]) * inv[:, None, None], 0.0, 1.0)
    qx = dx - t * ab[:, 0, None, None]
    qy = dy - t * ab[:, 1, None, None]
    return qx * qx + qy * qy, t, qx, qy


def nearest_segment(points: np.ndarray, width: float, box: tuple[int, int, int, int]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """For each pixel centre of ``box``: the nearest segment of a polyline and where on it.

    Args:
        points: float ``(n, 2)`` ``(x, y)`` px, ``n >= 1`` (a single point is a
            zero-length segment).
        width: brush width, px: pixels farther than ``width / 2 + 1`` from a
            segment need not see it (long paths are evaluated per segment box).
        box: ``(y0, y1, x0, x1)`` non-empty half-open pixel box.

    Returns:
        ``(d2, seg, u, e)``: float32 ``(h, w)`` squared distance px^2 (``inf`` where
        no segment is near), int32 ``(h, w)`` segment index, float32 ``(h, w)``
        position ``u`` in [0, 1] along it, and float32 ``(h, w, 2)`` vector
        ``e = p - q`` from the nearest point to the pixel centre, px.
    """
    y0, y1, x0, x1 = box
    pts = np.asarray(points, np.float32)
    if len(pts) == 1:
        pts = np.concatenate([pts, pts])
    h, w = y1 - y0, x1 - x0
    px = np.arange(x0, x1, dtype=np.float32) + np.float32(0.5)
    py = np.arange(y0, y1, dtype=np.float32) + np.float32(0.5)
    nseg = len(pts) - 1
    if nseg * h * w <= 300_000:
        dd, t, qx, qy = _seg_fields(pts[:-1], pts[1:], px, py)
        k = dd.argmin(axis=0)[None]
        pick = lambda arr: np.take_along_axis(arr, k, 0)[0]  # noqa: E731
        return pick(dd), k[0].astype(np.int32), pick(t), np.stack([pick(qx), pick(qy)], axis=-1)
    d2 = np.full((h, w), np.inf, np.float32)
    seg = np.zeros((h, w), np.int32)
    u = np.zeros((h, w), np.float32)
    e = np.zeros((h, w, 2), np.float32)
    for i in range(nseg):
        sy0, sy1, sx0, sx1 = stroke_bbox(pts[i : i + 2].astype(np.float64), width, (y1, x1))
        sy0, sx0 = max(sy0, y0), max(sx0, x0)
        if sy1 <= sy0 or sx1 <= sx0:
            continue
        dd, t, qx, qy = _seg_fields(pts[i : i + 1], pts[i + 1 : i + 2], px[sx0 - x0 : sx1 - x0], py[sy0 - y0 : sy1 - y0])
        sl = (slice(sy0 - y0, sy1 - y0), slice(sx0 - x0, sx1 - x0))
        better = dd[0] < d2[sl]
        d2[sl][better] = dd[0][better]
        seg[sl][better] = i
        u[sl][better] = t[0][better]
        e[sl][better] = np.stack([qx[0], qy[0]], axis=-1)[better]
    return d2, seg, u, e


def refine_path(
    points: np.ndarray,
    width: float,
    canvas: np.ndarray,
    target: np.ndarray,
    gain: float,
    rgb: np.ndarray,
    iters: int = 3,
) -> tuple[np.ndarray, float, np.ndarray]:
    """Move a path's vertices by fractions of a pixel to remove more error (module doc).

    Args:
        points: float ``(n, 2)`` ``(x, y)`` px, the path as proposed.
        width: brush width, px.
        canvas: float32 ``(H, W, 3)`` in [0, 1], the canvas the stroke is painted on
            (not modified).
        target: float32 ``(H, W, 3)`` in [0, 1].
        gain: the error the path removes as proposed (sum of squared differences).
        rgb: uint8 ``(3,)`` its best colour as proposed.
        iters: most Gauss-Newton iterations.

    Returns:
        ``(points, gain, rgb)``: float64 ``(n, 2)``, the error removed and the best
        colour of the refined path; the input itself when no move helped.
    """
    from animatepainter.planner.extract.fitstep import path_coverage, score_stroke

    pts = np.asarray(points, np.float64).copy()
    n = len(pts)
    closed = n > 2 and bool(np.allclose(pts[0], pts[-1]))
    shape = canvas.shape[:2]
    half = np.float32(width / 2.0 + 0.5)
    for _ in range(iters):
        box = stroke_bbox(pts, width + 2.0 * MAX_STEP, shape)
        y0, y1, x0, x1 = box
        if y1 <= y0 or x1 <= x0:
            break
        d2, seg, u, e = nearest_segment(pts, width + 2.0 * MAX_STEP, box)
        d = np.sqrt(d2)
        a = half - d
        band = (a > 0) & (a < 1) & (d > 1e-6)
        if not band.any():
            break
        c = canvas[y0:y1, x0:x1][band]
        kc = rgb.astype(np.float32) / np.float32(255.0) - c  # (m, 3)
        r = c + a[band][:, None] * kc - target[y0:y1, x0:x1][band]
        g = 2.0 * (kc * r).sum(axis=1)  # dE/da
        hc = 2.0 * (kc * kc).sum(axis=1)  # Gauss-Newton curvature of E in a
        ev = e[band] / d[band][:, None]  # da/dA = (1 - u) ev, da/dB = u ev
        uu = u[band]
        sg = seg[band]
        verts = np.minimum(np.concatenate([sg, sg + 1]), n - 1)
        jac = np.concatenate([(1.0 - uu)[:, None] * ev, uu[:, None] * ev])  # (2m, 2)
        gg = np.concatenate([g, g])
        hh = np.concatenate([hc, hc])
        sums = [np.bincount(verts, weights=wt, minlength=n) for wt in (gg * jac[:, 0], gg * jac[:, 1], hh * jac[:, 0] ** 2, hh * jac[:, 0] * jac[:, 1], hh * jac[:, 1] ** 2)]
        gx, gy, hxx, hxy, hyy = sums
        if closed:
            for arr in sums:
                arr[0] += arr[-1]
                arr[-1] = arr[0]
        lam = 1e-6 + 0.05 * (hxx + hyy)
        det = (hxx + lam) * (hyy + lam) - hxy * hxy
        ok = det > 1e-12
        dx = np.where(ok, -((hyy + lam) * gx - hxy * gy) / np.where(ok, det, 1.0), 0.0)
        dy = np.where(ok, -((hxx + lam) * gy - hxy * gx) / np.where(ok, det, 1.0), 0.0)
        step = np.stack([dx, dy], axis=1)
        norm = np.hypot(dx, dy)
        step *= np.minimum(1.0, MAX_STEP / np.maximum(norm, 1e-12))[:, None]
        if float(norm.max(initial=0.0)) < 0.02:
            break
        moved = False
        for f in (1.0, 0.5):
            new = pts + f * step
            nbox, alpha = path_coverage(new, width, shape)
            ng, nrgb = score_stroke(canvas, target, nbox, alpha)
            if ng > gain * (1.0 + 1e-4) + 1e-6:
                pts, gain, rgb, moved = new, ng, nrgb, True
                break
        if not moved:
            break
    return pts, gain, rgb
