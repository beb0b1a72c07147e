"""The binary pair matrix: symmetrise, drop isolated words, hold out test pairs, describe.

Held-out pairs (SPEC section 3 / the paper's 4600 hit-ratio pairs) are drawn uniformly from the
undirected pairs, with the constraint that both words keep at least one training pair (a word
with no pair left could not be embedded, so its held-out pair would test nothing). Each is
stored once, as ``(query, target)`` in random orientation, and removed from the training
matrix in both directions.
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp


def symmetric_binary(blocks: list[sp.csr_matrix]) -> sp.csr_matrix:
    """``B OR B.T`` for the stacked row blocks ``B``, float32 ones, no diagonal."""
    b = sp.vstack(blocks, format="csr") if len(blocks) > 1 else blocks[0].tocsr()
    p = (b + b.T).tocsr()
    p.setdiag(0)
    p.eliminate_zeros()
    p.data[:] = 1
    p.sort_indices()
    return p.astype(np.float32)


def hold_out(pairs: sp.csr_matrix, n: int, seed: int | None = 0
             ) -> tuple[sp.csr_matrix, np.ndarray]:
    """Remove ``n`` random undirected pairs (fewer if not enough qualify); return the training
    matrix and the held-out ``(n, 2)`` int64 array."""
    rng = np.random.default_rng(seed)
    upper = sp.triu(pairs, k=1).tocoo()
    degree = np.asarray(pairs.getnnz(axis=1)).astype(np.int64)
    order = rng.permutation(upper.nnz)
    chosen: list[int] = []
    rows, cols = upper.row, upper.col
    for e in order:  # stops after n hits; nearly every candidate qualifies
        if len(chosen) >= n:
            break
        i, j = rows[e], cols[e]
        if degree[i] > 1 and degree[j] > 1:
            degree[i] -= 1
            degree[j] -= 1
            chosen.append(e)
    chosen = np.asarray(chosen, np.int64)
    held = np.stack([upper.row[chosen], upper.col[chosen]], axis=1).astype(np.int64)
    flip = rng.random(len(held)) < 0.5
    held[flip] = held[flip][:, ::-1]
    if len(held):
        both = np.concatenate([held, held[:, ::-1]])
        mask = sp.csr_matrix((np.ones(len(both), np.float32), (both[:, 0], both[:, 1])),
                             shape=pairs.shape)
        pairs = (pairs - mask).tocsr()
        pairs.eliminate_zeros()
    return pairs, held


def degree_summary(pairs: sp.csr_matrix) -> dict:
    """Degree distribution of a binary pair matrix: quantiles and a log2 histogram."""
    deg = np.asarray(pairs.getnnz(axis=1))
    if len(deg) == 0:
        return {}
    q = np.percentile(deg, [0, 10, 25, 50, 75, 90, 99, 100])
    edges = [0, 1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, np.inf]
    hist, _ = np.histogram(deg, bins=edges)
    labels = [f"{int(a)}" if b - a == 1 else f"{int(a)}-{'' if b == np.inf else int(b) - 1}"
              for a, b in zip(edges[:-1], edges[1:])]
    return {"mean": float(deg.mean()), "min": int(q[0]), "p10": float(q[1]),
            "p25": float(q[2]), "median": float(q[3]), "p75": float(q[4]), "p90": float(q[5]),
            "p99": float(q[6]), "max": int(q[7]), "isolated": int((deg == 0).sum()),
            "histogram": {lab: int(h) for lab, h in zip(labels, hist) if h}}
