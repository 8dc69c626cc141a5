"""Per-operation energy tables and the joules they give for an operation count.

    estimate_joules(count_macs(model, x))                        # joules per sample
    estimate_joules(1e6, table="horowitz-45nm")                  # a bare MAC count

The estimate covers arithmetic only: effective MACs at the table's MAC cost plus synaptic
operations at its accumulate cost. Memory traffic depends on the dataflow of the hardware and is
left out of the figure; the table still carries the read costs so callers can add their own model.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from minaction.energy.ops import MacCount
from minaction.errors import UnknownNameError

PICO = 1e-12


@dataclass(frozen=True)
class CostTable:
    """Energy per operation, in picojoules."""

    name: str
    mult_pj: float
    add_pj: float
    sram_read_pj: float
    dram_read_pj: float
    source: str

    @property
    def mac_pj(self) -> float:
        return self.mult_pj + self.add_pj

    @property
    def accumulate_pj(self) -> float:
        return self.add_pj

    def to_dict(self) -> dict:
        return {**asdict(self), "mac_pj": self.mac_pj, "accumulate_pj": self.accumulate_pj}


_TABLES: dict[str, CostTable] = {}


def register_cost_table(table: CostTable) -> CostTable:
    _TABLES[table.name] = table
    return table


register_cost_table(
    CostTable(
        name="horowitz-45nm",
        mult_pj=3.7,
        add_pj=0.9,
        sram_read_pj=5.0,
        dram_read_pj=640.0,
        source=(
            "M. Horowitz, 'Computing's energy problem (and what we can do about it)', "
            "ISSCC 2014: 32-bit float multiply 3.7 pJ and add 0.9 pJ, 32-bit SRAM read "
            "(8 KB) 5 pJ, 32-bit DRAM read 640 pJ, all at 45 nm"
        ),
    )
)


def cost_tables() -> dict[str, CostTable]:
    return dict(_TABLES)


def get_cost_table(table: str | CostTable) -> CostTable:
    if isinstance(table, CostTable):
        return table
    try:
        return _TABLES[table]
    except KeyError:
        raise UnknownNameError(
            f"unknown cost table {table!r}; known: {', '.join(sorted(_TABLES))}"
        ) from None


def estimate_joules(
    macs: MacCount | float, table: str | CostTable = "horowitz-45nm", dense: bool = False
) -> float:
    """Estimated joules per sample of the arithmetic in `macs`.

    Args:
        macs: a MacCount (its effective MACs and synaptic operations are used) or a plain
            number of MACs.
        table: a registered table name or a CostTable.
        dense: price the dense MAC count instead of the effective one.
    """
    costs = get_cost_table(table)
    if isinstance(macs, MacCount):
        mac_count = macs.dense if dense else macs.effective
        synops = macs.synops
    else:
        mac_count, synops = float(macs), 0.0
    if mac_count < 0 or synops < 0:
        raise ValueError(f"operation counts must be non-negative, got {mac_count}, {synops}")
    return (mac_count * costs.mac_pj + synops * costs.accumulate_pj) * PICO
