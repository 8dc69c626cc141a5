"""The `minaction analyze` and `minaction report` commands: a results database in, the study's
three findings out, as text, JSON or one self-contained HTML page.

    minaction analyze --db runs.sqlite [--ss-type 3] [--json]
    minaction report --db runs.sqlite --out report.html
"""

from __future__ import annotations

import argparse
import math
import sys

from minaction.analysis.efficiency import (
    DEFAULT_BOOTSTRAP,
    DEFAULT_RNG_SEED,
    DEFAULT_TARGET_FRACTION,
    MEASURES,
)
from minaction.analysis.format import efficiency_rows, number, p_value
from minaction.cli import number_type


def add_analysis_commands(subparsers: argparse._SubParsersAction) -> None:
    """Add `analyze` and `report` to the `minaction` command's subparsers."""
    p = subparsers.add_parser(
        "analyze", help="ANOVA, λ-sweep and training efficiency of a results database"
    )
    _add_options(p)
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    p.set_defaults(func=cmd_analyze)

    p = subparsers.add_parser(
        "report", help="write the analysis as one self-contained HTML page with figures"
    )
    _add_options(p)
    p.add_argument("--out", default="report.html", help="HTML file to write (default report.html)")
    p.set_defaults(func=cmd_report)


def _add_options(parser: argparse.ArgumentParser) -> None:
    from minaction.cli import lam_value, non_negative_int, positive_int

    parser.add_argument("--db", required=True, help="results database (SQLite) of a grid")
    parser.add_argument("--grid", default=None, help="only the runs of this grid in the database")
    parser.add_argument(
        "--ss-type",
        type=int,
        choices=(2, 3),
        default=2,
        help="ANOVA sums of squares: 2 (default) or 3",
    )
    parser.add_argument(
        "--target-fraction",
        type=_fraction,
        default=DEFAULT_TARGET_FRACTION,
        help="efficiency target as a fraction of the lowest final accuracy among the "
        f"architectures of a dataset (default {DEFAULT_TARGET_FRACTION})",
    )
    parser.add_argument(
        "--efficiency-lam",
        type=lam_value,
        default=None,
        help="λ whose runs the efficiency compares (default: the smallest present)",
    )
    parser.add_argument(
        "--bootstrap",
        type=positive_int,
        default=DEFAULT_BOOTSTRAP,
        help=f"bootstrap resamples for the gain intervals (default {DEFAULT_BOOTSTRAP})",
    )
    parser.add_argument(
        "--seed",
        type=non_negative_int,
        default=DEFAULT_RNG_SEED,
        help=f"seed of the bootstrap's random generator (default {DEFAULT_RNG_SEED})",
    )


_fraction = number_type(float, lambda v: 0 < v <= 1, "expected a number in (0, 1]")


def _run_analysis(args: argparse.Namespace):
    from minaction.analysis.analyze import analyze
    from minaction.analysis.load import load_runs

    runs = load_runs(args.db, grid=args.grid)
    analysis = analyze(
        runs,
        ss_type=args.ss_type,
        target_fraction=args.target_fraction,
        efficiency_lam=args.efficiency_lam,
        bootstrap=args.bootstrap,
        rng_seed=args.seed,
        source=str(args.db),
    )
    return runs, analysis


def cmd_analyze(args: argparse.Namespace) -> int:
    _, analysis = _run_analysis(args)
    if args.json:
        print(analysis.to_json())
        return 0
    print(format_analysis(analysis))
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from minaction.analysis.load import load_metadata
    from minaction.analysis.report import write_report

    runs, analysis = _run_analysis(args)
    path = write_report(analysis, runs, args.out, metadata=load_metadata(args.db))
    print(f"report written to {path}", file=sys.stderr)
    return 0


# -- text ---------------------------------------------------------------------------------------


def format_analysis(analysis) -> str:
    """The whole analysis as plain text, one section per finding."""
    from minaction.analysis.analyze import REFERENCE_FINDINGS

    design = analysis.anova.design
    counts = ", ".join(f"{n} {s}" for s, n in design.status_counts.items())
    parts = [f"{analysis.source}: {design.runs} runs ({counts})"]
    parts += ["", "1. ANOVA of final test accuracy", format_design(design)]
    if analysis.anova.table is not None:
        parts.append(format_anova(analysis.anova.table))
    else:
        parts.append(f"  no ANOVA: {analysis.anova.unavailable}")
    parts.append(f"  reference: {REFERENCE_FINDINGS['anova']}")

    parts += ["", "2. λ-sweep per architecture and dataset "
              "(mean [95% interval] over seeds; Δ and ratios against the smallest λ)"]  # fmt: skip
    for sweep in analysis.sweeps:
        parts += ["", f"{sweep.model} on {sweep.dataset}", format_sweep(sweep)]
    parts.append(f"  reference: {REFERENCE_FINDINGS['sweep']}")

    parts += ["", "3. Training efficiency", f"  rule: {analysis.efficiency.rule}"]
    for dataset in analysis.efficiency.datasets:
        parts += ["", format_efficiency(dataset)]
    parts.append(f"  reference: {REFERENCE_FINDINGS['efficiency']}")

    if analysis.warnings:
        parts += ["", "Warnings"] + [f"  - {w}" for w in analysis.warnings]
    return "\n".join(parts)


def format_design(design) -> str:
    from minaction.analysis.analyze import FACTORS

    factors = ", ".join(f"{_label(FACTORS[f])} ({len(design.levels[f])} levels)"
                        for f in design.factors) or "none"  # fmt: skip
    lines = [f"  factors: {factors}; seeds are replicates"]
    if design.constant:
        lines.append("  constant: " + ", ".join(f"{_label(FACTORS[k])} = {v}"
                                                for k, v in design.constant.items()))  # fmt: skip
    lines.append(
        f"  used: {design.used} completed runs; replicates per cell: "
        f"{design.replicates_min}–{design.replicates_max}"
        + (" (balanced)" if design.balanced else " (unbalanced)")
    )
    left_out = {s: n for s, n in design.status_counts.items() if s != "completed" and n}
    if design.completed_without_accuracy:
        left_out["completed without accuracy"] = design.completed_without_accuracy
    if left_out:
        lines.append("  left out: " + ", ".join(f"{n} {s}" for s, n in left_out.items()))
    lines.append(f"  empty cells: {len(design.empty_cells)} of {design.cells}")
    for cell in design.empty_cells:
        where = " × ".join(f"{_label(k)}={v}" for k, v in cell.items() if k != "runs")
        why = ", ".join(f"{n} {s}" for s, n in cell["runs"].items()) or "no runs"
        lines.append(f"    {where}: {why}")
    return "\n".join(lines)


def format_anova(table) -> str:
    from minaction.cli import format_table

    headers = ["term", "SS", "df", "F", "p", "partial η²"]
    rows = [
        [_label(t.name), f"{t.sum_sq:.4g}", str(t.df), number(t.f_value, ".3f"),
         p_value(t.p_value), number(t.partial_eta_sq, ".3f")]
        for t in table.terms
    ]  # fmt: skip
    rows.append(["residual", f"{table.residual_sum_sq:.4g}", str(table.residual_df), "", "", ""])
    title = (
        f"  Type {'II' if table.ss_type == 2 else 'III'} sums of squares, sum-to-zero coding, "
        f"{table.n_observations} runs"
    )
    return title + "\n" + _indent(format_table(headers, rows))


def format_sweep(sweep) -> str:
    from minaction.cli import format_table

    headers = ["λ", "n", "accuracy", "Δacc (pts)", "E", "E/E₀", "active", "eff. MACs",
               "µJ/sample", "left out"]  # fmt: skip
    rows = []
    for row in sweep.rows:
        ratio = row.energy_ratio_interval
        left_out = sweep.excluded.get(row.lam, {})
        rows.append([
            f"{row.lam:g}", str(row.seeds), _interval(row.accuracy, ".4f"),
            f"{row.accuracy_change_points.mean:+.2f} ± {row.accuracy_change_points.half_width:.2f}",
            _interval(row.energy, ".3g"),
            _interval(ratio, ".3g") if ratio else f"{row.energy_ratio:.3g}",
            _interval(row.active_fraction, ".3f"), _interval(row.macs_effective, ".4g"),
            _interval(row.joules, ".3g", scale=1e6),
            ", ".join(f"{n} {s}" for s, n in left_out.items()) or "-",
        ])  # fmt: skip
    for lam in sorted(set(sweep.excluded) - {row.lam for row in sweep.rows}):
        left_out = ", ".join(f"{n} {s}" for s, n in sweep.excluded[lam].items())
        rows.append([f"{lam:g}", "0", *["-"] * 7, left_out])
    return _indent(format_table(headers, rows))


def format_efficiency(dataset) -> str:
    from minaction.cli import format_table

    title = (
        f"  {dataset.modality}: {dataset.dataset} (λ = {dataset.lam:g}; target accuracy "
        f"{dataset.target:.4f}, set by {dataset.lowest_model})"
    )
    headers = ["architecture", "kind", "reached", "final acc", "epochs", "seconds", "J (train)"]
    headers += [f"gain {m}" for m in MEASURES]
    rows = efficiency_rows(dataset)
    lines = [title, _indent(format_table(headers, rows))]
    lines += [f"    note: {note}" for note in dataset.notes]
    return "\n".join(lines)


def _interval(interval, spec: str, scale: float = 1.0) -> str:
    if interval.n == 0 or not math.isfinite(interval.mean):
        return "n/a"
    mean, low, high = (scale * v for v in (interval.mean, interval.low, interval.high))
    return f"{mean:{spec}} [{low:{spec}}, {high:{spec}}]"


def _label(name: str) -> str:
    return name.replace("lambda", "λ")


def _indent(text: str, prefix: str = "  ") -> str:
    return "\n".join(prefix + line for line in text.splitlines())
