"""What energy means in minaction and how it is counted."""

from minaction.energy.costs import CostTable, cost_tables, estimate_joules, get_cost_table
from minaction.energy.meter import EnergyMeter, EnergySite, find_sites, register_site_type
from minaction.energy.ops import LayerOps, MacCount, count_macs, register_mac_rule

__all__ = [
    "CostTable",
    "EnergyMeter",
    "EnergySite",
    "LayerOps",
    "MacCount",
    "cost_tables",
    "count_macs",
    "estimate_joules",
    "find_sites",
    "get_cost_table",
    "register_mac_rule",
    "register_site_type",
]
