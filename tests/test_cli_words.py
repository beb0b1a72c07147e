"""word2hashes end to end: lse train -> lse index -> lse query -> lse evaluate, bad inputs,
and resuming a training run killed with SIGKILL."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from lse.cli import main
from lse.words import load_model
from lse.words.train import TrainConfig, train_model

from words_data import make_dataset, topic_of

LSE = str(Path(sys.executable).with_name("lse"))
#: Small batches (the dataset has ~400 positives) and K / beta that cluster the topics fast
#: (recall 0.65-0.81, F1 0.77-0.89 over seeds 0-3; beta 0.5 gave recall 0.42-0.67).
FAST = ["--positives", "64", "--hard", "64", "--easy", "128", "--k", "4", "--beta", "0.25",
        "--no-hard-negatives", "--quiet"]


def wordnet_available() -> bool:
    try:
        from lse.wordnet import wordnet_root
        wordnet_root()
        return True
    except Exception:
        return False


def run_cli(capsys, *argv):
    try:
        code = main([str(a) for a in argv])
    except SystemExit as exc:  # argparse
        code = exc.code
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    return make_dataset(tmp_path_factory.mktemp("words"))


def test_train_index_query_evaluate_round_trip(capsys, tmp_path, dataset):
    model, index, report = tmp_path / "model", tmp_path / "index", tmp_path / "eval.json"
    code, out, err = run_cli(capsys, "train", dataset, "--model", "lse", "--out", model,
                             "--epochs", "60", *FAST)
    assert code == 0, err
    trained = load_model(model)
    assert trained.codes.shape == (64, 3, 4) and trained.training["epochs"] == 60
    assert (model / "training_log.csv").read_text().count("\n") == 61  # header + 60 epochs
    assert not (tmp_path / "model.ckpt").exists()  # checkpoints removed after success

    code, out, err = run_cli(capsys, "index", model, "--out", index)
    assert code == 0 and "64 words x 3 code(s) of 32 bits" in out, err

    code, out, err = run_cli(capsys, "query", index, "violin", "dog", "--json",
                             tmp_path / "q.json")
    assert code == 0, err
    assert out.startswith("violin  (") and "\n  1. " in out
    clusters = json.loads((tmp_path / "q.json").read_text())
    topics = topic_of()
    for entry in clusters:  # retrieved words come (almost only) from the word's own topic
        siblings = [s for c in entry["clusters"] for s in c["siblings"]]
        assert len(entry["clusters"]) == 3 and siblings
        same = np.mean([topics[s] == topics[entry["word"]] for s in siblings])
        assert same >= 0.8, entry

    code, out, err = run_cli(capsys, "evaluate", index, "--dataset", dataset, "--queries", "64",
                             "--wp-queries", "64", "--json", report)
    assert code == 0, err
    r = json.loads(report.read_text())
    assert r["queries"] == 32 and r["query_set"] == "report"  # half of the 64 words
    # 8 topics of 8 words: the model hashes each topic (nearly) into shared buckets
    assert r["precision"] > 0.8 and r["recall"] > 0.5 and r["f1"] > 0.65, r
    assert 8 <= r["clusters"] <= 64 and r["contexts"] == 3 and r["bits"] == 32
    assert r["heldout_pairs"] == 16 and 0 <= r["hr@50"] <= 1
    if wordnet_available():
        assert r["wp_vocabulary"] == 64 and r["wp_queries"] == 32
        assert r["wp"] > 0.5, r  # topic siblings are WordNet relatives (dog ~ cat: 0.86)
    else:
        assert r["wp"] is None and "WP not computed" in r["notes"][0]
    assert f"F1 {r['f1']:.3f}" in out

    # the tuning query set is disjoint from the reported one and scored the same way
    code, out, err = run_cli(capsys, "evaluate", index, "--dataset", dataset, "--queries", "64",
                             "--query-set", "tune", "--no-wordnet", "--json", tmp_path / "t.json")
    t = json.loads((tmp_path / "t.json").read_text())
    assert code == 0 and t["queries"] == 32 and t["wp"] is None and t["f1"] > 0.5


def test_svd_baselines_flow_through_index_and_evaluate(capsys, tmp_path, dataset):
    for name, extra in (("svd-sign", []), ("svd-simhash", ["--tables", "2", "--bits", "16"])):
        model, index = tmp_path / name, tmp_path / f"{name}.index"
        code, out, err = run_cli(capsys, "train", dataset, "--model", name, "--out", model,
                                 "--dim", "8", "--quiet", *extra)
        assert code == 0, err
        assert run_cli(capsys, "index", model, "--out", index)[0] == 0
        code, out, err = run_cli(capsys, "evaluate", index, "--dataset", dataset,
                                 "--no-wordnet", "--json", tmp_path / f"{name}.json")
        r = json.loads((tmp_path / f"{name}.json").read_text())
        assert code == 0 and r["model"] == name and r["hr@500"] is not None
        assert r["contexts"] == (2 if name == "svd-simhash" else 1)
        assert r["f1"] > 0.3, r  # PPMI + SVD separates the 8 topics too


@pytest.mark.parametrize("argv, message", [
    (["train", "{tmp}/nope", "--model", "lse", "--out", "{tmp}/m"], "does not exist"),
    (["train", "{data}", "--model", "bogus", "--out", "{tmp}/m"], "invalid choice: 'bogus'"),
    (["train", "{data}", "--model", "lse", "--out", "{tmp}/m", "--k", "0", "--quiet"],
     "argument --k: must be a number > 0 (got 0)"),
    (["train", "{data}", "--model", "lse", "--out", "{tmp}/m", "--dropout", "1", "--quiet"],
     "argument --dropout: must be a number in [0, 1) (got 1)"),
    (["index", "{tmp}/nope", "--out", "{tmp}/i"], "model directory"),
    (["query", "{tmp}/nope", "dog"], "does not exist"),
    (["evaluate", "{tmp}/nope", "--dataset", "{data}"], "does not exist"),
])
def test_bad_inputs_give_one_line(capsys, tmp_path, dataset, argv, message):
    argv = [a.format(tmp=tmp_path, data=dataset) for a in argv]
    code, out, err = run_cli(capsys, *argv)
    assert code == 2 and message in err, err
    assert "Traceback" not in err
    assert not (tmp_path / "m").exists() and not (tmp_path / "i").exists()


def test_unknown_word_and_corrupt_model(capsys, tmp_path, dataset):
    model = tmp_path / "m"
    assert run_cli(capsys, "train", dataset, "--model", "svd-sign", "--out", model,
                   "--dim", "8", "--quiet")[0] == 0
    assert run_cli(capsys, "index", model, "--out", tmp_path / "i")[0] == 0
    code, out, err = run_cli(capsys, "query", tmp_path / "i", "dog", "unicorn", "xyzzy")
    assert code == 2 and "2 unknown name(s): 'unicorn', 'xyzzy'" in err
    codes = model / "codes.npy"
    codes.write_bytes(codes.read_bytes()[:-3])
    code, out, err = run_cli(capsys, "index", model, "--out", tmp_path / "i2")
    assert code == 2 and "codes.npy is corrupt" in err and not (tmp_path / "i2").exists()
    code, out, err = run_cli(capsys, "train", dataset, "--model", "svd-sign", "--out", model,
                             "--quiet")
    assert code == 2 and "already exists" in err
    # an index built from another vocabulary (other word order) is refused by evaluate
    (tmp_path / "other").mkdir()
    other = make_dataset(tmp_path / "other", seed=1)
    code, out, err = run_cli(capsys, "evaluate", tmp_path / "i", "--dataset", other)
    assert code == 2 and "was not built from this dataset's vocabulary" in err


def test_kill_9_then_resume_matches_an_uninterrupted_run(tmp_path, dataset):
    """SIGKILL after the first checkpoint, then --resume: the same model as without the kill."""
    args = ["--epochs", "15", "--positives", "8", "--hard", "8", "--easy", "16", "--seed", "3",
            "--quiet"]
    out = tmp_path / "killed"
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    proc = subprocess.Popen([LSE, "train", str(dataset), "--model", "lse", "--out", str(out),
                             *args], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    state = tmp_path / "killed.ckpt" / "state.json"
    deadline = time.monotonic() + 600  # generous: CI machines can be slow to start TF
    while not state.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    assert proc.poll() is None and state.exists(), "no checkpoint before the deadline"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    epoch = json.loads(state.read_text())["epoch"]
    assert 1 <= epoch < 15 and not out.exists()  # killed mid-run, nothing half-written

    plain_env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    resumed = subprocess.run([LSE, "train", str(dataset), "--model", "lse", "--out", str(out),
                              "--resume", *args], env=plain_env, capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr
    # TensorFlow's import-time notices (written before absl logging starts) are hidden
    assert "InitializeLog" not in resumed.stderr and "oneDNN" not in resumed.stderr
    model = load_model(out)
    assert model.training["resumed_after_epoch"] >= epoch

    reference = train_model(dataset, TrainConfig(model="lse", epochs=15, positives=8, hard=8,
                                                 easy=16, seed=3), tmp_path / "reference",
                            progress=False)
    np.testing.assert_allclose(model.embeddings, reference.embeddings, atol=1e-5)
    assert np.array_equal(model.codes, reference.codes)


def test_resume_refuses_other_settings(tmp_path, dataset):
    config = TrainConfig(model="cos", epochs=1, positives=64, hard=64, easy=128)
    ckpt = tmp_path / "m.ckpt"
    train_model(dataset, config, tmp_path / "m", keep_checkpoints=True, progress=False)
    from lse.errors import LSEError
    with pytest.raises(LSEError, match="holds an interrupted run"):
        train_model(dataset, config, tmp_path / "m2", checkpoint_dir=ckpt, progress=False)
    other = TrainConfig(model="cos", epochs=1, positives=64, hard=64, easy=128, beta=3.0)
    with pytest.raises(LSEError, match=r"beta 1.0 -> 3.0"):
        train_model(dataset, other, tmp_path / "m2", checkpoint_dir=ckpt, resume=True,
                    progress=False)


@pytest.mark.parametrize("field, value, message", [
    ("epochs", "5", r"epochs must be an integer >= 1 \(got '5'\) \(model lse\)"),
    ("learning_rate", None, r"learning_rate must be a number > 0 \(got None\)"),
    ("dropout", 1.0, r"dropout must be a number in \[0, 1\)"),
    ("hard", -1, "hard negatives per batch must be an integer >= 0"),
    ("quantization_ramp", 1.5, r"quantization_ramp must be a number in \[0, 1\]"),
    ("hard_sampling", "nope", "hard_sampling must be 'uniform' or 'walk'"),
])
def test_train_config_names_the_bad_field(field, value, message):
    from lse.errors import LSEError
    with pytest.raises(LSEError, match=message):
        TrainConfig(model="lse", **{field: value}).resolved()


def test_params_tables_fill_what_is_not_given(capsys, tmp_path, dataset):
    """--params picks the per-model defaults (tuned or the paper's Table 3); flags override."""
    from lse.words.train import PAPER_TABLE3, TUNED

    for name, extra, expected in (
            ("tuned", [], TUNED["dch"]),
            ("paper", ["--params", "paper"], PAPER_TABLE3["dch"]),
            ("override", ["--params", "paper", "--k", "2.5"], dict(PAPER_TABLE3["dch"], k=2.5))):
        code, out, err = run_cli(capsys, "train", dataset, "--model", "dch", "--epochs", "1",
                                 "--out", tmp_path / name, "--positives", "64", "--quiet",
                                 *extra)
        assert code == 0, err
        params = load_model(tmp_path / name).params
        assert {k: params[k] for k in expected} == expected
    assert TUNED["lse"] != PAPER_TABLE3["lse"]
