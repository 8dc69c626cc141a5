"""`mlp`: the conventional multilayer perceptron baseline.

Input → flatten → depth × [Linear → ReLU] → Linear head. Each ReLU is an energy site.
"""

from __future__ import annotations

import math

from torch import nn

from minaction.data.registry import DatasetInfo
from minaction.models.registry import register_model


class MLP(nn.Module):
    def __init__(self, in_features: int, num_classes: int, width: int, depth: int):
        super().__init__()
        layers: list[nn.Module] = [nn.Flatten()]
        features = in_features
        for _ in range(depth):
            layers += [nn.Linear(features, width), nn.ReLU()]
            features = width
        self.body = nn.Sequential(*layers)
        self.head = nn.Linear(features, num_classes)

    def forward(self, x):
        return self.head(self.body(x))  # (B, num_classes)


@register_model(
    "mlp",
    "multilayer perceptron: flatten, depth × (Linear, ReLU), linear head",
    default_width=128,
    default_depth=2,
    kinds=("image", "sequence", "events"),
)
def build_mlp(info: DatasetInfo, width: int, depth: int) -> MLP:
    return MLP(math.prod(info.input_shape), info.num_classes, width, depth)
