"""Benchmark of the diffuser's onnxruntime backend (issue 6).

Prints, in one run, for one model (random weights of a config, or ``--ckpt``):
  * denoiser latency (one ``denoiser.onnx`` / ``ProcessDenoiser.forward`` call, batch 1,
    all frames; median over ``--repeats`` calls after warm-up, in alternating blocks per
    backend so that load from other processes hits them alike);
  * full sampling time (the pipeline's loop, ``--steps`` steps, median of 5 runs, the
    backends alternating);
  * the speed-up over PyTorch eager and the max |backend - PyTorch| of the denoiser
    output and of the sampled frames (same seed).

CPU (default): PyTorch eager vs onnxruntime CPU, same thread count for both; the goal
is onnxruntime >= 1.5x faster. ``--device cuda``: PyTorch CUDA (fp32) vs onnxruntime
CUDA (fp32 graph) vs onnxruntime TensorRT (fp16 engines from the fp32 graph, cached in
``--trt-cache``); a provider that this onnxruntime build lacks, or that fails to start,
is reported in its row and the run goes on.

Run:  python bench/bench_onnx.py [--config tiny] [--steps 20] [--threads N]
      python bench/bench_onnx.py --device cuda [--config base]

Works from an installed package or straight from a source checkout.
"""

from __future__ import annotations

import argparse
import logging
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Optional

import numpy as np


def _import_package() -> None:
    """Make ``animatepainter`` importable from an uninstalled source checkout (the
    folders planner/, model/, export/ are installed under it; see pyproject.toml)."""
    try:
        import animatepainter.planner  # noqa: F401
    except ImportError:
        root = Path(__file__).resolve().parents[1]
        shim = Path(tempfile.mkdtemp(prefix="animatepainter-src-")) / "animatepainter"
        shim.mkdir()
        for name in ("planner", "model", "export"):
            (shim / name).symlink_to(root / name, target_is_directory=True)
        sys.path.insert(0, str(shim.parent))


_import_package()

import torch  # noqa: E402

from animatepainter.export.onnx_export import export_onnx  # noqa: E402
from animatepainter.export.ort_runtime import OrtDenoiser, available_providers  # noqa: E402
from animatepainter.model.pipeline import AnimatePainterPipeline, load_pipeline, save_pipeline  # noqa: E402
from animatepainter.planner.errors import AnimatePainterError  # noqa: E402

log = logging.getLogger("bench_onnx")


def _sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def _blocks(fns: dict[str, Callable[[], Any]], repeats: int, warmup: int, device: str, rounds: int = 3) -> dict[str, float]:
    """Median seconds per call of each function.

    Each function runs in blocks of calls of its own (warm-up first), and the blocks
    alternate between functions over ``rounds`` rounds: load from other processes
    hits the backends alike, while one backend's idle worker threads (onnxruntime's
    and OpenMP's spin-waits) never overlap another backend's call, as they would if
    single calls were interleaved on a machine with few cores.
    """
    times: dict[str, list[float]] = {k: [] for k in fns}
    per_round = max(repeats // rounds, 1)
    for _ in range(rounds):
        for k, f in fns.items():
            for _ in range(warmup):
                f()
            _sync(device)
            for _ in range(per_round):
                t = time.perf_counter()
                f()
                _sync(device)
                times[k].append(time.perf_counter() - t)
    return {k: statistics.median(v) for k, v in times.items()}


def _model(args: argparse.Namespace, work: Path) -> Path:
    """The checkpoint to benchmark: ``--ckpt``, or random weights of ``--config``."""
    if args.ckpt:
        return Path(args.ckpt)
    pipe = AnimatePainterPipeline.from_model_config(args.config, seed=0)
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():  # the output head starts at zero; give every weight a value
        for p in pipe.unet.parameters():
            p.add_(torch.randn(p.shape, generator=g) * 0.02)
    return save_pipeline(pipe, work / "ckpt")


def main(argv: Optional[list[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    ap.add_argument("--config", default=None, help="model config (default: tiny on cpu, base on cuda)")
    ap.add_argument("--ckpt", default=None, help="benchmark this checkpoint instead of random weights of --config")
    ap.add_argument("--steps", type=int, default=20, help="sampling steps (count)")
    ap.add_argument("--repeats", type=int, default=None, help="timed denoiser calls per backend (default 30 cpu, 50 cuda)")
    ap.add_argument("--threads", type=int, default=None, help="CPU threads for both backends (default: the CPUs this process may use)")
    ap.add_argument("--trt-cache", default=None, help="TensorRT engine cache folder (default: a temp folder, so the build time is measured)")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    dev = args.device
    if dev == "cuda" and not torch.cuda.is_available():
        print("error: --device cuda: torch sees no CUDA GPU here", file=sys.stderr)
        return 2
    args.config = args.config or ("tiny" if dev == "cpu" else "base")
    repeats = args.repeats or (30 if dev == "cpu" else 50)
    threads = args.threads or len(os.sched_getaffinity(0))
    torch.set_num_threads(threads)

    import onnxruntime

    with tempfile.TemporaryDirectory(prefix="bench-onnx-") as tmp:
        work = Path(tmp)
        ck = _model(args, work)
        t = time.perf_counter()
        export_onnx(ck, work / "onnx")
        t_export = time.perf_counter() - t
        pipe = load_pipeline(ck, device=dev)
        den = pipe.denoiser.eval()
        r, frames = pipe.config.resolution, pipe.config.num_frames
        print(f"model {pipe.config.model_name}: {frames} frames of {r}x{r} px, UNet grid {pipe.latent_size}x{pipe.latent_size}x{pipe.space.channels}, "
              f"{sum(p.numel() for p in pipe.unet.parameters()) / 1e6:.2f} M UNet parameters; export {t_export:.1f} s")
        print(f"torch {torch.__version__}, onnxruntime {onnxruntime.__version__} (providers: {', '.join(available_providers())}), "
              f"{platform.processor() or platform.machine()}, {threads} CPU threads"
              + (f", GPU {torch.cuda.get_device_name()}" if dev == "cuda" else ""))

        g = torch.Generator().manual_seed(0)
        img = (torch.rand(1, 3, r, r, generator=g) * 2 - 1).to(dev)
        dep = torch.rand(1, 1, r, r, generator=g).to(dev)
        lat = pipe.space.encode(img)
        sample = torch.randn(1, frames, pipe.space.channels, pipe.latent_size, pipe.latent_size, generator=g).to(dev)
        ts = torch.tensor([500], device=dev)
        img_np = (torch.rand(r, r, 3, generator=g).numpy() * 255).astype(np.uint8)
        dep_np = torch.rand(r, r, generator=g).numpy()
        with torch.no_grad():
            cond = den.condition(img, lat, dep)
            ref = den(sample, ts, cond)

        rows: list[tuple[str, Any]] = []  # (name, OrtDenoiser | None | error message)
        rows.append(("PyTorch eager " + dev.upper(), None))
        if dev == "cpu":
            variants = [("onnxruntime CPU", dict(provider="cpu", threads=threads))]
        else:
            cache = Path(args.trt_cache) if args.trt_cache else work / "trt-cache"
            variants = [
                ("onnxruntime CUDA", dict(provider="cuda")),
                ("onnxruntime TensorRT fp16", dict(provider="tensorrt", trt_fp16=True, trt_cache=cache)),
            ]
        starts: dict[str, float] = {}
        for name, kw in variants:
            t = time.perf_counter()
            try:
                o = OrtDenoiser(work / "onnx", **kw)
                oc = o.condition(img, lat, dep)
                o(sample, ts, oc)  # TensorRT builds its engines at the first run
                _sync(dev)
                starts[name] = time.perf_counter() - t
                rows.append((name, (o, oc)))
            except (AnimatePainterError, RuntimeError, OSError) as e:
                rows.append((name, f"unavailable: {' '.join(str(e).split())[:150]}"))

        calls: dict[str, Callable[[], Any]] = {}
        for name, v in rows:
            if v is None:
                calls[name] = lambda: den(sample, ts, cond)
            elif not isinstance(v, str):
                calls[name] = (lambda o, oc: (lambda: o(sample, ts, oc)))(*v)
        with torch.no_grad():
            lat_s = _blocks(calls, repeats, warmup=3, device=dev)
            diffs: dict[str, float] = {}
            for name, v in rows:
                if v is not None and not isinstance(v, str):
                    diffs[name] = float((v[0](sample, ts, v[1]) - ref).abs().max())
            samp: dict[str, float] = {}
            fdiff: dict[str, float] = {}
            base_frames = pipe(img_np, dep_np, num_inference_steps=args.steps, seed=0).frames
            runs = {name: (None if v is None else v[0]) for name, v in rows if not isinstance(v, str)}
            ts_: dict[str, list[float]] = {name: [] for name in runs}
            for _ in range(5):  # backends alternate run by run
                for name, o in runs.items():
                    _sync(dev)
                    t = time.perf_counter()
                    fr = pipe(img_np, dep_np, num_inference_steps=args.steps, seed=0, denoiser=o).frames
                    _sync(dev)
                    ts_[name].append(time.perf_counter() - t)
                    fdiff[name] = float(np.abs(fr - base_frames).max())
            samp.update({name: statistics.median(v) for name, v in ts_.items()})

        base = rows[0][0]
        print()
        print(f"{'backend':28s} {'denoiser ms':>12s} {'x eager':>8s} {f'sampling s ({args.steps} st)':>20s} {'x eager':>8s} {'frames/s':>9s} {'max|d| out':>11s} {'max|d| frames':>14s} {'start s':>8s}")
        for name, v in rows:
            if isinstance(v, str):
                print(f"{name:28s} {v}")
                continue
            d = f"{diffs[name]:.1e}" if name in diffs else "-"
            fd = f"{fdiff[name]:.1e}" if name != base else "-"
            print(f"{name:28s} {lat_s[name] * 1e3:12.2f} {lat_s[base] / lat_s[name]:8.2f} {samp[name]:20.3f} {samp[base] / samp[name]:8.2f} "
                  f"{frames / samp[name]:9.1f} {d:>11s} {fd:>14s} {starts.get(name, 0.0):8.1f}")
        if dev == "cpu" and "onnxruntime CPU" in lat_s:
            ratio = lat_s[base] / lat_s["onnxruntime CPU"]
            sratio = samp[base] / samp["onnxruntime CPU"]
            print(f"\nonnxruntime CPU vs PyTorch eager: denoiser {ratio:.2f}x, full sampling {sratio:.2f}x (goal >= 1.5x on both: {'met' if min(ratio, sratio) >= 1.5 else 'NOT met'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
