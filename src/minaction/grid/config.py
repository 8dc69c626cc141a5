"""A grid file: the factors of a factorial study in TOML, and the RunSpecs they make.

    config = load_grid("lambda-sweep.toml")
    specs = config.specs()          # one RunSpec a cell, seeds outermost

The file:

    name = "lambda-sweep"
    architectures = ["mlp"]
    datasets = ["digits"]
    lambdas = [0, 1e-5, 1e-4, 1e-3]
    seeds = 10                      # seeds 0..9, or a list such as [0, 3, 7]
    imports = ["mylab.models"]      # optional: modules that register more models or datasets
    batch_seeds = true              # optional (default true): train a cell's seeds together

    [train]                         # any RunSpec setting but model, dataset, lam and seed
    epochs = 10

    [overrides.dataset.fashion-mnist]
    epochs = 5
    [overrides.model.cnn]
    lr = 5e-4

A cell's settings are [train], then its dataset's override, then its model's override, the later
winning. Every problem is raised as ConfigError naming the file and the key, before anything runs.
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from minaction.errors import ConfigError, MinactionError
from minaction.train import RunSpec

FACTORS = {"architectures": "model", "datasets": "dataset", "lambdas": "lam", "seeds": "seed"}
TOP_LEVEL_KEYS = (
    "name", "description", *FACTORS, "imports", "batch_seeds", "train", "overrides"
)  # fmt: skip
SETTING_KEYS = tuple(f.name for f in fields(RunSpec) if f.name not in FACTORS.values())


@dataclass(frozen=True)
class GridConfig:
    """A parsed, checked grid. `source` is the file it came from, for messages."""

    name: str
    architectures: tuple[str, ...]
    datasets: tuple[str, ...]
    lambdas: tuple[float, ...]
    seeds: tuple[int, ...]
    train: Mapping[str, Any] = field(default_factory=dict)
    dataset_overrides: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    model_overrides: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    imports: tuple[str, ...] = ()
    description: str = ""
    source: str = "<grid>"
    # Cells that differ only in seed train as one batched ensemble (minaction.batched).
    batch_seeds: bool = True

    def settings_for(self, model: str, dataset: str) -> dict[str, Any]:
        """The train settings of the cells of `model` on `dataset`, overrides applied."""
        return {
            **self.train,
            **self.dataset_overrides.get(dataset, {}),
            **self.model_overrides.get(model, {}),
        }

    def specs(self) -> list[RunSpec]:
        """Every cell, resolved. Seeds are the outermost loop, so a grid stopped part-way has
        every (architecture, dataset, λ) cell for its first seeds rather than a few cells with
        every seed."""
        cells = []
        for seed in self.seeds:
            for dataset in self.datasets:
                for model in self.architectures:
                    settings = self.settings_for(model, dataset)
                    for lam in self.lambdas:
                        spec = RunSpec(model=model, dataset=dataset, lam=lam, seed=seed, **settings)
                        cells.append(spec.resolved())
        return cells

    def __len__(self) -> int:
        return len(self.seeds) * len(self.datasets) * len(self.architectures) * len(self.lambdas)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "architectures": list(self.architectures),
            "datasets": list(self.datasets),
            "lambdas": list(self.lambdas),
            "seeds": list(self.seeds),
            "imports": list(self.imports),
            "batch_seeds": self.batch_seeds,
            "train": dict(self.train),
            "overrides": {
                "dataset": {k: dict(v) for k, v in self.dataset_overrides.items()},
                "model": {k: dict(v) for k, v in self.model_overrides.items()},
            },
        }


def load_grid(path: str | Path) -> GridConfig:
    """Read and check a grid file.

    Raises:
        ConfigError: the file is missing or not TOML, or a key is unknown or has a bad value;
            the message names the file and the key.
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"grid file {path} does not exist")
    toml = _toml_module()
    try:
        data = toml.loads(path.read_text(encoding="utf-8"))
    except toml.TOMLDecodeError as err:
        raise ConfigError(f"{path}: not valid TOML: {err}") from None
    return parse_grid(data, source=str(path))


def parse_grid(data: Mapping[str, Any], source: str = "<grid>") -> GridConfig:
    """Check a grid given as a mapping (a parsed TOML file). See `load_grid`."""

    def fail(key: str, message: str) -> ConfigError:
        return ConfigError(f"{source}: {key}: {message}")

    unknown = [key for key in data if key not in TOP_LEVEL_KEYS]
    if unknown:
        raise fail(unknown[0], f"unknown key; known: {', '.join(TOP_LEVEL_KEYS)}")
    for key in ("name", *FACTORS):
        if key not in data:
            raise fail(key, "missing; a grid needs name, " + ", ".join(FACTORS))

    name = data["name"]
    if not isinstance(name, str) or not name.strip():
        raise fail("name", f"must be a non-empty string, got {name!r}")
    description = data.get("description", "")
    if not isinstance(description, str):
        raise fail("description", f"must be a string, got {description!r}")
    batch_seeds = data.get("batch_seeds", True)
    if not isinstance(batch_seeds, bool):
        raise fail("batch_seeds", f"must be true or false, got {batch_seeds!r}")

    imports = tuple(_string_list(data.get("imports", []), "imports", fail, allow_empty=True))
    for index, module in enumerate(imports):
        try:
            importlib.import_module(module)
        except ImportError as err:
            raise fail(f"imports[{index}]", f"cannot import module {module!r}: {err}") from None

    from minaction.data import dataset_info
    from minaction.models import model_entry

    architectures = _string_list(data["architectures"], "architectures", fail)
    for index, model in enumerate(architectures):
        _check_name(model_entry, model, f"architectures[{index}]", fail)
    datasets = _string_list(data["datasets"], "datasets", fail)
    for index, dataset in enumerate(datasets):
        _check_name(dataset_info, dataset, f"datasets[{index}]", fail)
    for model in architectures:
        kinds = model_entry(model).kinds
        for dataset in datasets:
            kind = dataset_info(dataset).kind
            if kind not in kinds:
                raise fail(
                    "architectures",
                    f"model {model!r} does not take {kind!r} inputs (dataset {dataset!r}); "
                    f"it takes: {', '.join(kinds)}",
                )

    lambdas = _lambdas(data["lambdas"], fail)
    seeds = _seeds(data["seeds"], fail)
    train = _settings(data.get("train", {}), "train", fail)
    dataset_overrides, model_overrides = _overrides(
        data.get("overrides", {}), architectures, datasets, fail
    )

    config = GridConfig(
        name=name,
        architectures=tuple(architectures),
        datasets=tuple(datasets),
        lambdas=lambdas,
        seeds=seeds,
        train=train,
        dataset_overrides=dataset_overrides,
        model_overrides=model_overrides,
        imports=imports,
        description=description,
        source=source,
        batch_seeds=batch_seeds,
    )
    # The checks above name the key; this catches whatever RunSpec itself refuses.
    for model in architectures:
        for dataset in datasets:
            settings = config.settings_for(model, dataset)
            try:
                RunSpec(model=model, dataset=dataset, lam=lambdas[0], seed=seeds[0],
                        **settings).validate()  # fmt: skip
            except ConfigError as err:
                raise ConfigError(f"{source}: settings of {model} on {dataset}: {err}") from None
    return config


def import_plugins(modules: tuple[str, ...] | list[str]) -> None:
    """Import the grid's `imports` (in a worker process, so that its registries match)."""
    for module in modules:
        importlib.import_module(module)


# -- checks ----------------------------------------------------------------------------------------

Fail = Callable[[str, str], ConfigError]


def _toml_module():
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        try:
            import tomli as tomllib
        except ModuleNotFoundError:
            raise MinactionError(
                "reading a grid file on Python 3.10 needs tomli: pip install tomli"
            ) from None
    return tomllib


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _string_list(value: Any, key: str, fail: Fail, allow_empty: bool = False) -> list[str]:
    if not isinstance(value, list):
        raise fail(key, f'must be a list of names such as ["mlp"], got {value!r}')
    if not value and not allow_empty:
        raise fail(key, "is empty; give at least one name")
    for index, item in enumerate(value):
        if not isinstance(item, str) or not item:
            raise fail(f"{key}[{index}]", f"must be a non-empty string, got {item!r}")
    duplicates = sorted({item for item in value if value.count(item) > 1})
    if duplicates:
        raise fail(key, f"lists {duplicates[0]!r} more than once")
    return list(value)


def _check_name(lookup: Callable[[str], Any], name: str, key: str, fail: Fail) -> None:
    try:
        lookup(name)
    except ConfigError as err:
        raise fail(key, str(err)) from None


def _lambdas(value: Any, fail: Fail) -> tuple[float, ...]:
    if not isinstance(value, list):
        raise fail("lambdas", f"must be a list of numbers such as [0, 1e-3], got {value!r}")
    if not value:
        raise fail("lambdas", "is empty; give at least one λ, such as [0]")
    lambdas = []
    for index, item in enumerate(value):
        hint = " (a string: write the number without quotes)" if isinstance(item, str) else ""
        if not _is_number(item):
            raise fail(f"lambdas[{index}]", f"λ must be a non-negative number, got {item!r}{hint}")
        if not math.isfinite(item) or item < 0:
            raise fail(f"lambdas[{index}]", f"λ must be a finite non-negative number, got {item!r}")
        lam = float(item)
        if lam in lambdas:
            raise fail("lambdas", f"lists λ = {item!r} more than once")
        lambdas.append(lam)
    return tuple(lambdas)


def _seeds(value: Any, fail: Fail) -> tuple[int, ...]:
    accepted = "a positive integer N (seeds 0..N-1) or a list of distinct integers ≥ 0"
    if _is_int(value):
        if value < 1:
            raise fail("seeds", f"must be {accepted}, got {value!r}")
        return tuple(range(value))
    if not isinstance(value, list) or not value:
        raise fail("seeds", f"must be {accepted}, got {value!r}")
    for index, item in enumerate(value):
        if not _is_int(item) or item < 0:
            raise fail(f"seeds[{index}]", f"must be an integer ≥ 0, got {item!r}")
    if len(set(value)) != len(value):
        duplicate = next(item for item in value if value.count(item) > 1)
        raise fail("seeds", f"lists seed {duplicate} more than once")
    return tuple(value)


def _positive_int(value: Any) -> str | None:
    return None if _is_int(value) and value >= 1 else "must be a positive integer"


def _positive_number(value: Any) -> str | None:
    ok = _is_number(value) and math.isfinite(value) and value > 0
    return None if ok else "must be a positive number"


def _non_negative_number(value: Any) -> str | None:
    ok = _is_number(value) and math.isfinite(value) and value >= 0
    return None if ok else "must be a finite number ≥ 0"


def _norm(value: Any) -> str | None:
    from minaction.energy.meter import NORMS

    return None if value in NORMS else f"must be one of {', '.join(NORMS)}"


def _cost_table(value: Any) -> str | None:
    from minaction.energy.costs import get_cost_table

    if not isinstance(value, str):
        return "must be the name of a cost table"
    try:
        get_cost_table(value)
    except ConfigError as err:
        return str(err)
    return None


# Settings without a check here (added to RunSpec later) are still checked by RunSpec.validate.
_SETTING_CHECKS: dict[str, Callable[[Any], str | None]] = {
    "epochs": _positive_int,
    "batch_size": _positive_int,
    "width": _positive_int,
    "depth": _positive_int,
    "limit_train": _positive_int,
    "limit_test": _positive_int,
    "lr": _positive_number,
    "weight_decay": _non_negative_number,
    "norm": _norm,
    "cost_table": _cost_table,
}


def _settings(value: Any, key: str, fail: Fail) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise fail(key, f"must be a table of run settings, got {value!r}")
    for setting, item in value.items():
        if setting in FACTORS.values():
            factor = next(k for k, v in FACTORS.items() if v == setting)
            raise fail(f"{key}.{setting}", f"is a factor of the grid: list it in `{factor}`")
        if setting not in SETTING_KEYS:
            raise fail(f"{key}.{setting}", f"unknown setting; known: {', '.join(SETTING_KEYS)}")
        check = _SETTING_CHECKS.get(setting)
        problem = check(item) if check else None
        if problem:
            raise fail(f"{key}.{setting}", f"{problem}, got {item!r}")
    return dict(value)


def _overrides(
    value: Any, architectures: list[str], datasets: list[str], fail: Fail
) -> tuple[dict[str, dict], dict[str, dict]]:
    if not isinstance(value, dict):
        raise fail("overrides", f"must be a table with [overrides.dataset.NAME] or "
                                f"[overrides.model.NAME] tables, got {value!r}")  # fmt: skip
    by_kind: dict[str, dict[str, dict]] = {"dataset": {}, "model": {}}
    grid_names = {"dataset": (datasets, "datasets"), "model": (architectures, "architectures")}
    for kind, tables in value.items():
        if kind not in by_kind:
            raise fail(f"overrides.{kind}", "unknown kind of override; known: dataset, model")
        if not isinstance(tables, dict):
            raise fail(f"overrides.{kind}", f"must hold one table a {kind}, got {tables!r}")
        names, factor = grid_names[kind]
        for target, settings in tables.items():
            key = f"overrides.{kind}.{target}"
            if target not in names:
                raise fail(key, f"{target!r} is not in `{factor}` ({', '.join(names)})")
            by_kind[kind][target] = _settings(settings, key, fail)
    return by_kind["dataset"], by_kind["model"]
