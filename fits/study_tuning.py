"""Round 4 of choosing the extrapolation predictor, on LCDB only: `python -m fits.study_tuning`.

The paper's curves come as one study (45 curves, the same grid, the same pre-training data), and
its notebook pools across them (one D for all). Does pooling across the curves of a study help a
general method? LCDB's analogue of a study is one dataset (openmlid) with its ~18 learners' curves;
pooling uses only the fitting points of every curve, as a user with a whole study would. Compared:

- per study: the study's majority choice between tail fit and last value, instead of each curve's;
  a Gaussian prior on alpha (and on log D at the grid's geometric-mean size) centred at the median
  of the *other* curves' tail fits, sd their robust spread;
- per curve, gentler tail weights (each size weighs f of the next larger one, f = 0.5 .. 1);
- by flatness: medians in bins of a curve's relative range (ptp / mean of the fitting errors).

Half of the datasets (numpy default_rng(4)) tune, the other half is kept for confirmation; two
protocols decide (a candidate must be no worse than fits.extrapolate on every protocol): "single
run, doubling grid" (shaped like the paper's curves) and "hold out the last size".
It never reads the paper's curves.
"""
from __future__ import annotations

import argparse
import time
from typing import Callable

import numpy as np
import pandas as pd

from fits import datasets
from fits.bench import PROTOCOLS, plain_curve_fit, rel_err
from fits.extrapolation import choose, extrapolate, last_value, tail_fit
from fits.tuning import doubling_tail, make_select, predict_scaled, prior_fit_scaled

Curve = tuple[str, np.ndarray, np.ndarray, np.ndarray, np.ndarray]  # name, x, y, x_new, y_new
SINGLE = "single run, doubling grid, hold out the last"
STRENGTHS = (0.3, 1.0, 3.0)
FACTORS = (0.5, 0.6, 0.7, 0.85, 1.0)
FLAT_BINS = (0.0, 0.03, 0.06, 0.1, 0.2, 0.5, np.inf)
FLAT_COLUMNS = ("last value", "tail fit", "fits.extrapolate", "study choice (majority of the curves' own choices)",
                "curve_fit", "tail fit, factor 0.85", "select(tail factor 0.5, last)", "select(tail factor 0.85, last)")


def study_sets(protocol: str, half: str = "tune") -> dict[int, list[Curve]]:
    """openmlid -> its curves (>= 3) under `protocol`, for the tuning or the confirmation half."""
    table = datasets.lcdb_single_run() if protocol == SINGLE else datasets.lcdb_full()
    curves = datasets.curves(table)
    oids = sorted({int(name.split("/")[0]) for name, _, _ in curves})
    tune = set(np.random.default_rng(4).choice(oids, len(oids) // 2, replace=False).tolist())
    out: dict[int, list[Curve]] = {}
    for name, x, y in curves:
        oid = int(name.split("/")[0])
        if (oid in tune) != (half == "tune"):
            continue
        if protocol == SINGLE:
            x, y = doubling_tail(x, y)
            if len(x) < 6:
                continue
            keep = x < x[-1]
        else:
            keep = PROTOCOLS[protocol](x)
            if keep.sum() < 3 or keep.all():
                continue
        out.setdefault(oid, []).append((name, x[keep], y[keep], x[~keep], y[~keep]))
    return {k: v for k, v in out.items() if len(v) >= 3}


def _loo_prior(values: np.ndarray, j: int, min_sd: float) -> tuple[float, float]:
    """(median, robust sd) of the study's values without curve j."""
    q25, q50, q75 = np.percentile(np.delete(values, j), [25, 50, 75])
    return float(q50), max(float((q75 - q25) / 1.349), min_sd)


def study_predictions(curves: list[Curve]) -> dict[str, list[np.ndarray]]:
    """candidate -> predictions per curve of one study (pooling uses fitting points only)."""
    base = [prior_fit_scaled(x, y) for _, x, y, _, _ in curves]
    alpha = np.array([p["alpha"] for _, p in base])
    log_d = np.log([p["D"] for _, p in base])
    tail_major = np.mean([choose(x, y, xn).method == "tail" for _, x, y, xn, _ in curves]) >= 0.5
    out: dict[str, list[np.ndarray]] = {}

    def add(name: str, pred: np.ndarray) -> None:
        out.setdefault(name, []).append(np.asarray(pred, float))

    for j, (_, x, y, xn, _) in enumerate(curves):
        last = last_value(x, y, xn)
        add("last value", last)
        add("tail fit", predict_scaled(*base[j], xn))
        add("fits.extrapolate", extrapolate(x, y, xn))
        add("study choice (majority of the curves' own choices)", predict_scaled(*base[j], xn) if tail_major else last)
        a_prior = {"alpha": _loo_prior(alpha, j, 0.05)}
        for lam in STRENGTHS:
            for tag, pri in (("alpha", a_prior), ("alpha and log D", {**a_prior, "D": _loo_prior(log_d, j, 0.1)})):
                pred = predict_scaled(*prior_fit_scaled(x, y, lam, pri), xn)
                add(f"{tag} prior from the study x{lam:g}", pred)
                add(f"study choice, {tag} prior from the study x{lam:g}", pred if tail_major else last)
    return out


def _tail_f(f: float) -> Callable:
    def fit(x: np.ndarray, y: np.ndarray, x_new: np.ndarray) -> np.ndarray:
        return tail_fit(x, y, x_new, factor=f)
    return fit


def curve_predictions(curves: list[Curve]) -> dict[str, list[np.ndarray]]:
    """candidate -> predictions per curve: tail weights of every factor, alone and in the choice."""
    out: dict[str, list[np.ndarray]] = {}
    for _, x, y, xn, _ in curves:
        for f in FACTORS:
            out.setdefault(f"tail fit, factor {f:g}", []).append(_tail_f(f)(x, y, xn))
            pick = make_select({"tail": _tail_f(f), "last": last_value}, "tail")
            out.setdefault(f"select(tail factor {f:g}, last)", []).append(pick(x, y, xn))
        out.setdefault("select(tail factor 0.5, tail factor 0.85, last)", []).append(
            make_select({"tail 0.5": _tail_f(0.5), "tail 0.85": _tail_f(0.85), "last": last_value}, "tail 0.5")(x, y, xn))
        out.setdefault("curve_fit", []).append(plain_curve_fit(x, y, xn))
    return out


def prediction_rows(curves: list[Curve], preds: dict[str, list[np.ndarray]]) -> list[dict]:
    """One row per (curve, candidate): relative and absolute error, relative range of the fit points."""
    rows = []
    for m, plist in preds.items():
        for (name, _, y, _, y_new), p in zip(curves, plist):
            p = np.where(np.isfinite(p), np.asarray(p, float), np.inf)
            rows.append({"curve": name, "candidate": m, "rel_err": rel_err(p, y_new),
                         "abs_err": float(np.mean(np.abs(p - y_new))),
                         "rel_range": float(np.ptp(y) / np.mean(y)) if np.mean(y) > 0 else np.inf})
    return rows


def score(sets: dict[int, list[Curve]], part: str) -> pd.DataFrame:
    """prediction_rows of every study's curves, for the study or the weights part."""
    rows = []
    for curves in sets.values():
        rows += prediction_rows(curves, study_predictions(curves) if part == "study" else curve_predictions(curves))
    return pd.DataFrame(rows)


def flatness_table(df: pd.DataFrame, columns: tuple[str, ...]) -> pd.DataFrame:
    """Median abs_err (x 1000) of the `columns` candidates by bins of rel_range, with curve counts."""
    keep = [c for c in columns if c in set(df["candidate"])]
    sub = df[df["candidate"].isin(keep)].assign(flatness=pd.cut(df["rel_range"], FLAT_BINS))
    flat = sub.pivot_table(index="flatness", columns="candidate", values="abs_err", aggfunc="median", observed=True)
    counts = sub[sub["candidate"] == keep[0]].groupby("flatness", observed=True).size()
    return (1000 * flat[keep]).assign(curves=counts)


def main(argv: list[str] | None = None) -> int:
    """Print medians per candidate for each protocol, and by flatness on the single-run protocol."""
    ap = argparse.ArgumentParser(prog="python -m fits.study_tuning", description=__doc__.splitlines()[0])
    ap.add_argument("--half", choices=("tune", "confirm"), default="tune")
    ap.add_argument("--part", choices=("study", "weights"), default="study")
    ap.add_argument("--protocol", action="append", choices=[SINGLE, *PROTOCOLS],
                    help=f"default: {SINGLE!r} and 'hold out the last size'")
    args = ap.parse_args(argv)
    for proto in args.protocol or [SINGLE, "hold out the last size"]:
        t0 = time.process_time()
        sets = study_sets(proto, args.half)
        df = score(sets, args.part)
        g = df.groupby("candidate", sort=False)
        table = pd.DataFrame({"curves": g.size(), "median rel_err": g["rel_err"].median(),
                              "median abs_err": g["abs_err"].median()})
        print(f"\n## {proto} ({args.half} half: {len(sets)} datasets, {table['curves'].iloc[0]} curves, "
              f"{time.process_time() - t0:.0f} CPU-s)\n")
        print(table.to_string(float_format=lambda v: f"{v:.5f}"))
        if proto == SINGLE:
            print("\nmedian abs_err (x 1000) by relative range of the fitting errors:\n")
            print(flatness_table(df, FLAT_COLUMNS).to_string(float_format=lambda v: f"{v:.2f}"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
