"""The model registry: every architecture reachable by name and buildable for any dataset.

    model = build_model("mlp", dataset_info("digits"), width=128, depth=2)

A builder takes the dataset's `DatasetInfo` (input kind, shape, classes) and the size settings,
and returns an nn.Module mapping a batch of inputs to logits. Activations must be modules, so that
`EnergyMeter` sees them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from torch import nn

from minaction.data.registry import DatasetInfo
from minaction.errors import ConfigError, UnknownNameError

Builder = Callable[..., nn.Module]


@dataclass(frozen=True)
class ModelEntry:
    name: str
    description: str
    builder: Builder
    default_width: int
    default_depth: int | None
    kinds: tuple[str, ...]  # input kinds the builder accepts
    width_multiple: int = 1  # widths must be a multiple of this (attention heads, for instance)


_REGISTRY: dict[str, ModelEntry] = {}


def register_model(
    name: str,
    description: str,
    default_width: int,
    default_depth: int | None = None,
    kinds: tuple[str, ...] = ("image", "sequence", "events", "tokens"),
    width_multiple: int = 1,
) -> Callable[[Builder], Builder]:
    """Register the decorated builder `builder(info, width, depth, **options) -> nn.Module`.

    `width_multiple`: accepted widths are multiples of it; `build_model` rejects others.
    """

    def decorator(builder: Builder) -> Builder:
        _REGISTRY[name] = ModelEntry(
            name, description, builder, default_width, default_depth, tuple(kinds), width_multiple
        )
        return builder

    return decorator


def model_names() -> list[str]:
    return list(_REGISTRY)


def model_entry(name: str) -> ModelEntry:
    try:
        return _REGISTRY[name]
    except KeyError:
        raise UnknownNameError(
            f"unknown model {name!r}; known: {', '.join(sorted(_REGISTRY))}"
        ) from None


def build_model(
    name: str,
    info: DatasetInfo,
    width: int | None = None,
    depth: int | None = None,
    **options,
) -> nn.Module:
    """Build model `name` for a dataset. `width`/`depth` default to the model's own defaults.

    Raises:
        UnknownNameError: no such model.
        ConfigError: a size that is not a positive integer, or an input kind the model lacks.
    """
    entry = model_entry(name)
    if info.kind not in entry.kinds:
        raise ConfigError(
            f"model {name!r} does not take {info.kind!r} inputs (dataset {info.name!r}); "
            f"it takes: {', '.join(entry.kinds)}"
        )
    width = entry.default_width if width is None else width
    depth = entry.default_depth if depth is None else depth
    for label, value in (("width", width), ("depth", depth)):
        if value is not None and (not isinstance(value, int) or value < 1):
            raise ConfigError(f"{label} must be a positive integer, got {value!r}")
    if width % entry.width_multiple:
        raise ConfigError(
            f"model {name!r} needs a width that is a multiple of {entry.width_multiple}, "
            f"got {width}"
        )
    return entry.builder(info, width=width, depth=depth, **options)


def count_parameters(model: nn.Module) -> int:
    """Trainable parameters of `model`."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
