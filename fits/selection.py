"""Choosing a law by how well it extrapolates: fit the smaller sizes, score the largest ones."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from fits.core import Fit, fit_curve, make_problem, weighted
from fits.errors import FitInputError
from fits.laws import get_law
from fits.table import holdout_score

CANDIDATES = ("power", "power_floor", "bnsl", "m4")
DEFAULT = "power_floor"


@dataclass
class Selection:
    """The chosen law, its fit on all sizes, every candidate's held-out error and why."""

    law: str
    fit: Fit
    scores: dict[str, float | None] = field(default_factory=dict)
    message: str = ""

    def __str__(self) -> str:
        return self.message

    def __repr__(self) -> str:
        """Selection(power_floor; held-out relative error: power 0.0412, power_floor 0.0031, bnsl -, m4 -):
        the chosen law and every candidate's score (4 significant figures; "-" for a law not tested),
        not the dataclass's repr, which printed the fit's law with its functions' addresses."""
        if all(v is None for v in self.scores.values()):
            return f"Selection({self.law}, by default: too few sizes to test a law on held-out ones)"
        scores = ", ".join(f"{k} {'-' if v is None else format(v, '.4g')}" for k, v in self.scores.items())
        return f"Selection({self.law}; held-out relative error: {scores})"


def _n_holdout(n_sizes: int) -> int:
    # a quarter of the sizes (at least one) are held out: long enough to test extrapolation,
    # short enough to leave the laws something to fit
    return max(1, n_sizes // 4)


TIE_RTOL = 1e-3  # held-out errors this close (they print alike to 3 digits) are a tie
# Held-out relative errors all below this are a tie too, at 0: a miss under 0.01 % of the observed
# error (for error rates at most 1e-4 absolute, one image of a 10,000-image test set) is beneath any
# measurement, yet above the optimiser's own resolution (TOL 1e-6 in log units): on exactly constant
# curves the laws score 1e-8 to about 1e-4 (power, the simplest, at most 2e-5 on grids of 5 to 12 sizes
# from 10 to 1e6; LCDB's three constant curves in its 80-curve sample at most 4e-5), and the relative
# rule above picked bnsl or M4 by that noise.
TIE_ATOL = 1e-4


def tie_tolerance(observed: Sequence[float], y: np.ndarray) -> float:
    """The absolute tie tolerance in the held-out error's units: TIE_ATOL when it is a relative error
    (every observed held-out error > 0, y's scale divided out); where an observed one is 0 it counts
    the absolute miss (holdout_score), in y's units: TIE_ATOL times y's scale, its largest value (at
    most 1, the relative part's unit), or 1 if every y is 0 (no scale; the miss is then in error units)."""
    if np.all(np.asarray(observed, float) > 0):
        return TIE_ATOL
    y_max = float(np.max(y)) if len(y) else 0.0
    return TIE_ATOL * (min(1.0, y_max) if y_max > 0 else 1.0)


def _simplest_of_best(tested: dict[str, float], atol: float = 0.0) -> str:
    """The law with the lowest held-out error; among those within TIE_RTOL of it, or all below `atol`
    with it, the one with the fewest parameters. M4 (5 parameters) fitted to a power law with a floor
    can reduce to it and tie to the 5th digit; 'lowest' alone then chose M4 by rounding. On a constant
    curve every law scores near 0 (1e-7 vs 3e-6) and the relative rule alone chose by solver noise."""
    best = min(tested.values())
    tied = [k for k, v in tested.items() if v <= max(best * (1 + TIE_RTOL), atol)]
    return min(tied, key=lambda k: (len(get_law(k).params), tested[k]))


def select(x: Any, y: Any, laws: Sequence[str] = CANDIDATES, *, groups: Any = None,
           weights: Any = None) -> Selection:
    """Fit each law on the smaller sizes, keep the one that best predicts the largest (relative error)."""
    laws = (laws,) if isinstance(laws, str) else tuple(laws)  # one name, not its letters
    if not len(laws):
        raise FitInputError(f"laws is empty; name at least one of {', '.join(CANDIDATES)}")
    for name in laws:
        if get_law(name).n_inputs != 1:  # unknown names fail here too, before any fitting
            raise FitInputError(f"select compares laws of one size; {name!r} takes two (use fits.bound)")
    prob = make_problem(x, y, laws[0], groups, weights)  # bad x, y, groups or weights: one line
    used = weighted(prob)  # sizes held out and scored among the points the fits use
    n_all, n_sizes = len(np.unique(prob.x)), len(np.unique(used.x))
    hold = _n_holdout(n_sizes)
    scores: dict[str, float | None] = {}
    observed: list[float] = []  # the held-out sizes' mean errors (the same for every law tested)
    for name in laws:
        n_par = len(get_law(name).params)
        # a law with as many parameters as fitting sizes passes through them: its held-out
        # score would test nothing, so it needs one size to spare (as the too_few_sizes flag asks)
        if n_sizes - hold < max(3, n_par + 1):
            scores[name] = None
            continue
        res = holdout_score(used.x, used.y, name, hold, groups=used.groups, weights=used.weights)
        scores[name] = None if res is None else res["rel_err"]
        observed = observed if res is None else res["observed"]
    tested = {k: v for k, v in scores.items() if v is not None and np.isfinite(v)}
    if tested:
        atol = tie_tolerance(observed, used.y)
        chosen = _simplest_of_best(tested, atol)
        ranked = ", ".join(f"{k} {v:.3g}" for k, v in sorted(tested.items(), key=lambda kv: kv[1]))
        untested = [k for k in laws if k not in tested]
        if len(tested) == 1 and untested:  # nothing was compared: say so, not "lowest"
            msg = (f"chose {chosen}: the only law {n_sizes} sizes can test on held-out sizes (relative error "
                   f"{tested[chosen]:.3g} predicting the {hold} largest from the rest); {', '.join(untested)} "
                   "need more sizes")
        else:
            best = min(tested.values())
            why = ("lowest relative error" if tested[chosen] == best else
                   f"fewest parameters of the laws tied (within {TIE_RTOL:.1%}) for the lowest relative error"
                   if tested[chosen] <= best * (1 + TIE_RTOL) else
                   f"fewest parameters of the laws tied at 0 (relative errors below {atol:.2g}, beneath any "
                   "measurement)")
            msg = (f"chose {chosen}: {why} predicting the {hold} largest of {n_sizes} "
                   f"sizes from the rest ({ranked})")
    else:
        chosen = DEFAULT if DEFAULT in laws else laws[0]
        some = f" of weight > 0 (of {n_all})" if n_sizes < n_all else ""
        msg = f"chose {chosen} by default: {n_sizes} sizes{some} are too few to test any law on held-out sizes"
    fit = fit_curve(prob.x, prob.y, chosen, groups=prob.groups, weights=prob.weights)
    return Selection(chosen, fit, scores, msg)
