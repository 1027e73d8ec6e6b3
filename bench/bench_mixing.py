"""Benchmark of mixing recipes (issue 21): how closely a tube set's recipes reach the
palettes of photographs.

For each of 6 photographs (skimage's astronaut, chelsea, coffee, rocket and camera
(grey), and the bundled landscape), the picture is resized to 128 px on its long side
and its pixels grouped into a 16-paint palette with
``animatepainter.planner.assemble.make_palette`` (k-means in CIELAB, seed 0). Each paint
gets the best recipe of the tube set (at most 3 tubes, whole parts adding up to at most
``--max-parts``). Prints, per picture and over all: the paints in gamut (best recipe
within ``--gamut`` CIEDE2000), the median CIEDE2000 of the in-gamut paints (the goal: at
most 3), the median over all paints, and each out-of-gamut paint with its best recipe
and distance; then the time to mix every recipe of the set once and to find the
recipes of one palette.

Run:  python bench/bench_mixing.py                          # student-acrylic, 8 parts
      python bench/bench_mixing.py --max-parts 12 --tubes my-set.toml
      python bench/bench_mixing.py --json out.json          # every paint and recipe
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np


def _pictures() -> dict[str, np.ndarray]:
    import skimage.data as data

    import animatepainter.planner as pkg
    from animatepainter.planner.images import load_image

    pics = {name: getattr(data, name)() for name in ("astronaut", "chelsea", "coffee", "rocket", "camera")}
    pics["landscape"] = load_image(Path(pkg.__file__).parent / "data" / "examples" / "landscape.png")
    return {k: (np.repeat(v[..., None], 3, axis=2) if v.ndim == 2 else v[..., :3]).astype(np.uint8) for k, v in pics.items()}


def _resize(img: np.ndarray, long_px: int) -> np.ndarray:
    from PIL import Image

    h, w = img.shape[:2]
    s = long_px / max(h, w)
    return np.asarray(Image.fromarray(img).resize((max(1, round(w * s)), max(1, round(h * s))), Image.Resampling.LANCZOS))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--tubes", default="student-acrylic", help="tube set: a bundled name or a TOML file")
    ap.add_argument("--max-parts", type=int, default=None, help="most parts a recipe adds up to (default: the library's)")
    ap.add_argument("--gamut", type=float, default=None, help="CIEDE2000 beyond which a paint is out of gamut (default: the library's)")
    ap.add_argument("--paints", type=int, default=16, help="paints per palette")
    ap.add_argument("--px", type=int, default=128, help="long side of the pictures, px")
    ap.add_argument("--json", type=Path, default=None, help="write every paint and its recipe here")
    args = ap.parse_args()

    from animatepainter.planner import mixing
    from animatepainter.planner.assemble import make_palette
    from animatepainter.planner.colors import hex_rgb

    max_parts = args.max_parts or mixing.DEFAULT_MAX_PARTS
    gamut_de = args.gamut if args.gamut is not None else mixing.GAMUT_DELTA_E
    tubes = mixing.load_tubes(args.tubes)
    t0 = time.perf_counter()
    gamut = mixing.recipe_gamut(tubes, max_parts)
    t_gamut = time.perf_counter() - t0
    print(f"tube set {tubes.name}: {len(tubes)} tubes, {len(gamut)} recipes (<= {mixing.MAX_TUBES} tubes, <= {max_parts} parts), "
          f"model {mixing.MODEL}, mixed in {t_gamut:.2f} s; out of gamut beyond dE2000 {gamut_de:g}")

    rows = []
    t_search = []
    for name, img in _pictures().items():
        small = _resize(img, args.px)
        palette, _ = make_palette(small.reshape(-1, 3), args.paints, seed=0)
        t0 = time.perf_counter()
        recipes = mixing.recipes_for_palette(palette, tubes, max_parts=max_parts, gamut_delta_e=gamut_de)
        t_search.append(time.perf_counter() - t0)
        de = np.array([r.delta_e2000 for r in recipes])
        inside = de[de <= gamut_de]
        print(f"{name:10s} {len(inside):2d}/{len(de)} in gamut, median dE2000 in gamut {np.median(inside) if len(inside) else float('nan'):.2f}, "
              f"all {np.median(de):.2f}, max {de.max():.2f}")
        for r in recipes:
            rows.append({"picture": name, "paint": hex_rgb(r.target), **r.to_json(), "recipe": r.describe()})
            if not r.in_gamut:
                print(f"    out of gamut: {hex_rgb(r.target)} -> {r.describe()} = {hex_rgb(r.rgb)}, dE2000 {r.delta_e2000:.2f}")

    de = np.array([r["delta_e2000"] for r in rows])
    inside = de[np.array([r["in_gamut"] for r in rows])]
    print(f"all {len(de)} paints: {len(inside)} in gamut ({100 * len(inside) / len(de):.0f} %), median dE2000 in gamut {np.median(inside):.2f} "
          f"(goal <= 3), 90th percentile in gamut {np.percentile(inside, 90):.2f}, median of all {np.median(de):.2f}")
    print(f"recipes for a {args.paints}-paint palette: median {1000 * np.median(t_search):.1f} ms (the set's recipes mixed once: {t_gamut:.2f} s)")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1) + "\n")


if __name__ == "__main__":
    main()
