"""Write runs into a results database through the grid's Store, as `minaction grid run` would.

write_runs(path, synthetic_runs(...))                 # metrics from a frame, no training
train_into(path, [RunSpec(...), ...])                 # real training, for end-to-end tests
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from minaction.grid.store import Outcome, Store
from minaction.train import RunResult, RunSpec, train

VERSIONS = {"python": "3.x", "minaction": "test", "torch": "test", "numpy": "test"}


def write_runs(path: Path, runs: pd.DataFrame, grid: str = "synthetic", pending: int = 0) -> Path:
    """Store every row of `runs` (a synthetic frame) with its status; `pending` more cells of a
    second grid are added and never run."""
    specs = {}
    for run in runs.to_dict("records"):
        spec = RunSpec(model=run["model"], dataset=run["dataset"], lam=run["lam"],
                       seed=int(run["seed"]), epochs=int(run["epochs"]),
                       limit_train=200).resolved()  # fmt: skip
        specs[spec.run_id] = (spec, run)
    with Store(path) as store:
        store.add_grid(grid, [s for s, _ in specs.values()], config={"name": grid}, source="t.toml")
        while (claim := store.claim(grid)) is not None:
            spec, run = specs[claim.run_id]
            store.finish(claim, _outcome(spec, run))
        if pending:
            extra = [RunSpec(model="mlp", dataset="digits", seed=100 + i).resolved()
                     for i in range(pending)]  # fmt: skip
            store.add_grid("later", extra, config={"name": "later"})
    return path


def train_into(path: Path, specs: list[RunSpec], grid: str = "tiny") -> Path:
    """Train each spec and store its result, in this process."""
    with Store(path) as store:
        store.add_grid(grid, specs, config={"name": grid, "cells": len(specs)}, source="tiny.toml")
        while (claim := store.claim(grid)) is not None:
            result = train(claim.spec)
            outcome = Outcome("completed", result=result, history=result.history,
                              versions=VERSIONS)  # fmt: skip
            store.finish(claim, outcome)
    return path


def _outcome(spec: RunSpec, run: dict) -> Outcome:
    status = run["status"]
    if status != "completed":
        return Outcome(status, error=run["error"], versions=VERSIONS,
                       diverged_epoch=1 if status == "diverged" else None)  # fmt: skip
    result = RunResult(
        spec=spec, run_id=spec.run_id, accuracy=run["accuracy"], energy=run["energy"],
        energy_per_site={"body.1": run["energy"]}, active_fraction=run["active_fraction"],
        macs_dense=run["macs_dense"], macs_effective=run["macs_effective"], synops=0.0,
        joules_estimate=run["joules_estimate"], joules_dense_estimate=run["joules_estimate"] * 2,
        weight_density=1.0, n_params=1000, train_seconds=run["train_seconds"],
        epochs=int(run["epochs"]), history=run["history"],
    )  # fmt: skip
    return Outcome("completed", result=result, history=run["history"], versions=VERSIONS)
