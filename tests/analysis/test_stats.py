"""Intervals over seeds: correct width and coverage for a known variance, narrower with more
seeds, for the t-interval of the tables and the bootstrap interval of the efficiency gains."""

import math

import numpy as np
import pytest
from scipy import stats

from minaction.analysis.efficiency import efficiency_analysis
from minaction.analysis.stats import mean_interval
from minaction.analysis.sweep import sweep_tables
from tests.analysis.synthetic import synthetic_runs

SIGMA = 0.02


def test_half_width_matches_t_times_sigma_over_root_n():
    """With the sample standard deviation replaced by its expectation, the half-width is
    t(0.975, n−1) × σ / √n; averaged over many draws it comes close (within 5%; the mean of the
    sample s is c4(n) × σ, c4 ≥ 0.97 for n ≥ 10)."""
    rng = np.random.default_rng(0)
    for n in (10, 40):
        widths = [mean_interval(rng.normal(0.9, SIGMA, n)).half_width for _ in range(400)]
        expected = stats.t.ppf(0.975, n - 1) * SIGMA / math.sqrt(n)
        assert np.mean(widths) == pytest.approx(expected, rel=0.05)


def test_coverage_is_close_to_95_percent():
    rng = np.random.default_rng(1)
    hits = 0
    draws = 2000
    for _ in range(draws):
        interval = mean_interval(rng.normal(0.5, SIGMA, 5))
        hits += interval.low <= 0.5 <= interval.high
    # binomial standard error at 95% over 2000 draws is 0.5 points; allow four of them
    assert hits / draws == pytest.approx(0.95, abs=0.02)


def test_sweep_intervals_shrink_as_seeds_grow():
    """Same synthetic study (accuracy noise σ = 0.02) with 3, 10 and 30 seeds: every interval of
    every row narrows, roughly as 1/√n."""
    widths = []
    for seeds in (3, 10, 30):
        runs = synthetic_runs(models=("mlp",), datasets=("digits",), seeds=seeds, noise=SIGMA)
        (table,) = sweep_tables(runs)
        widths.append([row.accuracy.half_width for row in table.rows])
    widths = np.array(widths)  # (3 seed counts, λ)
    assert np.all(np.diff(widths, axis=0) < 0)
    # 3 → 30 seeds: t·σ/√n goes from 4.30/√3 = 2.48σ to 2.05/√30 = 0.37σ, a factor of ~6.7
    assert np.median(widths[0] / widths[2]) > 3


def test_bootstrap_gain_intervals_shrink_as_seeds_grow():
    spans = []
    for seeds in (3, 12, 48):
        runs = synthetic_runs(models=("mlp", "bimodal"), datasets=("digits",), lams=(0.0,),
                              seeds=seeds, rng_seed=5)  # fmt: skip
        (dataset,) = efficiency_analysis(runs, bootstrap=500).datasets
        (gain,) = [g for g in dataset.gains if g.measure == "seconds"]
        assert gain.low <= gain.gain <= gain.high
        spans.append(gain.high - gain.low)
    assert spans[0] > spans[1] > spans[2]


def test_interval_edge_cases():
    assert mean_interval([]).n == 0 and math.isnan(mean_interval([]).mean)
    single = mean_interval([0.7])
    assert (single.mean, single.low, single.high, single.n) == (0.7, 0.7, 0.7, 1)
