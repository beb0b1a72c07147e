"""``lse demo``: the README's first command, end to end on the shipped corpus (1 epoch)."""
from __future__ import annotations

import json

import pytest

from lse.cli import main


def test_demo_runs_end_to_end_on_the_shipped_corpus(capsys, tmp_path):
    work = tmp_path / "demo"
    code = main(["demo", "--dir", str(work), "--epochs", "1", "--words", "sea", "zzzz"])
    out = capsys.readouterr().out
    assert code == 0
    assert "(not in the vocabulary, skipped: zzzz)" in out
    assert "\nsea  (" in out and "\n  1. " in out  # the query word's clusters are printed
    scores = json.loads((work / "evaluation.json").read_text())
    assert 9000 < scores["words"] < 10500 and scores["contexts"] == 3 and scores["bits"] == 32
    assert scores["queries"] == 1000 and scores["clusters"] > 100
    assert 0 < scores["f1"] < 1 and scores["mean_retrieved"] > 0  # quality: see the README
    for name in ("vocab.txt", "pairs.npz", "stats.json"):
        assert (work / "dataset" / name).is_file()
    assert f"F1 {scores['f1']:.3f}" in out


def test_demo_rejects_bad_epochs(capsys, tmp_path):
    with pytest.raises(SystemExit) as exc:  # refused when the command line is parsed
        main(["demo", "--dir", str(tmp_path / "d"), "--epochs", "0"])
    assert exc.value.code == 2
    assert "argument --epochs: must be an integer >= 1 (got 0)" in capsys.readouterr().err
    assert not (tmp_path / "d").exists()
