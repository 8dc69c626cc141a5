"""Export the runs of a results database as one table: CSV, or Parquet with pyarrow installed.

    export_runs(Store("runs.sqlite", readonly=True), "runs.parquet")
    pandas.read_parquet("runs.parquet").groupby(["model", "lam"]).accuracy.mean()

One row a run: run_id and status, every RunSpec field under its own name, the final metrics (the
metric `epochs` as `epochs_trained`, since the spec has `epochs` too), energy_per_site as JSON,
the measured joules (per-counter joules as JSON, or the reason none were measured), the
batched ensemble's size, divergence and error, timings, where it ran (host, pid, torch threads)
and the library versions as version_<package>.
"""

from __future__ import annotations

import csv
import json
import os
import tempfile
from dataclasses import fields
from pathlib import Path
from typing import Any

from minaction.errors import ConfigError
from minaction.grid.errors import require
from minaction.grid.store import METRICS, RunRecord, Store
from minaction.train import RunSpec

FORMATS = ("csv", "parquet")
VERSION_PACKAGES = ("python", "minaction", "torch", "numpy")

_SPEC_FIELDS = [f.name for f in fields(RunSpec)]
_METRIC_NAMES = {name: "epochs_trained" if name == "epochs" else name for name in METRICS}
_TAIL = ["energy_per_site", "joules_measured_counters", "joules_measured_reason", "ensemble",
         "diverged_epoch", "diverged_step", "error", "attempts", "created_at", "started_at",
         "finished_at", "host", "pid", "threads"]  # fmt: skip
COLUMNS = [
    "run_id",
    "status",
    *_SPEC_FIELDS,
    *_METRIC_NAMES.values(),
    *_TAIL,
    *(f"version_{package}" for package in VERSION_PACKAGES),
]


def export_format(out: str | Path, fmt: str | None = None) -> str:
    """The format asked for, or the one the file name's suffix implies."""
    if fmt is None:
        suffix = Path(out).suffix.lower()
        fmt = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}.get(suffix)
        if fmt is None:
            raise ConfigError(
                f"cannot tell the format of {out} from its suffix; name it .csv or .parquet "
                "or give --format csv|parquet"
            )
    if fmt not in FORMATS:
        raise ConfigError(f"export format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    return fmt


def flat_row(record: RunRecord) -> dict[str, Any]:
    """One run as a flat mapping of COLUMNS."""
    row: dict[str, Any] = {"run_id": record.run_id, "status": record.status}
    row.update(record.spec.to_dict())
    row.update({column: getattr(record, name) for name, column in _METRIC_NAMES.items()})
    row.update({name: getattr(record, name) for name in _TAIL})
    if record.energy_per_site is not None:
        row["energy_per_site"] = json.dumps(record.energy_per_site, sort_keys=True)
    if record.joules_measured_counters is not None:
        row["joules_measured_counters"] = json.dumps(record.joules_measured_counters,
                                                     sort_keys=True)  # fmt: skip
    versions = record.versions or {}
    row.update({f"version_{p}": versions.get(p) for p in VERSION_PACKAGES})
    return row


def export_runs(
    store: Store,
    out: str | Path,
    fmt: str | None = None,
    grid: str | None = None,
    status: str | list[str] | None = None,
) -> int:
    """Write the runs (of `grid`, of `status`) to `out`; returns the number of rows.

    The file is written beside `out` and moved into place, so a failed export leaves no
    partial file.

    Raises:
        ConfigError: an unknown format.
        MissingDependencyError: Parquet without pyarrow.
    """
    fmt = export_format(out, fmt)
    pyarrow = require("pyarrow", "parquet", "exporting to Parquet") if fmt == "parquet" else None
    rows = [flat_row(record) for record in store.runs(status=status, grid=grid, history=False)]
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{out.name}.", dir=out.parent)
    os.close(handle)
    try:
        if fmt == "csv":
            _write_csv(rows, temporary)
        else:
            _write_parquet(pyarrow, rows, temporary)
        os.replace(temporary, out)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return len(rows)


def _write_csv(rows: list[dict[str, Any]], path: str) -> None:
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)


def _write_parquet(pyarrow, rows: list[dict[str, Any]], path: str) -> None:
    require("pyarrow.parquet", "parquet", "exporting to Parquet").write_table(
        pyarrow.Table.from_pylist(rows, schema=_arrow_schema(pyarrow)), path
    )


def _arrow_schema(pyarrow):
    """Column types, so that a column of only missing values keeps its type."""
    hints = {f.name: str(f.type) for f in fields(RunSpec)}
    integers = {"seed", "n_params", "epochs_trained", "diverged_epoch", "diverged_step",
                "attempts", "pid", "threads", "ensemble"}  # fmt: skip
    floats = set(_METRIC_NAMES.values()) - integers

    def arrow_type(column: str):
        hint = hints.get(column, "")
        if column in integers or hint.startswith("int"):
            return pyarrow.int64()
        if column in floats or hint.startswith("float"):
            return pyarrow.float64()
        return pyarrow.string()

    return pyarrow.schema([(column, arrow_type(column)) for column in COLUMNS])
