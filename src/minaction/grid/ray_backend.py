"""The Ray backend: each group of cells a Ray task; this process (the driver) claims and stores.

The driver claims as many groups as the cluster has slots for (CPUs ÷ CPUs per run, or
--workers): a group is a pending cell and the pending cells that differ from it only in seed,
trained in one task as one batched ensemble (one cell a group with batching off). It stores each
member's outcome the moment its task ends, so a worker or node that dies loses only its own
group, stored as failed with Ray's message. The claims are the driver's: if
the driver itself dies, the next `grid run` finds them held by a dead process and runs them again.

Without an address, the driver starts a local Ray (CPUs: workers × CPUs per run, or all) and stops
it at the end; with one, it joins that cluster, whose workers must have minaction installed.
"""

from __future__ import annotations

import contextlib
import logging
import math
import time
from collections.abc import Callable
from pathlib import Path

from minaction.grid.errors import GridError, require
from minaction.grid.store import DEFAULT_LEASE_SECONDS, Claim, Outcome, Store
from minaction.train import RunSpec

log = logging.getLogger(__name__)

POLL_SECONDS = 0.5
SWEEP_SECONDS = 30.0


def run_cells(
    specs: list[RunSpec],
    data_dir: str | None,
    imports: tuple[str, ...],
    threads: int,
    batch: bool = True,
) -> list[Outcome]:
    """The body of a Ray task: a group of cells that differ only in seed. Exceptions other than
    divergence propagate, so that Ray carries them to the driver as task errors."""
    from minaction.grid.config import import_plugins
    from minaction.grid.execute import execute_group, set_threads

    set_threads(threads)
    import_plugins(imports)
    return execute_group(specs, data_dir, catch=False, batch=batch)


def run_ray(
    store: Store,
    grid: str,
    workers: int | None = None,
    address: str | None = None,
    cpus_per_run: float = 1.0,
    gpus_per_run: float = 0.0,
    data_dir: str | None = None,
    imports: tuple[str, ...] = (),
    lease: float = DEFAULT_LEASE_SECONDS,
    on_progress: Callable[[dict[str, int]], None] | None = None,
    batch_seeds: bool = True,
) -> None:
    """Run the pending cells of `grid` as Ray tasks, a task for each group of cells that differ
    only in seed (`batch_seeds`) or for each cell; return when none is pending or in flight.

    NOTE: the trainer runs on the CPU; a GPU request reserves the device for the task but the
    run does not use it yet.

    Raises:
        MissingDependencyError: Ray is not installed.
    """
    ray = require("ray", "ray", "the Ray backend")
    started_here = not ray.is_initialized()
    if started_here:
        if address:
            ray.init(address=address, log_to_driver=False)
        else:
            num_cpus = max(1, math.ceil(workers * cpus_per_run)) if workers else None
            ray.init(num_cpus=num_cpus, include_dashboard=False, log_to_driver=False)
    elif address:
        log.warning("Ray is already initialised in this process; --ray-address %s is ignored",
                    address)  # fmt: skip

    in_flight: dict = {}  # ObjectRef → the claims of its group
    try:
        resources = ray.cluster_resources()
        _check_fits(resources, cpus_per_run, gpus_per_run, strict=started_here and not address)
        slots = workers or max(1, int(resources.get("CPU", 1) // cpus_per_run))
        task = ray.remote(run_cells).options(
            num_cpus=cpus_per_run, num_gpus=gpus_per_run, max_retries=0, name="minaction-run"
        )
        threads = max(1, int(cpus_per_run))
        last_beat = last_sweep = time.monotonic()
        while True:
            while len(in_flight) < slots:
                claims = store.claim_group(grid, batch_seeds=batch_seeds)
                if not claims:
                    break
                specs = [claim.spec for claim in claims]
                ref = task.remote(specs, _path(data_dir), tuple(imports), threads, batch_seeds)
                in_flight[ref] = claims
            if not in_flight:
                return

            ready, _ = ray.wait(list(in_flight), num_returns=1, timeout=POLL_SECONDS)
            for ref in ready:
                claims = in_flight.pop(ref)
                for claim, outcome in zip(claims, _outcomes(ray, ref, claims), strict=True):
                    store.finish(claim, outcome)

            now = time.monotonic()
            if now - last_beat > lease / 6:
                store.heartbeat(claim for claims in in_flight.values() for claim in claims)
                last_beat = now
            if now - last_sweep > SWEEP_SECONDS:
                store.release_stale(grid, lease)
                last_sweep = now
            if on_progress is not None:
                on_progress(store.counts(grid))
    except BaseException:
        for ref, claims in in_flight.items():
            with contextlib.suppress(Exception):  # the claims are released whatever Ray says
                ray.cancel(ref, force=True)
            for claim in claims:
                store.release(claim, "the Ray driver stopped")
        raise
    finally:
        if started_here:
            ray.shutdown()


def _check_fits(resources: dict, cpus: float, gpus: float, strict: bool) -> None:
    """A task that asks for more than the cluster has would wait for ever: say so. A cluster
    that was joined may be autoscaled, so there it is only a warning."""
    for name, wanted in (("CPU", cpus), ("GPU", gpus)):
        have = resources.get(name, 0)
        if wanted > have:
            message = f"each run asks for {wanted:g} {name}(s) but the Ray cluster has {have:g}"
            if strict:
                raise GridError(f"{message}; lower --{name.lower()}s-per-run")
            log.warning("%s; tasks wait until the cluster grows", message)


def _path(data_dir: str | Path | None) -> str | None:
    return None if data_dir is None else str(data_dir)


def _outcomes(ray, ref, claims: list[Claim]) -> list[Outcome]:
    """The task's Outcomes, or for every member a failed one carrying the task's exception or
    Ray's error."""
    try:
        return ray.get(ref)
    except ray.exceptions.RayTaskError as err:
        cause = getattr(err, "cause", None)
        message = f"{type(cause).__name__}: {cause}" if cause is not None else str(err)
        log.warning("group of %d run(s) from %s failed in its Ray task: %s", len(claims),
                    claims[0].run_id, message)  # fmt: skip
        return [Outcome(status="failed", error=message, traceback=str(err),
                        host=getattr(err, "ip", None), pid=getattr(err, "pid", None))
                for _ in claims]  # fmt: skip
    except ray.exceptions.RayError as err:
        message = f"Ray could not run the task: {type(err).__name__}: {err}"
        log.warning("group of %d run(s) from %s failed: %s", len(claims), claims[0].run_id,
                    message)  # fmt: skip
        return [Outcome(status="failed", error=message) for _ in claims]
