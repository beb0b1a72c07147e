"""``lse prepare`` counts equal a slow pure-Python reference EXACTLY (float64 bit for bit)."""
from __future__ import annotations

import gzip
import lzma
from pathlib import Path

import numpy as np
import pytest

from data_prep.dataset import load_dataset
from data_prep.pipeline import PrepareConfig, prepare
from data_prep.vocab import VocabOptions
from prepare_reference import reference_counts

SHARED = Path(__file__).parents[1].parent / "shared" / "data"
NLTK_DATA = SHARED / "text" / "nltk_data"
needs_nltk = pytest.mark.skipif(not (NLTK_DATA / "corpora" / "inaugural.zip").is_file(),
                                reason=f"shared NLTK data not found at {NLTK_DATA}")


def counts_by_word(ds) -> dict:
    coo = ds.counts.tocoo()
    return {(ds.vocab[i], ds.vocab[j]): v for i, j, v in zip(coo.row, coo.col, coo.data)}


def run(corpus, out, *, min_count=1, drop_top=0, **kw):
    config = PrepareConfig(vocab=VocabOptions(min_count=min_count, max_vocab=None,
                                              drop_top=drop_top),
                           keep_isolated=True, holdout=10, **kw)
    prepare([str(c) for c in corpus], out, config, workers=0, progress=False)
    return load_dataset(out)


@needs_nltk
def test_inaugural_counts_equal_reference_exactly(tmp_path):
    import nltk

    nltk.data.path.insert(0, str(NLTK_DATA))
    reader = nltk.corpus.inaugural
    documents = [reader.raw(f) for f in reader.fileids()]
    vocab, expected = reference_counts(documents, window=10, min_count=3, drop_top=20)

    ds = run(["nltk:inaugural"], tmp_path / "out", min_count=3, drop_top=20,
             nltk_data=(str(NLTK_DATA),))
    assert ds.vocab == vocab
    got = counts_by_word(ds)
    assert len(got) == len(expected) > 100_000
    assert got == expected  # exact float equality, every pair
    assert ds.stats["corpus"]["tokens"] == 138_162
    assert ds.stats["corpus"]["documents"] == len(documents)


def synthetic_documents(seed: int, n_docs: int = 12) -> list[str]:
    """Zipf-distributed words over short lines, blank lines, punctuation and apostrophes."""
    rng = np.random.default_rng(seed)
    words = [f"w{i}" for i in range(60)] + ["don't", "naïve", "x1"]
    p = 1 / np.arange(1, len(words) + 1)
    p /= p.sum()
    docs = []
    for _ in range(n_docs):
        lines = []
        for _ in range(rng.integers(1, 12)):
            if rng.random() < 0.15:
                lines.append("  ")  # a line without words: a paragraph end
                continue
            toks = rng.choice(words, size=rng.integers(1, 25), p=p)
            lines.append(" ".join(t.upper() if rng.random() < 0.1 else t for t in toks)
                         .replace(" w1 ", ", w1; "))
        docs.append("\n".join(lines))
    return docs


def write_wikiextractor(path: Path, docs: list[str], opener=open) -> Path:
    with opener(path, "wt", encoding="utf-8") as fh:
        for i, doc in enumerate(docs):
            fh.write(f'<doc id="{i}" url="http://x/{i}" title="T{i}">\n{doc}\n</doc>\n')
    return path


@pytest.mark.parametrize("boundary", ["line", "paragraph", "document"])
@pytest.mark.parametrize("oov", ["remove", "gap"])
def test_synthetic_boundaries_and_oov_match_reference(tmp_path, boundary, oov):
    docs = synthetic_documents(seed=len(boundary) + len(oov))
    corpus = write_wikiextractor(tmp_path / "wiki.txt", docs)
    vocab, expected = reference_counts(docs, window=4, min_count=3, drop_top=2,
                                       boundary=boundary, oov=oov)
    ds = run([corpus], tmp_path / "out", min_count=3, drop_top=2, window=4,
             boundary=boundary, oov=oov)
    assert ds.vocab == vocab
    assert counts_by_word(ds) == expected
    assert ds.stats["corpus"]["documents"] == len(docs)


def test_compressed_and_split_inputs_give_identical_counts(tmp_path):
    docs = synthetic_documents(seed=7, n_docs=1000)
    plain = write_wikiextractor(tmp_path / "a.txt", docs)
    write_wikiextractor(tmp_path / "b.txt.gz", docs, gzip.open)
    write_wikiextractor(tmp_path / "c.txt.xz", docs, lzma.open)
    vocab, expected = reference_counts(docs, window=10, min_count=2, boundary="line")
    reference = run([plain], tmp_path / "plain", min_count=2)
    assert counts_by_word(reference) == expected
    for name in ("b.txt.gz", "c.txt.xz"):
        ds = run([tmp_path / name], tmp_path / f"out-{name}", min_count=2)
        assert ds.vocab == vocab and counts_by_word(ds) == expected
    # a plain file cut into byte-range shards at line starts: same counts in line mode
    ds = run([plain], tmp_path / "sharded", min_count=2, shard_size=1 << 16)
    assert ds.stats["corpus"]["shards"] == -(-plain.stat().st_size // (1 << 16)) >= 3
    assert counts_by_word(ds) == expected


def test_spilled_runs_and_blocks_give_identical_counts(tmp_path, monkeypatch):
    from data_prep import cooccur, pipeline

    docs = synthetic_documents(seed=11, n_docs=300)
    corpus = write_wikiextractor(tmp_path / "w.txt", docs)
    normal = run([corpus], tmp_path / "normal", min_count=2)
    monkeypatch.setattr(pipeline, "_BLOCK_NNZ_BYTES", 1 << 40)  # blocks "do not fit"
    init = cooccur.CooccurrenceCounter.__init__

    def tiny_budget(self, *args, **kwargs):  # spill a run every few thousand tokens
        init(self, *args, dense_size=1, **kwargs)
        self.chunk_tokens, self.max_nnz = 2000, 500

    monkeypatch.setattr(cooccur.CooccurrenceCounter, "__init__", tiny_budget)
    spilled = run([corpus], tmp_path / "spilled", min_count=2, memory_limit=32 << 20)
    assert spilled.stats["counts"]["row_blocks_spilled"]
    assert spilled.stats["counts"]["runs"] > normal.stats["counts"]["runs"]
    assert counts_by_word(spilled) == counts_by_word(normal)
