"""`synthscale fit | plot | compare | fit-bench`: the fits package's subcommands."""
from __future__ import annotations

import argparse
import functools
import json
import re
import sys
import tempfile
from pathlib import Path
from typing import Callable, Iterable, Sequence

import numpy as np
import pandas as pd

from fits.errors import FitInputError, cli_spelling, did_you_mean
from fits.laws import AUTO, LAWS


def _first_line(path: str | Path) -> str:
    """The file's first line ('' if it cannot be read as text)."""
    try:
        with open(path, encoding="utf-8") as fh:
            return fh.readline()
    except (OSError, UnicodeDecodeError):
        return ""


def _other_separators(header: str) -> list[str]:
    """'tabs' and/or 'semicolons' when a header line without commas holds them."""
    return [] if "," in header else [name for sep, name in (("\t", "tabs"), (";", "semicolons")) if sep in header]


def _separator_error(path: str | Path, seps: str) -> FitInputError:
    return FitInputError(f"runs table {path} reads as one column: it is separated by {seps}, not commas; "
                         "save it as CSV (comma-separated)")


def read_runs(path: str | Path) -> pd.DataFrame:
    """The runs table at `path`, or a one-line FitInputError."""
    if _starts_like_json(path):  # `plot fits.json runs.csv`: pandas' tokenizing error, or a wrong hint
        raise FitInputError(f"{path} is a JSON file, not a runs table: give the CSV that `synthscale collect` "
                            "writes (plot takes the runs table first, then the fits.json)")
    try:
        df = pd.read_csv(path)
    except pd.errors.EmptyDataError:  # pandas: "No columns to parse from file"
        raise FitInputError(f"runs table {path} is empty; give the table of finished runs "
                            "(`synthscale collect --root ROOT -o runs.csv` writes one)") from None
    except pd.errors.ParserError as exc:
        # a tab-separated runs table: its knobs JSON has commas, which split some rows into fields
        if seps := _other_separators(_first_line(path)):
            raise _separator_error(path, seps[0]) from None
        raise FitInputError(f"cannot read runs table {path}: it is not a CSV table of runs (pandas: "
                            f"{' '.join(str(exc).split())})") from None
    except OSError as exc:
        raise FitInputError(f"cannot read runs table {path}: {exc}") from None
    except UnicodeDecodeError as exc:  # an image or a file saved in another encoding
        raise FitInputError(f"cannot read runs table {path}: it is not UTF-8 text (it has byte "
                            f"{exc.object[exc.start]:#x}); give a CSV file saved as UTF-8") from None
    # one column whose name has no tab or semicolon (those have their own line below): a YAML or a
    # text file, as a runs table has 2+ columns
    if len(df.columns) == 1 and not any(sep in str(df.columns[0]) for sep in "\t;"):
        raise FitInputError(f"cannot read runs table {path}: it is not a CSV table of runs (its first line has "
                            "no commas); give the CSV that `synthscale collect` writes")
    if df.empty:
        raise FitInputError(f"runs table {path} has a header but no rows; give the table of finished runs "
                            "(`synthscale collect --root ROOT -o runs.csv` writes one)")
    if not df.index.equals(pd.RangeIndex(len(df))):  # pandas makes the first column the index then
        raise FitInputError(f"runs table {path}: its rows have more fields than its header has names (a comma "
                            "at the end of each row?); remove the extra fields or name them in the header")
    seps = _other_separators(str(df.columns[0]))
    if len(df.columns) == 1 and seps:
        raise _separator_error(path, seps[0])
    df = df.rename(columns=lambda c: c.strip() if isinstance(c, str) else c)  # "a, b" headers from spreadsheets
    names = list(df.columns)
    twice = next((c for c in names if names.count(c) > 1), None)
    if twice is not None:  # "x" and "x " become one name: every column lookup would be ambiguous
        raise FitInputError(f"runs table {path} has the column {twice!r} twice (after trimming spaces from the "
                            "header); rename or drop one of them")
    return df


DEFAULT_BY = "complexity"


# --x, --y and bound's --s: their defaults are synthscale's column names, with what each column holds
COLUMN_OPTIONS = {"x": ("n_synth", "size"), "y": ("test_err", "error"), "s": ("n_real", "fine-tuning size")}


_LEADING_ZERO = re.compile(r"^[+-]?0\d")


def keep_labels(df: pd.DataFrame, path: str | Path, columns: Sequence[str]) -> pd.DataFrame:
    """`df` with its label `columns` (groups, seeds) as the file writes them where pandas' reading
    changed them, spaces around them trimmed ("A " and "A" are one group, as headers are). pandas reads
    a label column as numbers when it can, and "None", "NA" or "null" as missing: groups "01" and "1"
    became one group 1 (a false repeat) and "01" was written back as 1, and a condition named "None" was
    refused as empty. A column of numbers with a leading zero (01, 007: identifiers, not quantities) is
    kept as text; a text column keeps "None" and "NA" as names. A column of numbers stays numbers (they
    sort by value): 1 and 1.0 are one group, as a table written partly by `collect` (1) and partly by
    pandas (1.0, beside blank scratch rows) holds them, and NA in it is a blank, as R writes one."""
    columns = [c for c in dict.fromkeys(columns) if c in df.columns]
    if not columns:
        return df
    wanted = set(columns)  # only these columns, read again as text: a large table is not parsed twice
    raw = pd.read_csv(path, dtype=str, keep_default_na=False,
                      usecols=lambda c: (c.strip() if isinstance(c, str) else c) in wanted)
    raw = raw.rename(columns=lambda c: c.strip() if isinstance(c, str) else c)
    df = df.copy()
    for c in columns:
        text = raw[c].str.strip()
        given = text != ""
        parsed = df[c]
        if pd.api.types.is_bool_dtype(parsed):
            continue
        read_missing = given & parsed.isna()  # "NA", "None", "null": a name, or a blank spelt out
        names = bool(read_missing.any())
        if pd.api.types.is_numeric_dtype(parsed):  # every other value a number: such words are blanks
            names = given.any() and bool(read_missing[given].all())  # unless they are all there is
            as_text = names or bool(text[given & ~read_missing].str.match(_LEADING_ZERO).any())
        else:
            as_text = names
        if as_text:
            df[c] = text.where(given & (names | ~read_missing), np.nan).astype(object)
        elif not pd.api.types.is_numeric_dtype(parsed):
            df[c] = parsed.map(lambda v: v.strip() if isinstance(v, str) else v)
    return df


def repeated_rows_note(df: pd.DataFrame) -> str | None:
    """A note when rows repeat another row in every column and no seed or run_id column tells runs
    apart: such a table is fitted as replicates (a repeat counts twice and narrows the intervals), and
    whole-row copies are more often a table concatenated with itself than two equal measurements."""
    if "seed" in df.columns or "run_id" in df.columns:
        return None  # fits.table.check_repeats refuses repeats there
    copies = int(df.duplicated(keep="first").sum())
    if not copies:
        return None
    return (f"note: {copies} row(s) repeat another row in every column and the table has no seed column: "
            "each is fitted as one more replicate, which narrows the intervals; if they are copies (a table "
            "concatenated twice), drop them (pandas: df.drop_duplicates()); if they are runs, give them a seed column")


def read_table(args: argparse.Namespace) -> pd.DataFrame:
    """read_runs(args.runs), refusing in one line a table without a column that an option left at its
    default names (a table not written by synthscale): it says which option names that column. Its
    --by and --seed columns keep their labels as written (keep_labels)."""
    df = read_runs(args.runs)
    for opt, (default, what) in COLUMN_OPTIONS.items():
        if getattr(args, opt, None) == default and default not in df.columns:
            raise FitInputError(f"column {default!r} (the default --{opt}) is not in {args.runs}: name its {what} "
                                f"column with --{opt} COLUMN; it has {list(df.columns)}")
    seed = getattr(args, "seed", "seed")
    from fits.table import by_columns

    df = keep_labels(df, args.runs, [*by_columns(getattr(args, "by", None), df.columns), seed])
    if seed != "seed":  # a table from another tool: its seeds under another name ('rep'), read as seeds
        if seed not in df.columns:
            raise FitInputError(f"--seed {seed!r} is not a column of {args.runs}; it has {list(df.columns)}")
        if "seed" in df.columns:
            raise FitInputError(f"--seed {seed!r}: {args.runs} has a 'seed' column too; drop or rename one of them")
        df = df.rename(columns={seed: "seed"})
    if note := repeated_rows_note(df):
        print(note, file=sys.stderr)
    return df


SEED_HELP = ("seed column (default seed): rows of one seed share an offset in the bootstrap and a marker in "
             "plots; a table without it is fitted as independent replicates")
PLOT_SEED_HELP = ("seed column, one marker per seed (default: the column `fit` was given with --seed, which "
                  "fits.json records as seed_column, else seed)")


def read_grouped(args: argparse.Namespace) -> pd.DataFrame:
    """read_table(args), refusing in one line a table without the default --by column (a table
    not written by synthscale): it says how to name the grouping, or to fit one curve."""
    df = read_table(args)
    if args.by == DEFAULT_BY and DEFAULT_BY not in df.columns:
        raise FitInputError(f"column {DEFAULT_BY!r} (the default --by) is not in {args.runs}: name the column "
                            "whose values get one curve each with --by COLUMN, or give --by '' for one curve "
                            "over the whole table")
    return df


def by_arg(text: str) -> str | None:
    """--by as given; empty means no grouping (one curve over the whole table). An empty name in a
    list (`a,`, `,`) is refused: it named column '' twice, or a column that no table has."""
    if not text.strip():
        return None
    if any(not c.strip() for c in text.split(",")):
        raise argparse.ArgumentTypeError(f"{text!r} has an empty column name; name each column (a,b), "
                                         "or give '' for one curve over the whole table")
    return text.strip()


def _starts_like_json(path: str | Path) -> bool:
    """Whether the file's first non-blank character opens a JSON object or list (False if the file
    cannot be read: the caller's own read says why)."""
    try:
        with open(path, "rb") as f:
            return f.read(4096).lstrip()[:1] in (b"{", b"[")
    except OSError:
        return False


FITS_KEYS = ("x", "y", "by", "law", "groups")  # what `plot` reads from a fits.json


def read_json(path: str | Path) -> dict:
    """A fits.json written by `fit`, or a one-line FitInputError."""
    try:
        doc = json.loads(Path(path).read_text())
    except OSError as exc:
        raise FitInputError(f"cannot read fits file {path}: {exc}") from None
    except ValueError as exc:  # a runs table given for it (plot's two arguments swapped) said "Expecting value"
        raise FitInputError(f"fits file {path} is not JSON ({exc}): give the fits.json that `synthscale fit` "
                            "wrote (plot takes the runs table first, then the fits file)") from None
    groups = doc.get("groups") if isinstance(doc, dict) else None
    if not (isinstance(groups, dict) and all(k in doc for k in FITS_KEYS)
            and all(isinstance(g, dict) and "value" in g for g in groups.values())):
        raise FitInputError(f"{path} is not a fits file written by `fit` (it needs the keys {', '.join(FITS_KEYS)} "
                            "and a value per group): make one with `synthscale fit runs.csv -o fits.json`")
    return doc


def output_arg(text: str) -> str:
    """An argparse type for an output option (-o): the text as given (a trailing '/' still says "a
    folder"), refusing '' (it read as the current folder, and fit-bench then fell back to the
    committed report, which a partial run overwrote)."""
    if not text.strip():
        raise argparse.ArgumentTypeError("empty; give a path (. for this folder)")
    if text.strip() == "-":  # not standard output here: fit wrote a file named '-', plot '-.png'
        raise argparse.ArgumentTypeError("'-' (standard output) is not an output of this command; give a path")
    return text


def out_file(path: str | Path, inputs: Sequence[str | Path] = (), example: str = "fits.json") -> Path:
    """`path` as an output file: its folder created now (by out_dir: removed again if the command
    fails before writing), or a one-line FitInputError (a folder in the way, a path that cannot be
    created or written, one of the `inputs`), before any work that would be lost."""
    out = Path(path)
    if out.is_dir() or str(path).endswith(("/", "\\")):  # `-o new/` wrote a file named new
        raise FitInputError(f"output {path} is a folder; give a file path, e.g. {out / example}")
    for src in inputs:
        if out.exists() and Path(src).exists() and out.samefile(src):
            raise FitInputError(f"output {out} is also an input; writing it would destroy that input: "
                                "give another output path")
    if not out.exists():
        out_dir(out.parent)  # created and checked writable
        return out
    _check_writable(out)
    return out


def _check_writable(path: Path) -> None:
    """A one-line FitInputError unless the existing file `path` can be written (opened in append
    mode: checked without touching its contents)."""
    try:
        open(path, "ab").close()
    except OSError as exc:
        raise FitInputError(f"cannot write output {path}: {exc.strerror or exc}") from None


def check_outputs(out: Path, names: Sequence[str], what: str, flag: str = "-o") -> None:
    """Before the work: a one-line FitInputError when one of the files `what` writes into the folder
    `out` under a fixed name cannot be written there (a folder, or a file in place of a subfolder
    of that name); found only after every fit, it was a traceback and the work was lost. `flag`:
    the option that names `out`."""
    for name in names:
        path = out / name
        folder = name.endswith("/")
        try:
            in_the_way, is_file = path.is_dir() != folder and path.exists(), path.is_file()
        except OSError as exc:  # e.g. a name too long for the file system: it was a traceback
            raise FitInputError(f"cannot write output {path}: {exc.strerror or exc}") from None
        if in_the_way:
            kind = "a file" if folder else "a folder"
            raise FitInputError(f"{path} is {kind} where {what} writes its {'folder' if folder else 'file'} "
                                f"{name.rstrip('/')}: move it away or give another {flag}")
        if is_file:
            _check_writable(path)


def clear_outputs(paths: Iterable[Path]) -> None:
    """Remove the files a command is about to write, once its work is done and before it writes the first
    of them. Stopped between two of them (Ctrl-C, a kill, a full disk), it left new tables beside an old
    figure and report that described other numbers; now what is there is all new, and its report (each
    command writes it last) is missing while the set is unfinished."""
    for path in paths:
        if path.is_file() or path.is_symlink():
            path.unlink()


_MADE: list[Path] = []  # folders out_dir created for the command now running, outermost first


def out_dir(path: str | Path) -> Path:
    """`path` as an output folder, created now and checked writable, or a one-line FitInputError.
    A folder created here is removed again if the command then fails before writing in it (see
    keeps_no_empty_folder): a refused table leaves no empty output folder behind."""
    out = Path(path)
    new = []
    for folder in (out, *out.parents):
        if folder.exists():
            if not folder.is_dir():  # mkdir would say only "File exists"
                raise FitInputError(f"cannot create output folder {out}: {folder} is a file, not a folder")
            break
        new.insert(0, folder)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise FitInputError(f"cannot create output folder {out}: {exc.strerror or exc}") from None
    _MADE.extend(new)
    try:  # a temporary file, gone when closed: a folder we cannot write in fails now, not after the work
        tempfile.TemporaryFile(dir=out).close()
    except OSError as exc:
        raise FitInputError(f"cannot write in output folder {out}: {exc.strerror or exc}") from None
    return out


def remove_empty_folders(folders: Iterable[Path]) -> None:
    """Remove `folders` (innermost first) while they are empty: one with something in it is kept, and
    so are the folders after it (its parents). What a failed command does with the folders it made."""
    for folder in folders:
        try:
            folder.rmdir()
        except OSError:
            break


def keeps_no_empty_folder(func: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """The command `func`, run so that if it fails (a refused table, a failed fit, Ctrl-C) the
    folders out_dir created for it are removed again while they are still empty. The output is
    checked writable before the work, but a folder is only left behind with something in it."""
    @functools.wraps(func)
    def run(args: argparse.Namespace) -> int:
        _MADE.clear()
        try:
            return func(args)
        except BaseException:
            remove_empty_folders(reversed(_MADE))
            raise
        finally:
            _MADE.clear()
    return run


def tells_left_out_rows(func: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """The command `func`, run so that the rows the table's status leaves out (fits.table.left_out_note)
    are named in one note on stderr, once per command (its table is read again per group, and twice by plot)."""

    @functools.wraps(func)
    def run(args: argparse.Namespace) -> int:
        from fits.table import telling_left_out  # here, not at registration: `synthscale --help` stays quick

        told: list[str] = []

        def tell(note: str) -> None:
            if not told:
                told.append(note)
                print(f"note: {note}", file=sys.stderr)

        with telling_left_out(tell):
            return func(args)
    return run


def write_text_report(out: Path, name: str, text: str, written: list[Path]) -> int:
    """Write `text` to out/name, print it and every file written (`written` plus this one); 0."""
    (out / name).write_text(text + "\n")
    print(text)
    print("wrote " + ", ".join(str(p) for p in [*written, out / name]))
    return 0


# suffixes of other kinds of file: `fit -o` with one of them names a JSON file as a table, figure or text
NOT_JSON = (".csv", ".tsv", ".txt", ".md", ".png", ".pdf", ".svg", ".jpg", ".jpeg", ".yaml", ".yml", ".xlsx",
            ".parquet")


def cmd_fit(args: argparse.Namespace) -> int:
    """Fit one curve per group and write fits.json; print the summary table."""
    from fits.table import fit_runs, summary_table, write_fits_json

    out = out_file(args.output, inputs=[args.runs])
    # `-o keep.csv` replaced another runs table with JSON; a damaged fits.json is for `fit` to rewrite
    if out.is_file() and out.stat().st_size and out.suffix.lower() != ".json" and not _starts_like_json(out):
        raise FitInputError(f"output {out} exists and is not JSON, which `fit` would replace with its fits "
                            "file: give a path ending in .json, or move that file away")
    runs = read_grouped(args)  # (a table that cannot be read says so first)
    if Path(args.output).suffix.lower() in NOT_JSON:  # `-o fits.csv` wrote JSON under a table's name
        raise FitInputError(f"output {args.output}: `fit` writes its fits as JSON, which a "
                            f"{Path(args.output).suffix} name would misdescribe; give a path ending in .json, e.g. "
                            f"{Path(args.output).with_suffix('.json')} (the table it prints is in that file too)")
    res = fit_runs(runs, args.x, args.y, args.by, args.law)
    if args.seed != "seed" and "seed" in runs.columns:  # read_table named it seed: plot reads it again by this
        res = {**res, "seed_column": args.seed}
    write_fits_json(res, out)
    print(summary_table(res))
    print(f"wrote {out}")
    return 0


def cmd_plot(args: argparse.Namespace) -> int:
    """Draw the scaling plot from runs.csv and fits.json."""
    from fits.errors import one_line
    from fits.plot import figure_paths, plot_scaling, rows_without_a_fit
    from fits.table import by_columns, label

    figure = figure_paths(args.output)  # the asked file (.png without a suffix) and the .pdf beside it
    for out in figure:
        out_file(out, inputs=[args.runs, args.fits], example="scaling.png")
    doc = read_json(args.fits)
    if args.seed == "seed" and isinstance(doc.get("seed_column"), str):  # fit's --seed, unless given here
        args.seed = doc["seed_column"]
    runs = read_table(args)
    runs = keep_labels(runs, args.runs, by_columns(doc["by"], runs.columns))  # read as `fit` read them
    try:
        paths = plot_scaling(runs, doc, figure[0])
    except FitInputError:  # its own one line (a table that is not the fit's), not "write it again"
        raise
    except (KeyError, TypeError, ValueError) as exc:  # a fits.json edited by hand: a field gone or of another type
        raise FitInputError(f"{args.fits}: a field is missing or not as `fit` writes it ({type(exc).__name__}: "
                            f"{exc}); write it again with `synthscale fit`") from None
    print("wrote " + ", ".join(str(p) for p in paths))
    left = rows_without_a_fit(runs, doc)
    if len(left):  # a fit of part of the table: say what the figure does not show
        by = doc["by"]
        values = sorted({label(v) for v in left[by]}) if by else []
        shown = ", ".join(values[:5]) + (", ..." if len(values) > 5 else "")
        print(f"note: {len(left)} row(s) of the table are in no group of {args.fits} and are not drawn"
              + (f" ({one_line(by)} = {shown})" if by else "") + "; fit the whole table to draw them",
              file=sys.stderr)
    return 0


def add_table_args(p: argparse.ArgumentParser, by: bool = True) -> None:
    """runs, --x, --y (and --by): the arguments every table-reading subcommand shares."""
    p.add_argument("runs", help="runs table (CSV), e.g. runs.csv from `synthscale collect`")
    p.add_argument("--x", default=COLUMN_OPTIONS["x"][0], help="size column (default n_synth; rows with 0 = scratch)")
    p.add_argument("--y", default=COLUMN_OPTIONS["y"][0], help="error column (default test_err)")
    p.add_argument("--seed", default="seed", help=SEED_HELP)
    if by:
        p.add_argument("--by", default=DEFAULT_BY, type=by_arg,
                       help=f"group column, one curve per value (default {DEFAULT_BY}); a,b groups by both "
                            "(e.g. condition,target); '' fits one curve over the whole table; a group mixing "
                            "other design columns is refused")


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the fits subcommands to a `synthscale`-style parser."""
    before = set(subparsers.choices)
    p = subparsers.add_parser("fit", help="fit a scaling law per group -> fits.json",
                              description="Fit L(x) = law per group (x > 0 rows; x = 0 is the scratch "
                                          "baseline), with bootstrap intervals over seeds, a holdout "
                                          "score and diagnostics.")
    add_table_args(p)
    one_size = [k for k in sorted(LAWS) if LAWS[k].n_inputs == 1]  # transfer_bound: `synthscale bound`
    p.add_argument("--law", default="power_floor", choices=[*sorted(LAWS), AUTO],
                   metavar="{" + ",".join([*one_size, AUTO]) + "}",
                   help=f"law (default power_floor; {AUTO}: per group, the law that best predicts its "
                        "largest sizes from the rest, fits.select; the transfer bound over n and s is "
                        "`synthscale bound`)")
    p.add_argument("-o", "--output", default="fits.json", type=output_arg, help="output JSON (default fits.json)")
    p.set_defaults(func=cmd_fit)

    p = subparsers.add_parser("plot", help="log-log scaling plot from runs.csv + fits.json",
                              description="Points by seed, fitted curve with 95 % band per group, "
                                          "scratch baseline as a horizontal line; writes the -o figure and "
                                          "a .pdf beside it.")
    p.add_argument("runs", help="runs table (CSV)")
    p.add_argument("fits", help="fits.json written by `fit`")
    p.add_argument("--seed", default="seed", help=PLOT_SEED_HELP)
    p.add_argument("-o", "--output", default="scaling.png", type=output_arg,
                   help="output figure (default scaling.png): .png, .jpg, .svg, ... by its suffix (a .pdf goes "
                        "beside it)")
    p.set_defaults(func=cmd_plot)
    from fits import bench, bound, compare, paper  # imported here: they import this module's helpers

    compare.register(subparsers)
    bound.register(subparsers)
    bench.register(subparsers)
    paper.register(subparsers)
    for name in set(subparsers.choices) - before:  # every fits command, wherever it is defined
        p = subparsers.choices[name]
        p.set_defaults(func=keeps_no_empty_folder(tells_left_out_rows(p.get_default("func"))))


class _OneLineParser(argparse.ArgumentParser):
    """argparse with its errors in one line, as synthscale's (synth.console, which fits may not
    import): the usage block came first, 10-15 lines before the one that says what is wrong; options
    only as spelled out (prefix matching read `fit --s fratio`, an option of `bound`, as --seed)."""

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def main(argv: list[str] | None = None) -> int:
    """`python -m fits`: the same subcommands without the rest of synthscale."""
    parser = _OneLineParser(prog="python -m fits", description="Fit, plot and compare scaling laws.")
    register(parser.add_subparsers(dest="command", metavar="COMMAND", required=True))
    args, extra = parser.parse_known_args(argv)
    if extra:  # argparse finds these at the top, whose --help does not list the subcommand's options
        where = f"{parser.prog} {args.command}"  # the subcommand's prog, as argparse names it
        parser.exit(2, f"{parser.prog}: error: unrecognized arguments: {' '.join(extra)}"
                       f"{did_you_mean(parser, where, extra)} (see {where} --help)\n")
    try:
        with cli_spelling():  # hints spell settings as options (--by complexity), not as the API's by=
            return int(args.func(args) or 0)
    except BrokenPipeError:  # `python -m fits fit ... | head`: the reader has gone, the files are written
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # or exit's flush fails again
        return 141  # what a shell reports for a process ended by SIGPIPE
    except FitInputError as exc:
        print(f"{parser.prog}: error: {exc}", file=sys.stderr)  # as synthscale names itself
        return 2
    except KeyboardInterrupt:  # one line, as under `synthscale` (a 40-line traceback before)
        print(f"{parser.prog}: interrupted; this command does not resume: run it again to start over", file=sys.stderr)
        return 130
