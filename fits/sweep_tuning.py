"""Round 5 of choosing the extrapolation predictor, on synthscale's own sweeps: `python -m fits.sweep_tuning RUNS.csv`.

Rounds 1-4 (`fits.tuning`, `fits.study_tuning`) tuned on LCDB, whose curves are not of the paper's
kind. This round scores the same candidates on learning curves synthscale itself measured, of the
kind the paper's 64k-pool curves are: one run per size, a doubling grid of pre-training sizes n,
fine-tuning on real images after synthetic pre-training (`results/fits_tuning_sweep/`). A curve is
one (generator, complexity, model, n_real, seed, ...) with every other column fixed; its sizes are
the sweep's n > 0. Protocols: hold out the largest size (the paper's protocol: six fitting sizes
on a seven-size grid) and hold out the two largest. The whole sweep is one study (the paper's 45
curves are one study too): the study candidates pool the fitting points of the other curves only.

The decision rule, fixed before the first sweep was scored: a candidate replaces fits.extrapolate
only if, on the paper's protocol, its median absolute error is lower with a paired 95 % bootstrap
interval (over curves) that excludes 0, and it is no worse on the other protocol; with some 30
candidates one may pass by chance, so it must then pass again on a second sweep (other seeds and
complexity levels: `results/fits_tuning_sweep/config_confirm.yaml`). It never reads the paper's
curves.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from fits.bench import law_predictor
from fits.benchrun import paired_medians
from fits.cli import read_runs
from fits.errors import FitInputError
from fits.selection import select
from fits.study_tuning import Curve, curve_predictions, flatness_table, prediction_rows, study_predictions

OURS = "fits.extrapolate"
# columns that vary within one sweep but do not name a curve (outcomes, timings, provenance)
NOT_KEYS = {"run_id", "n_synth", "test_err", "test_acc", "wall_s", "status", "cpu_s", "finetune_loss",
            "finetune_wall_s", "host", "knobs", "pretrain_id", "pretrain_loss", "pretrain_wall_s",
            "resumed_from_step", "pretrain_resumed_from_step", "torch", "torch_threads", "n_params",
            "pretrain_distinct"}  # min(n_synth, the budget): it follows n, so it names no curve
FLAT_COLUMNS = ("last value", "tail fit", OURS, "curve_fit", "study choice (majority of the curves' own choices)")
SLOW = {"m4 (unweighted)": law_predictor("m4", False),
        "power_floor unweighted": law_predictor("power_floor", False),
        "law chosen per curve (fit --law auto)": lambda x, y, xn: select(x, y).fit.predict(xn)}


def sweep_curves(paths: list[Path], min_sizes: int = 6) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """(name, sizes, errors) of every curve in the runs.csv files: one row per n > 0 (status ok)."""
    out = []
    for path in paths:
        df = read_runs(path)
        lacking = [c for c in ("n_synth", "test_err") if c not in df.columns]
        if lacking:
            raise FitInputError(f"{path} has no column {', '.join(lacking)}; give the runs.csv a sweep wrote")
        df = df[(df.get("status", "ok") == "ok") & (df["n_synth"] > 0) & df["test_err"].notna()]
        keys = [c for c in df.columns if c not in NOT_KEYS and df[c].nunique(dropna=False) > 1]
        for key, g in df.groupby(keys, dropna=False) if keys else [((), df)]:
            g = g.groupby("n_synth")["test_err"].mean().sort_index()  # one run per size in a sweep
            if len(g) >= min_sizes:
                name = f"{path.parent.name}/" + ",".join(f"{k}={v}" for k, v in zip(keys, np.atleast_1d(key)))
                out.append((name, g.index.to_numpy(float), g.to_numpy(float)))
    return out


def held_out(curves: list[tuple[str, np.ndarray, np.ndarray]], hold: int) -> list[Curve]:
    """Each curve with its `hold` largest sizes held out."""
    return [(name, x[:-hold], y[:-hold], x[-hold:], y[-hold:]) for name, x, y in curves]


def scores(curves: list[Curve], slow: bool = True) -> pd.DataFrame:
    """One row per (curve, method): absolute and relative error at the held-out sizes, and the
    relative range of the fitting errors (fits.study_tuning.prediction_rows)."""
    preds = {**study_predictions(curves), **curve_predictions(curves)}
    if slow:
        for name, fn in SLOW.items():
            preds[name] = [fn(x, y, xn) for _, x, y, xn, _ in curves]
    return pd.DataFrame(prediction_rows(curves, preds)).rename(columns={"candidate": "method"})


def by_flatness(df: pd.DataFrame) -> str:
    """Median abs_err (x 1000) of the main candidates by the relative range of the fitting errors
    (ptp / mean; the paper's curves: median 0.013), as a fenced table."""
    flat = flatness_table(df.rename(columns={"method": "candidate"}), FLAT_COLUMNS).rename_axis(columns="method")
    return ("Median abs_err (x 1000) by relative range of the fitting errors (ptp / mean):\n\n```\n"
            + flat.to_string(float_format=lambda v: f"{v:.2f}") + "\n```\n")


def curves_table(curves: list[tuple[str, np.ndarray, np.ndarray]]) -> str:
    """Every curve's errors by size, and the relative range of its errors below the largest size
    (the fitting points of the paper's protocol)."""
    table = pd.DataFrame({name: pd.Series(y, index=x.astype(int)) for name, x, y in curves}).T
    table["rel_range (all but the largest)"] = [np.ptp(y[:-1]) / np.mean(y[:-1]) for _, _, y in curves]
    return ("## The curves (error by pre-training size n)\n\n```\n"
            + table.to_string(float_format=lambda v: f"{v:.4f}") + "\n```\n")


def report(curves: list[tuple[str, np.ndarray, np.ndarray]], slow: bool = True) -> str:
    """Markdown: the curves, then per protocol the median errors of every candidate and paired
    intervals vs ours."""
    parts = [curves_table(curves)]
    for hold in (1, 2):
        t0 = time.process_time()
        df = scores(held_out(curves, hold), slow)
        g = df.groupby("method", sort=False)
        table = pd.DataFrame({"curves": g.size(), "median abs_err": g["abs_err"].median(),
                              "median rel_err": g["rel_err"].median()}).sort_values("median abs_err")
        n_fit = len(curves[0][1]) - hold
        parts.append(f"## Hold out the {'largest size' if hold == 1 else f'{hold} largest sizes'} "
                     f"({len(curves)} curves, fit the {n_fit} smallest sizes; "
                     f"{time.process_time() - t0:.0f} CPU-s)\n\n```\n"
                     + table.to_string(float_format=lambda v: f"{v:.5f}") + "\n```\n\n"
                     + paired_medians(df, OURS, "abs_err") + "\n" + by_flatness(df))
    return "\n".join(parts)


def main(argv: list[str] | None = None) -> int:
    """Print the report for the given sweeps' runs.csv files."""
    ap = argparse.ArgumentParser(prog="python -m fits.sweep_tuning", description=__doc__.splitlines()[0])
    ap.add_argument("runs", nargs="+", type=Path, help="runs.csv of one or more synthscale sweeps")
    ap.add_argument("--fast", action="store_true", help="skip M4, the unweighted fit and fits.select")
    args = ap.parse_args(argv)
    try:
        curves = sweep_curves(args.runs)
    except FitInputError as exc:  # fits.cli.read_runs: missing or unreadable file, no rows
        print(f"fits.sweep_tuning: error: {exc}", file=sys.stderr)
        return 2
    grids = {tuple(x) for _, x, _ in curves}
    if not curves or len(grids) != 1:
        print(f"fits.sweep_tuning: error: need curves of one grid of >= 6 sizes; found {len(curves)} "
              f"curve(s) on {len(grids)} grid(s); give runs.csv files of sweeps over the same n",
              file=sys.stderr)
        return 2
    print(report(curves, slow=not args.fast))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
