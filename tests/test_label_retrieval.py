"""Hashed top-k retrieval against hand-computed answers (ties, empty candidate sets, fallback)."""
import numpy as np
import pytest
import scipy.sparse as sp

from lse.errors import LSEError
from lse.label_retrieval import HashedRetriever, dense_topk, rank_candidates

# Four labels in 2-D: codes (sign bits) 11, 11, 10, 01; label 1 is label 0 scaled (a tie).
LABELS = np.array([[1.0, 0.5], [2.0, 1.0], [1.0, -0.2], [-0.3, 1.0]])


def test_dense_topk_orders_by_cosine_with_ties_to_lower_id():
    queries = np.array([[1.0, 0.5], [0.0, 1.0], [-1.0, -1.0]])
    top = dense_topk(queries, LABELS, 3)
    # query 0: labels 0 and 1 tie at cosine 1 -> 0 first; then label 2 (0.76) before 3 (0.16)
    np.testing.assert_array_equal(top[0], [0, 1, 2])
    cos = (LABELS / np.linalg.norm(LABELS, axis=1, keepdims=True)) @ [0.0, 1.0]
    np.testing.assert_array_equal(top[1], np.argsort(-cos, kind="stable")[:3])
    np.testing.assert_array_equal(dense_topk(queries, LABELS, 6)[:, 4:], -1)  # k > n pads
    # a tie across the k-th position keeps the lower id
    np.testing.assert_array_equal(dense_topk(queries[:1], LABELS, 1), [[0]])


def test_rank_candidates_restricts_to_candidates_and_pads():
    queries = np.array([[1.0, 0.5], [0.0, 1.0], [1.0, 0.0]])
    cand = sp.csr_matrix(np.array([[0, 1, 0, 1], [0, 0, 0, 0], [1, 1, 1, 1]], bool))
    top = rank_candidates(cand, queries, LABELS, 3)
    np.testing.assert_array_equal(top[0], [1, 3, -1])  # only 1 and 3 were retrieved
    np.testing.assert_array_equal(top[1], [-1, -1, -1])  # empty retrieved set
    np.testing.assert_array_equal(top[2], dense_topk(queries[2:], LABELS, 3)[0])
    with pytest.raises(LSEError, match="shape"):
        rank_candidates(cand[:2], queries, LABELS, 3)


def test_hashed_retriever_exact_collisions_and_radius_fallback():
    r = HashedRetriever(LABELS)
    queries = np.array([[0.3, 0.9], [0.5, -0.1], [-1.0, -1.0]])  # codes 11, 10, 00
    found, used = r.candidates(queries)
    assert found.toarray().tolist() == [[True, True, False, False], [False, False, True, False],
                                        [False, False, False, False]]
    np.testing.assert_array_equal(used, 0)
    top = r.topk(queries, 2)
    np.testing.assert_array_equal(top, [[0, 1], [2, -1], [-1, -1]])
    # fallback: only the empty query moves to radius 1 (codes 10 and 01 are one bit away)
    found, used = r.candidates(queries, max_radius=1)
    np.testing.assert_array_equal(used, [0, 0, 1])
    assert found[2].indices.tolist() == [2, 3] and found[0].indices.tolist() == [0, 1]
    # min_candidates=3 also widens query 1 (one candidate at radius 0)
    found, used = r.candidates(queries, max_radius=2, min_candidates=3)
    np.testing.assert_array_equal(used, [1, 1, 2])
    assert found[1].indices.tolist() == [0, 1, 2] and found[2].nnz == 4
    with pytest.raises(LSEError, match="max_radius"):
        r.candidates(queries, radius=1, max_radius=0)
    with pytest.raises(LSEError, match="dimensional"):
        r.candidates(np.ones((1, 3)))


def test_multi_context_scores_use_max_cosine():
    labels = np.array([[[1.0, 0.0], [0.0, 1.0]], [[0.7, 0.7], [0.7, 0.7]]])  # (2, L=2, 2)
    query = np.array([[[0.0, 1.0], [0.0, 1.0]]])
    np.testing.assert_array_equal(dense_topk(query, labels, 2), [[0, 1]])  # max cos 1 vs 0.71
