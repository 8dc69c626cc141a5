"""Spiking network: synaptic operations and spike counts against hand counts."""

import torch

from minaction import EnergyMeter, count_macs
from minaction.models import build_model
from minaction.models.snn import SpikingLinear

from .synthetic import INFOS


def test_synops_are_spikes_times_fan_out():
    """4 spikes over a batch of 2 into 3 targets: 12 synaptic operations, 6 a sample; no
    multiply is needed, and the dense count is 4 · 3 = 12 MACs a sample."""
    layer = SpikingLinear(4, 3)
    spikes = torch.tensor([[1.0, 0.0, 1.0, 1.0], [0.0, 0.0, 0.0, 1.0]])
    macs = count_macs(layer, spikes)
    assert macs.synops == 6
    assert macs.effective == 0
    assert macs.dense == 12


def test_graded_input_is_counted_as_macs():
    layer = SpikingLinear(4, 3)
    macs = count_macs(layer, torch.tensor([[0.5, 0.0, 1.0, 2.0]]))
    assert macs.synops == 0
    assert macs.effective == 3 * 3


def test_model_synops_match_its_spike_counts_and_the_meter():
    """Spikes of the input neurons reach width targets, those of the last layer the 3 classes."""
    torch.manual_seed(0)
    width = 16
    model = build_model("snn", INFOS["image"], width=width, depth=2).eval()
    x = 3 * torch.rand(8, 1, 6, 6)  # strong enough input to make the first layer fire
    macs = count_macs(model, x)
    spikes = {layer: float(count.mean()) for layer, count in model.last_spikes.items()}
    assert spikes["input_neurons"] > 0
    expected = spikes["input_neurons"] * width + spikes["neurons.0"] * 3
    assert macs.synops == expected

    # Spikes are 0 or 1, so a neuron layer's l2 energy is its spike count.
    with EnergyMeter(model) as meter:
        model(x)
        per_site = meter.per_site()
    assert per_site["input_neurons"] == spikes["input_neurons"]
    assert per_site["neurons.0"] == spikes["neurons.0"]


def test_surrogate_matches_snntorch_arctan():
    """The restated surrogate is snntorch's default, forward and backward."""
    import snntorch.surrogate

    from minaction.models.snn import arctan_spike

    x = torch.linspace(-2, 2, 41, requires_grad=True)
    ours = arctan_spike(x)
    (ours_grad,) = torch.autograd.grad(ours.sum(), x)
    reference = snntorch.surrogate.atan()(x)
    (reference_grad,) = torch.autograd.grad(reference.sum(), x)
    assert torch.equal(ours, reference)
    torch.testing.assert_close(ours_grad, reference_grad)
