"""The diffuser's modules and pipeline: shapes, determinism, save/load round trips,
the Stable Video Diffusion path, and one-line errors for bad checkpoints and inputs."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from animatepainter.model.config import load_model_config
from animatepainter.model.df_encoder import DFEncoder, fourier_positions
from animatepainter.model.pipeline import AnimatePainterPipeline, load_pipeline, save_pipeline
from animatepainter.planner.errors import InputError, SettingsError


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def tiny():
    """The ``micro`` test config: the same code as ``tiny``, a quarter of the work."""
    return AnimatePainterPipeline.from_model_config("micro", seed=0)


def _inputs(b=1, r=16, seed=0):
    g = torch.Generator().manual_seed(seed)
    img = torch.rand(b, 3, r, r, generator=g)
    dep = torch.rand(b, 1, r, r, generator=g)
    return img, dep


def _randomise_head(pipe, seed=1):
    """Give the zero-initialised output head random weights (so outputs depend on inputs)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        pipe.unet.conv_out.weight.copy_(torch.randn(pipe.unet.conv_out.weight.shape, generator=g) * 0.05)


def test_configs_build_and_carry_their_settings():
    """The pipeline is built with the config's settings, and the UNet's channel counts
    follow the documented layout (model/denoiser.py): a ``p x p`` patch of RGB is
    ``3 p^2`` channels; the UNet reads the noisy sample and the image (``2 * 3 p^2``)
    plus ``4 * pos_freqs`` Fourier position channels, and writes a residual (``3 p^2``)
    and one paint gate per pixel (``p^2``)."""
    cfg = load_model_config("tiny")
    pipe = AnimatePainterPipeline.from_model_config(cfg)
    assert pipe.config.resolution == cfg.resolution and pipe.config.num_frames == cfg.num_frames
    assert pipe.unet.config.num_frames == cfg.num_frames
    p = cfg.patch_size
    assert pipe.latent_size == cfg.resolution // p
    assert pipe.unet.config.in_channels == 2 * 3 * p * p + 4 * cfg.pos_freqs
    assert pipe.unet.config.out_channels == 3 * p * p + p * p
    assert isinstance(pipe.df_encoder, DFEncoder)
    assert pipe.df_encoder.config.token_dim == pipe.unet.config.cross_attention_dim
    base = load_model_config("base")
    assert base.resolution > cfg.resolution and base.num_frames > cfg.num_frames
    assert base.unet["block_out_channels"][0] > cfg.unet["block_out_channels"][0]


def test_df_encoder_tokens_depend_on_depth_not_resolution():
    enc = DFEncoder(block_channels=(8, 16), token_grids=(4, 2), token_dim=32, pos_freqs=2)
    d1 = torch.rand(2, 1, 32, 32, generator=torch.Generator().manual_seed(0))
    d2 = torch.rand(2, 1, 64, 48, generator=torch.Generator().manual_seed(1))
    t1, t2 = enc(d1), enc(d2)
    assert t1.shape == (2, 16 + 4, 32) == t2.shape
    assert enc.num_tokens == 20
    assert not torch.allclose(enc(d1), enc(d1.flip(-1)))  # where the depth is matters


def test_fourier_positions_range_and_shape():
    p = fourier_positions(8, 6, 3)
    assert p.shape == (12, 8, 6)
    assert float(p.abs().max()) <= 1.0
    assert fourier_positions(4, 4, 0).shape == (0, 4, 4)


def test_untrained_composite_head_is_the_crossfade(tiny):
    """With the zero-initialised head, frame t is ``blank + a_t (image - blank)`` with
    ``a_t = clip(t / (T-1), 0.02, 0.98)`` (model/denoiser.py); for micro's 4 frames,
    worked by hand: 0.02, 1/3, 2/3, 0.98."""
    img, dep = _inputs()
    frames = tiny(img, dep, num_inference_steps=2, seed=0).frames[0]  # (T, R, R, 3)
    assert frames.shape[0] == 4
    a = np.array([0.02, 1 / 3, 2 / 3, 0.98])[:, None, None, None]
    expect = 1.0 + (img[0].permute(1, 2, 0).numpy()[None] - 1.0) * a
    np.testing.assert_allclose(frames, expect, atol=1e-5)


def test_sampling_shapes_determinism_and_seed(tiny):
    _randomise_head(tiny)
    img, dep = _inputs(b=2)
    a = tiny(img, dep, num_inference_steps=2, seed=3).frames
    b = tiny(img, dep, num_inference_steps=2, seed=3).frames
    c = tiny(img, dep, num_inference_steps=2, seed=4).frames
    assert a.shape == (2, 4, 16, 16, 3) and a.dtype == np.float32
    assert a.min() >= 0 and a.max() <= 1
    np.testing.assert_array_equal(a, b)
    assert np.abs(a - c).max() > 1e-4
    pt = tiny(img, dep, num_inference_steps=1, seed=3, output_type="pt").frames
    assert pt.shape == (2, 4, 3, 16, 16)


def test_depth_reaches_the_output_through_the_df_encoder(tiny):
    _randomise_head(tiny)
    img, dep = _inputs()
    a = tiny(img, dep, num_inference_steps=1, seed=0).frames
    b = tiny(img, 1 - dep, num_inference_steps=1, seed=0).frames
    assert np.abs(a - b).max() > 1e-5
    abl = AnimatePainterPipeline.from_model_config("micro", use_df_encoder=False, seed=0)
    _randomise_head(abl)
    assert abl.df_encoder is None and abl.config.model_name == "micro-nodf"
    x = abl(img, dep, num_inference_steps=1, seed=0).frames
    y = abl(img, 1 - dep, num_inference_steps=1, seed=0).frames
    np.testing.assert_array_equal(x, y)  # the ablation has no depth path at all


def test_save_load_round_trip(tiny, tmp_path):
    _randomise_head(tiny)
    img, dep = _inputs()
    want = tiny(img, dep, num_inference_steps=2, seed=5).frames
    save_pipeline(tiny, tmp_path / "ck", extra_files={"MODEL_CARD.md": b"card"})
    assert (tmp_path / "ck" / "MODEL_CARD.md").read_bytes() == b"card"
    assert not [p for p in (tmp_path / "ck").iterdir() if p.name.startswith(".")]
    back = load_pipeline(tmp_path / "ck")
    np.testing.assert_allclose(back(img, dep, num_inference_steps=2, seed=5).frames, want, atol=1e-5)
    assert back.config.output_head == "composite" and list(back.config.background) == [255, 255, 255]
    abl = AnimatePainterPipeline.from_model_config("micro", use_df_encoder=False)
    save_pipeline(abl, tmp_path / "abl")
    assert load_pipeline(tmp_path / "abl").df_encoder is None


def test_bad_checkpoints_give_one_line_errors(tiny, tmp_path):
    with pytest.raises(InputError, match="not found"):
        load_pipeline(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="no model_index.json"):
        load_pipeline(tmp_path / "empty")
    (tmp_path / "run" / "checkpoints").mkdir(parents=True)
    with pytest.raises(InputError, match="training has not finished"):
        load_pipeline(tmp_path / "run")
    ck = tmp_path / "ck"
    save_pipeline(tiny, ck)
    # a config whose shapes don't fit the weights
    cfg_path = ck / "unet" / "config.json"
    cfg = json.loads(cfg_path.read_text())
    cfg["block_out_channels"] = [64, 64]  # the weights are [32, 32]
    cfg_path.write_text(json.dumps(cfg))
    with pytest.raises(InputError) as e:
        load_pipeline(ck)
    assert "\n" not in str(e.value) and str(ck) in str(e.value)
    # a component folder that went missing
    save_pipeline(tiny, tmp_path / "ck2")
    import shutil

    shutil.rmtree(tmp_path / "ck2" / "df_encoder")
    with pytest.raises(InputError, match="df_encoder/ is missing"):
        load_pipeline(tmp_path / "ck2")
    # DF-Encoder weights that don't fit its config (layers the weights lack)
    save_pipeline(tiny, tmp_path / "ck3")
    dcfg = tmp_path / "ck3" / "df_encoder" / "config.json"
    d = json.loads(dcfg.read_text())
    d["block_channels"], d["token_grids"] = d["block_channels"] + [64], d["token_grids"] + [1]
    dcfg.write_text(json.dumps(d))
    with pytest.raises(InputError, match="df_encoder|fit"):
        load_pipeline(tmp_path / "ck3")


def test_bad_images_give_one_line_errors(tiny):
    from PIL import Image

    dep = np.zeros((16, 16), np.float32)
    with pytest.raises(InputError, match="RGB"):
        tiny(np.zeros((16, 16, 4), np.uint8), dep, num_inference_steps=1)
    with pytest.raises(InputError, match="mode L"):
        tiny(Image.new("L", (16, 16)), dep, num_inference_steps=1)
    with pytest.raises(InputError, match="depth"):
        tiny(np.zeros((16, 16, 3), np.uint8), np.zeros((2, 3, 16, 16)), num_inference_steps=1)
    with pytest.raises(InputError, match="within"):
        tiny(np.full((16, 16, 3), 2.0, np.float32), dep, num_inference_steps=1)
    with pytest.raises(SettingsError, match="steps"):
        tiny(np.zeros((16, 16, 3), np.uint8), dep, num_inference_steps=0)


def test_unknown_or_broken_configs(tmp_path):
    with pytest.raises(SettingsError, match="not one of"):
        load_model_config("huge")
    p = tmp_path / "c.json"
    d = load_model_config("tiny").to_dict()
    d["resolution"] = 30
    p.write_text(json.dumps(d))
    with pytest.raises(SettingsError, match="multiple of patch_size"):
        load_model_config(p)
    d = load_model_config("tiny").to_dict()
    d["wobble"] = 1
    p.write_text(json.dumps(d))
    with pytest.raises(SettingsError, match="unknown key"):
        load_model_config(p)


# --------------------------------------------------------------- Stable Video Diffusion
@pytest.fixture(scope="module")
def svd_dir(tmp_path_factory):
    """A tiny randomly initialised Stable Video Diffusion image-to-video checkpoint."""
    from diffusers import AutoencoderKLTemporalDecoder, EulerDiscreteScheduler, StableVideoDiffusionPipeline, UNetSpatioTemporalConditionModel
    from transformers import CLIPImageProcessor, CLIPVisionConfig, CLIPVisionModelWithProjection

    torch.manual_seed(0)
    unet = UNetSpatioTemporalConditionModel(
        block_out_channels=(32, 32),
        layers_per_block=1,
        sample_size=8,
        in_channels=8,
        out_channels=4,
        down_block_types=("CrossAttnDownBlockSpatioTemporal", "DownBlockSpatioTemporal"),
        up_block_types=("UpBlockSpatioTemporal", "CrossAttnUpBlockSpatioTemporal"),
        cross_attention_dim=32,
        num_attention_heads=2,
        projection_class_embeddings_input_dim=12,
        addition_time_embed_dim=4,
        num_frames=2,
    )
    scheduler = EulerDiscreteScheduler(
        beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", interpolation_type="linear", num_train_timesteps=1000,
        prediction_type="v_prediction", sigma_max=700.0, sigma_min=0.002, steps_offset=1, timestep_spacing="leading",
        timestep_type="continuous", use_karras_sigmas=True,
    )
    vae = AutoencoderKLTemporalDecoder(block_out_channels=[32, 32], in_channels=3, out_channels=3, down_block_types=["DownEncoderBlock2D", "DownEncoderBlock2D"], latent_channels=4, layers_per_block=1)
    enc = CLIPVisionModelWithProjection(CLIPVisionConfig(hidden_size=32, projection_dim=32, num_hidden_layers=1, num_attention_heads=4, image_size=16, intermediate_size=37, patch_size=4))
    fe = CLIPImageProcessor(crop_size=16, size=16)
    d = tmp_path_factory.mktemp("svd")
    StableVideoDiffusionPipeline(vae=vae, image_encoder=enc, unet=unet, scheduler=scheduler, feature_extractor=fe).save_pretrained(d)
    return d


def test_svd_checkpoint_gets_a_df_encoder_and_round_trips(svd_dir, tmp_path):
    pipe = AnimatePainterPipeline.from_svd(svd_dir, resolution=16, num_frames=2, pos_freqs=2, df_encoder={"block_channels": [8, 16], "token_grids": [4, 2]})
    assert pipe.vae is not None and pipe.df_encoder is not None
    assert pipe.df_encoder.config.token_dim == 32
    assert pipe.unet.config.in_channels == 8 + 8  # noisy + image latents + 8 position channels (zero-initialised)
    assert torch.count_nonzero(pipe.unet.conv_in.weight[:, 8:]) == 0
    img, dep = _inputs(r=20)
    a = pipe(img, dep, num_inference_steps=2, seed=1).frames
    assert a.shape == (1, 2, 16, 16, 3)
    save_pipeline(pipe, tmp_path / "svdap")
    back = load_pipeline(tmp_path / "svdap")
    np.testing.assert_allclose(back(img, dep, num_inference_steps=2, seed=1).frames, a, atol=1e-5)
    with pytest.raises(InputError, match="Stable Video Diffusion checkpoint"):
        load_pipeline(svd_dir)


def test_svd_training_step_reduces_loss_on_one_batch(svd_dir):
    from animatepainter.model.train import _Targets

    pipe = AnimatePainterPipeline.from_svd(svd_dir, resolution=16, num_frames=2, pos_freqs=2, df_encoder={"block_channels": [8, 16], "token_grids": [4, 2]})
    den = pipe.denoiser
    targets = _Targets(pipe.scheduler, 0.0)
    assert targets.kind == "edm"
    frames = torch.rand(1, 2, 3, 16, 16) * 2 - 1
    image, depth = frames[:, -1], torch.rand(1, 1, 16, 16)
    with torch.no_grad():
        x0 = pipe.space.encode(frames.flatten(0, 1)).reshape(1, 2, 4, 8, 8)
        lat = pipe.space.encode(image)
    params = [p for p in den.parameters() if p.requires_grad]
    assert not any(p.requires_grad for p in pipe.image_encoder.parameters())  # CLIP stays frozen
    opt = torch.optim.Adam(params, lr=1e-3)
    losses = []
    for _ in range(3):
        inp, ts, target, w = targets(x0, torch.Generator().manual_seed(0))  # the same noise each time
        loss = ((den(inp, ts, image=image, image_latent=lat, depth=depth) - target) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss))
    assert losses[-1] < losses[0]


def test_not_an_svd_folder(tmp_path):
    with pytest.raises(InputError, match="not a Stable Video Diffusion"):
        AnimatePainterPipeline.from_svd(tmp_path)


def test_spatial_bias_layout_and_attention():
    from diffusers.models.attention_processor import Attention, AttnProcessor2_0

    from animatepainter.model.attention import SpatialBiasAttnProcessor, token_layout

    xy, sigma = token_layout([2, None, 1])
    assert xy.shape == (6, 2) and sigma.tolist() == [0.5] * 4 + [0.0, 0.0]
    assert xy[:4].tolist() == [[-0.5, -0.5], [0.5, -0.5], [-0.5, 0.5], [0.5, 0.5]]
    attn = Attention(query_dim=8, cross_attention_dim=8, heads=2, dim_head=4)
    g = torch.Generator().manual_seed(0)
    h, ehs = torch.randn(3, 16, 8, generator=g), torch.randn(3, 6, 8, generator=g)
    # with no positioned tokens it is exactly diffusers' attention
    plain = SpatialBiasAttnProcessor(torch.zeros(6, 2), torch.zeros(6))
    torch.testing.assert_close(plain(attn, h, ehs), AttnProcessor2_0()(attn, h, ehs))
    # with the bias, the top-left query weighs the top-left token most
    proc = SpatialBiasAttnProcessor(xy, sigma)
    b = proc.bias(16, torch.device("cpu"), torch.float32)[0, 0]  # (16 queries, 6 tokens)
    assert b.shape == (16, 6) and b[0, :4].argmax() == 0 and b[15, :4].argmax() == 3 and (b[:, 4:] == 0).all()
    assert not torch.allclose(proc(attn, h, ehs), plain(attn, h, ehs))
    with pytest.raises(ValueError, match="tokens"):
        proc(attn, h, ehs[:, :5])


def test_pipeline_installs_the_bias_on_spatial_cross_attention_only(tiny):
    from animatepainter.model.attention import SpatialBiasAttnProcessor

    procs = tiny.unet.attn_processors
    biased = [k for k, v in procs.items() if isinstance(v, SpatialBiasAttnProcessor)]
    assert biased and all("attn2" in k and "temporal" not in k for k in biased)
    assert tiny.token_grids() == [2, 4, 2]
    n_tokens = tiny.image_encoder.num_tokens + tiny.df_encoder.num_tokens
    assert next(iter(procs[biased[0]].xy.shape)) == n_tokens
