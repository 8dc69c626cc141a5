"""`snn`: a spiking baseline of leaky integrate-and-fire neurons trained with surrogate gradients.

Steps (a static image shown whole at each of `steps` steps, time steps, event bins or embedded
tokens) → Linear → LIF → (depth − 1) × [SpikingLinear → LIF] → SpikingLinear head, whose output
is averaged over the steps into logits (rate decoding).

The neurons are snntorch's `Leaky` (membrane u_t = β·u_{t−1} + I_t − S_{t−1}·θ, spike
S_t = 1[u_t > θ]) with an arctangent surrogate for dS/du, snntorch's own, restated here so it
also runs under vmap. Each call returns (spikes, membrane); the
spikes are the energy site, so with the l2 norm a neuron's energy is its spike count. Layers fed
by spikes are `SpikingLinear`: their MAC rule counts synaptic operations (one accumulate for
each spike and each target, spikes × fan-out) instead of multiply-accumulates. Spike counts per
sample of the last forward pass are in `SNN.last_spikes`.
"""

from __future__ import annotations

import math

import snntorch
import torch
from torch import nn

from minaction.data.registry import DatasetInfo
from minaction.energy.meter import register_site_type
from minaction.energy.ops import register_mac_rule
from minaction.errors import ConfigError
from minaction.models.encoders import DEFAULT_STATIC_STEPS, StepEncoder
from minaction.models.registry import register_model

DEFAULT_BETA = 0.9  # membrane decay per step
DEFAULT_THRESHOLD = 1.0
SURROGATE_ALPHA = 2.0  # width of the arctangent surrogate, snntorch's default


class ArctanSpike(torch.autograd.Function):
    """Heaviside spike forward; derivative of (1/π)·arctan(π·α·x/2) backward.

    The same surrogate as snntorch's default `atan`, written with `setup_context` so that it
    also runs under torch.func transforms (vmap), which the batched-seeds trainer uses.
    """

    generate_vmap_rule = True

    @staticmethod
    def forward(membrane_shift: torch.Tensor, alpha: float) -> torch.Tensor:
        return (membrane_shift > 0).to(membrane_shift.dtype)

    @staticmethod
    def setup_context(ctx, inputs: tuple, output: torch.Tensor) -> None:
        membrane_shift, alpha = inputs
        ctx.save_for_backward(membrane_shift)
        ctx.alpha = alpha

    @staticmethod
    def backward(ctx, grad_output: torch.Tensor):
        (membrane_shift,) = ctx.saved_tensors
        slope = ctx.alpha / 2 / (1 + (math.pi / 2 * ctx.alpha * membrane_shift) ** 2)
        return grad_output * slope, None


def arctan_spike(membrane_shift: torch.Tensor) -> torch.Tensor:
    return ArctanSpike.apply(membrane_shift, SURROGATE_ALPHA)


@register_site_type
class LIF(snntorch.Leaky):
    """snntorch's leaky integrate-and-fire neuron, registered as an energy site.

    NOTE: snntorch keeps every neuron ever built in the class list `SpikingNeuron.instances`
    (used only for `init_hidden=True`, which minaction does not use); each LIF takes itself off
    that list so that building many models in one process does not keep them all alive.
    """

    def __init__(self, beta: float = DEFAULT_BETA, threshold: float = DEFAULT_THRESHOLD):
        super().__init__(beta=beta, threshold=threshold, spike_grad=arctan_spike)
        instances = snntorch.SpikingNeuron.instances
        if instances and instances[-1] is self:
            instances.pop()

    def run(self, current: torch.Tensor) -> torch.Tensor:
        """Spikes (B, T, N) for input currents (B, T, N), starting from a membrane at rest."""
        membrane = torch.zeros_like(current[:, 0])
        spikes = []
        for current_t in current.unbind(dim=1):  # unbind: one backward node, not T selections
            spike, membrane = self(current_t, membrane)  # (B, N) each; a site call a step
            spikes.append(spike)
        # Drop the membrane snntorch keeps on the module, so the graph is not held after the pass.
        self.mem = torch.zeros(0)
        return torch.stack(spikes, dim=1)


class SpikingLinear(nn.Linear):
    """A Linear layer whose input is spikes (0 or 1): each spike adds one weight column.

    Its MAC rule reports synaptic operations, spikes × out_features, and no multiply-accumulate.
    Fed anything but 0/1 values it is counted like an ordinary Linear layer.
    """


@register_mac_rule(SpikingLinear)
def _spiking_linear_ops(module: SpikingLinear, inputs: tuple, output: object):
    x = inputs[0]  # (..., in_features)
    positions = x.numel() // module.in_features
    dense = float(positions * module.in_features * module.out_features)
    active = int(torch.count_nonzero(x))
    if bool(((x == 0) | (x == 1)).all()):
        return dense, 0.0, float(active * module.out_features)
    return dense, float(active * module.out_features), 0.0


class SNN(nn.Module):
    def __init__(
        self,
        info: DatasetInfo,
        width: int,
        depth: int,
        steps: int = DEFAULT_STATIC_STEPS,
        beta: float = DEFAULT_BETA,
    ):
        super().__init__()
        if not 0 <= beta <= 1:
            raise ConfigError(f"beta (membrane decay) must be in [0, 1], got {beta!r}")
        self.encoder = StepEncoder(info, image_mode="static", static_steps=steps)
        self.input = nn.Linear(self.encoder.out_features, width)
        self.input_neurons = LIF(beta)
        self.synapses = nn.ModuleList(SpikingLinear(width, width) for _ in range(depth - 1))
        self.neurons = nn.ModuleList(LIF(beta) for _ in range(depth - 1))
        self.head = SpikingLinear(width, info.num_classes)
        self.last_spikes: dict[str, torch.Tensor] = {}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # NOTE: a static image gives the same input current at every step; it is computed and
        # counted at each step, as a layer without a cache would, so its MACs are T times one.
        steps = self.encoder(x)  # (B, T, F)
        spikes = self.input_neurons.run(self.input(steps))  # (B, T, width)
        counts = {"input_neurons": spikes.detach().sum(dim=(1, 2))}
        for index, (synapse, neurons) in enumerate(zip(self.synapses, self.neurons, strict=True)):
            # Layers are feedforward, so a layer's currents for all steps come in one call.
            spikes = neurons.run(synapse(spikes))  # (B, T, width)
            counts[f"neurons.{index}"] = spikes.detach().sum(dim=(1, 2))
        self.last_spikes = counts  # layer → spikes per sample (B,)
        return self.head(spikes).mean(dim=1)  # (B, num_classes)


@register_model(
    "snn",
    "spiking network: depth × (Linear, leaky integrate-and-fire) over steps, rate readout",
    default_width=128,
    default_depth=2,
)
def build_snn(
    info: DatasetInfo, width: int, depth: int, steps: int = DEFAULT_STATIC_STEPS, beta=DEFAULT_BETA
) -> SNN:
    return SNN(info, width, depth, steps=steps, beta=beta)
