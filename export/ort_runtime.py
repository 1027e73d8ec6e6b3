"""Run an ONNX export of the diffuser with onnxruntime (``generate --backend onnxruntime``).

:class:`OrtDenoiser` is a drop-in for
:class:`~animatepainter.model.denoiser.ProcessDenoiser` in the pipeline's sampling loop
(``pipe(..., denoiser=OrtDenoiser(...))``): ``condition(image, image_latent, depth)`` runs
``condition.onnx`` once per batch and ``__call__(sample, timestep, cond)`` runs
``denoiser.onnx`` at each step. Everything else -- scheduler, seeded initial noise,
model-space encode/decode -- is the pipeline's own code, so both backends run the same
loop and a seed gives the same frames (within the float tolerance of the two runtimes).

Providers: ``auto`` takes the first of TensorRT, CUDA and CPU that this onnxruntime
build has and that starts, and logs which one it got; a provider asked for by name that
is missing is a one-line :class:`SettingsError` naming the available ones. TensorRT
engines are cached (``--trt-cache`` or ``$ANIMATEPAINTER_TRT_CACHE``, default
``$XDG_CACHE_HOME/animatepainter/tensorrt``).

Device memory: tensors are passed through onnxruntime's I/O binding. The conditioning
stays where ``condition.onnx`` wrote it (an ``OrtValue`` on the GPU with the CUDA and
TensorRT providers) for all the steps; the noisy sample and the prediction are bound by
pointer when the pipeline's torch tensors are on the same device as the provider (torch
CUDA with a GPU provider, or CPU with the CPU provider), so nothing is copied between
steps. Otherwise (e.g. a CPU-only torch with a GPU provider) they are copied once per step.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import numpy as np

from animatepainter.planner.errors import InputError, SettingsError, one_line
from animatepainter.planner.images import file_sha256

from animatepainter.export.onnx_export import GRAPH_FILES, MANIFEST_NAME, ONNX_FORMAT, checkpoint_sha256, package_version

log = logging.getLogger(__name__)

__all__ = [
    "PROVIDERS",
    "TRT_CACHE_ENV",
    "OrtConditioning",
    "OrtDenoiser",
    "available_providers",
    "check_checkpoint",
    "default_trt_cache",
    "load_manifest",
    "open_backend",
    "provider_chain",
]

#: ``--provider`` name -> onnxruntime execution provider, in ``auto``'s order of preference
PROVIDERS = {"tensorrt": "TensorrtExecutionProvider", "cuda": "CUDAExecutionProvider", "cpu": "CPUExecutionProvider"}
_SHORT = {v: k for k, v in PROVIDERS.items()}
#: environment variable naming the TensorRT engine cache folder
TRT_CACHE_ENV = "ANIMATEPAINTER_TRT_CACHE"


def default_trt_cache() -> Path:
    """``$ANIMATEPAINTER_TRT_CACHE``, else ``$XDG_CACHE_HOME/animatepainter/tensorrt``
    (``~/.cache/...``)."""
    env = os.environ.get(TRT_CACHE_ENV)
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "animatepainter" / "tensorrt"


def available_providers() -> list[str]:
    """Short names (``tensorrt``, ``cuda``, ``cpu``) of the providers this onnxruntime
    build offers, in ``auto``'s order."""
    import onnxruntime as ort

    have = set(ort.get_available_providers())
    return [k for k, v in PROVIDERS.items() if v in have]


def provider_chain(provider: str, trt_cache: Optional[Path] = None, trt_fp16: bool = False, device_id: int = 0, tf32: Optional[bool] = None) -> list[tuple[str, dict[str, Any]]]:
    """The ``(provider, options)`` list to open sessions with.

    ``auto``: every available one of TensorRT, CUDA, CPU in that order (onnxruntime
    assigns each node to the first that takes it and falls back past one that fails to
    start). A named provider: that one, then CUDA under TensorRT (for the nodes TensorRT
    does not take), then CPU. ``tf32``: the CUDA provider's TF32 math for fp32
    convolutions and matrix products (``None``: onnxruntime's default, on).

    Raises:
        SettingsError: unknown name, or a provider this onnxruntime build lacks.
    """
    if provider not in ("auto", *PROVIDERS):
        raise SettingsError(f"provider must be auto, {', '.join(PROVIDERS)}; got {provider!r}", "provider")
    have = available_providers()
    if provider != "auto" and provider not in have:
        hint = " (install onnxruntime-gpu: pip install 'animatepainter[gpu]')" if provider in ("cuda", "tensorrt") else ""
        raise SettingsError(f"provider {provider}: {PROVIDERS[provider]} is not available in this onnxruntime build; available: {', '.join(have) or 'none'}{hint}", "provider")
    if provider == "auto":
        names = have
    else:
        names = [provider] + (["cuda"] if provider == "tensorrt" and "cuda" in have else []) + (["cpu"] if provider != "cpu" else [])
    chain: list[tuple[str, dict[str, Any]]] = []
    for n in names:
        if n == "tensorrt":
            cache = Path(trt_cache) if trt_cache is not None else default_trt_cache()
            opts: dict[str, Any] = {
                "device_id": device_id,
                "trt_engine_cache_enable": True,
                "trt_engine_cache_path": str(cache),
                "trt_timing_cache_enable": True,
                "trt_timing_cache_path": str(cache),
                "trt_fp16_enable": bool(trt_fp16),
            }
        elif n == "cuda":
            opts = {"device_id": device_id}
            if tf32 is not None:
                opts["use_tf32"] = "1" if tf32 else "0"
        else:
            opts = {}
        chain.append((PROVIDERS[n], opts))
    return chain


def load_manifest(onnx_dir: str | Path, verify_files: bool = True) -> dict[str, Any]:
    """Read and check an export folder's ``manifest.json``.

    Checks the format, that it was made by this package version, and (``verify_files``)
    that every graph file is there with the SHA-256 the manifest records.

    Raises:
        InputError: missing folder or manifest, another format or package version, a
            missing or changed graph file (one line).
    """
    root = Path(onnx_dir)
    if not root.is_dir():
        raise InputError(f"{root}: ONNX export folder not found (make one with `animatepainter export onnx --ckpt CKPT -o {root}`)")
    mp = root / MANIFEST_NAME
    if not mp.is_file():
        raise InputError(f"{root}: not an AnimatePainter ONNX export (no {MANIFEST_NAME})")
    try:
        man = json.loads(mp.read_text())
    except (OSError, ValueError) as e:
        raise InputError(f"{mp}: unreadable ({one_line(e, 120)})") from None
    if not isinstance(man, dict) or man.get("format") != ONNX_FORMAT:
        got = man.get("format") if isinstance(man, dict) else None
        raise InputError(f"{root}: ONNX export format {got!r}, this version reads {ONNX_FORMAT!r}; re-export with `animatepainter export onnx`")
    ver = package_version()
    if man.get("package_version") != ver:
        raise InputError(f"{root}: exported by animatepainter {man.get('package_version')}, this is {ver}; re-export with `animatepainter export onnx`")
    graphs = man.get("graphs")
    if not isinstance(graphs, dict) or set(graphs) != set(GRAPH_FILES):
        raise InputError(f"{mp}: the manifest must list the graphs {', '.join(GRAPH_FILES)}")
    if verify_files:
        for name, g in graphs.items():
            for f, sha in (g.get("files") or {}).items():
                p = root / f
                if not p.is_file():
                    raise InputError(f"{root}: {f} is missing")
                if file_sha256(p) != sha:
                    raise InputError(f"{root}: {f} is not the file this manifest describes (SHA-256 differs); re-export with `animatepainter export onnx`")
    return man


def check_checkpoint(manifest: dict[str, Any], ckpt: str | Path, pipe: Any = None) -> None:
    """Refuse a checkpoint (and its loaded pipeline) that is not the exported one.

    Raises:
        InputError: the checkpoint's SHA-256 differs from the manifest's, or ``pipe``'s
            resolution, frames or model-space shape differ from the export's.
    """
    want = manifest["checkpoint"]["sha256"]
    got = checkpoint_sha256(ckpt)
    if got != want:
        raise InputError(f"{ckpt}: is not the checkpoint this ONNX export was made from (SHA-256 {got[:12]}, export {want[:12]} from {manifest['checkpoint'].get('path')}); re-export it or pass the matching --ckpt")
    if pipe is not None:
        p = manifest["pipeline"]
        have = {"resolution": int(pipe.config.resolution), "num_frames": int(pipe.config.num_frames), "latent_channels": int(pipe.space.channels), "latent_size": int(pipe.latent_size)}
        bad = [f"{k} {have[k]} vs {p.get(k)}" for k in have if have[k] != p.get(k)]
        if bad:
            raise InputError(f"{ckpt}: the pipeline does not fit the ONNX export ({'; '.join(bad)})")


_NP_TO_TORCH: dict[str, str] = {"float32": "float32", "float16": "float16", "int64": "int64", "int32": "int32", "float64": "float64"}


@dataclass
class OrtConditioning:
    """The per-batch conditioning as onnxruntime values, kept where the provider made
    them (GPU memory with CUDA / TensorRT) for all the sampling steps.

    Attributes:
        values: ``cond_<field>`` -> ``OrtValue`` (shapes as
            :class:`~animatepainter.model.denoiser.Conditioning`, float32).
        batch: batch size ``B``.
    """

    values: dict[str, Any]
    batch: int


class OrtDenoiser:
    """The exported networks in onnxruntime sessions, called like ``ProcessDenoiser``.

    Args:
        onnx_dir: folder made by :func:`~animatepainter.export.onnx_export.export_onnx`.
        provider: ``auto``, ``tensorrt``, ``cuda`` or ``cpu``.
        trt_cache: TensorRT engine/timing cache folder (default :func:`default_trt_cache`).
        trt_fp16: let TensorRT build fp16 engines (default: when the export is fp16).
        threads: intra-op threads of the CPU provider (default: onnxruntime's, one per
            physical core).
        device_id: GPU index for the CUDA / TensorRT providers.
        tf32: TF32 math in the CUDA provider (default: onnxruntime's, on; ``False`` for
            full fp32 precision, as the parity checks use).
        verify_files: check the graph files' SHA-256 against the manifest.

    Attributes:
        manifest: the export's manifest. provider: short name of the provider the
        denoiser session got (``tensorrt``, ``cuda`` or ``cpu``). providers: the full
        onnxruntime provider list of that session.

    Raises:
        InputError: a bad export folder (see :func:`load_manifest`), or graphs
            onnxruntime cannot load. SettingsError: a provider asked for by name that is
            missing, or did not start.
    """

    def __init__(
        self,
        onnx_dir: str | Path,
        provider: str = "auto",
        trt_cache: Optional[str | Path] = None,
        trt_fp16: Optional[bool] = None,
        threads: Optional[int] = None,
        device_id: int = 0,
        verify_files: bool = True,
        tf32: Optional[bool] = None,
    ):
        import onnxruntime as ort

        self.dir = Path(onnx_dir)
        self.manifest = load_manifest(self.dir, verify_files=verify_files)
        if threads is not None and threads < 1:
            raise SettingsError(f"threads must be at least 1, got {threads}", "threads")
        fp16 = self.manifest.get("precision") == "fp16" if trt_fp16 is None else bool(trt_fp16)
        cache = Path(trt_cache).expanduser() if trt_cache is not None else default_trt_cache()
        chain = provider_chain(provider, trt_cache=cache, trt_fp16=fp16, device_id=device_id, tf32=tf32)
        if any(n == PROVIDERS["tensorrt"] for n, _ in chain):
            try:
                cache.mkdir(parents=True, exist_ok=True)
            except OSError as e:
                raise SettingsError(f"trt_cache {cache}: cannot create it ({e.strerror})", "trt_cache") from None
        if any(n != PROVIDERS["cpu"] for n, _ in chain) and hasattr(ort, "preload_dlls"):
            # onnxruntime-gpu's own loader of the CUDA / cuDNN libraries (those torch
            # already loaded, else the nvidia-* pip packages)
            try:
                ort.preload_dlls()
            except Exception as e:  # noqa: BLE001 - best effort; session creation reports what is missing
                log.debug("onnxruntime.preload_dlls: %s", e)
        so = ort.SessionOptions()
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        so.log_severity_level = 3  # errors only; provider fallbacks are logged below
        if threads is not None:
            so.intra_op_num_threads = int(threads)
        self._sessions: dict[str, Any] = {}
        for name, fname in GRAPH_FILES.items():
            path = self.dir / self.manifest["graphs"][name]["file"]
            try:
                self._sessions[name] = ort.InferenceSession(str(path), so, providers=[n for n, _ in chain], provider_options=[o for _, o in chain])
            except Exception as e:  # noqa: BLE001 - onnxruntime raises its own exception types
                raise InputError(f"{path}: onnxruntime cannot load it ({one_line(e, 200)})") from None
        got = self._sessions["denoiser"].get_providers()
        self.providers: list[str] = list(got)
        self.provider: str = _SHORT.get(got[0], got[0])
        if provider != "auto" and self.provider != provider:
            raise SettingsError(f"provider {provider}: {PROVIDERS[provider]} did not start (onnxruntime fell back to {', '.join(got)}); check its CUDA/TensorRT libraries or use auto", "provider")
        self.device_id = int(device_id)
        self._ort_device = "cuda" if self.provider in ("tensorrt", "cuda") else "cpu"
        self._cond_names = [f"cond_{f}" for f in self.manifest["pipeline"]["cond_fields"]]
        self._in_dtypes = {n: {i["name"]: i["dtype"] for i in g["inputs"]} for n, g in self.manifest["graphs"].items()}
        # the exporter drops inputs a graph does not use (e.g. the blank canvas with a plain output head)
        self._den_cond = [n for n in self._cond_names if n in self._in_dtypes["denoiser"]]
        log.info("onnxruntime %s: %s (%s), %s export of %s", ort.__version__, self.provider, ", ".join(got), self.manifest.get("precision"), self.manifest["checkpoint"].get("model_name"))

    # ------------------------------------------------------------------ binding helpers
    def _same_device(self, t: Any) -> bool:
        if self._ort_device == "cpu":
            return t.device.type == "cpu"
        return t.device.type == "cuda" and (t.device.index or 0) == self.device_id

    def _bind_input(self, binding: Any, name: str, t: Any, dtype: str) -> Any:
        """Bind torch tensor ``t`` (cast to ``dtype``) as input ``name``; returns the
        tensor that must stay alive until the run ends."""
        import torch

        t = t.detach().to(getattr(torch, _NP_TO_TORCH[dtype])).contiguous()
        if self._same_device(t):
            binding.bind_input(name, self._ort_device, self.device_id, np.dtype(dtype).type, list(t.shape), t.data_ptr())
        else:
            t = t.cpu()
            binding.bind_cpu_input(name, t.numpy())
        return t

    def _sync_torch(self, *ts: Any) -> None:
        """Wait for torch's CUDA work on tensors onnxruntime will read (another stream)."""
        if self._ort_device == "cuda":
            import torch

            for t in ts:
                if t.is_cuda:
                    torch.cuda.current_stream(t.device).synchronize()
                    return

    # ------------------------------------------------------------------ the ProcessDenoiser interface
    def condition(self, image: Any, image_latent: Any, depth: Any) -> OrtConditioning:
        """Run ``condition.onnx`` (image encoder, DF-Encoder, conditioning channels).

        Args:
            image: float torch ``(B, 3, R, R)`` in ``[-1, 1]``. image_latent: float torch
                ``(B, C, h, w)``. depth: float torch ``(B, 1, R, R)`` in ``[0, 1]``.

        Returns:
            :class:`OrtConditioning`, left on the provider's device.
        """
        sess = self._sessions["condition"]
        dt = self._in_dtypes["condition"]
        binding = sess.io_binding()
        keep = [self._bind_input(binding, n, t, dt[n]) for n, t in (("image", image), ("image_latent", image_latent), ("depth", depth))]
        for n in self._cond_names:
            binding.bind_output(n, self._ort_device, self.device_id)
        self._sync_torch(*keep)
        sess.run_with_iobinding(binding)
        vals = binding.get_outputs()
        del keep
        return OrtConditioning(dict(zip(self._cond_names, vals)), int(image.shape[0]))

    def __call__(self, sample: Any, timestep: Any, cond: OrtConditioning) -> Any:
        """One denoiser evaluation (``denoiser.onnx``).

        Args:
            sample: float torch ``(B, T, C, h, w)``, the scaled noisy frames.
            timestep: torch scalar, ``(1,)`` or ``(B,)``, the scheduler's timestep.
            cond: from :meth:`condition`.

        Returns:
            float32 torch ``(B, T, C, h, w)`` on ``sample``'s device: the scheduler's
            prediction.
        """
        import torch

        if not isinstance(cond, OrtConditioning):
            raise TypeError("cond must come from OrtDenoiser.condition")
        b = int(sample.shape[0])
        if b != cond.batch:
            raise InputError(f"sample batch {b} does not match the conditioning's {cond.batch}")
        ts = torch.as_tensor(timestep).reshape(-1)
        if ts.numel() == 1:
            ts = ts.expand(b)
        sess = self._sessions["denoiser"]
        dt = self._in_dtypes["denoiser"]
        binding = sess.io_binding()
        keep = [self._bind_input(binding, "sample", sample, dt["sample"]), self._bind_input(binding, "timestep", ts, dt["timestep"])]
        for n in self._den_cond:
            binding.bind_ortvalue_input(n, cond.values[n])
        shape = list(sample.shape)
        if self._same_device(sample):
            out = torch.empty(shape, dtype=torch.float32, device=sample.device)
            binding.bind_output("model_output", self._ort_device, self.device_id, np.float32, shape, out.data_ptr())
        else:
            out = None
            binding.bind_output("model_output", self._ort_device, self.device_id)
        self._sync_torch(*keep)
        sess.run_with_iobinding(binding)
        if out is None:
            out = torch.from_numpy(binding.copy_outputs_to_cpu()[0]).to(sample.device)
        del keep
        return out


def open_backend(
    onnx_dir: str | Path,
    ckpt: str | Path,
    pipe: Any,
    provider: str = "auto",
    trt_cache: Optional[str | Path] = None,
    threads: Optional[int] = None,
    trt_fp16: Optional[bool] = None,
) -> OrtDenoiser:
    """Open an ONNX export for ``pipe`` (loaded from ``ckpt``), after checking that it is
    this package version's export of that very checkpoint.

    Raises:
        InputError: bad export folder or a checkpoint / pipeline that doesn't match it.
        SettingsError: provider missing or failing to start.
    """
    provider_chain(provider)  # a bad or missing provider fails first
    check_checkpoint(load_manifest(onnx_dir, verify_files=False), ckpt, pipe)
    return OrtDenoiser(onnx_dir, provider=provider, trt_cache=trt_cache, trt_fp16=trt_fp16, threads=threads)
