"""Hashed P@1 when a document's candidate labels are ranked by cosine + w * log(1 + count).

    python prior_rerank.py DIR [GLOB]

count: the label's number of training documents (a popularity prior in the ranking only: the
candidates, the exact-collision sets, are unchanged). Reads ``dump_embeddings.py``'s files and
prints one line per file: P@1 at each weight w (w = 0 reproduces the stored hashed P@1).
"""
import glob
import sys

import numpy as np
import scipy.sparse as sp

WEIGHTS = (0, 0.001, 0.002, 0.003, 0.004, 0.005, 0.006, 0.008)


def unit(x):
    x = x[:, 0]
    return x / np.linalg.norm(x, axis=1, keepdims=True)


for path in sorted(glob.glob(f"{sys.argv[1]}/{sys.argv[2] if len(sys.argv) > 2 else '*'}.npz")):
    z = np.load(path)
    q, v = unit(z["q"]), unit(z["v"])
    shape = (q.shape[0], v.shape[0])
    cand = sp.csr_matrix((np.ones(len(z["cand_indices"]), bool), z["cand_indices"],
                          z["cand_indptr"]), shape=shape).toarray()
    Y = sp.csr_matrix((np.ones(len(z["Y_indices"]), bool), z["Y_indices"], z["Y_indptr"]),
                      shape=shape).toarray()
    cosine, log_prior = q @ v.T, np.log1p(z["counts"])
    rows = np.arange(shape[0])
    cells = []
    for w in WEIGHTS:
        score = np.where(cand, cosine + w * log_prior, -np.inf)
        top = score.argmax(1)  # ties to the lower id, as lse.label_retrieval ranks
        hit = Y[rows, top] & np.isfinite(score[rows, top])
        cells.append(f"{w}:{hit.mean():.3f}")
    print(path.split("/")[-1][:-4], f"stored {float(z['hashed_p1']):.3f}", " ".join(cells))
