"""Wall-clock of the Hamming-ranking metrics at CIFAR-10 scale: 10,000 queries x 60,000 items.

Random 64-bit codes and 10 classes (single-label), plus 21 sparse classes (multi-label, like
NUS-WIDE). Prints seconds per metric.

    .venv/bin/python benchmarks/bench_map.py [--queries 10000] [--db 60000] [--bits 64]
"""
import argparse
import time

import numpy as np
import scipy.sparse as sp

from lse import metrics


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queries", type=int, default=10_000)
    parser.add_argument("--db", type=int, default=60_000)
    parser.add_argument("--bits", type=int, default=64)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    q = rng.integers(0, 256, (args.queries, args.bits // 8), dtype=np.uint8)
    d = rng.integers(0, 256, (args.db, args.bits // 8), dtype=np.uint8)
    ql, dl = rng.integers(0, 10, args.queries), rng.integers(0, 10, args.db)
    qm = sp.random(args.queries, 21, density=0.15, format="csr", random_state=1)
    dm = sp.random(args.db, 21, density=0.15, format="csr", random_state=2)
    runs = [("MAP@R, R = whole database", lambda: metrics.map_at_r(q, d, ql, dl)),
            ("MAP@1000", lambda: metrics.map_at_r(q, d, ql, dl, R=1000)),
            ("MAP@5000, multi-label", lambda: metrics.map_at_r(q, d, qm, dm, R=5000)),
            ("P/R within radius 2", lambda: metrics.precision_recall_within_radius(q, d, ql, dl, 2))]
    print(f"{args.queries:,} queries x {args.db:,} items, {args.bits} bits")
    for name, run in runs:
        t0 = time.perf_counter()
        value = run()
        print(f"{name:28s} {time.perf_counter() - t0:6.1f} s   {value}")


if __name__ == "__main__":
    main()
