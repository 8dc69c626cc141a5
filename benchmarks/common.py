"""Shared by the benchmark scripts: inputs with Fashion-MNIST's shape, a registered name, and the
trainer's training step."""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

from minaction import EnergyMeter, energy_regularized_loss
from minaction.data import Dataset, DatasetInfo

# "digits" is a registered name, so RunSpecs naming it validate; the tensors are our own.
FASHION_LIKE = DatasetInfo(
    name="digits",
    modality="vision",
    kind="image",
    input_shape=(1, 28, 28),
    classes=tuple(str(i) for i in range(10)),
    description="random tensors with Fashion-MNIST's shape",
    source="torch.rand",
    split="-",
    normalization="-",
    offline=True,
)


def fashion_like(n_train: int, n_test: int = 64) -> Dataset:
    """Random data of Fashion-MNIST's shape: only time is measured, so values do not matter."""
    g = torch.Generator().manual_seed(0)
    return Dataset(
        FASHION_LIKE,
        torch.rand(n_train, 1, 28, 28, generator=g),
        torch.randint(0, 10, (n_train,), generator=g),
        torch.rand(n_test, 1, 28, 28, generator=g),
        torch.randint(0, 10, (n_test,), generator=g),
    )


def training_step(
    model: torch.nn.Module, meter: str
) -> Callable[[torch.Tensor, torch.Tensor], None]:
    """One optimizer step of `model` on (x, y), as the trainer takes it (fused Adam).

    `meter`: "none" (no meter), "attached" (the meter's hooks run, the loss is plain CE) or
    "loss" (CE + λ·E with λ = 1e-3).
    """
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4, fused=True)
    energy_meter = EnergyMeter(model, track_activity=False) if meter != "none" else None

    def step(x: torch.Tensor, y: torch.Tensor) -> None:
        logits = model(x)
        if meter == "loss":
            loss = energy_regularized_loss(logits, y, energy_meter.energy(), lam=1e-3)
        else:
            loss = F.cross_entropy(logits, y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    return step
