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


def _n_holdout(n_sizes: int) -> int:
    # a quarter of the sizes (at least one) are held out: long enough to test extrapolation,
    # short enough to leave the laws something to fit
    return max(1, n_sizes // 4)


TIE_RTOL = 1e-3  # held-out errors this close (they print alike to 3 digits) are a tie


def _simplest_of_best(tested: dict[str, float]) -> str:
    """The law with the lowest held-out error; among those within TIE_RTOL of it, the one with the
    fewest parameters. M4 (5 parameters) fitted to a power law with a floor can reduce to it and tie
    to the 5th digit; 'lowest' alone then chose M4 by rounding."""
    best = min(tested.values())
    tied = [k for k, v in tested.items() if v <= best * (1 + TIE_RTOL)]
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
    for name in laws:
        n_par = len(get_law(name).params)
        # a law with as many parameters as fitting sizes passes through them: its held-out
        # score would test nothing, so it needs one size to spare (as the too_few_sizes flag asks)
        if n_sizes - hold < max(3, n_par + 1):
            scores[name] = None
            continue
        res = holdout_score(used.x, used.y, name, hold, groups=used.groups, weights=used.weights)
        scores[name] = None if res is None else res["rel_err"]
    tested = {k: v for k, v in scores.items() if v is not None and np.isfinite(v)}
    if tested:
        chosen = _simplest_of_best(tested)
        ranked = ", ".join(f"{k} {v:.3g}" for k, v in sorted(tested.items(), key=lambda kv: kv[1]))
        untested = [k for k in laws if k not in tested]
        if len(tested) == 1 and untested:  # nothing was compared: say so, not "lowest"
            msg = (f"chose {chosen}: the only law {n_sizes} sizes can test on held-out sizes (relative error "
                   f"{tested[chosen]:.3g} predicting the {hold} largest from the rest); {', '.join(untested)} "
                   "need more sizes")
        else:
            why = ("lowest relative error" if tested[chosen] == min(tested.values()) else
                   f"fewest parameters of the laws tied (within {TIE_RTOL:.1%}) for the lowest relative error")
            msg = (f"chose {chosen}: {why} predicting the {hold} largest of {n_sizes} "
                   f"sizes from the rest ({ranked})")
    else:
        chosen = DEFAULT if DEFAULT in laws else laws[0]
        some = f" of weight > 0 (of {n_all})" if n_sizes < n_all else ""
        msg = f"chose {chosen} by default: {n_sizes} sizes{some} are too few to test any law on held-out sizes"
    fit = fit_curve(prob.x, prob.y, chosen, groups=prob.groups, weights=prob.weights)
    return Selection(chosen, fit, scores, msg)
