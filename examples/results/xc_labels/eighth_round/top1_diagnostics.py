"""What LSE and DCH rank first, from ``dump_embeddings.py``'s files of one data set and seed.

    python top1_diagnostics.py DIR NAME SEED      # e.g. DIR delicious 0 (validation split)

Prints, for each model's dense top-1 label (every label scored by cosine): P@1, how often the
two models agree, the share of documents whose top-1 is one of the 10 / 50 most frequent
training labels and how often such a prediction is right, P@1 by the document's number of
labels, and the mean cosine of positive pairs, negative pairs, the top-1 and label pairs (how
narrow a cone the embeddings fill).
"""
import sys

import numpy as np
import scipy.sparse as sp


def load(path):
    z = np.load(path)
    q, v = z["q"][:, 0], z["v"][:, 0]
    q = q / np.linalg.norm(q, axis=1, keepdims=True)
    v = v / np.linalg.norm(v, axis=1, keepdims=True)
    Y = sp.csr_matrix((np.ones(len(z["Y_indices"]), bool), z["Y_indices"], z["Y_indptr"]),
                      shape=(len(q), len(v))).toarray()
    return q, v, Y, z["counts"]


directory, name, seed = sys.argv[1:4]
models = {m: load(f"{directory}/{name}_{m}_s{seed}.npz") for m in ("lse", "dch")}
Y, counts = models["lse"][2], models["lse"][3]
rows = np.arange(len(Y))
rank = np.argsort(np.argsort(-counts, kind="stable"))  # 0: the most frequent label
top = {m: (q @ v.T).argmax(1) for m, (q, v, _, _) in models.items()}
hit = {m: Y[rows, t] for m, t in top.items()}
print(f"P@1 LSE {hit['lse'].mean():.3f} DCH {hit['dch'].mean():.3f}; "
      f"same top-1 {(top['lse'] == top['dch']).mean():.3f}")
for m in ("lse", "dch"):
    for n in (10, 50):
        frequent = rank[top[m]] < n
        print(f"{m}: top-1 among the {n} most frequent labels for {frequent.mean():.3f} of the "
              f"documents, right {hit[m][frequent].mean():.3f} of those times")
labels_per_doc = Y.sum(1)
for lo, hi in ((1, 3), (3, 8), (8, 16), (16, 1000)):
    docs = (labels_per_doc >= lo) & (labels_per_doc < hi)
    if docs.any():
        print(f"documents with {lo}-{hi - 1} labels ({docs.sum()}): P@1 LSE "
              f"{hit['lse'][docs].mean():.3f} DCH {hit['dch'][docs].mean():.3f}")
for m, (q, v, _, _) in models.items():
    s = q @ v.T
    print(f"{m}: mean cosine positives {s[Y].mean():.3f}, negatives {s[~Y].mean():.3f}, top-1 "
          f"{s.max(1).mean():.3f}, label pairs {(v @ v.T)[np.triu_indices(len(v), 1)].mean():.3f}")
