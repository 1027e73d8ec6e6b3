"""Speed of the painting-process diffuser: training step time and sampling frames/s.

Usage::

    python bench/bench_model.py                                   # tiny config, CPU, 1 thread
    python bench/bench_model.py --config tiny --threads 2
    python bench/bench_model.py --config small                    # the 64 px / 16 frame CPU model
    python bench/bench_model.py --config base --device cuda       # on a GPU machine
    python bench/bench_model.py --config base --device cuda --amp bf16
    python bench/bench_model.py --eval                            # + the evaluation table of the bundled models

Training step = one AdamW step of the full model (UNet + DF-Encoder + image encoder)
on a batch of random process videos of the config's size (the cost does not depend on
the data), including the diffusion-target computation. Sampling = the pipeline's full
``__call__`` (conditioning once, ``--sample-steps`` UNet evaluations, decoding) for a
batch of one image, reported as frames per second of generated process and as
latency per denoiser call. Weights are random unless ``--ckpt`` is given (speed is the
same). Medians of ``--repeats`` runs after one warm-up run.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch


def _sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def _timed(fn, device: str, repeats: int) -> list[float]:
    fn()  # warm-up
    _sync(device)
    out = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        _sync(device)
        out.append(time.perf_counter() - t0)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", default="tiny", help="tiny, small, base, micro or a JSON file")
    ap.add_argument("--ckpt", default=None, help="use a trained checkpoint's weights (same speed)")
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    ap.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1: the figure per core)")
    ap.add_argument("--batch-size", type=int, default=None, help="training batch (default: the config's)")
    ap.add_argument("--sample-steps", type=int, default=20, help="denoising steps per sampled process")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--amp", default="no", choices=["no", "bf16", "fp16"], help="autocast on CUDA")
    ap.add_argument("--no-df-encoder", action="store_true", help="time the ablation instead")
    ap.add_argument("--eval", action="store_true", help="also print the evaluation table of the bundled checkpoints")
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    if args.device == "cuda" and not torch.cuda.is_available():
        raise SystemExit("--device cuda: no CUDA GPU here")
    from animatepainter.model.config import load_model_config
    from animatepainter.model.pipeline import AnimatePainterPipeline, load_pipeline
    from animatepainter.model.train import _Targets

    if args.ckpt:
        pipe = load_pipeline(args.ckpt)
        train_defaults = {}
    else:
        cfg = load_model_config(args.config)
        pipe = AnimatePainterPipeline.from_model_config(cfg, use_df_encoder=False if args.no_df_encoder else None)
        train_defaults = cfg.train
    pipe.to(args.device)
    den = pipe.denoiser
    space = pipe.space
    r, t_n = pipe.config.resolution, pipe.config.num_frames
    bs = args.batch_size or int(train_defaults.get("batch_size", 8))
    n_params = sum(p.numel() for p in den.parameters() if p.requires_grad)
    amp = {"no": None, "bf16": torch.bfloat16, "fp16": torch.float16}[args.amp]
    dev_name = torch.cuda.get_device_name() if args.device == "cuda" else f"CPU, {args.threads} thread(s)"
    print(f"model {pipe.config.model_name}: {r}x{r} px, {t_n} frames, {n_params / 1e6:.2f} M trainable parameters; device {dev_name}; amp {args.amp}")

    # ---------------------------------------------------------------- training step
    g = torch.Generator().manual_seed(0)
    frames = (torch.rand(bs, t_n, 3, r, r, generator=g) * 2 - 1).to(args.device)
    image, depth = frames[:, -1], torch.rand(bs, 1, r, r, generator=g).to(args.device)
    params = [p for p in den.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=1e-4)
    targets = _Targets(pipe.scheduler, 0.0)
    scaler = torch.amp.GradScaler("cuda") if amp is torch.float16 else None

    def train_step() -> None:
        with torch.no_grad():
            x0 = space.encode(frames.flatten(0, 1)).reshape(bs, t_n, -1, r // space.factor, r // space.factor)
            lat = space.encode(image)
        inp, ts, target, w = targets(x0, torch.Generator().manual_seed(1))
        with torch.autocast(args.device, dtype=amp, enabled=amp is not None):
            pred = den(inp, ts, image=image, image_latent=lat, depth=depth)
        loss = (((pred.float() - target.float()) ** 2).mean(dim=(1, 2, 3, 4)) * w).mean()
        opt.zero_grad(set_to_none=True)
        if scaler is not None:
            scaler.scale(loss).backward()
            scaler.step(opt)
            scaler.update()
        else:
            loss.backward()
            opt.step()

    den.train()
    tt = _timed(train_step, args.device, args.repeats)
    step_s = statistics.median(tt)
    if args.device == "cuda":
        mem = torch.cuda.max_memory_allocated() / 2**30
        print(f"peak GPU memory (training): {mem:.2f} GiB")
    print(f"training: {step_s * 1000:.0f} ms/step at batch {bs} -> {bs / step_s:.2f} samples/s, {bs * t_n / step_s:.1f} frames/s")

    # ---------------------------------------------------------------- sampling
    den.eval()
    img1 = torch.rand(1, 3, r, r, generator=g)
    dep1 = torch.rand(1, 1, r, r, generator=g)

    def sample() -> None:
        with torch.autocast(args.device, dtype=amp, enabled=amp is not None):
            pipe(img1, dep1, num_inference_steps=args.sample_steps, seed=0, output_type="pt")

    ts_ = _timed(sample, args.device, max(args.repeats // 2, 1))
    samp_s = statistics.median(ts_)
    cond = den.condition(img1.to(args.device) * 2 - 1, space.encode(img1.to(args.device) * 2 - 1), dep1.to(args.device))
    x = torch.randn(1, t_n, space.channels, r // space.factor, r // space.factor).to(args.device)

    def one_call() -> None:
        with torch.no_grad(), torch.autocast(args.device, dtype=amp, enabled=amp is not None):
            den(x, torch.tensor([500], device=args.device), cond)

    call_s = statistics.median(_timed(one_call, args.device, args.repeats))
    print(
        f"sampling: {samp_s:.3f} s per process ({args.sample_steps} steps, {t_n} frames) -> {t_n / samp_s:.2f} frames/s; "
        f"one denoiser call (batch 1) {call_s * 1000:.1f} ms"
    )
    print(f"ratio: one training step costs {step_s / call_s:.1f} denoiser calls (batch {bs} vs 1, fwd+bwd vs fwd)")

    if args.eval:
        from animatepainter.model.evaluate import evaluate_models, format_table, heldout_samples
        from animatepainter.model.generate import DEFAULT_CHECKPOINT, default_checkpoint

        main_pipe = load_pipeline(default_checkpoint())
        models = {f"diffuser ({main_pipe.config.model_name})": main_pipe}
        try:
            abl = load_pipeline(default_checkpoint(f"{DEFAULT_CHECKPOINT}-nodf"))
            models[f"no DF-Encoder ({abl.config.model_name})"] = abl
        except Exception:  # noqa: BLE001 - the ablation is optional here
            pass
        resampled = []
        if DEFAULT_CHECKPOINT != "tiny":  # the bundled tiny, upsampled to the default's size and frames
            models["diffuser (tiny, resampled)"] = load_pipeline(default_checkpoint("tiny"))
            resampled.append("diffuser (tiny, resampled)")
        samples = heldout_samples(main_pipe.config.num_frames, main_pipe.config.resolution)
        t0 = time.perf_counter()
        rep = evaluate_models(models, samples, steps=args.sample_steps, resampled=resampled)
        for sub in ("all", "procedural", "real"):
            print(f"\n{sub} held-out samples:")
            print(format_table(rep, sub))
        print(f"evaluation: {len(samples)} samples in {time.perf_counter() - t0:.1f} s")


if __name__ == "__main__":
    main()
