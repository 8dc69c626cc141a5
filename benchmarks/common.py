"""Shared by the benchmark scripts: inputs with Fashion-MNIST's shape and a registered name."""

from __future__ import annotations

import torch

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
