"""The λ-sweep table: per λ, accuracy and energy figures over seeds, relative to λ = 0.

rows = sweep_rows(results)       # RunResults of one (model, dataset), many λ × seeds
tables = sweep_tables(runs)      # a frame of runs (analysis.load): one per (model, dataset)
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from minaction.analysis.stats import Interval, mean_interval

if TYPE_CHECKING:  # pandas is needed only for frames of stored runs, not by `minaction sweep`
    import pandas as pd

SWEEP_METRICS = (
    "accuracy",
    "energy",
    "active_fraction",
    "macs_effective",
    "macs_dense",
    "joules_estimate",
)


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
    # E / (mean E at λ = 0), per seed; its mean is energy_ratio.
    # NOTE: the interval treats the λ = 0 mean as exact, so it is too narrow by the baseline's
    # own uncertainty; a ratio interval (Fieller, or a bootstrap over both groups) would fix it.
    energy_ratio_interval: Interval | None = None

    @property
    def effective_ratio(self) -> float:
        return self.macs_effective.mean / self.macs_dense if self.macs_dense else math.nan

    def to_dict(self) -> dict:
        data = {
            "lam": self.lam,
            "seeds": self.seeds,
            "accuracy": interval_dict(self.accuracy),
            "accuracy_change_points": interval_dict(self.accuracy_change_points),
            "energy": interval_dict(self.energy),
            "energy_ratio": self.energy_ratio,
            "active_fraction": interval_dict(self.active_fraction),
            "macs_effective": interval_dict(self.macs_effective),
            "macs_dense": self.macs_dense,
            "effective_ratio": self.effective_ratio,
            "joules": interval_dict(self.joules),
        }
        if self.energy_ratio_interval is not None:
            data["energy_ratio_interval"] = interval_dict(self.energy_ratio_interval)
        return data


@dataclass(frozen=True)
class SweepTable:
    """The sweep of one (architecture, dataset), and the runs left out of it by status."""

    model: str
    dataset: str
    rows: tuple[SweepRow, ...]
    excluded: Mapping[float, Mapping[str, int]] = field(default_factory=dict)  # λ → status → n

    def to_dict(self) -> dict:
        return {
            "model": self.model,
            "dataset": self.dataset,
            "baseline_lam": self.rows[0].lam if self.rows else None,
            "rows": [row.to_dict() for row in self.rows],
            "excluded": [
                {"lam": lam, "status": status, "runs": count}
                for lam, counts in sorted(self.excluded.items())
                for status, count in sorted(counts.items())
            ],
        }


def interval_dict(interval: Interval) -> dict:
    return {"mean": interval.mean, "low": interval.low, "high": interval.high, "n": interval.n}


def sweep_rows(results: Iterable) -> list[SweepRow]:
    """Group results (objects with `.spec.lam` and the RunResult metrics) by λ, ascending.

    The baseline is the smallest λ present (normally 0); changes and ratios are against it.
    """
    records = [
        {"lam": result.spec.lam, **{m: getattr(result, m) for m in SWEEP_METRICS}}
        for result in results
    ]
    return sweep_rows_from_records(records)


def sweep_rows_from_records(records: Iterable[Mapping]) -> list[SweepRow]:
    """`sweep_rows` for mappings with the keys lam and SWEEP_METRICS (one mapping a run)."""
    by_lam: dict[float, list[Mapping]] = defaultdict(list)
    for record in records:
        by_lam[float(record["lam"])].append(record)
    if not by_lam:
        return []
    lams = sorted(by_lam)
    base = by_lam[lams[0]]
    base_accuracy = sum(r["accuracy"] for r in base) / len(base)
    base_energy = sum(r["energy"] for r in base) / len(base)

    rows = []
    for lam in lams:
        group = by_lam[lam]
        energy = mean_interval([r["energy"] for r in group])
        rows.append(
            SweepRow(
                lam=lam,
                seeds=len(group),
                accuracy=mean_interval([r["accuracy"] for r in group]),
                accuracy_change_points=mean_interval(
                    [100 * (r["accuracy"] - base_accuracy) for r in group]
                ),
                energy=energy,
                energy_ratio=energy.mean / base_energy if base_energy else math.nan,
                active_fraction=mean_interval([r["active_fraction"] for r in group]),
                macs_effective=mean_interval([r["macs_effective"] for r in group]),
                macs_dense=group[0]["macs_dense"],
                joules=mean_interval([r["joules_estimate"] for r in group]),
                energy_ratio_interval=mean_interval(
                    [r["energy"] / base_energy if base_energy else math.nan for r in group]
                ),
            )
        )
    return rows


def sweep_tables(runs: pd.DataFrame) -> list[SweepTable]:
    """One sweep per (model, dataset) in a frame of runs (see analysis.load), sorted by name.

    Only completed runs with an accuracy enter the rows; the others are counted per λ and
    status in `excluded` (a completed run without accuracy counts as "no accuracy").
    """
    tables = []
    for (model, dataset), group in runs.groupby(["model", "dataset"], sort=True):
        usable = (group["status"] == "completed") & group["accuracy"].notna()
        records = group.loc[usable, ["lam", *SWEEP_METRICS]].to_dict("records")
        excluded: dict[float, dict[str, int]] = defaultdict(dict)
        for _, run in group.loc[~usable].iterrows():
            status = run["status"] if run["status"] != "completed" else "no accuracy"
            counts = excluded[float(run["lam"])]
            counts[status] = counts.get(status, 0) + 1
        rows = tuple(sweep_rows_from_records(records))
        tables.append(SweepTable(str(model), str(dataset), rows, dict(excluded)))
    return tables
