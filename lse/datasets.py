"""Readers for labelled feature data: IDX image sets (MNIST layout) and XC-format label files.

Both formats arrive compressed more often than not, so every reader opens files through
:func:`open_binary`, which recognises gzip, bzip2 and xz/lzma by their magic bytes (a
``.gz`` name on a plain file, or no suffix on a compressed one, both work).

IDX (LeCun's MNIST format): a 4-byte magic ``0 0 <type> <ndim>``, ``ndim`` big-endian uint32
sizes, then the values in big-endian C order. :func:`load_idx_dataset` finds the four files of
a train/test split in a directory by name (``train-images``, ``train-labels``, ``t10k-`` or
``test-`` ...), as MNIST, Fashion-MNIST, KMNIST and EMNIST ship them.

XC (the Extreme Classification Repository's text format): a header line ``N F L`` (items,
features, labels), then one line per item ``l1,l2,... f:v f:v ...`` with 0-based ids; an item
without labels starts with a space. Each malformed line raises :class:`LSEError` naming the file,
the line number and what was expected there, since these files are often hand-converted.
"""
from __future__ import annotations

import bz2
import gzip
import io
import lzma
import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from .errors import LSEError

__all__ = ["open_binary", "read_idx", "IDXDataset", "load_idx_dataset", "XCData", "read_xc"]

_MAGIC = ((b"\x1f\x8b", gzip.open), (b"BZh", bz2.open), (b"\xfd7zXZ\x00", lzma.open),
          (b"\x5d\x00\x00", lzma.open))
_CORRUPT = (OSError, EOFError, lzma.LZMAError, gzip.BadGzipFile)


def open_binary(path: str | os.PathLike):
    """Open ``path`` for reading bytes, decompressing gzip / bzip2 / xz / lzma on the fly."""
    path = Path(path)
    if not path.is_file():
        raise LSEError(f"{path} does not exist or is not a file")
    with open(path, "rb") as fh:
        head = fh.read(6)
    for magic, opener in _MAGIC:
        if head.startswith(magic):
            return opener(path, "rb")
    return open(path, "rb")


def _read_all(path: Path) -> bytes:
    try:
        with open_binary(path) as fh:
            return fh.read()
    except _CORRUPT as exc:
        raise LSEError(f"{path}: cannot decompress or read the file ({exc})") from None


# ------------------------------------------------------------------------------------- IDX
#: IDX type byte -> big-endian numpy dtype.
IDX_TYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """One IDX file as a numpy array (native byte order) of the shape its header gives."""
    path = Path(path)
    data = _read_all(path)
    if len(data) < 4 or data[0] != 0 or data[1] != 0:
        raise LSEError(f"{path}: not an IDX file (expected the magic bytes 00 00 <type> <ndim>, "
                       f"got {data[:4].hex(' ') or 'an empty file'})")
    kind, ndim = data[2], data[3]
    if kind not in IDX_TYPES:
        raise LSEError(f"{path}: unknown IDX value type 0x{kind:02x} (expected one of "
                       f"{', '.join(f'0x{k:02x}' for k in IDX_TYPES)})")
    if ndim < 1 or len(data) < 4 + 4 * ndim:
        raise LSEError(f"{path}: IDX header truncated (expected {ndim} dimension sizes)")
    shape = tuple(int(s) for s in np.frombuffer(data, ">u4", ndim, 4))
    dtype = np.dtype(IDX_TYPES[kind])
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    body = len(data) - 4 - 4 * ndim
    if body != expected:
        raise LSEError(f"{path}: the header announces shape {shape} ({expected} bytes of data) "
                       f"but the file holds {body} bytes ({'truncated' if body < expected else 'trailing data'})")
    return np.frombuffer(data, dtype, offset=4 + 4 * ndim).reshape(shape).astype(dtype.newbyteorder("="))


@dataclass
class IDXDataset:
    """A labelled image split: images as uint8/float arrays (n, ...) and int labels (n,)."""

    train_images: np.ndarray
    train_labels: np.ndarray
    test_images: np.ndarray
    test_labels: np.ndarray
    files: dict

    def features(self, split: str) -> np.ndarray:
        """Flattened float32 pixels scaled to [0, 1] (uint8 images) of ``"train"`` or ``"test"``."""
        images = self.train_images if split == "train" else self.test_images
        x = images.reshape(len(images), -1).astype(np.float32)
        return x / 255.0 if images.dtype == np.uint8 else x


_IDX_ROLES = {
    "train_images": re.compile(r"train.*images?|images?.*train", re.I),
    "train_labels": re.compile(r"train.*labels?|labels?.*train", re.I),
    "test_images": re.compile(r"(t10k|test).*images?|images?.*(t10k|test)", re.I),
    "test_labels": re.compile(r"(t10k|test).*labels?|labels?.*(t10k|test)", re.I),
}


def load_idx_dataset(directory: str | os.PathLike) -> IDXDataset:
    """The train/test images and labels of an IDX data set directory (MNIST naming).

    Files are matched by name: ``*train*images*``, ``*train*labels*``, ``*t10k*`` or ``*test*``
    for the test split; any compression. Checks that images and labels agree in length and that
    labels are 1-D integers.
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise LSEError(f"{directory} is not a directory (expected a directory holding IDX files "
                       "such as train-images-idx3-ubyte.gz)")
    names = sorted(p for p in directory.iterdir() if p.is_file() and not p.name.startswith("."))
    files = {}
    for role, pattern in _IDX_ROLES.items():
        hits = [p for p in names if pattern.search(p.name)]
        if not hits:
            raise LSEError(f"{directory}: no {role.replace('_', ' ')} file (expected a name "
                           f"like {_example(role)})")
        if len(hits) > 1:
            raise LSEError(f"{directory}: several {role.replace('_', ' ')} files "
                           f"({', '.join(p.name for p in hits)}); keep one")
        files[role] = hits[0]
    arrays = {role: read_idx(path) for role, path in files.items()}
    for split in ("train", "test"):
        images, labels = arrays[f"{split}_images"], arrays[f"{split}_labels"]
        if labels.ndim != 1 or labels.dtype.kind not in "iu":
            raise LSEError(f"{files[f'{split}_labels']}: labels must be a 1-D integer IDX array "
                           f"(got {labels.dtype} of shape {labels.shape})")
        if images.ndim < 2 or len(images) != len(labels):
            raise LSEError(f"{directory}: {len(images)} {split} images but {len(labels)} labels")
    if arrays["train_images"].shape[1:] != arrays["test_images"].shape[1:]:
        raise LSEError(f"{directory}: train images are {arrays['train_images'].shape[1:]}, test "
                       f"images {arrays['test_images'].shape[1:]}")
    return IDXDataset(files={k: str(v) for k, v in files.items()},
                      **{k: (v.astype(np.int64) if k.endswith("labels") else v)
                         for k, v in arrays.items()})


def _example(role: str) -> str:
    split, kind = role.split("_")
    return f"{'train' if split == 'train' else 't10k'}-{kind}-idx{3 if kind == 'images' else 1}-ubyte.gz"


# -------------------------------------------------------------------------------------- XC
@dataclass
class XCData:
    """An XC-format file: features X (n, F) float32 CSR and labels Y (n, L) 0/1 float32 CSR."""

    X: sp.csr_matrix
    Y: sp.csr_matrix
    path: str = ""

    @property
    def shape(self) -> tuple[int, int, int]:
        return self.X.shape[0], self.X.shape[1], self.Y.shape[1]

    def split(self, fraction: float, seed: int = 0) -> tuple["XCData", "XCData"]:
        """(rest, held out): a seeded random ``fraction`` of the items held out, e.g. a
        validation split of a training file, so that settings are never chosen on a test file.
        Both keep every feature and label column (a label may be absent from one side)."""
        if not 0.0 < fraction < 1.0:
            raise LSEError(f"the held-out fraction must be in (0, 1) (got {fraction})")
        n = self.X.shape[0]
        held = int(round(fraction * n))
        if not 0 < held < n:
            raise LSEError(f"{self.path or 'the data'} has {n} items: too few to hold out "
                           f"{fraction:.0%} and keep some")
        order = np.random.default_rng(seed).permutation(n)
        keep, out = np.sort(order[held:]), np.sort(order[:held])
        return (XCData(self.X[keep], self.Y[keep], f"{self.path}[rest]"),
                XCData(self.X[out], self.Y[out], f"{self.path}[held out]"))


def read_xc(path: str | os.PathLike) -> XCData:
    """Read an XC-format file (plain or compressed): header ``N F L`` then ``N`` item lines.

    Every item line is checked: label ids must be integers in ``[0, L)``, features ``f:v`` pairs
    with an integer ``f`` in ``[0, F)`` and a finite number ``v``; the file must hold exactly
    ``N`` item lines. A violation raises :class:`LSEError` with the line number.
    """
    path = Path(path)
    text = _read_all(path)
    try:
        lines = io.StringIO(text.decode("utf-8"), newline=None).read().split("\n")
    except UnicodeDecodeError as exc:
        raise LSEError(f"{path}: not a UTF-8 text file ({exc.reason} at byte {exc.start})") from None
    if lines and lines[-1] == "":
        lines.pop()
    if not lines:
        raise LSEError(f"{path}: empty file (expected a header line 'N F L')")
    header = lines[0].split()
    if len(header) != 3 or not all(h.isdigit() for h in header):
        raise LSEError(f"{path}, line 1: expected the header 'N F L' (three non-negative "
                       f"integers: items, features, labels), got {lines[0][:80]!r}")
    n, n_features, n_labels = (int(h) for h in header)
    if len(lines) - 1 != n:
        raise LSEError(f"{path}: the header announces {n} items but the file has "
                       f"{len(lines) - 1} item lines")
    label_ids, label_counts, feature_tokens, feature_counts = [], np.zeros(n, np.int64), [], np.zeros(n, np.int64)
    for row, line in enumerate(lines[1:]):
        head, _, rest = line.partition(" ")
        if head:
            labels = head.split(",")
            label_ids.extend(labels)
            label_counts[row] = len(labels)
        tokens = rest.split()
        if rest.count(":") != len(tokens):
            _raise_line(path, row, line, n_features, n_labels)
        feature_tokens.append(rest.replace(":", " "))
        feature_counts[row] = len(tokens)
    try:
        labels = np.array(label_ids, dtype=np.int64)
        pairs = np.array(" ".join(feature_tokens).split(), dtype=np.float64).reshape(-1, 2)
    except ValueError:
        labels, pairs = None, None
    if labels is None or (pairs.size and not np.isfinite(pairs).all()) \
            or (labels.size and (labels.min() < 0 or labels.max() >= n_labels)) \
            or (pairs.size and (np.any(pairs[:, 0] != np.floor(pairs[:, 0]))
                                or pairs[:, 0].min() < 0 or pairs[:, 0].max() >= n_features)):
        for row, line in enumerate(lines[1:]):  # slow path: find and describe the first bad line
            _check_line(path, row, line, n_features, n_labels)
        raise LSEError(f"{path}: malformed content")  # pragma: no cover (the scan finds it)
    X = sp.csr_matrix((pairs[:, 1].astype(np.float32), pairs[:, 0].astype(np.int64),
                       np.concatenate([[0], np.cumsum(feature_counts)])), shape=(n, n_features))
    Y = sp.csr_matrix((np.ones(len(labels), np.float32), labels,
                       np.concatenate([[0], np.cumsum(label_counts)])), shape=(n, n_labels))
    for m in (X, Y):
        m.sum_duplicates()  # also sorts indices
    Y.data[:] = 1.0
    return XCData(X=X, Y=Y, path=str(path))


def _check_line(path, row, line, n_features, n_labels) -> None:
    head, _, rest = line.partition(" ")
    if head:
        for token in head.split(","):
            if not token.isdigit() or int(token) >= n_labels:
                raise LSEError(f"{path}, line {row + 2}: expected comma-separated label ids in "
                               f"[0, {n_labels}) before the first space (an item without labels "
                               f"starts with a space), got {token!r}")
    for token in rest.split():
        f, colon, v = token.partition(":")
        if not colon or not f.isdigit() or int(f) >= n_features:
            raise LSEError(f"{path}, line {row + 2}: expected a feature 'f:v' with f an integer "
                           f"in [0, {n_features}), got {token!r}")
        try:
            ok = np.isfinite(float(v))
        except ValueError:
            ok = False
        if not ok:
            raise LSEError(f"{path}, line {row + 2}: expected a finite number after "
                           f"'{f}:', got {v!r}")


def _raise_line(path, row, line, n_features, n_labels) -> None:
    _check_line(path, row, line, n_features, n_labels)
    raise LSEError(f"{path}, line {row + 2}: expected 'l1,l2,... f:v f:v ...' "
                   f"(one ':' per feature token), got {line[:80]!r}")
