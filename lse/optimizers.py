"""Row-wise (lazy) Adam for embedding tables.

Why not ``keras.optimizers.Adam``: on an embedding table its TF implementation densifies the
sparse gradient, so every step rewrites the WHOLE table (O(vocabulary) instead of O(batch)),
and a row that occurs several times in a batch is treated as several gradients instead of one
summed gradient. :class:`RowAdam` fixes both for ``tf.IndexedSlices`` gradients:

1. duplicate row indices are merged by *summing* their gradients (sort + segment-sum, which is
   much faster than ``tf.unique`` on CPU), so a repeated row gets exactly the update of its
   summed gradient, as dense Adam on the same loss would compute;
2. only those rows of the parameter and of the two moment slots are read and written
   ("lazy" Adam: rows absent from a batch keep their moments, as in TF-Addons' LazyAdam);
3. a caller that has already merged the rows (:class:`lse.models.EmbeddingHasher`'s step)
   uses :meth:`RowAdam.apply_unique`, which skips the merge.

Dense gradients (e.g. the MLP weights of a two-tower model) get plain Adam, so one optimizer
serves every model in the package.
"""
from __future__ import annotations

import keras
import tensorflow as tf


def merge_duplicate_rows(indices, values):
    """Sum the rows of ``values`` that share an index. Returns (unique_indices, summed_values)."""
    indices = tf.cast(indices, tf.int64)
    order = tf.argsort(indices, stable=True)
    sorted_idx = tf.gather(indices, order)
    is_new = tf.concat([[True], sorted_idx[1:] != sorted_idx[:-1]], axis=0)
    segment = tf.cumsum(tf.cast(is_new, tf.int64)) - 1
    unique = tf.boolean_mask(sorted_idx, is_new)
    summed = tf.math.segment_sum(tf.gather(values, order), segment)
    return unique, summed


def _tf_variable(variable):
    return variable.value if isinstance(variable, keras.Variable) else variable


@keras.saving.register_keras_serializable(package="lse")
class RowAdam(keras.optimizers.Adam):
    """Adam whose sparse updates touch only the rows present in the batch (see module doc)."""

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7,
                 name="row_adam", **kwargs):
        kwargs.pop("amsgrad", None)
        super().__init__(learning_rate=learning_rate, beta_1=beta_1, beta_2=beta_2,
                         epsilon=epsilon, amsgrad=False, name=name, **kwargs)
        self._distinct_rows, self._valid_rows, self._current = False, None, {}

    def apply_unique(self, grads, trainable_variables=None, valid_rows=None, current=None):
        """:meth:`apply` for ``tf.IndexedSlices`` gradients whose indices are already distinct
        (each row's gradient already summed): skips the merge. The caller guarantees it.

        ``valid_rows``: only the first ``valid_rows`` slices are real; the rest is padding (any
        valid index, never written back) that keeps the number of slices in a few fixed sizes,
        so that the row update runs as one XLA program per size.
        ``current``: per variable, its rows at the gradient's indices if the caller has them
        already (saves a gather from the table), else None.
        """
        self._distinct_rows, self._valid_rows = True, valid_rows
        self._current = {id(_tf_variable(v)): rows
                         for v, rows in zip(trainable_variables or [], current or [])
                         if rows is not None}
        try:
            self.apply(grads, trainable_variables)
        finally:
            self._distinct_rows, self._valid_rows, self._current = False, None, {}

    def update_step(self, gradient, variable, learning_rate):
        if not isinstance(gradient, tf.IndexedSlices):
            return super().update_step(gradient, variable, learning_rate)
        dtype = variable.dtype
        step = tf.cast(self.iterations + 1, dtype)
        b1, b2 = tf.cast(self.beta_1, dtype), tf.cast(self.beta_2, dtype)
        alpha = tf.cast(learning_rate, dtype) * tf.sqrt(1 - tf.pow(b2, step)) / (1 - tf.pow(b1, step))
        epsilon = tf.cast(self.epsilon, dtype)
        index = self._get_variable_index(variable)
        m = _tf_variable(self._momentums[index])
        v = _tf_variable(self._velocities[index])
        table = _tf_variable(variable)
        if self._distinct_rows:
            rows, grad = gradient.indices, tf.cast(gradient.values, dtype)
        else:
            rows, grad = merge_duplicate_rows(gradient.indices, tf.cast(gradient.values, dtype))
        # gather - update - scatter_update (scatter_sub updates row by row in one thread,
        # ~2x slower on CPU)
        update = _adam_rows_xla if self._valid_rows is not None else _adam_rows
        current = self._current.get(id(table)) if self._distinct_rows else None
        if current is None:
            current = tf.gather(table, rows)
        new = update(current, tf.gather(m, rows), tf.gather(v, rows), grad, alpha, b1, b2,
                     epsilon)
        count = tf.shape(rows)[0] if self._valid_rows is None else self._valid_rows
        rows = rows[:count]
        for target, value in zip((table, m, v), new):
            target.scatter_update(tf.IndexedSlices(value[:count], rows))


def _adam_rows(param, m, v, grad, alpha, b1, b2, epsilon):
    """Adam on gathered rows: (new param, new m, new v)."""
    m = b1 * m + (1 - b1) * grad
    v = b2 * v + (1 - b2) * tf.square(grad)
    return param - alpha * m / (tf.sqrt(v) + epsilon), m, v


#: one fused loop; compiled per shape, so only for padded, fixed-size row sets
_adam_rows_xla = tf.function(_adam_rows, jit_compile=True, autograph=False)


def warmup_cosine(learning_rate: float, steps: int, warmup: float = 0.0):
    """Linear warm-up from 0 over the first ``warmup`` fraction of ``steps``, then cosine decay
    to 0: the first Adam steps (moments not yet estimated) are the ones that throw a tower
    far off at a high rate."""
    warm = int(round(warmup * steps))
    if warm <= 0:
        return keras.optimizers.schedules.CosineDecay(learning_rate, steps)
    return keras.optimizers.schedules.CosineDecay(0.0, max(steps - warm, 1), warmup_target=learning_rate,
                                                  warmup_steps=warm)
