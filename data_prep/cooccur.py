"""Windowed cooccurrence counting, vectorised over window offsets, in bounded memory.

Definition (GloVe's ``cooccur`` with ``symmetric=1``): for every two tokens at distance
``1 <= k <= window`` within one window segment (no line / paragraph / document boundary between
them, distance measured after out-of-vocabulary tokens are removed), ``X[a, b]`` and ``X[b, a]``
both grow by ``1 / k`` (so a word next to itself adds ``2 / k`` to the diagonal).

How, without a Python loop over tokens:

* For each offset ``k`` the pairs are the two shifted views ``(s[i], s[i + k])`` of the token
  stream, masked where a boundary or a gap (dropped word) intervenes. A pair is stored once, as
  ``(min, max)``: the matrix is accumulated as its upper triangle ``U`` and symmetrised
  (``X = U + U.T``) once per run, which halves the sorting work.
* **Exact weights.** Every ``1/k`` is stored as the integer ``L/k`` with ``L = lcm(1..window)``
  (2520 for window 10) and summed in ``int64``; the float64 count is ``sum / L``. Integer sums do
  not depend on the order of addition, so the result is bit-for-bit the same whatever the
  chunking, the number of workers or the reduction tree, and equal to the correctly rounded
  exact rational sum.
* Pairs of two frequent words (ids below ``dense_size``; ids are in frequency order) fall in a
  small dense table updated by one weighted ``np.bincount`` per chunk (no sorting at all; the
  float64 sums of integer weights are exact below 2**53); about half of all pairs in English
  text are such pairs. The others are reduced by scipy's COO -> CSR conversion (a
  counting sort by row, then per-row sorting and summing of duplicates) and CSR additions.
* **Bounded memory.** Tokens are processed in chunks sized from ``memory_limit``; when the
  accumulated sparse sums would exceed their share of ``memory_limit`` they are symmetrised and
  handed to ``spill`` (the pipeline writes them to disk as a *run*) and accumulation restarts.
  Runs are summed later, row block by row block.
"""
from __future__ import annotations

import math
from functools import reduce

import numpy as np
import scipy.sparse as sp

from lse.errors import LSEError

#: Token codes besides word ids (``>= 0``) in a stream fed to :class:`CooccurrenceCounter`.
GAP, BOUNDARY, REMOVE = -1, -2, -3
#: Largest window: lcm(1..20) * the largest count must fit in int64 (counts up to ~4e10).
MAX_WINDOW = 20
#: Bytes of working memory per pair event in a chunk (ids, weights, scipy's temporaries).
_EVENT_BYTES = 64
#: Bytes held per stored nonzero at the peak of a spill (U, U.T, X = U + U.T).
_NNZ_BYTES = 60


def weight_scale(window: int) -> int:
    """``L = lcm(1, ..., window)``: ``1/k`` is stored as the integer ``L // k``."""
    if not 1 <= window <= MAX_WINDOW:
        raise LSEError(f"--window must be between 1 and {MAX_WINDOW} (got {window}); larger "
                       "windows would overflow the exact integer weights")
    return reduce(math.lcm, range(1, window + 1), 1)


class CSRSum:
    """A running sum of canonical CSR matrices of one shape, merged like a binary counter: a
    new matrix is added to the last pending one while that is not much larger. Every entry
    then takes part in O(log n) CSR additions (a tree), not one per later matrix, and only
    O(log n) partial sums are held at a time."""

    def __init__(self):
        self.pending: list[sp.csr_matrix] = []

    @property
    def nnz(self) -> int:
        return sum(m.nnz for m in self.pending)

    def add(self, matrix: sp.csr_matrix) -> None:
        pending = self.pending
        pending.append(matrix)
        while len(pending) > 1 and pending[-2].nnz <= 2 * pending[-1].nnz:
            last = pending.pop()
            pending[-1] = pending[-1] + last

    def total(self) -> sp.csr_matrix:
        """The sum (and reset)."""
        pending, self.pending = self.pending, []
        if not pending:
            raise ValueError("nothing to sum")
        out = pending.pop()
        while pending:
            out = pending.pop() + out
        out = out.tocsr()
        out.sum_duplicates()
        return out


def sum_csr(matrices) -> sp.csr_matrix:
    """Sum canonical CSR matrices (an iterable: consumed one at a time)."""
    acc = CSRSum()
    for m in matrices:
        acc.add(m)
    return acc.total()


def symmetrize(upper: sp.csr_matrix) -> sp.csr_matrix:
    """``U + U.T`` (the diagonal doubles: a word next to itself is a pair both ways)."""
    out = (upper + upper.T.tocsr()).tocsr()
    out.sum_duplicates()
    return out


class CooccurrenceCounter:
    """Accumulate windowed pair counts over one or more token streams.

    ``feed`` takes int32 codes: word ids ``0..V-1``, :data:`GAP` (a dropped word: occupies a
    position, forms no pair), :data:`BOUNDARY` (ends the window segment), :data:`REMOVE`
    (skipped before windowing, e.g. an out-of-vocabulary word). Call :meth:`new_stream` between
    independent streams (shards); :meth:`flush` returns the symmetric scaled counts
    accumulated since the last flush or spill.
    """

    def __init__(self, vocab_size: int, window: int = 10, *, memory_limit: int = 1 << 30,
                 dense_size: int = 1024, spill=None):
        self.V = int(vocab_size)
        self.W = int(window)
        self.L = weight_scale(self.W)
        self.weights = np.array([self.L // k for k in range(1, self.W + 1)], np.int64)
        self._float_weights = self.weights.astype(np.float64)
        self.D = int(min(dense_size, self.V))
        self.memory_limit = int(memory_limit)
        self.chunk_tokens = int(max(10_000, min(500_000, memory_limit // (4 * _EVENT_BYTES
                                                                       * self.W))))
        self.max_nnz = max(100_000, (memory_limit // 2 - 8 * self.D * self.D) // _NNZ_BYTES)
        self.spill = spill
        self.events = 0
        self.runs = 0
        self._dense = np.zeros(self.D * self.D, np.int64)
        self._sum = CSRSum()
        self.new_stream()

    def new_stream(self) -> None:
        """Forget the window context: the next token starts a new segment."""
        self._tail = np.full(self.W, GAP, np.int32)
        self._count = 0   # real (non-boundary) tokens seen in this stream
        self._last = 0    # value of _count at the last boundary

    # -- feeding -----------------------------------------------------------------------------
    def feed(self, codes: np.ndarray) -> None:
        codes = np.asarray(codes, dtype=np.int32)
        for lo in range(0, len(codes), self.chunk_tokens):
            self._feed_chunk(codes[lo:lo + self.chunk_tokens])

    def _positions(self, codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Drop REMOVE and BOUNDARY codes; return tokens and their position in the segment
        (clipped to ``window``, int8: only ``position >= k`` is ever asked)."""
        codes = codes[codes != REMOVE]
        is_boundary = codes == BOUNDARY
        if not is_boundary.any():
            n = len(codes)
            pos = np.arange(self._count - self._last, self._count - self._last + n)
            self._count += n
            return codes, np.minimum(pos, self.W).astype(np.int8)
        real = ~is_boundary
        count = np.cumsum(real, dtype=np.int64) + self._count
        last = np.maximum.accumulate(np.where(is_boundary, count, self._last))
        self._count, self._last = int(count[-1]), int(last[-1])
        pos = np.minimum(count - last - 1, self.W)[real].astype(np.int8)
        return codes[real], pos

    def _feed_chunk(self, codes: np.ndarray) -> None:
        toks, pos = self._positions(codes)
        m = len(toks)
        if m == 0:
            return
        W, D = self.W, self.D
        s = np.concatenate([self._tail, toks])
        self._tail = s[-W:].copy()
        cur = s[W:]
        ok = None
        if s.min() < 0:  # gaps present: both ends of a pair must be words
            ok = s >= 0
        rows, cols, lens, cells, cell_lens = [], [], [], [], []
        for k in range(1, W + 1):
            prev = s[W - k:W - k + m]
            valid = pos >= k
            if ok is not None:
                valid &= ok[W:]
                valid &= ok[W - k:W - k + m]
            a = prev[valid]
            b = cur[valid]
            lo = np.minimum(a, b)
            hi = np.maximum(a, b, out=b)
            self.events += len(lo)
            if D < self.V:
                in_dense = hi < D
                cells.append(lo[in_dense] * D + hi[in_dense])
                sparse = ~in_dense
                rows.append(lo[sparse])
                cols.append(hi[sparse])
                lens.append(len(rows[-1]))
            else:
                cells.append(lo * D + hi)
            cell_lens.append(len(cells[-1]))
        if sum(cell_lens):  # one weighted bincount per chunk (exact: integer-valued floats)
            self._dense += np.bincount(np.concatenate(cells), minlength=D * D,
                                       weights=np.repeat(self._float_weights, cell_lens)
                                       ).astype(np.int64)
        if rows and sum(lens):
            data = np.repeat(self.weights, lens)
            chunk = sp.coo_matrix((data, (np.concatenate(rows), np.concatenate(cols))),
                                  shape=(self.V, self.V)).tocsr()
            chunk.sum_duplicates()
            self._sum.add(chunk)
            if self._sum.nnz > self.max_nnz:
                self._spill()

    # -- results -----------------------------------------------------------------------------
    def _take_upper(self) -> sp.csr_matrix:
        nz = np.flatnonzero(self._dense)
        self._sum.add(sp.csr_matrix((self._dense[nz], (nz // self.D, nz % self.D)),
                                    shape=(self.V, self.V)))
        self._dense[:] = 0
        return self._sum.total()

    def _spill(self) -> None:
        if self.spill is None:
            return  # no spill target: keep accumulating (unbounded)
        self.spill(symmetrize(self._take_upper()))
        self.runs += 1

    def flush(self) -> sp.csr_matrix:
        """Symmetric int64 counts (scaled by ``L``) accumulated since the last flush/spill."""
        return symmetrize(self._take_upper())
