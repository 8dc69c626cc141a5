"""`minaction grid status` and `grid export` on a database filled by hand, and the one-line errors
of the grid commands."""

import csv
import json
import sys

import pytest

from minaction.cli import main
from minaction.grid import Outcome, Store
from minaction.grid.runner import run_grid

from .test_store import SPECS, completed


@pytest.fixture
def db(tmp_path):
    path = tmp_path / "runs.sqlite"
    with Store(path) as store:
        store.add_grid("sweep", SPECS)
        for index in range(5):
            claim = store.claim("sweep")
            if index == 3:
                store.finish(claim, Outcome(status="failed", error="RuntimeError: out of luck"))
            elif index == 4:
                store.finish(claim, Outcome(status="diverged", error="nan", diverged_epoch=2))
            else:
                store.finish(claim, completed(claim.spec))
    return path


def test_status_counts_by_status_and_by_factor(db, capsys):
    assert main(["grid", "status", "--db", str(db)]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"grid sweep: 5 of 6 runs done (83%) in {db}\n")
    assert "completed 3  diverged 1  failed 1  running 0  pending 1" in out
    for header in ("architecture", "dataset", "λ"):
        assert f"  {header}  done  total  completed  diverged  failed  running  pending" in out
    assert "  0.001     2      3" in out  # λ = 1e-3: seeds 0 and 1 done, seed 2 pending
    assert "RuntimeError: out of luck" in out


def test_status_as_json(db, capsys):
    assert main(["grid", "status", "--db", str(db), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["sweep"]["counts"]["completed"] == 3
    assert report["sweep"]["by"]["lam"]["0.001"]["pending"] == 1


def test_export_csv_from_the_command_line(db, tmp_path, capsys):
    out = tmp_path / "runs.csv"
    assert main(["grid", "export", "--db", str(db), "--out", str(out), "--status",
                 "completed", "diverged"]) == 0  # fmt: skip
    assert capsys.readouterr().out == f"4 runs written to {out} (csv)\n"
    with open(out, newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert sorted(r["status"] for r in rows) == ["completed"] * 3 + ["diverged"]


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["grid", "status", "--db", "{tmp}/absent.sqlite"], "no results database"),
        (["grid", "status", "--db", "{db}", "--grid", "other"], "no grid 'other'"),
        (["grid", "export", "--db", "{db}", "--out", "{tmp}/runs.txt"], "cannot tell the format"),
        (["grid", "run", "{tmp}/absent.toml"], "does not exist"),
    ],
)
def test_user_errors_are_one_line_and_exit_2(db, tmp_path, capsys, argv, words):
    argv = [arg.format(tmp=tmp_path, db=db) for arg in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("minaction: error: ") and words in err


def test_ray_address_needs_the_ray_backend(write_grid, tmp_path, capsys):
    grid = write_grid()
    argv = ["grid", "run", str(grid), "--db", str(tmp_path / "r.sqlite"), "--ray-address", "x:1"]
    assert main(argv) == 2
    assert "needs the ray backend" in capsys.readouterr().err


def test_the_ray_backend_without_ray_says_how_to_install(write_grid, tmp_path, monkeypatch):
    from minaction.grid.errors import MissingDependencyError

    monkeypatch.setitem(sys.modules, "ray", None)
    db = tmp_path / "runs.sqlite"
    with pytest.raises(MissingDependencyError, match=r"pip install 'minaction\[ray\]'"):
        run_grid(write_grid(), db=db, backend="ray")
    assert not db.exists()
