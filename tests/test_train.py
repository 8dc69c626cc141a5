"""Trainer: determinism, run identity, validation and divergence."""

import dataclasses

import pytest

from minaction import DivergedError, RunSpec, train
from minaction.errors import ConfigError, UnknownNameError

SMALL = dict(dataset="digits", epochs=2, limit_train=300, limit_test=100, width=32)


def _metrics(result) -> dict:
    data = result.to_dict()
    data.pop("train_seconds")
    for entry in data["history"]:
        entry.pop("seconds")
    return data


def test_same_seed_gives_identical_metrics_bit_for_bit():
    spec = RunSpec(lam=1e-3, seed=3, **SMALL)
    assert _metrics(train(spec)) == _metrics(train(spec))


def test_different_seeds_give_different_runs():
    a = train(RunSpec(seed=0, **SMALL))
    b = train(RunSpec(seed=1, **SMALL))
    assert a.run_id != b.run_id
    assert a.energy != b.energy


def test_result_fields_are_consistent():
    result = train(RunSpec(lam=1e-3, **SMALL))
    assert len(result.history) == 2
    assert result.history[-1]["test_accuracy"] == result.accuracy
    assert result.history[-1]["test_energy"] == pytest.approx(result.energy)
    assert sum(result.energy_per_site.values()) == pytest.approx(result.energy)
    assert 0 < result.active_fraction < 1
    assert 0 < result.macs_effective < result.macs_dense
    assert result.macs_dense == 64 * 32 + 32 * 32 + 32 * 10  # three Linear layers
    assert 0 < result.joules_estimate < result.joules_dense_estimate
    entry = result.history[0]
    assert entry["train_loss"] == pytest.approx(entry["train_ce"] + 1e-3 * entry["train_energy"])


def test_energy_penalty_lowers_energy():
    plain = train(RunSpec(lam=0, **{**SMALL, "epochs": 5}))
    penalised = train(RunSpec(lam=1e-2, **{**SMALL, "epochs": 5}))
    assert penalised.energy < 0.5 * plain.energy


def test_run_id_is_stable_and_resolves_defaults():
    spec = RunSpec(model="mlp", dataset="digits", lam=1e-3)
    assert spec.run_id == RunSpec(model="mlp", dataset="digits", lam=0.001).run_id
    assert spec.run_id == dataclasses.replace(spec, width=128, depth=2).run_id
    assert spec.run_id != dataclasses.replace(spec, lam=1e-2).run_id
    assert len(spec.run_id) == 16


@pytest.mark.parametrize(
    "changes, message",
    [
        (dict(model="nope"), "unknown model 'nope'"),
        (dict(dataset="nope"), "unknown dataset 'nope'"),
        (dict(lam=-1.0), "λ must be"),
        (dict(epochs=0), "epochs must be a positive integer"),
        (dict(lr=0.0), "lr must be a positive number"),
        (dict(norm="l3"), "norm must be one of"),
        (dict(seed=-2), "seed must be"),
    ],
)
def test_bad_specs_are_rejected_before_training(changes, message):
    with pytest.raises((ConfigError, UnknownNameError), match=message):
        train(RunSpec(**{**SMALL, **changes}))


def test_from_dict_rejects_unknown_settings():
    with pytest.raises(ConfigError, match="unknown run setting"):
        RunSpec.from_dict({"model": "mlp", "epoch": 3})


def test_divergence_is_reported_with_its_epoch():
    with pytest.raises(DivergedError) as info:
        train(RunSpec(lam=1e300, **SMALL))
    assert info.value.epoch == 1
