"""`bimodal` (BimodalTrue): a fast, wide neural pathway supplied by a slow, narrow glial one.

After the division of labour between neurons and glia: neurons compute, glia decide where the
metabolic supply goes. Here

    glial state    g   = tanh(W_g·x + b_g)                          (B, G), read once a sample
    supply, block l s_l = tanh(relu(c_l ⊙ g[territory] + d_l))       (B, N), in [0, 1)
    neural, block l u_l = relu(s_l ⊙ (W_l·u_{l−1} + b_l))            (B, N), u_0 = x
    logits             = W_o·u_L + b_o

x is the flat encoding of the input (tokens are embedded first). Glial cell k supplies its own
territory, a contiguous block of N/G neural units in every block, through one scale and offset a
unit. A unit with zero supply is silent (exactly 0): none of its input products is needed, which
the `SuppliedLinear` MAC rule counts, and its downstream products are skipped by the ordinary
rules. Open supplies lie in (0, 1). Energy sites: the glial state, the supplies (what the glia
spend) and the neural outputs; `pathway_energy` splits a meter's E by pathway and
`supply_stats` says how open the gates were. docs/architectures.md gives the reasons.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from minaction.data.registry import DatasetInfo
from minaction.energy.meter import EnergyMeter, register_site_type
from minaction.energy.ops import register_mac_rule
from minaction.errors import ConfigError
from minaction.models.encoders import FlatEncoder
from minaction.models.registry import register_model

DEFAULT_GLIA_RATIO = 4  # neural units per glial cell: the territory size
# Initial c_l ~ U(−3, 3) and d_l = 0: each glial cell starts by supplying the units of its
# territory whose c_j has the sign of its state, about half of them, and closing the rest.
SUPPLY_SCALE_INIT = 3.0
DEFAULT_SUPPLY_OFFSET = 0.0


@register_site_type
class Supply(nn.Module):
    """s = tanh(relu(drive)): zero for a non-positive drive, in (0, 1) otherwise. An energy site.

    The zero is exact, so a closed gate can be skipped; the open range stays below 1, so supply
    scales a unit and never amplifies it.
    """

    def forward(self, drive: torch.Tensor) -> torch.Tensor:
        # NOTE: like a ReLU, a closed gate passes no gradient for that sample; a territory closed
        # for every sample stays closed. Shared glial weights move it through other samples.
        return torch.tanh(torch.relu(drive))


class TerritorialSupply(nn.Module):
    """Drive of every neural unit from the glial cell whose territory it lies in.

    drive_j = c_j · g_{k(j)} + d_j, with k(j) = ⌊j·G/N⌋: one multiply-add a unit.
    """

    def __init__(self, glia: int, units: int, offset: float = DEFAULT_SUPPLY_OFFSET):
        super().__init__()
        self.register_buffer("territory", torch.arange(units) * glia // units, persistent=False)
        self.scale = nn.Parameter(
            torch.empty(units).uniform_(-SUPPLY_SCALE_INIT, SUPPLY_SCALE_INIT)
        )
        self.offset = nn.Parameter(torch.full((units,), float(offset)))

    def forward(self, glial_state: torch.Tensor) -> torch.Tensor:
        return glial_state[:, self.territory] * self.scale + self.offset  # (B, G) → (B, N)


@register_mac_rule(TerritorialSupply)
def _territorial_ops(module: TerritorialSupply, inputs: tuple, output: object):
    gathered = inputs[0][:, module.territory]  # (B, N): each unit's glial input
    return float(gathered.numel()), float(torch.count_nonzero(gathered)), 0.0


class SuppliedLinear(nn.Linear):
    """Linear layer whose output unit j is scaled by its supply s_j: (W·u + b) ⊙ s.

    Units with s_j = 0 need none of their products, so the MAC rule counts, for each sample,
    the non-zero inputs times the supplied units.
    """

    def forward(self, x: torch.Tensor, supply: torch.Tensor) -> torch.Tensor:
        # NOTE: the rows of unsupplied units are computed and then zeroed: the skipping is
        # counted (what sparse hardware would execute), not realized; a gather of the supplied
        # rows would realize it at the cost of batching.
        return super().forward(x) * supply  # (B, out_features)


@register_mac_rule(SuppliedLinear)
def _supplied_linear_ops(module: SuppliedLinear, inputs: tuple, output: object):
    x, supply = inputs  # (B, in), (B, out)
    x = x.reshape(-1, module.in_features)
    supply = supply.reshape(-1, module.out_features)
    dense = float(x.shape[0] * module.in_features * module.out_features)
    active_in = (x != 0).sum(dim=1).to(torch.float64)  # (B,)
    supplied = (supply != 0).sum(dim=1).to(torch.float64)  # (B,)
    return dense, float((active_in * supplied).sum()), 0.0


class GlialPathway(nn.Module):
    """Reads the input once into G glial cells and hands each neural block its supply."""

    def __init__(self, in_features: int, glia: int, width: int, depth: int, offset: float):
        super().__init__()
        self.read = nn.Linear(in_features, glia)
        self.state = nn.Tanh()
        self.territories = nn.ModuleList(
            TerritorialSupply(glia, width, offset) for _ in range(depth)
        )
        self.supply = nn.ModuleList(Supply() for _ in range(depth))

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        glial_state = self.state(self.read(x))  # (B, G)
        return [
            supply(territory(glial_state))  # (B, N)
            for territory, supply in zip(self.territories, self.supply, strict=True)
        ]


class NeuralLayer(nn.Module):
    def __init__(self, in_features: int, width: int):
        super().__init__()
        self.linear = SuppliedLinear(in_features, width)
        self.act = nn.ReLU()

    def forward(self, x: torch.Tensor, supply: torch.Tensor) -> torch.Tensor:
        # relu(s ⊙ a) = s ⊙ relu(a) because s ≥ 0: one site holds the supplied output.
        return self.act(self.linear(x, supply))  # (B, width)


class BimodalTrue(nn.Module):
    """Neural pathway (wide, once a block) gated unit by unit by a glial pathway (narrow, once a
    sample). See the module docstring for the equations.

    Attributes:
        last_supply: the supplies s_l of the last forward pass, detached, one (B, N) a block.
    """

    def __init__(
        self,
        info: DatasetInfo,
        width: int,
        depth: int,
        glia: int | None = None,
        supply_offset: float = DEFAULT_SUPPLY_OFFSET,
    ):
        super().__init__()
        glia = max(1, width // DEFAULT_GLIA_RATIO) if glia is None else glia
        if not isinstance(glia, int) or not 1 <= glia <= width:
            raise ConfigError(f"glia must be an integer from 1 to width ({width}), got {glia!r}")
        self.encoder = FlatEncoder(info)
        features = self.encoder.out_features
        self.glia = GlialPathway(features, glia, width, depth, supply_offset)
        layers = []
        for _ in range(depth):
            layers.append(NeuralLayer(features, width))
            features = width
        self.neural = nn.ModuleList(layers)
        self.head = nn.Linear(width, info.num_classes)
        self.last_supply: list[torch.Tensor] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        u = self.encoder(x)  # (B, D)
        supplies = self.glia(u)  # depth × (B, width), all known before the neurons run
        for layer, supply in zip(self.neural, supplies, strict=True):
            u = layer(u, supply)  # (B, width)
        self.last_supply = [s.detach() for s in supplies]
        return self.head(u)  # (B, num_classes)

    def supply_stats(self) -> dict[str, float | list[float]]:
        """How open the gates were in the last pass: mean supply over units and samples, the
        share of units supplied (s > 0), and both per block."""
        if not self.last_supply:
            raise RuntimeError("no forward pass yet: call the model first")
        means = [float(s.mean()) for s in self.last_supply]
        supplied = [float((s > 0).float().mean()) for s in self.last_supply]
        return {
            "mean_supply": sum(means) / len(means),
            "supplied_fraction": sum(supplied) / len(supplied),
            "mean_supply_per_block": means,
            "supplied_fraction_per_block": supplied,
        }

    def pathway_energy(self, meter: EnergyMeter) -> dict[str, float]:
        """The meter's E of the last pass split into the "glial" and "neural" pathways."""
        return pathway_energy(meter.per_site(), glial_prefixes=("glia.",))


def pathway_energy(
    per_site: dict[str, float], glial_prefixes: Sequence[str] = ("glia.",)
) -> dict[str, float]:
    """Sum per-site energies into glial (sites under `glial_prefixes`) and neural (the rest)."""
    split = {"glial": 0.0, "neural": 0.0}
    for name, energy in per_site.items():
        split["glial" if name.startswith(tuple(glial_prefixes)) else "neural"] += energy
    return split


@register_model(
    "bimodal",
    "BimodalTrue: wide neural pathway, each unit gated by a narrow glial pathway",
    default_width=128,
    default_depth=2,
)
def build_bimodal(
    info: DatasetInfo,
    width: int,
    depth: int,
    glia: int | None = None,
    supply_offset: float = DEFAULT_SUPPLY_OFFSET,
) -> BimodalTrue:
    return BimodalTrue(info, width, depth, glia=glia, supply_offset=supply_offset)
