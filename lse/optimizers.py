"""Row-wise (lazy) Adam for embedding tables.

Why not ``keras.optimizers.Adam``: on an embedding table its TF implementation densifies the
sparse gradient, so every step rewrites the WHOLE table (O(vocabulary) instead of O(batch)),
and a row that occurs several times in a batch is treated as several gradients instead of one
summed gradient. :class:`RowAdam` fixes both for ``tf.IndexedSlices`` gradients:

1. duplicate row indices are merged by *summing* their gradients (sort + segment-sum, which is
   much faster than ``tf.unique`` on CPU), so a repeated row gets exactly the update of its
   summed gradient, as dense Adam on the same loss would compute;
2. only those rows of the parameter and of the two moment slots are read and written
   ("lazy" Adam: rows absent from a batch keep their moments, as in TF-Addons' LazyAdam).

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

    def update_step(self, gradient, variable, learning_rate):
        if not isinstance(gradient, tf.IndexedSlices):
            return super().update_step(gradient, variable, learning_rate)
        dtype = variable.dtype
        step = tf.cast(self.iterations + 1, dtype)
        b1, b2 = tf.cast(self.beta_1, dtype), tf.cast(self.beta_2, dtype)
        alpha = tf.cast(learning_rate, dtype) * tf.sqrt(1 - tf.pow(b2, step)) / (1 - tf.pow(b1, step))
        index = self._get_variable_index(variable)
        m = _tf_variable(self._momentums[index])
        v = _tf_variable(self._velocities[index])
        rows, grad = merge_duplicate_rows(gradient.indices, tf.cast(gradient.values, dtype))
        m_rows = b1 * tf.gather(m, rows) + (1 - b1) * grad
        v_rows = b2 * tf.gather(v, rows) + (1 - b2) * tf.square(grad)
        m.scatter_update(tf.IndexedSlices(m_rows, rows))
        v.scatter_update(tf.IndexedSlices(v_rows, rows))
        step_rows = alpha * m_rows / (tf.sqrt(v_rows) + tf.cast(self.epsilon, dtype))
        _tf_variable(variable).scatter_sub(tf.IndexedSlices(step_rows, rows))
