"""Transparent huge pages for big, randomly accessed tables (Linux; best effort).

Why: a word2hashes step reads and writes ~60K random rows of the (V, L, d) embedding table and
of the optimizer's two moment tables. At V = 660K each table is 253 MB, so nearly every row
sits on a 4 KB page of its own and costs a TLB miss (a page-table walk) on top of its cache
miss; backed by 2 MB pages, the three tables need ~400 TLB entries instead of ~190,000.
Measured at the paper's shape (32768 pairs, L = 3, d = 32, V = 660K): ~10 ms less CPU per
step (76 vs 86 ms median, same process, interleaved blocks of steps).

Linux backs anonymous memory with huge pages only where the program asks for them when
``/sys/kernel/mm/transparent_hugepage/enabled`` is ``madvise`` (a common default), and
TensorFlow does not ask. :func:`advise_variable` finds a variable's buffer (DLPack) and asks:
``MADV_HUGEPAGE`` for its range, then ``MADV_COLLAPSE`` (Linux >= 6.1) so that the pages
already written become huge pages now rather than whenever the kernel's background scanner
gets to them (a one-off ~1 s for the three 253 MB tables).

Only a variable's *own* buffer is worth advising: once a sparse op has touched a variable,
TensorFlow copies it on every dense read ("copy-on-read"), so two reads at different addresses
mean we would only advise a temporary copy; such a variable is skipped. Call it before
training starts. Anything unsupported (another OS, THP disabled, an old kernel, a buffer
smaller than ``min_bytes``) makes it a no-op returning False; it never changes a value.
"""
from __future__ import annotations

import ctypes
import sys

MADV_HUGEPAGE, MADV_COLLAPSE = 14, 25
PAGE = 4096
#: below this size a table's pages fit the TLB's reach well enough
MIN_BYTES = 16 << 20

_madvise = None


def _libc_madvise():
    global _madvise
    if _madvise is None:
        _madvise = False
        if sys.platform.startswith("linux"):
            try:
                libc = ctypes.CDLL(None, use_errno=True)
                libc.madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
                libc.madvise.restype = ctypes.c_int
                _madvise = libc.madvise
            except (OSError, AttributeError):
                pass
    return _madvise


def advise_buffer(address: int, nbytes: int, min_bytes: int = MIN_BYTES) -> bool:
    """Ask for huge pages on the whole 4 KB pages of ``[address, address + nbytes)``, and to
    collapse the pages already there. True if the kernel accepted ``MADV_HUGEPAGE``."""
    madvise = _libc_madvise()
    if not madvise or nbytes < min_bytes:
        return False
    start = -(-address // PAGE) * PAGE
    end = (address + nbytes) // PAGE * PAGE
    if end <= start or madvise(start, end - start, MADV_HUGEPAGE) != 0:
        return False
    madvise(start, end - start, MADV_COLLAPSE)  # EINVAL before Linux 6.1: the scanner will do
    return True


class _DLPack:
    """Adapter: ``numpy.from_dlpack`` wants an object with ``__dlpack__``, TensorFlow gives a
    capsule."""

    def __init__(self, tensor):
        import tensorflow as tf

        self.capsule = tf.experimental.dlpack.to_dlpack(tensor)

    def __dlpack__(self, stream=None, **kwargs):
        return self.capsule

    def __dlpack_device__(self):
        return (1, 0)  # kDLCPU


def _buffer(variable):
    """(address, nbytes) of a CPU variable's own buffer, or None if reads are copies."""
    import keras
    import numpy as np
    import tensorflow as tf

    value = variable.value if isinstance(variable, keras.Variable) else variable
    first = np.from_dlpack(_DLPack(tf.convert_to_tensor(value)))
    second = np.from_dlpack(_DLPack(tf.convert_to_tensor(value)))
    if first.ctypes.data != second.ctypes.data:
        return None
    return first.ctypes.data, first.nbytes


def advise_variable(variable, min_bytes: int = MIN_BYTES) -> bool:
    """Back a (large, CPU) TensorFlow or Keras variable with huge pages; see the module doc.
    Returns whether the kernel accepted; False (and nothing done) whenever it cannot."""
    try:
        import numpy as np

        dtype = np.dtype(getattr(variable.dtype, "name", variable.dtype))
        if dtype.itemsize * _numel(variable.shape) < min_bytes:
            return False
        found = _buffer(variable)
    except Exception:  # no DLPack, not on CPU, ...: huge pages are an optimisation only
        return False
    return found is not None and advise_buffer(*found, min_bytes=min_bytes)


def _numel(shape) -> int:
    n = 1
    for s in shape:
        n *= int(s)
    return n
