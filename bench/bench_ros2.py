"""ROS 2 wire benchmark: strokes per second and per-stroke latency over DDS on loopback.

A publisher process (``animatepainter publish``) streams a synthetic plan; this process
subscribes with :class:`~animatepainter.export.ros.dds.PlanListener` (what ``listen`` and
a rig use) and measures:

* throughput: strokes per second arriving with ``--rate 0`` (reliable, keep all), and
  what the publisher reports;
* latency: arrival time minus the stroke's ``header.stamp`` (set when it is written; one
  clock on one machine), median / p95 / max, at a paced rate the subscriber keeps up with;
* the cost per stroke of building + serialising a message, and of a bag export.

Run: ``python bench/bench_ros2.py [--strokes 10000] [--rate 500] [--domain-id N]``.
Everything stays on loopback (``--localhost``).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from animatepainter.export.ros import convert
from animatepainter.export.ros.bag import write_bag
from animatepainter.export.ros.dds import Participant, PlanListener, StreamState
from animatepainter.export.ros.msgtypes import dds_factory
from animatepainter.planner.plan import Brush, Canvas, Paint, Stroke, StrokePlan


#: the installed entry point, run with this interpreter
CLI = "import sys; from animatepainter.cli.app import main; sys.exit(main(sys.argv[1:]))"


def synthetic_plan(n: int, seed: int = 0, w: float = 300.0, h: float = 200.0) -> StrokePlan:
    """``n`` strokes of 2..8 points (a painter's plan has ~5-11 points per stroke)."""
    rng = np.random.default_rng(seed)
    palette = [Paint(i, tuple(int(v) for v in rng.integers(0, 256, 3)), f"p{i}") for i in range(8)]
    brushes = [Brush(0, 6.0), Brush(1, 2.0)]
    strokes = []
    for i in range(n):
        k = int(rng.integers(2, 9))
        pts = np.round(np.column_stack([rng.uniform(0, w, k), rng.uniform(0, h, k)]), 3)
        strokes.append(Stroke(i, pts, brushes[i % 2].width_mm, i % 2, i % 8, palette[i % 8].rgb, 0, 0, i * 24 // n))
    return StrokePlan(Canvas(w, h), palette, brushes, strokes, {"engine": "bench", "version": "0"})


def run(plan_path: Path, n: int, rate: float, domain: int) -> dict:
    """Stream the plan from a publisher process; receive here; return figures."""
    participant = Participant(domain, localhost=True)
    listener = PlanListener(participant)
    env = dict(os.environ, ROS_LOCALHOST_ONLY="1")
    pub = subprocess.Popen(
        [sys.executable, "-c", CLI, "-q", "publish", str(plan_path), "--domain-id", str(domain),
         "--localhost", "--rate", str(rate), "--linger", "0", "--wait-timeout", "60"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )
    state: StreamState | None = None
    lat: list[float] = []
    t_first = t_last = None
    t_end = time.monotonic() + 300
    while time.monotonic() < t_end and not (state and state.complete):
        for r in listener.poll(0.2):
            if r.kind != "stroke":
                continue
            now = time.perf_counter()
            t_first = t_first or now
            t_last = now
            if state is None:
                state = StreamState(r.data["plan_id"], int(r.data["count"]))
            state.add(int(r.data["index"]))
            lat.append(r.latency_s)
    out, err = pub.communicate(timeout=120)
    if pub.returncode != 0 or state is None or not state.complete:
        raise SystemExit(f"benchmark run failed (publisher rc {pub.returncode}): {err.strip()[-400:]}")
    lat.sort()
    return {
        "received": len(state.order),
        "in_order": state.order == list(range(n)),
        "strokes_per_s": (n - 1) / (t_last - t_first) if t_last > t_first else float("inf"),
        "lat_median_ms": statistics.median(lat) * 1000,
        "lat_p95_ms": lat[int(0.95 * (len(lat) - 1))] * 1000,
        "lat_max_ms": lat[-1] * 1000,
        "publisher": " ".join(out.split()),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--strokes", type=int, default=10_000, help="strokes in the throughput run")
    ap.add_argument("--rate", type=float, default=500.0, help="paced rate of the latency run, strokes/s")
    ap.add_argument("--latency-strokes", type=int, default=2000, help="strokes in the latency run")
    ap.add_argument("--domain-id", type=int, default=100 + os.getpid() % 120, help="DDS domain (0..232)")
    a = ap.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        plan = synthetic_plan(a.strokes)
        path = Path(tmp) / "plan.json"
        plan.save(path)
        pts = np.mean([len(s.points) for s in plan.strokes])
        print(f"plan: {a.strokes} strokes, {pts:.1f} points per stroke on average; loopback, domain {a.domain_id}")

        # cost of one message, in this process
        f = dds_factory()
        pid = convert.plan_id(plan)
        m = 2000
        t = time.perf_counter()
        for i in range(m):
            f.build(convert.STROKE_TYPE, convert.stroke_to_dict(plan, i, pid=pid)).serialize(use_version_2=False)
        per = (time.perf_counter() - t) / m
        print(f"build + serialise one Stroke message: {per * 1e6:.0f} us (at most {1 / per:,.0f} strokes/s per core)")

        t = time.perf_counter()
        write_bag(plan, Path(tmp) / "bag", rate_hz=10.0, start_ns=0)
        dt = time.perf_counter() - t
        print(f"export rosbag (MCAP): {a.strokes / dt:,.0f} strokes/s ({dt:.2f} s)")

        r = run(path, a.strokes, 0.0, a.domain_id)
        print(
            f"throughput, --rate 0: {r['strokes_per_s']:,.0f} strokes/s received, {r['received']} of {a.strokes} in order: {r['in_order']}; "
            f"latency under saturation: median {r['lat_median_ms']:.1f} ms, p95 {r['lat_p95_ms']:.1f} ms (queueing)"
        )
        print(f"  publisher: {r['publisher']}")

        small = synthetic_plan(a.latency_strokes, seed=1)
        small_path = Path(tmp) / "small.json"
        small.save(small_path)
        r2 = run(small_path, a.latency_strokes, a.rate, a.domain_id)
        print(
            f"latency at --rate {a.rate:g}: median {r2['lat_median_ms']:.2f} ms, p95 {r2['lat_p95_ms']:.2f} ms, max {r2['lat_max_ms']:.2f} ms "
            f"({r2['received']} strokes, in order: {r2['in_order']}, {r2['strokes_per_s']:,.0f} strokes/s)"
        )
        print(f"ratio: saturated throughput / paced rate = {r['strokes_per_s'] / a.rate:.1f}x")


if __name__ == "__main__":
    main()
