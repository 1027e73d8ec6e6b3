"""Regenerate the bundled example image (planner/data/examples/landscape.png).

It is a procedural scene made by this project (animatepainter.planner.scenes), so it
carries no third-party rights. Run from the repository root:

    python scripts/make_example_image.py
"""

from pathlib import Path

import numpy as np

from animatepainter.export.video import write_png
from animatepainter.planner.scenes import make_scene

HERE = Path(__file__).resolve().parents[1] / "planner" / "data" / "examples"

if __name__ == "__main__":
    scene = make_scene(384, 512, seed=7)
    write_png(scene.image, HERE / "landscape.png")
    np.save(HERE / "landscape_depth.npy", scene.depth)  # not packaged; for trying --depth
    print(f"wrote {HERE / 'landscape.png'}")
