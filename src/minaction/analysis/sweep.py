"""The λ-sweep table: per λ, accuracy and energy figures over seeds, relative to λ = 0.

rows = sweep_rows(results)        # results: RunResults of one (model, dataset), many λ × seeds
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from minaction.analysis.stats import Interval, mean_interval


@dataclass(frozen=True)
class SweepRow:
    lam: float
    seeds: int
    accuracy: Interval
    accuracy_change_points: Interval  # (accuracy − mean accuracy at λ = 0) × 100, per seed
    energy: Interval
    energy_ratio: float  # mean E / mean E at λ = 0
    active_fraction: Interval
    macs_effective: Interval
    macs_dense: float
    joules: Interval

    @property
    def effective_ratio(self) -> float:
        return self.macs_effective.mean / self.macs_dense if self.macs_dense else math.nan

    def to_dict(self) -> dict:
        def iv(i: Interval) -> dict:
            return {"mean": i.mean, "low": i.low, "high": i.high, "n": i.n}

        return {
            "lam": self.lam,
            "seeds": self.seeds,
            "accuracy": iv(self.accuracy),
            "accuracy_change_points": iv(self.accuracy_change_points),
            "energy": iv(self.energy),
            "energy_ratio": self.energy_ratio,
            "active_fraction": iv(self.active_fraction),
            "macs_effective": iv(self.macs_effective),
            "macs_dense": self.macs_dense,
            "effective_ratio": self.effective_ratio,
            "joules": iv(self.joules),
        }


def sweep_rows(results: Iterable) -> list[SweepRow]:
    """Group results (objects with `.spec.lam` and the RunResult metrics) by λ, ascending.

    The baseline is the smallest λ present (normally 0); changes and ratios are against it.
    """
    by_lam: dict[float, list] = defaultdict(list)
    for result in results:
        by_lam[float(result.spec.lam)].append(result)
    if not by_lam:
        return []
    lams = sorted(by_lam)
    base = by_lam[lams[0]]
    base_accuracy = sum(r.accuracy for r in base) / len(base)
    base_energy = sum(r.energy for r in base) / len(base)

    rows = []
    for lam in lams:
        group = by_lam[lam]
        energy = mean_interval([r.energy for r in group])
        rows.append(
            SweepRow(
                lam=lam,
                seeds=len(group),
                accuracy=mean_interval([r.accuracy for r in group]),
                accuracy_change_points=mean_interval(
                    [100 * (r.accuracy - base_accuracy) for r in group]
                ),
                energy=energy,
                energy_ratio=energy.mean / base_energy if base_energy else math.nan,
                active_fraction=mean_interval([r.active_fraction for r in group]),
                macs_effective=mean_interval([r.macs_effective for r in group]),
                macs_dense=group[0].macs_dense,
                joules=mean_interval([r.joules_estimate for r in group]),
            )
        )
    return rows
