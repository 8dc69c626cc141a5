"""The `minaction` command end to end on digits, and every kind of bad input."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from minaction.cli import main

QUICK = ["--epochs", "1", "--limit-train", "200", "--limit-test", "100", "--width", "16"]


def test_train_json_has_every_documented_field(capsys):
    assert main(["train", "--model", "mlp", "--dataset", "digits", "--lam", "1e-3", *QUICK,
                 "--json"]) == 0  # fmt: skip
    data = json.loads(capsys.readouterr().out)
    keys = ["accuracy", "energy", "energy_per_site", "active_fraction", "macs_dense",
            "macs_effective", "joules_estimate", "train_seconds", "epochs", "history"]  # fmt: skip
    for key in keys:
        assert key in data, key
    assert data["epochs"] == 1 and len(data["history"]) == 1
    for key in ("train_loss", "train_ce", "train_energy", "test_accuracy"):
        assert key in data["history"][0]
    assert data["spec"]["lam"] == 1e-3
    assert 0 <= data["accuracy"] <= 1


def test_train_text_output(capsys):
    assert main(["train", *QUICK]) == 0
    out = capsys.readouterr().out
    assert "test accuracy" in out and "energy E" in out and "MACs dense / effective" in out


def test_sweep_table_has_a_row_per_lambda(capsys, monkeypatch):
    monkeypatch.setenv("MINACTION_BATCH_PROBE", "0")  # batch whatever the machine's load
    assert main(["sweep", "--lams", "0", "1e-2", "--seeds", "2", *QUICK]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert "λ-sweep" in lines[0]
    header = lines[1]
    for column in ("accuracy", "Δacc (pts)", "E/E₀", "active", "eff/dense MACs", "µJ/sample"):
        assert column in header
    rows = [re.split(r"\s{2,}", line.strip()) for line in lines[3:5]]
    assert [r[0] for r in rows] == ["0", "0.01"]
    assert rows[0][4] == "1"  # E/E₀ of the baseline itself
    assert lines[5:] == ["seeds: trained together, as one batched ensemble per λ"]


def test_sweep_says_why_seeds_trained_one_at_a_time(capsys, monkeypatch):
    monkeypatch.setenv("MINACTION_BATCH_PROBE", "0")
    assert main(["sweep", "--lams", "0", "1e-2", "--seeds", "2", "--no-batch-seeds", *QUICK]) == 0
    assert (
        capsys.readouterr().out.splitlines()[-1]
        == "seeds: trained one at a time (batching turned off)"
    )
    assert main(["sweep", "--lams", "0", "--seeds", "2", "--json", *QUICK]) == 0
    assert json.loads(capsys.readouterr().out)["seeds_one_at_a_time"] == {}
    assert main(["sweep", "--lams", "0", "--seeds", "1", "--json", *QUICK]) == 0
    assert json.loads(capsys.readouterr().out)["seeds_one_at_a_time"] == {"0": "a single seed"}


def test_sweep_json(capsys):
    assert main(["sweep", "--lams", "0", "1e-3", "--seeds", "2", *QUICK, "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [row["lam"] for row in data["rows"]] == [0, 1e-3]
    assert all(row["seeds"] == 2 for row in data["rows"])


def _write_corrupt_fashion(directory: Path) -> None:
    for name in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
                 "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"):  # fmt: skip
        (directory / name).write_bytes(b"\x00\x00\x08\x01\x00\x00\x00\x05abc")


@pytest.mark.parametrize(
    "argv, message",
    [
        (["train", "--model", "nope"], "unknown model 'nope'"),
        (["train", "--dataset", "nope"], "unknown dataset 'nope'"),
        (["train", "--lam", "-1e-3"], "λ must be a finite non-negative number"),
        (["train", "--lam", "abc"], "λ must be a non-negative number"),
        (["sweep", "--lams", "0", "x"], "λ must be a non-negative number"),
        (["train", "--epochs", "0"], "expected a positive integer"),
        (["train", "--data-dir", "/no/such/dir"], "data directory /no/such/dir does not exist"),
    ],
)
def test_bad_input_gives_one_clear_line_and_exit_2(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        sys.exit(main(argv))
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert message in err
    assert len(err.splitlines()) == 1
    assert "Traceback" not in err


def test_corrupt_data_directory_is_named(tmp_path, capsys):
    _write_corrupt_fashion(tmp_path)
    assert main(["train", "--dataset", "fashion-mnist", "--data-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert str(tmp_path) in err and "corrupt" in err
    assert len(err.splitlines()) == 1


def test_console_script_end_to_end(tmp_path):
    """The installed `minaction` entry point, in a fresh process."""
    exe = Path(sys.executable).with_name("minaction")
    command = [str(exe)] if exe.exists() else [sys.executable, "-m", "minaction.cli"]
    env = {**os.environ, "MINACTION_CACHE": str(tmp_path)}
    done = subprocess.run([*command, "train", *QUICK, "--json"], capture_output=True, text=True,
                          env=env, timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["spec"]["dataset"] == "digits"
    bad = subprocess.run([*command, "train", "--model", "nope"], capture_output=True, text=True,
                         env=env, timeout=300)  # fmt: skip
    assert bad.returncode == 2
    message = bad.stderr.strip()
    assert message.startswith("minaction: error: unknown model 'nope'; known: ")
    assert "mlp" in message and len(message.splitlines()) == 1
