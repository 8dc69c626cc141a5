"""Factorial ANOVA by least squares, with sum-to-zero coding and Type II or Type III sums of
squares.

    table = factorial_anova(runs, response="accuracy", factors=("model", "dataset", "lam"))
    for term in table.terms:
        term.name, term.sum_sq, term.df, term.f_value, term.p_value, term.partial_eta_sq

The model has every main effect and every interaction of the factors. Each factor with k levels
is coded by k − 1 deviation columns (level j: +1 in column j; the last level: −1 in every
column), and an interaction's columns are the products of its factors' columns, so every effect
sums to zero over its levels.

Sums of squares are differences of residual sums of squares between nested least-squares fits:

- Type II: a term against the model of all terms that do not contain it, with and without it.
  It does not depend on the coding and tests main effects in the presence of the other main
  effects, respecting marginality.
- Type III: a term dropped from the full model. With sum-to-zero coding it tests each effect
  averaged over equally weighted levels of the others, whatever the cell sizes.

Degrees of freedom are rank differences, so a design with empty cells still gives a table: a
term that the empty cells make inestimable gets df = 0 and no F.

NOTE: with empty cells, Type III hypotheses depend on which cells are missing (the balanced
averages they test no longer exist); SAS answers with Type IV sums of squares. The table is
still computed, and the empty cells are reported beside it so the reader can weigh it.
"""

from __future__ import annotations

import itertools
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

from minaction.analysis.errors import AnalysisError

log = logging.getLogger(__name__)

SS_TYPES = (2, 3)

# Relative size below which a sum of squares is rounding noise of two equal fits.
_SS_TOLERANCE = 1e-10


@dataclass(frozen=True)
class AnovaTerm:
    """One row of the table: a main effect or an interaction."""

    factors: tuple[str, ...]
    sum_sq: float
    df: int
    f_value: float
    p_value: float
    partial_eta_sq: float  # SS_term / (SS_term + SS_error)

    @property
    def name(self) -> str:
        return " × ".join(self.factors)

    def to_dict(self) -> dict:
        return {
            "term": self.name,
            "factors": list(self.factors),
            "sum_sq": self.sum_sq,
            "df": self.df,
            "F": self.f_value,
            "p": self.p_value,
            "partial_eta_sq": self.partial_eta_sq,
        }


@dataclass(frozen=True)
class AnovaTable:
    """The table of a factorial ANOVA, with the error term and what the fit had to warn about."""

    response: str
    factors: tuple[str, ...]
    ss_type: int
    terms: tuple[AnovaTerm, ...]
    residual_sum_sq: float
    residual_df: int
    n_observations: int
    warnings: tuple[str, ...] = field(default=())

    def term(self, *factors: str) -> AnovaTerm:
        """The row of the term made of exactly these factors, in any order."""
        wanted = set(factors)
        for term in self.terms:
            if set(term.factors) == wanted:
                return term
        raise KeyError(f"no term {' × '.join(factors)}; terms: {[t.name for t in self.terms]}")

    def to_dict(self) -> dict:
        return {
            "response": self.response,
            "factors": list(self.factors),
            "ss_type": self.ss_type,
            "terms": [t.to_dict() for t in self.terms],
            "residual": {"sum_sq": self.residual_sum_sq, "df": self.residual_df},
            "n_observations": self.n_observations,
            "warnings": list(self.warnings),
        }


def sum_to_zero_columns(codes: np.ndarray, n_levels: int) -> np.ndarray:
    """Deviation coding of integer level codes 0..n_levels−1: shape (n, n_levels − 1)."""
    columns = np.zeros((len(codes), n_levels - 1))
    for level in range(n_levels - 1):
        columns[codes == level, level] = 1.0
    columns[codes == n_levels - 1, :] = -1.0
    return columns


def factorial_terms(factors: Sequence[str]) -> list[tuple[str, ...]]:
    """Every main effect and interaction, main effects first, each in the factors' order."""
    return [
        combo
        for order in range(1, len(factors) + 1)
        for combo in itertools.combinations(factors, order)
    ]


def factorial_anova(
    data: pd.DataFrame, response: str, factors: Sequence[str], ss_type: int = 2
) -> AnovaTable:
    """ANOVA of `data[response]` on the full factorial model of `factors` (see module doc).

    Args:
        data: one row per observation; factor columns are treated as categorical, their levels
            in sorted order. Rows whose response is missing must be removed by the caller, who
            knows why they are missing.
        ss_type: 2 or 3.

    Raises:
        AnalysisError: an unknown ss_type, a missing column, a missing response value, fewer
            than two levels in a factor, or fewer observations than needed for one fit.
    """
    if ss_type not in SS_TYPES:
        raise AnalysisError(f"sum of squares type must be 2 or 3, got {ss_type!r}")
    factors = tuple(factors)
    if not factors:
        raise AnalysisError("an ANOVA needs at least one factor")
    missing = [c for c in (response, *factors) if c not in data.columns]
    if missing:
        raise AnalysisError(f"columns {missing} are missing; present: {list(data.columns)}")
    y = data[response].to_numpy(dtype=float)
    if not np.all(np.isfinite(y)):
        raise AnalysisError(f"{response} has missing or infinite values; remove those rows first")

    blocks: dict[str, np.ndarray] = {}
    for factor in factors:
        levels = sorted(data[factor].unique())
        if len(levels) < 2:
            raise AnalysisError(f"factor {factor} has a single level {levels}; leave it out")
        codes = data[factor].map({level: i for i, level in enumerate(levels)}).to_numpy()
        blocks[factor] = sum_to_zero_columns(codes, len(levels))
    terms = factorial_terms(factors)
    columns = {term: _term_columns(term, blocks, len(y)) for term in terms}

    def fit(included: Sequence[tuple[str, ...]]) -> tuple[float, int]:
        design = np.column_stack([np.ones(len(y)), *(columns[t] for t in included)])
        return _residual_sum_sq(design, y)

    residual_sum_sq, full_rank = fit(terms)
    residual_df = len(y) - full_rank
    warnings: list[str] = []
    if residual_df == 0:
        warnings.append(
            "no residual degrees of freedom (one observation per cell): F and p are undefined; "
            "run more seeds"
        )
    total_sum_sq = float(((y - y.mean()) ** 2).sum())

    rows = []
    for term in terms:
        if ss_type == 2:
            others = [t for t in terms if t != term and not set(term) < set(t)]
            rss_without, rank_without = fit(others)
            rss_with, rank_with = fit([*others, term])
        else:
            rss_without, rank_without = fit([t for t in terms if t != term])
            rss_with, rank_with = residual_sum_sq, full_rank
        sum_sq = rss_without - rss_with
        if abs(sum_sq) <= _SS_TOLERANCE * max(total_sum_sq, 1e-300):
            sum_sq = 0.0
        df = rank_with - rank_without
        if df == 0:
            warnings.append(
                f"term {' × '.join(term)} cannot be estimated: empty cells confound it with "
                "other terms (df = 0)"
            )
        rows.append(_row(term, sum_sq, df, residual_sum_sq, residual_df))

    for message in warnings:
        log.info("ANOVA of %s: %s", response, message)
    return AnovaTable(
        response=response,
        factors=factors,
        ss_type=ss_type,
        terms=tuple(rows),
        residual_sum_sq=residual_sum_sq,
        residual_df=residual_df,
        n_observations=len(y),
        warnings=tuple(warnings),
    )


def _term_columns(term: tuple[str, ...], blocks: dict[str, np.ndarray], n: int) -> np.ndarray:
    """Products of the factors' deviation columns, every combination: (n, Π(k_f − 1))."""
    columns = np.ones((n, 1))
    for factor in term:
        block = blocks[factor]
        columns = (columns[:, :, None] * block[:, None, :]).reshape(n, -1)
    return columns


def _residual_sum_sq(design: np.ndarray, y: np.ndarray) -> tuple[float, int]:
    """Residual sum of squares of the least-squares fit, and the design's rank.

    The SVD-based solver gives the right residuals even when empty cells make the design
    rank-deficient (the minimum-norm coefficients are not unique, the fitted values are).
    """
    coef, _, rank, _ = np.linalg.lstsq(design, y, rcond=None)
    residual = y - design @ coef
    return float(residual @ residual), int(rank)


def _row(
    term: tuple[str, ...], sum_sq: float, df: int, residual_sum_sq: float, residual_df: int
) -> AnovaTerm:
    if df > 0 and residual_df > 0 and residual_sum_sq > 0:
        f_value = (sum_sq / df) / (residual_sum_sq / residual_df)
        p_value = float(stats.f.sf(f_value, df, residual_df))
    elif df > 0 and residual_df > 0:  # a perfect fit: any effect is infinitely significant
        f_value = math.inf if sum_sq > 0 else math.nan
        p_value = 0.0 if sum_sq > 0 else math.nan
    else:
        f_value = p_value = math.nan
    denominator = sum_sq + residual_sum_sq
    partial_eta_sq = sum_sq / denominator if denominator > 0 else math.nan
    return AnovaTerm(term, sum_sq, df, f_value, p_value, partial_eta_sq)
