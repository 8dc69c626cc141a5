"""Attention MAC counts against hand counts."""

import pytest
import torch

from minaction import count_macs
from minaction.models.transformer import AttentionMix, AttentionScores, SelfAttention


def test_attention_scores_count_products_whose_factors_are_both_nonzero():
    """q rows use dims {0, 2} and {2}; k rows use dims {0, 1} and {1, 2}. Shared non-zero dims
    per (query, key) pair: (0, 0) → {0}, (0, 1) → {2}, (1, 0) → none, (1, 1) → {2}: 3 effective
    products of 2 · 2 · 3 = 12 dense."""
    queries = torch.tensor([[[[1.0, 0.0, 2.0], [0.0, 0.0, 3.0]]]])  # (1, 1, 2, 3)
    keys = torch.tensor([[[[1.0, 1.0, 0.0], [0.0, 5.0, 6.0]]]])
    macs = count_macs(_WithRight(AttentionScores(1.0), keys), queries)
    assert macs.dense == 12
    assert macs.effective == 3


def test_attention_mix_counts_weight_times_nonzero_values():
    """Weights [[0.5, 0], [0.25, 0.75]], values rows with 2 and 1 non-zeros of 3:
    query 0: 0.5 meets 2 values, 0 meets none → 2; query 1: 0.25 meets 2, 0.75 meets 1 → 3.
    Effective 5 of 2 · 2 · 3 = 12 dense."""
    weights = torch.tensor([[[[0.5, 0.0], [0.25, 0.75]]]])  # (1, 1, 2, 2)
    values = torch.tensor([[[[1.0, 0.0, 2.0], [0.0, 3.0, 0.0]]]])  # (1, 1, 2, 3)
    macs = count_macs(_WithRight(AttentionMix(), values), weights)
    assert macs.dense == 12
    assert macs.effective == 5


def test_self_attention_dense_count_by_hand():
    """width d = 8, h = 2 heads of 4, T = 3 steps, per sample:
    qkv 3·8·24 = 576, Q·Kᵀ 2·3·3·4 = 72, A·V 72, output 3·8·8 = 192: 912 in all."""
    torch.manual_seed(0)
    attention = SelfAttention(width=8, heads=2)
    macs = count_macs(attention, torch.randn(2, 3, 8))
    assert macs.per_layer["scores"].dense == 72
    assert macs.per_layer["mix"].dense == 72
    assert macs.dense == 912
    # Dense random inputs and a softmax leave no zero factor: every product is effective.
    assert macs.effective == pytest.approx(912)


class _WithRight(torch.nn.Module):
    """Holds the right operand, so that count_macs, which passes one input, drives a product."""

    def __init__(self, inner: torch.nn.Module, right: torch.Tensor):
        super().__init__()
        self.inner = inner
        self.right = right

    def forward(self, left: torch.Tensor) -> torch.Tensor:
        return self.inner(left, self.right)
