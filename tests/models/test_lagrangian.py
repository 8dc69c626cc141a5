"""PhysicsLagrangian: the action terms against a trajectory worked out by hand, the force
against autograd, and the trainer's action option."""

import dataclasses

import pytest
import torch

from minaction import RunSpec, train
from minaction.errors import ConfigError
from minaction.models import action_loss, build_model
from minaction.models.lagrangian import Potential

from .synthetic import INFOS, make_inputs


def _project(q, radius):
    return q * torch.clamp(radius / q.norm(dim=-1, keepdim=True), max=1.0)


def test_action_terms_equal_the_hand_computed_trajectory():
    """Two steps with inertia β = 0.5 and a radius small enough that the constraint bites:
    v_1 = −U_1ᵀ relu(U_1 q_0 + c_1), v_2 = β v_1 − U_2ᵀ relu(U_2 q_1 + c_2), T = ½Σ‖v_k‖²."""
    torch.manual_seed(0)
    radius = 0.5
    model = build_model("lagrangian", INFOS["image"], width=8, depth=2, radius=radius)
    x = make_inputs(INFOS["image"])
    model(x)
    action = model.last_action

    with torch.no_grad():
        free = model.lift(x.flatten(1))
        q = _project(free, radius)
        violation = 0.5 * (free - q).pow(2).sum(dim=1)
        velocity = torch.zeros_like(q)
        kinetic = potential = 0.0
        for step in model.potentials:
            u, c = step.linear.weight, step.linear.bias
            z = torch.relu(q @ u.T + c)
            potential = potential + 0.5 * z.pow(2).sum(dim=1)
            velocity = 0.5 * velocity - z @ u
            kinetic = kinetic + 0.5 * velocity.pow(2).sum(dim=1)
            free = q + velocity
            q = _project(free, radius)
            violation = violation + 0.5 * (free - q).pow(2).sum(dim=1)

    torch.testing.assert_close(action.kinetic, kinetic)
    torch.testing.assert_close(action.potential, potential)
    torch.testing.assert_close(action.constraint, violation)
    assert (action.constraint > 0).all()  # the small ball was active
    assert float(action_loss(model).detach()) == pytest.approx(
        float((kinetic + potential + violation).mean()), rel=1e-6
    )


def test_force_is_minus_the_gradient_of_the_potential():
    torch.manual_seed(0)
    potential = Potential(width=5, units=7)
    q = torch.randn(3, 5, requires_grad=True)
    value, force = potential(q)
    (gradient,) = torch.autograd.grad(value.sum(), q)
    torch.testing.assert_close(force, -gradient)
    assert (value >= 0).all()


def test_action_loss_is_none_for_models_without_an_action():
    model = build_model("mlp", INFOS["image"], width=8)
    model(make_inputs(INFOS["image"]))
    assert action_loss(model) is None


def test_invalid_options_are_rejected():
    with pytest.raises(ConfigError, match="inertia"):
        build_model("lagrangian", INFOS["image"], width=8, inertia=1.0)
    with pytest.raises(ConfigError, match="radius"):
        build_model("lagrangian", INFOS["image"], width=8, radius=-1.0)


SMALL = dict(model="lagrangian", dataset="digits", epochs=1, limit_train=200, limit_test=50,
             width=16)  # fmt: skip


def test_action_weight_enters_the_loss_and_the_run_id():
    plain = train(RunSpec(**SMALL))
    weighted = train(RunSpec(action_weight=0.5, **SMALL))
    assert plain.run_id != weighted.run_id
    entry, weighted_entry = plain.history[0], weighted.history[0]
    assert entry["train_loss"] == pytest.approx(entry["train_ce"])
    assert weighted_entry["train_loss"] > weighted_entry["train_ce"]  # the action was added
    assert weighted.accuracy != plain.accuracy or weighted.energy != plain.energy


def test_default_action_weight_keeps_earlier_run_ids():
    """The id of a spec is the hash of its resolved fields; action_weight = 0 is left out, so it
    equals the id computed without the field, as before the field existed."""
    import hashlib
    import json

    spec = RunSpec(model="mlp", dataset="digits", lam=1e-3)
    fields = dataclasses.asdict(spec.resolved())
    del fields["action_weight"]
    canonical = json.dumps(fields, sort_keys=True, separators=(",", ":"))
    assert spec.run_id == hashlib.sha256(canonical.encode()).hexdigest()[:16]
    with pytest.raises(ConfigError, match="action_weight"):
        RunSpec(action_weight=-1.0).validate()
