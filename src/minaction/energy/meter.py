"""EnergyMeter: the internal activation energy E(θ, x) of a forward pass, measured through hooks.

    with EnergyMeter(model) as meter:
        logits = model(x)
        loss = energy_regularized_loss(logits, y, meter.energy(), lam=1e-3)

Energy sites are the outputs of activation modules and of explicit `EnergySite` markers. For each
sample the meter sums a² (or |a| with norm="l1") over every element of every site, and every call
of a site within one forward pass (a recurrent or spiking layer called once a time step adds each
step); `energy()` is the batch mean of that per-sample sum, differentiable with respect to the
parameters. Site tensors must have the batch on their first dimension.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field

import torch
from torch import nn

from minaction.errors import ConfigError

log = logging.getLogger(__name__)

NORMS = ("l2", "l1")

# An element counts as active when its magnitude passes this. Exact zeros are what zero-skipping
# hardware can skip; the small margin keeps float noise around zero from counting as activity.
DEFAULT_ACTIVE_THRESHOLD = 1e-6


class EnergySite(nn.Identity):
    """Identity module that marks its input as an energy site for `EnergyMeter`.

    Use it where an internal quantity is not the output of an activation module, for example a
    gated product or a state that a model computes with tensor arithmetic.
    """


# Module types whose outputs are energy sites. Later code (spiking neurons, for instance)
# extends this with `register_site_type` so that every meter sees the new kind.
_SITE_TYPES: list[type[nn.Module]] = [
    EnergySite,
    nn.ReLU,
    nn.ReLU6,
    nn.LeakyReLU,
    nn.PReLU,
    nn.RReLU,
    nn.ELU,
    nn.SELU,
    nn.CELU,
    nn.GELU,
    nn.SiLU,
    nn.Mish,
    nn.Tanh,
    nn.Sigmoid,
    nn.Hardtanh,
    nn.Hardswish,
    nn.Hardsigmoid,
    nn.Softplus,
    nn.Softsign,
    nn.Tanhshrink,
    nn.Threshold,
    nn.GLU,
    nn.LogSigmoid,
]


def register_site_type(module_type: type[nn.Module]) -> type[nn.Module]:
    """Make every output of `module_type` an energy site. Usable as a class decorator."""
    if not (isinstance(module_type, type) and issubclass(module_type, nn.Module)):
        raise TypeError(f"expected an nn.Module subclass, got {module_type!r}")
    if module_type not in _SITE_TYPES:
        _SITE_TYPES.append(module_type)
    return module_type


def site_types() -> tuple[type[nn.Module], ...]:
    """The module types whose outputs are energy sites."""
    return tuple(_SITE_TYPES)


def is_site(module: nn.Module) -> bool:
    return isinstance(module, tuple(_SITE_TYPES))


def find_sites(model: nn.Module) -> dict[str, nn.Module]:
    """Qualified name → module for every energy site in `model`, in registration order."""
    return {name or type(model).__name__: m for name, m in model.named_modules() if is_site(m)}


def _first_tensor(output: object) -> torch.Tensor | None:
    """The activation of a site: the output itself, or the first tensor of a tuple output
    (spiking neurons return (spikes, membrane))."""
    if isinstance(output, torch.Tensor):
        return output
    if isinstance(output, (tuple, list)):
        for item in output:
            if isinstance(item, torch.Tensor):
                return item
    return None


@dataclass
class _SiteState:
    energy: torch.Tensor | None = None  # (B,) per-sample sum, differentiable
    active: int = 0
    elements: int = 0
    calls: int = 0
    extra: dict = field(default_factory=dict)


class EnergyMeter:
    """Forward hooks on a model's energy sites that measure E(θ, x) of the last forward pass.

    Args:
        model: any nn.Module whose activations are modules (not functional calls).
        norm: "l2" sums a², "l1" sums |a|.
        sites: qualified module names to measure instead of the automatic choice.
        active_threshold: |a| above this counts as active.
        track_activity: count active elements. Costs a comparison per element; turn it off
            during training steps where only `energy()` is needed.

    Raises:
        ConfigError: unknown norm, a named site that does not exist, or a model with no site.
    """

    def __init__(
        self,
        model: nn.Module,
        norm: str = "l2",
        sites: Iterable[str] | None = None,
        active_threshold: float = DEFAULT_ACTIVE_THRESHOLD,
        track_activity: bool = True,
    ):
        if norm not in NORMS:
            raise ConfigError(f"unknown energy norm {norm!r}; accepted: {', '.join(NORMS)}")
        self.model = model
        self.norm = norm
        self.active_threshold = float(active_threshold)
        self.track_activity = track_activity
        self.sites = self._select_sites(model, sites)
        if not self.sites:
            raise ConfigError(
                f"{type(model).__name__} has no energy site: use activation modules "
                "(nn.ReLU, nn.GELU, ...) or mark sites with minaction.EnergySite"
            )
        self._state = {name: _SiteState() for name in self.sites}
        self._handles: list[torch.utils.hooks.RemovableHandle] = []
        self._attach()

    @staticmethod
    def _select_sites(model: nn.Module, names: Iterable[str] | None) -> dict[str, nn.Module]:
        if names is None:
            return find_sites(model)
        modules = dict(model.named_modules())
        chosen = {}
        for name in names:
            if name not in modules:
                raise ConfigError(
                    f"no module named {name!r} in {type(model).__name__}; "
                    f"known: {', '.join(n for n in modules if n) or '(none)'}"
                )
            chosen[name] = modules[name]
        return chosen

    def _attach(self) -> None:
        # A pre-hook on the root starts a new pass, so every site call inside one forward adds up.
        self._handles.append(self.model.register_forward_pre_hook(self._on_root_forward))
        for name, module in self.sites.items():
            self._handles.append(module.register_forward_hook(self._make_hook(name)))

    def _on_root_forward(self, module: nn.Module, args: tuple) -> None:
        self.reset()

    def _make_hook(self, name: str):
        def hook(module: nn.Module, args: tuple, output: object) -> None:
            activation = _first_tensor(output)
            if activation is None or activation.dim() == 0:
                return
            flat = activation.reshape(activation.shape[0], -1)  # (B, elements per sample)
            if self.norm == "l2":
                per_sample = (flat * flat).sum(dim=1)
            else:
                per_sample = flat.abs().sum(dim=1)
            state = self._state[name]
            state.energy = per_sample if state.energy is None else state.energy + per_sample
            state.calls += 1
            if self.track_activity:
                with torch.no_grad():
                    state.active += int((flat.abs() > self.active_threshold).sum())
                state.elements += flat.numel()

        return hook

    # -- results of the last forward pass ------------------------------------------------------

    def reset(self) -> None:
        """Forget the last pass. Called automatically when the model's forward starts."""
        for state in self._state.values():
            state.energy = None
            state.active = 0
            state.elements = 0
            state.calls = 0

    def per_sample_energy(self) -> torch.Tensor:
        """(B,) energy of each sample of the last pass, summed over sites; differentiable."""
        per_site = [s.energy for s in self._state.values() if s.energy is not None]
        if not per_site:
            raise RuntimeError("no forward pass measured yet: call the model first")
        total = per_site[0]
        for e in per_site[1:]:
            total = total + e
        return total

    def energy(self) -> torch.Tensor:
        """Differentiable scalar E: per-sample sum over sites and elements, mean over the batch."""
        return self.per_sample_energy().mean()

    def per_site(self) -> dict[str, float]:
        """Site name → that site's share of E (batch mean), as floats. Sites that did not run in
        the last pass are 0."""
        return {
            name: float(s.energy.detach().mean()) if s.energy is not None else 0.0
            for name, s in self._state.items()
        }

    def active_counts(self) -> tuple[int, int]:
        """(active elements, all elements) over every site of the last pass."""
        self._require_activity()
        active = sum(s.active for s in self._state.values())
        elements = sum(s.elements for s in self._state.values())
        return active, elements

    def active_fraction(self) -> float:
        """Share of site elements of the last pass with |a| above the threshold."""
        active, elements = self.active_counts()
        return active / elements if elements else 0.0

    def per_site_active_fraction(self) -> dict[str, float]:
        self._require_activity()
        return {
            name: (s.active / s.elements if s.elements else 0.0) for name, s in self._state.items()
        }

    def _require_activity(self) -> None:
        if not self.track_activity:
            raise RuntimeError("activity is not tracked: create the meter with track_activity=True")

    # -- lifetime ------------------------------------------------------------------------------

    def remove(self) -> None:
        """Remove every hook; the model is left exactly as it was before the meter."""
        for handle in self._handles:
            handle.remove()
        self._handles.clear()
        self.reset()

    @property
    def attached(self) -> bool:
        return bool(self._handles)

    def __enter__(self) -> EnergyMeter:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.remove()

    def __repr__(self) -> str:
        return f"EnergyMeter(norm={self.norm!r}, sites={len(self.sites)}, attached={self.attached})"
