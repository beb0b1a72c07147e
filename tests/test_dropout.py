"""lse.dropout: the shared mask's keep pattern (counter-based hash)."""
import numpy as np
import tensorflow as tf

from lse.dropout import DropoutKey, dropout_keep


def test_keep_rate_independence_and_repeatability():
    keep = dropout_keep(3, 7, 4096, 32, 0.1).numpy()
    assert keep.shape == (4096, 1, 32) and set(np.unique(keep)) == {0.0, 1.0}
    assert abs(keep.mean() - 0.9) < 0.003  # 131K draws: sd 0.0008
    flat = keep.ravel()
    assert abs(np.corrcoef(flat[:-1], flat[1:])[0, 1]) < 0.01  # neighbours
    np.testing.assert_array_equal(dropout_keep(3, 7, 4096, 32, 0.1).numpy(), keep)
    for other in (dropout_keep(3, 8, 4096, 32, 0.1), dropout_keep(4, 7, 4096, 32, 0.1)):
        other = other.numpy().ravel()
        assert abs(np.corrcoef(flat, other)[0, 1]) < 0.02  # next step, other seed
    assert dropout_keep(0, 0, 64, 8, 0.0).numpy().min() == 1.0
    assert dropout_keep(0, 0, 64, 8, 0.5).numpy().mean() < 0.6


def test_xla_and_plain_tensorflow_draw_the_same_bits():
    key = DropoutKey(5, tf.constant(11, tf.int64), 0.3)
    plain = key.keep(tf.constant(1000), 24)
    fused = tf.function(lambda step: DropoutKey(5, step, 0.3).keep(1000, 24),
                        jit_compile=True)(tf.constant(11, tf.int64))
    np.testing.assert_array_equal(plain.numpy(), fused.numpy())
