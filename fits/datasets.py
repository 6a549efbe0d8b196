"""Real learning curves for benchmarking and reanalysis: LCDB 1.0 and Mikami et al.'s 64k pool.

The two small tables ship in `fits/data/` (its README says where they come from); the full LCDB
is fetched into `<repo>/.cache`. The environment variables SYNTHSCALE_SHARED_DATA and
SYNTHSCALE_CACHE name other folders.
"""
from __future__ import annotations

import os
import subprocess
import sys
import tarfile
from pathlib import Path

import numpy as np
import pandas as pd

from fits.errors import FitInputError

REPO = Path(__file__).resolve().parents[1]
LCDB_VERSION = "0.1.0"
LCDB_MEMBER = f"lcdb-{LCDB_VERSION}/lcdb/database-accuracy.csv"
CURVE_KEYS = ["openmlid", "learner"]


PACKAGED_DATA = Path(__file__).resolve().parent / "data"


def shared_data_dir() -> Path:
    """The folder of the small curve tables: $SYNTHSCALE_SHARED_DATA, else the copies that ship in fits/data."""
    return Path(os.environ.get("SYNTHSCALE_SHARED_DATA", PACKAGED_DATA))


def cache_dir() -> Path:
    """Where downloaded and derived files live (git-ignored): $SYNTHSCALE_CACHE or <repo>/.cache."""
    return Path(os.environ.get("SYNTHSCALE_CACHE", REPO / ".cache"))


def _need(path: Path) -> Path:
    if not path.exists():
        raise FitInputError(f"data file {path} not found (set SYNTHSCALE_SHARED_DATA to its folder)")
    return path


def lcdb_sample() -> pd.DataFrame:
    """The 80-curve LCDB sample: openmlid, learner, size_train, err_test_mean, ..."""
    return pd.read_csv(_need(shared_data_dir() / "lcdb_dev_sample_80_curves.csv"))


def _lcdb_sdist(folder: Path) -> Path:
    """The lcdb sdist, fetched with pip (a package registry) into `folder` on first use."""
    found = sorted(folder.glob(f"lcdb-{LCDB_VERSION}.tar.gz"))
    if found:
        return found[0]
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:  # SYNTHSCALE_CACHE naming a file, or a folder nothing can be made in
        raise FitInputError(f"cannot make the cache folder {folder} ({exc.strerror or exc}): set SYNTHSCALE_CACHE "
                            "to a writable folder") from None
    got = subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps",
                          f"lcdb=={LCDB_VERSION}", "-d", str(folder)], capture_output=True, text=True)
    if got.returncode != 0:  # offline, or no registry: pip's own report is many lines
        said = [ln.strip() for ln in got.stderr.splitlines() if ln.strip().startswith("ERROR")]
        raise FitInputError(f"could not fetch LCDB 1.0 (pip download lcdb=={LCDB_VERSION}: "
                            f"{said[-1] if said else 'exit ' + str(got.returncode)}); put lcdb-{LCDB_VERSION}.tar.gz "
                            f"in {folder}, or use --lcdb sample (the 80 curves that ship)")
    return folder / f"lcdb-{LCDB_VERSION}.tar.gz"


def lcdb_full() -> pd.DataFrame:
    """All LCDB 1.0 accuracy curves, averaged over seeds, in the sample's tidy columns (cached)."""
    folder = cache_dir() / "lcdb"
    tidy = folder / "lcdb_curves_accuracy.csv"
    if tidy.exists():
        return pd.read_csv(tidy)
    with tarfile.open(_lcdb_sdist(folder)) as tar:
        raw = pd.read_csv(tar.extractfile(LCDB_MEMBER),
                          usecols=["openmlid", "learner", "size_train", "score_test", "score_valid"])
    raw["err_test"] = 1.0 - raw["score_test"]
    raw["err_valid"] = 1.0 - raw["score_valid"]
    agg = (raw.groupby(CURVE_KEYS + ["size_train"])
           .agg(err_test_mean=("err_test", "mean"), err_test_std=("err_test", "std"),
                err_valid_mean=("err_valid", "mean"), n_seeds=("err_test", "size"))
           .reset_index())
    agg.to_csv(tidy, index=False)
    return agg


def lcdb_single_run() -> pd.DataFrame:
    """LCDB 1.0 accuracy curves of one run each (outer_seed = inner_seed = 0), tidy columns (cached).

    A single split's curve is as noisy as a single training run: the tuning protocol that
    resembles the paper's single-run curves uses it (`fits.tuning`)."""
    folder = cache_dir() / "lcdb"
    tidy = folder / "lcdb_curves_accuracy_seed0.csv"
    if tidy.exists():
        return pd.read_csv(tidy)
    with tarfile.open(_lcdb_sdist(folder)) as tar:
        raw = pd.read_csv(tar.extractfile(LCDB_MEMBER),
                          usecols=["openmlid", "learner", "size_train", "outer_seed", "inner_seed",
                                   "score_test"])
    one = raw[(raw["outer_seed"] == 0) & (raw["inner_seed"] == 0)].copy()
    one["err_test_mean"] = 1.0 - one["score_test"]  # the column name curves() reads by default
    one = (one.groupby(CURVE_KEYS + ["size_train"])["err_test_mean"].mean().reset_index())
    one.to_csv(tidy, index=False)
    return one


def curves(df: pd.DataFrame, y: str = "err_test_mean") -> list[tuple[str, np.ndarray, np.ndarray]]:
    """[(name, sizes ascending, errors)] per (openmlid, learner) curve of an LCDB-style table."""
    out = []
    for (oid, learner), g in df.groupby(CURVE_KEYS, sort=True):
        g = g.sort_values("size_train")
        out.append((f"{oid}/{learner}", g["size_train"].to_numpy(float), g[y].to_numpy(float)))
    return out


def paper_runs() -> pd.DataFrame:
    """Mikami et al.'s 64k-pool fine-tuning results, last evaluation per run, error = 1 - value."""
    raw = pd.read_csv(_need(shared_data_dir() / "cg_transfer_finetune_64k_pool.csv"))
    keys = ["pretrain.data", "pscale", "ptask", "fdata", "fratio", "ftask", "model", "nparam", "pdata"]
    last = raw.sort_values("n_eval").groupby(keys, dropna=False).tail(1).copy()
    last["err"] = 1.0 - last["value"]
    return last.rename(columns={"pretrain.data": "n"}).reset_index(drop=True)


def paper_curves(runs: pd.DataFrame) -> pd.DataFrame:
    """Paper runs with n > 0 from synthetic pre-training only (no scratch, no ImageNet weights)."""
    return runs[(runs["n"] > 0) & (runs["pdata"] != "imagenet")].copy()
