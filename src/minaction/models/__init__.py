"""Architectures by name. Importing this package registers every model.

Baselines: mlp, cnn, gru, transformer, snn. Energy-first: bimodal (BimodalTrue), lagrangian
(PhysicsLagrangian). docs/architectures.md describes each.
"""

from minaction.models import (  # noqa: F401  (each registers its model)
    bimodal,
    cnn,
    gru,
    lagrangian,
    mlp,
    snn,
    transformer,
)
from minaction.models.lagrangian import LagrangianAction, action_loss
from minaction.models.matching import match_width, parameter_count
from minaction.models.registry import (
    ModelEntry,
    build_model,
    count_parameters,
    model_entry,
    model_names,
    register_model,
)

__all__ = [
    "LagrangianAction",
    "ModelEntry",
    "action_loss",
    "build_model",
    "count_parameters",
    "match_width",
    "model_entry",
    "model_names",
    "parameter_count",
    "register_model",
]
