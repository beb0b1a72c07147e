"""The O(batch) training step of an embedding table (:class:`lse.models.EmbeddingHasher`).

The generic step (:meth:`lse.models.PairHashModel.train_step`) gathers ``2 x batch`` rows, lets
autodiff differentiate the max-cosine of every (l, m) context pair and the quantization penalty
of every gathered row, and leaves it to the optimizer to merge the repeated rows of the sparse
gradient. At the paper's shape (32768 pairs, L = 3, d = 32) that is ~60 passes over
(65536, 3, 32) tensors, several of them slow transcendental kernels. This step computes the
same loss and the same gradient (to float rounding) with far fewer:

1. the ``2 x batch`` ids are deduplicated once (:func:`unique_rows`: ``tf.unique_with_counts``,
   a hash table, measured faster than a sort for 65K int32 ids on CPU); each distinct row is
   gathered, passed through tanh and quantization-penalised once, the penalty weighted by the
   row's count so that its value is the per-pair mean of the generic step;
2. :func:`pair_loss_and_gradient` computes the pair loss *and its gradient* in one pass:
   ``max_{l,m} cos`` only depends on the winning context pair, so the backward work is on
   (batch, d) vectors, summed straight into the distinct rows;
3. :func:`row_gradient` adds the quantization penalty's gradient (for DHN's log-cosh in closed
   form: ``d/de log cosh(|e| - 1) = tanh(e - sign(e))``) and the tanh derivative;
4. the optimizer receives one gradient row per distinct table row, already summed, so
   :class:`lse.optimizers.RowAdam` skips its own merge (:meth:`RowAdam.apply_unique`).

The dense math of 2 and 3 (and RowAdam's row update) runs as XLA clusters, which fuse dozens of
elementwise kernels into a few loops; XLA's CPU scatter-add is also ~5x faster than
``unsorted_segment_sum``. XLA compiles one program per input shape, so shapes are kept fixed:
the pair block sees (batch, ...) tensors, and the row blocks see the distinct rows padded to a
multiple of ``2 x batch / 32`` (:func:`unique_rows`; at most 32 programs, in practice one or
two: the number of distinct ids of a batch varies little; the padding repeats row 0 with
weight 0 and is never written back, and costs <= 3% of the row work, against 9% with steps
of ``2 x batch / 8`` at V = 660K where ~60,000 of the 65,536 ids are distinct). Row gathers
and scatters stay TensorFlow kernels; the tables they hit are backed by huge pages
(:mod:`lse.hugepages`).

Dropout is the shared mask of the generic step: ``keep / (1 - rate)`` on both sides and all
contexts. The ``1 / (1 - rate)`` scale cancels in a cosine (value and gradient), so only the
0/1 ``keep`` pattern is applied here, drawn inside the pair block (:mod:`lse.dropout`: a
counter-based hash, the same bits as the generic step's mask).

Differences from the generic step, all of measure zero: on an exact tie between context pairs
the first one takes the whole gradient (autodiff of ``reduce_max`` splits it); an embedding
coordinate exactly 0.0 gets log-cosh penalty 0 instead of ``log cosh(1)`` (a tanh output is
0.0 only for a table entry of exactly 0).
"""
from __future__ import annotations

import functools
import weakref

import tensorflow as tf

from .dropout import DropoutKey
from .similarities import NORM_EPS


def unique_rows(pairs, buckets: int = 32):
    """``(ids, position, counts, n)`` of an int (batch, 2) pair batch: its ``n`` distinct ids,
    where each pair's ids sit among them (``position``, shape (batch, 2)) and how often each
    occurs. ``ids`` and ``counts`` are padded (with id 0, count 0) to the next multiple of
    ``ceil(2 batch / buckets)``, so that they take at most ``buckets`` distinct lengths."""
    flat = tf.reshape(tf.cast(pairs, tf.int32), [-1])
    ids, position, counts = tf.unique_with_counts(flat)
    n = tf.shape(ids)[0]
    total = flat.shape[0] if flat.shape[0] is not None else tf.size(flat)
    step = -(-total // buckets)
    padded = tf.minimum(-(-n // step) * step, total)
    ids = tf.pad(ids, [[0, padded - n]])
    counts = tf.pad(counts, [[0, padded - n]])
    return ids, tf.reshape(position, tf.shape(pairs)), counts, n


def _pair_block(pair_loss, u, v, keep, kinds, left, right):
    """XLA body of :func:`pair_loss_and_gradient`: loss, (2 batch L, d) padded gradient."""
    batch, contexts, dim = u.shape
    if isinstance(keep, DropoutKey):
        keep = keep.keep(batch, dim, u.dtype)
    if keep is not None:
        u, v = u * keep, v * keep
    norm_u = tf.sqrt(tf.reduce_sum(u * u, axis=-1))  # (batch, L)
    norm_v = tf.sqrt(tf.reduce_sum(v * v, axis=-1))
    floor_u = tf.maximum(norm_u, NORM_EPS)
    floor_v = tf.maximum(norm_v, NORM_EPS)
    dots = tf.reduce_sum(u[:, :, None, :] * v[:, None, :, :], axis=-1)  # (batch, L, L)
    cosines = tf.reshape(dots / (floor_u[:, :, None] * floor_v[:, None, :]),
                         [batch, contexts * contexts])
    best = tf.argmax(cosines, axis=1, output_type=tf.int32)
    c = tf.reduce_max(cosines, axis=1)
    with tf.GradientTape() as tape:
        tape.watch(c)
        loss = pair_loss(kinds, c)
    upstream = tape.gradient(loss, c)
    # the winning contexts' vectors and norms, by one-hot sums (XLA fuses them; its
    # batch_dims gather is slower)
    l, m = best // contexts, best % contexts
    pick_l = tf.one_hot(l, contexts, dtype=u.dtype)
    pick_m = tf.one_hot(m, contexts, dtype=u.dtype)
    a = tf.reduce_sum(u * pick_l[:, :, None], axis=1)  # (batch, d)
    b = tf.reduce_sum(v * pick_m[:, :, None], axis=1)
    norm_a, norm_b = tf.reduce_sum(norm_u * pick_l, axis=1), tf.reduce_sum(norm_v * pick_m, axis=1)
    na, nb = tf.maximum(norm_a, NORM_EPS), tf.maximum(norm_b, NORM_EPS)
    # d c / d a = b / (|a| |b|) - c a / |a|^2; the second term vanishes where the norm is
    # floored, as in autodiff of tf.maximum
    scale = upstream / (na * nb)
    shrink_a = tf.where(norm_a > NORM_EPS, upstream * c / (na * na), 0.0)
    shrink_b = tf.where(norm_b > NORM_EPS, upstream * c / (nb * nb), 0.0)
    grad_a = scale[:, None] * b - shrink_a[:, None] * a
    grad_b = scale[:, None] * a - shrink_b[:, None] * b
    if keep is not None:
        grad_a, grad_b = grad_a * keep[:, 0], grad_b * keep[:, 0]
    segments = tf.concat([left * contexts + l, right * contexts + m], axis=0)
    grad = tf.math.unsorted_segment_sum(tf.concat([grad_a, grad_b], axis=0), segments,
                                        2 * batch * contexts)
    return loss, grad


_BLOCKS = weakref.WeakKeyDictionary()  # loss object -> its compiled XLA block


def _compiled(owner, body):
    block = _BLOCKS.get(owner)
    if block is None:
        block = _BLOCKS[owner] = tf.function(functools.partial(body, owner), jit_compile=True,
                                             autograph=False)
    return block


def pair_loss_and_gradient(pair_loss, embeddings, position, kinds, keep=None):
    """``pair_loss(kinds, c)`` with ``c = max_{l,m} cos(u^l, v^m)``, u and v read from
    ``embeddings`` (U, L, d) at ``position[:, 0]`` and ``position[:, 1]`` and both masked by
    ``keep`` (batch, 1, d) when given; and its gradient with respect to ``embeddings``.
    ``keep`` may also be a :class:`lse.dropout.DropoutKey`: the fused block then draws that
    mask itself.

    Equal to :class:`lse.losses.PairLoss` of :func:`lse.similarities.max_cosine` on the
    gathered (and masked) vectors, norms floored at ``NORM_EPS`` likewise.
    """
    left, right = position[:, 0], position[:, 1]
    u, v = tf.gather(embeddings, left), tf.gather(embeddings, right)
    loss, padded = _compiled(pair_loss, _pair_block)(u, v, keep, kinds, left, right)
    # rows beyond U x L of the padded scatter are zero; slicing the first dim is a view
    grad = tf.reshape(padded[:tf.shape(embeddings)[0] * embeddings.shape[1]],
                      tf.shape(embeddings))
    return loss, grad


def _row_block(quantization_loss, embeddings, pair_grad, weights, quant_scale):
    """XLA body of :func:`row_gradient`."""
    if quantization_loss.kind == "logcosh":
        # y = e - sign(e), |y| = 1 - |e|: log cosh y = -log(1 - tanh(y)^2) / 2, derivative
        # tanh(y): value and gradient share one tanh. The value is a sum of logs of products
        # of up to 64 factors 1 - tanh(y)^2: one log per 64 coordinates instead of one log1p
        # per coordinate (a third of the block's time). No underflow: |y| <= 1, so every
        # factor is >= 1 - tanh(1)^2 = 0.42 and a product of 64 is >= 1e-24; rounding
        # 1 - tanh(y)^2 costs <= 6e-8 per coordinate, below the float32 noise of the sum.
        _, contexts, dim = embeddings.shape
        per_coordinate = 1.0 / (contexts * dim)
        slope = tf.tanh(embeddings - tf.sign(embeddings))
        chunk = max(c for c in range(1, min(dim, 64) + 1) if dim % c == 0)
        factors = tf.reshape(1.0 - tf.square(slope), [-1, contexts, dim // chunk, chunk])
        per_row = tf.reduce_sum(tf.math.log(tf.reduce_prod(factors, axis=3)), axis=[1, 2])
        quant = tf.reduce_sum(weights * per_row) * (-0.5 * per_coordinate)
        quant_grad = slope * (weights * per_coordinate)[:, None, None]
    else:
        with tf.GradientTape() as tape:
            tape.watch(embeddings)
            quant = tf.reduce_sum(weights * quantization_loss.call(None, embeddings))
        quant_grad = tape.gradient(quant, embeddings,
                                   unconnected_gradients=tf.UnconnectedGradients.ZERO)
    grad = (pair_grad + quant_scale * quant_grad) * (1.0 - tf.square(embeddings))
    return quant, grad


def row_gradient(quantization_loss, embeddings, pair_grad, weights, quant_scale):
    """``(quant, grad)``: the quantization penalty ``sum_r weights[r] q(e_r)`` of the tanh
    embeddings (U, L, d) and the gradient, with respect to the pre-tanh rows, of
    ``pair + quant_scale * quant`` given ``pair_grad``, the pair loss's gradient with respect
    to the embeddings."""
    return _compiled(quantization_loss, _row_block)(embeddings, pair_grad, weights,
                                                      quant_scale)
