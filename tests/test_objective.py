"""L = CE + λ·E against torch's cross-entropy, and λ validation."""

import math

import pytest
import torch
import torch.nn.functional as F

from minaction import energy_regularized_loss
from minaction.errors import ConfigError

LOGITS = torch.tensor([[2.0, 0.5, -1.0], [0.1, 0.2, 3.0]])
TARGETS = torch.tensor([0, 2])


def test_lambda_zero_is_plain_cross_entropy():
    loss = energy_regularized_loss(LOGITS, TARGETS, torch.tensor(123.0), lam=0)
    assert loss.item() == pytest.approx(F.cross_entropy(LOGITS, TARGETS).item())


def test_energy_term_added_with_weight_lambda():
    # CE by hand: mean of -log softmax at the targets.
    ce = (
        -sum(
            LOGITS[i, t].item() - math.log(sum(math.exp(v) for v in LOGITS[i].tolist()))
            for i, t in enumerate(TARGETS.tolist())
        )
        / 2
    )
    loss = energy_regularized_loss(LOGITS, TARGETS, torch.tensor(50.0), lam=1e-2)
    assert loss.item() == pytest.approx(ce + 0.5, rel=1e-6)


def test_gradient_flows_through_energy():
    energy = torch.tensor(4.0, requires_grad=True)
    energy_regularized_loss(LOGITS, TARGETS, energy, lam=0.25).backward()
    assert energy.grad.item() == pytest.approx(0.25)


@pytest.mark.parametrize("lam", [-1e-3, float("nan"), float("inf"), "abc", None])
def test_bad_lambda_is_rejected_with_its_value(lam):
    with pytest.raises(ConfigError, match="λ must be"):
        energy_regularized_loss(LOGITS, TARGETS, torch.tensor(1.0), lam=lam)
