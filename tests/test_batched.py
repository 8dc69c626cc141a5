"""Seeds trained as one batched ensemble are the runs they would have been alone."""

import logging

import pytest
import torch
from torch import nn

from minaction import DivergedError, RunSpec
from minaction.batched import (
    _build_members,
    _fold_unsupported_reason,
    _make_step,
    batch_slower_reason,
    batch_unsupported_reason,
    train_seeds,
)
from minaction.data import load_dataset
from minaction.errors import ConfigError
from minaction.models import model_entry, model_names

# 640 samples in batches of 64 for 3 epochs: 30 optimizer steps per member.
CELL = dict(dataset="digits", lam=1e-3, epochs=3, batch_size=64, limit_train=640, limit_test=100,
            width=32)  # fmt: skip


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits", limit_train=640, limit_test=100)


def _collect(store):
    return lambda index, model: store.__setitem__(index, model)


def test_batched_members_match_runs_alone_after_30_steps(digits):
    specs = [RunSpec(seed=s, **CELL) for s in (0, 1, 2)]
    assert batch_unsupported_reason(specs[0].resolved(), digits) is None
    batched_models, alone_models = {}, {}
    batched = train_seeds(specs, data=digits, batch="always", on_finish=_collect(batched_models))
    alone = train_seeds(specs, data=digits, batch=False, on_finish=_collect(alone_models))

    for m in range(3):
        together, single = batched_models[m].state_dict(), alone_models[m].state_dict()
        assert together.keys() == single.keys()
        for name in together:
            torch.testing.assert_close(together[name], single[name], rtol=1e-4, atol=1e-5)
        assert batched[m].run_id == alone[m].run_id
        assert batched[m].accuracy == pytest.approx(alone[m].accuracy, abs=0.011)
        assert batched[m].energy == pytest.approx(alone[m].energy, rel=1e-3)
        for a, b in zip(batched[m].history, alone[m].history, strict=True):
            assert a["train_loss"] == pytest.approx(b["train_loss"], rel=1e-4)
    # Different seeds stayed different members.
    assert not torch.equal(batched_models[0].head.weight, batched_models[1].head.weight)


@pytest.mark.parametrize("name", [n for n in model_names() if "image" in model_entry(n).kinds])
def test_every_batchable_architecture_matches_alone(name, digits):
    small = dict(CELL, model=name, epochs=1, limit_train=64, batch_size=32, width=None)
    specs = [RunSpec(seed=s, **small) for s in (0, 1)]
    data = load_dataset("digits", limit_train=64, limit_test=50)
    reason = batch_unsupported_reason(specs[0].resolved(), data)
    if reason is not None:
        pytest.skip(f"{name} is not batched: {reason}")
    batched = train_seeds(specs, data=data, batch="always")
    alone = train_seeds(specs, data=data, batch=False)
    for a, b in zip(batched, alone, strict=True):
        assert a.history[0]["train_loss"] == pytest.approx(b.history[0]["train_loss"], rel=1e-4)
        assert a.energy == pytest.approx(b.energy, rel=1e-3)


def test_specs_must_differ_only_in_seed():
    with pytest.raises(ConfigError, match="differ only in seed"):
        train_seeds([RunSpec(seed=0, **CELL), RunSpec(seed=1, **{**CELL, "lam": 0.0})])
    with pytest.raises(ConfigError, match="seed twice"):
        train_seeds([RunSpec(seed=0, **CELL), RunSpec(seed=0, **CELL)])


def test_diverging_members_are_reported_not_raised(digits):
    specs = [RunSpec(seed=s, **{**CELL, "lam": 1e300}) for s in (0, 1)]
    results = train_seeds(specs, data=digits)
    assert all(isinstance(r, DivergedError) and r.epoch == 1 for r in results)


def test_slower_batching_is_measured_and_reported(digits):
    spec = RunSpec(seed=0, **CELL).resolved()
    reason = batch_slower_reason(spec, digits, members=3)
    # Either verdict is possible on a given machine; a reason must carry both timings.
    if reason is not None:
        assert "slower here" in reason and "3 seeds" in reason and "one at a time" in reason
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("minaction.batched.SLOWER_MARGIN", 0.0)  # any batched step is "slower"
        assert "slower here" in batch_slower_reason(spec, digits, members=3)
        plans = []
        train_seeds([RunSpec(seed=s, **{**CELL, "epochs": 1}) for s in (0, 1)], data=digits,
                    on_plan=plans.append)  # fmt: skip
        assert plans[0].startswith("a batched step is slower here")


def test_action_weight_falls_back_with_a_reason(digits):
    spec = RunSpec(seed=0, **{**CELL, "model": "lagrangian", "action_weight": 0.1}).resolved()
    assert "action" in batch_unsupported_reason(spec, digits)


def test_a_batched_member_measures_its_share_of_the_ensemble(digits, tmp_path, monkeypatch):
    root = tmp_path / "powercap" / "intel-rapl:0"
    root.mkdir(parents=True)
    (root / "name").write_text("package-0\n")
    counter = root / "energy_uj"
    counter.write_text("0\n")
    monkeypatch.setenv("MINACTION_POWERCAP_ROOT", str(tmp_path / "powercap"))

    def on_epoch(member, entry):  # 0.3 J each time a member's epoch ends
        counter.write_text(f"{int(counter.read_text()) + 300_000}\n")

    specs = [RunSpec(seed=s, **{**CELL, "epochs": 2}) for s in (0, 1, 2)]
    batched = train_seeds(specs, data=digits, batch="always", on_epoch=on_epoch)
    # 3 members × 2 epochs × 0.3 J = 1.8 J for the ensemble: 0.6 J each.
    for result in batched:
        assert result.joules_measured_counters["rapl:package-0"] == pytest.approx(0.6)
        assert result.joules_measured_reason is None

    counter.write_text("0\n")
    alone = train_seeds(specs, data=digits, batch=False, on_epoch=on_epoch)
    # One at a time, each run reads its own 2 epochs × 0.3 J.
    for result in alone:
        assert result.joules_measured_counters["rapl:package-0"] == pytest.approx(0.6)


def test_on_plan_says_whether_the_seeds_were_batched(digits):
    specs = [RunSpec(seed=s, **{**CELL, "epochs": 1}) for s in (0, 1)]
    plans = []
    train_seeds(specs, data=digits, batch="always", on_plan=plans.append)
    train_seeds(specs, data=digits, batch=False, on_plan=plans.append)
    train_seeds(specs[:1], data=digits, on_plan=plans.append)
    assert plans == [None, "batching turned off", "a single seed"]


def test_mlp_and_cnn_run_folded_and_the_rest_under_vmap(digits):
    expected = {"mlp": "folded", "cnn": "folded", "lagrangian": "vmap", "bimodal": "vmap"}
    for name, layout in expected.items():
        cell = {**CELL, "model": name, "width": None}
        specs = [RunSpec(seed=s, **cell).resolved() for s in (0, 1)]
        step = _make_step(_build_members(specs, digits), specs[0], digits.x_train)
        assert step.layout == layout, name
        step.close()


def test_folded_and_vmap_layouts_train_the_same_members(digits, monkeypatch, caplog):
    specs = [RunSpec(seed=s, **{**CELL, "epochs": 1}) for s in (0, 1)]
    folded, vmapped = {}, {}
    with caplog.at_level(logging.INFO, logger="minaction.batched"):
        train_seeds(specs, data=digits, batch="always", on_finish=_collect(folded))
    assert "in the folded layout" in caplog.text
    monkeypatch.setattr("minaction.batched._fold_unsupported_reason", lambda model: "forced")
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="minaction.batched"):
        train_seeds(specs, data=digits, batch="always", on_finish=_collect(vmapped))
    assert "in the vmap layout" in caplog.text
    for m in (0, 1):
        for name, value in folded[m].state_dict().items():
            torch.testing.assert_close(value, vmapped[m].state_dict()[name], rtol=1e-4, atol=1e-5)


class _Obstacle(nn.Module):
    def __init__(self, extra: nn.Module):
        super().__init__()
        self.fc = nn.Linear(4, 3)
        self.extra = extra

    def forward(self, x):
        return self.extra(self.fc(x))


class _OwnParameter(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 3)
        self.scale = nn.Parameter(torch.ones(3))

    def forward(self, x):
        return self.fc(x) * self.scale


def test_fold_check_names_what_stands_in_the_way():
    assert _fold_unsupported_reason(_Obstacle(nn.ReLU())) is None
    assert "draws random numbers" in _fold_unsupported_reason(_Obstacle(nn.Dropout(0.1)))
    assert "with parameters" in _fold_unsupported_reason(_Obstacle(nn.LayerNorm(3)))
    assert "with parameters" in _fold_unsupported_reason(_Obstacle(nn.BatchNorm1d(3)))
    assert "holds parameters of its own" in _fold_unsupported_reason(_OwnParameter())


class _BatchCentre(nn.Module):
    """Parameter-free but mixes samples: subtracts the batch mean."""

    def forward(self, x):
        return x - x.mean(dim=0, keepdim=True)


def test_a_module_that_mixes_samples_is_caught_and_runs_under_vmap():
    torch.manual_seed(0)
    models = [_Obstacle(nn.Sequential(_BatchCentre(), nn.ReLU())) for _ in range(3)]
    assert _fold_unsupported_reason(models[0]) is None  # the structure alone cannot tell
    spec = RunSpec(seed=0, **CELL).resolved()
    x = torch.randn(12, 4)
    step = _make_step(models, spec, x)
    assert step.layout == "vmap"
    # And under vmap each member centres its own batch, as it would alone.
    xs = torch.randn(3, 5, 4)
    logits, _ = step._forward(step.params, step.buffers, xs)
    for m, model in enumerate(models):
        torch.testing.assert_close(logits[m], model(xs[m]))
    step.close()


class _Counter(nn.Module):
    """Parameter-free, but its forward pass changes a buffer."""

    def __init__(self):
        super().__init__()
        self.register_buffer("calls", torch.zeros(()))

    def forward(self, x):
        self.calls += 1
        return x


class _Scale(nn.Module):
    """Parameter-free, with a constant buffer that may differ between members."""

    def __init__(self, factor: float):
        super().__init__()
        self.register_buffer("factor", torch.tensor(factor))

    def forward(self, x):
        return x * self.factor


def test_buffers_fold_only_when_equal_across_members_and_untouched_by_the_forward_pass():
    spec = RunSpec(seed=0, **CELL).resolved()
    x = torch.randn(12, 4)

    def members(make_extra):
        torch.manual_seed(0)
        return [_Obstacle(nn.Sequential(make_extra(m), nn.ReLU())) for m in range(3)]

    step = _make_step(members(lambda m: _Scale(2.0)), spec, x)
    assert step.layout == "folded"
    step.close()
    step = _make_step(members(lambda m: _Scale(1.0 + m)), spec, x)
    assert step.layout == "vmap"
    step.close()
    built = members(lambda m: _Counter())
    step = _make_step(built, spec, x)
    assert step.layout == "vmap"
    step.close()
    # The check ran each member's forward pass on a copy: the members are as they were built.
    assert all(float(model.extra[0].calls) == 0 for model in built)
