#!/usr/bin/env bash
# The GPU check (docs/model.md, "GPU"): one command, at most 10 minutes of wall time, that
# runs bench/bench_gpu.py on a CUDA machine and leaves everything under $OUT (default
# ./gpu_out): report.json, bench_gpu.log, loss.csv, loss.png and the trained checkpoint as
# ckpt.tar.NN parts.
#
#   bash scripts/gpu_check.sh [bench_gpu.py options, e.g. --budget-s 400]
#
# Packages the machine lacks travel as wheels inside the checkout, in .whl/ (ignored by
# git, so name it in the device call's carry) or shared/wheels/; they are installed here
# with pip --no-index into a temp folder (the machine reaches no package registry). The
# package itself is used from this checkout without installing it.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-python3}"
OUT="${OUT:-$PWD/gpu_out}"
mkdir -p "$OUT"
export OUT PYTHONUNBUFFERED=1

site=/tmp/animatepainter-wheels
for d in .whl shared/wheels; do
    if compgen -G "$d/*.whl" >/dev/null; then
        "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$site" "$d"/*.whl
        export PYTHONPATH="$site${PYTHONPATH:+:$PYTHONPATH}"
    fi
done
# animatepainter.{planner,model,export,cli} from the checkout's folders (see pyproject.toml)
if ! "$PY" -c "import animatepainter.model" 2>/dev/null; then
    shim=/tmp/animatepainter-src/animatepainter
    mkdir -p "$shim"
    for n in planner model export cli; do ln -sfn "$PWD/$n" "$shim/$n"; done
    export PYTHONPATH="/tmp/animatepainter-src${PYTHONPATH:+:$PYTHONPATH}"
fi
missing=$("$PY" - <<'EOF'
import importlib.util
need = ("torch", "diffusers", "accelerate", "numba", "skimage", "cv2", "scipy", "shapely", "webdataset", "onnx", "onnxruntime", "safetensors")
print(" ".join(n for n in need if importlib.util.find_spec(n) is None))
EOF
)
if [ -n "$missing" ]; then
    echo "error: missing Python packages: $missing (carry their wheels in .whl/, see docs/model.md, GPU)" >&2
    exit 2
fi
# the bench plans for 450 s (--budget-s) and is stopped at 540 s; the rest of the 10 minutes
# is for the wheels, the imports and the copy back
timeout 540 "$PY" bench/bench_gpu.py --device cuda --out "$OUT" "$@" 2>&1 | tee "$OUT/bench_gpu.log"
