"""``animatepainter train``, ``generate`` and ``evaluate-model``: the diffuser's commands.

torch, diffusers and accelerate are imported inside the commands, so ``--help`` stays
fast.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Optional

import typer

from animatepainter.cli.choices import Augment, Backend, DepthBackend, Device, MixedPrecision, Provider, SaveDtype, TrainDevice

log = logging.getLogger(__name__)


def _threads(n: Optional[int]) -> None:
    if n is not None:
        from animatepainter.planner.errors import SettingsError

        if n < 1:
            raise SettingsError(f"--threads must be at least 1, got {n}")
        import torch

        torch.set_num_threads(n)


def _device(device: Device) -> str:
    """The torch device of ``--device`` (``auto``: the GPU when there is one)."""
    from animatepainter.planner.errors import SettingsError

    import torch

    if device is Device.cuda and not torch.cuda.is_available():
        raise SettingsError("--device cuda: no CUDA GPU is available here")
    if device is Device.auto:
        return "cuda" if torch.cuda.is_available() else "cpu"
    return device.value


def train_cmd(
    dataset: Path = typer.Argument(..., help="Dataset folder made by `animatepainter synth` (square samples; --frames must equal the model's frames)."),
    out: Path = typer.Option(..., "--out", "-o", help="Checkpoint folder: the trained pipeline (EMA weights), checkpoints/step-N (resume state), train_log.csv. Rerunning the same command resumes."),
    config: str = typer.Option("tiny", "--config", help="Model config: 'tiny' (CPU, 32 px, 8 frames), 'small' (CPU, 64 px, 16 frames), 'base' (GPU, 128 px, 16 frames) or a JSON file."),
    svd: Optional[Path] = typer.Option(None, "--svd", help="Build on a local Stable Video Diffusion image-to-video folder (its UNet, VAE, CLIP, scheduler) instead of --config; a DF-Encoder is added."),
    no_df_encoder: bool = typer.Option(False, "--no-df-encoder", help="Ablation: train the same model without the DF-Encoder (no depth guidance)."),
    steps: int = typer.Option(1000, "--steps", help="Optimiser steps in all (count); a resumed run may be given more."),
    batch_size: Optional[int] = typer.Option(None, "--batch-size", "-b", help="Samples per step per process (count). Default: the config's."),
    lr: Optional[float] = typer.Option(None, "--lr", help="Peak AdamW learning rate. Default: the config's."),
    warmup_steps: Optional[int] = typer.Option(None, "--warmup-steps", help="Linear warm-up steps before the cosine decay (count). Default: the config's."),
    ema_decay: Optional[float] = typer.Option(None, "--ema-decay", help="Largest EMA decay of the saved weights (0..1). Default: the config's."),
    seed: int = typer.Option(0, "--seed", help="Seed of initial weights, data order, flips and noise; same seed and settings give the same weights."),
    mixed_precision: MixedPrecision = typer.Option(MixedPrecision.auto, "--mixed-precision", help="'auto' (no on CPU, bf16 or fp16 on GPU), 'no', 'fp16' or 'bf16'."),
    checkpoint_every: int = typer.Option(100, "--checkpoint-every", help="Steps between resumable training-state checkpoints (count)."),
    keep_checkpoints: int = typer.Option(2, "--keep-checkpoints", help="Newest training-state checkpoints kept (count)."),
    workers: int = typer.Option(0, "--workers", "-j", help="DataLoader worker processes per training process (count)."),
    threads: Optional[int] = typer.Option(None, "--threads", help="CPU threads torch may use (count). Default: torch's."),
    device: TrainDevice = typer.Option(TrainDevice.auto, "--device", help="'auto' (the GPU when there is one) or 'cpu'."),
    save_dtype: SaveDtype = typer.Option(SaveDtype.fp32, "--save-dtype", help="Dtype of the published weights: 'fp32' or 'fp16' (half the size; loaded back as fp32)."),
    augment: Augment = typer.Option(Augment.dihedral, "--augment", help="'dihedral': random flips and 90-degree turns of image, depth and frames together (the order must then come from depth, not from where things are in the frame); 'hflip'; 'none'."),
) -> None:
    """Train the depth-guided painting-process diffuser (Accelerate: CPU, one GPU, or several processes with `accelerate launch --multi_gpu` or `torchrun`)."""
    from animatepainter.cli.ui import RichProgress, console_print

    from animatepainter.model.train import TrainSettings, train

    _threads(threads)
    settings = TrainSettings(
        config=config,
        svd=str(svd) if svd else None,
        use_df_encoder=False if no_df_encoder else None,
        steps=steps,
        batch_size=batch_size,
        learning_rate=lr,
        warmup_steps=warmup_steps,
        ema_decay=ema_decay,
        seed=seed,
        mixed_precision=mixed_precision.value,
        checkpoint_every=checkpoint_every,
        keep_checkpoints=keep_checkpoints,
        num_workers=workers,
        augment=augment.value,
        device=device.value,
        save_dtype=save_dtype.value,
    )
    with RichProgress() as progress:
        r = train(dataset, out, settings, progress=progress)
    if not r.main:  # the other processes of `accelerate launch` / `torchrun` stay quiet
        return
    resumed = f" (resumed at step {r.resumed_from})" if r.resumed_from else ""
    procs = f" on {r.processes} processes" if r.processes > 1 else ""
    console_print(f"{r.steps} steps{resumed}{procs}, loss {r.final_loss:.4f}, {r.step_seconds:.2f} s/step, {r.seconds / 60:.1f} min -> {r.out}")


def generate_cmd(
    image: Path = typer.Argument(..., help="Image to paint (PNG, JPEG, ...); alpha is composited on white, grayscale and 16-bit are converted to RGB."),
    out: Path = typer.Option(..., "--out", "-o", help="Output folder: frames/frame_NNN.png, process.mp4, contact.png, depth.png, report.json."),
    ckpt: Optional[Path] = typer.Option(None, "--ckpt", help="Checkpoint folder (from `animatepainter train`). Default: the bundled `small` model (64 px, 16 frames; `tiny` is the 32 px one)."),
    steps: int = typer.Option(20, "--steps", help="Denoising steps (count, 1..1000)."),
    seed: int = typer.Option(0, "--seed", help="Seed of the initial noise; the same image, checkpoint, steps and seed give the same frames."),
    depth: Optional[Path] = typer.Option(None, "--depth", help="Depth map instead of estimating one: .npy (larger = nearer) or a grayscale image (white = nearest)."),
    depth_backend: DepthBackend = typer.Option(DepthBackend.prior, "--depth-backend", help="Depth estimator without --depth: 'prior' (offline) or 'transformers' (needs --depth-model)."),
    depth_model: Optional[Path] = typer.Option(None, "--depth-model", help="Local transformers depth model folder (nothing is downloaded)."),
    video_px: int = typer.Option(256, "--video-px", help="Width of process.mp4 and contact-sheet tiles (pixels, 64..4096)."),
    fps: float = typer.Option(4.0, "--fps", help="Frame rate of process.mp4 (frames per second)."),
    device: Device = typer.Option(Device.auto, "--device", help="'auto', 'cpu' or 'cuda'."),
    threads: Optional[int] = typer.Option(None, "--threads", help="CPU threads torch may use (count)."),
    backend: Backend = typer.Option(Backend.torch, "--backend", help="'torch' (PyTorch) or 'onnxruntime' (the networks of an `animatepainter export onnx` folder, see --onnx; same sampling loop)."),
    onnx_dir: Optional[Path] = typer.Option(None, "--onnx", help="ONNX export folder of the same checkpoint (for --backend onnxruntime)."),
    provider: Provider = typer.Option(Provider.auto, "--provider", help="onnxruntime provider: 'auto' (TensorRT, then CUDA, then CPU; logs which), 'tensorrt', 'cuda' or 'cpu'."),
    trt_cache: Optional[Path] = typer.Option(None, "--trt-cache", envvar="ANIMATEPAINTER_TRT_CACHE", help="TensorRT engine cache folder (env ANIMATEPAINTER_TRT_CACHE). Default: ~/.cache/animatepainter/tensorrt."),
) -> None:
    """Generate the painting process of IMAGE with the diffuser: frames, process.mp4 and a contact sheet."""
    import cv2
    import numpy as np

    from animatepainter.export.video import contact_sheet, write_mp4, write_png
    from animatepainter.planner.atomic import OutputDir, atomic_write_bytes, check_writable_dir
    from animatepainter.cli.ui import RichProgress, console_print
    from animatepainter.planner.depth import estimate_depth
    from animatepainter.planner.errors import SettingsError
    from animatepainter.planner.images import file_sha256, load_depth, load_image

    from animatepainter.model.generate import default_checkpoint, generate_process
    from animatepainter.model.pipeline import load_pipeline

    if not 1 <= steps <= 1000:
        raise SettingsError(f"--steps must be between 1 and 1000, got {steps}")
    if not 64 <= video_px <= 4096:
        raise SettingsError(f"--video-px must be between 64 and 4096, got {video_px}")
    if not 0.5 <= fps <= 120:
        raise SettingsError(f"--fps must be between 0.5 and 120, got {fps}")
    # the library takes the plain strings
    backend, provider, depth_backend = backend.value, provider.value, depth_backend.value
    if backend == "onnxruntime":
        if onnx_dir is None:
            raise SettingsError("--backend onnxruntime needs --onnx DIR (make one with `animatepainter export onnx --ckpt CKPT -o DIR`)")
        from animatepainter.export.ort_runtime import provider_chain

        provider_chain(provider)  # an unknown or missing provider fails before any loading
    _threads(threads)
    dev = _device(device)
    check_writable_dir(out)
    t0 = time.perf_counter()
    img = load_image(image)
    ck = ckpt if ckpt is not None else default_checkpoint()
    pipe = load_pipeline(ck, device=dev)
    ort_den = None
    if backend == "onnxruntime":
        from animatepainter.export.ort_runtime import open_backend

        ort_den = open_backend(onnx_dir, ck, pipe, provider=provider, trt_cache=trt_cache, threads=threads)
    t_load = time.perf_counter() - t0
    if depth is not None:
        dep = load_depth(depth, img.shape[:2])
    else:
        small = img
        r = 4 * int(pipe.config.resolution)
        if max(img.shape[:2]) > r:  # the prior needs no more than a few times the model's resolution
            from animatepainter.planner.images import resize_long_side

            small = resize_long_side(img, r)
        dep = estimate_depth(small, backend=depth_backend, model_path=str(depth_model) if depth_model else None)
        if dep.shape != img.shape[:2]:
            dep = cv2.resize(dep, (img.shape[1], img.shape[0]), interpolation=cv2.INTER_LINEAR)
    t1 = time.perf_counter()
    with RichProgress() as progress:
        frames = generate_process(pipe, img, dep, steps=steps, seed=seed, progress=progress, denoiser=ort_den)
    t_gen = time.perf_counter() - t1
    t_n, fh, fw = frames.shape[:3]
    vw = int(video_px) // 2 * 2
    vh = max(int(round(fh * vw / fw)) // 2 * 2, 2)
    big = [cv2.resize(f, (vw, vh), interpolation=cv2.INTER_CUBIC) for f in frames]
    dep_u8 = np.clip(np.rint(cv2.resize(dep, (fw, fh), interpolation=cv2.INTER_AREA) * 255), 0, 255).astype(np.uint8)
    with OutputDir(out) as stage:
        (stage / "frames").mkdir()
        for t, f in enumerate(frames):
            write_png(f, stage / "frames" / f"frame_{t:03d}.png")
        write_mp4(big, stage / "process.mp4", fps=fps)
        labels = ["t=0 blank"] + [f"t={t}" for t in range(1, t_n - 1)] + [f"t={t_n - 1} final", "depth, white=near"]
        write_png(contact_sheet(big + [cv2.resize(dep_u8, (vw, vh), interpolation=cv2.INTER_CUBIC)], labels, tile_px=min(vw, 256)), stage / "contact.png")
        write_png(dep_u8, stage / "depth.png")
        report = {
            "source": str(image),
            "source_sha256": file_sha256(image),
            "checkpoint": str(ck),
            "model": pipe.config.model_name,
            "frames": t_n,
            "frame_size_px": [fw, fh],
            "steps": steps,
            "seed": seed,
            "device": dev,
            "backend": backend,
            "provider": ort_den.provider if ort_den is not None else None,
            "depth": str(depth) if depth else depth_backend,
            "wall_time_s": {"load": round(t_load, 3), "generate": round(t_gen, 3)},
            "frames_per_second": round(t_n / t_gen, 3) if t_gen > 0 else None,
        }
        atomic_write_bytes(stage / "report.json", json.dumps(report, indent=1, sort_keys=True).encode())
    console_print(f"{t_n} frames of {fw}x{fh} px in {t_gen:.1f} s ({steps} steps, {pipe.config.model_name}) -> {out}")


def evaluate_model_cmd(
    ckpt: Optional[Path] = typer.Option(None, "--ckpt", help="Checkpoint to evaluate. Default: the bundled default model (small)."),
    ablation: Optional[Path] = typer.Option(None, "--ablation", help="Checkpoint of the same model trained without the DF-Encoder (baseline). Default: the bundled ablation, if installed; 'none' to skip."),
    baseline: Optional[Path] = typer.Option(None, "--baseline", help="Checkpoint made for another resolution or frame count (e.g. the bundled tiny) to compare too: run at its own size, its frames resized (bicubic) and resampled in time (linear) to the evaluated model's. Default: the bundled tiny when evaluating the bundled default model (if that is not tiny); 'none' to skip."),
    data: Optional[Path] = typer.Option(None, "--data", help="Held-out dataset folder (from `animatepainter synth`) instead of synthesising the held-out set."),
    procedural: int = typer.Option(16, "--procedural", help="Held-out procedural scenes to synthesise (count), from a seed no training set uses."),
    real: str = typer.Option(",".join(("astronaut", "chelsea", "coffee", "rocket", "motorcycle_left", "camera")), "--real", help="Held-out photographs from skimage.data, comma-separated ('' for none)."),
    heldout_seed: Optional[int] = typer.Option(None, "--heldout-seed", help="Dataset seed of the held-out procedural scenes. Default: 9001."),
    steps: int = typer.Option(20, "--steps", help="Denoising steps per sample (count)."),
    seed: int = typer.Option(0, "--seed", help="Seed of the sampling noise."),
    report: Optional[Path] = typer.Option(None, "--report", help="Also write the full report (all / procedural / real rows) as JSON here."),
    threads: Optional[int] = typer.Option(None, "--threads", help="CPU threads torch may use (count)."),
    device: Device = typer.Option(Device.auto, "--device", help="'auto', 'cpu' or 'cuda'."),
    plans: bool = typer.Option(True, "--plans/--no-plans", help="Also judge the diffusion engine's plan of every process (frame-differencing extractor + process figures: hidden share, share of strokes > 20 dE2000); a few seconds per method and sample at 64 px."),
    jobs: int = typer.Option(1, "--jobs", "-j", help="Worker processes for the held-out data and the plans (count; the same figures for any count)."),
) -> None:
    """Score the diffuser against the teacher's processes on held-out images (when each place gets painted, depth order, frames, and the diffusion engine's plans), with crossfade and no-DF-Encoder baselines."""
    from animatepainter.planner.atomic import atomic_write_bytes, check_writable_dir
    from animatepainter.cli.ui import RichProgress, console_print
    from animatepainter.planner.errors import InputError, SettingsError

    from animatepainter.model.evaluate import HELDOUT_SEED, SUBSETS, check_samples_fit, evaluate_models, format_table, heldout_samples, samples_from_dataset
    from animatepainter.model.generate import DEFAULT_CHECKPOINT, default_checkpoint
    from animatepainter.model.pipeline import load_pipeline

    if procedural < 0:
        raise SettingsError(f"--procedural must be >= 0, got {procedural}")
    if jobs < 1:
        raise SettingsError(f"--jobs must be at least 1, got {jobs}")
    _threads(threads)
    dev = _device(device)
    if report is not None:
        check_writable_dir(report.parent if str(report.parent) else Path("."))
    models = {}
    ck = ckpt if ckpt is not None else default_checkpoint()
    pipe = load_pipeline(ck, device=dev)
    models[f"diffuser ({pipe.config.model_name})"] = pipe
    if ablation is None and ckpt is None:
        try:
            ablation = default_checkpoint(f"{DEFAULT_CHECKPOINT}-nodf")
        except InputError:
            log.warning("the bundled ablation checkpoint is not installed; the no-DF-Encoder row is skipped")
    if baseline is None and ckpt is None and DEFAULT_CHECKPOINT != "tiny":
        try:
            baseline = default_checkpoint("tiny")
        except InputError:
            log.warning("the bundled tiny checkpoint is not installed; its row is skipped")
    if ablation is not None and str(ablation) != "none":
        abl = load_pipeline(ablation, device=dev)
        if (abl.config.resolution, abl.config.num_frames) != (pipe.config.resolution, pipe.config.num_frames):
            raise InputError(f"{ablation}: makes {abl.config.num_frames} frames of {abl.config.resolution} px, but {ck} makes {pipe.config.num_frames} of {pipe.config.resolution} px")
        models[f"no DF-Encoder ({abl.config.model_name})"] = abl
    resampled = []
    if baseline is not None and str(baseline) != "none":
        base = load_pipeline(baseline, device=dev)
        c = base.config
        name = f"diffuser ({c.model_name}, {c.resolution} px / {c.num_frames} frames resampled)"
        models[name] = base
        resampled.append(name)
    names = [n.strip() for n in real.split(",") if n.strip()]
    with RichProgress() as progress:
        if data is not None:
            samples = samples_from_dataset(data)
            c = pipe.config
            check_samples_fit(samples, int(c.resolution), int(c.num_frames), f"{ck} ({c.model_name})")
        else:
            samples = heldout_samples(pipe.config.num_frames, pipe.config.resolution, procedural=procedural, real=names, seed=HELDOUT_SEED if heldout_seed is None else heldout_seed, progress=progress, workers=jobs)
        rep = evaluate_models(models, samples, steps=steps, seed=seed, progress=progress, resampled=resampled, plans=plans, workers=jobs)
    rep.settings.update({"ckpt": str(ck), "ablation": str(ablation) if ablation else None, "baseline": str(baseline) if baseline else None, "data": str(data) if data else None, "procedural": procedural, "real": names})
    if report is not None:
        atomic_write_bytes(report, rep.to_json())
    for subset, title in SUBSETS.items():
        if any(r[subset]["n"] for r in rep.rows.values()):
            console_print(f"\n[bold]{title}[/] ({rep.rows['teacher'][subset]['n']} held-out samples, {steps} steps, seed {seed}):")
            console_print(format_table(rep, subset), markup=False, soft_wrap=True)
    console_print(f"\n{len(samples)} held-out samples in {rep.seconds:.1f} s")


def register(app: typer.Typer, export_app: typer.Typer) -> None:
    """Add ``train``, ``generate`` and ``evaluate-model`` to the CLI."""
    app.command("train")(train_cmd)
    app.command("generate")(generate_cmd)
    app.command("evaluate-model")(evaluate_model_cmd)
