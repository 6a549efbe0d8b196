"""`synthscale run` and `synthscale collect`."""
from __future__ import annotations

import argparse
import difflib
import logging
import sys
import threading
from pathlib import Path

from bench.collect import Collected, check_table_path, collect_to_csv, gather, has_row_files
from bench.config import load_run, parse_overrides, set_data_root
from bench.records import Interrupted, read_rows, writable_root
from synth.console import counted, folder_arg
from synth.errors import UserError

CONFIG_DIR = Path(__file__).parent / "configs"


def resolve_config(name: str, words: tuple[str, ...] = ()) -> Path:
    """A YAML path, or the name of a packaged config such as `quickstart`; `words`: other names the
    command takes in that place (`sweep status`), suggested with the configs when one is mistyped."""
    p = Path(name)
    if p.is_file():
        return p
    packaged = CONFIG_DIR / f"{name}.yaml"
    if packaged.is_file():
        return packaged
    known = ", ".join(sorted(q.stem for q in CONFIG_DIR.glob("*.yaml")))
    if p.is_dir():  # it said "not found" of a folder that is there
        raise UserError(f"config {name!r} is a folder: pass a YAML file in it, or one of the packaged configs "
                        f"({known})")
    close = difflib.get_close_matches(name, [*words, *(q.stem for q in CONFIG_DIR.glob("*.yaml"))], n=1)
    hint = f"did you mean {close[0]!r}? " if close else ""
    raise UserError(f"config {name!r} not found: {hint}pass a YAML file or one of the packaged configs ({known})")


# run, sweep and demo: --data-root sets target.data_root over the config's, and a set target.data_root wins over
# the variable (bench.targets: _named_root)
DATA_ROOT_HELP = ("where the real target's files are (overrides the config's target.data_root and "
                  "$SYNTHSCALE_DATA_ROOT)")


def data_root_arg(text: str) -> str:
    """--data-root as given; an empty one is refused (it was dropped, and the default copy used)."""
    if not text.strip():
        raise UserError("--data-root is empty; give the folder that holds the target's files, or leave the "
                        "option out for the default one")
    return text


def register(sub: argparse._SubParsersAction) -> None:
    """Add `run` and `collect`."""
    p = sub.add_parser("run", help="one run: pre-train one cell, fine-tune on each real size, evaluate",
                       description="Run the base config of CONFIG (its grid is ignored) with dotted "
                       "KEY=VALUE overrides, e.g. `synth.n=2000 seed=1`. A finished run is not redone.")
    p.add_argument("config", help="run or sweep YAML, or a packaged config name (quickstart)")
    p.add_argument("overrides", nargs="*", default=[], help="dotted KEY=VALUE overrides")
    p.add_argument("--root", required=True, type=folder_arg, help="directory for runs, checkpoints and logs")
    p.add_argument("--data-root", help=DATA_ROOT_HELP)
    p.set_defaults(func=cmd_run)
    k = sub.add_parser("config", help="print a config with every field written out (defaults included)",
                       description="Print CONFIG (a YAML file or a packaged config's name) as the runs read it: "
                       "every field of a run, defaults included, then its grid, as YAML that `sweep`, `run` and "
                       "`demo --config` take. The reference of the fields a config may set and their defaults: "
                       "`synthscale config quickstart`.")
    k.add_argument("config", help="sweep YAML, or a packaged config name (quickstart)")
    k.add_argument("overrides", nargs="*", default=[], help="dotted KEY=VALUE overrides, as `sweep` takes them")
    k.set_defaults(func=cmd_config)
    c = sub.add_parser("collect", help="gather finished rows under a root into one CSV",
                       description="Read every finished run's row.json under ROOT/runs into one runs table "
                       "(one row per run and real size), the input of fit, plot, compare and bound. A sweep "
                       "writes ROOT/runs.csv itself as it ends; collect rebuilds it, or writes it elsewhere.")
    c.add_argument("--root", required=True, type=folder_arg, help="the --root of a sweep or run")
    c.add_argument("-o", "--output", help="CSV path (default ROOT/runs.csv); - prints the table to stdout")
    c.set_defaults(func=cmd_collect)


def cmd_config(args: argparse.Namespace) -> int:
    """Entry point of `synthscale config`: the config as YAML, every field written out."""
    import yaml

    from bench.config import written_out

    path = resolve_config(args.config)
    fields = written_out(path, parse_overrides(args.overrides))
    given = f" with {' '.join(args.overrides)}" if args.overrides else ""
    print(f"# {args.config}{given}: every run field (defaults included), then the grid; each grid cell sets its keys\n"
          + yaml.safe_dump(fields, sort_keys=False), end="")
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    """Entry point of `synthscale run`."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    overrides = parse_overrides(args.overrides)
    if args.data_root is not None:
        overrides = set_data_root(overrides, data_root_arg(args.data_root))
    spec = load_run(resolve_config(args.config), overrides)
    from bench.models import pick_device
    from bench.run import check_names, run  # here: they import torch and timm, which `collect` never needs
    from bench.train import stop_on_signals

    check_names(spec)  # a config mistake is reported first, and creates no folder
    pick_device(spec.device)  # as is a device this machine lacks (device=mps here): run checks it again
    root = writable_root(args.root)
    if read_rows(root / "runs" / spec.run_id) is not None:
        print(f"run {spec.run_id} is already done (its row.json is in {root / 'runs' / spec.run_id}); its "
              "result follows. Remove that folder to run it again.", file=sys.stderr)
    try:
        with stop_on_signals(threading.Event()) as stop:  # Ctrl-C: checkpoint at the next step
            rows = run(spec, root, stop=stop)
    except Interrupted:
        raise KeyboardInterrupt from None  # the CLI's one line; exit code 130 (Ctrl-C) or 143 (SIGTERM)
    for r in rows:
        print(f"{r['run_id']} n_synth={r['n_synth']} n_real={r['n_real']} seed={r['seed']} "
              f"test_err={r['test_err']:.4f} ({r['wall_s']:.0f} s)")
    return 0


def cmd_collect(args: argparse.Namespace) -> int:
    """Entry point of `synthscale collect`: every row.json is read once, under the table's lock (a
    sweep may be writing the table too)."""
    if not args.root.is_dir():
        what = "is a file, not a folder" if args.root.exists() else "does not exist"
        raise UserError(f"--root {str(args.root)!r} {what}; give the --root of a sweep or run")
    if not has_row_files(args.root):  # nothing to read: no output folder or lock file is made
        raise _no_rows(args.root, [])

    def check(got: Collected) -> None:  # under the lock, before the table is written
        if got.table.empty:
            raise _no_rows(args.root, got.unreadable)

    given = args.output is not None  # -o '' is a mistake to name, not a request for the default
    if given and str(args.output) == "-":  # the table to stdout (e.g. into another tool); no lock, no file
        got = gather(args.root)
        check(got)
        _warn_unreadable(got.unreadable, got.merged)
        got.table.to_csv(sys.stdout, index=False)
        print(f"{counted(len(got.table), 'row')} -> stdout", file=sys.stderr)
        return 0
    out = args.output if given else args.root / "runs.csv"
    try:
        check_table_path(out, "-o" if given else "ROOT/runs.csv")
    except UserError:
        check(gather(args.root))  # (on this error path only) no rows at all is still the thing to say
        raise
    try:
        got, out = collect_to_csv(args.root, out, check)
    except OSError as err:  # a read-only or full file system, a folder in the way
        check(gather(args.root))  # (on this error path only) no rows at all is still the thing to say
        raise UserError(f"cannot write {str(out)!r}: {err.strerror or err}") from None
    _warn_unreadable(got.unreadable, got.merged)
    print(f"{counted(len(got.table), 'row')} -> {out}")
    return 0


def _warn_unreadable(bad: list[Path], merged: int = 0) -> None:
    """Left out, not deleted: a cell whose row.json is damaged is run again by the next sweep. (And
    rows measured twice by runs that differ only in target.n_real: one copy kept.)"""
    if merged:
        print(f"note: {counted(merged, 'row')} at a real size that another run folder of the same config (but for "
              "its target.n_real list, or an older spelling of its run id) measured too: kept once", file=sys.stderr)
    if bad:
        more = f" and {len(bad) - 3} more" if len(bad) > 3 else ""
        print(f"warning: {len(bad)} runs/*/row.json unreadable or incomplete, left out of the table "
              f"(rerun the sweep to redo them): {', '.join(str(p) for p in bad[:3])}{more}", file=sys.stderr)


def _no_rows(root: Path, bad: list[Path]) -> UserError:
    """No finished run's rows under `root`, naming a row.json it could not read if any, or the runs
    that have rows for some of their real sizes but have not finished (a stopped run)."""
    partial = sorted(d for d in (Path(root) / "runs").glob("*/")
                     if not (d / "row.json").is_file() and any((d / "rows").glob("s*.json")))
    if bad:
        why = f"; {len(bad)} unreadable or incomplete, e.g. {bad[0]}: rerun the sweep to redo them)"
    elif partial:
        why = (f"; {counted(len(partial), 'run')} finished some real sizes but not all, e.g. {partial[0]}: "
               "run the same sweep or run command again to finish them)")
    else:
        why = ")"
    return UserError(f"no finished runs under {root} (looked for runs/*/row.json{why}")
