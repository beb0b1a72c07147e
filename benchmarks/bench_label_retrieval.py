"""Throughput of hashed top-k label retrieval vs dense scoring of every label, by label count.

    python benchmarks/bench_label_retrieval.py [--queries 2000] [--labels 1000,10000,100000]

Synthetic but shaped like a trained LSE model: labels come in clusters of ~10 that share a
sign code (tanh-like embeddings = a cluster centre of +-1 coordinates plus small noise), and
each query sits near one cluster centre, so an exact-collision lookup returns ~10 candidates.
Both methods get the same query embeddings (the instance tower's cost is the same for both and
is left out) and return the top 5 by cosine. Prints queries per second and the speed ratio;
the machine may be shared, so compare the ratios.
"""
from __future__ import annotations

import argparse
import time

import numpy as np

from lse.label_retrieval import HashedRetriever, dense_topk


def clustered(n: int, centres: np.ndarray, rng, noise: float = 0.2) -> tuple[np.ndarray, np.ndarray]:
    which = rng.integers(0, len(centres), n)
    x = centres[which] + rng.uniform(-noise, noise, (n, centres.shape[1]))
    return np.tanh(2 * x), which


def best(fn, repeats: int = 3) -> tuple[object, float]:
    out, seconds = None, np.inf
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn()
        seconds = min(seconds, time.perf_counter() - start)
    return out, seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--queries", type=int, default=2000)
    parser.add_argument("--labels", default="1000,10000,100000")
    parser.add_argument("--dim", type=int, default=32)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    print(f"{'labels':>8}{'hashed q/s':>14}{'dense q/s':>14}{'ratio':>8}{'cand/query':>12}"
          f"{'top-1 agree':>13}")
    for n_labels in (int(x) for x in args.labels.split(",")):
        centres = rng.choice([-1.0, 1.0], (max(1, n_labels // 10), args.dim))
        labels, _ = clustered(n_labels, centres, rng)
        queries, _ = clustered(args.queries, centres, rng)
        retriever = HashedRetriever(labels)
        hashed, t_hash = best(lambda: retriever.topk(queries, 5))
        dense, t_dense = best(lambda: dense_topk(queries, labels, 5))
        found, _ = retriever.candidates(queries)
        agree = np.mean(hashed[:, 0] == dense[:, 0])
        print(f"{n_labels:>8}{args.queries / t_hash:>14,.0f}{args.queries / t_dense:>14,.0f}"
              f"{t_dense / t_hash:>8.1f}{found.nnz / args.queries:>12.1f}{agree:>13.3f}")


if __name__ == "__main__":
    main()
