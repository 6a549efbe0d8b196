"""`synthscale sweep`: expand a grid, skip finished cells, submit the rest, wait, collect."""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from bench.collect import collect, write_csv
from bench.commands import resolve_config
from bench.config import load_sweep, parse_overrides
from synth.errors import UserError
from slurm.plan import plan
from slurm.sweep import EXECUTORS, execute


def register(sub: argparse._SubParsersAction) -> None:
    """Add the `sweep` subcommand."""
    p = sub.add_parser("sweep", help="run a grid of cells locally or on Slurm, skipping finished ones",
                       description="Expand CONFIG's grid into cells, skip the cells that already have a "
                       "row under --root, submit the rest through submitit, wait, and write ROOT/runs.csv. "
                       "Interrupt it at any time: the same command finishes the sweep.")
    p.add_argument("config", help="sweep YAML (or the name of a packaged config, e.g. quickstart)")
    p.add_argument("overrides", nargs="*", help="dotted KEY=VALUE overrides of the base config")
    p.add_argument("--root", required=True, type=Path, help="directory for runs, checkpoints and logs")
    p.add_argument("--executor", choices=EXECUTORS, default="local",
                   help="local: child processes here; debug: in this process; slurm: a job array")
    p.add_argument("--max-parallel", type=int, default=1,
                   help="cells running at once (local) or the array's parallelism (slurm)")
    p.add_argument("--timeout-min", type=int, default=120, help="time limit per job in minutes")
    p.add_argument("--fail-fast", action="store_true", help="stop submitting at the first failure")
    p.add_argument("--dry-run", action="store_true", help="print the plan and submit nothing")
    p.set_defaults(func=cmd_sweep)
    from slurm.demo import register_demo  # demo builds on sweep_to_csv below

    register_demo(sub)


def sweep_to_csv(config: str, root: Path, overrides: dict, *, executor: str = "local",
                 max_parallel: int = 1, timeout_min: int = 120, fail_fast: bool = False,
                 dry_run: bool = False) -> int:
    """Plan, execute and collect one sweep; returns the process exit code."""
    if max_parallel < 1:
        raise UserError("--max-parallel: must be at least 1")
    the_plan = plan(load_sweep(resolve_config(config), overrides), root)
    print(the_plan.describe() if dry_run else the_plan.describe().splitlines()[0], flush=True)
    if dry_run:
        return 0
    result = execute(the_plan, executor, max_parallel=max_parallel, fail_fast=fail_fast,
                     timeout_min=timeout_min)
    out = write_csv(collect(root), root / "runs.csv")
    print(f"{len(result.finished)} cells finished now, {len(result.failed)} failed; rows in {out}")
    for run_id, msg in result.failed.items():
        print(f"  failed {run_id}: {msg} (log: {root / 'runs' / run_id / 'log.txt'})", file=sys.stderr)
    return 1 if result.failed else 0


def cmd_sweep(args: argparse.Namespace) -> int:
    """Entry point of `synthscale sweep`."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    return sweep_to_csv(args.config, args.root, parse_overrides(args.overrides), executor=args.executor,
                        max_parallel=args.max_parallel, timeout_min=args.timeout_min,
                        fail_fast=args.fail_fast, dry_run=args.dry_run)
