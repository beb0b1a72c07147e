"""word2hashes API: model directories, SVD baselines, query sets, evaluation conventions."""
from __future__ import annotations

import json

import numpy as np
import pytest
import scipy.sparse as sp

from lse.errors import LSEError
from lse.index import pack_codes
from lse.words import WordModel, load_model, save_model
from lse.words.evaluate import build_index, load_index, query_sets, save_index, word_clusters
from lse.words.svd import fit_svd_model, ppmi, simhash_projection


def small_model(n=6, L=2, d=12, name="lse", seed=0):
    rng = np.random.default_rng(seed)
    emb = np.tanh(rng.normal(size=(n, L, d))).astype(np.float32)
    emb[1] = emb[0]  # words 0 and 1 share both codes
    vocab = [f"w{i}" for i in range(n)]
    return WordModel(name, vocab, emb, pack_codes(emb), d, params={"k": 8.0},
                     training={"epochs": 3})


def test_model_directory_round_trip(tmp_path):
    model = small_model()
    save_model(model, tmp_path / "m")
    config = json.loads((tmp_path / "m" / "config.json").read_text())
    assert config["format"] == "lse-word-model" and config["contexts"] == 2
    assert set(config["files"]) == {"vocab.txt", "embeddings.npy", "codes.npy"}
    back = load_model(tmp_path / "m")
    assert back.vocab == model.vocab and back.bits == 12 and back.name == "lse"
    assert np.array_equal(back.embeddings, model.embeddings)
    assert np.array_equal(back.codes, model.codes)
    assert back.params == {"k": 8.0} and back.training == {"epochs": 3}
    with pytest.raises(LSEError, match="already exists"):
        save_model(model, tmp_path / "m")
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp leftovers


@pytest.mark.parametrize("damage, message", [
    (lambda d: (d / "codes.npy").unlink(), "codes.npy is missing"),
    (lambda d: (d / "config.json").unlink(), "config.json is missing"),
    (lambda d: (d / "config.json").write_text("{not json"), "corrupt model config"),
    (lambda d: (d / "config.json").write_text('{"format": "x"}'), "not an lse word model"),
    (lambda d: (d / "embeddings.npy").write_bytes(
        (d / "embeddings.npy").read_bytes()[:-8]), "embeddings.npy is corrupt"),
    (lambda d: (d / "vocab.txt").write_text("w0\nw1\nw2\nw3\nw4\nw9\n"),  # same size
     "checksum does not match"),
])
def test_corrupt_model_directory_is_a_clear_error(tmp_path, damage, message):
    save_model(small_model(), tmp_path / "m")
    damage(tmp_path / "m")
    with pytest.raises(LSEError, match=message):
        load_model(tmp_path / "m")


def test_missing_model_directory(tmp_path):
    with pytest.raises(LSEError, match="does not exist"):
        load_model(tmp_path / "nope")


def test_ppmi_matches_a_hand_computation():
    X = np.array([[0, 2, 1], [2, 0, 0], [1, 0, 4]], dtype=float)
    T = X.sum()  # 10
    r = X.sum(1)  # 3, 2, 5 (symmetric, so columns too)
    expected = np.zeros_like(X)
    for i in range(3):
        for j in range(3):
            if X[i, j]:
                expected[i, j] = max(0.0, np.log(X[i, j] * T / (r[i] * r[j])))
    # e.g. (0, 1): log(2 * 10 / (3 * 2)) = log(10/3) > 0; (0, 2): log(10 / 15) < 0 -> 0
    assert expected[0, 1] == pytest.approx(np.log(10 / 3)) and expected[0, 2] == 0
    assert np.allclose(ppmi(sp.csr_matrix(X)).toarray(), expected)
    # context distribution smoothing: P_alpha(j) = c_j^a / sum c^a
    a = 0.75
    pc = r ** a / (r ** a).sum()
    want = max(0.0, np.log((X[1, 0] / T) / ((r[1] / T) * pc[0])))
    assert ppmi(sp.csr_matrix(X), alpha=a)[1, 0] == pytest.approx(want)
    with pytest.raises(LSEError, match="nonnegative"):
        ppmi(sp.csr_matrix(-X))


class _Data:
    def __init__(self, n=40, seed=0):
        rng = np.random.default_rng(seed)
        block = np.repeat(np.arange(4), n // 4)
        counts = rng.poisson(0.3, size=(n, n)) + 5 * (block[:, None] == block[None, :])
        np.fill_diagonal(counts, 0)
        self.counts = sp.csr_matrix(counts + counts.T, dtype=float)
        self.vocab = [f"w{i}" for i in range(n)]
        self.stats = {}
        self.block = block


def test_svd_baselines_codes_shapes_and_structure(tmp_path):
    data = _Data()
    sign = fit_svd_model(data, "svd-sign", dim=8, seed=0)
    assert sign.codes.shape == (40, 1, 1) and sign.embeddings.shape == (40, 1, 8)
    # sign bits are exactly the centred vectors' signs
    assert np.array_equal(sign.codes, pack_codes(sign.embeddings))
    assert abs(sign.embeddings.mean(axis=0)).max() < 1e-5
    simhash = fit_svd_model(data, "svd-simhash", dim=8, bits=12, tables=3, seed=0)
    assert simhash.codes.shape == (40, 3, 2) and simhash.bits == 12
    assert simhash.arrays["projection"].shape == (3, 8, 12)
    proj = simhash_projection(8, 12, 3, 0)
    assert np.array_equal(simhash.codes[:, 2], pack_codes(simhash.embeddings[:, 0] @ proj[2]))
    # four planted blocks: codes of a block are close in Hamming distance, others far
    bits = np.unpackbits(sign.codes[:, 0], axis=1)[:, :8].astype(int)
    hamming = np.abs(bits[:, None, :] - bits[None, :, :]).sum(-1)
    in_block = data.block[:, None] == data.block[None, :]
    assert hamming[in_block].mean() < 0.6 * hamming[~in_block].mean()
    save_model(simhash, tmp_path / "s")
    assert np.array_equal(load_model(tmp_path / "s").arrays["projection"], proj)
    with pytest.raises(LSEError, match="svd-sign hashes each"):
        fit_svd_model(data, "svd-sign", dim=8, bits=16)
    with pytest.raises(LSEError, match="larger than that"):
        fit_svd_model(data, "svd-sign", dim=40)


def test_query_sets_are_disjoint_and_repeatable():
    sets = query_sets(np.arange(100, 350), 100, seed=3)
    assert len(sets["report"]) == len(sets["tune"]) == 100
    assert not np.intersect1d(sets["report"], sets["tune"]).size
    assert np.array_equal(sets["report"], query_sets(np.arange(100, 350), 100, seed=3)["report"])
    assert not np.array_equal(sets["report"], query_sets(np.arange(100, 350), 100, 4)["report"])
    small = query_sets(np.arange(7), 100)
    assert len(small["report"]) == 4 and len(small["tune"]) == 3
    assert set(small["report"]) | set(small["tune"]) == set(range(7))
    assert np.array_equal(small["all"], np.arange(7))  # every candidate
    assert set(sets["report"]) <= set(query_sets(np.arange(100, 350), 250, seed=3)["all"])


def test_index_directory_and_word_clusters(tmp_path):
    model = small_model()
    word_index = build_index(model)
    save_index(word_index, tmp_path / "i")
    back = load_index(tmp_path / "i")
    assert back.info["model"] == "lse" and np.array_equal(back.embeddings, model.embeddings)
    [result] = word_clusters(back, ["w0"], samples=5)
    assert result["retrieved"] == 1
    assert result["clusters"][0]["siblings"] == ["w1"] and result["clusters"][0]["size"] == 2
    with pytest.raises(LSEError, match="unknown name"):
        word_clusters(back, ["w0", "zzz"])
    save_index(word_index, tmp_path / "bare", embeddings=False)
    assert load_index(tmp_path / "bare").embeddings is None
    with pytest.raises(LSEError, match="does not exist"):
        load_index(tmp_path / "missing")
    save_model(model, tmp_path / "m")
    with pytest.raises(LSEError, match="lse index MODEL"):
        load_index(tmp_path / "m")
