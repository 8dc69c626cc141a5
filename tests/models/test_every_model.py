"""Every registered model on every input kind: shapes, gradients, energy, determinism, MACs,
parameter counts and that no activation escapes the energy meter.

Parametrized over `model_names()`, so a model added to the registry is tested here unchanged.
"""

from __future__ import annotations

import contextlib
import io
import json

import pytest
import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode

from minaction import EnergyMeter, count_macs
from minaction.cli import main as cli_main
from minaction.data import dataset_info
from minaction.energy.meter import is_site
from minaction.models import build_model, count_parameters, model_names

from .synthetic import INFOS, KINDS, make_inputs, tiny_width

MODELS = model_names()
CASES = [(name, kind) for name in MODELS for kind in KINDS]


def _build(name: str, kind: str, seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return build_model(name, INFOS[kind], width=tiny_width(name))


@pytest.mark.parametrize(("name", "kind"), CASES)
def test_output_is_batch_by_classes(name, kind):
    model = _build(name, kind)
    logits = model(make_inputs(INFOS[kind]))
    assert logits.shape == (4, 3)
    assert torch.isfinite(logits).all()


@pytest.mark.parametrize(("name", "kind"), CASES)
def test_backward_reaches_every_parameter(name, kind):
    model = _build(name, kind)
    model(make_inputs(INFOS[kind])).logsumexp(dim=1).sum().backward()
    nonzero = 0
    for param_name, param in model.named_parameters():
        assert param.grad is not None, f"{param_name} got no gradient"
        assert torch.isfinite(param.grad).all(), f"{param_name} has a non-finite gradient"
        nonzero += int(torch.count_nonzero(param.grad) > 0)
    assert nonzero > 0


@pytest.mark.parametrize(("name", "kind"), CASES)
def test_energy_is_positive_and_finite(name, kind):
    model = _build(name, kind)
    with EnergyMeter(model) as meter:
        model(make_inputs(INFOS[kind]))
        energy = meter.energy()
    assert torch.isfinite(energy) and energy > 0
    assert energy.requires_grad  # the objective can weigh it


@pytest.mark.parametrize(("name", "kind"), CASES)
def test_same_seed_same_output_other_seed_other_output(name, kind):
    x = make_inputs(INFOS[kind])
    first = _build(name, kind, seed=1)(x)
    again = _build(name, kind, seed=1)(x)
    other = _build(name, kind, seed=2)(x)
    assert torch.equal(first, again)
    assert not torch.equal(first, other)


@pytest.mark.parametrize(("name", "kind"), CASES)
def test_mac_count_is_consistent(name, kind):
    model = _build(name, kind).eval()
    macs = count_macs(model, make_inputs(INFOS[kind]))
    assert macs.dense > 0
    assert 0 <= macs.effective <= macs.dense
    assert macs.synops >= 0
    for layer, ops in macs.per_layer.items():
        assert 0 <= ops.effective <= ops.dense, layer


# -- no activation the meter cannot see --------------------------------------------------------

# aten operations that make a non-linear, element-wise activation: activation functions,
# softmax, thresholds (spikes, gates), clamps and exponentials. Each must run inside the forward
# of an energy-site module, whose output the meter then measures. Products of activations, sums,
# normalization (LayerNorm) and pooling by averaging are not activations under DESIGN.md.
ACTIVATION_OPS = {
    "relu", "sigmoid", "tanh", "gelu", "silu", "elu", "celu", "selu", "leaky_relu", "prelu",
    "_prelu_kernel", "rrelu_with_noise", "hardtanh", "hardsigmoid", "hardswish", "softplus",
    "mish", "log_sigmoid_forward", "softshrink", "hardshrink", "threshold", "_softmax",
    "_log_softmax", "clamp", "clamp_min", "clamp_max", "gt", "lt", "ge", "le", "heaviside",
    "sign", "exp", "log", "maximum", "minimum", "max_pool2d_with_indices", "where",
}  # fmt: skip

# Fused layers whose internal activations no hook can reach.
FUSED = (nn.RNNBase, nn.MultiheadAttention, nn.TransformerEncoderLayer, nn.TransformerDecoderLayer)


class _ActivationRecorder(TorchDispatchMode):
    """Records every activation op of a forward pass and whether a site module was running."""

    def __init__(self):
        super().__init__()
        self.site_depth = 0
        self.inside: list[str] = []
        self.outside: list[str] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        op = func.overloadpacket.__name__.rstrip("_")  # relu_ and relu alike
        if op in ACTIVATION_OPS:
            (self.inside if self.site_depth else self.outside).append(op)
        return func(*args, **(kwargs or {}))


@pytest.mark.parametrize(("name", "kind"), CASES)
def test_no_activation_escapes_the_meter(name, kind):
    model = _build(name, kind)
    fused = [n for n, m in model.named_modules() if isinstance(m, FUSED)]
    assert not fused, f"fused layers hide their activations: {fused}"

    recorder = _ActivationRecorder()

    def enter(module, args):
        recorder.site_depth += 1

    def leave(module, args, output):
        recorder.site_depth -= 1

    handles = []
    for module in model.modules():
        if is_site(module):
            handles.append(module.register_forward_pre_hook(enter))
            handles.append(module.register_forward_hook(leave, always_call=True))
    x = make_inputs(INFOS[kind])
    try:
        with recorder:
            model(x)
    finally:
        for handle in handles:
            handle.remove()
    assert recorder.inside, "the recorder saw no activation at all: the check would be vacuous"
    assert not recorder.outside, f"activations outside any energy site: {recorder.outside}"


# -- parameter counts as the command line lists them -------------------------------------------


@pytest.fixture(scope="module")
def cli_listing() -> dict[str, dict]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert cli_main(["models", "--dataset", "digits", "--json"]) == 0
    return {item["name"]: item for item in json.loads(out.getvalue())}


@pytest.mark.parametrize("name", MODELS)
def test_parameter_count_matches_cli_listing(name, cli_listing):
    torch.manual_seed(0)
    model = build_model(name, dataset_info("digits"))
    assert cli_listing[name]["parameters"] == count_parameters(model)
    assert cli_listing[name]["macs_dense"] > 0
    assert cli_listing[name]["description"]
