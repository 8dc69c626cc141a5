"""Trainer: determinism, run identity, validation and divergence."""

import dataclasses

import pytest
import torch

from minaction import DivergedError, RunSpec, train
from minaction.data import Dataset, load_dataset
from minaction.errors import ConfigError, UnknownNameError
from minaction.train import batch_buffer, gather_batch

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


def _powercap(root, package_uj: int, dram_uj: int):
    """A fixture tree laid out like /sys/class/powercap: one package with a DRAM zone."""
    for key, name, energy in (("0", "package-0", package_uj), ("0:0", "dram", dram_uj)):
        zone = root / f"intel-rapl:{key}"
        zone.mkdir(parents=True)
        (zone / "name").write_text(name + "\n")
        (zone / "energy_uj").write_text(f"{energy}\n")
        (zone / "max_energy_range_uj").write_text("262143328850\n")
    return root / "intel-rapl:0" / "energy_uj", root / "intel-rapl:0:0" / "energy_uj"


def _bump(path, microjoules: int):
    path.write_text(f"{int(path.read_text()) + microjoules}\n")


def test_measured_joules_are_the_counter_differences_over_training(tmp_path, monkeypatch):
    package, dram = _powercap(tmp_path / "powercap", 5_000_000, 1_000_000)
    monkeypatch.setenv("MINACTION_POWERCAP_ROOT", str(tmp_path / "powercap"))

    def on_epoch(entry):  # as if each epoch drew 2 J on the package and 0.5 J on DRAM
        _bump(package, 2_000_000)
        _bump(dram, 500_000)

    result = train(RunSpec(**SMALL), on_epoch=on_epoch)
    counters = result.joules_measured_counters
    # Two epochs: the package counter rose by 4 J and DRAM by 1 J between start and end.
    assert counters["rapl:package-0"] == pytest.approx(4.0)
    assert counters["rapl:package-0/dram"] == pytest.approx(1.0)
    assert result.joules_measured_reason is None
    if not any(label.startswith("nvml:") for label in counters):  # a GPU would add its joules
        assert result.joules_measured == pytest.approx(5.0)
    assert result.to_dict()["joules_measured"] == result.joules_measured


def test_no_counters_give_none_and_the_reason(tmp_path, monkeypatch):
    monkeypatch.setenv("MINACTION_POWERCAP_ROOT", str(tmp_path / "absent"))
    result = train(RunSpec(**{**SMALL, "epochs": 1}))
    if result.joules_measured_counters is None:  # no NVIDIA GPU either
        assert result.joules_measured is None
        assert "no powercap interface" in result.joules_measured_reason


def test_the_train_command_prints_the_measured_joules_or_why_not(tmp_path, monkeypatch, capsys):
    import json

    from minaction.cli import main

    quick = ["train", "--epochs", "1", "--limit-train", "200", "--limit-test", "100"]
    monkeypatch.setenv("MINACTION_POWERCAP_ROOT", str(tmp_path / "absent"))
    assert main(quick) == 0
    out = capsys.readouterr().out
    assert "measured energy" in out
    assert main([*quick, "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert {"joules_measured", "joules_measured_counters", "joules_measured_reason"} <= set(data)

    _powercap(tmp_path / "powercap", 0, 0)
    monkeypatch.setenv("MINACTION_POWERCAP_ROOT", str(tmp_path / "powercap"))
    assert main(quick) == 0
    assert "J for the whole training (rapl:package-0 0 J" in capsys.readouterr().out


def test_gather_batch_fills_the_buffer_with_the_indexed_rows_including_a_short_last_batch():
    x = torch.arange(5 * 2 * 3, dtype=torch.float32).view(5, 2, 3)
    y = torch.tensor([10, 11, 12, 13, 14])
    data = Dataset(load_dataset("digits", limit_train=8, limit_test=8).info, x, y, x, y)
    buffer = batch_buffer(data, 3)
    for index in (torch.tensor([4, 0, 2]), torch.tensor([3])):
        xb, yb = gather_batch(data, index, buffer)
        assert torch.equal(xb, x[index]) and torch.equal(yb, y[index])
        assert xb.data_ptr() == buffer[0].data_ptr()  # written in place, not a new tensor
