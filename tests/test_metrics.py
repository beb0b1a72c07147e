"""Every metric against values computed by hand on tiny inputs (see the comments)."""
import numpy as np
import pytest
import scipy.sparse as sp

from lse import metrics as M
from lse.errors import LSEError


def csr(rows, n_cols):
    """CSR membership matrix from a list of id lists."""
    r = [i for i, row in enumerate(rows) for _ in row]
    c = [j for row in rows for j in row]
    return sp.csr_matrix((np.ones(len(c)), (r, c)), shape=(len(rows), n_cols))


# ------------------------------------------------------------------ precision / recall / F1
RETRIEVED = csr([[0, 1, 2], [], [5, 3], [1, 2, 3, 4]], 6)
TRUTH = csr([[0, 1, 3], [5], [5], [1, 3, 2]], 6)
QUERY_IDS = [0, 4, 5, 2]


def test_prf_exclude_self_and_empty_sets():
    # q0: R={1,2} T={1,3} -> P=R=F1=1/2.  q1: nothing retrieved -> P=0, R=0.
    # q2: R={3}, T={} after removing self -> P=0, R=0 (empty truth).  q3: R={1,3,4} T={1,3}
    # -> P=2/3, R=1, F1=0.8.
    out = M.precision_recall_f1(RETRIEVED, TRUTH, QUERY_IDS, per_query=True)
    np.testing.assert_allclose(out["per_query_precision"], [0.5, 0, 0, 2 / 3])
    np.testing.assert_allclose(out["per_query_recall"], [0.5, 0, 0, 1])
    np.testing.assert_allclose(out["per_query_f1"], [0.5, 0, 0, 0.8])
    assert out["precision"] == pytest.approx(7 / 24)
    assert out["recall"] == pytest.approx(0.375)
    assert out["f1"] == pytest.approx(0.325)
    assert out["f1_of_means"] == pytest.approx(2 * (7 / 24) * 0.375 / (7 / 24 + 0.375))
    assert out["n_queries"] == 4


def test_prf_skip_empty_truth_and_no_self_exclusion():
    out = M.precision_recall_f1(RETRIEVED, TRUTH, QUERY_IDS, skip_empty_truth=True)
    assert out["n_queries"] == 3  # q2's truth is empty once self is removed
    assert out["precision"] == pytest.approx((0.5 + 0 + 2 / 3) / 3)
    assert out["recall"] == pytest.approx(0.5)
    assert out["f1"] == pytest.approx(1.3 / 3)
    # Self kept: q0 R={0,1,2} T={0,1,3} -> 2/3, 2/3; q2 R={5,3} T={5} -> 1/2, 1;
    # q3 R={1,2,3,4} T={1,2,3} -> 3/4, 1.
    p, r, f = M.per_query_precision_recall_f1(RETRIEVED, TRUTH, QUERY_IDS, exclude_self=False)
    np.testing.assert_allclose(p, [2 / 3, 0, 0.5, 0.75])
    np.testing.assert_allclose(r, [2 / 3, 0, 1, 1])
    np.testing.assert_allclose(f, [2 / 3, 0, 2 / 3, 6 / 7])


def test_prf_accepts_duplicates_and_explicit_zeros_and_checks_shapes():
    messy = sp.csr_matrix((np.array([1.0, 1.0, 0.0]), np.array([1, 1, 3]), np.array([0, 3])),
                          shape=(1, 6))  # item 1 twice, item 3 stored as an explicit zero
    p, r, _ = M.per_query_precision_recall_f1(messy, csr([[1, 3]], 6))
    assert (p[0], r[0]) == (1.0, 0.5)
    with pytest.raises(LSEError, match="retrieved has shape"):
        M.precision_recall_f1(csr([[1]], 5), csr([[1]], 6))
    with pytest.raises(LSEError, match="query_ids has 1 entries"):
        M.precision_recall_f1(RETRIEVED, TRUTH, [0])


# ---------------------------------------------------------------------------- clusters
def test_count_clusters_single_and_multi_context():
    codes = np.array([[1], [1], [2], [3], [3]], np.uint8)
    assert M.count_clusters(codes) == 2
    np.testing.assert_array_equal(np.sort(M.cluster_sizes(codes)), [1, 2, 2])
    # L=2: code 1 = {0,3}, code 5 = {0,1}, code 2 = {2} (twice, same item) -> 2 clusters.
    multi = np.array([[1, 5], [7, 5], [2, 2], [9, 1], [8, 6]], np.uint8)[:, :, None]
    assert M.count_clusters(multi) == 2
    assert M.count_clusters(np.array([1, 2, 3, 1])) == 2  # bucket sizes
    bits = np.array([[1, 0, 1], [1, 0, 1], [0, 0, 1]], bool)  # unpacked codes
    assert M.count_clusters(bits) == 1
    wide = np.zeros((3, 2, 9), np.uint8)
    wide[1, 0, 8] = 1  # differs only in the last byte of a 72-bit code
    assert M.count_clusters(wide) == 1  # item 1's second code still equals the others


# --------------------------------------------------------------------------- hit ratio
EMB = np.array([[1.0, 0.0], [0.9, np.sqrt(1 - 0.81)], [0.5, np.sqrt(0.75)],
                [0.5, -np.sqrt(0.75)], [0.0, 1.0]])


def test_hit_ratio_ranks_with_ties_and_missing_targets():
    # Query 0 retrieves {0,1,2,3}: cos to 0 = 1 (self, dropped), 0.9, 0.5, 0.5.
    # Target 3 ties with item 2 (lower id first) -> rank 3. Target 1 -> rank 1.
    # Query 4 retrieves {1} only: target 2 is not retrieved -> inf.
    retrieved = csr([[0, 1, 2, 3], [0, 1, 2, 3], [1]], 5)
    ranks = M.target_ranks(retrieved, [0, 0, 4], [3, 1, 2], EMB)
    np.testing.assert_array_equal(ranks, [3, 1, np.inf])
    assert M.hit_ratio(retrieved, [0, 0, 4], [3, 1, 2], EMB, n=(1, 3)) == {
        "HR@1": pytest.approx(1 / 3), "HR@3": pytest.approx(2 / 3)}


def test_hit_ratio_multi_context_uses_max_cosine():
    # Item 1's second context equals the query's first: max cosine 1, above item 2's 0.5.
    emb = np.array([[[1, 0], [0, 1]], [[-1, 0], [1, 0]], [[0.5, np.sqrt(.75)], [0.5, np.sqrt(.75)]]])
    sim = M.max_cosine_similarity(emb)
    np.testing.assert_allclose(sim([0, 0], [1, 2]), [1.0, np.sqrt(0.75)], rtol=1e-6)
    assert M.target_ranks(csr([[1, 2]], 3), [0], [2], sim)[0] == 2
    # A callable similarity can reverse the order.
    assert M.target_ranks(csr([[1, 2]], 3), [0], [2], lambda a, b: -sim(a, b))[0] == 1


# ------------------------------------------------------------------------------ MAP@R
DB = np.array([[0b11], [0b01], [0b01], [0b00], [0b111]], np.uint8)  # distances 2,1,1,0,3 to 0
DB_LABELS = np.array([0, 1, 0, 1, 0])


def test_hamming_distance_popcount():
    q = np.array([[0], [0b111]], np.uint8)
    np.testing.assert_array_equal(M.hamming_distance(q, DB), [[2, 1, 1, 0, 3], [1, 2, 2, 3, 0]])
    q64 = np.packbits(np.eye(64, dtype=bool)[:2], axis=1)  # 64-bit codes: one uint64 word
    assert M.hamming_distance(q64, q64).tolist() == [[0, 2], [2, 0]]
    words = np.random.default_rng(0).integers(0, 2**63, (7, 5), dtype=np.uint64) * np.uint64(3)
    expected = [[bin(int(x)).count("1") for x in row] for row in words]
    np.testing.assert_array_equal(M._popcount_table(words), expected)  # numpy < 2 fallback
    np.testing.assert_array_equal(M._popcount(words), expected)


def test_map_at_r_stable_ties_by_database_order():
    # Stable order: 3 (d0), 1 (d1), 2 (d1), 0 (d2), 4 (d3); relevant (label 0): 2, 0, 4
    # -> relevance [0,0,1,1,1]: AP@5 = (1/3)(1/3 + 2/4 + 3/5). (Reversed tie order would
    # give [0,1,0,1,1].)
    q = np.array([[0]], np.uint8)
    ap5 = (1 / 3 + 2 / 4 + 3 / 5) / 3
    assert M.map_at_r(q, DB, [0], DB_LABELS, R=5) == pytest.approx(ap5)
    assert M.map_at_r(q, DB, [0], DB_LABELS) == pytest.approx(ap5)  # R = whole database
    assert M.map_at_r(q, DB, [0], DB_LABELS, R=3) == pytest.approx(1 / 3)
    assert M.map_at_r(q, DB, [0], DB_LABELS, R=2) == 0.0  # nothing relevant in the top 2
    # Second query (code 0b111): order 4 (d0), 0 (d1), 1, 2 (d2), 3 (d3); label 1 relevant
    # at positions 3, 5 -> AP = (1/3 + 2/5) / 2.
    both = M.average_precision_at_r(np.array([[0], [0b111]], np.uint8), DB, [0, 1], DB_LABELS, 5)
    np.testing.assert_allclose(both, [ap5, (1 / 3 + 2 / 5) / 2])


def test_map_at_r_multilabel_and_bool_codes():
    # Multi-label: query has labels {1, 2}; db items 0..4 have {0}, {1}, {0}, {0, 2}, {}.
    db_labels = sp.csr_matrix(np.array([[1, 0, 0], [0, 1, 0], [1, 0, 0], [1, 0, 1], [0, 0, 0]]))
    q_labels = np.array([[0, 1, 1]])
    # Order 3, 1, 2, 0, 4 -> relevance [1, 1, 0, 0, 0]: AP = 1.
    bits = np.unpackbits(DB, axis=1)
    assert M.map_at_r(np.zeros((1, 8), bool), bits, q_labels, db_labels, R=5) == pytest.approx(1.0)
    # Many classes take the sparse product path: same answer.
    wide_db, wide_q = sp.hstack([db_labels, sp.csr_matrix((5, 2000))]), np.pad(q_labels, ((0, 0), (0, 2000)))
    assert M.map_at_r(np.zeros((1, 1), np.uint8), DB, wide_q, wide_db, R=5) == pytest.approx(1.0)
    # A label-0 query: order 3, 1, 2, 0, 4 -> relevance [1, 0, 1, 1, 0]: AP = (1 + 2/3 + 3/4) / 3.
    assert M.map_at_r(np.zeros((1, 1), np.uint8), DB, np.array([[1, 0, 0]]), db_labels) == \
        pytest.approx((1 + 2 / 3 + 3 / 4) / 3)
    with pytest.raises(LSEError, match="R must be between"):
        M.map_at_r(np.zeros((1, 1), np.uint8), DB, [0], DB_LABELS, R=6)
    with pytest.raises(LSEError, match="labels for"):
        M.map_at_r(np.zeros((1, 1), np.uint8), DB, [0], DB_LABELS[:4])


def test_precision_recall_within_radius():
    # Radius 1 from 0: retrieves {1, 2, 3}; relevant (label 0): {0, 2, 4} -> P = R = 1/3.
    # Query 0b11111111 at radius 1: nearest is item 4 at distance 5 -> retrieves nothing: 0, 0.
    q = np.array([[0], [0xFF]], np.uint8)
    out = M.precision_recall_within_radius(q, DB, [0, 0], DB_LABELS, radius=1, per_query=True)
    np.testing.assert_allclose(out["per_query_precision"], [1 / 3, 0])
    np.testing.assert_allclose(out["per_query_recall"], [1 / 3, 0])
    assert out["precision"] == pytest.approx(1 / 6) and out["recall"] == pytest.approx(1 / 6)
    # Radius 2 adds item 0 (relevant): P = 2/4, R = 2/3.
    out = M.precision_recall_within_radius(q[:1], DB, [0], DB_LABELS)
    assert (out["precision"], out["recall"]) == (pytest.approx(0.5), pytest.approx(2 / 3))


# ---------------------------------------------------------------------- label retrieval
LABEL_TRUTH = csr([[0, 2], [1], []], 6)
TOPK = np.array([[2, 5, 0], [3, 1, -1], [0, -1, -1]])
COUNTS = np.array([10, 1, 5, 0, 2, 3])


def test_precision_recall_ndcg_at_k_with_padding_and_empty_truth():
    assert M.precision_at_k(TOPK, LABEL_TRUTH, 1) == pytest.approx(1 / 3)
    assert M.precision_at_k(TOPK, LABEL_TRUTH, 3) == pytest.approx((2 / 3 + 1 / 3 + 0) / 3)
    assert M.recall_at_k(TOPK, LABEL_TRUTH, 3) == pytest.approx(2 / 3)
    assert M.recall_at_k(TOPK, LABEL_TRUTH, 3, skip_empty=True) == pytest.approx(1.0)
    # row 0: hits at 1 and 3 -> (1 + 1/2) / (1 + 1/log2 3); row 1: hit at 2 -> 1/log2 3; row 2: 0
    ndcg0 = 1.5 / (1 + 1 / np.log2(3))
    assert M.ndcg_at_k(TOPK, LABEL_TRUTH, 3) == pytest.approx((ndcg0 + 1 / np.log2(3)) / 3)
    # Only two columns given for k=3: the third is padding (a miss), not an error.
    assert M.precision_at_k(TOPK[:, :2], LABEL_TRUTH, 3) == pytest.approx((1 / 3 + 1 / 3) / 3)
    # A float score matrix gives the same top k (ties: lower label id first).
    scores = np.zeros((3, 6))
    for i, row in enumerate(TOPK):
        for rank, label in enumerate(row[row >= 0]):
            scores[i, label] = 3 - rank
    scores[2, 1:] = -1
    assert M.precision_at_k(scores, LABEL_TRUTH, 2) == M.precision_at_k(TOPK, LABEL_TRUTH, 2)
    with pytest.raises(LSEError, match="label ids must be in"):
        M.precision_at_k(np.array([[7], [0], [0]]), LABEL_TRUTH, 1)


def test_inverse_propensity_and_psp_at_k():
    ip = M.inverse_propensity(COUNTS, 20)
    c = (np.log(20) - 1) * 2.5 ** 0.55
    np.testing.assert_allclose(ip, 1 + c * (COUNTS + 1.5) ** -0.55)
    assert M.psp_at_k(TOPK, LABEL_TRUTH, ip, 3) == pytest.approx(1.0)  # all true labels found
    miss = np.array([[2, 5, 4], [3, 1, -1], [0, -1, -1]])  # row 0 now misses label 0
    raw = ((ip[2] / 3) + (ip[1] / 3) + 0) / 3
    assert M.psp_at_k(miss, LABEL_TRUTH, ip, 3, normalize=False) == pytest.approx(raw)
    assert M.psp_at_k(miss, LABEL_TRUTH, ip, 3) == pytest.approx(
        (ip[2] + ip[1]) / (ip[0] + ip[2] + ip[1]))
    # k=1: the best row 0 can do is its rarer label 2 (ip[2] > ip[0]).
    assert M.psp_at_k(miss, LABEL_TRUTH, ip, 1) == pytest.approx(ip[2] / (ip[2] + ip[1]))


def test_label_slices_and_restricted_metrics():
    # Seen counts 1,2,3,5,10: q33 = 2.33, q66 = 4.33 (linear interpolation).
    s = M.label_slices(COUNTS)
    assert np.flatnonzero(s["head"]).tolist() == [0, 2]
    assert np.flatnonzero(s["torso"]).tolist() == [5]
    assert np.flatnonzero(s["tail"]).tolist() == [1, 3, 4]  # label 3 never seen in training
    per_slice = {name: M.precision_at_k(TOPK, LABEL_TRUTH, 3, labels=mask) for name, mask in s.items()}
    assert per_slice == {"head": pytest.approx(2 / 9), "torso": 0.0, "tail": pytest.approx(1 / 9)}
    assert sum(per_slice.values()) == pytest.approx(M.precision_at_k(TOPK, LABEL_TRUTH, 3))
    assert M.recall_at_k(TOPK, LABEL_TRUTH, 3, labels=s["tail"]) == pytest.approx(1 / 3)
    assert M.recall_at_k(TOPK, LABEL_TRUTH, 3, labels=[1, 3, 4], skip_empty=True) == 1.0
    table = M.label_metrics(TOPK, LABEL_TRUTH, ks=(1, 3), inv_propensity=M.inverse_propensity(COUNTS, 20))
    assert set(table) == {f"{m}@{k}" for m in ("P", "nDCG", "PSP", "R") for k in (1, 3)}
    assert table["P@1"] == pytest.approx(1 / 3)
    with pytest.raises(LSEError, match="no label occurs"):
        M.label_slices([0, 0])
