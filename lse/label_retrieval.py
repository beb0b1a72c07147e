"""Top-k retrieval of labels (or items) for queries: hashed candidates ranked densely.

Hashed retrieval (SPEC section 4) answers a query in two steps:

1. *candidates*: every label whose code collides with the query's code (a hash-table lookup in
   :class:`lse.index.HashIndex`); optionally, a query left with fewer than ``min_candidates``
   falls back to the Hamming ball of radius 1, then 2 (``max_radius``), so that an isolated code
   still gets an answer;
2. *ranking*: the candidates are ordered by the model's dense score, the (max-)cosine of the
   tanh embeddings (for all four similarities p = s(c)^K is increasing in c, so this is also the
   order of the predicted relevance); ties go to the lower id. The first k form the top-k list,
   padded with -1 when there are fewer than k candidates (a miss for :mod:`lse.metrics`).

:func:`dense_topk` scores *every* label the same way: the quality ceiling of hashing with the
same model, and the baseline of the throughput comparison.
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from .errors import LSEError
from .index import HashIndex, pack_codes

__all__ = ["unit_embeddings", "dense_topk", "rank_candidates", "HashedRetriever"]


def unit_embeddings(emb) -> np.ndarray:
    """float32 (n, L, d) embeddings scaled to unit norm per context ((n, d) is read as L = 1)."""
    emb = np.asarray(emb, dtype=np.float32)
    if emb.ndim == 2:
        emb = emb[:, None, :]
    if emb.ndim != 3:
        raise LSEError(f"embeddings must have shape (n, d) or (n, L, d), got {emb.shape}")
    return emb / np.maximum(np.linalg.norm(emb, axis=-1, keepdims=True), 1e-12)


def _check_pair(queries, items):
    q, v = unit_embeddings(queries), unit_embeddings(items)
    if q.shape[-1] != v.shape[-1]:
        raise LSEError(f"query embeddings are {q.shape[-1]}-dimensional, items {v.shape[-1]}")
    return q, v


def _scores(q: np.ndarray, v: np.ndarray) -> np.ndarray:
    """(nq, n_items) max-cosine of unit embeddings (nq, L, d) x (n, M, d)."""
    if q.shape[1] == 1 and v.shape[1] == 1:
        return q[:, 0] @ v[:, 0].T
    return np.einsum("qld,nmd->qnlm", q, v).max(axis=(2, 3))


def dense_topk(queries, items, k: int, chunk: int | None = None) -> np.ndarray:
    """(nq, k) ids of the k items of highest max-cosine per query, best first (ties: lower id).

    Scores every item: O(nq x n_items) work, the exhaustive reference for hashed retrieval.
    ``chunk`` queries are scored at a time (default: about 4M scores per chunk).
    """
    q, v = _check_pair(queries, items)
    k = int(k)
    if k < 1:
        raise LSEError(f"k must be positive, got {k}")
    n = v.shape[0]
    chunk = chunk or max(1, (1 << 22) // n)
    kk = min(k, n)
    out = np.full((len(q), k), -1, np.int64)
    for lo in range(0, len(q), chunk):
        s = _scores(q[lo:lo + chunk], v)
        if kk < n:  # partial selection, then an exact stable order of the k survivors
            part = np.argpartition(-s, kk - 1, axis=1)[:, :kk]
            # argpartition may cut a tie at the k-th score arbitrarily: add back tied ids
            kth = np.take_along_axis(s, part, 1).min(1, keepdims=True)
            cand = s >= kth
            rows, cols = np.nonzero(cand)
            order = np.lexsort((cols, -s[rows, cols], rows))
            rows, cols = rows[order], cols[order]
            starts = np.searchsorted(rows, np.arange(len(s)))
            rank = np.arange(len(rows)) - starts[rows]
            keep = rank < kk
            out[lo + rows[keep], rank[keep]] = cols[keep]
        else:
            out[lo:lo + len(s), :kk] = np.argsort(-s, axis=1, kind="stable")
    return out


def rank_candidates(candidates, queries, items, k: int, chunk: int = 1 << 20) -> np.ndarray:
    """(nq, k) top-k ids among each query's candidates (row q of the CSR ``candidates``), by
    max-cosine of the embeddings, ties to the lower id; -1 pads rows with fewer than k."""
    q, v = _check_pair(queries, items)
    k = int(k)
    if k < 1:
        raise LSEError(f"k must be positive, got {k}")
    cand = sp.csr_matrix(candidates)
    if cand.shape != (len(q), len(v)):
        raise LSEError(f"candidates have shape {cand.shape}; expected ({len(q)}, {len(v)})")
    rows = np.repeat(np.arange(len(q)), np.diff(cand.indptr))
    cols = cand.indices.astype(np.int64)
    scores = np.empty(len(cols), np.float32)
    for lo in range(0, len(cols), chunk):
        a, b = q[rows[lo:lo + chunk]], v[cols[lo:lo + chunk]]
        scores[lo:lo + chunk] = np.einsum("eld,emd->elm", a, b).max(axis=(1, 2))
    order = np.lexsort((cols, -scores, rows))
    rows, cols = rows[order], cols[order]
    rank = np.arange(len(rows)) - cand.indptr[rows]
    keep = rank < k
    out = np.full((len(q), k), -1, np.int64)
    out[rows[keep], rank[keep]] = cols[keep]
    return out


class HashedRetriever:
    """Exact-collision retrieval of items (labels) by code, ranked by the dense score.

    Args:
        item_embeddings: (n, d) or (n, L, d) dense tanh embeddings of the items; their sign
            codes fill the hash index.
    """

    def __init__(self, item_embeddings):
        self.items = unit_embeddings(item_embeddings)
        self.dim = self.items.shape[-1]
        self.index = HashIndex(pack_codes(self.items), self.dim)

    def candidates(self, query_embeddings, radius: int = 0, max_radius: int | None = None,
                   min_candidates: int = 1) -> tuple[sp.csr_matrix, np.ndarray]:
        """(candidate CSR (nq, n_items), Hamming radius each query was answered at).

        Radius ``radius`` first; queries with fewer than ``min_candidates`` candidates are
        retried at radius + 1, ... up to ``max_radius`` (default: no fallback).
        """
        q = unit_embeddings(query_embeddings)
        if q.shape[-1] != self.dim:
            raise LSEError(f"query embeddings are {q.shape[-1]}-dimensional, the index {self.dim}")
        codes = pack_codes(q)
        max_radius = radius if max_radius is None else int(max_radius)
        if max_radius < radius:
            raise LSEError(f"max_radius ({max_radius}) must be >= radius ({radius})")
        found = self.index.query_codes(codes, radius=radius).tocsr()
        used = np.full(len(q), radius, np.int64)
        for r in range(radius + 1, max_radius + 1):
            short = np.flatnonzero(np.diff(found.indptr) < min_candidates)
            if not len(short):
                break
            retry = self.index.query_codes(codes[short], radius=r).tocsr()
            found = _replace_rows(found, short, retry)
            used[short] = r
        return found, used

    def topk(self, query_embeddings, k: int, radius: int = 0, max_radius: int | None = None,
             min_candidates: int = 1) -> np.ndarray:
        """(nq, k) item ids: candidates (see :meth:`candidates`) ranked by max-cosine."""
        found, _ = self.candidates(query_embeddings, radius, max_radius, min_candidates)
        return rank_candidates(found, query_embeddings, self.items, k)


def _replace_rows(m: sp.csr_matrix, rows: np.ndarray, new: sp.csr_matrix) -> sp.csr_matrix:
    """Copy of ``m`` with rows ``rows`` replaced by the rows of ``new`` (two sparse products)."""
    keep = np.ones(m.shape[0], np.float32)
    keep[rows] = 0.0
    scatter = sp.csr_matrix((np.ones(len(rows), np.float32), (rows, np.arange(len(rows)))),
                            shape=(m.shape[0], len(rows)))
    out = (sp.diags(keep) @ m.astype(np.float32) + scatter @ new.astype(np.float32)).tocsr()
    out.sort_indices()
    return sp.csr_matrix((np.ones(out.nnz, bool), out.indices, out.indptr), shape=m.shape)
