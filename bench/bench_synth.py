"""Benchmark of data synthesis (`animatepainter synth`), issue 3.

Prints samples per second, and per core, of procedural scenes at 64x64 px x 8 frames
and 256x256 px x 16 frames (default stroke budgets: 128 and 2048), for the local and
Ray engines with 1 and 2 workers, and the 1 -> 2 worker scaling.

Two rates per run:
  * ``wall``: samples / wall time of the synthesis stage, worker (or Ray) start-up
    included, as a user of a short run sees it;
  * ``steady``: after the first ``workers`` samples are out, samples per second
    until the last one (start-up excluded), the figure that matters at scale.
``per core`` is the steady rate divided by the workers (one core each).

Every run writes real shards (checksummed, as `synth` does) to a temp folder, and
the shards of every engine and worker count are checked to be identical.

Run:  python bench/bench_synth.py [--quick]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Iterator

from animatepainter.model.data.synth import SynthSettings, synth_dataset


class _Clock:
    """A Progress that records when each sample of the ``synth`` stage completes."""

    def __init__(self) -> None:
        self.times: list[float] = []

    @contextlib.contextmanager
    def stage(self, name: str, total: int | None = None) -> Iterator["_Clock"]:
        yield self if name == "synth" else _Ignore()

    def advance(self, n: int = 1) -> None:
        self.times.extend([time.perf_counter()] * n)


class _Ignore:
    def advance(self, n: int = 1) -> None:
        pass


def run(size: int, frames: int, n: int, engine: str, workers: int, tmp: Path) -> dict:
    out = tmp / f"{size}-{engine}-{workers}"
    clock = _Clock()
    settings = SynthSettings(frames=frames, size=size, shard_size=max(n // 4, 1))
    rep = synth_dataset([], out, settings, procedural=n, engine=engine, workers=workers, progress=clock)
    t = clock.times
    k = min(workers, n - 1)
    steady = (n - k) / (t[-1] - t[k - 1]) if n > k and t[-1] > t[k - 1] else float("nan")
    return {
        "wall_s": rep.wall_s,
        "wall_rate": n / rep.wall_s,
        "steady": steady,
        "per_core": steady / workers,
        "shas": [s["sha256"] for s in rep.manifest["shards"]],
        "mb_per_sample": sum(s["bytes"] for s in rep.manifest["shards"]) / n / 1e6,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="fewer samples (noisier)")
    ap.add_argument("--engines", default="local,ray", help="comma-separated: local,ray")
    args = ap.parse_args()
    try:
        import ray  # noqa: F401
    except ImportError:
        args.engines = "local"
        print("ray is not installed: local engine only")
    engines = args.engines.split(",")
    configs = [(64, 8, 12 if args.quick else 32), (256, 16, 3 if args.quick else 4)]
    print(f"machine: {os.cpu_count()} CPUs; procedural scenes; default stroke budgets")
    header = f"{'sample':>14} {'engine':>6} {'workers':>7} {'n':>3} {'wall s':>7} {'wall/s':>7} {'steady/s':>8} {'per core':>8} {'MB/sample':>9}"
    ok = True
    with tempfile.TemporaryDirectory() as td:
        for size, frames, n in configs:
            print()
            print(header)
            shas = None
            for engine in engines:
                rates = {}
                for workers in (1, 2):
                    r = run(size, frames, n, engine, workers, Path(td))
                    rates[workers] = r
                    print(
                        f"{f'{size}x{size}x{frames}':>14} {engine:>6} {workers:>7} {n:>3} {r['wall_s']:7.1f} {r['wall_rate']:7.2f} "
                        f"{r['steady']:8.2f} {r['per_core']:8.2f} {r['mb_per_sample']:9.3f}"
                    )
                    if shas is None:
                        shas = r["shas"]
                    elif r["shas"] != shas:
                        ok = False
                        print("  !! shards differ from the first run")
                print(
                    f"{'':>14} {engine:>6} scaling 1 -> 2 workers: steady x{rates[2]['steady'] / rates[1]['steady']:.2f}, "
                    f"wall x{rates[2]['wall_rate'] / rates[1]['wall_rate']:.2f}"
                )
    print()
    print("identical shards across engines and worker counts:", "yes" if ok else "NO")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
