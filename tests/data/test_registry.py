"""The registry: every dataset described completely, subsets, and the offline datasets loading."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from minaction.data import (
    KINDS,
    MODALITIES,
    DataContext,
    dataset_availability,
    dataset_info,
    dataset_names,
    load_dataset,
    stratified_subset,
)
from minaction.data.registry import stratified_indices
from minaction.errors import ConfigError

FIXED_NAMES = {
    "digits", "mnist", "fashion-mnist", "cifar10", "ag-news", "fortunes", "nmnist", "shd",
    "dvs-digits", "dvs-fashion-mnist", "mitbih", "basic-motions", "daphnet-fog",
}  # fmt: skip
DTYPES = {"image": torch.float32, "sequence": torch.float32, "events": torch.float32,
          "tokens": torch.int64}  # fmt: skip
# Datasets with more samples than this are checked on a stratified subset.
FULL_LOAD_MAX = 5000


def test_the_issue_names_are_all_registered():
    assert FIXED_NAMES <= set(dataset_names())


def test_names_are_grouped_by_modality():
    order = [MODALITIES.index(dataset_info(n).modality) for n in dataset_names()]
    assert order == sorted(order)


@pytest.mark.parametrize("name", dataset_names())
def test_every_dataset_declares_what_it_is(name, tmp_path):
    info = dataset_info(name)

    assert info.modality in MODALITIES and info.kind in KINDS
    assert len(info.classes) >= 2 and len(set(info.classes)) == len(info.classes)
    assert info.split and info.normalization and info.source and info.description
    rank = {"image": 3, "sequence": 2, "events": 4, "tokens": 1}[info.kind]
    assert len(info.input_shape) == rank and all(d > 0 for d in info.input_shape)
    if info.kind == "events":
        assert info.input_shape[1] == 2  # OFF and ON polarity
    assert (info.vocab_size is not None) == (info.kind == "tokens")
    ctx = DataContext.create(cache_dir=tmp_path)
    assert dataset_availability(name, ctx) in ("available", "download", "missing")


@pytest.mark.parametrize("name", [n for n in dataset_names() if dataset_info(n).offline])
def test_offline_dataset_loads_with_its_documented_shape_and_classes(name, tmp_path):
    info = dataset_info(name)
    status = dataset_availability(name, DataContext.create(cache_dir=tmp_path))
    if status != "available":
        pytest.skip(f"{name} needs what is not installed here: {info.source}")
    big = info.sizes is None or info.sizes[0] > FULL_LOAD_MAX
    limits = {"limit_train": 300, "limit_test": 100} if big else {}

    data = load_dataset(name, cache_dir=tmp_path, **limits)

    if not big:
        assert data.sizes == info.sizes
    for x, y in ((data.x_train, data.y_train), (data.x_test, data.y_test)):
        assert x.shape[1:] == info.input_shape and x.dtype == DTYPES[info.kind]
        assert y.dtype == torch.int64 and len(x) == len(y)
        assert set(y.tolist()) == set(range(info.num_classes))  # every class, no other label
        assert torch.isfinite(x.float()).all()
    if info.kind == "tokens":
        assert 0 <= int(data.x_train.min()) and int(data.x_train.max()) < info.vocab_size
    if info.kind == "events":
        assert (data.x_train >= 0).all() and data.x_train.sum() > 0


def test_loader_side_subset_matches_the_registry_subset(tmp_path):
    whole = load_dataset("digits", cache_dir=tmp_path)
    subset = load_dataset("digits", cache_dir=tmp_path, limit_train=100, limit_test=30)

    x, y = stratified_subset(whole.x_train, whole.y_train, 100, 0)
    assert torch.equal(subset.x_train, x) and torch.equal(subset.y_train, y)
    ctx = DataContext.create(cache_dir=tmp_path, limit_train=100)
    index = ctx.subset_indices(whole.y_train.numpy(), "train")
    assert torch.equal(whole.x_train[index], subset.x_train)


def test_stratified_indices_keep_every_class_in_proportion():
    labels = np.repeat(np.arange(4), [500, 300, 150, 50])

    index = stratified_indices(labels, 100, seed=3)

    assert np.array_equal(np.bincount(labels[index]), [50, 30, 15, 5])
    assert np.all(np.diff(index) > 0)
    assert np.array_equal(index, stratified_indices(labels, 100, seed=3))  # deterministic


def test_a_limit_must_be_positive(tmp_path):
    with pytest.raises(ConfigError, match="positive integer"):
        load_dataset("digits", cache_dir=tmp_path, limit_train=0)
