"""Ten seeds batched against ten seeds one after another, per architecture, as a speed-up ratio.

    python benchmarks/batched_seeds.py [--seeds 10] [--train 12800] [--epochs 1] [--models mlp cnn]

Inputs have Fashion-MNIST's shape (1×28×28, 10 classes); the data are random, since only time is
measured. 12,800 samples at batch 128 are 100 steps a member, enough that the time of a step,
not the set-up of a run, decides the ratio (a Fashion-MNIST epoch is 469 steps). Both variants
train the same specs on the same tensors in the same process; evaluation is cut to 64 test
samples so the ratio is about training. Architectures that cannot be batched say why and get no
ratio; the last column says whether the ensemble ran folded or under vmap. The batched column
forces batching (`batch="always"`); in grids and sweeps a short timing probe keeps an
architecture unbatched where batching is measured slower.
"""

from __future__ import annotations

import argparse
import time

import torch
from common import fashion_like

from minaction.batched import _build_members, _make_step, batch_unsupported_reason, train_seeds
from minaction.models import model_entry, model_names
from minaction.train import RunSpec


def layout(specs: list[RunSpec], data) -> str:
    """How train_seeds lays out the ensemble: folded batches or vmap."""
    resolved = [spec.resolved() for spec in specs]
    step = _make_step(_build_members(resolved, data), resolved[0], data.x_train)
    step.close()
    return step.layout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--train", type=int, default=12800)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--models", nargs="+", default=None)
    args = parser.parse_args()

    data = fashion_like(args.train)
    # Warm-up: the first training in a process pays for thread pools and kernel selection.
    warm = [RunSpec(model="mlp", dataset="digits", seed=s, epochs=1) for s in (0, 1)]
    train_seeds(warm, data=fashion_like(256), batch="always")
    train_seeds(warm, data=fashion_like(256), batch=False)
    print(f"{args.seeds} seeds, {args.train} samples of 1×28×28, {args.epochs} epoch(s), "
          f"batch {args.batch_size}, torch threads {torch.get_num_threads()}")  # fmt: skip
    print(f"{'model':<12} {'sequential s':>12} {'batched s':>10} {'speed-up':>9}  layout")
    for name in args.models or model_names():
        if "image" not in model_entry(name).kinds:
            continue
        specs = [RunSpec(model=name, dataset="digits", seed=s, epochs=args.epochs,
                         batch_size=args.batch_size) for s in range(args.seeds)]  # fmt: skip
        reason = batch_unsupported_reason(specs[0].resolved(), data)
        started = time.perf_counter()
        train_seeds(specs, data=data, batch=False)
        sequential = time.perf_counter() - started
        if reason is not None:
            print(f"{name:<12} {sequential:>12.2f} {'-':>10} {'-':>9}  not batched: {reason}")
            continue
        started = time.perf_counter()
        train_seeds(specs, data=data, batch="always")
        batched = time.perf_counter() - started
        print(f"{name:<12} {sequential:>12.2f} {batched:>10.2f} {sequential / batched:>8.2f}×  "
              f"{layout(specs, data)}")  # fmt: skip


if __name__ == "__main__":
    main()
