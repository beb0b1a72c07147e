"""Hashed top-k retrieval against hand-computed answers (ties, empty candidate sets, fallback)."""
import numpy as np
import pytest
import scipy.sparse as sp

from lse.errors import LSEError
from lse.label_retrieval import (HashedRetriever, dense_topk, popularity_prior,
                                 rank_candidates)

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


def test_dense_topk_excludes_given_items_and_pads():
    """``exclude`` (a query's own labels) leaves the highest-scoring *other* labels: the pool
    mined negatives are drawn from."""
    queries = np.array([[1.0, 0.5], [0.0, 1.0], [1.0, 0.0]])
    exclude = sp.csr_matrix(np.array([[1, 0, 1, 0], [1, 1, 1, 1], [0, 0, 0, 0]], bool))
    top = dense_topk(queries, LABELS, 3, exclude=exclude)
    np.testing.assert_array_equal(top[0], [1, 3, -1])  # 0 and 2 excluded, 2 left
    np.testing.assert_array_equal(top[1], [-1, -1, -1])  # everything excluded
    np.testing.assert_array_equal(top[2], dense_topk(queries[2:], LABELS, 3)[0])
    # chunked scoring excludes the same rows
    np.testing.assert_array_equal(dense_topk(queries, LABELS, 3, chunk=1, exclude=exclude), top)
    with pytest.raises(LSEError, match="exclude has shape"):
        dense_topk(queries, LABELS, 3, exclude=exclude[:2])


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


def test_hashed_topk_excludes_given_items_within_the_radius():
    """Mining through the index: a query's own labels leave its candidates; what is left is
    ranked like dense top-k restricted to the codes within the radius."""
    r = HashedRetriever(LABELS)
    queries = np.array([[0.3, 0.9], [0.5, -0.1], [-1.0, -1.0]])  # codes 11, 10, 00
    exclude = sp.csr_matrix(np.array([[1, 0, 0, 0], [0, 0, 1, 0], [0, 0, 0, 0]], bool))
    # radius 0: query 0 keeps label 1 (label 0 excluded), query 1 has nothing left, query 2
    # has no candidate at all
    np.testing.assert_array_equal(r.topk(queries, 2, exclude=exclude), [[1, -1], [-1, -1],
                                                                        [-1, -1]])
    # radius 1 reaches codes 10 / 01 (query 0), 11 / 00 (query 1), 10 / 01 (query 2)
    top = r.topk(queries, 3, radius=1, exclude=exclude)
    np.testing.assert_array_equal(top[1], dense_topk(queries[1:2], LABELS[:2], 3)[0])
    np.testing.assert_array_equal(top[2], [3, 2, -1])  # cosines -0.47 and -0.55
    # query 0 reaches every label; without label 0: cosines 0.82 (3), 0.71 (1), 0.12 (2)
    np.testing.assert_array_equal(top[0], [3, 1, 2])
    with pytest.raises(LSEError, match="exclude has shape"):
        r.topk(queries, 2, exclude=exclude[:2])


def test_multi_context_scores_use_max_cosine():
    labels = np.array([[[1.0, 0.0], [0.0, 1.0]], [[0.7, 0.7], [0.7, 0.7]]])  # (2, L=2, 2)
    query = np.array([[[0.0, 1.0], [0.0, 1.0]]])
    np.testing.assert_array_equal(dense_topk(query, labels, 2), [[0, 1]])  # max cos 1 vs 0.71


def bucketed_retrieval(seed=0, n_labels=60, n_queries=400, dim=6):
    """Labels and queries in few buckets, with duplicated label vectors (exact score ties)."""
    rng = np.random.default_rng(seed)
    labels = rng.standard_normal((n_labels, dim))
    labels[1::7] = labels[0::7][:len(labels[1::7])]  # exact ties inside buckets
    queries = rng.standard_normal((n_queries, dim))
    queries[:, 2:] = np.abs(queries[:, 2:])  # 2 free sign bits: at most 4 query buckets
    retriever = HashedRetriever(labels)
    found, _ = retriever.candidates(queries, max_radius=3)
    return found, queries, retriever.items


def test_ranking_by_group_equals_ranking_pair_by_pair(monkeypatch):
    found, queries, labels = bucketed_retrieval()
    assert found.nnz > 0 and len(np.unique(found.toarray(), axis=0)) < 10
    import lse.label_retrieval as R
    grouped = rank_candidates(found, queries, labels, 4)
    monkeypatch.setattr(R, "PAIRS_PER_GROUP", 10 ** 9)  # force the pair-by-pair path
    pairwise = rank_candidates(found, queries, labels, 4)
    np.testing.assert_array_equal(grouped, pairwise)
    monkeypatch.setattr(R, "PAIRS_PER_GROUP", 1)
    monkeypatch.setattr(R, "SCORES_PER_CHUNK", 5)  # groups ranked a few queries at a time
    np.testing.assert_array_equal(rank_candidates(found, queries, labels, 4), pairwise)
    # and both equal dense ranking restricted to each query's candidates, by brute force
    scores = queries @ labels[:, 0].T / np.linalg.norm(queries, axis=1, keepdims=True)
    for i in range(0, len(queries), 37):
        cand = found[i].indices
        best = cand[np.argsort(-scores[i, cand], kind="stable")][:4]
        np.testing.assert_array_equal(pairwise[i, :len(best)], best)


def test_identical_candidate_rows_are_grouped_and_checked(monkeypatch):
    import lse.label_retrieval as R
    cand = sp.csr_matrix(np.array([[0, 1, 0, 1], [0, 0, 0, 0], [0, 1, 0, 1], [1, 0, 0, 0],
                                   [0, 0, 1, 0]], bool))
    rows, starts = R._identical_rows(cand)
    groups = sorted(sorted(g.tolist()) for g in np.split(rows, starts[1:]))
    assert groups == [[0, 2], [3], [4]]  # the empty row 1 is in no group
    assert R._identical_rows(sp.csr_matrix((3, 4), dtype=bool)) is None
    # a fingerprint collision (all column words 0: rows 3 and 4 look alike) is caught
    monkeypatch.setattr(R, "_column_words", lambda n: np.zeros(n, np.uint64))
    assert R._identical_rows(cand) is None
    monkeypatch.setattr(R, "PAIRS_PER_GROUP", 1)
    queries = np.array([[1.0, 0.5], [0.0, 1.0], [0.3, 0.9], [1.0, 0.0], [1.0, 0.0]])
    np.testing.assert_array_equal(rank_candidates(cand, queries, LABELS, 2),
                                  [[1, 3], [-1, -1], [3, 1], [0, -1], [2, -1]])


def test_popularity_prior_is_weighted_log_count():
    np.testing.assert_allclose(popularity_prior([0, 3, 1, 7], 0.5),
                               [0.0, 0.5 * np.log(4), 0.5 * np.log(2), 0.5 * np.log(8)], rtol=1e-6)
    assert popularity_prior([5, 9], 0).tolist() == [0.0, 0.0]
    with pytest.raises(LSEError, match="prior weight must be a number >= 0"):
        popularity_prior([1, 2], -0.1)
    with pytest.raises(LSEError, match="non-negative label frequencies"):
        popularity_prior([[1, 2]], 0.1)


def test_item_bias_reorders_candidates_but_not_the_candidate_sets():
    """The bias is added to the cosine: it can lift a label over a better-aligned one (and
    break a tie), in dense and hashed ranking alike; what collides does not change."""
    queries = np.array([[1.0, 0.5]])  # cosines: labels 0 and 1 tie at 1, label 2 0.79, 3 0.16
    bias = np.array([0.0, 0.1, 0.25, 0.0])
    np.testing.assert_array_equal(dense_topk(queries, LABELS, 4), [[0, 1, 2, 3]])
    # scores: label 1 1 + 0.1 = 1.1, label 2 0.79 + 0.25 = 1.04, label 0 1, label 3 0.16
    np.testing.assert_array_equal(dense_topk(queries, LABELS, 4, item_bias=bias), [[1, 2, 0, 3]])
    cand = sp.csr_matrix(np.array([[1, 0, 1, 1]], bool))  # label 1 not retrieved
    np.testing.assert_array_equal(rank_candidates(cand, queries, LABELS, 4, item_bias=bias),
                                  [[2, 0, 3, -1]])
    r = HashedRetriever(LABELS, item_bias=bias)  # code 11: labels 0 and 1 only
    np.testing.assert_array_equal(r.topk(queries, 3), [[1, 0, -1]])
    np.testing.assert_array_equal(HashedRetriever(LABELS).topk(queries, 3), [[0, 1, -1]])
    with pytest.raises(LSEError, match=r"item_bias has shape \(3,\); expected \(4,\)"):
        dense_topk(queries, LABELS, 2, item_bias=bias[:3])
    with pytest.raises(LSEError, match="item_bias must be finite"):
        HashedRetriever(LABELS, item_bias=[0, np.nan, 0, 0])


def test_item_bias_same_on_grouped_and_pairwise_paths(monkeypatch):
    found, queries, labels = bucketed_retrieval()
    bias = np.random.default_rng(3).uniform(0, 0.5, len(labels)).astype(np.float32)
    import lse.label_retrieval as R
    grouped = rank_candidates(found, queries, labels, 4, item_bias=bias)
    monkeypatch.setattr(R, "PAIRS_PER_GROUP", 10 ** 9)
    pairwise = rank_candidates(found, queries, labels, 4, item_bias=bias)
    np.testing.assert_array_equal(grouped, pairwise)
    assert not np.array_equal(pairwise, rank_candidates(found, queries, labels, 4))
    scores = queries @ labels[:, 0].T / np.linalg.norm(queries, axis=1, keepdims=True) + bias
    for i in range(0, len(queries), 37):
        cand = found[i].indices
        best = cand[np.argsort(-scores[i, cand], kind="stable")][:4]
        np.testing.assert_array_equal(pairwise[i, :len(best)], best)
