"""The same job on a 2-worker Dask cluster (loopback) gives exactly the single-process dataset."""
from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest

from data_prep.dataset import load_dataset
from data_prep.pipeline import PrepareConfig, prepare
from data_prep.vocab import VocabOptions

SHARED = Path(__file__).parents[1].parent / "shared" / "data"
NLTK_DATA = SHARED / "text" / "nltk_data"


@pytest.fixture(scope="module")
def cluster():
    distributed = pytest.importorskip("dask.distributed")
    import logging

    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  host="127.0.0.1", dashboard_address=None,
                                  silence_logs=logging.ERROR) as c:
        yield c


def corpus_files(tmp_path: Path) -> list[str]:
    rng = np.random.default_rng(3)
    words = np.array([f"t{i}" for i in range(400)])
    p = 1 / np.arange(1, 401)
    p /= p.sum()
    files = []
    for f in range(5):
        path = tmp_path / f"part{f}.txt.gz"
        with gzip.open(path, "wt", encoding="utf-8") as fh:
            for _ in range(400):
                fh.write(" ".join(rng.choice(words, size=rng.integers(1, 30), p=p)) + "\n")
        files.append(str(path))
    if (NLTK_DATA / "corpora" / "state_union.zip").is_file():
        files.append("nltk:state_union")
    return files


def test_dask_cluster_result_equals_single_process(tmp_path, cluster, capsys):
    corpus = corpus_files(tmp_path)
    config = PrepareConfig(vocab=VocabOptions(min_count=3, drop_top=10), holdout=200,
                           memory_limit=64 << 20, nltk_data=(str(NLTK_DATA),))
    single = prepare(corpus, tmp_path / "single", config, workers=0, progress=False)
    dask = prepare(corpus, tmp_path / "dask", config, scheduler=cluster.scheduler_address,
                   progress=True)
    err = capsys.readouterr().err  # progress bars fed from the workers through a Dask queue
    assert "read+tokenize" in err and "count windows: 100%" in err and "tok/s" in err
    assert f"{dask['corpus']['tokens'] / 1e3:.0f}k/" in err
    assert dask["executor"].startswith("Dask cluster at tcp://127.0.0.1")
    assert dask["counts"]["row_blocks"] >= 4  # 2 blocks per worker at least
    a, b = load_dataset(tmp_path / "single"), load_dataset(tmp_path / "dask")
    assert a.vocab == b.vocab and np.array_equal(a.word_counts, b.word_counts)
    for x, y in ((a.counts, b.counts), (a.pairs, b.pairs)):
        x.sort_indices()
        y.sort_indices()
        assert np.array_equal(x.indptr, y.indptr) and np.array_equal(x.indices, y.indices)
        assert np.array_equal(x.data, y.data)  # bit for bit
    assert np.array_equal(a.heldout, b.heldout)
    assert a.stats["pairs"] == b.stats["pairs"]
    assert a.counts.nnz > 10_000 and a.pairs.nnz > 1_000
    # workers' and client's peak memory are all reported, and nothing is left behind
    assert any(k.startswith("worker") for k in dask["peak_memory_bytes"])
    assert not (tmp_path / "dask.work").exists()
    assert sorted(p.name for p in tmp_path.iterdir() if p.is_dir()) == ["dask", "single"]
