"""The results database of a grid: one SQLite file, safe to share between processes.

    store = Store("runs.sqlite", readonly=True)   # only reads: a grid may still be running
    for record in store.results():                # completed runs, with per-epoch history
        record.spec.lam, record.accuracy, record.energy, record.history[-1]["test_energy"]
    store.runs()                                  # every run, failed and diverged included

The file is in WAL mode with synchronous=FULL, and every write is one transaction, so a process
killed at any point leaves every committed row as it was. Claiming is atomic (BEGIN
IMMEDIATE, then UPDATEs guarded by the status), so processes sharing the file never run a cell
twice. `claim_group` claims, in that one transaction, the pending cells that differ only in seed
from the first pending one, so that a worker can train them as one batched ensemble; each member
keeps its own claim token, attempt row and result row. Timestamps are UTC in ISO 8601 with
microseconds ("2025-01-31T12:00:00.000000Z"), which sort as text.

Schema (version 2; a version 1 file is upgraded in place when opened for writing):

    schema_version  version
    grids           name (key), source (file path), config (JSON), created_at, updated_at
    grid_runs       grid, run_id (key together), seq: the grid's cells in the order they run
    runs            one row a run, keyed by run_id (the hash of the resolved RunSpec):
                    factors   model, dataset, lam, seed; spec: the whole resolved RunSpec (JSON)
                    status    pending | running | completed | failed | diverged
                    claim     claim (token of the current attempt), attempts (count),
                              owner_host, owner_pid, owner_start (the claiming process),
                              heartbeat_at (refreshed while it runs)
                    timings   created_at, started_at, finished_at
                    where     host, pid (the process that trained it), threads (its torch
                              threads), versions (JSON: python, minaction, torch, numpy),
                              ensemble (v2: members of the batched ensemble that trained it,
                              1 when trained alone)
                    metrics   accuracy, energy, active_fraction, macs_dense, macs_effective,
                              synops, joules_estimate, joules_dense_estimate, weight_density,
                              n_params, train_seconds, epochs, energy_per_site (JSON),
                              joules_measured, joules_measured_counters (JSON),
                              joules_measured_reason (v2: hardware counters; a batched
                              member's share is the ensemble's joules ÷ its members)
                    problems  diverged_epoch, diverged_step, error (one line), traceback
    history         run_id, epoch (key together), train_loss, train_ce, train_energy,
                    test_accuracy, test_energy, active_fraction, seconds, extra (JSON of any
                    other per-epoch figure)
    attempts        run_id, attempt (key together), claim, host, pid, started_at, finished_at,
                    outcome (running, completed, failed, diverged, abandoned: its process died,
                    interrupted: stopped by the user, discarded: finished after its claim was
                    taken over), error, and (v2) group_size (cells claimed together),
                    ensemble (members trained as one batched ensemble, 1: trained alone; set
                    when it ends), batch_reason (why a group was trained one at a time).
                    The execution log: one row each time a cell started.

NOTE: SQLite's locks are not reliable on network file systems (NFS, SMB): keep the file on a
local disk of the machine that runs `grid run` (with Ray, the driver's machine).

A `running` row whose claiming process is gone (same host: the pid no longer runs, or is another
process now; other hosts: no heartbeat for `lease` seconds) is put back to `pending` by
`release_stale`, which every `grid run` calls as it starts and now and then while it runs.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import time
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from minaction.grid.errors import StoreError
from minaction.grid.process import ProcessId, current_process, is_alive
from minaction.train import RunResult, RunSpec

log = logging.getLogger(__name__)

SCHEMA_VERSION = 2
STATUSES = ("pending", "running", "completed", "failed", "diverged")
DONE = ("completed", "failed", "diverged")
FACTOR_COLUMNS = ("model", "dataset", "lam", "seed")
METRICS = (
    "accuracy",
    "energy",
    "active_fraction",
    "macs_dense",
    "macs_effective",
    "synops",
    "joules_estimate",
    "joules_dense_estimate",
    "weight_density",
    "n_params",
    "train_seconds",
    "epochs",
    "joules_measured",
)
HISTORY_COLUMNS = (
    "train_loss",
    "train_ce",
    "train_energy",
    "test_accuracy",
    "test_energy",
    "active_fraction",
    "seconds",
)
DEFAULT_LEASE_SECONDS = 120.0
MAX_ABANDONED = 3  # a run whose process died this often is marked failed, not retried again

_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS grids (
    name TEXT PRIMARY KEY,
    source TEXT,
    config TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY,
    model TEXT NOT NULL,
    dataset TEXT NOT NULL,
    lam REAL NOT NULL,
    seed INTEGER NOT NULL,
    spec TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending'
        CHECK (status IN ({", ".join(f"'{s}'" for s in STATUSES)})),
    attempts INTEGER NOT NULL DEFAULT 0,
    claim TEXT,
    owner_host TEXT,
    owner_pid INTEGER,
    owner_start TEXT,
    heartbeat_at TEXT,
    created_at TEXT NOT NULL,
    started_at TEXT,
    finished_at TEXT,
    host TEXT,
    pid INTEGER,
    threads INTEGER,
    versions TEXT,
    accuracy REAL,
    energy REAL,
    active_fraction REAL,
    macs_dense REAL,
    macs_effective REAL,
    synops REAL,
    joules_estimate REAL,
    joules_dense_estimate REAL,
    weight_density REAL,
    n_params INTEGER,
    train_seconds REAL,
    epochs INTEGER,
    energy_per_site TEXT,
    diverged_epoch INTEGER,
    diverged_step INTEGER,
    error TEXT,
    traceback TEXT,
    joules_measured REAL,
    joules_measured_counters TEXT,
    joules_measured_reason TEXT,
    ensemble INTEGER
);
CREATE INDEX IF NOT EXISTS runs_by_status ON runs (status);
CREATE TABLE IF NOT EXISTS grid_runs (
    grid TEXT NOT NULL REFERENCES grids (name),
    run_id TEXT NOT NULL REFERENCES runs (run_id),
    seq INTEGER NOT NULL,
    PRIMARY KEY (grid, run_id)
);
CREATE INDEX IF NOT EXISTS grid_runs_in_order ON grid_runs (grid, seq);
CREATE TABLE IF NOT EXISTS history (
    run_id TEXT NOT NULL REFERENCES runs (run_id),
    epoch INTEGER NOT NULL,
    {", ".join(f"{c} REAL" for c in HISTORY_COLUMNS)},
    extra TEXT,
    PRIMARY KEY (run_id, epoch)
);
CREATE TABLE IF NOT EXISTS attempts (
    run_id TEXT NOT NULL REFERENCES runs (run_id),
    attempt INTEGER NOT NULL,
    claim TEXT NOT NULL,
    host TEXT NOT NULL,
    pid INTEGER NOT NULL,
    started_at TEXT NOT NULL,
    finished_at TEXT,
    outcome TEXT NOT NULL,
    error TEXT,
    group_size INTEGER,
    ensemble INTEGER,
    batch_reason TEXT,
    PRIMARY KEY (run_id, attempt)
);
"""
# Version 1 → 2: the columns version 2 added, as (table, column, type).
_ADDED_IN_V2 = (
    ("runs", "joules_measured", "REAL"),
    ("runs", "joules_measured_counters", "TEXT"),
    ("runs", "joules_measured_reason", "TEXT"),
    ("runs", "ensemble", "INTEGER"),
    ("attempts", "group_size", "INTEGER"),
    ("attempts", "ensemble", "INTEGER"),
    ("attempts", "batch_reason", "TEXT"),
)


def timestamp(seconds: float | None = None) -> str:
    """UTC time in the store's format: ISO 8601 with microseconds, sortable as text."""
    moment = datetime.fromtimestamp(time.time() if seconds is None else seconds, timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass
class Outcome:
    """What became of one execution of a run, as the worker hands it to the store."""

    status: str  # completed | failed | diverged
    result: RunResult | None = None
    history: list[dict] = field(default_factory=list)
    error: str | None = None
    traceback: str | None = None
    diverged_epoch: int | None = None
    diverged_step: int | None = None
    host: str | None = None
    pid: int | None = None
    threads: int | None = None
    versions: dict[str, str] = field(default_factory=dict)
    # Members of the batched ensemble that trained it, 1: trained alone, None: not trained (an
    # exception before or during training).
    ensemble: int | None = None
    batch_reason: str | None = None  # why its group was trained one at a time


@dataclass(frozen=True)
class Claim:
    """A run this process now holds: run it, then hand the outcome to `Store.finish`."""

    run_id: str
    token: str
    attempt: int
    spec: RunSpec


@dataclass
class RunRecord:
    """One stored run: its spec, status and (when completed) final metrics and history."""

    run_id: str
    spec: RunSpec
    status: str
    attempts: int
    accuracy: float | None
    energy: float | None
    active_fraction: float | None
    macs_dense: float | None
    macs_effective: float | None
    synops: float | None
    joules_estimate: float | None
    joules_dense_estimate: float | None
    weight_density: float | None
    n_params: int | None
    train_seconds: float | None
    epochs: int | None
    energy_per_site: dict[str, float] | None
    diverged_epoch: int | None
    diverged_step: int | None
    error: str | None
    created_at: str
    started_at: str | None
    finished_at: str | None
    host: str | None
    pid: int | None
    threads: int | None
    versions: dict[str, str] | None
    history: list[dict] = field(default_factory=list)
    joules_measured: float | None = None
    joules_measured_counters: dict[str, float] | None = None
    joules_measured_reason: str | None = None
    ensemble: int | None = None


class Store:
    """The results database at `path`.

    Args:
        path: the SQLite file.
        readonly: open an existing file for reading only (status, export, analysis): nothing is
            created or changed, and any write raises sqlite3.OperationalError.
        timeout: seconds to wait for another process's write transaction to end.

    Raises:
        StoreError: the file is missing (readonly), not a minaction database, or of a newer
            schema version than this minaction reads.
    """

    def __init__(self, path: str | Path, readonly: bool = False, timeout: float = 60.0):
        self.path = Path(path)
        self._writable = not readonly
        if readonly and not self.path.is_file():
            raise StoreError(
                f"no results database at {self.path}; `minaction grid run GRID.toml --db "
                f"{self.path}` creates it"
            )
        if readonly:
            uri = f"{self.path.resolve().as_uri()}?mode=ro"
            self._db = sqlite3.connect(uri, uri=True, timeout=timeout, isolation_level=None)
        else:
            self._db = sqlite3.connect(self.path, timeout=timeout, isolation_level=None)
        try:
            self._db.execute(f"PRAGMA busy_timeout = {int(timeout * 1000)}")
            self._db.row_factory = sqlite3.Row
            if readonly:
                self._check_schema()
            else:
                self._open_for_writing(timeout)
        except sqlite3.DatabaseError as err:
            self._db.close()
            raise StoreError(f"{self.path} is not a readable minaction database: {err}") from None
        except BaseException:
            self._db.close()
            raise

    def _open_for_writing(self, timeout: float) -> None:
        """Switch to WAL and create or check the schema, retrying while another process holds
        the lock: two commands opening a new file at once both want it, and the switch to WAL
        can answer "locked" at once instead of waiting out the busy timeout."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                self._db.execute("PRAGMA journal_mode = WAL")
                self._db.execute("PRAGMA synchronous = FULL")
                self._db.execute("PRAGMA foreign_keys = ON")
                self._create_or_check_schema()
                return
            except sqlite3.OperationalError as err:
                busy = "locked" in str(err) or "busy" in str(err)
                if not busy or time.monotonic() > deadline:
                    raise
                if self._db.in_transaction:
                    self._db.rollback()
                time.sleep(0.05)

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """A write transaction: it takes the database's write lock at once (BEGIN IMMEDIATE), so
        what it reads cannot change before it commits."""
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    @contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        """A read transaction: several SELECTs that see one state of the database."""
        self._db.execute("BEGIN")
        try:
            yield self._db
        finally:
            self._db.execute("COMMIT")

    def _create_or_check_schema(self) -> None:
        with self._write() as db:
            tables = {row["name"] for row in db.execute("SELECT name FROM sqlite_master")}
            if not tables:
                for statement in _SCHEMA.split(";"):
                    if statement.strip():
                        db.execute(statement)
                db.execute("INSERT INTO schema_version (version) VALUES (?)", (SCHEMA_VERSION,))
            elif "schema_version" in tables:
                version = db.execute("SELECT MAX(version) FROM schema_version").fetchone()[0]
                if version == 1:
                    _migrate_1_to_2(db)
                    log.info("%s upgraded from schema version 1 to 2", self.path)
            self._check_schema(tables or None)

    def _check_schema(self, tables: set[str] | None = None) -> None:
        if tables is None:
            tables = {row["name"] for row in self._db.execute("SELECT name FROM sqlite_master")}
        if "schema_version" not in tables:
            raise StoreError(
                f"{self.path} is an SQLite database of something else (tables: "
                f"{', '.join(sorted(tables)) or 'none'}); give --db a new file or a minaction one"
            )
        version = self._db.execute("SELECT MAX(version) FROM schema_version").fetchone()[0]
        self.version = version
        # A version 1 file opened read-only is read as it is: the columns it lacks read as None.
        readable = (SCHEMA_VERSION,) if self._writable else (1, SCHEMA_VERSION)
        if version not in readable:
            newer = version is not None and version > SCHEMA_VERSION
            raise StoreError(
                f"{self.path} has schema version {version}"
                + (", written by a newer minaction" if newer else "")
                + f"; this minaction reads version {SCHEMA_VERSION}"
                + (": upgrade minaction" if newer else "")
            )

    # -- a grid's cells -----------------------------------------------------------------------

    def add_grid(
        self, name: str, specs: list[RunSpec], config: dict | None = None, source: str = ""
    ) -> int:
        """Record grid `name` as exactly the cells `specs` (in run order) and add the runs not
        stored yet as pending. Returns how many runs were new.

        NOTE: the grid's membership is replaced each time, so two different configs under one
        name on one database take turns being "the grid"; give different grids different names.
        """
        now = timestamp()
        rows = [
            (spec.run_id, spec.model, spec.dataset, float(spec.lam), spec.seed,
             _spec_json(spec), now)
            for spec in specs
        ]  # fmt: skip
        with self._write() as db:
            db.execute(
                "INSERT INTO grids (name, source, config, created_at, updated_at) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT (name) DO UPDATE SET "
                "source = excluded.source, config = excluded.config, "
                "updated_at = excluded.updated_at",
                (name, source, json.dumps(config or {}, sort_keys=True), now, now),
            )
            before = db.total_changes
            db.executemany(
                "INSERT OR IGNORE INTO runs (run_id, model, dataset, lam, seed, spec, created_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                rows,
            )
            added = db.total_changes - before
            db.execute("DELETE FROM grid_runs WHERE grid = ?", (name,))
            db.executemany(
                "INSERT OR IGNORE INTO grid_runs (grid, run_id, seq) VALUES (?, ?, ?)",
                [(name, row[0], seq) for seq, row in enumerate(rows)],
            )
        return added

    def grid_names(self) -> list[str]:
        return [row["name"] for row in self._db.execute("SELECT name FROM grids ORDER BY name")]

    def grid_size(self, grid: str) -> int:
        query = "SELECT COUNT(*) FROM grid_runs WHERE grid = ?"
        return self._db.execute(query, (grid,)).fetchone()[0]

    # -- claiming and finishing runs ----------------------------------------------------------

    def claim(self, grid: str, owner: ProcessId | None = None) -> Claim | None:
        """Take the next pending run of `grid` for `owner` (this process by default), or None
        when none is pending. Atomic: two processes never get the same run."""
        claims = self.claim_group(grid, owner, batch_seeds=False)
        return claims[0] if claims else None

    def claim_group(
        self, grid: str, owner: ProcessId | None = None, batch_seeds: bool = True
    ) -> list[Claim]:
        """Take the next pending run of `grid` and, with `batch_seeds`, every other pending run
        of the grid that differs from it only in seed, all in one transaction; [] when none is
        pending. Each run gets its own claim (token, attempt), finished or released on its own.

        NOTE: a group takes every pending seed of its cell, so a grid with fewer cells than
        workers leaves workers idle; it does not split a cell's seeds between workers.
        """
        owner = owner or current_process()
        now = timestamp()
        pending = (
            "SELECT r.run_id, r.spec, r.attempts, r.model, r.dataset, r.lam "
            "FROM grid_runs g JOIN runs r USING (run_id) "
            "WHERE g.grid = ? AND r.status = 'pending'"
        )
        with self._write() as db:
            first = db.execute(pending + " ORDER BY g.seq LIMIT 1", (grid,)).fetchone()
            if first is None:
                return []
            rows = [first]
            if batch_seeds:
                # The factors narrow the search; the specs decide (the other settings may differ
                # between cells through overrides).
                cell = replace(RunSpec.from_dict(json.loads(first["spec"])), seed=0)
                others = db.execute(
                    pending + " AND r.model = ? AND r.dataset = ? AND r.lam = ? "
                    "AND r.run_id != ? ORDER BY g.seq",
                    (grid, first["model"], first["dataset"], first["lam"], first["run_id"]),
                ).fetchall()
                for row in others:
                    if replace(RunSpec.from_dict(json.loads(row["spec"])), seed=0) == cell:
                        rows.append(row)
            claims = []
            for row in rows:
                token = uuid.uuid4().hex
                attempt = row["attempts"] + 1
                db.execute(
                    "UPDATE runs SET status = 'running', attempts = ?, claim = ?, "
                    "owner_host = ?, owner_pid = ?, owner_start = ?, heartbeat_at = ?, "
                    "started_at = ?, finished_at = NULL WHERE run_id = ? AND status = 'pending'",
                    (attempt, token, owner.host, owner.pid, owner.start, now, now,
                     row["run_id"]),
                )  # fmt: skip
                db.execute(
                    "INSERT INTO attempts (run_id, attempt, claim, host, pid, started_at, "
                    "outcome, group_size) VALUES (?, ?, ?, ?, ?, ?, 'running', ?)",
                    (row["run_id"], attempt, token, owner.host, owner.pid, now, len(rows)),
                )
                spec = RunSpec.from_dict(json.loads(row["spec"]))
                claims.append(Claim(run_id=row["run_id"], token=token, attempt=attempt,
                                    spec=spec))  # fmt: skip
        return claims

    def heartbeat(self, claims: Iterable[Claim]) -> None:
        """Mark the runs of `claims` as still being worked on."""
        claims = list(claims)
        if not claims:
            return
        now = timestamp()
        with self._write() as db:
            db.executemany(
                "UPDATE runs SET heartbeat_at = ? WHERE run_id = ? AND claim = ? "
                "AND status = 'running'",
                [(now, c.run_id, c.token) for c in claims],
            )

    def finish(self, claim: Claim, outcome: Outcome) -> bool:
        """Store the outcome of a claimed run, with its history, in one transaction.

        Returns False, and stores nothing but the attempt's end, when the claim is no longer
        this one's (the run was released as stale and claimed again meanwhile).
        """
        if outcome.status not in DONE:
            raise ValueError(f"an outcome's status must be one of {DONE}, got {outcome.status!r}")
        now = timestamp()
        with self._write() as db:
            row = db.execute(
                "SELECT status, claim FROM runs WHERE run_id = ?", (claim.run_id,)
            ).fetchone()
            if row is None or row["status"] != "running" or row["claim"] != claim.token:
                log.warning("run %s finished after its claim was taken over; result discarded",
                            claim.run_id)  # fmt: skip
                _end_attempt(
                    db, claim.run_id, claim.token, "discarded", now, "its claim was taken over"
                )
                return False
            values = _outcome_columns(outcome)
            assignments = ", ".join(f"{column} = ?" for column in values)
            db.execute(
                f"UPDATE runs SET {assignments}, status = ?, finished_at = ?, claim = NULL "
                "WHERE run_id = ?",
                (*values.values(), outcome.status, now, claim.run_id),
            )
            db.execute("DELETE FROM history WHERE run_id = ?", (claim.run_id,))
            db.executemany(
                f"INSERT INTO history (run_id, epoch, {', '.join(HISTORY_COLUMNS)}, extra) "
                f"VALUES ({', '.join('?' * (len(HISTORY_COLUMNS) + 3))})",
                [_history_row(claim.run_id, entry) for entry in outcome.history],
            )
            _end_attempt(db, claim.run_id, claim.token, outcome.status, now, outcome.error,
                         outcome.ensemble, outcome.batch_reason)  # fmt: skip
        return True

    def release(self, claim: Claim, reason: str = "interrupted") -> bool:
        """Put a claimed run back to pending without a result (the worker was stopped)."""
        now = timestamp()
        with self._write() as db:
            changed = db.execute(
                "UPDATE runs SET status = 'pending', claim = NULL WHERE run_id = ? "
                "AND claim = ? AND status = 'running'",
                (claim.run_id, claim.token),
            ).rowcount
            _end_attempt(db, claim.run_id, claim.token, "interrupted", now, reason)
        return bool(changed)

    def release_stale(
        self,
        grid: str | None = None,
        lease: float = DEFAULT_LEASE_SECONDS,
        max_abandoned: int = MAX_ABANDONED,
    ) -> int:
        """Put back to pending the running runs (of `grid`, or all) whose process is gone.

        A process of this host is gone when its pid no longer runs or now belongs to another
        process; one of another host when its heartbeat is older than `lease` seconds. A run
        abandoned `max_abandoned` times is marked failed instead, so a run that kills its worker
        cannot loop for ever. Returns the number of runs released or failed.
        """
        cutoff = timestamp(time.time() - lease)
        now = timestamp()
        released = 0
        with self._write() as db:
            rows = db.execute(
                "SELECT run_id, attempts, claim, owner_host, owner_pid, owner_start, heartbeat_at "
                "FROM runs WHERE status = 'running'"
                + (" AND run_id IN (SELECT run_id FROM grid_runs WHERE grid = ?)" if grid else ""),
                (grid,) if grid else (),
            ).fetchall()
            for row in rows:
                owner = ProcessId(row["owner_host"], row["owner_pid"], row["owner_start"])
                alive = is_alive(owner)
                if alive is None:
                    alive = (row["heartbeat_at"] or "") >= cutoff
                if alive:
                    continue
                reason = f"process {owner.pid} on {owner.host} died while running it"
                _end_attempt(db, row["run_id"], row["claim"], "abandoned", now, reason)
                abandoned = db.execute(
                    "SELECT COUNT(*) FROM attempts WHERE run_id = ? AND outcome = 'abandoned'",
                    (row["run_id"],),
                ).fetchone()[0]
                if abandoned >= max_abandoned:
                    db.execute(
                        "UPDATE runs SET status = 'failed', claim = NULL, finished_at = ?, "
                        "error = ? WHERE run_id = ?",
                        (now, f"abandoned {abandoned} times: {reason}", row["run_id"]),
                    )
                else:
                    db.execute(
                        "UPDATE runs SET status = 'pending', claim = NULL WHERE run_id = ?",
                        (row["run_id"],),
                    )
                log.info("run %s released: %s", row["run_id"], reason)
                released += 1
        return released

    def reset_failed(self, grid: str) -> int:
        """Put the failed runs of `grid` back to pending (for --retry-failed)."""
        with self._write() as db:
            return db.execute(
                "UPDATE runs SET status = 'pending', error = NULL, traceback = NULL, "
                "finished_at = NULL WHERE status = 'failed' "
                "AND run_id IN (SELECT run_id FROM grid_runs WHERE grid = ?)",
                (grid,),
            ).rowcount

    # -- reading ------------------------------------------------------------------------------

    def counts(self, grid: str | None = None) -> dict[str, int]:
        """Number of runs by status (every status present, zeros included)."""
        where, args = _grid_filter(grid)
        rows = self._db.execute(
            f"SELECT status, COUNT(*) AS n FROM runs {where} GROUP BY status", args
        ).fetchall()
        counts = dict.fromkeys(STATUSES, 0)
        counts.update({row["status"]: row["n"] for row in rows})
        return counts

    def factor_counts(self, grid: str | None = None) -> dict[str, dict[Any, dict[str, int]]]:
        """For each factor (model, dataset, lam), each of its values → counts by status."""
        where, args = _grid_filter(grid)
        table: dict[str, dict[Any, dict[str, int]]] = {}
        with self._read() as db:
            for factor in ("model", "dataset", "lam"):
                rows = db.execute(
                    f"SELECT {factor} AS value, status, COUNT(*) AS n FROM runs {where} "
                    f"GROUP BY {factor}, status ORDER BY {factor}",
                    args,
                ).fetchall()
                by_value: dict[Any, dict[str, int]] = {}
                for row in rows:
                    by_value.setdefault(row["value"], dict.fromkeys(STATUSES, 0))
                    by_value[row["value"]][row["status"]] = row["n"]
                table[factor] = by_value
        return table

    def runs(
        self,
        status: str | Iterable[str] | None = None,
        grid: str | None = None,
        history: bool = True,
    ) -> list[RunRecord]:
        """Stored runs (of `grid`, or all), in grid order, optionally of some statuses only."""
        statuses = _statuses(status)
        if grid is None:
            query, args = "SELECT r.* FROM runs r WHERE 1", ()
        else:
            query = "SELECT r.* FROM grid_runs g JOIN runs r USING (run_id) WHERE g.grid = ?"
            args = (grid,)
        if statuses:
            query += f" AND r.status IN ({', '.join('?' * len(statuses))})"
            args = (*args, *statuses)
        query += " ORDER BY r.rowid" if grid is None else " ORDER BY g.seq"
        with self._read() as db:
            records = [_record(row) for row in db.execute(query, args).fetchall()]
            if history:
                by_run = _history_by_run(db, [r.run_id for r in records])
                for record in records:
                    record.history = by_run.get(record.run_id, [])
        return records

    def results(self, status: str | Iterable[str] = "completed", grid: str | None = None):
        """The completed runs (or those of `status`) with their history; see `runs`."""
        return self.runs(status=status, grid=grid)

    def attempts(self, run_id: str | None = None) -> list[dict[str, Any]]:
        """The execution log: one dict each time a run started, oldest first."""
        query = "SELECT * FROM attempts" + (" WHERE run_id = ?" if run_id else "")
        rows = self._db.execute(query + " ORDER BY started_at", (run_id,) if run_id else ())
        return [dict(row) for row in rows]

    def batching(self, grid: str | None = None) -> dict[str, Any]:
        """How the finished runs were trained: `batched` (in an ensemble of several members),
        `alone`, and `reasons`: why groups trained one at a time → number of runs."""
        where, args = _grid_filter(grid)
        finished = "status IN ('completed', 'diverged', 'failed') AND ensemble IS NOT NULL"
        where += (" AND " if where else "WHERE ") + finished
        with self._read() as db:
            row = db.execute(
                "SELECT COALESCE(SUM(ensemble > 1), 0) AS batched, "
                f"COALESCE(SUM(ensemble = 1), 0) AS alone FROM runs {where}",
                args,
            ).fetchone()
            reasons = db.execute(
                "SELECT a.batch_reason AS reason, COUNT(*) AS n FROM attempts a "
                f"JOIN (SELECT run_id, attempts FROM runs {where}) r "
                "ON a.run_id = r.run_id AND a.attempt = r.attempts "
                "WHERE a.batch_reason IS NOT NULL GROUP BY a.batch_reason ORDER BY n DESC",
                args,
            ).fetchall()
        return {
            "batched": row["batched"],
            "alone": row["alone"],
            "reasons": {r["reason"]: r["n"] for r in reasons},
        }

    def failures(self, grid: str | None = None, limit: int = 10) -> list[dict[str, Any]]:
        """The latest failed runs: run_id, factors and error."""
        where, args = _grid_filter(grid)
        where += (" AND " if where else "WHERE ") + "status = 'failed'"
        rows = self._db.execute(
            f"SELECT run_id, model, dataset, lam, seed, error FROM runs {where} "
            "ORDER BY finished_at DESC LIMIT ?",
            (*args, limit),
        )
        return [dict(row) for row in rows]

    def raw_rows(self, table: str) -> list[tuple]:
        """Every row of `table` as stored, for checks that nothing changed."""
        if table not in ("runs", "history", "attempts", "grids", "grid_runs"):
            raise ValueError(f"table must be a table of the store, got {table!r}")
        return self._db.execute(f"SELECT * FROM {table} ORDER BY rowid").fetchall()


# -- helpers ------------------------------------------------------------------------------------


def _spec_json(spec: RunSpec) -> str:
    return json.dumps(spec.to_dict(), sort_keys=True)


def _grid_filter(grid: str | None) -> tuple[str, tuple]:
    if grid is None:
        return "", ()
    return "WHERE run_id IN (SELECT run_id FROM grid_runs WHERE grid = ?)", (grid,)


def _statuses(status: str | Iterable[str] | None) -> tuple[str, ...]:
    if status is None:
        return ()
    statuses = (status,) if isinstance(status, str) else tuple(status)
    for item in statuses:
        if item not in STATUSES:
            raise ValueError(f"status must be one of {', '.join(STATUSES)}, got {item!r}")
    return statuses


def _end_attempt(
    db,
    run_id: str,
    token: str,
    outcome: str,
    now: str,
    error: str | None,
    ensemble: int | None = None,
    batch_reason: str | None = None,
):
    db.execute(
        "UPDATE attempts SET outcome = ?, finished_at = ?, error = ?, "
        "ensemble = COALESCE(?, ensemble), batch_reason = COALESCE(?, batch_reason) "
        "WHERE run_id = ? AND claim = ?",
        (outcome, now, error, ensemble, batch_reason, run_id, token),
    )


def _migrate_1_to_2(db) -> None:
    """Add the columns of version 2 to a version 1 file, inside the caller's transaction (so a
    crash leaves it at version 1, whole). Rows written before read None in them."""
    for table, column, kind in _ADDED_IN_V2:
        db.execute(f"ALTER TABLE {table} ADD COLUMN {column} {kind}")
    db.execute("UPDATE schema_version SET version = ?", (SCHEMA_VERSION,))


def _outcome_columns(outcome: Outcome) -> dict[str, Any]:
    result = outcome.result
    columns: dict[str, Any] = {name: getattr(result, name, None) for name in METRICS}
    columns["energy_per_site"] = json.dumps(result.energy_per_site) if result else None
    counters = getattr(result, "joules_measured_counters", None)
    columns["joules_measured_counters"] = json.dumps(counters) if counters else None
    columns["joules_measured_reason"] = getattr(result, "joules_measured_reason", None)
    columns["ensemble"] = outcome.ensemble
    columns.update(
        diverged_epoch=outcome.diverged_epoch,
        diverged_step=outcome.diverged_step,
        error=outcome.error,
        traceback=outcome.traceback,
        host=outcome.host,
        pid=outcome.pid,
        threads=outcome.threads,
        versions=json.dumps(outcome.versions, sort_keys=True),
    )
    return columns


def _history_row(run_id: str, entry: dict) -> tuple:
    extra = {k: v for k, v in entry.items() if k != "epoch" and k not in HISTORY_COLUMNS}
    values = [entry.get(column) for column in HISTORY_COLUMNS]
    return (run_id, entry["epoch"], *values, json.dumps(extra) if extra else None)


def _history_by_run(db, run_ids: list[str]) -> dict[str, list[dict]]:
    wanted = set(run_ids)
    by_run: dict[str, list[dict]] = {}
    for row in db.execute("SELECT * FROM history ORDER BY run_id, epoch"):
        if row["run_id"] not in wanted:
            continue
        entry = {"epoch": row["epoch"]}
        entry.update({column: row[column] for column in HISTORY_COLUMNS})
        if row["extra"]:
            entry.update(json.loads(row["extra"]))
        by_run.setdefault(row["run_id"], []).append(entry)
    return by_run


def _record(row: sqlite3.Row) -> RunRecord:
    present = set(row.keys())  # a version 1 file read-only lacks the version 2 columns

    def value(column: str):
        return row[column] if column in present else None

    def parsed(column: str):
        return json.loads(row[column]) if value(column) else None

    return RunRecord(
        run_id=row["run_id"],
        spec=RunSpec.from_dict(json.loads(row["spec"])),
        status=row["status"],
        attempts=row["attempts"],
        **{name: value(name) for name in METRICS},
        energy_per_site=parsed("energy_per_site"),
        diverged_epoch=row["diverged_epoch"],
        diverged_step=row["diverged_step"],
        error=row["error"],
        created_at=row["created_at"],
        started_at=row["started_at"],
        finished_at=row["finished_at"],
        host=row["host"],
        pid=row["pid"],
        threads=row["threads"],
        versions=parsed("versions"),
        joules_measured_counters=parsed("joules_measured_counters"),
        joules_measured_reason=value("joules_measured_reason"),
        ensemble=value("ensemble"),
    )
