"""Synthetic runs with known effects, in the frame layout of minaction.analysis.load.

Accuracy = 0.80 + architecture effect + dataset effect + architecture × dataset effect
+ λ effect + normal noise of standard deviation `noise`; E falls tenfold per decade of λ
above 1e-5; per-epoch test accuracy rises as final × (1 − exp(−epoch / tau)), tau smaller for
the energy-first architectures, so they reach a target in fewer epochs.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from minaction.analysis.load import normalize_runs

MODEL_EFFECT = {"mlp": 0.0, "cnn": 0.02, "gru": -0.01, "bimodal": 0.01, "lagrangian": -0.005}
DATASET_EFFECT = {"digits": 0.1, "fortunes": -0.1, "dvs-digits": 0.0, "fashion-mnist": -0.02}
INTERACTION_SIGN = {"mlp": 1, "cnn": -1, "gru": 1, "bimodal": -1, "lagrangian": 1}
TAU = {"bimodal": 1.0, "lagrangian": 1.2}  # epochs; conventional architectures have 2.0


def synthetic_runs(
    models=("mlp", "cnn", "bimodal"),
    datasets=("digits", "fortunes"),
    lams=(0.0, 1e-4, 1e-2),
    seeds=4,
    noise=0.01,
    interaction=0.05,
    epochs=6,
    rng_seed=0,
    replicates=None,
    status=None,
) -> pd.DataFrame:
    """A frame of runs. `replicates(model, dataset, lam)` gives seeds per cell (default
    `seeds`); `status(model, dataset, lam, seed)` gives a status other than completed."""
    rng = np.random.default_rng(rng_seed)
    rows = []
    for model in models:
        for d, dataset in enumerate(datasets):
            for lam in lams:
                n = replicates(model, dataset, lam) if replicates else seeds
                for seed in range(n):
                    rows.append(_run(model, dataset, d, lam, seed, noise, interaction, epochs,
                                     rng, status))  # fmt: skip
    return normalize_runs(pd.DataFrame(rows))


def _run(model, dataset, d, lam, seed, noise, interaction, epochs, rng, status) -> dict:
    crossing = INTERACTION_SIGN.get(model, 1) * (1 if d % 2 == 0 else -1)
    effect = (
        MODEL_EFFECT.get(model, 0.0)
        + DATASET_EFFECT.get(dataset, 0.0)
        + interaction * crossing
        - 0.3 * lam
    )
    accuracy = float(np.clip(0.8 + effect + rng.normal(0, noise), 0.05, 1.0))
    decades = math.log10(lam / 1e-5) if lam > 1e-5 else 0.0
    energy = 50.0 * 10 ** (-decades) * float(np.exp(rng.normal(0, 0.05)))
    tau = TAU.get(model, 2.0)
    seconds = {"mlp": 0.5, "cnn": 1.0}.get(model, 0.7) * float(np.exp(rng.normal(0, 0.05)))
    final = 1 - math.exp(-epochs / tau)
    history = [
        {"epoch": e, "test_accuracy": accuracy * (1 - math.exp(-e / tau)) / final,
         "seconds": seconds, "test_energy": energy}
        for e in range(1, epochs + 1)
    ]  # fmt: skip
    macs_dense = 10_000.0
    macs_effective = macs_dense * (0.5 - 0.1 * decades / 3)
    run_status = status(model, dataset, lam, seed) if status else "completed"
    done = run_status == "completed"
    return {
        "run_id": f"{model}-{dataset}-{lam:g}-{seed}",
        "model": model,
        "dataset": dataset,
        "lam": lam,
        "seed": seed,
        "status": run_status,
        "accuracy": accuracy if done else None,
        "energy": energy if done else None,
        "active_fraction": 0.5 - 0.1 * decades / 3 if done else None,
        "macs_dense": macs_dense if done else None,
        "macs_effective": macs_effective if done else None,
        "joules_estimate": macs_effective * 4.6e-12 if done else None,
        "train_seconds": seconds * epochs if done else None,
        "epochs": epochs,
        "spec": {
            "model": model,
            "dataset": dataset,
            "lam": lam,
            "seed": seed,
            "epochs": epochs,
            "limit_train": 200,
        },
        "history": history if done else [],
        "error": None if done else f"{run_status} in a test",
    }
