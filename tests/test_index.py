"""lse.index: bit packing, exact-collision retrieval, Hamming balls, files, validation."""
from __future__ import annotations

import zipfile

import numpy as np
import pytest
import scipy.sparse as sp

import lse.index as lidx
from lse.errors import LSEError
from lse.index import HashIndex, pack_codes, unpack_codes


# ------------------------------------------------------------------------------------- helpers


def brute_force(db_codes, q_codes, dim, radius=0):
    """Dense (n_q, n_items) bool: some query code within ``radius`` of some item code."""
    db = unpack_codes(db_codes, dim).astype(np.int16)  # (n, L, d)
    q = unpack_codes(q_codes, dim).astype(np.int16)  # (n_q, Lq, d)
    out = np.zeros((len(q), len(db)), bool)
    for lq in range(q.shape[1]):
        for ld in range(db.shape[1]):
            dist = np.abs(q[:, None, lq, :] - db[None, :, ld, :]).sum(-1)
            out |= dist <= radius
    return out


def clustered_codes(rng, n_items, L, dim, n_centres, max_flips=2):
    """Random codes near a few centres, so that Hamming balls and buckets are populated."""
    centres = rng.integers(0, 2, (n_centres, dim), dtype=np.uint8)
    bits = centres[rng.integers(0, n_centres, n_items * L)]
    for _ in range(max_flips):
        flip = rng.random(len(bits)) < 0.6
        cols = rng.integers(0, dim, len(bits))
        bits[flip, cols[flip]] ^= 1
    return pack_codes(bits.reshape(n_items, L, dim).astype(np.float32) - 0.5)


def assert_canonical(m: sp.csr_matrix, shape):
    assert isinstance(m, sp.csr_matrix) and m.shape == shape and m.dtype == bool
    for r in range(shape[0]):
        row = m.indices[m.indptr[r]:m.indptr[r + 1]]
        assert np.all(np.diff(row) > 0), "row indices must be sorted and unique"


def assert_same_sets(m: sp.csr_matrix, dense: np.ndarray):
    assert_canonical(m, dense.shape)
    np.testing.assert_array_equal(m.toarray(), dense)


# ------------------------------------------------------------------------------------- packing


def test_pack_bit_convention():
    x = np.array([0.5, -1.0, 0.0, 2.0, 3.0, 1e-9, 7.0, 1.0, 4.0, -0.0])  # d = 10
    codes = pack_codes(x)
    # bit j = 1[x_j > 0], most significant bit first, padding bits 0; 0 and -0 map to 0
    assert codes.dtype == np.uint8 and codes.tolist() == [0b10011111, 0b10000000]
    np.testing.assert_array_equal(unpack_codes(codes, 10), (x > 0).astype(np.uint8))


@pytest.mark.parametrize("dim", [1, 7, 8, 13, 32, 64, 96])
def test_pack_unpack_round_trip(dim):
    x = np.random.default_rng(dim).standard_normal((20, 3, dim)).astype(np.float32)
    codes = pack_codes(x)
    assert codes.shape == (20, 3, (dim + 7) // 8)
    np.testing.assert_array_equal(unpack_codes(codes, dim), (x > 0).astype(np.uint8))
    np.testing.assert_array_equal(pack_codes(unpack_codes(codes, dim)), codes)


def test_pack_and_unpack_reject_bad_input():
    with pytest.raises(LSEError, match="NaN"):
        pack_codes([0.1, np.nan])
    with pytest.raises(LSEError, match="dtype"):
        pack_codes(np.array(["a", "b"]))
    with pytest.raises(LSEError, match="2 bytes"):
        unpack_codes(np.zeros((3, 3), np.uint8), 10)
    with pytest.raises(LSEError, match="dim"):
        unpack_codes(np.zeros((3, 1), np.uint8), 0)


# ------------------------------------------------------------------------------------- exact search


def test_exact_search_with_many_collisions_equals_brute_force():
    rng = np.random.default_rng(0)
    codes = rng.integers(0, 256, (5000, 1), dtype=np.uint8)  # 8-bit codes: ~20 items per bucket
    index = HashIndex(codes, 8)
    st = index.stats()
    assert st["n_items"] == st["n_codes"] == st["n_entries"] == 5000
    assert st["n_buckets"] == len(np.unique(codes)) and st["largest_bucket"] >= 20

    q = rng.integers(0, 256, (300, 1), dtype=np.uint8)
    assert_same_sets(index.query_codes(q), brute_force(codes[:, None], q[:, None], 8))

    ids = rng.choice(5000, 400, replace=False)
    expected = brute_force(codes[:, None], codes[ids][:, None], 8)
    assert_same_sets(index.query_ids(ids, exclude_self=False), expected)
    expected[np.arange(len(ids)), ids] = False
    got = index.query_ids(ids)
    assert_same_sets(got, expected)
    # every item of a bucket retrieves the other members of its bucket
    assert got.getnnz(axis=1).tolist() == (np.bincount(codes[:, 0], minlength=256)[codes[ids, 0]]
                                           - 1).tolist()


def test_multi_code_items_union_and_exclude_self():
    rng = np.random.default_rng(1)
    codes = rng.integers(0, 256, (2000, 3, 1), dtype=np.uint8)
    codes[:50, 2] = codes[:50, 0]  # items with a repeated code: still listed once per bucket
    index = HashIndex(codes, 8)
    assert index.stats()["n_codes"] == 6000
    assert index.stats()["n_entries"] == len(np.unique(
        np.stack([codes[..., 0], np.repeat(np.arange(2000)[:, None], 3, 1)], -1).reshape(-1, 2),
        axis=0))

    ids = np.arange(0, 2000, 3)
    expected = brute_force(codes, codes[ids], 8)
    expected[np.arange(len(ids)), ids] = False
    assert_same_sets(index.query_ids(ids), expected)
    # queries by codes: any number of codes per query, union over them
    q = codes[ids][:, :2]
    assert_same_sets(index.query_codes(q), brute_force(codes, q, 8))


def test_wide_codes_exact_and_radius():
    rng = np.random.default_rng(2)
    codes = clustered_codes(rng, 600, 2, 96, n_centres=40, max_flips=1)
    index = HashIndex(codes, 96)
    assert index.bucket_keys.dtype.kind == "V" and index.stats()["n_nonsingleton_buckets"] > 0
    q = codes[rng.integers(0, 600, 80)]
    for radius in (0, 1):
        assert_same_sets(index.query_codes(q, radius=radius), brute_force(codes, q, 96, radius))


@pytest.mark.parametrize("dim,radius", [(16, 1), (16, 2), (32, 1), (32, 2), (13, 2), (64, 2)])
def test_hamming_ball_equals_brute_force(dim, radius):
    rng = np.random.default_rng(dim * 10 + radius)
    codes = clustered_codes(rng, 1500, 2, dim, n_centres=60)
    index = HashIndex(codes, dim)
    q = codes[rng.integers(0, 1500, 150), :1]
    expected = brute_force(codes, q, dim, radius)
    assert expected.sum() > 2 * len(q)  # the balls do reach other buckets
    assert_same_sets(index.query_codes(q, radius=radius), expected)

    ids = rng.choice(1500, 150, replace=False)
    expected = brute_force(codes, codes[ids], dim, radius)
    expected[np.arange(len(ids)), ids] = False
    assert_same_sets(index.query_ids(ids, radius=radius), expected)


def test_chunked_and_threaded_queries_agree(monkeypatch):
    rng = np.random.default_rng(3)
    codes = clustered_codes(rng, 2000, 3, 24, n_centres=30)
    index = HashIndex(codes, 24)
    ids = np.arange(2000)
    reference = {r: index.query_ids(ids, radius=r) for r in (0, 2)}
    monkeypatch.setattr(lidx, "QUERIES_PER_CHUNK", 7)
    monkeypatch.setattr(lidx, "PROBES_PER_CHUNK", 1000)
    for r in (0, 2):
        for threads in (1, 2):
            got = index.query_ids(ids, radius=r, n_threads=threads)
            assert (got != reference[r]).nnz == 0
    expected = brute_force(codes, codes, 24, 2)
    expected[ids, ids] = False
    assert_same_sets(reference[2], expected)


def test_from_embeddings_and_query_embeddings():
    x = np.random.default_rng(6).standard_normal((400, 2, 12))
    index = HashIndex.from_embeddings(x)
    assert (index.dim, index.codes_per_item, index.code_bytes) == (12, 2, 2)
    q = x[:30, :1] * 2.0  # same signs
    expected = brute_force(pack_codes(x), pack_codes(q), 12, 1)
    assert expected[np.arange(30), np.arange(30)].all()
    assert_same_sets(index.query_embeddings(q, radius=1), expected)


def test_empty_and_missing_queries():
    index = HashIndex(np.array([[1], [1], [2]], np.uint8), 8)
    got = index.query_codes(np.array([[3], [1]], np.uint8))
    assert got.shape == (2, 3) and got.getnnz(axis=1).tolist() == [0, 2]
    assert index.query_ids([]).shape == (0, 3)
    assert index.query_ids(2).toarray().tolist() == [[False, False, False]]


# ------------------------------------------------------------------------------------- clusters


def test_clusters_and_stats():
    codes = np.array([[5], [9], [5], [7], [5], [9]], np.uint8)
    index = HashIndex(codes, 8)
    cl = index.clusters()
    assert cl.codes[:, 0].tolist() == [5, 9]
    assert cl.sizes.tolist() == [3, 2] and cl.items.tolist() == [0, 2, 4, 1, 5]
    assert cl.to_csr().toarray().astype(int).tolist() == [[1, 0, 1, 0, 1, 0], [0, 1, 0, 0, 0, 1]]
    assert index.clusters(min_size=1).sizes.tolist() == [3, 1, 2]
    st = index.stats()
    assert st["n_buckets"] == 3 and st["n_nonsingleton_buckets"] == 2
    assert st["n_singleton_buckets"] == 1 and st["largest_bucket"] == 3
    assert st["mean_bucket_size"] == pytest.approx(2.0)
    assert st["items_in_nonsingleton_buckets"] == 5
    np.testing.assert_array_equal(index.item_codes([3, 0]), codes[[3, 0]][:, None])


def test_bucket_sizes_agree_with_metrics_cluster_sizes():
    from lse.metrics import cluster_sizes
    codes = clustered_codes(np.random.default_rng(7), 3000, 3, 10, n_centres=20)
    codes[:100, 1] = codes[:100, 0]
    index = HashIndex(codes, 10)
    np.testing.assert_array_equal(np.diff(index.bucket_offsets), cluster_sizes(codes))
    assert index.stats()["n_nonsingleton_buckets"] == index.clusters().codes.shape[0]


def test_names():
    index = HashIndex(np.array([[1], [1], [2]], np.uint8), 8, names=["cat", "dog", "emu"])
    assert index.ids_for(["emu", "cat"]).tolist() == [2, 0] and index.ids_for("dog") == 1
    with pytest.raises(LSEError, match="'gnu'"):
        index.ids_for(["cat", "gnu"])
    with pytest.raises(LSEError, match="unique"):
        HashIndex(np.zeros((2, 1), np.uint8), names=["a", "a"])
    with pytest.raises(LSEError, match="3 names for 2 items"):
        HashIndex(np.zeros((2, 1), np.uint8), names=["a", "b", "c"])
    with pytest.raises(LSEError, match="no item names"):
        HashIndex(np.zeros((2, 1), np.uint8)).ids_for(["a"])


# ------------------------------------------------------------------------------------- files


@pytest.fixture
def saved(tmp_path):
    rng = np.random.default_rng(4)
    codes = clustered_codes(rng, 500, 3, 20, n_centres=25)
    index = HashIndex(codes, 20, names=[f"w{i}" for i in range(500)])
    path = tmp_path / "index.npz"
    index.save(path)
    return index, path


def test_save_load_round_trip(saved):
    index, path = saved
    loaded = HashIndex.load(path)
    assert loaded.dim == 20 and loaded.stats() == index.stats()
    assert loaded.names.tolist() == index.names.tolist() and loaded.ids_for("w7") == 7
    ids = np.arange(0, 500, 2)
    for r in (0, 1, 2):
        assert (loaded.query_ids(ids, radius=r) != index.query_ids(ids, radius=r)).nnz == 0
    assert [p.name for p in path.parent.iterdir()] == ["index.npz"]  # no temporary left


def test_load_rejects_damaged_files(saved, tmp_path):
    _, path = saved
    data = path.read_bytes()
    cases = {
        "truncated.npz": data[: len(data) // 2],
        "garbage.npz": b"this is not an index" * 10,
        "empty.npz": b"",
        "flipped.npz": data[:400] + bytes([data[400] ^ 0xFF]) + data[401:],
    }
    for name, content in cases.items():
        (tmp_path / name).write_bytes(content)
        with pytest.raises(LSEError, match=name):
            HashIndex.load(tmp_path / name)
    with pytest.raises(LSEError, match="does not exist"):
        HashIndex.load(tmp_path / "missing.npz")


def test_load_rejects_other_formats_and_versions(saved, tmp_path):
    _, path = saved
    with np.load(path) as npz:
        arrays = dict(npz)
    np.savez(tmp_path / "other.npz", x=np.arange(3))
    with pytest.raises(LSEError, match="not an lse hash index"):
        HashIndex.load(tmp_path / "other.npz")
    np.savez(tmp_path / "future.npz", **{**arrays, "version": np.array(99)})
    with pytest.raises(LSEError, match="version 99"):
        HashIndex.load(tmp_path / "future.npz")
    np.savez(tmp_path / "bad.npz", **{**arrays, "bucket_items": arrays["bucket_items"] + 10**6})
    with pytest.raises(LSEError, match="corrupt"):
        HashIndex.load(tmp_path / "bad.npz")
    np.save(tmp_path / "array.npy", np.arange(3))
    with pytest.raises(LSEError, match="not an lse hash index"):
        HashIndex.load(tmp_path / "array.npy")
    assert zipfile.is_zipfile(path)


# ------------------------------------------------------------------------------------- validation


def test_dimension_mismatch_names_both_dims():
    index = HashIndex(pack_codes(np.random.default_rng(5).standard_normal((50, 32))), 32)
    with pytest.raises(LSEError, match=r"32-bit.*64-bit"):
        index.query_codes(np.zeros((2, 8), np.uint8))
    with pytest.raises(LSEError, match=r"32-bit.*16-dimensional"):
        index.query_embeddings(np.ones((2, 16)))
    with pytest.raises(LSEError, match=r"32-bit.*30-bit"):
        index.query_codes(np.zeros((2, 4), np.uint8), dim=30)


def test_input_validation():
    with pytest.raises(LSEError, match="uint8"):
        HashIndex(np.zeros((3, 4), np.float32))
    with pytest.raises(LSEError, match="shape"):
        HashIndex(np.zeros(4, np.uint8))
    with pytest.raises(LSEError, match="padding bits"):
        HashIndex(np.array([[0b00000001]], np.uint8), dim=7)
    with pytest.raises(LSEError, match="take 2 bytes"):
        HashIndex(np.zeros((3, 1), np.uint8), dim=12)
    with pytest.raises(LSEError, match="dim"):
        HashIndex(np.zeros((3, 1), np.uint8), dim=0)
    index = HashIndex(np.zeros((3, 1), np.uint8))
    with pytest.raises(LSEError, match="out of range"):
        index.query_ids([0, 3])
    with pytest.raises(LSEError, match="out of range"):
        index.query_ids([-1])
    with pytest.raises(LSEError, match="integer"):
        index.query_ids([0.5])
    with pytest.raises(LSEError, match="radius"):
        index.query_ids([0], radius=-1)
    with pytest.raises(LSEError, match="probes"):
        HashIndex(np.zeros((3, 64), np.uint8)).query_ids([0], radius=4)
    with pytest.raises(LSEError, match="n_threads"):
        index.query_ids([0], n_threads=0)
