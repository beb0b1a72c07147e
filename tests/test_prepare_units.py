"""Building blocks of data_prep: tokenizer, readers, shards, vocabulary, counter, filters."""
from __future__ import annotations

import gzip
import pickle
import zipfile
import zlib
from collections import defaultdict

import numpy as np
import pytest
import scipy.sparse as sp

from data_prep.cooccur import BOUNDARY, GAP, REMOVE, CooccurrenceCounter, weight_scale
from data_prep.filtering import filter_block, top_k_mask
from data_prep.pairs import degree_summary, hold_out, symmetric_binary
from data_prep.readers import ReadStats, read_text
from data_prep.sources import plan_shards
from data_prep import sparse_io
from data_prep.sparse_io import CSRDir, CSRNpz, crc32_combine, save_csr_dir, write_npz
from data_prep.tasks import final_counts_task, final_row_lengths
from data_prep.tokenize import DOC, LINE, make_tokenizer
from data_prep.vocab import VocabOptions, WordCounts, build_vocabulary, merge_counts
from lse.errors import LSEError


# -- tokenizer ---------------------------------------------------------------------------------
def test_regex_tokenizer_words_and_markers():
    tok = make_tokenizer()
    text = "Don't  stop_me, Naïve 1990s! 'quoted' rock'n'roll --\n\nend\x1d"
    assert tok(text) == ["don't", "stop", "me", "naïve", "1990s", "quoted", "rock'n'roll",
                         LINE, LINE, "end", DOC]
    assert make_tokenizer(pattern=r"[a-z]+", lowercase=False)("Ab cd\n") == ["b", "cd", LINE]
    with pytest.raises(LSEError, match="not a valid regular expression"):
        make_tokenizer(pattern="(")
    with pytest.raises(LSEError, match="matches a line end"):
        make_tokenizer(pattern=r"\s+")


def test_nltk_tokenizer_drops_punctuation_and_pickles():
    tok = make_tokenizer("nltk:wordpunct")
    tok = pickle.loads(pickle.dumps(tok))
    assert tok("Hello, World!\nA-b\n") == ["hello", "world", LINE, "a", "b", LINE]
    with pytest.raises(LSEError, match="unknown NLTK tokenizer 'punkt'"):
        make_tokenizer("nltk:punkt")


# -- shards and readers ------------------------------------------------------------------------
def test_byte_range_shards_cover_every_line_once(tmp_path):
    rng = np.random.default_rng(0)
    lines = [" ".join(f"w{x}" for x in rng.integers(0, 50, rng.integers(0, 40)))
             for _ in range(5000)]
    path = tmp_path / "big.txt"
    path.write_text("\n".join(lines) + "\n")
    for size in (1 << 16, 70_001):
        shards = plan_shards([str(path)], shard_size=size)
        assert len(shards) == -(-path.stat().st_size // size)
        text = "".join(t for s in shards for t in read_text(s, chunk_bytes=5000))
        assert text.split("\n")[:-1] == lines


def test_sources_dirs_globs_magic_and_dedupe(tmp_path):
    (tmp_path / "d" / "sub").mkdir(parents=True)
    (tmp_path / "d" / "a.txt").write_text("a\n")
    (tmp_path / "d" / "sub" / "b.data").write_bytes(gzip.compress(b"b\n"))  # gzip, no .gz
    (tmp_path / "d" / ".hidden").write_text("h\n")
    shards = plan_shards([str(tmp_path / "d"), str(tmp_path / "d" / "*.txt")])
    assert [s.source.rsplit("/", 1)[1] for s in shards] == ["a.txt", "b.data"]
    assert [s.compression for s in shards] == [None, "gz"]
    assert "".join(read_text(shards[1])) == "b\n"


def test_wikiextractor_markers_and_bad_bytes(tmp_path):
    path = tmp_path / "wiki.txt"
    path.write_bytes(b'<doc id="1" url="u" title="T">\nTitle\nsome text\n</doc>\n'
                     b'<doc id="2" url="u" title="U">\nmore \xff\xfe text <doc not a marker>'
                     b"\n</doc>")
    stats = ReadStats()
    text = "".join(read_text(plan_shards([str(path)])[0], stats=stats))
    assert text == (f"{DOC}\nTitle\nsome text\n{DOC}\n{DOC}\nmore \ufffd\ufffd text "
                    f"<doc not a marker>\n{DOC}")
    assert (stats.bad_bytes, stats.documents) == (2, 2)


# -- vocabulary --------------------------------------------------------------------------------
def test_vocabulary_options():
    counts = {"the": 100, "of": 90, "cat": 20, "dog": 20, "ant": 20, "rare": 2, "x": 1}
    v = build_vocabulary(counts, VocabOptions(min_count=2, drop_top=2, max_vocab=3))
    assert v.words == ["ant", "cat", "dog"] and v.counts.tolist() == [20, 20, 20]
    assert v.dropped == {"the": 100, "of": 90}
    assert v.code_table().codes() == {"the": GAP, "of": GAP, "ant": 0, "cat": 1, "dog": 2}
    v = build_vocabulary(counts, VocabOptions(min_count=1, drop_top=0, max_vocab=None,
                                              max_frequency=0.3, stopwords=("dog",)))
    assert v.words == ["ant", "cat", "rare", "x"] and set(v.dropped) == {"the", "of", "dog"}


def test_word_counts_merge_and_pickle():
    a = WordCounts.from_dict({"a": 1, "b": 2})
    b = WordCounts.from_dict({"b": 3, "c\u00e9": 4})
    m = pickle.loads(pickle.dumps(merge_counts(a, b)))
    assert m.as_dict() == {"a": 1, "b": 5, "c\u00e9": 4}
    assert pickle.loads(pickle.dumps(WordCounts([], []))).words == []


# -- counting ----------------------------------------------------------------------------------
def slow_counts(codes, V, W):
    """Reference: per segment, every pair at distance <= W, both directions, weight L/k."""
    L = weight_scale(W)
    X = defaultdict(int)
    segs = [[]]
    for c in codes:
        if c == REMOVE:
            continue
        if c == BOUNDARY:
            segs.append([])
        else:
            segs[-1].append(c)
    for seg in segs:
        for i, a in enumerate(seg):
            for k in range(1, W + 1):
                if i + k < len(seg) and a >= 0 and seg[i + k] >= 0:
                    X[a, seg[i + k]] += L // k
                    X[seg[i + k], a] += L // k
    return dict(X)


@pytest.mark.parametrize("seed", range(12))
def test_counter_matches_slow_reference_with_chunks_and_spills(seed):
    rng = np.random.default_rng(seed)
    V, W, n = int(rng.integers(1, 60)), int(rng.integers(1, 12)), int(rng.integers(0, 3000))
    codes = rng.integers(0, V, n).astype(np.int32)
    r = rng.random(n)
    codes[r < 0.05] = GAP
    codes[(r >= 0.05) & (r < 0.08)] = BOUNDARY
    codes[(r >= 0.08) & (r < 0.12)] = REMOVE
    runs = []
    c = CooccurrenceCounter(V, W, dense_size=int(rng.integers(1, V + 1)), spill=runs.append)
    c.chunk_tokens, c.max_nnz = int(rng.integers(1, 500)), int(rng.integers(1, 200))
    cut = int(rng.integers(0, n + 1))
    c.feed(codes[:cut])
    c.feed(codes[cut:])
    total = c.flush()
    for run in runs:
        total = total + run
    coo = total.tocoo()
    got = {(int(i), int(j)): int(v) for i, j, v in zip(coo.row, coo.col, coo.data) if v}
    assert got == slow_counts(codes, V, W)
    assert c.runs == len(runs)


# -- filtering and pairs -----------------------------------------------------------------------
def test_top_k_mask_ties_go_to_first_entries():
    indptr = np.array([0, 5, 7])
    values = np.array([3, 1, 3, 3, 2, 9, 9])
    assert top_k_mask(indptr, values, 2).tolist() == [True, False, True, False, False,
                                                      True, True]


@pytest.mark.parametrize("seed", range(3))
def test_top_k_mask_equals_row_by_row_sort(seed):
    """The vectorised selection against a per-row stable sort (many ties, empty rows)."""
    rng = np.random.default_rng(seed)
    lengths = rng.integers(0, 30, 200) * rng.integers(0, 2, 200)
    indptr = np.concatenate([[0], np.cumsum(lengths)])
    for values in (rng.integers(0, 5, indptr[-1]), rng.random(indptr[-1]).round(1)):
        for k in (1, 3, 10):
            expect = np.zeros(len(values), bool)
            for a, b in zip(indptr[:-1], indptr[1:]):
                order = np.argsort(-values[a:b], kind="stable")[:k]
                expect[a + order] = True
            assert (top_k_mask(indptr, values, k) == expect).all()


def test_filter_block_pmi_and_top_k():
    X = np.array([[4, 8, 1, 0], [8, 0, 2, 6], [1, 2, 2, 9], [0, 6, 9, 0]], np.int64)
    r = X.sum(1)
    T = r.sum()
    pmi = np.log(np.where(X > 0, X, 1) * T / np.outer(r, r))
    expected = (X > 0) & (pmi > 0.1) & ~np.eye(4, dtype=bool)
    blocks = [filter_block(sp.csr_matrix(X[lo:hi]), lo, r, T, min_pmi=0.1, top_k=10)[0]
              for lo, hi in ((0, 1), (1, 4))]
    assert (sp.vstack(blocks).toarray() > 0).tolist() == expected.tolist()
    top1, stats = filter_block(sp.csr_matrix(X), 0, r, T, min_pmi=-10, top_k=1)
    assert top1.toarray().argmax(1).tolist() == [1, 0, 3, 2]
    assert stats == {"nonzeros": 12, "atypical": 10, "top_k": 4}


def test_symmetric_binary_and_hold_out():
    rng = np.random.default_rng(1)
    B = sp.random(300, 300, density=0.03, random_state=2, format="csr")
    P = symmetric_binary([B[:100], B[100:]])
    assert (P != P.T).nnz == 0 and P.diagonal().sum() == 0 and set(P.data) == {1.0}
    train, held = hold_out(P, 200, seed=int(rng.integers(100)))
    assert held.shape == (200, 2) and held.dtype == np.int64
    assert all(P[i, j] == 1 and train[i, j] == 0 and train[j, i] == 0 for i, j in held)
    assert train.nnz == P.nnz - 400 and (train != train.T).nnz == 0
    deg = np.asarray(P.getnnz(axis=1))
    assert (np.asarray(train.getnnz(axis=1))[deg > 0] >= 1).all()
    assert degree_summary(train)["max"] == int(train.getnnz(axis=1).max())


# -- storage -----------------------------------------------------------------------------------
def test_csr_dirs_and_streamed_npz(tmp_path):
    X = sp.random(50, 40, density=0.2, random_state=0, format="csr")
    X.data = (X.data * 100).round() + 1
    parts = [save_csr_dir(X[a:b], tmp_path / f"p{i}")
             for i, (a, b) in enumerate(((0, 17), (17, 17), (17, 50)))]
    assert (CSRDir(parts[2]).rows(3, 9) != X[20:26]).nnz == 0
    write_npz(tmp_path / "x.npz", [CSRDir(p) for p in parts], scale=4.0)
    Y = sp.load_npz(tmp_path / "x.npz")
    assert Y.shape == X.shape and np.array_equal(Y.toarray(), X.toarray() / 4.0)


def test_final_counts_prune_isolated_words(tmp_path):
    X = sp.random(30, 30, density=0.3, random_state=3, format="csr", dtype=np.float64)
    X = ((X + X.T) * 1000).astype(np.int64).tocsr()
    keep = np.ones(30, bool)
    keep[[0, 7, 8, 29]] = False
    new_ids = np.where(keep, np.cumsum(keep) - 1, -1)
    blocks = ((0, 10), (10, 30))
    lengths = np.concatenate([final_row_lengths(X[lo:hi], lo, hi, new_ids, str(tmp_path))
                              for lo, hi in blocks])
    indptr = np.concatenate([[0], np.cumsum(lengths)])
    npz = CSRNpz.create(tmp_path / "c.npz", (26, 26), indptr)
    npz_copy = pickle.loads(pickle.dumps(npz))  # as a worker gets it
    parts = [final_counts_task(X[lo:hi], lo, hi, new_ids, 8, str(tmp_path), npz_copy,
                               int(indptr[keep[:lo].sum()]))
             for lo, hi in reversed(blocks)][::-1]  # written in any order
    npz.finish(parts)
    got = sp.load_npz(tmp_path / "c.npz")
    assert np.array_equal(got.toarray(), X.toarray()[keep][:, keep] / 8)
    assert got.data.dtype == np.float64 and got.indptr.dtype == np.int32
    with zipfile.ZipFile(tmp_path / "c.npz") as zf:
        assert zf.testzip() is None  # every member's CRC


def test_crc32_combine():
    rng = np.random.default_rng(0)
    for _ in range(50):
        a, b = rng.bytes(int(rng.integers(0, 50))), rng.bytes(int(rng.integers(0, 5000)))
        assert crc32_combine(zlib.crc32(a), zlib.crc32(b), len(b)) == zlib.crc32(a + b)


def test_npz_zip64_layout(tmp_path, monkeypatch):
    """Members and offsets beyond the zip64 limit (lowered here) still load."""
    monkeypatch.setattr(sparse_io, "_ZIP64_LIMIT", 100)
    X = sp.random(60, 50, density=0.2, random_state=1, format="csr")
    parts = [save_csr_dir(X[a:b], tmp_path / f"p{i}") for i, (a, b) in enumerate(((0, 20),
                                                                                   (20, 60)))]
    write_npz(tmp_path / "x.npz", [CSRDir(p) for p in parts])
    assert (sp.load_npz(tmp_path / "x.npz") != X).nnz == 0
    with zipfile.ZipFile(tmp_path / "x.npz") as zf:
        assert zf.testzip() is None and zf.getinfo("data.npy").header_offset > 100


def test_byte_tokenizer_equals_regex_tokenizer():
    from data_prep.bytescan import ByteTokenizer
    from data_prep.readers import _counter

    rng = np.random.default_rng(5)
    # (no capital sigma: its lower case depends on the context beyond a piece, see bytescan)
    alphabet = list("abcXYZ019'' _-.,;:!?\"()\t\r\n\n") + ["é", "Ä", "ß", "—", "’", "ﬁ", "İ",
                                                           "\u00a0", "日本", "\x1d", "\x1e"]
    tok = make_tokenizer()
    fast = ByteTokenizer()
    for _ in range(30):
        text = "".join(rng.choice(alphabet, size=400)) + "\n"
        data = text.encode()
        if rng.random() < 0.3:
            data += b"bad\xff\xc3(bytes\n"
        ids, bad = fast(data)
        _counter.bad = 0
        expected = tok(data.decode("utf-8", "lse-count"))
        assert bad == _counter.bad
        words = list(fast.vocabulary)
        assert [words[i] for i in ids] == expected


def test_hold_out_never_isolates_a_word():
    # a triangle plus a star: only triangle edges can go (star leaves have one pair each)
    edges = [(0, 1), (1, 2), (0, 2), (3, 4), (3, 5), (3, 6)]
    P = sp.coo_matrix((np.ones(12), ([a for a, b in edges] + [b for a, b in edges],
                                     [b for a, b in edges] + [a for a, b in edges])),
                      shape=(7, 7)).tocsr()
    train, held = hold_out(P, 10, seed=0)
    assert len(held) == 1 and tuple(sorted(held[0])) in {(0, 1), (1, 2), (0, 2)}
    assert (np.diff(train.indptr) >= 1).all() and train.nnz == P.nnz - 2


def test_brown_fast_reader_equals_nltk_tagged_sents():
    from pathlib import Path

    from data_prep.sources import Shard

    nltk_data = Path(__file__).parents[1].parent / "shared" / "data" / "text" / "nltk_data"
    if not (nltk_data / "corpora" / "brown.zip").is_file():
        pytest.skip(f"shared NLTK data not found at {nltk_data}")
    nltk = pytest.importorskip("nltk")
    nltk.data.path.insert(0, str(nltk_data))
    fids = tuple(nltk.corpus.brown.fileids()[:40])
    text = "".join(read_text(Shard("nltk:brown", fileids=fids, nltk_data=(str(nltk_data),))))
    expected = "".join("\n".join(" ".join(w for w, _ in s)
                                 for s in nltk.corpus.brown.tagged_sents(f)) + f"\n{DOC}\n"
                       for f in fids)
    assert text == expected
