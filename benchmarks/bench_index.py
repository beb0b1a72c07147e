"""Benchmark: lse.index.HashIndex against faiss.IndexBinaryHash on word2hashes-sized data.

Setting (the OSCAR model of the LSE paper): 660K items x 3 codes of 32 bits with ~300K distinct
codes, 46K query items. The synthetic codes are *clustered* the way trained hashes are:
distinct codes are drawn around random centres (0-3 flipped bits), so Hamming balls of radius
1-2 do find neighbours, and bucket sizes follow a Zipf-like law (every code used once, the
remaining item-codes drawn with weight rank**-0.6: a few buckets of thousands, many singletons).

Both indexes get the same codes, in the same run, with the same number of threads. Timings are
the best of ``--repeat`` runs, ours and faiss's interleaved (the machine may be shared).

faiss conventions used (see the SPEC): ``IndexBinaryHash(d, b=d)`` hashes the whole code, so
it is an exact hash table; its ``range_search(x, r)`` keeps distances *strictly below* r and
probes ``nflip`` flipped bits, so our radius r is ``nflip = r`` with ``range_search(x, r + 1)``.
faiss indexes one row per code (row = item * L + l) and answers one query row per code, so its
result ids map back with ``row // L`` and the L rows of a query are united before comparing.
Ours answers one query per *item* (its L codes) and returns a deduplicated, sorted CSR matrix,
i.e. it does strictly more work per query than faiss.

Usage: python benchmarks/bench_index.py [--threads 1] [--repeat 3] [--items 660000] ...
"""
from __future__ import annotations

import argparse
import ctypes
import gc
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
import scipy.sparse as sp

from lse.index import HashIndex


def make_codes(n_items: int, L: int, n_distinct: int, n_centres: int, zipf_a: float,
               seed: int) -> np.ndarray:
    """Clustered 32-bit codes ``(n_items, L, 4)`` with exactly ``n_distinct`` distinct codes."""
    rng = np.random.default_rng(seed)
    centres = rng.integers(0, 2**32, n_centres, dtype=np.uint64)
    pool = np.zeros(0, np.uint64)
    while pool.size < n_distinct:
        near = centres[rng.integers(0, n_centres, 2 * n_distinct)]
        n_flip = rng.choice(4, size=near.size, p=[0.1, 0.3, 0.3, 0.3])
        for k in range(3):
            bit = rng.integers(0, 32, near.size).astype(np.uint64)
            near ^= np.where(n_flip > k, np.uint64(1) << bit, np.uint64(0))
        pool = np.unique(np.concatenate([pool, near]))
    distinct = rng.permutation(pool)[:n_distinct]
    weights = (np.arange(n_distinct) + 1.0) ** -zipf_a
    extra = rng.choice(n_distinct, size=n_items * L - n_distinct, p=weights / weights.sum())
    slot_code = rng.permutation(np.concatenate([np.arange(n_distinct), extra]))
    keys = distinct[slot_code].astype(">u4")
    return keys.view(np.uint8).reshape(n_items, L, 4)


def rss_bytes() -> int:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def build_rss(kind: str, codes_path: str) -> int:
    """RSS growth of building one index, in a fresh interpreter (a clean heap), after
    ``malloc_trim`` so that only live memory counts (for both libraries alike)."""
    out = subprocess.run([sys.executable, __file__, "--rss-child", kind, codes_path],
                         check=True, capture_output=True, text=True).stdout
    return int(out.split()[-1])


def rss_child(kind: str, codes_path: str) -> None:
    codes = np.load(codes_path)
    import faiss
    HashIndex(codes[:100], 32).query_codes(codes[:1], radius=1)  # page in the code paths
    faiss.IndexBinaryHash(32, 32).add(np.ascontiguousarray(codes[:100].reshape(-1, 4)))
    gc.collect()
    before = rss_bytes()
    if kind == "ours":
        index = HashIndex(codes, 32)
        index.query_codes(codes[:1], radius=1)  # builds the Hamming-search tables too
    else:
        index = faiss.IndexBinaryHash(32, 32)
        index.add(np.ascontiguousarray(codes.reshape(-1, codes.shape[-1])))
    gc.collect()
    ctypes.CDLL("libc.so.6").malloc_trim(0)  # return freed build temporaries to the OS
    print(rss_bytes() - before)


def best_of(repeat: int, fn):
    times, out = [], None
    for _ in range(repeat):
        out = None  # free the previous result before the next run
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return min(times), out


def faiss_to_csr(lims, ids, L: int, n_queries: int, n_items: int) -> sp.csr_matrix:
    rows = np.repeat(np.arange(len(lims) - 1), np.diff(lims).astype(np.int64)) // L
    m = sp.csr_matrix((np.ones(len(ids), bool), (rows, ids // L)), shape=(n_queries, n_items))
    m.sum_duplicates()
    return m


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--items", type=int, default=660_000)
    ap.add_argument("--codes-per-item", type=int, default=3)
    ap.add_argument("--distinct", type=int, default=300_000)
    ap.add_argument("--centres", type=int, default=60_000)
    ap.add_argument("--zipf", type=float, default=0.6)
    ap.add_argument("--queries", type=int, default=46_000)
    ap.add_argument("--threads", type=int, default=1, help="threads for ours and for faiss")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--rss-child", nargs=2, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.rss_child:
        return rss_child(*args.rss_child)

    import faiss  # the bench extra: pip install -e ".[bench]"
    faiss.omp_set_num_threads(args.threads)
    L, d = args.codes_per_item, 32

    codes = make_codes(args.items, L, args.distinct, args.centres, args.zipf, args.seed)
    rng = np.random.default_rng(args.seed + 1)
    q_items = rng.choice(args.items, args.queries, replace=False)
    q_codes = np.ascontiguousarray(codes[q_items])
    rows = np.ascontiguousarray(codes.reshape(-1, 4))
    q_rows = np.ascontiguousarray(q_codes.reshape(-1, 4))

    t_ours, ours = best_of(args.repeat, lambda: HashIndex(codes, d))
    ours.query_codes(q_codes[:10], radius=1)  # build the Hamming-search tables (in memory)

    def build_faiss():
        index = faiss.IndexBinaryHash(d, d)
        index.add(rows)
        return index
    t_faiss, theirs = best_of(args.repeat, build_faiss)
    with tempfile.TemporaryDirectory() as tmp:
        np.save(f"{tmp}/codes.npy", codes)
        rss_ours, rss_faiss = (build_rss(k, f"{tmp}/codes.npy") for k in ("ours", "faiss"))

    st = ours.stats()
    print(f"data: {args.items} items x {L} codes of {d} bits, {st['n_buckets']} distinct codes "
          f"({st['n_nonsingleton_buckets']} shared), largest bucket {st['largest_bucket']}; "
          f"{args.queries} query items; threads={args.threads} (ours n_threads, faiss "
          f"omp_set_num_threads); best of {args.repeat}")
    print(f"{'':24s}{'ours':>12s}{'faiss':>12s}{'ours/faiss':>12s}")
    print(f"{'build time (s)':24s}{t_ours:12.3f}{t_faiss:12.3f}{t_ours / t_faiss:12.2f}")
    print(f"{'memory (MB, RSS growth)':24s}{rss_ours / 1e6:12.1f}{rss_faiss / 1e6:12.1f}"
          f"{rss_ours / max(rss_faiss, 1):12.2f}")
    print(f"{'memory (MB, arrays)':24s}{ours.nbytes / 1e6:12.1f}{'-':>12s}")

    for radius in (0, 1, 2):
        theirs.nflip = radius
        t_o, t_f = [], []
        for _ in range(args.repeat):  # interleaved so that load spikes hit both alike
            t0 = time.perf_counter()
            got = ours.query_codes(q_codes, radius=radius, n_threads=args.threads)
            t_o.append(time.perf_counter() - t0)
            del got
            t0 = time.perf_counter()
            lims, _, ids = theirs.range_search(q_rows, radius + 1)
            t_f.append(time.perf_counter() - t0)
            del lims, ids
        got = ours.query_codes(q_codes, radius=radius, n_threads=args.threads)
        lims, _, ids = theirs.range_search(q_rows, radius + 1)
        expected = faiss_to_csr(lims, ids, L, args.queries, args.items)
        same = got.shape == expected.shape and (got != expected).nnz == 0
        qps_o, qps_f = args.queries / min(t_o), args.queries / min(t_f)
        print(f"{f'queries/s radius {radius}':24s}{qps_o:12,.0f}{qps_f:12,.0f}{qps_o / qps_f:12.2f}"
              f"   results {'IDENTICAL' if same else 'DIFFER'} ({got.nnz:,} pairs, faiss "
              f"{len(ids):,} before union)")
        if not same:
            raise SystemExit("result sets differ")


if __name__ == "__main__":
    main()
