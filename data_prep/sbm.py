"""Stochastic-block-model benchmark graph (SPEC section 5, the paper's synthetic experiment).

``factions`` groups of ``size`` individuals. An edge between two individuals of factions a and b
appears with probability ``p_in`` when a == b, ``p_near`` when 0 < |a - b| < ``near + 1``
(the paper: 0.1 for |a - b| < 3) and ``p_background`` otherwise (illegible in the paper; 0 by
default). The task is to hash every faction together and apart from all other factions.

Generation is block-wise and vectorised: only the ``near + 1`` diagonals of the faction matrix are
drawn densely; background edges are drawn as a binomial number of uniform pairs, so a large
graph never needs an n x n array.
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from lse.errors import check_int, check_number


def generate_sbm(factions: int = 500, size: int = 10, *, p_in: float = 0.8,
                 p_near: float = 0.1, near: int = 2, p_background: float = 0.0,
                 seed: int | None = 0) -> tuple[sp.csr_matrix, np.ndarray]:
    """Return ``(D, labels)``: the symmetric 0/1 adjacency (CSR, float32, no self-loops) and the
    faction id of every node (``labels[i] = i // size``)."""
    check_int(factions, "factions", 1)
    check_int(size, "size", 1)
    for name, p in (("p_in", p_in), ("p_near", p_near), ("p_background", p_background)):
        check_number(p, name, at_most=1)
    check_int(near, "near", 0)
    rng = np.random.default_rng(seed)
    n = factions * size
    rows, cols = [], []
    local = np.arange(size)
    for offset in range(0, min(near, factions - 1) + 1):
        p = p_in if offset == 0 else p_near
        if p == 0.0:
            continue
        blocks = factions - offset
        hit = rng.random((blocks, size, size)) < p
        if offset == 0:  # within a faction: keep the strict upper triangle, mirror later
            hit &= local[:, None] < local[None, :]
        b, r, c = np.nonzero(hit)
        rows.append(b * size + r)
        cols.append((b + offset) * size + c)
    if p_background > 0.0 and factions > near + 1:
        # Pairs of factions at distance > near: draw a binomial number of uniform node pairs and
        # keep those that really are background (rejection), which is exact in expectation.
        far_pairs = (factions - near - 1) * (factions - near) // 2 * size * size
        m = rng.binomial(far_pairs, p_background)
        if m:
            draw = int(m * (n * n / 2) / far_pairs * 1.2) + 100
            a = rng.integers(0, n, draw)
            c = rng.integers(0, n, draw)
            keep = np.abs(c // size - a // size) > near
            a, c = a[keep][:m], c[keep][:m]
            rows.append(np.minimum(a, c))
            cols.append(np.maximum(a, c))
    r = np.concatenate(rows) if rows else np.zeros(0, np.int64)
    c = np.concatenate(cols) if cols else np.zeros(0, np.int64)
    upper = sp.coo_matrix((np.ones(len(r), np.float32), (r, c)), shape=(n, n)).tocsr()
    upper.data[:] = 1.0  # duplicate background draws collapse to one edge
    adjacency = (upper + upper.T).tocsr()
    adjacency.data[:] = 1.0
    adjacency.sort_indices()
    labels = np.repeat(np.arange(factions), size)
    return adjacency, labels


def faction_truth(labels: np.ndarray) -> sp.csr_matrix:
    """The truth sets of the SBM task as a CSR matrix: row i = every node of i's faction."""
    labels = np.asarray(labels)
    onehot = sp.csr_matrix((np.ones(len(labels), np.float32), (np.arange(len(labels)), labels)))
    truth = (onehot @ onehot.T).tocsr()
    truth.data[:] = 1.0
    return truth
