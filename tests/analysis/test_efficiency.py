"""Training efficiency: the cost of one run by hand, the target rule, gains over the best
conventional baseline, the bootstrap, and what happens when a run never reaches the target."""

import math
import re

import pandas as pd
import pytest

from minaction.analysis.efficiency import (
    ENERGY_FIRST,
    TRAINING_PASS_FACTOR,
    efficiency_analysis,
    is_energy_first,
    modality_of,
    run_cost,
)
from minaction.analysis.errors import AnalysisError
from minaction.analysis.load import normalize_runs
from tests.analysis.synthetic import synthetic_runs


def _history(accuracies, seconds=1.0):
    return [{"epoch": e, "test_accuracy": a, "seconds": seconds}
            for e, a in enumerate(accuracies, start=1)]  # fmt: skip


def _run(model, seed, accuracies, seconds=1.0, dataset="digits", lam=0.0, joules=1e-9):
    return {"run_id": f"{model}-{seed}", "model": model, "dataset": dataset, "lam": lam,
            "seed": seed, "status": "completed", "accuracy": accuracies[-1],
            "joules_estimate": joules, "spec": {"limit_train": 100},
            "history": _history(accuracies, seconds)}  # fmt: skip


def test_run_cost_by_hand():
    history = [{"epoch": 2, "test_accuracy": 0.8, "seconds": 2.0},
               {"epoch": 1, "test_accuracy": 0.5, "seconds": 1.0},
               {"epoch": 3, "test_accuracy": 0.9, "seconds": 3.0}]  # fmt: skip
    assert run_cost(history, 0.75) == (2, 3.0)  # epochs sorted; seconds 1 + 2
    assert run_cost(history, 0.9) == (3, 6.0)  # ≥, not >
    assert run_cost(history, 0.95) is None


def test_costs_and_gains_by_hand():
    """mlp and cnn end at 0.80 and 0.90, so the target is 0.95 × 0.80 = 0.76.
    mlp reaches it at epoch 4 (1 s an epoch), cnn at epoch 3 (2 s an epoch), bimodal at
    epoch 2 (1 s an epoch). Baselines: epochs → cnn (3), seconds → mlp (4 s).
    Gains of bimodal: epochs 3/2 − 1 = +50%; seconds 4/2 − 1 = +100%.
    Joules: 2 epochs × 100 samples × 3 × 1 nJ = 600 nJ for bimodal."""
    mlp = [0.2, 0.5, 0.7, 0.77, 0.8]
    cnn = [0.3, 0.6, 0.8, 0.85, 0.9]
    bimodal = [0.5, 0.78, 0.8, 0.82, 0.85]
    runs = normalize_runs(pd.DataFrame(
        [_run("mlp", s, mlp) for s in range(3)] + [_run("cnn", s, cnn, 2.0) for s in range(3)]
        + [_run("bimodal", s, bimodal) for s in range(3)]
    ))  # fmt: skip
    section = efficiency_analysis(runs)
    (dataset,) = section.datasets
    assert dataset.modality == "vision"
    assert dataset.target == pytest.approx(0.76)
    assert dataset.lowest_model == "mlp"
    costs = {c.model: c for c in dataset.costs}
    assert (costs["mlp"].epochs, costs["mlp"].seconds) == (4, 4.0)
    assert (costs["cnn"].epochs, costs["cnn"].seconds) == (3, 6.0)
    assert costs["bimodal"].joules == pytest.approx(2 * 100 * TRAINING_PASS_FACTOR * 1e-9)
    assert dataset.baselines == {"epochs": "cnn", "seconds": "mlp", "joules": "cnn"}
    gains = {(g.model, g.measure): g for g in dataset.gains}
    assert gains["bimodal", "epochs"].baseline == "cnn"
    assert gains["bimodal", "epochs"].gain == pytest.approx(0.5)
    assert gains["bimodal", "seconds"].baseline == "mlp"
    assert gains["bimodal", "seconds"].gain == pytest.approx(1.0)
    assert gains["mlp", "epochs"].gain == pytest.approx(3 / 4 - 1)
    assert ("cnn", "epochs") not in gains  # the baseline itself
    # identical seeds: every resample gives the same costs, so the interval has no width
    assert gains["bimodal", "epochs"].low == gains["bimodal", "epochs"].high == pytest.approx(0.5)


def test_bootstrap_is_reproducible_and_brackets_the_estimate():
    runs = synthetic_runs(models=("mlp", "cnn", "lagrangian"), datasets=("digits", "fortunes"),
                          lams=(0.0,), seeds=6)  # fmt: skip
    first = efficiency_analysis(runs, bootstrap=300, rng_seed=7)
    again = efficiency_analysis(runs, bootstrap=300, rng_seed=7)
    other = efficiency_analysis(runs, bootstrap=300, rng_seed=8)
    assert first.to_dict() == again.to_dict()
    assert first.to_dict() != other.to_dict()
    for dataset in first.datasets:
        for gain in dataset.gains:
            assert gain.low <= gain.gain + 1e-12 and gain.gain <= gain.high + 1e-12


def test_datasets_are_grouped_by_modality():
    runs = synthetic_runs(models=("mlp", "bimodal"), datasets=("fortunes", "digits",
                          "dvs-digits"), lams=(0.0,), seeds=2)  # fmt: skip
    section = efficiency_analysis(runs, bootstrap=50)
    assert [(d.modality, d.dataset) for d in section.datasets] == [
        ("neuromorphic", "dvs-digits"), ("text", "fortunes"), ("vision", "digits")
    ]  # fmt: skip
    assert modality_of("no-such-dataset") == "unregistered"


def test_run_that_never_reaches_the_target_gives_no_cost():
    runs = normalize_runs(pd.DataFrame([
        _run("mlp", 0, [0.5, 0.9]), _run("mlp", 1, [0.5, 0.9]),
        _run("bimodal", 0, [0.85, 0.9]), _run("bimodal", 1, [0.3, 0.4]),  # mean 0.65
    ]))  # fmt: skip
    (dataset,) = efficiency_analysis(runs, target_fraction=1.0).datasets
    assert dataset.target == pytest.approx(0.65)
    costs = {c.model: c for c in dataset.costs}
    assert costs["bimodal"].reached == 1 and math.isnan(costs["bimodal"].epochs)
    gain = next(g for g in dataset.gains if g.model == "bimodal" and g.measure == "epochs")
    assert math.isnan(gain.gain)
    assert any("1 of 2 run(s) never reached the target" in n for n in dataset.notes)


def test_without_a_conventional_baseline_there_are_no_gains():
    runs = synthetic_runs(models=("bimodal", "lagrangian"), datasets=("digits",), lams=(0.0,))
    (dataset,) = efficiency_analysis(runs, bootstrap=20).datasets
    assert dataset.gains == ()
    assert any("no conventional baseline" in n for n in dataset.notes)


def test_lambda_choice_and_bad_options():
    runs = synthetic_runs(models=("mlp", "bimodal"), datasets=("digits",))
    assert efficiency_analysis(runs, bootstrap=10).datasets[0].lam == 0.0
    assert efficiency_analysis(runs, lam=1e-2, bootstrap=10).datasets[0].lam == 1e-2
    with pytest.raises(
        AnalysisError, match=re.escape("no completed runs at λ = 0.5; λ present: 0, ")
    ):
        efficiency_analysis(runs, lam=0.5)
    with pytest.raises(AnalysisError, match="target fraction must be in"):
        efficiency_analysis(runs, target_fraction=1.5)
    with pytest.raises(AnalysisError, match="bootstrap resamples must be ≥ 1"):
        efficiency_analysis(runs, bootstrap=0)


def test_energy_first_set():
    assert ENERGY_FIRST == {"bimodal", "lagrangian"}
    assert is_energy_first("bimodal") and not is_energy_first("transformer")
