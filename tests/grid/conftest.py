"""Helpers for the grid tests: tiny grid files, and the command line as a subprocess.

Every run here is digits cut to 200 training and 100 test samples, one or two epochs of an MLP
of width 16: well under a second each, so a grid of dozens of runs takes seconds.
"""

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from minaction.data import registry as data_registry
from minaction.grid.store import Store
from minaction.models import registry as model_registry

ROOT = Path(__file__).resolve().parents[2]
TINY_TRAIN = {"epochs": 1, "width": 16, "limit_train": 200, "limit_test": 100}


@pytest.fixture(autouse=True)
def _batch_without_timing_probe(monkeypatch):
    """Groups here are batched whenever they can be: the speed probe's verdict depends on the
    machine's load, and these tests check what batching stores, not whether it pays."""
    monkeypatch.setenv("MINACTION_BATCH_PROBE", "0")


def toml_value(value) -> str:
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(toml_value(item) for item in value) + "]"
    return repr(value)


def grid_text(
    name="tiny",
    architectures=("mlp",),
    datasets=("digits",),
    lambdas=(0, 1e-3),
    seeds=2,
    train=None,
    extra="",
    **top,
) -> str:
    lines = [
        f"name = {toml_value(name)}",
        f"architectures = {toml_value(list(architectures))}",
        f"datasets = {toml_value(list(datasets))}",
        f"lambdas = {toml_value(list(lambdas))}",
        f"seeds = {toml_value(seeds)}",
        *(f"{key} = {toml_value(value)}" for key, value in top.items()),
        "",
        "[train]",
        *(f"{key} = {toml_value(value)}" for key, value in (train or TINY_TRAIN).items()),
    ]
    return "\n".join(lines) + "\n" + extra


@pytest.fixture
def write_grid(tmp_path):
    def write(filename="grid.toml", **fields) -> Path:
        path = tmp_path / filename
        path.write_text(grid_text(**fields))
        return path

    return write


def grid_env() -> dict[str, str]:
    """The environment for a `minaction` subprocess: the repository importable (for plugins)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return env


def start_grid_run(grid: Path, db: Path, *options: str) -> subprocess.Popen:
    """`minaction grid run` in its own process group, so that a test can kill it whole."""
    return subprocess.Popen(
        [sys.executable, "-m", "minaction.cli", "grid", "run", str(grid), "--db", str(db),
         *options],
        cwd=grid.parent,
        env=grid_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )  # fmt: skip


def wait_for(condition, timeout: float, interval: float = 0.05):
    """Poll `condition()` until it returns something true; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout} s")


def counts(db: Path, grid: str) -> dict[str, int]:
    with Store(db) as store:
        return store.counts(grid)


@pytest.fixture
def plugin_registrations(monkeypatch):
    """Let a test import tests.grid.plugins in this process without the other test modules
    seeing `sleepy-mlp` or `broken-digits` afterwards: the registries are copies for the test."""
    monkeypatch.setattr(data_registry, "_REGISTRY", dict(data_registry._REGISTRY))
    monkeypatch.setattr(model_registry, "_REGISTRY", dict(model_registry._REGISTRY))
    sys.modules.pop("tests.grid.plugins", None)
    yield
    sys.modules.pop("tests.grid.plugins", None)
