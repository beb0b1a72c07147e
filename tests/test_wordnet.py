"""WordNet setup and the compiled Wu-Palmer similarity, checked against nltk itself."""
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

from lse import wordnet as W
from lse.errors import LSEError


@pytest.fixture(scope="module")
def wn():
    try:
        return W.ensure_wordnet()
    except LSEError as err:
        pytest.skip(f"WordNet cannot be set up here ({err}); run `make wordnet`")


@pytest.fixture(scope="module")
def graph(wn):
    return W.wup_graph(wn)


# --------------------------------------------------------------------------------- setup
def test_lexnames_from_man_page_match_builtin_table():
    builtin = W.lexnames_text("/nonexistent")
    lines = builtin.splitlines()
    assert len(lines) == 45
    assert lines[0] == "00\tadj.all\t3" and lines[3] == "03\tnoun.Tops\t1"
    assert lines[18] == "18\tnoun.person\t1" and lines[29] == "29\tverb.body\t2"
    assert lines[2] == "02\tadv.all\t4" and lines[44] == "44\tadj.ppl\t3"
    if W.LEXNAMES_MAN_PAGE.is_file():
        assert W.lexnames_text() == builtin


def test_missing_wordnet_is_one_clear_error(monkeypatch, tmp_path):
    monkeypatch.setattr(W, "_find_wordnet", lambda: None)
    monkeypatch.setenv(W.DATA_ENV, str(tmp_path / "nltk_data"))
    with pytest.raises(LSEError, match="make wordnet.*wordnet-base wordnet-sense-index"):
        W.wordnet_root(source=tmp_path / "absent")
    incomplete = tmp_path / "debian"
    incomplete.mkdir()
    with pytest.raises(LSEError, match="lacks .*data.noun"):
        W.wordnet_root(source=incomplete)
    assert not (tmp_path / "nltk_data" / "corpora" / "wordnet").exists()


def test_install_needs_root(monkeypatch):
    monkeypatch.setattr(W.os, "geteuid", lambda: 1000)
    monkeypatch.setattr(W.shutil, "which", lambda name: "/usr/bin/apt-get")
    with pytest.raises(LSEError, match="needs root"):
        W.install_wordnet()


@pytest.mark.skipif(not (W.DEBIAN_WORDNET_DIR / "data.noun").is_file(),
                    reason="Debian's wordnet-base is not installed")
def test_builds_nltk_corpus_from_debian_files(tmp_path):
    # A fresh interpreter whose only WordNet is Debian's: the copy is made and nltk loads it.
    code = ("from lse.wordnet import ensure_wordnet; wn = ensure_wordnet(); "
            "print(round(wn.synset('dog.n.01').wup_similarity(wn.synset('cat.n.01')), 3), wn.root)")
    env = dict(os.environ, LSE_NLTK_DATA=str(tmp_path), NLTK_DATA=str(tmp_path / "none"), HOME=str(tmp_path))
    probe = subprocess.run([sys.executable, "-c", "import nltk; nltk.data.find('corpora/wordnet')"],
                           env=env, capture_output=True)
    if probe.returncode == 0:
        pytest.skip("nltk finds a WordNet outside LSE_NLTK_DATA on this machine")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    value, root = out.stdout.split()
    assert value == "0.857" and str(tmp_path / "corpora" / "wordnet") in root
    assert (tmp_path / "corpora" / "wordnet" / "lexnames").read_text() == W.lexnames_text()


# --------------------------------------------------------------------- Wu-Palmer, exactly
def _nltk_wup(a, b):
    value = a.wup_similarity(b)
    return np.nan if value is None else value


def test_synset_wup_equals_nltk(wn, graph):
    rng = np.random.default_rng(0)
    for pos, n_random in (("n", 300), ("v", 300)):
        pool = graph.names[(graph.is_verb == (pos == "v")) & (graph.names != W.FAKE_ROOT)]
        a = [wn.synset(pool[i]) for i in rng.integers(0, len(pool), n_random)]
        b = [wn.synset(pool[i]) for i in rng.integers(0, len(pool), n_random)]
        a, b = a + a[:100], b + a[:100]  # self pairs (not always 1 in nltk)
        for s in a[100:200]:  # ancestor pairs, both orders
            path = s.hypernym_paths()[-1]
            a += [s, path[len(path) // 2]]
            b += [path[len(path) // 2], s]
        expected = np.array([_nltk_wup(x, y) for x, y in zip(a, b)])
        got = graph.wup(graph.ids([x.name() for x in a]), graph.ids([y.name() for y in b]))
        np.testing.assert_allclose(got, expected, rtol=0, atol=1e-12)
    # nltk's quirks, hand-checked: multiple inheritance makes a self-pair score < 1, and the
    # virtual root joins unrelated verb trees.
    person, dog, cat = graph.ids(["person.n.01", "dog.n.01", "cat.n.01"])
    assert graph.wup([person], [person])[0] == pytest.approx(6 / 7)
    assert graph.wup([dog], [cat])[0] == pytest.approx(0.857, abs=5e-4)
    run, think = graph.ids(["run.v.01", "think.v.01"])
    assert graph.wup([run], [think])[0] == pytest.approx(
        wn.synset("run.v.01").wup_similarity(wn.synset("think.v.01")))
    with pytest.raises(LSEError, match="same part of speech"):
        graph.wup([dog], [run])


@pytest.fixture(scope="module")
def scorer(wn, graph):
    rng = np.random.default_rng(1)
    single = [w for w in graph.lemmas if w.isalpha()]
    n_senses = sum(np.diff(indptr) for indptr, _ in graph.sense_tables)
    polysemous = [w for w in single if n_senses[graph.lemma_row[w]] >= 6]
    vocab = (list(rng.choice(single, 400, replace=False)) + list(rng.choice(polysemous, 60, replace=False))
             + ["person", "glasses", "found", "red", "dog", "cat", "run", "entity", "happy",
                "Dog", "not_a_word"])
    return W.WordNetScorer(list(dict.fromkeys(vocab)), wordnet=wn)


def _nltk_word_wp(wn, w, v):
    values = [s.wup_similarity(t) for pos in "nv" for s in wn.synsets(w, pos) for t in wn.synsets(v, pos)]
    values = [x for x in values if x is not None]
    return max(values) if values else np.nan


def test_wp_vocabulary_convention(scorer):
    vocab = scorer.vocab
    inside = {vocab[i] for i in scorer.wp_vocabulary()}
    assert {"person", "glasses", "found", "red", "dog", "run"} <= inside
    # entity.n.01 has no hypernym; "happy" is only an adjective; case and non-words don't match
    assert not {"entity", "happy", "Dog", "not_a_word"} & inside


def test_word_wp_equals_nltk_max_over_synset_pairs(wn, scorer):
    rng = np.random.default_rng(2)
    ids = scorer.wp_vocabulary()
    a, b = rng.choice(ids, 2200), rng.choice(ids, 2200)
    a[:100] = b[:100]  # word with itself
    expected = np.array([_nltk_word_wp(wn, scorer.vocab[i], scorer.vocab[j]) for i, j in zip(a, b)])
    got = scorer.pair_similarities(a, b)
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-12)
    assert np.isnan(expected).sum() > 10  # noun-only vs verb-only words occur: "missing"
    i = scorer.vocab.index
    glasses_glass = max(wn.synset("glass.n.01").wup_similarity(s) for s in wn.synsets("dog", "n"))
    assert scorer.pair_similarity(i("glasses"), i("dog")) >= glasses_glass  # morphy senses
    assert scorer.pair_similarity(i("dog"), i("happy")) is None


def test_score_means_with_self_empty_sets_and_outside_words(scorer):
    i = scorer.vocab.index
    dog, cat, person, run, red, happy = (i(w) for w in ("dog", "cat", "person", "run", "red", "happy"))
    wp = scorer.pair_similarity
    retrieved = sp.lil_matrix((4, len(scorer.vocab)), dtype=bool)
    retrieved[0, [dog, cat, person, happy]] = True  # self and the non-WP "happy" are dropped
    retrieved[1, [cat]] = True  # only itself: empty set -> 0
    retrieved[2, [cat, run]] = True
    # row 3 retrieves nothing -> 0
    mean, per_query = scorer.score([dog, cat, red, person], retrieved.tocsr())
    np.testing.assert_allclose(per_query, [(wp(dog, cat) + wp(dog, person)) / 2, 0.0,
                                           (wp(red, cat) + wp(red, run)) / 2, 0.0])
    assert mean == pytest.approx(per_query.mean())
    with pytest.raises(LSEError, match="not in the WP vocabulary"):
        scorer.score([happy], retrieved.tocsr()[:1])


def test_score_missing_pairs_can_be_left_out(wn, scorer):
    i = scorer.vocab.index
    skip = W.WordNetScorer(scorer.vocab, wordnet=wn, missing=None)
    person, cat = i("person"), i("cat")  # person has noun senses only
    verb_only = next(k for k in scorer.wp_vocabulary() if scorer.pair_similarity(person, k) is None)
    retrieved = sp.csr_matrix(([True, True], ([0, 0], [cat, verb_only])), shape=(1, len(scorer.vocab)))
    assert skip.score([person], retrieved)[0] == pytest.approx(scorer.pair_similarity(person, cat))
    assert scorer.score([person], retrieved)[0] == pytest.approx(scorer.pair_similarity(person, cat) / 2)


def test_graph_cache_round_trip(graph, tmp_path):
    path = tmp_path / "g.npz"
    graph.save(path)
    loaded = W.WupGraph.load(path)
    assert loaded.lemmas == graph.lemmas and list(loaded.names) == list(graph.names)
    rng = np.random.default_rng(3)
    nouns = np.flatnonzero(~graph.is_verb)
    a, b = rng.choice(nouns, 500), rng.choice(nouns, 500)
    np.testing.assert_array_equal(loaded.wup(a, b), graph.wup(a, b))
