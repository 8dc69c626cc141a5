"""Read a results database into one pandas DataFrame, one row per run.

    runs = load_runs("runs.sqlite")            # or load_runs(path, grid="lambda-sweep")
    runs[["model", "dataset", "lam", "seed", "status", "accuracy"]]
    runs.loc[0, "history"]          # [{"epoch": 1, "test_accuracy": ..., "seconds": ...}, ...]

The analysis works on that frame, never on the database, so any source of runs can feed it.
Columns (missing metrics of a run are NaN):

- factors: model, dataset, lam (float), seed (int); run_id; status, one of pending, running,
  completed, failed, diverged; error (one line or None).
- metrics: accuracy, energy, active_fraction, macs_dense, macs_effective, synops,
  joules_estimate, joules_dense_estimate, weight_density, n_params, train_seconds, epochs,
  joules_measured (hardware counters over the whole training; NaN when not measured, and for
  runs stored by a version 1 store).
- dicts and lists: spec (the run's resolved RunSpec), energy_per_site, versions (libraries
  that trained it), joules_measured_counters (joules by counter; empty when not measured),
  history (per-epoch dicts ordered by epoch; empty when none is stored).
- every other column of the runs table, as stored.

The database is the grid's store (minaction.grid.store, schema version 2 or 1), read with plain
SQLite: the `runs` table (the columns above, spec, energy_per_site and versions as JSON text),
`history` (run_id, epoch, the per-epoch figures, `extra` JSON merged in), and, for grid
membership and provenance, `grids`, `grid_runs` and `schema_version`. The file is opened
read-only, so a grid may keep writing to it while it is analysed.

NOTE: the tables are read with plain SQLite rather than through minaction.grid.store.Store,
whose writable connection sets WAL mode and creates tables; the column names come from the
store module, and a newer schema version is logged as a warning.
"""

from __future__ import annotations

import json
import logging
import math
import sqlite3
from collections import defaultdict
from contextlib import closing
from pathlib import Path
from typing import Any

import pandas as pd

from minaction.analysis.errors import ResultsFileError

# The store's own names for its statuses, factors and metric columns, and the newest schema
# version it writes: one definition, so a schema change reaches this reader too.
from minaction.grid.store import FACTOR_COLUMNS, SCHEMA_VERSION, STATUSES
from minaction.grid.store import METRICS as METRIC_COLUMNS

log = logging.getLogger(__name__)

RUNS_TABLE = "runs"
HISTORY_TABLE = "history"


def load_runs(db_path: str | Path, grid: str | None = None) -> pd.DataFrame:
    """Every run in the database (or in grid `grid` of it), whatever its status; see the module
    doc for the columns.

    Raises:
        ResultsFileError: the file is missing, is not an SQLite database, has no runs table
            with the factor and status columns, or has no grid named `grid`.
    """
    with closing(_connect(db_path)) as connection:
        tables = _tables(connection)
        if RUNS_TABLE not in tables:
            raise ResultsFileError(
                f"{db_path} has no table {RUNS_TABLE!r} (tables: {', '.join(tables) or 'none'}); "
                "is it a results database written by `minaction grid run`?"
            )
        _check_schema_version(connection, tables, db_path)
        query, args = f"SELECT * FROM {RUNS_TABLE} ORDER BY rowid", ()
        if grid is not None:
            names = _grid_names(connection, tables)
            if grid not in names:
                raise ResultsFileError(
                    f"{db_path} has no grid {grid!r}; grids: {', '.join(names) or 'none'}"
                )
            query = (
                f"SELECT r.* FROM {RUNS_TABLE} r JOIN grid_runs g USING (run_id) "
                "WHERE g.grid = ? ORDER BY g.seq"
            )
            args = (grid,)
        runs = pd.read_sql_query(query, connection, params=args)
        history = _read_history(connection, tables)
    return normalize_runs(runs, history, source=str(db_path))


def load_metadata(db_path: str | Path) -> dict[str, Any]:
    """What the database says about how its runs were made.

    Returns a dict with `schema_version` (int or None), `grids` (name, source file, config as
    a dict, created_at, updated_at, runs: the number of cells), and `versions` (each distinct
    set of library versions recorded with the runs, with how many runs it trained).
    """
    with closing(_connect(db_path)) as connection:
        tables = _tables(connection)
        metadata: dict[str, Any] = {"schema_version": None, "grids": [], "versions": []}
        if "schema_version" in tables:
            row = connection.execute("SELECT version FROM schema_version").fetchone()
            metadata["schema_version"] = row[0] if row else None
        if "grids" in tables:
            frame = pd.read_sql_query("SELECT * FROM grids ORDER BY name", connection)
            sizes = {}
            if "grid_runs" in tables:
                sizes = dict(
                    connection.execute("SELECT grid, COUNT(*) FROM grid_runs GROUP BY grid")
                )
            for row in frame.to_dict("records"):
                row = {k: _maybe_json(v) for k, v in row.items()}
                row["runs"] = sizes.get(row.get("name"), 0)
                metadata["grids"].append(row)
        if RUNS_TABLE in tables and "versions" in _columns(connection, RUNS_TABLE):
            counts = connection.execute(
                f"SELECT versions, COUNT(*) FROM {RUNS_TABLE} WHERE versions IS NOT NULL "
                "GROUP BY versions ORDER BY COUNT(*) DESC"
            )
            for text, count in counts:
                versions = _maybe_json(text)
                if isinstance(versions, dict) and versions:
                    metadata["versions"].append({"versions": versions, "runs": count})
    return metadata


def normalize_runs(
    runs: pd.DataFrame, history: dict[str, list[dict]] | None = None, source: str = "<runs>"
) -> pd.DataFrame:
    """Bring a frame of runs to the columns described in the module doc.

    `history` maps run_id to its epochs; without it a `history` column of JSON text or lists is
    used if present. Raises ResultsFileError when a factor or the status column is missing.
    """
    missing = [c for c in (*FACTOR_COLUMNS, "status") if c not in runs.columns]
    if missing:
        raise ResultsFileError(
            f"{source}: the runs have no column(s) {', '.join(missing)}; "
            f"columns present: {', '.join(runs.columns)}"
        )
    frame = runs.copy()
    frame["lam"] = pd.to_numeric(frame["lam"], errors="coerce").astype(float)
    frame["seed"] = pd.to_numeric(frame["seed"], errors="coerce").astype("Int64")
    frame["status"] = frame["status"].astype(str).str.lower()
    unknown = sorted(set(frame["status"]) - set(STATUSES))
    if unknown:
        log.warning("%s: runs with unknown status %s are kept as they are", source, unknown)
    for column in METRIC_COLUMNS:
        if column not in frame.columns:
            frame[column] = math.nan
        frame[column] = pd.to_numeric(frame[column], errors="coerce").astype(float)
    if "run_id" not in frame.columns:
        frame["run_id"] = [f"row-{i}" for i in range(len(frame))]
    if "error" not in frame.columns:
        frame["error"] = None
    frame["spec"] = [_as_dict(v) for v in frame.get("spec", [None] * len(frame))]
    for column in ("energy_per_site", "versions", "joules_measured_counters"):
        frame[column] = [_as_dict(v) for v in frame.get(column, [None] * len(frame))]
    if history is not None:
        frame["history"] = [history.get(run_id, []) for run_id in frame["run_id"]]
    elif "history" in frame.columns:
        frame["history"] = [_as_history(v) for v in frame["history"]]
    else:
        frame["history"] = [[] for _ in range(len(frame))]
    return frame.reset_index(drop=True)


def _connect(db_path: str | Path) -> sqlite3.Connection:
    path = Path(db_path)
    if not path.is_file():
        raise ResultsFileError(
            f"results database {path} does not exist; run a grid first "
            "(minaction grid run GRID.toml --db PATH)"
        )
    try:
        connection = sqlite3.connect(f"file:{path.resolve()}?mode=ro", uri=True)
        connection.execute("SELECT name FROM sqlite_master LIMIT 1").fetchall()
    except sqlite3.DatabaseError as err:
        raise ResultsFileError(f"{path} is not a readable SQLite database: {err}") from None
    return connection


def _tables(connection: sqlite3.Connection) -> list[str]:
    rows = connection.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
    return [name for (name,) in rows]


def _read_history(
    connection: sqlite3.Connection, tables: list[str]
) -> dict[str, list[dict]] | None:
    """run_id → epochs in order, from the history table; None when there is no such table.

    The `extra` column (JSON of further per-epoch figures) is merged into each entry.
    """
    if HISTORY_TABLE not in tables:
        return None
    frame = pd.read_sql_query(f"SELECT * FROM {HISTORY_TABLE}", connection)
    if "run_id" not in frame.columns or "epoch" not in frame.columns:
        log.warning("table %s lacks run_id or epoch; histories are left empty", HISTORY_TABLE)
        return {}
    by_run: dict[str, list[dict]] = defaultdict(list)
    for entry in frame.sort_values(["run_id", "epoch"]).to_dict("records"):
        run_id = entry.pop("run_id")
        extra = _as_dict(entry.pop("extra", None))
        entry = {k: v for k, v in entry.items() if not _is_missing(v)}
        entry["epoch"] = int(entry["epoch"])
        by_run[run_id].append({**entry, **extra})
    return dict(by_run)


def _check_schema_version(connection: sqlite3.Connection, tables: list[str], source) -> None:
    if "schema_version" not in tables:
        return
    row = connection.execute("SELECT version FROM schema_version").fetchone()
    if row and row[0] is not None and int(row[0]) > SCHEMA_VERSION:
        log.warning(
            "%s has store schema version %s; this analysis reads version %s and may miss "
            "columns added since",
            source,
            row[0],
            SCHEMA_VERSION,
        )


def _grid_names(connection: sqlite3.Connection, tables: list[str]) -> list[str]:
    if "grids" not in tables:
        return []
    return [name for (name,) in connection.execute("SELECT name FROM grids ORDER BY name")]


def _columns(connection: sqlite3.Connection, table: str) -> list[str]:
    return [row[1] for row in connection.execute(f'PRAGMA table_info("{table}")')]


def _is_missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _maybe_json(value: Any) -> Any:
    if isinstance(value, str) and value[:1] in ("{", "["):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def _as_dict(value: Any) -> dict:
    value = _maybe_json(value)
    return value if isinstance(value, dict) else {}


def _as_history(value: Any) -> list[dict]:
    value = _maybe_json(value)
    if not isinstance(value, list):
        return []
    return sorted((e for e in value if isinstance(e, dict)), key=lambda e: e.get("epoch", 0))
