"""The Ray backend on a real local Ray (two CPUs, no dashboard): a task that raises is stored as
failed and the other runs complete, both on a Ray the command starts and on a running one it
joins by address."""

import subprocess
import sys

import pytest

from minaction.grid import Store

from .conftest import ROOT, grid_env

ray = pytest.importorskip("ray")


def _grid(write_grid):
    return write_grid(datasets=["digits", "broken-digits"], lambdas=[0, 1e-3], seeds=2,
                      imports=["tests.grid.plugins"])  # fmt: skip


def _check(db):
    with Store(db) as store:
        completed = store.runs(status="completed")
        failed = store.runs(status="failed")
        attempts = store.attempts()
    assert len(completed) == 4 and {r.spec.dataset for r in completed} == {"digits"}
    assert all(r.accuracy is not None and len(r.history) == 1 for r in completed)
    assert len(failed) == 4 and {r.spec.dataset for r in failed} == {"broken-digits"}
    assert {r.error for r in failed} == {"RuntimeError: this loader fails on purpose"}
    assert len(attempts) == 8  # each cell ran once
    # A task a λ of a dataset: its two seeds claimed together, trained as one ensemble.
    assert {a["group_size"] for a in attempts} == {2}
    assert {a["ensemble"] for a in attempts if a["outcome"] == "completed"} == {2}


def _grid_run(grid, db, *options):
    return subprocess.run(
        [sys.executable, "-m", "minaction.cli", "grid", "run", str(grid), "--db", str(db),
         "--backend", "ray", *options],
        cwd=ROOT, env=grid_env(), capture_output=True, text=True, timeout=300,
    )  # fmt: skip


def test_a_local_ray_started_by_the_command(write_grid, tmp_path):
    db = tmp_path / "runs.sqlite"
    done = _grid_run(_grid(write_grid), db, "--workers", "2")
    assert done.returncode == 0, done.stderr
    assert "4 completed, 0 diverged, 4 failed" in done.stdout
    _check(db)


def test_an_existing_ray_cluster_joined_by_address(write_grid, tmp_path, monkeypatch):
    monkeypatch.setenv("PYTHONPATH", grid_env()["PYTHONPATH"])  # Ray's workers import plugins
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        address = ray.get_runtime_context().gcs_address
        db = tmp_path / "runs.sqlite"
        done = _grid_run(_grid(write_grid), db, "--ray-address", address)
        assert done.returncode == 0, done.stderr
        _check(db)
        assert ray.is_initialized()  # the command left the cluster it joined running
        assert ray.cluster_resources().get("CPU") == 2
    finally:
        ray.shutdown()
