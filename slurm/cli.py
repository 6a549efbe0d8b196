"""`synthscale sweep`: expand a grid, skip finished cells, submit the rest, wait, collect.

`synthscale sweep status --root RUNS` shows the state of every cell instead.
"""
from __future__ import annotations

import argparse
import contextlib
import logging
import signal
import sys
import threading
from pathlib import Path
from typing import Iterator, Optional

from bench.collect import check_table_path, collect_to_csv
from bench.commands import DATA_ROOT_HELP, data_root_arg, resolve_config
from bench.config import budget_warning, load_sweep, parse_overrides, set_data_root
from bench.records import check_root_not_file, writable_root
from synth.console import counted, folder_arg
from synth.errors import UserError
from slurm.plan import plan
from slurm.profiles import Profile, group_by_shape, load_profile, parse_sbatch_items, profile_names
from slurm.sweep import EXECUTORS, execute, waits_on
from slurm.tracking import CELL_STATES, cell_statuses, format_status

DEFAULT_TIMEOUT_MIN = 120


def register(sub: argparse._SubParsersAction) -> None:
    """Add the `sweep` subcommand (and `demo`)."""
    p = sub.add_parser("sweep", help="run a grid of cells locally or on Slurm, skipping finished ones",
                       description="Expand CONFIG's grid into cells, skip the cells that already have a "
                       "row under --root, submit the rest through submitit, wait, and write ROOT/runs.csv. "
                       "Interrupt it at any time: the same command finishes the sweep. "
                       "`synthscale sweep status --root ROOT` shows what is done, running and failed.",
                       add_help=False)
    p.add_argument("-h", "--help", action=_Help, help="show this help message and exit (after `status`: "
                                                      "the help of `sweep status`)")
    p.add_argument("config", help="sweep YAML, a packaged config name (e.g. quickstart), or `status` (a YAML "
                                  "file named status is ./status)")
    p.add_argument("overrides", nargs="*", default=[], help="dotted KEY=VALUE overrides of the base config; a key the grid "
                                                "sweeps replaces that axis (KEY=V: one value, KEY='[a, b]': those); "
                                                "a list for another one-valued key adds an axis "
                                                "(model.name='[resnet10t, resnet18]')")
    p.add_argument("--root", required=True, type=folder_arg, help="directory for runs, checkpoints and logs")
    p.add_argument("--data-root", help=DATA_ROOT_HELP)
    p.add_argument("--executor", choices=EXECUTORS,
                   help="local (default): child processes here; debug: in this process; slurm: job arrays")
    p.add_argument("--max-parallel", type=int, default=None,
                   help="cells running at once (local, default 1; slurm: same as --array-parallelism, per "
                        "job array)")
    p.add_argument("--timeout-min", type=int, default=None,
                   help=f"time limit per job in minutes (default: the profile's, else {DEFAULT_TIMEOUT_MIN})")
    p.add_argument("--fail-fast", action="store_true",
                   help="stop at the first failure (slurm: cancel the cells that have not started)")
    p.add_argument("--dry-run", action="store_true",
                   help="print the plan (and for slurm the exact sbatch options) and submit nothing")
    p.add_argument("--state", action="append", metavar="STATE[,STATE...]",
                   help=f"`sweep status` only: {STATE_HELP}")
    _cluster_flags(p)
    p.set_defaults(func=cmd_sweep)
    from slurm.demo import register_demo  # demo builds on sweep_to_csv below

    register_demo(sub)


STATE_HELP = (f"list only the cells in these states, one of {', '.join(CELL_STATES)} or several with commas "
              "(repeatable); the summary line still counts every cell")


def status_parser(sweep_prog: str = "synthscale sweep") -> argparse.ArgumentParser:
    """The status command's own arguments, for its help (it is parsed as `sweep` with config `status`);
    `sweep_prog` is the sweep parser's prog (`python -m slurm sweep` under `python -m slurm`)."""
    p = argparse.ArgumentParser(
        prog=f"{sweep_prog} status",
        description="One line per cell under ROOT (the cells of every sweep submitted there): done, running, "
                    "pending, stopped (with a checkpoint: the next sweep resumes it), failed (with the last lines "
                    "of its log), missing or unknown (Slurm did not answer), and a count of each. Exit code 1 if "
                    "any cell failed (listed or not). It takes no sweep or cluster option: the cells' jobs are read "
                    "from ROOT/sweeps/.")
    p.add_argument("--root", required=True, type=folder_arg, help="the --root the sweeps were given")
    p.add_argument("--state", action="append", metavar="STATE[,STATE...]", help=STATE_HELP)
    return p


class _Help(argparse.Action):
    """-h of `sweep`; after `status` (`synthscale sweep status -h`) the help of the status command,
    which takes only --root, instead of every sweep and cluster flag."""

    def __init__(self, option_strings: list[str], dest: str = argparse.SUPPRESS, **kw: object) -> None:
        super().__init__(option_strings, dest=dest, default=argparse.SUPPRESS, nargs=0, **kw)  # type: ignore[arg-type]

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: object,
                 option_string: str | None = None) -> None:
        if getattr(namespace, "config", None) == "status":
            status_parser(parser.prog).print_help()
        else:
            parser.print_help()
        parser.exit()


CLUSTER_FLAGS = ("profile", "partition", "account", "qos", "gpus_per_job", "cpus_per_job", "mem_gb",
                 "constraint", "sbatch", "array_parallelism")
SWEEP_FLAGS = ("data_root", "executor", "max_parallel", "timeout_min", "fail_fast", "dry_run") + CLUSTER_FLAGS


def _cluster_flags(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("cluster settings (slurm executor; they override --profile)")
    g.add_argument("--profile", help="a YAML file or packaged profile name: "
                   + ", ".join(profile_names()))
    g.add_argument("--partition", help="Slurm partition (default: the profile's, else the cluster's default)")
    g.add_argument("--account", help="Slurm account to charge (default: the profile's, else none)")
    g.add_argument("--qos", help="Slurm quality of service (default: the profile's, else none)")
    g.add_argument("--gpus-per-job", type=int, help="GPUs per job (default: the profile's, else 0)")
    g.add_argument("--cpus-per-job", type=int, help="CPUs per job (default: the profile's, else 1)")
    g.add_argument("--mem-gb", type=float, help="memory per job in GB (default: the profile's, else the "
                                                 "partition's default)")
    g.add_argument("--constraint", help="node features, as sbatch --constraint (default: the profile's, else none)")
    g.add_argument("--sbatch", action="append", default=[], metavar="KEY=VALUE",
                   help="any other sbatch option, e.g. --sbatch exclude=node7, or a flag option without a "
                        "value, e.g. --sbatch exclusive (repeatable)")
    g.add_argument("--array-parallelism", type=int,
                   help="tasks of one array running at once (default: the profile's array_parallelism, else "
                        f"{Profile.model_fields['array_parallelism'].default})")


def cluster_profile(args: argparse.Namespace) -> Profile:
    """The profile named by --profile with the command-line cluster flags applied on top."""
    resources = {"partition": args.partition, "account": args.account, "qos": args.qos,
                 "gpus_per_job": args.gpus_per_job, "cpus_per_job": args.cpus_per_job,
                 "mem_gb": args.mem_gb, "constraint": args.constraint, "time_min": args.timeout_min}
    profile = load_profile(args.profile)
    if args.sbatch:
        resources["sbatch"] = {**profile.resources.sbatch, **parse_sbatch_items(args.sbatch)}
    tasks, cells = args.array_parallelism, args.max_parallel  # one setting under two names on Slurm
    _at_least_1(tasks, "--array-parallelism")
    _at_least_1(cells, "--max-parallel")  # it is the array's parallelism here: named as given
    if tasks is not None and cells is not None and tasks != cells:
        raise UserError(f"--max-parallel {cells} and --array-parallelism {tasks} set the same limit on "
                        "Slurm (tasks of one array at once); give one of them")
    return profile.with_overrides(resources, array_parallelism=cells if tasks is None else tasks)


def sweep_to_csv(config: str, root: Path, overrides: dict, *, executor: str = "local",
                 max_parallel: Optional[int] = 1, timeout_min: Optional[int] = None,
                 fail_fast: bool = False, dry_run: bool = False,
                 profile: Optional[Profile] = None) -> int:
    """Plan, execute and collect one sweep; returns the process exit code."""
    max_parallel = 1 if max_parallel is None else max_parallel
    _at_least_1(max_parallel, "--max-parallel")
    _at_least_1(timeout_min, "--timeout-min")
    check_root_not_file(root)
    check_table_path(root / "runs.csv", "ROOT/runs.csv")  # written at the end: a folder there is said now
    the_plan = plan(load_sweep(resolve_config(config, words=("status",)), overrides), root)
    if executor == "slurm":  # every job shape (profile rules, extra sbatch options) before any output
        group_by_shape(the_plan.todo, profile or Profile())
    elif not dry_run:
        check_devices(the_plan.todo)
    if not dry_run:  # a read-only root is one line now, not a traceback from the first job or folder
        writable_root(root)
        if (root / "runs").is_dir():  # jobs write each cell under runs/
            writable_root(root / "runs")
    print(the_plan.describe() if dry_run else the_plan.describe().splitlines()[0], flush=True)
    short = budget_warning(the_plan.cells)  # the whole grid's curve, its finished cells too: one line
    if short:
        print(f"warning: {short}", file=sys.stderr, flush=True)
    if dry_run:
        if executor == "slurm":
            from slurm.arrays import FIX_HINT, preview

            flying = waits_on(the_plan)  # (refuses, as the sweep would, cells another process runs here)
            if flying:
                shown = ", ".join(sorted(flying)[:3]) + (", ..." if len(flying) > 3 else "")
                print(f"{counted(len(flying), 'cell')} of these {'is' if len(flying) == 1 else 'are'} already queued "
                      f"or running as Slurm jobs of an earlier sweep ({shown}): the sweep waits for "
                      f"{'it' if len(flying) == 1 else 'them'} and submits the rest", flush=True)
            rest = [s for s in the_plan.todo if s.run_id not in flying]
            text, refused = (preview(rest, root, profile or Profile(), listed_above=not flying) if rest else
                             ("nothing to submit: the sweep would only wait" if flying else "", []))
            if text:  # (was "0 job array(s), one per resource shape:" with nothing after)
                print(text, flush=True)
            if refused:
                more = f" ({len(refused) - 1} more array(s) refused, above)" if len(refused) > 1 else ""
                raise UserError(f"{refused[0]}; {FIX_HINT}{more}")
        return 0
    try:
        result = execute(the_plan, executor, max_parallel=max_parallel, fail_fast=fail_fast,
                         timeout_min=timeout_min or DEFAULT_TIMEOUT_MIN, profile=profile)
    except KeyboardInterrupt:  # Ctrl-C or kill (_terminated): the cells finished so far go in runs.csv too
        collect_after_interrupt(root)
        raise
    got, out = collect_to_csv(root, root / "runs.csv")
    stopped = result.stopped  # saved a checkpoint on a signal (scancel, kill): the next sweep resumes them
    not_run = result.not_run  # never started (--fail-fast, or scancel while pending): one count, not a line per cell
    print(f"{counted(len(result.finished), 'cell')} finished now, {len(result.failed)} failed"
          + (f", {len(stopped)} stopped with a checkpoint" if stopped else "")
          + (f", {len(not_run)} not run ({_never_started(result)}; the next sweep runs them)" if not_run else "")
          + (f"; rows in {out}" if len(got.table) else f"; {out} has no rows yet"))  # not "rows in" a bare header
    for run_id, err in result.unfinished.items():  # in the order they ended
        if err.not_run:
            continue
        log_file = root / "runs" / run_id / "log.txt"
        where = (f"log: {log_file}" if log_file.is_file() else
                 "no run log: the error is all there is" if executor == "debug"
                 else f"no run log: the job's own logs are under {root / 'submitit'}")
        print(f"  {'stopped' if err.stopped else 'failed'} {run_id}: {err.message} ({where})",
              file=sys.stderr)
    return 1 if result.unfinished else 0


def collect_after_interrupt(root: Path) -> None:
    """ROOT/runs.csv with the rows of the cells that finished before a sweep was stopped (it was left
    as the last sweep to end wrote it, without a word). It reads only finished rows (row.json is
    written atomically) under the table's lock, as every collect does. A failure here, or a second
    Ctrl-C while it waits on that lock, is one line naming the command that updates the table; the
    interrupt still ends the sweep, with its exit code."""
    out = root / "runs.csv"
    try:
        got, out = collect_to_csv(root, out)
    except (Exception, KeyboardInterrupt) as err:
        why = "interrupted again" if isinstance(err, KeyboardInterrupt) else str(err) or type(err).__name__
        print(f"{out} was not updated ({why}); `synthscale collect --root {root}` updates it",
              file=sys.stderr, flush=True)
        return
    print(f"stopped: {counted(len(got.table), 'row')} of finished cells in {out}" if len(got.table) else
          f"stopped: {out} has no rows yet", file=sys.stderr, flush=True)


def check_devices(cells: list) -> None:
    """Cells run on this machine: a device it lacks (device=cuda without one) is a UserError before
    any cell runs (each failed on its own, after the sweep had begun)."""
    from bench.models import pick_device

    for device in sorted({c.device for c in cells}):
        pick_device(device)


def _never_started(result) -> str:
    """Why the sweep's not-run cells never started: --fail-fast kept them, their jobs were cancelled
    while pending (scancel), or both."""
    from slurm.arrays import NOT_RUN  # here, as the dry run's import: `sweep status` never loads submitit

    why = {"--fail-fast" if err is NOT_RUN else "cancelled while pending"
           for err in result.unfinished.values() if err.not_run}
    return " or ".join(sorted(why))


def _at_least_1(value: Optional[int], flag: str) -> None:
    if value is not None and value < 1:
        raise UserError(f"{flag}: must be at least 1, got {value}")


def _given(args: argparse.Namespace, names: tuple[str, ...]) -> list[str]:
    """The options among `names` that the command line set, as flags."""
    # by identity: 0 == False, so `--gpus-per-job 0` read as not given (accepted with local)
    return ["--" + n.replace("_", "-") for n in names
            if not (getattr(args, n) is None or getattr(args, n) is False or getattr(args, n) == [])]


def parse_states(given: list[str] | None) -> set[str] | None:
    """The states --state names (each given value a comma-separated list), or None when it is not
    given; a name that is not a cell state is a UserError listing the valid ones."""
    if given is None:
        return None
    states = {w.strip() for text in given for w in text.split(",")}
    bad = sorted(states - set(CELL_STATES))
    if bad:
        raise UserError(f"--state: {bad[0]!r} is not a cell state; choose from "
                        f"{', '.join(CELL_STATES)} (several with commas, e.g. --state failed,stopped)")
    return states


def cmd_status(root: Path, states: set[str] | None = None) -> int:
    """`synthscale sweep status --root ROOT`: one line per cell (per cell in `states` if given) and a
    summary of every cell; 1 if any failed, listed or not."""
    check_root_not_file(root)
    if not root.is_dir():
        raise UserError(f"--root {str(root)!r} does not exist")
    if not (root / "sweeps").is_dir() and not (root / "runs").is_dir():  # a run's folder, a results folder
        raise UserError(f"--root {str(root)!r} holds no sweep (no sweeps/ or runs/ folder in it); give the "
                        "--root the sweep was started with")
    statuses = cell_statuses(root)
    print(format_status(statuses, states))
    return 1 if any(s.state == "failed" for s in statuses) else 0


def cmd_sweep(args: argparse.Namespace) -> int:
    """Entry point of `synthscale sweep`."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    # (`sweep ... | head`: synth.console.run_cli ends quietly with 141, finished work is kept)
    with kill_stops_like_ctrl_c():
        return _sweep_or_status(args)


@contextlib.contextmanager
def kill_stops_like_ctrl_c() -> Iterator[None]:
    """While the block runs, SIGTERM is handled by _terminated (sweep, and demo, which runs a sweep:
    without it `kill` of a demo left its running cell's job training on); the earlier handler is
    restored after. Only the main thread may set handlers: elsewhere nothing changes."""
    main = threading.current_thread() is threading.main_thread()
    before = signal.signal(signal.SIGTERM, _terminated) if main else None
    try:
        yield
    finally:
        if main:
            signal.signal(signal.SIGTERM, before)


def _terminated(signum: int, frame: object) -> None:
    """`kill PID` stops a sweep like Ctrl-C (its local jobs save a checkpoint and stop; slurm.sweep)
    instead of leaving them running without the sweep; the CLI prints one line, exit code 143."""
    from synth.console import stopped_by

    stopped_by(signum)
    raise KeyboardInterrupt


def _sweep_or_status(args: argparse.Namespace) -> int:
    if args.config == "status":  # the command, even beside a file of that name (./status runs that file)
        extra = args.overrides + _given(args, SWEEP_FLAGS)
        if extra:
            raise UserError(f"sweep status takes only --root and --state; remove {' '.join(extra)}")
        return cmd_status(args.root, parse_states(args.state))
    if args.state is not None:  # a status option: a sweep runs every cell of its grid
        raise UserError(f"--state {','.join(args.state)}: only `sweep status` takes it (it lists the cells in "
                        "those states); remove it, or run `sweep status --root ROOT --state ...`")
    executor = args.executor or "local"
    cluster = _given(args, CLUSTER_FLAGS)
    if cluster and executor != "slurm":
        raise UserError(f"{', '.join(cluster)}: cluster settings, used only with --executor slurm "
                        f"(this sweep runs {executor})")
    _at_least_1(args.timeout_min, "--timeout-min")
    ignored = _given(args, ("max_parallel", "timeout_min")) if executor == "debug" else []
    if ignored:  # it ran one cell at a time past any limit, without a word
        why = {"--max-parallel": "one at a time", "--timeout-min": "with no time limit"}
        raise UserError(f"{', '.join(ignored)}: the debug executor runs the cells in this process, "
                        f"{' and '.join(why[f] for f in ignored)}; remove {'them' if len(ignored) > 1 else 'it'}, "
                        "or use --executor local")
    profile = cluster_profile(args) if executor == "slurm" else None
    overrides = parse_overrides(args.overrides)
    if args.data_root is not None:  # as `synthscale run --data-root`, which the targets' messages name
        overrides = set_data_root(overrides, data_root_arg(args.data_root))
    return sweep_to_csv(args.config, args.root, overrides, executor=executor,
                        max_parallel=args.max_parallel, timeout_min=args.timeout_min,
                        fail_fast=args.fail_fast, dry_run=args.dry_run, profile=profile)
