"""Readers: IDX image sets and XC-format label files (compression, shapes, malformed input)."""
import bz2
import gzip
import lzma
import struct
from pathlib import Path

import numpy as np
import pytest

from lse.datasets import load_idx_dataset, read_idx, read_xc
from lse.errors import LSEError

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
COMPRESSORS = {"plain": lambda b: b, "gz": gzip.compress, "bz2": bz2.compress, "xz": lzma.compress}


def idx_bytes(array: np.ndarray, type_byte: int) -> bytes:
    big = array.astype(array.dtype.newbyteorder(">"))
    return bytes([0, 0, type_byte, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape) \
        + big.tobytes()


@pytest.mark.parametrize("compression", list(COMPRESSORS))
def test_read_idx_any_compression(tmp_path, compression):
    images = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    path = tmp_path / "imgs"  # no suffix: compression is recognised by the magic bytes
    path.write_bytes(COMPRESSORS[compression](idx_bytes(images, 0x08)))
    out = read_idx(path)
    assert out.dtype == np.uint8 and out.shape == (2, 3, 4)
    np.testing.assert_array_equal(out, images)


def test_read_idx_wider_types_are_big_endian():
    values = np.array([-2, 70000, 3], np.int32)
    floats = np.array([[1.5, -0.25]], np.float32)
    import tempfile
    with tempfile.TemporaryDirectory() as d:
        p, q = Path(d) / "a", Path(d) / "b"
        p.write_bytes(idx_bytes(values, 0x0C))
        q.write_bytes(idx_bytes(floats, 0x0D))
        np.testing.assert_array_equal(read_idx(p), values)
        np.testing.assert_array_equal(read_idx(q), floats)


@pytest.mark.parametrize("content, message", [
    (b"", "not an IDX file"),
    (b"\x01\x02\x08\x01" + struct.pack(">I", 1) + b"\x00", "not an IDX file"),
    (b"\x00\x00\x07\x01" + struct.pack(">I", 1) + b"\x00", "unknown IDX value type 0x07"),
    (b"\x00\x00\x08\x03" + struct.pack(">I", 2), "header truncated"),
    (b"\x00\x00\x08\x01" + struct.pack(">I", 5) + b"\x00\x01", r"shape \(5,\) .*\(truncated\)"),
    (b"\x00\x00\x08\x01" + struct.pack(">I", 1) + b"\x00\x01", "trailing data"),
])
def test_read_idx_errors(tmp_path, content, message):
    path = tmp_path / "bad.idx"
    path.write_bytes(content)
    with pytest.raises(LSEError, match=message):
        read_idx(path)


def test_read_idx_corrupt_gzip_and_missing(tmp_path):
    path = tmp_path / "x.gz"
    path.write_bytes(gzip.compress(idx_bytes(np.zeros(100, np.uint8), 0x08))[:30])
    with pytest.raises(LSEError, match="cannot decompress"):
        read_idx(path)
    with pytest.raises(LSEError, match="does not exist"):
        read_idx(tmp_path / "nope")


def write_idx_set(directory: Path, n_train=5, n_test=3, test_prefix="t10k"):
    rng = np.random.default_rng(0)
    files = {
        "train-images-idx3-ubyte.gz": (rng.integers(0, 256, (n_train, 2, 2)).astype(np.uint8), 8),
        "train-labels-idx1-ubyte.gz": (np.arange(n_train, dtype=np.uint8) % 3, 8),
        f"{test_prefix}-images-idx3-ubyte": (rng.integers(0, 256, (n_test, 2, 2)).astype(np.uint8), 8),
        f"{test_prefix}-labels-idx1-ubyte": (np.arange(n_test, dtype=np.uint8) % 3, 8),
    }
    for name, (array, kind) in files.items():
        data = idx_bytes(array, kind)
        (directory / name).write_bytes(gzip.compress(data) if name.endswith(".gz") else data)
    return files


def test_load_idx_dataset_finds_the_four_files(tmp_path):
    files = write_idx_set(tmp_path, test_prefix="test")
    data = load_idx_dataset(tmp_path)
    np.testing.assert_array_equal(data.train_labels, [0, 1, 2, 0, 1])
    assert data.train_labels.dtype == np.int64
    x = data.features("test")
    assert x.shape == (3, 4) and x.dtype == np.float32
    np.testing.assert_allclose(x * 255, files["test-images-idx3-ubyte"][0].reshape(3, 4))
    assert set(data.files) == {"train_images", "train_labels", "test_images", "test_labels"}


def test_load_idx_dataset_errors(tmp_path):
    with pytest.raises(LSEError, match="not a directory"):
        load_idx_dataset(tmp_path / "missing")
    write_idx_set(tmp_path)
    (tmp_path / "t10k-labels-idx1-ubyte").unlink()
    with pytest.raises(LSEError, match="no test labels file .*t10k-labels-idx1-ubyte.gz"):
        load_idx_dataset(tmp_path)
    (tmp_path / "t10k-labels-idx1-ubyte").write_bytes(idx_bytes(np.zeros(4, np.uint8), 8))
    with pytest.raises(LSEError, match="3 test images but 4 labels"):
        load_idx_dataset(tmp_path)
    (tmp_path / "test-labels-copy").write_bytes(b"")
    with pytest.raises(LSEError, match="several test labels files"):
        load_idx_dataset(tmp_path)


XC_TEXT = "3 4 3\n0,2 0:1 3:0.5\n 1:2\n1 2:1.5 0:1\n"


@pytest.mark.parametrize("compression", list(COMPRESSORS))
def test_read_xc_any_compression(tmp_path, compression):
    path = tmp_path / f"data.{compression}"
    path.write_bytes(COMPRESSORS[compression](XC_TEXT.encode()))
    data = read_xc(path)
    assert data.shape == (3, 4, 3)
    np.testing.assert_array_equal(data.X.toarray(), [[1, 0, 0, 0.5], [0, 2, 0, 0], [1, 0, 1.5, 0]])
    np.testing.assert_array_equal(data.Y.toarray(), [[1, 0, 1], [0, 0, 0], [0, 1, 0]])
    assert data.X.has_sorted_indices and data.X.dtype == np.float32


def test_read_xc_crlf_and_no_final_newline(tmp_path):
    path = tmp_path / "crlf.txt"
    path.write_bytes(XC_TEXT.replace("\n", "\r\n").rstrip().encode())
    assert read_xc(path).X.nnz == 5


@pytest.mark.parametrize("text, message", [
    ("", "empty file"),
    ("3 4\n", r"line 1: expected the header 'N F L'"),
    ("2 4 3\n0 0:1\n", "announces 2 items but the file has 1 item lines"),
    ("2 4 3\n0 0:1\n1 4:1\n", r"line 3: expected a feature 'f:v' with f an integer in \[0, 4\), got '4:1'"),
    ("2 4 3\n0 0:1\n3 1:1\n", r"line 3: expected comma-separated label ids in \[0, 3\)"),
    ("2 4 3\n0,x 0:1\n1 1:1\n", "line 2: .*label ids.*got 'x'"),
    ("2 4 3\n0 0:1\n1:1 2:1\n", "line 3: .*an item without labels starts with a space.*got '1:1'"),
    ("2 4 3\n0 0:abc\n1 1:1\n", "line 2: expected a finite number after '0:', got 'abc'"),
    ("2 4 3\n0 0:1 2\n1 1:1\n", r"line 2: expected a feature 'f:v'.*got '2'"),
    ("2 4 3\n0 0:1\n1 1:nan\n", "line 3: expected a finite number"),
    ("2 4 3\n0 0:1:2\n1 1:1\n", "line 2: expected a finite number after '0:', got '1:2'"),
])
def test_read_xc_malformed_lines(tmp_path, text, message):
    path = tmp_path / "bad.txt"
    path.write_text(text)
    with pytest.raises(LSEError, match=message):
        read_xc(path)


@pytest.mark.skipif(not (DATA / "multilabel").is_dir(), reason="shared data not present")
def test_read_xc_real_bibtex_header_and_sizes():
    data = read_xc(DATA / "multilabel" / "bibtex_test.txt.xz")
    assert data.shape == (2515, 1836, 159)
    assert data.Y.getnnz(axis=1).min() >= 1 and set(np.unique(data.X.data)) == {1.0}


def test_xc_split_is_a_seeded_partition(tmp_path):
    path = tmp_path / "d.txt"
    n = 10
    path.write_text(f"{n} 3 2\n" + "".join(f"{i % 2} 0:{i + 1}\n" for i in range(n)))
    data = read_xc(path)
    rest, held = data.split(0.3, seed=1)
    assert (rest.shape, held.shape) == ((7, 3, 2), (3, 3, 2))
    # feature 0 holds item number + 1: together the two sides are every item exactly once
    ids = np.concatenate([rest.X[:, 0].toarray().ravel(), held.X[:, 0].toarray().ravel()])
    assert sorted(ids) == list(range(1, n + 1))
    np.testing.assert_array_equal(held.Y.toarray()[:, 1], (held.X[:, 0].toarray().ravel() - 1) % 2)
    again, _ = data.split(0.3, seed=1)
    assert (again.X != rest.X).nnz == 0
    assert (data.split(0.3, seed=2)[1].X != held.X).nnz > 0
    for bad in (0.0, 1.0, 0.01):
        with pytest.raises(LSEError, match="fraction must be in|too few"):
            data.split(bad)
