"""Meter overhead: one training step of the mlp with and without EnergyMeter, as a ratio.

    python benchmarks/meter_overhead.py [--width 256] [--batch 128] [--steps 50] [--repeats 15]

Three copies of the same model train side by side: one without a meter, one with the meter
attached and a plain cross-entropy loss (what λ = 0 costs), one with CE + λ·E in the loss (the
backward pass also goes through E). Every step runs once in each variant, in a rotating order,
so that noise from the rest of the machine falls on all three alike. Each variant's time is the
median over all its steps; the figures are the ratios of those medians to the variant without
meter (target ≤ 1.05), and, for reference, the same ratios of the fastest decile.
"""

from __future__ import annotations

import argparse
import copy
import statistics
import time

import torch
from common import FASHION_LIKE, training_step

from minaction import build_model

VARIANTS = ("none", "attached", "loss")


def timed_step(model, variant: str):
    step = training_step(model, variant)

    def timed(x, y) -> float:
        started = time.perf_counter()
        step(x, y)
        return time.perf_counter() - started

    return timed


def decile(times: list[float]) -> float:
    ordered = sorted(times)
    return statistics.mean(ordered[: max(1, len(ordered) // 10)])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--width", type=int, default=256)
    parser.add_argument("--depth", type=int, default=2)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args()

    torch.manual_seed(0)
    model = build_model("mlp", FASHION_LIKE, width=args.width, depth=args.depth)
    steps = {variant: timed_step(copy.deepcopy(model), variant) for variant in VARIANTS}
    batches = [
        (torch.rand(args.batch, 1, 28, 28), torch.randint(0, 10, (args.batch,)))
        for _ in range(args.steps)
    ]
    for x, y in batches[:10]:  # warm-up
        for step in steps.values():
            step(x, y)

    times: dict[str, list[float]] = {variant: [] for variant in VARIANTS}
    turn = 0
    for _ in range(args.repeats):
        for x, y in batches:
            order = VARIANTS[turn % 3 :] + VARIANTS[: turn % 3]
            turn += 1
            for variant in order:
                times[variant].append(steps[variant](x, y))
    base, base_fast = statistics.median(times["none"]), decile(times["none"])
    threads = torch.get_num_threads()
    print(f"mlp width {args.width} depth {args.depth}, batch {args.batch}, "
          f"{args.steps} steps × {args.repeats} repeats, torch threads {threads}")  # fmt: skip
    print(f"step without meter      {base * 1e3:8.3f} ms (median)")
    for variant, label in (("attached", "meter attached, CE"), ("loss", "meter, CE + λ·E")):
        median, fast = statistics.median(times[variant]), decile(times[variant])
        print(f"{label:<23} {median * 1e3:8.3f} ms   ratio {median / base:.3f}"
              f"   fastest decile ratio {fast / base_fast:.3f}")  # fmt: skip


if __name__ == "__main__":
    main()
