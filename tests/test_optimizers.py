import numpy as np
import pytest
import keras
import tensorflow as tf

from lse.optimizers import RowAdam, merge_duplicate_rows


def numpy_lazy_adam(table, steps, lr=0.01, b1=0.9, b2=0.999, eps=1e-7):
    """Reference: per step, sum the gradients of repeated rows, then Adam on those rows only."""
    table = table.copy()
    m, v = np.zeros_like(table), np.zeros_like(table)
    for t, (idx, grads) in enumerate(steps, start=1):
        summed = {}
        for i, g in zip(idx, grads):
            summed[i] = summed.get(i, 0) + g
        alpha = lr * np.sqrt(1 - b2 ** t) / (1 - b1 ** t)
        for i, g in summed.items():
            m[i] = b1 * m[i] + (1 - b1) * g
            v[i] = b2 * v[i] + (1 - b2) * g * g
            table[i] -= alpha * m[i] / (np.sqrt(v[i]) + eps)
    return table


def test_merge_duplicate_rows_sums_repeats():
    idx = tf.constant([3, 1, 3, 0, 1, 3])
    vals = tf.constant(np.arange(12, dtype=np.float32).reshape(6, 2))
    rows, summed = merge_duplicate_rows(idx, vals)
    np.testing.assert_array_equal(rows.numpy(), [0, 1, 3])
    np.testing.assert_allclose(summed.numpy(), [[6, 7], [2 + 8, 3 + 9], [0 + 4 + 10, 1 + 5 + 11]])


def test_repeated_rows_match_numpy_reference_and_untouched_rows_stay():
    rng = np.random.default_rng(0)
    init = rng.normal(size=(20, 3)).astype(np.float32)
    steps = []
    for _ in range(5):
        idx = rng.integers(0, 8, 12)  # rows 8..19 never appear; many repeats
        steps.append((idx, rng.normal(size=(12, 3)).astype(np.float32)))
    var = keras.Variable(init)
    opt = RowAdam(learning_rate=0.01)
    opt.build([var])
    for idx, grads in steps:
        opt.apply([tf.IndexedSlices(tf.constant(grads), tf.constant(idx))], [var])
    expected = numpy_lazy_adam(init, steps)
    np.testing.assert_allclose(var.numpy(), expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(var.numpy()[8:], init[8:])


def test_sparse_update_equals_dense_adam_on_the_summed_gradient():
    """One step where every row is present: lazy and dense Adam coincide."""
    rng = np.random.default_rng(1)
    init = rng.normal(size=(4, 2)).astype(np.float32)
    idx = np.array([0, 1, 2, 3, 2, 2, 0])
    grads = rng.normal(size=(7, 2)).astype(np.float32)
    dense_grad = np.zeros_like(init)
    np.add.at(dense_grad, idx, grads)
    a, b = keras.Variable(init), keras.Variable(init)
    RowAdam(0.05).apply([tf.IndexedSlices(tf.constant(grads), tf.constant(idx))], [a])
    keras.optimizers.Adam(0.05).apply([tf.constant(dense_grad)], [b])
    np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-5, atol=1e-6)


def test_dense_gradients_get_plain_adam():
    rng = np.random.default_rng(2)
    init = rng.normal(size=(3, 3)).astype(np.float32)
    a, b = keras.Variable(init), keras.Variable(init)
    opt_a, opt_b = RowAdam(0.1), keras.optimizers.Adam(0.1)
    for _ in range(3):
        g = tf.constant(rng.normal(size=(3, 3)).astype(np.float32))
        opt_a.apply([g], [a])
        opt_b.apply([g], [b])
    np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-6)


def test_config_round_trip():
    opt = RowAdam(learning_rate=0.02, beta_1=0.8)
    clone = RowAdam.from_config(opt.get_config())
    assert clone.beta_1 == 0.8
    assert float(clone.learning_rate) == pytest.approx(0.02)
