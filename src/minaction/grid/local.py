"""The local backend: worker processes on this machine, each claiming cells from the database.

Each worker is a process (forkserver, or spawn) with its own connection to the store. It claims
the next pending cell together with the pending cells that differ from it only in seed (one
atomic transaction, so any number of workers and of `grid run` processes can share the
database), trains them as one batched ensemble (`minaction.batched.train_seeds`; one at a time
when batching is off or the architecture cannot be batched), stores each member's outcome in its
own transaction, and claims again until no cell is pending. A thread in the worker refreshes the
claims' heartbeat while they train. The parent process only watches: it
reports progress, puts back the cells of workers that died, and starts workers while cells remain.

Torch threads are set so that workers × threads ≤ the cores this process may use, unless the
caller asks for a number of threads.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import threading
import time
from collections.abc import Callable
from multiprocessing.connection import wait
from pathlib import Path

from minaction.grid.errors import GridError
from minaction.grid.process import ProcessId, current_process, is_alive
from minaction.grid.store import DEFAULT_LEASE_SECONDS, Claim, Store

log = logging.getLogger(__name__)

POLL_SECONDS = 0.5
SWEEP_SECONDS = 30.0


def available_cores() -> int:
    """Cores this process may run on (its CPU affinity where the OS tells it).

    NOTE: a container's CPU quota (cgroup cpu.max) is not read, so a container limited to fewer
    cores than it can see oversubscribes them; pass --workers to match the quota.
    """
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def threads_per_worker(workers: int, cores: int | None = None, threads: int | None = None) -> int:
    """`threads`, or the most threads that keep workers × threads ≤ cores (at least one)."""
    cores = available_cores() if cores is None else cores
    chosen = max(1, cores // workers) if threads is None else threads
    if workers * chosen > cores:
        log.warning("%d workers × %d torch threads on %d cores: they will wait for each other",
                    workers, chosen, cores)  # fmt: skip
    return chosen


def run_local(
    store: Store,
    grid: str,
    workers: int,
    data_dir: str | None = None,
    imports: tuple[str, ...] = (),
    lease: float = DEFAULT_LEASE_SECONDS,
    on_progress: Callable[[dict[str, int]], None] | None = None,
    threads: int | None = None,
    batch_seeds: bool = True,
) -> None:
    """Run the pending cells of `grid` in `workers` processes, each with `threads` torch threads
    (default: cores ÷ workers); return when none is pending and this call's workers have stopped.
    With `batch_seeds`, a worker trains the cells that differ only in seed as one ensemble.

    Raises:
        GridError: workers keep dying before they finish any run (a plugin that fails to
            import in a fresh process, for instance).
    """
    threads = threads_per_worker(workers, threads=threads)
    context = _context()
    # Absolute paths: a worker need not share the parent's working directory.
    db_path = str(store.path.resolve())
    data_path = None if data_dir is None else str(Path(data_dir).resolve())
    log_level = logging.getLogger().getEffectiveLevel()
    args = (db_path, grid, threads, data_path, tuple(imports), current_process(), lease / 6,
            log_level, batch_seeds)  # fmt: skip
    processes: list[multiprocessing.Process] = []
    exits_without_progress = 0
    last_done = _done(store.counts(grid))
    last_sweep = time.monotonic()

    def start_workers(count: int) -> None:
        for _ in range(count):
            process = context.Process(target=worker_main, args=args, daemon=True,
                                      name=f"minaction-grid-{grid}")  # fmt: skip
            process.start()
            processes.append(process)
            log.info("worker %d started with %d torch threads", process.pid, threads)

    try:
        start_workers(min(workers, store.counts(grid)["pending"]))
        while True:
            running = [p for p in processes if p.exitcode is None]
            if running:
                wait([p.sentinel for p in running], timeout=POLL_SECONDS)
            exited = [p for p in processes if p.exitcode is not None]
            died = [p for p in exited if p.exitcode != 0]
            for process in died:
                log.warning("worker %d exited with code %s", process.pid, process.exitcode)
            processes[:] = [p for p in processes if p.exitcode is None]

            if died or time.monotonic() - last_sweep > SWEEP_SECONDS:
                store.release_stale(grid, lease)
                last_sweep = time.monotonic()
            counts = store.counts(grid)
            if on_progress is not None:
                on_progress(counts)

            # Workers that end while cells are pending and nothing gets done are broken (a plugin
            # that fails to import in a new process, say): give up rather than start more.
            done = _done(counts)
            exits_without_progress = 0 if done > last_done else exits_without_progress + len(exited)
            last_done = done
            if exits_without_progress >= max(4, 2 * workers) and counts["pending"]:
                codes = ", ".join(str(p.exitcode) for p in exited) or "none"
                raise GridError(
                    f"worker processes ended {exits_without_progress} times without finishing a "
                    f"run while {counts['pending']} were pending (last exit codes: {codes}); "
                    "see the messages above"
                )
            if counts["pending"] and len(processes) < workers:
                start_workers(min(workers - len(processes), counts["pending"]))
            elif not processes:
                return
    except BaseException:
        _stop(processes)
        store.release_stale(grid, lease)
        raise


def _context():
    """forkserver where the OS has it: the server imports torch and minaction once, and each
    worker is forked from it ready to train; spawn elsewhere. Never plain fork, which would copy
    the parent's threads and open database connection."""
    if "forkserver" in multiprocessing.get_all_start_methods():
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(["minaction.grid.local", "minaction.grid.execute"])
        return context
    return multiprocessing.get_context("spawn")


def _done(counts: dict[str, int]) -> int:
    return counts["completed"] + counts["failed"] + counts["diverged"]


def _stop(processes: list[multiprocessing.Process], grace: float = 5.0) -> None:
    """Stop the workers: on Ctrl-C they had the signal too and put back their runs themselves,
    so give them `grace` seconds, then terminate, then kill."""
    deadline = time.monotonic() + grace
    for process in processes:
        process.join(timeout=max(0.0, deadline - time.monotonic()))
    for process in processes:
        if process.exitcode is None:
            process.terminate()
    for process in processes:
        process.join(timeout=10)
        if process.exitcode is None:
            process.kill()
            process.join()


def worker_main(
    db_path: str,
    grid: str,
    threads: int,
    data_dir: str | None,
    imports: tuple[str, ...],
    parent: ProcessId,
    heartbeat_seconds: float,
    log_level: int = logging.WARNING,
    batch_seeds: bool = True,
) -> None:
    """A worker process: claim a group of cells, train, store, until no cell of `grid` is
    pending.

    It stops as well when its parent has gone (then it has been handed to another process), so
    that a killed `grid run` does not leave workers behind once their current run is stored.
    """
    # A new process logs nothing until told how: use the parent's level.
    logging.basicConfig(level=log_level, format="%(levelname)s %(name)s [%(process)d]: %(message)s")
    try:
        from minaction.grid.config import import_plugins
        from minaction.grid.execute import execute_group, set_threads

        set_threads(threads)
        import_plugins(imports)
        with Store(Path(db_path)) as store:
            heartbeat = _Heartbeat(Path(db_path), heartbeat_seconds)
            heartbeat.start()
            try:
                while is_alive(parent) is not False:
                    claims = store.claim_group(grid, batch_seeds=batch_seeds)
                    if not claims:
                        return
                    heartbeat.claims = claims
                    try:
                        specs = [claim.spec for claim in claims]
                        outcomes = execute_group(specs, data_dir, batch=batch_seeds)
                    except KeyboardInterrupt:
                        for claim in claims:
                            store.release(claim, "interrupted by the user")
                        return
                    heartbeat.claims = []
                    # One transaction a member: a kill between two leaves the rest running,
                    # and they are run again like any other run of a dead process.
                    for claim, outcome in zip(claims, outcomes, strict=True):
                        store.finish(claim, outcome)
            finally:
                heartbeat.stop()
    except KeyboardInterrupt:
        return


class _Heartbeat(threading.Thread):
    """Refreshes the heartbeat of the claims a worker is running, every `interval` seconds."""

    def __init__(self, db_path: Path, interval: float):
        super().__init__(name="minaction-heartbeat", daemon=True)
        self.db_path = db_path
        self.interval = interval
        self.claims: list[Claim] = []
        self._stopped = threading.Event()

    def run(self) -> None:
        with Store(self.db_path) as store:
            while not self._stopped.wait(self.interval):
                claims = self.claims
                if claims:
                    store.heartbeat(claims)

    def stop(self) -> None:
        self._stopped.set()
        self.join(timeout=5)
