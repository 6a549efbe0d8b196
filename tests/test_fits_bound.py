"""The theory bound's two checks against per-s fits: check 1's interval of C_s/D_s and its verdict, check 2's
slope of C_s over the fits whose C_s is off its bound."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import fits
from fits.bound import check_bound, summary

TRUE = {"delta": 20.0, "gamma": 0.05, "alpha": 0.4, "beta": 0.3}


def _bound_rows(c_below_zero_at: float | None = None) -> pd.DataFrame:
    """Runs from the bound with TRUE's parameters, 4 fine-tuning sizes x 7 sizes x 3 seeds, 1 % noise; at
    `c_below_zero_at` the curve's floor is -0.02 instead, so that per-s fit's C_s lands on its bound 0."""
    rng = np.random.default_rng(0)
    rows = []
    for s in (100.0, 300.0, 1000.0, 3000.0):
        d = TRUE["delta"] * s ** -TRUE["beta"]
        c = -0.02 if s == c_below_zero_at else TRUE["gamma"] * d
        for n in 100 * 2.0 ** np.arange(7):
            for k in range(3):
                rows.append({"n_synth": n, "n_real": s, "seed": k,
                             "test_err": (d * n ** -TRUE["alpha"] + c) * np.exp(rng.normal(0, 0.01))})
    return pd.DataFrame(rows)


def test_check_one_interval_is_the_95_percent_interval_of_the_per_s_ratio() -> None:
    """Check 1 asks whether gamma lies inside each per-s 95 % interval of C_s/D_s; a narrower interval would
    fail the bound more often than 5 %. Recomputed here from each per-s fit's own bootstrap."""
    res = check_bound(_bound_rows())
    joint = res["fit"]
    for _, r in res["per_s"].iterrows():
        idx = np.flatnonzero(joint.problem.x[:, 1] == r["s"])
        per_s = fits.fit_curve(joint.problem.x[idx, 0], joint.problem.y[idx], "power_floor",
                               groups=joint.problem.group_labels[joint.problem.groups[idx]],
                               fixed={"alpha": joint.params["alpha"]})
        boot = per_s.bootstrap()
        lo, hi = np.nanpercentile(boot[:, 2] / boot[:, 0], [2.5, 97.5])
        assert (r["C_over_D_lo"], r["C_over_D_hi"]) == pytest.approx((lo, hi), rel=1e-9)


def test_check_two_leaves_a_c_on_its_bound_out_of_its_slope() -> None:
    """A C_s pinned at its bound 0 says nothing about how C falls with s: kept in the log-log slope it would drag
    beta anywhere. It is left out, and the summary names it."""
    res = check_bound(_bound_rows(c_below_zero_at=3000.0))
    assert res["per_s"].set_index("s").loc[3000.0, "C"] < 1e-6
    assert res["beta_from_C_left_out"] == [3000.0]
    assert res["beta_from_C"] == pytest.approx(TRUE["beta"], abs=0.05)
    assert "(left out, on its bound: n_real = 3000)" in summary(res)


def test_check_one_with_exactly_half_of_the_intervals_holding_gamma_is_not_a_failed_bound() -> None:
    """The verdict "does not hold" needs fewer than half of the per-s intervals to contain gamma, not half."""
    res = check_bound(_bound_rows())
    res["per_s"]["gamma_inside"] = [True, True, False, False]
    res["gamma_inside_fraction"] = 0.5
    assert "does not hold" not in summary(res)
    res["per_s"]["gamma_inside"] = [True, False, False, False]
    res["gamma_inside_fraction"] = 0.25
    assert "the bound's shape does not hold" in summary(res)
