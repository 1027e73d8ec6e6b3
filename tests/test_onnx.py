"""ONNX export of the diffuser and the onnxruntime backend (issue 6): graph validity and
manifest, PyTorch parity of the denoiser (fp32 within 1e-3) and of the whole sampling
loop, dynamic batch / frame axes, provider selection, and one-line errors for
mismatched checkpoints, missing providers and foreign export folders."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch

from animatepainter.export import onnx_export
from animatepainter.export.onnx_export import FP32_TOLERANCE, checkpoint_sha256, export_onnx
from animatepainter.export.ort_runtime import PROVIDERS, OrtDenoiser, check_checkpoint, default_trt_cache, load_manifest, open_backend, provider_chain
from animatepainter.model.pipeline import AnimatePainterPipeline, load_pipeline, save_pipeline
from animatepainter.cli import main as cli_main
from animatepainter.planner.errors import InputError, OutputError, SettingsError
from conftest import skip_unless

#: the stated tolerance of the full sampling loop: float frames in [0, 1]
FRAMES_TOLERANCE = 1e-4


def _randomised_tiny(seed: int = 1) -> AnimatePainterPipeline:
    """The tiny model with every weight perturbed: its zero-initialised output head
    would otherwise make the output independent of the UNet."""
    pipe = AnimatePainterPipeline.from_model_config("tiny", seed=0)
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for mod in (pipe.unet, pipe.df_encoder, pipe.image_encoder):
            for p in mod.parameters():
                p.add_(torch.randn(p.shape, generator=g) * 0.03)
    return pipe


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """(checkpoint dir, ONNX dir): the randomised tiny model, exported by the CLI."""
    root = tmp_path_factory.mktemp("onnx")
    ck = root / "ckpt"
    save_pipeline(_randomised_tiny(), ck)
    out = root / "onnx"
    assert cli_main(["-q", "export-onnx", "--ckpt", str(ck), "-o", str(out), "--threads", "1"]) == 0
    return ck, out


@pytest.fixture(scope="module")
def pipe(exported):
    torch.set_num_threads(1)
    return load_pipeline(exported[0])


def _inputs(pipe, b: int, frames: int, seed: int):
    g = torch.Generator().manual_seed(seed)
    r = pipe.config.resolution
    img = torch.rand(b, 3, r, r, generator=g) * 2 - 1
    dep = torch.rand(b, 1, r, r, generator=g)
    sample = torch.randn(b, frames, pipe.space.channels, pipe.latent_size, pipe.latent_size, generator=g)
    return img, pipe.space.encode(img), dep, sample


def test_export_writes_checked_graphs_and_a_manifest(exported):
    import onnx

    ck, out = exported
    assert sorted(p.name for p in out.iterdir()) == ["condition.onnx", "denoiser.onnx", "manifest.json"]
    assert not [p for p in out.parent.iterdir() if p.name.startswith(".")], "staging folder left behind"
    for f in ("condition.onnx", "denoiser.onnx"):
        onnx.checker.check_model(str(out / f), full_check=True)
    man = load_manifest(out)
    assert man["format"] == "animatepainter.onnx/1" and man["opset"] == 17 and man["precision"] == "fp32"
    assert man["checkpoint"]["sha256"] == checkpoint_sha256(ck)
    den_in = {i["name"]: i for i in man["graphs"]["denoiser"]["inputs"]}
    assert den_in["sample"]["shape"][:2] == ["batch", "frames"] and den_in["sample"]["shape"][2:] == [48, 8, 8]
    assert den_in["timestep"]["dtype"] == "int64" and den_in["sample"]["dtype"] == "float32"
    assert set(man["pipeline"]["cond_fields"]) >= {"channels", "tokens"}
    cond_out = [o["name"] for o in man["graphs"]["condition"]["outputs"]]
    assert cond_out == [n for n in den_in if n.startswith("cond_")]
    assert all(o["shape"][0] == "batch" for o in man["graphs"]["condition"]["outputs"])
    for k, d in man["validation"]["max_abs_diff"].items():
        assert d is not None and d <= FP32_TOLERANCE, k


def test_denoiser_parity_fp32(exported, pipe):
    """onnxruntime and PyTorch on the same inputs: conditioning (DF-Encoder included)
    and denoiser within 1e-3; the outputs depend on depth and timestep, so the
    comparison is not between constants."""
    den = pipe.denoiser.eval()
    ort = OrtDenoiser(exported[1], provider="cpu", threads=1)
    assert ort.provider == "cpu"
    img, lat, dep, sample = _inputs(pipe, 2, pipe.config.num_frames, seed=5)
    with torch.no_grad():
        cond = den.condition(img, lat, dep)
        ref = den(sample, torch.tensor([700, 700]), cond)
        ref_t = den(sample, torch.tensor([100, 100]), cond)
        tok_d = den.condition(img, lat, dep.flip(-1)).tokens
    oc = ort.condition(img, lat, dep)
    got = ort(sample, torch.tensor([700]), oc)
    diff = float((got - ref).abs().max())
    print(f"denoiser max |onnxruntime - PyTorch| = {diff:.2e}")
    assert diff <= FP32_TOLERANCE
    for name, value in oc.values.items():  # the conditioning itself (DF-Encoder tokens)
        t = getattr(cond, name[len("cond_"):])
        assert float(np.abs(value.numpy() - t.numpy()).max()) <= FP32_TOLERANCE, name
    assert float((ref - ref_t).abs().max()) > 100 * FP32_TOLERANCE
    assert float((cond.tokens - tok_d).abs().max()) > 100 * FP32_TOLERANCE  # the DF-Encoder reads the depth


def test_dynamic_batch_and_frames(exported, pipe):
    den = pipe.denoiser.eval()
    ort = OrtDenoiser(exported[1], provider="cpu", threads=1, verify_files=False)
    for b, t in ((1, pipe.config.num_frames), (3, 5)):
        img, lat, dep, sample = _inputs(pipe, b, t, seed=b)
        ts = torch.full((b,), 400)
        with torch.no_grad():
            ref = den(sample, ts, den.condition(img, lat, dep))
        got = ort(sample, ts, ort.condition(img, lat, dep))
        assert got.shape == (b, t, *sample.shape[2:])
        assert float((got - ref).abs().max()) <= FP32_TOLERANCE


def test_sampling_loop_parity_same_seed(exported, pipe):
    """The pipeline's own loop with the onnxruntime denoiser: same frames as PyTorch."""
    from animatepainter.model.generate import generate_process

    ort = open_backend(exported[1], exported[0], pipe, provider="cpu", threads=1)
    rng = np.random.default_rng(0)
    img = (rng.random((24, 40, 3)) * 255).astype(np.uint8)
    dep = rng.random((24, 40)).astype(np.float32)
    a = pipe(img[:24, :24], dep[:24, :24], num_inference_steps=4, seed=7).frames
    b = pipe(img[:24, :24], dep[:24, :24], num_inference_steps=4, seed=7, denoiser=ort).frames
    c = pipe(img[:24, :24], dep[:24, :24], num_inference_steps=4, seed=8, denoiser=ort).frames
    diff = float(np.abs(a - b).max())
    print(f"sampling loop max |onnxruntime - PyTorch| = {diff:.2e} (frames in [0, 1])")
    assert diff <= FRAMES_TOLERANCE
    assert float(np.abs(b - c).max()) > 100 * FRAMES_TOLERANCE  # the seed matters
    u_t = generate_process(pipe, img, dep, steps=3, seed=1)
    u_o = generate_process(pipe, img, dep, steps=3, seed=1, denoiser=ort)
    assert u_t.shape == u_o.shape and int(np.abs(u_t.astype(int) - u_o.astype(int)).max()) <= 1


def test_generate_cli_onnxruntime_backend(exported, tmp_path, capsys):
    from PIL import Image

    ck, onnx_dir = exported
    rng = np.random.default_rng(2)
    Image.fromarray((rng.random((32, 48, 3)) * 255).astype(np.uint8)).save(tmp_path / "img.png")
    np.save(tmp_path / "depth.npy", rng.random((32, 48)).astype(np.float32))
    common = ["-q", "generate", str(tmp_path / "img.png"), "--ckpt", str(ck), "--depth", str(tmp_path / "depth.npy"), "--steps", "3", "--seed", "2", "--device", "cpu", "--threads", "1", "--video-px", "64"]
    assert cli_main(common + ["-o", str(tmp_path / "ort"), "--backend", "onnxruntime", "--onnx", str(onnx_dir), "--provider", "auto"]) == 0
    assert cli_main(common + ["-o", str(tmp_path / "pt")]) == 0
    rep = json.loads((tmp_path / "ort" / "report.json").read_text())
    assert rep["backend"] == "onnxruntime" and rep["provider"] == "cpu"
    names = sorted(p.name for p in (tmp_path / "pt" / "frames").iterdir())
    assert names == sorted(p.name for p in (tmp_path / "ort" / "frames").iterdir()) and names
    for n in names:
        a = np.asarray(Image.open(tmp_path / "pt" / "frames" / n), dtype=int)
        b = np.asarray(Image.open(tmp_path / "ort" / "frames" / n), dtype=int)
        assert np.abs(a - b).max() <= 1, n


def _cli_error(args, capsys) -> str:
    """Run the CLI on bad input: exit status exactly 2 (docs/onnx.md; 1 is an internal
    error) and one ``error:`` line, returned."""
    capsys.readouterr()
    code = cli_main([str(a) for a in args])
    err = capsys.readouterr().err.strip()
    assert code == 2 and "Traceback" not in err, (code, err)
    last = err.splitlines()[-1]  # (diffusers may draw a loading bar before it)
    assert last.startswith("error:") and sum(line.startswith("error:") for line in err.splitlines()) == 1, err
    return last


def test_missing_provider_names_the_available_ones(exported, tmp_path, capsys, rgb_png):
    import onnxruntime

    missing = [k for k, v in PROVIDERS.items() if v not in onnxruntime.get_available_providers()]
    if not missing:
        pytest.skip("this onnxruntime build has every provider")
    with pytest.raises(SettingsError, match="available: .*cpu"):
        OrtDenoiser(exported[1], provider=missing[0])
    err = _cli_error(["generate", rgb_png, "-o", tmp_path / "o", "--ckpt", exported[0], "--backend", "onnxruntime", "--onnx", exported[1], "--provider", missing[0], "--device", "cpu"], capsys)
    assert PROVIDERS[missing[0]] in err and "available:" in err
    assert not (tmp_path / "o").exists()
    with pytest.raises(SettingsError, match="^provider must be"):
        provider_chain("rocm")


def test_checkpoint_that_does_not_match_the_export(exported, pipe, tmp_path, capsys, rgb_png):
    other = _randomised_tiny(seed=2)
    save_pipeline(other, tmp_path / "other")
    with pytest.raises(InputError, match="is not the checkpoint this ONNX export was made from"):
        open_backend(exported[1], tmp_path / "other", other)
    err = _cli_error(["generate", rgb_png, "-o", tmp_path / "o", "--ckpt", tmp_path / "other", "--backend", "onnxruntime", "--onnx", exported[1], "--device", "cpu"], capsys)
    assert "re-export" in err
    # same hash but a pipeline of other shapes (e.g. a hand-edited manifest)
    man = load_manifest(exported[1])
    man["pipeline"]["latent_size"] = 16
    with pytest.raises(InputError, match="latent_size 8 vs 16"):
        check_checkpoint(man, exported[0], pipe)


def test_export_folder_from_another_version_or_tampered(exported, tmp_path, capsys, rgb_png):
    bad = tmp_path / "old"
    shutil.copytree(exported[1], bad)
    man = json.loads((bad / "manifest.json").read_text())
    (bad / "manifest.json").write_text(json.dumps({**man, "package_version": "0.0.1"}))
    with pytest.raises(InputError, match="exported by animatepainter 0.0.1"):
        load_manifest(bad)
    err = _cli_error(["generate", rgb_png, "-o", tmp_path / "o", "--ckpt", exported[0], "--backend", "onnxruntime", "--onnx", bad, "--device", "cpu"], capsys)
    assert "re-export" in err
    (bad / "manifest.json").write_text(json.dumps({**man, "format": "animatepainter.onnx/0"}))
    with pytest.raises(InputError, match="format 'animatepainter.onnx/0'"):
        load_manifest(bad)
    (bad / "manifest.json").write_text(json.dumps(man))
    with open(bad / "denoiser.onnx", "ab") as f:
        f.write(b"\0")
    with pytest.raises(InputError, match="denoiser.onnx is not the file this manifest describes"):
        load_manifest(bad)
    (bad / "manifest.json").unlink()
    with pytest.raises(InputError, match="no manifest.json"):
        load_manifest(bad)
    with pytest.raises(InputError, match="not found"):
        load_manifest(tmp_path / "nowhere")
    _cli_error(["generate", rgb_png, "-o", tmp_path / "o", "--backend", "onnxruntime"], capsys)  # no --onnx


def test_bad_export_settings_and_atomic_output(exported, tmp_path, capsys, monkeypatch):
    err = _cli_error(["export", "onnx", "--ckpt", exported[0], "-o", tmp_path / "x", "--opset", "9"], capsys)
    assert "--opset" in err
    _cli_error(["export", "onnx", "--ckpt", tmp_path / "missing", "-o", tmp_path / "x"], capsys)
    real = onnx_export._export_graph

    def failing(module, args, path, *a, **k):
        if path.name == "denoiser.onnx":
            raise RuntimeError("simulated exporter failure")
        return real(module, args, path, *a, **k)

    monkeypatch.setattr(onnx_export, "_export_graph", failing)
    with pytest.raises(OutputError, match="simulated exporter failure"):
        export_onnx(exported[0], tmp_path / "x")
    assert list(tmp_path.iterdir()) == [], "a failed export left files behind"


def test_fp16_export_keeps_float32_io(exported, pipe, tmp_path):
    """--fp16: fp16 weights, float32 inputs/outputs, a checked graph, and (where the
    CPU provider runs it) outputs close to PyTorch's; --opset is honoured."""
    import onnx

    man = export_onnx(exported[0], tmp_path / "fp16", fp16=True, opset=18)
    assert man["precision"] == "fp16" and man["opset"] == 18
    model = onnx.load(str(tmp_path / "fp16" / "denoiser.onnx"))
    assert model.opset_import[0].version == 18
    floats = [i.data_type for i in model.graph.initializer if i.data_type in (onnx.TensorProto.FLOAT, onnx.TensorProto.FLOAT16)]
    assert floats and all(t == onnx.TensorProto.FLOAT16 for t in floats)
    io = {i["name"]: i["dtype"] for i in man["graphs"]["denoiser"]["inputs"] + man["graphs"]["denoiser"]["outputs"]}
    assert io["sample"] == io["model_output"] == io["cond_tokens"] == "float32"
    assert man["graphs"]["denoiser"]["bytes"] < 0.75 * load_manifest(exported[1])["graphs"]["denoiser"]["bytes"]
    # the export's own validation ran (None would mean it was skipped) and is within
    # the fp16 tolerance; and, independently of the manifest, onnxruntime on the fp16
    # graphs agrees with PyTorch on fresh inputs
    diffs = man["validation"]["max_abs_diff"]
    assert diffs["condition"] is not None and diffs["denoiser"] is not None, diffs
    assert diffs["condition"] <= 5e-2 and diffs["denoiser"] <= 5e-2, diffs
    den = pipe.denoiser.eval()
    ort = OrtDenoiser(tmp_path / "fp16", provider="cpu", threads=1)
    img, lat, dep, sample = _inputs(pipe, 1, pipe.config.num_frames, seed=11)
    with torch.no_grad():
        ref = den(sample, torch.tensor([300]), den.condition(img, lat, dep))
    got = ort(sample, torch.tensor([300]), ort.condition(img, lat, dep))
    diff = float((got - ref).abs().max())
    print(f"fp16 denoiser max |onnxruntime - PyTorch| = {diff:.2e}")
    assert diff <= 5e-2


def test_provider_chain_options(monkeypatch, tmp_path):
    """TensorRT gets engine + timing caching in the user's folder (option or env) and
    CUDA under it; auto keeps TensorRT > CUDA > CPU."""
    import onnxruntime

    monkeypatch.setattr(onnxruntime, "get_available_providers", lambda: ["CPUExecutionProvider", "CUDAExecutionProvider", "TensorrtExecutionProvider"])
    monkeypatch.setenv("ANIMATEPAINTER_TRT_CACHE", str(tmp_path / "env-cache"))
    assert default_trt_cache() == tmp_path / "env-cache"
    auto = provider_chain("auto", trt_fp16=True)
    assert [n for n, _ in auto] == ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"]
    trt = auto[0][1]
    assert trt["trt_engine_cache_enable"] and trt["trt_timing_cache_enable"] and trt["trt_fp16_enable"]
    assert trt["trt_engine_cache_path"] == str(tmp_path / "env-cache")
    named = provider_chain("tensorrt", trt_cache=tmp_path / "opt-cache")
    assert [n for n, _ in named] == ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"]
    assert named[0][1]["trt_engine_cache_path"] == str(tmp_path / "opt-cache") and not named[0][1]["trt_fp16_enable"]
    assert [n for n, _ in provider_chain("cpu")] == ["CPUExecutionProvider"]
    assert "use_tf32" not in auto[1][1] and provider_chain("cuda", tf32=False)[0][1]["use_tf32"] == "0"


def test_cuda_io_binding_keeps_tensors_on_the_gpu(exported):
    """onnxruntime-gpu (the [gpu] extra, docs/onnx.md) keeps the conditioning and the
    prediction on the GPU and agrees with PyTorch CUDA to 1e-3. Skips without a CUDA GPU
    or without onnxruntime's CUDA provider; fails instead under ANIMATEPAINTER_REQUIRE=cuda."""
    import onnxruntime

    skip_unless("cuda", torch.cuda.is_available(), "needs a CUDA GPU")
    skip_unless("cuda", "CUDAExecutionProvider" in onnxruntime.get_available_providers(),
                "onnxruntime without the CUDA provider (pip uninstall -y onnxruntime && pip install -e '.[gpu]', docs/onnx.md)")
    pipe = load_pipeline(exported[0], device="cuda")
    ort = OrtDenoiser(exported[1], provider="cuda", tf32=False)  # full fp32 math, as the reference below
    img, lat, dep, sample = (t.cuda() for t in _inputs(pipe, 1, pipe.config.num_frames, seed=3))
    cond = ort.condition(img, lat, dep)
    assert all(v.device_name() == "cuda" for v in cond.values.values())
    out = ort(sample, torch.tensor([500], device="cuda"), cond)
    assert out.is_cuda
    flags = (torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32)
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    try:
        with torch.no_grad():
            den = pipe.denoiser.eval()
            ref = den(sample, torch.tensor([500], device="cuda"), den.condition(img, lat, dep))
    finally:
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = flags
    assert float((out - ref).abs().max()) <= FP32_TOLERANCE


def test_stable_video_diffusion_path(tmp_path):
    """A tiny random SVD-style checkpoint (CLIP image encoder, VAE latents, Euler
    scheduler with float timesteps): needs opset 18 (antialiased resize), then the
    sampling loop matches PyTorch with the VAE in PyTorch."""
    from diffusers import AutoencoderKLTemporalDecoder, EulerDiscreteScheduler, StableVideoDiffusionPipeline, UNetSpatioTemporalConditionModel
    from transformers import CLIPImageProcessor, CLIPVisionConfig, CLIPVisionModelWithProjection

    torch.manual_seed(0)
    unet = UNetSpatioTemporalConditionModel(
        block_out_channels=(32, 32), layers_per_block=1, sample_size=8, in_channels=8, out_channels=4,
        down_block_types=("CrossAttnDownBlockSpatioTemporal", "DownBlockSpatioTemporal"), up_block_types=("UpBlockSpatioTemporal", "CrossAttnUpBlockSpatioTemporal"),
        cross_attention_dim=32, num_attention_heads=2, projection_class_embeddings_input_dim=12, addition_time_embed_dim=4, num_frames=2,
    )
    sched = EulerDiscreteScheduler(beta_schedule="scaled_linear", prediction_type="v_prediction", sigma_max=700.0, sigma_min=0.002, timestep_type="continuous", use_karras_sigmas=True)
    vae = AutoencoderKLTemporalDecoder(block_out_channels=[32, 32], down_block_types=["DownEncoderBlock2D", "DownEncoderBlock2D"], latent_channels=4, layers_per_block=1)
    enc = CLIPVisionModelWithProjection(CLIPVisionConfig(hidden_size=32, projection_dim=32, num_hidden_layers=1, num_attention_heads=4, image_size=16, intermediate_size=37, patch_size=4))
    StableVideoDiffusionPipeline(vae=vae, image_encoder=enc, unet=unet, scheduler=sched, feature_extractor=CLIPImageProcessor(crop_size=16, size=16)).save_pretrained(tmp_path / "svd")
    pipe = AnimatePainterPipeline.from_svd(tmp_path / "svd", resolution=16, num_frames=2, pos_freqs=2, df_encoder={"block_channels": [8, 16], "token_grids": [4, 2]})
    save_pipeline(pipe, tmp_path / "ck")
    with pytest.raises(SettingsError, match="^opset 17 is too old .* needs 18 or later"):
        export_onnx(tmp_path / "ck", tmp_path / "onnx")
    man = export_onnx(tmp_path / "ck", tmp_path / "onnx", opset=18)
    assert man["pipeline"]["timestep_dtype"] == "float32" and man["pipeline"]["scheduler"] == "EulerDiscreteScheduler"
    pipe = load_pipeline(tmp_path / "ck")
    ort = open_backend(tmp_path / "onnx", tmp_path / "ck", pipe, provider="cpu", threads=1)
    rng = np.random.default_rng(0)
    img, dep = rng.random((16, 16, 3)).astype(np.float32), rng.random((16, 16)).astype(np.float32)
    a = pipe(img, dep, num_inference_steps=3, seed=1).frames
    b = pipe(img, dep, num_inference_steps=3, seed=1, denoiser=ort).frames
    assert float(np.abs(a - b).max()) <= FRAMES_TOLERANCE
