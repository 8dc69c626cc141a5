"""Achieved training FLOP/s of the mlp as a fraction of this machine's dense matmul FLOP/s.

    python benchmarks/training_flops.py [--batch 512] [--widths 128 512 1024] [--steps 40]

Training FLOPs of a step are counted exactly for the Linear layers: 2 FLOPs a MAC for the forward
product, the weight gradient and the input gradient (the first layer has no input gradient).
Elementwise work (ReLU, Adam, the energy term) is not counted, so the figure is conservative.
The reference is `torch.mm` on square float32 matrices of size 2048, timed in the same run.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from common import FASHION_LIKE as INFO
from common import training_step
from torch import nn

from minaction import build_model


def matmul_flops(size: int = 2048, repeats: int = 10) -> float:
    a, b = torch.rand(size, size), torch.rand(size, size)
    torch.mm(a, b)
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        torch.mm(a, b)
        times.append(time.perf_counter() - started)
    return 2 * size**3 / statistics.median(times)


def step_flops(model: nn.Module, batch: int) -> float:
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    total = 0
    for i, layer in enumerate(linears):
        macs = batch * layer.in_features * layer.out_features
        total += 2 * macs * (2 if i == 0 else 3)  # forward, weight grad, input grad
    return total


def training_flops(width: int, batch: int, steps: int, with_meter: bool) -> float:
    torch.manual_seed(0)
    model = build_model("mlp", INFO, width=width, depth=2)
    x, y = torch.rand(batch, 1, 28, 28), torch.randint(0, 10, (batch,))
    step = training_step(model, "loss" if with_meter else "none")
    for _ in range(5):
        step(x, y)
    times = []
    for _ in range(steps):
        started = time.perf_counter()
        step(x, y)
        times.append(time.perf_counter() - started)
    return step_flops(model, batch) / statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=512)
    parser.add_argument("--widths", type=int, nargs="+", default=[128, 512, 1024])
    parser.add_argument("--steps", type=int, default=40)
    args = parser.parse_args()

    peak = matmul_flops()
    print(f"torch.mm 2048² float32: {peak / 1e9:.1f} GFLOP/s, torch threads "
          f"{torch.get_num_threads()}")  # fmt: skip
    print(f"{'width':>6} {'plain GFLOP/s':>14} {'ratio':>6} {'with λ·E GFLOP/s':>17} {'ratio':>6}")
    for width in args.widths:
        plain = training_flops(width, args.batch, args.steps, with_meter=False)
        metered = training_flops(width, args.batch, args.steps, with_meter=True)
        print(f"{width:>6} {plain / 1e9:>14.1f} {plain / peak:>6.2f} {metered / 1e9:>17.1f} "
              f"{metered / peak:>6.2f}")  # fmt: skip


if __name__ == "__main__":
    main()
