import numpy as np
import pytest
import scipy.sparse as sp

from data_prep.sbm import faction_truth, generate_sbm
from lse.errors import LSEError
from lse.sampling import EASY_NEGATIVE, HARD_NEGATIVE, POSITIVE, PairSampler


def random_graph(n=40, p=0.08, seed=0):
    rng = np.random.default_rng(seed)
    upper = np.triu(rng.random((n, n)) < p, 1)
    return sp.csr_matrix((upper | upper.T).astype(np.float32))


def dense_hard_set(D):
    dense = D.toarray() > 0
    shared = (dense.T.astype(int) @ dense.astype(int)) > 0
    hard = shared & ~dense
    np.fill_diagonal(hard, False)
    return {tuple(p) for p in np.argwhere(hard)}


@pytest.mark.parametrize("mode, limit", [("uniform", 0), ("uniform", 10**9), ("walk", 0)])
def test_hard_negatives_are_valid_and_reach_every_pair(mode, limit):
    D = random_graph()
    truth = dense_hard_set(D)
    sampler = PairSampler(D, hard_sampling=mode, materialize_limit=limit, seed=0)
    assert (sampler._hard_set is not None) == (mode == "uniform" and limit > 0)
    pairs = sampler.sample_hard_negatives(60_000, np.random.default_rng(1))
    seen = {tuple(p) for p in pairs}
    assert seen <= truth            # only pairs with D = 0 and a shared neighbour
    assert seen == truth            # ... and all of them


@pytest.mark.parametrize("limit", [0, 10**9])  # rejection-corrected walks / materialised set
def test_uniform_mode_is_uniform_over_the_hard_set(limit):
    D = random_graph(n=30, p=0.15, seed=3)
    truth = sorted(dense_hard_set(D))
    sampler = PairSampler(D, hard_sampling="uniform", materialize_limit=limit, seed=0)
    pairs = sampler.sample_hard_negatives(200_000, np.random.default_rng(2))
    index = {p: k for k, p in enumerate(truth)}
    counts = np.bincount([index[tuple(p)] for p in pairs], minlength=len(truth))
    expected = len(pairs) / len(truth)
    # chi-square statistic per degree of freedom close to 1 for a uniform draw
    chi2 = np.sum((counts - expected) ** 2 / expected) / (len(truth) - 1)
    assert chi2 < 1.3
    walk = PairSampler(D, hard_sampling="walk").sample_hard_negatives(200_000, np.random.default_rng(2))
    walk_counts = np.bincount([index[tuple(p)] for p in walk], minlength=len(truth))
    assert np.sum((walk_counts - expected) ** 2 / expected) / (len(truth) - 1) > 5 * chi2


def test_sbm_uniform_hard_negatives_match_set_composition():
    D, labels = generate_sbm(factions=60, size=10, seed=0)
    sampler = PairSampler(D, materialize_limit=0, seed=0)
    pairs = sampler.sample_hard_negatives(50_000, np.random.default_rng(0))
    assert not sampler.linked(pairs[:, 0], pairs[:, 1]).any()
    inside = np.mean(labels[pairs[:, 0]] == labels[pairs[:, 1]])
    hard = ((D.T @ D) > 0).toarray() & (D.toarray() == 0)
    np.fill_diagonal(hard, False)
    r, c = np.nonzero(hard)
    assert abs(inside - np.mean(labels[r] == labels[c])) < 0.01


def test_epoch_passes_over_every_positive_once():
    D = random_graph(n=50, p=0.2)
    sampler = PairSampler(D, positives=64, hard=32, easy=16, seed=5)
    batches = list(sampler.epoch_batches(0))
    assert len(batches) == sampler.steps_per_epoch == -(-D.nnz // 64)
    pos = np.concatenate([b[0][b[1] == POSITIVE] for b in batches])
    keys = pos[:, 0] * 50 + pos[:, 1]
    coo = D.tocoo()
    assert set(keys.tolist()) == set((coo.row * 50 + coo.col).tolist())
    assert len(keys) - len(set(keys.tolist())) == len(batches) * 64 - D.nnz  # only the wrap
    pairs, kinds = batches[0]
    assert pairs.shape == (112, 2) and pairs.dtype == np.int32
    assert np.array_equal(np.bincount(kinds, minlength=3)[[POSITIVE, HARD_NEGATIVE, EASY_NEGATIVE]],
                          [64, 32, 16])


def test_batches_are_repeatable_per_epoch():
    D = random_graph()
    a = list(PairSampler(D, 16, 16, 16, seed=7).epoch_batches(3))
    b = list(PairSampler(D, 16, 16, 16, seed=7).epoch_batches(3))
    c = list(PairSampler(D, 16, 16, 16, seed=7).epoch_batches(4))
    assert all(np.array_equal(x[0], y[0]) for x, y in zip(a, b))
    assert not all(np.array_equal(x[0], y[0]) for x, y in zip(a, c))


def test_without_hard_negatives_the_slots_are_easy():
    D = random_graph()
    pairs, kinds = next(PairSampler(D, 8, 8, 8, hard_negatives=False).epoch_batches(0))
    assert np.sum(kinds == EASY_NEGATIVE) == 16 and not np.any(kinds == HARD_NEGATIVE)


def test_graph_without_hard_negatives_falls_back_to_easy():
    # disjoint edges: no two nodes share a neighbour unless linked
    D = sp.csr_matrix(np.kron(np.eye(5), [[0, 1], [1, 0]]).astype(np.float32))
    pairs = PairSampler(D).sample_hard_negatives(10, np.random.default_rng(0))
    assert pairs.shape == (10, 2)


@pytest.mark.parametrize("matrix, message", [
    (sp.csr_matrix(np.ones((3, 4))), "square"),
    (sp.csr_matrix(np.array([[0, 2.0], [1, 0]])), "binary"),
    (sp.csr_matrix((3, 3)), "no nonzeros"),
    (np.ones(3), "2-D"),
])
def test_bad_pair_matrices(matrix, message):
    with pytest.raises(LSEError, match=message):
        PairSampler(matrix)


@pytest.mark.parametrize("counts, message", [
    ({"positives": 0}, r"positives per batch must be an integer >= 1 \(got 0\)"),
    ({"hard": "8"}, r"hard negatives per batch must be an integer >= 0 \(got '8'\)"),
    ({"easy": -1}, r"easy negatives per batch must be an integer >= 0 \(got -1\)"),
])
def test_bad_batch_composition_names_the_count(counts, message):
    with pytest.raises(LSEError, match=message):
        PairSampler(random_graph(), **counts)


def test_faction_truth():
    truth = faction_truth(np.array([0, 0, 1, 1, 1]))
    assert truth.toarray().tolist() == [[1, 1, 0, 0, 0], [1, 1, 0, 0, 0], [0, 0, 1, 1, 1],
                                        [0, 0, 1, 1, 1], [0, 0, 1, 1, 1]]


def test_sbm_generator_shape_and_rates():
    D, labels = generate_sbm(factions=200, size=10, seed=1)
    assert D.shape == (2000, 2000) and (D != D.T).nnz == 0 and D.diagonal().sum() == 0
    dense = D.toarray()
    same = labels[:, None] == labels[None, :]
    gap = np.abs(labels[:, None] - labels[None, :])
    inside = dense[same & ~np.eye(2000, dtype=bool)].mean()
    assert abs(inside - 0.8) < 0.02
    assert abs(dense[(gap > 0) & (gap < 3)].mean() - 0.1) < 0.01
    assert dense[gap >= 3].sum() == 0
    D2, _ = generate_sbm(factions=200, size=10, p_background=0.01, seed=1)
    far = D2.toarray()[gap >= 3].mean()
    assert abs(far - 0.01) < 0.001
    with pytest.raises(LSEError, match=r"p_in must be a number in \[0, 1\] \(got 1.5\)"):
        generate_sbm(p_in=1.5)
    with pytest.raises(LSEError, match=r"size must be an integer >= 1 \(got 0\)"):
        generate_sbm(factions=5, size=0)


def hub_graph(n=60, hubs=3, p=0.05, seed=4):
    """A few hubs linked to most nodes plus sparse background: shared-neighbour counts c(i, j)
    range from 1 to hubs + a few, the case the canonical-wedge acceptance must correct."""
    rng = np.random.default_rng(seed)
    upper = np.triu(rng.random((n, n)) < p, 1)
    upper[:hubs, :] |= rng.random((hubs, n)) < 0.7
    upper = np.triu(upper, 1)
    return sp.csr_matrix((upper | upper.T).astype(np.float32))


def test_uniform_wedges_are_uniform_on_a_hub_graph_and_rarely_rejected():
    D = hub_graph()
    truth = sorted(dense_hard_set(D))
    dense = D.toarray().astype(int)
    shared = dense.T @ dense
    assert len({shared[p] for p in truth}) >= 4  # proposals are far from uniform
    sampler = PairSampler(D, hard_sampling="uniform", materialize_limit=0)
    pairs = sampler.sample_hard_negatives(300_000, np.random.default_rng(5))
    index = {p: k for k, p in enumerate(truth)}
    counts = np.bincount([index[tuple(p)] for p in pairs], minlength=len(truth))
    expected = len(pairs) / len(truth)
    assert np.sum((counts - expected) ** 2 / expected) / (len(truth) - 1) < 1.3
    # acceptance = |hard set| / (ordered wedges incl. i == j): no longer w_min / w
    wedges = np.sum(np.diff(D.indptr).astype(float) ** 2)
    assert sampler._acceptance == pytest.approx(len(truth) / wedges, rel=0.15)


def test_linked_matches_the_dense_matrix():
    D = hub_graph(n=40)
    sampler = PairSampler(D)
    i, j = np.meshgrid(np.arange(40), np.arange(40), indexing="ij")
    np.testing.assert_array_equal(sampler.linked(i, j), D.toarray() > 0)
    assert sampler.linked(np.array([], int), np.array([], int)).shape == (0,)


def test_uniform_wedges_on_a_directed_pair_matrix():
    """D need not be symmetric: hard negatives are (D^T D)_ij > 0, D_ij = 0."""
    rng = np.random.default_rng(6)
    dense = rng.random((40, 40)) < 0.08
    dense[:2] |= rng.random((2, 40)) < 0.6  # two hub rows
    np.fill_diagonal(dense, False)
    D = sp.csr_matrix(dense.astype(np.float32))
    truth = sorted(dense_hard_set(D))
    sampler = PairSampler(D, hard_sampling="uniform", materialize_limit=0)
    pairs = sampler.sample_hard_negatives(200_000, np.random.default_rng(7))
    index = {p: k for k, p in enumerate(truth)}
    counts = np.bincount([index[tuple(p)] for p in pairs], minlength=len(truth))
    expected = len(pairs) / len(truth)
    assert counts.min() > 0
    assert np.sum((counts - expected) ** 2 / expected) / (len(truth) - 1) < 1.3


def test_datasets_do_not_autotune():
    """tf.data's autotuning thread made deleting an iterator (the end of every fit) wait up to
    10 s for its back-off sleep; both training pipelines switch it off."""
    import scipy.sparse as sp

    from lse.features import FeaturePairs, LabelIds, LabelPairSampler

    D = sp.csr_matrix(np.eye(6, k=1) + np.eye(6, k=-1))
    Y = sp.csr_matrix(np.eye(4)[[0, 1, 2, 3, 0]])
    X = sp.random(5, 3, density=0.6, random_state=0, format="csr")
    for dataset in (PairSampler(D, 2, 1, 1, seed=0).dataset(epochs=1),
                    FeaturePairs(LabelPairSampler(Y, 2, 1, 1), X, LabelIds(4)).dataset(epochs=1)):
        assert dataset.options().autotune.enabled is False
        assert len(list(dataset)) >= 1
