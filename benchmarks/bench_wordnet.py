"""Wall-clock of the WP metric at the paper's scale: 46,000 queries with realistic retrieved sets.

Vocabulary: every single-token WordNet lemma in the WP vocabulary (~65K words) plus as many
non-WordNet tokens (as a model vocabulary has). Queries: 46,000 WP words. Retrieved sets:
sizes log-uniform on [1, 1000] (heavy-tailed, mean ~145, like hash buckets of a word model),
members drawn uniformly from the WP vocabulary and from the other tokens (dropped by the metric).
Also times nltk's own ``wup_similarity`` on a sample of the same pairs and extrapolates.

    .venv/bin/python benchmarks/bench_wordnet.py [--queries 46000] [--max-size 1000]
"""
import argparse
import time

import numpy as np
import scipy.sparse as sp

from lse.wordnet import WordNetScorer, ensure_wordnet, wup_graph


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queries", type=int, default=46_000)
    parser.add_argument("--max-size", type=int, default=1000)
    parser.add_argument("--nltk-sample", type=int, default=300,
                        help="word pairs to time with nltk itself (0 to skip)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)

    t0 = time.perf_counter()
    graph = wup_graph()
    t_graph = time.perf_counter() - t0
    words = [w for w in graph.lemmas if "_" not in w]
    vocab = words + [f"<tok{i}>" for i in range(len(words))]
    t0 = time.perf_counter()
    scorer = WordNetScorer(vocab)
    t_scorer = time.perf_counter() - t0
    wp_ids = scorer.wp_vocabulary()
    queries = rng.choice(wp_ids, args.queries, replace=False)
    sizes = np.floor(np.exp(rng.uniform(0, np.log(args.max_size + 1), args.queries))).astype(int)
    members = rng.integers(0, len(vocab), int(sizes.sum()))
    retrieved = sp.csr_matrix((np.ones(len(members), bool), (np.repeat(np.arange(args.queries), sizes), members)),
                              shape=(args.queries, len(vocab)))
    in_wp = np.isin(retrieved.indices, wp_ids)

    t0 = time.perf_counter()
    mean, per_query = scorer.score(queries, retrieved)
    t_score = time.perf_counter() - t0

    print(f"graph load/compile: {t_graph:.1f} s; scorer for {len(vocab):,} words "
          f"({len(wp_ids):,} in WP vocabulary): {t_scorer:.1f} s")
    print(f"{args.queries:,} queries, retrieved-set sizes 1..{args.max_size} (mean {sizes.mean():.1f}), "
          f"{retrieved.nnz:,} retrieved entries, {int(in_wp.sum()):,} WP word pairs")
    print(f"WP score: {t_score:.1f} s wall-clock  (mean WP {mean:.4f}, "
          f"{int(in_wp.sum()) / t_score:,.0f} word pairs/s)")

    if args.nltk_sample:
        wn = ensure_wordnet()
        rows = np.repeat(np.arange(args.queries), np.diff(retrieved.indptr))[in_wp]
        pick = rng.choice(len(rows), args.nltk_sample, replace=False)
        pairs = [(vocab[queries[r]], vocab[c]) for r, c in zip(rows[pick], retrieved.indices[in_wp][pick])]
        t0 = time.perf_counter()
        for w, v in pairs:
            [s.wup_similarity(t) for pos in "nv" for s in wn.synsets(w, pos) for t in wn.synsets(v, pos)]
        per_pair = (time.perf_counter() - t0) / len(pairs)
        print(f"nltk wup_similarity: {per_pair * 1e3:.2f} ms per word pair -> "
              f"{per_pair * in_wp.sum() / 3600:.1f} h for the same work")


if __name__ == "__main__":
    main()
