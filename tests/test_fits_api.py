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
