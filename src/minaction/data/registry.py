"""The dataset registry: every dataset reachable by name, loaded as in-memory tensors.

    ds = load_dataset("digits", limit_train=500)
    ds.x_train.shape, ds.info.kind, ds.info.classes

A dataset module registers a `DatasetInfo` (what the data is) with a loader (how to get it). The
loader receives a `DataContext` (where to look, whether it may download, which subset is asked
for) and returns the four tensors of the fixed, documented split. A loader that can read single
samples cheaply (event files, images to be converted) may cut the split to the requested
stratified subset itself with `ctx.subset_indices`, so that only those samples are decoded; the
result is the same subset that `load_dataset` would otherwise take afterwards.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import torch

from minaction.data.download import default_cache_dir
from minaction.errors import ConfigError, DatasetUnavailableError, UnknownNameError

MODALITIES = ("vision", "text", "neuromorphic", "physiological")
KINDS = ("image", "sequence", "events", "tokens")


@dataclass(frozen=True)
class DatasetInfo:
    """What a dataset is.

    Attributes:
        kind: input kind, which decides the model's encoder: "image" (C, H, W) floats,
            "sequence" (T, F) floats, "events" (T, 2, H, W) counts, "tokens" (T,) integers.
        input_shape: shape of one sample.
        offline: it can be had with no network (a package ships it or installs it).
        split: how train and test are separated.
        normalization: what was done to the raw values.
        vocab_size: number of token ids, for kind "tokens".
    """

    name: str
    modality: str
    kind: str
    input_shape: tuple[int, ...]
    classes: tuple[str, ...]
    description: str
    source: str
    split: str
    normalization: str
    offline: bool
    sizes: tuple[int, int] | None = None
    vocab_size: int | None = None

    @property
    def num_classes(self) -> int:
        return len(self.classes)


@dataclass
class DataContext:
    """Where a loader looks for files and what it may do.

    `data_dir` is a directory given by the user (`--data-dir` or `$MINACTION_DATA_DIR`) that
    holds the dataset's files; `cache_dir` is where downloads and derived data go.
    `limit_train` and `limit_test` are the stratified subsets asked for (None: the whole split).
    """

    data_dir: Path | None = None
    cache_dir: Path = field(default_factory=default_cache_dir)
    download: bool = True
    limit_train: int | None = None
    limit_test: int | None = None
    subset_seed: int = 0

    def subset_indices(self, labels: np.ndarray, split: str) -> np.ndarray:
        """Sorted indices of the stratified subset of `split` ("train" or "test") asked for.

        All indices when no limit is set. The same indices `load_dataset` would keep, so a loader
        may decode only these samples.
        """
        if split not in ("train", "test"):
            raise ValueError(f"split must be 'train' or 'test', got {split!r}")
        limit = self.limit_train if split == "train" else self.limit_test
        seed = self.subset_seed if split == "train" else self.subset_seed + 1
        labels = np.asarray(labels)
        if limit is None:
            return np.arange(len(labels))
        return stratified_indices(labels, limit, seed)

    @classmethod
    def create(
        cls, data_dir: str | Path | None = None, cache_dir: str | Path | None = None, **kw
    ) -> DataContext:
        if data_dir is None and os.environ.get("MINACTION_DATA_DIR"):
            data_dir = os.environ["MINACTION_DATA_DIR"]
        if data_dir is not None:
            data_dir = Path(data_dir).expanduser()
            if not data_dir.is_dir():
                raise ConfigError(
                    f"data directory {data_dir} does not exist; pass an existing directory "
                    "that holds the dataset's files"
                )
        cache = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
        return cls(data_dir=data_dir, cache_dir=cache, **kw)


Tensors = tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]
Loader = Callable[[DataContext], Tensors]
Availability = Callable[[DataContext], str]


@dataclass
class Dataset:
    info: DatasetInfo
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor

    @property
    def sizes(self) -> tuple[int, int]:
        return len(self.y_train), len(self.y_test)


@dataclass(frozen=True)
class _Entry:
    info: DatasetInfo
    loader: Loader
    availability: Availability


_REGISTRY: dict[str, _Entry] = {}


def register_dataset(
    info: DatasetInfo, availability: Availability | None = None
) -> Callable[[Loader], Loader]:
    """Register `info` with the decorated loader.

    `availability(ctx)` returns "available" (loads now without network), "download" (needs the
    network), or "missing" (cannot be had here: an offline source whose package is not
    installed); the default says "available".
    """
    if info.modality not in MODALITIES:
        raise ValueError(f"modality must be one of {MODALITIES}, got {info.modality!r}")
    if info.kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {info.kind!r}")

    def decorator(loader: Loader) -> Loader:
        _REGISTRY[info.name] = _Entry(info, loader, availability or (lambda ctx: "available"))
        return loader

    return decorator


def dataset_names() -> list[str]:
    """Registered names, grouped by modality in the order of MODALITIES, then as registered."""
    return sorted(_REGISTRY, key=lambda name: MODALITIES.index(_REGISTRY[name].info.modality))


def dataset_info(name: str) -> DatasetInfo:
    return _entry(name).info


def dataset_availability(name: str, ctx: DataContext | None = None) -> str:
    return _entry(name).availability(ctx or DataContext.create())


def _entry(name: str) -> _Entry:
    try:
        return _REGISTRY[name]
    except KeyError:
        raise UnknownNameError(
            f"unknown dataset {name!r}; known: {', '.join(sorted(_REGISTRY))}"
        ) from None


def load_dataset(
    name: str,
    data_dir: str | Path | None = None,
    cache_dir: str | Path | None = None,
    download: bool = True,
    limit_train: int | None = None,
    limit_test: int | None = None,
    subset_seed: int = 0,
) -> Dataset:
    """Load a registered dataset's fixed split, optionally cut to a stratified subset.

    Raises:
        UnknownNameError: `name` is not registered.
        DatasetUnavailableError: the files are neither present nor downloadable.
        DataIntegrityError: a file is present but corrupt.
    """
    entry = _entry(name)
    for limit in (limit_train, limit_test):
        if limit is not None and limit <= 0:
            raise ConfigError(f"a subset limit must be a positive integer, got {limit}")
    ctx = DataContext.create(
        data_dir,
        cache_dir,
        download=download,
        limit_train=limit_train,
        limit_test=limit_test,
        subset_seed=subset_seed,
    )
    x_train, y_train, x_test, y_test = entry.loader(ctx)
    if limit_train is not None:
        x_train, y_train = stratified_subset(x_train, y_train, limit_train, subset_seed)
    if limit_test is not None:
        x_test, y_test = stratified_subset(x_test, y_test, limit_test, subset_seed + 1)
    info = replace(entry.info, sizes=(len(y_train), len(y_test)))
    return Dataset(info, x_train, y_train, x_test, y_test)


def stratified_subset(
    x: torch.Tensor, y: torch.Tensor, limit: int, seed: int = 0
) -> tuple[torch.Tensor, torch.Tensor]:
    """At most `limit` samples with the class proportions of `y`, in a fixed random order.

    Each class gets its proportional share rounded down, and the remainder goes to the classes
    with the largest fractional parts, so every class present keeps at least one sample when
    `limit` allows.
    """
    if limit <= 0:
        raise ConfigError(f"a subset limit must be a positive integer, got {limit}")
    if limit >= len(y):
        return x, y
    index_t = torch.from_numpy(stratified_indices(y.numpy(), limit, seed))
    return x[index_t], y[index_t]


def stratified_indices(labels: np.ndarray, limit: int, seed: int = 0) -> np.ndarray:
    """Sorted indices of the subset that `stratified_subset` keeps, from the labels alone."""
    if limit <= 0:
        raise ConfigError(f"a subset limit must be a positive integer, got {limit}")
    labels = np.asarray(labels)
    n = len(labels)
    if limit >= n:
        return np.arange(n)
    rng = np.random.default_rng(seed)
    classes, counts = np.unique(labels, return_counts=True)
    quota = counts * limit / n
    take = np.floor(quota).astype(int)
    # Give every class one sample first when possible, then hand out the rest by remainder.
    if limit >= len(classes):
        take = np.maximum(take, 1)
    while take.sum() > limit:
        take[np.argmax(take - quota)] -= 1
    order = np.argsort(-(quota - take))
    for i in order[: limit - take.sum()]:
        take[i] += 1
    chosen = []
    for cls, k in zip(classes, take, strict=True):
        idx = np.flatnonzero(labels == cls)
        chosen.append(rng.choice(idx, size=k, replace=False))
    return np.sort(np.concatenate(chosen))


def unavailable(name: str, tried: list[str], how: str) -> DatasetUnavailableError:
    """The error for a dataset that is nowhere to be found: what was tried and how to get it."""
    return DatasetUnavailableError(
        f"dataset {name!r} is not available: tried {'; '.join(tried)}. {how}"
    )
