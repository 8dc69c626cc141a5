"""BimodalTrue: supplies lie in [0, 1), open ones in (0, 1); a zero supply silences its unit and
removes its products, counted exactly."""

import pytest
import torch

from minaction import EnergyMeter, count_macs
from minaction.models import build_model

from .synthetic import INFOS, make_inputs

WIDTH = 16  # 4 glial cells, territories of 4 units


def _model():
    torch.manual_seed(0)
    return build_model("bimodal", INFOS["image"], width=WIDTH, depth=2).eval()


def test_supplies_are_gates_in_the_unit_interval():
    """Open supplies lie strictly in (0, 1); closed ones are exactly 0. At the default init a
    glial cell supplies the part of its territory whose scale has the sign of its state."""
    model = _model()
    model(make_inputs(INFOS["image"]))
    for supply in model.last_supply:
        assert supply.shape == (4, WIDTH)
        assert ((supply >= 0) & (supply < 1)).all()
        open_gates = supply[supply > 0]
        assert ((open_gates > 0) & (open_gates < 1)).all()
    stats = model.supply_stats()
    assert 0 < stats["mean_supply"] < 1
    assert 0 < stats["supplied_fraction"] < 1


def test_a_zero_supply_silences_the_unit_and_its_products():
    """Close glial territory 0 of block 0 (units 0–3). Block 0 then skips the rows of the units
    that were supplied there: its effective MACs fall by Σ_b nnz(x_b) · closed_b, with nnz(x_b)
    = 36 pixels. Block 1 loses each closed unit that was active, times the units it supplies:
    Σ_b active_closed_b · supplied_b. Both divided by the batch, as count_macs reports."""
    model = _model()
    x = make_inputs(INFOS["image"])
    outputs = {}
    model.neural[0].register_forward_hook(lambda m, a, out: outputs.__setitem__("u1", out))
    before = count_macs(model, x)
    closed = (model.last_supply[0][:, :4] != 0).sum(dim=1).double()  # (B,)
    active_closed = (outputs["u1"][:, :4] != 0).sum(dim=1).double()  # (B,)
    supplied_next = (model.last_supply[1] != 0).sum(dim=1).double()  # (B,)

    with torch.no_grad():
        territory = model.glia.territories[0]
        territory.scale[:4] = 0.0
        territory.offset[:4] = -1.0  # drive −1 → supply tanh(relu(−1)) = 0
    after = count_macs(model, x)

    assert (model.last_supply[0][:, :4] == 0).all()
    assert (outputs["u1"][:, :4] == 0).all()  # silent
    block0, block1 = "neural.0.linear", "neural.1.linear"
    drop0 = float((36 * closed).mean())
    drop1 = float((active_closed * supplied_next).mean())
    assert drop0 > 0 and drop1 > 0
    assert after.per_layer[block0].effective == pytest.approx(
        before.per_layer[block0].effective - drop0
    )
    assert after.per_layer[block1].effective == pytest.approx(
        before.per_layer[block1].effective - drop1
    )
    assert after.effective < before.effective


def test_pathway_energy_splits_the_meter_total():
    model = _model()
    with EnergyMeter(model) as meter:
        model(make_inputs(INFOS["image"]))
        split = model.pathway_energy(meter)
        total = float(meter.energy().detach())
    assert split["glial"] > 0 and split["neural"] > 0
    assert split["glial"] + split["neural"] == pytest.approx(total)
