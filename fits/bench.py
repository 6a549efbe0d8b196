"""`synthscale fit-bench`: how well each method predicts held-out sizes of real learning curves.

LCDB 1.0 (all curves; three protocols of ANCHORS.md) and Mikami et al.'s 64k-pool curves (hold out
the largest size). Every method sees the same fitting points; CPU time is time.process_time().
Per-curve score: mean over the held-out sizes of |prediction - observed| / observed (relative) or
|prediction - observed| (absolute, paper data); the table gives the median over curves.
"""
from __future__ import annotations

import argparse
import time
import warnings
from typing import Callable

import numpy as np
from scipy.optimize import OptimizeWarning, curve_fit

from fits.core import fit_curve, tail_weights
from fits.errors import PredictionOverflow
from fits.extrapolation import extrapolate
from fits.selection import select

Predictor = Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]


def split_last(x: np.ndarray, k: int) -> np.ndarray:
    """Mask of the fitting points when the k largest sizes are held out."""
    return x < x[-k]


PROTOCOLS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "hold out the last size": lambda x: split_last(x, 1),
    "hold out the last 2 sizes": lambda x: split_last(x, 2),
    "fit only sizes <= largest/4": lambda x: x <= x[-1] / 4,
}


def last_observed(x: np.ndarray, y: np.ndarray, x_new: np.ndarray) -> np.ndarray:
    """Predict the last observed error at every larger size: ANCHORS.md's "last value" baseline, y[-1] of a
    curve of one error per size (fits.extrapolation.last_value takes the mean at the largest size, for
    tables that repeat sizes)."""
    return np.full(len(x_new), y[-1])


def loglog_line(x: np.ndarray, y: np.ndarray, x_new: np.ndarray) -> np.ndarray:
    """Least-squares line through (log x, log y): a power law with no floor (zeros clipped)."""
    ly = np.log(np.maximum(y, 1e-6))
    slope, icpt = np.polyfit(np.log(x), ly, 1)
    return np.exp(icpt + slope * np.log(x_new))


CURVE_FIT_FAILURES = {"n": 0}


def plain_curve_fit(x: np.ndarray, y: np.ndarray, x_new: np.ndarray) -> np.ndarray:
    """scipy curve_fit of D n^-a + C, linear scale, one start; a failure falls back to last value."""
    def f(n: np.ndarray, d: float, a: float, c: float) -> np.ndarray:
        return d * n ** -a + c

    p0 = (max(y[0], 1e-3) * x[0] ** 0.5, 0.5, 0.0)  # passes through the first point with a = 0.5
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", (OptimizeWarning, RuntimeWarning))
            p, _ = curve_fit(f, x, y, p0=p0, maxfev=10000)
        pred = f(x_new, *p)
        if np.all(np.isfinite(pred)):
            return pred
    except (RuntimeError, ValueError):
        pass
    CURVE_FIT_FAILURES["n"] += 1
    return last_observed(x, y, x_new)


def law_predictor(law: str, weighted: bool) -> Predictor:
    """fits.fit_curve with `law`; weighted = tail_weights (our extrapolation default)."""
    def predict(x: np.ndarray, y: np.ndarray, x_new: np.ndarray) -> np.ndarray:
        w = tail_weights(x) if weighted else None
        return fit_curve(x, y, law, weights=w).predict(x_new)
    return predict


OURS = "ours (fits.extrapolate)"  # tail-weighted power_floor or last value, chosen per curve
SELECT = "law chosen per curve (fit --law auto)"  # fits.select: the law with the lowest inner holdout error
METHODS: dict[str, Predictor] = {
    "last value": last_observed,
    "log-log line": loglog_line,
    "curve_fit": plain_curve_fit,
    "m4 (ours, unweighted)": law_predictor("m4", False),
    "power_floor unweighted": law_predictor("power_floor", False),
    "power_floor tail-weighted": law_predictor("power_floor", True),
    OURS: lambda x, y, x_new: extrapolate(x, y, x_new),
    SELECT: lambda x, y, x_new: select(x, y).fit.predict(x_new),
}
# run on a fixed sample of curves only: M4 costs about a second per curve, select fits it too; the
# unweighted fit is there to show what the weighting does, which the sample shows as well as every
# curve would
SLOW = {"m4 (ours, unweighted)", "power_floor unweighted", SELECT}


def rel_err(pred: np.ndarray, obs: np.ndarray) -> float:
    """Mean relative error over held-out sizes; an observed 0 scores 0 if hit exactly, else inf."""
    diff = np.abs(pred - obs)
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.where(obs > 0, diff / np.where(obs > 0, obs, 1.0), np.where(diff > 0, np.inf, 0.0))
    return float(np.mean(r))


def score_curve(x: np.ndarray, y: np.ndarray, keep: np.ndarray, methods: dict[str, Predictor]
                ) -> dict[str, tuple[float, float, float]] | None:
    """method -> (relative error, absolute error, CPU s) on one curve; None if < 3 fitting sizes."""
    if keep.sum() < 3 or keep.all():
        return None
    out = {}
    for name, fn in methods.items():
        t0 = time.process_time()
        try:
            pred = np.asarray(fn(x[keep], y[keep], x[~keep]), dtype=float)
        except PredictionOverflow:  # the fitted law leaves the floats at the held-out sizes: a miss
            pred = np.full(int((~keep).sum()), np.inf)
        cpu = time.process_time() - t0
        if not np.all(np.isfinite(pred)):
            pred = np.where(np.isfinite(pred), pred, np.inf)  # a NaN prediction scores as a miss
        out[name] = (rel_err(pred, y[~keep]), float(np.mean(np.abs(pred - y[~keep]))), cpu)
    return out


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add `fit-bench`."""
    from fits.benchrun import add_arguments, cmd_fit_bench

    p = subparsers.add_parser("fit-bench", help="benchmark extrapolation on LCDB + the paper's curves",
                              description="Median held-out error of our fits vs last value, curve_fit "
                                          "and M4 on all LCDB 1.0 curves (3 protocols) and the paper's "
                                          "64k-pool curves; writes results/fits_bench.md.")
    add_arguments(p)
    p.set_defaults(func=cmd_fit_bench)
