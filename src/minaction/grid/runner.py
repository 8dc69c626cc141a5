"""Run a grid: every cell not yet done, on the local or the Ray backend; resumable.

    summary = run_grid("lambda-sweep.toml", db="runs.sqlite", workers=2)
    summary.counts        # {"completed": 98, "diverged": 2, "failed": 0, ...}

Running the same grid again skips completed and diverged cells, runs again the cells left running
by a process that died, and runs failed cells again only with retry_failed=True.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from minaction.errors import ConfigError
from minaction.grid.config import GridConfig, load_grid
from minaction.grid.errors import require
from minaction.grid.store import DEFAULT_LEASE_SECONDS, Store

log = logging.getLogger(__name__)

BACKENDS = ("local", "ray")
ProgressCallback = Callable[[dict[str, int]], None]


@dataclass(frozen=True)
class GridSummary:
    """Where a grid stands after `run_grid`."""

    name: str
    total: int
    counts: dict[str, int]  # by status, over the grid's cells
    finished_now: int  # cells that reached completed, failed or diverged during the call
    released: int  # cells left running by a dead process, put back to pending at the start
    seconds: float

    @property
    def done(self) -> bool:
        return self.counts["pending"] == 0 and self.counts["running"] == 0


def run_grid(
    grid: GridConfig | str | Path,
    db: str | Path = "runs.sqlite",
    workers: int | None = None,
    threads: int | None = None,
    backend: str = "local",
    ray_address: str | None = None,
    retry_failed: bool = False,
    data_dir: str | Path | None = None,
    cpus_per_run: float = 1.0,
    gpus_per_run: float = 0.0,
    lease: float = DEFAULT_LEASE_SECONDS,
    on_progress: ProgressCallback | None = None,
    batch_seeds: bool | None = None,
) -> GridSummary:
    """Run every cell of `grid` that is not done yet and store each outcome in `db`.

    Args:
        grid: a GridConfig, or the path of a grid file.
        workers: local: worker processes (default 1); ray: tasks in flight (default: as many as
            the cluster's CPUs allow).
        threads: local: torch threads a worker (default: cores ÷ workers). Ray gives each task
            as many threads as it has CPUs.
        ray_address: join this Ray cluster instead of starting a local Ray (backend "ray").
        retry_failed: run the failed cells again too.
        cpus_per_run, gpus_per_run: the Ray resources each task asks for.
        lease: seconds without a heartbeat after which a run held by a process of another
            host counts as abandoned.
        on_progress: called now and then with the grid's counts by status.
        batch_seeds: train the cells that differ only in seed as one batched ensemble (one
            claim of several runs, one task); None takes the grid file's `batch_seeds`
            (default true). Architectures that cannot be batched train one at a time anyway.

    Raises:
        ConfigError: a bad grid file or option, before anything runs.
        MissingDependencyError: backend "ray" without Ray installed.
    """
    config = grid if isinstance(grid, GridConfig) else load_grid(grid)
    _check_options(workers, threads, backend, ray_address, cpus_per_run, gpus_per_run, data_dir)
    batch_seeds = config.batch_seeds if batch_seeds is None else bool(batch_seeds)
    specs = config.specs()
    started = time.monotonic()
    with Store(db) as store:
        added = store.add_grid(config.name, specs, config.to_dict(), config.source)
        released = store.release_stale(config.name, lease)
        retried = store.reset_failed(config.name) if retry_failed else 0
        before = store.counts(config.name)
        log.info("grid %s: %d cells, %d new, %d released, %d failed to retry, %d pending; "
                 "seeds %s", config.name, len(specs), added, released, retried,
                 before["pending"], "batched" if batch_seeds else "one at a time")  # fmt: skip
        if on_progress is not None:
            on_progress(before)

        data_path = None if data_dir is None else str(data_dir)
        if backend == "local":
            from minaction.grid.local import run_local

            run_local(store, config.name, workers or 1, data_dir=data_path, threads=threads,
                      imports=config.imports, lease=lease, on_progress=on_progress,
                      batch_seeds=batch_seeds)  # fmt: skip
        else:
            from minaction.grid.ray_backend import run_ray

            run_ray(store, config.name, workers=workers, address=ray_address,
                    cpus_per_run=cpus_per_run, gpus_per_run=gpus_per_run, data_dir=data_path,
                    imports=config.imports, lease=lease, on_progress=on_progress,
                    batch_seeds=batch_seeds)  # fmt: skip
        after = store.counts(config.name)
    if on_progress is not None:
        on_progress(after)
    return GridSummary(
        name=config.name,
        total=len(specs),
        counts=after,
        finished_now=_done(after) - _done(before),
        released=released,
        seconds=time.monotonic() - started,
    )


def _done(counts: dict[str, int]) -> int:
    return counts["completed"] + counts["failed"] + counts["diverged"]


def _check_options(
    workers, threads, backend, ray_address, cpus_per_run, gpus_per_run, data_dir
) -> None:
    if backend not in BACKENDS:
        raise ConfigError(f"backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
    for name, value in (("workers", workers), ("threads", threads)):
        if value is not None and (not isinstance(value, int) or value < 1):
            raise ConfigError(f"{name} must be a positive integer, got {value!r}")
    if threads is not None and backend != "local":
        raise ConfigError("threads apply to the local backend; Ray tasks get --cpus-per-run")
    if ray_address and backend != "ray":
        raise ConfigError(f"a Ray address ({ray_address}) needs the ray backend (--backend ray)")
    if not cpus_per_run > 0:
        raise ConfigError(f"CPUs per run must be a positive number, got {cpus_per_run!r}")
    if not gpus_per_run >= 0:
        raise ConfigError(f"GPUs per run must be a number ≥ 0, got {gpus_per_run!r}")
    if data_dir is not None and not Path(data_dir).is_dir():
        raise ConfigError(f"data directory {data_dir} does not exist")
    if backend == "ray":
        require("ray", "ray", "the Ray backend")
