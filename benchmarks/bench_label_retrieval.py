"""Throughput of hashed top-k label retrieval vs dense scoring of every label, by label count.

    python benchmarks/bench_label_retrieval.py [--queries 2000] [--labels 1000,10000,100000]
    python benchmarks/bench_label_retrieval.py --crossover
    python benchmarks/bench_label_retrieval.py --mining 2


Synthetic but shaped like a trained LSE model: labels come in clusters of ~10 that share a
sign code (tanh-like embeddings = a cluster centre of +-1 coordinates plus small noise), and
each query sits near one cluster centre, so an exact-collision lookup returns ~10 candidates.
Both methods get the same query embeddings (the instance tower's cost is the same for both and
is left out) and return the top 5 by cosine. Prints queries per second and the speed ratio;
the machine may be shared, so compare the ratios.

``--crossover`` times the two ways :func:`lse.label_retrieval.rank_candidates` can rank: by
group of queries sharing a candidate set, or every (query, candidate) pair at once, for 20,000
queries with 10 or 100 candidates each and 1 to 32 queries per candidate set; it prints the cost
per group and per pair, whose ratio sets ``PAIRS_PER_GROUP``.

``--mining R`` times what a refresh of mined negatives does instead
(:meth:`lse.features.FeaturePairs.refresh`): each query's pool of the 8 highest-scoring labels
it does not have (3 labels of its own cluster excluded), by scoring every label vs through the
index within Hamming radius R (``mining_radius``), and the share of the dense pool the hashed
one recovers.
"""
from __future__ import annotations

import argparse
import time

import numpy as np

import scipy.sparse as sp

from lse import label_retrieval
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


def crossover(n_queries: int = 20000, n_items: int = 10000, dim: int = 32) -> None:
    rng = np.random.default_rng(0)
    q = label_retrieval.unit_embeddings(rng.standard_normal((n_queries, dim)))
    v = label_retrieval.unit_embeddings(rng.standard_normal((n_items, dim)))
    print(f"{'cand.':>6}{'q/set':>7}{'pairs/set':>11}{'by group ms':>13}{'pairs ms':>10}"
          f"{'us/group':>10}{'us/pair':>9}")
    for m in (10, 100):
        for per in (1, 4, 16, 32):
            sets = np.sort(rng.random((n_queries // per, n_items)).argpartition(m, 1)[:, :m], 1)
            indices = np.repeat(sets, per, axis=0).ravel()
            cand = sp.csr_matrix((np.ones(len(indices), bool), indices,
                                  np.arange(len(indices) // m + 1) * m),
                                 shape=(len(indices) // m, n_items))
            rows, starts = label_retrieval._identical_rows(cand)
            qq = q[:cand.shape[0]]
            _, t_group = best(lambda: label_retrieval._rank_by_group(cand, qq, v, 5, rows, starts))
            _, t_pairs = best(lambda: label_retrieval._rank_pairs(cand, qq, v, 5, 1 << 20))
            print(f"{m:>6}{per:>7}{m * per:>11}{t_group * 1e3:>13.1f}{t_pairs * 1e3:>10.1f}"
                  f"{t_group / len(starts) * 1e6:>10.0f}{t_pairs / cand.nnz * 1e6:>9.2f}")


def own_labels(which_query: np.ndarray, which_label: np.ndarray, per_query: int,
               rng) -> sp.csr_matrix:
    """(n_queries, n_labels) up to ``per_query`` random labels of each query's own cluster."""
    order = np.argsort(which_label, kind="stable")
    starts = np.searchsorted(which_label[order], np.arange(which_label.max() + 2))
    size = np.diff(starts)[which_query]
    picks = rng.random((len(which_query), per_query)) * size[:, None]
    cols = order[starts[which_query][:, None] + picks.astype(np.int64)]
    rows = np.repeat(np.arange(len(which_query)), per_query)
    keep = np.repeat(size > 0, per_query)
    return sp.csr_matrix((np.ones(keep.sum(), bool), (rows[keep], cols.ravel()[keep])),
                         shape=(len(which_query), len(which_label)))


def label_sets(args, rng):
    """Per label count of ``--labels``: (count, labels, their clusters, queries, theirs)."""
    for n_labels in (int(x) for x in args.labels.split(",")):
        centres = rng.choice([-1.0, 1.0], (max(1, n_labels // 10), args.dim))
        labels, which_label = clustered(n_labels, centres, rng)
        queries, which_query = clustered(args.queries, centres, rng)
        yield n_labels, labels, which_label, queries, which_query


def print_rows(columns: list[str], rows) -> None:
    """Label count, hashed and dense queries per second, their ratio, then ``columns``."""
    print(f"{'labels':>8}{'hashed q/s':>14}{'dense q/s':>14}{'ratio':>8}"
          + "".join(f"{c:>{len(c) + 2}}" for c in columns))
    for n_labels, n_queries, t_hash, t_dense, cells in rows:
        print(f"{n_labels:>8}{n_queries / t_hash:>14,.0f}{n_queries / t_dense:>14,.0f}"
              f"{t_dense / t_hash:>8.1f}"
              + "".join(f"{x:>{len(c) + 2}.{1 if x >= 10 else 3}f}"
                        for c, x in zip(columns, cells)))


def retrieval(args, rng):
    for n_labels, labels, _, queries, _ in label_sets(args, rng):
        retriever = HashedRetriever(labels)
        hashed, t_hash = best(lambda: retriever.topk(queries, 5))
        dense, t_dense = best(lambda: dense_topk(queries, labels, 5))
        found, _ = retriever.candidates(queries)
        yield (n_labels, args.queries, t_hash, t_dense,
               (found.nnz / args.queries, np.mean(hashed[:, 0] == dense[:, 0])))


def mining(args, rng, pool: int = 8):
    for n_labels, labels, which_label, queries, which_query in label_sets(args, rng):
        exclude = own_labels(which_query, which_label, 3, rng)
        retriever = HashedRetriever(labels)
        hashed, t_hash = best(lambda: retriever.topk(queries, pool, radius=args.mining,
                                                     exclude=exclude))
        dense, t_dense = best(lambda: dense_topk(queries, labels, pool, exclude=exclude))
        same = (hashed[:, :, None] == dense[:, None, :]) & (hashed[:, :, None] >= 0)
        yield (n_labels, args.queries, t_hash, t_dense,
               (np.mean(hashed >= 0), same.any(axis=2).sum() / np.sum(dense >= 0)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--queries", type=int, default=2000)
    parser.add_argument("--labels", default="1000,10000,100000")
    parser.add_argument("--dim", type=int, default=32)
    parser.add_argument("--crossover", action="store_true",
                        help="time ranking by group vs pair by pair instead")
    parser.add_argument("--mining", type=int, metavar="R",
                        help="time mining pools (dense vs within Hamming radius R) instead")
    args = parser.parse_args()
    if args.crossover:
        return crossover(dim=args.dim)
    rng = np.random.default_rng(0)
    if args.mining is not None:
        return print_rows(["pool filled", "of dense pool"], mining(args, rng))
    print_rows(["cand/query", "top-1 agree"], retrieval(args, rng))


if __name__ == "__main__":
    main()
