"""Synthetic datasets, one for each input kind, small enough for a model to run in milliseconds.

Tests build every registered model on each of these, so they depend on no downloaded data.
"""

from __future__ import annotations

import torch

from minaction.data.registry import DatasetInfo
from minaction.models import model_entry


def _info(kind: str, shape: tuple[int, ...], vocab_size: int | None = None) -> DatasetInfo:
    return DatasetInfo(
        name=f"synthetic-{kind}",
        modality="vision",
        kind=kind,
        input_shape=shape,
        classes=("a", "b", "c"),
        description=f"random {kind} inputs for tests",
        source="generated",
        split="none",
        normalization="none",
        offline=True,
        vocab_size=vocab_size,
    )


INFOS = {
    "image": _info("image", (1, 6, 6)),
    "sequence": _info("sequence", (7, 3)),
    "events": _info("events", (4, 2, 5, 5)),
    "tokens": _info("tokens", (9,), vocab_size=20),
}
KINDS = tuple(INFOS)
BATCH = 4


def make_inputs(info: DatasetInfo, batch: int = BATCH, seed: int = 0) -> torch.Tensor:
    """A batch of inputs of `info`'s kind: floats in [0, 1) for images, normal floats for
    sequences, Poisson event counts, int64 token ids."""
    generator = torch.Generator().manual_seed(seed)
    shape = (batch, *info.input_shape)
    if info.kind == "image":
        return torch.rand(shape, generator=generator)
    if info.kind == "sequence":
        return torch.randn(shape, generator=generator)
    if info.kind == "events":
        return torch.poisson(torch.full(shape, 0.7), generator=generator)
    return torch.randint(0, info.vocab_size, shape, generator=generator)


def tiny_width(name: str) -> int:
    """The smallest width worth testing: 8 units, or two of the model's width multiple."""
    return max(8, 2 * model_entry(name).width_multiple)
