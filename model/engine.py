"""The diffusion engine of ``animatepainter paint``: depth -> diffuser -> extractor -> plan.

1. the image is resized to the working size (``--size``) and its depth estimated
   (or taken from ``--depth``), as in the teacher engine;
2. the diffuser (:mod:`animatepainter.model`, ``generate_process``) paints the process
   at its own, possibly low, resolution (the bundled default `small`: 64 px, 16 frames);
3. the extractor (:mod:`animatepainter.planner.extract`) takes *where and when* paint
   changes from those frames and *colours and detail* from the working image, so the
   plan reaches the working resolution whatever the diffuser's;
4. strokes get their depth layer from the depth map.

``--strokes`` is a cap here: the extractor finds as many strokes as the process
needs; if that is more than the budget, extraction is repeated with a larger
smallest-gain (fewer, more useful strokes), up to :data:`MAX_TRIES` times.

torch and the model are imported inside :func:`plan_with_diffusion` only.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from animatepainter.planner.errors import SettingsError
from animatepainter.planner.teacher.pipeline import PaintResult, PaintSettings, working_image_and_depth
from animatepainter.planner.progress import NULL_PROGRESS, Progress

if TYPE_CHECKING:  # pragma: no cover
    from animatepainter.planner.extract import ExtractSettings

log = logging.getLogger(__name__)

__all__ = ["DiffusionOptions", "plan_with_diffusion", "MAX_TRIES"]

#: extraction attempts to bring the stroke count under ``--strokes``
MAX_TRIES = 5


@dataclass(frozen=True)
class DiffusionOptions:
    """Options of the diffuser run.

    Attributes:
        ckpt: checkpoint folder (``None``: the model bundled with the package).
        sample_steps: denoising steps (1..1000).
        device: torch device, ``"cpu"`` or ``"cuda"``.
    """

    ckpt: str | None = None
    sample_steps: int = 20
    device: str = "cpu"

    def check(self) -> None:
        """Raise :class:`SettingsError` naming the first impossible option."""
        if not 1 <= int(self.sample_steps) <= 1000:
            raise SettingsError(f"sample_steps must be between 1 and 1000, got {self.sample_steps}", "sample_steps")



def engine_extract_settings(settings: PaintSettings, background: tuple[int, int, int] | None = None) -> ExtractSettings:
    """The extractor's settings for the diffusion engine's plan of ``settings``: its
    palette, canvas, layers and seed, and a painter's process as the teacher's (honest
    colours within ``settings.colour_tolerance``, strokes at least
    :data:`~animatepainter.planner.process.MIN_VISIBLE` visible unless
    ``settings.min_visible`` says otherwise: the plan is settled). ``background`` (RGB
    0..255) overrides ``settings.background`` (e.g. a held-out process's own blank)."""
    from animatepainter.planner.extract import ExtractSettings
    from animatepainter.planner.process import MIN_VISIBLE

    return ExtractSettings(
        palette=settings.palette,
        canvas_mm=settings.canvas_mm,
        background=tuple(settings.background if background is None else background),
        layers=settings.layers,
        seed=settings.seed,
        colour_tolerance=settings.colour_tolerance,
        min_visible=MIN_VISIBLE if settings.min_visible is None else float(settings.min_visible),
    )


def plan_with_diffusion(
    image: np.ndarray,
    settings: PaintSettings = PaintSettings(),
    depth: np.ndarray | str | Path | None = None,
    options: DiffusionOptions = DiffusionOptions(),
    source_sha256: str | None = None,
    pipe: Any = None,
    progress: Progress = NULL_PROGRESS,
) -> PaintResult:
    """Plan a painting of ``image`` with the diffusion engine.

    Args:
        image: uint8 ``(H, W, 3)`` RGB.
        settings: the ``paint`` options (size, seed, canvas, palette, layers,
            background, depth backend; ``strokes`` caps the stroke count).
        depth: float ``(H, W)`` in [0, 1] (1 = nearest) or a depth file; default
            estimated with ``settings.depth_backend``.
        options: :func:`DiffusionOptions`.
        source_sha256: hash of the source file, for ``plan.meta``.
        pipe: an already loaded ``AnimatePainterPipeline`` (else loaded from
            ``options["ckpt"]`` or the bundled checkpoint).
        progress: progress display.

    Returns:
        :class:`~animatepainter.planner.teacher.pipeline.PaintResult` with ``plan.meta["engine"]
        == "diffusion"``; ``timings`` has ``depth_s``, ``load_model_s``, ``diffuse_s``,
        ``changes_s``, ``strokes_s``, ``plan_s``.
    """
    from animatepainter.model.generate import default_checkpoint, generate_process
    from animatepainter.model.pipeline import load_pipeline

    from animatepainter.planner.extract import extract_plan
    from animatepainter.planner.layers import layer_map

    settings.check()
    options.check()
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    work, d = working_image_and_depth(image, settings, depth, progress)
    timings["depth_s"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    ckpt = options.ckpt
    pipe_given = pipe is not None
    if pipe is None:
        pipe = load_pipeline(ckpt if ckpt is not None else default_checkpoint(), device=options.device)
    timings["load_model_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    frames = generate_process(pipe, work, d, steps=options.sample_steps, seed=settings.seed, progress=progress)
    timings["diffuse_s"] = time.perf_counter() - t0

    ex = engine_extract_settings(settings)
    meta = {
        "diffuser": {
            "model": str(getattr(pipe.config, "model_name", "")),
            "checkpoint": Path(ckpt).name if ckpt else ("bundled" if pipe_given is False else "in-memory"),
            "sample_steps": int(options.sample_steps),
            "frames": int(len(frames)),
            "frame_px": [int(frames.shape[2]), int(frames.shape[1])],
        },
        "paint_settings": {k: v for k, v in asdict(settings).items() if k != "seed"},
    }
    for attempt in range(MAX_TRIES):
        result = extract_plan(frames, ex, image=work, depth=d, source_sha256=source_sha256, engine="diffusion", meta=meta, progress=progress)
        n = len(result.plan.strokes)
        if n <= settings.strokes:
            break
        if attempt == MAX_TRIES - 1:
            raise SettingsError(f"strokes {settings.strokes} is too few for the diffusion engine's plan, which needs {n}; raise it", "strokes")
        # fewer strokes: each must pay more; the count falls roughly as the gain bar rises
        ex = replace(ex, min_gain=ex.min_gain * max(2.0, (n / settings.strokes) ** 1.5))
        log.info("%d strokes > --strokes %d; extracting again with min_gain %.3g", n, settings.strokes, ex.min_gain)
    timings.update(result.timings)
    return PaintResult(plan=result.plan, image=work, depth=d, layers=layer_map(d, settings.layers), timings=timings)
