"""compare's pairwise draws: each group's resamples on its own stream, scaled by factors the two groups
share, drawn for the Welch degrees of freedom of their difference. Checked against computations written
here (the degrees of freedom, the factors, the pair's level difference), not the library's own."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import fits
from fits.compare import PAIR_STREAM, compare_runs
from fits.uncertainty import bootstrap_params, shared_factors, welch_dof

REPO = Path(__file__).resolve().parents[1]
SIZES = 250 * 2.0 ** np.arange(7)


@pytest.mark.parametrize("a, b, want", [
    ((1.0, 1.0), (1.0, 1.0), 2.0),    # equal variances, 1 + 1 degrees of freedom: their sum
    ((1.0, 4.0), (1.0, 4.0), 8.0),
    ((1.0, 1.0), (0.0, 1.0), 1.0),    # one part only: its own
    ((9.0, 2.0), (1.0, 2.0), 100 / (81 / 2 + 1 / 2)),  # unequal: between min and sum (2.44)
    ((0.0, 1.0), (0.0, 1.0), 1.0),    # no such part in either (no seeds): any factor multiplies 0
])
def test_welch_dof_is_the_satterthwaite_formula(a, b, want: float) -> None:
    assert welch_dof(a, b) == pytest.approx(want)


def _curve(noise: float, seed: int) -> fits.Fit:
    y = (2.0 * SIZES ** -0.5 + 0.1) * np.exp(np.random.default_rng(seed).normal(0, noise, len(SIZES)))
    return fits.fit_curve(SIZES, y)


def test_shared_factors_are_drawn_for_the_pairs_welch_degrees_of_freedom() -> None:
    """Two curves of one run per size, noise 1 % and 4 %: the residuals' factor has the Welch degrees of
    freedom of v = (centred log residuals x sqrt(N / (N - 3)))^2 averaged, over N, with N - 3 each; no seed
    offsets, so that factor has 1 (it multiplies 0). default_rng(stream): the residuals' N factors first."""
    fa, fb = _curve(0.01, 1), _curve(0.04, 2)
    parts = []
    for f in (fa, fb):
        r = np.log(f.problem.y) - np.log(f.predict(f.problem.x))
        r = (r - r.mean()) * np.sqrt(len(r) / (len(r) - 3))
        parts.append((np.mean(r ** 2) / len(r), len(r) - 3))
    (va, da), (vb, db) = parts
    nu = (va + vb) ** 2 / (va ** 2 / da + vb ** 2 / db)
    assert 4 < nu < 8  # the noisier curve dominates: nearer its own 4 than the sum 8
    rng = np.random.default_rng((PAIR_STREAM, 0, 1))
    mine = np.column_stack([np.sqrt(nu / rng.chisquare(nu, 50)), np.sqrt(1 / rng.chisquare(1, 50))])
    assert np.allclose(shared_factors(fa, fb, 50, (PAIR_STREAM, 0, 1)), mine, rtol=1e-9)


def _two_groups() -> pd.DataFrame:
    rng = np.random.default_rng(5)
    rows = []
    for group, c in ((1, 0.10), (2, 0.12)):
        off = rng.normal(0, 0.035, 2)
        for seed in (0, 1):
            for n in SIZES:
                rows.append({"complexity": group, "seed": seed, "n_synth": n,
                             "test_err": (2.0 * n ** -0.5 + c) * np.exp(off[seed] + rng.normal(0, 0.025))})
    return pd.DataFrame(rows)


def test_a_pairs_level_difference_comes_from_draws_scaled_by_shared_factors() -> None:
    """compare's d_L interval and p for two 2-seed groups are those of each group's own stream (seed 1 + its
    place) refitted with the pair's shared factors, evaluated at n_common and differenced draw by draw."""
    df = _two_groups()
    pair = compare_runs(df, n_boot=100)["pairs"].iloc[0]
    fa, fb = (fits.fit_curve(g["n_synth"], g["test_err"], groups=g["seed"]) for _, g in df.groupby("complexity"))
    factors = shared_factors(fa, fb, 100, (PAIR_STREAM, 0, 1))
    da, db = bootstrap_params(fa, 100, seed=1, factors=factors), bootstrap_params(fb, 100, seed=2, factors=factors)
    n = SIZES[-1]
    diff = (da[:, 0] * n ** -da[:, 1] + da[:, 2]) - (db[:, 0] * n ** -db[:, 1] + db[:, 2])
    srt = np.sort(diff)
    assert pair["n_common"] == n
    assert (pair["d_L_lo"], pair["d_L_hi"]) == pytest.approx((srt[2], srt[-3]), rel=1e-9)  # m = floor(100 x 0.025)
    assert pair["p_L"] == pytest.approx(min(1.0, 2 * max(min(np.sum(diff <= 0), np.sum(diff >= 0)), 1) / 100))


def test_shared_factors_narrow_a_two_seed_difference_to_a_t_of_about_two_degrees_of_freedom() -> None:
    """Scaled apart, each group for its own 1 degree of freedom, the quickstart's level difference at
    n = 10k was -0.0554 [-0.286, 0.214] (p 0.24), wider than the errors' whole range (0.32-0.45); with the
    shared factors (Welch: about 2 degrees of freedom) it is [-0.104, 0.004] (p 0.07): still not told
    apart, as a t test of 2 + 2 seeds would say."""
    runs = pd.read_csv(REPO / "results" / "quickstart" / "runs.csv")
    pair = compare_runs(runs, by="complexity", n_boot=200)["pairs"].iloc[0]
    assert pair["d_L_hi"] - pair["d_L_lo"] < 0.2, (pair["d_L_lo"], pair["d_L_hi"])
    assert 0.05 <= pair["p_L"] < 0.2


def test_an_extreme_scale_factor_is_clipped_not_a_traceback() -> None:
    """A factor drawn for 1 degree of freedom is unbounded: by the chi-square tail about 1 bootstrap in 100
    with 2 seeds draws one that overflows exp() (a RuntimeWarning) and stopped the refit with "Residuals
    are not finite" (factors of 1e5 here). The log
    deviations are clipped to +-LOG_DEV_LIMIT (30) instead; the draws at ordinary factors are untouched."""
    import warnings

    rng = np.random.default_rng(0)
    x, s = np.repeat(SIZES[:6], 2), np.tile([0, 1], 6)
    y = (2 * x ** -0.5 + 0.1) * np.exp(rng.normal(0, 0.05, 2)[s] + rng.normal(0, 0.01, len(x)))
    fit = fits.fit_curve(x, y, groups=s)
    factors = np.ones((5, 2))
    factors[1, 1], factors[2, 0], factors[3, 1] = 1e5, 1e5, 1e3
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        draws = bootstrap_params(fit, 5, 0, factors=factors)
    plain = bootstrap_params(fit, 5, 0, factors=np.ones((5, 2)))
    assert np.array_equal(draws[[0, 4]], plain[[0, 4]])  # factor 1: the same draws
    assert not np.array_equal(draws[1], plain[1])
