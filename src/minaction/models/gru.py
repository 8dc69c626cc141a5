"""`gru`: a gated recurrent unit baseline, its cell written out of modules so every gate is seen.

Steps (rows of an image, time steps, event bins or embedded tokens) → depth stacked GRU layers →
linear head on the last layer's final state.

nn.GRU computes its gates inside one fused kernel that no hook can see, so the cell here is
built from nn.Linear layers (counted by the Linear MAC rule, once a step) and activation modules:
the reset and update gates come out of one nn.Sigmoid, the candidate state out of an nn.Tanh, and
both are energy sites. The new state h = (1 − z)·n + z·h_prev mixes sites without a new
non-linearity, so it is not a site of its own; the same rule holds in every minaction model.
"""

from __future__ import annotations

import torch
from torch import nn

from minaction.data.registry import DatasetInfo
from minaction.models.encoders import StepEncoder
from minaction.models.registry import register_model


class GRULayer(nn.Module):
    """One GRU layer over a whole sequence: (B, T, F) → states (B, T, H).

    r, z = σ(W_x[r,z]·x_t + W_h[r,z]·h + b)        reset and update gates
    n = tanh(W_xn·x_t + r ⊙ (W_hn·h + b_hn))         candidate
    h_t = (1 − z) ⊙ n + z ⊙ h_{t−1},  h_0 = 0
    """

    def __init__(self, in_features: int, hidden: int):
        super().__init__()
        self.hidden_size = hidden
        self.input = nn.Linear(in_features, 3 * hidden)
        self.recurrent = nn.Linear(hidden, 3 * hidden)
        self.gates = nn.Sigmoid()
        self.candidate = nn.Tanh()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # NOTE: a Python loop over steps, several times slower than nn.GRU's fused kernel on long
        # sequences; the price of gates that the meter can see.
        batch = x.shape[0]
        hidden = self.hidden_size
        drive = self.input(x)  # (B, T, 3H): the input side of every step in one call
        h = x.new_zeros(batch, hidden)  # (B, H)
        states = []
        # unbind, not drive[:, t]: the backward of T index selections fills T zero tensors of
        # drive's full size, which made the layer's cost grow as T².
        for drive_t in drive.unbind(dim=1):  # (B, 3H) a step
            recurrent = self.recurrent(h)  # (B, 3H); at t = 0 every input is 0: no effective MAC
            reset, update = self.gates(drive_t[:, : 2 * hidden] + recurrent[:, : 2 * hidden]).chunk(
                2, dim=-1
            )  # (B, H) each
            candidate = self.candidate(
                drive_t[:, 2 * hidden :] + reset * recurrent[:, 2 * hidden :]
            )
            h = (1 - update) * candidate + update * h  # (B, H)
            states.append(h)
        return torch.stack(states, dim=1)  # (B, T, H)


class GRU(nn.Module):
    def __init__(self, info: DatasetInfo, width: int, depth: int):
        super().__init__()
        self.encoder = StepEncoder(info, image_mode="rows")
        features = self.encoder.out_features
        layers = []
        for _ in range(depth):
            layers.append(GRULayer(features, width))
            features = width
        self.layers = nn.ModuleList(layers)
        self.head = nn.Linear(width, info.num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.encoder(x)  # (B, T, F)
        for layer in self.layers:
            h = layer(h)  # (B, T, width)
        return self.head(h[:, -1])  # (B, num_classes)


@register_model(
    "gru",
    "gated recurrent unit over steps, gates as modules, head on the final state",
    default_width=128,
    default_depth=1,
)
def build_gru(info: DatasetInfo, width: int, depth: int) -> GRU:
    return GRU(info, width, depth)
