"""Ten seeds batched against ten seeds one after another, per architecture, as a speed-up ratio.

    python benchmarks/batched_seeds.py [--seeds 10] [--train 12800] [--repeats 3] [--models mlp]
                                       [--dataset fortunes]

Inputs have Fashion-MNIST's shape (1×28×28, 10 classes); the data are random, since only time is
measured. 12,800 samples at batch 128 are 100 steps a member, enough that the time of a step,
not the set-up of a run, decides the ratio (a Fashion-MNIST epoch is 469 steps). Both variants
train the same specs on the same tensors in the same process, `--repeats` times each in
alternating order, and the figures are medians; evaluation is cut to 64 test
samples so the ratio is about training. Architectures that cannot be batched say why and get no
ratio; the last column says whether the ensemble ran folded or under vmap. The batched column
forces batching (`batch="always"`); in grids and sweeps a short timing probe keeps an
architecture unbatched where batching is measured slower.

For the mlp, whose training FLOPs are all in its Linear layers, the script also prints what
fraction of this machine's `torch.mm` rate each variant reaches (training_flops.py counts the
FLOPs). One run at a time at fraction f leaves batching at most 1/f to gain.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from common import fashion_like
from training_flops import matmul_flops, step_flops

from minaction.batched import _build_members, _make_step, batch_unsupported_reason, train_seeds
from minaction.data import load_dataset
from minaction.models import build_model, model_entry, model_names
from minaction.train import RunSpec


def layout(specs: list[RunSpec], data) -> str:
    """How train_seeds lays out the ensemble: folded batches or vmap."""
    resolved = [spec.resolved() for spec in specs]
    step = _make_step(_build_members(resolved, data), resolved[0], data.x_train)
    step.close()
    return step.layout


def matmul_fractions(specs: list[RunSpec], data, sequential: float, batched: float) -> str:
    """The mlp's training FLOP/s, one at a time and batched, as fractions of `torch.mm`'s."""
    spec = specs[0].resolved()
    model = build_model(spec.model, data.info, width=spec.width, depth=spec.depth)
    steps = spec.epochs * -(-len(data.y_train) // spec.batch_size)
    flops = len(specs) * steps * step_flops(model, spec.batch_size)
    peak = matmul_flops()
    one, together = flops / sequential / peak, flops / batched / peak
    return (f"  mlp FLOP/s as a fraction of torch.mm's {peak / 1e9:.0f} GFLOP/s: one at a time "
            f"{one:.2f}, batched {together:.2f}; ceiling on the speed-up 1/{one:.2f} = "
            f"{1 / one:.2f}×")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--train", type=int, default=12800)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--models", nargs="+", default=None)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--dataset", default=None,
                        help="a registered offline dataset instead of random Fashion-MNIST-shaped "
                        "tensors (its first --train samples)")  # fmt: skip
    args = parser.parse_args()

    if args.dataset is None:
        data, dataset = fashion_like(args.train), "digits"  # a registered name for the specs
    else:
        data, dataset = (
            load_dataset(args.dataset, limit_train=args.train, limit_test=64),
            args.dataset,
        )
    # Warm-up: the first training in a process pays for thread pools and kernel selection.
    warm = [RunSpec(model="mlp", dataset="digits", seed=s, epochs=1) for s in (0, 1)]
    train_seeds(warm, data=fashion_like(256), batch="always")
    train_seeds(warm, data=fashion_like(256), batch=False)
    shape = "×".join(map(str, data.info.input_shape))
    source = args.dataset or "random"
    print(f"{args.seeds} seeds, {len(data.y_train)} samples of {shape} ({source}), "
          f"{args.epochs} epoch(s), "
          f"batch {args.batch_size}, median of {args.repeats} repeats, "
          f"torch threads {torch.get_num_threads()}")  # fmt: skip
    print(f"{'model':<12} {'sequential s':>12} {'batched s':>10} {'speed-up':>9}  layout")
    for name in args.models or model_names():
        if data.info.kind not in model_entry(name).kinds:
            continue
        specs = [RunSpec(model=name, dataset=dataset, seed=s, epochs=args.epochs,
                         batch_size=args.batch_size) for s in range(args.seeds)]  # fmt: skip
        reason = batch_unsupported_reason(specs[0].resolved(), data)
        if reason is not None:
            print(f"{name:<12} {'-':>12} {'-':>10} {'-':>9}  not batched: {reason}")
            continue
        times: dict[object, list[float]] = {False: [], "always": []}
        for repeat in range(args.repeats):  # alternate which variant goes first
            for batch in (False, "always") if repeat % 2 == 0 else ("always", False):
                started = time.perf_counter()
                train_seeds(specs, data=data, batch=batch)
                times[batch].append(time.perf_counter() - started)
        sequential, batched = statistics.median(times[False]), statistics.median(times["always"])
        print(f"{name:<12} {sequential:>12.2f} {batched:>10.2f} {sequential / batched:>8.2f}×  "
              f"{layout(specs, data)}")  # fmt: skip
        if name == "mlp" and data.info.kind == "image":  # all its FLOPs in Linear layers
            print(matmul_fractions(specs, data, sequential, batched))


if __name__ == "__main__":
    main()
