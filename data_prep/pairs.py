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
    """``B OR B.T`` for the stacked row blocks ``B``, float32 ones, without the diagonal."""
    b = sp.vstack(blocks, format="csr") if len(blocks) > 1 else blocks[0].tocsr()
    p = (b + b.T.tocsr()).tocsr()  # canonical: sorted indices, no duplicates
    p.data = np.ones(p.nnz, np.float32)
    if p.diagonal().any():
        p.setdiag(0)
        p.eliminate_zeros()
    return p


def has_pairs(blocks: list[sp.csr_matrix], n: int) -> np.ndarray:
    """Which of ``n`` words have a pair in ``B OR B.T`` (off the diagonal), for the stacked
    row blocks ``B``: the words kept, known without building the symmetric matrix."""
    out = np.zeros(n, bool)
    lo = 0
    for b in blocks:
        rows = np.repeat(np.arange(lo, lo + b.shape[0]), np.diff(b.indptr))
        off = b.indices != rows
        out[rows[off]] = True
        out[b.indices[off]] = True
        lo += b.shape[0]
    return out


def _candidates(pairs: sp.csr_matrix, rng: np.random.Generator, n: int):
    """Undirected pairs ``(i < j)`` in uniformly random order, without repetition: first
    drawn as random stored entries (cheap on a big matrix; both directions of a pair are
    stored, so each pair is equally likely), then, if that does not yield enough, all pairs
    in a random permutation."""
    seen: set[tuple[int, int]] = set()
    for _ in range(4):
        pos = rng.integers(0, pairs.nnz, size=4 * n + 64)
        rows = np.searchsorted(pairs.indptr, pos, side="right") - 1
        cols = pairs.indices[pos]
        for i, j in zip(np.minimum(rows, cols).tolist(), np.maximum(rows, cols).tolist()):
            if (i, j) not in seen:
                seen.add((i, j))
                yield i, j
    upper = sp.triu(pairs, k=1).tocoo()
    for e in rng.permutation(upper.nnz).tolist():
        i, j = int(upper.row[e]), int(upper.col[e])
        if (i, j) not in seen:
            yield i, j


def hold_out(pairs: sp.csr_matrix, n: int, seed: int | None = 0
             ) -> tuple[sp.csr_matrix, np.ndarray]:
    """Remove ``n`` random undirected pairs (fewer if not enough qualify); return the training
    matrix and the held-out ``(n, 2)`` int64 array. ``pairs`` must be canonical CSR."""
    rng = np.random.default_rng(seed)
    degree = np.diff(pairs.indptr).astype(np.int64)
    held = []
    if n > 0 and pairs.nnz:
        for i, j in _candidates(pairs, rng, n):
            if degree[i] > 1 and degree[j] > 1:
                degree[i] -= 1
                degree[j] -= 1
                held.append((i, j))
                if len(held) == n:
                    break
    held = np.asarray(held, np.int64).reshape(-1, 2)
    flip = rng.random(len(held)) < 0.5
    held[flip] = held[flip][:, ::-1]
    if len(held):
        # entries are in (row, column) order in a canonical CSR matrix: find them by bisection
        n_cols = pairs.shape[1]
        keys = np.repeat(np.arange(pairs.shape[0], dtype=np.int64) * n_cols,
                         np.diff(pairs.indptr)) + pairs.indices
        both = np.concatenate([held, held[:, ::-1]])
        pairs = pairs.copy()
        pairs.data[np.searchsorted(keys, both[:, 0] * n_cols + both[:, 1])] = 0
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
