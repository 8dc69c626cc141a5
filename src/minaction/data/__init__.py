"""Datasets by name, in four modalities. Importing this package registers every loader."""

from minaction.data import (  # noqa: F401  (importing a module registers its datasets)
    neuromorphic,
    physiological,
    text,
    vision,
)
from minaction.data.registry import (
    KINDS,
    MODALITIES,
    DataContext,
    Dataset,
    DatasetInfo,
    dataset_availability,
    dataset_info,
    dataset_names,
    load_dataset,
    register_dataset,
    stratified_subset,
)

__all__ = [
    "KINDS",
    "MODALITIES",
    "DataContext",
    "Dataset",
    "DatasetInfo",
    "dataset_availability",
    "dataset_info",
    "dataset_names",
    "load_dataset",
    "register_dataset",
    "stratified_subset",
]
