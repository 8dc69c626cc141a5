"""A grid's seeds trained as one batched ensemble store what they store trained one at a time,
and the execution log says which cells were batched."""

import pytest

from minaction.cli import main
from minaction.grid import Store, run_grid

TRAIN = {"epochs": 2, "width": 16, "batch_size": 64, "limit_train": 200, "limit_test": 100}


def _by_run(db):
    with Store(db) as store:
        return {r.run_id: r for r in store.runs()}, store.attempts()


def test_batched_seeds_store_the_same_metrics_as_seeds_alone(write_grid, tmp_path, capsys):
    grid = write_grid(lambdas=[0, 1e-3], seeds=3, train=TRAIN)
    batched_db, alone_db = tmp_path / "batched.sqlite", tmp_path / "alone.sqlite"
    assert run_grid(grid, db=batched_db, workers=1).counts["completed"] == 6
    argv = ["grid", "run", str(grid), "--db", str(alone_db), "--no-batch-seeds"]
    assert main(argv) == 0
    assert "6 completed" in capsys.readouterr().out

    batched, batched_attempts = _by_run(batched_db)
    alone, alone_attempts = _by_run(alone_db)
    assert batched.keys() == alone.keys() and len(batched) == 6
    for run_id, together in batched.items():
        single = alone[run_id]
        assert together.status == single.status == "completed"
        # Only the order of floating-point sums differs: at most one of the 100 test samples
        # may fall the other way, and E agrees to rounding.
        assert together.accuracy == pytest.approx(single.accuracy, abs=0.0101)
        assert together.energy == pytest.approx(single.energy, rel=1e-3)
        assert together.macs_effective == pytest.approx(single.macs_effective, rel=1e-3)
        assert len(together.history) == len(single.history) == 2
        for a, b in zip(together.history, single.history, strict=True):
            assert a["train_loss"] == pytest.approx(b["train_loss"], rel=1e-3)
        assert (together.ensemble, single.ensemble) == (3, 1)
        for record in (together, single):  # measured, or None with the reason
            assert (record.joules_measured is None) == (record.joules_measured_reason is not None)

    # The log: each batched attempt was claimed as a group of three and trained as one
    # ensemble of three; with --no-batch-seeds, one cell a claim, trained alone, and why.
    assert len(batched_attempts) == len(alone_attempts) == 6
    assert {(a["group_size"], a["ensemble"], a["batch_reason"]) for a in batched_attempts} == {
        (3, 3, None)
    }
    assert {(a["group_size"], a["ensemble"], a["batch_reason"]) for a in alone_attempts} == {
        (1, 1, "batching turned off")
    }

    # grid status sums it up.
    with Store(batched_db) as store:
        assert store.batching() == {"batched": 6, "alone": 0, "reasons": {}}
    with Store(alone_db) as store:
        assert store.batching() == {"batched": 0, "alone": 6, "reasons": {"batching turned off": 6}}
    capsys.readouterr()
    assert main(["grid", "status", "--db", str(alone_db)]) == 0
    out = capsys.readouterr().out
    assert "seeds: 0 run(s) trained in batched ensembles, 6 alone" in out
    assert "6 alone because: batching turned off" in out


def test_the_grid_file_can_turn_batching_off(write_grid, tmp_path):
    grid = write_grid(lambdas=[0], seeds=2, batch_seeds=False)
    db = tmp_path / "runs.sqlite"
    assert run_grid(grid, db=db, workers=1).counts["completed"] == 2
    _, attempts = _by_run(db)
    assert {(a["group_size"], a["ensemble"]) for a in attempts} == {(1, 1)}
    # The command-line default follows the file; an explicit argument wins over it.
    again = tmp_path / "again.sqlite"
    assert run_grid(grid, db=again, workers=1, batch_seeds=True).counts["completed"] == 2
    _, attempts = _by_run(again)
    assert {(a["group_size"], a["ensemble"]) for a in attempts} == {(2, 2)}
