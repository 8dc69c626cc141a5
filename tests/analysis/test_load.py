"""The loader against databases written by the grid's Store: every run and status, histories,
provenance, grid selection, and a clear error for every kind of bad file."""

import math
import sqlite3

import pytest

from minaction.analysis.errors import ResultsFileError
from minaction.analysis.load import load_metadata, load_runs
from tests.analysis.stored import write_runs
from tests.analysis.synthetic import synthetic_runs


def _status(model, dataset, lam, seed):
    if model == "cnn" and lam == 1e-2 and seed == 0:
        return "diverged"
    if model == "bimodal" and dataset == "fortunes" and lam == 0.0 and seed == 1:
        return "failed"
    return "completed"


@pytest.fixture(scope="module")
def database(tmp_path_factory):
    frame = synthetic_runs(seeds=2, epochs=3, status=_status)
    path = tmp_path_factory.mktemp("db") / "runs.sqlite"
    return write_runs(path, frame, pending=2), frame


def test_every_run_with_its_status_and_metrics(database):
    path, frame = database
    runs = load_runs(path)
    assert len(runs) == len(frame) + 2
    assert runs["status"].value_counts().to_dict() == {"completed": 33, "diverged": 2,
                                                       "failed": 1, "pending": 2}  # fmt: skip
    for column in ("model", "dataset", "lam", "seed", "accuracy", "energy", "active_fraction",
                   "macs_effective", "macs_dense", "joules_estimate", "train_seconds", "epochs",
                   "history", "spec", "versions", "error"):  # fmt: skip
        assert column in runs.columns, column
    assert runs["lam"].dtype == float
    completed = runs[runs["status"] == "completed"]
    merged = completed.merge(frame, on=["model", "dataset", "lam", "seed"], suffixes=("", "_in"))
    assert (merged["accuracy"] - merged["accuracy_in"]).abs().max() < 1e-12
    failed = runs[runs["status"] == "failed"].iloc[0]
    assert math.isnan(failed["accuracy"]) and failed["error"] == "failed in a test"


def test_history_is_a_list_of_epochs(database):
    path, frame = database
    runs = load_runs(path)
    run = runs[(runs["status"] == "completed")].iloc[0]
    assert [e["epoch"] for e in run["history"]] == [1, 2, 3]
    expected = frame[(frame["model"] == run["model"]) & (frame["dataset"] == run["dataset"])
                     & (frame["lam"] == run["lam"]) & (frame["seed"] == run["seed"])]  # fmt: skip
    assert run["history"][-1]["test_accuracy"] == pytest.approx(
        expected.iloc[0]["history"][-1]["test_accuracy"]
    )
    assert run["history"][0]["seconds"] > 0
    assert run["spec"]["limit_train"] == 200
    assert runs[runs["status"] == "pending"].iloc[0]["history"] == []


def test_one_grid_of_the_database(database):
    path, frame = database
    assert len(load_runs(path, grid="synthetic")) == len(frame)
    assert len(load_runs(path, grid="later")) == 2
    with pytest.raises(ResultsFileError, match="has no grid 'nope'; grids: later, synthetic"):
        load_runs(path, grid="nope")


def test_metadata(database):
    path, _ = database
    meta = load_metadata(path)
    assert meta["schema_version"] == 2
    grids = {g["name"]: g for g in meta["grids"]}
    assert grids["synthetic"]["config"] == {"name": "synthetic"}
    assert grids["synthetic"]["source"] == "t.toml"
    assert grids["synthetic"]["runs"] == 36
    assert meta["versions"][0]["versions"]["minaction"] == "test"


def test_read_only_open_leaves_the_file_unchanged(database):
    path, _ = database
    before = path.read_bytes()
    load_runs(path)
    load_metadata(path)
    assert path.read_bytes() == before


def test_bad_files_are_named(tmp_path):
    with pytest.raises(ResultsFileError, match="does not exist; run a grid first"):
        load_runs(tmp_path / "missing.sqlite")
    text = tmp_path / "notes.sqlite"
    text.write_text("not a database at all, just some text that is long enough " * 20)
    with pytest.raises(ResultsFileError, match="is not a readable SQLite database"):
        load_runs(text)
    other = tmp_path / "other.sqlite"
    with sqlite3.connect(other) as connection:
        connection.execute("CREATE TABLE things (x)")
    with pytest.raises(ResultsFileError, match="has no table 'runs' \\(tables: things\\)"):
        load_runs(other)
    partial = tmp_path / "partial.sqlite"
    with sqlite3.connect(partial) as connection:
        connection.execute("CREATE TABLE runs (model, dataset, lam)")
    with pytest.raises(ResultsFileError, match="no column\\(s\\) seed, status"):
        load_runs(partial)
