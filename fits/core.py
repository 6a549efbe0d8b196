"""Fitting one learning curve: log-space Huber loss, several starts, bounds, lazy bootstrap.

The loss compares log(prediction) with log(observation), so a 10 % miss counts the same at
error 0.5 and at error 0.01 (learning curves span decades), and Huber's loss (scale F_SCALE, in
log units) keeps one bad seed from dragging the curve. Errors of exactly 0 are floored at half
the smallest positive error (below the resolution of the test set) and flagged.
"""
from __future__ import annotations

import itertools

from dataclasses import dataclass, field, replace
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd
from scipy.optimize import least_squares

from fits import diagnostics as diag
from fits.errors import FitInputError, PredictionOverflow, one_line
from fits.laws import Law, Params, get_law

F_SCALE = 0.1  # Huber scale in log units: residuals above ~10 % are down-weighted
TOL = 1e-6     # least_squares tolerances: 1e-6 in log units is far below any measurement noise
N_BOOT = 200   # bootstrap refits behind .ci() and .band()
TAIL_HALVING = 0.5  # tail_weights: each smaller size weighs this much of the next; chosen on LCDB
# Sizes and errors a fit can take: beyond these its arithmetic leaves the floats (an error of 1e300
# made least_squares' first residuals infinite, a size of 1e308 an infinite plotting grid, a positive
# error of 5e-324 a floor of 0 whose log is -inf). Real sizes and error rates are far inside.
MAX_VALUE = 1e100
MIN_POSITIVE_ERROR = 1e-100


@dataclass
class Problem:
    """A validated curve in fitting units: x / x0, floored y, weights, fixed parameters."""

    law: Law
    x: np.ndarray          # raw sizes, (N,) or (N, 2)
    y: np.ndarray          # raw errors, >= 0
    x0: np.ndarray         # per-column scale; ones when a parameter is fixed in raw units
    floor: float           # errors below this are treated as this in the log loss
    weights: np.ndarray
    fixed: dict[str, float]
    groups: np.ndarray | None
    box: dict[str, tuple[float, float]] = field(default_factory=dict)  # caller's bounds, raw units
    group_labels: np.ndarray | None = None  # the seeds as given, indexed by their codes in `groups`

    @property
    def xs(self) -> np.ndarray:
        """x in fitting units."""
        return self.x / self.x0

    @property
    def free(self) -> tuple[str, ...]:
        """Names of the parameters being fitted."""
        return tuple(p for p in self.law.params if p not in self.fixed)


def _floats(v: Any, what: str, masks: bool = False) -> np.ndarray:
    """`v` as a float array; ragged, complex, date/time, True/False (unless `masks`: a mask is a
    fine weight) or non-numeric values are a FitInputError (a date fitted as nanoseconds since 1970,
    a complex error with its imaginary part dropped, or True/False as errors 1 and 0 would be a
    silent wrong fit)."""
    try:
        arr = np.asarray(v)
    except ValueError:
        raise FitInputError(f"{what} must be a flat list of numbers; its rows differ in length") from None
    if arr.dtype.kind in ("cmM" if masks else "bcmM"):
        kind = {"b": "True/False values", "c": "complex numbers", "m": "time spans", "M": "dates"}[arr.dtype.kind]
        raise FitInputError(f"{what} must be real numbers (sizes and errors); got {kind}: convert them first")
    try:
        return arr.astype(float)
    except (TypeError, ValueError):
        raise FitInputError(f"{what} must be numbers; got {arr.reshape(-1)[:3].tolist()}...") from None


def _as_x(x: Any, law: Law) -> np.ndarray:
    arr = _floats(x, "x")
    if law.n_inputs == 1:
        if arr.ndim > 2 or (arr.ndim == 2 and arr.shape[1] > 1):
            two = "; the two-input law is 'transfer_bound'" if arr.ndim == 2 else ""
            raise FitInputError(f"law {law.name!r} takes one size per point, got x of shape {arr.shape}{two}")
        return arr.reshape(-1)
    if arr.ndim != 2 or arr.shape[1] != law.n_inputs:
        raise FitInputError(f"law {law.name!r} needs x of shape (N, {law.n_inputs}), got {arr.shape}")
    # row-major whatever the caller's layout (np.c_, a DataFrame's values): the scale x0 sums each
    # column, and a column-major array sums in another order, a last bit that moves the optimiser's path
    return np.ascontiguousarray(arr)


def _as_y(y: Any) -> np.ndarray:
    """y as one error per point: a column (N, 1) is fine, a table (N, 3) is not flattened."""
    arr = _floats(y, "y")
    if sum(d > 1 for d in arr.shape) > 1:
        raise FitInputError(f"y must be one error per point, got shape {arr.shape}; pass one column (or "
                            "fit each column on its own)")
    return arr.reshape(-1)


def _new_x(x_new: Any, law: Law) -> np.ndarray:
    """Sizes to predict at: finite and > 0, where the law is defined (n^-alpha is infinite at 0
    and undefined below it; the scratch baseline at 0 is measured, not predicted)."""
    xa = _as_x(x_new, law)
    bad = ~(np.isfinite(xa) & (xa > 0))
    if np.any(bad):
        raise FitInputError(f"sizes to predict at must be finite and > 0, got {xa[bad].reshape(-1)[0]:g}; "
                            "a law is not defined at size 0 (the scratch baseline is measured, not predicted)")
    return xa


def _size_text(row: np.ndarray) -> str:
    """One size as a message shows it: 1e-300, or (n, s) = (1e-300, 100) for a law of two sizes."""
    vals = np.atleast_1d(row)
    return f"{vals[0]:g}" if len(vals) == 1 else f"(n, s) = ({', '.join(f'{v:g}' for v in vals)})"


def _fitted_range(x: np.ndarray) -> str:
    """The fitted sizes as a message shows them: 100 to 3200, or n 100 to 3200 and s 10 to 1000."""
    cols = x.reshape(len(x), -1)
    spans = [f"{c.min():g} to {c.max():g}" for c in cols.T]
    return spans[0] if len(spans) == 1 else " and ".join(f"{k} {v}" for k, v in zip("ns", spans))


def _sizes_text(rows: np.ndarray) -> str:
    """'size 1e-300' or 'sizes 1e-300, 1e-250 and 4 more': each distinct size once, three at most."""
    sizes = list(dict.fromkeys(_size_text(r) for r in rows))
    more = f" and {len(sizes) - 3} more" if len(sizes) > 3 else ""
    return f"size{'s' if len(sizes) > 1 else ''} {', '.join(sizes[:3])}{more}"


def evaluate(law: Law, x: np.ndarray, params: Params) -> np.ndarray:
    """`law` at sizes `x`, quietly: where its arithmetic leaves the floats the value is inf (or NaN),
    without numpy's overflow warning. Fit.predict refuses such values (finite_prediction); scoring
    code (holdout scores, fits.extrapolate's inner choice, the benchmark) counts them as misses."""
    with np.errstate(over="ignore", invalid="ignore"):
        return law(x, params)


def finite_prediction(law: Law, x_new: np.ndarray, pred: np.ndarray, x_fit: np.ndarray) -> np.ndarray:
    """`pred` when every predicted error is finite; else a one-line FitInputError naming the sizes
    where the law overflows. Far outside the fitted sizes a law's arithmetic leaves the floats
    (D n^-alpha at n = 1e-300, a rising bnsl or s^-beta at huge sizes): an infinite (or NaN) error
    is no prediction, and returned as a number it flowed silently into means and plots."""
    bad = ~np.isfinite(pred)
    if not bad.any():
        return pred
    share = f" ({int(bad.sum())} of the {len(pred)} asked for)" if len(pred) > 1 else ""
    raise PredictionOverflow(f"law {law.name!r} overflows at {_sizes_text(x_new[bad])}{share}: its "
                        f"predicted error there is beyond the floating-point range, far outside the fitted sizes "
                        f"({_fitted_range(x_fit)}); predict nearer them")


def percentile_interval(samples: np.ndarray, level: float) -> tuple[float, float]:
    """The `level` percentile interval of `samples`, NaN left out; (NaN, NaN) if all are NaN (the
    bootstrap had no noise to draw from: uncertainty.noise_dof)."""
    ok = samples[~np.isnan(samples)]
    if not len(ok):
        return float("nan"), float("nan")
    q = 50 * (1 - level)
    lo, hi = np.percentile(ok, [q, 100 - q])
    return float(lo), float(hi)


def _level(level: Any) -> float:
    """An interval level: a fraction strictly between 0 and 1."""
    try:
        lv = float(level)
    except (TypeError, ValueError):
        lv = float("nan")
    if not 0 < lv < 1:
        pct = f" (for {lv:g} % use {lv / 100:g})" if 50 <= lv < 100 else ""
        raise FitInputError(f"level must be a fraction strictly between 0 and 1, e.g. 0.95 for a 95 % interval; "
                            f"got {level!r}{pct}")
    return lv


def make_problem(x: Any, y: Any, law: str, groups: Any = None, weights: Any = None,
                 fixed: Mapping[str, float] | None = None,
                 bounds: Mapping[str, tuple[float, float]] | None = None) -> Problem:
    """Validate the inputs of `fit_curve`; every user mistake is a one-line FitInputError."""
    lw = get_law(law)
    _same_index(x=x, y=y, groups=groups, weights=weights)
    xa, ya = _as_x(x, lw), _as_y(y)
    if len(xa) != len(ya):
        raise FitInputError(f"x and y differ in length ({len(xa)} vs {len(ya)})")
    if not (np.all(np.isfinite(xa)) and np.all(np.isfinite(ya))):
        raise FitInputError("x or y contains NaN or infinity; drop or repair those rows first")
    if np.any(ya < 0):
        raise FitInputError(f"y has negative values (min {ya.min():.4g}); errors must be >= 0")
    if np.any(xa <= 0):
        raise FitInputError("x must be > 0 (drop the scratch rows with x = 0 before fitting a law)")
    _check_magnitudes(xa, ya)
    n_sizes = len(np.unique(xa if lw.n_inputs == 1 else xa[:, 0]))
    if n_sizes < 3:
        raise FitInputError(f"need at least 3 distinct sizes to fit {lw.name!r}, got {n_sizes}")
    fixed, box = _fixed_values(lw, fixed), _caller_box(lw, bounds)
    w = _weights(weights, xa if lw.n_inputs == 1 else xa[:, 0])
    if lw.n_inputs == 2 and "beta" not in fixed:  # the weighted rows must span 2 s: weight 0 leaves a row out
        s_used = np.unique(xa[w > 0, 1])
        if len(s_used) < 2:
            raise FitInputError(f"{lw.name!r} needs at least 2 distinct fine-tuning sizes (x[:, 1]) with weight "
                                f"> 0 to fit its exponent beta, got only {s_used[0]:g}; fit one s with "
                                "'power_floor', or pin beta with fixed={'beta': ...}")
    g = None if groups is None else np.asarray(groups).reshape(-1)
    if g is not None and len(g) != len(ya):
        raise FitInputError(f"groups has {len(g)} entries for {len(ya)} points")
    labels = None
    if g is not None:  # integer codes in sorted order; a missing seed (NaN) is a seed of its own
        g, labels = pd.factorize(g, sort=True, use_na_sentinel=False)
        labels = np.asarray(labels)
    cols = xa.reshape(len(xa), -1)
    # parameters pinned or boxed in the caller's units rule out rescaling x
    # (summed in sorted order: the same last bit for any row order; a flat curve's D-C split hangs on it)
    x0 = np.exp(np.mean(np.sort(np.log(cols), axis=0), axis=0)) if not (fixed or box) else np.ones(cols.shape[1])
    pos = ya[ya > 0]
    floor = 0.5 * float(pos.min()) if len(pos) else 1e-6
    prob = Problem(lw, xa, ya, x0, floor, w, fixed, g, box, labels)
    _check_fixed_in_box(prob)
    return prob


def _same_index(**inputs: Any) -> None:
    """Pandas inputs (Series, DataFrames) are read by position: with different indexes (y taken from
    another filtering or sorting of the table than x) their rows would be paired wrongly, silently."""
    indexed = {k: v.index for k, v in inputs.items() if isinstance(v, (pd.Series, pd.DataFrame))}
    first = next(iter(indexed), None)
    for name, index in indexed.items():
        if not index.equals(indexed[first]):
            raise FitInputError(f"{first} and {name} are pandas objects with different indexes, so their rows "
                                f"would be paired by position, not by label: take both from one table, or "
                                f"align them first ({name}.reindex({first}.index)) or pass arrays")


def _check_magnitudes(xa: np.ndarray, ya: np.ndarray) -> None:
    """Sizes and errors below MAX_VALUE, positive errors at least MIN_POSITIVE_ERROR: beyond them the
    fit overflows or underflows (see MAX_VALUE)."""
    if np.any(xa >= MAX_VALUE):
        raise FitInputError(f"x has sizes too large to fit (max {xa.max():.4g}); sizes must be below "
                            f"{MAX_VALUE:.0e}: repair or drop those rows")
    if np.any(ya >= MAX_VALUE):
        raise FitInputError(f"y has errors too large to fit (max {ya.max():.4g}); errors must be below "
                            f"{MAX_VALUE:.0e}: repair or drop those rows")
    tiny = (ya > 0) & (ya < MIN_POSITIVE_ERROR)
    if np.any(tiny):
        raise FitInputError(f"y has errors too small to fit (min {ya[tiny].min():.4g}); an error must be 0 or "
                            f"at least {MIN_POSITIVE_ERROR:.0e}: repair or drop those rows")


def _weights(weights: Any, sizes: np.ndarray) -> np.ndarray:
    """One finite weight >= 0 per point, with weight on at least 3 distinct sizes (a point of
    weight 0 is left out of the fit, so fewer would leave the law undetermined), divided by the
    largest: only relative weights matter. (Huber's scale F_SCALE applies to the weighted
    residual, so weights of 1e4 or 1e-8 would otherwise move the line between inlier and outlier,
    or stall the optimiser; the most trusted points get F_SCALE.)"""
    if weights is None:
        return np.ones(len(sizes))
    w = _floats(weights, "weights", masks=True).reshape(-1)
    if len(w) != len(sizes) or not np.all(np.isfinite(w)) or np.any(w < 0):
        raise FitInputError(f"weights must be finite, >= 0 and one per point; got {w.size} for {len(sizes)} points"
                            + (f", min {np.min(w):.4g}" if w.size else ""))
    n_weighted = len(np.unique(sizes[w > 0]))
    if n_weighted < 3:
        raise FitInputError(f"weights are > 0 at {n_weighted} distinct size(s); a law needs weight on at least 3")
    return w / w.max()


def _fixed_values(law: Law, fixed: Any) -> dict[str, float]:
    """`fixed` as {name: float}: a mapping of the law's parameters to finite numbers (> 0 for
    parameters fitted in logs)."""
    if fixed is None:
        return {}
    if not isinstance(fixed, Mapping):
        raise FitInputError(f"fixed must map parameter names to values, e.g. {{'C': 0.1}}; got {fixed!r}")
    unknown = sorted(set(fixed) - set(law.params), key=repr)  # keys of mixed types: 1 and 'Q'
    if unknown:
        raise FitInputError(f"fixed has unknown parameter(s) {unknown}; {law.name!r} has {list(law.params)}")
    out = {}
    for k, v in fixed.items():
        try:
            if isinstance(v, (bool, np.bool_)):  # True would pin the parameter at 1.0
                raise TypeError
            out[k] = float(v)
        except (TypeError, ValueError):
            raise FitInputError(f"fixed[{k!r}] must be a number, got {v!r}") from None
    bad = sorted(k for k, v in out.items() if not np.isfinite(v) or (k in law.log_params and v <= 0))
    if bad:
        positive = f", and > 0 for {', '.join(sorted(law.log_params))}" if law.log_params else ""
        raise FitInputError(f"fixed values must be finite{positive}; got {({k: out[k] for k in bad})}")
    if len(out) == len(law.params):  # a "fit" of nothing came back as a certain one: zero-width intervals, no flag
        raise FitInputError(f"fixed pins every parameter of {law.name!r} ({', '.join(law.params)}): nothing is "
                            f"left to fit; to evaluate the law there, call fits.LAWS[{law.name!r}](x, params)")
    return out


def _caller_box(law: Law, bounds: Any) -> dict[str, tuple[float, float]]:
    """`bounds` as {name: (lo, hi)}: the law's parameters, finite numbers, lo < hi."""
    if bounds is None:
        return {}
    if not isinstance(bounds, Mapping):
        raise FitInputError(f"bounds must map parameter names to (lo, hi), e.g. {{'alpha': (0.1, 1.5)}}; got {bounds!r}")
    box = {}
    for k, v in bounds.items():
        try:
            lo, hi = (float(b) for b in v)
        except (TypeError, ValueError):
            raise FitInputError(f"bounds[{k!r}] must be a pair of numbers (lo, hi), got {v!r}") from None
        box[k] = (lo, hi)
    bad = sorted((k for k, (lo, hi) in box.items() if k not in law.params or not lo < hi), key=repr)
    if bad:
        raise FitInputError(f"bounds for {bad} are unknown parameters or empty; {law.name!r} has {list(law.params)}")
    inf = sorted(k for k, (lo, hi) in box.items() if not (np.isfinite(lo) and np.isfinite(hi)))
    if inf:
        raise FitInputError(f"bounds for {inf} must be finite; leave a parameter out of bounds to keep the law's own box")
    nonpos = sorted(k for k, (lo, hi) in box.items() if k in law.log_params and hi <= 0)
    if nonpos:  # fitted as log(p): the box must hold positive values (a lower end <= 0 reads as 1e-300)
        raise FitInputError(f"bounds for {nonpos} must reach above 0: {', '.join(nonpos)} > 0 in law {law.name!r}")
    return box


def _check_fixed_in_box(prob: Problem) -> None:
    """A pinned value outside the law's box (alpha in [0, 3], a floor C in [0, max y], ...) is a
    curve the law does not describe: a negative alpha rises, a C above every error explains none
    of them. The caller's `bounds` for that parameter replace the law's range here too."""
    if not prob.fixed:
        return
    box = {**prob.law.bounds(prob.xs, np.maximum(prob.y, prob.floor)), **prob.box}
    for k, v in prob.fixed.items():
        lo, hi = box[k]
        # an estimate from another fit may sit on a bound; a log parameter's (D in [1e-9, 5e10]) is
        # relative: 1e-9 of the upper end let every positive D through the lower one
        slack = (1e-9 * max(abs(lo), abs(hi), 1.0),) * 2 if k not in prob.law.log_params else (1e-9 * lo, 1e-9 * hi)
        if not lo - slack[0] <= v <= hi + slack[1]:
            raise FitInputError(f"fixed {k} = {v:g} is outside the range of {k} in law {prob.law.name!r} on this data, "
                                f"[{lo:.4g}, {hi:.4g}]; pin a value inside it (or widen it with bounds={{{k!r}: (lo, hi)}})")


def _to_theta(law: Law, names: Sequence[str], p: Params) -> np.ndarray:
    return np.array([np.log(p[k]) if k in law.log_params else p[k] for k in names])


def _from_theta(law: Law, names: Sequence[str], theta: np.ndarray) -> Params:
    return {k: float(np.exp(t)) if k in law.log_params else float(t) for k, t in zip(names, theta)}


def theta_box(prob: Problem, y_fit: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(lower, upper) bounds of the free parameters on the optimiser's scale (log for log
    parameters): the law's box for this data, overridden by the caller's `bounds`."""
    law, names = prob.law, prob.free
    box = {**law.bounds(prob.xs, y_fit), **prob.box}
    lo = _to_theta(law, names, {k: max(box[k][0], 1e-300) if k in law.log_params else box[k][0] for k in names})
    return lo, _to_theta(law, names, {k: box[k][1] for k in names})


def solve(prob: Problem, y: np.ndarray, starts: list[Params], max_nfev: int | None = None
          ) -> tuple[Params, float]:
    """Best (scaled parameters, cost) over `starts` for data `y` on the problem's design."""
    law, names, xs = prob.law, prob.free, prob.xs
    lo, hi = theta_box(prob, np.maximum(y, prob.floor))  # all-zero curves still get a box
    log_y = np.log(np.maximum(y, prob.floor))
    sw = np.sqrt(prob.weights)

    last: list = [None, None]  # (theta, law value) of the last resid call: jac comes at the same theta

    def value(theta: np.ndarray) -> tuple[Params, np.ndarray]:
        p = {**_from_theta(law, names, theta), **prob.fixed}
        if last[0] is None or not np.array_equal(last[0], theta):
            with np.errstate(all="ignore"):
                last[:] = theta.copy(), law.func(xs, p)
        return p, last[1]

    def resid(theta: np.ndarray) -> np.ndarray:
        pred = value(theta)[1]
        pred = np.where(np.isfinite(pred), pred, 1e300)
        return sw * (np.log(np.maximum(pred, prob.floor)) - log_y)

    def jac(theta: np.ndarray) -> np.ndarray:
        # d resid / d theta = sw * (d pred / d p) (* p for a log parameter) / pred; 0 where resid
        # does not move (pred clipped at the floor, or not finite) or the law's derivative is not finite
        p, pred = value(theta)
        with np.errstate(all="ignore"):
            grads = law.grad(xs, p, pred)
            live = np.isfinite(pred) & (pred > prob.floor)
            scale = np.where(live, sw / np.where(live, pred, 1.0), 0.0)
            cols = [scale * (grads[k] * p[k] if k in law.log_params else grads[k]) for k in names]
        out = np.stack(cols, axis=1) if cols else np.zeros((len(xs), 0))
        return np.where(np.isfinite(out), out, 0.0)

    best: tuple[Params, float] | None = None
    pad = 1e-6 * (hi - lo)
    for start in starts:
        th0 = np.clip(_to_theta(law, names, {k: start[k] for k in names}), lo + pad, hi - pad)
        th0 = np.where(np.isfinite(th0), th0, 0.5 * (lo + hi))
        res = least_squares(resid, th0, jac=jac if law.grad is not None else "2-point", bounds=(lo, hi),
                            loss="huber", f_scale=F_SCALE, x_scale="jac", max_nfev=max_nfev,
                            ftol=TOL, xtol=TOL, gtol=TOL)
        if best is None or res.cost < best[1]:
            p = {**_from_theta(law, names, res.x), **prob.fixed}
            best = ({k: p[k] for k in law.params}, float(res.cost))
    assert best is not None
    return best


@dataclass
class Fit:
    """A fitted learning curve: parameters, predictions, bootstrap intervals and diagnostics."""

    law: Law
    params: Params
    problem: Problem = field(repr=False)
    scaled: Params = field(repr=False)
    cost: float = 0.0
    _boot: np.ndarray | None = field(default=None, repr=False)
    _boot_seed: Any = field(default=None, repr=False)
    # (bootstrap samples they were judged on, flags) of the last .diagnostics: what repr shows
    _flags: tuple[np.ndarray | None, list[diag.Flag]] | None = field(default=None, repr=False, compare=False)

    def __repr__(self) -> str:
        """Fit(power_floor: D=2.01, alpha=0.498, C=0.0999; 21 points at 7 sizes, 3 seeds; flags: few_seeds).

        Parameters to 4 significant figures ("fixed" after a pinned one); points, sizes and seeds of
        weight > 0, as the diagnostics count them. Flags are shown only when `.diagnostics` was read
        since the last bootstrap: computing them runs the bootstrap (200 refits), too slow for a repr,
        so a repr never computes them and says "flags not computed" instead. The dataclass's own
        repr printed the law's functions, several hundred characters of addresses."""
        used = self.used
        params = ", ".join(f"{k}={v:.4g}" + (" fixed" if k in self.problem.fixed else "")
                           for k, v in self.params.items())
        if self.law.n_inputs == 1:
            where = f"{len(np.unique(used.x))} sizes"
        else:
            where = f"{len(np.unique(used.x, axis=0))} (n, s) cells"
        counts = f"{len(used.y)} points at {where}"
        if used.groups is not None:
            n_groups = len(np.unique(used.groups))
            unit = "seed" if self.law.n_inputs == 1 else "group"
            counts += f", {n_groups} {unit}{'s' if n_groups != 1 else ''}"
        left = len(self.problem.y) - len(used.y)
        if left:
            counts += f" ({left} of weight 0 left out)"
        if self._flags is not None and self._flags[0] is self._boot:
            flags = "flags: " + (", ".join(dict.fromkeys(f.name for f in self._flags[1])) or "none")
        else:
            flags = "flags not computed"
        return f"Fit({self.law.name}: {params}; {counts}; {flags})"

    def predict(self, x_new: Any) -> np.ndarray:
        """Predicted error at sizes `x_new` (raw units, like the fitted x; finite and > 0), always 1-d:
        one bare size gives a 1-element array (take `[0]`; kept so, as code indexes it). A size where
        the law overflows (far outside the fitted sizes) is a one-line FitInputError."""
        xa = _new_x(x_new, self.law)
        return finite_prediction(self.law, xa, evaluate(self.law, xa, self.params), self.problem.x)

    def bootstrap(self, n_boot: int | None = None, seed: Any = None) -> np.ndarray:
        """(n_boot, n_params) raw parameter samples from refits to resampled errors on the fixed
        design: a per-seed offset plus within-seed residuals if groups were given, else log
        residuals (fits.uncertainty). Cached per (n_boot, seed); None = the
        cached value, else N_BOOT refits from seed 0."""
        if n_boot is None:
            n_boot = N_BOOT if self._boot is None else len(self._boot)
        if seed is None:
            seed = 0 if self._boot is None else self._boot_seed
        if isinstance(n_boot, bool) or not isinstance(n_boot, (int, np.integer)) or n_boot < 1:
            raise FitInputError(f"n_boot must be a whole number >= 1, got {n_boot!r}")
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
            raise FitInputError(f"seed must be a whole number >= 0, got {seed!r}")
        if self._boot is None or len(self._boot) != n_boot or seed != self._boot_seed:
            from fits.uncertainty import bootstrap_params
            self._boot, self._boot_seed = bootstrap_params(self, n_boot, seed), seed
        return self._boot

    def ci(self, level: float = 0.95) -> dict[str, tuple[float, float]]:
        """name -> (lo, hi) percentile bootstrap interval at `level` (a fraction in (0, 1)), from
        the samples of the last `bootstrap()` call (N_BOOT refits from seed 0 if none was made)."""
        level, samples = _level(level), self.bootstrap()
        return {name: percentile_interval(samples[:, j], level) for j, name in enumerate(self.law.params)}

    def band(self, x_new: Any, level: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
        """(lo, hi) arrays: pointwise bootstrap interval of the fitted curve at `x_new` (the samples
        of the last `bootstrap()` call, as `ci`); refused, as `predict`, where the fitted law
        overflows, and where so many bootstrap refits overflow that an end of the band does. NaN
        where the intervals are unknown (no points left over for the noise: uncertainty.noise_dof)."""
        xa, level = _new_x(x_new, self.law), _level(level)
        q = 50 * (1 - level)
        self.predict(xa)
        rows = self.bootstrap()
        rows = rows[np.isfinite(rows).all(axis=1)]
        if not len(rows):
            return np.full(len(xa), np.nan), np.full(len(xa), np.nan)
        preds = np.array([evaluate(self.law, xa, dict(zip(self.law.params, row))) for row in rows])
        preds = np.where(np.isfinite(preds), preds, np.inf).reshape(len(preds), -1)  # overflow is upward
        with np.errstate(invalid="ignore"):  # interpolating towards an inf sample gives NaN: refused below
            lo, hi = np.percentile(preds, q, axis=0), np.percentile(preds, 100 - q, axis=0)
        bad = ~(np.isfinite(lo) & np.isfinite(hi))
        if bad.any():
            share = (~np.isfinite(preds[:, bad])).mean(axis=0).max()
            raise PredictionOverflow(
                f"the {level:g} band of law {self.law.name!r} is unbounded at {_sizes_text(xa[bad])}: up to "
                f"{share:.0%} of its bootstrap refits overflow there, far outside the fitted sizes "
                f"({_fitted_range(self.problem.x)}); ask for a band nearer them")
        return lo, hi

    @property
    def used(self) -> Problem:
        """The problem of the points the fit used (weight > 0): what its diagnostics, counts and
        scores judge. A point of weight 0 is left out of all of them."""
        return weighted(self.problem)

    @property
    def diagnostics(self) -> list[diag.Flag]:
        """Named flags, each with a one-line explanation (computing them runs the bootstrap)."""
        flags = diag.check(self)
        self._flags = (self._boot, flags)  # for repr, which does not compute them
        return flags

    def to_dict(self, level: float = 0.95) -> dict[str, Any]:
        """A JSON-able summary: law, parameters, intervals, diagnostics, data size (strict JSON:
        an interval end that is unknown, NaN with too few points for the noise, is None)."""
        used = self.used
        xs = used.x if self.law.n_inputs == 1 else used.x[:, 0]
        level = _level(level)  # stored as a plain float: np.float32(0.9) or "0.9" are not JSON floats
        return strict_json({"law": self.law.name, "params": dict(self.params),
                            "ci": {k: list(v) for k, v in self.ci(level).items()}, "level": level,
                            "fixed": dict(self.problem.fixed),
                            "diagnostics": [f.to_dict() for f in self.diagnostics],
                            "n_points": len(used.y), "n_sizes": int(len(np.unique(xs)))})


def json_value(v: Any) -> Any:
    """`v` as a plain JSON value: numpy scalars as Python ones, NaN, infinity and pd.NA as None."""
    v = v.item() if isinstance(v, np.generic) else v
    if v is pd.NA or (isinstance(v, float) and not np.isfinite(v)):  # strict JSON has no NaN
        return None
    return v


def strict_json(obj: Any) -> Any:
    """`obj` with every non-finite float (NaN, inf) replaced by None, for files strict parsers read."""
    if isinstance(obj, dict):
        return {k: strict_json(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [strict_json(v) for v in obj]
    return json_value(obj)


GRID_POSITIONS = (0.05, 0.3, 0.6, 0.9)  # where in each free parameter's box (theta scale) a grid start sits


def grid_starts(prob: Problem, y_fit: np.ndarray) -> list[Params]:
    """Starts on a grid over the free parameters' box, for fits with fixed or caller-boxed
    parameters: the law's own starts come from a free fit (e.g. D from a log-log line), which can
    leave the constrained fit in a worse basin (D = 0.48 fixed on the paper's ResNet-18 curve:
    alpha 0.31, C 0.85 from those starts; alpha 0.03, C 0.51 fits 4x better in squared log error).
    At most 3 free parameters (4^3 starts); none beyond."""
    law, names = prob.law, prob.free
    if len(names) > 3:  # (none free cannot happen: pinning every parameter is refused)
        return []
    lo, hi = theta_box(prob, y_fit)
    axes = [lo[i] + np.array(GRID_POSITIONS) * (hi[i] - lo[i]) for i in range(len(names))]
    return [_from_theta(law, names, np.array(t)) for t in itertools.product(*axes)]


def subproblem(prob: Problem, rows: np.ndarray) -> Problem:
    """`prob` with its rows (x, y, weights, seeds together) taken in the order `rows` gives."""
    return replace(prob, x=prob.x[rows], y=prob.y[rows], weights=prob.weights[rows],
                   groups=None if prob.groups is None else prob.groups[rows])


def weighted(prob: Problem) -> Problem:
    """`prob` without its points of weight 0 (`prob` itself when it has none)."""
    keep = prob.weights > 0
    return prob if keep.all() else subproblem(prob, np.flatnonzero(keep))


def canonical_order(prob: Problem) -> np.ndarray:
    """Row order by size (each column of x), seed, then error: the same for any order of the rows
    (prob.groups are the seeds as codes 0..G-1 in sorted order of their labels: make_problem)."""
    cols = [prob.x] if prob.x.ndim == 1 else [prob.x[:, j] for j in range(prob.x.shape[1])]
    keys = [prob.y, prob.weights] + ([] if prob.groups is None else [prob.groups]) + cols[::-1]
    return np.lexsort(keys)


def fit_curve(x: Any, y: Any, law: str = "power_floor", *, groups: Any = None,
              weights: Any = None, fixed: Mapping[str, float] | None = None,
              bounds: Mapping[str, tuple[float, float]] | None = None) -> Fit:
    """Fit `law` to errors y at sizes x (log-space Huber, multi-start, bounded).

    Args:
        x: sizes, finite and > 0: one per point, or (N, 2) rows (n, s) for 'transfer_bound'.
        y: errors, one per point, finite and >= 0 (an error of 0 is floored and flagged).
        law: a name in fits.LAWS ('power', 'power_floor', 'bnsl', 'm4', 'transfer_bound').
        groups: the seed of each point (any labels). The loss ignores it; it decides how the
            bootstrap behind `ci` and `band` resamples: with 2+ seeds and points to spare within
            them, each seed's curve gets one drawn offset plus drawn within-seed residuals (a
            seed shifts its whole curve); else each point's residual is drawn independently
            (fits.uncertainty). The diagnostics read it too (few_seeds, outlier_seed, and the
            within-seed noise that too_flat and non_monotone judge by).
        weights: one number >= 0 per point multiplying its squared log residual; only ratios
            matter. Weight 0 leaves a point out of the fit, the diagnostics and the size counts
            (at least 3 sizes need weight > 0). `tail_weights(x)` favours the largest sizes.
        fixed: {name: value} pins parameters, in the caller's units (e.g. {"C": 0.1}).
        bounds: {name: (lo, hi)} replaces the law's box for those parameters (raw units).

    Returns a `Fit`: `.params`, `.predict(x_new)`, and, computed on first use (200 bootstrap
    refits), `.ci()`, `.band(x_new)`, `.diagnostics` and `.to_dict()`.

    Raises FitInputError (one line, saying what to fix) for bad input: lengths that differ,
    NaN, negative errors, sizes <= 0, fewer than 3 distinct sizes, unknown laws or parameters,
    fixed values outside the law's range."""
    prob = make_problem(x, y, law, groups, weights, fixed, bounds)
    prob = subproblem(prob, canonical_order(prob))  # the fit is one of the points, not of their order
    y_fit = np.maximum(prob.y, prob.floor)
    starts = prob.law.starts(prob.xs, y_fit)
    if prob.fixed or prob.box:
        starts = starts + grid_starts(prob, y_fit)
    scaled, cost = solve(prob, prob.y, starts)
    params = prob.law.unscale(scaled, prob.x0)  # x0 = 1 (identity) when parameters are fixed
    return Fit(prob.law, params, prob, scaled, cost)


def tail_weights(x: Any, factor: float = TAIL_HALVING) -> np.ndarray:
    """Per-point weights factor^(steps below the largest size): favour sizes near the horizon.

    Counted in steps of the size grid, not in n, so a doubling grid and LCDB's sqrt(2) grid
    are treated alike (on LCDB it equals (n / n_max)^2). Small sizes are often pre-asymptotic.
    Sizes must be finite and > 0, and 0 < factor <= 1 (above 1 it would favour the small sizes)."""
    if isinstance(factor, (bool, np.bool_)) or not isinstance(factor, (int, float, np.integer, np.floating)) \
            or not 0 < factor <= 1:
        raise FitInputError(f"tail_weights: factor must be a number in (0, 1], got {factor!r}")
    try:
        xa = np.asarray(x, dtype=float)
    except (TypeError, ValueError):
        raise FitInputError(f"tail_weights: sizes must be numbers, got {one_line(repr(x))[:80]}") from None
    n = xa if xa.ndim == 1 else xa[:, 0] if xa.ndim == 2 and xa.shape[1] else np.array([])
    if not n.size or not np.isfinite(n).all() or (n <= 0).any():
        raise FitInputError(f"tail_weights: sizes must be a non-empty list of finite numbers > 0, got "
                            f"{one_line(repr(x))[:80]}")
    rank = np.unique(n, return_inverse=True)[1]
    return factor ** (rank.max() - rank).astype(float)
