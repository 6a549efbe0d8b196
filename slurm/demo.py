"""`synthscale demo`: the quickstart sweep end to end -- sweep, collect, fit, plot, summary."""
from __future__ import annotations

import argparse
import difflib
import hashlib
import json
import logging
import os
import platform
import shlex
import sys
import time
from pathlib import Path

from bench.collect import check_table_path, collect, write_csv
from bench.commands import DATA_ROOT_HELP
from slurm.cli import kill_stops_like_ctrl_c, sweep_to_csv
from synth.cli import check_out_dir
from synth.console import folder_arg
from synth.errors import UserError


def register_demo(sub: argparse._SubParsersAction) -> None:
    """Add the `demo` subcommand."""
    p = sub.add_parser("demo", help="run the quickstart sweep, fit the scaling law, plot it",
                       description="Runs the packaged quickstart sweep (or --config) with the local "
                       "executor, then writes OUT/runs.csv, fits.json, scaling.png/.pdf, config.yaml (the config "
                       "as run, every field written out) and PROVENANCE.md. It takes no KEY=VALUE overrides: "
                       "they go in the config file. NAME below is the config's file name without .yaml "
                       "(quickstart for the packaged one; for a config.yaml, its folder's name); a default OUT "
                       "holding another study's files is refused.")
    p.add_argument("--config", default="quickstart",
                   help="sweep config: a YAML file or a packaged config's name (default: quickstart)")
    p.add_argument("--root", type=folder_arg, default=None,
                   help="runs and checkpoints (default: runs/NAME, runs/quickstart for the quickstart)")
    p.add_argument("-o", "--output", "--out", dest="out", type=folder_arg, default=None,
                   help="where the outputs go (default: results/NAME, results/quickstart for the quickstart; "
                        "another config is not written over the quickstart's outputs)")
    p.add_argument("--data-root", help=DATA_ROOT_HELP)
    p.add_argument("--max-parallel", type=int, default=2, help="cells at once, 1 torch thread each (default: 2)")
    p.add_argument("--executor", default="local", choices=("local", "debug"), help="default: local")
    p.add_argument("--by", default="complexity",
                   help="runs-table column(s) whose values get one curve each, e.g. generator or "
                        "complexity,generator (default: complexity); checked against the grid before it runs")
    # not a feature: words after the options land here (synth.console.run_cli), and _refuse_words says
    # that demo takes no overrides instead of argparse's bare "unrecognized arguments: seed=[0]"
    p.add_argument("overrides", nargs="*", default=[], help=argparse.SUPPRESS)
    p.set_defaults(func=cmd_demo)


def _refuse_words(config: str, words: list[str]) -> None:
    """A UserError for words given beside the options: demo has no overrides, its config file holds
    every value (`sweep` takes them on the command line)."""
    if not words:
        return
    shown = " ".join(shlex.quote(w) for w in words)
    pairs = " ".join(shlex.quote(w) for w in words if "=" in w)
    if pairs:
        raise UserError(f"{shown}: demo takes no KEY=VALUE overrides; put them in the config file, or use "
                        f"`synthscale sweep {shlex.quote(config)} {pairs} --root DIR`, which takes them")
    raise UserError(f"{shown}: demo takes no positional arguments; give the config as "
                    f"--config {shlex.quote(words[0])}")


def check_grouping(config: str, by: str, overrides: dict | None = None) -> set[str]:
    """Refuse, before anything runs, a `by` that is not a column saying what was run, or one that
    would pool the grid's different experiments into one curve (the fit would refuse it after the
    whole sweep). The planned cells' rows are known before they run, apart from their results.
    Returns the run ids of the config's cells: what the demo fits, whatever else the root holds."""
    import pandas as pd

    from bench.collect import add_config_columns
    from bench.commands import resolve_config
    from bench.config import load_sweep
    from bench.run import design_row
    from fits.table import curve_groups, group_column, label

    cells = load_sweep(resolve_config(config), overrides).cells()  # (--data-root: a folder target's ids)
    rows = [design_row(c, s) | {"knobs": json.dumps(c.identity()["synth"].get("knobs") or {}, sort_keys=True)}
            for c in cells for s in c.target.n_real]
    add_config_columns(rows, {c.run_id: c for c in cells})  # finetune.lr, ...: as `collect` adds them
    cols = [c.strip() for c in by.split(",")]
    unknown = [c for c in cols if c not in rows[0]]
    if unknown or len(set(cols)) < len(cols):
        close = difflib.get_close_matches(unknown[0], list(rows[0]), n=1) if unknown else []
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise UserError(f"--by {by}: " + (f"{unknown[0]!r} is not a column that says what was run{hint}; choose "
                                          f"from {', '.join(sorted(rows[0]))}" if unknown else
                                          "a column is given twice"))
    groups = curve_groups(group_column(pd.DataFrame(rows), by), "n_synth", by)
    sizes = {label(k): g.loc[g["n_synth"] > 0, "n_synth"].nunique() for k, g in groups}
    if sizes and max(sizes.values()) < 3:  # the fit refused it after the whole sweep had run
        key, n = min(sizes.items(), key=lambda kv: kv[1])
        raise UserError(f"--config {config}: the curve {by}={key} has {n} synthetic size(s) n > 0 and a fit needs at "
                        "least 3 (no curve has more); give synth.n more values in the grid")
    return {c.run_id for c in cells}


def default_folders(config: str, root: Path | None, out: Path | None) -> tuple[Path, Path]:
    """--root and --output as given, else runs/NAME and results/NAME, NAME the config file's stem (what
    --config calls a packaged config; a config's `name:` is only a label in its rows, and one copied
    from quickstart.yaml keeps `name: quickstart`). The fixed runs/quickstart and results/quickstart
    wrote the user's own --config over the committed quickstart outputs; a config of another file
    that is also called quickstart.yaml would still do so, and is refused without --output. A file
    named config.yaml (each committed result's) takes its folder's name, and a default --output that
    holds another study's files (_holds_another_study) is refused without --output too."""
    from bench.commands import CONFIG_DIR, resolve_config

    path = resolve_config(config)
    packaged = CONFIG_DIR / "quickstart.yaml"
    if out is None and path.stem == packaged.stem and not path.samefile(packaged):
        raise UserError(f"--config {config}: it is not the packaged quickstart, yet its default --output "
                        "results/quickstart holds the quickstart's outputs; give --output (e.g. --output results/mine)")
    # a committed result's config.yaml (results/synth_transfer/config.yaml): named after its folder
    name = path.parent.name if path.stem == "config" else path.stem
    if out is None and _holds_another_study(Path("results") / name, path):
        raise UserError(f"--config {config}: its default --output results/{name} already holds files that a demo "
                        f"of this config did not write (no PROVENANCE.md naming it); give --output (e.g. --output "
                        f"results/{name}_demo), or --output results/{name} to write over them")
    return (Path("runs") / name if root is None else root,
            Path("results") / name if out is None else out)


def _holds_another_study(out: Path, config: Path) -> bool:
    """Whether `out` has files and no PROVENANCE.md of a demo of `config` (a committed result such as
    results/synth_transfer, or another config's demo): a default --output must not write over them."""
    from bench.commands import resolve_config

    if not out.is_dir() or not any(out.iterdir()):
        return False
    prov = out / "PROVENANCE.md"
    line = next((ln for ln in (prov.read_text(errors="replace").splitlines() if prov.is_file() else [])
                 if ln.startswith("- config: `")), None)
    if line is None:
        return True
    try:
        return not resolve_config(line.removeprefix("- config: `").rstrip("`")).samefile(config)
    except (OSError, UserError):
        return True


OUTPUTS = ["fits.json", "scaling.png", "scaling.pdf", "config.yaml", "PROVENANCE.md"]  # beside runs.csv, in --output


def cmd_demo(args: argparse.Namespace) -> int:
    """Entry point of `synthscale demo`."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    with kill_stops_like_ctrl_c():  # `kill PID` as in a sweep: its running cells save a step and stop, exit 143
        return _demo(args)


def _demo(args: argparse.Namespace) -> int:
    from bench.commands import data_root_arg
    from bench.config import set_data_root

    t0 = time.time()
    _refuse_words(args.config, args.overrides)
    overrides = {} if args.data_root is None else set_data_root({}, data_root_arg(args.data_root))
    planned = check_grouping(args.config, args.by, overrides)
    args.root, args.out = default_folders(args.config, args.root, args.out)
    made = [f for f in (args.out, *args.out.parents) if not f.exists()]  # what check_out_dir creates
    check_out_dir(args.out, "--output")  # a bad --output is one line before the sweep, not a traceback after it
    try:
        return _sweep_fit_plot(args, overrides, planned, t0)
    except BaseException:  # a later refusal, a failed sweep, Ctrl-C, kill: no empty --output folder left behind
        from fits.cli import remove_empty_folders

        remove_empty_folders(made)  # innermost first
        raise


def _sweep_fit_plot(args: argparse.Namespace, overrides: dict, planned: set[str], t0: float) -> int:
    """The demo after its first checks: the rest of the output checks, the sweep, the table, the fit,
    the figure, config.yaml and PROVENANCE.md in args.out (a folder that exists now)."""
    import fits
    from fits.cli import check_outputs, clear_outputs
    from fits.table import write_fits_json

    check_table_path(args.out / "runs.csv", "--output's runs.csv")
    check_outputs(args.out, OUTPUTS, "demo", "--output")  # written after the sweep: a folder in the way was a traceback
    config = _RanConfig(args.config, overrides)  # read now: the file may be edited while the sweep runs
    differ = config.differs_from(args.out / "config.yaml")
    if differ is not None:  # an edited config's demo replaced the earlier outputs without a word
        print(f"note: {args.out} holds outputs made from a different config (its config.yaml differs"
              + (f" in {', '.join(differ)}" if differ else "") + "); this demo writes over them "
              f"(the runs under {args.root} are kept)", file=sys.stderr, flush=True)
    rc = sweep_to_csv(args.config, args.root, overrides, executor=args.executor, max_parallel=args.max_parallel)
    df = collect(args.root, only=planned)  # the root may hold other configs' runs (the default root is shared)
    df = df[df["run_id"].isin(planned)].reset_index(drop=True)
    # PROVENANCE.md, written last, is missing until every output is new (a stop between two of them
    # left this runs.csv beside the fits and figure of the one before)
    clear_outputs(p for p in (args.out / name for name in ["runs.csv", *OUTPUTS])
                  if p.resolve() != config.path)  # (not the config file itself: --config OUT/config.yaml)
    write_csv(df, args.out / "runs.csv")
    fit = fits.fit_runs(df, x="n_synth", y="test_err", by=args.by)
    write_fits_json(fit, args.out / "fits.json")
    figures = fits.plot_scaling(df, fit, args.out / "scaling.png")
    wall_s = time.time() - t0
    _write_provenance(args, wall_s, df, config, config.write(args.out / "config.yaml"))
    print(fits.summary_table(fit))
    print(f"\n{len(df)} rows in {wall_s / 60:.1f} min. Results: {args.out}/runs.csv, fits.json, "
          + ", ".join(p.name for p in figures) + ", config.yaml, PROVENANCE.md")
    return rc


class _RanConfig:
    """The config a demo runs, for OUT/config.yaml: the sweep with every run field written out
    (defaults, --data-root) and its grid, which `--config` reads back as the same cells, under a
    comment naming the file it came from and that file's sha256. PROVENANCE.md named the config only
    as given (`config: study.yaml`), so a config edited in place left no record of what was run."""

    def __init__(self, config: str, overrides: dict) -> None:
        from bench.commands import resolve_config
        from bench.config import written_out

        self.path = resolve_config(config).resolve()
        self.sha256 = hashlib.sha256(self.path.read_bytes()).hexdigest()
        self.fields = written_out(self.path, overrides)

    @property
    def shown(self) -> str:
        """The config file's path as the outputs name it: from the repository's root for a file inside
        it (the packaged configs; no machine's folders in a committed PROVENANCE.md), else absolute."""
        from bench.config import REPO_ROOT

        return str(self.path.relative_to(REPO_ROOT)) if self.path.is_relative_to(REPO_ROOT) else str(self.path)

    def differs_from(self, earlier: Path) -> list[str] | None:
        """The top-level fields in which an earlier config.yaml in --output (an earlier demo's, or a
        study's) differs from this config ([] when it cannot be read); None when there is none, it
        says the same, or it is this config's own file (a committed result's config.yaml)."""
        from bench.config import read_yaml, written_out

        if not earlier.is_file() or earlier.resolve() == self.path:
            return None
        try:
            before = written_out(earlier)  # the same cells in other words (defaults left out) are the same
        except (UserError, OSError):  # a field this version no longer knows: compared as written
            try:
                before = read_yaml(earlier)
            except (UserError, OSError):
                return []
        differ = [k for k in dict.fromkeys([*self.fields, *before]) if before.get(k) != self.fields.get(k)]
        return differ or None

    def text(self) -> str:
        import yaml

        return (f"# The config this demo ran, every field written out; `synthscale demo --config` reads it.\n"
                f"# From {self.shown} (sha256 {self.sha256}).\n" + yaml.safe_dump(self.fields, sort_keys=False))

    def write(self, path: Path) -> str:
        """Write config.yaml; what PROVENANCE.md says of it."""
        if path.resolve() == self.path:  # not over the config file itself (--config OUT/config.yaml)
            return "config.yaml is that file"
        path.write_text(self.text())
        return "every field as run: config.yaml"


def _machine() -> str:
    from synth.benchmark import machine

    m = machine()
    return (f"{platform.system()} {platform.machine()}, {m['cores']} cores {m['cpu']}, "
            f"Python {m['python']}, torch {m['torch']}")


def _write_provenance(args: argparse.Namespace, wall_s: float, df, config: _RanConfig, written: str) -> None:
    cmd = " ".join(shlex.quote(a) for a in ["synthscale"] + sys.argv[1:])
    # `make demo` runs `synthscale demo` with no options; any option makes it the user's own command
    what = " (what `make demo` runs after set-up)" if sys.argv[1:] == ["demo"] else ""
    cpu_s = float(df["cpu_s"].sum()) if "cpu_s" in df else float("nan")
    load = " ".join(f"{x:.1f}" for x in os.getloadavg())
    text = (f"# Provenance of these outputs\n\n"
            f"- command: `{cmd}`{what}\n"
            f"- config: `{args.config}`\n"
            f"- config file: `{config.shown}`, sha256 {config.sha256}; {written}\n"
            f"- machine: {_machine()}\n"
            f"- wall time of the sweep, fit and plot: {wall_s:.0f} s ({len(df)} rows; cells already "
            f"finished under the root are not rerun)\n"
            f"- CPU time of the runs (sum over rows): {cpu_s:.0f} CPU-s\n"
            f"- load average at the end (1, 5, 15 min): {load}\n"
            f"- finished: {time.strftime('%Y-%m-%d %H:%M:%S %Z')}\n")
    (args.out / "PROVENANCE.md").write_text(text)
