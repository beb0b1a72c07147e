"""Hashed retrieval re-ranked by cosine + w * log(1 + count), from saved embeddings.

    python prior_rerank.py DIR [GLOB]                   # P@1 per file at each weight w
    python prior_rerank.py DIR [GLOB] --metrics 0.002   # label metrics, mean per data set and model

count: the label's number of training documents (:func:`lse.label_retrieval.popularity_prior`,
a popularity prior in the ranking only: the candidates, the exact-collision sets, are unchanged).
Reads ``dump_embeddings.py``'s files and ranks with the library (``rank_candidates`` with
``item_bias``, metrics by ``lse.label_benchmark.evaluate_topk``): w = 0 reproduces the stored
hashed P@1.
"""
import argparse
import collections
import glob

import numpy as np
import scipy.sparse as sp

from lse.label_benchmark import evaluate_topk
from lse.label_retrieval import popularity_prior, rank_candidates

WEIGHTS = (0, 0.001, 0.002, 0.003, 0.004, 0.005, 0.006, 0.008)
METRICS = ("P@1", "P@5", "nDCG@5", "PSP@1", "PSP@5")


def load(path):
    """(name, candidates CSR, queries, labels, training counts, n_train, evaluation labels)."""
    z = np.load(path)
    q, v = z["q"], z["v"]
    shape = (len(q), len(v))
    cand = sp.csr_matrix((np.ones(len(z["cand_indices"]), bool), z["cand_indices"],
                          z["cand_indptr"]), shape=shape)
    Y = sp.csr_matrix((np.ones(len(z["Y_indices"])), z["Y_indices"], z["Y_indptr"]), shape=shape)
    return (path.split("/")[-1][:-4], cand, q, v, z["counts"], int(z["n_train"]), Y,
            float(z["hashed_p1"]))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("dir")
    parser.add_argument("glob", nargs="?", default="*")
    parser.add_argument("--metrics", type=float, metavar="W",
                        help="print P@1/5, nDCG@5, PSP@1/5 at w = 0 and W instead")
    args = parser.parse_args()
    means = collections.defaultdict(list)
    for path in sorted(glob.glob(f"{args.dir}/{args.glob}.npz")):
        name, cand, q, v, counts, n_train, Y, stored = load(path)
        if args.metrics is None:
            cells = []
            for w in WEIGHTS:
                top = rank_candidates(cand, q, v, 1, item_bias=popularity_prior(counts, w))
                cells.append(f"{w}:{evaluate_topk(top, Y, counts, n_train, (1,))['all']['P@1']:.3f}")
            print(name, f"stored {stored:.3f}", " ".join(cells))
            continue
        for w in (0.0, args.metrics):
            top = rank_candidates(cand, q, v, 5, item_bias=popularity_prior(counts, w))
            result = evaluate_topk(top, Y, counts, n_train)["all"]
            means[(*name.split("_")[:2], w)].append([result[m] for m in METRICS])
    for (data, model, w), rows in sorted(means.items()):
        print(f"{data} {model} w {w}: " + " ".join(
            f"{m} {x:.3f}" for m, x in zip(METRICS, np.mean(rows, 0))), f"({len(rows)} files)")


if __name__ == "__main__":
    main()
