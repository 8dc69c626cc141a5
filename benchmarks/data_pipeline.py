"""In-memory batching (what the trainer does) against torch's DataLoader over the same tensors.

    python benchmarks/data_pipeline.py [--samples 60000] [--batch 128] [--repeats 5]

One epoch of shuffled batches of Fashion-MNIST-shaped tensors, with no model: the ratio is
DataLoader time / in-memory time, so above 1 means the in-memory path is faster.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from common import FASHION_LIKE
from torch.utils.data import DataLoader, TensorDataset

from minaction.data import Dataset
from minaction.train import batch_buffer, gather_batch


def in_memory_epoch(data: Dataset, batch: int, generator) -> int:
    n = len(data.y_train)
    perm = torch.randperm(n, generator=generator)
    buffer = batch_buffer(data, min(batch, n))
    seen = 0
    for start in range(0, n, batch):
        _, yb = gather_batch(data, perm[start : start + batch], buffer)
        seen += len(yb)
    return seen


def dataloader_epoch(loader: DataLoader) -> int:
    return sum(len(yb) for _, yb in loader)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=60000)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    x = torch.rand(args.samples, 1, 28, 28)
    y = torch.randint(0, 10, (args.samples,))
    data = Dataset(FASHION_LIKE, x, y, x[:1], y[:1])
    generator = torch.Generator().manual_seed(0)
    loader = DataLoader(TensorDataset(x, y), batch_size=args.batch, shuffle=True,
                        generator=torch.Generator().manual_seed(0))  # fmt: skip
    memory, torch_loader = [], []
    for _ in range(args.repeats):
        started = time.perf_counter()
        in_memory_epoch(data, args.batch, generator)
        memory.append(time.perf_counter() - started)
        started = time.perf_counter()
        dataloader_epoch(loader)
        torch_loader.append(time.perf_counter() - started)
    m, d = statistics.median(memory), statistics.median(torch_loader)
    print(f"{args.samples} samples, batch {args.batch}, median of {args.repeats} epochs")
    print(f"in-memory batching   {m:7.3f} s/epoch")
    print(f"torch DataLoader     {d:7.3f} s/epoch   ratio {d / m:.1f}× slower")


if __name__ == "__main__":
    main()
