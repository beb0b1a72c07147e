"""LSEClassifier: round trip (fit / transform / predict / pickle), Pipeline, sklearn's checks."""
import pickle
import re

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

from lse.errors import LSEError
from lse.estimator import AUTO_MINED_RATIO, LSEClassifier
from lse.index import unpack_codes

#: Small and quick: every sklearn check fits a few times on toy data (~0.3 s per fit).
FAST = dict(dim=8, hidden=(16,), epochs=4, batch_size=512, learning_rate=0.1)


def blobs(n_per_class=40, n_classes=4, n_features=6, seed=0):
    rng = np.random.default_rng(seed)
    centers = rng.normal(0, 4, (n_classes, n_features))
    y = np.repeat(np.arange(n_classes), n_per_class)
    return centers[y] + rng.normal(0, 1, (len(y), n_features)), y


def test_round_trip_fit_transform_predict_pickle():
    X, y = blobs()
    names = np.array(["ant", "bee", "cat", "dog"])[y]
    est = LSEClassifier(**{**FAST, "dim": 16}).fit(X, names)
    assert list(est.classes_) == ["ant", "bee", "cat", "dog"] and est.n_features_in_ == 6
    assert est.mined_ratio_ == 0.0  # "auto": no mining for single-label targets
    codes = est.transform(X)
    assert codes.dtype == np.uint8 and codes.shape == (len(X), 2)
    # the codes are the sign bits of the embeddings
    np.testing.assert_array_equal(unpack_codes(codes, 16), (est.embed(X) > 0).astype(np.uint8))
    pred = est.predict(X)
    assert (pred == names).mean() > 0.95
    top = est.predict_topk(X, 3)
    assert top.shape == (len(X), 3) and np.all(est.classes_[top[:, 0]] == pred)
    clone = pickle.loads(pickle.dumps(est))
    np.testing.assert_array_equal(clone.transform(X), codes)
    np.testing.assert_array_equal(clone.predict(X), pred)
    bits = LSEClassifier(**{**FAST, "dim": 16, "code_format": "bits"}).fit(X, names)
    np.testing.assert_array_equal(bits.transform(X), unpack_codes(codes, 16))  # same seed, same model
    assert list(bits.get_feature_names_out()[:2]) == ["bit0", "bit1"]


def test_exact_collisions_group_classes():
    """Each class hashes to (mostly) one code shared with its label: the point of LSE."""
    X, y = blobs()
    est = LSEClassifier(**{**FAST, "dim": 16, "epochs": 40, "exhaustive_fallback": False}).fit(X, y)
    found, _ = est.retriever_.candidates(est.embed(X))
    collide = np.diff(found.indptr) > 0
    assert collide.mean() > 0.8
    assert (est.predict_topk(X, 1)[collide, 0] == y[collide]).mean() > 0.95


def test_multilabel_sparse_inputs_and_topk():
    rng = np.random.default_rng(1)
    Y = np.zeros((120, 5), int)
    Y[np.arange(120), rng.integers(0, 5, 120)] = 1
    Y[np.arange(0, 120, 2), rng.integers(0, 5, 60)] = 1
    X = sp.csr_matrix(np.hstack([Y * 3 + rng.random((120, 5)), rng.random((120, 5)) < 0.2]))
    est = LSEClassifier(**{**FAST, "top_k": 2, "epochs": 15}).fit(X, sp.csr_matrix(Y))
    assert est.multilabel_ and list(est.classes_) == [0, 1, 2, 3, 4]
    assert est.mined_ratio_ == AUTO_MINED_RATIO  # "auto" mines for multi-label targets
    pred = est.predict(X)
    assert pred.shape == Y.shape and set(pred.sum(1)) <= {1, 2}
    top = est.predict_topk(X, 2)
    assert Y[np.arange(120), top[:, 0]].mean() > 0.9  # the best label is a true one


def test_prior_weight_ranks_frequent_labels_first_without_refitting():
    """``prior_weight`` is read at prediction time: set_params after one fit re-ranks the same
    candidates; a large weight puts the most frequent label of each candidate set first."""
    rng = np.random.default_rng(2)
    Y = (rng.random((200, 6)) < [0.6, 0.05, 0.3, 0.05, 0.2, 0.05]).astype(int)
    Y[Y.sum(1) == 0, 1] = 1
    X = Y * 2.0 + rng.random((200, 6))
    est = LSEClassifier(**{**FAST, "epochs": 6, "exhaustive_fallback": False}).fit(X, Y)
    plain = est.predict_topk(X, 6)
    found, _ = est.retriever_.candidates(est.embed(X))
    est.set_params(prior_weight=100.0)
    top = est.predict_topk(X, 6)
    counts = Y.sum(0)
    assert len(set(counts)) == 6  # no ties: the cosine would break them
    for i in range(0, 200, 7):  # each row: its candidates, by training frequency
        cand = found[i].indices
        expected = cand[np.argsort(-counts[cand], kind="stable")]
        np.testing.assert_array_equal(top[i, :len(cand)], expected)
        np.testing.assert_array_equal(np.sort(top[i, :len(cand)]), np.sort(plain[i, :len(cand)]))
    est.set_params(prior_weight=0.0)
    np.testing.assert_array_equal(est.predict_topk(X, 6), plain)
    with pytest.raises(LSEError, match="prior_weight must be a number >= 0"):
        est.set_params(prior_weight=-1).predict(X)


@pytest.mark.parametrize("mining_radius", [None, 0])
def test_mined_negatives_are_refreshed_every_epoch(monkeypatch, mining_radius):
    from lse.features import FeaturePairs

    pools = []
    refresh = FeaturePairs.refresh

    def recording(self, model):
        refresh(self, model)
        pools.append(self.sampler.pool.copy())

    monkeypatch.setattr(FeaturePairs, "refresh", recording)
    X, y = blobs(n_classes=6)
    est = LSEClassifier(**{**FAST, "dim": 16, "epochs": 5, "mined_ratio": 0.25,
                           "mining_radius": mining_radius}).fit(X, y)
    assert len(pools) == 4  # before every epoch but the first
    for pool in pools:  # pools of 8 labels, never a class the instance has, -1 padded
        assert pool.shape == (len(X), 8) and not np.any(pool == y[:, None])
        if mining_radius is None:  # every label scored: the 5 other classes, then padding
            assert np.all(pool[:, :5] >= 0) and np.all(pool[:, 5:] == -1)
        else:  # only the classes sharing the instance's code
            assert np.all(pool[:, 5:] == -1) and (pool[:, 0] == -1).mean() > 0.5
    assert (est.predict(X) == y).mean() > 0.85  # overlapping blobs: 0.92 without mining


def test_pipeline_scaler_then_hasher_then_knn_on_codes():
    X, y = blobs(seed=2)
    X = X * 100 + 1000  # badly scaled: the pipeline's scaler matters
    hasher = make_pipeline(StandardScaler(), LSEClassifier(**{**FAST, "dim": 16}))
    assert (hasher.fit(X, y).predict(X) == y).mean() > 0.95
    knn = make_pipeline(StandardScaler(), LSEClassifier(**{**FAST, "dim": 16, "code_format": "bits"}),
                        KNeighborsClassifier(5, metric="hamming"))
    assert (knn.fit(X, y).predict(X) == y).mean() > 0.95


def test_parameter_errors():
    X, y = blobs()
    with pytest.raises(LSEError, match="code_format"):
        LSEClassifier(code_format="hex").fit(X, y)
    with pytest.raises(LSEError, match="epochs"):
        LSEClassifier(epochs=0).fit(X, y)
    for bad in (-0.1, "always", None):
        with pytest.raises(LSEError, match="mined_ratio must be 'auto' or a number >= 0"):
            LSEClassifier(mined_ratio=bad).fit(X, y)
    with pytest.raises(LSEError, match="mining_radius must be an integer >= 0"):
        LSEClassifier(mining_radius=-1).fit(X, y)
    with pytest.raises(LSEError, match="unknown similarity"):
        LSEClassifier(**{**FAST, "similarity": "jaccard"}).fit(X, y)


@pytest.mark.parametrize("params, message", [
    ({"k": "4"}, "k must be a number > 0 (got '4')"),
    ({"k": 0}, "k must be a number > 0"),
    ({"beta": None}, "beta must be a number >= 0 (got None)"),
    ({"negative_ratio": "a"}, "negative_ratio must be a number >= 0"),
    ({"quantization_weight": float("nan")}, "quantization_weight must be a number >= 0"),
    ({"learning_rate": True}, "learning_rate must be a number > 0 (got True)"),
    ({"dropout": 1.0}, "dropout must be a number in [0, 1) (got 1.0)"),
    ({"warmup": None}, "warmup must be a number in [0, 1)"),
    ({"clipnorm": "1"}, "clipnorm must be None or a number > 0"),
    ({"clipnorm": 0}, "clipnorm must be None or a number > 0"),
    ({"hidden": (16, 0)}, "hidden width must be an integer >= 1 (got 0)"),
    ({"hidden": "64"}, "hidden width must be an integer >= 1 (got '64')"),
    ({"hidden": 16.0}, "hidden width must be an integer >= 1 (got 16.0)"),
    ({"prior_weight": "0.1"}, "prior_weight must be a number >= 0 (got '0.1')"),
])
def test_numeric_parameter_errors_name_the_parameter(params, message):
    """Strings, None, booleans and NaN are refused at fit with the parameter's name, never a
    TypeError from inside training; the estimator stays unfitted."""
    X, y = blobs()
    est = LSEClassifier(**{**FAST, **params})
    with pytest.raises(LSEError, match=re.escape(message)):
        est.fit(X, y)
    assert not hasattr(est, "classes_")


@parametrize_with_checks([LSEClassifier(**FAST)])
def test_sklearn_compatible(estimator, check):
    check(estimator)
