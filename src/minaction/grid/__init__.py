"""Grids of runs: a TOML file of factors in, a resumable SQLite store of results out.

    summary = run_grid("lambda-sweep.toml", db="runs.sqlite", workers=2)
    for record in Store("runs.sqlite", readonly=True).results():
        record.spec.lam, record.accuracy, record.energy

`config` reads and checks grid files, `store` is the results database (its schema is in its
docstring and docs/grid.md), `local` and `ray_backend` run cells, `runner` ties them together,
`export` writes CSV or Parquet and `cli` is `minaction grid run|status|export`.
"""

from minaction.grid.config import GridConfig, load_grid, parse_grid
from minaction.grid.errors import GridError, MissingDependencyError, StoreError
from minaction.grid.export import export_runs
from minaction.grid.runner import GridSummary, run_grid
from minaction.grid.store import Outcome, RunRecord, Store

__all__ = [
    "GridConfig",
    "GridError",
    "GridSummary",
    "MissingDependencyError",
    "Outcome",
    "RunRecord",
    "Store",
    "StoreError",
    "export_runs",
    "load_grid",
    "parse_grid",
    "run_grid",
]
