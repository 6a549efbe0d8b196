"""compare's pairwise draws: each group's resamples on its own stream, scaled by factors the two groups
share, drawn for the Welch degrees of freedom of their difference; two groups of the same seeds resample
those seeds together (paired). Checked against computations written here (the degrees of freedom, the
factors, the paired deviations, the pair's level difference), not the library's own."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import fits
from fits.compare import PAIR_STREAM, compare_runs
from fits.uncertainty import (bootstrap_params, paired_picks, resampled_deviations, seed_labels, shared_factors,
                              welch_dof)

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


@pytest.mark.parametrize("paired", [False, True])
def test_a_pairs_level_difference_comes_from_draws_scaled_by_shared_factors(paired: bool) -> None:
    """compare's d_L interval and p for two 2-seed groups are those of each group's own stream (seed 1 + its
    place) refitted with the pair's shared factors, evaluated at n_common and differenced draw by draw;
    paired (the default: both groups ran seeds 0 and 1), with the seeds' picks the two share."""
    df = _two_groups()
    pair = compare_runs(df, n_boot=100, paired=paired)["pairs"].iloc[0]
    assert bool(pair["paired"]) is paired
    fa, fb = (fits.fit_curve(g["n_synth"], g["test_err"], groups=g["seed"]) for _, g in df.groupby("complexity"))
    picks = paired_picks(fa, fb, 100, (PAIR_STREAM, 0, 1, 1)) if paired else None
    factors = shared_factors(fa, fb, 100, (PAIR_STREAM, 0, 1), paired=paired)
    da = bootstrap_params(fa, 100, seed=1, factors=factors, picks=picks)
    db = bootstrap_params(fb, 100, seed=2, factors=factors, picks=picks)
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


def _seeded(labels: list, offsets: list, c: float, noise: float, rng: np.random.Generator) -> pd.DataFrame:
    rows = [{"seed": lab, "n_synth": n, "test_err": (2.0 * n ** -0.5 + c) * np.exp(off + rng.normal(0, noise))}
            for lab, off in zip(labels, offsets) for n in SIZES]
    return pd.DataFrame(rows)


def test_paired_picks_only_for_groups_of_the_same_seeds() -> None:
    """Picks (positions among the G shared seeds, one row per draw) for two fits of the same seed labels,
    whatever order their rows came in; None for other seeds or a fit with one run per size."""
    rng = np.random.default_rng(3)
    a = _seeded(["s1", "s2", "s3"], [0.02, -0.01, 0.0], 0.1, 0.02, rng)
    b = _seeded(["s3", "s1", "s2"], [0.0, 0.02, -0.01], 0.1, 0.02, rng).iloc[::-1]
    c = _seeded(["s1", "s2", "s4"], [0.02, -0.01, 0.0], 0.1, 0.02, rng)
    fa, fb, fc = (fits.fit_curve(d["n_synth"], d["test_err"], groups=d["seed"]) for d in (a, b, c))
    assert list(seed_labels(fa)) == list(seed_labels(fb)) == ["s1", "s2", "s3"]
    picks = paired_picks(fa, fb, 40, 9)
    assert picks.shape == (40, 3) and set(np.unique(picks)) <= {0, 1, 2}
    assert np.array_equal(picks, np.random.default_rng(9).integers(3, size=(40, 3)))
    assert paired_picks(fa, fc, 40, 9) is None
    assert paired_picks(fa, _curve(0.02, 4), 40, 9) is None  # no seeds: nothing to pair


def test_paired_deviations_give_each_seed_the_picked_seeds_offset() -> None:
    """Draw b's log deviations with picks: within-seed residuals drawn from the pool (the stream's only
    draws), centred over each seed's points and x sqrt(m / (m - 1)) for its m points, times factor 0, plus,
    for each point, the offset of seed picks[b, its seed's place] times factor 1. Offsets and residuals are
    computed here: each seed's mean log residual, centred, x sqrt(G / (G - 1)); the residuals around it,
    centred, x sqrt(N / (N - G - k + 1))."""
    rng = np.random.default_rng(11)
    d = _seeded([7, 8, 9], [0.03, -0.02, 0.01], 0.1, 0.02, rng)
    fit = fits.fit_curve(d["n_synth"], d["test_err"], groups=d["seed"])
    prob = fit.problem
    r = np.log(prob.y) - np.log(fit.predict(prob.x))
    seeds = prob.group_labels[prob.groups]
    means = {lab: r[seeds == lab].mean() for lab in (7, 8, 9)}
    off = np.array([means[lab] for lab in (7, 8, 9)])
    off = (off - off.mean()) * np.sqrt(3 / 2)
    within = r - np.array([means[lab] for lab in seeds])
    n = len(r)
    within = (within - within.mean()) * np.sqrt(n / (n - 3 - 3 + 1))
    picks = np.array([[2, 2, 0], [1, 0, 1], [0, 1, 2]])
    factors = np.array([[1.0, 1.0], [0.5, 2.0], [1.5, 0.7]])
    got = list(resampled_deviations(fit, 3, seed=4, factors=factors, picks=picks))
    mine = np.random.default_rng(4)
    place = {7: 0, 8: 1, 9: 2}
    for b in range(3):
        pts = mine.choice(within, size=n)
        for lab in (7, 8, 9):
            on = seeds == lab
            pts[on] = (pts[on] - pts[on].mean()) * np.sqrt(on.sum() / (on.sum() - 1))
        want = pts * factors[b, 0] + off[picks[b]][[place[s] for s in seeds]] * factors[b, 1]
        assert np.allclose(got[b], want, atol=1e-12), b
    with pytest.raises(ValueError, match="picks must be"):
        list(resampled_deviations(fit, 3, seed=4, picks=picks))  # picks without factors


def test_pairing_cancels_a_seed_effect_both_groups_share() -> None:
    """Two conditions whose runs of a seed sit high or low together (seed effects of +-10 %, runs' own noise
    1 %; b's errors 5 % above a's): drawn apart, the seeds' spread swamps the difference a - b (its interval
    holds 0); paired, each draw's seed offsets nearly cancel and the interval is a fraction as wide, below 0."""
    rng = np.random.default_rng(2)
    shared = [0.10, -0.10, 0.04]
    a = _seeded([0, 1, 2], shared, 0.10, 0.01, rng).assign(complexity=1)
    b = _seeded([0, 1, 2], shared, 0.10, 0.01, rng).assign(complexity=2)
    b["test_err"] *= 1.05
    runs = pd.concat([a, b])
    apart, together = (compare_runs(runs, n_boot=200, paired=p)["pairs"].iloc[0] for p in (False, True))
    assert not apart["paired"] and together["paired"]
    assert apart["d_L_lo"] < 0 < apart["d_L_hi"]
    assert together["d_L_hi"] < 0 and together["p_L"] < 0.05
    assert together["d_L_hi"] - together["d_L_lo"] < (apart["d_L_hi"] - apart["d_L_lo"]) / 3


def test_compare_cli_pairs_by_default_and_unpaired_draws_apart(tmp_path: Path) -> None:
    """`synthscale compare` writes the pairs' `paired` column and says so in compare.txt; `--unpaired`
    gives the draws apart (compare_runs(..., paired=False)): no column True, no such line."""
    from fits.cli import main

    df = _two_groups()
    df.to_csv(tmp_path / "runs.csv", index=False)
    line = "Each pair's two groups ran the same seeds: the draws resample those seeds for both groups together"
    for extra, want in (([], True), (["--unpaired"], False)):
        out = tmp_path / ("u" if extra else "p")
        assert main(["compare", str(tmp_path / "runs.csv"), "--boot", "40", "-o", str(out), *extra]) == 0
        pairs = pd.read_csv(out / "compare_pairs.csv")
        assert pairs["paired"].tolist() == [want]
        assert pairs["d_L_lo"][0] == pytest.approx(compare_runs(df, n_boot=40, paired=want)["pairs"]["d_L_lo"][0])
        assert (line in (out / "compare.txt").read_text()) is want


def test_centred_draws_move_a_seeds_level_by_its_offset_alone() -> None:
    """draws="centred" (the library's): each seed's drawn residuals are centred over its fitted points and
    inflated by sqrt(m / (m - 1)), so a draw's mean deviation over a seed's points is exactly the offset
    it drew (times its factor), and the residuals keep their spread. By hand on a small array, then on a
    3-seed fit with given picks and factors."""
    from fits.uncertainty import centred_within_seeds, seed_parts, fitted_values

    pts, seeds = np.array([1.0, 2, 3, 4, 5, 6, 7]), np.array([0, 0, 0, 1, 1, 2, 1])
    used = np.array([True, True, True, True, True, True, False])  # the last point has weight 0
    want = np.array([-1, 0, 1, -0.5, 0.5, 0, 7 - 4.5]) * np.array([1.5, 1.5, 1.5, 2, 2, 0, 2]) ** 0.5
    assert np.allclose(centred_within_seeds(pts, seeds, used), want)
    d = _seeded([7, 8, 9], [0.03, -0.02, 0.01], 0.1, 0.02, np.random.default_rng(11))
    fit = fits.fit_curve(d["n_synth"], d["test_err"], groups=d["seed"])
    offsets, _ = seed_parts(fit.problem, fitted_values(fit), fit.problem.groups)
    picks = np.array([[2, 2, 0], [1, 0, 1]])
    factors = np.array([[1.0, 1.0], [0.5, 3.0]])
    for b, dev in enumerate(resampled_deviations(fit, 2, seed=4, draws="centred", factors=factors, picks=picks)):
        for k in range(3):
            assert dev[fit.problem.groups == k].mean() == pytest.approx(offsets[picks[b, k]] * factors[b, 1], abs=1e-12)
        pooled = list(resampled_deviations(fit, 2, seed=4, draws="pooled", factors=factors, picks=picks))[b]
        assert not np.allclose(dev, pooled)  # the pooled draws add the residuals' seed means too


def test_compare_draws_its_pairs_centred_by_default_and_pooled_when_asked() -> None:
    """compare_runs gives each pair the centred draws of its two groups (the library's), and with
    draws="pooled" (what fits.simulate compares them with) the pooled ones, on the same streams, factors and
    picks."""
    df = _two_groups()
    fa, fb = (fits.fit_curve(g["n_synth"], g["test_err"], groups=g["seed"]) for _, g in df.groupby("complexity"))
    picks = paired_picks(fa, fb, 60, (PAIR_STREAM, 0, 1, 1))
    factors = shared_factors(fa, fb, 60, (PAIR_STREAM, 0, 1), paired=True)
    got = {}
    for draws in ("centred", "pooled"):
        got[draws] = compare_runs(df, n_boot=60, draws=draws)["pairs"].iloc[0]
        da = bootstrap_params(fa, 60, 1, draws, factors=factors, picks=picks)
        db = bootstrap_params(fb, 60, 2, draws, factors=factors, picks=picks)
        diff = np.sort(da[:, 1] - db[:, 1])  # alpha
        want = (diff[1], diff[-2])  # m = 1
        assert (got[draws]["d_alpha_lo"], got[draws]["d_alpha_hi"]) == pytest.approx(want, rel=1e-9), draws
    assert got["centred"]["d_alpha_lo"] != got["pooled"]["d_alpha_lo"]
    assert compare_runs(df, n_boot=60)["pairs"].iloc[0]["d_alpha_lo"] == got["centred"]["d_alpha_lo"]


def test_level_parts_splits_the_paired_level_draws_into_offsets_and_residuals() -> None:
    """fits.simulate.level_parts (results/fits_intervals.md, 'Why shared seeds read conservative'): on pairs
    50 % apart in level both intervals tell every pair apart; the Welch-Satterthwaite degrees of freedom lie
    between the offsets' G - 1 and G - 1 plus the residuals' (about 20 here), and the offsets' share of the
    draws' variance is a fraction."""
    from fits.simulate import level_parts

    res = level_parts(n_pairs=2, shift=0.5, n_boot=60)
    assert res["told_draws"] == res["told_ws"] == 1.0
    assert 1 <= res["nu"] <= 1 + 25 and 0 < res["share_o"] < 1
    assert res["half_ws"] > 0 and res["half_draws"] > 0
