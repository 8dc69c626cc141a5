"""Modality encoders: turn each input kind into the features an architecture's body reads.

    encoder = FlatEncoder(info)                 # (B, *input_shape) → (B, D)
    encoder = StepEncoder(info, out_features=64)  # (B, *input_shape) → (B, T, 64)

| kind     | one sample       | FlatEncoder (vector bodies) | StepEncoder (bodies over time)      |
|----------|------------------|-----------------------------|-------------------------------------|
| image    | (C, H, W) floats | flatten: C·H·W              | rows (T = H, C·W a step), or the    |
|          |                  |                             | whole image at every step (static)  |
| sequence | (T, F) floats    | flatten: T·F                | the F features of each step         |
| events   | (T, 2, H, W)     | flatten: T·2·H·W            | each bin flattened: 2·H·W a step    |
| tokens   | (T,) int64 ids   | embedding, flattened: T·E   | embedding: E a step                 |

Convolutional bodies have their own encoder (`minaction.models.cnn.ConvInput`). Encoders hold no
activation: they are linear maps or lookups, so every energy site belongs to the body.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from minaction.data.registry import KINDS, DatasetInfo
from minaction.errors import ConfigError

# Embedding width for token inputs, where a body does not set its own.
DEFAULT_EMBED_DIM = 32

# Time steps over which a static image is presented to a body that runs in time (the spiking
# network), when the image is shown whole at every step.
DEFAULT_STATIC_STEPS = 8


def check_kind(info: DatasetInfo) -> None:
    """Raise ConfigError when `info` is not a kind the encoders know or lacks what it needs."""
    if info.kind not in KINDS:
        raise ConfigError(f"unknown input kind {info.kind!r}; accepted: {', '.join(KINDS)}")
    expected_dims = {"image": 3, "sequence": 2, "events": 4, "tokens": 1}[info.kind]
    if len(info.input_shape) != expected_dims:
        raise ConfigError(
            f"dataset {info.name!r} of kind {info.kind!r} must have {expected_dims}-d samples, "
            f"got input_shape {info.input_shape}"
        )
    if info.kind == "tokens" and not (isinstance(info.vocab_size, int) and info.vocab_size > 0):
        raise ConfigError(
            f"dataset {info.name!r} has token inputs but no vocab_size ({info.vocab_size!r}); "
            "a positive vocab_size is needed to build the embedding"
        )


# Token id of padding, as the text datasets write it: it embeds to the zero vector.
PAD_ID = 0


class TokenEmbedding(nn.Embedding):
    """Embedding of token ids; ids arrive as int64 (B, T) and leave as (B, T, E).

    Padding (id 0) embeds to zeros and is never trained, so padded positions feed no effective
    MAC into the first layer.

    NOTE: bodies see padded positions as steps like any other (no attention mask, the GRU runs
    through them, pooling averages over them); masking would need the pad convention in
    DatasetInfo rather than in the text datasets' docstrings.
    """

    def __init__(self, vocab_size: int, embed_dim: int):
        super().__init__(vocab_size, embed_dim, padding_idx=PAD_ID)
        nn.init.normal_(self.weight, std=embed_dim**-0.5)
        with torch.no_grad():
            self.weight[PAD_ID].zero_()


class FlatEncoder(nn.Module):
    """One feature vector per sample, for bodies without a time or space axis.

    A per-step projection followed by the body's first Linear is itself one Linear over the
    flattened window, so sequences and event bins are flattened and the body's first layer does
    the projection. Tokens are embedded first, then flattened in order, so position is kept.
    """

    def __init__(self, info: DatasetInfo, embed_dim: int = DEFAULT_EMBED_DIM):
        super().__init__()
        check_kind(info)
        self.kind = info.kind
        if info.kind == "tokens":
            self.embedding = TokenEmbedding(info.vocab_size, embed_dim)
            self.out_features = info.input_shape[0] * embed_dim
        else:
            self.embedding = None
            self.out_features = math.prod(info.input_shape)
        self.flatten = nn.Flatten()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.embedding is not None:
            x = self.embedding(x)  # (B, T) → (B, T, E)
        return self.flatten(x)  # (B, out_features)


class StepEncoder(nn.Module):
    """A sequence of per-step feature vectors (B, T, F), for bodies that run over time.

    Args:
        info: the dataset.
        out_features: project every step to this width with one shared Linear (the per-step
            projection); None keeps the raw step features, for bodies whose first layer reads
            each step anyway.
        image_mode: "rows" reads an image top to bottom, one row of C·W values a step;
            "static" shows the whole flattened image at each of `static_steps` steps.
        embed_dim: embedding width for tokens when there is no projection.

    Attributes:
        steps: T, the number of steps a sample becomes.
        out_features: F, the width of one step.
    """

    def __init__(
        self,
        info: DatasetInfo,
        out_features: int | None = None,
        image_mode: str = "rows",
        embed_dim: int = DEFAULT_EMBED_DIM,
        static_steps: int = DEFAULT_STATIC_STEPS,
    ):
        super().__init__()
        check_kind(info)
        if image_mode not in ("rows", "static"):
            raise ConfigError(f"image_mode must be 'rows' or 'static', got {image_mode!r}")
        if not isinstance(static_steps, int) or static_steps < 1:
            raise ConfigError(f"static_steps must be a positive integer, got {static_steps!r}")
        self.kind = info.kind
        self.image_mode = image_mode
        shape = info.input_shape
        self.embedding = None
        if info.kind == "image" and image_mode == "rows":
            channels, height, width = shape
            self.steps, features = height, channels * width
        elif info.kind == "image":
            self.steps, features = static_steps, math.prod(shape)
        elif info.kind == "sequence":
            self.steps, features = shape
        elif info.kind == "events":
            self.steps, features = shape[0], math.prod(shape[1:])
        else:  # tokens: embed straight to the projection width when there is one
            features = out_features if out_features is not None else embed_dim
            self.embedding = TokenEmbedding(info.vocab_size, features)
            self.steps = shape[0]
        needs_projection = out_features is not None and self.embedding is None
        self.projection = nn.Linear(features, out_features) if needs_projection else None
        self.out_features = out_features if out_features is not None else features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch = x.shape[0]
        if self.embedding is not None:
            return self.embedding(x)  # (B, T) → (B, T, E)
        if self.kind == "image" and self.image_mode == "rows":
            x = x.permute(0, 2, 1, 3).reshape(batch, x.shape[2], -1)  # (B, H, C·W)
        elif self.kind == "image":
            x = x.reshape(batch, 1, -1).expand(batch, self.steps, -1)  # (B, T, C·H·W)
        elif self.kind == "events":
            x = x.reshape(batch, x.shape[1], -1)  # (B, T, 2·H·W)
        if self.projection is not None:
            x = self.projection(x)  # (B, T, out_features)
        return x
