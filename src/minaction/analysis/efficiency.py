"""Training efficiency: what each architecture pays to reach a target accuracy, and its gain
over the best conventional baseline of the same modality.

    section = efficiency_analysis(runs)            # runs: a frame from analysis.load
    for dataset in section.datasets:
        dataset.target, dataset.costs, dataset.gains

The rules, per dataset (datasets are grouped by modality, `dataset_info(name).modality`):

- Compared runs: the completed runs at one λ (default: the smallest λ present, normally 0).
- Target: `target_fraction` (default 0.95) × the lowest final test accuracy among the compared
  architectures, each architecture's accuracy being its mean over seeds. Every architecture
  reaches it on average, so the question is how fast, not whether.
- Cost of a run: the first epoch whose test accuracy ≥ target. epochs = that epoch's number;
  seconds = the training seconds of epochs 1..that one; joules = epochs × training samples ×
  estimated training joules per sample, where a training step of one sample is taken to cost
  TRAINING_PASS_FACTOR = 3 forward passes (the forward pass and a backward pass of about twice
  its multiply-accumulates) at the run's estimated inference joules per sample.
- Cost of an architecture: the mean of its runs' costs.
- Baseline, per measure: the conventional architecture (any not in ENERGY_FIRST) with the
  lowest cost on that dataset.
- Gain = baseline cost / cost − 1: +0.25 means the baseline pays 25% more to reach the target.
- Interval: percentile bootstrap. Each resample draws, within every architecture, as many runs
  as it has, with replacement (the baseline's runs too), from a generator with a fixed seed.
  The target and the baseline's identity are held fixed.

NOTE: training joules use the final model's effective MACs for every epoch; early epochs, whose
activity differs, are counted at the final activity. A per-epoch MAC count in the history would
fix it.
NOTE: a run that never reaches the target makes its architecture's cost unavailable rather than
censored; a survival estimate (runs censored at their last epoch) would keep the information.
NOTE: the interval does not carry the uncertainty of the target or of which baseline is best;
re-deriving both inside each resample would widen it accordingly.
NOTE: a modality with several datasets gets one gain per dataset (baseline and target are per
dataset); pooling them into one gain per modality would need a model of dataset difficulty.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from minaction.analysis.errors import AnalysisError

log = logging.getLogger(__name__)

# The architectures designed energy-first; every other architecture is a conventional baseline.
ENERGY_FIRST = frozenset({"bimodal", "lagrangian"})

MEASURES = ("epochs", "seconds", "joules")
TRAINING_PASS_FACTOR = 3.0
DEFAULT_TARGET_FRACTION = 0.95
DEFAULT_BOOTSTRAP = 2000
DEFAULT_RNG_SEED = 0


def is_energy_first(model: str) -> bool:
    return model in ENERGY_FIRST


def modality_of(dataset: str) -> str:
    """The dataset's modality from the registry; "unregistered" for a name it does not know
    (a run stored by a plug-in that is not imported here)."""
    from minaction.data import dataset_info
    from minaction.errors import UnknownNameError

    try:
        return dataset_info(dataset).modality
    except UnknownNameError:
        return "unregistered"


@dataclass(frozen=True)
class RunCost:
    seed: int
    final_accuracy: float
    reached: bool
    epochs: float  # NaN when the run never reached the target
    seconds: float
    joules: float


@dataclass(frozen=True)
class ArchitectureCost:
    """Mean cost of one architecture on one dataset; NaN unless every run reached the target."""

    model: str
    energy_first: bool
    runs: tuple[RunCost, ...]
    final_accuracy: float
    epochs: float
    seconds: float
    joules: float

    @property
    def reached(self) -> int:
        return sum(run.reached for run in self.runs)

    def cost(self, measure: str) -> float:
        return getattr(self, measure)

    def to_dict(self) -> dict:
        return {
            "model": self.model,
            "energy_first": self.energy_first,
            "runs": len(self.runs),
            "reached": self.reached,
            "final_accuracy": self.final_accuracy,
            "epochs": self.epochs,
            "seconds": self.seconds,
            "joules": self.joules,
        }


@dataclass(frozen=True)
class Gain:
    """Gain of `model` over `baseline` in one measure, with its bootstrap interval."""

    model: str
    measure: str
    baseline: str
    gain: float
    low: float
    high: float
    energy_first: bool

    def to_dict(self) -> dict:
        return {
            "model": self.model,
            "measure": self.measure,
            "baseline": self.baseline,
            "gain": self.gain,
            "low": self.low,
            "high": self.high,
            "energy_first": self.energy_first,
        }


@dataclass(frozen=True)
class DatasetEfficiency:
    modality: str
    dataset: str
    lam: float
    target: float
    lowest_model: str  # whose mean final accuracy set the target
    costs: tuple[ArchitectureCost, ...]
    gains: tuple[Gain, ...]
    baselines: Mapping[str, str] = field(default_factory=dict)  # measure → baseline model
    notes: tuple[str, ...] = ()

    def to_dict(self) -> dict:
        return {
            "modality": self.modality,
            "dataset": self.dataset,
            "lam": self.lam,
            "target": self.target,
            "target_set_by": self.lowest_model,
            "costs": [c.to_dict() for c in self.costs],
            "gains": [g.to_dict() for g in self.gains],
            "baselines": dict(self.baselines),
            "notes": list(self.notes),
        }


@dataclass(frozen=True)
class EfficiencySection:
    target_fraction: float
    bootstrap: int
    rng_seed: int
    confidence: float
    datasets: tuple[DatasetEfficiency, ...]
    notes: tuple[str, ...] = field(default=())

    @property
    def rule(self) -> str:
        return (
            f"target = {self.target_fraction:g} × the lowest mean final accuracy among the "
            "architectures of a dataset; cost = first epoch with test accuracy ≥ target "
            "(epochs; training seconds to it; epochs × training samples × "
            f"{TRAINING_PASS_FACTOR:g} × estimated inference joules per sample); "
            "gain = best conventional baseline's cost / cost − 1, "
            f"{self.confidence:.0%} percentile bootstrap over seeds "
            f"({self.bootstrap} resamples, seed {self.rng_seed})"
        )

    def to_dict(self) -> dict:
        return {
            "rule": self.rule,
            "target_fraction": self.target_fraction,
            "training_pass_factor": TRAINING_PASS_FACTOR,
            "bootstrap": self.bootstrap,
            "rng_seed": self.rng_seed,
            "confidence": self.confidence,
            "energy_first": sorted(ENERGY_FIRST),
            "datasets": [d.to_dict() for d in self.datasets],
            "notes": list(self.notes),
        }


def efficiency_analysis(
    runs: pd.DataFrame,
    target_fraction: float = DEFAULT_TARGET_FRACTION,
    lam: float | None = None,
    bootstrap: int = DEFAULT_BOOTSTRAP,
    rng_seed: int = DEFAULT_RNG_SEED,
    confidence: float = 0.95,
) -> EfficiencySection:
    """Costs and gains per dataset (see module doc), datasets ordered by modality then name.

    Raises:
        AnalysisError: target_fraction outside (0, 1], bootstrap < 1, or a λ with no completed
            runs.
    """
    if not 0 < target_fraction <= 1:
        raise AnalysisError(f"target fraction must be in (0, 1], got {target_fraction!r}")
    if bootstrap < 1:
        raise AnalysisError(f"bootstrap resamples must be ≥ 1, got {bootstrap!r}")
    completed = runs[(runs["status"] == "completed") & runs["accuracy"].notna()]
    notes: list[str] = []
    if completed.empty:
        return EfficiencySection(
            target_fraction, bootstrap, rng_seed, confidence, (), ("no completed runs",)
        )
    if lam is None:
        lam = float(completed["lam"].min())
    elif not np.isclose(completed["lam"], lam, rtol=1e-9, atol=0).any():
        present = ", ".join(f"{v:g}" for v in sorted(completed["lam"].unique()))
        raise AnalysisError(f"no completed runs at λ = {lam:g}; λ present: {present}")
    at_lam = completed[np.isclose(completed["lam"], lam, rtol=1e-9, atol=0)]

    datasets = []
    for dataset in sorted(at_lam["dataset"].unique(), key=lambda d: (modality_of(d), d)):
        group = at_lam[at_lam["dataset"] == dataset]
        datasets.append(
            _dataset_efficiency(
                group, str(dataset), lam, target_fraction, bootstrap, rng_seed, confidence
            )
        )
    if any(d.modality == "unregistered" for d in datasets):
        notes.append("datasets unknown to the registry are grouped as modality 'unregistered'")
    return EfficiencySection(
        target_fraction, bootstrap, rng_seed, confidence, tuple(datasets), tuple(notes)
    )


def run_cost(history: Sequence[dict], target: float) -> tuple[int, float] | None:
    """(epoch, cumulative training seconds) of the first epoch at or above `target`, or None."""
    seconds = 0.0
    for entry in sorted(history, key=lambda e: e["epoch"]):
        seconds += float(entry.get("seconds", math.nan))
        if float(entry["test_accuracy"]) >= target:
            return int(entry["epoch"]), seconds
    return None


def _dataset_efficiency(
    group: pd.DataFrame,
    dataset: str,
    lam: float,
    target_fraction: float,
    bootstrap: int,
    rng_seed: int,
    confidence: float,
) -> DatasetEfficiency:
    notes: list[str] = []
    mean_accuracy = group.groupby("model")["accuracy"].mean()
    lowest_model = str(mean_accuracy.idxmin())
    target = target_fraction * float(mean_accuracy.min())
    n_train = _train_samples(group, dataset, notes)

    costs = []
    for model, runs in group.groupby("model", sort=True):
        run_costs = []
        for _, run in runs.sort_values("seed").iterrows():
            reached = run_cost(run["history"], target) if run["history"] else None
            epochs, seconds = reached if reached else (math.nan, math.nan)
            per_sample = TRAINING_PASS_FACTOR * run["joules_estimate"]
            joules = epochs * n_train * per_sample
            run_costs.append(
                RunCost(
                    int(run["seed"]),
                    float(run["accuracy"]),
                    bool(reached),
                    float(epochs),
                    float(seconds),
                    float(joules),
                )
            )
        no_history = sum(1 for _, run in runs.iterrows() if not run["history"])
        if no_history:
            notes.append(f"{model}: {no_history} run(s) have no per-epoch history")
        missed = sum(not c.reached for c in run_costs) - no_history
        if missed:
            notes.append(f"{model}: {missed} of {len(run_costs)} run(s) never reached the target")
        complete = all(c.reached for c in run_costs)
        means = {
            m: float(np.mean([getattr(c, m) for c in run_costs])) if complete else math.nan
            for m in MEASURES
        }
        costs.append(
            ArchitectureCost(
                str(model),
                is_energy_first(str(model)),
                tuple(run_costs),
                float(mean_accuracy[model]),
                **means,
            )
        )

    gains, baselines = [], {}
    for measure in MEASURES:
        baseline, measured = _gains(costs, measure, bootstrap, rng_seed, confidence, notes)
        gains += measured
        if baseline is not None:
            baselines[measure] = baseline
    return DatasetEfficiency(
        modality=modality_of(dataset),
        dataset=dataset,
        lam=lam,
        target=target,
        lowest_model=lowest_model,
        costs=tuple(costs),
        gains=tuple(gains),
        baselines=baselines,
        notes=tuple(notes),
    )


def _gains(
    costs: list[ArchitectureCost],
    measure: str,
    bootstrap: int,
    rng_seed: int,
    confidence: float,
    notes: list[str],
) -> tuple[str | None, list[Gain]]:
    """The baseline's name and every other architecture's gain over it in `measure`."""
    candidates = [c for c in costs if not c.energy_first and np.isfinite(c.cost(measure))]
    if not candidates:
        notes.append(f"{measure}: no conventional baseline with a cost; no gains")
        return None, []
    baseline = min(candidates, key=lambda c: c.cost(measure))
    rng = np.random.default_rng(rng_seed)
    base_boot = _bootstrap_means(baseline, measure, bootstrap, rng)
    tail = 100 * (1 - confidence) / 2

    gains = []
    for cost in costs:
        if cost is baseline:
            continue
        gain = low = high = math.nan
        value = cost.cost(measure)
        if np.isfinite(value) and value > 0:
            gain = baseline.cost(measure) / value - 1
            boot = base_boot / _bootstrap_means(cost, measure, bootstrap, rng) - 1
            low, high = (float(q) for q in np.percentile(boot, [tail, 100 - tail]))
        gains.append(
            Gain(
                model=cost.model,
                measure=measure,
                baseline=baseline.model,
                gain=gain,
                low=low,
                high=high,
                energy_first=cost.energy_first,
            )
        )
    return baseline.model, gains


def _bootstrap_means(
    cost: ArchitectureCost, measure: str, bootstrap: int, rng: np.random.Generator
) -> np.ndarray:
    """Means of `bootstrap` resamples (with replacement) of the runs' costs: (bootstrap,)."""
    values = np.array([getattr(run, measure) for run in cost.runs])
    picks = rng.integers(0, len(values), size=(bootstrap, len(values)))
    return values[picks].mean(axis=1)


def _train_samples(group: pd.DataFrame, dataset: str, notes: list[str]) -> float:
    """Training samples seen per epoch: the spec's limit_train, else the registry's size."""
    from minaction.data import dataset_info
    from minaction.errors import UnknownNameError

    try:
        sizes = dataset_info(dataset).sizes
    except UnknownNameError:
        sizes = None
    full = float(sizes[0]) if sizes else math.nan
    limits = {spec.get("limit_train") for spec in group["spec"] if isinstance(spec, dict)}
    if len(limits) > 1:
        notes.append(f"runs differ in limit_train {sorted(map(str, limits))}; the first is used")
    limit = next(iter(sorted(limits, key=str)), None)
    n_train = min(float(limit), full) if limit and np.isfinite(full) else float(limit or full)
    if not np.isfinite(n_train):
        notes.append("training set size unknown: joules costs are not available")
    return n_train
