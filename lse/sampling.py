"""Training pairs from a binary pair matrix D (SPEC section 3).

- positives: the nonzeros of D; one *epoch* is one pass over all of them in a fresh random order;
- hard negatives: pairs with ``(D^T D)_ij > 0`` and ``D_ij = 0`` (they share a neighbour but are
  not linked). ``D^T D`` is never materialised (it would have billions of entries for a
  660K-word vocabulary). Both samplers draw *wedges* ``i <- k -> j`` (two nonzeros of the same
  row k of D) and reject ``i == j`` and linked pairs (a binary search inside row i of D):

  * ``hard_sampling="walk"``: a two-hop walk (a random nonzero ``(k, i)``, then a random
    nonzero ``(k, j)`` of the same row) proposes ``(i, j)`` with probability ``w(i, j) / nnz``,
    ``w = (D^T diag(1/deg) D)_ij``, which favours pairs with many (or low-degree) shared
    neighbours: on the SBM benchmark 14% of walk proposals fall inside a faction against 5% of
    the hard-negative *set*. Cheap, biased.
  * ``hard_sampling="uniform"`` (the default): exactly uniform over the set (the paper's "set of
    hard negatives"). A wedge is drawn uniformly among all ``W = sum_k deg(k)^2`` wedges (row k
    with probability ``deg(k)^2 / W``, then i and j uniform in it), so a pair with ``c(i, j)``
    shared neighbours is proposed ``c(i, j)`` times as often as a pair with one; the wedge is
    accepted only if k is the pair's *canonical* shared neighbour, the highest-ranked one in a
    fixed order of the rows (by degree, descending). Every hard negative has exactly one
    canonical wedge, so every one is drawn with probability ``1 / W``. Checking "no shared
    neighbour ranks above k" intersects the in-neighbours of i and of j that rank above k;
    in-neighbour lists are kept in rank order and k's position in them is precomputed, so these
    are two short sorted prefixes (k is usually a hub: few rows rank above it), ~2 elements
    searched per proposal on a power-law word graph. Acceptance = ``|hard set| / W`` (90% measured on a 660K-node
    power-law graph with 16M nonzeros; the former walk-and-reject scheme, acceptance
    ``w_min / w``, accepted 1.3% there). Small graphs (``sum deg^2 <= materialize_limit``)
    materialise the set instead and draw from it;
- easy negatives: uniformly random pairs, assumed unrelated (NCE style, not checked against D);
- a batch is P positives + H hard negatives (easy ones when hard negatives are off) + E easy
  negatives, labelled with the pair kinds of :mod:`lse.losses`.

Randomness: epoch ``e`` draws from ``numpy.random.default_rng([seed, e])``, so a run resumed at
an epoch boundary sees exactly the batches an uninterrupted run would have seen.
"""
from __future__ import annotations

import math
from typing import Iterator

import numpy as np
import scipy.sparse as sp

from .errors import LSEError, check_int

#: Pair kinds: the labels a batch carries; :class:`lse.losses.PairLoss` turns them into
#: (y, weight).
POSITIVE, EASY_NEGATIVE, HARD_NEGATIVE = 1, 0, 2


def validate_pair_matrix(pairs) -> sp.csr_matrix:
    """A square binary CSR copy of ``pairs`` with sorted indices, or an LSEError saying why not."""
    if not sp.issparse(pairs):
        pairs = np.asarray(pairs)
        if pairs.ndim != 2:
            raise LSEError(f"the pair matrix D must be 2-D (got shape {pairs.shape})")
    if pairs.shape[0] != pairs.shape[1]:
        raise LSEError(f"the pair matrix D must be square (got shape {pairs.shape[0]} x "
                       f"{pairs.shape[1]})")
    csr = sp.csr_matrix(pairs, dtype=np.float32, copy=True)
    csr.sum_duplicates()
    csr.eliminate_zeros()
    if csr.nnz and not np.all(csr.data == 1):
        bad = csr.data[csr.data != 1][0]
        raise LSEError(f"the pair matrix D must be binary (0/1); found the value {bad:g}")
    if csr.nnz == 0:
        raise LSEError("the pair matrix D has no nonzeros: there are no positive pairs to train on")
    csr.sort_indices()
    return csr


class PairSampler:
    """Batches of (pair, kind) drawn from D.

    Args:
        pairs: square binary matrix D (scipy.sparse or dense).
        positives, hard, easy: batch composition P + H + E.
        hard_negatives: if False, the H slots are filled with easy negatives.
        hard_sampling: ``"uniform"`` (uniform over the hard-negative set) or ``"walk"`` (raw
            two-hop walks: cheaper, biased towards pairs with many shared neighbours).
        materialize_limit: materialise the hard-negative set when ``sum_k deg(k)^2`` is at most
            this (0 = never; always draw by rejection-corrected walks).
        seed: base seed; epoch ``e`` uses ``default_rng([seed, e])``.
    """

    #: Pairs per chunk in :meth:`walk_weight` (bounds the gathered sparse rows).
    WALK_WEIGHT_CHUNK = 1 << 15

    def __init__(self, pairs, positives: int = 1024, hard: int = 1024, easy: int = 2048,
                 hard_negatives: bool = True, hard_sampling: str = "uniform",
                 materialize_limit: int = 20_000_000, seed: int = 0):
        self.positives = check_int(positives, "positives per batch", 1)
        self.hard = check_int(hard, "hard negatives per batch", 0)
        self.easy = check_int(easy, "easy negatives per batch", 0)
        self.D = validate_pair_matrix(pairs)
        self.n = self.D.shape[0]
        self.hard_negatives = bool(hard_negatives)
        if hard_sampling not in ("uniform", "walk"):
            raise LSEError(f"hard_sampling must be 'uniform' or 'walk' (got {hard_sampling!r})")
        self.hard_sampling = hard_sampling
        self.seed = int(seed)
        coo = self.D.tocoo()
        self._rows = coo.row.astype(np.int64)
        self._cols = coo.col.astype(np.int64)
        self._indptr = self.D.indptr.astype(np.int64)
        self._indices = self.D.indices.astype(np.int64)
        self._degree = np.diff(self._indptr)
        self._inv_degree = 1.0 / np.maximum(self._degree, 1)
        self._acceptance = 0.5  # running estimate of the hard-negative acceptance rate
        self._incoming_lists = self._incoming_weights = self._wedges = self._top = None
        self._hard_set = None
        if (self.hard_negatives and hard_sampling == "uniform"
                and float(np.sum(self._degree.astype(np.float64) ** 2)) <= materialize_limit):
            self._hard_set = self.hard_negative_set()

    def _incoming(self):
        """The in-neighbours of every column i of D (the rows k with ``D[k, i] = 1``) as their
        *ranks* (row degree descending, then id), increasing within a column, in CSR-like
        ``(indptr, ranks)``; and for every nonzero ``(k, i)`` of D (in CSR order) the position
        of k in column i's list ("how many in-neighbours of i rank above k"). Built once,
        linearly (scipy's CSR -> CSC conversion keeps the row order within a column)."""
        if self._incoming_lists is None:
            by_rank = np.argsort(-self._degree, kind="stable")
            nnz = self.D.nnz
            edge_ids = sp.csr_matrix((np.arange(1, nnz + 1, dtype=np.int64), self.D.indices,
                                      self.D.indptr), shape=self.D.shape)
            columns = edge_ids[by_rank].tocsc()  # rows in rank order, then by column
            indptr = columns.indptr.astype(np.int64)
            position = np.empty(nnz, np.int64)
            position[columns.data - 1] = (np.arange(nnz, dtype=np.int64)
                                          - np.repeat(indptr[:-1], np.diff(indptr)))
            self._incoming_lists = (indptr, columns.indices, position)
        return self._incoming_lists

    def _top_incoming(self):
        """Dense membership for the top-ranked rows: ``top[r, i]`` is True iff the row of rank
        r links to column i, for the R highest-ranked rows (R <= 1024, at most 64 MB). The
        canonical-wedge check mostly asks about hubs: one lookup instead of a binary search."""
        if self._top is None:
            indptr, ranks, _ = self._incoming()
            columns = self.D.shape[1]
            size = int(min(1024, self.D.shape[0], max(1, (64 << 20) // max(columns, 1))))
            column = np.repeat(np.arange(columns), np.diff(indptr))
            hub = ranks < size
            self._top = np.zeros((size, columns), bool)
            self._top[ranks[hub], column[hub]] = True
        return self._top

    def _wedge_table(self):
        """Cumulative ``deg(k)^2`` (int64): row k of a uniform wedge by one binary search."""
        if self._wedges is None:
            self._wedges = np.cumsum(self._degree ** 2)
        return self._wedges

    def hard_negative_set(self) -> np.ndarray:
        """Every hard negative (i, j), shape (n_pairs, 2), by a sparse ``D^T D`` (small D only)."""
        shared = (self.D.T @ self.D).tocsr()
        shared.setdiag(0)
        shared.eliminate_zeros()
        coo = shared.tocoo()
        keep = ~self.linked(coo.row, coo.col)
        return np.stack([coo.row[keep], coo.col[keep]], axis=1).astype(np.int64)

    def walk_weight(self, i: np.ndarray, j: np.ndarray) -> np.ndarray:
        """``w(i, j) = sum_k D[k, i] D[k, j] / deg(k)``: nnz x the walk's proposal probability.

        Vectorised over the batch: the sum over shared in-neighbours ``k`` is the row sum of
        the elementwise product of the sparse rows ``D[:, i]`` and ``D[:, j] / deg`` (scipy's
        sorted merge in C; cost: deg(i) + deg(j) per pair, in chunks to bound memory).
        """
        if self._incoming_weights is None:
            incoming = self.D.T.tocsr()  # row i lists the k with D[k, i] = 1
            incoming.sort_indices()
            weighted = sp.csr_matrix((self._inv_degree[incoming.indices], incoming.indices,
                                      incoming.indptr), shape=incoming.shape)
            self._incoming_weights = incoming, weighted
        incoming, weighted = self._incoming_weights
        i, j = np.asarray(i, np.int64), np.asarray(j, np.int64)
        out = np.zeros(len(i))
        for lo in range(0, len(i), self.WALK_WEIGHT_CHUNK):
            hi = lo + self.WALK_WEIGHT_CHUNK
            product = incoming[i[lo:hi]].multiply(weighted[j[lo:hi]])
            out[lo:hi] = np.asarray(product.sum(axis=1)).ravel()
        return out

    @property
    def batch_size(self) -> int:
        return self.positives + self.hard + self.easy

    @property
    def steps_per_epoch(self) -> int:
        return math.ceil(self.D.nnz / self.positives)

    # -- membership and negatives ---------------------------------------------------------
    def linked(self, i: np.ndarray, j: np.ndarray) -> np.ndarray:
        """Boolean mask: D[i, j] == 1, vectorised.

        A binary search for j inside row i's sorted column indices, all pairs in lock step:
        it touches only row i's few cache lines, ~5x faster than one search in the sorted keys
        of all nnz (which misses the cache at every level on a 16M-nonzero D).
        """
        i, j = np.broadcast_arrays(np.asarray(i, np.int64), np.asarray(j, np.int64))
        rows = i.ravel()
        found = _search_segments(self._indptr[rows], self._indptr[rows + 1], self._indices,
                                 j.ravel())
        return found.reshape(i.shape)

    def sample_hard_negatives(self, count: int, rng: np.random.Generator,
                              max_rounds: int = 20) -> np.ndarray:
        """``count`` pairs (i, j) with a shared neighbour and D[i, j] == 0, shape (count, 2).

        Falls back to easy negatives for the remainder if D has (almost) no hard negatives.
        """
        if self._hard_set is not None:
            if len(self._hard_set) == 0:
                return self.sample_easy_negatives(count, rng)
            return self._hard_set[rng.integers(0, len(self._hard_set), count)]
        propose = self._uniform_proposals if self.hard_sampling == "uniform" else self._walks
        found, have = [], 0
        for _ in range(max_rounds):
            if have >= count:
                break
            draw = int(min(1 << 22, max(64, 1.2 * (count - have) / max(self._acceptance, 1e-3))))
            i, j = propose(draw, rng)
            found.append(np.stack([i, j], axis=1))
            have += len(i)
            self._acceptance = 0.5 * self._acceptance + 0.5 * max(len(i) / draw, 1e-4)
        out = np.concatenate(found)[:count] if found else np.zeros((0, 2), np.int64)
        if len(out) < count:
            out = np.concatenate([out, self.sample_easy_negatives(count - len(out), rng)])
        return out

    def _walks(self, draw: int, rng: np.random.Generator):
        """Hard negatives among ``draw`` two-hop walks (biased towards many shared neighbours)."""
        edge = rng.integers(0, self.D.nnz, draw)
        k, i = self._rows[edge], self._cols[edge]
        j = self._cols[self._indptr[k] + (rng.random(draw) * self._degree[k]).astype(np.int64)]
        keep = (i != j) & ~self.linked(i, j)
        return i[keep], j[keep]

    def _uniform_proposals(self, draw: int, rng: np.random.Generator):
        """Hard negatives among ``draw`` uniform wedges, each kept iff its centre k is the
        pair's highest-ranked shared neighbour: exactly uniform over the set (module doc)."""
        indptr, ranks, position = self._incoming()
        top = self._top_incoming()
        cumulative = self._wedge_table()
        k = np.searchsorted(cumulative, rng.integers(0, cumulative[-1], draw), side="right")
        start, degree = self._indptr[k], self._degree[k]
        ei = start + (rng.random(draw) * degree).astype(np.int64)
        ej = start + (rng.random(draw) * degree).astype(np.int64)
        i, j = self._indices[ei], self._indices[ej]
        keep = (i != j) & ~self.linked(i, j)
        i, j, above_i, above_j = i[keep], j[keep], position[ei[keep]], position[ej[keep]]
        # is any of the in-neighbours ranked above k on the shorter side also among those on
        # the other side? Both prefixes are sorted by rank: search each element of the shorter
        # one in the other (short too: k is usually a hub, few rows rank above it). In rounds
        # of growing width, top-ranked first: most rejected wedges share one of the first few
        # hubs, so they leave after a few searches (4x less work on a real 49K-word corpus,
        # whose prefixes reach thousands); the outcome is the same as one pass over all.
        swap = above_j < above_i
        scan, other = np.where(swap, j, i), np.where(swap, i, j)
        length, other_length = np.minimum(above_i, above_j), np.maximum(above_i, above_j)
        canonical = np.ones(len(scan), bool)
        pending, done, width = np.flatnonzero(length > 0), 0, 4
        while len(pending):
            count = np.minimum(length[pending], done + width) - done
            owner = np.repeat(pending, count)
            offset = done + np.arange(len(owner)) - np.repeat(np.cumsum(count) - count, count)
            higher = ranks[indptr[scan[owner]] + offset]
            target = other[owner]
            hub = higher < len(top)  # most are: they rank above k, itself usually a hub
            shared = np.empty(len(owner), bool)
            shared[hub] = top[higher[hub], target[hub]]
            rest = np.flatnonzero(~hub)
            begin = indptr[target[rest]]
            shared[rest] = _search_segments(begin, begin + other_length[owner[rest]], ranks,
                                            higher[rest])
            canonical[owner[shared]] = False
            done, width = done + width, width * 4
            pending = pending[canonical[pending] & (length[pending] > done)]
        return i[canonical], j[canonical]

    def sample_easy_negatives(self, count: int, rng: np.random.Generator) -> np.ndarray:
        return rng.integers(0, self.n, (count, 2))

    # -- batches ---------------------------------------------------------------------------
    def epoch_batches(self, epoch: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """The batches of one epoch: ``(pairs int32 (B, 2), kinds int8 (B,))``.

        The last batch of an epoch reuses positives from the start of the order so that every
        batch has the same shape (a fixed shape avoids re-tracing the train step).
        """
        rng = np.random.default_rng([self.seed, epoch])
        order = rng.permutation(self.D.nnz)
        hard_kind = HARD_NEGATIVE if self.hard_negatives else EASY_NEGATIVE
        kinds = np.concatenate([
            np.full(self.positives, POSITIVE, np.int8),
            np.full(self.hard, hard_kind, np.int8),
            np.full(self.easy, EASY_NEGATIVE, np.int8)])
        for step in range(self.steps_per_epoch):
            take = np.arange(step * self.positives, (step + 1) * self.positives) % self.D.nnz
            edge = order[take]
            pos = np.stack([self._rows[edge], self._cols[edge]], axis=1)
            if self.hard_negatives:
                hard = self.sample_hard_negatives(self.hard, rng)
            else:
                hard = self.sample_easy_negatives(self.hard, rng)
            easy = self.sample_easy_negatives(self.easy, rng)
            yield np.concatenate([pos, hard, easy]).astype(np.int32), kinds

    def batches(self, start_epoch: int = 0, epochs: int | None = None):
        """Batches of consecutive epochs from ``start_epoch`` (forever when ``epochs`` is None)."""
        epoch = start_epoch
        while epochs is None or epoch < start_epoch + epochs:
            yield from self.epoch_batches(epoch)
            epoch += 1

    def dataset(self, start_epoch: int = 0, epochs: int | None = None, prefetch: int = 4):
        """A ``tf.data.Dataset`` of ``(pairs, kinds)`` batches, prefetched on a background thread
        so that sampling overlaps the train step."""
        import tensorflow as tf

        signature = (tf.TensorSpec((self.batch_size, 2), tf.int32),
                     tf.TensorSpec((self.batch_size,), tf.int8))
        return prefetched(lambda: self.batches(start_epoch, epochs), signature, prefetch)


def prefetched(generator, signature, prefetch: int = 4):
    """A ``tf.data.Dataset`` of the batches ``generator()`` yields, ``prefetch`` of them made
    ahead on a background thread.

    tf.data's autotuning is switched off: this pipeline has nothing to tune (one generator, a
    fixed buffer), and its optimisation thread sleeps with an exponential back-off (10 ms, 20 ms,
    ...) that deleting the iterator, at the end of every ``fit``, waited out: an epoch whose
    steps took 10.5 s returned after 20.48 s. Measured with TensorFlow 2.21 on Delicious, one
    ``fit`` per epoch as when mining: 28 of 61 fits returned 8-10 s after their last step with
    autotuning, none of 27 without.
    """
    import tensorflow as tf

    options = tf.data.Options()
    options.autotune.enabled = False
    dataset = tf.data.Dataset.from_generator(generator, output_signature=signature)
    return dataset.prefetch(prefetch).with_options(options)


def _search_segments(starts, ends, values, targets) -> np.ndarray:
    """``targets[p] in values[starts[p]:ends[p]]`` for every p, each segment sorted: one binary
    search per p, all in lock step (vectorised), only the unfinished ones carried along."""
    lo, hi = np.array(starts, np.int64), np.array(ends, np.int64)
    active = np.flatnonzero(lo < hi)
    while active.size:
        low, high = lo[active], hi[active]
        mid = (low + high) >> 1
        right = values[mid] < targets[active]
        lo[active] = np.where(right, mid + 1, low)
        hi[active] = np.where(right, high, mid)
        active = active[lo[active] < hi[active]]
    found = lo < ends
    found[found] = values[lo[found]] == targets[found]
    return found
