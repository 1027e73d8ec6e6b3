"""The GPU path in one run (issue 20): CUDA against CPU, sampling speed, and a base model
trained on data synthesised on the same machine, evaluated against the bundled ``small``.

Sections, each written to ``OUT/report.json`` as soon as it is done (so a run stopped at
its time limit still brings back what it finished):

a. **parity**: the bundled ``small``'s 16-frame process of one picture (skimage's
   astronaut at 64 px, offline depth prior), the same seed and steps, sampled with
   PyTorch on the CPU and on CUDA; the largest absolute difference of the frames
   (values in ``[0, 1]``), with TF32 off (full fp32 math, the comparable figure) and with
   PyTorch's default CUDA flags.
b. **speed**: seconds per 16-frame process (``--sample-steps`` steps, batch 1, median of
   ``--repeats``), PyTorch CPU (all cores) and CUDA; the ONNX export of ``small`` in
   onnxruntime's CPU provider, and in its CUDA / TensorRT providers where this
   onnxruntime has them. What cannot run is said, with why, in ``not_run``.
c. **train**: ``animatepainter synth`` (procedural scenes plus the project's own photo
   crops, ``scripts/make_small_photos.py``; every core a worker) at the model's size;
   ``--config`` (default ``bench/configs/base40.json``: 128 px / 16 frames, 16.4 M
   parameters, 33 MB in fp16; ``base``'s 117 M would be 233 MB) trained for a fixed
   number of steps chosen from a measured step time so that the whole run fits
   ``--budget-s``; its loss curve (``loss.csv``, ``loss.png``); the new evaluation
   (:func:`animatepainter.model.evaluate.evaluate_models`, completion-time Spearman,
   depth order, frames, the diffusion engine's plans) of it against ``small`` (run at 64
   px, resampled to the model's size) on the held-out set of ``evaluate-model``; the
   published fp16 checkpoint (with ``train_log.csv`` and ``train_settings.json``; packed
   before the evaluation, whose figures are in ``report.json``) as ``ckpt.tar.NN`` parts
   of at most 15 MiB if its weights are under ``--max-ckpt-mb`` (``cat ckpt.tar.* | tar
   -x`` puts it back together).

Run on a GPU machine with ``scripts/gpu_check.sh`` (see docs/model.md, "GPU"); here, as a
smoke test of every section on a tiny model: ``python bench/bench_gpu.py --device cpu --quick``.
Output folder: ``--out``, else ``$OUT``, else ``./gpu_out``.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import logging
import os
import platform
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any, Callable, Optional

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CONFIG = str(ROOT / "bench" / "configs" / "base40.json")
#: size of one checkpoint part brought back (the device returns files of at most 16 MiB)
PART_BYTES = 15 * 2**20
#: files the device brings back at most; report.json, bench_gpu.log, loss.csv and loss.png take 4
MAX_FILES = 8

log = logging.getLogger("bench_gpu")


class Run:
    """The report being built, written to ``out/report.json`` after every section."""

    def __init__(self, out: Path, budget_s: float):
        self.out = out
        self.t0 = time.perf_counter()
        self.budget_s = budget_s
        self.doc: dict[str, Any] = {"not_run": [], "sections_s": {}}

    def left(self) -> float:
        return self.budget_s - (time.perf_counter() - self.t0)

    def not_run(self, what: str, why: str) -> None:
        line = f"{what}: {why}"
        print(f"  not run: {line}", flush=True)
        self.doc["not_run"].append(line)

    def save(self) -> None:
        from animatepainter.planner.atomic import atomic_write_bytes

        self.doc["elapsed_s"] = round(time.perf_counter() - self.t0, 1)
        atomic_write_bytes(self.out / "report.json", json.dumps(_clean(self.doc), indent=1, sort_keys=True, allow_nan=False).encode())

    def section(self, name: str, fn: Callable[[], Any]) -> Any:
        """Run one section; an unexpected error is reported (the run goes on)."""
        print(f"\n== {name} ({self.left():.0f} s left)", flush=True)
        t = time.perf_counter()
        try:
            return fn()
        except Exception as e:  # noqa: BLE001 - a bench run must bring back what the other sections made
            self.not_run(name, f"failed: {type(e).__name__}: {' '.join(str(e).split())[:300]}")
            traceback.print_exc()
            return None
        finally:
            self.doc["sections_s"][name] = round(time.perf_counter() - t, 1)
            self.save()


def _clean(x: Any) -> Any:
    if isinstance(x, dict):
        return {str(k): _clean(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_clean(v) for v in x]
    if isinstance(x, (np.floating, float)):
        return float(x) if np.isfinite(x) else None
    if isinstance(x, np.integer):
        return int(x)
    return x


def _sync(device: str) -> None:
    import torch

    if device == "cuda":
        torch.cuda.synchronize()


def _picture(res: int) -> tuple[np.ndarray, np.ndarray]:
    """skimage's astronaut at ``res`` px (uint8) and its offline-prior depth (float32)."""
    import cv2
    import skimage.data

    from animatepainter.planner.depth import estimate_depth

    img = cv2.resize(skimage.data.astronaut(), (res, res), interpolation=cv2.INTER_AREA)
    return img, estimate_depth(img).astype(np.float32)


# ------------------------------------------------------------------ environment
def env_section(run: Run, args: argparse.Namespace) -> None:
    import torch

    e: dict[str, Any] = {
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "torch": torch.__version__,
        "cuda": torch.cuda.is_available(),
        "gpu": torch.cuda.get_device_name() if torch.cuda.is_available() else None,
    }
    for mod in ("diffusers", "accelerate", "onnxruntime", "numba", "skimage", "cv2"):
        try:
            e[mod] = __import__(mod).__version__
        except ImportError as err:
            e[mod] = None
            run.not_run(f"import {mod}", str(err))
    try:
        import onnxruntime

        e["onnxruntime_providers"] = onnxruntime.get_available_providers()
    except ImportError:
        pass
    run.doc["env"] = e
    print("  " + ", ".join(f"{k} {v}" for k, v in e.items()), flush=True)


# ------------------------------------------------------------------ (a) parity
def parity_section(run: Run, args: argparse.Namespace, small: Path) -> None:
    import torch

    from animatepainter.model.pipeline import load_pipeline

    img, dep = _picture(64)
    steps = args.sample_steps
    cpu = load_pipeline(small, device="cpu")
    ref = cpu(img, dep, num_inference_steps=steps, seed=0).frames[0]
    again = cpu(img, dep, num_inference_steps=steps, seed=0).frames[0]
    p: dict[str, Any] = {"model": "small", "frames": int(ref.shape[0]), "size_px": int(ref.shape[1]), "steps": steps, "seed": 0,
                         "cpu_repeat_max_abs_diff": float(np.abs(ref - again).max())}
    run.doc["parity"] = p
    if args.device != "cuda":
        run.not_run("parity CUDA vs CPU", "--device cpu (no CUDA run asked for)" if torch.cuda.is_available() else "torch sees no CUDA GPU here")
        return
    gpu = load_pipeline(small, device="cuda")
    flags = (torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32)
    try:
        torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
        exact = gpu(img, dep, num_inference_steps=steps, seed=0).frames[0]
    finally:
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = flags
    default = gpu(img, dep, num_inference_steps=steps, seed=0).frames[0]
    p["max_abs_diff"] = float(np.abs(exact - ref).max())
    p["mean_abs_diff"] = float(np.abs(exact - ref).mean())
    p["max_abs_diff_default_flags"] = float(np.abs(default - ref).max())
    p["default_flags"] = {"cudnn.allow_tf32": flags[0], "cuda.matmul.allow_tf32": flags[1]}
    print(f"  small, {steps} steps, seed 0: max |CUDA - CPU| {p['max_abs_diff']:.2e} (TF32 off), {p['max_abs_diff_default_flags']:.2e} (default flags)", flush=True)


# ------------------------------------------------------------------ (b) speed
def _median_time(fn: Callable[[], Any], device: str, repeats: int) -> float:
    fn()  # warm-up
    ts = []
    for _ in range(repeats):
        _sync(device)
        t = time.perf_counter()
        fn()
        _sync(device)
        ts.append(time.perf_counter() - t)
    return statistics.median(ts)


def speed_section(run: Run, args: argparse.Namespace, small: Path, work: Path) -> None:
    import torch

    from animatepainter.export.onnx_export import export_onnx
    from animatepainter.export.ort_runtime import OrtDenoiser
    from animatepainter.model.pipeline import load_pipeline

    img, dep = _picture(64)
    steps, reps = args.sample_steps, args.repeats
    sp: dict[str, Any] = {"model": "small", "steps": steps, "repeats": reps, "cpu_threads": torch.get_num_threads()}
    run.doc["speed"] = sp
    pipes = {"cpu": load_pipeline(small, device="cpu")}
    if args.device == "cuda":
        pipes["cuda"] = load_pipeline(small, device="cuda")
    frames = pipes["cpu"].config.num_frames
    sp["frames"] = frames
    for dev, pipe in pipes.items():
        s = _median_time(lambda pipe=pipe: pipe(img, dep, num_inference_steps=steps, seed=0), dev, reps)
        sp[f"torch_{dev}_s"] = s
        print(f"  PyTorch {dev.upper()}: {s:.3f} s per {frames}-frame process ({frames / s:.1f} frames/s)", flush=True)
    if args.skip_onnx:
        run.not_run("onnxruntime", "--skip-onnx")
        return
    import onnxruntime

    t = time.perf_counter()
    export_onnx(small, work / "onnx-small")
    sp["onnx_export_s"] = time.perf_counter() - t
    have = onnxruntime.get_available_providers()
    todo = [("cpu", "CPUExecutionProvider", "cpu")]
    if args.device == "cuda":
        todo += [("cuda", "CUDAExecutionProvider", "cuda"), ("tensorrt", "TensorrtExecutionProvider", "cuda")]
    else:
        run.not_run("onnxruntime CUDA / TensorRT", "--device cpu")
    for name, prov, dev in todo:
        if prov not in have:
            run.not_run(
                f"onnxruntime {name}",
                f"onnxruntime {onnxruntime.__version__} here has only {', '.join(have)} (the CUDA and TensorRT providers come with the "
                "onnxruntime-gpu wheel, over 200 MB, more than the 64 MiB a device call can carry; TensorRT also needs its own libraries)",
            )
            continue
        try:
            kw: dict[str, Any] = {"provider": name}
            if name == "cpu":
                kw["threads"] = torch.get_num_threads()
            if name == "tensorrt":
                kw.update(trt_fp16=True, trt_cache=work / "trt-cache")
            ort = OrtDenoiser(work / "onnx-small", **kw)
            pipe = pipes[dev]
            out = pipe(img, dep, num_inference_steps=steps, seed=0, denoiser=ort).frames[0]
            s = _median_time(lambda pipe=pipe, ort=ort: pipe(img, dep, num_inference_steps=steps, seed=0, denoiser=ort), dev, reps)
            ref = pipes["cpu"](img, dep, num_inference_steps=steps, seed=0).frames[0]
            sp[f"ort_{name}_s"] = s
            sp[f"ort_{name}_max_abs_diff_vs_torch_cpu"] = float(np.abs(out - ref).max())
            print(f"  onnxruntime {name}: {s:.3f} s per process, max |ort - torch CPU| {sp[f'ort_{name}_max_abs_diff_vs_torch_cpu']:.1e}", flush=True)
        except Exception as e:  # noqa: BLE001 - a provider that fails to start is a figure, not the end of the run
            run.not_run(f"onnxruntime {name}", f"{type(e).__name__}: {' '.join(str(e).split())[:200]}")


# ------------------------------------------------------------------ (c) data, training, evaluation
def synth_section(run: Run, args: argparse.Namespace, cfg: Any, work: Path, reserve_s: float) -> Path:
    """The data of ``animatepainter synth`` with every core a worker; as many procedural
    scenes as fit its share of the time (from the measured cost of one sample)."""
    from animatepainter.model.data.synth import SynthSettings, make_jobs, synth_dataset, synthesize

    size, frames = cfg.resolution, cfg.num_frames
    inputs: list[str] = []
    n_photos = 0
    if not args.quick:
        photos = work / "photos"
        subprocess.run([sys.executable, str(ROOT / "scripts" / "make_small_photos.py"), "-o", str(photos)], check=True, capture_output=True)
        n_photos = len([p for p in photos.iterdir() if p.suffix == ".png"])
        inputs = [str(photos)]
    settings = SynthSettings(frames=frames, size=size, seed=0)
    probe = make_jobs([], 2, 12_345)
    synthesize(probe[0], settings)  # numba's first compile (the workers read its cache)
    t = time.perf_counter()
    synthesize(probe[1], settings)
    t_one = time.perf_counter() - t
    workers = args.workers
    if args.quick:
        n_proc = 4
    else:
        share = max(30.0, min(args.synth_share * run.left(), run.left() - reserve_s))
        n_proc = int(max(64, min(args.max_samples, 0.8 * share * workers / t_one - n_photos)))
    data = work / "data"
    t = time.perf_counter()
    # what `animatepainter synth` runs (called here as a library: the device's typer may be another version)
    made = synth_dataset(inputs, data, SynthSettings(frames=frames, size=size, seed=0, shard_size=32), procedural=n_proc, workers=workers)
    secs = time.perf_counter() - t
    n = int(json.loads((data / "manifest.json").read_text())["samples"])
    if made.failed:
        run.not_run(f"{made.failed} synthesis inputs", "failed (see the log)")
    run.doc["synth"] = {"procedural": n_proc, "photo_crops": n_photos, "samples": n, "size_px": size, "frames": frames, "workers": workers,
                        "seconds": secs, "samples_per_s": n / secs, "one_sample_s": t_one,
                        "command": f"animatepainter synth {'PHOTOS ' if inputs else ''}-o DATA --procedural {n_proc} --frames {frames} --size {size} --shard-size 32 --seed 0 -j {workers}"}
    print(f"  {n} samples ({n_proc} procedural + {n_photos} photo crops) of {size} px / {frames} frames in {secs:.0f} s with {workers} workers ({n / secs:.1f}/s)", flush=True)
    return data


def _log_rows(path: Path) -> list[dict[str, float]]:
    with open(path, newline="") as f:
        return [{k: float(v) for k, v in r.items()} for r in csv.DictReader(f)]


def _train_settings(args: argparse.Namespace, steps: int, batch: Optional[int], every: int) -> Any:
    from animatepainter.model.train import TrainSettings

    return TrainSettings(config=args.config, steps=steps, batch_size=batch, checkpoint_every=every, keep_checkpoints=1,
                         num_workers=args.loader_workers, device="auto" if args.device == "cuda" else "cpu", save_dtype="fp16", seed=0)


def train_section(run: Run, args: argparse.Namespace, data: Path, work: Path, reserve_s: float) -> Optional[Path]:
    """A short probe run for the step time, then the real run for as many steps as fit."""
    import torch

    from animatepainter.model.config import load_model_config
    from animatepainter.model.train import train

    batch = args.batch_size or int(load_model_config(args.config).train.get("batch_size", 8))
    probe_steps = 2 if args.quick else 12
    while True:
        probe = work / f"probe-{batch}"
        t = time.perf_counter()
        try:
            train(data, probe, _train_settings(args, probe_steps, batch, probe_steps))
            break
        except torch.cuda.OutOfMemoryError:
            if batch <= 1:
                raise
            run.not_run(f"training batch {batch}", "CUDA out of memory; halving it")
            batch //= 2
            torch.cuda.empty_cache()
    probe_wall = time.perf_counter() - t
    rows = _log_rows(probe / "train_log.csv")
    step_s = statistics.median(r["seconds"] for r in rows[2:]) if len(rows) > 2 else rows[-1]["seconds"]
    # everything that is not a steady step (start-up, loader workers, the shuffle buffer's fill, the first step)
    overhead = max(probe_wall - probe_steps * step_s, 1.0)
    if args.quick:
        steps = 3
    else:
        steps = int((run.left() - reserve_s - overhead - 10) / step_s)
        steps = max(probe_steps, min(steps, args.max_steps))
    every = max(steps // 4, 1)
    out = work / "ckpt"
    s = _train_settings(args, steps, batch, every)
    print(f"  step {step_s * 1e3:.0f} ms at batch {batch} (probe of {probe_steps} steps, {overhead:.0f} s start-up) -> {steps} steps", flush=True)
    r = train(data, out, s)
    rows = _log_rows(out / "train_log.csv")
    tail = [x["loss"] for x in rows[-50:]]
    config_arg = os.path.relpath(args.config, ROOT) if os.path.isfile(args.config) else args.config
    run.doc["train"] = {
        "config": load_model_config(args.config).name, "config_file": config_arg,
        "steps": r.steps, "batch_size": batch, "step_s": r.step_seconds, "probe_step_s": step_s, "seconds": r.seconds,
        "final_loss_mean_last_50": float(np.mean(tail)), "first_loss": rows[0]["loss"], "samples_seen": r.samples_seen,
        "device": "cuda" if torch.cuda.is_available() and args.device == "cuda" else "cpu",
        "command": f"animatepainter train DATA -o CKPT --config {config_arg} --steps {steps} --batch-size {batch} --checkpoint-every {every} --save-dtype fp16 --workers {args.loader_workers}",
    }
    _loss_files(rows, run.out)
    print(f"  {r.steps} steps in {r.seconds:.0f} s ({r.step_seconds * 1e3:.0f} ms/step), loss {rows[0]['loss']:.4f} -> {np.mean(tail):.4f} (mean of the last 50)", flush=True)
    return out


def _loss_files(rows: list[dict[str, float]], out: Path) -> None:
    """``loss.csv`` (step, loss, lr, seconds) and ``loss.png``: the loss of every step
    (grey) and its running mean over 25 steps (blue). Drawn with OpenCV (already a
    dependency) rather than matplotlib, which the package does not depend on."""
    import cv2

    from animatepainter.export.video import write_png
    from animatepainter.planner.atomic import atomic_write_bytes

    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["step", "loss", "lr", "seconds"])
    for r in rows:
        w.writerow([int(r["step"]), f"{r['loss']:.6f}", f"{r['lr']:.6g}", f"{r['seconds']:.4f}"])
    atomic_write_bytes(out / "loss.csv", buf.getvalue().encode())
    W, H, L, B, T, R = 800, 450, 70, 40, 30, 20
    img = np.full((H, W, 3), 255, np.uint8)
    steps = np.array([r["step"] for r in rows])
    loss = np.array([r["loss"] for r in rows])
    k = min(25, len(loss))
    mean = np.convolve(loss, np.ones(k) / k, mode="valid")
    lo, hi = float(loss.min()), float(np.percentile(loss, 99)) if len(loss) > 10 else float(loss.max())
    hi = hi if hi > lo else lo + 1e-6
    s0, s1 = float(steps.min()), float(max(steps.max(), steps.min() + 1))

    def xy(s: np.ndarray, v: np.ndarray) -> np.ndarray:
        x = L + (s - s0) / (s1 - s0) * (W - L - R)
        y = T + (1 - (np.clip(v, lo, hi) - lo) / (hi - lo)) * (H - T - B)
        return np.stack([x, y], 1).round().astype(np.int32)

    cv2.rectangle(img, (L, T), (W - R, H - B), (0, 0, 0), 1)
    cv2.polylines(img, [xy(steps, loss)], False, (190, 190, 190), 1, cv2.LINE_AA)
    cv2.polylines(img, [xy(steps[k - 1 :], mean)], False, (200, 80, 20), 2, cv2.LINE_AA)
    font = cv2.FONT_HERSHEY_SIMPLEX
    for v in (lo, (lo + hi) / 2, hi):
        y = int(xy(np.array([s0]), np.array([v]))[0, 1])
        cv2.putText(img, f"{v:.4f}", (4, y + 4), font, 0.4, (0, 0, 0), 1, cv2.LINE_AA)
    for s in (s0, (s0 + s1) / 2, s1):
        x = int(xy(np.array([s]), np.array([lo]))[0, 0])
        cv2.putText(img, f"{s:.0f}", (x - 12, H - B + 16), font, 0.4, (0, 0, 0), 1, cv2.LINE_AA)
    cv2.putText(img, "training loss per step (grey) and its 25-step mean (blue)", (L, 20), font, 0.5, (0, 0, 0), 1, cv2.LINE_AA)
    cv2.putText(img, "step", (W // 2, H - 6), font, 0.45, (0, 0, 0), 1, cv2.LINE_AA)
    write_png(img[:, :, ::-1], out / "loss.png")  # drawn in BGR


def eval_section(run: Run, args: argparse.Namespace, ckpt: Path, small: Path) -> None:
    from animatepainter.model.evaluate import SUBSETS, evaluate_models, format_table, heldout_samples
    from animatepainter.model.pipeline import load_pipeline

    dev = "cuda" if args.device == "cuda" else "cpu"
    model = load_pipeline(ckpt, device=dev)
    base = load_pipeline(small, device=dev)
    c = model.config
    procedural, real = (1, ("astronaut",)) if args.quick else (args.eval_procedural, None)
    kw = {} if real is None else {"real": real}
    samples = heldout_samples(c.num_frames, c.resolution, procedural=procedural, workers=args.workers, **kw)
    name = f"diffuser ({c.model_name})"
    small_name = f"diffuser (small, {base.config.resolution} px / {base.config.num_frames} frames resampled)"
    rep = evaluate_models({name: model, small_name: base}, samples, steps=args.sample_steps, resampled=[small_name], plans=True, workers=args.workers)
    rep.settings.update({"ckpt": c.model_name, "baseline": "small (bundled)", "procedural": procedural, "device": dev})
    run.doc["eval"] = json.loads(rep.to_json())
    for sub, title in SUBSETS.items():
        if rep.rows["teacher"][sub]["n"]:
            print(f"\n  {title} ({rep.rows['teacher'][sub]['n']} held-out samples, {args.sample_steps} steps):\n" + format_table(rep, sub), flush=True)
    m, s = rep.rows[name]["real"], rep.rows[small_name]["real"]
    if m["n"]:
        run.doc["eval_verdict"] = {
            "beats_small_on_photographs": bool(m["completion_spearman"] > s["completion_spearman"] and m["depth_order"] >= s["depth_order"] - 0.02),
            "completion_spearman": [m["completion_spearman"], s["completion_spearman"]],
            "depth_order": [m["depth_order"], s["depth_order"]],
        }


def pack_section(run: Run, args: argparse.Namespace, ckpt: Path) -> None:
    """The published checkpoint (not the training state) as ``ckpt.tar.NN`` parts."""
    weights = sum(p.stat().st_size for p in ckpt.rglob("*.safetensors") if "checkpoints" not in p.parts)
    run.doc["checkpoint"] = {"weights_mb": weights / 2**20, "limit_mb": args.max_ckpt_mb}
    if weights > args.max_ckpt_mb * 2**20:
        run.not_run("checkpoint copy", f"its fp16 weights are {weights / 2**20:.1f} MiB, over --max-ckpt-mb {args.max_ckpt_mb}")
        return
    name = json.loads((ckpt / "model_index.json").read_text()).get("model_name", "ckpt")
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for p in sorted(ckpt.rglob("*")):
            rel = p.relative_to(ckpt)
            if p.is_file() and rel.parts[0] != "checkpoints" and not rel.parts[0].startswith("."):
                tar.add(p, arcname=str(Path(name) / rel))
    data = buf.getvalue()
    parts = [data[i : i + PART_BYTES] for i in range(0, len(data), PART_BYTES)]
    used = len([p for p in run.out.iterdir() if p.is_file() and not p.name.startswith("ckpt.tar.")]) + 1  # + the log gpu_check.sh writes
    if used + len(parts) > MAX_FILES:
        run.not_run("checkpoint copy", f"{len(parts)} parts of 15 MiB and {used} other files are more than the {MAX_FILES} files a device call brings back")
        return
    from animatepainter.planner.atomic import atomic_write_bytes

    for i, part in enumerate(parts):
        atomic_write_bytes(run.out / f"ckpt.tar.{i:02d}", part)
    run.doc["checkpoint"].update({"parts": len(parts), "tar_mb": len(data) / 2**20, "unpack": "cat ckpt.tar.* | tar -x"})
    print(f"  {weights / 2**20:.1f} MiB of fp16 weights -> {len(parts)} part(s) ckpt.tar.NN ({len(data) / 2**20:.1f} MiB)", flush=True)


def main(argv: Optional[list[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", choices=("cuda", "cpu"), default="cuda", help="cuda (the GPU run) or cpu (no GPU: CPU figures only)")
    ap.add_argument("--quick", action="store_true", help="smoke test: the micro config, 4 samples, 3 training steps, 2 sampling steps")
    ap.add_argument("--out", default=None, help="output folder (default $OUT, else ./gpu_out)")
    ap.add_argument("--budget-s", type=float, default=450.0, help="wall time the whole run may take, seconds (training gets what the rest leaves)")
    ap.add_argument("--config", default=None, help=f"model config to train: a name (tiny, small, base, micro) or a JSON file (default {os.path.relpath(DEFAULT_CONFIG, ROOT)}; micro with --quick)")
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="synthesis / evaluation worker processes (default: every core)")
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: every core; 1 with --quick)")
    ap.add_argument("--loader-workers", type=int, default=None, help="DataLoader workers of training (default: min(8, cores / 2); 0 with --quick)")
    ap.add_argument("--batch-size", type=int, default=None, help="training batch (default: the config's; halved on CUDA out-of-memory)")
    ap.add_argument("--max-steps", type=int, default=20_000, help="most training steps, whatever the time left")
    ap.add_argument("--max-samples", type=int, default=4000, help="most procedural training scenes")
    ap.add_argument("--synth-share", type=float, default=0.25, help="share of the time left given to data synthesis")
    ap.add_argument("--eval-procedural", type=int, default=8, help="held-out procedural scenes (besides the 6 photographs)")
    ap.add_argument("--sample-steps", type=int, default=None, help="denoising steps per process (default 20; 2 with --quick)")
    ap.add_argument("--repeats", type=int, default=None, help="timed sampling runs per backend (default 5; 1 with --quick)")
    ap.add_argument("--max-ckpt-mb", type=float, default=40.0, help="largest fp16 weights (MiB) that are copied back")
    ap.add_argument("--skip-onnx", action="store_true", help="leave out the ONNX export and onnxruntime timings")
    ap.add_argument("--skip-train", action="store_true", help="only parity and speed")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")

    import torch

    if args.device == "cuda" and not torch.cuda.is_available():
        print("error: --device cuda: torch sees no CUDA GPU here (use --device cpu)", file=sys.stderr)
        return 2
    if args.workers < 1:
        print(f"error: --workers must be at least 1, got {args.workers}", file=sys.stderr)
        return 2
    args.config = args.config or ("micro" if args.quick else DEFAULT_CONFIG)
    args.sample_steps = args.sample_steps or (2 if args.quick else 20)
    args.repeats = args.repeats or (1 if args.quick else 5)
    if args.loader_workers is None:
        args.loader_workers = 0 if args.quick else min(8, max(1, args.workers // 2))
    out = Path(args.out or os.environ.get("OUT") or "gpu_out")
    out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(args.threads or (1 if args.quick else args.workers))

    from animatepainter.model.config import load_model_config
    from animatepainter.model.generate import default_checkpoint

    run = Run(out, args.budget_s)
    run.doc.update({"command": "python bench/bench_gpu.py " + " ".join(argv if argv is not None else sys.argv[1:]), "quick": args.quick,
                    "device": args.device, "budget_s": args.budget_s, "started": time.strftime("%Y-%m-%d %H:%M:%S")})
    small = default_checkpoint("small")
    cfg = load_model_config(args.config)
    # time kept back for what comes after each stage (evaluation with its plans, packing)
    reserve_eval = 10.0 if args.quick else 120.0
    with tempfile.TemporaryDirectory(prefix="bench-gpu-") as tmp:
        work = Path(tmp)
        run.section("environment", lambda: env_section(run, args))
        run.section("parity", lambda: parity_section(run, args, small))
        run.section("speed", lambda: speed_section(run, args, small, work))
        if args.skip_train:
            run.not_run("synthesis, training, evaluation", "--skip-train")
        else:
            data = run.section("synth", lambda: synth_section(run, args, cfg, work, reserve_s=reserve_eval + 90))
            ckpt = run.section("train", lambda: train_section(run, args, data, work, reserve_s=reserve_eval)) if data else None
            if ckpt:  # packed first: a run stopped during the evaluation still brings the weights back
                run.section("checkpoint", lambda: pack_section(run, args, ckpt))
                run.section("evaluation", lambda: eval_section(run, args, ckpt, small))
    run.save()
    print(f"\n{run.doc['elapsed_s']:.0f} s; report in {out / 'report.json'}" + (f"; not run: {len(run.doc['not_run'])} (see report)" if run.doc["not_run"] else ""), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
