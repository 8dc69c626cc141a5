"""Multiply-accumulates of a forward pass: dense (every product) and effective (zeros skipped).

    macs = count_macs(model, x)          # one forward pass over batch x, no gradients
    macs.dense, macs.effective           # per sample, all counted layers
    macs.per_layer["net.0"].effective

A product w·a is *effective* when the input element a is non-zero: that is the work a
zero-skipping accelerator executes. Dense counts follow the usual convention (padding positions of
a convolution count, bias additions do not). Rules are registered per layer type, so later layer
kinds (recurrent cells, attention, spiking synapses) add their own counting with
`register_mac_rule`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn


@dataclass
class LayerOps:
    """Operations of one layer over a whole batch (divide by the batch for per-sample figures)."""

    dense: float = 0.0
    effective: float = 0.0
    synops: float = 0.0  # accumulate-only synaptic operations of spiking layers
    calls: int = 0


@dataclass
class MacCount:
    """Per-sample operation counts of one forward pass.

    Attributes:
        dense: multiply-accumulates if every product is executed.
        effective: multiply-accumulates whose input element is non-zero.
        synops: synaptic operations (spikes × fan-out) of spiking layers, accumulates only.
        per_layer: layer name → LayerOps, per sample.
        batch_size: samples in the batch the count was taken on.
    """

    dense: float
    effective: float
    synops: float = 0.0
    per_layer: dict[str, LayerOps] = field(default_factory=dict)
    batch_size: int = 1

    @property
    def effective_ratio(self) -> float:
        return self.effective / self.dense if self.dense else 0.0

    def to_dict(self) -> dict:
        return {
            "dense": self.dense,
            "effective": self.effective,
            "synops": self.synops,
            "per_layer": {
                name: {"dense": op.dense, "effective": op.effective, "synops": op.synops}
                for name, op in self.per_layer.items()
            },
        }


# A rule gets (module, inputs, output) of one call and returns (dense, effective, synops) summed
# over the whole batch.
MacRule = Callable[[nn.Module, tuple, object], tuple[float, float, float]]
_RULES: dict[type[nn.Module], MacRule] = {}


def register_mac_rule(module_type: type[nn.Module]) -> Callable[[MacRule], MacRule]:
    """Register how a layer type's multiply-accumulates are counted (decorator)."""

    def decorator(rule: MacRule) -> MacRule:
        _RULES[module_type] = rule
        return rule

    return decorator


def _rule_for(module: nn.Module) -> MacRule | None:
    for klass in type(module).__mro__:
        if klass in _RULES:
            return _RULES[klass]
    return None


@register_mac_rule(nn.Linear)
def _linear_ops(module: nn.Linear, inputs: tuple, output: object) -> tuple[float, float, float]:
    x = inputs[0]  # (..., in_features)
    positions = x.numel() // module.in_features
    dense = positions * module.in_features * module.out_features
    # Each non-zero input element meets out_features weights.
    effective = int(torch.count_nonzero(x)) * module.out_features
    return float(dense), float(effective), 0.0


def _conv_ops(module: nn.modules.conv._ConvNd, inputs: tuple, output: object):
    x = inputs[0]
    out = output
    dims = x.dim() - 2
    if dims not in (1, 2, 3) or not isinstance(out, torch.Tensor):
        return 0.0, 0.0, 0.0
    groups = module.groups
    cin_per_group = module.in_channels // groups
    cout_per_group = module.out_channels // groups
    kernel = 1
    for k in module.kernel_size:
        kernel *= k
    out_positions = out[0, 0].numel() * out.shape[0]
    dense = out_positions * module.out_channels * cin_per_group * kernel

    # Effective: for every output position, the non-zero inputs inside its receptive field,
    # found by convolving the non-zero mask with a kernel of ones, one filter per group.
    mask = (x != 0).to(torch.float64)
    ones = torch.ones((groups, cin_per_group, *module.kernel_size), dtype=torch.float64)
    conv = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}[dims]
    if module.padding_mode != "zeros":
        # NOTE: non-zero padding modes pad with copies of real inputs; counting them exactly
        # needs the padded tensor, so pad the mask the same way and convolve without padding.
        mask = F.pad(mask, module._reversed_padding_repeated_twice, mode=module.padding_mode)
        padding = 0
    else:
        padding = module.padding
    nonzero_in_field = conv(
        mask, ones, stride=module.stride, padding=padding, dilation=module.dilation, groups=groups
    )  # (B, groups, *out_spatial)
    effective = float(nonzero_in_field.sum()) * cout_per_group
    return float(dense), effective, 0.0


for _conv_type in (nn.Conv1d, nn.Conv2d, nn.Conv3d):
    register_mac_rule(_conv_type)(_conv_ops)


@torch.no_grad()
def count_macs(model: nn.Module, x: torch.Tensor) -> MacCount:
    """Dense and effective multiply-accumulates per sample of one forward pass of `model` on `x`.

    Layers without a registered rule are not counted; the count is per sample over the batch.
    The model's training flag is kept, so call `model.eval()` first for inference figures.
    """
    counts: dict[str, LayerOps] = {}
    handles = []

    def make_hook(name: str, rule: MacRule):
        def hook(module: nn.Module, inputs: tuple, output: object) -> None:
            dense, effective, synops = rule(module, inputs, output)
            op = counts.setdefault(name, LayerOps())
            op.dense += dense
            op.effective += effective
            op.synops += synops
            op.calls += 1

        return hook

    for name, module in model.named_modules():
        rule = _rule_for(module)
        if rule is not None:
            handles.append(module.register_forward_hook(make_hook(name, rule)))
    try:
        model(x)
    finally:
        for handle in handles:
            handle.remove()

    batch = x.shape[0] if x.dim() > 0 else 1
    per_layer = {
        name: LayerOps(op.dense / batch, op.effective / batch, op.synops / batch, op.calls)
        for name, op in counts.items()
    }
    return MacCount(
        dense=sum(op.dense for op in per_layer.values()),
        effective=sum(op.effective for op in per_layer.values()),
        synops=sum(op.synops for op in per_layer.values()),
        per_layer=per_layer,
        batch_size=batch,
    )
