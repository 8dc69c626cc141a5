"""count_macs against hand counts and a brute-force loop over every product."""

import itertools

import pytest
import torch
from torch import nn

from minaction import count_macs


def test_linear_dense_and_effective_match_hand_count():
    # Linear(3 → 4): 12 products per sample. Sample 0 has 2 non-zero inputs (8 effective
    # products), sample 1 has 1 (4): 6 effective per sample on average.
    layer = nn.Linear(3, 4)
    x = torch.tensor([[1.0, 0.0, 2.0], [0.0, 0.0, 3.0]])
    macs = count_macs(layer, x)
    assert macs.dense == 12
    assert macs.effective == 6


def test_linear_on_sequences_counts_every_position():
    # (B=1, T=5, F=3) through Linear(3 → 2): 5 positions × 6 products.
    layer = nn.Sequential(nn.Linear(3, 2))
    x = torch.ones(1, 5, 3)
    x[0, 0] = 0  # one position entirely zero: 3 inputs × 2 outputs skipped
    macs = count_macs(layer, x)
    assert macs.dense == 30
    assert macs.effective == 24


def brute_force_conv(x: torch.Tensor, conv: nn.Conv2d) -> tuple[int, int]:
    """Dense and effective products of a 2-D convolution, one product at a time."""
    b, cin, h, w = x.shape
    kh, kw = conv.kernel_size
    sh, sw = conv.stride
    ph, pw = conv.padding
    dh, dw = conv.dilation
    g = conv.groups
    cin_g, cout_g = cin // g, conv.out_channels // g
    ho = (h + 2 * ph - dh * (kh - 1) - 1) // sh + 1
    wo = (w + 2 * pw - dw * (kw - 1) - 1) // sw + 1
    dense = effective = 0
    for n, co, i, j in itertools.product(range(b), range(conv.out_channels), range(ho), range(wo)):
        group = co // cout_g
        for ci, u, v in itertools.product(range(cin_g), range(kh), range(kw)):
            dense += 1
            r, c = i * sh - ph + u * dh, j * sw - pw + v * dw
            if 0 <= r < h and 0 <= c < w and x[n, group * cin_g + ci, r, c] != 0:
                effective += 1
    return dense, effective


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(in_channels=1, out_channels=2, kernel_size=2),
        dict(in_channels=2, out_channels=4, kernel_size=3, padding=1, stride=2),
        dict(in_channels=4, out_channels=4, kernel_size=3, padding=1, groups=2),
        dict(in_channels=2, out_channels=2, kernel_size=2, dilation=2, padding=2),
    ],
)
def test_conv2d_counts_equal_brute_force(kwargs):
    torch.manual_seed(0)
    conv = nn.Conv2d(**kwargs)
    x = torch.relu(torch.randn(2, kwargs["in_channels"], 5, 6))  # about half the inputs zero
    dense, effective = brute_force_conv(x, conv)
    macs = count_macs(conv, x)
    assert macs.dense == dense / 2
    assert macs.effective == effective / 2
    assert macs.effective < macs.dense


def test_conv2d_small_case_by_hand():
    # 3×3 input, one channel, 2×2 kernel, 2 output channels: 4 positions × 2 × 4 = 32 dense.
    # Input zeros at the centre only: every 2×2 window contains the centre, so each window
    # has 3 non-zero inputs → 4 × 2 × 3 = 24 effective.
    x = torch.ones(1, 1, 3, 3)
    x[0, 0, 1, 1] = 0
    macs = count_macs(nn.Conv2d(1, 2, 2), x)
    assert (macs.dense, macs.effective) == (32, 24)


def test_conv1d_counts():
    # Conv1d(1 → 1, k=3, padding=1) over [1, 0, 1, 1]: 4 outputs × 3 = 12 dense; windows
    # cover (pad,1,0), (1,0,1), (0,1,1), (1,1,pad): non-zeros 1, 2, 2, 2 = 7 effective.
    x = torch.tensor([[[1.0, 0.0, 1.0, 1.0]]])
    macs = count_macs(nn.Conv1d(1, 1, 3, padding=1), x)
    assert (macs.dense, macs.effective) == (12, 7)


def test_count_macs_leaves_no_hooks_and_sums_layers():
    model = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))
    x = torch.randn(8, 4)
    macs = count_macs(model, x)
    assert set(macs.per_layer) == {"0", "2"}
    assert macs.dense == 4 * 3 + 3 * 2
    assert macs.effective == pytest.approx(sum(op.effective for op in macs.per_layer.values()))
    assert all(not m._forward_hooks for m in model.modules())
