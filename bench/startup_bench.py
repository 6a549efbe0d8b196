"""Start-up cost of the commands that read tables and run folders, against a baseline checkout.

    git archive COMMIT | (mkdir -p BASE && tar -x -C BASE)
    python -m bench.startup_bench --baseline BASE -o results/startup_bench.md

Each command runs as `python -m bench.cli ...` in a fresh process, once from BASE and once from this
checkout, alternating, `--repeats` times; the table gives the median wall seconds and the median CPU
seconds (user + system of the child) of each, and this checkout's share of the baseline's CPU. The
inputs are the committed quickstart table and a scratch root with one finished quickstart run.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from synth.benchmark import machine
from synth.console import path_arg

HERE = Path(__file__).resolve().parents[1]


def scratch_root(folder: Path) -> Path:
    """A root with one finished quickstart run, as bench.run leaves it (config.yaml, row.json)."""
    from bench.commands import resolve_config
    from bench.config import dump_yaml, load_run
    from bench.run import COLUMNS, design_row

    spec = load_run(resolve_config("quickstart"), {})
    d = folder / "runs" / spec.run_id
    d.mkdir(parents=True)
    (d / "config.yaml").write_text(dump_yaml(spec))
    rows = [{c: 0 for c in COLUMNS} | design_row(spec, s) | {"test_err": 0.3, "test_acc": 0.7, "status": "ok"}
            for s in spec.target.n_real]
    (d / "row.json").write_text(json.dumps(rows))
    return folder


def commands(root: Path, out: Path) -> list[list[str]]:
    table = str(HERE / "results" / "quickstart" / "runs.csv")
    return [["--help"],
            ["sweep", "status", "--root", str(root)],
            ["collect", "--root", str(root), "-o", str(out / "runs.csv")],
            ["fit", table, "--x", "n_synth", "--y", "test_err", "--by", "complexity", "-o", str(out / "fits.json")],
            ["plot", table, str(out / "fits.json"), "-o", str(out / "scaling.png")],
            ["compare", table, "--by", "complexity", "-o", str(out / "cmp")],
            ["sweep", "quickstart", "--root", str(out / "q"), "--dry-run"]]


def _shown(arg: str, tmp: str) -> str:
    """An argument as the table shows it: the scratch folder as TMP, this checkout's files relative."""
    if arg.startswith(tmp):
        return "TMP" + arg[len(tmp):]
    return arg[len(str(HERE)) + 1:] if arg.startswith(str(HERE) + os.sep) else arg


def timed(checkout: Path, argv: list[str]) -> tuple[float, float]:
    """Wall and CPU seconds (user + system) of `python -m bench.cli ARGV` run from `checkout`."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "bench.cli", *argv], cwd=checkout, capture_output=True,
                          env={**os.environ, "PYTHONPATH": str(checkout), "OMP_NUM_THREADS": "1"})
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed in {checkout}: {done.stderr.decode()[-500:]}")
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def command_line(label: str, repeats: int, out: Path | None) -> str:
    """The command the report names: its options as given, the report path (-o) included when it has one."""
    words = ["--label", label, "--repeats", str(repeats)] + (["-o", str(out)] if out else [])
    return "python -m bench.startup_bench --baseline BASE " + shlex.join(words)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.startup_bench", description=__doc__.splitlines()[0])
    ap.add_argument("--baseline", type=Path, required=True, help="a checkout of the code to compare against")
    ap.add_argument("--label", default="baseline", help="how the table names the baseline (e.g. its commit)")
    ap.add_argument("--repeats", type=int, default=3, help="runs of each command per checkout (default: %(default)s)")
    ap.add_argument("-o", "--output", "--out", dest="out", type=path_arg, help="markdown file (default: print only)")
    args = ap.parse_args(argv)
    if args.repeats < 1:  # a median of no runs was a StatisticsError traceback after the set-up
        ap.error(f"--repeats: must be at least 1, got {args.repeats}")
    if not (args.baseline / "bench" / "cli.py").is_file():
        ap.error(f"--baseline {str(args.baseline)!r}: no bench/cli.py there; pass a checkout of this repository")
    t_start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        root = scratch_root(Path(tmp) / "root")
        lines = ["| command | baseline wall s | baseline CPU s | this wall s | this CPU s | CPU share |",
                 "|---|---:|---:|---:|---:|---:|"]
        for cmd in commands(root, Path(tmp)):
            got: dict[str, list[tuple[float, float]]] = {"base": [], "this": []}
            for _ in range(args.repeats):
                for key, checkout in (("base", args.baseline.resolve()), ("this", HERE)):
                    got[key].append(timed(checkout, cmd))
            med = {k: (statistics.median(w for w, _ in v), statistics.median(c for _, c in v)) for k, v in got.items()}
            shown = " ".join(_shown(a, tmp) for a in cmd)
            lines.append(f"| `synthscale {shown}` | {med['base'][0]:.2f} | {med['base'][1]:.2f} | "
                         f"{med['this'][0]:.2f} | {med['this'][1]:.2f} | {med['this'][1] / med['base'][1]:.2f} |")
            print(lines[-1], flush=True)
    m = machine()
    head = [f"# Start-up of the reading commands: this checkout vs {args.label}", "",
            f"Command: `{command_line(args.label, args.repeats, args.out)}`  ",
            f"Machine: {m['cpu']}, {m['cores']} cores, Python {m['python']}, torch {m['torch']}  ",
            f"Wall time of the whole measurement: {time.perf_counter() - t_start:.0f} s", "",
            f"Median of {args.repeats} runs of each, alternating between the two checkouts, one torch thread; "
            "CPU s is user + system of the command's process. TMP is a scratch folder.", ""]
    text = "\n".join(head + lines) + "\n"
    if args.out:
        args.out.write_text(text)
        print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
