"""`mlp`: the conventional multilayer perceptron baseline.

Input → flatten (tokens: embed, then flatten) → depth × [Linear → ReLU] → Linear head.
Each ReLU is an energy site.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from minaction.data.registry import DatasetInfo
from minaction.models.encoders import FlatEncoder, check_kind
from minaction.models.registry import register_model


class MLP(nn.Module):
    """depth × (Linear, ReLU) over a flat input, then a linear head.

    Args:
        in_features: width of the flat input (ignored when `encoder` is given).
        encoder: a module that turns raw inputs into (B, D) features; plain flatten when None.
    """

    def __init__(
        self,
        in_features: int,
        num_classes: int,
        width: int,
        depth: int,
        encoder: nn.Module | None = None,
    ):
        super().__init__()
        self.encoder = encoder
        layers: list[nn.Module] = [nn.Flatten()]
        features = encoder.out_features if encoder is not None else in_features
        for _ in range(depth):
            layers += [nn.Linear(features, width), nn.ReLU()]
            features = width
        self.body = nn.Sequential(*layers)
        self.head = nn.Linear(features, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.encoder is not None:
            x = self.encoder(x)  # (B, D)
        return self.head(self.body(x))  # (B, num_classes)


@register_model(
    "mlp",
    "multilayer perceptron: flatten, depth × (Linear, ReLU), linear head",
    default_width=128,
    default_depth=2,
)
def build_mlp(info: DatasetInfo, width: int, depth: int) -> MLP:
    check_kind(info)
    if info.kind == "tokens":
        encoder = FlatEncoder(info)
        return MLP(encoder.out_features, info.num_classes, width, depth, encoder=encoder)
    return MLP(math.prod(info.input_shape), info.num_classes, width, depth)
