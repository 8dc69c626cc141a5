"""Estimated joules from the cost table, and why E alone is not trusted.

horowitz-45nm prices a fp32 MAC at 3.7 pJ (multiply) + 0.9 pJ (add) = 4.6 pJ and an accumulate
at 0.9 pJ, so 10⁶ MACs cost 4.6 µJ and 10⁶ synaptic operations 0.9 µJ.
"""

import pytest
import torch
from torch import nn

from minaction import EnergyMeter, MacCount, count_macs, estimate_joules
from minaction.energy.costs import CostTable, get_cost_table
from minaction.errors import UnknownNameError


def test_plain_mac_count_priced_by_hand():
    assert estimate_joules(1e6) == pytest.approx(4.6e-6)


def test_effective_dense_and_synops_priced_by_hand():
    macs = MacCount(dense=2e6, effective=1e6, synops=1e6)
    assert estimate_joules(macs) == pytest.approx(4.6e-6 + 0.9e-6)
    assert estimate_joules(macs, dense=True) == pytest.approx(9.2e-6 + 0.9e-6)


def test_custom_table_and_unknown_name():
    table = CostTable("toy", mult_pj=1.0, add_pj=1.0, sram_read_pj=0, dram_read_pj=0, source="-")
    assert estimate_joules(10.0, table=table) == pytest.approx(20e-12)
    assert get_cost_table("horowitz-45nm").mac_pj == pytest.approx(4.6)
    with pytest.raises(UnknownNameError, match="unknown cost table 'nope'"):
        estimate_joules(1.0, table="nope")
    with pytest.raises(ValueError, match="non-negative"):
        estimate_joules(-1.0)


def test_rescaling_fakes_energy_but_not_effective_macs():
    """ReLU is positively homogeneous: scaling layer 1 by c and layer 2 by 1/c keeps the logits
    and the zero pattern and multiplies the site's E by c², so E moves while the
    compute-grounded figures (active fraction, effective MACs, joules) stay put."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 3))
    x = torch.randn(16, 6)

    def measure(m):
        with EnergyMeter(m) as meter:
            out = m(x)
            energy, active = meter.energy().item(), meter.active_fraction()
        return out, energy, active, count_macs(m, x)

    out, energy, active, macs = measure(model)
    c = 0.1
    with torch.no_grad():
        model[0].weight.mul_(c)
        model[0].bias.mul_(c)
        model[2].weight.div_(c)
    out_s, energy_s, active_s, macs_s = measure(model)

    torch.testing.assert_close(out_s, out, rtol=1e-4, atol=1e-5)
    assert energy_s == pytest.approx(energy * c**2, rel=1e-4)
    assert active_s == active
    assert macs_s.effective == macs.effective
    assert estimate_joules(macs_s) == estimate_joules(macs)
