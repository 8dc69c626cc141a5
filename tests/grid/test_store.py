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
    assert db.execute("SELECT version FROM schema_version").fetchall() == [(2,)]


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


def test_a_group_claim_takes_the_pending_seeds_of_the_first_cell_at_once(store):
    # SPECS in grid order: (seed 0, λ 0), (0, 1e-3), (1, 0), (1, 1e-3), (2, 0), (2, 1e-3).
    single = store.claim("g")  # seed 0, λ 0 alone: the group of λ 0 then has seeds 1 and 2
    group = store.claim_group("g")
    assert [(c.spec.lam, c.spec.seed) for c in group] == [(1e-3, 0), (1e-3, 1), (1e-3, 2)]
    assert len({c.token for c in group}) == 3 and {c.attempt for c in group} == {1}
    rest = store.claim_group("g")
    assert [(c.spec.lam, c.spec.seed) for c in rest] == [(0.0, 1), (0.0, 2)]
    assert store.claim_group("g") == []
    sizes = {a["run_id"]: a["group_size"] for a in store.attempts()}
    assert sizes[single.run_id] == 1 and {sizes[c.run_id] for c in group} == {3}

    # Each member is finished on its own, with the ensemble it was trained in.
    outcome = completed(group[0].spec)
    outcome.ensemble = 3
    assert store.finish(group[0], outcome)
    assert store.counts("g")["running"] == 5
    (record,) = store.results()
    assert record.ensemble == 3
    assert [a["ensemble"] for a in store.attempts(group[0].run_id)] == [3]


def test_group_claims_of_two_processes_never_overlap(tmp_path):
    specs = [RunSpec(lam=lam, seed=seed).resolved() for seed in range(8) for lam in (0.0, 0.1)]
    with Store(tmp_path / "runs.sqlite") as store:
        store.add_grid("g", specs)
    groups: list[list[str]] = []

    def claim_all():
        with Store(tmp_path / "runs.sqlite") as own:
            while claims := own.claim_group("g"):
                groups.append([c.run_id for c in claims])

    threads = [threading.Thread(target=claim_all) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(run_id for group in groups for run_id in group) == sorted(s.run_id for s in specs)
    assert sorted(len(g) for g in groups) == [8, 8]  # one group a λ, every seed in it


def test_a_group_whose_process_died_goes_back_to_pending_whole(store):
    group = store.claim_group("g", owner=_dead_process())
    assert len(group) == 3
    assert store.release_stale("g") == 3
    assert store.counts("g")["pending"] == 6
    again = store.claim_group("g")
    assert [c.run_id for c in again] == [c.run_id for c in group]
    assert {c.attempt for c in again} == {2}


def test_a_measured_result_is_stored(store):
    claim = store.claim("g")
    outcome = completed(claim.spec)
    outcome.result.joules_measured = 1.5
    outcome.result.joules_measured_counters = {"rapl:package-0": 1.25, "rapl:package-0/dram": 0.25}
    store.finish(claim, outcome)
    other = store.claim("g")
    unmeasured = completed(other.spec)
    unmeasured.result.joules_measured_reason = "no powercap interface at /x"
    store.finish(other, unmeasured)
    first, second = store.results()
    assert first.joules_measured == 1.5 and first.joules_measured_reason is None
    assert first.joules_measured_counters == {"rapl:package-0": 1.25, "rapl:package-0/dram": 0.25}
    assert second.joules_measured is None and second.joules_measured_counters is None
    assert second.joules_measured_reason == "no powercap interface at /x"


V2_COLUMNS = {
    "runs": ["joules_measured", "joules_measured_counters", "joules_measured_reason", "ensemble"],
    "attempts": ["group_size", "ensemble", "batch_reason"],
}


def _make_version_1(path):
    """A version 1 file with one completed run: a version 2 store with the columns version 2
    added dropped again and its version set back to 1, as a minaction of version 1 left it."""
    with Store(path) as store:
        store.add_grid("g", SPECS)
        claim = store.claim("g")
        store.finish(claim, completed(claim.spec, accuracy=0.875))
    db = sqlite3.connect(path, isolation_level=None)
    for table, columns in V2_COLUMNS.items():
        for column in columns:
            db.execute(f"ALTER TABLE {table} DROP COLUMN {column}")
    db.execute("UPDATE schema_version SET version = 1")
    db.close()
    return claim


def _columns(path, table):
    db = sqlite3.connect(path)
    try:
        return [row[1] for row in db.execute(f"PRAGMA table_info({table})")]
    finally:
        db.close()


def test_a_version_1_file_is_read_as_it_is_and_upgraded_when_opened_for_writing(tmp_path):
    path = tmp_path / "v1.sqlite"
    claim = _make_version_1(path)
    assert "joules_measured" not in _columns(path, "runs")
    rows_before = sqlite3.connect(path).execute("SELECT * FROM runs ORDER BY rowid").fetchall()

    with Store(path, readonly=True) as reader:  # read-only: nothing changes, v2 fields None
        (record,) = reader.results()
        assert record.accuracy == 0.875 and record.joules_measured is None
        assert record.ensemble is None and reader.attempts()[0]["outcome"] == "completed"
    assert "joules_measured" not in _columns(path, "runs")
    from minaction.analysis.load import load_runs  # the analysis reads a version 1 file too

    frame = load_runs(path)
    assert frame["joules_measured"].isna().all() and len(frame) == 6

    with Store(path) as store:
        (record,) = store.results()
        assert record.run_id == claim.run_id and record.accuracy == 0.875
        assert record.joules_measured is None
        following = store.claim("g")
        outcome = completed(following.spec)
        outcome.result.joules_measured = 2.0
        store.finish(following, outcome)
        assert store.results()[1].joules_measured == 2.0
    db = sqlite3.connect(path)
    assert db.execute("SELECT version FROM schema_version").fetchall() == [(2,)]
    for table, columns in V2_COLUMNS.items():
        assert _columns(path, table)[-len(columns) :] == columns
    # The version 1 row keeps every value it had; the new columns read NULL.
    (migrated,) = db.execute("SELECT * FROM runs WHERE run_id = ?", (claim.run_id,)).fetchall()
    (before,) = [row for row in rows_before if row[0] == claim.run_id]
    assert migrated[: len(before)] == before and migrated[len(before) :] == (None,) * 4
