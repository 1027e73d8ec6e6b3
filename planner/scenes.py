"""Procedural landscapes with exact ground-truth depth.

Each scene is painted back to front with a depth buffer: a sky (farthest), two to
four ranges of hills whose colours fade toward the sky with distance (aerial
perspective), a ground plane whose depth grows toward the viewer, and objects (trees,
rocks, houses) standing on the ground, sized by their distance. Colours, ridge lines,
textures and object placement are drawn from a seeded generator, so a seed names a
scene exactly.

Used to measure depth backends (Spearman correlation against the true depth), as
self-supervised training data with exact depth, and to make the bundled example
image.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

__all__ = ["Scene", "make_scene"]


@dataclass(frozen=True)
class Scene:
    """A procedural scene.

    Attributes:
        image: uint8 ``(H, W, 3)`` RGB.
        depth: float32 ``(H, W)`` nearness in ``[0, 1]``: 0 = the sky (farthest),
            1 = the nearest point of the scene.
        seed: the seed that made it.
    """

    image: np.ndarray
    depth: np.ndarray
    seed: int


def _noise(rng: np.random.Generator, h: int, w: int, cells: int, octaves: int = 3) -> np.ndarray:
    """Smooth value noise in ``[0, 1]``, float32 ``(h, w)``, summed over octaves."""
    out = np.zeros((h, w), np.float32)
    amp, total = 1.0, 0.0
    for o in range(octaves):
        c = cells * (2**o)
        grid = rng.random((c + 1, c + 1)).astype(np.float32)
        out += amp * cv2.resize(grid, (w, h), interpolation=cv2.INTER_CUBIC)
        total += amp
        amp *= 0.5
    out /= total
    lo, hi = float(out.min()), float(out.max())
    return (out - lo) / max(hi - lo, 1e-6)


def _hsv(h: float, s: float, v: float) -> np.ndarray:
    px = np.uint8([[[int(h * 179) % 180, int(s * 255), int(v * 255)]]])
    return cv2.cvtColor(px, cv2.COLOR_HSV2RGB)[0, 0].astype(np.float32) / 255.0


def _ridge(rng: np.random.Generator, w: int, base: float, amp: float) -> np.ndarray:
    x = np.linspace(0, 1, w, dtype=np.float32)
    y = np.full(w, base, np.float32)
    for k in range(1, 5):
        y += amp / k * np.sin(2 * np.pi * (k * rng.uniform(0.5, 1.5) * x + rng.random())).astype(np.float32)
    return y


def make_scene(height: int = 256, width: int = 256, seed: int = 0) -> Scene:
    """Make a procedural landscape and its exact depth.

    Args:
        height, width: size in pixels (>= 16 each).
        seed: seed of every random choice.

    Returns:
        :class:`Scene` with ``image`` uint8 ``(height, width, 3)`` and ``depth`` float32
        ``(height, width)`` (1 = nearest).
    """
    if height < 16 or width < 16:
        raise ValueError("scenes need at least 16x16 pixels")
    rng = np.random.default_rng(seed)
    h, w = height, width
    yy = np.linspace(0.0, 1.0, h, dtype=np.float32)[:, None]
    img = np.zeros((h, w, 3), np.float32)
    depth = np.zeros((h, w), np.float32)

    # -- sky: gradient, optional sun, soft clouds ----------------------------------
    hue = rng.uniform(0.52, 0.68) if rng.random() < 0.75 else rng.uniform(0.0, 0.12)
    top = _hsv(hue, rng.uniform(0.4, 0.8), rng.uniform(0.6, 0.9))
    low = _hsv(hue + rng.uniform(-0.08, 0.08), rng.uniform(0.05, 0.3), rng.uniform(0.85, 1.0))
    img[:] = top * (1 - yy[..., None]) + low * yy[..., None]
    clouds = _noise(rng, h, w, 3, 4)
    cloud_amt = np.clip((clouds - rng.uniform(0.5, 0.7)) * 3.0, 0, 1)[..., None] * (1 - yy[..., None])
    img = img * (1 - cloud_amt) + np.float32(0.97) * cloud_amt
    if rng.random() < 0.5:
        cx, cy, r = rng.uniform(0.15, 0.85) * w, rng.uniform(0.08, 0.3) * h, rng.uniform(0.04, 0.08) * min(h, w)
        sun = np.zeros((h, w), np.float32)
        cv2.circle(sun, (int(cx), int(cy)), int(r), 1.0, -1, cv2.LINE_AA)
        img = img * (1 - sun[..., None]) + _hsv(rng.uniform(0.1, 0.16), 0.5, 1.0) * sun[..., None]
    sky_color = low

    # -- hill ranges, far to near ---------------------------------------------------
    horizon = rng.uniform(0.4, 0.6)
    n_hills = int(rng.integers(2, 5))
    for i in range(n_hills):
        f = (i + 1) / (n_hills + 1)  # 0 far .. 1 near
        base = horizon - 0.25 + 0.22 * f + rng.uniform(-0.03, 0.03)
        ridge = _ridge(rng, w, base, rng.uniform(0.02, 0.08)) * h
        mask = yy * h >= ridge[None, :]
        near = 0.08 + 0.32 * f  # depth of the range
        col = _hsv(rng.uniform(0.2, 0.45) if rng.random() < 0.7 else rng.uniform(0.05, 0.12), rng.uniform(0.3, 0.7), rng.uniform(0.3, 0.7))
        haze = 0.75 * (1 - f)
        col = col * (1 - haze) + sky_color * haze
        tex = _noise(rng, h, w, 8 + 4 * i, 3)[..., None]
        shade = (0.85 + 0.3 * tex) * (1.0 - 0.15 * (yy[..., None] - ridge[None, :, None] / h))
        layer = np.clip(col * shade, 0, 1)
        d = near + 0.04 * np.clip(yy - ridge[None, :] / h, 0, 1)
        upd = mask & (d > depth)
        img[upd] = layer[upd]
        depth[upd] = d[upd]

    # -- ground plane --------------------------------------------------------------
    ground_top = horizon + rng.uniform(0.05, 0.12)
    gmask = np.broadcast_to(yy >= ground_top, (h, w))
    gd = 0.45 + 0.55 * np.clip((yy - ground_top) / max(1 - ground_top, 1e-3), 0, 1)
    gd = np.broadcast_to(gd, (h, w))
    gcol = _hsv(rng.uniform(0.15, 0.35), rng.uniform(0.35, 0.75), rng.uniform(0.35, 0.7))
    gtex = _noise(rng, h, w, 16, 3)[..., None]
    stripes = 0.08 * np.sin(yy * h * rng.uniform(0.2, 0.5) + 4 * gtex[..., 0])[..., None]
    glayer = np.clip(gcol * (0.8 + 0.35 * gtex) + stripes, 0, 1)
    upd = gmask & (gd > depth)
    img[upd] = glayer[upd]
    depth[upd] = gd[upd]

    # -- objects on the ground, far to near ----------------------------------------
    n_obj = int(rng.integers(3, 9))
    bases = np.sort(rng.uniform(ground_top + 0.02, 1.02, n_obj))
    for by in bases:
        nd = float(0.45 + 0.55 * np.clip((by - ground_top) / max(1 - ground_top, 1e-3), 0, 1))
        scale = (0.08 + 0.25 * (nd - 0.45) / 0.55) * h
        cx = rng.uniform(0.05, 0.95) * w
        m = np.zeros((h, w), np.uint8)
        kind = rng.choice(["tree", "rock", "house"], p=[0.5, 0.25, 0.25])
        base_px = int(by * h)
        colour_map = np.zeros((h, w, 3), np.float32)
        if kind == "tree":
            tw, th = max(int(scale * 0.12), 1), int(scale * 0.6)
            trunk = _hsv(0.07, 0.6, rng.uniform(0.25, 0.4))
            cv2.rectangle(m, (int(cx - tw), base_px - th), (int(cx + tw), base_px), 1, -1)
            colour_map[m > 0] = trunk
            m2 = np.zeros_like(m)
            crown = _hsv(rng.uniform(0.22, 0.4), rng.uniform(0.5, 0.85), rng.uniform(0.25, 0.55))
            if rng.random() < 0.5:
                cv2.circle(m2, (int(cx), base_px - th - int(scale * 0.25)), int(scale * 0.4), 1, -1, cv2.LINE_AA)
            else:
                pts = np.array([[cx - scale * 0.35, base_px - th * 0.6], [cx + scale * 0.35, base_px - th * 0.6], [cx, base_px - th - scale * 0.7]], np.int32)
                cv2.fillPoly(m2, [pts], 1)
            ctex = _noise(rng, h, w, 24, 2)[..., None]
            colour_map[m2 > 0] = np.clip(crown * (0.75 + 0.5 * ctex), 0, 1)[m2 > 0]
            m |= m2
        elif kind == "rock":
            col = _hsv(rng.uniform(0.0, 1.0), rng.uniform(0.0, 0.2), rng.uniform(0.35, 0.7))
            cv2.ellipse(m, (int(cx), base_px), (int(scale * 0.45), int(scale * 0.28)), 0, 180, 360, 1, -1)
            rtex = _noise(rng, h, w, 20, 2)[..., None]
            colour_map[m > 0] = np.clip(col * (0.7 + 0.5 * rtex), 0, 1)[m > 0]
        else:
            bw, bh = int(scale * 0.45), int(scale * 0.4)
            wall = _hsv(rng.uniform(0.0, 0.15), rng.uniform(0.1, 0.5), rng.uniform(0.6, 0.95))
            roof = _hsv(rng.uniform(0.95, 1.05) % 1.0, rng.uniform(0.5, 0.8), rng.uniform(0.35, 0.6))
            cv2.rectangle(m, (int(cx - bw), base_px - bh), (int(cx + bw), base_px), 1, -1)
            colour_map[m > 0] = wall
            m2 = np.zeros_like(m)
            pts = np.array([[cx - bw * 1.15, base_px - bh], [cx + bw * 1.15, base_px - bh], [cx, base_px - bh - scale * 0.35]], np.int32)
            cv2.fillPoly(m2, [pts], 1)
            colour_map[m2 > 0] = roof
            m |= m2
            door = np.zeros_like(m)
            cv2.rectangle(door, (int(cx - bw * 0.2), base_px - int(bh * 0.55)), (int(cx + bw * 0.2), base_px), 1, -1)
            colour_map[door > 0] = roof * 0.6
        sel = (m > 0) & (nd > depth)
        # an object is nearly fronto-parallel: constant depth slightly above its base's
        img[sel] = colour_map[sel]
        depth[sel] = nd

    image = np.clip(np.rint(img * 255.0), 0, 255).astype(np.uint8)
    return Scene(image=image, depth=np.clip(depth, 0, 1).astype(np.float32), seed=seed)
