"""Predicting a learning curve at larger sizes: `fits.extrapolate`, the benchmarked predictor.

Per curve it chooses between two candidates by how well each extrapolates *within the curve's
own fitting points*, at the same horizon ratio as the real task:

- `tail`: power_floor fitted with `tail_weights` (sizes near the horizon weigh most);
- `last`: the last observed error (mean over rows at the largest size).

The fitting points are split at max(x) / ratio, ratio = max(x_new) / max(x) (with fewer than
3 sizes below, only the largest size is held out); each candidate is fitted on the inner part and
scored by mean relative error on the inner targets; the winner (ties: `tail`) is refitted on all
points. Why: on a flat, noisy curve (one run per size, the last step within the noise) the fit
chases noise and the last value is the better guess; on a curve that still falls the fit wins.
The candidate set and the split rule were chosen on LCDB only (`python -m fits.tuning`, the
300-curve tuning sample under four protocols); never on the paper's held-out points.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from fits.core import (TAIL_HALVING, _floats, _new_x, canonical_order, evaluate, finite_prediction, make_problem, solve,
                       subproblem, tail_weights)
from fits.errors import FitInputError
from fits.laws import get_law

Predictor = Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]
MIN_INNER_SIZES = 3  # a 3-parameter law needs at least 3 sizes in the inner fit
# per start; fit_curve's default is least_squares' 100 x parameters (300). On the LCDB tuning
# sample a cap of 100 left every protocol's median error unchanged and cut the CPU time of poorly
# identified curves (flat, noisy ones wander along the C-D valley up to the 300 cap)
MAX_NFEV = 100


def tail_fit(x: np.ndarray, y: np.ndarray, x_new: np.ndarray, law: str = "power_floor",
             max_nfev: int | None = MAX_NFEV, factor: float = TAIL_HALVING) -> np.ndarray:
    """`law` fitted with tail_weights(x, factor) (as fit_curve does, at most max_nfev residual
    evaluations per start), predicted at x_new."""
    prob = make_problem(x, y, law, weights=tail_weights(x, factor))
    prob = subproblem(prob, canonical_order(prob))  # as fit_curve: the same last bit for any row order
    scaled, _ = solve(prob, prob.y, prob.law.starts(prob.xs, np.maximum(prob.y, prob.floor)), max_nfev)
    return evaluate(prob.law, np.asarray(x_new, float), prob.law.unscale(scaled, prob.x0))


def last_value(x: np.ndarray, y: np.ndarray, x_new: np.ndarray) -> np.ndarray:
    """The mean observed error at the largest size, at every x_new."""
    return np.full(len(x_new), float(np.mean(y[x == np.max(x)])))


CANDIDATES: dict[str, Predictor] = {"tail": tail_fit, "last": last_value}


def inner_split(x: np.ndarray, x_new: np.ndarray) -> np.ndarray | None:
    """Mask of the inner fitting points (the rest are inner targets), or None if untestable."""
    sizes = np.unique(x)
    ratio = max(float(np.max(x_new)) / float(sizes[-1]), 1.0)
    keep = x <= sizes[-1] / ratio * (1 + 1e-9)
    if len(np.unique(x[keep])) < MIN_INNER_SIZES or keep.all():
        keep = x < sizes[-1]  # too few sizes below the ratio: hold out only the largest
    return keep if len(np.unique(x[keep])) >= MIN_INNER_SIZES else None


@dataclass
class Choice:
    """Which candidate a curve's own fitting points favour, with every candidate's inner error."""

    method: str
    inner_errors: dict[str, float] = field(default_factory=dict)
    message: str = ""

    def __str__(self) -> str:
        return self.message


def curve_and_targets(x: Any, y: Any, x_new: Any, law: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(x, y, x_new) as float arrays; one-line FitInputError on bad input, whichever candidate wins."""
    prob = make_problem(x, y, law)
    if prob.law.n_inputs != 1:  # the last value and the size split are defined along one size
        raise FitInputError(f"extrapolate predicts along one size; {law!r} takes two (n and s): use "
                            "fits.fit_curve(x, y, law) and its predict")
    xn = _floats(x_new, "x_new").reshape(-1)
    if not len(xn):
        raise FitInputError("x_new is empty; give the size(s) to predict at")
    return prob.x, prob.y, _new_x(xn, prob.law)  # finite and > 0, as Fit.predict needs


def choose(x: Any, y: Any, x_new: Any, law: str = "power_floor") -> Choice:
    """Score each candidate predicting the curve's largest fitting sizes from its smaller ones."""
    xa, ya, xn = curve_and_targets(x, y, x_new, law)
    keep = inner_split(xa, xn)
    if keep is None:
        return Choice("tail", {}, f"tail by default: {len(np.unique(xa))} sizes are too few to test")
    obs = ya[~keep]
    errs = {}
    for name, fn in CANDIDATES.items():
        kw = {"law": law} if name == "tail" else {}
        pred = np.asarray(fn(xa[keep], ya[keep], xa[~keep], **kw), float)
        diff = np.abs(pred - obs)
        # relative error as in the benchmark; an observed 0 counts the absolute miss
        err = diff / np.where(obs > 0, obs, 1.0)
        errs[name] = float(np.mean(err)) if np.all(np.isfinite(err)) else np.inf
    best = min(errs, key=lambda k: (errs[k], k != "tail"))
    n_in = len(np.unique(xa[keep]))
    msg = (f"{best}: inner relative error " + ", ".join(f"{k} {v:.3g}" for k, v in errs.items())
           + f" (fit on the {n_in} smallest sizes, predict the other {len(np.unique(xa)) - n_in})")
    return Choice(best, errs, msg)


def extrapolate(x: Any, y: Any, x_new: Any, law: str = "power_floor", *,
                with_choice: bool = False) -> np.ndarray | tuple[np.ndarray, Choice]:
    """Predicted error at larger sizes x_new: tail-weighted `law` or the last value, whichever
    extrapolates better within the curve's own points (see the module docstring)."""
    xa, ya, xn = curve_and_targets(x, y, x_new, law)
    choice = choose(xa, ya, xn, law)
    fn = CANDIDATES[choice.method]
    if choice.method == "tail":  # a law that overflows at x_new: one line, as Fit.predict says it
        pred = finite_prediction(get_law(law), xn, fn(xa, ya, xn, law=law), xa)
    else:
        pred = fn(xa, ya, xn)
    return (pred, choice) if with_choice else pred
