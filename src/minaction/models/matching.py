"""Matching parameter counts across architectures, so that comparisons are fair.

    target = parameter_count("mlp", info)                  # the reference model's size
    width = match_width("transformer", info, target)       # the width that comes closest
    build_model("transformer", info, width=width)

Every registered model's parameter count grows with its width, so a search over widths (in the
model's width multiple) finds the closest count; depth and other options stay as given.
"""

from __future__ import annotations

import logging

import torch

from minaction.data.registry import DatasetInfo
from minaction.errors import ConfigError
from minaction.models.registry import build_model, count_parameters, model_entry

log = logging.getLogger(__name__)

MATCH_TOLERANCE = 0.10  # relative gap match_width promises to stay within, where widths allow
MAX_WIDTH = 1 << 16


def parameter_count(
    name: str, info: DatasetInfo, width: int | None = None, depth: int | None = None, **options
) -> int:
    """Trainable parameters of model `name` built for `info`, without touching the global RNG."""
    with torch.random.fork_rng(devices=[]):
        return count_parameters(build_model(name, info, width=width, depth=depth, **options))


def match_width(
    name: str,
    info: DatasetInfo,
    target_params: int,
    depth: int | None = None,
    tolerance: float = MATCH_TOLERANCE,
    **options,
) -> int:
    """The width of model `name` whose parameter count on `info` is closest to `target_params`.

    Args:
        depth: kept fixed while the width is searched (None: the model's default).
        tolerance: largest accepted relative gap |count − target| / target.
        options: passed to the builder.

    Raises:
        ConfigError: a target that is not a positive integer, or no width within `tolerance`
            (a target below the smallest model, or counts that jump past it).
    """
    if not isinstance(target_params, int) or target_params < 1:
        raise ConfigError(f"target_params must be a positive integer, got {target_params!r}")
    multiple = model_entry(name).width_multiple

    def count(units: int) -> int:
        return parameter_count(name, info, width=units * multiple, depth=depth, **options)

    # Parameters grow with width: double until the target is passed, then bisect.
    low, high = 1, 1
    while count(high) < target_params:
        low, high = high, high * 2
        if high * multiple > MAX_WIDTH:
            raise ConfigError(
                f"{name} needs a width above {MAX_WIDTH} to reach {target_params} parameters"
            )
    while high - low > 1:
        middle = (low + high) // 2
        if count(middle) < target_params:
            low = middle
        else:
            high = middle
    best = min((low, high), key=lambda units: abs(count(units) - target_params))
    gap = abs(count(best) - target_params) / target_params
    if gap > tolerance:
        raise ConfigError(
            f"no width of {name} on {info.name!r} comes within {tolerance:.0%} of "
            f"{target_params} parameters: the closest, width {best * multiple}, has "
            f"{count(best)} ({gap:.1%} off)"
        )
    log.debug(
        "%s on %s: width %d for %d parameters", name, info.name, best * multiple, target_params
    )
    return best * multiple
