"""Choosing the extrapolation predictor on LCDB only: `python -m fits.tuning`.

Scores candidate predictors on the 300-curve LCDB tuning sample (numpy default_rng(0) over the
sorted curve list, the sample the tail weighting was chosen on) under the three protocols of
ANCHORS.md, plus a fourth, "single run, doubling grid": the same curves as one run's split
(outer_seed = inner_seed = 0, as noisy as one training run), sizes thinned to a doubling grid
ending at the largest, the 7 largest kept, the largest held out (horizon 2, six fitting sizes).
It never reads the paper's curves: those are the test set of `fit-bench`.
"""
from __future__ import annotations

import argparse
import time
from functools import lru_cache
from typing import Callable, Mapping

import numpy as np
import pandas as pd
from scipy.optimize import least_squares

from fits import datasets
from fits.bench import PROTOCOLS, last_observed, law_predictor, rel_err
from fits.core import F_SCALE, TOL, _from_theta, _to_theta, fit_curve, make_problem, tail_weights, theta_box
from fits.extrapolation import extrapolate, inner_split, tail_fit

Predictor = Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]
TUNING_CURVES = 300


def doubling_tail(x: np.ndarray, y: np.ndarray, n_sizes: int = 7) -> tuple[np.ndarray, np.ndarray]:
    """Every other size counted back from the largest (LCDB's sqrt(2) grid -> about doubling), at
    most n_sizes of them, ascending."""
    idx = np.arange(len(x) - 1, -1, -2)[:n_sizes][::-1]
    return x[idx], y[idx]


def tuning_sets(n_curves: int = TUNING_CURVES) -> dict[str, list[tuple[np.ndarray, np.ndarray, np.ndarray]]]:
    """protocol -> [(x_fit, y_fit, x_new, y_new)] on the LCDB tuning sample."""
    mean_curves = datasets.curves(datasets.lcdb_full())
    ids = np.random.default_rng(0).choice(len(mean_curves), min(n_curves, len(mean_curves)), replace=False)
    out: dict[str, list] = {}
    for proto, split in PROTOCOLS.items():
        rows = []
        for i in ids:
            _, x, y = mean_curves[i]
            keep = split(x)
            if keep.sum() >= 3 and not keep.all():
                rows.append((x[keep], y[keep], x[~keep], y[~keep]))
        out[proto] = rows
    single = {name: (x, y) for name, x, y in datasets.curves(datasets.lcdb_single_run())}
    rows = []
    for i in ids:
        name = mean_curves[i][0]
        if name not in single:
            continue
        x, y = doubling_tail(*single[name])
        if len(x) >= 6:
            rows.append((x[:-1], y[:-1], x[-1:], y[-1:]))
    out["single run, doubling grid, hold out the last"] = rows
    return out


def score(pred_fn: Predictor, rows: list) -> tuple[float, float, float]:
    """(median relative error, median absolute error, median CPU ms) of a predictor on rows."""
    rel, ab, cpu = [], [], []
    for x, y, x_new, y_new in rows:
        t0 = time.process_time()
        pred = np.asarray(pred_fn(x, y, x_new), float)
        cpu.append(time.process_time() - t0)
        pred = np.where(np.isfinite(pred), pred, np.inf)
        rel.append(rel_err(pred, y_new))
        ab.append(float(np.mean(np.abs(pred - y_new))))
    return float(np.median(rel)), float(np.median(ab)), 1000 * float(np.median(cpu))


def inner_errors(x: np.ndarray, y: np.ndarray, x_new: np.ndarray,
                 cands: Mapping[str, Predictor]) -> dict[str, float] | None:
    """candidate -> mean relative error on the inner targets (fits.extrapolation.inner_split)."""
    keep = inner_split(x, x_new)
    if keep is None:
        return None
    return {k: rel_err(np.asarray(fn(x[keep], y[keep], x[~keep]), float), y[~keep])
            for k, fn in cands.items()}


def make_select(cands: Mapping[str, Predictor], default: str) -> Predictor:
    """Per curve, the candidate with the lowest inner error (ties and untestable: default)."""
    def predict(x: np.ndarray, y: np.ndarray, x_new: np.ndarray) -> np.ndarray:
        errs = inner_errors(x, y, x_new, cands)
        best = default if not errs else min(errs, key=lambda k: (errs[k], k != default))
        return cands[best](x, y, x_new)
    return predict


def make_stack(cands: Mapping[str, Predictor]) -> Predictor:
    """Per curve, candidates averaged with weights 1 / inner error^2 (equal if untestable)."""
    def predict(x: np.ndarray, y: np.ndarray, x_new: np.ndarray) -> np.ndarray:
        errs = inner_errors(x, y, x_new, cands)
        names = list(cands)
        w = np.ones(len(names)) if not errs else 1.0 / np.maximum([errs[k] for k in names], 1e-6) ** 2
        preds = np.array([cands[k](x, y, x_new) for k in names])
        return (w[:, None] * preds).sum(0) / w.sum()
    return predict


def make_mean(cands: Mapping[str, Predictor], how: str = "mean") -> Predictor:
    """Mean (or median) of the candidates' predictions."""
    agg = np.mean if how == "mean" else np.median

    def predict(x: np.ndarray, y: np.ndarray, x_new: np.ndarray) -> np.ndarray:
        return agg(np.array([fn(x, y, x_new) for fn in cands.values()]), axis=0)
    return predict


def candidates() -> dict[str, Predictor]:
    """Every predictor compared, in two rounds; the winner of round 1 became fits.extrapolate."""
    tw, uw = law_predictor("power_floor", True), law_predictor("power_floor", False)
    lv = last_observed
    tw_lv, tw_uw, all3 = {"tw": tw, "lv": lv}, {"tw": tw, "uw": uw}, {"tw": tw, "uw": uw, "lv": lv}
    round1 = {"last value": lv, "power_floor tail-weighted": tw, "power_floor unweighted": uw,
              "select(tw, lv)": make_select(tw_lv, "tw"), "select(tw, uw)": make_select(tw_uw, "tw"),
              "select(tw, uw, lv)": make_select(all3, "tw"), "stack(tw, lv)": make_stack(tw_lv),
              "stack(tw, uw, lv)": make_stack(all3), "mean(tw, lv)": make_mean(tw_lv),
              "mean(tw, uw)": make_mean(tw_uw), "median(tw, uw, lv)": make_mean(all3, "median")}
    # round 2: capping the optimiser (CPU), and a third, smoother "no trend" candidate
    capped = lambda x, y, xn: tail_fit(x, y, xn, max_nfev=100)  # noqa: E731
    round2 = {"tail fit, max_nfev 100": capped,
              "select(tail max_nfev 100, lv)": make_select({"tw": capped, "lv": lv}, "tw"),
              "select(tw, lv, level)": make_select({"tw": tw, "lv": lv, "level": fit_level}, "tw"),
              "select(tw, lv, mean of last 2)": make_select({"tw": tw, "lv": lv, "last2": last_two}, "tw")}
    # round 3: shrinkage, a Gaussian prior on alpha learned on other LCDB curves (empirical Bayes)
    prior = lambda x, y, xn: prior_fit(x, y, xn, PRIOR_STRENGTH)  # noqa: E731
    round3 = {f"tail fit, alpha prior x{lam}": (lambda x, y, xn, lam=lam: prior_fit(x, y, xn, lam))
              for lam in (0.003, 0.01, 0.03)}
    round3["select(tail fit with alpha prior, lv)"] = make_select({"tw": prior, "lv": lv}, "tw")
    return {**round1, **round2, **round3, "fits.extrapolate": extrapolate}


PRIOR_STRENGTH = 0.01  # the best of (0.003, 0.01, 0.03) for the tail fit alone on the tuning sample


@lru_cache(maxsize=1)
def alpha_prior(n_curves: int = TUNING_CURVES) -> tuple[float, float]:
    """(median, robust sd) of alpha over tail-weighted fits to whole LCDB curves outside the
    tuning sample (numpy default_rng(2) picks them): the prior of round 3."""
    curves = datasets.curves(datasets.lcdb_full())
    tuned = set(np.random.default_rng(0).choice(len(curves), TUNING_CURVES, replace=False).tolist())
    rest = [i for i in range(len(curves)) if i not in tuned]
    alphas = np.array([fit_curve(curves[i][1], curves[i][2], weights=tail_weights(curves[i][1])).params["alpha"]
                       for i in np.random.default_rng(2).choice(rest, n_curves, replace=False)])
    q25, q50, q75 = np.percentile(alphas, [25, 50, 75])
    return float(q50), float((q75 - q25) / 1.349)


def prior_fit(x: np.ndarray, y: np.ndarray, x_new: np.ndarray, strength: float,
              priors: Mapping[str, tuple[float, float]] | None = None) -> np.ndarray:
    """Tail-weighted power_floor with one extra residual strength * (theta - mu) / sd per prior;
    priors = {parameter: (mu, sd)} on the fitted scale (alpha as is, log D with x scaled by its
    geometric mean); default: the LCDB alpha prior of round 3."""
    return predict_scaled(*prior_fit_scaled(x, y, strength, priors), x_new)


def predict_scaled(prob, scaled: Mapping[str, float], x_new: np.ndarray) -> np.ndarray:
    """The law of `prob` with parameters in fitting units (x / x0), predicted at raw x_new."""
    return prob.law(np.asarray(x_new, float), prob.law.unscale(dict(scaled), prob.x0))


def prior_fit_scaled(x: np.ndarray, y: np.ndarray, strength: float = 0.0,
                     priors: Mapping[str, tuple[float, float]] | None = None):
    """(problem, scaled parameters) of prior_fit; strength 0 is the plain tail-weighted fit."""
    if priors is None and strength:
        priors = {"alpha": alpha_prior()}
    prob = make_problem(x, y, "power_floor", weights=tail_weights(x))
    law, names, xs = prob.law, prob.free, prob.xs
    y_fit = np.maximum(prob.y, prob.floor)
    lo, hi = theta_box(prob, y_fit)
    log_y, sw = np.log(y_fit), np.sqrt(prob.weights)
    pri = [(names.index(k), mu, sd) for k, (mu, sd) in priors.items()] if strength and priors else []

    def resid(theta: np.ndarray) -> np.ndarray:
        with np.errstate(all="ignore"):
            pred = law.func(xs, _from_theta(law, names, theta))
        pred = np.where(np.isfinite(pred), pred, 1e300)
        r = sw * (np.log(np.maximum(pred, prob.floor)) - log_y)
        return np.r_[r, [strength * (theta[i] - mu) / sd for i, mu, sd in pri]]

    best = None
    for start in law.starts(xs, y_fit):
        th0 = np.clip(_to_theta(law, names, start), lo + 1e-6 * (hi - lo), hi - 1e-6 * (hi - lo))
        th0 = np.where(np.isfinite(th0), th0, 0.5 * (lo + hi))
        res = least_squares(resid, th0, bounds=(lo, hi), loss="huber", f_scale=F_SCALE, x_scale="jac",
                            max_nfev=100, ftol=TOL, xtol=TOL, gtol=TOL)
        best = res if best is None or res.cost < best.cost else best
    return prob, _from_theta(law, names, best.x)


def fit_level(x: np.ndarray, y: np.ndarray, x_new: np.ndarray) -> np.ndarray:
    """The tail-weighted fit's value at the largest fitted size, at every x_new (no trend)."""
    return np.full(len(x_new), float(tail_fit(x, y, x[-1:])[0]))


def last_two(x: np.ndarray, y: np.ndarray, x_new: np.ndarray) -> np.ndarray:
    """Mean of the two largest sizes' errors, at every x_new."""
    return np.full(len(x_new), float(np.mean(y[-2:])))


def main(argv: list[str] | None = None) -> int:
    """Print every candidate's median errors on each tuning protocol."""
    ap = argparse.ArgumentParser(prog="python -m fits.tuning", description=__doc__.splitlines()[0])
    ap.add_argument("--curves", type=int, default=TUNING_CURVES,
                    help=f"size of the LCDB tuning sample (default {TUNING_CURVES}, numpy default_rng(0))")
    ap.add_argument("--only", default="", help="candidate names separated by ; (default: all)")
    args = ap.parse_args(argv)
    cands = candidates()
    unknown = [k for k in args.only.split(";") if k and k not in cands]
    if args.curves < 1 or unknown:
        ap.exit(2, f"fits.tuning: error: {'--curves must be >= 1' if args.curves < 1 else ''}"
                   f"{'unknown candidate(s) ' + repr(unknown) + '; valid: ' + '; '.join(cands) if unknown else ''}\n")
    sets = tuning_sets(args.curves)
    if args.only:
        cands = {k: v for k, v in cands.items() if k in args.only.split(";")}
    rows = []
    for name, fn in cands.items():
        for proto, data in sets.items():
            rel, ab, ms = score(fn, data)
            rows.append({"candidate": name, "protocol": proto, "curves": len(data), "median_rel_err": rel,
                         "median_abs_err": ab, "median_cpu_ms": ms})
        print(pd.DataFrame(rows[-len(sets):]).to_string(index=False), flush=True)
    table = pd.DataFrame(rows).pivot_table(index="candidate", columns="protocol", values="median_rel_err",
                                           sort=False)
    print(table.to_string(float_format=lambda v: f"{v:.4f}"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
