"""`transformer`: a pre-norm transformer encoder baseline, built so every product is counted.

Steps (rows of an image, time steps, event bins or tokens) → per-step projection (tokens: an
embedding) + learned positions → depth × [x + Attention(LN(x)), x + FFN(LN(x))] → LN → mean over
steps → linear head.

Attention is written out of modules rather than nn.MultiheadAttention, whose internals no hook
can see: `AttentionScores` (Q·Kᵀ) and `AttentionMix` (A·V) carry their own MAC rules, and the
attention weights come out of `AttentionSoftmax`, an energy site. The FFN's GELU is the other
site.
"""

from __future__ import annotations

import torch
from torch import nn

from minaction.data.registry import DatasetInfo
from minaction.energy.meter import register_site_type
from minaction.energy.ops import register_mac_rule
from minaction.errors import ConfigError
from minaction.models.encoders import StepEncoder
from minaction.models.registry import register_model

DEFAULT_HEADS = 4


class AttentionScores(nn.Module):
    """Scaled dot products of queries and keys: (B, h, T, d) × (B, h, S, d) → (B, h, T, S)."""

    def __init__(self, scale: float):
        super().__init__()
        self.scale = scale

    def forward(self, queries: torch.Tensor, keys: torch.Tensor) -> torch.Tensor:
        return queries @ keys.transpose(-2, -1) * self.scale


class AttentionMix(nn.Module):
    """Attention-weighted sum of values: (B, h, T, S) × (B, h, S, d) → (B, h, T, d)."""

    def forward(self, weights: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
        return weights @ values


@register_site_type
class AttentionSoftmax(nn.Softmax):
    """Softmax over the keys; its output, the attention weights, is an energy site."""


def _pairwise_product_ops(left: torch.Tensor, right: torch.Tensor) -> tuple[float, float, float]:
    """MACs of the batched product left @ right, (..., T, K) × (..., K, S).

    Dense: every product, T·K·S per batch entry. Effective: products whose two factors are both
    non-zero (either zero lets zero-skipping hardware drop the product), counted exactly as the
    sum of (left ≠ 0) @ (right ≠ 0).
    """
    rows, inner = left.shape[-2:]
    cols = right.shape[-1]
    batch = left.numel() // (rows * inner)
    dense = float(batch * rows * inner * cols)
    left_mask = (left != 0).to(torch.float64)
    right_mask = (right != 0).to(torch.float64)
    effective = float((left_mask @ right_mask).sum())
    return dense, effective, 0.0


@register_mac_rule(AttentionScores)
def _scores_ops(module: AttentionScores, inputs: tuple, output: object):
    queries, keys = inputs  # (B, h, T, d), (B, h, S, d)
    return _pairwise_product_ops(queries, keys.transpose(-2, -1))


@register_mac_rule(AttentionMix)
def _mix_ops(module: AttentionMix, inputs: tuple, output: object):
    weights, values = inputs  # (B, h, T, S), (B, h, S, d)
    return _pairwise_product_ops(weights, values)


class SelfAttention(nn.Module):
    """Multi-head self-attention from Linear layers and counted product modules."""

    def __init__(self, width: int, heads: int):
        super().__init__()
        self.heads = heads
        self.head_dim = width // heads
        self.qkv = nn.Linear(width, 3 * width)
        self.scores = AttentionScores(self.head_dim**-0.5)
        self.softmax = AttentionSoftmax(dim=-1)
        self.mix = AttentionMix()
        self.out = nn.Linear(width, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, steps, width = x.shape
        qkv = self.qkv(x).view(batch, steps, 3, self.heads, self.head_dim)  # (B, T, 3, h, d)
        queries, keys, values = qkv.permute(2, 0, 3, 1, 4)  # each (B, h, T, d)
        weights = self.softmax(self.scores(queries, keys))  # (B, h, T, T)
        mixed = self.mix(weights, values)  # (B, h, T, d)
        mixed = mixed.transpose(1, 2).reshape(batch, steps, width)  # (B, T, h·d)
        return self.out(mixed)


class TransformerBlock(nn.Module):
    def __init__(self, width: int, heads: int, ffn_ratio: int):
        super().__init__()
        self.norm1 = nn.LayerNorm(width)
        self.attention = SelfAttention(width, heads)
        self.norm2 = nn.LayerNorm(width)
        self.ffn_in = nn.Linear(width, ffn_ratio * width)
        self.ffn_act = nn.GELU()
        self.ffn_out = nn.Linear(ffn_ratio * width, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attention(self.norm1(x))  # (B, T, width)
        return x + self.ffn_out(self.ffn_act(self.ffn_in(self.norm2(x))))


class Transformer(nn.Module):
    """Transformer encoder classifier over the steps of any input kind.

    NOTE: LayerNorm is a normalization, not an activation, so its output is not an energy site
    (the DESIGN.md definition); counting it would add a near-constant ~width per step and
    position that λ can only lower through the norm's gain.
    """

    def __init__(self, info: DatasetInfo, width: int, depth: int, heads: int, ffn_ratio: int = 2):
        super().__init__()
        self.encoder = StepEncoder(info, out_features=width, image_mode="rows")
        self.positions = nn.Parameter(torch.randn(1, self.encoder.steps, width) * 0.02)
        self.blocks = nn.ModuleList(TransformerBlock(width, heads, ffn_ratio) for _ in range(depth))
        self.norm = nn.LayerNorm(width)
        self.head = nn.Linear(width, info.num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.encoder(x) + self.positions  # (B, T, width)
        for block in self.blocks:
            h = block(h)
        return self.head(self.norm(h).mean(dim=1))  # (B, num_classes)


@register_model(
    "transformer",
    "transformer encoder over steps: depth × (attention, GELU FFN), mean-pooled head",
    default_width=64,
    default_depth=2,
    width_multiple=DEFAULT_HEADS,
)
def build_transformer(
    info: DatasetInfo, width: int, depth: int, heads: int = DEFAULT_HEADS, ffn_ratio: int = 2
) -> Transformer:
    if width % heads:
        raise ConfigError(f"transformer width {width} is not divisible by heads={heads}")
    return Transformer(info, width, depth, heads, ffn_ratio)
