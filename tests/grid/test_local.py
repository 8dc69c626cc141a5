"""The local backend: diverged and failed runs are stored as such, and the grid goes on."""

import math

import pytest

from minaction.grid import Store, run_grid
from minaction.grid.local import threads_per_worker

# λ = 1e39 is a finite float, but not one float32 can hold: λ·E is inf at the first step.
HUGE_LAMBDA = 1e39


def test_diverged_and_failed_runs_are_stored_and_the_grid_finishes(
    write_grid, tmp_path, plugin_registrations
):
    grid = write_grid(datasets=["digits", "broken-digits"], lambdas=[0, HUGE_LAMBDA],
                      seeds=2, imports=["tests.grid.plugins"])  # fmt: skip
    db = tmp_path / "runs.sqlite"
    seen = []
    summary = run_grid(grid, db=db, workers=2, on_progress=seen.append)

    assert summary.done and summary.finished_now == summary.total == 8
    assert summary.counts == {"pending": 0, "running": 0, "completed": 2, "diverged": 2,
                              "failed": 4}  # fmt: skip
    assert seen[0]["pending"] == 8 and seen[-1]["completed"] == 2
    with Store(db) as store:
        for record in store.runs(status="completed"):
            assert record.spec.lam == 0 and record.spec.dataset == "digits"
            assert 0 <= record.accuracy <= 1 and math.isfinite(record.energy)
            assert len(record.history) == 1 and record.host and record.versions["torch"]
            assert record.threads >= 1
        for record in store.runs(status="diverged"):
            assert record.spec.lam == HUGE_LAMBDA and record.diverged_epoch == 1
            assert record.diverged_step == 0 and "diverged at epoch 1" in record.error
        for record in store.runs(status="failed"):
            assert record.spec.dataset == "broken-digits"
            assert record.error == "RuntimeError: this loader fails on purpose"
            assert record.ensemble is None  # the group failed before anything trained
        assert all(a["outcome"] != "running" for a in store.attempts())

    # The same command again has nothing to do; failed cells run again only when asked.
    again = run_grid(grid, db=db, workers=1)
    assert again.finished_now == 0 and again.counts == summary.counts
    retried = run_grid(grid, db=db, workers=1, retry_failed=True)
    assert retried.finished_now == 4 and retried.counts["failed"] == 4
    with Store(db) as store:
        assert {r.attempts for r in store.runs(status="failed")} == {2}
        assert {r.attempts for r in store.runs(status=["completed", "diverged"])} == {1}


@pytest.mark.parametrize(("workers", "cores", "threads"), [(1, 2, 2), (2, 2, 1), (3, 16, 5)])
def test_workers_times_threads_fit_the_cores(workers, cores, threads):
    assert threads_per_worker(workers, cores) == threads
    assert workers * threads <= cores


def test_threads_can_be_asked_for():
    assert threads_per_worker(1, cores=2, threads=1) == 1
