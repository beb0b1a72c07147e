"""Evaluation metrics (SPEC section 6), vectorised over queries.

Contract with the index: the items retrieved for a batch of queries are a
``scipy.sparse.csr_matrix`` of shape (n_queries, n_items), row q holding the items retrieved
for query q; truth sets use the same layout. Stored entries mean membership (explicit zeros
and duplicates are ignored). Binary codes are packed bits, ``uint8`` of shape (n, n_bytes)
(``np.packbits`` layout), or (n, L, n_bytes) for multi-context models; unpacked boolean codes
are accepted too.

Conventions for the awkward cases (every one is tested):

* set metrics: 0/0 is 0. A query that retrieves nothing has precision 0, a query whose truth
  set is empty has recall 0, and every query counts in the means unless ``skip_empty_truth``.
* F1: ``f1`` is the mean over queries of the per-query harmonic mean of P and R (0 when
  P + R = 0); ``f1_of_means`` is the harmonic mean of mean P and mean R. The paper's tables
  (SPEC section 7) match ``f1_of_means`` (e.g. 0.724 / 0.679 -> 0.701), so compare with them
  using that key.
* Hamming ranking (MAP@R): database items are sorted by Hamming distance to the query with a
  *stable* sort, so ties keep database order (lower index first). AP depends on tie order;
  this choice is deterministic and reproducible, unlike the unstable ``argsort`` of the
  reference deep-hashing code.
* label metrics follow the Extreme Classification repository (pyxclib): rows with an empty
  truth set score 0 and count; -1 padding in a top-k matrix is a miss; PSP@k is *normalised*:
  mean propensity-weighted hits of the prediction divided by the same mean for the best
  possible top k (true labels sorted by inverse propensity), i.e. a ratio of means.
"""
from __future__ import annotations

from typing import Callable

import numpy as np
import scipy.sparse as sp

from .errors import LSEError

__all__ = [
    "as_binary_csr", "per_query_precision_recall_f1", "precision_recall_f1", "cluster_sizes",
    "count_clusters", "max_cosine_similarity", "target_ranks", "hit_ratio", "hamming_distance",
    "average_precision_at_r", "map_at_r", "precision_recall_within_radius",
    "inverse_propensity", "label_slices", "precision_at_k", "recall_at_k", "ndcg_at_k",
    "psp_at_k", "label_metrics",
]


# ---------------------------------------------------------------------------- sparse helpers
def as_binary_csr(x, shape: tuple | None = None, name: str = "matrix") -> sp.csr_matrix:
    """Canonical boolean CSR copy of a sparse or dense membership matrix.

    Duplicates are merged, explicit zeros dropped, indices sorted. ``shape`` entries that are
    not None must match (an :class:`LSEError` names ``name`` otherwise).
    """
    if sp.issparse(x):
        m = sp.csr_matrix(x, copy=True)
    else:
        arr = np.asarray(x)
        if arr.ndim != 2:
            raise LSEError(f"{name} must be a 2-D matrix, got shape {arr.shape}")
        m = sp.csr_matrix(arr)
    m.sum_duplicates()
    m.eliminate_zeros()
    m = sp.csr_matrix((np.ones(m.nnz, bool), m.indices, m.indptr), shape=m.shape)
    if shape is not None:
        for axis, (want, got) in enumerate(zip(shape, m.shape)):
            if want is not None and want != got:
                raise LSEError(f"{name} has shape {m.shape}; expected {want} along axis {axis}")
    return m


def _row_of_entries(m: sp.csr_matrix) -> np.ndarray:
    return np.repeat(np.arange(m.shape[0]), np.diff(m.indptr))


def _keep_entries(m: sp.csr_matrix, keep: np.ndarray) -> sp.csr_matrix:
    """Copy of ``m`` without the entries where ``keep`` is False."""
    counts = np.bincount(_row_of_entries(m)[keep], minlength=m.shape[0])
    indptr = np.concatenate([[0], np.cumsum(counts)])
    return sp.csr_matrix((m.data[keep], m.indices[keep], indptr), shape=m.shape)


def _drop_self(m: sp.csr_matrix, query_ids: np.ndarray) -> sp.csr_matrix:
    return _keep_entries(m, m.indices != query_ids[_row_of_entries(m)])


def _ratio(num, den) -> np.ndarray:
    """num / den with 0/0 (and x/0) = 0."""
    num, den = np.asarray(num, float), np.asarray(den, float)
    return np.divide(num, den, out=np.zeros(np.broadcast(num, den).shape), where=den > 0)


def _harmonic(p, r) -> np.ndarray:
    return _ratio(2.0 * np.asarray(p) * r, np.asarray(p) + r)


# ------------------------------------------------------------------------- set retrieval
def _set_counts(retrieved, truth, query_ids, exclude_self):
    """Per query: (#retrieved and true, #retrieved, #true), self removed if asked."""
    truth = as_binary_csr(truth, name="truth")
    retrieved = as_binary_csr(retrieved, shape=truth.shape, name="retrieved")
    if query_ids is not None and exclude_self:
        query_ids = np.asarray(query_ids).ravel()
        if len(query_ids) != truth.shape[0]:
            raise LSEError(f"query_ids has {len(query_ids)} entries for {truth.shape[0]} queries")
        retrieved, truth = _drop_self(retrieved, query_ids), _drop_self(truth, query_ids)
    hits = np.diff(retrieved.multiply(truth).tocsr().indptr)
    return hits, np.diff(retrieved.indptr), np.diff(truth.indptr)


def per_query_precision_recall_f1(retrieved, truth, query_ids=None, exclude_self: bool = True):
    """Per-query (precision, recall, F1) arrays; see :func:`precision_recall_f1`."""
    hits, n_retrieved, n_true = _set_counts(retrieved, truth, query_ids, exclude_self)
    precision, recall = _ratio(hits, n_retrieved), _ratio(hits, n_true)
    return precision, recall, _harmonic(precision, recall)


def precision_recall_f1(retrieved, truth, query_ids=None, exclude_self: bool = True,
                        per_query: bool = False, skip_empty_truth: bool = False) -> dict:
    """Mean precision, recall and F1 of retrieved sets against truth sets.

    ``query_ids[q]`` is the item id of query q; with ``exclude_self`` that item is removed
    from both its retrieved and its truth set. Returns ``precision``, ``recall``, ``f1``
    (mean of per-query F1), ``f1_of_means`` (harmonic mean of the two means; what the paper
    reports) and ``n_queries``; with ``per_query`` also ``per_query_precision`` / ``_recall``
    / ``_f1`` arrays. ``skip_empty_truth`` leaves queries with an empty truth set out of the
    means (by default they count, with recall 0).
    """
    hits, n_retrieved, n_true = _set_counts(retrieved, truth, query_ids, exclude_self)
    precision, recall = _ratio(hits, n_retrieved), _ratio(hits, n_true)
    f1 = _harmonic(precision, recall)
    use = n_true > 0 if skip_empty_truth else slice(None)
    means = [float(a[use].mean()) if a[use].size else 0.0 for a in (precision, recall, f1)]
    out = {"precision": means[0], "recall": means[1], "f1": means[2],
           "f1_of_means": float(_harmonic(means[0], means[1])), "n_queries": int(precision[use].size)}
    if per_query:
        out.update(per_query_precision=precision, per_query_recall=recall, per_query_f1=f1)
    return out


# ---------------------------------------------------------------------------------- codes
def _as_packed(codes, name: str = "codes") -> np.ndarray:
    """uint8 packed codes; boolean (unpacked bit) arrays are packed along the last axis."""
    codes = np.asarray(codes)
    if codes.dtype == bool:
        return np.packbits(codes, axis=-1)
    if codes.dtype != np.uint8:
        raise LSEError(f"{name} must be packed uint8 bits or booleans, got dtype {codes.dtype}")
    return codes


def cluster_sizes(codes) -> np.ndarray:
    """Number of distinct items per distinct code (one hash table shared by all L contexts).

    ``codes``: (n, n_bytes) or (n, L, n_bytes). An item whose L codes coincide counts once.
    """
    codes = _as_packed(codes)
    if codes.ndim == 2:
        codes = codes[:, None, :]
    if codes.ndim != 3:
        raise LSEError(f"codes must have shape (n, n_bytes) or (n, L, n_bytes), got {codes.shape}")
    n, contexts, width = codes.shape
    flat = np.ascontiguousarray(codes.reshape(n * contexts, width))
    _, code_id = np.unique(flat.view(np.dtype((np.void, width))).ravel(), return_inverse=True)
    pairs = np.unique(code_id.ravel().astype(np.int64) * n + np.repeat(np.arange(n), contexts))
    return np.bincount(pairs // max(n, 1))


def count_clusters(codes_or_sizes) -> int:
    """Number of non-singleton clusters (codes shared by at least two items).

    Accepts packed codes (see :func:`cluster_sizes`) or a 1-D array of bucket sizes.
    """
    arr = np.asarray(codes_or_sizes)
    sizes = arr if arr.ndim == 1 else cluster_sizes(arr)
    return int(np.count_nonzero(sizes >= 2))


# ----------------------------------------------------------------------------- hit ratio
def max_cosine_similarity(embeddings, chunk: int = 1 << 16) -> Callable:
    """``f(a, b)[k] = max_{l,m} cos(E[a[k], l], E[b[k], m])`` for embeddings (n, d) or (n, L, d)."""
    emb = np.asarray(embeddings, dtype=np.float32)
    if emb.ndim == 2:
        emb = emb[:, None, :]
    if emb.ndim != 3:
        raise LSEError(f"embeddings must have shape (n, d) or (n, L, d), got {emb.shape}")
    emb = emb / np.maximum(np.linalg.norm(emb, axis=-1, keepdims=True), 1e-12)

    def similarity(a, b):
        a, b = np.asarray(a), np.asarray(b)
        out = np.empty(len(a), np.float32)
        for lo in range(0, len(a), chunk):
            part = np.einsum("eld,emd->elm", emb[a[lo:lo + chunk]], emb[b[lo:lo + chunk]])
            out[lo:lo + chunk] = part.max(axis=(1, 2))
        return out

    return similarity


def target_ranks(retrieved, query_ids, targets, similarity, exclude_self: bool = True) -> np.ndarray:
    """1-based rank of ``targets[q]`` among the candidates retrieved for ``query_ids[q]``.

    Candidates (row q of ``retrieved``, without the query itself) are ranked by
    ``similarity(query_ids, candidate_ids)`` descending, ties by item id ascending. The rank
    is ``inf`` when the target was not retrieved. ``similarity``: a callable as returned by
    :func:`max_cosine_similarity`, or an embeddings array (n, d) / (n, L, d).
    """
    query_ids = np.asarray(query_ids, np.int64).ravel()
    targets = np.asarray(targets, np.int64).ravel()
    if len(targets) != len(query_ids):
        raise LSEError(f"{len(query_ids)} queries but {len(targets)} targets")
    retrieved = as_binary_csr(retrieved, shape=(len(query_ids), None), name="retrieved")
    if exclude_self:
        retrieved = _drop_self(retrieved, query_ids)
    if not callable(similarity):
        similarity = max_cosine_similarity(similarity)
    rows, cols = _row_of_entries(retrieved), retrieved.indices.astype(np.int64)
    sims = np.asarray(similarity(query_ids[rows], cols), dtype=np.float64)
    is_target = cols == targets[rows]
    found = np.zeros(len(query_ids), bool)
    found[rows[is_target]] = True
    target_sim = np.full(len(query_ids), np.inf)
    target_sim[rows[is_target]] = sims[is_target]
    ahead = (sims > target_sim[rows]) | ((sims == target_sim[rows]) & (cols < targets[rows]))
    ranks = 1.0 + np.bincount(rows[ahead], minlength=len(query_ids))
    return np.where(found, ranks, np.inf)


def hit_ratio(retrieved, query_ids, targets, similarity, n=(50, 500),
              exclude_self: bool = True) -> dict:
    """HR@n for held-out pairs (query_ids[q], targets[q]): target among the top n candidates.

    Returns ``{"HR@50": ..., "HR@500": ...}`` (one key per n). See :func:`target_ranks`.
    """
    ranks = target_ranks(retrieved, query_ids, targets, similarity, exclude_self)
    ns = [n] if np.isscalar(n) else list(n)
    return {f"HR@{k}": float(np.mean(ranks <= k)) if len(ranks) else 0.0 for k in ns}


# ------------------------------------------------------------------------ Hamming ranking
def _words(codes: np.ndarray) -> np.ndarray:
    """Packed codes as uint64 words (zero padded), for XOR + popcount."""
    pad = (-codes.shape[1]) % 8
    if pad:
        codes = np.pad(codes, ((0, 0), (0, pad)))
    return np.ascontiguousarray(codes).view(np.uint64)


_POP8 = np.unpackbits(np.arange(256, dtype=np.uint8)[:, None], axis=1).sum(1).astype(np.uint8)


def _popcount_table(x: np.ndarray) -> np.ndarray:
    """Set bits per uint64 by an 8-bit lookup table (numpy < 2 has no ``bitwise_count``)."""
    x = np.ascontiguousarray(x, dtype=np.uint64)
    return _POP8[x.view(np.uint8)].reshape(*x.shape, 8).sum(-1, dtype=np.uint8)


_popcount = getattr(np, "bitwise_count", _popcount_table)


def hamming_distance(query_codes, db_codes) -> np.ndarray:
    """(n_queries, n_db) uint16 Hamming distances between packed codes."""
    q, d = _words(_as_packed(query_codes, "query_codes")), _words(_as_packed(db_codes, "db_codes"))
    if q.shape[1] != d.shape[1]:
        raise LSEError(f"query codes have {q.shape[1] * 64} bit slots, database {d.shape[1] * 64}")
    out = np.zeros((len(q), len(d)), np.uint16)
    for w in range(q.shape[1]):
        out += _popcount(q[:, w, None] ^ d[None, :, w])
    return out


class _Relevance:
    """Which database items share a label with which queries (single- or multi-label)."""

    def __init__(self, query_labels, db_labels, n_queries, n_db):
        multi = sp.issparse(db_labels) or np.ndim(db_labels) == 2
        if multi:  # share a label <=> (Q @ DB^T) > 0; dense BLAS unless there are many classes
            self.q = sp.csr_matrix(query_labels, dtype=np.float32)
            self.db_t = sp.csr_matrix(db_labels, dtype=np.float32).T.tocsr()
            if self.db_t.shape[0] <= 1024:
                self.q, self.db_t = self.q.toarray(), self.db_t.toarray()
            got = (self.q.shape[0], self.db_t.shape[1])
        else:
            self.q, self.db = np.asarray(query_labels).ravel(), np.asarray(db_labels).ravel()
            got = (len(self.q), len(self.db))
        if got != (n_queries, n_db):
            raise LSEError(f"labels for {got[0]} queries / {got[1]} database items; codes "
                           f"have {n_queries} / {n_db}")
        self.multi = multi

    def __call__(self, lo: int, hi: int) -> np.ndarray:
        if self.multi:
            shared = self.q[lo:hi] @ self.db_t
            return (shared.toarray() if sp.issparse(shared) else shared) > 0
        return self.q[lo:hi, None] == self.db[None, :]


def _query_chunks(n_queries: int, n_db: int, budget: int = 1 << 24):
    step = max(1, budget // max(n_db, 1))
    return [(lo, min(lo + step, n_queries)) for lo in range(0, n_queries, step)]


def average_precision_at_r(query_codes, db_codes, query_labels, db_labels, R: int | None = None) -> np.ndarray:
    """Per-query AP over the top R of the Hamming ranking (R=None: the whole database).

    AP = (1 / #relevant in top R) * sum over relevant positions k <= R of precision@k; 0 for a
    query with no relevant item in its top R. Ties keep database order (stable sort).
    Relevant = shares a label: labels are int vectors (single-label) or (n, n_classes)
    0/1 matrices, dense or sparse (multi-label).
    """
    query_codes, db_codes = _as_packed(query_codes, "query_codes"), _as_packed(db_codes, "db_codes")
    nq, ndb = len(query_codes), len(db_codes)
    R = ndb if R is None else int(R)
    if not 1 <= R <= ndb:
        raise LSEError(f"R must be between 1 and the database size {ndb}, got {R}")
    relevance = _Relevance(query_labels, db_labels, nq, ndb)
    ap = np.zeros(nq)
    for lo, hi in _query_chunks(nq, ndb):
        order = np.argsort(hamming_distance(query_codes[lo:hi], db_codes), axis=1, kind="stable")[:, :R]
        row, pos = np.nonzero(np.take_along_axis(relevance(lo, hi), order, axis=1))
        n_rel = np.bincount(row, minlength=hi - lo)
        nth = np.arange(len(row)) - np.repeat(np.cumsum(n_rel) - n_rel, n_rel) + 1
        # precision at the position of the nth relevant item = nth / (pos + 1)
        ap[lo:hi] = _ratio(np.bincount(row, weights=nth / (pos + 1.0), minlength=hi - lo), n_rel)
    return ap


def map_at_r(query_codes, db_codes, query_labels, db_labels, R: int | None = None) -> float:
    """MAP@R: mean over queries of :func:`average_precision_at_r`."""
    ap = average_precision_at_r(query_codes, db_codes, query_labels, db_labels, R)
    return float(ap.mean()) if len(ap) else 0.0


def precision_recall_within_radius(query_codes, db_codes, query_labels, db_labels,
                                   radius: int = 2, per_query: bool = False) -> dict:
    """Mean precision and recall of Hamming-ball retrieval (distance <= radius).

    precision = relevant retrieved / retrieved, recall = relevant retrieved / relevant in the
    database; a query that retrieves nothing scores 0 for both (and so does the recall of a
    query with nothing relevant). Labels as in :func:`average_precision_at_r`.
    """
    query_codes, db_codes = _as_packed(query_codes, "query_codes"), _as_packed(db_codes, "db_codes")
    nq, ndb = len(query_codes), len(db_codes)
    relevance = _Relevance(query_labels, db_labels, nq, ndb)
    precision, recall = np.zeros(nq), np.zeros(nq)
    for lo, hi in _query_chunks(nq, ndb):
        ball = hamming_distance(query_codes[lo:hi], db_codes) <= radius
        rel = relevance(lo, hi)
        hits = (ball & rel).sum(1)
        precision[lo:hi] = _ratio(hits, ball.sum(1))
        recall[lo:hi] = _ratio(hits, rel.sum(1))
    out = {"precision": float(precision.mean()) if nq else 0.0,
           "recall": float(recall.mean()) if nq else 0.0, "n_queries": nq}
    if per_query:
        out.update(per_query_precision=precision, per_query_recall=recall)
    return out


# ---------------------------------------------------------------- extreme multi-label (XC)
def inverse_propensity(label_counts, n: int, A: float = 0.55, B: float = 1.5) -> np.ndarray:
    """Jain et al. (2016) inverse propensity ``1 + C (N_l + B)^-A``, ``C = (ln N - 1)(B + 1)^A``.

    ``label_counts[l]`` = N_l, the training frequency of label l; ``n`` = N, the number of
    training instances. Defaults A=0.55, B=1.5 (the XC repository's generic values).
    """
    counts = np.asarray(label_counts, dtype=np.float64).ravel()
    if n < 1:
        raise LSEError(f"the number of training instances must be positive, got {n}")
    c = (np.log(n) - 1.0) * (B + 1.0) ** A
    return 1.0 + c * (counts + B) ** (-A)


def label_slices(label_counts) -> dict:
    """Head / torso / tail label masks by training frequency.

    Quantiles q33, q66 (numpy's linear interpolation) are taken over labels that occur in
    training (count > 0). head: count > q66; torso: q33 < count <= q66; tail: count <= q33,
    including labels never seen in training. Ties at a boundary go to the lower slice, so with
    many equal counts the slices are not thirds.
    """
    counts = np.asarray(label_counts).ravel()
    seen = counts[counts > 0]
    if seen.size == 0:
        raise LSEError("no label occurs in training: cannot define head/torso/tail slices")
    q33, q66 = np.quantile(seen, [1 / 3, 2 / 3])
    return {"head": counts > q66, "torso": (counts > q33) & (counts <= q66), "tail": counts <= q33}


def _topk(predictions, n_labels: int, k: int) -> np.ndarray:
    """(n, k) label ids, -1 padded. ``predictions``: int top-k ids (best first, -1 padding)
    or a float score matrix (n, n_labels), dense or sparse (ties: lower label id first; in a
    sparse matrix only stored labels are candidates)."""
    if sp.issparse(predictions):
        predictions = predictions.toarray()
        predictions = np.where(predictions == 0, -np.inf, predictions)
    pred = np.asarray(predictions)
    if pred.ndim != 2:
        raise LSEError(f"predictions must be 2-D, got shape {pred.shape}")
    if np.issubdtype(pred.dtype, np.integer):
        top = pred[:, :k].astype(np.int64)
        if top.size and (top.max() >= n_labels or top.min() < -1):
            raise LSEError(f"predicted label ids must be in [-1, {n_labels - 1}]")
    else:
        if pred.shape[1] != n_labels:
            raise LSEError(f"score matrix has {pred.shape[1]} columns for {n_labels} labels")
        top = np.argsort(-pred, axis=1, kind="stable")[:, :k]
        top = np.where(np.take_along_axis(pred, top, 1) == -np.inf, -1, top)
    if top.shape[1] < k:
        top = np.pad(top, ((0, 0), (0, k - top.shape[1])), constant_values=-1)
    return top


class _LabelEval:
    """Shared setup of the label metrics: top-k ids, truth (restricted to a slice), hits."""

    def __init__(self, predictions, truth, k: int, labels=None, skip_empty: bool = False):
        if k < 1:
            raise LSEError(f"k must be positive, got {k}")
        truth = as_binary_csr(truth, name="truth")
        n, n_labels = truth.shape
        self.top = _topk(predictions, n_labels, k)
        if len(self.top) != n:
            raise LSEError(f"predictions have {len(self.top)} rows, truth {n}")
        if labels is not None:  # only labels of the slice are relevant or can be hits
            mask = np.zeros(n_labels, bool)
            mask[np.asarray(labels)] = True
            truth = _keep_entries(truth, mask[truth.indices])
            self.top = np.where((self.top >= 0) & mask[np.maximum(self.top, 0)], self.top, -1)
        self.truth, self.k = truth, k
        self.n_true = np.diff(truth.indptr)
        rows = np.repeat(np.arange(n), k)
        flat = self.top.ravel()
        valid = flat >= 0
        hits = np.zeros(flat.shape, bool)
        hits[valid] = np.asarray(truth[rows[valid], flat[valid]]).ravel()
        self.hits = hits.reshape(n, k)
        self.rows = self.n_true > 0 if skip_empty else np.ones(n, bool)

    def mean(self, values) -> float:
        values = np.asarray(values)[self.rows]
        return float(values.mean()) if values.size else 0.0


def precision_at_k(predictions, truth, k: int = 5, labels=None, skip_empty: bool = False) -> float:
    """P@k = mean over rows of (#true labels among the top k) / k.

    ``labels``: restrict to a label slice (ids or boolean mask, e.g. from
    :func:`label_slices`): truth sets keep only slice labels, and a predicted label outside
    the slice counts as a miss in its position (so P@k over head, torso, tail add up to P@k).
    ``skip_empty``: leave rows whose (restricted) truth set is empty out of the mean.
    """
    ev = _LabelEval(predictions, truth, k, labels, skip_empty)
    return ev.mean(ev.hits.sum(1) / k)


def recall_at_k(predictions, truth, k: int = 5, labels=None, skip_empty: bool = False) -> float:
    """R@k = mean over rows of (#true labels among the top k) / #true labels (0 if none)."""
    ev = _LabelEval(predictions, truth, k, labels, skip_empty)
    return ev.mean(_ratio(ev.hits.sum(1), ev.n_true))


def ndcg_at_k(predictions, truth, k: int = 5, labels=None, skip_empty: bool = False) -> float:
    """nDCG@k with binary gains: DCG / ideal DCG over min(k, #true) positions (0 if no truth)."""
    ev = _LabelEval(predictions, truth, k, labels, skip_empty)
    discount = 1.0 / np.log2(np.arange(2, k + 2))
    ideal = np.concatenate([[0.0], np.cumsum(discount)])[np.minimum(ev.n_true, k)]
    return ev.mean(_ratio(ev.hits @ discount, ideal))


def psp_at_k(predictions, truth, inv_propensity, k: int = 5, labels=None,
             skip_empty: bool = False, normalize: bool = True) -> float:
    """Propensity-scored P@k (Jain et al. 2016), normalised as in the XC repository.

    Raw PSP@k = mean over rows of (sum of inverse propensities of the true labels among the top
    k) / k. With ``normalize`` (default) it is divided by the raw PSP@k of the best possible
    prediction (each row's true labels sorted by inverse propensity), so 1 is the maximum.
    """
    ev = _LabelEval(predictions, truth, k, labels, skip_empty)
    weights = np.asarray(inv_propensity, dtype=np.float64).ravel()
    raw = ev.mean((ev.hits * weights[np.maximum(ev.top, 0)]).sum(1) / k)
    if not normalize:
        return raw
    # Best achievable: each row's k true labels of largest inverse propensity.
    rows = _row_of_entries(ev.truth)
    w = weights[ev.truth.indices]
    order = np.lexsort((-w, rows))
    rank = np.arange(len(order)) - ev.truth.indptr[rows[order]]
    best = np.bincount(rows[order][rank < k], weights=w[order][rank < k],
                       minlength=ev.truth.shape[0])
    return float(_ratio(raw, ev.mean(best / k)))


def label_metrics(predictions, truth, ks=(1, 3, 5), inv_propensity=None, labels=None,
                  skip_empty: bool = False) -> dict:
    """All label metrics at every k: ``{"P@1": ..., "nDCG@1": ..., "PSP@1": ..., "R@1": ...}``
    (PSP only when ``inv_propensity`` is given)."""
    out = {}
    for k in ks:
        out[f"P@{k}"] = precision_at_k(predictions, truth, k, labels, skip_empty)
        out[f"nDCG@{k}"] = ndcg_at_k(predictions, truth, k, labels, skip_empty)
        if inv_propensity is not None:
            out[f"PSP@{k}"] = psp_at_k(predictions, truth, inv_propensity, k, labels, skip_empty)
        out[f"R@{k}"] = recall_at_k(predictions, truth, k, labels, skip_empty)
    return out
