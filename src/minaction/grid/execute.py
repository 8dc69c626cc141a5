"""One cell of a grid, run inside a worker: the same code serves the local and the Ray backend.

set_threads(2)
outcome = execute(spec)          # Outcome: completed with its RunResult, diverged or failed
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

from minaction.data import Dataset, load_dataset
from minaction.errors import DivergedError
from minaction.grid.store import Outcome
from minaction.train import RunSpec, train

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
    data = load_dataset(
        spec.dataset, data_dir=data_dir, limit_train=spec.limit_train, limit_test=spec.limit_test
    )
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
    where = {
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "threads": torch.get_num_threads(),
        "versions": library_versions(),
    }
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
    return Outcome(status="completed", result=result, history=result.history, **where)
