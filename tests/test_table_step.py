"""The O(batch) embedding-table step (lse.table_step) against autodiff of the generic step."""
import numpy as np
import pytest
import keras
import tensorflow as tf

from lse.losses import PairLoss, QuantizationLoss
from lse.models import EmbeddingHasher, PairHashModel
from lse.optimizers import RowAdam
from lse.similarities import max_cosine
from lse.table_step import pair_loss_and_gradient, row_gradient, unique_rows


def test_unique_rows_pads_to_fixed_sizes_and_maps_back():
    rng = np.random.default_rng(0)
    pairs = rng.integers(0, 40, (32, 2)).astype(np.int32)
    ids, position, counts, n = (t.numpy() for t in unique_rows(pairs, buckets=8))
    assert n == len(np.unique(pairs))
    assert len(ids) % 8 == 0 and n <= len(ids) < n + 8  # 64 ids, steps of 8
    np.testing.assert_array_equal(ids[position], pairs)
    assert np.all(ids[n:] == 0) and np.all(counts[n:] == 0)
    np.testing.assert_array_equal(counts[:n], [np.sum(pairs == i) for i in ids[:n]])


@pytest.mark.parametrize("similarity, contexts, dropout", [("lse", 3, 0.2), ("dch", 1, 0.0),
                                                           ("cos", 2, 0.0), ("dhn", 3, 0.5)])
def test_pair_loss_and_gradient_match_autodiff(similarity, contexts, dropout):
    rng = np.random.default_rng(1)
    emb = tf.constant(np.tanh(rng.normal(size=(12, contexts, 6))).astype(np.float32))
    position = tf.constant(rng.integers(0, 12, (50, 2)).astype(np.int32))
    kinds = tf.constant(rng.integers(0, 3, 50).astype(np.int8))
    keep = (tf.constant((rng.random((50, 1, 6)) >= dropout).astype(np.float32))
            if dropout else None)
    loss_fn = PairLoss(similarity, k=3.0, beta=0.7, dims=6)
    loss, grad = pair_loss_and_gradient(loss_fn, emb, position, kinds, keep)
    with tf.GradientTape() as tape:
        tape.watch(emb)
        u, v = tf.gather(emb, position[:, 0]), tf.gather(emb, position[:, 1])
        if keep is not None:  # the generic step's mask, scale included
            u, v = u * keep / (1 - dropout), v * keep / (1 - dropout)
        expected = loss_fn(kinds, max_cosine(u, v))
    np.testing.assert_allclose(loss.numpy(), expected.numpy(), rtol=1e-5)
    reference = tf.convert_to_tensor(tape.gradient(expected, emb))
    np.testing.assert_allclose(grad.numpy(), reference.numpy(), rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("kind", ["logcosh", "cauchy", "none"])
def test_row_gradient_matches_autodiff(kind):
    rng = np.random.default_rng(2)
    rows = tf.constant(rng.normal(size=(9, 3, 8)).astype(np.float32))
    pair_grad = tf.constant(rng.normal(size=(9, 3, 8)).astype(np.float32))
    weights = tf.constant(rng.random(9).astype(np.float32))
    quantization = QuantizationLoss(kind)
    quant, grad = row_gradient(quantization, tf.tanh(rows), pair_grad, weights,
                               tf.constant(0.3))
    with tf.GradientTape() as tape:
        tape.watch(rows)
        emb = tf.tanh(rows)
        expected = tf.reduce_sum(weights * quantization.call(None, emb))
        total = tf.reduce_sum(pair_grad * emb) + 0.3 * expected
    np.testing.assert_allclose(quant.numpy(), expected.numpy(), rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(grad.numpy(), tape.gradient(total, rows).numpy(), atol=1e-6)


@pytest.mark.parametrize("dim", [100, 128, 7])
def test_logcosh_value_by_products_has_no_underflow(dim):
    """The log-cosh value is summed as logs of products of up to 64 factors (chunks of 50,
    64 and 7 coordinates here); rows near 0 give the smallest factors, 1 - tanh(1)^2."""
    rng = np.random.default_rng(5)
    rows = rng.normal(scale=0.05, size=(6, 2, dim)).astype(np.float32)
    rows[0] = 0.0  # exactly 0: penalty 0 by the step's convention (measure zero otherwise)
    rows[1] = 3.0
    emb = tf.tanh(tf.constant(rows))
    weights = tf.constant(rng.random(6).astype(np.float32))
    quant, _ = row_gradient(QuantizationLoss("logcosh"), emb, tf.zeros_like(emb), weights,
                            tf.constant(0.3))
    expected = QuantizationLoss("logcosh").call(None, emb).numpy()
    expected[0] = 0.0
    np.testing.assert_allclose(quant.numpy(), np.sum(weights.numpy() * expected), rtol=1e-5)


def train_three_steps(fast: bool, optimizer, **kwargs):
    rng = np.random.default_rng(3)
    pairs = rng.integers(0, 30, (64, 2)).astype(np.int32)
    pairs[:5] = pairs[5]  # repeated pairs and rows
    kinds = rng.integers(0, 3, 64).astype(np.int8)
    model = EmbeddingHasher(30, 8, seed=1, quantization_weight=0.5, **kwargs)
    model.compile(optimizer=optimizer)
    model(pairs[:2])
    if not fast:
        model.train_step = lambda data: PairHashModel.train_step(model, data)
    history = model.fit(tf.data.Dataset.from_tensors((pairs, kinds)).repeat(3), epochs=1,
                        verbose=0, shuffle=False)
    return history.history["loss"][0], model.table.numpy()


@pytest.mark.parametrize("kwargs, optimizer", [
    ({"similarity": "lse", "contexts": 3, "dropout": 0.1}, RowAdam),
    ({"similarity": "lse", "contexts": 3, "dropout": 0.1}, keras.optimizers.Adam),
    ({"similarity": "dch", "contexts": 1, "dropout": 0.0}, RowAdam),
    ({"similarity": "cos", "contexts": 2, "dropout": 0.3, "quantization": "none"}, RowAdam),
    ({"similarity": "dhn", "contexts": 3, "dropout": 0.0}, RowAdam),
])
def test_fast_step_equals_the_generic_step(kwargs, optimizer):
    loss, table = train_three_steps(True, optimizer(0.05), **kwargs)
    ref_loss, ref_table = train_three_steps(False, optimizer(0.05), **kwargs)
    assert loss == pytest.approx(ref_loss, rel=1e-5)
    np.testing.assert_allclose(table, ref_table, atol=1e-5)


def test_apply_unique_with_padding_and_current_rows_equals_apply():
    rng = np.random.default_rng(4)
    init = rng.normal(size=(10, 2, 3)).astype(np.float32)
    rows = np.array([4, 1, 7, 0, 0, 0])  # 3 real rows, then padding (never written back)
    grads = rng.normal(size=(6, 2, 3)).astype(np.float32)
    a, b = keras.Variable(init), keras.Variable(init)
    opt_a, opt_b = RowAdam(0.1), RowAdam(0.1)
    for _ in range(2):
        opt_a.apply_unique([tf.IndexedSlices(tf.constant(grads), tf.constant(rows))], [a],
                           valid_rows=3, current=[tf.gather(a.value, rows)])
        opt_b.apply([tf.IndexedSlices(tf.constant(grads[:3]), tf.constant(rows[:3]))], [b])
    np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-6)
    np.testing.assert_array_equal(a.numpy()[[2, 3, 5, 6, 8, 9]], init[[2, 3, 5, 6, 8, 9]])


def test_whole_step_xla_is_refused_with_a_reason():
    from lse.errors import LSEError
    model = EmbeddingHasher(5, 4)
    with pytest.raises(LSEError, match="XLA"):
        model.compile(jit_compile=True)
    model.compile()
    assert model.jit_compile is False
