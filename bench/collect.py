"""Gather the rows of every finished run under a root into one tidy table."""
from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

import pandas as pd
import yaml
from filelock import FileLock

from bench.config import RunSpec, identity_leaves, varying_identity
from bench.records import COLUMNS, read_rows  # COLUMNS: first and in this order; any others follow
from synth.console import CappedSafeLoader, file_in_the_way
from synth.errors import UserError


@dataclass
class Collected:
    """What one pass over `runs/*/row.json` under a root found: the table of every finished run's
    rows, and the row.json files it left out (truncated, not JSON, missing columns), sorted."""

    table: pd.DataFrame
    unreadable: list[Path]
    merged: int = 0  # rows left out as a second copy of one measurement (merge_size_lists)


def gather(root: Path | str, only: Optional[set[str]] = None) -> Collected:
    """Read every `runs/*/row.json` under `root` once: the table `collect` returns, and the files
    that are not a finished run's rows (left out, which should not go unsaid). `only`: the run ids
    to read (demo's own cells), chosen before rows are merged (merge_size_lists), so another
    config's run in a shared root never stands in for one of them."""
    rows, unreadable, specs = [], [], {}
    for run_dir in sorted((Path(root) / "runs").glob("*/")):
        if only is not None and run_dir.name not in only:
            continue
        got = read_rows(run_dir)
        if got is not None:
            rows.extend(got)
            spec = read_run_spec(run_dir / "config.yaml")
            if spec is not None:
                specs[run_dir.name] = spec
        elif (run_dir / "row.json").is_file():
            unreadable.append(run_dir / "row.json")
    rows, merged = merge_size_lists(rows, specs)
    add_config_columns(rows, specs)
    return Collected(_table(rows), unreadable, merged)


def merge_size_lists(rows: list[dict], specs: dict[str, RunSpec]) -> tuple[list[dict], int]:
    """`rows` with one row per (run config but its list of real sizes, real size): runs that differ only
    in `target.n_real` ([50, 100] and, to add a size, [50, 100, 200]) measure each size they share
    alike (RunSpec.sizes_free_id: the same subset, seed and steps, bench.run.finetune); keeping both
    made a table that fit and bound refused as pooling two configs, or that read as two repeats. (So
    do a folder of a run and its rerun under an id spelt since: docs/bench.md.) The first run
    folder's row (in sorted order) is kept; the count of the others is returned. The kept row's
    wall_s and cpu_s may leave out a pre-training that the other run's row counted."""
    keys = {rid: spec.sizes_free_id for rid, spec in specs.items()}
    first: dict[tuple, str] = {}
    out = []
    for row in rows:
        key = keys.get(row["run_id"])
        if key is not None and first.setdefault((key, row.get("n_real")), row["run_id"]) != row["run_id"]:
            continue
        out.append(row)
    return out, len(rows) - len(out)


# Identity fields that every row records already (bench.run.design_row, the ASG columns; n_test
# for target.test_size). Any other field the runs of one table differ in (finetune.lr,
# model.drop_rate, synth.seed, ...) gets a column named by the field, so the runs can be told
# apart, grouped (`fit --by finetune.lr`) and are not taken for repeats of each other. Not
# target.n_real: a row records its one real size, and rows at one size from runs that differ only
# in their list are one measurement, kept once (merge_size_lists).
IN_ROW = frozenset({"synth.generator", "synth.complexity", "synth.n", "synth.resolution",
                    "synth.channels", "task", "model.name", "target.name", "target.n_real",
                    "target.test_size", "seed", "pretrain.examples", "finetune.examples",
                    "protocol", "asg.proxy_lambda", "asg.lr_policy", "asg.policy", "asg.interval",
                    "asg.n_groups"})


# Fields added after runs had been written, and what a run whose config.yaml lacks one did: such a
# file was written whole before the field existed (a run writes every field), and read with today's
# default it named another run (its run id no longer its folder's, its row's column wrong).
ADDED_LATER = {("finetune", "recompute_bn"): False,  # the running averages (2026-12-05)
               ("pretrain", "flips"): True, ("finetune", "flips"): True}  # every image flipped (2026-12-06)


def read_run_spec(path: Path) -> Optional[RunSpec]:
    """The run's resolved config as written beside it (fields it predates as it ran: ADDED_LATER),
    or None if it is missing or unreadable."""
    try:
        # as safe_dump wrote it (a name '1e3' is unquoted there: YamlLoader would read a number); aliases that
        # expand past a cap are refused, read as unreadable
        data = yaml.load(path.read_text(), Loader=CappedSafeLoader)
        for (section, key), then in ADDED_LATER.items():
            if isinstance(data, dict) and isinstance(data.get(section), dict) and key not in data[section]:
                data[section][key] = then
        return RunSpec.model_validate(data)
    except (OSError, ValueError, yaml.YAMLError):
        return None


def add_config_columns(rows: list[dict], specs: dict[str, RunSpec]) -> None:
    """Give every row a column for each identity field, beyond IN_ROW, whose value differs between
    the runs (a run without the field, e.g. pre-training settings of a scratch run, leaves it empty).
    A knob the runs set to different values gets one too (`synth.knobs.n_views`), read from the
    row's `knobs` (every knob's value as rendered, presets included): a sweep over a knob could be
    told apart only by the whole `knobs` JSON (`fit --by knobs`, ~200 characters a label)."""
    fields = [f for f in varying_identity(list(specs.values())) if f not in IN_ROW]
    if not fields:
        return
    leaves = {rid: identity_leaves(spec) for rid, spec in specs.items()}
    for row in rows:
        mine = leaves.get(row["run_id"], {})
        used = json.loads(row["knobs"]) if isinstance(row.get("knobs"), str) and row["knobs"] else {}
        for f in fields:
            v = used.get(f[len("synth.knobs."):]) if f.startswith("synth.knobs.") else mine.get(f)
            row[f] = json.dumps(v, sort_keys=True) if isinstance(v, (list, dict)) else v


def has_row_files(root: Path | str) -> bool:
    """Whether any `runs/*/row.json` file exists under `root` (without reading one)."""
    return any((d / "row.json").is_file() for d in (Path(root) / "runs").glob("*/"))


def collect(root: Path | str, only: Optional[set[str]] = None) -> pd.DataFrame:
    """One row per (run, real size) from every `runs/*/row.json` under `root` (of the runs `only` names)."""
    return gather(root, only).table


def _table(rows: list[dict]) -> pd.DataFrame:
    df = pd.DataFrame(rows)
    if df.empty:
        return pd.DataFrame(columns=COLUMNS)
    df = df.drop_duplicates(subset=["run_id", "n_real"], keep="last")
    df["complexity"] = df["complexity"].astype("Int64")
    rest = [c for c in df.columns if c not in COLUMNS]
    order = ["generator", "complexity", "n_synth", "n_real", "seed"]
    return df[COLUMNS + rest].sort_values(order, na_position="first").reset_index(drop=True)


# endings of other table formats and compressions: the table written under such a name would be plain CSV
NOT_CSV = {".parquet", ".pq", ".feather", ".arrow", ".xlsx", ".xls", ".ods", ".json", ".jsonl", ".pkl", ".pickle",
           ".h5", ".hdf5", ".tsv", ".gz", ".bz2", ".xz", ".zip", ".zst", ".yaml", ".yml", ".png", ".pdf"}


def check_table_path(path: Path | str, what: str = "-o") -> Path:
    """`path` as the file a table goes to, or a one-line UserError when it names a folder ('', '.',
    '..', 'new/', a folder that exists), lies under a file, or ends like another format (x.parquet,
    x.csv.gz: the table is plain CSV): checked before the work whose table it is (a sweep ended in a
    traceback after all its cells when ROOT/runs.csv was a folder)."""
    text, p = str(path), Path(path)
    if not text.strip():
        raise UserError(f"{what} is empty; give the table's file name, e.g. runs.csv")
    if text.endswith(("/", "\\")) or p.name in ("", ".", "..") or p.is_dir():
        fix = (f"give the table's file name, e.g. {p / 'runs.csv'}" if what.startswith("-")
               else "move that folder away: the table is written there")
        raise UserError(f"{what} {text!r} is a folder; {fix}")
    above = file_in_the_way(p)
    if above is not None:
        raise UserError(f"{what} {text!r}: {str(above)!r} is a file, not a folder")
    if p.is_file() and p.stat().st_size and not _a_runs_table(p):  # `-o config.yaml` replaced the config
        fix = "give another path, or move that file away" if what.startswith("-") else "move that file away"
        raise UserError(f"{what} {text!r} is a file that is not a runs table (no run_id column in its first "
                        f"line), which the table would replace: {fix}")
    if p.suffix.lower() in NOT_CSV:  # `-o runs.parquet` wrote CSV under that name (and .gz: plain text)
        stem = p.name
        while Path(stem).suffix.lower() in NOT_CSV:
            stem = Path(stem).stem
        csv = stem if stem.lower().endswith(".csv") else f"{stem}.csv"
        raise UserError(f"{what} {text!r}: the runs table is written as plain CSV, not {p.suffix}; name it {csv}")
    return p


def _a_runs_table(path: Path) -> bool:
    """Whether the file's first line names a run_id column, as every table collect writes does."""
    try:
        with open(path, "rb") as f:
            return b"run_id" in f.readline(1 << 16)
    except OSError:  # unreadable: the write will say why
        return True


def write_csv(df: pd.DataFrame, path: Path | str) -> Path:
    """Write the table atomically (temporary file, then rename; the temporary file is removed if
    either fails)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        df.to_csv(tmp, index=False)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def collect_to_csv(root: Path | str, path: Path | str,
                   check: Optional[Callable[[Collected], None]] = None) -> tuple[Collected, Path]:
    """`gather(root)` with its table written to `path`, both under a lock beside `path`: of two
    sweeps finishing together, the one that collected first can no longer overwrite the other's
    newer table. `check(collected)` runs before the write; what it raises leaves `path` as it was."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # An OSError now if nothing can be written there: the lock would wait on it for ever (a lock
    # file filelock cannot create reads to it as a lock held by another process).
    tempfile.TemporaryFile(dir=path.parent).close()
    with FileLock(str(path.with_name(f".{path.name}.lock"))):
        got = gather(root)
        if check is not None:
            check(got)
        return got, write_csv(got.table, path)
