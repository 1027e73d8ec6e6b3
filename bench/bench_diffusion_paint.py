"""`animatepainter paint --engine diffusion` with the bundled diffusers, side by side (issue 15).

Prints, for the bench photographs (skimage's astronaut and chelsea, as in
``bench_paint.py``, plus coffee) resized to ``--size`` (default 256 x 256), one row per
checkpoint (default: the bundled ``small`` and ``tiny``):

  * PSNR / SSIM of the plan's render against the image (report.json's figures),
  * strokes in the plan and the process steps they were extracted from,
  * the process figures (report.json's ``process``): the share of strokes less than
    5 % visible in the end, and of strokes more than 10 and 20 CIEDE2000 from the
    picture's colour under them,
  * wall time of the whole ``paint`` command run in-process (imports excluded) and its
    diffusion (``diffuse_s``) and extraction (``strokes_s``) stages;

then, per photograph, the ``small - tiny`` differences. Same command for every row
(``--strokes`` is the cap, ``--seed 0``, ``-j`` stroke-fitter threads), only ``--ckpt``
changes. With ``--teacher`` the teacher engine's row is added as the reference.

Run:  python bench/bench_diffusion_paint.py [--size 256] [--strokes 2000] [--jobs 1]
      python bench/bench_diffusion_paint.py --ckpt small=PATH --ckpt tiny=PATH2
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

IMAGES = ("astronaut", "chelsea", "coffee")


def _photo(name: str, size: int) -> np.ndarray:
    from skimage import data

    return cv2.resize(getattr(data, name)(), (size, size), interpolation=cv2.INTER_AREA)


def run_paint(src: Path, out: Path, args: argparse.Namespace, extra: list[str]) -> dict:
    """Run ``paint`` in-process; the report plus the command's wall time (s)."""
    from animatepainter.cli import main as cli_main

    cmd = ["-q", "paint", str(src), "-o", str(out), "--size", str(args.size), "--strokes", str(args.strokes), "--seed", "0", "-j", str(args.jobs)] + extra
    t0 = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):  # the command's own summary line
        code = cli_main(cmd)
    wall = time.perf_counter() - t0
    if code != 0:
        sys.exit(f"paint failed with status {code}: {' '.join(cmd)}")
    rep = json.loads((out / "report.json").read_text())
    rep["wall_s"] = wall
    return rep


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", type=int, default=256, help="working size (px)")
    ap.add_argument("--strokes", type=int, default=2000, help="stroke cap (count)")
    ap.add_argument("--jobs", type=int, default=1, help="stroke-fitter threads (count)")
    ap.add_argument("--sample-steps", type=int, default=20, help="denoising steps")
    ap.add_argument("--threads", type=int, default=1, help="torch CPU threads (count)")
    ap.add_argument("--ckpt", action="append", default=None, help="NAME=PATH (repeatable); default: the bundled small and tiny")
    ap.add_argument("--images", default=",".join(IMAGES), help="skimage.data names, comma-separated")
    ap.add_argument("--teacher", action="store_true", help="also the teacher engine's row")
    args = ap.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    from animatepainter.model.generate import default_checkpoint

    ckpts = dict(c.split("=", 1) for c in args.ckpt) if args.ckpt else {"small": str(default_checkpoint("small")), "tiny": str(default_checkpoint("tiny"))}
    names = [n.strip() for n in args.images.split(",") if n.strip()]
    print(f"paint --engine diffusion, {args.size} px, --strokes {args.strokes} (cap), --sample-steps {args.sample_steps}, -j {args.jobs}, torch threads {args.threads}")
    head = "| image | engine / ckpt | PSNR dB | SSIM | strokes | steps | hidden | > 10 dE | > 20 dE | paint s | diffuse s | strokes s |"
    print(head)
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    res: dict[tuple[str, str], dict] = {}
    with tempfile.TemporaryDirectory() as td:
        tmp = Path(td)
        for name in names:
            src = tmp / f"{name}.png"
            Image.fromarray(_photo(name, args.size)).save(src)
            rows = [(f"diffusion / {k}", ["--engine", "diffusion", "--ckpt", v, "--sample-steps", str(args.sample_steps)]) for k, v in ckpts.items()]
            if args.teacher:
                rows.append(("teacher", ["--engine", "teacher"]))
            for label, extra in rows:
                rep = run_paint(src, tmp / f"{name}-{label.replace(' / ', '-')}", args, extra)
                res[(name, label)] = rep
                w = rep.get("wall_time_s", {})
                pr = rep.get("process", {})
                ce = pr.get("colour_error", {})
                print(
                    f"| {name} | {label} | {rep['psnr_db']:.2f} | {rep['ssim']:.3f} | {rep['strokes']} | {rep['steps']} "
                    f"| {pr.get('hidden_share', float('nan')):.3f} | {ce.get('share_above_10', float('nan')):.3f} | {ce.get('share_above_20', float('nan')):.3f} | {rep['wall_s']:.1f} "
                    f"| {w.get('diffuse_s', float('nan')):.2f} | {w.get('strokes_s', float('nan')):.1f} |",
                    flush=True,
                )
    keys = list(ckpts)
    if len(keys) >= 2:
        a, b = keys[0], keys[1]
        print(f"\n{a} - {b}:")
        for name in names:
            ra, rb = res[(name, f"diffusion / {a}")], res[(name, f"diffusion / {b}")]
            print(f"  {name}: PSNR {ra['psnr_db'] - rb['psnr_db']:+.2f} dB, strokes {ra['strokes'] - rb['strokes']:+d}, time {ra['wall_s'] - rb['wall_s']:+.1f} s")
        mean = {k: float(np.mean([res[(n, f'diffusion / {k}')]['psnr_db'] for n in names])) for k in (a, b)}
        print(f"  mean PSNR: {a} {mean[a]:.2f} dB, {b} {mean[b]:.2f} dB")


if __name__ == "__main__":
    main()
