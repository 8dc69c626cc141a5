"""The λ-sweep tables: the RunResult interface the `sweep` command uses, and the per
(architecture, dataset) tables of a frame of runs, with the runs they leave out."""

from types import SimpleNamespace

import pytest

from minaction.analysis.sweep import sweep_rows, sweep_tables
from tests.analysis.synthetic import synthetic_runs


def _result(lam, accuracy, energy):
    return SimpleNamespace(
        spec=SimpleNamespace(lam=lam), accuracy=accuracy, energy=energy, active_fraction=0.5,
        macs_effective=50.0, macs_dense=100.0, joules_estimate=1e-9,
    )  # fmt: skip


def test_sweep_rows_from_results():
    """λ = 0: E = 10 and 30 (mean 20); λ = 0.1: E = 1 and 3 (mean 2), so E/E₀ = 0.1, and the
    per-seed ratios 0.05 and 0.15 average to it. Accuracy 0.9/0.8 against a λ = 0 mean of 0.9:
    changes of 0 and −10 points."""
    results = [_result(0.1, 0.9, 1.0), _result(0.0, 0.85, 10.0), _result(0.1, 0.8, 3.0),
               _result(0.0, 0.95, 30.0)]  # fmt: skip
    base, high = sweep_rows(results)
    assert (base.lam, high.lam) == (0.0, 0.1)
    assert base.energy_ratio == 1.0
    assert high.energy_ratio == pytest.approx(0.1)
    assert high.energy_ratio_interval.mean == pytest.approx(high.energy_ratio)
    assert (high.energy_ratio_interval.low, high.energy_ratio_interval.high) != (0.1, 0.1)
    assert high.accuracy_change_points.mean == pytest.approx(-5.0)
    assert high.effective_ratio == 0.5
    data = high.to_dict()
    assert data["energy_ratio_interval"]["mean"] == pytest.approx(0.1)
    assert sweep_rows([]) == []


def test_tables_per_architecture_and_dataset_leave_out_failed_runs():
    def status(model, dataset, lam, seed):
        if model == "cnn" and lam == 1e-2 and seed == 0:
            return "diverged"
        if model == "mlp" and dataset == "fortunes" and lam == 1e-4:
            return "failed"
        return "completed"

    runs = synthetic_runs(models=("mlp", "cnn"), seeds=3, status=status)
    tables = {(t.model, t.dataset): t for t in sweep_tables(runs)}
    assert sorted(tables) == [("cnn", "digits"), ("cnn", "fortunes"), ("mlp", "digits"),
                              ("mlp", "fortunes")]  # fmt: skip
    cnn = tables["cnn", "digits"]
    assert [row.seeds for row in cnn.rows] == [3, 3, 2]
    assert cnn.excluded == {1e-2: {"diverged": 1}}
    mlp = tables["mlp", "fortunes"]
    assert [row.lam for row in mlp.rows] == [0.0, 1e-2]  # the failed λ has no row
    assert mlp.excluded == {1e-4: {"failed": 3}}
    assert mlp.to_dict()["excluded"] == [{"lam": 1e-4, "status": "failed", "runs": 3}]


def test_energy_falls_three_decades_in_the_synthetic_study():
    """The synthetic E falls tenfold per decade of λ above 1e-5: 1e-2 is three decades."""
    (table,) = sweep_tables(synthetic_runs(models=("mlp",), datasets=("digits",)))
    assert table.rows[-1].energy_ratio == pytest.approx(1e-3, rel=0.15)
