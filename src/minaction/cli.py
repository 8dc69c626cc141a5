"""The `minaction` command.

    minaction train --model mlp --dataset digits --lam 1e-3 --seed 0 --epochs 5 --json
    minaction sweep --dataset fashion-mnist --seeds 3 --epochs 10
    minaction models | minaction datasets

User errors (bad names, bad numbers, missing or corrupt data) print one line on stderr and exit
with status 2; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import argparse
import functools
import json
import logging
import math
import re
import sys
from collections.abc import Callable, Sequence

from minaction.errors import DivergedError, MinactionError

EXIT_USER_ERROR = 2
DEFAULT_LAMS = (0.0, 1e-5, 1e-4, 1e-3, 1e-2)

# Subcommands added by other parts of the package: name → function(subparsers) that adds them.
_EXTRA_COMMANDS: list[Callable[[argparse._SubParsersAction], None]] = []


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line, like every other user error."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # NOTE: argparse only recognises -3 and -0.5 as negative numbers, so `--lam -1e-3` would
        # read as a missing value. Widening its (private) pattern lets the λ check answer.
        self._negative_number_matcher = re.compile(r"^-(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$")

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(EXIT_USER_ERROR, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def number_type(
    cast: Callable[[str], float],
    accepts: Callable[[float], bool],
    expected: str,
    unparsable: str | None = None,
) -> Callable[[str], float]:
    """An argparse `type`: `cast(text)`, accepted when finite and `accepts(value)`.

    A rejected value gets "`expected`, got 'TEXT'"; text that does not parse gets `unparsable`
    in its place when given, so a message can show an example of what is accepted.
    """

    def parse(text: str):
        try:
            value = cast(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{unparsable or expected}, got {text!r}") from None
        if not (math.isfinite(value) and accepts(value)):
            raise argparse.ArgumentTypeError(f"{expected}, got {text!r}")
        return value

    return parse


lam_value = number_type(float, lambda v: v >= 0, "λ must be a finite non-negative number",
                        unparsable="λ must be a non-negative number such as 1e-3")  # fmt: skip
positive_int = number_type(int, lambda v: v >= 1, "expected a positive integer")
non_negative_int = number_type(int, lambda v: v >= 0, "expected an integer ≥ 0")
positive_float = number_type(float, lambda v: v > 0, "expected a positive number")


def _add_run_options(parser: argparse.ArgumentParser, default_epochs: int) -> None:
    parser.add_argument("--model", default="mlp", help="architecture (see `minaction models`)")
    parser.add_argument(
        "--dataset", default="digits", help="dataset (see `minaction datasets`); default digits"
    )
    parser.add_argument("--epochs", type=positive_int, default=default_epochs)
    parser.add_argument("--batch-size", type=positive_int, default=128)
    parser.add_argument("--lr", type=positive_float, default=1e-3, help="Adam learning rate")
    parser.add_argument("--width", type=positive_int, default=None, help="hidden width")
    parser.add_argument("--depth", type=positive_int, default=None, help="hidden layers")
    parser.add_argument("--norm", choices=("l2", "l1"), default="l2", help="energy norm")
    parser.add_argument("--limit-train", type=positive_int, default=None, metavar="N",
                        help="stratified subset of N training samples")  # fmt: skip
    parser.add_argument("--limit-test", type=positive_int, default=None, metavar="N",
                        help="stratified subset of N test samples")  # fmt: skip
    parser.add_argument("--data-dir", default=None,
                        help="directory holding the dataset's files "
                             "(default: $MINACTION_DATA_DIR, then the cache)")  # fmt: skip
    parser.add_argument("--json", action="store_true", help="print one JSON object on stdout")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="minaction", description="Energy-first neural network design.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress details")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    p = sub.add_parser("train", help="train one model with L = CE + λ·E")
    _add_run_options(p, default_epochs=10)
    p.add_argument("--lam", type=lam_value, default=0.0, help="energy weight λ (default 0)")
    p.add_argument("--seed", type=non_negative_int, default=0)
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("sweep", help="λ-sweep over seeds: accuracy against energy, as a table")
    _add_run_options(p, default_epochs=20)
    p.add_argument("--lams", type=lam_value, nargs="+", default=list(DEFAULT_LAMS),
                   help="λ values (default: 0 1e-5 1e-4 1e-3 1e-2)")  # fmt: skip
    p.add_argument("--seeds", type=positive_int, default=3, help="seeds 0..N-1 per λ")
    p.add_argument("--no-batch-seeds", dest="batch_seeds", action="store_false",
                   help="train the seeds of a λ one at a time instead of as one batched "
                        "ensemble")  # fmt: skip
    p.set_defaults(func=cmd_sweep)

    p = sub.add_parser("models", help="list the architectures")
    p.add_argument("--dataset", default=None, help="also give parameters and MACs for it")
    p.add_argument("--data-dir", default=None)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_models)

    p = sub.add_parser("datasets", help="list the datasets and whether each is available")
    p.add_argument("--data-dir", default=None)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_datasets)

    from minaction.grid.cli import add_grid_commands

    add_grid_commands(sub)
    from minaction.analysis.cli import add_analysis_commands

    add_analysis_commands(sub)
    for add in _EXTRA_COMMANDS:
        add(sub)
    return parser


def _spec_from_args(args: argparse.Namespace, lam: float, seed: int):
    from minaction.train import RunSpec

    return RunSpec(
        model=args.model,
        dataset=args.dataset,
        lam=lam,
        seed=seed,
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        width=args.width,
        depth=args.depth,
        norm=args.norm,
        limit_train=args.limit_train,
        limit_test=args.limit_test,
    ).validate()


def _load_data(args: argparse.Namespace):
    from minaction.data import load_dataset

    return load_dataset(
        args.dataset,
        data_dir=args.data_dir,
        limit_train=args.limit_train,
        limit_test=args.limit_test,
    )


def cmd_train(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from minaction.train import train

    spec = _spec_from_args(args, args.lam, args.seed)
    data = _load_data(args)
    with tqdm(total=spec.epochs, desc=f"{spec.model} on {spec.dataset}", unit="epoch",
              file=sys.stderr, disable=None, leave=False) as bar:  # fmt: skip

        def on_epoch(entry: dict) -> None:
            bar.set_postfix(acc=f"{entry['test_accuracy']:.3f}", E=f"{entry['test_energy']:.3g}")
            bar.update()

        result = train(spec, data=data, on_epoch=on_epoch)

    if args.json:
        print(json.dumps(result.to_dict(), indent=2))
        return 0
    rows = [
        ("run_id", result.run_id),
        ("test accuracy", f"{result.accuracy:.4f}"),
        ("energy E (per sample)", f"{result.energy:.6g}"),
        ("active fraction", f"{result.active_fraction:.4f}"),
        ("MACs dense / effective", f"{result.macs_dense:,.0f} / {result.macs_effective:,.0f}"),
        ("estimated energy", f"{result.joules_estimate * 1e6:.4g} µJ per sample"),
        ("measured energy", _measured_text(result)),
        ("weight density", f"{result.weight_density:.4f}"),
        ("parameters", f"{result.n_params:,}"),
        ("train seconds", f"{result.train_seconds:.2f}"),
    ]
    print(f"{spec.model} on {spec.dataset}, λ = {spec.lam:g}, seed {spec.seed}, "
          f"{spec.epochs} epochs")  # fmt: skip
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        print(f"  {key:<{width}}  {value}")
    for site, energy in result.energy_per_site.items():
        print(f"  {'  E at ' + site:<{width}}  {energy:.6g}")
    return 0


def _measured_text(result) -> str:
    """The joules the hardware counters read over the whole training, or why there are none."""
    if result.joules_measured is None:
        return f"not measured ({result.joules_measured_reason})"
    counters = ", ".join(
        f"{label} {joules:.4g} J"
        for label, joules in (result.joules_measured_counters or {}).items()
    )
    return f"{result.joules_measured:.4g} J for the whole training ({counters})"


def cmd_sweep(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from minaction.analysis.sweep import sweep_rows
    from minaction.batched import train_seeds

    lams = sorted(set(args.lams))
    cells = [[_spec_from_args(args, lam, seed) for seed in range(args.seeds)] for lam in lams]
    data = _load_data(args)
    results, diverged = [], []
    plans: dict[float, str | None] = {}  # λ → None (batched) or why its seeds ran one at a time
    epochs_total = len(lams) * args.seeds * args.epochs
    with tqdm(total=epochs_total, desc=f"sweep {args.model} on {args.dataset}", unit="epoch",
              file=sys.stderr, disable=None) as bar:  # fmt: skip
        for specs in cells:
            bar.set_postfix(lam=f"{specs[0].lam:g}")
            plan = functools.partial(plans.__setitem__, specs[0].lam)
            outcomes = train_seeds(specs, data=data, batch=args.batch_seeds,
                                   on_epoch=lambda member, entry: bar.update(),
                                   on_plan=plan)  # fmt: skip
            for spec, outcome in zip(specs, outcomes, strict=True):
                if isinstance(outcome, DivergedError):
                    diverged.append((spec, str(outcome)))
                    bar.update(spec.epochs - outcome.epoch + 1)
                else:
                    results.append(outcome)

    rows = sweep_rows(results)
    if args.json:
        print(json.dumps({
            "model": args.model, "dataset": args.dataset, "epochs": args.epochs,
            "seeds": args.seeds, "rows": [r.to_dict() for r in rows],
            "diverged": [{"lam": s.lam, "seed": s.seed, "error": e} for s, e in diverged],
            "seeds_one_at_a_time": {f"{lam:g}": why for lam, why in plans.items() if why},
        }, indent=2))  # fmt: skip
        return 0
    print(
        f"λ-sweep: {args.model} on {args.dataset}, {args.epochs} epochs, {args.seeds} seeds "
        f"(mean [95% interval]; Δ and ratios against λ = {lams[0]:g})"
    )
    print(format_sweep_table(rows))
    print(_batching_summary(plans))
    for spec, error in diverged:
        print(f"diverged: λ = {spec.lam:g}, seed {spec.seed}: {error}")
    return 0


def _batching_summary(plans: dict[float, str | None]) -> str:
    """One line: how the seeds of each λ were trained."""
    reasons = set(plans.values())
    if reasons == {None}:
        return "seeds: trained together, as one batched ensemble per λ"
    if len(reasons) == 1:
        return f"seeds: trained one at a time ({reasons.pop()})"
    parts = [f"λ = {lam:g}: {why or 'batched'}" for lam, why in plans.items()]
    return "seeds: " + "; ".join(parts)


def format_sweep_table(rows) -> str:
    headers = ["λ", "accuracy", "Δacc (pts)", "E", "E/E₀", "active", "eff/dense MACs", "µJ/sample"]
    body = []
    for row in rows:
        acc, change = row.accuracy, row.accuracy_change_points
        body.append([
            f"{row.lam:g}",
            f"{acc.mean:.4f} [{acc.low:.4f}, {acc.high:.4f}]",
            f"{change.mean:+.2f} ± {change.half_width:.2f}",
            f"{row.energy.mean:.4g}",
            f"{row.energy_ratio:.3g}",
            f"{row.active_fraction.mean:.3f}",
            f"{row.effective_ratio:.3f}",
            f"{row.joules.mean * 1e6:.4g}",
        ])  # fmt: skip
    return format_table(headers, body)


def format_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]
    lines = ["  ".join(h.rjust(w) for h, w in zip(headers, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(c.rjust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    return "\n".join(lines)


def cmd_models(args: argparse.Namespace) -> int:
    import torch

    from minaction.data import load_dataset
    from minaction.energy.ops import count_macs
    from minaction.models import build_model, count_parameters, model_entry, model_names

    data = None
    if args.dataset is not None:
        data = load_dataset(args.dataset, data_dir=args.data_dir, limit_train=1, limit_test=64)
    listing = []
    for name in model_names():
        entry = model_entry(name)
        item = {"name": name, "description": entry.description, "kinds": list(entry.kinds),
                "width": entry.default_width, "depth": entry.default_depth}  # fmt: skip
        if data is not None and data.info.kind in entry.kinds:
            torch.manual_seed(0)
            model = build_model(name, data.info).eval()
            item["parameters"] = count_parameters(model)
            item["macs_dense"] = count_macs(model, data.x_test).dense
        listing.append(item)
    if args.json:
        print(json.dumps(listing, indent=2))
        return 0
    headers = ["model", "width", "depth", "inputs", "description"]
    if data is not None:
        headers[4:4] = ["params", "dense MACs"]
    rows = []
    for item in listing:
        row = [item["name"], str(item["width"]), str(item["depth"] or "-"), ",".join(item["kinds"])]
        if data is not None:
            row += [f"{item['parameters']:,}" if "parameters" in item else "-",
                    f"{item['macs_dense']:,.0f}" if "macs_dense" in item else "-"]  # fmt: skip
        rows.append([*row, item["description"]])
    print(format_table(headers, rows))
    return 0


def cmd_datasets(args: argparse.Namespace) -> int:
    from minaction.data import DataContext, dataset_info, dataset_names
    from minaction.data.registry import dataset_availability

    ctx = DataContext.create(args.data_dir)
    listing = []
    for name in dataset_names():
        info = dataset_info(name)
        listing.append({
            "name": name, "modality": info.modality, "kind": info.kind,
            "shape": list(info.input_shape), "classes": len(info.classes),
            "train": info.sizes[0] if info.sizes else None,
            "test": info.sizes[1] if info.sizes else None,
            "offline": info.offline, "status": dataset_availability(name, ctx),
            "description": info.description,
        })  # fmt: skip
    if args.json:
        print(json.dumps(listing, indent=2))
        return 0
    headers = ["dataset", "modality", "kind", "shape", "classes", "train", "test", "status"]
    rows = [
        [d["name"], d["modality"], d["kind"], "×".join(map(str, d["shape"])), str(d["classes"]),
         str(d["train"] or "?"), str(d["test"] or "?"),
         d["status"] + (" (offline)" if d["offline"] else "")]
        for d in listing
    ]  # fmt: skip
    print(format_table(headers, rows))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    try:
        return args.func(args)
    except MinactionError as err:
        print(f"minaction: error: {err}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print("minaction: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
