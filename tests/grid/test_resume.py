"""Crash and share: a grid killed with SIGKILL resumes without losing or repeating a run, and two
`grid run` processes on one database never run a cell twice.

Both tests drive the real command in subprocesses, once with each cell claimed and trained on
its own (--no-batch-seeds) and once with a cell's seeds claimed together and trained as one
batched ensemble. Their cells train `sleepy-mlp` (tests/grid/plugins.py), which pauses at each
batch, so that a cell (or an ensemble) lasts about 0.3 s even on an idle machine and cells are
surely in flight when the test acts.
"""

import os
import signal

import pytest

from minaction.grid import Store, load_grid

from .conftest import counts, start_grid_run, wait_for

SLOW = {
    "architectures": ["sleepy-mlp"],
    "imports": ["tests.grid.plugins"],
    "train": {"epochs": 1, "batch_size": 64, "limit_train": 200, "limit_test": 100},
}
# 40 cells either way. Batched, a claim takes a λ's 5 seeds: 8 groups, so that a kill surely
# finds groups done, in flight and still pending, as one at a time it finds cells. An ensemble
# pauses once a step for all its members, so batched cells train 4 epochs to last as long.
MODES = {
    "alone": ({"lambdas": [0, 1e-4, 1e-3, 1e-2], "seeds": 10}, ("--no-batch-seeds",), 1),
    "batched": (
        {
            "lambdas": [0, 1e-5, 3e-5, 1e-4, 3e-4, 1e-3, 3e-3, 1e-2],
            "seeds": 5,
            "train": {**SLOW["train"], "epochs": 4},
        },
        (),
        5,
    ),
}


def _snapshot(db, run_ids):
    """The stored rows of `run_ids`, as SQLite returns them, and their history rows."""
    with Store(db) as store:
        runs = {row[0]: tuple(row) for row in store.raw_rows("runs") if row[0] in run_ids}
        history = sorted(tuple(row) for row in store.raw_rows("history") if row[0] in run_ids)
    return runs, history


@pytest.mark.parametrize("mode", MODES)
def test_sigkill_mid_grid_then_resume_runs_every_cell_exactly_once(write_grid, tmp_path, mode):
    factors, options, group_size = MODES[mode]
    grid = write_grid(name="crash", **{**SLOW, **factors})
    db = tmp_path / "runs.sqlite"
    expected = {spec.run_id for spec in load_grid(grid).specs()}

    first = start_grid_run(grid, db, "--workers", "2", *options)
    try:
        wait_for(lambda: db.exists() and (c := counts(db, "crash"))["completed"] >= 4
                 and c["running"] >= 1, timeout=180, interval=0.02)  # fmt: skip
    finally:
        os.killpg(first.pid, signal.SIGKILL)
        first.wait()
    assert first.returncode == -signal.SIGKILL

    with Store(db) as store:
        at_kill = store.counts("crash")
        done_before = {r.run_id for r in store.runs(status="completed", history=False)}
        running_at_kill = {r.run_id for r in store.runs(status="running", history=False)}
    rows_before, history_before = _snapshot(db, done_before)
    assert running_at_kill and at_kill["pending"] > 0

    second = start_grid_run(grid, db, "--workers", "2", *options)
    out, err = second.communicate(timeout=300)
    assert second.returncode == 0, err
    print(f"\nat the kill: {at_kill}\nresume: {out.strip()}")

    with Store(db) as store:
        records = store.runs(history=False)
        attempts = store.attempts()
    assert sorted(r.run_id for r in records) == sorted(expected)  # each run_id once
    assert {r.status for r in records} == {"completed"}
    assert all(r.accuracy is not None and r.finished_at for r in records)
    # The runs completed before the kill are untouched, down to their timestamps.
    assert _snapshot(db, done_before) == (rows_before, history_before)
    # The runs in flight at the kill ran twice: once abandoned, once completed; the rest once.
    by_run: dict[str, list[str]] = {}
    for attempt in attempts:
        by_run.setdefault(attempt["run_id"], []).append(attempt["outcome"])
    for run_id in expected:
        want = ["abandoned", "completed"] if run_id in running_at_kill else ["completed"]
        assert by_run[run_id] == want, (run_id, by_run[run_id])
    assert f"{len(running_at_kill)} run(s) left running by a process that died" in out
    # Every claim took a whole cell's seeds (batched) or one cell, the resumed ones included.
    assert {a["group_size"] for a in attempts} == {group_size}
    assert {a["ensemble"] for a in attempts if a["outcome"] == "completed"} == {group_size}
    print(f"runs in flight at the kill, run again: {len(running_at_kill)}; "
          f"completed before the kill and unchanged: {len(done_before)}")  # fmt: skip


@pytest.mark.parametrize("mode", MODES)
def test_two_grid_runs_on_one_database_never_run_a_cell_twice(write_grid, tmp_path, mode):
    factors, options, group_size = MODES[mode]
    grid = write_grid(name="shared", **{**SLOW, **factors})
    db = tmp_path / "runs.sqlite"

    # 40 cells of 0.3 s (8 groups of about 1 s): each command alone would need 12 s (8 s), so
    # the two surely overlap.
    processes = [start_grid_run(grid, db, "--workers", "1", *options) for _ in range(2)]
    for process in processes:
        _, err = process.communicate(timeout=300)
        assert process.returncode == 0, err

    with Store(db) as store:
        records = store.runs()
        attempts = store.attempts()
    assert len(records) == 40 and {r.status for r in records} == {"completed"}
    assert all(len(r.history) == r.spec.epochs for r in records)
    # The execution log: one attempt per cell, so no cell ran twice.
    assert sorted(a["run_id"] for a in attempts) == sorted(r.run_id for r in records)
    assert {a["outcome"] for a in attempts} == {"completed"}
    assert {a["group_size"] for a in attempts} == {group_size}
    # Both commands did part of the work.
    assert len({r.pid for r in records}) == 2
