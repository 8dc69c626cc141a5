"""The whole analysis of a frame of runs: what enters the ANOVA, what is counted and reported
instead, and a JSON form that standard parsers read."""

import json

import pytest

from minaction.analysis.analyze import analyze, describe_design
from minaction.analysis.errors import AnalysisError
from tests.analysis.synthetic import synthetic_runs


def _status(model, dataset, lam, seed):
    if model == "cnn" and dataset == "fortunes" and lam == 1e-2:
        return "diverged"  # every seed: an empty cell
    if model == "mlp" and lam == 1e-4 and seed == 0:
        return "failed"
    return "completed"


def test_failed_and_diverged_runs_are_counted_and_empty_cells_listed():
    runs = synthetic_runs(seeds=3, status=_status)
    analysis = analyze(runs, bootstrap=50, source="synthetic")
    design = analysis.anova.design
    assert design.runs == 54
    assert design.status_counts == {"completed": 49, "diverged": 3, "failed": 2}
    assert design.used == 49 and analysis.anova.table.n_observations == 49
    assert design.cells == 18
    assert design.empty_cells == (
        {"architecture": "cnn", "dataset": "fortunes", "lambda": 1e-2, "runs": {"diverged": 3}},
    )
    assert (design.replicates_min, design.replicates_max) == (2, 3)
    assert not design.balanced
    assert any("3 diverged, 2 failed of 54 runs" in w for w in analysis.warnings)
    assert any("1 of 18 cells have no usable run" in w for w in analysis.warnings)


def test_factors_are_those_that_vary():
    runs = synthetic_runs(datasets=("digits",), lams=(0.0,), seeds=3)
    analysis = analyze(runs, bootstrap=20)
    assert analysis.anova.design.factors == ("model",)
    assert analysis.anova.design.constant == {"dataset": "digits", "lam": 0.0}
    assert [t.name for t in analysis.anova.table.terms] == ["architecture"]


def test_a_level_whose_runs_all_failed_is_reported_not_analysed():
    runs = synthetic_runs(
        models=("mlp", "cnn"),
        datasets=("digits",),
        lams=(0.0,),
        seeds=2,
        status=lambda m, d, lam, s: "failed" if m == "cnn" else "completed",
    )
    design = describe_design(runs)
    assert design.factors == ()
    assert design.empty_cells == ({"architecture": "cnn", "runs": {"failed": 2}},)
    analysis = analyze(runs, bootstrap=20)
    assert analysis.anova.table is None
    assert "same architecture, dataset and λ" in analysis.anova.unavailable


def test_the_interaction_carries_the_variance_it_was_given():
    """The synthetic accuracy has a ±0.05 architecture × dataset crossing and 0.01 noise: the
    interaction's partial η² is near 1, λ's (an effect of 0.3 × λ ≤ 0.003) near 0."""
    analysis = analyze(synthetic_runs(seeds=4), bootstrap=20)
    table = analysis.anova.table
    assert table.term("architecture", "dataset").partial_eta_sq > 0.9
    assert table.term("lambda").partial_eta_sq < 0.2
    findings = analysis.findings["anova"]
    assert set(findings) == {"architecture", "architecture × dataset"}


def test_type_iii_on_request():
    runs = synthetic_runs(seeds=3, status=_status)
    assert analyze(runs, ss_type=3, bootstrap=20).anova.table.ss_type == 3
    with pytest.raises(AnalysisError, match="must be 2 or 3"):
        analyze(runs, ss_type=1)


def test_json_has_every_part_and_no_nan():
    runs = synthetic_runs(models=("mlp", "bimodal"), seeds=2, status=_status)
    text = analyze(runs, bootstrap=20).to_json()
    data = json.loads(text)  # allow_nan=False when writing: NaN would have raised
    assert set(data) >= {"source", "reference", "findings", "anova", "sweeps", "efficiency",
                         "warnings"}  # fmt: skip
    assert data["anova"]["table"]["ss_type"] == 2
    assert {t["term"] for t in data["anova"]["table"]["terms"]} >= {"architecture × dataset"}
    assert data["sweeps"][0]["rows"][0]["accuracy"]["n"] == 2
    assert data["efficiency"]["datasets"][0]["gains"]
    assert "target = 0.95 ×" in data["efficiency"]["rule"]


def test_no_runs_is_an_error():
    runs = synthetic_runs().iloc[0:0]
    with pytest.raises(AnalysisError, match="holds no runs"):
        analyze(runs)


def test_settings_that_differ_are_reported():
    runs = synthetic_runs(models=("mlp",), datasets=("digits",), seeds=2)
    runs.loc[0, "spec"]["epochs"] = 99
    analysis = analyze(runs, bootstrap=10)
    assert analysis.anova.design.varying_settings == {"epochs": [6, 99]}
    assert any("runs differ in epochs (6, 99)" in w for w in analysis.warnings)


def test_nothing_completed_still_gives_every_part_with_reasons():
    from minaction.analysis.report import render_report

    runs = synthetic_runs(models=("mlp", "cnn"), seeds=2, status=lambda *cell: "failed")
    analysis = analyze(runs, bootstrap=10)
    assert analysis.anova.table is None
    assert analysis.anova.unavailable == "no completed run has an accuracy"
    assert len(analysis.anova.design.empty_cells) == analysis.anova.design.cells == 12
    assert all(sweep.rows == () for sweep in analysis.sweeps)
    assert analysis.efficiency.datasets == () and analysis.efficiency.notes == (
        "no completed runs",
    )
    json.loads(analysis.to_json())
    page = render_report(analysis, runs)
    assert page.count("<img ") == 0 and "No ANOVA: no completed run has an accuracy" in page
