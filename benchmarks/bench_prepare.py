"""Benchmark ``lse prepare`` on the shared English Wikipedia sample with 1 and 2 workers.

Runs ``lse prepare ENWIKI --out TMP --workers N`` as a subprocess for each N, sampling the
resident memory of the whole process tree (client, scheduler, nannies, workers) every 20 ms,
and prints for each run: wall time of the command, tokens/s of the whole job (reading xz,
tokenizing, counting, filtering, writing; from the command's wall time) and of the counting
stage (window counting + reduction, from stats.json), the time of every stage, the CPU time of
all its processes (sampled with the memory), and peak memory (the sampled peak of the sum over
all processes, and the sum of per-process peaks). Then the 2-vs-1-worker speed-ups, and the
cost of xz decoding alone. For CPU time per stage (client and workers apart), see
``benchmarks/prepare_stages.py``.

    python benchmarks/bench_prepare.py [--corpus DIR] [--workers 1 2] [--keep]

Targets (issue 3), with 2 workers: counting >= 2M tokens/s, whole job >= 1M tokens/s,
peak memory <= 4 GB. Reference: GloVe's ``cooccur`` counts this corpus at ~1.1M tokens/s here
from pre-tokenized text. The machine has 2 cores shared with other work: the load average is
printed before and after each run so that a disturbed measurement can be recognised.
"""
from __future__ import annotations

import argparse
import json
import lzma
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
ENWIKI = ROOT.parent / "shared" / "data" / "text" / "enwiki"
TARGETS = {"counting": 2_000_000, "total": 1_000_000, "memory": 4 << 30}


def tree_sample(proc: psutil.Process, cpu: dict[int, float]) -> int:
    """Resident memory of the whole process tree; records each process' CPU time (user +
    sys) in ``cpu`` (pid -> latest value). Sampled rather than read from ``RUSAGE_CHILDREN``:
    the Dask workers are children of a fork server, which is not reaped by ``lse``."""
    total = 0
    try:
        procs = [proc, *proc.children(recursive=True)]
    except psutil.Error:  # a process ended while being listed
        return 0
    for p in procs:
        try:
            with p.oneshot():
                total += p.memory_info().rss
                t = p.cpu_times()
            cpu[p.pid] = max(cpu.get(p.pid, 0.0), t.user + t.system)
        except psutil.Error:
            pass
    return total


def run_prepare(corpus: Path, out: Path, workers: int) -> dict:
    lse = Path(sys.executable).with_name("lse")
    cmd = [str(lse), "prepare", str(corpus), "--out", str(out), "--workers", str(workers),
           "--quiet"]
    peak = 0
    cpu_seen: dict[int, float] = {}
    done = threading.Event()
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd)
    ps = psutil.Process(proc.pid)

    def sample():
        nonlocal peak
        while not done.is_set():
            peak = max(peak, tree_sample(ps, cpu_seen))
            time.sleep(0.02)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    rc = proc.wait()
    wall = time.perf_counter() - t0
    done.set()
    sampler.join()
    if rc:
        raise SystemExit(f"{' '.join(cmd)} failed with status {rc}")
    stats = json.loads((out / "stats.json").read_text())
    cpu = sum(cpu_seen.values())  # each process' last sample (<= 20 ms before it ended)
    return {"wall": wall, "peak_sampled": peak, "stats": stats, "cpu": cpu}


def _decode(path: str) -> int:
    with lzma.open(path, "rb") as fh:
        return len(fh.read())


def xz_cost(corpus: Path) -> tuple[float, float, int]:
    files = sorted(str(p) for p in corpus.glob("*.xz"))
    t = time.perf_counter()
    size = sum(_decode(f) for f in files)
    one = time.perf_counter() - t
    with ProcessPoolExecutor(2) as pool:
        list(pool.map(_decode, files[:2]))  # warm up the processes
        t = time.perf_counter()
        list(pool.map(_decode, files))
        two = time.perf_counter() - t
    return one, two, size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", type=Path, default=ENWIKI)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--keep", action="store_true", help="keep the output datasets")
    args = parser.parse_args()
    if not args.corpus.exists():
        raise SystemExit(f"corpus {args.corpus} not found")
    tmp = Path(tempfile.mkdtemp(prefix="bench_prepare."))
    print(f"corpus {args.corpus}; {os.cpu_count()} cores; outputs in {tmp}")
    results = {}
    try:
        for n in args.workers:
            load = os.getloadavg()[0]
            r = run_prepare(args.corpus, tmp / f"w{n}", n)
            s = r["stats"]
            tokens = s["corpus"]["tokens"]
            times = s["time_seconds"]
            counting = times["count"] + times["reduce"]
            per_process = s["peak_memory_bytes"]["total"]
            results[n] = {"total": tokens / r["wall"], "counting": tokens / counting,
                          "memory": max(r["peak_sampled"], per_process)}
            print(f"\n--workers {n}  (load average before {load:.1f}, after "
                  f"{os.getloadavg()[0]:.1f})")
            print(f"  tokens               {tokens:,}")
            print(f"  wall time            {r['wall']:.2f} s  (lse prepare command, end to end)")
            print(f"  CPU time             {r['cpu']:.2f} s  (user+sys of all its processes, "
                  f"sampled; {tokens / r['cpu'] / 1e6:.2f} M tokens per CPU-second)")
            print(f"  whole job            {tokens / r['wall'] / 1e6:.2f} M tokens/s")
            print(f"  counting stage       {tokens / counting / 1e6:.2f} M tokens/s "
                  f"({counting:.2f} s: count {times['count']:.2f} + reduce "
                  f"{times['reduce']:.2f})")
            print("  stages (s)           " + ", ".join(f"{k} {v:.2f}" for k, v in times.items()))
            print(f"  peak memory          {r['peak_sampled'] / 2**30:.2f} GB sampled sum over "
                  f"all processes; {per_process / 2**30:.2f} GB sum of per-process peaks")
            print(f"  dataset              {s['vocabulary']['final']:,} words, "
                  f"{s['counts']['nonzeros']:,} count nonzeros, "
                  f"{s['pairs']['training_pairs']:,} training pairs")
        if 1 in results and 2 in results:
            print(f"\nspeed-up 2 vs 1 worker: whole job "
                  f"{results[2]['total'] / results[1]['total']:.2f}x, counting "
                  f"{results[2]['counting'] / results[1]['counting']:.2f}x")
        one, two, size = xz_cost(args.corpus)
        print(f"xz decoding alone: {size / 1e6:.0f} MB in {one:.2f} s (1 process), "
              f"{two:.2f} s (2 processes)")
        if 2 in results:
            r = results[2]
            print("\ntargets with 2 workers: "
                  f"counting {r['counting'] / 1e6:.2f} M tok/s (>= 2.0: "
                  f"{'met' if r['counting'] >= TARGETS['counting'] else 'NOT met'}), "
                  f"whole job {r['total'] / 1e6:.2f} M tok/s (>= 1.0: "
                  f"{'met' if r['total'] >= TARGETS['total'] else 'NOT met'}), "
                  f"peak memory {r['memory'] / 2**30:.2f} GB (<= 4: "
                  f"{'met' if r['memory'] <= TARGETS['memory'] else 'NOT met'})")
    finally:
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
