"""Everything `minaction analyze` and `minaction report` show, computed from a frame of runs.

    analysis = analyze(load_runs("runs.sqlite"))
    analysis.anova.table.term("architecture", "dataset").partial_eta_sq
    analysis.sweeps[0].rows, analysis.efficiency.datasets[0].gains
    json.dumps(analysis.to_dict())

Three parts, one per finding of the reference study:

1. A factorial ANOVA of final test accuracy on architecture, dataset and λ (each where it takes
   more than one value), seeds as replicates. Only completed runs with an accuracy enter it;
   the others, and the cells they leave empty, are counted in `design`.
2. The λ-sweep per (architecture, dataset), in analysis.sweep.
3. Training efficiency per modality, in analysis.efficiency.
"""

from __future__ import annotations

import itertools
import json
import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from minaction.analysis.anova import AnovaTable, factorial_anova
from minaction.analysis.efficiency import (
    DEFAULT_BOOTSTRAP,
    DEFAULT_RNG_SEED,
    DEFAULT_TARGET_FRACTION,
    EfficiencySection,
    efficiency_analysis,
)
from minaction.analysis.errors import AnalysisError
from minaction.analysis.sweep import SweepTable, interval_dict, sweep_tables

log = logging.getLogger(__name__)

# Run columns that are factors, and their names in the ANOVA table.
FACTORS = {"model": "architecture", "dataset": "dataset", "lam": "lambda"}
RESPONSE = "accuracy"

# What the reference study reports, shown beside what was measured.
REFERENCE_FINDINGS = {
    "anova": "architecture alone: partial η² = 0.001; architecture × dataset: partial η² = "
    "0.44, p < 0.001",
    "sweep": "across λ ∈ {0, 1e-5, 1e-4, 1e-3, 1e-2}, E falls by about three orders of "
    "magnitude with under 0.5 points of accuracy change on MNIST and Fashion-MNIST",
    "efficiency": "energy-first architectures (bimodal, lagrangian) gain 5–33% training "
    "efficiency over conventional baselines within a modality",
}


@dataclass(frozen=True)
class Design:
    """Which runs the ANOVA could use, and which it could not and why."""

    runs: int
    status_counts: Mapping[str, int]
    used: int  # completed runs with an accuracy
    completed_without_accuracy: int
    factors: tuple[str, ...]  # run columns that vary among the used runs
    constant: Mapping[str, Any]  # run column → its single value
    levels: Mapping[str, list]
    cells: int  # cells of the full crossing of every level seen in any run
    empty_cells: tuple[Mapping[str, Any], ...]  # factor values and runs by status
    replicates_min: int
    replicates_max: int
    varying_settings: Mapping[str, list]  # RunSpec settings, not factors, that differ

    @property
    def balanced(self) -> bool:
        return not self.empty_cells and self.replicates_min == self.replicates_max

    def to_dict(self) -> dict:
        return {
            "runs": self.runs,
            "status_counts": dict(self.status_counts),
            "used": self.used,
            "completed_without_accuracy": self.completed_without_accuracy,
            "factors": [FACTORS[f] for f in self.factors],
            "constant": {FACTORS[k]: v for k, v in self.constant.items()},
            "levels": {FACTORS[k]: v for k, v in self.levels.items()},
            "cells": self.cells,
            "empty_cells": [dict(c) for c in self.empty_cells],
            "replicates": {"min": self.replicates_min, "max": self.replicates_max},
            "balanced": self.balanced,
            "varying_settings": dict(self.varying_settings),
        }


@dataclass(frozen=True)
class AnovaSection:
    design: Design
    table: AnovaTable | None
    unavailable: str | None = None  # why there is no table

    def to_dict(self) -> dict:
        return {
            "design": self.design.to_dict(),
            "table": self.table.to_dict() if self.table else None,
            "unavailable": self.unavailable,
        }


@dataclass(frozen=True)
class Analysis:
    source: str
    anova: AnovaSection
    sweeps: tuple[SweepTable, ...]
    efficiency: EfficiencySection
    findings: Mapping[str, Any]
    warnings: tuple[str, ...] = field(default=())

    def to_dict(self) -> dict:
        return _json_safe(
            {
                "source": self.source,
                "reference": REFERENCE_FINDINGS,
                "findings": dict(self.findings),
                "anova": self.anova.to_dict(),
                "sweeps": [s.to_dict() for s in self.sweeps],
                "efficiency": self.efficiency.to_dict(),
                "warnings": list(self.warnings),
            }
        )

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent, ensure_ascii=False, allow_nan=False)


def analyze(
    runs: pd.DataFrame,
    ss_type: int = 2,
    target_fraction: float = DEFAULT_TARGET_FRACTION,
    efficiency_lam: float | None = None,
    bootstrap: int = DEFAULT_BOOTSTRAP,
    rng_seed: int = DEFAULT_RNG_SEED,
    source: str = "<runs>",
) -> Analysis:
    """The three parts of the study from a frame of runs (see analysis.load for the columns).

    Raises:
        AnalysisError: the frame has no runs, or an option is out of range.
    """
    if runs.empty:
        raise AnalysisError(f"{source} holds no runs; run a grid into it first")
    anova = anova_section(runs, ss_type)
    sweeps = tuple(sweep_tables(runs))
    efficiency = efficiency_analysis(runs, target_fraction, efficiency_lam, bootstrap, rng_seed)

    warnings = []
    design = anova.design
    not_done = {s: n for s, n in design.status_counts.items() if s != "completed" and n}
    if not_done:
        listing = ", ".join(f"{n} {s}" for s, n in not_done.items())
        warnings.append(f"{listing} of {design.runs} runs are not in any table or test")
    if design.completed_without_accuracy:
        warnings.append(f"{design.completed_without_accuracy} completed runs have no accuracy")
    if design.empty_cells:
        warnings.append(f"{len(design.empty_cells)} of {design.cells} cells have no usable run")
    for setting, values in design.varying_settings.items():
        warnings.append(
            f"runs differ in {setting} ({', '.join(map(str, values))}) and are pooled as "
            "replicates; where a grid overrides it per dataset or model it is confounded "
            "with that factor"
        )
    if anova.table is not None:
        warnings += [f"ANOVA: {w}" for w in anova.table.warnings]
    elif anova.unavailable:
        warnings.append(f"no ANOVA: {anova.unavailable}")
    for dataset in efficiency.datasets:
        warnings += [f"efficiency on {dataset.dataset}: {note}" for note in dataset.notes]
    for message in warnings:
        log.info("%s: %s", source, message)
    return Analysis(
        source, anova, sweeps, efficiency, _findings(anova, sweeps, efficiency), tuple(warnings)
    )


def anova_section(runs: pd.DataFrame, ss_type: int = 2) -> AnovaSection:
    """The design of the runs and, when it has a varying factor, the ANOVA of accuracy."""
    design = describe_design(runs)
    usable = usable_runs(runs)
    if not design.factors:
        reason = "every usable run has the same architecture, dataset and λ"
        if design.used == 0:
            reason = "no completed run has an accuracy"
        return AnovaSection(design, None, reason)
    data = usable.rename(columns=FACTORS)
    factors = [FACTORS[f] for f in design.factors]
    table = factorial_anova(data, RESPONSE, factors, ss_type=ss_type)
    return AnovaSection(design, table)


def describe_design(runs: pd.DataFrame) -> Design:
    usable = usable_runs(runs)
    status_counts = {s: int(n) for s, n in runs["status"].value_counts().sort_index().items()}
    completed = int((runs["status"] == "completed").sum())

    factors, constant, levels = [], {}, {}
    for column in FACTORS:
        seen = sorted(runs[column].dropna().unique().tolist())
        used_levels = sorted(usable[column].unique().tolist())
        levels[column] = seen
        if len(used_levels) > 1:
            factors.append(column)
        elif len(seen) == 1:
            constant[column] = seen[0]
    # A factor is in the design when any run (of any status) gives it a second level, so cells
    # left empty by failures are reported even when they leave a single usable level.
    crossed = [c for c in FACTORS if len(levels[c]) > 1]
    cells = list(itertools.product(*(levels[c] for c in crossed))) if crossed else [()]
    used_counts = usable.groupby(crossed).size().to_dict() if crossed else {(): len(usable)}
    empty_cells = []
    for cell in cells:
        key = cell if len(cell) != 1 else cell[0]
        if used_counts.get(key, 0):
            continue
        match = pd.Series(True, index=runs.index)
        for column, value in zip(crossed, cell, strict=True):
            match &= runs[column] == value
        statuses = runs.loc[match, "status"].value_counts().sort_index()
        empty_cells.append(
            {
                **{FACTORS[c]: v for c, v in zip(crossed, cell, strict=True)},
                "runs": {s: int(n) for s, n in statuses.items()},
            }
        )
    counts = [n for n in used_counts.values() if n]

    return Design(
        runs=len(runs),
        status_counts=status_counts,
        used=len(usable),
        completed_without_accuracy=completed - len(usable),
        factors=tuple(factors),
        constant=constant,
        levels=levels,
        cells=len(cells),
        empty_cells=tuple(empty_cells),
        replicates_min=min(counts, default=0),
        replicates_max=max(counts, default=0),
        varying_settings=_varying_settings(usable),
    )


def usable_runs(runs: pd.DataFrame) -> pd.DataFrame:
    """The runs every table and test uses: completed, with a finite accuracy."""
    finite = np.isfinite(runs[RESPONSE].to_numpy(dtype=float))
    return runs[(runs["status"] == "completed").to_numpy() & finite]


def _varying_settings(runs: pd.DataFrame) -> dict[str, list]:
    if "spec" not in runs.columns:
        return {}
    values: dict[str, set] = {}
    for spec in runs["spec"]:
        if not isinstance(spec, dict):
            continue
        for key, value in spec.items():
            if key not in FACTORS and key != "seed":
                values.setdefault(key, set()).add(json.dumps(value))
    return {k: sorted(json.loads(v) for v in vs) for k, vs in values.items() if len(vs) > 1}


def _findings(
    anova: AnovaSection, sweeps: tuple[SweepTable, ...], efficiency: EfficiencySection
) -> dict[str, Any]:
    """The numbers that stand beside each reference finding."""
    terms = {}
    if anova.table is not None:
        for name in (("architecture",), ("architecture", "dataset")):
            try:
                term = anova.table.term(*name)
            except KeyError:
                continue
            terms[term.name] = {"partial_eta_sq": term.partial_eta_sq, "p": term.p_value}

    extremes = []
    for sweep in sweeps:
        if len(sweep.rows) < 2:
            continue
        last = sweep.rows[-1]
        extremes.append(
            {
                "model": sweep.model,
                "dataset": sweep.dataset,
                "baseline_lam": sweep.rows[0].lam,
                "lam": last.lam,
                "energy_ratio": last.energy_ratio,
                "orders_of_magnitude": -math.log10(last.energy_ratio)
                if last.energy_ratio and last.energy_ratio > 0
                else math.nan,
                "accuracy_change_points": interval_dict(last.accuracy_change_points),
            }
        )

    gains = [
        {"modality": d.modality, "dataset": d.dataset, **g.to_dict()}
        for d in efficiency.datasets
        for g in d.gains
        if g.energy_first
    ]
    return {"anova": terms, "sweep": extremes, "efficiency": gains}


def _json_safe(value: Any) -> Any:
    """NaN and infinities become None, numpy scalars plain numbers, so the JSON is standard."""
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
