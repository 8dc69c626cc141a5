"""One run: a RunSpec in, a RunResult out. Deterministic for a given seed on CPU.

    result = train(RunSpec(model="mlp", dataset="digits", lam=1e-3, seed=0, epochs=5))
    result.accuracy, result.energy, result.macs_effective

Each epoch trains on L = CE + λ·E with Adam, then measures the test set with the meter attached:
accuracy, E (mean over test samples), per-site E and active fraction. After the last epoch the
dense and effective MACs of the test set give the estimated joules per sample.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields, replace

import torch

from minaction.data import Dataset, load_dataset
from minaction.energy.costs import estimate_joules, get_cost_table
from minaction.energy.measured import EnergyCounters, MeasuredEnergy
from minaction.energy.meter import NORMS, EnergyMeter
from minaction.energy.ops import MacCount, count_macs
from minaction.errors import ConfigError, DivergedError
from minaction.models import action_loss, build_model, count_parameters, model_entry
from minaction.objective import check_lambda, energy_regularized_loss

log = logging.getLogger(__name__)

EVAL_BATCH = 1000


@dataclass(frozen=True)
class RunSpec:
    """Everything that decides the outcome of one run; its hash is the run_id.

    `width` and `depth` of None take the model's defaults; `resolved()` fills them in, and the
    run_id is always computed on the resolved spec, so leaving a default out and writing it
    out give the same id.
    """

    model: str = "mlp"
    dataset: str = "digits"
    lam: float = 0.0
    seed: int = 0
    epochs: int = 10
    batch_size: int = 128
    lr: float = 1e-3
    weight_decay: float = 0.0
    width: int | None = None
    depth: int | None = None
    norm: str = "l2"
    limit_train: int | None = None
    limit_test: int | None = None
    cost_table: str = "horowitz-45nm"
    # Weight of the model's action (models that expose `last_action`, such as `lagrangian`) in
    # the loss, L = CE + λ·E + action_weight·S; ignored by models without an action. Left out
    # of the run_id at its default 0, so specs written before it keep their ids.
    action_weight: float = 0.0

    def validate(self) -> RunSpec:
        """Return self, or raise ConfigError naming the first bad field."""
        model_entry(self.model)  # raises UnknownNameError
        from minaction.data import dataset_info

        dataset_info(self.dataset)
        check_lambda(self.lam)
        get_cost_table(self.cost_table)
        if self.norm not in NORMS:
            raise ConfigError(f"norm must be one of {', '.join(NORMS)}, got {self.norm!r}")
        for name in ("epochs", "batch_size"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ConfigError(f"{name} must be a positive integer, got {value!r}")
        if not isinstance(self.seed, int) or self.seed < 0:
            raise ConfigError(f"seed must be a non-negative integer, got {self.seed!r}")
        if not (isinstance(self.lr, (int, float)) and math.isfinite(self.lr) and self.lr > 0):
            raise ConfigError(f"lr must be a positive number, got {self.lr!r}")
        weight = self.action_weight
        if not (isinstance(weight, (int, float)) and math.isfinite(weight) and weight >= 0):
            raise ConfigError(f"action_weight must be a non-negative number, got {weight!r}")
        return self

    def resolved(self) -> RunSpec:
        entry = model_entry(self.model)
        return replace(
            self,
            lam=float(self.lam),
            lr=float(self.lr),
            weight_decay=float(self.weight_decay),
            action_weight=float(self.action_weight),
            width=entry.default_width if self.width is None else self.width,
            depth=entry.default_depth if self.depth is None else self.depth,
        )

    @property
    def run_id(self) -> str:
        fields_ = asdict(self.resolved())
        if fields_["action_weight"] == 0.0:
            del fields_["action_weight"]  # ids from before the field existed stay valid
        canonical = json.dumps(fields_, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()[:16]

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> RunSpec:
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ConfigError(
                f"unknown run setting(s) {', '.join(sorted(unknown))}; "
                f"known: {', '.join(sorted(known))}"
            )
        return cls(**data)


@dataclass
class RunResult:
    """Final metrics of a run, per-epoch history and timings. Energies are per test sample."""

    spec: RunSpec
    run_id: str
    accuracy: float
    energy: float
    energy_per_site: dict[str, float]
    active_fraction: float
    macs_dense: float
    macs_effective: float
    synops: float
    joules_estimate: float
    joules_dense_estimate: float
    weight_density: float
    n_params: int
    train_seconds: float
    epochs: int
    history: list[dict] = field(default_factory=list)
    status: str = "completed"
    # Joules read from hardware counters (RAPL, NVML) around the whole training loop, per-epoch
    # evaluation included: the total of the counters that do not overlap, each counter's joules,
    # and, when nothing could be measured, why (the fields are then None).
    joules_measured: float | None = None
    joules_measured_counters: dict[str, float] | None = None
    joules_measured_reason: str | None = None

    def to_dict(self) -> dict:
        data = asdict(self)
        data["spec"] = self.spec.to_dict()
        return data


@dataclass
class Evaluation:
    accuracy: float
    energy: float
    energy_per_site: dict[str, float]
    active_fraction: float


@torch.no_grad()
def evaluate(model: torch.nn.Module, meter: EnergyMeter, x: torch.Tensor, y: torch.Tensor):
    """Accuracy, mean per-sample E, per-site E and active fraction over (x, y)."""
    model.eval()
    correct = 0
    energy_sum = 0.0
    site_sums: dict[str, float] = dict.fromkeys(meter.sites, 0.0)
    active = elements = 0
    meter.track_activity = True
    for start in range(0, len(y), EVAL_BATCH):
        xb, yb = x[start : start + EVAL_BATCH], y[start : start + EVAL_BATCH]
        logits = model(xb)
        correct += int((logits.argmax(dim=1) == yb).sum())
        energy_sum += float(meter.per_sample_energy().sum())
        for name, value in meter.per_site().items():
            site_sums[name] += value * len(yb)
        a, n = meter.active_counts()
        active += a
        elements += n
    n_samples = len(y)
    return Evaluation(
        accuracy=correct / n_samples,
        energy=energy_sum / n_samples,
        energy_per_site={k: v / n_samples for k, v in site_sums.items()},
        active_fraction=active / elements if elements else 0.0,
    )


@torch.no_grad()
def count_test_macs(model: torch.nn.Module, x: torch.Tensor):
    """count_macs over the whole of `x`, in evaluation batches, as a per-sample average."""
    model.eval()
    dense = effective = synops = 0.0
    for start in range(0, len(x), EVAL_BATCH):
        xb = x[start : start + EVAL_BATCH]
        macs = count_macs(model, xb)
        dense += macs.dense * len(xb)
        effective += macs.effective * len(xb)
        synops += macs.synops * len(xb)
    n = len(x)
    return MacCount(dense=dense / n, effective=effective / n, synops=synops / n)


def weight_density(model: torch.nn.Module) -> float:
    """Share of non-zero entries among the weight matrices and kernels (biases excluded)."""
    nonzero = total = 0
    for p in model.parameters():
        if p.dim() >= 2:
            nonzero += int(torch.count_nonzero(p))
            total += p.numel()
    return nonzero / total if total else 0.0


def batch_buffer(data: Dataset, rows: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Room for `rows` training samples, filled anew by `gather_batch` at every step."""
    x, y = data.x_train, data.y_train
    return x.new_empty(rows, *x.shape[1:]), y.new_empty(rows, *y.shape[1:])


def gather_batch(
    data: Dataset, index: torch.Tensor, buffer: tuple[torch.Tensor, torch.Tensor]
) -> tuple[torch.Tensor, torch.Tensor]:
    """The training samples at `index`, written into `buffer` (from `batch_buffer`).

    index_select is several times faster than fancy indexing on CPU, and writing into one buffer
    instead of a new tensor a step spares the allocator: a batch of a few MB would otherwise be
    mapped afresh at every step, and its page faults cost several times the copy itself. The
    buffer's previous contents must be unused by then: a step's backward pass has finished before
    the next batch is gathered.
    """
    n = len(index)
    x = torch.index_select(data.x_train, 0, index, out=buffer[0][:n])
    y = torch.index_select(data.y_train, 0, index, out=buffer[1][:n])
    return x, y


def load_run_data(spec: RunSpec, data_dir: str | None = None) -> Dataset:
    """The dataset a run trains on: its registered dataset, cut to the run's limits."""
    return load_dataset(
        spec.dataset, data_dir=data_dir, limit_train=spec.limit_train, limit_test=spec.limit_test
    )


EpochCallback = Callable[[dict], None]


def train(
    spec: RunSpec,
    data: Dataset | None = None,
    data_dir: str | None = None,
    on_epoch: EpochCallback | None = None,
    on_finish: Callable[[torch.nn.Module], None] | None = None,
) -> RunResult:
    """Train one run.

    Args:
        spec: the run.
        data: an already loaded dataset (for several runs on the same data); loaded from the
            registry when None.
        data_dir: where to look for the dataset's files.
        on_epoch: called with each history entry as the epoch ends (progress reporting).
        on_finish: called with the trained model before the result is built (to keep or
            inspect its parameters).

    Raises:
        ConfigError / UnknownNameError: a bad setting in `spec`.
        DivergedError: the training loss became NaN or infinite.
    """
    spec = spec.validate().resolved()
    if data is None:
        data = load_run_data(spec, data_dir)

    torch.manual_seed(spec.seed)
    model = build_model(spec.model, data.info, width=spec.width, depth=spec.depth)
    optimizer = torch.optim.Adam(
        model.parameters(), lr=spec.lr, weight_decay=spec.weight_decay, fused=True
    )
    order = torch.Generator().manual_seed(spec.seed)
    meter = EnergyMeter(model, norm=spec.norm, track_activity=False)
    # NOTE: the counters read the whole package (and GPU), not this process: other processes on
    # the machine, other grid workers included, count too. Only runs made on an otherwise idle
    # machine, one at a time, measure themselves alone; per-process counters do not exist.
    counters = EnergyCounters()
    counters.start()

    history: list[dict] = []
    train_seconds = 0.0
    n_train = len(data.y_train)
    buffer = batch_buffer(data, min(spec.batch_size, n_train))
    try:
        for epoch in range(1, spec.epochs + 1):
            model.train()
            meter.track_activity = False
            started = time.perf_counter()
            perm = torch.randperm(n_train, generator=order)
            loss_sum = ce_sum = energy_sum = 0.0
            for step, start in enumerate(range(0, n_train, spec.batch_size)):
                index = perm[start : start + spec.batch_size]
                xb, yb = gather_batch(data, index, buffer)
                logits = model(xb)
                with torch.set_grad_enabled(bool(spec.lam)):  # at λ = 0, E is only recorded
                    energy = meter.energy()
                loss = energy_regularized_loss(logits, yb, energy, spec.lam)
                action = action_loss(model) if spec.action_weight else None
                if action is not None:
                    loss = loss + spec.action_weight * action
                loss_value = loss.detach().item()
                if not math.isfinite(loss_value):
                    raise DivergedError(epoch, step, loss_value)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                n = len(yb)
                loss_sum += loss_value * n
                energy_value = float(energy.detach()) if torch.is_tensor(energy) else energy
                energy_sum += energy_value * n
                action_value = float(action.detach()) if action is not None else 0.0
                ce_sum += (
                    loss_value - spec.lam * energy_value - spec.action_weight * action_value
                ) * n
            seconds = time.perf_counter() - started
            train_seconds += seconds

            test = evaluate(model, meter, data.x_test, data.y_test)
            entry = {
                "epoch": epoch,
                "train_loss": loss_sum / n_train,
                "train_ce": ce_sum / n_train,
                "train_energy": energy_sum / n_train,
                "test_accuracy": test.accuracy,
                "test_energy": test.energy,
                "active_fraction": test.active_fraction,
                "seconds": seconds,
            }
            history.append(entry)
            log.debug("run %s epoch %d: %s", spec.run_id, epoch, entry)
            if on_epoch is not None:
                on_epoch(entry)
    finally:
        meter.remove()
    measured = counters.stop()

    if on_finish is not None:
        on_finish(model)
    return final_result(spec, model, data, test, history, train_seconds, measured)


def final_result(
    spec: RunSpec,
    model: torch.nn.Module,
    data: Dataset,
    test: Evaluation,
    history: list[dict],
    train_seconds: float,
    measured: MeasuredEnergy | None = None,
) -> RunResult:
    """The RunResult of a trained model: its last evaluation plus the test set's operation
    counts, estimated joules and weight density, and the joules `measured` while it trained
    (None: not measured, the reason says so)."""
    macs = count_test_macs(model, data.x_test)
    if measured is None:
        measured = MeasuredEnergy(None, "not measured")
    return RunResult(
        spec=spec,
        run_id=spec.run_id,
        accuracy=test.accuracy,
        energy=test.energy,
        energy_per_site=test.energy_per_site,
        active_fraction=test.active_fraction,
        macs_dense=macs.dense,
        macs_effective=macs.effective,
        synops=macs.synops,
        joules_estimate=estimate_joules(macs, spec.cost_table),
        joules_dense_estimate=estimate_joules(macs, spec.cost_table, dense=True),
        weight_density=weight_density(model),
        n_params=count_parameters(model),
        train_seconds=train_seconds,
        epochs=spec.epochs,
        history=history,
        joules_measured=measured.total,
        joules_measured_counters=measured.joules,
        joules_measured_reason=measured.reason
        if measured.reason or measured.total is not None
        else "only counters that lie inside others were read (core, uncore, psys)",
    )
