"""Gather the rows of every finished run under a root into one tidy table."""
from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
from filelock import FileLock

from bench.run import COLUMNS, read_rows  # COLUMNS: first and in this order; any others follow


def collect(root: Path | str) -> pd.DataFrame:
    """One row per (run, real size) from every `runs/*/row.json` under `root`."""
    rows = []
    for run_dir in sorted((Path(root) / "runs").glob("*/")):
        rows.extend(read_rows(run_dir) or [])
    df = pd.DataFrame(rows)
    if df.empty:
        return pd.DataFrame(columns=COLUMNS)
    df = df.drop_duplicates(subset=["run_id", "n_real"], keep="last")
    df["complexity"] = df["complexity"].astype("Int64")
    rest = [c for c in df.columns if c not in COLUMNS]
    order = ["generator", "complexity", "n_synth", "n_real", "seed"]
    return df[COLUMNS + rest].sort_values(order, na_position="first").reset_index(drop=True)


def write_csv(df: pd.DataFrame, path: Path | str) -> Path:
    """Write the table atomically (temporary file, then rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    df.to_csv(tmp, index=False)
    os.replace(tmp, path)
    return path


def collect_to_csv(root: Path | str, path: Path | str) -> tuple[pd.DataFrame, Path]:
    """`collect(root)` written to `path`, both under a lock beside `path`: of two sweeps finishing
    together, the one that collected first can no longer overwrite the other's newer table."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(path.with_name(f".{path.name}.lock"))):
        df = collect(root)
        return df, write_csv(df, path)
