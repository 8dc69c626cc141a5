"""The ANOVA against statsmodels' anova_lm as an oracle, on the same data and coding
(`C(x, Sum)`), Type II and III, balanced and unbalanced; partial η² against a hand computation."""

import math
import re

import numpy as np
import pandas as pd
import pytest

from minaction.analysis.anova import factorial_anova, factorial_terms, sum_to_zero_columns
from minaction.analysis.errors import AnalysisError

statsmodels_formula = pytest.importorskip("statsmodels.formula.api")
statsmodels_anova = pytest.importorskip("statsmodels.stats.anova")

LEVELS = {
    "architecture": ["mlp", "cnn", "bimodal"],
    "dataset": ["digits", "fortunes"],
    "lam": [0.0, 1e-4, 1e-2],
}


def _design(factors, replicates, seed=0) -> pd.DataFrame:
    """Accuracy with a main effect of each factor, an architecture × dataset interaction, and
    noise; `replicates(cell_index)` gives the observations in each cell."""
    rng = np.random.default_rng(seed)
    rows = []
    cells = pd.MultiIndex.from_product([LEVELS[f] for f in factors]).tolist()
    for index, cell in enumerate(cells):
        values = dict(zip(factors, cell, strict=True))
        shift = 0.02 * LEVELS["architecture"].index(values.get("architecture", "mlp"))
        shift += 0.05 * (values.get("dataset") == "fortunes")
        if values.get("architecture") == "cnn" and values.get("dataset") == "fortunes":
            shift -= 0.06
        for _ in range(replicates(index)):
            rows.append({**values, "accuracy": 0.8 + shift + rng.normal(0, 0.02)})
    return pd.DataFrame(rows)


DESIGNS = {
    "balanced": lambda i: 3,
    "unbalanced": lambda i: 2 + i % 3,  # 2, 3 or 4 per cell
}


def _statsmodels(data: pd.DataFrame, factors, ss_type: int) -> pd.DataFrame:
    formula = "accuracy ~ " + " * ".join(f"C({f}, Sum)" for f in factors)
    fit = statsmodels_formula.ols(formula, data).fit()
    table = statsmodels_anova.anova_lm(fit, typ=ss_type)
    return table.drop(index="Intercept", errors="ignore")


def _statsmodels_name(term) -> str:
    return ":".join(f"C({f}, Sum)" for f in term)


@pytest.mark.parametrize("ss_type", [2, 3])
@pytest.mark.parametrize("design", ["balanced", "unbalanced"])
@pytest.mark.parametrize(
    "factors", [("architecture", "dataset"), ("architecture", "dataset", "lam")]
)
def test_equals_statsmodels(design, ss_type, factors):
    data = _design(factors, DESIGNS[design])
    ours = factorial_anova(data, "accuracy", factors, ss_type=ss_type)
    theirs = _statsmodels(data, factors, ss_type)

    assert len(ours.terms) == len(theirs) - 1  # theirs has the residual row
    for term in ours.terms:
        row = theirs.loc[_statsmodels_name(term.factors)]
        assert term.sum_sq == pytest.approx(row["sum_sq"], rel=1e-8, abs=1e-14)
        assert term.df == row["df"]
        assert term.f_value == pytest.approx(row["F"], rel=1e-7)
        assert term.p_value == pytest.approx(row["PR(>F)"], rel=1e-6, abs=1e-14)
    residual = theirs.loc["Residual"]
    assert ours.residual_sum_sq == pytest.approx(residual["sum_sq"], rel=1e-10)
    assert ours.residual_df == residual["df"]


def test_type_ii_and_iii_differ_when_unbalanced_and_agree_when_balanced():
    factors = ("architecture", "dataset")
    unbalanced = _design(factors, DESIGNS["unbalanced"])
    two = factorial_anova(unbalanced, "accuracy", factors, 2).term("architecture").sum_sq
    three = factorial_anova(unbalanced, "accuracy", factors, 3).term("architecture").sum_sq
    assert two != pytest.approx(three, rel=1e-6)

    balanced = _design(factors, DESIGNS["balanced"])
    two = factorial_anova(balanced, "accuracy", factors, 2)
    three = factorial_anova(balanced, "accuracy", factors, 3)
    for a, b in zip(two.terms, three.terms, strict=True):
        assert a.sum_sq == pytest.approx(b.sum_sq, rel=1e-9)


@pytest.mark.parametrize("ss_type", [2, 3])
def test_partial_eta_squared_by_hand(ss_type):
    """partial η² = SS_effect / (SS_effect + SS_error), with both sums from statsmodels."""
    factors = ("architecture", "dataset", "lam")
    data = _design(factors, DESIGNS["unbalanced"], seed=3)
    ours = factorial_anova(data, "accuracy", factors, ss_type=ss_type)
    theirs = _statsmodels(data, factors, ss_type)
    ss_error = theirs.loc["Residual", "sum_sq"]
    for term in ours.terms:
        ss_effect = theirs.loc[_statsmodels_name(term.factors), "sum_sq"]
        assert term.partial_eta_sq == pytest.approx(ss_effect / (ss_effect + ss_error), rel=1e-8)


def test_hand_computed_one_way():
    """Two groups of two: means 1 and 3, grand mean 2. SS_between = 4 × 1² = 4, SS_within =
    4 × 0.5² = 1 (each value 0.5 from its group mean); F = (4/1) / (1/2) = 8."""
    data = pd.DataFrame({"g": ["a", "a", "b", "b"], "y": [0.5, 1.5, 2.5, 3.5]})
    table = factorial_anova(data, "y", ["g"])
    term = table.terms[0]
    assert term.sum_sq == pytest.approx(4.0)
    assert table.residual_sum_sq == pytest.approx(1.0)
    assert term.df == 1 and table.residual_df == 2
    assert term.f_value == pytest.approx(8.0)
    assert term.partial_eta_sq == pytest.approx(0.8)


def test_empty_cell_lowers_the_interaction_df():
    """18 cells, one emptied: the cell means span one dimension fewer, and the three-way
    interaction is the term that loses it; the error has n − 17 df."""
    factors = ("architecture", "dataset", "lam")
    data = _design(factors, DESIGNS["balanced"])
    missing = (data["architecture"] == "cnn") & (data["dataset"] == "fortunes") & (data["lam"] == 0)
    table = factorial_anova(data[~missing], "accuracy", factors)
    full = factorial_anova(data, "accuracy", factors)
    assert table.term(*factors).df == full.term(*factors).df - 1
    assert table.term("architecture").df == 2
    assert table.residual_df == table.n_observations - 17
    assert all(math.isfinite(t.sum_sq) and t.sum_sq >= 0 for t in table.terms)


def test_one_observation_per_cell_gives_no_f():
    data = _design(("architecture", "dataset"), lambda i: 1)
    table = factorial_anova(data, "accuracy", ["architecture", "dataset"])
    assert table.residual_df == 0
    assert all(math.isnan(t.f_value) and math.isnan(t.p_value) for t in table.terms)
    assert any("no residual degrees of freedom" in w for w in table.warnings)


def test_coding_and_terms():
    codes = np.array([0, 1, 2, 2])
    assert sum_to_zero_columns(codes, 3).tolist() == [[1, 0], [0, 1], [-1, -1], [-1, -1]]
    assert factorial_terms(["a", "b", "c"]) == [
        ("a",), ("b",), ("c",), ("a", "b"), ("a", "c"), ("b", "c"), ("a", "b", "c")
    ]  # fmt: skip


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"ss_type": 1}, "sum of squares type must be 2 or 3, got 1"),
        ({"factors": ["nope"]}, "columns ['nope'] are missing"),
        ({"factors": ["constant"]}, "factor constant has a single level"),
        ({"factors": []}, "at least one factor"),
    ],
)
def test_bad_input_is_named(kwargs, message):
    data = _design(("architecture",), lambda i: 2).assign(constant="x")
    args = {"data": data, "response": "accuracy", "factors": ["architecture"], **kwargs}
    with pytest.raises(AnalysisError, match=re.escape(message)):
        factorial_anova(**args)


def test_missing_response_is_refused():
    data = _design(("architecture",), lambda i: 2)
    data.loc[0, "accuracy"] = math.nan
    with pytest.raises(AnalysisError, match="missing or infinite"):
        factorial_anova(data, "accuracy", ["architecture"])
