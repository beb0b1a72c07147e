"""Wall and CPU time of every stage of ``lse prepare``, client and workers separately.

    python benchmarks/prepare_stages.py [--corpus DIR] [--workers 2] [--repeat 1]

Runs :func:`data_prep.pipeline.prepare` in this process (``--workers 0``: no Dask) or on a
local Dask cluster, and after every stage reads the CPU time (user + sys) of this process
(client, scheduler and nannies) and of every worker (``Client.run``). On a machine shared with
other jobs the wall times vary with the load; the CPU times much less, so compare changes by
CPU time per stage, with runs taken back to back (``PYTHONPATH=/other/checkout`` runs another
version of the code). The load average is printed before and after each run. Also printed:
the import time of the pipeline, which happens before the first stage.
"""
from __future__ import annotations

import time

T0 = time.perf_counter()

import argparse  # noqa: E402
import os  # noqa: E402
import shutil  # noqa: E402
import tempfile  # noqa: E402
from pathlib import Path  # noqa: E402

import data_prep.pipeline as pipeline  # noqa: E402

IMPORT_SECONDS = time.perf_counter() - T0
ENWIKI = Path(__file__).resolve().parents[2] / "shared" / "data" / "text" / "enwiki"
STAGES = ("scan", "count", "reduce", "pairs", "write")


def _cpu() -> float:
    import resource

    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _snapshot(job) -> tuple[float, float, float]:
    client = getattr(job.ex, "client", None)
    workers = sum(client.run(_cpu).values()) if client is not None else 0.0
    return time.perf_counter(), _cpu(), workers


def instrument(rows: list) -> None:
    """Wrap the stages of :class:`data_prep.pipeline._Job` to append
    ``(stage, wall, client CPU, workers CPU)`` to ``rows``."""
    last = {}

    for name in STAGES:
        def stage(self, *args, _run=getattr(pipeline._Job, name), _name=name, **kwargs):
            if "t" not in last:
                last["t"] = _snapshot(self)
                rows.append(("startup", last["t"][0] - last["start"][0],
                             last["t"][1] - last["start"][1], last["t"][2]))
            result = _run(self, *args, **kwargs)
            now = _snapshot(self)
            rows.append((_name, *(a - b for a, b in zip(now, last["t"]))))
            last["t"] = _snapshot(self)  # the snapshot itself is not counted
            return result
        setattr(pipeline._Job, name, stage)

    def reset(start: tuple[float, float]) -> None:
        last.clear()
        last["start"] = start
    instrument.reset = reset


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", type=Path, default=ENWIKI)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    rows: list = []
    instrument(rows)
    print(f"pipeline from {Path(pipeline.__file__).parent}; import {IMPORT_SECONDS:.2f} s")
    for _ in range(args.repeat):
        tmp = Path(tempfile.mkdtemp(prefix="prepare_stages."))
        rows.clear()
        load = os.getloadavg()[0]
        t, c = time.perf_counter(), _cpu()
        instrument.reset((t, c))
        try:
            stats = pipeline.prepare([str(args.corpus)], tmp / "out", workers=args.workers,
                                     progress=False)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        wall = time.perf_counter() - t
        print(f"--workers {args.workers}: load average {load:.2f} -> {os.getloadavg()[0]:.2f}; "
              f"{stats['corpus']['tokens']:,} tokens; wall {wall:.2f} s "
              f"(incl. cluster shutdown); client CPU {_cpu() - c:.2f} s")
        print(f"  {'stage':8s} {'wall':>6s} {'client CPU':>11s} {'workers CPU':>12s}")
        for name, w, cc, wc in rows:
            print(f"  {name:8s} {w:6.2f} {cc:11.2f} {wc:12.2f}")
        print(f"  {'sum':8s} {sum(r[1] for r in rows):6.2f} {sum(r[2] for r in rows):11.2f} "
              f"{sum(r[3] for r in rows):12.2f}")


if __name__ == "__main__":
    main()
