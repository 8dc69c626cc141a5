"""`cnn`: a convolutional baseline whose convolution has as many axes as the input has.

| kind     | layout seen by the convolutions          | convolution |
|----------|------------------------------------------|-------------|
| image    | (C, H, W)                                | Conv2d      |
| sequence | (F, T): features as channels, over time  | Conv1d      |
| events   | (2, T, H, W): polarity as channels       | Conv3d      |
| tokens   | (E, T): embedding as channels            | Conv1d      |

Body: depth × [ConvNd(3, padding 1) → ReLU], with a 2× average pool before every block after the
first along each axis of at least 8; then an adaptive average pool to at most 4 positions an
axis, flatten, linear head. Pooling is by averaging, a linear map, so the ReLUs are the only
energy sites.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from minaction.data.registry import DatasetInfo
from minaction.models.encoders import DEFAULT_EMBED_DIM, TokenEmbedding, check_kind
from minaction.models.registry import register_model

POOLED_SIZE = 4  # positions an axis left for the head

_CONV = {1: nn.Conv1d, 2: nn.Conv2d, 3: nn.Conv3d}
_POOL = {1: nn.AvgPool1d, 2: nn.AvgPool2d, 3: nn.AvgPool3d}
_ADAPTIVE_POOL = {1: nn.AdaptiveAvgPool1d, 2: nn.AdaptiveAvgPool2d, 3: nn.AdaptiveAvgPool3d}


class ConvInput(nn.Module):
    """Turns a batch of any input kind into channels-first layout (B, C, *axes)."""

    def __init__(self, info: DatasetInfo, embed_dim: int = DEFAULT_EMBED_DIM):
        super().__init__()
        check_kind(info)
        self.kind = info.kind
        shape = info.input_shape
        self.embedding = None
        if info.kind == "image":
            self.channels, self.axes = shape[0], tuple(shape[1:])
        elif info.kind == "sequence":
            self.channels, self.axes = shape[1], (shape[0],)
        elif info.kind == "events":
            self.channels, self.axes = shape[1], (shape[0], *shape[2:])
        else:
            self.embedding = TokenEmbedding(info.vocab_size, embed_dim)
            self.channels, self.axes = embed_dim, (shape[0],)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.kind == "sequence":
            return x.transpose(1, 2)  # (B, T, F) → (B, F, T)
        if self.kind == "events":
            return x.transpose(1, 2)  # (B, T, 2, H, W) → (B, 2, T, H, W)
        if self.kind == "tokens":
            return self.embedding(x).transpose(1, 2)  # (B, T) → (B, E, T)
        return x  # (B, C, H, W)


class CNN(nn.Module):
    def __init__(self, info: DatasetInfo, width: int, depth: int):
        super().__init__()
        self.input = ConvInput(info)
        dims = len(self.input.axes)
        axes = list(self.input.axes)
        layers: list[nn.Module] = []
        channels = self.input.channels
        for block in range(depth):
            if block > 0 and any(size >= 8 for size in axes):
                kernel = tuple(2 if size >= 8 else 1 for size in axes)
                layers.append(_POOL[dims](kernel))
                axes = [size // k for size, k in zip(axes, kernel, strict=True)]
            layers += [_CONV[dims](channels, width, kernel_size=3, padding=1), nn.ReLU()]
            channels = width
        pooled = tuple(min(POOLED_SIZE, size) for size in axes)
        layers += [_ADAPTIVE_POOL[dims](pooled), nn.Flatten()]
        self.body = nn.Sequential(*layers)
        self.head = nn.Linear(width * math.prod(pooled), info.num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(self.input(x)))  # (B, num_classes)


@register_model(
    "cnn",
    "convolutional network: depth × (Conv 3, ReLU), average pooling, linear head",
    default_width=32,
    default_depth=2,
)
def build_cnn(info: DatasetInfo, width: int, depth: int) -> CNN:
    return CNN(info, width, depth)
