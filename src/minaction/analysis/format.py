"""Plain-text cells shared by `minaction analyze` and the HTML report, so both say the same."""

from __future__ import annotations

import math

from minaction.analysis.efficiency import MEASURES


def number(value: float | None, spec: str) -> str:
    """`value` formatted with `spec`, or "n/a" when it is missing or not finite."""
    return f"{value:{spec}}" if value is not None and math.isfinite(value) else "n/a"


def p_value(p: float | None) -> str:
    if p is None or not math.isfinite(p):
        return "n/a"
    return "< 0.001" if p < 0.001 else f"{p:.3f}"


def gain_text(gain) -> str:
    """A gain with its interval, "+12.0% [+3.1%, +20.5%]"; "n/a" when there is none."""
    if gain is None or not math.isfinite(gain.gain):
        return "n/a"
    return f"{gain.gain:+.1%} [{gain.low:+.1%}, {gain.high:+.1%}]"


def efficiency_rows(dataset) -> list[list[str]]:
    """One row per architecture of an efficiency dataset: architecture, kind, runs that reached
    the target, final accuracy, epochs, seconds, training joules, then a gain per measure
    ("baseline" for the measure's baseline itself)."""
    gains = {(g.model, g.measure): g for g in dataset.gains}
    rows = []
    for cost in dataset.costs:
        row = [cost.model, "energy-first" if cost.energy_first else "conventional",
               f"{cost.reached}/{len(cost.runs)}", f"{cost.final_accuracy:.4f}",
               number(cost.epochs, ".2f"), number(cost.seconds, ".3g"),
               number(cost.joules, ".3g")]  # fmt: skip
        for measure in MEASURES:
            if dataset.baselines.get(measure) == cost.model:
                row.append("baseline")
            else:
                row.append(gain_text(gains.get((cost.model, measure))))
        rows.append(row)
    return rows
