"""Training the painting-process diffuser with Hugging Face Accelerate.

``train(dataset, out, settings)`` runs unchanged on the CPU, one GPU, or many
(``accelerate launch --multi_gpu -m animatepainter.cli.app train ...``; several CPU
processes: ``torchrun --standalone --nproc_per_node N -m animatepainter.cli.app train ...``):

* the synthesised dataset is streamed through
  :class:`~animatepainter.model.data.dataset.DatasetReader` (its ``torch_dataset`` deals
  shards to processes and loader workers); epochs are chained into an endless stream;
* the loss is the diffusion loss of the pipeline's scheduler: for DDPM/DDIM-type
  schedulers ``v``-prediction (or epsilon / sample, as configured) with min-SNR-gamma
  weighting; for the Stable Video Diffusion Euler scheduler the EDM noise
  distribution and its ``v`` target;
* AdamW, linear warm-up then cosine decay, gradient clipping at 1, mixed precision
  on GPU (``bf16`` where supported, else ``fp16``), EMA weights
  (``diffusers.training_utils.EMAModel``, with warm-up);
* every ``checkpoint_every`` steps the full training state (model, optimizer, LR
  schedule, EMA, RNG states, data position) is saved with ``accelerator.save_state``
  into ``OUT/checkpoints/step-NNNNNNN`` (written to a temp folder, then renamed);
  rerunning the same command after a kill resumes from the newest one and gives the
  same weights as an uninterrupted run;
* the loss of every step goes to ``OUT/train_log.csv``;
* at the end the pipeline with the **EMA weights** is saved to ``OUT`` (loadable with
  :func:`~animatepainter.model.pipeline.load_pipeline` / ``generate --ckpt OUT``).

Determinism: the initial weights, data order (shuffle seeds per epoch), flips, noise
and timesteps are all drawn from generators seeded by ``(seed, step, process)``.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import logging
import math
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Optional

from animatepainter.planner.errors import InputError, SettingsError, one_line
from animatepainter.planner.progress import NULL_PROGRESS, Progress

log = logging.getLogger(__name__)

__all__ = ["TrainSettings", "TrainResult", "train", "latest_checkpoint"]

_CKPT_PREFIX = "step-"
_STATE_FILE = "train_state.json"
_LOG_FILE = "train_log.csv"


@dataclass(frozen=True)
class TrainSettings:
    """Settings of a training run (``None`` = the model config's ``train`` default).

    Attributes:
        config: ``tiny``, ``base`` or a JSON file (ignored with ``svd``).
        svd: local Stable Video Diffusion image-to-video folder to build on.
        use_df_encoder: ``False`` trains the ablation without the DF-Encoder.
        steps: optimiser steps in all (a resumed run may be given more).
        batch_size: samples per step per process.
        learning_rate: peak AdamW learning rate.
        warmup_steps: linear warm-up steps, then cosine decay to 10 %.
        ema_decay: largest EMA decay.
        snr_gamma: min-SNR-gamma loss weighting (0 = off; DDPM-type schedulers).
        weight_decay: AdamW weight decay.
        seed: seed of weights, data order, augmentation and noise.
        mixed_precision: ``auto`` (``no`` on CPU, ``bf16``/``fp16`` on GPU), ``no``,
            ``fp16`` or ``bf16``.
        checkpoint_every: steps between training-state checkpoints.
        keep_checkpoints: newest checkpoints kept (older are deleted).
        num_workers: DataLoader worker processes per training process.
        shuffle_buffer: samples in the reader's shuffle buffer.
        augment: ``dihedral`` (random flips and 90-degree rotations of image, depth and
            frames together: the painting order then cannot be read off the position in
            the frame, only off the depth), ``hflip`` (horizontal flips only) or ``none``.
        device: ``auto`` (GPU if available) or ``cpu``.
        save_dtype: dtype of the published weights, ``fp32`` or ``fp16`` (half the
            size; :func:`~animatepainter.model.pipeline.load_pipeline` loads them as fp32).
    """

    config: str = "tiny"
    svd: Optional[str] = None
    use_df_encoder: Optional[bool] = None
    steps: int = 1000
    batch_size: Optional[int] = None
    learning_rate: Optional[float] = None
    warmup_steps: Optional[int] = None
    ema_decay: Optional[float] = None
    snr_gamma: Optional[float] = None
    weight_decay: Optional[float] = None
    seed: int = 0
    mixed_precision: str = "auto"
    checkpoint_every: int = 100
    keep_checkpoints: int = 2
    num_workers: int = 0
    shuffle_buffer: int = 256
    augment: str = "dihedral"
    device: str = "auto"
    save_dtype: str = "fp32"

    def check(self) -> None:
        """Raise :class:`SettingsError` naming the first impossible setting."""
        if self.steps < 1:
            raise SettingsError(f"steps must be at least 1, got {self.steps}", "steps")
        if self.batch_size is not None and self.batch_size < 1:
            raise SettingsError(f"batch_size must be at least 1, got {self.batch_size}", "batch_size")
        if self.learning_rate is not None and not 0 < self.learning_rate < 1:
            raise SettingsError(f"learning_rate must be in (0, 1), got {self.learning_rate}", "learning_rate")
        if self.ema_decay is not None and not 0 <= self.ema_decay < 1:
            raise SettingsError(f"ema_decay must be in [0, 1), got {self.ema_decay}", "ema_decay")
        if self.checkpoint_every < 1:
            raise SettingsError(f"checkpoint_every must be at least 1, got {self.checkpoint_every}", "checkpoint_every")
        if self.keep_checkpoints < 1:
            raise SettingsError(f"keep_checkpoints must be at least 1, got {self.keep_checkpoints}", "keep_checkpoints")
        if self.num_workers < 0:
            raise SettingsError(f"num_workers must be >= 0, got {self.num_workers}", "num_workers")
        if self.mixed_precision not in ("auto", "no", "fp16", "bf16"):
            raise SettingsError(f"mixed_precision must be auto, no, fp16 or bf16, got {self.mixed_precision!r}", "mixed_precision")
        if self.device not in ("auto", "cpu"):
            raise SettingsError(f"device must be auto or cpu, got {self.device!r}", "device")
        if self.augment not in ("dihedral", "hflip", "none"):
            raise SettingsError(f"augment must be dihedral, hflip or none, got {self.augment!r}", "augment")
        if self.save_dtype not in ("fp32", "fp16"):
            raise SettingsError(f"save_dtype must be fp32 or fp16, got {self.save_dtype!r}", "save_dtype")

    def resolved(self, train_defaults: dict[str, Any]) -> "TrainSettings":
        """These settings with ``None`` fields filled from the config's defaults."""
        fill = {}
        fallback = {"batch_size": 8, "learning_rate": 1e-4, "warmup_steps": 100, "ema_decay": 0.999, "snr_gamma": 5.0, "weight_decay": 0.0}
        for k, v in fallback.items():
            if getattr(self, k) is None:
                fill[k] = type(v)(train_defaults.get(k, v))
        return dataclasses.replace(self, **fill)

    def fingerprint(self) -> dict[str, Any]:
        """What must match for a run to resume (everything that shapes the weights
        except the total step count, which may grow)."""
        d = dataclasses.asdict(self)
        for k in ("steps", "checkpoint_every", "keep_checkpoints", "num_workers", "device", "save_dtype"):
            d.pop(k)
        return d


@dataclass
class TrainResult:
    """What :func:`train` did.

    Attributes:
        out: the checkpoint folder.
        steps: optimiser steps done in all; resumed_from: step it resumed at (0 = fresh).
        final_loss: mean loss of the last (up to) 50 steps.
        seconds: wall time of this call; step_seconds: mean time of one step here.
        samples_seen: training samples consumed in all (all processes).
        processes: training processes (``accelerate launch`` / ``torchrun``); main:
            whether this is the main one (the one that reports).
    """

    out: Path
    steps: int
    resumed_from: int
    final_loss: float
    seconds: float
    step_seconds: float
    samples_seen: int
    processes: int = 1
    main: bool = True


def latest_checkpoint(out: str | Path) -> Optional[Path]:
    """Newest complete ``checkpoints/step-N`` folder of a run, or ``None``."""
    root = Path(out) / "checkpoints"
    if not root.is_dir():
        return None
    best: tuple[int, Optional[Path]] = (-1, None)
    for p in root.iterdir():
        if p.is_dir() and p.name.startswith(_CKPT_PREFIX) and (p / _STATE_FILE).is_file():
            try:
                n = int(p.name[len(_CKPT_PREFIX) :])
            except ValueError:
                continue
            if n > best[0]:
                best = (n, p)
    return best[1]


def _build_pipeline(settings: TrainSettings, frames: int, size: int):
    """The initial pipeline: from the model config, or on a Stable Video Diffusion
    checkpoint (which then makes ``frames`` frames at the dataset's ``size``)."""
    from animatepainter.model.config import load_model_config
    from animatepainter.model.pipeline import AnimatePainterPipeline

    if settings.svd:
        pipe = AnimatePainterPipeline.from_svd(settings.svd, resolution=size, num_frames=frames, use_df_encoder=settings.use_df_encoder is not False, seed=settings.seed)
        return pipe, {}
    cfg = load_model_config(settings.config)
    pipe = AnimatePainterPipeline.from_model_config(cfg, use_df_encoder=settings.use_df_encoder, seed=settings.seed)
    return pipe, cfg.train


class _Targets:
    """Noisy inputs, timesteps, targets and loss weights for the pipeline's scheduler."""

    def __init__(self, scheduler: Any, snr_gamma: float):
        from diffusers import DDPMScheduler, EulerDiscreteScheduler

        self.snr_gamma = float(snr_gamma)
        if isinstance(scheduler, EulerDiscreteScheduler):
            cfg = scheduler.config
            if cfg.prediction_type != "v_prediction" or cfg.get("timestep_type", "discrete") != "continuous":
                raise SettingsError("training with an Euler scheduler needs prediction_type v_prediction and timestep_type continuous (the Stable Video Diffusion setting)")
            self.kind = "edm"
            self.sigma_min = float(cfg.get("sigma_min") or 0.002)
            self.sigma_max = float(cfg.get("sigma_max") or 700.0)
        else:
            self.kind = "ddpm"
            self.noise = DDPMScheduler.from_config(scheduler.config)
            self.prediction = self.noise.config.prediction_type

    def __call__(self, x0, generator):
        """``x0`` float ``(B, T, C, h, w)`` -> ``(model_input, timesteps (B,), target, weight (B,))``."""
        import torch

        b = x0.shape[0]
        noise = torch.randn(x0.shape, generator=generator).to(x0.device, x0.dtype)
        if self.kind == "edm":
            # EDM training distribution (log-normal sigma, P_mean 0.7, P_std 1.6 as in SVD fine-tuning)
            sigma = torch.exp(torch.randn(b, generator=generator) * 1.6 + 0.7).clamp(self.sigma_min, self.sigma_max).to(x0.device)
            s = sigma.view(b, 1, 1, 1, 1)
            noisy = x0 + s * noise
            inp = noisy / torch.sqrt(s**2 + 1)
            target = (noisy / (s**2 + 1) - x0) * torch.sqrt(s**2 + 1) / s
            return inp, 0.25 * sigma.log(), target, torch.ones(b, device=x0.device)
        from diffusers.training_utils import compute_snr

        n = self.noise.config.num_train_timesteps
        t = torch.randint(0, n, (b,), generator=generator).to(x0.device)
        noisy = self.noise.add_noise(x0, noise, t)
        if self.prediction == "v_prediction":
            target = self.noise.get_velocity(x0, noise, t)
        elif self.prediction == "epsilon":
            target = noise
        else:
            target = x0
        weight = torch.ones(b, device=x0.device)
        if self.snr_gamma > 0:
            snr = compute_snr(self.noise, t)
            clipped = torch.clamp(snr, max=self.snr_gamma)
            if self.prediction == "v_prediction":
                weight = clipped / (snr + 1)
            elif self.prediction == "epsilon":
                weight = clipped / snr
            else:  # x0 ("sample") prediction
                weight = clipped
        return noisy, t, target, weight


def _batches(reader: Any, batch_size: int, num_workers: int, rank: int, world: int, seed: int) -> Iterator[dict[str, Any]]:
    """Endless batches: epoch after epoch, each reshuffled by ``set_epoch``."""
    import torch
    from torch.utils.data import DataLoader

    ds = reader.torch_dataset(rank=rank, world_size=world)
    epoch = 0
    while True:
        ds.set_epoch(epoch)
        g = torch.Generator().manual_seed(seed * 7919 + epoch)
        dl = DataLoader(ds, batch_size=batch_size, collate_fn=reader.collate, num_workers=num_workers, drop_last=True, generator=g, persistent_workers=False)
        n = 0
        for batch in dl:
            n += 1
            yield batch
        if n == 0:
            raise InputError(
                f"{reader.path}: no full batch of {batch_size} for process {rank} of {world} "
                f"({len(reader)} samples in {len(reader.shards)} shards); use a smaller --batch-size or more shards/samples"
            )
        epoch += 1


def _to_model_batch(batch: dict[str, Any], resolution: int, num_frames: int, augment: str, generator, device) -> tuple[Any, Any, Any]:
    """Dataset batch -> ``frames`` ``(B, T, 3, R, R)`` and ``image`` ``(B, 3, R, R)`` in
    ``[-1, 1]``, ``depth`` ``(B, 1, R, R)`` in ``[0, 1]``, augmented per sample (the same
    transform for a sample's image, depth and every frame, so the process stays a valid
    far-to-near process of the transformed image)."""
    import torch
    import torch.nn.functional as F

    frames, image, depth = batch["frames"].float(), batch["image"].float(), batch["depth"].float()
    b, t, _, h, w = frames.shape
    if t != num_frames:
        raise InputError(f"the dataset has {t} frames per sample but the model makes {num_frames}; synthesise with --frames {num_frames}")
    if (h, w) != (resolution, resolution):

        def rs(x):
            return F.interpolate(x, size=(resolution, resolution), mode="bilinear", align_corners=False, antialias=True)

        frames = rs(frames.flatten(0, 1)).reshape(b, t, 3, resolution, resolution)
        image, depth = rs(image), rs(depth)
    if augment != "none":
        flip = (torch.rand(b, generator=generator) < 0.5).tolist()
        rot = torch.randint(0, 4, (b,), generator=generator).tolist() if augment == "dihedral" else [0] * b
        fs, ims, ds = [], [], []
        for i in range(b):
            f, im, d = frames[i], image[i], depth[i]
            if flip[i]:
                f, im, d = f.flip(-1), im.flip(-1), d.flip(-1)
            if rot[i]:
                f, im, d = (torch.rot90(x, rot[i], dims=(-2, -1)) for x in (f, im, d))
            fs.append(f)
            ims.append(im)
            ds.append(d)
        frames, image, depth = torch.stack(fs), torch.stack(ims), torch.stack(ds)
    return (frames * 2 - 1).to(device), (image * 2 - 1).to(device), depth.clamp(0, 1).to(device)


def _save_state_atomic(accelerator: Any, out: Path, step: int, state: dict[str, Any], keep: int) -> None:
    import tempfile

    root = out / "checkpoints"
    root.mkdir(parents=True, exist_ok=True)
    final = root / f"{_CKPT_PREFIX}{step:07d}"
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.tmp-", dir=root))
    try:
        accelerator.save_state(str(tmp), safe_serialization=True)
        (tmp / _STATE_FILE).write_text(json.dumps(state, indent=1, sort_keys=True))
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    done = sorted(p for p in root.iterdir() if p.is_dir() and p.name.startswith(_CKPT_PREFIX) and (p / _STATE_FILE).is_file())
    for old in done[:-keep]:
        shutil.rmtree(old, ignore_errors=True)


def _rewrite_log(path: Path, upto_step: int) -> None:
    """Keep the loss log's rows up to ``upto_step`` (a resume redoes the later steps)."""
    from animatepainter.planner.atomic import atomic_write_bytes

    if not path.exists():
        return
    rows = list(csv.reader(io.StringIO(path.read_text())))
    keep = [r for r in rows[1:] if r and r[0].isdigit() and int(r[0]) <= upto_step]
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(rows[0] if rows else ["step", "loss", "lr", "seconds"])
    w.writerows(keep)
    atomic_write_bytes(path, buf.getvalue().encode())


def train(dataset: str | Path, out: str | Path, settings: TrainSettings, progress: Progress = NULL_PROGRESS) -> TrainResult:
    """Train (or resume training) a painting-process diffuser.

    Args:
        dataset: a folder written by ``animatepainter synth`` (square samples; its
            frame count must equal the model's).
        out: checkpoint folder. If it holds checkpoints of a run with the same
            settings, training resumes from the newest; other settings are refused.
        settings: :class:`TrainSettings`.
        progress: progress reporter (one ``train`` stage, a tick per step).

    Returns:
        :class:`TrainResult`.

    Raises:
        InputError: unreadable dataset or wrong frame count; SettingsError: bad
            settings, or ``out`` holds a different run.
    """
    import torch
    from accelerate.utils import set_seed

    from animatepainter.planner.atomic import check_writable_dir
    from animatepainter.model.data.dataset import DatasetReader

    settings.check()
    out = Path(out)
    check_writable_dir(out)
    reader = DatasetReader(dataset, shuffle_buffer=settings.shuffle_buffer, seed=settings.seed)
    if reader.manifest.get("settings", {}).get("aspect", "crop") != "crop":
        raise InputError(f"{dataset}: samples of different shapes (synthesised with --aspect keep) cannot be batched; use --aspect crop")
    accelerator = _accelerator(settings)
    set_seed(settings.seed)
    pipe, defaults = _build_pipeline(settings, reader.frames, int(reader.manifest.get("settings", {}).get("size", 0)) or None)
    s = settings.resolved(defaults)
    res, n_frames = pipe.config.resolution, pipe.config.num_frames
    _check_dataset_fits(dataset, reader, pipe)
    fingerprint = {"settings": s.fingerprint(), "dataset": reader.manifest.get("settings"), "dataset_samples": len(reader), "model_name": pipe.config.model_name}
    fp_path = out / "train_settings.json"
    resume_dir = _resumable(out, fp_path, fingerprint)

    space = pipe.space
    device = accelerator.device
    if pipe.vae is not None:
        pipe.vae.to(device).requires_grad_(False).eval()
    denoiser = pipe.denoiser
    denoiser.to(device)
    params = [p for p in denoiser.parameters() if p.requires_grad]
    opt, lr_sched, ema = _optimiser(params, s, device)
    denoiser, opt, lr_sched = accelerator.prepare(denoiser, opt, lr_sched)
    accelerator.register_for_checkpointing(ema)
    targets = _Targets(pipe.scheduler, s.snr_gamma)
    start = _resume(accelerator, resume_dir)
    if start >= s.steps and (out / "model_index.json").exists():
        log.info("%s: already trained for %d steps", out, start)
    if accelerator.is_main_process:
        out.mkdir(parents=True, exist_ok=True)
        from animatepainter.planner.atomic import atomic_write_bytes

        atomic_write_bytes(fp_path, json.dumps(fingerprint, indent=1, sort_keys=True).encode())
        _rewrite_log(out / _LOG_FILE, start)
    rank, world = accelerator.process_index, accelerator.num_processes
    if not accelerator.is_main_process:
        progress = NULL_PROGRESS  # one progress bar for the whole job
    elif world > 1:
        log.info("training on %d processes (%s), %d samples per step in all", world, accelerator.distributed_type, s.batch_size * world)
    batches = _batches(reader, s.batch_size, s.num_workers, rank, world, s.seed)
    for _ in range(start):  # the same data position as an uninterrupted run
        next(batches)

    log_f = None
    if accelerator.is_main_process:
        new = not (out / _LOG_FILE).exists()
        log_f = open(out / _LOG_FILE, "a", newline="")
        if new:
            log_f.write("step,loss,lr,seconds\n")
    losses: list[float] = []
    t_start = time.perf_counter()
    step = start
    denoiser.train()
    try:
        with progress.stage("train", total=max(s.steps - start, 0)) as st:
            while step < s.steps:
                t0 = time.perf_counter()
                g = torch.Generator().manual_seed(((s.seed * 1_000_003 + step) * 131 + rank) & 0x7FFFFFFFFFFFFFFF)
                frames, image, depth = _to_model_batch(next(batches), res, n_frames, s.augment, g, device)
                loss = _train_step(accelerator, denoiser, space, targets, frames, image, depth, res, g, params, opt, lr_sched, ema)
                step += 1
                lv = float(accelerator.gather(loss.detach()[None]).mean())
                losses.append(lv)
                if log_f is not None:
                    log_f.write(f"{step},{lv:.6f},{lr_sched.get_last_lr()[0]:.6g},{time.perf_counter() - t0:.4f}\n")
                    log_f.flush()
                if step % 50 == 0 or step == s.steps:
                    log.info("step %d/%d loss %.4f (mean of last 50: %.4f)", step, s.steps, lv, sum(losses[-50:]) / len(losses[-50:]))
                if step % s.checkpoint_every == 0 or step == s.steps:
                    accelerator.wait_for_everyone()
                    if accelerator.is_main_process:
                        state = {"step": step, "samples_seen": step * s.batch_size * world}
                        _save_state_atomic(accelerator, out, step, state, s.keep_checkpoints)
                st.advance(1)
    finally:
        if log_f is not None:
            log_f.close()
    seconds = time.perf_counter() - t_start
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        _publish_ema(pipe, ema, params, out, s, device)
    done = step - start
    return TrainResult(
        out=out,
        steps=step,
        resumed_from=start,
        final_loss=float(sum(losses[-50:]) / max(len(losses[-50:]), 1)) if losses else float("nan"),
        seconds=seconds,
        step_seconds=seconds / done if done else float("nan"),
        samples_seen=step * s.batch_size * world,
        processes=world,
        main=accelerator.is_main_process,
    )


def _accelerator(settings: TrainSettings) -> Any:
    """The ``accelerate.Accelerator``: on CUDA when there is one and ``device`` is
    ``auto`` (mixed precision ``auto``: bf16 where supported, else fp16), else the CPU,
    where mixed precision is refused."""
    import torch
    from accelerate import Accelerator

    mp = settings.mixed_precision
    cuda = torch.cuda.is_available() and settings.device == "auto"
    if mp == "auto":
        mp = ("bf16" if torch.cuda.is_bf16_supported() else "fp16") if cuda else "no"
    if mp != "no" and not cuda:
        raise SettingsError(f"mixed_precision {mp} needs a GPU; use 'no' on the CPU", "mixed_precision")
    return Accelerator(mixed_precision=mp, cpu=not cuda)


def _check_dataset_fits(dataset: str | Path, reader: Any, pipe: Any) -> None:
    """Refuse a dataset whose frame count or canvas colour is not the model's."""
    n_frames = pipe.config.num_frames
    if reader.frames != n_frames:
        raise InputError(f"{dataset}: {reader.frames} frames per sample, but the model makes {n_frames}; synthesise with --frames {n_frames}")
    ds_bg = reader.manifest.get("settings", {}).get("background")
    if ds_bg is not None and list(ds_bg) != list(pipe.config.background):
        raise InputError(f"{dataset}: synthesised on a {tuple(ds_bg)} canvas but the model paints on {tuple(pipe.config.background)}")


def _resumable(out: Path, fp_path: Path, fingerprint: dict[str, Any]) -> Path | None:
    """The checkpoint to resume from (the newest in ``out``), or ``None`` for a new
    run; refuses a folder that holds a run with other settings, or a checkpoint this
    command did not train."""
    resume_dir = latest_checkpoint(out)
    if resume_dir is not None or fp_path.exists():
        try:
            prev = json.loads(fp_path.read_text())
        except (OSError, ValueError):
            prev = None
        if prev != json.loads(json.dumps(fingerprint)):
            diff = _first_difference(prev, json.loads(json.dumps(fingerprint)))
            raise SettingsError(f"{out} holds a training run with other settings ({diff}); use another -o folder")
    elif (out / "model_index.json").exists():
        raise SettingsError(f"{out} already holds a checkpoint that was not trained by this command; use another -o folder")
    return resume_dir


def _optimiser(params: list[Any], s: TrainSettings, device: Any) -> tuple[Any, Any, Any]:
    """AdamW, its learning-rate schedule (linear warm-up, then cosine to a 10 % floor)
    and the EMA of the weights (on ``device``)."""
    import torch
    from diffusers.training_utils import EMAModel

    opt = torch.optim.AdamW(params, lr=s.learning_rate, weight_decay=s.weight_decay)
    total = max(s.steps, 1)
    warm = min(s.warmup_steps, max(total // 4, 1))

    def lr_lambda(step: int) -> float:
        if step < warm:
            return (step + 1) / warm
        p = min((step - warm) / max(total - warm, 1), 1.0)
        return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * p))

    # (diffusers' named schedules decay to zero; this one keeps a 10 % floor so that a
    # resumed run given more steps keeps learning)
    lr_sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_lambda)
    ema = EMAModel(params, decay=s.ema_decay, use_ema_warmup=True, power=0.75)
    ema.to(device)
    return opt, lr_sched, ema


def _resume(accelerator: Any, resume_dir: Path | None) -> int:
    """Load the training state from ``resume_dir``; the step it was saved at (0 for a
    new run)."""
    if resume_dir is None:
        return 0
    try:
        accelerator.load_state(str(resume_dir))
        start = int(json.loads((resume_dir / _STATE_FILE).read_text())["step"])
    except (OSError, ValueError, KeyError, RuntimeError) as e:
        raise InputError(f"{resume_dir}: cannot resume from this checkpoint ({one_line(e, 160)})") from None
    log.info("resuming from %s (step %d)", resume_dir, start)
    return start


def _train_step(accelerator: Any, denoiser: Any, space: Any, targets: Any, frames: Any, image: Any, depth: Any, res: int, g: Any, params: list[Any], opt: Any, lr_sched: Any, ema: Any) -> Any:
    """One optimisation step on a batch: encode the frames and the picture, noise them
    (``targets``, with generator ``g``), the weighted MSE of the denoiser's prediction,
    backward, clip, step the optimiser, schedule and EMA. Returns the loss tensor."""
    import torch

    with torch.no_grad():
        b, t = frames.shape[:2]
        x0 = space.encode(frames.flatten(0, 1)).reshape(b, t, -1, *space_hw(res, space))
        img_lat = space.encode(image)
    inp, ts, target, weight = targets(x0, g)
    with accelerator.autocast():
        pred = denoiser(inp, ts, image=image, image_latent=img_lat, depth=depth)
    per = ((pred.float() - target.float()) ** 2).mean(dim=(1, 2, 3, 4))
    loss = (per * weight).mean()
    accelerator.backward(loss)
    if accelerator.sync_gradients:
        accelerator.clip_grad_norm_(params, 1.0)
    opt.step()
    lr_sched.step()
    opt.zero_grad(set_to_none=True)
    ema.step(params)
    return loss


def _publish_ema(pipe: Any, ema: Any, params: list[Any], out: Path, s: TrainSettings, device: Any) -> None:
    """Save the pipeline to ``out`` with the EMA weights (in ``save_dtype``), then put
    the training weights back."""
    import torch
    from diffusers.utils import logging as dlogging

    from animatepainter.model.pipeline import save_pipeline

    ema.store(params)
    ema.copy_to(params)
    verbosity = dlogging.get_verbosity()
    dlogging.set_verbosity_error()  # (its note on casting modules with .to() is moot here)
    try:  # ``denoiser`` shares its modules with ``pipe``
        pipe.to("cpu", torch.float16 if s.save_dtype == "fp16" else torch.float32)
        save_pipeline(pipe, out)
    finally:
        pipe.to(device, torch.float32)
        ema.restore(params)
        dlogging.set_verbosity(verbosity)


def space_hw(resolution: int, space: Any) -> tuple[int, int]:
    """Grid ``(h, w)`` of the model space for a square ``resolution``."""
    n = resolution // space.factor
    return n, n


def _first_difference(a: Any, b: Any, path: str = "") -> str:
    if a is None:
        return "no readable train_settings.json"
    if isinstance(a, dict) and isinstance(b, dict):
        for k in sorted(set(a) | set(b)):
            if a.get(k) != b.get(k):
                return _first_difference(a.get(k), b.get(k), f"{path}.{k}" if path else k)
    return f"{path}: {a!r} there, {b!r} now"
