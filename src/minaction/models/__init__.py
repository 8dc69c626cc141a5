"""Architectures by name. Importing this package registers every model."""

from minaction.models import mlp  # noqa: F401  (registers its model)
from minaction.models.registry import (
    ModelEntry,
    build_model,
    count_parameters,
    model_entry,
    model_names,
    register_model,
)

__all__ = [
    "ModelEntry",
    "build_model",
    "count_parameters",
    "model_entry",
    "model_names",
    "register_model",
]
