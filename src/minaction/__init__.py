"""minaction: energy-first neural network design.

Train any PyTorch model on L = CE + λ·E(θ, x), where E is the internal activation energy of the
forward pass, and measure what the energy term buys: E beside the compute-grounded figures
(active fraction, effective multiply-accumulates, estimated joules) that rescaling cannot fake.
"""

from minaction.data import Dataset, DatasetInfo, dataset_names, load_dataset
from minaction.energy import (
    CostTable,
    EnergyMeter,
    EnergySite,
    MacCount,
    count_macs,
    estimate_joules,
    register_site_type,
)
from minaction.errors import (
    ConfigError,
    DataIntegrityError,
    DatasetUnavailableError,
    DivergedError,
    MinactionError,
)
from minaction.models import build_model, model_names
from minaction.objective import energy_regularized_loss
from minaction.train import RunResult, RunSpec, train

__version__ = "0.1.0"

__all__ = [
    "ConfigError",
    "CostTable",
    "DataIntegrityError",
    "Dataset",
    "DatasetInfo",
    "DatasetUnavailableError",
    "DivergedError",
    "EnergyMeter",
    "EnergySite",
    "MacCount",
    "MinactionError",
    "RunResult",
    "RunSpec",
    "__version__",
    "build_model",
    "count_macs",
    "dataset_names",
    "energy_regularized_loss",
    "estimate_joules",
    "load_dataset",
    "model_names",
    "register_site_type",
    "train",
]
