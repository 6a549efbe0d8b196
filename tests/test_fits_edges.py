"""Edge cases of the fitting library that used to pass silently or break the one-line messages:
predictions where the law overflows, group values with control characters, near-zero held-out
errors in fits.select."""
from __future__ import annotations

import warnings

import numpy as np
import pytest

import fits
from fits.errors import FitInputError

SIZES = 100 * 2.0 ** np.arange(6)
STEEP = 1e5 * SIZES ** -2.5 + 0.01  # alpha 2.5: D n^-alpha overflows below n ~ 1e-120


def one_line(info: pytest.ExceptionInfo) -> str:
    """The error's text, checked to be a single line."""
    text = str(info.value)
    assert "\n" not in text
    return text


@pytest.fixture(scope="module")
def steep() -> fits.Fit:
    return fits.fit_curve(SIZES, STEEP)


@pytest.mark.parametrize("call", ["predict", "band", "extrapolate"])
def test_a_prediction_that_overflows_is_one_line_naming_its_sizes(steep: fits.Fit, call: str) -> None:
    # predict returned inf at n = 1e-300 (numpy's generic overflow warning at most), band NaN
    run = {"predict": lambda x: steep.predict(x), "band": lambda x: steep.band(x),
           "extrapolate": lambda x: fits.extrapolate(SIZES, STEEP, x)}[call]
    with pytest.raises(FitInputError) as info:
        run([1e-300, 1e-250, 1e4])
    text = one_line(info)
    assert "law 'power_floor' overflows at sizes 1e-300, 1e-250 (2 of the 3 asked for)" in text
    assert "far outside the fitted sizes (100 to 3200)" in text


def test_a_two_size_law_names_the_pair_where_it_overflows() -> None:
    n = np.repeat(SIZES, 3)
    s = np.tile([10.0, 100.0, 1000.0], len(SIZES))
    fit = fits.fit_curve(np.c_[n, s], 0.5 * (0.1 + n ** -3.0) * s ** -0.3, "transfer_bound", fixed={"alpha": 3.0})
    with pytest.raises(FitInputError) as info:
        fit.predict([[1e-120, 10.0]])
    assert "overflows at size (n, s) = (1e-120, 10):" in one_line(info)
    assert "fitted sizes (n 100 to 3200 and s 10 to 1000)" in str(info.value)


def test_finite_predictions_are_unchanged_and_quiet(steep: fits.Fit) -> None:
    x = np.geomspace(1e-100, 1e99, 50)  # far outside the data, yet finite
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = steep.predict(x)
    with np.errstate(all="ignore"):
        want = steep.law(x, steep.params)
    assert np.array_equal(got, want)


def test_select_keeps_the_simplest_law_on_a_constant_curve() -> None:
    # every law scores near 0 here (1e-7 to 1e-5, solver noise): the 0.1 % rule alone chose M4
    sizes = 100 * 2.0 ** np.arange(8)
    for level in (0.3, 0.0):  # an error of 0 everywhere too (scored as absolute misses)
        sel = fits.select(sizes, np.full(len(sizes), level))
        assert sel.law == "power", (level, sel.message)
        assert "fewest parameters of the laws tied at 0 (relative errors below 0.0001" in sel.message
        assert max(sel.scores.values(), key=lambda v: v or 0) < 1e-4


def test_near_zero_scores_tie_but_ordinary_scores_keep_their_order() -> None:
    from fits.selection import TIE_ATOL, _simplest_of_best, tie_tolerance

    assert _simplest_of_best({"power": 3e-17, "power_floor": 1e-17}, TIE_ATOL) == "power"
    assert _simplest_of_best({"power": 3e-17, "power_floor": 1e-17}) == "power_floor"  # no tolerance given
    # above the tolerance only the relative rule ties: 0.0125 vs 0.0123 is no tie, 0.01231 is
    assert _simplest_of_best({"power": 0.0125, "power_floor": 0.0123}, TIE_ATOL) == "power_floor"
    assert _simplest_of_best({"power": 0.01231, "power_floor": 0.0123}, TIE_ATOL) == "power"
    assert _simplest_of_best({"power": 2e-4, "power_floor": 1e-5}, TIE_ATOL) == "power_floor"
    # an observed 0 makes the score an absolute miss: the tolerance follows y's scale
    y = np.array([2e-3, 1e-3, 0.0])
    assert tie_tolerance([0.3, 0.2], y) == TIE_ATOL
    assert tie_tolerance([0.0], y) == pytest.approx(TIE_ATOL * 2e-3)
    assert tie_tolerance([0.0], np.zeros(3)) == TIE_ATOL
