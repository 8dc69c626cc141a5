"""Seeds trained together: runs that differ only in seed, as one batched ensemble.

    results = train_seeds([RunSpec(..., seed=s) for s in range(10)])

The members' parameters are stacked (`torch.func.stack_module_state`) and one forward and backward
pass trains them all. Models built from linear and convolution layers and parameter-free modules
(mlp, cnn, gru and snn, except on tokens) run *folded*: the members' batches lie end to end on the
batch axis, each linear layer is one batched matrix product over the stacked weights and each
convolution one call per member, and everything else sees one large batch. Any other model runs
under `torch.func.vmap`. Each member is still the run it would have been alone: its model
is initialised from its own seed, its batches come from its own data order, and Adam, being
elementwise, keeps a separate state for every member's entries. The loss is the sum of the
members' losses, so each member's gradient is exactly its own. Only floating-point summation
order differs (batched matrix products), which is why the equivalence test uses a tolerance.

Architectures that cannot run under vmap (random ops inside the forward pass, in-place state)
fall back to one run at a time; `batch_unsupported_reason` says why. The folded layout is used
only after a check that it reproduces every member's own logits; otherwise vmap takes over.
"""

from __future__ import annotations

import copy
import logging
import math
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import replace

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call, stack_module_state, vmap

from minaction.data import Dataset
from minaction.energy.measured import EnergyCounters
from minaction.energy.meter import EnergyMeter
from minaction.errors import ConfigError, DivergedError
from minaction.models import build_model
from minaction.train import (
    RunResult,
    RunSpec,
    batch_buffer,
    evaluate,
    final_result,
    gather_batch,
    load_run_data,
    train,
)

log = logging.getLogger(__name__)

# Called with (member index, history entry) as each member's epoch ends.
MemberCallback = Callable[[int, dict], None]
# Called with (member index, trained model) before each member's result is built.
FinishCallback = Callable[[int, torch.nn.Module], None]
# Called once, before training, with None when the seeds train as one batched ensemble, or
# with the reason they train one at a time.
PlanCallback = Callable[[str | None], None]


def _same_cell(specs: Sequence[RunSpec]) -> list[RunSpec]:
    resolved = [s.validate().resolved() for s in specs]
    base = replace(resolved[0], seed=0)
    for spec in resolved[1:]:
        if replace(spec, seed=0) != base:
            raise ConfigError(
                "train_seeds needs specs that differ only in seed; "
                f"{spec.run_id} differs from {resolved[0].run_id} in more than the seed"
            )
    seeds = [s.seed for s in resolved]
    if len(set(seeds)) != len(seeds):
        raise ConfigError(f"train_seeds got a seed twice: {seeds}")
    return resolved


def _build_members(specs: Sequence[RunSpec], data: Dataset) -> list[torch.nn.Module]:
    models = []
    for spec in specs:
        torch.manual_seed(spec.seed)  # the same initialisation the run would get alone
        models.append(build_model(spec.model, data.info, width=spec.width, depth=spec.depth))
    return models


def batch_unsupported_reason(spec: RunSpec, data: Dataset) -> str | None:
    """None when `spec`'s architecture trains under vmap, else the reason it does not."""
    if spec.action_weight:
        return "the action term of the objective is not batched"
    models = _build_members([replace(spec, seed=0), replace(spec, seed=1)], data)
    try:
        step = _make_step(models, spec, data.x_train)
        x = torch.stack([data.x_train[:2], data.x_train[:2]])
        y = torch.stack([data.y_train[:2], data.y_train[:2]])
        step.losses(x, y).sum().backward()
    except Exception as err:  # any failure under vmap means: train this one alone
        return f"{type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}"
    return None


# Batching is kept unless its step is measured this much slower than the members one at a time;
# the margin keeps the choice stable where both are about equally fast.
SLOWER_MARGIN = 1.25


def batch_slower_reason(spec: RunSpec, data: Dataset, members: int, steps: int = 2) -> str | None:
    """A reason when one batched step of `members` seeds is measurably slower, on this machine,
    than `members` single steps at the spec's batch size; None when batching pays off.

    A batched step can be slower than its members one at a time: on a CPU, ten members' cnn
    activations no longer fit in the cache, and vmap turns some operations into slow batched
    kernels. So the choice is measured rather than assumed. The probe trains throwaway
    models for a few steps; the runs themselves are unaffected. `MINACTION_BATCH_PROBE=0` in the
    environment skips it (batch whenever possible), for plans that must not depend on load.
    """
    if os.environ.get("MINACTION_BATCH_PROBE") == "0":
        return None
    size = min(spec.batch_size, len(data.y_train))
    x, y = data.x_train[:size], data.y_train[:size]

    def seconds(step) -> float:
        step()  # warm-up
        started = time.perf_counter()
        for _ in range(steps):
            step()
        return (time.perf_counter() - started) / steps

    models = _build_members([replace(spec, seed=i) for i in range(members)], data)
    batched = _make_step(models, spec, data.x_train)
    batched_opt = torch.optim.Adam(batched.params.values(), lr=spec.lr, fused=True)
    xs, ys = x.expand(members, *x.shape), y.expand(members, *y.shape)

    def batched_step():
        batched_opt.zero_grad(set_to_none=True)
        batched.losses(xs, ys).sum().backward()
        batched_opt.step()

    single = models[0]
    single_opt = torch.optim.Adam(single.parameters(), lr=spec.lr, fused=True)

    def single_steps():
        with EnergyMeter(single, norm=spec.norm, track_activity=False) as meter:
            for _ in range(members):
                logits = single(x)
                loss = F.cross_entropy(logits, y) + spec.lam * meter.energy()
                single_opt.zero_grad(set_to_none=True)
                loss.backward()
                single_opt.step()

    try:
        together, alone = seconds(batched_step), seconds(single_steps)
    finally:
        batched.close()
    if together > SLOWER_MARGIN * alone:
        return (
            f"a batched step is slower here ({together * 1e3:.1f} ms for {members} seeds "
            f"against {alone * 1e3:.1f} ms one at a time)"
        )
    return None


class _StackedStep:
    """What both layouts share: the members' stacked parameters, a template model carrying the
    meter, and the members' losses from their logits and energies."""

    layout = ""

    def __init__(self, models: list[torch.nn.Module], spec: RunSpec):
        self.spec = spec
        self._pristine = copy.deepcopy(models[0])  # without hooks, for member_model()
        self.params, self.buffers = stack_module_state(models)  # name → (M, ...) leaf tensors
        self.template = copy.deepcopy(models[0])
        self._transposed: set[str] = set()  # parameters stacked as (M, in, out), not (M, out, in)

    def losses(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """(M,) loss CE + λ·E of each member on its own batch x: (M, B, ...), y: (M, B)."""
        raise NotImplementedError

    def _member_losses(self, logits: torch.Tensor, energy: torch.Tensor, y: torch.Tensor):
        members, batch, classes = logits.shape  # (M, B, C); energy (M,); y (M, B)
        ce = F.cross_entropy(logits.reshape(-1, classes), y.reshape(-1), reduction="none")
        ce = ce.view(members, batch).mean(dim=1)  # (M,)
        self.last_ce, self.last_energy = ce.detach(), energy.detach()
        return ce + self.spec.lam * energy if self.spec.lam else ce

    def member_model(self, index: int) -> torch.nn.Module:
        model = copy.deepcopy(self._pristine)
        with torch.no_grad():
            for name, value in self.params.items():
                member = value[index].T if name in self._transposed else value[index]
                model.get_parameter(name).copy_(member)
            for name, value in self.buffers.items():
                model.get_buffer(name).copy_(value[index])
        return model

    def close(self) -> None:
        self.meter.remove()


class _VmappedStep(_StackedStep):
    """The members' loss under vmap over the stacked parameters."""

    layout = "vmap"

    def __init__(self, models: list[torch.nn.Module], spec: RunSpec):
        super().__init__(models, spec)
        self.meter = EnergyMeter(self.template, norm=spec.norm, track_activity=False)

        def member(params, buffers, x):
            logits = functional_call(self.template, (params, buffers), (x,))
            return logits, self.meter.energy()  # read inside vmap, while the pass is live

        self._forward = vmap(member, in_dims=(0, 0, 0), randomness="error")

    def losses(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        logits, energy = self._forward(self.params, self.buffers, x)  # (M, B, C), (M,)
        self.meter.reset()  # drop the per-call tensors that only lived inside vmap
        return self._member_losses(logits, energy, y)


_CONV_FUNCTIONS = {nn.Conv1d: F.conv1d, nn.Conv2d: F.conv2d, nn.Conv3d: F.conv3d}


def _foldable_layer(module: nn.Module) -> bool:
    """A linear or convolution layer, or a subclass that keeps its forward pass."""
    for kind in (nn.Linear, *_CONV_FUNCTIONS):
        if isinstance(module, kind) and type(module).forward is kind.forward:
            return True
    return False


def _fold_unsupported_reason(model: nn.Module) -> str | None:
    """None when every leaf of `model` is a linear or convolution layer or a parameter-free module
    other than dropout; else the first obstacle.

    A parameter-free module could still mix samples (a normalisation over the batch, say), and a
    buffer could differ between members or change in a forward pass; `_make_step` checks all
    three on the members themselves before it uses the folded layout."""
    for name, module in model.named_modules():
        if next(module.children(), None) is not None:
            if next(module.parameters(recurse=False), None) is not None:
                return f"{name} holds parameters of its own"
            continue
        if _foldable_layer(module):
            if not isinstance(module, nn.Linear) and module.padding_mode != "zeros":
                return f"{name} pads with {module.padding_mode!r}"
            continue
        if next(module.parameters(), None) is not None:
            return f"{name} is a {type(module).__name__} with parameters"
        if isinstance(module, nn.modules.dropout._DropoutNd):
            return f"{name} draws random numbers"
    return None


class _FoldedLinear(nn.Module):
    """nn.Linear of every member at once: (M·B, ..., in) → (M·B, ..., out), one bmm.

    The stacked weight is kept transposed, (M, in, out), so that its gradient comes out of the
    batched product in the parameter's own layout and needs no copy."""

    def __init__(self, weight_t: torch.Tensor, bias: torch.Tensor | None):
        super().__init__()
        self.weight_t, self.bias = weight_t, bias  # (M, in, out), (M, out): stacked leaves

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        members, out_features = self.weight_t.shape[0], self.weight_t.shape[2]
        flat = x.reshape(members, -1, x.shape[-1])  # each member's rows, end to end
        if self.bias is None:
            y = torch.bmm(flat, self.weight_t)
        else:
            y = torch.baddbmm(self.bias.unsqueeze(1), flat, self.weight_t)
        return y.reshape(*x.shape[:-1], out_features)


class _FoldedConv(nn.Module):
    """A convolution of every member at once: one call per member on its share of the batch.

    A grouped convolution over the members was measured slower on CPU than these calls."""

    # NOTE: on a 2-core CPU a folded cnn step is slower than its members one at a time (ten
    # members' activations leave the cache); the timing probe then trains them one at a time.

    def __init__(self, conv: nn.Module, weight: torch.Tensor, bias: torch.Tensor | None):
        super().__init__()
        self.function = next(f for kind, f in _CONV_FUNCTIONS.items() if isinstance(conv, kind))
        self.options = dict(
            stride=conv.stride, padding=conv.padding, dilation=conv.dilation, groups=conv.groups
        )
        self.weight, self.bias = weight, bias  # (M, out, in / groups, *kernel), (M, out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        chunks = x.chunk(self.weight.shape[0])
        return torch.cat(
            [
                self.function(
                    chunk,
                    self.weight[m],
                    None if self.bias is None else self.bias[m],
                    **self.options,
                )
                for m, chunk in enumerate(chunks)
            ]
        )


class _FoldedStep(_StackedStep):
    """Stacked parameters and the members' losses with their batches folded into one."""

    layout = "folded"

    def __init__(self, models: list[torch.nn.Module], spec: RunSpec):
        super().__init__(models, spec)
        for name, module in list(self.template.named_modules()):
            if not _foldable_layer(module):
                continue
            weight, bias = f"{name}.weight", self.params.get(f"{name}.bias")
            if isinstance(module, nn.Linear):
                stacked = self.params[weight].detach().transpose(1, 2).contiguous()
                self.params[weight] = stacked.requires_grad_()
                self._transposed.add(weight)
                folded = _FoldedLinear(self.params[weight], bias)
            else:
                folded = _FoldedConv(module, self.params[weight], bias)
            parent, _, attribute = name.rpartition(".")
            setattr(self.template.get_submodule(parent), attribute, folded)
        self.meter = EnergyMeter(self.template, norm=spec.norm, track_activity=False)

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """(M, B, C) logits of each member on its own batch x: (M, B, ...)."""
        members, batch = x.shape[:2]
        return self.template(x.reshape(members * batch, *x.shape[2:])).view(members, batch, -1)

    def losses(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        logits = self.logits(x)
        members, batch = logits.shape[:2]
        with torch.set_grad_enabled(bool(self.spec.lam)):  # at λ = 0, E is only recorded
            energy = self.meter.per_sample_energy().view(members, batch).mean(dim=1)
        self.meter.reset()
        return self._member_losses(logits, energy, y)


def _fold_check_reason(step, buffers_before: dict, together, alone) -> str | None:
    for name, stacked in step.buffers.items():
        if not bool((stacked == stacked[0]).all()):
            return f"buffer {name} differs between members"
    for name, value in step.template.named_buffers():
        if not torch.equal(value, buffers_before[name]):
            return f"the forward pass changes buffer {name}"
    if not torch.allclose(together, alone, rtol=1e-4, atol=1e-5):
        return "its folded logits differ from the members' own"
    return None


def _make_step(models: list[torch.nn.Module], spec: RunSpec, inputs: torch.Tensor):
    """The folded step where the model allows it and reproduces each member's logits on samples
    of `inputs` (training inputs, (N, ...)), else the vmapped one."""
    reason = _fold_unsupported_reason(models[0])
    if reason is None:
        step = _FoldedStep(models, spec)
        index = torch.arange(2 * len(models)) % len(inputs)  # two samples a member
        x = inputs[index].view(len(models), 2, *inputs.shape[1:])
        buffers = {name: value.clone() for name, value in step.template.named_buffers()}
        try:
            with torch.no_grad():
                together = step.logits(x)
                # copies, so that a forward pass that changes a buffer leaves the members as built
                alone = torch.stack([copy.deepcopy(model)(x[m]) for m, model in enumerate(models)])
            reason = _fold_check_reason(step, buffers, together, alone)
            if reason is None:
                return step
        except Exception as err:  # a forward pass that reads a layer's weight itself, say
            reason = f"{type(err).__name__}: {err}"
        step.close()
    log.debug("%s runs under vmap: %s", spec.model, reason)
    return _VmappedStep(models, spec)


def train_seeds(
    specs: Sequence[RunSpec],
    data: Dataset | None = None,
    data_dir: str | None = None,
    on_epoch: MemberCallback | None = None,
    batch: bool | str = True,
    on_finish: FinishCallback | None = None,
    on_plan: PlanCallback | None = None,
) -> list[RunResult | DivergedError]:
    """Train runs that differ only in seed; one result (or DivergedError) per spec, in order.

    `batch`: True batches when the architecture runs under vmap and a short timing probe does
    not find the batched step slower (`batch_slower_reason`); "always" skips the probe; False
    trains one run at a time through `train`. Either way each result is the same run, up to
    floating-point summation order. A member whose loss becomes NaN or infinite gets a
    DivergedError at the step it would have stopped at alone; the other members go on
    unaffected.

    `train_seconds` of a batched member is the ensemble's training time divided by the number of
    members: what the run cost, not how long it took. Likewise its `joules_measured` (and each
    of `joules_measured_counters`) is the joules the hardware counters read over the whole
    ensemble's training, divided by the number of members.

    `on_plan` is told, before anything trains, whether the seeds are batched (None) or why not.
    """
    specs = _same_cell(specs)
    if data is None:
        data = load_run_data(specs[0], data_dir)
    reason = None if batch else "batching turned off"
    if reason is None and len(specs) == 1:
        reason = "a single seed"
    if reason is None:
        reason = batch_unsupported_reason(specs[0], data)
    if reason is None and batch != "always":
        reason = batch_slower_reason(specs[0], data, members=len(specs))
    if on_plan is not None:
        on_plan(reason)
    if reason is not None:
        log.info("training %d seed(s) of %s one at a time: %s", len(specs), specs[0].model, reason)
        return [_train_alone(spec, data, i, on_epoch, on_finish) for i, spec in enumerate(specs)]
    log.info("training %d seeds of %s as one batched ensemble", len(specs), specs[0].model)
    return _train_batched(specs, data, on_epoch, on_finish)


def _train_alone(spec, data, index, on_epoch, on_finish):
    epoch_callback = (lambda entry: on_epoch(index, entry)) if on_epoch else None
    finish_callback = (lambda model: on_finish(index, model)) if on_finish else None
    try:
        return train(spec, data=data, on_epoch=epoch_callback, on_finish=finish_callback)
    except DivergedError as err:
        return err


def _train_batched(
    specs: list[RunSpec],
    data: Dataset,
    on_epoch: MemberCallback | None,
    on_finish: FinishCallback | None,
):
    spec = specs[0]
    members = len(specs)
    step = _make_step(_build_members(specs, data), spec, data.x_train)
    log.info("the ensemble of %s runs in the %s layout", spec.model, step.layout)
    optimizer = torch.optim.Adam(
        step.params.values(), lr=spec.lr, weight_decay=spec.weight_decay, fused=True
    )
    orders = [torch.Generator().manual_seed(s.seed) for s in specs]
    diverged: dict[int, DivergedError] = {}
    histories: list[list[dict]] = [[] for _ in specs]
    evaluations: list = [None] * members
    trained: list[torch.nn.Module | None] = [None] * members  # each member, as last evaluated
    train_seconds = 0.0
    n_train = len(data.y_train)
    buffer = batch_buffer(data, members * min(spec.batch_size, n_train))
    counters = EnergyCounters()
    counters.start()
    try:
        for epoch in range(1, spec.epochs + 1):
            started = time.perf_counter()
            step.template.train()
            perms = [torch.randperm(n_train, generator=g) for g in orders]
            sums = torch.zeros(3, members, dtype=torch.float64)  # loss, CE, E (sample-weighted)
            for step_index, start in enumerate(range(0, n_train, spec.batch_size)):
                index = torch.stack([p[start : start + spec.batch_size] for p in perms])  # (M, B)
                x, y = gather_batch(data, index.reshape(-1), buffer)
                x = x.view(*index.shape, *data.x_train.shape[1:])  # (M, B, ...)
                y = y.view(index.shape)  # (M, B)
                losses = step.losses(x, y)
                values = losses.detach()
                for m in range(members):
                    if m not in diverged and not math.isfinite(float(values[m])):
                        diverged[m] = DivergedError(epoch, step_index, float(values[m]))
                optimizer.zero_grad(set_to_none=True)
                losses.sum().backward()
                optimizer.step()
                n = index.shape[1]
                sums += torch.stack([values, step.last_ce, step.last_energy]).double() * n
            seconds = (time.perf_counter() - started) / members
            train_seconds += seconds

            for m in range(members):
                if m in diverged:
                    continue
                model = trained[m] = step.member_model(m)
                with EnergyMeter(model, norm=spec.norm) as meter:
                    evaluations[m] = evaluate(model, meter, data.x_test, data.y_test)
                entry = {
                    "epoch": epoch,
                    "train_loss": float(sums[0, m]) / n_train,
                    "train_ce": float(sums[1, m]) / n_train,
                    "train_energy": float(sums[2, m]) / n_train,
                    "test_accuracy": evaluations[m].accuracy,
                    "test_energy": evaluations[m].energy,
                    "active_fraction": evaluations[m].active_fraction,
                    "seconds": seconds,
                }
                histories[m].append(entry)
                if on_epoch is not None:
                    on_epoch(m, entry)
            if len(diverged) == members:
                break
    finally:
        step.close()
    measured = counters.stop().divided(members)

    results: list[RunResult | DivergedError] = []
    for m, member_spec in enumerate(specs):
        if m in diverged:
            results.append(diverged[m])
            continue
        model = trained[m]  # no step has changed it since its last evaluation
        if on_finish is not None:
            on_finish(m, model)
        results.append(
            final_result(
                member_spec, model, data, evaluations[m], histories[m], train_seconds, measured
            )
        )
    return results
