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
   An optional per-item *bias* is added to the score, e.g. :func:`popularity_prior`: the
   candidate sets stay the same, only their order changes.

:func:`dense_topk` scores *every* label the same way: the quality ceiling of hashing with the
same model, and the baseline of the throughput comparison.
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from .errors import LSEError, check_number
from .index import HashIndex, pack_codes

__all__ = ["unit_embeddings", "dense_topk", "rank_candidates", "popularity_prior",
           "HashedRetriever"]


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


def _scores(q: np.ndarray, v: np.ndarray, bias: np.ndarray | None = None) -> np.ndarray:
    """(nq, n_items) max-cosine of unit embeddings (nq, L, d) x (n, M, d), plus the items'
    ``bias`` if given."""
    if q.shape[1] == 1 and v.shape[1] == 1:
        s = q[:, 0] @ v[:, 0].T
    else:
        s = np.einsum("qld,nmd->qnlm", q, v).max(axis=(2, 3))
    return s if bias is None else s + bias


def popularity_prior(counts, weight: float) -> np.ndarray:
    """float32 per-item bias ``weight * log(1 + count)`` from training frequencies.

    Why: P@k rewards frequent labels, and a pair loss trained on sampled negatives scores a
    label's fit to the query, not how often it is right at all. Added to the cosine, the log
    count ranks a frequent label above a rare one of nearly the same cosine (a log-prior, as in
    Bayes' rule; its weight is in cosine units, so it is chosen on a validation split). On
    Delicious it lifts hashed P@1 by 0.015-0.023 at ``weight`` 0.002 (examples/README.md,
    "An eighth round"); it costs PSP@k, which rewards rare labels.
    """
    counts = np.asarray(counts, dtype=np.float64)
    if counts.ndim != 1 or (counts.size and counts.min() < 0):
        raise LSEError("counts must be a 1-D array of non-negative label frequencies")
    weight = check_number(weight, "the prior weight")
    return (weight * np.log1p(counts)).astype(np.float32)


def _check_bias(bias, n_items: int) -> np.ndarray | None:
    if bias is None:
        return None
    bias = np.asarray(bias, dtype=np.float32)
    if bias.shape != (n_items,):
        raise LSEError(f"item_bias has shape {bias.shape}; expected ({n_items},), one per item")
    if not np.all(np.isfinite(bias)):
        raise LSEError("item_bias must be finite")
    return bias


SCORES_PER_CHUNK = 1 << 22
"""Scores held at once when ranking densely (16 MB of float32): bounds memory, not speed."""


def dense_topk(queries, items, k: int, chunk: int | None = None, exclude=None,
               item_bias=None) -> np.ndarray:
    """(nq, k) ids of the k items of highest max-cosine per query, best first (ties: lower id).

    Scores every item: O(nq x n_items) work, the exhaustive reference for hashed retrieval.
    ``chunk`` queries are scored at a time (default: about ``SCORES_PER_CHUNK`` scores).
    ``exclude``: an optional (nq, n_items) sparse matrix whose nonzeros are left out of each
    query's ranking (e.g. its known labels, to find the highest-scoring *negatives*); -1 pads a
    row with fewer than k items left. ``item_bias``: an optional (n_items,) score added to
    every query's scores of the items (e.g. :func:`popularity_prior`).
    """
    q, v = _check_pair(queries, items)
    k = _check_k(k)
    bias = _check_bias(item_bias, len(v))
    if exclude is not None:
        exclude = _check_exclude(exclude, (len(q), len(v)))
    chunk = chunk or max(1, SCORES_PER_CHUNK // v.shape[0])
    out = np.full((len(q), k), -1, np.int64)
    for lo in range(0, len(q), chunk):
        s = _scores(q[lo:lo + chunk], v, bias)
        if exclude is None:
            out[lo:lo + chunk] = _top_columns(s, k)
            continue
        block = exclude[lo:lo + chunk].tocoo()
        s[block.row, block.col] = -np.inf
        top = _top_columns(s, k)
        top[np.isneginf(np.take_along_axis(s, np.maximum(top, 0), 1))] = -1  # excluded: pad
        out[lo:lo + chunk] = top
    return out


def _check_exclude(exclude, shape) -> sp.csr_matrix:
    exclude = sp.csr_matrix(exclude)
    if exclude.shape != shape:
        raise LSEError(f"exclude has shape {exclude.shape}; expected {shape}")
    return exclude


def _check_k(k) -> int:
    k = int(k)
    if k < 1:
        raise LSEError(f"k must be positive, got {k}")
    return k


def _top_columns(s: np.ndarray, k: int) -> np.ndarray:
    """(rows, k) columns of the k highest scores per row of ``s``, best first, ties to the lower
    column; -1 pads when ``s`` has fewer than k columns."""
    n = s.shape[1]
    kk = min(k, n)
    out = np.full((len(s), k), -1, np.int64)
    if kk == 0:
        return out
    if kk < n:  # partial selection, then an exact stable order of the k survivors
        part = np.argpartition(-s, kk - 1, axis=1)[:, :kk]
        # argpartition may cut a tie at the k-th score arbitrarily: add back tied columns
        kth = np.take_along_axis(s, part, 1).min(1, keepdims=True)
        rows, cols = np.nonzero(s >= kth)
        order = np.lexsort((cols, -s[rows, cols], rows))
        rows, cols = rows[order], cols[order]
        rank = np.arange(len(rows)) - np.searchsorted(rows, np.arange(len(s)))[rows]
        keep = rank < kk
        out[rows[keep], rank[keep]] = cols[keep]
    else:
        out[:, :kk] = np.argsort(-s, axis=1, kind="stable")
    return out


def rank_candidates(candidates, queries, items, k: int, chunk: int = 1 << 20,
                    item_bias=None) -> np.ndarray:
    """(nq, k) top-k ids among each query's candidates (row q of the CSR ``candidates``), by
    max-cosine of the embeddings (plus ``item_bias``, as in :func:`dense_topk`), ties to the
    lower id; -1 pads rows with fewer than k.

    Why two paths: an exact-collision lookup gives every query of a bucket the *same* candidate
    set, and buckets are few (a 1,000-label index has a few hundred); ranking a bucket's queries
    together is one matrix product and one top-k selection, which makes hashed retrieval cheaper
    than scoring every label (:func:`dense_topk`) instead of several times dearer. Queries whose
    candidate rows are identical are grouped (:func:`_identical_rows`); when groups are too many
    for a loop over them to pay off, every (query, candidate) pair is scored and sorted at once.
    """
    q, v = _check_pair(queries, items)
    k = _check_k(k)
    bias = _check_bias(item_bias, len(v))
    cand = sp.csr_matrix(candidates)
    if cand.shape != (len(q), len(v)):
        raise LSEError(f"candidates have shape {cand.shape}; expected ({len(q)}, {len(v)})")
    if not cand.has_sorted_indices:
        cand = cand.sorted_indices()
    groups = _identical_rows(cand)
    if groups is not None and len(groups[1]) * PAIRS_PER_GROUP <= cand.nnz:
        return _rank_by_group(cand, q, v, k, *groups, bias=bias)
    return _rank_pairs(cand, q, v, k, chunk, bias)


PAIRS_PER_GROUP = 128
"""Rank by group when there are at least this many (query, candidate) pairs per group: a group
costs 35-90 microseconds of numpy calls, a pair of the one-shot path 0.25-0.45 of gathering and
sorting, so they break even between about 80 and 200 pairs per group (``python
benchmarks/bench_label_retrieval.py --crossover``)."""


def _identical_rows(cand: sp.csr_matrix) -> tuple[np.ndarray, np.ndarray] | None:
    """Queries grouped by identical candidate rows: (rows ordered group by group, start of each
    group in that order), empty rows left out; None if there is no non-empty row, or if two
    different rows share a fingerprint.

    Each row is fingerprinted by its length and a sum of random 64-bit words of its columns
    (sort instead of ``np.unique``, which is slow on many keys); every row is then compared
    with its group's first row, so a fingerprint collision can never merge different
    candidate sets (the caller then ranks pair by pair)."""
    lengths = np.diff(cand.indptr)
    rows = np.flatnonzero(lengths)
    if not len(rows):
        return None
    words = _column_words(cand.shape[1])
    columns = cand.indices[:cand.indptr[-1]]
    fingerprint = np.add.reduceat(words[columns], cand.indptr[rows])  # wraps mod 2^64
    order = np.lexsort((fingerprint, lengths[rows]))
    rows, fingerprint = rows[order], fingerprint[order]
    new = np.r_[True, (fingerprint[1:] != fingerprint[:-1])
                | (lengths[rows[1:]] != lengths[rows[:-1]])]
    leader = rows[np.flatnonzero(new)][np.cumsum(new) - 1]
    # verify column by column against the group's first row
    n = lengths[rows]
    first = np.cumsum(n) - n
    offset = np.arange(n.sum()) - np.repeat(first, n)
    mine = cand.indices[np.repeat(cand.indptr[rows], n) + offset]
    theirs = cand.indices[np.repeat(cand.indptr[leader], n) + offset]
    if np.logical_or.reduceat(mine != theirs, first).any():
        return None  # a fingerprint collision (odds about 2^-64 per pair of rows)
    return rows, np.flatnonzero(new)


def _column_words(n: int) -> np.ndarray:
    """n fixed pseudo-random 64-bit words, one per column, for row fingerprints."""
    return np.random.default_rng(0).integers(0, np.iinfo(np.int64).max, n,
                                             dtype=np.int64).astype(np.uint64)


def _rank_by_group(cand, q, v, k, rows, starts, bias=None) -> np.ndarray:
    """Top-k per group of queries sharing one candidate set: one product and selection each."""
    out = np.full((len(q), k), -1, np.int64)
    for lo, hi in zip(starts, np.r_[starts[1:], len(rows)]):
        first = rows[lo]
        items = cand.indices[cand.indptr[first]:cand.indptr[first + 1]]
        vi, bi = v[items], None if bias is None else bias[items]
        step = max(1, SCORES_PER_CHUNK // len(items))
        for a in range(lo, hi, step):
            members = rows[a:min(a + step, hi)]
            top = _top_columns(_scores(q[members], vi, bi), k)
            out[members] = np.where(top >= 0, items[np.maximum(top, 0)], -1)
    return out


def _rank_pairs(cand, q, v, k, chunk, bias=None) -> np.ndarray:
    """Top-k per query by scoring every (query, candidate) pair and sorting them at once."""
    rows = np.repeat(np.arange(len(q)), np.diff(cand.indptr))
    cols = cand.indices.astype(np.int64)
    scores = np.empty(len(cols), np.float32)
    for lo in range(0, len(cols), chunk):
        a, b = q[rows[lo:lo + chunk]], v[cols[lo:lo + chunk]]
        scores[lo:lo + chunk] = np.einsum("eld,emd->elm", a, b).max(axis=(1, 2))
    if bias is not None:
        scores += bias[cols]
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
        item_bias: optional (n,) score added to the cosine when ranking (e.g.
            :func:`popularity_prior`); the candidates do not depend on it.
    """

    def __init__(self, item_embeddings, item_bias=None):
        self.items = unit_embeddings(item_embeddings)
        self.item_bias = _check_bias(item_bias, len(self.items))
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
             min_candidates: int = 1, exclude=None) -> np.ndarray:
        """(nq, k) item ids: candidates (see :meth:`candidates`) ranked by max-cosine plus the
        item bias, -1 padding rows with fewer than k.

        ``exclude``: an optional (nq, n_items) sparse matrix whose nonzeros are dropped from
        each query's candidates (as in :func:`dense_topk`), e.g. the labels an instance has,
        to mine its hardest negatives among the labels its code reaches instead of among all.
        """
        if exclude is not None:  # checked before the lookup, which may be the costly part
            exclude = _check_exclude(exclude, (len(query_embeddings), len(self.items)))
        found, _ = self.candidates(query_embeddings, radius, max_radius, min_candidates)
        if exclude is not None:
            found = found.astype(bool) > exclude.astype(bool)
        return self.rank(found, query_embeddings, k)

    def rank(self, candidates, query_embeddings, k: int) -> np.ndarray:
        """(nq, k) ids of each query's candidates (a CSR row per query, e.g. from
        :meth:`candidates`) ranked as :meth:`topk` ranks them: max-cosine plus the item bias."""
        return rank_candidates(candidates, query_embeddings, self.items, k,
                               item_bias=self.item_bias)


def _replace_rows(m: sp.csr_matrix, rows: np.ndarray, new: sp.csr_matrix) -> sp.csr_matrix:
    """Copy of ``m`` with rows ``rows`` replaced by the rows of ``new`` (two sparse products)."""
    keep = np.ones(m.shape[0], np.float32)
    keep[rows] = 0.0
    scatter = sp.csr_matrix((np.ones(len(rows), np.float32), (rows, np.arange(len(rows)))),
                            shape=(m.shape[0], len(rows)))
    out = (sp.diags(keep) @ m.astype(np.float32) + scatter @ new.astype(np.float32)).tocsr()
    out.sort_indices()
    return sp.csr_matrix((np.ones(out.nnz, bool), out.indices, out.indptr), shape=m.shape)
