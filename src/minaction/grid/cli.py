"""`minaction grid run|status|export`: the command line of the grid.

minaction grid run lambda-sweep.toml --db runs.sqlite --workers 2
minaction grid status --db runs.sqlite
minaction grid export --db runs.sqlite --format parquet --out runs.parquet
"""

from __future__ import annotations

import argparse
import json
import sys

from minaction.cli import number_type
from minaction.grid.store import STATUSES

FACTOR_LABELS = {"model": "architecture", "dataset": "dataset", "lam": "λ"}
SHOWN_STATUSES = ("completed", "diverged", "failed", "running", "pending")
DEFAULT_DB = "runs.sqlite"


def add_grid_commands(subparsers: argparse._SubParsersAction) -> None:
    """Add `grid` and its subcommands to the `minaction` parser's subcommands."""
    from minaction.cli import positive_float, positive_int

    grid = subparsers.add_parser(
        "grid", help="run a grid of runs from a TOML file, resumably; show its status; export it"
    )
    commands = grid.add_subparsers(dest="grid_command", required=True, metavar="COMMAND")

    p = commands.add_parser("run", help="run every cell of a grid not done yet")
    p.add_argument("grid_file", metavar="GRID.toml", help="the grid file")
    p.add_argument("--db", default=DEFAULT_DB, help=f"results database (default {DEFAULT_DB})")
    p.add_argument("--workers", type=positive_int, default=None,
                   help="local: worker processes (default 1); ray: tasks at once "
                        "(default: the cluster's CPUs ÷ --cpus-per-run)")  # fmt: skip
    p.add_argument("--threads", type=positive_int, default=None,
                   help="local: torch threads a worker (default: cores ÷ workers)")  # fmt: skip
    p.add_argument("--backend", choices=("local", "ray"), default="local")
    p.add_argument("--ray-address", default=None, metavar="ADDR",
                   help="join this Ray cluster (default: start a local Ray)")  # fmt: skip
    p.add_argument("--cpus-per-run", type=positive_float, default=1.0, help="Ray: CPUs a task")
    p.add_argument("--gpus-per-run", type=_non_negative_float, default=0.0,
                   help="Ray: GPUs a task (default 0)")  # fmt: skip
    p.add_argument("--retry-failed", action="store_true", help="run failed cells again too")
    p.add_argument("--data-dir", default=None, help="directory holding the datasets' files")
    p.add_argument("--no-batch-seeds", dest="batch_seeds", action="store_false", default=None,
                   help="train every cell on its own, not a cell's seeds as one batched "
                        "ensemble (default: the grid file's batch_seeds, true)")  # fmt: skip
    p.set_defaults(func=cmd_grid_run)

    p = commands.add_parser("status", help="counts by status, and progress by factor")
    p.add_argument("--db", default=DEFAULT_DB, help=f"results database (default {DEFAULT_DB})")
    p.add_argument("--grid", default=None, help="only this grid (default: every grid)")
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    p.set_defaults(func=cmd_grid_status)

    p = commands.add_parser("export", help="one row a run, with its spec and final metrics")
    p.add_argument("--db", default=DEFAULT_DB, help=f"results database (default {DEFAULT_DB})")
    p.add_argument("--format", choices=("csv", "parquet"), default=None,
                   help="default: from the suffix of --out")  # fmt: skip
    p.add_argument("--out", required=True, help="the file to write")
    p.add_argument("--grid", default=None, help="only this grid's runs")
    p.add_argument("--status", choices=STATUSES, nargs="+", default=None,
                   help="only runs of these statuses")  # fmt: skip
    p.set_defaults(func=cmd_grid_export)


_non_negative_float = number_type(float, lambda v: v >= 0, "expected a number ≥ 0")


def cmd_grid_run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from minaction.grid.config import load_grid
    from minaction.grid.runner import run_grid

    config = load_grid(args.grid_file)
    bar = None

    def on_progress(counts: dict[str, int]) -> None:
        nonlocal bar
        done = counts["completed"] + counts["failed"] + counts["diverged"]
        if bar is None:  # what was done before this call does not count towards the rate
            bar = tqdm(total=len(config), initial=done, desc=f"grid {config.name}", unit="run",
                       file=sys.stderr, disable=None, dynamic_ncols=True)  # fmt: skip
        elif done > bar.n:
            bar.update(done - bar.n)
        bar.set_postfix(failed=counts["failed"], diverged=counts["diverged"],
                        running=counts["running"], refresh=True)  # fmt: skip

    try:
        summary = run_grid(
            config,
            db=args.db,
            workers=args.workers,
            threads=args.threads,
            backend=args.backend,
            ray_address=args.ray_address,
            retry_failed=args.retry_failed,
            data_dir=args.data_dir,
            cpus_per_run=args.cpus_per_run,
            gpus_per_run=args.gpus_per_run,
            on_progress=on_progress,
            batch_seeds=args.batch_seeds,
        )
    finally:
        if bar is not None:
            bar.close()

    counts = summary.counts
    print(
        f"grid {summary.name}: {summary.total} runs: {counts['completed']} completed, "
        f"{counts['diverged']} diverged, {counts['failed']} failed, {counts['running']} running "
        f"elsewhere, {counts['pending']} pending ({summary.finished_now} finished now in "
        f"{summary.seconds:.1f} s; results in {args.db})"
    )
    if summary.released:
        print(f"{summary.released} run(s) left running by a process that died were run again")
    if counts["failed"] and not args.retry_failed:
        print(f"{counts['failed']} failed run(s): see `minaction grid status --db {args.db}`; "
              "run them again with --retry-failed", file=sys.stderr)  # fmt: skip
    return 0


def cmd_grid_status(args: argparse.Namespace) -> int:
    from minaction.grid.store import Store

    with Store(args.db, readonly=True) as store:
        names = [args.grid] if args.grid else store.grid_names()
        known = store.grid_names()
        for name in names:
            if name not in known:
                from minaction.errors import ConfigError

                raise ConfigError(f"no grid {name!r} in {args.db}; grids: {', '.join(known)}")
        report = {
            name: {
                "runs": store.grid_size(name),
                "counts": store.counts(name),
                "by": store.factor_counts(name),
                "failures": store.failures(name, limit=5),
                "batching": store.batching(name),
            }
            for name in names
        }
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    if not report:
        print(f"no grids in {args.db}")
    for index, (name, item) in enumerate(report.items()):
        if index:
            print()
        print(format_status(name, item, args.db))
    return 0


def format_status(name: str, item: dict, db: str) -> str:
    """The text of `grid status` for one grid."""
    from minaction.cli import format_table

    counts, total = item["counts"], item["runs"]
    done = counts["completed"] + counts["failed"] + counts["diverged"]
    lines = [
        f"grid {name}: {done} of {total} runs done ({100 * done / max(total, 1):.0f}%) in {db}",
        "  " + "  ".join(f"{status} {counts[status]}" for status in SHOWN_STATUSES),
    ]
    headers = ["done", "total", *SHOWN_STATUSES]
    for factor, by_value in item["by"].items():
        rows = []
        for value, value_counts in by_value.items():
            value_done = sum(value_counts[s] for s in ("completed", "failed", "diverged"))
            label = f"{value:g}" if isinstance(value, float) else str(value)
            rows.append([label, str(value_done), str(sum(value_counts.values())),
                         *(str(value_counts[s]) for s in SHOWN_STATUSES)])  # fmt: skip
        if rows:
            table = format_table([FACTOR_LABELS[factor], *headers], rows)
            lines += ["", *("  " + line for line in table.splitlines())]
    batching = item["batching"]
    if batching["batched"] or batching["alone"]:
        lines += ["", f"  seeds: {batching['batched']} run(s) trained in batched ensembles, "
                      f"{batching['alone']} alone"]  # fmt: skip
        for reason, n in batching["reasons"].items():
            lines.append(f"    {n} alone because: {reason}")
    if item["failures"]:
        lines += ["", f"  latest failures ({counts['failed']} in all):"]
        for failure in item["failures"]:
            error = " ".join(str(failure["error"]).split())
            lines.append(f"    {failure['run_id']} {failure['model']} {failure['dataset']} "
                         f"λ={failure['lam']:g} seed {failure['seed']}: {error[:160]}")  # fmt: skip
    return "\n".join(lines)


def cmd_grid_export(args: argparse.Namespace) -> int:
    from minaction.grid.export import export_format, export_runs
    from minaction.grid.store import Store

    fmt = export_format(args.out, args.format)
    with Store(args.db, readonly=True) as store:
        if args.grid and args.grid not in store.grid_names():
            from minaction.errors import ConfigError

            raise ConfigError(f"no grid {args.grid!r} in {args.db}")
        rows = export_runs(store, args.out, fmt=fmt, grid=args.grid, status=args.status)
    print(f"{rows} runs written to {args.out} ({fmt})")
    return 0
