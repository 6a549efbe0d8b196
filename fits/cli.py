"""`synthscale fit | plot | compare | fit-bench`: the fits package's subcommands."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import pandas as pd

from fits.errors import FitInputError
from fits.laws import LAWS


def read_runs(path: str | Path) -> pd.DataFrame:
    """The runs table at `path`, or a one-line FitInputError."""
    try:
        df = pd.read_csv(path)
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise FitInputError(f"cannot read runs table {path}: {exc}") from None
    return df.rename(columns=lambda c: c.strip() if isinstance(c, str) else c)  # "a, b" headers from spreadsheets


def read_json(path: str | Path) -> dict:
    """A fits.json written by `fit`, or a one-line FitInputError."""
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise FitInputError(f"cannot read fits file {path}: {exc}") from None


def out_file(path: str | Path) -> Path:
    """`path` as an output file: its folder created now, or a one-line FitInputError (a folder in
    the way, a path that cannot be created), before any work that would be lost."""
    out = Path(path)
    if out.is_dir():
        raise FitInputError(f"output {out} is a folder; give a file path")
    out_dir(out.parent)
    return out


def out_dir(path: str | Path) -> Path:
    """`path` as an output folder, created now, or a one-line FitInputError."""
    out = Path(path)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise FitInputError(f"cannot create output folder {out}: {exc.strerror or exc}") from None
    return out


def write_text_report(out: Path, name: str, text: str, written: list[Path]) -> int:
    """Write `text` to out/name, print it and every file written (`written` plus this one); 0."""
    (out / name).write_text(text + "\n")
    print(text)
    print("wrote " + ", ".join(str(p) for p in [*written, out / name]))
    return 0


def cmd_fit(args: argparse.Namespace) -> int:
    """Fit one curve per group and write fits.json; print the summary table."""
    from fits.table import fit_runs, summary_table, write_fits_json

    out = out_file(args.output)
    res = fit_runs(read_runs(args.runs), args.x, args.y, args.by, args.law)
    write_fits_json(res, out)
    print(summary_table(res))
    print(f"wrote {out}")
    return 0


def cmd_plot(args: argparse.Namespace) -> int:
    """Draw the scaling plot from runs.csv and fits.json."""
    from fits.plot import plot_scaling

    paths = plot_scaling(read_runs(args.runs), read_json(args.fits), out_file(args.output))
    print("wrote " + ", ".join(str(p) for p in paths))
    return 0


def add_table_args(p: argparse.ArgumentParser, by: bool = True) -> None:
    """runs, --x, --y (and --by): the arguments every table-reading subcommand shares."""
    p.add_argument("runs", help="runs table (CSV), e.g. runs.csv from `synthscale collect`")
    p.add_argument("--x", default="n_synth", help="size column (default n_synth; rows with 0 = scratch)")
    p.add_argument("--y", default="test_err", help="error column (default test_err)")
    if by:
        p.add_argument("--by", default="complexity", help="group column, one curve per value (default complexity)")


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the fits subcommands to a `synthscale`-style parser."""
    p = subparsers.add_parser("fit", help="fit a scaling law per group -> fits.json",
                              description="Fit L(x) = law per group (x > 0 rows; x = 0 is the scratch "
                                          "baseline), with bootstrap intervals over seeds, a holdout "
                                          "score and diagnostics.")
    add_table_args(p)
    p.add_argument("--law", default="power_floor", choices=sorted(LAWS), help="law (default power_floor)")
    p.add_argument("-o", "--output", default="fits.json", help="output JSON (default fits.json)")
    p.set_defaults(func=cmd_fit)

    p = subparsers.add_parser("plot", help="log-log scaling plot from runs.csv + fits.json",
                              description="Points by seed, fitted curve with 95 % band per group, "
                                          "scratch baseline as a horizontal line; writes .png and .pdf.")
    p.add_argument("runs", help="runs table (CSV)")
    p.add_argument("fits", help="fits.json written by `fit`")
    p.add_argument("-o", "--output", default="scaling.png", help="output .png (a .pdf goes beside it)")
    p.set_defaults(func=cmd_plot)
    from fits import bench, bound, compare, paper  # imported here: they import this module's helpers

    compare.register(subparsers)
    bound.register(subparsers)
    bench.register(subparsers)
    paper.register(subparsers)


def main(argv: list[str] | None = None) -> int:
    """`python -m fits`: the same subcommands without the rest of synthscale."""
    import sys

    parser = argparse.ArgumentParser(prog="python -m fits", description="Fit, plot and compare scaling laws.")
    register(parser.add_subparsers(dest="command", metavar="COMMAND", required=True))
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except FitInputError as exc:
        print(f"fits: error: {exc}", file=sys.stderr)
        return 2
