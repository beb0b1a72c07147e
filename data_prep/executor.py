"""Where the tasks run: in this process, on a local Dask cluster, or on an existing one.

The pipeline is written against a four-method interface (``submit``, ``as_completed``,
``gather``, ``scatter``) that :class:`InProcess` implements eagerly and :class:`DaskExecutor`
maps onto ``distributed.Client``. Tasks exchange only small objects (file paths, word
counts, marginal vectors, binary row blocks); large intermediates go through files in the
work directory, so on a multi-machine cluster that directory (and ``--out``) must be on a
filesystem every worker can reach, which :meth:`DaskExecutor.check_shared_path` verifies.
"""
from __future__ import annotations

import logging
import os
import resource
import socket
import sys
import warnings
from typing import Any, Callable, Iterable

from lse.errors import LSEError, check_int


#: glibc malloc settings for the processes doing the work (see :func:`tune_malloc`).
MALLOC_ENV = {"MALLOC_MMAP_THRESHOLD_": str(32 << 20), "MALLOC_TRIM_THRESHOLD_": str(256 << 20)}
_malloc_tuned = False


def tune_malloc() -> None:
    """Let glibc reuse freed memory for the large temporaries of vectorised numpy code.

    Dask starts its workers with ``MALLOC_TRIM_THRESHOLD_=65536``, which also freezes glibc's
    mmap threshold at 128KB: every temporary array above that becomes a fresh ``mmap`` whose
    pages are faulted in and zeroed one by one, then unmapped again. Measured on the enwiki
    sample: 10x fewer page faults and a third less CPU in the counting tasks with a 32MB mmap
    threshold. Applied through ``mallopt`` in each process (a no-op off glibc), so it also
    holds on clusters we did not start.
    """
    global _malloc_tuned
    if _malloc_tuned:
        return
    _malloc_tuned = True
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(-3, 32 << 20)   # M_MMAP_THRESHOLD
        libc.mallopt(-1, 256 << 20)  # M_TRIM_THRESHOLD
    except (OSError, AttributeError):  # pragma: no cover - not glibc
        pass


def peak_rss_bytes() -> int:
    """Peak resident memory of the calling process (Linux ``ru_maxrss`` is in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _process_peak() -> tuple[str, int, int]:
    return socket.gethostname(), os.getpid(), peak_rss_bytes()


class QueueProgress:
    """A picklable progress callback for tasks on Dask workers: each call puts a token count
    on a Dask ``Queue`` that the client drains into its progress bar while it waits."""

    def __init__(self, name: str):
        self.name = name
        self._queue = None

    def __getstate__(self):
        return self.name

    def __setstate__(self, name):
        self.__init__(name)

    def __call__(self, n: int) -> None:
        if self._queue is None:
            from distributed import Queue

            self._queue = Queue(self.name)
        self._queue.put(int(n))


class Done:
    """An already computed result with the ``Future.result()`` interface."""

    def __init__(self, value: Any):
        self.value = value

    def result(self) -> Any:
        return self.value


class InProcess:
    """Run every task immediately in this process (``--workers 0``; tests, debugging)."""

    n_workers = 1
    description = "in-process (no Dask)"

    def submit(self, fn: Callable, *args, **kwargs) -> Done:
        args = [a.value if isinstance(a, Done) else a for a in args]
        kwargs = {k: v.value if isinstance(v, Done) else v for k, v in kwargs.items()}
        return Done(fn(*args, **kwargs))

    def as_completed(self, futures: Iterable[Done]):
        return iter(futures)

    def gather(self, futures: list[Done]) -> list:
        return [f.value for f in futures]

    def scatter(self, value: Any) -> Done:
        return Done(value)

    def progress_callback(self, update: Callable[[int], None] | None):
        """What tasks call with their progress (``None``: no progress): here, ``update``."""
        return update

    def follow(self, futures: list[Done], update: Callable[[int], None] | None) -> None:
        """Wait for ``futures`` while forwarding progress (nothing to wait for here)."""

    def peak_memory(self) -> dict[str, int]:
        return {"main": peak_rss_bytes()}

    def check_shared_path(self, path: str) -> None:
        pass

    def close(self) -> None:
        pass


#: What a worker process needs, imported once by the fork server (see :func:`start_workers_early`).
WORKER_MODULES = ("distributed", "distributed.nanny", "data_prep.tasks")


def _fork_server() -> bool:
    """True when local workers are started by a fork server (Linux, unless the environment
    chooses Dask's ``multiprocessing-method``)."""
    return (sys.platform.startswith("linux")
            and "DASK_DISTRIBUTED__WORKER__MULTIPROCESSING_METHOD" not in os.environ)


def start_workers_early() -> None:
    """Start the fork server that local Dask workers are forked from, now (idempotent).

    It is a fresh single-threaded interpreter that imports :data:`WORKER_MODULES` once; each
    worker is then a ``fork`` of it. Called at the start of ``lse prepare``, its imports run
    on the second core while this process imports the pipeline; the cluster start is then
    mostly two forks (measured at load ~6: 0.2-0.3 s, 0.1 CPU-s in the workers, against 1.4-5
    s and 1.3 CPU-s for spawned workers). See :func:`_local_cluster_config` for why a fork
    server.
    """
    if not _fork_server():
        return
    import multiprocessing
    from multiprocessing import forkserver

    multiprocessing.get_context("forkserver").set_forkserver_preload(list(WORKER_MODULES))
    forkserver.ensure_running()


def _local_cluster_config() -> dict:
    """Dask settings for the local cluster we start ourselves.

    * Workers are forked from a **fork server** (Linux) instead of spawned: a spawned worker
      starts a fresh interpreter and imports distributed, numpy, scipy and data_prep again
      (about 0.8 CPU-second each, on the critical path of a 10-second job), and at the end
      runs the interpreter's whole shutdown; a forked worker has the modules already and
      exits with ``os._exit`` (measured at load ~9: close 0.05-0.08 s instead of 0.7-1.7 s,
      no CPU for imports in the workers). Not a plain ``fork`` of this process: its children
      inherit this process' sockets and threads' locks (e.g. the scheduler's connections to
      the workers started before them); with plain forks one run in ~15 hung for good in a
      scheduler-to-worker transfer (we suspect the inherited sockets). The fork server is a
      clean process with no sockets and no threads; 10 + 3 consecutive clusters in one
      process and every later run went through. If the environment sets
      ``DASK_DISTRIBUTED__WORKER__MULTIPROCESSING_METHOD``, that is used.
    * No work stealing: a row block must stay on the worker that reduced it (its filter and
      final-count tasks run there); stealing moved them and copied whole blocks between
      workers (0.8 s for one block, measured).
    * Worker saturation 1.0: a worker is given its next independent task (a shard, a row
      block) only when it is free, not one in advance. With Dask's default (1.1: one queued
      ahead), a worker busy with the short vocabulary merges kept its slots full while the
      last shard waited in the other worker's queue (2.3 s lost, measured); without work
      stealing nothing moved it.
    * Fewer diagnostics (we start no dashboard to show them): no statistical profiler in the
      workers (it samples every task's stack every 10 ms), event-loop tick checks every
      second instead of every 20 ms, memory and system monitors every second or two.
      Measured on an idle 2-worker cluster: 0.04 + 0.03 instead of 0.16 + 0.25 CPU-seconds
      (client + workers) per 5 seconds, CPU taken from the tasks on a 2-core machine.
    """
    config = {"distributed.scheduler.work-stealing": False,
              "distributed.scheduler.worker-saturation": 1.0,
              "distributed.worker.profile.enabled": False,
              "distributed.admin.tick.interval": "1s",
              "distributed.admin.system-monitor.interval": "2s",
              "distributed.worker.memory.monitor-interval": "1s"}
    if _fork_server():
        start_workers_early()
        config["distributed.worker.multiprocessing-method"] = "forkserver"
    return config


class DaskExecutor:
    """A ``distributed.Client`` on a new local cluster (``workers`` processes, one thread
    each) or, with ``scheduler="tcp://host:port"``, on an existing cluster."""

    def __init__(self, workers: int | None = None, scheduler: str | None = None,
                 worker_memory: str | int = "auto"):
        from dask.distributed import Client, LocalCluster

        self.cluster = None
        if scheduler:
            try:
                self.client = Client(scheduler, timeout="20s")
            except (OSError, TimeoutError) as exc:
                raise LSEError(f"cannot connect to the Dask scheduler at {scheduler}: {exc}") \
                    from None
            self.description = f"Dask cluster at {scheduler}"
        else:
            import dask

            n = workers or os.cpu_count() or 1
            config = {f"distributed.nanny.pre-spawn-environ.{k}": v
                      for k, v in MALLOC_ENV.items()}
            config.update(_local_cluster_config())
            with dask.config.set(config), warnings.catch_warnings():
                # the scheduler's HTTP server falls back to a free port if 8787 is taken
                warnings.filterwarnings("ignore", message="Port .* is already in use")
                self.cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True,
                                            dashboard_address=None,
                                            silence_logs=logging.CRITICAL,
                                            memory_limit=worker_memory)
            self.client = Client(self.cluster)
            self.description = f"local Dask cluster, {n} worker process(es)"
        self.n_workers = max(1, len(self.client.scheduler_info(n_workers=-1)["workers"]))

    def submit(self, fn: Callable, *args, **kwargs):
        return self.client.submit(fn, *args, pure=False, **kwargs)

    def as_completed(self, futures):
        from dask.distributed import as_completed

        return as_completed(futures)

    def gather(self, futures: list) -> list:
        return self.client.gather(futures)

    def scatter(self, value: Any):
        # wrapped in a list: a dict or list passed directly is scattered item by item
        return self.client.scatter([value], broadcast=True, hash=False)[0]

    def progress_callback(self, update: Callable[[int], None] | None) -> QueueProgress | None:
        import uuid

        self._progress = QueueProgress(f"lse-progress-{uuid.uuid4().hex}") if update else None
        return self._progress

    def follow(self, futures: list, update: Callable[[int], None] | None) -> None:
        """Wait for ``futures``, feeding ``update`` with the token counts the tasks report
        (through the queue of the last :meth:`progress_callback`)."""
        from distributed import Queue, wait

        if update is None or self._progress is None:
            wait(futures)
            return
        queue = Queue(self._progress.name, client=self.client)
        pending = list(futures)
        while True:
            try:
                wait(pending, timeout=0.5, return_when="FIRST_COMPLETED")
            except TimeoutError:
                pass
            pending = [f for f in pending if not f.done()]
            n = queue.qsize()
            for value in (queue.get(batch=n) if n else ()):
                update(value)
            if not pending:
                return

    def peak_memory(self) -> dict[str, int]:
        """Peak RSS of every process: this one (client; with a local cluster also the
        scheduler and the nannies), every worker and, on a remote cluster, every nanny."""
        seen = {_process_peak()[:2]}
        out = {"client": peak_rss_bytes()}
        for name, kwargs in (("worker", {}), ("nanny", {"nanny": True})):
            try:
                res = self.client.run(_process_peak, on_error="ignore", **kwargs)
            except Exception:  # pragma: no cover - clusters without nannies
                continue
            for addr, value in sorted(res.items()):
                if isinstance(value, tuple) and value[:2] not in seen:
                    seen.add(value[:2])
                    out[f"{name} {addr}"] = value[2]
        return out

    def check_shared_path(self, path: str) -> None:
        seen = self.client.run(os.path.isdir, path)
        missing = [addr for addr, ok in seen.items() if not ok]
        if missing:
            raise LSEError(f"Dask worker(s) {', '.join(missing)} cannot see {path}; the work "
                           "directory and --out must be on a filesystem shared by the client "
                           "and every worker")

    def close(self) -> None:
        self.client.close()
        if self.cluster is not None:
            self.cluster.close()


def make_executor(workers: int | None, scheduler: str | None, worker_memory="auto"):
    """``workers == 0`` -> :class:`InProcess`; otherwise a :class:`DaskExecutor`."""
    if scheduler in (None, "", "local") and workers == 0:
        return InProcess()
    if workers is not None:
        check_int(workers, "--workers", 0)
    return DaskExecutor(workers, scheduler if scheduler not in ("", "local") else None,
                        worker_memory)


def tree_reduce(executor, fn: Callable, futures: list):
    """Combine ``futures`` with ``fn(a, b)`` pairwise, level by level, on the executor."""
    if not futures:
        raise ValueError("nothing to reduce")
    while len(futures) > 1:
        nxt = [executor.submit(fn, futures[i], futures[i + 1])
               for i in range(0, len(futures) - 1, 2)]
        if len(futures) % 2:
            nxt.append(futures[-1])
        futures = nxt
    return futures[0]
