"""The prepared dataset directory and its loader (the contract with the training code).

Layout (written atomically by ``lse prepare``: the directory appears only when complete):

``vocab.txt``
    one ``word<TAB>count`` line per word; line ``i`` (0-based) is row/column ``i``.
``pairs.npz``
    the binary training pair matrix ``D``: ``scipy.sparse.save_npz`` CSR, square over the
    vocabulary, symmetric, float32 ones, no diagonal, held-out pairs removed.
``counts.npz``
    the raw cooccurrence counts ``X`` (float64, symmetric, 1/distance-weighted) over the same
    vocabulary, before atypicality / top-k filtering.
``heldout.npy``
    ``(n, 2)`` int64 ``(query, target)`` pairs removed from ``pairs.npz`` (both directions) for
    the hit-ratio test.
``stats.json``
    how the dataset was made and what it contains (see ``lse prepare --help``).
"""
from __future__ import annotations

import json
import os
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from lse.errors import LSEError

FILES = ("vocab.txt", "pairs.npz", "counts.npz", "heldout.npy", "stats.json")


@dataclass
class Dataset:
    """A prepared word-cooccurrence dataset (see the module docstring for the files)."""

    vocab: list[str]
    word_counts: np.ndarray
    pairs: sp.csr_matrix
    counts: sp.csr_matrix | None
    heldout: np.ndarray
    stats: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.vocab)

    def word_index(self) -> dict[str, int]:
        """``{word: row}``."""
        return {w: i for i, w in enumerate(self.vocab)}


def write_vocab(path: str | os.PathLike, words: list[str], counts: np.ndarray) -> None:
    with open(path, "w", encoding="utf-8", newline="\n") as fh:
        fh.writelines(f"{w}\t{int(c)}\n" for w, c in zip(words, counts))


def _read_vocab(path: Path) -> tuple[list[str], np.ndarray]:
    words, counts = [], []
    try:
        with open(path, encoding="utf-8", newline="\n") as fh:
            for lineno, line in enumerate(fh, 1):
                word, sep, count = line.rstrip("\n").rpartition("\t")
                if not sep or not word or not count.isdigit():
                    raise LSEError(f"{path}, line {lineno}: expected 'word<TAB>count', got "
                                   f"{line[:60]!r}")
                words.append(word)
                counts.append(int(count))
    except UnicodeDecodeError as exc:
        raise LSEError(f"{path}: not UTF-8 text ({exc})") from None
    return words, np.asarray(counts, np.int64)


def _load_npz(path: Path, n: int) -> sp.csr_matrix:
    try:
        m = sp.load_npz(path).tocsr()
    except (OSError, ValueError, KeyError, zipfile.BadZipFile, EOFError) as exc:
        raise LSEError(f"{path}: not a readable scipy sparse .npz file ({exc})") from None
    if m.shape != (n, n):
        raise LSEError(f"{path}: shape {m.shape} does not match the {n}-word vocabulary")
    return m


def load_dataset(path: str | os.PathLike, *, counts: bool = True) -> Dataset:
    """Load a directory written by ``lse prepare``; :class:`LSEError` if missing or corrupt.

    ``counts=False`` skips the (large) raw count matrix (``Dataset.counts`` is then None).
    """
    path = Path(path)
    if not path.is_dir():
        raise LSEError(f"dataset directory {path} does not exist (make one with lse prepare)")
    missing = [f for f in FILES if not (path / f).is_file()]
    if missing:
        raise LSEError(f"{path} is not a complete dataset: missing {', '.join(missing)}")
    words, word_counts = _read_vocab(path / "vocab.txt")
    n = len(words)
    if n == 0:
        raise LSEError(f"{path / 'vocab.txt'} is empty")
    pairs = _load_npz(path / "pairs.npz", n)
    if pairs.nnz and (pairs != pairs.T).nnz:
        raise LSEError(f"{path / 'pairs.npz'}: the pair matrix is not symmetric")
    try:
        heldout = np.load(path / "heldout.npy", allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise LSEError(f"{path / 'heldout.npy'}: not a readable .npy file ({exc})") from None
    if heldout.ndim != 2 or heldout.shape[1] != 2 or not np.issubdtype(heldout.dtype,
                                                                         np.integer):
        raise LSEError(f"{path / 'heldout.npy'}: expected an (n, 2) integer array, got "
                       f"{heldout.dtype} {heldout.shape}")
    if heldout.size and (heldout.min() < 0 or heldout.max() >= n):
        raise LSEError(f"{path / 'heldout.npy'}: word ids outside 0..{n - 1}")
    try:
        stats = json.loads((path / "stats.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise LSEError(f"{path / 'stats.json'}: not valid JSON ({exc})") from None
    raw = _load_npz(path / "counts.npz", n) if counts else None
    return Dataset(words, word_counts, pairs, raw, heldout.astype(np.int64), stats)
