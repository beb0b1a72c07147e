"""CSR matrices on disk: raw-array directories for intermediate results, streamed ``.npz``.

Intermediate matrices (per-shard runs, reduced row blocks) are stored as a directory of plain
``.npy`` files (``indptr``, ``indices``, ``data``, ``shape``), written atomically, possibly
piece by piece. A reducer that needs rows ``lo:hi`` of a run reads only those bytes (``indptr``
gives the byte range) instead of loading every run whole.

:func:`write_npz` assembles row blocks into one ``scipy.sparse.save_npz``-compatible file
(uncompressed) by streaming each array block after block into its zip member, so the full
matrix is never in memory at once.
"""
from __future__ import annotations

import os
import zipfile
from pathlib import Path
from typing import Iterable

import numpy as np
import scipy.sparse as sp

from lse.io import atomic_directory


def _npy_header(fh, dtype, length: int) -> None:
    np.lib.format.write_array_header_1_0(fh, {
        "descr": np.lib.format.dtype_to_descr(np.dtype(dtype)), "fortran_order": False,
        "shape": (int(length),)})


def write_csr_dir(path: str | os.PathLike, shape: tuple[int, int], indptr: np.ndarray,
                  pieces: Iterable[tuple[np.ndarray, np.ndarray]], dtype) -> Path:
    """Write a CSR matrix given row pointers and its ``(indices, data)`` in consecutive
    pieces, as raw arrays in directory ``path`` (atomically, replacing it). The matrix need
    never be whole in memory."""
    nnz = int(indptr[-1])
    written = 0
    with atomic_directory(path, overwrite=True) as tmp:
        np.save(tmp / "indptr.npy", np.asarray(indptr, np.int64))
        np.save(tmp / "shape.npy", np.asarray(shape, np.int64))
        with open(tmp / "indices.npy", "wb") as fi, open(tmp / "data.npy", "wb") as fd:
            _npy_header(fi, np.int32, nnz)
            _npy_header(fd, dtype, nnz)
            for indices, data in pieces:
                np.asarray(indices, np.int32).tofile(fi)
                np.asarray(data, dtype).tofile(fd)
                written += len(indices)
        if written != nnz:
            raise RuntimeError(f"{path}: {written} entries written, indptr says {nnz}")
    return Path(path)


def save_csr_dir(matrix: sp.csr_matrix, path: str | os.PathLike) -> Path:
    """Write ``matrix`` as raw arrays in directory ``path`` (atomically, replacing it)."""
    matrix = matrix.tocsr()
    return write_csr_dir(path, matrix.shape, matrix.indptr,
                         [(matrix.indices, matrix.data)], matrix.data.dtype)


def _npy_layout(path: Path) -> tuple[np.dtype, int]:
    """dtype and byte offset of the data of a 1-D ``.npy`` file."""
    with open(path, "rb") as fh:
        major, _ = np.lib.format.read_magic(fh)
        read_header = (np.lib.format.read_array_header_1_0 if major == 1
                       else np.lib.format.read_array_header_2_0)
        _, _, dtype = read_header(fh)
        return dtype, fh.tell()


class CSRDir:
    """A CSR matrix saved by :func:`save_csr_dir`. Only ``indptr`` is loaded; row ranges are
    read with plain file reads (into fresh arrays: faster than faulting in the pages of a
    memory map one by one)."""

    def __init__(self, path: str | os.PathLike):
        path = Path(path)
        self.path = path
        self.shape = tuple(int(x) for x in np.load(path / "shape.npy"))
        self.indptr = np.load(path / "indptr.npy")
        self._layout = {name: _npy_layout(path / f"{name}.npy") for name in ("indices", "data")}

    @property
    def nnz(self) -> int:
        return int(self.indptr[-1])

    def _read(self, name: str, a: int, b: int) -> np.ndarray:
        dtype, offset = self._layout[name]
        return np.fromfile(self.path / f"{name}.npy", dtype=dtype, count=b - a,
                           offset=offset + a * dtype.itemsize)

    def rows(self, lo: int, hi: int) -> sp.csr_matrix:
        """Rows ``lo:hi`` as an in-memory CSR matrix of shape ``(hi - lo, n_cols)``."""
        a, b = int(self.indptr[lo]), int(self.indptr[hi])
        indptr = self.indptr[lo:hi + 1] - a
        out = sp.csr_matrix((self._read("data", a, b), self._read("indices", a, b), indptr),
                            shape=(hi - lo, self.shape[1]))
        out.has_sorted_indices = True  # written from canonical matrices
        out.has_canonical_format = True
        return out

    def load(self) -> sp.csr_matrix:
        return self.rows(0, self.shape[0])


def _write_member(zf: zipfile.ZipFile, name: str, dtype, length: int,
                  pieces: Iterable[np.ndarray]) -> None:
    written = 0
    with zf.open(name, "w", force_zip64=True) as fh:
        _npy_header(fh, dtype, length)
        for piece in pieces:
            piece = np.ascontiguousarray(piece, dtype=dtype)
            fh.write(memoryview(piece).cast("B"))
            written += len(piece)
    if written != length:
        raise RuntimeError(f"{name}: wrote {written} items, expected {length}")


def _write_small(zf: zipfile.ZipFile, name: str, value: np.ndarray) -> None:
    with zf.open(name, "w") as fh:
        np.lib.format.write_array(fh, np.asarray(value), allow_pickle=False)


def _read_pieces(path: Path, items: int = 1 << 22):
    """The array in ``.npy`` file ``path`` in pieces of ``items`` elements, read with plain
    file reads (a memory map would count the whole file in this process' resident memory)."""
    dtype, offset = _npy_layout(path)
    with open(path, "rb") as fh:
        fh.seek(0, os.SEEK_END)
        left = (fh.tell() - offset) // dtype.itemsize
        fh.seek(offset)
        while left > 0:
            piece = np.fromfile(fh, dtype=dtype, count=min(items, left))
            left -= len(piece)
            yield piece


def write_npz(path: str | os.PathLike, blocks: list[CSRDir], *, dtype=np.float64,
              scale: float | None = None) -> None:
    """Stack row ``blocks`` (same column count, in row order) into one ``save_npz`` file.

    ``scale``: divide the data by this number while copying (scaled integer counts -> float).
    Blocks are copied piece by piece, so memory stays small whatever the matrix size.
    """
    n_rows = sum(b.shape[0] for b in blocks)
    n_cols = blocks[0].shape[1] if blocks else 0
    nnz = sum(b.nnz for b in blocks)
    index_dtype = np.int32 if nnz < 2**31 else np.int64

    def pieces(name):
        for b in blocks:
            yield from _read_pieces(b.path / name)

    def data():
        for d in pieces("data.npy"):
            yield d / scale if scale else d

    def indptr():
        offset = 0
        yield np.zeros(1, index_dtype)
        for b in blocks:
            yield np.asarray(b.indptr[1:]) + offset
            offset += b.nnz

    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as zf:
        _write_member(zf, "indices.npy", np.int32, nnz, pieces("indices.npy"))
        _write_member(zf, "indptr.npy", index_dtype, n_rows + 1, indptr())
        _write_small(zf, "format.npy", np.array(b"csr"))
        _write_small(zf, "shape.npy", np.array([n_rows, n_cols], np.int64))
        _write_member(zf, "data.npy", dtype, nnz, data())
