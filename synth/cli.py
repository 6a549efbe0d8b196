"""`synthscale synth preview|bench|export|list` (also `python -m synth preview|bench|export|list`)."""
from __future__ import annotations

import argparse
import io
import json
import math
import os
import shlex
import sys
import time
from pathlib import Path
from typing import Any, Sequence

from tqdm import tqdm

import synth
from synth.console import check_writable, counted, file_in_the_way, parse_assignments, path_arg
from synth.errors import UserError


BENCH_OUT = Path("results/synth_bench.md")  # the committed table: every family, default sizes
BENCH_RESOLUTIONS = [64, 224]


def parse_knobs(items: Sequence[str]) -> dict[str, Any]:
    """['n_categories=50', 'clutter=0.5'] -> {'n_categories': 50, 'clutter': 0.5}."""
    return parse_assignments(items, "--knob", "clutter=0.5")


def n_levels(name: str) -> int:
    """Number of complexity levels of a registered family."""
    cls = synth.GENERATORS.get(name)
    levels = getattr(cls, "n_levels", None)
    if levels is None:
        levels = len(getattr(sys.modules[cls.__module__], "PRESETS", [None]))
    return int(levels)


def check_out_file(path: Path, flag: str, title: str | None = None) -> None:
    """`path` can be written as a file: its folder is created now, and a folder in the way or a
    folder nothing can be written in is a UserError before the work, not a traceback after it.
    `title`: the first line of the report written there; an existing file that does not start with
    it (a runs table, another report) is refused instead of overwritten."""
    if path.is_dir():
        raise UserError(f"{flag} {str(path)!r} is a folder; give a file path")
    if title is not None and path.is_file():
        try:
            with path.open(encoding="utf-8", errors="replace") as fh:
                first = fh.readline().rstrip("\n")
        except OSError:
            first = None
        if first != title:
            raise UserError(f"{flag} {str(path)!r} exists and is not a report of this command (its first line is "
                            f"not {title!r}); give a new path, or remove the file first")
    above = file_in_the_way(path)
    if above is not None:
        raise UserError(f"cannot write {flag} {str(path)!r}: {str(above)!r} is a file, not a folder; give a "
                        "path in a folder")
    check_writable(path.parent, lambda why: f"cannot write {flag} {str(path)!r}: {why}; give a writable path",
                   file=path)


def check_out_dir(path: Path, flag: str) -> None:
    """`path` can be written as a folder (created now), or a UserError before the work."""
    if path.exists() and not path.is_dir():
        raise UserError(f"{flag} {str(path)!r} is a file; give a folder path (it is created if missing)")
    check_writable(path, lambda why: f"cannot write in {flag} {str(path)!r}: {why}; give a writable folder")


def _bar(total: int, desc: str) -> tqdm:
    """A progress bar on a terminal, silent otherwise."""
    return tqdm(total=total, desc=desc, unit="img", disable=not sys.stderr.isatty())


def cmd_preview(args: argparse.Namespace) -> int:
    """Write a labelled grid: one row per complexity level."""
    from PIL import Image

    from synth.core import make_dataset
    from synth.preview import check_grid_size, parse_levels, write_preview

    synth.GENERATORS.get(args.generator)
    top = n_levels(args.generator)
    levels = parse_levels(f"0..{top - 1}" if args.complexity is None else args.complexity, top, args.generator)
    if args.n < 1:
        raise UserError(f"--n must be a positive number of samples per level, got {args.n}")
    for level in levels:  # the generator's own checks, at every level: a knob may clash with a later preset
        try:
            make_dataset(args.generator, 0, seed=args.seed, resolution=args.resolution, complexity=level,
                         channels=args.channels, **parse_knobs(args.knob))
        except UserError as err:
            if level == levels[0] or not args.knob:  # wrong at every level: the knob itself
                raise
            # "objects_min (2) must not exceed objects_max (1)" named a knob the user never set: level 7's preset
            raise UserError(f"--knob {' '.join(args.knob)} at {args.generator} complexity {level}, whose preset sets "
                            f"the knobs not given: {err} (preview fewer levels with --complexity)") from None
    check_grid_size(len(levels), args.n, args.resolution)  # before -o's folder is created
    ext = args.output.suffix.lower()
    fmt = Image.registered_extensions().get(ext)
    if args.output.is_dir() or fmt not in Image.SAVE:
        what = "is a directory" if args.output.is_dir() else f"has no known image extension ({ext or 'none'})"
        raise UserError(f"-o {str(args.output)!r} {what}; give an image file such as grid.png")
    try:  # PIL lists formats it cannot write an RGB grid in (.emf/.wmf without a handler, .h5, .xbm ...)
        Image.new("RGB", (2, 2)).save(io.BytesIO(), format=fmt)
    except (OSError, ValueError, KeyError) as err:
        raise UserError(f"-o {str(args.output)!r}: cannot write an RGB image as {fmt} ({' '.join(str(err).split())}); "
                        "give an image file such as grid.png") from None
    check_out_file(args.output, "-o")
    path = write_preview(args.output, args.generator, levels, n_per_level=args.n,
                         resolution=args.resolution, seed=args.seed, channels=args.channels,
                         **parse_knobs(args.knob))
    print(f"wrote {path}")
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    """Measure images per wall-second and per CPU-second; write the markdown table."""
    import torch

    from synth.benchmark import REPORT_TITLE, markdown, measure, median_of_rounds

    for bad, what in ((args.rounds < 1, f"--rounds: must be at least 1, got {args.rounds}"),
                      (not 0 < args.min_cpu_s < math.inf,
                       f"--min-cpu-s: must be a finite number above 0, got {args.min_cpu_s}"),
                      (args.threads < 1, f"--threads: must be at least 1, got {args.threads}")):
        if bad:  # each option named alone (one message for all three left the user to find which)
            raise UserError(what)
    names = list(dict.fromkeys(args.generator or synth.GENERATORS.names()))  # each once: repeats pooled rounds
    args.resolution = list(dict.fromkeys(args.resolution or BENCH_RESOLUTIONS))  # each once, as the names
    for name in names:
        synth.GENERATORS.get(name)
    if args.complexity is not None:
        args.complexity = one_level(args.complexity, "bench", "run it once per level, each with its own --output")
    _check_partial_bench(args, names)
    cells = [(name, res, args.complexity if args.complexity is not None else n_levels(name) - 1)
             for name in names for res in args.resolution]
    for name, res, level in cells:  # the generators' own checks, before minutes of measuring
        synth.GENERATORS.get(name)(resolution=res, complexity=level)
    if str(args.out) != "-":
        check_out_file(args.out, "--output", REPORT_TITLE)
    torch.set_num_threads(args.threads)
    load_before, t0 = os.getloadavg(), time.perf_counter()
    rounds: dict[tuple, list] = {cell: [] for cell in cells}
    for k in range(args.rounds):
        for name, res, level in cells:
            rec = measure(name, res, level, min_cpu_s=args.min_cpu_s)
            rounds[(name, res, level)].append(rec)
            if not args.json:
                print(f"round {k + 1}/{args.rounds} {name:>10} {res:4d}px lv{level}: "
                      f"{rec.images_per_s:9.0f} img/s {rec.images_per_cpu_s:9.0f} img/CPU-s "
                      f"(setup {rec.setup_s} s)", flush=True)
    records = [median_of_rounds(rounds[cell]) for cell in cells]
    if not args.json and args.rounds > 1:
        for r in records:
            print(f"median {r.generator:>10} {r.resolution:4d}px lv{r.complexity}: "
                  f"{r.images_per_s:9.0f} img/s {r.images_per_cpu_s:9.0f} img/CPU-s "
                  f"(range {r.cpu_rate_min:.0f}-{r.cpu_rate_max:.0f})")
    env = "".join(f"{k}={shlex.quote(os.environ[k])} " for k in ("SYNTHSCALE_KEEP_FREED_MB",)
                  if k in os.environ)   # settings that change the figures are part of the command
    command = getattr(args, "command_line", None) or \
        env + "synthscale " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    text = markdown(records, command, load_before, os.getloadavg(),
                    time.perf_counter() - t0)
    if str(args.out) != "-":
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text)
    if args.json:
        print(json.dumps([r.as_dict() for r in records], indent=1))
    elif str(args.out) != "-":
        print(f"wrote {args.out}")
    return 0


def _check_partial_bench(args: argparse.Namespace, names: Sequence[str]) -> None:
    """A subset of the benchmark may not overwrite the committed table of every family."""
    partial = [flag for flag, is_partial in (
        ("--generator " + " ".join(names), sorted(set(names)) != synth.GENERATORS.names()),
        (f"--complexity {args.complexity}", args.complexity is not None),
        ("--resolution " + " ".join(map(str, args.resolution)), sorted(args.resolution) != sorted(BENCH_RESOLUTIONS)),
    ) if is_partial]
    # the committed table wherever the command runs from (a relative BENCH_OUT missed it from results/)
    committed = {BENCH_OUT.resolve(), (Path(__file__).resolve().parents[1] / BENCH_OUT).resolve()}
    if partial and Path(args.out).resolve() in committed:
        raise UserError(f"synth bench {' '.join(partial)} measures part of the benchmark and would "
                        f"overwrite {BENCH_OUT}, the table of every family: pass --output FILE (or --output -)")


def one_level(text: str | int, command: str, each: str) -> int:
    """export's and bench's --complexity: one integer level; a range or list is a UserError
    (argparse's own type error printed the whole usage block). `each` says how to do several."""
    try:
        return int(text)
    except ValueError:
        raise UserError(f"synth {command} takes one --complexity level, an integer such as 3, got {text!r}; "
                        f"{each} (preview takes ranges)") from None


def cmd_export(args: argparse.Namespace) -> int:
    """Write n images as PNG folders or shards with a checksummed manifest (resumable)."""
    from synth.core import make_dataset
    from synth.export import FORMATS, check_chunk_size, export

    if args.n <= 0:
        raise UserError(f"--n must be a positive number of images, got {args.n}")
    args.complexity = one_level(args.complexity, "export", "export each level into its own -o folder")
    make_dataset(args.generator, 0, seed=args.seed, resolution=args.resolution, complexity=args.complexity,
                 channels=args.channels, **parse_knobs(args.knob))  # its own checks, before -o is created
    check_chunk_size(args.chunk_size)
    if args.format not in FORMATS:  # before -o is created: it left an empty folder
        raise UserError(f"--format must be one of {', '.join(FORMATS)}, got {args.format!r}")
    check_out_dir(args.output, "-o")
    manifest_file = args.output / "manifest.json"
    with _bar(args.n, f"export {args.generator}") as bar:
        manifest, new = export(args.output, args.generator, args.n, seed=args.seed, fmt=args.format,
                                 chunk_size=args.chunk_size, progress=bar.update,
                                 resolution=args.resolution, complexity=args.complexity,
                                 channels=args.channels, **parse_knobs(args.knob))
    if new is not None:
        kept = len(manifest["files"]) - new
        print(f"wrote {counted(new, 'file')} and {manifest_file}" + (f" ({kept} more kept from the interrupted export)"
                                                          if kept else ""))
    else:  # the same export, finished before
        print(f"already complete: {len(manifest['files'])} files and {manifest_file} (nothing written)")
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    """Print each registered generator with its levels and resolved knobs at level 0, then one
    line per knob: type, valid range, value at each level and what it does."""
    for name in synth.GENERATORS.names():
        cls = synth.GENERATORS.get(name)
        gen = cls()
        print(f"{name}: {n_levels(name)} levels, {gen.n_classes} classes at level 0; "
              f"knobs: {json.dumps(gen.knobs())}")
        for knob in getattr(cls, "KNOBS", ()):
            levels = " / ".join(f"{preset[knob.name]:g}" for preset in cls.PRESETS)
            print(f"  {knob.name}: {knob.kind.__name__} in [{knob.lo:g}, {knob.hi:g}], "
                  f"levels {levels}; {knob.doc}")
    return 0


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--generator", default="shapes",
                   help="registered generator name (default shapes; `synthscale synth list` lists them)")
    p.add_argument("--resolution", type=int, default=64, help="image side in pixels (default 64)")
    p.add_argument("--channels", type=int, default=3, help="1 (grayscale) or 3 (RGB, the default)")
    p.add_argument("--seed", type=int, default=0, help="which images: the same seed gives the same ones (default 0)")
    p.add_argument("--knob", action="append", default=[], metavar="NAME=VALUE",
                   help="override one knob of the complexity preset (repeatable)")


def register_commands(sub: argparse._SubParsersAction) -> None:
    """Add preview, bench, export and list to `sub`."""
    p = sub.add_parser("preview", help="a labelled grid of samples, one row per complexity level",
                       description="Draw --n samples of each complexity level of a generator into one image, "
                                   "one row per level, each sample captioned with its class label.")
    _common(p)
    p.add_argument("--complexity", help="levels, e.g. 0..3 or 1,5 (default: all)")
    p.add_argument("--n", type=int, default=8, help="samples per level (default 8)")
    p.add_argument("-o", "--output", type=path_arg, required=True,
                   help="image path: .png, .jpg, ... by its suffix")
    p.set_defaults(func=cmd_preview)
    b = sub.add_parser("bench", help="images per wall-second and per CPU-second, one process",
                       description="Time the generators: images per wall-second and per CPU-second for each "
                                   "family and resolution, in one process, and write the markdown table.")
    b.add_argument("--generator", action="append", help="family (repeatable; default: all)")
    # extend, not the last list: `--resolution 32 --resolution 64` measured 64 alone, and every cell loop takes several
    b.add_argument("--resolution", type=int, nargs="+", action="extend",  # (no default list: extend adds to it)
                   help=f"image sides in pixels, several after one --resolution or repeated "
                        f"(default: {' '.join(map(str, BENCH_RESOLUTIONS))})")
    b.add_argument("--complexity", metavar="LEVEL", help="one level, an integer (default: each family's highest)")
    b.add_argument("--min-cpu-s", type=float, default=3.0, help="CPU seconds timed per cell (default: %(default)s)")
    b.add_argument("--rounds", type=int, default=3,
                   help="interleaved rounds over all cells; the table reports their median (default: %(default)s)")
    b.add_argument("--threads", type=int, default=1, help="torch threads (default: %(default)s)")
    b.add_argument("--json", action="store_true", help="print JSON records instead of lines")
    b.add_argument("-o", "--output", "--out", dest="out", type=path_arg, default=BENCH_OUT,
                   help=f"markdown table path ('-' for none; {BENCH_OUT} only for every family)")
    b.set_defaults(func=cmd_bench)
    e = sub.add_parser("export", help="write images as an ImageFolder (PNG) or .npz shards",
                       description="Write a generator's images at one complexity level to a folder, as an "
                                   "ImageFolder tree of PNGs or as .npz shards, for other tools to train on.")
    _common(e)
    e.add_argument("--complexity", default="0", metavar="LEVEL",
                   help="one complexity level, an integer (default: %(default)s); preview takes ranges such "
                        "as 0..3, export writes one level per -o folder")
    e.add_argument("--n", type=int, required=True, help="number of images (indices 0..n-1)")
    e.add_argument("--format", default="png", help="png: an ImageFolder tree; shards: .npz files (default: %(default)s)")
    e.add_argument("--chunk-size", type=int, default=1000, help="images per chunk/shard (default: %(default)s)")
    e.add_argument("-o", "--output", type=path_arg, required=True, help="output directory")
    e.set_defaults(func=cmd_export)
    ls = sub.add_parser("list", help="registered generators, their levels and knobs",
                        description="Print each registered generator with its complexity levels and the knobs "
                        "each level sets (a config's synth.knobs overrides them).")
    ls.set_defaults(func=cmd_list)


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `synth` command group to the `synthscale` parser."""
    group = subparsers.add_parser("synth", help="procedural generators: preview, bench, export, list")
    register_commands(group.add_subparsers(dest="synth_command", metavar="COMMAND", required=True))


def main(argv: Sequence[str] | None = None, prog: str = "python -m synth") -> int:
    """`python -m synth COMMAND ...`: the synth commands without the group prefix, run by the same
    front end as `synthscale` (user errors, Ctrl-C and a closed stdout such as `| head` alike)."""
    from synth.console import run_cli

    argv = list(sys.argv[1:] if argv is None else argv)
    command_line = " ".join([prog, *(shlex.quote(a) for a in argv)])  # for the bench table
    return run_cli(("synth.cli:register_commands",), prog, argv, "Procedural image generators.",
                   defaults={"command_line": command_line})
