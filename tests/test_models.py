import numpy as np
import pytest

from lse.errors import LSEError
from lse.models import EmbeddingHasher, InstanceLabelHasher, TwoTowerHasher
from lse.sbm import SBMConfig, run_trial


def test_embedding_hasher_config_round_trip_and_codes():
    model = EmbeddingHasher(10, dim=12, contexts=3, similarity="dch", k=3.0, beta=2.0,
                            quantization_weight=0.5, dropout=0.2, seed=4)
    clone = EmbeddingHasher.from_config(model.get_config())
    assert clone.get_config() == model.get_config()
    assert clone.quantization == "cauchy"  # the paper's pairing for DCH
    emb = model.encode()
    assert emb.shape == (10, 3, 12) and np.all(np.abs(emb) < 1)
    codes = model.hash([0, 5])
    assert codes.shape == (2, 3, 2) and codes.dtype == np.uint8
    bits = np.unpackbits(codes, axis=-1)[..., :12]
    assert np.array_equal(bits.astype(bool), emb[[0, 5]] > 0)
    with pytest.raises(LSEError, match="item ids"):
        model.encode([10])


def test_two_tower_shapes_and_config():
    model = TwoTowerHasher(5, dim=8, hidden=(16,), shared=False, right_input_dim=7, seed=1)
    x = np.random.default_rng(0).normal(size=(4, 5)).astype(np.float32)
    assert model.encode(x).shape == (4, 1, 8)
    assert model.hash(np.ones((3, 7), np.float32), side="right").shape == (3, 1, 1)
    assert TwoTowerHasher.from_config(model.get_config()).get_config() == model.get_config()
    with pytest.raises(LSEError, match="shape"):
        model.encode(np.ones((2, 6)))


@pytest.mark.parametrize("kwargs, message", [
    ({"n_items": 0}, "n_items"),
    ({"n_items": 5, "dropout": 1.0}, "dropout"),
    ({"n_items": 5, "similarity": "nope"}, "unknown similarity"),
    ({"n_items": 5, "k": 0}, "K must be a number > 0"),
    ({"n_items": 5, "contexts": 0}, "contexts"),
    # strings and None are named, not left to fail as a bare TypeError in a comparison
    ({"n_items": "5"}, r"n_items must be an integer >= 1 \(got '5'\)"),
    ({"n_items": 5, "dim": 32.0}, r"dim must be an integer >= 1 \(got 32.0\)"),
    ({"n_items": 5, "dropout": "0.1"}, r"dropout must be a number in \[0, 1\) \(got '0.1'\)"),
    ({"n_items": 5, "k": None}, r"K must be a number > 0 \(got None\)"),
    ({"n_items": 5, "beta": "4"}, r"beta must be a number >= 0 \(got '4'\)"),
    ({"n_items": 5, "quantization_weight": float("nan")}, "quantization_weight must be a number"),
    ({"n_items": 5, "gamma": 0}, "gamma must be a number > 0"),
    ({"n_items": 5, "init_scale": -1.0}, "init_scale must be a number > 0"),
])
def test_bad_model_arguments(kwargs, message):
    with pytest.raises(LSEError, match=message):
        EmbeddingHasher(**kwargs)


@pytest.mark.parametrize("kwargs, message", [
    ({"n_labels": "10"}, r"n_labels must be an integer >= 1 \(got '10'\)"),
    ({"hidden": (16, "8")}, r"hidden width must be an integer >= 1 \(got '8'\)"),
    ({"dropout": None}, r"dropout must be a number in \[0, 1\) \(got None\)"),
])
def test_bad_label_hasher_arguments(kwargs, message):
    with pytest.raises(LSEError, match=message):
        InstanceLabelHasher(**{"input_dim": 6, "n_labels": 10, **kwargs})


def test_small_sbm_lse_recovers_the_factions():
    """50 factions x 10, trained briefly: exact-collision retrieval recovers the factions."""
    config = SBMConfig(factions=50, size=10, epochs=30, positives=256, hard=256, easy=512)
    result = run_trial("lse", config, seed=0)
    assert result["f1"] > 0.9, result
    assert 40 <= result["clusters"] <= 60
