"""EnergyMeter against hand computations.

The fixture network has fixed weights chosen so that every figure can be worked out on paper:

    x = [[1, 2], [3, -1]]
    h = W1 x + b1, W1 = [[1, -1], [2, 0], [0, 1]], b1 = [0, 0, -1]
      sample 0: h = [-1, 2, 1]  → relu [0, 2, 1]   (a² sums to 5,  |a| to 3,  2 of 3 active)
      sample 1: h = [4, 6, -2]  → relu [4, 6, 0]   (a² sums to 52, |a| to 10, 2 of 3 active)
    s = [1, 1, 1] · relu(h), marked with EnergySite
      sample 0: s = 3                               (a² = 9,   |a| = 3)
      sample 1: s = 10                              (a² = 100, |a| = 10)

    l2: E_relu = (5 + 52) / 2 = 28.5, E_site = (9 + 100) / 2 = 54.5, E = 83
    l1: E_relu = (3 + 10) / 2 = 6.5,  E_site = (3 + 10) / 2 = 6.5,   E = 13
    active fraction = (2 + 2 + 1 + 1) / (3 + 3 + 1 + 1) = 0.75
"""

import pytest
import torch
from torch import nn

from minaction import EnergyMeter, EnergySite
from minaction.errors import ConfigError

X = torch.tensor([[1.0, 2.0], [3.0, -1.0]])


class HandNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(2, 3)
        self.act = nn.ReLU()
        self.fc2 = nn.Linear(3, 1, bias=False)
        self.mark = EnergySite()
        self.head = nn.Linear(1, 2)
        with torch.no_grad():
            self.fc1.weight.copy_(torch.tensor([[1.0, -1.0], [2.0, 0.0], [0.0, 1.0]]))
            self.fc1.bias.copy_(torch.tensor([0.0, 0.0, -1.0]))
            self.fc2.weight.fill_(1.0)

    def forward(self, x):
        return self.head(self.mark(self.fc2(self.act(self.fc1(x)))))


def test_l2_energy_per_site_and_active_fraction_match_hand_computation():
    net = HandNet()
    with EnergyMeter(net) as meter:
        net(X)
        assert meter.energy().item() == pytest.approx(83.0)
        assert meter.per_site() == pytest.approx({"act": 28.5, "mark": 54.5})
        assert meter.per_sample_energy().tolist() == pytest.approx([5 + 9, 52 + 100])
        assert meter.active_fraction() == pytest.approx(0.75)


def test_l1_energy_matches_hand_computation():
    net = HandNet()
    with EnergyMeter(net, norm="l1") as meter:
        net(X)
        assert meter.energy().item() == pytest.approx(13.0)
        assert meter.per_site() == pytest.approx({"act": 6.5, "mark": 6.5})


def test_gradient_of_energy_reaches_first_layer_and_equals_functional_oracle():
    net = HandNet()
    lam = 1e-2
    with EnergyMeter(net) as meter:
        net(X)
        (lam * meter.energy()).backward()
    grad_meter = net.fc1.weight.grad.clone()
    assert grad_meter.abs().sum() > 0

    # The same quantity written out with functional calls, no hooks involved.
    net.zero_grad()
    h = torch.relu(net.fc1(X))
    s = net.fc2(h)
    energy = ((h**2).sum(1) + (s**2).sum(1)).mean()
    (lam * energy).backward()
    torch.testing.assert_close(grad_meter, net.fc1.weight.grad)


def test_site_called_several_times_in_one_pass_accumulates_and_next_pass_resets():
    class Recurrent(nn.Module):
        def __init__(self):
            super().__init__()
            self.act = nn.Tanh()

        def forward(self, x):
            for _ in range(3):
                x = self.act(x)
            return x

    model = Recurrent()
    x = torch.tensor([[0.5, -1.0]])
    with EnergyMeter(model) as meter:
        model(x)
        steps, expected = x, 0.0
        for _ in range(3):
            steps = torch.tanh(steps)
            expected += float((steps**2).sum())
        assert meter.energy().item() == pytest.approx(expected)
        model(x)  # a second pass must not add to the first
        assert meter.energy().item() == pytest.approx(expected)


def _hook_count(model: nn.Module) -> int:
    return sum(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in model.modules())


def test_remove_leaves_model_exactly_as_it_was():
    net = HandNet()
    state = {k: v.clone() for k, v in net.state_dict().items()}
    before = net(X).detach()
    assert _hook_count(net) == 0
    meter = EnergyMeter(net)
    assert _hook_count(net) > 0
    net(X)
    meter.remove()
    assert _hook_count(net) == 0
    assert not meter.attached
    for key, value in net.state_dict().items():
        assert torch.equal(value, state[key])
    assert torch.equal(net(X), before)


def test_context_manager_removes_hooks_even_on_error():
    net = HandNet()
    with pytest.raises(RuntimeError, match="boom"), EnergyMeter(net):
        raise RuntimeError("boom")
    assert _hook_count(net) == 0


def test_two_meters_do_not_interfere():
    net = HandNet()
    l2 = EnergyMeter(net, norm="l2")
    l1 = EnergyMeter(net, norm="l1")
    net(X)
    assert l2.energy().item() == pytest.approx(83.0)
    assert l1.energy().item() == pytest.approx(13.0)
    l1.remove()
    net(X[:1])  # sample 0 alone: 5 + 9
    assert l2.energy().item() == pytest.approx(14.0)
    l2.remove()
    assert _hook_count(net) == 0


def test_explicit_site_selection_and_errors():
    net = HandNet()
    with EnergyMeter(net, sites=["act"]) as meter:
        net(X)
        assert meter.energy().item() == pytest.approx(28.5)
    with pytest.raises(ConfigError, match="no module named 'nope'"):
        EnergyMeter(net, sites=["nope"])
    with pytest.raises(ConfigError, match="unknown energy norm 'l3'"):
        EnergyMeter(net, norm="l3")
    with pytest.raises(ConfigError, match="has no energy site"):
        EnergyMeter(nn.Linear(2, 2))


def test_energy_before_any_forward_pass_is_an_error():
    with EnergyMeter(HandNet()) as meter, pytest.raises(RuntimeError, match="no forward pass"):
        meter.energy()


def test_activity_not_tracked_is_an_error_not_a_zero():
    net = HandNet()
    with EnergyMeter(net, track_activity=False) as meter:
        net(X)
        with pytest.raises(RuntimeError, match="not tracked"):
            meter.active_fraction()


class InPlaceAfterSite(nn.Module):
    """A site whose output a later operation changes in place."""

    def __init__(self):
        super().__init__()
        self.act = nn.ReLU()

    def forward(self, x):
        a = self.act(x)
        a.mul_(2.0)
        return a


def test_site_output_changed_in_place_is_an_error_not_a_wrong_energy():
    # E is read from the site's outputs when asked for, so a later in-place change would be
    # counted; the meter refuses instead and names the fix.
    net = InPlaceAfterSite()
    with EnergyMeter(net) as meter:
        with torch.no_grad():
            net(X)
        with pytest.raises(RuntimeError, match=r"modified in place.*out of place"):
            meter.energy()
        with pytest.raises(RuntimeError, match="modified in place"):
            meter.per_site()


def test_scalar_energy_is_the_batch_mean_of_the_per_sample_energy():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(5, 7), nn.ReLU(), nn.Linear(7, 4), nn.Tanh(), nn.Linear(4, 2))
    x = torch.randn(9, 5)
    relu = net[1](net[0](x))
    tanh = net[3](net[2](relu))
    for norm in ("l2", "l1"):
        if norm == "l2":
            oracle = (relu.pow(2).sum(1) + tanh.pow(2).sum(1)).mean()
        else:
            oracle = (relu.abs().sum(1) + tanh.abs().sum(1)).mean()
        with EnergyMeter(net, norm=norm) as meter:
            net(x)
            assert meter.energy().item() == pytest.approx(oracle.item(), rel=1e-6)
            assert meter.per_sample_energy().mean().item() == pytest.approx(oracle.item(), rel=1e-6)
