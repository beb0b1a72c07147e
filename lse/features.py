"""Training pairs for two-tower models on features (SPEC section 3 with labels instead of a graph).

Two index-level samplers say *which* pairs to train on; :class:`FeaturePairs` then turns each
batch of index pairs into the feature batches a two-tower model eats. Keeping the two apart means
the same sampler serves dense pixels, sparse bag-of-words rows and label ids alike.

- :class:`ClassPairSampler` (single-label data, item-to-item): "same class = relevant".
  Positives pair every item (in a fresh random order each epoch) with a random other item of its
  class; negatives pair random items with random items of another class (drawn exactly, not
  assumed: with 10 classes a uniform pair would be a positive 10% of the time).
- :class:`LabelPairSampler` (multi-label data, instance-to-label): positives are the nonzeros of
  the instance x label matrix Y (one epoch = one pass over them); negatives are the positive's
  instance with a random label it does not have, a random instance without the positive's label,
  and optionally *hard* labels: labels of an instance that shares a label with the positive's
  instance (a two-hop walk i -> l -> i' -> l'', rejected when the instance has l''), i.e. labels
  that co-occur with its own. Following the MIPS negative-sampling study (seed 002), hard
  negatives should be a few mixed into uniform ones, not all of them. *Mined* negatives are
  that study's (and dynamic negative sampling's, seed 004) model-chosen ones: labels the
  current model scores highest among those the instance lacks, re-mined before every epoch
  (:meth:`FeaturePairs.refresh`), since those are the labels that displace a relevant one from
  the top of its ranking and from its bucket.

Rows are never densified as a whole: :class:`FeatureTable` gathers the rows of a batch and
hands them over dense (dense input) or as a ``tf.SparseTensor`` (scipy sparse input), which
Keras' ``Dense`` multiplies sparsely, with sparse (IndexedSlices) kernel gradients that
:class:`lse.optimizers.RowAdam` applies lazily. Each *distinct* row of a batch side is sent
once, with every pair's position among them (:meth:`FeatureTable.distinct_rows`): a label
sampler pairs each positive's instance with its negative labels too, so about half the rows of
a batch repeat, and the tower would otherwise run twice on each of them.

Randomness follows :mod:`lse.sampling`: epoch ``e`` draws from ``default_rng([seed, e])``, so a
run resumed at an epoch boundary sees the batches an uninterrupted run would.
"""
from __future__ import annotations

import math
from typing import Iterator

import numpy as np
import scipy.sparse as sp

from .errors import LSEError, check_int
from .sampling import EASY_NEGATIVE, HARD_NEGATIVE, POSITIVE, PairSampler, prefetched

__all__ = ["FeatureTable", "LabelIds", "ClassPairSampler", "LabelPairSampler", "FeaturePairs",
           "sparse_batch", "as_label_matrix"]


def sparse_batch(rows: sp.csr_matrix):
    """A CSR batch as a ``tf.SparseTensor`` (row-major, sorted indices, as TF requires)."""
    import tensorflow as tf

    rows = rows.tocoo()
    indices = np.stack([rows.row, rows.col], axis=1).astype(np.int64)
    return tf.SparseTensor(indices, rows.data.astype(np.float32), rows.shape)


class FeatureTable:
    """Feature rows (dense array or scipy sparse matrix) gathered a batch at a time."""

    def __init__(self, features, name: str = "features"):
        if sp.issparse(features):
            x = sp.csr_matrix(features, dtype=np.float32)
            x.sum_duplicates()
            x.sort_indices()
            if x.nnz and not np.isfinite(x.data).all():
                raise LSEError(f"{name} contain NaN or infinite values")
        else:
            x = np.asarray(features, dtype=np.float32)
            if x.ndim != 2:
                raise LSEError(f"{name} must be a 2-D (n_items, n_features) matrix "
                               f"(got shape {x.shape})")
            if not np.isfinite(x).all():
                raise LSEError(f"{name} contain NaN or infinite values")
        if x.shape[0] < 1 or x.shape[1] < 1:
            raise LSEError(f"{name} must have at least one row and one column (got {x.shape})")
        self.x, self.sparse = x, sp.issparse(x)

    @property
    def n(self) -> int:
        return self.x.shape[0]

    @property
    def width(self) -> int:
        return self.x.shape[1]

    def rows(self, ids):
        """Rows ``ids`` as float32: dense ndarray, or ``tf.SparseTensor`` for sparse input."""
        block = self.x[np.asarray(ids)]
        return sparse_batch(block) if self.sparse else block

    def spec(self, batch: int | None):
        import tensorflow as tf

        cls = tf.SparseTensorSpec if self.sparse else tf.TensorSpec
        return cls((batch, self.width), tf.float32)

    def distinct_rows(self, ids):
        """``(rows, position)``: the rows of the distinct ``ids`` (as :meth:`rows`, ascending id)
        and, per id, the int32 index of its row among them; ``rows[position]`` is
        ``rows(ids)``. A model runs its tower on the distinct rows and gathers the result back
        to the pairs, the same values at a fraction of the work when ids repeat."""
        distinct, position = np.unique(np.asarray(ids), return_inverse=True)
        return self.rows(distinct), position.astype(np.int32)

    def distinct_spec(self, batch: int):
        """The ``tf.data`` spec of :meth:`distinct_rows` for a batch of ``batch`` ids."""
        import tensorflow as tf

        return self.spec(None), tf.TensorSpec((batch,), tf.int32)


class LabelIds:
    """The label side of an id-embedding label tower: a batch is just the label ids."""

    def __init__(self, n: int):
        self.n = check_int(n, "the number of labels", 1)

    def rows(self, ids):
        return np.asarray(ids, dtype=np.int32)

    distinct_rows = rows  # the label table's gather is already per id

    def spec(self, batch: int):
        import tensorflow as tf

        return tf.TensorSpec((batch,), tf.int32)

    distinct_spec = spec


def as_label_matrix(y, n_labels: int | None = None, name: str = "labels") -> sp.csr_matrix:
    """A binary CSR instance x label matrix from a 0/1 matrix (dense or sparse) or a 1-D array of
    class ids in ``[0, n_labels)``."""
    if sp.issparse(y) or np.ndim(y) == 2:
        Y = sp.csr_matrix(y, dtype=np.float32)
        Y.sum_duplicates()
        Y.eliminate_zeros()
        if Y.nnz and not np.all(Y.data == 1):
            raise LSEError(f"{name} must be a 0/1 matrix")
    else:
        ids = np.asarray(y)
        if ids.ndim != 1 or ids.dtype.kind not in "iu":
            raise LSEError(f"{name} must be integer class ids (n,) or a 0/1 matrix (n, L)")
        n_labels = int(ids.max()) + 1 if n_labels is None and ids.size else n_labels or 1
        if ids.size and (ids.min() < 0 or ids.max() >= n_labels):
            raise LSEError(f"class ids must be in [0, {n_labels})")
        Y = sp.csr_matrix((np.ones(len(ids), np.float32), ids, np.arange(len(ids) + 1)),
                          shape=(len(ids), n_labels))
    Y.sort_indices()
    return Y


class _Membership:
    """Is (row, col) a nonzero of a CSR matrix? Vectorised binary search in sorted keys."""

    def __init__(self, m: sp.csr_matrix):
        coo = m.tocoo()
        self.width = m.shape[1]
        self.keys = coo.row.astype(np.int64) * self.width + coo.col  # sorted (canonical CSR)

    def __call__(self, rows, cols) -> np.ndarray:
        keys = np.asarray(rows, np.int64) * self.width + np.asarray(cols, np.int64)
        pos = np.minimum(np.searchsorted(self.keys, keys), max(len(self.keys) - 1, 0))
        return self.keys[pos] == keys if len(self.keys) else np.zeros(len(keys), bool)


class _PairSamplerBase:
    """What :func:`lse.training.train` needs besides batch_size, steps_per_epoch and
    epoch_batches: consecutive epochs and the prefetched ``tf.data`` pipeline, shared with
    :class:`lse.sampling.PairSampler` (they only use those three members)."""

    batches = PairSampler.batches
    dataset = PairSampler.dataset


class ClassPairSampler(_PairSamplerBase):
    """Item pairs of single-label data: same class = positive, different class = negative.

    Args:
        labels: int class of every item (n,).
        positives, negatives: pairs of each kind per batch.
        seed: epoch ``e`` uses ``default_rng([seed, e])``.

    One epoch = ``ceil(n / positives)`` batches: every item is the left half of one positive.
    A class with a single item has no positive partner: its item is paired with itself.
    """

    def __init__(self, labels, positives: int = 256, negatives: int = 768, seed: int = 0):
        labels = np.asarray(labels)
        if labels.ndim != 1 or labels.dtype.kind not in "iu" or len(labels) < 2:
            raise LSEError("labels must be a 1-D integer array with at least two items")
        self.positives = check_int(positives, "positives per batch", 1)
        self.negatives = check_int(negatives, "negatives per batch", 0)
        self.seed = int(seed)
        _, self.labels = np.unique(labels, return_inverse=True)
        self.n = len(labels)
        self.order = np.argsort(self.labels, kind="stable")  # items grouped by class
        sizes = np.bincount(self.labels)
        if self.negatives and len(sizes) < 2:
            raise LSEError("negative pairs need at least two classes")
        self.start = np.concatenate([[0], np.cumsum(sizes)[:-1]])
        self.size = sizes
        self.rank = np.empty(self.n, np.int64)  # position of each item in ``order``
        self.rank[self.order] = np.arange(self.n)

    @property
    def batch_size(self) -> int:
        return self.positives + self.negatives

    @property
    def steps_per_epoch(self) -> int:
        return math.ceil(self.n / self.positives)

    def same_class(self, items: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """A uniformly random *other* item of each item's class (the item itself if alone)."""
        c = self.labels[items]
        others = np.maximum(self.size[c] - 1, 1)
        pos = self.start[c] + (rng.random(len(items)) * others).astype(np.int64)
        pos += (pos >= self.rank[items]) & (self.size[c] > 1)  # skip the item's own slot
        return self.order[pos]

    def other_class(self, items: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """A uniformly random item of another class for each item."""
        c = self.labels[items]
        r = (rng.random(len(items)) * (self.n - self.size[c])).astype(np.int64)
        return self.order[np.where(r < self.start[c], r, r + self.size[c])]

    def epoch_batches(self, epoch: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        rng = np.random.default_rng([self.seed, epoch])
        order = rng.permutation(self.n)
        kinds = np.concatenate([np.full(self.positives, POSITIVE, np.int8),
                                np.full(self.negatives, EASY_NEGATIVE, np.int8)])
        for step in range(self.steps_per_epoch):
            left = order[np.arange(step * self.positives, (step + 1) * self.positives) % self.n]
            neg_left = rng.integers(0, self.n, self.negatives)
            pairs = np.concatenate([
                np.stack([left, self.same_class(left, rng)], axis=1),
                np.stack([neg_left, self.other_class(neg_left, rng)], axis=1)])
            yield pairs.astype(np.int32), kinds


class LabelPairSampler(_PairSamplerBase):
    """(instance, label) pairs of multi-label data Y (n_instances x n_labels, binary).

    Args:
        Y: instance x label matrix (0/1, dense or sparse) or 1-D class ids.
        positives: nonzeros of Y per batch; one epoch passes over all of them.
        negative_labels: (instance of a positive, random label it does not have) per batch.
        negative_instances: (random instance without the label, label of a positive) per batch.
        hard: (instance of a positive, co-occurring label it does not have) per batch, kind
            HARD_NEGATIVE (weighted by beta when the loss uses ``beta_on="hard"``).
        mined: (instance of a positive, one of the ``mined_pool`` labels the current model
            scores highest among those the instance does not have) per batch, kind
            HARD_NEGATIVE. The pools come from :meth:`set_mined_pool` (``FeaturePairs.refresh``
            before every epoch after the first); until then these are co-occurring labels.
        mined_pool: candidates per instance a mined negative is drawn from.
        seed: epoch ``e`` uses ``default_rng([seed, e])``.
    """

    def __init__(self, Y, positives: int = 1024, negative_labels: int = 1024,
                 negative_instances: int = 1024, hard: int = 0, seed: int = 0, mined: int = 0,
                 mined_pool: int = 8):
        self.Y = as_label_matrix(Y, name="Y")
        if self.Y.nnz == 0:
            raise LSEError("Y has no nonzeros: there are no (instance, label) positives")
        self.positives = check_int(positives, "positives per batch", 1)
        self.negative_labels = check_int(negative_labels, "negative labels per batch", 0)
        self.negative_instances = check_int(negative_instances, "negative instances per batch", 0)
        self.hard = check_int(hard, "hard negatives per batch", 0)
        self.mined = check_int(mined, "mined negatives per batch", 0)
        self.mined_pool = check_int(mined_pool, "mined pool size", 1)
        self.pool = None
        self.seed = int(seed)
        self.n, self.n_labels = self.Y.shape
        coo = self.Y.tocoo()
        self._rows, self._cols = coo.row.astype(np.int64), coo.col.astype(np.int64)
        self._by_label = self.Y.T.tocsr()  # row l = the instances with label l
        self.linked = _Membership(self.Y)

    @property
    def batch_size(self) -> int:
        return (self.positives + self.negative_labels + self.negative_instances + self.hard
                + self.mined)

    @property
    def steps_per_epoch(self) -> int:
        return math.ceil(self.Y.nnz / self.positives)

    def _fix_collisions(self, rows, cols, redraw, rng, rounds: int = 8):
        """Redraw the pairs that are nonzeros of Y; still-linked pairs after ``rounds`` keep
        their draw and are reported as positives (their true kind)."""
        hit = self.linked(rows, cols)
        for _ in range(rounds):
            if not hit.any():
                break
            rows[hit], cols[hit] = redraw(hit.sum(), rows[hit], cols[hit], rng)
            hit = self.linked(rows, cols)
        return rows, cols, hit

    def _random_labels(self, count, rows, cols, rng):
        return rows, rng.integers(0, self.n_labels, count)

    def _random_instances(self, count, rows, cols, rng):
        return rng.integers(0, self.n, count), cols

    def _walk(self, pick, indptr, indices, rng):
        deg = indptr[pick + 1] - indptr[pick]
        return indices[indptr[pick] + (rng.random(len(pick)) * deg).astype(np.int64)]

    def _cooccurring_labels(self, count, rows, cols, rng):
        """Two-hop walks from a label l of the instance: l -> instance i' with l -> label of i'."""
        first = self._walk(rows, self.Y.indptr, self.Y.indices, rng)
        other = self._walk(first, self._by_label.indptr, self._by_label.indices, rng)
        return rows, self._walk(other, self.Y.indptr, self.Y.indices, rng)

    def set_mined_pool(self, pool) -> None:
        """Each instance's ``mined_pool`` highest-scoring labels it does not have, (n, m) ids
        (-1: no such label; e.g. :func:`lse.label_retrieval.dense_topk` with ``exclude=Y``)."""
        pool = np.asarray(pool)
        if pool.shape != (self.n, self.mined_pool) or not np.issubdtype(pool.dtype, np.integer):
            raise LSEError(f"a mined pool must be integer label ids of shape "
                           f"({self.n}, {self.mined_pool}); got {pool.dtype} {pool.shape}")
        if pool.size and (pool.min() < -1 or pool.max() >= self.n_labels):
            raise LSEError(f"mined label ids must be in [0, {self.n_labels}) or -1")
        self.pool = pool.astype(np.int64)

    def _mined_labels(self, count, rows, cols, rng):
        """A random label of each instance's mined pool; co-occurring labels before the first
        pool, and where the pool has none (-1)."""
        rows, walked = self._cooccurring_labels(count, rows, cols, rng)
        if self.pool is None:
            return rows, walked
        mined = self.pool[rows, rng.integers(0, self.mined_pool, count)]
        return rows, np.where(mined >= 0, mined, walked)

    def epoch_batches(self, epoch: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        rng = np.random.default_rng([self.seed, epoch])
        order = rng.permutation(self.Y.nnz)
        nnz, P = self.Y.nnz, self.positives
        for step in range(self.steps_per_epoch):
            edge = order[np.arange(step * P, (step + 1) * P) % nnz]
            inst, lab = self._rows[edge], self._cols[edge]
            parts = [(inst, lab, np.full(P, POSITIVE, np.int8))]
            for count, redraw, kind in (
                    (self.negative_labels, self._random_labels, EASY_NEGATIVE),
                    (self.negative_instances, self._random_instances, EASY_NEGATIVE),
                    (self.hard, self._cooccurring_labels, HARD_NEGATIVE),
                    (self.mined, self._mined_labels, HARD_NEGATIVE)):
                if not count:
                    continue
                take = np.arange(count) % P
                rows, cols = redraw(count, inst[take].copy(), lab[take].copy(), rng)
                rows, cols, linked = self._fix_collisions(rows, cols, redraw, rng)
                parts.append((rows, cols, np.where(linked, POSITIVE, kind).astype(np.int8)))
            pairs = np.stack([np.concatenate([p[0] for p in parts]),
                              np.concatenate([p[1] for p in parts])], axis=1)
            yield pairs.astype(np.int32), np.concatenate([p[2] for p in parts])


class FeaturePairs:
    """Feature batches ``((x_left, x_right), kinds)`` from an index-pair sampler.

    ``left``/``right`` map ids to model inputs: a :class:`FeatureTable` (features; pass the
    same table twice for item-to-item) or :class:`LabelIds` (an id-embedding label tower).
    Has the sampler interface :func:`lse.training.train` expects.

    ``distinct``: send each feature side as :meth:`FeatureTable.distinct_rows` (the distinct
    rows and every pair's position among them; the models' towers accept both forms) instead of
    one row per pair. The same values either way; with :class:`LabelPairSampler`'s batches the
    instance tower then runs on about half the rows (a training step 1.6x faster on Delicious,
    1.75x on Bibtex: ``benchmarks/bench_feature_training.py``).

    ``mining_radius``: where a mining sampler's pools come from (:meth:`refresh`). None: every
    label is scored (exact, O(instances x labels) per refresh); r >= 0: only the labels within
    Hamming radius r of the instance's code (a hash-index lookup, so the cost follows the
    candidates, not the label count: the way to mine among millions of labels).
    """

    def __init__(self, sampler, left, right=None, mining_radius: int | None = None,
                 distinct: bool = True):
        self.sampler, self.distinct = sampler, bool(distinct)
        self.mining_radius = None if mining_radius is None else check_int(mining_radius,
                                                                          "mining_radius", 0)
        self.left = left if isinstance(left, (FeatureTable, LabelIds)) else FeatureTable(left)
        right = self.left if right is None else right
        self.right = right if isinstance(right, (FeatureTable, LabelIds)) else FeatureTable(right)

    @property
    def batch_size(self) -> int:
        return self.sampler.batch_size

    @property
    def steps_per_epoch(self) -> int:
        return self.sampler.steps_per_epoch

    @property
    def refreshes(self) -> bool:
        """Whether the batches depend on the model (mined negatives): :func:`lse.training.train`
        then calls :meth:`refresh` before every epoch but the first."""
        return getattr(self.sampler, "mined", 0) > 0

    def refresh(self, model) -> None:
        """Re-mine every instance's pool of hard negative labels with ``model``: the labels of
        highest max-cosine it does not have (one encoding pass over the left rows, then every
        label scored, :func:`lse.label_retrieval.dense_topk`, or only those within
        ``mining_radius`` of the instance's code, :class:`lse.label_retrieval.HashedRetriever`;
        a pool with fewer labels is padded with -1, which the sampler fills with co-occurring
        ones)."""
        if not self.refreshes:
            return
        from .label_retrieval import HashedRetriever, dense_topk

        left = model.encode(self.left.x)
        right = model.encode(None if isinstance(self.right, LabelIds) else self.right.x,
                             side="right")
        m, Y = self.sampler.mined_pool, self.sampler.Y
        if self.mining_radius is None:
            pool = dense_topk(left, right, m, exclude=Y)
        else:
            pool = HashedRetriever(right).topk(left, m, radius=self.mining_radius, exclude=Y)
        self.sampler.set_mined_pool(pool)

    def _inputs(self, pairs):
        if self.distinct:
            return self.left.distinct_rows(pairs[:, 0]), self.right.distinct_rows(pairs[:, 1])
        return self.left.rows(pairs[:, 0]), self.right.rows(pairs[:, 1])

    def epoch_batches(self, epoch: int):
        for pairs, kinds in self.sampler.epoch_batches(epoch):
            yield self._inputs(pairs), kinds

    def batches(self, start_epoch: int = 0, epochs: int | None = None):
        for pairs, kinds in self.sampler.batches(start_epoch, epochs):
            yield self._inputs(pairs), kinds

    def dataset(self, start_epoch: int = 0, epochs: int | None = None, prefetch: int = 4):
        import tensorflow as tf

        b = self.batch_size
        sides = (self.left, self.right)
        specs = tuple(side.distinct_spec(b) if self.distinct else side.spec(b) for side in sides)
        signature = (specs, tf.TensorSpec((b,), tf.int8))
        return prefetched(lambda: self.batches(start_epoch, epochs), signature, prefetch)
