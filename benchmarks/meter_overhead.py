"""Meter overhead: one training step of the mlp with and without EnergyMeter, as a ratio.

    python benchmarks/meter_overhead.py [--width 256] [--batch 128] [--steps 50] [--repeats 15]

Both variants run interleaved in the same process on the same data, so machine noise hits both
alike; the reported figure is the ratio of median step times (target ≤ 1.05). Two ratios:
  attached  the meter's hooks run, the loss is plain CE (what λ = 0 costs),
  in loss   the loss is CE + λ·E, so the backward pass also goes through E.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
import torch.nn.functional as F
from common import FASHION_LIKE

from minaction import EnergyMeter, build_model, energy_regularized_loss


def time_steps(model, optimizer, batches, meter_mode: str) -> float:
    meter = EnergyMeter(model, track_activity=False) if meter_mode != "none" else None
    started = time.perf_counter()
    for x, y in batches:
        logits = model(x)
        if meter_mode == "loss":
            loss = energy_regularized_loss(logits, y, meter.energy(), lam=1e-3)
        else:
            loss = F.cross_entropy(logits, y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    elapsed = (time.perf_counter() - started) / len(batches)
    if meter is not None:
        meter.remove()
    return elapsed


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
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
    batches = [
        (torch.rand(args.batch, 1, 28, 28), torch.randint(0, 10, (args.batch,)))
        for _ in range(args.steps)
    ]
    time_steps(model, optimizer, batches[:10], "loss")  # warm-up

    times: dict[str, list[float]] = {"none": [], "attached": [], "loss": []}
    for _ in range(args.repeats):
        for mode in times:
            times[mode].append(time_steps(model, optimizer, batches, mode))
    base = statistics.median(times["none"])
    threads = torch.get_num_threads()
    print(f"mlp width {args.width} depth {args.depth}, batch {args.batch}, "
          f"{args.steps} steps × {args.repeats} repeats, torch threads {threads}")  # fmt: skip
    print(f"step without meter      {base * 1e3:8.3f} ms (median)")
    for mode, label in (("attached", "meter attached, CE"), ("loss", "meter, CE + λ·E")):
        median = statistics.median(times[mode])
        print(f"{label:<23} {median * 1e3:8.3f} ms   ratio {median / base:.3f}")


if __name__ == "__main__":
    main()
