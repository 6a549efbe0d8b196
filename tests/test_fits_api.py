"""fits from Python the way a researcher calls it: pandas and int inputs, unsorted and repeated
sizes, string seeds, weights, fixed and boxed parameters, interval levels, predictions outside the
law's domain; and the statistics checked against computations written here, not in the library."""
from __future__ import annotations

import numpy as np
import pytest

import fits
from fits.errors import FitInputError

SIZES = 100 * 2.0 ** np.arange(7)
CLEAN = 2.0 * SIZES ** -0.5 + 0.1


def one_line(info: pytest.ExceptionInfo) -> str:
    """The error's text, checked to be a single line."""
    text = str(info.value)
    assert "\n" not in text
    return text


@pytest.mark.parametrize("kw, needle", [
    ({"fixed": {"alpha": 5.0}}, "fixed alpha = 5 is outside the range of alpha in law 'power_floor' on this data, [0, 3]"),
    ({"fixed": {"alpha": -1.0}}, "fixed alpha = -1 is outside"),
    ({"fixed": {"C": 10.0}}, "fixed C = 10 is outside the range of C"),
    ({"fixed": {"C": -0.1}}, "fixed C = -0.1 is outside"),
    ({"fixed": {"C": "a"}}, "fixed['C'] must be a number, got 'a'"),
    ({"fixed": ["C"]}, "fixed must map parameter names to values"),
    ({"bounds": {"alpha": 0.5}}, "bounds['alpha'] must be a pair of numbers (lo, hi), got 0.5"),
    ({"bounds": {"alpha": (0.0, np.inf)}}, "bounds for ['alpha'] must be finite"),
    ({"bounds": ["alpha"]}, "bounds must map parameter names to (lo, hi)"),
])
def test_fixed_and_bounds_outside_the_law_are_one_line(kw: dict, needle: str) -> None:
    # were silently fitted (alpha pinned at 5 or -1, a floor above every error) or numpy/attribute tracebacks
    with pytest.raises(FitInputError) as info:
        fits.fit_curve(SIZES, CLEAN, **kw)
    assert needle in one_line(info)


def test_fixed_values_on_the_box_edges_or_inside_a_widened_box_are_kept() -> None:
    assert fits.fit_curve(SIZES, CLEAN, fixed={"C": 0.0}).params["C"] == 0.0  # a pure power law
    assert fits.fit_curve(SIZES, CLEAN, fixed={"alpha": 0.0}).params["alpha"] == 0.0
    wide = fits.fit_curve(SIZES, CLEAN, fixed={"alpha": 4.0}, bounds={"alpha": (0.0, 5.0)})
    assert wide.params["alpha"] == 4.0
    every = fits.fit_curve(SIZES, CLEAN, fixed={"D": 2.0, "alpha": 0.5, "C": 0.1})
    assert every.ci() == {"D": (2.0, 2.0), "alpha": (0.5, 0.5), "C": (0.1, 0.1)}
    assert np.allclose(every.predict(SIZES), CLEAN)


@pytest.mark.parametrize("weights, needle", [
    (np.zeros(7), "weights are > 0 at 0 distinct size(s); a law needs weight on at least 3"),
    ([0, 0, 0, 0, 0, 1, 1], "weights are > 0 at 2 distinct size(s)"),
    (["a"] * 7, "weights must be numbers"),
    ([1.0, 2.0], "weights must be finite, >= 0 and one per point; got 2 for 7 points"),
    (-np.ones(7), "min -1"),
])
def test_weights_that_leave_the_law_undetermined_are_one_line(weights, needle: str) -> None:
    # all-zero weights returned the starting point as a fit; strings were a numpy ValueError
    with pytest.raises(FitInputError) as info:
        fits.fit_curve(SIZES, CLEAN, weights=weights)
    assert needle in one_line(info)


def test_a_zero_weight_point_does_not_widen_the_residual_bootstrap() -> None:
    # weight 0 leaves a point out of the fit; its residual used to be resampled onto the others:
    # one excluded point off by 3x gave a 95 % interval of D up to ~1e6
    y = CLEAN * np.exp(np.random.default_rng(0).normal(0, 0.01, 7))
    y[3] *= 3.0
    w = np.ones(7)
    w[3] = 0.0
    weighted = fits.fit_curve(SIZES, y, weights=w)
    dropped = fits.fit_curve(np.delete(SIZES, 3), np.delete(y, 3))
    assert weighted.params == pytest.approx(dropped.params, rel=1e-4)
    for k, (lo, hi) in weighted.ci().items():
        d_lo, d_hi = dropped.ci()[k]
        # same residual pool and N, different design: widths agree to a small factor
        assert (hi - lo) < 2 * (d_hi - d_lo), (k, (lo, hi), (d_lo, d_hi))
