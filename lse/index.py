"""Binary codes and the exact-collision hash index that retrieves with them.

LSE trains embeddings whose *sign bits* collide for related items, so retrieval is a plain
hash-table lookup: the retrieved set of a query is every item whose code equals one of the
query's codes (Hamming radius 0), or, for comparison, lies within Hamming radius ``r``.

Bit convention (used everywhere in lse): a float vector ``x`` of dimension ``d`` becomes the
bits ``1[x > 0]`` packed with ``np.packbits(..., bitorder="big")``: coordinate 0 is the most
significant bit of byte 0, and the ``8 * ceil(d / 8) - d`` padding bits at the end of the last
byte are always 0.

Why the index is arrays and not a dict: 660K items x 3 codes would cost millions of Python
objects. Instead the build sorts the codes once (``argsort`` of their keys) and stores the
buckets CSR-style (``bucket_offsets`` into ``bucket_items``) beside the *sorted unique* bucket
keys and codes; a whole query batch is then answered by a few vectorised numpy calls. Codes of
up to 64 bits become one ``uint64`` key (the code bytes read as a big-endian number); wider
codes are compared as raw bytes (a ``np.void`` view, whose order is the bytes' lexicographic
order), so both orders agree with the order of ``bucket_codes``.

Lookups (radius 0 by code, and the ``1 + d + d(d-1)/2`` flipped-bit probes per code of a
radius-2 ball) do not binary-search the sorted keys: ``np.searchsorted`` costs a cache miss per
level (~180 ns per random lookup in 300K keys, measured), and almost all probes miss anyway.
They go through :class:`_BallSearch` instead: a bitmap filter indexed by a hash that is *linear
over GF(2)*, ``h(a ^ b) = h(a) ^ h(b)``, so that the hash of a probe is the XOR of two
precomputed numbers (the code's and the flip mask's) and the probe itself is only formed for
the few that pass the filter; those find their bucket among the buckets ordered by the same
hash. ``benchmarks/bench_index.py`` compares this with ``faiss.IndexBinaryHash``.

Results are ``scipy.sparse.csr_matrix`` of shape ``(n_queries, n_items)`` with boolean data,
sorted column indices and no duplicates (canonical format): the interface of
:mod:`lse.metrics`, where retrieved sets and truth sets are both CSR matrices.
"""
from __future__ import annotations

import math
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import NamedTuple, Sequence

import numpy as np
import scipy.sparse as sp

from .errors import LSEError, check_int
from .io import atomic_path

#: Name and version written into every saved index; :meth:`HashIndex.load` checks both.
FORMAT_NAME = "lse-hash-index"
FORMAT_VERSION = 1

#: Hamming-ball probes handled per chunk (bounds the temporary arrays to a few tens of MB).
PROBES_PER_CHUNK = 1 << 18
#: Queries handled per chunk at radius 0 (bounds the temporaries of the bucket expansion).
QUERIES_PER_CHUNK = 2048
#: Refuse Hamming balls with more probes than this per code (radius 3 on 256 bits is 2.8M).
MAX_PROBES_PER_CODE = 1 << 22
#: log2 of (filter bits / bucket keys): the filter's false-positive rate is below 2**-FILTER_BITS.
FILTER_BITS = 6


# --------------------------------------------------------------------------------------------
# Bit packing


def pack_codes(x) -> np.ndarray:
    """Sign-binarize and pack: float array ``(..., d)`` -> uint8 ``(..., ceil(d / 8))``.

    Bit ``j`` of a vector is ``1[x_j > 0]`` (so 0 maps to bit 0), stored big-endian within each
    byte (``np.packbits(bitorder="big")``); padding bits are 0. NaN or infinite inputs are an
    error: they would hash arbitrarily.
    """
    x = np.asarray(x)
    if x.dtype.kind not in "fiub":
        raise LSEError(f"pack_codes expects a real-valued array, got dtype {x.dtype}")
    if x.ndim < 1 or x.shape[-1] < 1:
        raise LSEError(f"pack_codes expects an array of shape (..., d) with d >= 1, "
                       f"got shape {x.shape}")
    if x.dtype.kind == "f" and not np.isfinite(x).all():
        raise LSEError("pack_codes: the embeddings contain NaN or infinite values")
    return np.packbits(x > 0, axis=-1, bitorder="big")


def unpack_codes(codes, dim: int) -> np.ndarray:
    """Inverse of :func:`pack_codes`: uint8 ``(..., ceil(dim / 8))`` -> 0/1 uint8 ``(..., dim)``."""
    dim = _check_dim(dim)
    codes = _check_code_array(codes, dim, "codes", min_ndim=1, max_ndim=None)
    return np.unpackbits(codes, axis=-1, count=dim, bitorder="big")


def _check_dim(dim) -> int:
    return check_int(dim, "dim (bits per code)", 1)


def _code_bytes(dim: int) -> int:
    return (dim + 7) // 8


def _check_code_array(codes, dim: int, what: str, *, min_ndim: int, max_ndim: int | None,
                      index_dim: int | None = None) -> np.ndarray:
    """Validate packed codes: uint8, last axis ``ceil(dim/8)`` bytes, padding bits zero."""
    codes = np.asarray(codes)
    if codes.dtype != np.uint8:
        raise LSEError(f"{what} must be packed uint8 codes (see lse.index.pack_codes), "
                       f"got dtype {codes.dtype}")
    if codes.ndim < min_ndim or (max_ndim is not None and codes.ndim > max_ndim):
        shapes = {1: "(nbytes,)", 2: "(n, nbytes)", 3: "(n, L, nbytes)"}
        allowed = " or ".join(shapes[k] for k in range(min_ndim, (max_ndim or 3) + 1))
        raise LSEError(f"{what} must have shape {allowed}, got shape {codes.shape}")
    nbytes = _code_bytes(dim)
    if codes.shape[-1] != nbytes:
        got = codes.shape[-1]
        if index_dim is not None:
            raise LSEError(f"dimension mismatch: the index holds {index_dim}-bit codes "
                           f"({nbytes} bytes each) but the query codes have {got} bytes "
                           f"({8 * got}-bit codes)")
        raise LSEError(f"{what}: {dim}-bit codes take {nbytes} bytes, got {got} bytes per code")
    pad = 8 * nbytes - dim
    if pad and codes.size and np.any(codes[..., -1] & np.uint8((1 << pad) - 1)):
        raise LSEError(f"{what}: the {pad} padding bits after bit {dim} must be 0 (codes packed "
                       f"with bitorder='big' as lse.index.pack_codes does)")
    return codes


# --------------------------------------------------------------------------------------------
# Keys, flip masks and the GF(2)-linear filter hash


def _keys(codes2d: np.ndarray) -> np.ndarray:
    """Sortable keys of ``(m, nbytes)`` codes: uint64 up to 8 bytes, else a ``np.void`` view."""
    m, nbytes = codes2d.shape
    if nbytes <= 8:
        padded = np.zeros((m, 8), np.uint8)
        padded[:, 8 - nbytes:] = codes2d
        return padded.view(">u8").ravel().astype(np.uint64)
    return np.ascontiguousarray(codes2d).view(f"V{nbytes}").ravel()


def _flip_masks(dim: int, radius: int) -> np.ndarray:
    """All bit sets of size <= radius over ``dim`` bits: ``(P, radius)`` positions, -1 = none.

    Ordered by size, then lexicographically: row 0 is the empty set (the code itself).
    """
    levels = [np.full((1, radius), -1, np.int64)]
    last = np.full((1, 0), -1, np.int64)
    for k in range(1, radius + 1):
        top = last[:, -1] if k > 1 else np.full(1, -1, np.int64)
        counts = dim - 1 - top
        base = np.repeat(np.arange(len(last)), counts)
        start = np.repeat(top + 1, counts)
        offs = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
        last = np.concatenate([last[base], (start + offs)[:, None]], axis=1)
        level = np.full((len(last), radius), -1, np.int64)
        level[:, :k] = last
        levels.append(level)
    return np.concatenate(levels)


class _LinearHash:
    """A random GF(2)-linear map from codes to ``bits``-bit integers (a 2-universal family).

    ``h(code) = XOR of bit_values[j] over the set bits j``; computed per byte with 256-entry
    tables. Linearity lets a probe's hash be ``h(code) ^ h(mask)`` without forming the probe.
    """

    def __init__(self, dim: int, bits: int, seed: int = 0x15E):
        rng = np.random.default_rng(seed)
        nbytes = _code_bytes(dim)
        self.bit_values = np.zeros(8 * nbytes, np.intp)
        self.bit_values[:dim] = rng.integers(0, 1 << bits, size=dim)
        byte_bits = np.unpackbits(np.arange(256, dtype=np.uint8)[:, None], axis=1)  # (256, 8)
        per_byte = self.bit_values.reshape(nbytes, 8)
        self.tables = np.zeros((nbytes, 256), np.intp)
        for i in range(8):  # XOR in bit i (MSB first) of every byte value
            self.tables ^= np.where(byte_bits[None, :, i] == 1, per_byte[:, i:i + 1], 0)

    def codes(self, codes2d: np.ndarray) -> np.ndarray:
        out = self.tables[0][codes2d[:, 0]]
        for b in range(1, codes2d.shape[1]):
            out ^= self.tables[b][codes2d[:, b]]
        return out

    def masks(self, positions: np.ndarray) -> np.ndarray:
        values = np.where(positions >= 0, self.bit_values[np.maximum(positions, 0)], 0)
        return np.bitwise_xor.reduce(values, axis=1)


def _mask_codes(positions: np.ndarray, nbytes: int) -> np.ndarray:
    """Flip masks as packed codes ``(P, nbytes)`` (big bit order, like :func:`pack_codes`)."""
    bits = np.zeros((len(positions), 8 * nbytes), np.uint8)
    rows = np.repeat(np.arange(len(positions)), positions.shape[1])
    cols = positions.ravel()
    ok = cols >= 0
    bits[rows[ok], cols[ok]] = 1
    return np.packbits(bits, axis=1, bitorder="big")


class _BallSearch:
    """Hamming-ball lookups of many probes at once, over the sorted unique bucket codes.

    Stage 1, a filter: a bitmap of ``2**bits`` bits (``2**FILTER_BITS`` to ``2**(FILTER_BITS+1)``
    per bucket) marking the linear hashes of the bucket codes; a probe whose bit is 0 is
    certainly absent. A bitmap rather than a byte table because the ~75M random reads of a
    radius-2 batch are bound by cache misses: 4 MB for 300K buckets stays in cache, a byte
    table (16-32 MB) does not and was 3x slower (measured). Only the survivors (the hits plus
    a < ``2**-FILTER_BITS`` fraction of false positives) are formed as keys. Stage 2 finds
    their bucket: the buckets sorted by the top bits of the same hash (CSR ``start`` /
    ``order``, ~2 slots per bucket) give each survivor a handful of candidate buckets, compared
    in a few vectorised rounds.
    """

    def __init__(self, dim: int, bucket_codes: np.ndarray, bucket_keys: np.ndarray):
        self.dim, self.nbytes = dim, bucket_codes.shape[1]
        self.bucket_keys = bucket_keys
        log_n = int(math.ceil(math.log2(max(len(bucket_keys), 2))))
        bits = max(13, log_n + FILTER_BITS)
        self.hash = _LinearHash(dim, bits)
        h = self.hash.codes(bucket_codes)
        table = np.zeros(1 << bits, bool)
        table[h] = True
        self.bitmap = np.packbits(table, bitorder="little")  # bit s = bit s & 7 of byte s >> 3
        self.shift = bits - (log_n + 1)
        top = h >> self.shift
        index_dtype = np.int32 if len(h) < 2**31 else np.int64
        self.order = np.argsort(top, kind="stable").astype(index_dtype)
        self.start = np.searchsorted(top[self.order], np.arange((1 << (log_n + 1)) + 1))
        self.start = self.start.astype(index_dtype)
        self._probes: dict[int, tuple] = {}

    def arrays(self) -> list:
        return [self.bitmap, self.hash.tables, self.order, self.start]

    def probes(self, radius: int):
        """Flip masks of the ball: (their hashes, their keys or packed codes)."""
        if radius not in self._probes:
            positions = _flip_masks(self.dim, radius)
            masks = _mask_codes(positions, self.nbytes)
            self._probes[radius] = (self.hash.masks(positions),
                                    _keys(masks) if self.nbytes <= 8 else masks)
        return self._probes[radius]

    def search(self, codes2d: np.ndarray, radius: int):
        """``(m, nbytes)`` codes -> (code row, bucket) of every bucket within ``radius``,
        grouped by code row (ascending)."""
        mask_hashes, masks = self.probes(radius)
        n_probes = len(mask_hashes)
        h = self.hash.codes(codes2d)
        # the probe hashes are h ^ mask_hash: split into byte index and bit within the byte
        byte = (h >> 3)[:, None] ^ (mask_hashes >> 3)[None, :]
        bit = (h & 7).astype(np.uint8)[:, None] ^ (mask_hashes & 7).astype(np.uint8)[None, :]
        present = self.bitmap[byte]
        present >>= bit
        present &= 1
        cand = np.flatnonzero(present.view(bool))
        code_row, probe = np.divmod(cand, n_probes)
        if self.nbytes <= 8:
            keys = _keys(codes2d)[code_row] ^ masks[probe]
        else:
            keys = _keys(codes2d[code_row] ^ masks[probe])
        buckets = self._find((h[code_row] ^ mask_hashes[probe]) >> self.shift, keys)
        hit = buckets >= 0
        return code_row[hit], buckets[hit]

    def _find(self, top: np.ndarray, keys: np.ndarray) -> np.ndarray:
        """Bucket of each key (-1 if absent), given the top hash bits of each key."""
        lo = self.start[top]
        n = self.start[top + 1] - lo
        found = np.full(len(keys), -1, np.int64)
        active = np.flatnonzero(n > 0)
        j = 0
        while active.size:
            b = self.order[lo[active] + j]
            match = self.bucket_keys[b] == keys[active]
            found[active[match]] = b[match]
            j += 1
            active = active[~match & (n[active] > j)]
        return found


# --------------------------------------------------------------------------------------------
# Results


class Clusters(NamedTuple):
    """Buckets listed CSR-style: bucket ``k`` has code ``codes[k]`` and items
    ``items[offsets[k]:offsets[k + 1]]`` (ascending item ids)."""

    codes: np.ndarray
    offsets: np.ndarray
    items: np.ndarray
    n_items: int

    @property
    def sizes(self) -> np.ndarray:
        return np.diff(self.offsets)

    def to_csr(self) -> sp.csr_matrix:
        """The clusters as a boolean ``(n_clusters, n_items)`` CSR matrix (row = one cluster)."""
        return _csr(self.offsets, self.items, self.n_items)


def _csr(indptr: np.ndarray, indices: np.ndarray, n_cols: int) -> sp.csr_matrix:
    """A canonical boolean CSR matrix from sorted, duplicate-free rows (no copies if possible)."""
    dtype = np.int32 if max(len(indices), n_cols) < 2**31 else np.int64
    m = sp.csr_matrix((np.ones(len(indices), bool), indices.astype(dtype, copy=False),
                       indptr.astype(dtype, copy=False)), shape=(len(indptr) - 1, n_cols))
    m.has_sorted_indices = True
    m.has_canonical_format = True
    return m


# --------------------------------------------------------------------------------------------
# The index


class HashIndex:
    """Exact-collision hash index over packed binary codes, with Hamming-ball search.

    Parameters
    ----------
    codes : uint8 array ``(n_items, nbytes)`` or ``(n_items, L, nbytes)``
        Packed codes (:func:`pack_codes`); with ``L`` codes per item (word2hashes' multiple
        contexts) an item lies in up to ``L`` buckets and its retrieved set is the union.
    dim : int, optional
        Number of bits per code; default ``8 * nbytes``.
    names : sequence of str, optional
        One unique name per item (e.g. the vocabulary); enables :meth:`ids_for`.

    Attributes
    ----------
    bucket_codes : uint8 ``(n_buckets, nbytes)``, the distinct codes in sorted order;
    bucket_keys : their sortable keys (uint64 for ``dim <= 64``, else ``np.void``);
    bucket_offsets : int64 ``(n_buckets + 1,)`` and bucket_items : int ``(n_entries,)``,
        bucket ``k`` holds ``bucket_items[bucket_offsets[k]:bucket_offsets[k + 1]]`` (ascending,
        each item once);
    item_buckets : int ``(n_items, L)``, the bucket of each of an item's codes.
    """

    def __init__(self, codes, dim: int | None = None, *, names: Sequence[str] | None = None):
        codes = np.asarray(codes)
        if dim is None:
            dim = 8 * codes.shape[-1] if codes.ndim and codes.shape[-1] else 8
        dim = _check_dim(dim)
        codes = _check_code_array(codes, dim, "codes", min_ndim=2, max_ndim=3)
        if codes.ndim == 2:
            codes = codes[:, None, :]
        n_items, L, nbytes = codes.shape
        if n_items < 1 or L < 1:
            raise LSEError(f"codes must hold at least one item and one code per item, "
                           f"got shape {codes.shape}")
        if n_items >= 2**31:
            raise LSEError(f"{n_items} items: at most 2**31 - 1 items per index are supported")
        item_dtype = np.int32

        flat = codes.reshape(n_items * L, nbytes)
        keys = _keys(flat)
        # Stable sort: flat rows are item-major, so every bucket lists its items ascending and
        # an item with two equal codes sits twice in a row, where the dedup below drops it.
        order = np.argsort(keys, kind="stable")
        sorted_keys = keys[order]
        new_bucket = np.empty(len(order), bool)
        new_bucket[0] = True
        new_bucket[1:] = sorted_keys[1:] != sorted_keys[:-1]
        bucket_of_sorted = np.cumsum(new_bucket) - 1
        items_sorted = (order // L).astype(item_dtype)

        item_buckets = np.empty(n_items * L, item_dtype)
        item_buckets[order] = bucket_of_sorted
        keep = new_bucket.copy()
        keep[1:] |= items_sorted[1:] != items_sorted[:-1]

        starts = np.flatnonzero(new_bucket)
        self._set_arrays(
            dim=dim,
            bucket_codes=flat[order[starts]],
            bucket_offsets=np.append(np.cumsum(keep)[starts] - 1, keep.sum()).astype(np.int64),
            bucket_items=items_sorted[keep],
            item_buckets=item_buckets.reshape(n_items, L),
            names=names,
            bucket_keys=sorted_keys[starts],
        )

    @classmethod
    def from_embeddings(cls, x, *, names: Sequence[str] | None = None) -> "HashIndex":
        """Index float embeddings ``(n_items, d)`` or ``(n_items, L, d)`` by their sign bits."""
        x = np.asarray(x)
        if x.ndim not in (2, 3):
            raise LSEError(f"embeddings must have shape (n_items, d) or (n_items, L, d), "
                           f"got {x.shape}")
        return cls(pack_codes(x), dim=x.shape[-1], names=names)

    def _set_arrays(self, *, dim, bucket_codes, bucket_offsets, bucket_items, item_buckets,
                    names, bucket_keys=None):
        self.dim = dim
        self.code_bytes = _code_bytes(dim)
        self.bucket_codes = bucket_codes
        self.bucket_keys = _keys(bucket_codes) if bucket_keys is None else bucket_keys
        self.bucket_offsets = bucket_offsets
        self.bucket_items = bucket_items
        self.item_buckets = item_buckets
        self.n_items, self.codes_per_item = item_buckets.shape
        self.names = None if names is None else self._check_names(names, self.n_items)
        self._name_order = None
        self._ball = None  # the Hamming-ball search structures, built on first use

    @staticmethod
    def _check_names(names, n_items: int) -> np.ndarray:
        if isinstance(names, str):
            raise LSEError("names must be a sequence of strings, one per item, not one string")
        names = list(names) if not isinstance(names, np.ndarray) else names
        if len(names) != n_items:
            raise LSEError(f"got {len(names)} names for {n_items} items")
        arr = np.asarray(names)
        if n_items and arr.dtype.kind != "U":
            raise LSEError(f"names must be strings, got {arr.dtype} values")
        arr = arr.astype(str)
        uniq, counts = np.unique(arr, return_counts=True)
        if len(uniq) != n_items:
            dups = uniq[counts > 1][:5].tolist()
            raise LSEError(f"names must be unique; repeated: {', '.join(map(repr, dups))}")
        return arr

    # ---------------------------------------------------------------------------- properties

    @property
    def n_buckets(self) -> int:
        return len(self.bucket_codes)

    def __len__(self) -> int:
        return self.n_items

    def __repr__(self) -> str:
        return (f"HashIndex(n_items={self.n_items}, dim={self.dim}, "
                f"codes_per_item={self.codes_per_item}, n_buckets={self.n_buckets})")

    @property
    def nbytes(self) -> int:
        """Bytes held by the index arrays (with the Hamming-search tables once built; not names)."""
        arrays = [self.bucket_codes, self.bucket_keys, self.bucket_offsets, self.bucket_items,
                  self.item_buckets]
        if self._ball is not None:
            arrays += self._ball.arrays()
        return int(sum(a.nbytes for a in arrays))

    # ---------------------------------------------------------------------------- names

    def ids_for(self, names):
        """Item ids of ``names`` (a string -> an int; a sequence -> an int array).

        Raises :class:`LSEError` listing (up to 10 of) the unknown names.
        """
        if self.names is None:
            raise LSEError("this index has no item names; build it with names=...")
        single = isinstance(names, str)
        query = np.asarray([names] if single else list(names), dtype=str)
        if self._name_order is None:
            self._name_order = np.argsort(self.names, kind="stable")
        sorted_names = self.names[self._name_order]
        pos = np.searchsorted(sorted_names, query)
        pos_c = np.minimum(pos, len(sorted_names) - 1)
        found = (pos < len(sorted_names)) & (sorted_names[pos_c] == query)
        if not np.all(found):
            missing = query[~found]
            shown = ", ".join(repr(s) for s in missing[:10].tolist())
            more = f" (and {len(missing) - 10} more)" if len(missing) > 10 else ""
            raise LSEError(f"{len(missing)} unknown name(s): {shown}{more}")
        ids = self._name_order[pos_c]
        return int(ids[0]) if single else ids

    # ---------------------------------------------------------------------------- queries

    def item_codes(self, ids=None) -> np.ndarray:
        """Packed codes ``(n, L, nbytes)`` of items ``ids`` (default: all items)."""
        buckets = self.item_buckets if ids is None else self.item_buckets[self._check_ids(ids)]
        return self.bucket_codes[buckets]

    def _check_ids(self, ids) -> np.ndarray:
        ids = np.asarray(ids)
        if ids.ndim == 0:
            ids = ids[None]
        if ids.ndim != 1 or (ids.size and ids.dtype.kind not in "iu"):
            raise LSEError(f"ids must be a 1-D array of integer item ids, got dtype {ids.dtype} "
                           f"shape {ids.shape}")
        if ids.size and (ids.min() < 0 or ids.max() >= self.n_items):
            bad = ids[(ids < 0) | (ids >= self.n_items)][0]
            raise LSEError(f"item id {bad} out of range: the index has {self.n_items} items "
                           f"(ids 0..{self.n_items - 1})")
        return ids.astype(np.intp, copy=False)

    def _check_radius(self, radius) -> int:
        radius = min(check_int(radius, "Hamming radius", 0), self.dim)
        n_probes = sum(math.comb(self.dim, k) for k in range(radius + 1))
        if n_probes > MAX_PROBES_PER_CODE:
            raise LSEError(f"Hamming radius {radius} on {self.dim}-bit codes needs {n_probes} "
                           f"probes per code (limit {MAX_PROBES_PER_CODE}); use a smaller radius")
        return radius

    def query_ids(self, ids, *, exclude_self: bool = True, radius: int = 0,
                  n_threads: int = 1) -> sp.csr_matrix:
        """Retrieved sets of items ``ids``: row ``q`` = every item sharing a bucket (within
        Hamming ``radius``) with one of item ``ids[q]``'s codes; the item itself is left out
        when ``exclude_self``. Returns a boolean CSR matrix ``(len(ids), n_items)``."""
        ids = self._check_ids(ids)
        radius = self._check_radius(radius)
        if radius == 0:  # the buckets are known: no lookup needed
            return self._run(ids, None, radius, exclude_self, n_threads)
        return self._run(ids, self.item_codes(ids), radius, exclude_self, n_threads)

    def query_codes(self, codes, *, radius: int = 0, dim: int | None = None,
                    n_threads: int = 1) -> sp.csr_matrix:
        """Retrieved sets of query codes ``(n_q, nbytes)`` or ``(n_q, L, nbytes)`` (any L: the
        union over a query's codes). ``dim``, if given, must equal the index's. Returns a
        boolean CSR matrix ``(n_q, n_items)``."""
        if dim is not None and _check_dim(dim) != self.dim:
            raise LSEError(f"dimension mismatch: the index holds {self.dim}-bit codes but the "
                           f"query codes are {dim}-bit")
        codes = _check_code_array(codes, self.dim, "query codes", min_ndim=2, max_ndim=3,
                                  index_dim=self.dim)
        if codes.ndim == 2:
            codes = codes[:, None, :]
        radius = self._check_radius(radius)
        return self._run(None, np.ascontiguousarray(codes), radius, False, n_threads)

    def query_embeddings(self, x, *, radius: int = 0, n_threads: int = 1) -> sp.csr_matrix:
        """Retrieved sets of float query embeddings ``(n_q, d)`` or ``(n_q, L, d)``."""
        x = np.asarray(x)
        if x.ndim not in (2, 3):
            raise LSEError(f"query embeddings must have shape (n_q, d) or (n_q, L, d), "
                           f"got {x.shape}")
        if x.shape[-1] != self.dim:
            raise LSEError(f"dimension mismatch: the index holds {self.dim}-bit codes but the "
                           f"query embeddings are {x.shape[-1]}-dimensional")
        return self.query_codes(pack_codes(x), radius=radius, n_threads=n_threads)

    # ---------------------------------------------------------------------------- engine

    def _run(self, ids, codes, radius, exclude_self, n_threads) -> sp.csr_matrix:
        """Answer the queries chunk by chunk (optionally on threads) and stack the rows."""
        check_int(n_threads, "n_threads", 1)
        n_q = len(ids) if codes is None else len(codes)
        per_query = self.codes_per_item if codes is None else codes.shape[1]
        step = QUERIES_PER_CHUNK
        if codes is not None:  # codes are looked up (ids at radius 0 know their buckets)
            if self._ball is None:
                self._ball = _BallSearch(self.dim, self.bucket_codes, self.bucket_keys)
            probes = len(self._ball.probes(radius)[0])
            step = max(1, min(step, PROBES_PER_CHUNK // (per_query * probes)))
        bounds = [(s, min(s + step, n_q)) for s in range(0, n_q, step)]

        def work(bound):
            lo, hi = bound
            return self._chunk(None if ids is None else ids[lo:hi],
                               None if codes is None else codes[lo:hi], radius, exclude_self)

        if n_threads > 1 and len(bounds) > 1:
            with ThreadPoolExecutor(min(n_threads, len(bounds))) as pool:
                parts = list(pool.map(work, bounds))
        else:
            parts = [work(b) for b in bounds]
        counts = np.concatenate([p[0] for p in parts]) if parts else np.zeros(0, np.int64)
        indptr = np.zeros(n_q + 1, np.int64)
        np.cumsum(counts, out=indptr[1:])
        indices = np.concatenate([p[1] for p in parts]) if parts else np.zeros(0, np.int32)
        return _csr(indptr, indices, self.n_items)

    def _chunk(self, ids, codes, radius, exclude_self):
        """One chunk of queries -> (row lengths, concatenated sorted column indices)."""
        n_q = len(ids) if codes is None else len(codes)
        if codes is None:  # radius 0 by item id
            L = self.codes_per_item
            rows = np.repeat(np.arange(n_q), L)
            buckets = self.item_buckets[ids].ravel()
        else:
            L = codes.shape[1]
            rows, buckets = self._ball.search(codes.reshape(-1, self.code_bytes), radius)
            rows //= L
        # Order the (row, bucket) pairs by the bucket's rank within its row: the pairs of rank
        # j, expanded, form one ascending run of (row, item) (rows ascending, each bucket's
        # items ascending), so a merge sort (timsort) of K runs replaces a full sort.
        first = np.empty(len(rows), bool)
        first[:1] = True
        np.not_equal(rows[1:], rows[:-1], out=first[1:])
        rank = np.arange(len(rows))
        rank -= np.maximum.accumulate(np.where(first, rank, 0))
        n_runs = int(rank.max()) + 1 if len(rank) else 0
        if n_runs > 1:
            order = np.argsort(rank.astype(np.uint8 if n_runs <= 256 else np.uint16
                                           if n_runs <= 65536 else np.int64), kind="stable")
            rows, buckets = rows[order], buckets[order]
        rows, cols = self._expand(rows, buckets)
        if exclude_self:
            keep = cols != ids[rows]
            rows, cols = rows[keep], cols[keep]
        if n_runs <= 1:  # at most one bucket per row: already sorted and unique
            return np.bincount(rows, minlength=n_q), cols
        # rows < n_q (a chunk) and cols < 2**31: pack both in one uint64, merge the runs
        packed = (rows.astype(np.uint64) << np.uint64(32)) | cols.astype(np.uint64)
        packed.sort(kind="stable")
        if len(packed):
            keep = np.empty(len(packed), bool)
            keep[0] = True
            np.not_equal(packed[1:], packed[:-1], out=keep[1:])
            packed = packed[keep]
        counts = np.bincount((packed >> np.uint64(32)).astype(np.intp), minlength=n_q)
        return counts, (packed & np.uint64(0xFFFFFFFF)).astype(self.bucket_items.dtype)

    def _expand(self, rows: np.ndarray, buckets: np.ndarray):
        """(query row, bucket) pairs -> (query row, item) pairs, bucket by bucket."""
        starts = self.bucket_offsets[buckets]
        counts = self.bucket_offsets[buckets + 1] - starts
        total = int(counts.sum())
        if total == 0:
            return np.zeros(0, np.intp), self.bucket_items[:0]
        # positions = starts[k] + (0, 1, ..., counts[k]-1) for each pair k, by a cumsum of steps
        step = np.ones(total, np.int64)
        ends = np.cumsum(counts)
        step[0] = starts[0]
        step[ends[:-1]] = starts[1:] - (starts[:-1] + counts[:-1] - 1)
        np.cumsum(step, out=step)
        return np.repeat(rows, counts), self.bucket_items[step]

    # ---------------------------------------------------------------------------- clusters

    def clusters(self, min_size: int = 2) -> Clusters:
        """Buckets holding at least ``min_size`` distinct items, in code order."""
        check_int(min_size, "min_size", 1)
        sizes = np.diff(self.bucket_offsets)
        chosen = np.flatnonzero(sizes >= min_size)
        offsets = np.zeros(len(chosen) + 1, np.int64)
        np.cumsum(sizes[chosen], out=offsets[1:])
        _, items = self._expand(np.arange(len(chosen)), chosen)
        return Clusters(self.bucket_codes[chosen], offsets, items, self.n_items)

    def stats(self) -> dict:
        """Counts that describe the index (all plain Python numbers)."""
        sizes = np.diff(self.bucket_offsets)
        nonsingleton = sizes >= 2
        return {
            "n_items": self.n_items,
            "dim": self.dim,
            "codes_per_item": self.codes_per_item,
            "n_codes": self.n_items * self.codes_per_item,
            "n_entries": int(sizes.sum()),
            "n_buckets": self.n_buckets,
            "n_nonsingleton_buckets": int(nonsingleton.sum()),
            "n_singleton_buckets": int((~nonsingleton).sum()),
            "items_in_nonsingleton_buckets": int(np.count_nonzero(np.bincount(
                self.bucket_items[np.repeat(nonsingleton, sizes)], minlength=self.n_items))),
            "largest_bucket": int(sizes.max()) if len(sizes) else 0,
            "mean_bucket_size": float(sizes.mean()) if len(sizes) else 0.0,
            "mean_nonsingleton_bucket_size":
                float(sizes[nonsingleton].mean()) if nonsingleton.any() else 0.0,
            "memory_bytes": self.nbytes,
        }

    # ---------------------------------------------------------------------------- files

    def save(self, path: str | os.PathLike) -> None:
        """Write the index to ONE ``.npz`` file (atomically: a crash leaves no partial file).

        The file records :data:`FORMAT_NAME`, :data:`FORMAT_VERSION` and ``dim``; the lookup
        keys and the Hamming filter are derived data and are rebuilt on load.
        """
        arrays = {
            "format": np.array(FORMAT_NAME),
            "version": np.array(FORMAT_VERSION, np.int64),
            "dim": np.array(self.dim, np.int64),
            "bucket_codes": self.bucket_codes,
            "bucket_offsets": self.bucket_offsets,
            "bucket_items": self.bucket_items,
            "item_buckets": self.item_buckets,
        }
        if self.names is not None:
            arrays["names"] = self.names
        with atomic_path(path) as tmp, open(tmp, "wb") as fh:
            np.savez(fh, **arrays)

    @classmethod
    def load(cls, path: str | os.PathLike) -> "HashIndex":
        """Read an index written by :meth:`save`.

        A missing, truncated or corrupt file, or a file of another format or version, raises
        :class:`LSEError` saying which.
        """
        path = Path(path)
        if not path.is_file():
            raise LSEError(f"index file {path} does not exist")
        try:
            npz = np.load(path, allow_pickle=False)
            if not hasattr(npz, "files"):
                raise LSEError(f"{path} holds a single .npy array, not an lse hash index (.npz)")
            with npz:
                data = {name: npz[name] for name in npz.files}
        except LSEError:
            raise
        except Exception as exc:  # zipfile/zlib/numpy errors: all mean "unreadable file"
            raise LSEError(f"{path} is not a readable lse hash index (truncated or corrupt "
                           f"file: {type(exc).__name__}: {exc})") from None
        fmt = data.get("format")
        if fmt is None or fmt.shape != () or str(fmt) != FORMAT_NAME:
            what = (f"format {str(fmt)!r}" if fmt is not None and fmt.shape == ()
                    else "no format field")
            raise LSEError(f"{path} is not an lse hash index ({what}; expected {FORMAT_NAME!r})")
        version = data.get("version")
        if version is None or version.shape != () or version.dtype.kind not in "iu":
            raise LSEError(f"{path}: corrupt lse hash index (missing or invalid version field)")
        if int(version) != FORMAT_VERSION:
            raise LSEError(f"{path} is an lse hash index of format version {int(version)}; this "
                           f"lse reads version {FORMAT_VERSION} (rebuild the index)")
        index = cls.__new__(cls)
        index._set_arrays(**_validated_arrays(data, path))
        return index


def _validated_arrays(data: dict, path: Path) -> dict:
    """Check the structure of a loaded index so that a damaged file fails here, not in a query."""
    def bad(what):
        return LSEError(f"{path}: corrupt lse hash index ({what})")

    for name in ("dim", "bucket_codes", "bucket_offsets", "bucket_items", "item_buckets"):
        if name not in data:
            raise bad(f"missing array {name!r}")
    dim = data["dim"]
    if dim.shape != () or dim.dtype.kind not in "iu" or int(dim) < 1:
        raise bad("invalid dim")
    dim = int(dim)
    codes, offsets = data["bucket_codes"], data["bucket_offsets"]
    items, item_buckets = data["bucket_items"], data["item_buckets"]
    if codes.dtype != np.uint8 or codes.ndim != 2 or codes.shape[1] != _code_bytes(dim):
        raise bad(f"bucket_codes must be uint8 (n_buckets, {_code_bytes(dim)}) for dim {dim}, "
                  f"got {codes.dtype} {codes.shape}")
    n_buckets = len(codes)
    for name, arr, ndim in (("bucket_offsets", offsets, 1), ("bucket_items", items, 1),
                            ("item_buckets", item_buckets, 2)):
        if arr.dtype.kind not in "iu" or arr.ndim != ndim:
            raise bad(f"{name} must be a {ndim}-D integer array, got {arr.dtype} {arr.shape}")
    n_items = len(item_buckets)
    if len(offsets) != n_buckets + 1 or offsets[0] != 0 or offsets[-1] != len(items) \
            or np.any(np.diff(offsets) < 1):
        raise bad("bucket_offsets do not delimit non-empty buckets of bucket_items")
    if n_items < 1 or item_buckets.shape[1] < 1:
        raise bad("no items")
    if items.size and (items.min() < 0 or items.max() >= n_items):
        raise bad("bucket_items out of range")
    if item_buckets.min() < 0 or item_buckets.max() >= n_buckets:
        raise bad("item_buckets out of range")
    if not _strictly_increasing(codes):
        raise bad("bucket_codes are not sorted and unique")
    try:
        _check_code_array(codes, dim, "bucket_codes", min_ndim=2, max_ndim=2)
    except LSEError as exc:
        raise bad(str(exc)) from None
    names = data.get("names")
    if names is not None and (names.dtype.kind != "U" or names.shape != (n_items,)):
        raise bad(f"names must be {n_items} strings")
    return dict(dim=dim, bucket_codes=codes, bucket_offsets=offsets.astype(np.int64, copy=False),
                bucket_items=items, item_buckets=item_buckets, names=names)


def _strictly_increasing(codes: np.ndarray) -> bool:
    """Are the rows of ``codes`` in strictly increasing lexicographic byte order?"""
    a, b = codes[:-1], codes[1:]
    differ = a != b
    first = np.argmax(differ, axis=1)
    rows = np.arange(len(a))
    return bool(np.all(differ[rows, first]) and np.all(a[rows, first] < b[rows, first]))
