"""The energy-regularized objective L = CE + λ·E."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from minaction.errors import ConfigError


def check_lambda(lam: float) -> float:
    """λ as a float, or a ConfigError if it is not a finite non-negative number."""
    try:
        value = float(lam)
    except (TypeError, ValueError):
        raise ConfigError(f"λ must be a non-negative number, got {lam!r}") from None
    if not math.isfinite(value) or value < 0:
        raise ConfigError(f"λ must be a finite non-negative number, got {lam!r}")
    return value


def energy_regularized_loss(
    logits: torch.Tensor, targets: torch.Tensor, energy: torch.Tensor | float, lam: float
) -> torch.Tensor:
    """Cross-entropy of `logits` against integer `targets` plus `lam` times `energy`.

    `energy` is normally `EnergyMeter.energy()` of the same forward pass. With lam = 0 the result
    is the plain cross-entropy and no gradient flows through the energy.
    """
    lam = check_lambda(lam)
    ce = F.cross_entropy(logits, targets)
    if lam == 0:
        return ce
    return ce + lam * energy
