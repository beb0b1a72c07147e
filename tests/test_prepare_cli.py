"""``lse prepare`` command line, and --resume after a killed run."""
from __future__ import annotations

import gzip
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from data_prep import tasks
from data_prep.dataset import load_dataset
from data_prep.pipeline import PrepareConfig, prepare
from data_prep.vocab import VocabOptions
from lse.cli import build_parser, main

LSE = str(Path(sys.executable).with_name("lse"))
CONFIG = PrepareConfig(vocab=VocabOptions(min_count=2, drop_top=5), holdout=20)


def make_corpus(tmp_path: Path, files: int, lines: int, seed: int = 0) -> list[str]:
    rng = np.random.default_rng(seed)
    words = np.array([f"w{i}" for i in range(2000)])
    p = 1 / np.arange(1, 2001)
    p /= p.sum()
    paths = []
    for f in range(files):
        path = tmp_path / f"c{f:02d}.txt.gz"
        text = "\n".join(" ".join(rng.choice(words, size=20, p=p)) for _ in range(lines))
        path.write_bytes(gzip.compress(text.encode(), compresslevel=1))
        paths.append(str(path))
    return paths


def same_dataset(a: Path, b: Path) -> None:
    x, y = load_dataset(a), load_dataset(b)
    assert x.vocab == y.vocab
    assert (x.counts != y.counts).nnz == 0 and (x.pairs != y.pairs).nnz == 0
    assert np.array_equal(x.heldout, y.heldout)


def test_help_explains_every_option(capsys):
    with pytest.raises(SystemExit):
        main(["prepare", "--help"])
    text = capsys.readouterr().out
    sub = build_parser()._subparsers._group_actions[0].choices["prepare"]
    for action in sub._actions:
        for opt in action.option_strings:
            assert opt in text
        assert action.help, action.dest
    for word in ("nltk:NAME", "--scheduler tcp://HOST:PORT", "vocab.txt", "pairs.npz",
                 "counts.npz", "heldout.npy", "stats.json", "load_dataset"):
        assert word in text


def test_cli_runs_and_reports(tmp_path, capsys):
    corpus = make_corpus(tmp_path, 2, 200)
    out = tmp_path / "ds"
    code = main(["prepare", *corpus, "--out", str(out), "--workers", "0", "--min-count", "2",
                 "--drop-top", "5", "--holdout", "20", "--window", "5"])
    assert code == 0
    printed = capsys.readouterr().out
    assert f"wrote {out}" in printed and "tokens/s" in printed and "peak memory" in printed
    ds = load_dataset(out)
    assert ds.stats["config"]["window"] == 5 and len(ds.heldout) == 20
    assert ds.stats["corpus"]["tokens"] == 2 * 200 * 20


def test_cli_error_is_one_line(tmp_path, capsys):
    code = main(["prepare", str(tmp_path / "missing.txt"), "--out", str(tmp_path / "o"),
                 "--workers", "0"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1
    assert err[0].startswith("lse: error: corpus file") and "does not exist" in err[0]


def test_resume_after_interrupt_reuses_finished_shards(tmp_path, monkeypatch):
    corpus = make_corpus(tmp_path, 3, 300)
    fresh = prepare(corpus, tmp_path / "fresh", CONFIG, workers=0, progress=False)
    assert fresh["corpus"]["shards_reused"] == 0

    calls = []
    real_count = tasks.count_task

    def dies_on_second_shard(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real_count(*args, **kwargs)

    monkeypatch.setattr(tasks, "count_task", dies_on_second_shard)
    with pytest.raises(KeyboardInterrupt):
        prepare(corpus, tmp_path / "out", CONFIG, workers=0, progress=False)
    assert not (tmp_path / "out").exists()
    work = tmp_path / "out.work"
    assert len(list(work.glob("scan-*.pkl"))) == 3 and len(list(work.glob("count-*"))) == 1
    monkeypatch.undo()

    stats = prepare(corpus, tmp_path / "out", CONFIG, workers=0, progress=False, resume=True)
    assert stats["corpus"]["shards_reused"] == 3 and stats["counts"]["shards_reused"] == 1
    assert not work.exists()
    same_dataset(tmp_path / "fresh", tmp_path / "out")


def test_killed_cli_run_resumes(tmp_path):
    """SIGKILL ``lse prepare`` once a shard is counted; --resume then reuses it."""
    corpus = make_corpus(tmp_path, 10, 4000, seed=1)
    out, work = tmp_path / "out", tmp_path / "out.work"
    args = [LSE, "prepare", *corpus, "--out", str(out), "--workers", "0", "--quiet",
            "--min-count", "2", "--holdout", "20"]
    proc = subprocess.Popen(args)
    deadline = time.time() + 120
    while not list(work.glob("count-*.json")) and proc.poll() is None and time.time() < deadline:
        time.sleep(0.01)
    if proc.poll() is not None:
        pytest.skip("the run finished before it could be killed (machine too fast)")
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not out.exists()  # a killed run never leaves a dataset directory
    counted = len(list(work.glob("count-*.json")))
    assert counted >= 1
    subprocess.run(args + ["--resume"], check=True)
    ds = load_dataset(out)
    assert ds.stats["counts"]["shards_reused"] >= counted
    assert ds.stats["corpus"]["shards_reused"] >= counted
    assert not work.exists()
