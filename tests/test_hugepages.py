"""lse.hugepages: huge pages for a variable's own buffer, never a change of values."""
import os

import numpy as np
import pytest
import tensorflow as tf
import keras

from lse.hugepages import MIN_BYTES, advise_variable


def _thp_available():
    try:
        with open("/sys/kernel/mm/transparent_hugepage/enabled") as f:
            return "[never]" not in f.read()
    except OSError:
        return False


def _huge_kb(address):
    """AnonHugePages (kB) of the mapping holding ``address``, from /proc/self/smaps."""
    inside = False
    with open("/proc/self/smaps") as f:
        for line in f:
            head = line.split()
            if "-" in head[0] and ":" not in head[0]:
                lo, hi = (int(x, 16) for x in head[0].split("-"))
                inside = lo <= address < hi
            elif inside and head[0] == "AnonHugePages:":
                return int(head[1])
    return 0


@pytest.mark.skipif(not _thp_available(), reason="no transparent huge pages here")
def test_a_fresh_large_variable_gets_huge_pages_and_keeps_its_values():
    rng = np.random.default_rng(0)
    init = rng.random((MIN_BYTES // 4 // 96 + 50_000, 3, 32), dtype=np.float32)
    variable = keras.Variable(init)
    assert advise_variable(variable)
    np.testing.assert_array_equal(variable.numpy(), init)
    # the buffer is the variable's own: a sparse update lands in it and reads see it
    variable.value.scatter_update(tf.IndexedSlices(tf.ones((1, 3, 32)), [7]))
    assert variable.numpy()[7].min() == 1.0
    from lse.hugepages import _buffer
    if os.path.exists("/proc/self/smaps"):
        tf_variable = tf.Variable(init)
        address, _ = _buffer(tf_variable)
        assert advise_variable(tf_variable)
        assert _huge_kb(address + (8 << 20)) > 0  # the kernel did back it with huge pages


def test_small_and_copied_variables_are_left_alone():
    small = keras.Variable(np.zeros((100, 3, 32), np.float32))
    assert not advise_variable(small)
    big = keras.Variable(np.zeros((MIN_BYTES // 4 // 96 + 1000, 3, 32), np.float32))
    tf.gather(big.value, [1, 2])  # a sparse read: from now on dense reads are copies
    assert not advise_variable(big)
    assert not advise_variable(object())  # anything unexpected: no-op, no error
