"""Cells of a grid, run inside a worker: the same code serves the local and the Ray backend.

set_threads(2)
outcome = execute(spec)          # Outcome: completed with its RunResult, diverged or failed
outcomes = execute_group(specs)  # cells that differ only in seed, as one batched ensemble
"""

from __future__ import annotations

import logging
import os
import platform
import socket
import traceback
from collections import OrderedDict
from pathlib import Path

import torch

from minaction.batched import train_seeds
from minaction.data import Dataset
from minaction.errors import DivergedError
from minaction.grid.store import Outcome
from minaction.train import RunSpec, load_run_data, train

log = logging.getLogger(__name__)

# A worker runs many cells on the same few datasets: keep the last ones loaded.
_DATA_CACHE: OrderedDict[tuple, Dataset] = OrderedDict()
_DATA_CACHE_SIZE = 2


def set_threads(threads: int) -> None:
    """Give torch `threads` threads for its operators and one for inter-op parallelism.

    NOTE: the thread count is not part of the RunSpec, yet it changes the order of sums: the same
    run_id trained with another count agrees only to rounding (about 1e-3 relative in E after 20
    epochs of digits). The store records the count in `threads`.
    """
    torch.set_num_threads(threads)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:  # already set, or parallel work already started in this process
        pass


def library_versions() -> dict[str, str]:
    import numpy

    import minaction

    return {
        "python": platform.python_version(),
        "minaction": minaction.__version__,
        "torch": torch.__version__,
        "numpy": numpy.__version__,
    }


def cached_dataset(spec: RunSpec, data_dir: str | Path | None = None) -> Dataset:
    key = (spec.dataset, spec.limit_train, spec.limit_test, str(data_dir))
    if key in _DATA_CACHE:
        _DATA_CACHE.move_to_end(key)
        return _DATA_CACHE[key]
    data = load_run_data(spec, data_dir)
    _DATA_CACHE[key] = data
    while len(_DATA_CACHE) > _DATA_CACHE_SIZE:
        _DATA_CACHE.popitem(last=False)
    return data


def execute(spec: RunSpec, data_dir: str | Path | None = None, catch: bool = True) -> Outcome:
    """Train `spec` and describe what happened.

    A loss that turns NaN or infinite gives a `diverged` outcome with its epoch and step. Any
    other exception gives a `failed` outcome with its message and traceback when `catch` is
    true, and is raised when it is false (the Ray backend lets Ray carry it to the driver).
    KeyboardInterrupt is always raised.
    """
    history: list[dict] = []
    where = _where()
    try:
        data = cached_dataset(spec, data_dir)
        result = train(spec, data=data, on_epoch=history.append)
    except DivergedError as err:
        log.info("run %s diverged: %s", spec.run_id, err)
        return Outcome(
            status="diverged",
            history=history,
            error=str(err),
            diverged_epoch=err.epoch,
            diverged_step=err.step,
            ensemble=1,
            **where,
        )
    except Exception as err:
        if not catch:
            raise
        log.info("run %s failed: %s: %s", spec.run_id, type(err).__name__, err)
        return Outcome(
            status="failed",
            history=history,
            error=f"{type(err).__name__}: {err}",
            traceback=traceback.format_exc(),
            **where,
        )
    return Outcome(status="completed", result=result, history=result.history, ensemble=1, **where)


def _where() -> dict:
    return {
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "threads": torch.get_num_threads(),
        "versions": library_versions(),
    }


def execute_group(
    specs: list[RunSpec],
    data_dir: str | Path | None = None,
    catch: bool = True,
    batch: bool = True,
) -> list[Outcome]:
    """Train cells that differ only in seed with `train_seeds` (one batched ensemble when `batch`
    and the architecture allow it, else one at a time) and describe what became of each, in the
    order of `specs`.

    A member whose loss turns NaN or infinite is `diverged`; the others go on. Any other
    exception makes every member `failed` with its message (or is raised when `catch` is false):
    members differ only in seed, so what breaks one breaks them all.

    NOTE: when the group trains one at a time and a later member raises, the members already
    trained are marked failed too (train_seeds returns nothing until all are done); failed cells
    run again with --retry-failed.
    """
    histories: list[list[dict]] = [[] for _ in specs]
    plan: list[str | None] = []
    where = _where()
    try:
        data = cached_dataset(specs[0], data_dir)
        results = train_seeds(
            specs,
            data=data,
            batch=batch,
            on_epoch=lambda member, entry: histories[member].append(entry),
            on_plan=plan.append,
        )
    except Exception as err:
        if not catch:
            raise
        message = f"{type(err).__name__}: {err}"
        log.info("group of %d run(s) from %s failed: %s", len(specs), specs[0].run_id, message)
        details = traceback.format_exc()
        return [
            Outcome(status="failed", history=history, error=message, traceback=details, **where)
            for history in histories
        ]

    reason = plan[0] if plan else None
    ensemble = len(specs) if plan and reason is None else 1
    outcomes = []
    for spec, result, history in zip(specs, results, histories, strict=True):
        if isinstance(result, DivergedError):
            log.info("run %s diverged: %s", spec.run_id, result)
            outcome = Outcome(status="diverged", history=history, error=str(result),
                              diverged_epoch=result.epoch, diverged_step=result.step,
                              **where)  # fmt: skip
        else:
            outcome = Outcome(status="completed", result=result, history=result.history, **where)
        outcome.ensemble, outcome.batch_reason = ensemble, reason
        outcomes.append(outcome)
    return outcomes
