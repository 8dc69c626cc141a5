"""The report: one self-contained HTML page with the analysis, its figures and its provenance.

    path = write_report(analyze(runs), runs, "report.html", metadata=load_metadata(db))

Figures are drawn with matplotlib's Agg canvas (no display, no pyplot state) and embedded as
base64 PNG, so the file opens anywhere, offline. The page fits a laptop screen: a centred column
of bounded width, figures that scale down, and tables that scroll inside their own box.
"""

from __future__ import annotations

import base64
import html
import io
import json
import logging
import math
import platform
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timezone
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from minaction.analysis.analyze import FACTORS, REFERENCE_FINDINGS, Analysis, usable_runs
from minaction.analysis.efficiency import ENERGY_FIRST, MEASURES, TRAINING_PASS_FACTOR
from minaction.analysis.format import efficiency_rows, number, p_value
from minaction.analysis.stats import mean_interval

log = logging.getLogger(__name__)

LIBRARIES = ("minaction", "torch", "numpy", "scipy", "pandas", "matplotlib")
FIGURE_DPI = 110
PANEL_SIZE = (4.6, 3.1)  # inches of one subplot

_CSS = """
body { font: 15px/1.5 system-ui, -apple-system, "Segoe UI", sans-serif; color: #1d232b;
       margin: 0; background: #f6f7f9; }
main { max-width: 68rem; margin: 0 auto; padding: 1.5rem 1.25rem 4rem; background: #fff; }
h1 { font-size: 1.6rem; margin-top: 0; }
h2 { margin-top: 2.5rem; border-bottom: 1px solid #dde1e6; }
h3 { margin-bottom: .3rem; }
figure { margin: 1rem 0; } figure img { max-width: 100%; height: auto; display: block; }
figcaption { font-size: .9rem; color: #4a5562; }
.scroll { overflow-x: auto; max-width: 100%; margin: .5rem 0 1rem; }
table { border-collapse: collapse; font-size: .85rem; font-variant-numeric: tabular-nums; }
th, td { padding: .25rem .55rem; border-bottom: 1px solid #e6e9ed; text-align: right;
         white-space: nowrap; }
th { background: #f0f2f5; position: sticky; top: 0; }
td:first-child, th:first-child { text-align: left; }
.ref { background: #f3f6fb; border-left: 4px solid #7a9cc6; padding: .4rem .8rem; }
.warn { background: #fff7e6; border-left: 4px solid #e0a030; padding: .4rem .8rem; }
.measured { background: #eef8f0; border-left: 4px solid #4d9a5e; padding: .4rem .8rem; }
pre { white-space: pre-wrap; word-break: break-word; background: #f6f7f9; padding: .6rem;
      font-size: .8rem; }
.muted { color: #5b6672; font-size: .9rem; }
"""


def write_report(
    analysis: Analysis,
    runs: pd.DataFrame,
    out: str | Path,
    metadata: Mapping[str, Any] | None = None,
) -> Path:
    """Render the report and write it to `out` (directories are created). Returns the path."""
    path = Path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_report(analysis, runs, metadata), encoding="utf-8")
    log.info("report written to %s", path)
    return path


def render_report(
    analysis: Analysis, runs: pd.DataFrame, metadata: Mapping[str, Any] | None = None
) -> str:
    """The report as one HTML string."""
    metadata = metadata or {}
    colors = _architecture_colors(sorted(runs["model"].unique()))
    body = [
        "<h1>minaction report</h1>",
        f"<p class='muted'>{_e(analysis.source)} · generated "
        f"{datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC</p>",
        _summary_section(analysis),
        _anova_section(analysis, runs, colors),
        _sweep_section(analysis, colors),
        _pareto_section(runs, colors),
        _efficiency_section(analysis, colors),
        _provenance_section(analysis, runs, metadata),
    ]
    if analysis.warnings:
        items = "".join(f"<li>{_e(w)}</li>" for w in analysis.warnings)
        body.insert(3, f"<div class='warn'><strong>Warnings</strong><ul>{items}</ul></div>")
    return (
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>minaction report: {_e(analysis.source)}</title><style>{_CSS}</style></head>"
        f"<body><main>{''.join(body)}</main></body></html>\n"
    )


# -- sections -----------------------------------------------------------------------------------


def _summary_section(analysis: Analysis) -> str:
    findings = analysis.findings
    anova = findings.get("anova", {})
    arch = anova.get("architecture")
    inter = anova.get("architecture × dataset")
    measured_anova = "not estimable from these runs"
    if arch or inter:
        measured_anova = "; ".join(
            f"{_e(name)}: partial η² = {number(v['partial_eta_sq'], '.3f')}, "
            f"p {_e(p_value(v['p']))}"
            for name, v in anova.items()
        )
    sweep = findings.get("sweep", [])
    if sweep:
        orders = [
            s["orders_of_magnitude"] for s in sweep if math.isfinite(s["orders_of_magnitude"])
        ]
        changes = [s["accuracy_change_points"]["mean"] for s in sweep]
        measured_sweep = (
            f"at the largest λ, E falls by {min(orders, default=math.nan):.2f} to "
            f"{max(orders, default=math.nan):.2f} orders of magnitude across "
            f"{len(sweep)} architecture–dataset pairs, with accuracy changes of "
            f"{min(changes):+.2f} to {max(changes):+.2f} points"
        )
    else:
        measured_sweep = "no architecture–dataset pair has more than one λ"
    gains = [g for g in findings.get("efficiency", []) if math.isfinite(g.get("gain", math.nan))]
    if gains:
        parts = []
        for measure in MEASURES:
            values = [g["gain"] for g in gains if g["measure"] == measure]
            if values:
                parts.append(f"{measure}: {min(values):+.0%} to {max(values):+.0%}")
        measured_eff = "gains of the energy-first architectures over the best baseline, " + (
            "; ".join(parts)
        )
    else:
        measured_eff = "no energy-first architecture with a conventional baseline to compare"
    rows = [
        ("1. Architecture × dataset", REFERENCE_FINDINGS["anova"], measured_anova),
        ("2. λ-sweep", REFERENCE_FINDINGS["sweep"], measured_sweep),
        ("3. Training efficiency", REFERENCE_FINDINGS["efficiency"], measured_eff),
    ]
    items = "".join(
        f"<h3>{_e(title)}</h3><p class='ref'><strong>Reference:</strong> {_e(ref)}</p>"
        f"<p class='measured'><strong>Measured here:</strong> {measured}</p>"
        for title, ref, measured in rows
    )
    return f"<section><h2>The three findings</h2>{items}</section>"


def _anova_section(analysis: Analysis, runs: pd.DataFrame, colors: Mapping[str, str]) -> str:
    section = analysis.anova
    design = section.design
    parts = ["<section><h2>1. ANOVA of final test accuracy</h2>"]
    counts = ", ".join(f"{n} {s}" for s, n in design.status_counts.items())
    factors = ", ".join(
        f"{_label(FACTORS[f])} ({len(design.levels[f])} levels)" for f in design.factors
    )
    parts.append(
        f"<p>{design.runs} runs ({_e(counts)}); {design.used} completed runs with an accuracy "
        f"enter the model. Factors: {_e(factors) or 'none'}; seeds are replicates, "
        f"{design.replicates_min}–{design.replicates_max} per cell "
        f"({'balanced' if design.balanced else 'unbalanced'}). Empty cells: "
        f"{len(design.empty_cells)} of {design.cells}.</p>"
    )
    if design.empty_cells:
        headers = [*(k for k in design.empty_cells[0] if k != "runs"), "runs in the cell"]
        rows = [
            [*(_e(v) for k, v in cell.items() if k != "runs"),
             _e(", ".join(f"{n} {s}" for s, n in cell["runs"].items()) or "none")]
            for cell in design.empty_cells
        ]  # fmt: skip
        parts.append(_table([_label(h) for h in headers], rows))
    table = section.table
    if table is None:
        parts.append(f"<p class='warn'>No ANOVA: {_e(section.unavailable)}</p>")
    else:
        ss_name = "II" if table.ss_type == 2 else "III"
        headers = ["term", "sum of squares", "df", "F", "p", "partial η²"]
        rows = [
            [_e(_label(t.name)), f"{t.sum_sq:.4g}", str(t.df), number(t.f_value, ".2f"),
             _e(p_value(t.p_value)), number(t.partial_eta_sq, ".3f")]
            for t in table.terms
        ]  # fmt: skip
        rows.append(["residual", f"{table.residual_sum_sq:.4g}", str(table.residual_df), "", "",
                     ""])  # fmt: skip
        parts.append(
            f"<p class='muted'>Type {ss_name} sums of squares, sum-to-zero coding, "
            f"{table.n_observations} runs; partial η² = SS / (SS + SS<sub>error</sub>).</p>"
        )
        parts.append(_table(headers, rows))
    parts.append(
        _figure(
            lambda: _interaction_figure(runs, colors),
            "Interaction plot: mean final test accuracy by dataset, one line per architecture, "
            "over every usable run (all λ and seeds), with 95% intervals. Lines that cross or "
            "diverge are the architecture × dataset interaction.",
        )
    )
    parts.append("</section>")
    return "".join(parts)


def _sweep_section(analysis: Analysis, colors: Mapping[str, str]) -> str:
    parts = [
        "<section><h2>2. λ-sweep</h2>",
        _figure(
            lambda: _sweep_figure(analysis, colors),
            "Per dataset: E relative to the smallest λ (log scale, left) and final test "
            "accuracy (right) against λ; points are means over seeds, bars 95% intervals.",
        ),
        "<p class='muted'>Mean [95% interval] over seeds. Δacc and E/E₀ are against the "
        "smallest λ of the pair (normally 0). Effective MACs count only products with a "
        "non-zero input; µJ are estimated inference joules per sample.</p>",
    ]
    headers = ["architecture", "dataset", "λ", "n", "accuracy", "Δacc (points)", "E", "E/E₀",
               "active fraction", "effective MACs", "µJ/sample", "left out"]  # fmt: skip
    rows = []
    for sweep in analysis.sweeps:
        for row in sweep.rows:
            change = row.accuracy_change_points
            left_out = sweep.excluded.get(row.lam, {})
            rows.append([
                _e(sweep.model), _e(sweep.dataset), f"{row.lam:g}", str(row.seeds),
                _iv(row.accuracy, ".4f"),
                f"{change.mean:+.2f} [{change.low:+.2f}, {change.high:+.2f}]",
                _iv(row.energy, ".3g"),
                _iv(row.energy_ratio_interval, ".3g") if row.energy_ratio_interval
                else number(row.energy_ratio, ".3g"),
                _iv(row.active_fraction, ".3f"), _iv(row.macs_effective, ".4g"),
                _iv(row.joules, ".3g", 1e6),
                _e(", ".join(f"{n} {s}" for s, n in left_out.items())) or "",
            ])  # fmt: skip
    parts.append(_table(headers, rows))
    parts.append("</section>")
    return "".join(parts)


def _pareto_section(runs: pd.DataFrame, colors: Mapping[str, str]) -> str:
    return (
        "<section><h2>Energy against accuracy</h2>"
        + _figure(
            lambda: _pareto_figure(runs, colors),
            "Per dataset: every (architecture, λ) cell as its mean over seeds; the line joins "
            "the Pareto front, the cells no other cell beats in both accuracy and cost. Left: "
            "activation energy E; right: estimated inference joules per sample, which "
            "rescaling cannot lower.",
        )
        + "</section>"
    )


def _efficiency_section(analysis: Analysis, colors: Mapping[str, str]) -> str:
    efficiency = analysis.efficiency
    parts = [
        "<section><h2>3. Training efficiency</h2>",
        f"<p class='muted'>Rule: {_e(efficiency.rule)}. Energy-first: "
        f"{_e(', '.join(sorted(ENERGY_FIRST)))}; every other architecture is a conventional "
        f"baseline. A training step costs {TRAINING_PASS_FACTOR:g} × the estimated inference "
        "joules of a sample.</p>",
        _figure(
            lambda: _efficiency_figure(analysis, colors),
            "Gain over the best conventional baseline of the dataset, per measure, with 95% "
            "bootstrap intervals; right of zero is cheaper than the baseline.",
        ),
    ]
    headers = ["modality", "dataset", "target", "architecture", "kind", "reached", "final acc",
               "epochs", "seconds", "J (train)", *(f"gain: {m}" for m in MEASURES)]  # fmt: skip
    rows = []
    for dataset in efficiency.datasets:
        for cells in efficiency_rows(dataset):
            rows.append([_e(dataset.modality), _e(dataset.dataset), f"{dataset.target:.4f}",
                         *(_e(cell) for cell in cells)])  # fmt: skip
    parts.append(_table(headers, rows))
    notes = [f"{d.dataset}: {n}" for d in efficiency.datasets for n in d.notes]
    notes += list(efficiency.notes)
    if notes:
        parts.append("<ul class='muted'>" + "".join(f"<li>{_e(n)}</li>" for n in notes) + "</ul>")
    parts.append("</section>")
    return "".join(parts)


def _provenance_section(analysis: Analysis, runs: pd.DataFrame, metadata: Mapping[str, Any]) -> str:
    parts = ["<section><h2>What produced this</h2>"]
    levels = analysis.anova.design.levels
    seeds = sorted(int(s) for s in runs["seed"].dropna().unique())
    grid_rows = [[_e(_label(FACTORS[k])), _e(", ".join(map(_fmt_level, v)))]
                 for k, v in levels.items()]  # fmt: skip
    grid_rows.append(["seeds", _e(", ".join(map(str, seeds)))])
    parts.append("<h3>The grid, as found in the runs</h3>")
    parts.append(_table(["factor", "levels"], grid_rows))
    settings = _settings(runs)
    if settings:
        parts.append("<h3>Run settings (RunSpec), as stored</h3>")
        parts.append(_table(["setting", "values"], [[_e(k), _e(v)] for k, v in settings.items()]))
    for grid in metadata.get("grids", []):
        parts.append(
            f"<h3>Grid {_e(grid.get('name'))}</h3><p class='muted'>{grid.get('runs', 0)} cells; "
            f"file {_e(grid.get('source') or 'unknown')}; recorded {_e(grid.get('created_at'))}, "
            f"updated {_e(grid.get('updated_at'))}</p>"
            f"<pre>{_e(json.dumps(grid.get('config'), indent=2, sort_keys=True))}</pre>"
        )
    trained = metadata.get("versions", [])
    if trained:
        parts.append("<h3>Library versions that trained the runs</h3>")
        rows = [[_e(", ".join(f"{k} {v}" for k, v in sorted(item["versions"].items()))),
                 str(item["runs"])] for item in trained]  # fmt: skip
        parts.append(_table(["versions", "runs"], rows))
    parts.append("<h3>Library versions that made this report</h3>")
    parts.append(
        _table(["library", "version"], [[k, _e(v)] for k, v in library_versions().items()])
    )
    if metadata.get("schema_version") is not None:
        parts.append(f"<p class='muted'>Store schema version {metadata['schema_version']}.</p>")
    parts.append("</section>")
    return "".join(parts)


def library_versions() -> dict[str, str]:
    """Python and the installed versions of the libraries the results depend on."""
    versions = {"python": platform.python_version()}
    for name in LIBRARIES:
        try:
            versions[name] = importlib_metadata.version(name)
        except importlib_metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


# -- figures ------------------------------------------------------------------------------------


def _figure(draw: Callable[[], Any], caption: str) -> str:
    """An <img> of the figure `draw()` returns, or a note when there is nothing to draw."""
    figure = draw()
    if figure is None:
        return f"<p class='muted'>(no figure: too few runs for it) {_e(caption)}</p>"
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=FIGURE_DPI, bbox_inches="tight")
    encoded = base64.b64encode(buffer.getvalue()).decode("ascii")
    alt = _e(caption.split(":")[0])
    return (
        f"<figure><img alt='{alt}' src='data:image/png;base64,{encoded}'>"
        f"<figcaption>{_e(caption)}</figcaption></figure>"
    )


def _new_figure(rows: int, columns: int):
    from matplotlib.figure import Figure

    figure = Figure(figsize=(PANEL_SIZE[0] * columns, PANEL_SIZE[1] * rows), layout="constrained")
    axes = figure.subplots(rows, columns, squeeze=False)
    return figure, axes


def _architecture_colors(models: Sequence[str]) -> dict[str, str]:
    from matplotlib import colormaps

    palette = colormaps["tab10"].colors
    return {model: palette[i % len(palette)] for i, model in enumerate(models)}


def _style(model: str) -> dict:
    """Energy-first architectures drawn solid and thick, baselines dashed."""
    if model in ENERGY_FIRST:
        return {"linestyle": "-", "linewidth": 2.2, "marker": "o"}
    return {"linestyle": "--", "linewidth": 1.3, "marker": "s", "markersize": 4}


def _sweep_figure(analysis: Analysis, colors: Mapping[str, str]):
    sweeps = [s for s in analysis.sweeps if len(s.rows) > 1]
    if not sweeps:
        return None
    datasets = sorted({s.dataset for s in sweeps})
    lams = sorted({row.lam for s in sweeps for row in s.rows})
    position = {lam: i for i, lam in enumerate(lams)}
    figure, axes = _new_figure(len(datasets), 2)
    for r, dataset in enumerate(datasets):
        energy_ax, accuracy_ax = axes[r]
        for sweep in (s for s in sweeps if s.dataset == dataset):
            x = [position[row.lam] for row in sweep.rows]
            ratios = [row.energy_ratio_interval or _point(row.energy_ratio) for row in sweep.rows]
            style = {"color": colors[sweep.model], "label": sweep.model, **_style(sweep.model)}
            _errorbar(energy_ax, x, ratios, style, positive=True)
            _errorbar(accuracy_ax, x, [row.accuracy for row in sweep.rows], style)
        energy_ax.set_yscale("log")
        energy_ax.set_ylabel("E / E₀")
        accuracy_ax.set_ylabel("test accuracy")
        for ax in (energy_ax, accuracy_ax):
            ax.set_title(dataset, fontsize=10)
            ax.set_xticks(range(len(lams)), [_fmt_level(lam) for lam in lams])
            ax.set_xlabel("λ")
            ax.grid(alpha=0.3)
    axes[0][1].legend(fontsize=8, loc="best")
    return figure


def _interaction_figure(runs: pd.DataFrame, colors: Mapping[str, str]):
    usable = usable_runs(runs)
    datasets = sorted(usable["dataset"].unique())
    if usable.empty or len(datasets) < 1:
        return None
    figure, axes = _new_figure(1, 1)
    ax = axes[0][0]
    figure.set_size_inches(max(PANEL_SIZE[0], 1.6 * len(datasets) + 2.5), PANEL_SIZE[1] * 1.3)
    for model, group in usable.groupby("model", sort=True):
        x, intervals = [], []
        for i, dataset in enumerate(datasets):
            values = group.loc[group["dataset"] == dataset, "accuracy"]
            if len(values):
                x.append(i)
                intervals.append(mean_interval(values.tolist()))
        style = {"color": colors[model], "label": model, **_style(model)}
        _errorbar(ax, x, intervals, style)
    ax.set_xticks(range(len(datasets)), datasets)
    ax.set_ylabel("mean final test accuracy")
    ax.set_xlabel("dataset")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="center left", bbox_to_anchor=(1.01, 0.5))
    return figure


def _pareto_figure(runs: pd.DataFrame, colors: Mapping[str, str]):
    usable = usable_runs(runs)
    if usable.empty:
        return None
    cells = (
        usable.groupby(["dataset", "model", "lam"])[["accuracy", "energy", "joules_estimate"]]
        .mean()
        .reset_index()
    )
    datasets = sorted(cells["dataset"].unique())
    figure, axes = _new_figure(len(datasets), 2)
    for r, dataset in enumerate(datasets):
        group = cells[cells["dataset"] == dataset]
        for c, (column, label, scale) in enumerate(
            [("energy", "activation energy E", 1.0), ("joules_estimate", "µJ per sample", 1e6)]
        ):
            ax = axes[r][c]
            for model, points in group.groupby("model", sort=True):
                marker = "o" if model in ENERGY_FIRST else "s"
                ax.scatter(points[column] * scale, points["accuracy"], color=colors[model],
                           marker=marker, s=28, label=model, zorder=3)  # fmt: skip
            front = pareto_front(group[column].to_numpy() * scale, group["accuracy"].to_numpy())
            if len(front) > 0:
                ax.step(front[:, 0], front[:, 1], where="post", color="#333", linewidth=1,
                        alpha=0.7, zorder=2)  # fmt: skip
            values = group[column].to_numpy() * scale
            if (values > 0).all() and values.max() > 20 * values.min():  # log only if it spans
                ax.set_xscale("log")
            ax.set_xlabel(label)
            ax.set_ylabel("test accuracy")
            ax.set_title(dataset, fontsize=10)
            ax.grid(alpha=0.3)
    axes[0][1].legend(fontsize=8, loc="best")
    return figure


def pareto_front(cost: np.ndarray, accuracy: np.ndarray) -> np.ndarray:
    """The points no other point beats in both lower cost and higher accuracy, by rising cost:
    (k, 2) of (cost, accuracy). Points with a missing value are left out.

    NOTE: the front is of cell means; a cell whose interval overlaps the front's may be as good.
    """
    keep = np.isfinite(cost) & np.isfinite(accuracy)
    order = np.lexsort((-accuracy[keep], cost[keep]))
    points = np.column_stack([cost[keep], accuracy[keep]])[order]
    front, best = [], -math.inf
    for point in points:
        if point[1] > best:
            front.append(point)
            best = point[1]
    return np.array(front).reshape(-1, 2)


def _efficiency_figure(analysis: Analysis, colors: Mapping[str, str]):
    datasets = [d for d in analysis.efficiency.datasets if d.gains]
    if not datasets:
        return None
    figure, axes = _new_figure(len(datasets), 1)
    markers = {"epochs": "o", "seconds": "s", "joules": "D"}
    for r, dataset in enumerate(datasets):
        ax = axes[r][0]
        models = sorted({g.model for g in dataset.gains})
        for m, measure in enumerate(MEASURES):
            offset = (m - 1) * 0.22
            for i, model in enumerate(models):
                gain = next((g for g in dataset.gains
                             if g.model == model and g.measure == measure), None)  # fmt: skip
                if gain is None or not math.isfinite(gain.gain):
                    continue
                ax.errorbar(100 * gain.gain, i + offset,
                            xerr=[[100 * (gain.gain - gain.low)], [100 * (gain.high - gain.gain)]],
                            fmt=markers[measure], color=colors[model], capsize=2,
                            label=measure if i == 0 else None)  # fmt: skip
        baselines = sorted({g.baseline for g in dataset.gains})
        ax.axvline(0, color="#333", linewidth=1)
        ax.set_yticks(range(len(models)), models)
        ax.set_xlabel("gain over the best baseline (%)")
        ax.set_title(
            f"{dataset.modality}: {dataset.dataset} (baseline {', '.join(baselines)})", fontsize=10
        )
        ax.grid(alpha=0.3, axis="x")
        handles = [ax.scatter([], [], marker=markers[m], color="#555", label=m) for m in MEASURES]
        ax.legend(handles=handles, fontsize=8, loc="center left", bbox_to_anchor=(1.01, 0.5))
    figure.set_size_inches(PANEL_SIZE[0] * 1.8, max(2.4, 0.45 * 8) * len(datasets))
    return figure


def _errorbar(ax, x, intervals, style: dict, positive: bool = False) -> None:
    """Means with their intervals as error bars; a log axis needs positive bar ends."""
    points = [(xi, iv) for xi, iv in zip(x, intervals, strict=True) if math.isfinite(iv.mean)]
    if not points:
        return
    xs = [p[0] for p in points]
    means = np.array([p[1].mean for p in points])
    low = np.array([p[1].low if math.isfinite(p[1].low) else p[1].mean for p in points])
    high = np.array([p[1].high if math.isfinite(p[1].high) else p[1].mean for p in points])
    if positive:
        low = np.where(low > 0, low, means)  # a bar through zero cannot be drawn on a log axis
    ax.errorbar(xs, means, yerr=np.vstack([means - low, high - means]), capsize=2, **style)


# -- HTML helpers -------------------------------------------------------------------------------


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A table in its own horizontally scrolling box; cells are already escaped HTML."""
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    table = f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
    return f"<div class='scroll'>{table}</div>"


def _settings(runs: pd.DataFrame) -> dict[str, str]:
    values: dict[str, set] = {}
    for spec in runs["spec"]:
        if isinstance(spec, dict):
            for key, value in spec.items():
                if key not in (*FACTORS, "seed"):
                    values.setdefault(key, set()).add(json.dumps(value))
    return {k: ", ".join(sorted(v)) for k, v in sorted(values.items())}


def _point(value: float):
    from minaction.analysis.stats import Interval

    return Interval(value, value, value, 1)


def _iv(interval, spec: str, scale: float = 1.0) -> str:
    if interval is None or interval.n == 0 or not math.isfinite(interval.mean):
        return "n/a"
    mean, low, high = (scale * v for v in (interval.mean, interval.low, interval.high))
    return f"{mean:{spec}} [{low:{spec}}, {high:{spec}}]"


def _fmt_level(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def _label(name: str) -> str:
    return name.replace("lambda", "λ")


def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)
