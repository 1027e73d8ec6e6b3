"""Engines that make synthesis samples: a map from jobs to results, in job order.

``"local"``: a pool of worker processes on this machine; ``"ray"``: Ray tasks on a local
Ray instance or a cluster. Both call the same :func:`~animatepainter.model.data.synth.run_job`,
so engines and worker counts give byte-identical shards.
"""

from __future__ import annotations

import collections
import contextlib
import logging
import os
import socket
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator

import cv2

from animatepainter.planner.errors import SettingsError, one_line

if TYPE_CHECKING:  # pragma: no cover
    from animatepainter.model.data.synth import JobResult, SampleJob, SynthSettings

log = logging.getLogger(__name__)

__all__ = ["LocalEngine", "RayEngine", "make_engine", "check_ray_address"]


def _worker_init() -> None:
    cv2.setNumThreads(1)


@contextlib.contextmanager
def _single_threaded_env() -> Iterator[None]:
    """BLAS/OpenMP thread counts of 1 for child processes started inside (each worker
    makes one sample at a time; N workers x M threads would oversubscribe)."""
    names = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
    old = {n: os.environ.get(n) for n in names}
    for n in names:
        os.environ.setdefault(n, "1")
    try:
        yield
    finally:
        for n, v in old.items():
            if v is None:
                os.environ.pop(n, None)
            else:
                os.environ[n] = v


class LocalEngine:
    """Worker processes on this machine (``spawn``-ed; one in-process worker when
    ``workers == 1``)."""

    name = "local"

    def __init__(self, workers: int | None = None) -> None:
        self.workers = int(workers or os.cpu_count() or 1)
        if self.workers < 1:
            raise SettingsError(f"workers must be >= 1, got {workers}", "workers")
        self._pool = None

    def __enter__(self) -> "LocalEngine":
        if self.workers > 1:
            import multiprocessing as mp
            from concurrent.futures import ProcessPoolExecutor

            # spawn, not fork: the driver runs threads (progress bar) that fork would copy mid-flight
            with _single_threaded_env():
                self._pool = ProcessPoolExecutor(self.workers, mp_context=mp.get_context("spawn"), initializer=_worker_init)
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def imap(self, fn: Callable[..., JobResult], jobs: Iterable[SampleJob], settings: SynthSettings, preview: bool) -> Iterator[JobResult]:
        """``fn(job, settings, preview)`` (a module-level function, e.g.
        :func:`~animatepainter.model.data.synth.run_job`) of each job, in job order, at
        most ``2 x workers`` in flight."""
        if self._pool is None:
            for job in jobs:
                yield fn(job, settings, preview)
            return
        pending: collections.deque = collections.deque()
        it = iter(jobs)
        for job in it:
            pending.append(self._pool.submit(fn, job, settings, preview))
            if len(pending) >= 2 * self.workers:
                break
        while pending:
            res = pending.popleft().result()
            nxt = next(it, None)
            if nxt is not None:
                pending.append(self._pool.submit(fn, nxt, settings, preview))
            yield res


def check_ray_address(address: str, timeout_s: float = 5.0) -> None:
    """Fail fast, with one line, if a Ray address cannot be reached.

    ``host:port`` and ``ray://host:port`` are probed with a TCP connection (Ray's own
    client would retry for a minute or more); ``auto`` / ``local`` are left to Ray.

    Raises:
        SettingsError: malformed address, or nothing answers at ``host:port``.
    """
    a = address.strip()
    if a in ("auto", "local"):
        return
    hostport = a.split("://", 1)[1] if "://" in a else a
    host, sep, port = hostport.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise SettingsError(f"ray_address {address!r}: use HOST:PORT, ray://HOST:PORT or auto", "ray_address")
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout_s):
            pass
    except OSError as e:
        why = e.strerror or type(e).__name__
        raise SettingsError(f"cannot reach the Ray cluster at {address} ({why}); is `ray start --head` running there?") from None


class RayEngine:
    """Ray tasks (one CPU each) on a local Ray instance or a cluster.

    Uses Ray as it finds it if ``ray.init`` was already called (and leaves it running);
    otherwise connects to ``address`` or starts a local instance with ``workers`` CPUs,
    and shuts it down on exit.
    """

    name = "ray"

    def __init__(self, address: str | None = None, workers: int | None = None) -> None:
        if workers is not None and workers < 1:
            raise SettingsError(f"workers must be >= 1, got {workers}", "workers")
        try:
            import ray  # noqa: F401 - fail before any work if Ray is missing
        except ImportError:
            raise SettingsError("engine ray needs Ray: pip install 'animatepainter[ray]'", "engine") from None
        self.address = address
        self.workers = workers
        self._owned = False
        self._ray = None
        self._task = None

    def __enter__(self) -> "RayEngine":
        import ray

        self._ray = ray
        if not ray.is_initialized():
            if self.address:
                check_ray_address(self.address)
            kwargs: dict[str, Any] = {"include_dashboard": False, "logging_level": logging.WARNING, "log_to_driver": False}
            if self.address:
                kwargs["address"] = self.address
            else:
                kwargs["num_cpus"] = self.workers or os.cpu_count() or 1
            try:
                with _single_threaded_env():
                    ray.init(**kwargs)
            except (ConnectionError, TimeoutError, RuntimeError, ValueError) as e:
                where = f"at {self.address}" if self.address else "locally"
                raise SettingsError(f"cannot start or join Ray {where} ({one_line(e, 160)})") from None
            self._owned = True
        if self.workers is None:
            self.workers = max(int(ray.cluster_resources().get("CPU", 1)), 1)
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._owned and self._ray is not None:
            self._ray.shutdown()
            self._owned = False

    def imap(self, fn: Callable[..., JobResult], jobs: Iterable[SampleJob], settings: SynthSettings, preview: bool) -> Iterator[JobResult]:
        """``fn(job, settings, preview)`` of each job as Ray tasks, in job order, at
        most ``2 x workers`` in flight (bounded memory on the driver and object store)."""
        ray = self._ray
        assert ray is not None
        self._task = ray.remote(num_cpus=1, max_retries=2)(fn)
        ref_settings = ray.put(settings)
        pending: collections.deque = collections.deque()
        it = iter(jobs)
        window = 2 * int(self.workers or 1)
        for job in it:
            pending.append(self._task.remote(job, ref_settings, preview))
            if len(pending) >= window:
                break
        try:
            while pending:
                res = ray.get(pending.popleft())
                nxt = next(it, None)
                if nxt is not None:
                    pending.append(self._task.remote(nxt, ref_settings, preview))
                yield res
        finally:
            for ref in pending:
                with contextlib.suppress(Exception):
                    ray.cancel(ref)


def make_engine(engine: str, workers: int | None = None, ray_address: str | None = None) -> "LocalEngine | RayEngine":
    """``LocalEngine`` or ``RayEngine`` by name (a context manager with ``imap``)."""
    if engine == "local":
        if ray_address:
            raise SettingsError("--ray-address needs --engine ray")
        return LocalEngine(workers)
    if engine == "ray":
        return RayEngine(ray_address, workers)
    raise SettingsError(f"engine must be 'local' or 'ray', got {engine!r}", "engine")
