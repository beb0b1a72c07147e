import json

import pytest

from lse.cli import main


def run_cli(capsys, *argv):
    try:
        code = main(list(argv))
    except SystemExit as exc:  # argparse
        code = exc.code
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.mark.parametrize("argv, message", [
    (["sbm", "--model", "bogus"], "invalid choice: 'bogus'"),
    (["sbm", "--k", "0", "--epochs", "1", "--factions", "5"], "argument --k: must be a number > 0"),
    (["sbm", "--k", "-2", "--epochs", "1", "--factions", "5"], "must be a number > 0 (got -2)"),
    (["sbm", "--trials", "0"], "argument --trials: must be an integer >= 1 (got 0)"),
    (["sbm", "--background", "2"], "argument --background: must be a number in [0, 1] (got 2)"),
    (["sbm", "--dropout", "1.5"], "argument --dropout: must be a number in [0, 1)"),
])
def test_bad_input_gives_one_clear_line(capsys, tmp_path, argv, message):
    target = tmp_path / "out.json"
    code, out, err = run_cli(capsys, *argv, "--json", str(target))
    assert code == 2
    assert message in err
    assert "Traceback" not in err
    assert not target.exists()
    assert list(tmp_path.iterdir()) == []  # nothing half-written


def test_sbm_cli_writes_json_table(capsys, tmp_path):
    target = tmp_path / "sbm.json"
    code, out, err = run_cli(capsys, "sbm", "--model", "lse", "--factions", "20", "--epochs",
                             "2", "--quiet", "--json", str(target))
    assert code == 0
    assert "paper P / R / F1" in out and "0.992 / 0.986 / 0.989" in out
    data = json.loads(target.read_text())
    trial = data["results"]["lse"]["trials"][0]
    assert set(trial) >= {"precision", "recall", "f1", "seconds", "clusters"}
    assert 0 <= trial["f1"] <= 1 and trial["seconds"] > 0
    assert data["results"]["lse"]["params"]["k"] == 4
