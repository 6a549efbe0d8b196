"""Real learning curves for benchmarking and reanalysis: LCDB 1.0 and Mikami et al.'s 64k pool.

The two small tables ship in `fits/data/` (its README says where they come from); the full LCDB
is fetched into `<repo>/.cache`. The environment variables SYNTHSCALE_SHARED_DATA and
SYNTHSCALE_CACHE name other folders.
"""
from __future__ import annotations

import contextlib
import hashlib
import os
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from fits.errors import FitInputError

REPO = Path(__file__).resolve().parents[1]
LCDB_VERSION = "0.1.0"
LCDB_MEMBER = f"lcdb-{LCDB_VERSION}/lcdb/database-accuracy.csv"
LCDB_SHA256 = "450ea69b249866298653f718d66a825e3d19a4024dd4ff140b89f2e04d4777ae"  # the registry's lcdb 0.1.0 sdist
CURVE_KEYS = ["openmlid", "learner"]


PACKAGED_DATA = Path(__file__).resolve().parent / "data"


def shared_data_dir() -> Path:
    """The folder of the small curve tables: $SYNTHSCALE_SHARED_DATA, else the copies that ship in fits/data."""
    return Path(os.environ.get("SYNTHSCALE_SHARED_DATA", PACKAGED_DATA))


def cache_dir() -> Path:
    """Where downloaded and derived files live (git-ignored): $SYNTHSCALE_CACHE or <repo>/.cache."""
    return Path(os.environ.get("SYNTHSCALE_CACHE") or REPO / ".cache")  # (set but empty: the default, not ".")


def _need(path: Path) -> Path:
    if not path.exists():
        raise FitInputError(f"data file {path} not found (set SYNTHSCALE_SHARED_DATA to its folder)")
    return path


def lcdb_sample() -> pd.DataFrame:
    """The 80-curve LCDB sample: openmlid, learner, size_train, err_test_mean, ..."""
    return pd.read_csv(_need(shared_data_dir() / "lcdb_dev_sample_80_curves.csv"))


def _lcdb_sdist(folder: Path) -> Path:
    """The lcdb sdist, fetched with pip (a package registry) into `folder` on first use. pip downloads
    into a temporary folder beside it, and the file is moved into place only once its sha256 is
    LCDB_SHA256: pip copies it into -d with a plain copy, so a stopped download left a torn archive
    that every later run trusted (and failed on, with a traceback)."""
    found = folder / f"lcdb-{LCDB_VERSION}.tar.gz"
    if found.exists():
        return found
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:  # SYNTHSCALE_CACHE naming a file, or a folder nothing can be made in
        raise FitInputError(f"cannot make the cache folder {folder} ({exc.strerror or exc}): set SYNTHSCALE_CACHE "
                            "to a writable folder") from None
    with tempfile.TemporaryDirectory(dir=folder, prefix=".download-") as tmp:
        got = subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps",
                              f"lcdb=={LCDB_VERSION}", "-d", tmp], capture_output=True, text=True)
        if got.returncode != 0:  # offline, or no registry: pip's own report is many lines
            said = [ln.strip() for ln in got.stderr.splitlines() if ln.strip().startswith("ERROR")]
            why = said[-1] if said else f"exit {got.returncode}"
            raise FitInputError(f"could not fetch LCDB 1.0 (pip download lcdb=={LCDB_VERSION}: {why}); put "
                                f"lcdb-{LCDB_VERSION}.tar.gz in {folder}, or use --lcdb sample (the 80 curves "
                                "that ship)")
        fetched = Path(tmp) / found.name
        try:
            _check_sdist(fetched)
        except FitInputError:  # a whole download of another file (another index or mirror), not a torn one
            raise FitInputError(f"pip fetched an lcdb {LCDB_VERSION} sdist whose sha256 is not the pinned "
                                f"{LCDB_SHA256} (another package index or mirror?); nothing was kept: put the "
                                f"registry's lcdb-{LCDB_VERSION}.tar.gz in {folder}, or use --lcdb sample") from None
        os.replace(fetched, found)
    return found


def _check_sdist(path: Path) -> None:
    """A one-line FitInputError unless the file's sha256 is LCDB_SHA256 (a torn copy, or another file
    under its name, was read until its end and failed there with EOFError, or parsed as fewer curves)."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    if digest.hexdigest() != LCDB_SHA256:
        raise FitInputError(f"{path} is not the lcdb {LCDB_VERSION} sdist (its sha256 is {digest.hexdigest()}, "
                            f"not {LCDB_SHA256}): it may be torn by a stopped download; remove it and run again "
                            "to fetch it anew")


def _lcdb_table(name: str, make) -> pd.DataFrame:
    """The cached table `name` in the LCDB cache folder, else make(raw accuracy table) written there.
    Written to a temporary file and renamed: a run stopped while writing it left a torn CSV that every
    later call read as the whole of LCDB (236 of 12,000 curves, no error). The names carry v2: a cache
    written before (possibly torn) is not read."""
    folder = cache_dir() / "lcdb"
    tidy = folder / name
    if tidy.exists():
        return pd.read_csv(tidy)
    sdist = _lcdb_sdist(folder)
    _check_sdist(sdist)
    with tarfile.open(sdist) as tar:
        raw = pd.read_csv(tar.extractfile(LCDB_MEMBER),
                          usecols=["openmlid", "learner", "size_train", "outer_seed", "inner_seed",
                                   "score_test", "score_valid"])
    table = make(raw)
    write_aside(tidy, lambda tmp: table.to_csv(tmp, index=False))
    return table


def write_aside(path: Path, write: Callable[[Path], object]) -> None:
    """`write(tmp)` a file beside `path`, then rename it to `path`: a reader sees the old file or the
    whole new one, never a torn one, and a failed or stopped write leaves no temporary file (fits'
    counterpart of bench.records.write_json_atomic: fits imports no bench module). The temporary name
    is short, so it stays within the file system's limit wherever `path`'s own name does."""
    tmp = path.with_name(f".fits-{os.getpid()}.part")
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


def lcdb_full() -> pd.DataFrame:
    """All LCDB 1.0 accuracy curves, averaged over seeds, in the sample's tidy columns (cached)."""
    def make(raw: pd.DataFrame) -> pd.DataFrame:
        raw = raw.assign(err_test=1.0 - raw["score_test"], err_valid=1.0 - raw["score_valid"])
        return (raw.groupby(CURVE_KEYS + ["size_train"])
                .agg(err_test_mean=("err_test", "mean"), err_test_std=("err_test", "std"),
                     err_valid_mean=("err_valid", "mean"), n_seeds=("err_test", "size"))
                .reset_index())
    return _lcdb_table("lcdb_curves_accuracy.v2.csv", make)


def lcdb_single_run() -> pd.DataFrame:
    """LCDB 1.0 accuracy curves of one run each (outer_seed = inner_seed = 0), tidy columns (cached).

    A single split's curve is as noisy as a single training run: the tuning protocol that
    resembles the paper's single-run curves uses it (`fits.tuning`)."""
    def make(raw: pd.DataFrame) -> pd.DataFrame:
        one = raw[(raw["outer_seed"] == 0) & (raw["inner_seed"] == 0)]
        one = one.assign(err_test_mean=1.0 - one["score_test"])  # the column name curves() reads by default
        return one.groupby(CURVE_KEYS + ["size_train"])["err_test_mean"].mean().reset_index()
    return _lcdb_table("lcdb_curves_accuracy_seed0.v2.csv", make)


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
