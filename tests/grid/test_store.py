"""The results database on its own: claims, outcomes, stale runs, schema, reading, export.

No training here: outcomes are made by hand, so each test takes milliseconds.
"""

import csv
import json
import sqlite3
import subprocess
import sys
import threading

import pytest

from minaction.grid.errors import StoreError
from minaction.grid.export import COLUMNS, export_runs
from minaction.grid.process import ProcessId, current_process
from minaction.grid.store import Outcome, Store
from minaction.train import RunResult, RunSpec

SPECS = [
    RunSpec(lam=lam, seed=seed, epochs=1, width=16, limit_train=200, limit_test=100).resolved()
    for seed in range(3)
    for lam in (0.0, 1e-3)
]


def completed(spec: RunSpec, accuracy: float = 0.5) -> Outcome:
    history = [{"epoch": 1, "train_loss": 2.0, "train_ce": 1.9, "train_energy": 0.1,
                "test_accuracy": accuracy, "test_energy": 0.2, "active_fraction": 0.4,
                "seconds": 0.01, "learning_rate": 1e-3}]  # fmt: skip
    result = RunResult(
        spec=spec, run_id=spec.run_id, accuracy=accuracy, energy=0.2,
        energy_per_site={"body.1": 0.15, "body.3": 0.05}, active_fraction=0.4,
        macs_dense=1000.0, macs_effective=600.0, synops=0.0, joules_estimate=3e-9,
        joules_dense_estimate=5e-9, weight_density=1.0, n_params=1482, train_seconds=0.01,
        epochs=1, history=history,
    )  # fmt: skip
    return Outcome(status="completed", result=result, history=history, host="here", pid=1,
                   versions={"torch": "2.x"})  # fmt: skip


@pytest.fixture
def store(tmp_path):
    with Store(tmp_path / "runs.sqlite") as opened:
        opened.add_grid("g", SPECS)
        yield opened


def test_a_new_store_is_in_wal_mode_with_a_schema_version(store):
    db = sqlite3.connect(store.path)
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert db.execute("SELECT version FROM schema_version").fetchall() == [(1,)]


def test_cells_are_added_once_and_claimed_in_grid_order(store):
    assert store.add_grid("g", SPECS) == 0
    assert store.counts("g") == {"pending": 6, "running": 0, "completed": 0, "failed": 0,
                                 "diverged": 0}  # fmt: skip
    claims = [store.claim("g") for _ in range(6)]
    assert [c.run_id for c in claims] == [s.run_id for s in SPECS]
    assert claims[0].spec == SPECS[0]
    assert store.claim("g") is None
    assert store.counts("g")["running"] == 6


def test_a_finished_run_keeps_its_metrics_and_history(store):
    claim = store.claim("g")
    assert store.finish(claim, completed(claim.spec, accuracy=0.75))
    (record,) = store.results()
    assert record.spec == SPECS[0] and record.status == "completed"
    assert record.accuracy == 0.75 and record.n_params == 1482 and record.epochs == 1
    assert record.energy_per_site == {"body.1": 0.15, "body.3": 0.05}
    assert record.history[0]["test_accuracy"] == 0.75
    assert record.history[0]["learning_rate"] == 1e-3  # an unknown per-epoch figure is kept
    assert record.versions == {"torch": "2.x"} and record.attempts == 1
    assert len(store.runs()) == 6


def test_diverged_and_failed_outcomes(store):
    first, second = store.claim("g"), store.claim("g")
    store.finish(first, Outcome(status="diverged", error="loss = nan", diverged_epoch=3,
                                diverged_step=7))  # fmt: skip
    store.finish(second, Outcome(status="failed", error="RuntimeError: boom", traceback="..."))
    (diverged,) = store.runs(status="diverged")
    assert diverged.diverged_epoch == 3 and diverged.accuracy is None
    (failed,) = store.runs(status="failed")
    assert failed.error == "RuntimeError: boom"
    assert store.failures("g")[0]["error"] == "RuntimeError: boom"
    assert store.reset_failed("g") == 1
    assert store.counts("g")["failed"] == 0 and store.counts("g")["pending"] == 5


def test_concurrent_claims_never_hand_out_a_run_twice(tmp_path):
    specs = [RunSpec(seed=seed).resolved() for seed in range(60)]
    with Store(tmp_path / "runs.sqlite") as store:
        store.add_grid("g", specs)
    taken: list[str] = []

    def claim_all():
        with Store(tmp_path / "runs.sqlite") as own:
            while (claim := own.claim("g")) is not None:
                taken.append(claim.run_id)

    threads = [threading.Thread(target=claim_all) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(taken) == sorted(s.run_id for s in specs)


def _dead_process() -> ProcessId:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    me = current_process()
    start = me.start  # the token of a live process: the dead pid cannot match it
    child.wait()
    return ProcessId(me.host, child.pid, start)


def test_runs_of_a_dead_process_go_back_to_pending(store):
    dead = _dead_process()
    claim = store.claim("g", owner=dead)
    alive = store.claim("g")
    assert store.release_stale("g") == 1
    assert store.counts("g")["running"] == 1  # this process's claim stays
    assert [a["outcome"] for a in store.attempts(claim.run_id)] == ["abandoned"]
    # The dead process's late result is refused: its claim is gone.
    assert not store.finish(claim, completed(claim.spec))
    assert store.finish(alive, completed(alive.spec))


def test_a_run_abandoned_three_times_is_failed(store):
    dead = _dead_process()
    for _ in range(3):
        claim = store.claim("g", owner=dead)
        assert claim.run_id == SPECS[0].run_id
        store.release_stale("g")
    (failed,) = store.runs(status="failed")
    assert failed.run_id == SPECS[0].run_id and "abandoned 3 times" in failed.error


def test_another_hosts_run_is_stale_only_after_its_lease(store):
    remote = ProcessId("another-host", 12345, "boot:1")
    store.claim("g", owner=remote)
    assert store.release_stale("g", lease=60) == 0
    assert store.release_stale("g", lease=-1) == 1


def test_a_newer_schema_or_a_missing_file_is_refused(tmp_path, store):
    sqlite3.connect(store.path, isolation_level=None).execute(
        "UPDATE schema_version SET version = 99"
    )
    with pytest.raises(StoreError, match="schema version 99"):
        Store(store.path)
    with pytest.raises(StoreError, match="no results database"):
        Store(tmp_path / "absent.sqlite", readonly=True)
    other = tmp_path / "other.sqlite"
    sqlite3.connect(other).execute("CREATE TABLE runs (x)")
    with pytest.raises(StoreError, match=r"database of something else \(tables: runs\)"):
        Store(other)


def test_export_csv_and_parquet(tmp_path, store):
    claim = store.claim("g")
    store.finish(claim, completed(claim.spec, accuracy=0.625))
    assert export_runs(store, tmp_path / "runs.csv") == 6
    with open(tmp_path / "runs.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == COLUMNS
    done = next(r for r in rows if r["status"] == "completed")
    assert float(done["accuracy"]) == 0.625 and done["model"] == "mlp"
    assert json.loads(done["energy_per_site"]) == {"body.1": 0.15, "body.3": 0.05}

    pandas = pytest.importorskip("pandas")
    pytest.importorskip("pyarrow")
    assert export_runs(store, tmp_path / "done.parquet", status="completed") == 1
    frame = pandas.read_parquet(tmp_path / "done.parquet")
    assert frame.loc[0, "accuracy"] == 0.625 and frame.loc[0, "run_id"] == claim.run_id
    assert str(frame["seed"].dtype) == "int64"


def test_parquet_without_pyarrow_says_how_to_install(tmp_path, store, monkeypatch):
    from minaction.grid.errors import MissingDependencyError

    monkeypatch.setitem(sys.modules, "pyarrow", None)
    with pytest.raises(MissingDependencyError, match=r"minaction\[parquet\]"):
        export_runs(store, tmp_path / "runs.parquet")
    assert not (tmp_path / "runs.parquet").exists()


def test_a_readonly_store_reads_while_a_writer_is_open_and_never_writes(store):
    claim = store.claim("g")
    store.finish(claim, completed(claim.spec))
    with Store(store.path, readonly=True) as reader:
        assert reader.counts("g")["completed"] == 1
        assert reader.results()[0].run_id == claim.run_id
        with pytest.raises(sqlite3.OperationalError, match="readonly"):
            reader.claim("g")
    assert store.counts("g")["running"] == 0
