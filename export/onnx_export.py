"""Export the diffuser's networks to ONNX (``animatepainter export onnx``).

The sampling loop of :class:`~animatepainter.model.pipeline.AnimatePainterPipeline`
runs two networks, both through :class:`~animatepainter.model.denoiser.ProcessDenoiser`:

* ``condition.onnx`` -- :meth:`ProcessDenoiser.condition`, run once per batch: the
  image token encoder, the **DF-Encoder** (depth tokens), the conditioning channels
  (image + position (+ depth)) and the blank canvas. Inputs ``image`` float32
  ``(B, 3, R, R)`` in ``[-1, 1]``, ``image_latent`` float32 ``(B, C, h, w)`` (the image in
  the model space), ``depth`` float32 ``(B, 1, R, R)`` in ``[0, 1]``; outputs one tensor per
  field of :class:`~animatepainter.model.denoiser.Conditioning`, named ``cond_<field>``.
* ``denoiser.onnx`` -- :meth:`ProcessDenoiser.forward`, run at every step: the video UNet
  with the conditioning concatenated and the output head. Inputs ``sample`` float32
  ``(B, T, C, h, w)``, ``timestep`` ``(B,)`` (the scheduler's dtype: int64 for DDIM) and the
  ``cond_<field>`` tensors; output ``model_output`` float32 ``(B, T, C, h, w)``.

The scheduler, the initial noise and the model-space encode/decode (``pixel_unshuffle``
for the pixel models; the VAE of the Stable Video Diffusion path) stay in the pipeline,
so the onnxruntime backend runs *the same* sampling loop (see
:mod:`animatepainter.export.ort_runtime`).

Dynamic axes: ``batch`` on every input and output, ``frames`` on ``sample`` and
``model_output`` (the UNet and the output head take any frame count). The spatial size
is fixed by the checkpoint's resolution.

The output folder holds the two graphs and ``manifest.json`` (format, package version,
opset, precision, the checkpoint's SHA-256, each graph's file hash, input/output names,
shapes and dtypes, and the PyTorch-vs-onnxruntime differences measured at export). It
is staged beside the destination and published whole (manifest last).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any, Optional

import numpy as np

from animatepainter.planner.errors import InputError, OutputError, SettingsError, one_line
from animatepainter.planner.progress import NULL_PROGRESS, Progress
from animatepainter.planner.images import file_sha256

log = logging.getLogger(__name__)

__all__ = [
    "ONNX_FORMAT",
    "MANIFEST_NAME",
    "GRAPH_FILES",
    "DEFAULT_OPSET",
    "MIN_OPSET",
    "MAX_OPSET",
    "FP32_TOLERANCE",
    "checkpoint_sha256",
    "cond_fields",
    "package_version",
    "export_onnx",
]

#: manifest ``format``; bumped when the graphs' interface changes
ONNX_FORMAT = "animatepainter.onnx/1"
MANIFEST_NAME = "manifest.json"
GRAPH_FILES = {"condition": "condition.onnx", "denoiser": "denoiser.onnx"}
#: opset 14 is the first with the attention ops the UNet needs; 20 is the most the
#: TorchScript exporter writes
DEFAULT_OPSET, MIN_OPSET, MAX_OPSET = 17, 14, 20
#: largest fp32 |onnxruntime - PyTorch| accepted at export (outputs are O(1))
FP32_TOLERANCE = 1e-3
#: the same for fp16 graphs (checked only where an execution provider runs fp16)
FP16_TOLERANCE = 5e-2
#: files of a checkpoint folder that are not part of the model (training state, notes)
_CKPT_SKIP = {"checkpoints", "train_log.csv", "MODEL_CARD.md", "README.md", "onnx"}


def package_version() -> str:
    """The installed animatepainter version (``0.0.0+unknown`` from an uninstalled tree)."""
    from animatepainter.planner import __version__

    return str(__version__)


def cond_fields() -> list[str]:
    """Names of the :class:`~animatepainter.model.denoiser.Conditioning` fields, in order
    (the graphs' ``cond_<field>`` tensors)."""
    from animatepainter.model.denoiser import Conditioning

    return [f.name for f in dataclasses.fields(Conditioning)]


def checkpoint_sha256(ckpt: str | Path) -> str:
    """SHA-256 identifying a pipeline checkpoint folder's model.

    Hashes ``model_index.json`` and every file of the component folders it names
    (configs and weights), as ``relative path NUL file-sha256 LF`` lines in sorted
    order, so that it changes when any weight or setting does and not when training
    state, logs or a model card beside them do.

    Raises:
        InputError: not a checkpoint folder (no ``model_index.json``).
    """
    root = Path(ckpt)
    idx = root / "model_index.json"
    if not idx.is_file():
        raise InputError(f"{root}: not an AnimatePainter checkpoint (no model_index.json)")
    try:
        index = json.loads(idx.read_text())
    except (OSError, ValueError) as e:
        raise InputError(f"{idx}: unreadable ({one_line(e, 120)})") from None
    comps = sorted(k for k, v in index.items() if isinstance(v, list) and len(v) == 2 and isinstance(v[0], str) and k not in _CKPT_SKIP)
    files = [idx]
    for c in comps:
        d = root / c
        if d.is_dir():
            files += [p for p in d.rglob("*") if p.is_file()]
    h = hashlib.sha256()
    for p in sorted(files, key=lambda p: p.relative_to(root).as_posix()):
        h.update(f"{p.relative_to(root).as_posix()}\0{file_sha256(p)}\n".encode())
    return h.hexdigest()


# ---------------------------------------------------------------------- graph wrappers
def _wrappers(den: Any) -> tuple[Any, Any]:
    """``torch.nn.Module`` wrappers with flat tensor signatures around ``den``."""
    import torch

    from animatepainter.model.denoiser import Conditioning

    fields = cond_fields()

    class ConditionGraph(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.den = den

        def forward(self, image: torch.Tensor, image_latent: torch.Tensor, depth: torch.Tensor) -> tuple[torch.Tensor, ...]:
            c = self.den.condition(image, image_latent, depth)
            return tuple(getattr(c, f) for f in fields)

    class DenoiserGraph(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.den = den

        def forward(self, sample: torch.Tensor, timestep: torch.Tensor, *cond: torch.Tensor) -> torch.Tensor:
            return self.den(sample, timestep, Conditioning(*cond))

    return ConditionGraph().eval(), DenoiserGraph().eval()


def _example_inputs(pipe: Any, batch: int, frames: int, seed: int) -> dict[str, Any]:
    """Deterministic example inputs at the pipeline's resolution (float32, CPU)."""
    import torch

    g = torch.Generator().manual_seed(seed)
    r = int(pipe.config.resolution)
    image = torch.rand(batch, 3, r, r, generator=g) * 2 - 1
    depth = torch.rand(batch, 1, r, r, generator=g)
    with torch.no_grad():
        image_latent = pipe.space.encode(image)
    c, s = pipe.space.channels, pipe.latent_size
    sample = torch.randn(batch, frames, c, s, s, generator=g)
    pipe.scheduler.set_timesteps(4)
    ts = pipe.scheduler.timesteps
    timestep = ts[torch.randint(0, len(ts), (1,), generator=g)].repeat(batch)
    return {"image": image, "image_latent": image_latent, "depth": depth, "sample": sample, "timestep": timestep}


def _io_specs(model: Any) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Names, shapes (ints or dim names) and numpy dtypes of an ONNX model's I/O."""
    from onnx import helper

    def spec(vi: Any) -> dict[str, Any]:
        tt = vi.type.tensor_type
        shape = [d.dim_param if d.dim_param else int(d.dim_value) for d in tt.shape.dim]
        return {"name": vi.name, "shape": shape, "dtype": str(np.dtype(helper.tensor_dtype_to_np_dtype(tt.elem_type)))}

    inits = {i.name for i in model.graph.initializer}
    return [spec(v) for v in model.graph.input if v.name not in inits], [spec(v) for v in model.graph.output]


def _register_antialias_resize(opset: int) -> None:
    """Teach the TorchScript exporter ``aten::_upsample_bicubic2d_aa`` (the antialiased
    bicubic resize of the CLIP image input on the Stable Video Diffusion path) as ONNX
    ``Resize`` with ``antialias=1`` (opset 18+). PyTorch's antialiased bicubic is the
    Keys kernel with ``a = -0.5`` and weights normalised inside the image, i.e. ONNX's
    ``cubic_coeff_a=-0.5, exclude_outside=1`` with half-pixel centres (checked against
    onnxruntime to 4e-7 for down- and up-sampling)."""
    import torch
    from torch.onnx import symbolic_helper as sh

    def bicubic_aa(g: Any, x: Any, output_size: Any, align_corners: Any, scales_h: Any = None, scales_w: Any = None) -> Any:
        if sh._maybe_get_const(align_corners, "b"):
            return sh._unimplemented("_upsample_bicubic2d_aa", "align_corners=True")
        sizes = torch.tensor(list(sh._maybe_get_const(output_size, "is")), dtype=torch.int64)
        nc = g.op("Slice", g.op("Shape", x), g.op("Constant", value_t=torch.tensor([0])), g.op("Constant", value_t=torch.tensor([2])))
        out = g.op("Concat", nc, g.op("Constant", value_t=sizes), axis_i=0)
        empty = g.op("Constant", value_t=torch.tensor([], dtype=torch.float32))
        return g.op("Resize", x, empty, empty, out, mode_s="cubic", cubic_coeff_a_f=-0.5, exclude_outside_i=1, coordinate_transformation_mode_s="half_pixel", antialias_i=1)

    torch.onnx.register_custom_op_symbolic("aten::_upsample_bicubic2d_aa", bicubic_aa, 18)


def _save(model: Any, dest: Path) -> None:
    """Save an ONNX model; weights go to ``<name>.data`` beside it past 1.5 GB (protobuf
    files are limited to 2 GB)."""
    import onnx

    big = model.ByteSize() > 1_500_000_000
    onnx.save_model(model, str(dest), save_as_external_data=big, all_tensors_to_one_file=True, location=dest.name + ".data" if big else None)


def _export_graph(module: Any, args: tuple, path: Path, input_names: list[str], output_names: list[str], dynamic_axes: dict[str, dict[int, str]], opset: int, fp16: bool) -> None:
    """Export one graph to ``path``, fp16-convert it if asked, and check it."""
    import onnx
    import torch

    if opset >= 18:
        _register_antialias_resize(opset)
    with tempfile.TemporaryDirectory(prefix=".onnx-export-", dir=path.parent) as tmp:
        raw = Path(tmp) / path.name
        # The TorchScript exporter (dynamo=False): it exports the diffusers UNet in a few
        # seconds with symbolic batch and frame axes. The torch.export-based exporter took
        # over a minute for the tiny model here and its shape guards refused a dynamic batch.
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                module,
                args,
                str(raw),
                input_names=input_names,
                output_names=output_names,
                dynamic_axes=dynamic_axes,
                opset_version=opset,
                do_constant_folding=True,
                dynamo=False,
            )
        model = onnx.load(str(raw))  # loads external data too, if the exporter wrote any
    if fp16:
        # onnxruntime's converter: fp16 weights and compute, fp32 inputs and outputs
        # (it appends the I/O casts at the end of the node list, hence the sort)
        from onnxruntime.transformers.onnx_model import OnnxModel

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            om = OnnxModel(model)
            om.convert_float_to_float16(keep_io_types=True)
            om.topological_sort()
            model = om.model
    _save(model, path)
    try:
        onnx.checker.check_model(str(path), full_check=True)
    except (onnx.checker.ValidationError, onnx.shape_inference.InferenceError) as e:
        raise OutputError(f"{path.name}: the exported graph does not pass onnx.checker ({one_line(e, 200)})") from None


def _ort_max_abs_diff(path: Path, feeds: dict[str, np.ndarray], expected: list[np.ndarray]) -> float:
    """Run ``path`` with onnxruntime on the CPU and return max |ort - expected|."""
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.log_severity_level = 3
    sess = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
    names = {i.name for i in sess.get_inputs()}  # the exporter drops inputs a graph does not use
    got = sess.run(None, {k: v for k, v in feeds.items() if k in names})
    return float(max(np.abs(np.asarray(a, np.float32) - np.asarray(b, np.float32)).max() for a, b in zip(got, expected)))


def export_onnx(
    ckpt: str | Path,
    out_dir: str | Path,
    fp16: bool = False,
    opset: int = DEFAULT_OPSET,
    progress: Progress = NULL_PROGRESS,
) -> dict[str, Any]:
    """Export a checkpoint's per-batch and per-step networks to ONNX.

    Args:
        ckpt: pipeline checkpoint folder (from ``animatepainter train``).
        out_dir: output folder (created; files of an older export are replaced).
        fp16: fp16 weights and compute (inputs and outputs stay float32), for the CUDA
            and TensorRT providers (the CPU provider runs it through casts; use fp32
            there). Validated on the CPU provider against 5e-2 where it runs.
        opset: ONNX opset (``MIN_OPSET..MAX_OPSET``).

    Returns:
        The manifest written to ``out_dir/manifest.json``.

    Raises:
        SettingsError: opset out of range. InputError: bad checkpoint (one line).
        OutputError: unwritable ``out_dir``, a graph that fails ``onnx.checker`` or
            disagrees with PyTorch past the tolerance.
    """
    if not MIN_OPSET <= int(opset) <= MAX_OPSET:
        raise SettingsError(f"opset must be between {MIN_OPSET} and {MAX_OPSET}, got {opset}", "opset")
    import onnx
    import onnxruntime
    import torch

    from animatepainter.model.pipeline import load_pipeline
    from animatepainter.planner.atomic import OutputDir, atomic_write_bytes, check_writable_dir

    ckpt, out_dir = Path(ckpt), Path(out_dir)
    check_writable_dir(out_dir)
    t0 = time.perf_counter()
    pipe = load_pipeline(ckpt, device="cpu", dtype=torch.float32)
    from animatepainter.model.df_encoder import ImageTokenEncoder

    if not isinstance(pipe.image_encoder, ImageTokenEncoder) and int(opset) < 18:
        raise SettingsError(f"opset {opset} is too old for {ckpt}: a CLIP image encoder (Stable Video Diffusion) needs 18 or later (antialiased resize of its input)", "opset")
    ck_hash = checkpoint_sha256(ckpt)
    den = pipe.denoiser.eval().requires_grad_(False)
    cond_graph, den_graph = _wrappers(den)
    fields = cond_fields()
    cond_names = [f"cond_{f}" for f in fields]
    frames = int(pipe.config.num_frames)
    # trace with batch 2, validate with batch 1 (and, for the denoiser, another frame
    # count), so that the symbolic axes are exercised
    ex = _example_inputs(pipe, batch=2, frames=frames, seed=0)
    val = _example_inputs(pipe, batch=1, frames=frames, seed=1)
    val_t = _example_inputs(pipe, batch=3, frames=max(2, frames - 3), seed=2)
    with torch.no_grad():
        ex_cond = cond_graph(ex["image"], ex["image_latent"], ex["depth"])
        val_cond = [c.contiguous() for c in cond_graph(val["image"], val["image_latent"], val["depth"])]
        val_t_cond = [c.contiguous() for c in cond_graph(val_t["image"], val_t["image_latent"], val_t["depth"])]
        val_out = den_graph(val["sample"], val["timestep"], *val_cond)
        val_t_out = den_graph(val_t["sample"], val_t["timestep"], *val_t_cond)
    batch_axes = {n: {0: "batch"} for n in ("image", "image_latent", "depth", *cond_names)}
    seq_axes = {n: {0: "batch", 1: "frames"} for n in ("sample", "model_output")}
    graphs: dict[str, Any] = {}
    diffs: dict[str, Optional[float]] = {}
    with OutputDir(out_dir) as stage, progress.stage("export-onnx", total=2) as st:
        paths = {k: stage / v for k, v in GRAPH_FILES.items()}
        try:
            _export_graph(cond_graph, (ex["image"], ex["image_latent"], ex["depth"]), paths["condition"], ["image", "image_latent", "depth"], cond_names, batch_axes, int(opset), fp16)
            st.advance(1)
            _export_graph(den_graph, (ex["sample"], ex["timestep"], *ex_cond), paths["denoiser"], ["sample", "timestep", *cond_names], ["model_output"], {**batch_axes, **seq_axes, "timestep": {0: "batch"}}, int(opset), fp16)
            st.advance(1)
        except (RuntimeError, torch.onnx.errors.OnnxExporterError, torch.onnx.errors.UnsupportedOperatorError) as e:
            raise OutputError(f"{ckpt}: cannot export to ONNX ({one_line(e, 200)})") from None
        feeds_c = {"image": val["image"].numpy(), "image_latent": val["image_latent"].numpy(), "depth": val["depth"].numpy()}
        try:
            diffs["condition"] = _ort_max_abs_diff(paths["condition"], feeds_c, [c.numpy() for c in val_cond])
            d1 = _ort_max_abs_diff(paths["denoiser"], {"sample": val["sample"].numpy(), "timestep": val["timestep"].numpy(), **{n: c.numpy() for n, c in zip(cond_names, val_cond)}}, [val_out.numpy()])
            d2 = _ort_max_abs_diff(paths["denoiser"], {"sample": val_t["sample"].numpy(), "timestep": val_t["timestep"].numpy(), **{n: c.numpy() for n, c in zip(cond_names, val_t_cond)}}, [val_t_out.numpy()])
            diffs["denoiser"] = max(d1, d2)
        except Exception as e:  # noqa: BLE001 - onnxruntime raises its own exception types
            if not fp16:
                raise OutputError(f"{out_dir}: onnxruntime cannot run the exported graphs ({one_line(e, 200)})") from None
            log.info("fp16 graphs not validated on the CPU provider (%s)", one_line(e, 120))
            diffs = {"condition": None, "denoiser": None}
        tol = FP16_TOLERANCE if fp16 else FP32_TOLERANCE
        for k, d in diffs.items():
            if d is not None and not d <= tol:
                raise OutputError(f"{out_dir}: the exported {k} graph disagrees with PyTorch (max abs diff {d:.2e} > {tol:g})")
        for k, p in paths.items():
            model = onnx.load(str(p), load_external_data=False)
            ins, outs = _io_specs(model)
            files = sorted(q.name for q in stage.iterdir() if q.name == p.name or q.name.startswith(p.name + "."))
            graphs[k] = {"file": p.name, "files": {f: file_sha256(stage / f) for f in files}, "bytes": sum((stage / f).stat().st_size for f in files), "inputs": ins, "outputs": outs}
        manifest = {
            "format": ONNX_FORMAT,
            "package_version": package_version(),
            "created_with": {"torch": torch.__version__, "onnx": onnx.__version__, "onnxruntime": onnxruntime.__version__},
            "opset": int(opset),
            "precision": "fp16" if fp16 else "fp32",
            "checkpoint": {"path": str(ckpt), "sha256": ck_hash, "model_name": str(pipe.config.model_name)},
            "pipeline": {
                "resolution": int(pipe.config.resolution),
                "num_frames": frames,
                "latent_channels": int(pipe.space.channels),
                "latent_size": int(pipe.latent_size),
                "scheduler": type(pipe.scheduler).__name__,
                "timestep_dtype": str(ex["timestep"].numpy().dtype),
                "cond_fields": fields,
            },
            "dynamic_axes": {"batch": "every input and output", "frames": "sample, model_output"},
            "graphs": graphs,
            "validation": {"provider": "CPUExecutionProvider", "max_abs_diff": diffs, "tolerance": tol},
        }
        atomic_write_bytes(stage / MANIFEST_NAME, (json.dumps(manifest, indent=1, sort_keys=True) + "\n").encode())
    log.info("exported %s to %s in %.1f s (max abs diff vs PyTorch: %s)", ckpt, out_dir, time.perf_counter() - t0, diffs)
    return manifest
