"""``lse map-benchmark`` and ``lse label-benchmark`` end to end on tiny synthetic data sets."""
import gzip
import json
import lzma

import numpy as np
import pytest

from lse.cli import main

from test_datasets import idx_bytes


@pytest.fixture()
def tiny_idx(tmp_path):
    """Two classes of 6x6 'images': a bright left or right half, plus noise."""
    rng = np.random.default_rng(0)

    def split(n):
        y = np.arange(n) % 2
        img = rng.integers(0, 60, (n, 6, 6))
        img[y == 0, :, :3] += 180
        img[y == 1, :, 3:] += 180
        return img.astype(np.uint8), y.astype(np.uint8)

    for prefix, n in (("train", 80), ("t10k", 20)):
        images, labels = split(n)
        (tmp_path / f"{prefix}-images-idx3-ubyte.gz").write_bytes(gzip.compress(idx_bytes(images, 8)))
        (tmp_path / f"{prefix}-labels-idx1-ubyte").write_bytes(idx_bytes(labels, 8))
    return tmp_path


def test_map_benchmark_end_to_end(tiny_idx, tmp_path, capsys):
    out = tmp_path / "map.json"
    code = main(["map-benchmark", str(tiny_idx), "--bits", "8", "--model", "lse", "--epochs", "4",
                 "--hidden", "16", "--learning-rate", "0.05", "--json", str(out), "--quiet"])
    assert code == 0
    printed = capsys.readouterr().out
    assert "MAP@R (R = whole database)" in printed and "precision within Hamming radius 2" in printed
    result = json.loads(out.read_text())
    (r,) = result["results"]
    assert (r["model"], r["bits"], r["R"], r["queries"], r["database"]) == ("lse", 8, 80, 20, 80)
    assert r["map"] > 0.9  # two well separated classes
    assert (result["config"]["warmup"], result["config"]["clipnorm"]) == (0.1, 1.0)
    assert 0 <= r["precision_r"] <= 1 and 0 <= r["recall_r"] <= 1


def test_map_benchmark_repeat_pairs_models_at_the_same_code_length(tiny_idx, tmp_path, capsys):
    out = tmp_path / "rep.json"
    code = main(["map-benchmark", str(tiny_idx), "--bits", "4,8", "--model", "all", "--epochs",
                 "1", "--hidden", "8", "--seed", "5", "--repeat", "2", "--json", str(out),
                 "--quiet"])
    assert code == 0
    printed = capsys.readouterr().out
    assert "lse 8 bits seed 6:" in printed and "LSE 8 bits - DCH 8 bits MAP@R per seed" in printed
    result = json.loads(out.read_text())
    assert len(result["results"]) == 2 * 4 * 2  # seeds x models x lengths
    summary = result["seed_summary"]
    runs = {(r["model"], r["bits"], r["seed"]): r for r in result["results"]}
    dch4 = summary["models"]["dch 4 bits"]
    assert dch4["seeds"] == [5, 6]
    assert dch4["MAP@R"]["mean"] == pytest.approx((runs["dch", 4, 5]["map"]
                                                   + runs["dch", 4, 6]["map"]) / 2)
    paired = summary["paired"]["dch 4 bits"]
    assert paired["reference"] == "lse 4 bits" and paired["metric"] == "MAP@R"
    assert paired["mean_difference"] == pytest.approx(np.mean(
        [runs["lse", 4, s]["map"] - runs["dch", 4, s]["map"] for s in (5, 6)]))
    assert set(summary["paired"]) == {f"{m} {b} bits" for m in ("cos", "dch", "dhn") for b in (4, 8)}


def write_xc(path, X, Y):
    lines = [f"{len(X)} {X.shape[1]} {Y.shape[1]}"]
    for x, y in zip(X, Y):
        labels = ",".join(str(j) for j in np.flatnonzero(y))
        lines.append(labels + " " + " ".join(f"{j}:{x[j]:g}" for j in np.flatnonzero(x)))
    path.write_bytes(lzma.compress(("\n".join(lines) + "\n").encode()))


def test_label_benchmark_end_to_end(tmp_path, capsys):
    rng = np.random.default_rng(0)

    def split(n):  # 4 labels; label j is announced by words 2j, 2j+1
        Y = np.zeros((n, 4), int)
        Y[np.arange(n), rng.integers(0, 4, n)] = 1
        Y[np.arange(0, n, 3), rng.integers(0, 4, len(range(0, n, 3)))] = 1
        X = (rng.random((n, 10)) < 0.1).astype(float)
        for j in range(4):
            X[Y[:, j] == 1, 2 * j:2 * j + 2] = 1
        return X, Y

    write_xc(tmp_path / "train.txt.xz", *split(120))
    write_xc(tmp_path / "test.txt.xz", *split(40))
    out = tmp_path / "labels.json"
    code = main(["label-benchmark", str(tmp_path / "train.txt.xz"), str(tmp_path / "test.txt.xz"),
                 "--model", "lse", "--bits", "8", "--epochs", "15", "--hidden", "16",
                 "--k", "8", "--beta", "1", "--hard", "0",  # settings for 8 bits and 4 labels
                 "--beta-on", "all", "--quantization", "cauchy", "--quantization-weight", "0.3",
                 "--learning-rate", "0.03",
                 "--max-radius", "1", "--json", str(out), "--quiet"])
    assert code == 0
    printed = capsys.readouterr().out
    for text in ("head labels", "tail labels", "LSE hashed", "LSE dense", "linear one-vs-rest"):
        assert text in printed
    result = json.loads(out.read_text())
    (r,) = result["results"]
    assert set(r["hashed"]) == {"all", "head", "torso", "tail"}
    assert set(r["hashed"]["all"]) >= {"P@1", "P@3", "P@5", "nDCG@5", "PSP@1", "PSP@5", "R@5"}
    assert r["dense"]["all"]["P@1"] >= 0.85 and result["linear"]["dense"]["all"]["P@1"] >= 0.85
    used = r["retrieval"]["queries_per_radius"]  # radius 0, then the fallback to radius 1
    assert set(used) <= {"0", "1"} and sum(used.values()) == 40 and used["0"] > 20
    assert r["hashed"]["all"]["P@1"] > 0.4
    curve = r["retrieval"]["by_radius"]  # each radius alone: radius 0 is the lookup before fallback
    assert [c["radius"] for c in curve] == [0, 1, 2]
    assert curve[0]["queries_with_no_candidate"] == used.get("1", 0) / 40
    assert [c["mean_candidates"] for c in curve] == sorted(c["mean_candidates"] for c in curve)
    assert curve[2]["P@1"] >= 0.85 * r["dense"]["all"]["P@1"]
    assert "P@1 (candidates)" in printed and "radius 2" in printed
    assert r["throughput"]["hashed_queries_per_second"] > 0
    assert r["prior_weight"] == 0.0 and result["config"]["prior_weight"] == 0.0  # cosine alone
    assert "labels ranked by cosine +" not in printed
    assert r["params"] == {"k": 8.0, "beta": 1.0, "beta_on": "all", "quantization": "cauchy",
                           "quantization_weight": 0.3, "hard": 0, "mined": 51,
                           "learning_rate": 0.03, "hidden": [16],
                           "dropout": 0.3}  # no --dropout / --mined: LSE's tuned values


def test_label_benchmark_validation_split_never_reads_the_test_file(tmp_path, capsys):
    rng = np.random.default_rng(1)
    Y = np.eye(3, dtype=int)[rng.integers(0, 3, 50)]
    write_xc(tmp_path / "train.txt.xz", np.hstack([Y, rng.random((50, 2)) < 0.2]).astype(float), Y)
    out = tmp_path / "val.json"
    code = main(["label-benchmark", str(tmp_path / "train.txt.xz"), "--validation", "0.2",
                 "--model", "lse", "--bits", "8", "--epochs", "2", "--hidden", "8", "--no-linear",
                 "--json", str(out), "--quiet"])
    assert code == 0
    assert "40 train / 10 held-out validation items" in capsys.readouterr().out
    result = json.loads(out.read_text())
    assert result["test"].endswith("train.txt.xz[held out]")
    assert result["results"][0]["retrieval"]["queries_per_radius"] == {"0": 10}
    for args in ([], [str(tmp_path / "train.txt.xz"), "--validation", "0.2"]):
        assert main(["label-benchmark", str(tmp_path / "train.txt.xz"), *args, "--quiet"]) == 2
        assert "either a TEST file or --validation" in capsys.readouterr().err


def test_label_benchmark_reports_a_malformed_line(tmp_path, capsys):
    bad = tmp_path / "bad.txt"
    bad.write_text("2 3 2\n0 0:1\n1 7:1\n")
    assert main(["label-benchmark", str(bad), str(bad), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("lse: error: ") and "line 3" in err and "'7:1'" in err
    assert main(["map-benchmark", str(tmp_path / "none"), "--quiet"]) == 2
    assert "not a directory" in capsys.readouterr().err


def test_label_benchmark_warmup_cosine_schedule():
    from lse.optimizers import warmup_cosine

    rate = warmup_cosine(0.03, 100, 0.1)
    values = [float(rate(step)) for step in (0, 5, 10, 55, 100)]
    # linear from 0 to the peak over 10 steps, half-way down the cosine at 55, 0 at the end
    np.testing.assert_allclose(values, [0.0, 0.015, 0.03, 0.015, 0.0], atol=1e-6)
    plain = warmup_cosine(0.03, 100, 0.0)
    np.testing.assert_allclose([float(plain(0)), float(plain(50))], [0.03, 0.015], atol=1e-6)


def test_label_benchmark_k_follows_the_code_length():
    from lse.label_benchmark import LabelBenchmarkConfig

    def k(model, bits, **overrides):
        return LabelBenchmarkConfig(dim=bits, overrides=overrides).model_params(model)["k"]

    assert [k("lse", b) for b in (16, 32, 64)] == [16.0, 24.0, 32.0]
    assert [k("dch", b) for b in (16, 32, 64)] == [14.0, 14.0, 10.0]
    assert (k("lse", 8), k("lse", 48), k("lse", 50), k("dch", 128)) == (16.0, 24.0, 32.0, 10.0)
    assert k("cos", 64) == k("cos", 32) == 16.0  # not re-validated: one K at every length
    assert k("lse", 64, k=7.0) == 7.0  # --k still wins
    params = LabelBenchmarkConfig(dim=64).model_params("lse")
    assert params["beta"] == 4.0 and params["hard"] == 461  # only K moves
    assert params["hidden"] == (1024,) and params["dropout"] == 0.3


def test_radius_curve_by_hand():
    """4-bit codes: label 0 = 0000, label 1 = 0001 (distance 1), label 2 = 0111 (distance 3).
    The query's code is 0000 but its cosine is highest with label 1, its one relevant label."""
    import scipy.sparse as sp

    from lse.label_benchmark import radius_curve
    from lse.label_retrieval import HashedRetriever

    labels = np.array([[-1, -1, -1, -3], [-1, -1, -1, 0.1], [-1, 1, 1, 1]])[:, None, :]
    query = np.array([[-1, -1, -1, -0.01]])[:, None, :]  # cosine 0.998 with label 1, 0.505 with 0
    curve = radius_curve(HashedRetriever(labels), query, sp.csr_matrix([[0, 1, 0]]),
                         (0, 1, 3), k=2)
    assert [c["mean_candidates"] for c in curve] == [1.0, 2.0, 3.0]
    assert [c["P@1"] for c in curve] == [0.0, 1.0, 1.0]  # label 1 comes in at radius 1
    assert [c["P@2"] for c in curve] == [0.0, 0.5, 0.5]
    assert [c["queries_with_no_candidate"] for c in curve] == [0.0, 0.0, 0.0]
    # a popularity prior on label 0 (0.505 + 0.6 > 0.998) takes the top rank from label 1
    biased = HashedRetriever(labels, item_bias=[0.6, 0.0, 0.0])
    curve = radius_curve(biased, query, sp.csr_matrix([[0, 1, 0]]), (0, 1, 3), k=2)
    assert [c["mean_candidates"] for c in curve] == [1.0, 2.0, 3.0]  # the same candidates
    assert [c["P@1"] for c in curve] == [0.0, 0.0, 0.0]
    assert [c["P@2"] for c in curve] == [0.0, 0.5, 0.5]


def test_label_benchmark_rejects_a_negative_prior_weight(tmp_path, capsys):
    data = tmp_path / "d.txt"
    data.write_text("1 2 1\n0 0:1\n")
    with pytest.raises(SystemExit) as exc:  # argparse's usage error
        main(["label-benchmark", str(data), str(data), "--prior-weight", "-0.1"])
    assert exc.value.code == 2
    assert "argument --prior-weight: must be a number >= 0 (got -0.1)" in capsys.readouterr().err


@pytest.mark.parametrize("option", ["--hard", "--mined", "--mining-radius", "--radius",
                                    "--max-radius"])
def test_label_benchmark_rejects_negative_negative_counts(tmp_path, capsys, option):
    data = tmp_path / "d.txt"
    data.write_text("1 2 1\n0 0:1\n")
    with pytest.raises(SystemExit) as exc:  # argparse's usage error
        main(["label-benchmark", str(data), str(data), option, "-1"])
    assert exc.value.code == 2
    assert f"argument {option}: must be an integer >= 0 (got -1)" in capsys.readouterr().err


def test_label_benchmark_rejects_max_radius_below_radius(tmp_path, capsys):
    data = tmp_path / "d.txt"
    data.write_text("1 2 1\n0 0:1\n")
    assert main(["label-benchmark", str(data), str(data), "--radius", "2", "--max-radius",
                 "1"]) == 2
    assert "--max-radius must be >= --radius (got 1 < 2)" in capsys.readouterr().err


def test_label_benchmark_rejects_negative_curve_radii(tmp_path, capsys):
    data = tmp_path / "d.txt"
    data.write_text("1 2 1\n0 0:1\n")
    with pytest.raises(SystemExit) as exc:  # argparse's usage error
        main(["label-benchmark", str(data), str(data), "--curve-radii", "0,-1"])
    assert exc.value.code == 2 and "argument --curve-radii: must be comma-separated integers >= 0 (got '0,-1')" \
        in capsys.readouterr().err


@pytest.mark.parametrize("command", ["label-benchmark", "map-benchmark"])
@pytest.mark.parametrize("option, value, text", [
    ("--warmup", "1", "argument --warmup: must be a number in [0, 1) (got 1)"),
    ("--clipnorm", "-1", "argument --clipnorm: must be a number >= 0 (got -1)"),
    ("--learning-rate", "0", "argument --learning-rate: must be a number > 0 (got 0)"),
    ("--k", "nan", "argument --k: must be a number > 0 (got nan)"),
    ("--k", "x", "argument --k: must be a number > 0 (got 'x')"),
    ("--dropout", "1", "argument --dropout: must be a number in [0, 1) (got 1)"),
    ("--beta", "-2", "argument --beta: must be a number >= 0 (got -2)"),
    ("--quantization-weight", "-1", "argument --quantization-weight: must be a number >= 0"),
])
def test_benchmarks_reject_bad_optimisation_settings(tmp_path, capsys, command, option, value,
                                                     text):
    """Refused by argparse when the command line is parsed: no data read, no model trained."""
    data = tmp_path / "d.txt"
    data.write_text("1 2 1\n0 0:1\n")
    inputs = [str(data), str(data)] if command == "label-benchmark" else [str(tmp_path)]
    with pytest.raises(SystemExit) as exc:
        main([command, *inputs, option, value, "--quiet"])
    assert exc.value.code == 2 and text in capsys.readouterr().err


@pytest.mark.parametrize("command", ["label-benchmark", "map-benchmark", "sbm", "evaluate",
                                     "query"])
def test_json_path_is_checked_before_any_work(tmp_path, capsys, command):
    """A --json file in a missing directory, or a directory, is refused when the command line
    is parsed: nothing is read or trained first, and no file is left behind."""
    inputs = {"label-benchmark": ["missing_train.txt", "missing_test.txt"],
              "map-benchmark": ["missing_dir"], "sbm": [], "evaluate": ["missing_index", "--dataset", "missing"],
              "query": ["missing_index", "dog"]}[command]
    for target, text in ((tmp_path / "no" / "r.json", "directory"), (tmp_path, "is a directory")):
        with pytest.raises(SystemExit) as exc:  # argparse's usage error
            main([command, *inputs, "--json", str(target)])
        err = capsys.readouterr().err
        assert exc.value.code == 2 and f"cannot write {target}" in err and text in err
    assert list(tmp_path.iterdir()) == []


def test_seed_summary_by_hand():
    from lse.benchmarking import format_seed_summary, summarize_seeds
    from lse.label_benchmark import SEED_METRICS

    def run(model, seed, hashed, dense, candidates):
        return {"model": model, "seed": seed, "hashed": {"all": {"P@1": hashed}},
                "dense": {"all": {"P@1": dense}},
                "retrieval": {"mean_candidates": candidates}}

    results = [run("lse", 0, 0.5, 0.6, 10.0), run("dch", 0, 0.4, 0.7, 30.0),
               run("lse", 1, 0.7, 0.8, 20.0), run("dch", 1, 0.9, 0.9, 50.0),
               run("cos", 1, 0.1, 0.2, 1.0)]  # cos on one shared seed only: no paired row
    summary = summarize_seeds(results, SEED_METRICS)
    lse = summary["models"]["lse"]
    assert lse["seeds"] == [0, 1]
    assert lse["hashed_P@1"] == pytest.approx({"mean": 0.6, "std": 0.1})
    assert lse["dense_P@1"] == pytest.approx({"mean": 0.7, "std": 0.1})
    assert lse["candidates"] == pytest.approx({"mean": 15.0, "std": 5.0})
    assert summary["models"]["cos"]["hashed_P@1"] == pytest.approx({"mean": 0.1, "std": 0.0})
    # differences lse - dch: +0.1, -0.2 -> mean -0.05, std (ddof 1) 0.2121, std. error 0.15
    (name, dch), = summary["paired"].items()
    assert name == "dch" and dch["seeds"] == [0, 1] and dch["reference_ahead"] == 1
    assert dch["mean_difference"] == pytest.approx(-0.05)
    assert dch["std_error"] == pytest.approx(0.15)
    text = format_seed_summary(summary, SEED_METRICS)
    assert "LSE - DCH hashed P@1 per seed: -0.0500 +- 0.1500" in text
    assert "LSE ahead on 1 of 2 seeds" in text


def write_three_label_xc(tmp_path, n_train, n_test, seed):
    """3 labels, each announced by its own feature, and 2 noise features: (train, test) paths."""
    rng = np.random.default_rng(seed)
    n = n_train + n_test
    Y = np.eye(3, dtype=int)[rng.integers(0, 3, n)]
    X = np.hstack([Y, rng.random((n, 2)) < 0.2]).astype(float)
    write_xc(tmp_path / "train.txt.xz", X[:n_train], Y[:n_train])
    write_xc(tmp_path / "test.txt.xz", X[n_train:], Y[n_train:])
    return str(tmp_path / "train.txt.xz"), str(tmp_path / "test.txt.xz")


def test_label_benchmark_repeat_runs_consecutive_seeds(tmp_path, capsys):
    train, test = write_three_label_xc(tmp_path, 45, 15, seed=2)
    out = tmp_path / "rep.json"
    code = main(["label-benchmark", train, test,
                 "--model", "lse", "--bits", "8", "--epochs", "2", "--hidden", "8",
                 "--no-linear", "--seed", "3", "--repeat", "2", "--json", str(out), "--quiet"])
    assert code == 0
    printed = capsys.readouterr().out
    assert "lse seed 3:" in printed and "lse seed 4:" in printed and "over seeds" in printed
    result = json.loads(out.read_text())
    assert [r["seed"] for r in result["results"]] == [3, 4]
    lse = result["seed_summary"]["models"]["lse"]
    assert lse["seeds"] == [3, 4]
    assert lse["hashed_P@1"]["mean"] == pytest.approx(
        np.mean([r["hashed"]["all"]["P@1"] for r in result["results"]]))
    assert result["seed_summary"]["paired"] == {}
    with pytest.raises(SystemExit):  # argparse: "must be an integer >= 1"
        main(["label-benchmark", train, "--repeat", "0"])
    assert "--repeat: must be an integer >= 1 (got 0)" in capsys.readouterr().err


def test_label_benchmark_prior_weight_ranks_the_most_frequent_label_first(tmp_path, capsys):
    """A prior weight far above any cosine gap: dense top-1 is the most frequent training label
    for every test document, so dense P@1 is the share of test documents that have it."""
    from lse.datasets import read_xc

    train, test = write_three_label_xc(tmp_path, 45, 15, seed=4)  # label counts 9, 16, 20
    out = tmp_path / "prior.json"
    assert main(["label-benchmark", train, test, "--model", "lse", "--bits", "8", "--epochs", "2",
                 "--hidden", "8", "--no-linear", "--prior-weight", "100", "--json", str(out),
                 "--quiet"]) == 0
    assert "labels ranked by cosine + 100 x log(1 + training frequency)" in capsys.readouterr().out
    (r,) = json.loads(out.read_text())["results"]
    counts = np.asarray(read_xc(train).Y.sum(axis=0)).ravel()
    assert len(set(counts)) == 3  # no tie for the most frequent label
    share = read_xc(test).Y.toarray()[:, counts.argmax()].mean()
    assert r["prior_weight"] == 100.0
    assert r["dense"]["all"]["P@1"] == pytest.approx(share)


def test_label_benchmark_with_two_contexts_per_document_and_label(tmp_path):
    train, test = write_three_label_xc(tmp_path, 60, 20, seed=3)
    out = tmp_path / "ctx.json"
    assert main(["label-benchmark", train, test,
                 "--model", "lse", "--bits", "8", "--contexts", "2", "--epochs", "10",
                 "--hidden", "16", "--k", "4", "--hard", "0", "--mined", "16",
                 "--mining-radius", "1", "--learning-rate", "0.03", "--quantization-weight", "0.3", "--no-linear",
                 "--json", str(out),
                 "--quiet"]) == 0
    result = json.loads(out.read_text())
    assert result["config"]["contexts"] == 2 and result["config"]["mining_radius"] == 1
    (r,) = result["results"]
    # mined by max-cosine over the 2 x 2 context pairs, among the labels within radius 1 of
    # any of the document's 2 codes
    assert r["params"]["mined"] == 16
    # 3 labels x 2 codes each: between 1 and 6 distinct buckets; each document sees the
    # union of its 2 buckets, so never more than the 3 labels
    assert r["retrieval"]["codes_per_label"] == 2
    assert 1 <= r["retrieval"]["label_buckets"] <= 6
    assert r["retrieval"]["mean_candidates"] <= 3
    assert r["dense"]["all"]["P@1"] >= 0.9  # the label's own word decides it
