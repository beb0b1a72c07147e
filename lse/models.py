"""Keras 3 hashing models (SPEC sections 1-3).

All models share one training objective, implemented once in :class:`PairHashModel`:

1. embed both halves of every pair as tanh vectors of shape (batch, L, d) (L = contexts);
2. apply ONE dropout mask per pair, shared by both halves and all 2L vectors (so dropout
   perturbs which coordinates are compared, not the two sides differently);
3. base similarity c = max-cosine over context pairs (the plain cosine when L = 1);
4. loss = :class:`lse.losses.PairLoss` (pair BCE with beta) + ``quantization_weight`` x the
   quantization loss of the (pre-dropout) embeddings of both halves.

Subclasses only say how items are embedded:

- :class:`EmbeddingHasher`: a free embedding table (n_items x L x d) followed by tanh, for
  graphs and word cooccurrence; its gradients are sparse, and :class:`lse.optimizers.RowAdam`
  updates only the rows in the batch, so a step costs O(batch), not O(vocabulary).
- :class:`TwoTowerHasher`: MLP towers on feature vectors, shared (item-to-item) or separate
  (e.g. instance vs label features);
- :class:`InstanceLabelHasher`: an MLP instance tower against a free label-embedding table
  (extreme multi-label retrieval).

Feature towers accept dense rows or ``tf.SparseTensor`` batches (bag-of-words), and ``encode``
takes scipy sparse matrices, fed a batch at a time (see :mod:`lse.features`).

After training, :meth:`PairHashModel.encode` gives the dense tanh embeddings and
:meth:`PairHashModel.hash` the packed sign bits (bit = 1[u > 0]).
"""
from __future__ import annotations

import numpy as np
import keras
import tensorflow as tf

from .dropout import DropoutKey
from .errors import LSEError, check_int, check_number
from .hugepages import advise_variable
from .losses import PairLoss, QuantizationLoss, default_quantization
from .optimizers import RowAdam
from .similarities import max_cosine
from .table_step import pair_loss_and_gradient, row_gradient, unique_rows


class PairHashModel(keras.Model):
    """Base class: the pair objective, the custom train step, encode and hash.

    Args:
        similarity: ``"lse"`` (default), ``"cos"``, ``"dch"`` or ``"dhn"``.
        k, beta, beta_on, gamma, alpha: see :class:`lse.losses.PairLoss`.
        quantization: ``"logcosh"`` (DHN), ``"cauchy"`` (DCH) or ``"none"``; default: the
            paper's pairing (``cauchy`` for DCH, ``logcosh`` otherwise).
        quantization_weight: lambda.
        dropout: rate of the shared dropout mask.
        seed: seeds initialisation and dropout (dropout uses stateless random ops keyed by the
            optimizer step, so training is repeatable and a resumed run continues identically).
    """

    def __init__(self, dim: int = 32, contexts: int = 1, similarity: str = "lse", k: float = 2.0,
                 beta: float = 1.0, beta_on: str = "all", quantization: str | None = None,
                 quantization_weight: float = 0.1, dropout: float = 0.1, gamma: float = 5.0,
                 alpha: float = 5.0, seed: int = 0, **kwargs):
        super().__init__(**kwargs)
        self.dim = check_int(dim, "dim", 1)
        self.contexts = check_int(contexts, "contexts (L)", 1)
        self.dropout = check_number(dropout, "dropout", below=1)
        self.quantization_weight = check_number(quantization_weight, "quantization_weight")
        self.seed = int(seed)
        self.pair_loss = PairLoss(similarity, k, beta, beta_on, dims=self.dim, gamma=gamma,
                                  alpha=alpha)
        self.quantization = quantization or default_quantization(similarity)
        self.quantization_loss = QuantizationLoss(self.quantization, gamma)
        self.loss_tracker = keras.metrics.Mean(name="loss")
        self.pair_tracker = keras.metrics.Mean(name="pair_loss")
        self.quant_tracker = keras.metrics.Mean(name="quantization")
        # Multiplies quantization_weight; a callback may ramp it (see lse.training).
        self.quantization_ramp = self.add_weight(shape=(), initializer="ones", trainable=False,
                                                 name="quantization_ramp")

    # -- what subclasses provide ------------------------------------------------------------
    def embed_pair(self, inputs, training: bool = False):
        """(u, v): tanh embeddings (batch, L, d) of the left and right items of each pair."""
        raise NotImplementedError

    # -- the objective ------------------------------------------------------------------------
    def _dropout_keep(self, batch):
        """The 0/1 keep pattern (batch, 1, d) of this step's shared dropout mask, or None.

        Stateless random ops keyed by (seed, optimizer step): repeatable, and a resumed run
        draws the masks an uninterrupted one would have drawn."""
        if self.dropout == 0.0:
            return None
        step = tf.cast(self.optimizer.iterations, tf.int32)
        shape = tf.stack([batch, 1, self.dim])
        keep = tf.random.stateless_uniform(shape, seed=tf.stack([self.seed, step])) >= self.dropout
        return tf.cast(keep, self.compute_dtype)

    def _shared_dropout(self, u, v):
        keep = self._dropout_keep(tf.shape(u)[0])
        if keep is None:
            return u, v
        mask = keep / (1.0 - self.dropout)
        return u * mask, v * mask

    def call(self, inputs, training=False):
        """Base similarity c of each pair (no dropout)."""
        u, v = self.embed_pair(inputs, training=training)
        return max_cosine(u, v)

    def objective(self, inputs, kinds, training: bool = True):
        u, v = self.embed_pair(inputs, training=training)
        du, dv = self._shared_dropout(u, v) if training else (u, v)
        c = max_cosine(du, dv)
        pair = self.pair_loss(kinds, c)
        unused = tf.zeros(tf.shape(u)[:1])
        quant = 0.5 * (self.quantization_loss(unused, u) + self.quantization_loss(unused, v))
        return self._total_loss(pair, quant), pair, quant

    def _total_loss(self, pair, quant):
        weight = self.quantization_weight * self.quantization_ramp
        return pair + weight * 2.0 * quant

    def train_step(self, data):
        inputs, kinds = data
        with tf.GradientTape() as tape:
            loss, pair, quant = self.objective(inputs, kinds, training=True)
        grads = tape.gradient(loss, self.trainable_variables)
        self.optimizer.apply(grads, self.trainable_variables)
        return self._track(loss, pair, quant)

    def test_step(self, data):
        inputs, kinds = data
        return self._track(*self.objective(inputs, kinds, training=False))

    def _track(self, loss, pair, quant):
        self.loss_tracker.update_state(loss)
        self.pair_tracker.update_state(pair)
        self.quant_tracker.update_state(quant)
        return {m.name: m.result() for m in self.metrics}

    @property
    def metrics(self):
        return [self.loss_tracker, self.pair_tracker, self.quant_tracker]

    def compile(self, optimizer=None, learning_rate: float = 0.01, **kwargs):
        """Compile with :class:`RowAdam` by default (the loss is built in; pass no ``loss``)."""
        super().compile(optimizer=optimizer or RowAdam(learning_rate), **kwargs)

    def hash(self, *args, **kwargs) -> np.ndarray:
        """Packed sign bits of :meth:`encode`: uint8 (n, L, ceil(d / 8)), bit = 1[u > 0]."""
        from .index import pack_codes
        return pack_codes(self.encode(*args, **kwargs))

    def get_config(self) -> dict:
        config = super().get_config()
        loss = self.pair_loss.get_config()
        config.update(dim=self.dim, contexts=self.contexts, similarity=loss["similarity"],
                      k=loss["k"], beta=loss["beta"], beta_on=loss["beta_on"],
                      quantization=self.quantization,
                      quantization_weight=self.quantization_weight, dropout=self.dropout,
                      gamma=loss["gamma"], alpha=loss["alpha"], seed=self.seed)
        return config


@keras.saving.register_keras_serializable(package="lse")
class EmbeddingHasher(PairHashModel):
    """Free embedding table: item i -> tanh(W[i]) with W of shape (n_items, L, d).

    Inputs are int pairs (batch, 2) of item ids. ``init_scale`` is the half-width of the uniform
    initialisation of W (pre-tanh).
    """

    def __init__(self, n_items: int, dim: int = 32, contexts: int = 1, init_scale: float = 1.0,
                 **kwargs):
        super().__init__(dim=dim, contexts=contexts, **kwargs)
        self.n_items = check_int(n_items, "n_items", 1)
        self.init_scale = check_number(init_scale, "init_scale", positive=True)
        self.table = self.add_weight(
            shape=(self.n_items, self.contexts, self.dim), name="embeddings",
            initializer=keras.initializers.RandomUniform(-self.init_scale, self.init_scale,
                                                         seed=self.seed))

    def embed_pair(self, inputs, training=False):
        ids, position, _, _ = unique_rows(inputs)
        rows = tf.tanh(tf.gather(self.table.value, ids))  # each distinct row once
        return tf.gather(rows, position[:, 0]), tf.gather(rows, position[:, 1])

    def compile(self, optimizer=None, learning_rate: float = 0.01, jit_compile="auto",
                **kwargs):
        """As :meth:`PairHashModel.compile`; the step compiles its own fixed-shape XLA blocks
        (:mod:`lse.table_step`), so the step as a whole is never XLA-compiled: XLA cannot hold
        the per-batch dedupe (``tf.unique``), and would copy the whole table at every row
        update."""
        if jit_compile not in ("auto", False):
            raise LSEError("EmbeddingHasher's train step cannot be compiled with XLA as a "
                           "whole (it already XLA-compiles its dense parts); leave "
                           "jit_compile at 'auto' or False")
        super().compile(optimizer, learning_rate, jit_compile=False, **kwargs)

    def _dropout_keep(self, batch):
        """As :meth:`PairHashModel._dropout_keep`, drawn by :func:`lse.dropout.dropout_keep`
        (a counter-based hash that the fast step's pair block computes itself, fused; the
        generic step draws the same bits)."""
        key = self._dropout_key()
        return None if key is None else key.keep(batch, self.dim, self.compute_dtype)

    def _dropout_key(self):
        """:class:`lse.dropout.DropoutKey` of this step's mask, or None without dropout."""
        if self.dropout == 0.0:
            return None
        return DropoutKey(self.seed, tf.cast(self.optimizer.iterations, tf.int64), self.dropout)

    def make_train_function(self, force=False):
        """Keras's, then (once, before the first step touches them) the table and the
        optimizer's tables of the same shape are backed by huge pages (:mod:`lse.hugepages`:
        fewer TLB misses in the step's random row reads and writes)."""
        function = super().make_train_function(force)
        if not getattr(self, "_huge_pages_asked", False) and self.optimizer is not None:
            self._huge_pages_asked = True
            if not self.optimizer.built:  # else its slots appear in the first traced step
                with self.distribute_strategy.scope():
                    self.optimizer.build(self.trainable_variables)
            shape = tuple(self.table.shape)
            slots = self.optimizer.variables
            for variable in [self.table] + [v for v in slots if tuple(v.shape) == shape]:
                advise_variable(variable)
        return function

    def train_step(self, data):
        """The generic step's loss and gradient at O(batch) cost (see :mod:`lse.table_step`):
        distinct rows gathered once, the pair loss's gradient by hand on the winning contexts,
        fused XLA blocks, and one summed gradient row per distinct table row handed to the
        optimizer."""
        pairs, kinds = data
        ids, position, counts, n = unique_rows(pairs)
        rows = tf.gather(self.table.value, ids)
        embeddings = tf.tanh(rows)
        # the pair block draws the dropout mask itself, fused (no mask tensor in memory)
        pair, pair_grad = pair_loss_and_gradient(self.pair_loss, embeddings, position, kinds,
                                                 self._dropout_key())
        # quantization: the mean over both halves of every pair, as in the generic step
        weights = tf.cast(counts, embeddings.dtype) / tf.cast(tf.size(position),
                                                             embeddings.dtype)
        scale = 2.0 * self.quantization_weight * tf.cast(self.quantization_ramp,
                                                         embeddings.dtype)
        quant, grad = row_gradient(self.quantization_loss, embeddings, pair_grad, weights,
                                   scale)
        loss = pair + scale * quant
        # a static dense_shape: tf.shape(variable) would read (copy) the whole table
        shape = tf.constant(list(self.table.shape), ids.dtype)
        if isinstance(self.optimizer, RowAdam):
            self.optimizer.apply_unique([tf.IndexedSlices(grad, ids, shape)], [self.table],
                                        valid_rows=n, current=[rows])
        else:
            self.optimizer.apply([tf.IndexedSlices(grad[:n], ids[:n], shape)], [self.table])
        return self._track(loss, pair, quant)

    def encode(self, ids=None) -> np.ndarray:
        """Dense tanh embeddings (n, L, d) of ``ids`` (default: every item)."""
        table = self.table.numpy()
        if ids is not None:
            ids = np.asarray(ids)
            if ids.size and (ids.min() < 0 or ids.max() >= self.n_items):
                raise LSEError(f"item ids must be in [0, {self.n_items}) "
                               f"(got {ids.min()}..{ids.max()})")
            table = table[ids]
        return np.tanh(table)

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(n_items=self.n_items, init_scale=self.init_scale)
        return config


def _encode_rows(tower, features, width: int, side: str, batch_size: int, contexts: int,
                 dim: int) -> np.ndarray:
    """Run ``tower`` over feature rows a batch at a time; sparse rows stay sparse."""
    import scipy.sparse as sp

    from .features import sparse_batch

    if sp.issparse(features):
        features = sp.csr_matrix(features, dtype=np.float32)
        features.sort_indices()
        batch = sparse_batch
    else:
        features = np.asarray(features, dtype=np.float32)
        batch = None
    if features.ndim != 2 or features.shape[1] != width:
        raise LSEError(f"{side} features must have shape (n, {width}) "
                       f"(got {features.shape})")
    out = []
    for s in range(0, features.shape[0], batch_size):
        rows = features[s:s + batch_size]
        out.append(tower(batch(rows) if batch else rows, training=False).numpy())
    return np.concatenate(out) if out else np.zeros((0, contexts, dim), np.float32)


def _per_pair(tower, x, training: bool):
    """``tower`` applied to the feature rows of a batch's pairs.

    ``x`` is one row per pair, or ``(rows, position)`` as :meth:`lse.features.FeatureTable.
    distinct_rows` gives it: the tower then runs once per distinct row and its output is
    gathered back to the pairs (gradients of repeated rows add up in the gather's gradient, as
    they would across repeated rows)."""
    if isinstance(x, (tuple, list)):
        rows, position = x
        return tf.gather(tower(rows, training=training), position)
    return tower(x, training=training)


def _tower(input_dim: int, hidden: tuple[int, ...], dim: int, contexts: int, activation: str,
           name: str, seed: int) -> keras.Sequential:
    layers = [keras.Input((input_dim,))]
    for width in hidden:
        layers.append(keras.layers.Dense(
            width, activation=activation,
            kernel_initializer=keras.initializers.GlorotUniform(seed=seed)))
    layers.append(keras.layers.Dense(dim * contexts, activation="tanh",
                                     kernel_initializer=keras.initializers.GlorotUniform(seed=seed)))
    layers.append(keras.layers.Reshape((contexts, dim)))
    return keras.Sequential(layers, name=name)


@keras.saving.register_keras_serializable(package="lse")
class TwoTowerHasher(PairHashModel):
    """MLP towers on feature vectors: inputs are ``(x_left, x_right)`` feature batches (each
    one row per pair, or distinct rows with the pairs' positions, see :func:`_per_pair`).

    Args:
        input_dim: feature width of the left items (and of the right ones when
            ``right_input_dim`` is None).
        right_input_dim: feature width of the right items; giving it (or ``shared=False``)
            builds a separate right tower.
        hidden: hidden layer widths.
        shared: one tower for both sides (item-to-item retrieval).
    """

    def __init__(self, input_dim: int, dim: int = 32, hidden=(256,), shared: bool = True,
                 right_input_dim: int | None = None, activation: str = "relu", contexts: int = 1,
                 **kwargs):
        super().__init__(dim=dim, contexts=contexts, **kwargs)
        if right_input_dim is not None and right_input_dim != input_dim and shared:
            raise LSEError("shared towers need the same input width on both sides "
                           f"({input_dim} != {right_input_dim}); pass shared=False")
        self.input_dim, self.hidden = int(input_dim), tuple(int(h) for h in hidden)
        self.shared, self.activation = bool(shared), activation
        self.right_input_dim = int(right_input_dim or input_dim)
        self.left_tower = _tower(self.input_dim, self.hidden, self.dim, self.contexts, activation,
                                 "left_tower", self.seed)
        self.right_tower = self.left_tower if self.shared else _tower(
            self.right_input_dim, self.hidden, self.dim, self.contexts, activation,
            "right_tower", self.seed + 1)

    def embed_pair(self, inputs, training=False):
        x_left, x_right = inputs
        return (_per_pair(self.left_tower, x_left, training),
                _per_pair(self.right_tower, x_right, training))

    def encode(self, features, side: str = "left", batch_size: int = 4096) -> np.ndarray:
        """Dense tanh embeddings (n, L, d) of feature rows (dense, or scipy sparse fed batch by
        batch as ``tf.SparseTensor``), through the left or right tower."""
        tower = self.left_tower if side == "left" else self.right_tower
        width = self.input_dim if side == "left" else self.right_input_dim
        return _encode_rows(tower, features, width, side, batch_size, self.contexts, self.dim)

    def build(self, input_shape=None):
        self.built = True

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(input_dim=self.input_dim, hidden=list(self.hidden), shared=self.shared,
                      right_input_dim=self.right_input_dim, activation=self.activation)
        return config


@keras.saving.register_keras_serializable(package="lse")
class InstanceLabelHasher(PairHashModel):
    """An MLP instance tower against a free label-embedding table (extreme multi-label).

    Inputs are ``(x, label_ids)``: a batch of instance feature rows (dense, or a
    ``tf.SparseTensor`` for bag-of-words; or distinct rows with the pairs' positions, see
    :func:`_per_pair`) and the int ids of the labels they are paired with.
    A label is ``tanh(W[l])`` as in :class:`EmbeddingHasher`, so its gradient is sparse and
    :class:`lse.optimizers.RowAdam` touches only the labels in the batch. (For labels described
    by features, use :class:`TwoTowerHasher` with ``shared=False``.)

    Args:
        input_dim: instance feature width.
        n_labels: size of the label table.
        hidden, activation: instance tower MLP.
        init_scale: half-width of the uniform initialisation of the label table (pre-tanh).
    """

    def __init__(self, input_dim: int, n_labels: int, dim: int = 32, hidden=(256,),
                 activation: str = "relu", contexts: int = 1, init_scale: float = 0.1,
                 **kwargs):
        super().__init__(dim=dim, contexts=contexts, **kwargs)
        self.input_dim = check_int(input_dim, "input_dim", 1)
        self.n_labels = check_int(n_labels, "n_labels", 1)
        self.hidden = tuple(check_int(h, "hidden width", 1) for h in hidden)
        self.activation = activation
        self.init_scale = check_number(init_scale, "init_scale", positive=True)
        self.instance_tower = _tower(self.input_dim, self.hidden, self.dim, self.contexts,
                                     activation, "instance_tower", self.seed)
        self.label_table = self.add_weight(
            shape=(self.n_labels, self.contexts, self.dim), name="label_embeddings",
            initializer=keras.initializers.RandomUniform(-self.init_scale, self.init_scale,
                                                         seed=self.seed + 1))

    def embed_pair(self, inputs, training=False):
        x, labels = inputs
        u = _per_pair(self.instance_tower, x, training)
        v = tf.tanh(tf.gather(self.label_table.value, tf.cast(labels, tf.int32)))
        return u, v

    def encode(self, features=None, side: str = "left", batch_size: int = 4096) -> np.ndarray:
        """Dense tanh embeddings (n, L, d): of instance feature rows (``side="left"``), or of
        label ids (``side="right"``; ``features`` = the ids, default every label)."""
        if side == "right":
            table = np.tanh(self.label_table.numpy())
            if features is None:
                return table
            ids = np.asarray(features)
            if ids.size and (ids.min() < 0 or ids.max() >= self.n_labels):
                raise LSEError(f"label ids must be in [0, {self.n_labels})")
            return table[ids]
        return _encode_rows(self.instance_tower, features, self.input_dim, side, batch_size,
                            self.contexts, self.dim)

    def build(self, input_shape=None):
        self.built = True

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(input_dim=self.input_dim, n_labels=self.n_labels, hidden=list(self.hidden),
                      activation=self.activation, init_scale=self.init_scale)
        return config
