#!/usr/bin/env bash
# Byte-identity check for refactors and speed work: makes a fixed set of plans and exports
# (teacher, extractor, three machines) with the installed `animatepainter` and prints the
# SHA-256 of each file. Run it before and after a change and compare the two listings:
#   scripts/plan_hashes.sh /tmp/before > before.txt; ...; scripts/plan_hashes.sh /tmp/after > after.txt
#   diff before.txt after.txt
set -euo pipefail
out=${1:?usage: plan_hashes.sh OUTDIR}
ap=${AP:-animatepainter}
ex=planner/data/examples/landscape.png
# outside a checkout: the same picture as installed with the package (package data)
[ -f "$ex" ] || ex=$(python -c 'import pathlib, animatepainter.planner as p; print(pathlib.Path(p.__file__).parent / "data" / "examples" / "landscape.png")')
rm -rf "$out"; mkdir -p "$out/frames"
astro=$out/astronaut.png
python - "$astro" <<'PY'
import sys
from PIL import Image
from skimage import data
Image.fromarray(data.astronaut()).save(sys.argv[1])
PY
$ap -q paint "$ex" -o "$out/teacher" --video-px 64 >/dev/null
$ap -q paint "$astro" -o "$out/astro" --strokes 800 --seed 7 --video-px 64 >/dev/null
for m in pen-plotter servo-plotter painting-arm; do
  $ap -q paint "$ex" -o "$out/$m" --machine "$m" --strokes 600 --video-px 64 >/dev/null
  $ap -q export gcode "$out/$m/plan.json" --machine "$m" -o "$out/$m/plan.gcode" >/dev/null
done
# the extractor on the teacher's process, rendered step by step
python - "$out/teacher/plan.json" "$out/frames" <<'PY'
import sys
from pathlib import Path
from PIL import Image
from animatepainter.planner import load_plan
from animatepainter.planner.render import render_steps
for i, (_, f) in enumerate(render_steps(load_plan(sys.argv[1]))):
    Image.fromarray(f).save(Path(sys.argv[2]) / f"{i:03d}.png")
PY
$ap -q extract "$out/frames" -o "$out/extract" --depth-backend prior --video-px 64 >/dev/null
cd "$out"
sha256sum */plan.json */plan.svg */plan.gcode | sort -k2
