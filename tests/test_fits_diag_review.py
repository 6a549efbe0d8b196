"""Three defects a review found in the fit diagnostics and intervals: the outlier flag named good runs
beside a bad one, too_flat judged slopes where no noise could be estimated, and a curve whose errors
never move got intervals of width 0 on an arbitrary alpha, which compare read as a certain difference."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import fits
from fits.compare import compare_runs, report
from fits.diagnostics import FLAT_TEXT, _outlier_flags, _outlier_seed_flags, is_flat
from fits.uncertainty import bootstrap_params

SIZES = 100 * 2.0 ** np.arange(6)


def _one_bad_run(n_seeds: int, stream: int) -> fits.Fit:
    """n_seeds clean runs at 2 % noise, seed 0's run at size 400 at twice its error."""
    rng = np.random.default_rng(stream)
    n, s = np.tile(SIZES, n_seeds), np.repeat(np.arange(n_seeds), len(SIZES))
    y = (0.5 * n ** -0.4 + 0.1) * np.exp(rng.normal(0, 0.02, len(n)))
    y[(n == 400) & (s == 0)] *= 2
    return fits.fit_curve(n, y, groups=s)


@pytest.mark.parametrize("n_seeds", [3, 4, 5])
def test_only_the_bad_run_is_named_and_its_seed_is_not_called_an_outlier_seed(n_seeds: int) -> None:
    """Each run was compared with the mean of its size's others, which holds the bad run: among 3 or 4
    seeds the good runs at its size were named too ("3 run(s) ... 0.71x"), and among 5 one run at 2x
    moved its seed's offset enough for outlier_seed to name the whole seed as well."""
    for stream in range(3):
        fit = _one_bad_run(n_seeds, stream)
        bad = float(fit.used.y[(fit.used.x == 400) & (fit.used.groups == 0)][0])
        (flag,) = _outlier_flags(fit)
        assert flag.message.startswith(f"1 run(s) far from the other runs at their size: {bad:.3g} at size 400, "
                                       "seed 0 ("), (n_seeds, stream, flag.message)
        assert not _outlier_seed_flags(fit), (n_seeds, stream)


def test_too_flat_is_not_judged_when_no_noise_can_be_estimated() -> None:
    """3 sizes, one run each, 3 free parameters: the law passes through the points and the intervals
    are NaN, yet too_flat said the slope was "3.5 standard errors ... within 12.7" of noise. With a
    fourth size (1 degree of freedom) the same kind of curve is still judged."""
    blind = fits.fit_curve([100, 1000, 10000], [0.5, 0.2, 0.1])
    names = [f.name for f in blind.diagnostics]
    assert "too_flat" not in names and "too_few_sizes" in names, names
    assert all(np.isnan(v).all() for v in blind.ci().values())
    df = pd.DataFrame({"n_synth": [100, 1000, 10000], "test_err": [0.5, 0.2, 0.1], "complexity": 1})
    row = fits.fit_table(df, "n_synth", "test_err", "complexity").iloc[0]
    assert "too_flat" not in row["diagnostics"] and np.isnan(row["flat_level"]), row.to_dict()
    judged = fits.fit_curve([32, 100, 320, 1000], [0.5, 0.2, 0.1, 0.09])
    assert "too_flat" in [f.name for f in judged.diagnostics]


def _constant_groups() -> pd.DataFrame:
    n, s = np.tile(SIZES, 3), np.repeat(np.arange(3), len(SIZES))
    return pd.concat([pd.DataFrame({"grp": g, "seed": s, "n": n, "err": v}) for g, v in (("A", 1.0), ("B", 0.9))])


def test_errors_that_never_move_have_no_intervals_read_flat_and_are_not_told_apart_in_alpha(tmp_path) -> None:
    """Every error 1.0 (A) or 0.9 (B): alpha is wherever the optimiser stopped, yet its interval had
    width 0 (0.00236 [0.00236, 0.00236]) and compare printed "grp=B's curve is steeper (alpha higher by
    0.000456 [0.000456, 0.000456], p Holm 0.010)". The intervals are unknown, as for all-zero errors."""
    from fits.cli import main

    df = _constant_groups()
    res = compare_runs(df, x="n", y="err", by="grp", n_boot=40)
    g = res["groups"].set_index("grp")
    assert np.isnan(g[["alpha_lo", "alpha_hi", "C_lo", "C_hi", "D_lo", "D_hi"]].to_numpy(float)).all()
    assert g.loc["A", "flat_level"] == pytest.approx(1.0, rel=1e-6)
    assert g.loc["B", "flat_level"] == pytest.approx(0.9, rel=1e-6)
    pair = res["pairs"].iloc[0]
    assert np.isnan(pair[["d_alpha", "p_alpha", "p_alpha_holm", "d_C", "p_C", "p_L"]].to_numpy(float)).all()
    assert "told apart" not in pair["sentence"] and "steeper" not in pair["sentence"], pair["sentence"]
    assert "every error of grp=A and of grp=B is the same" in pair["sentence"], pair["sentence"]
    text = report(res)
    assert "grp=A: every error is 1 up to n = 3,200, the same at every size and seed" in text, text
    assert "no points left over" not in text, text  # not the reason: the errors never move
    df.to_csv(tmp_path / "c.csv", index=False)
    assert main(["compare", str(tmp_path / "c.csv"), "--x", "n", "--y", "err", "--by", "grp",
                 "-o", str(tmp_path / "c")]) == 0
    printed = (tmp_path / "c" / "compare.txt").read_text()
    assert "steeper" not in printed and "[0.00236, 0.00236]" not in printed


def test_a_constant_curve_with_alpha_off_its_bound_is_flat_and_has_no_draws() -> None:
    """One run per size, every error 0.5: alpha landed at 0.0485, off its bound, so the curve did not
    read as flat and its D and C (an arbitrary split of 0.5) printed intervals of width 0."""
    from fits.uncertainty import all_equal

    fit = fits.fit_curve(SIZES, np.full(6, 0.5))
    assert all_equal(fit.problem) and is_flat(fit)
    (flat,) = [f.message for f in fit.diagnostics if f.name == "unidentifiable"]
    assert FLAT_TEXT in flat and "(arbitrary: every error is the same)" in flat, flat
    assert np.isnan(bootstrap_params(fit, 5)).all()
    assert all(np.isnan(v).all() for v in fit.ci().values())
    df = pd.DataFrame({"n_synth": SIZES, "test_err": 0.5, "complexity": 1})
    row = fits.fit_table(df, "n_synth", "test_err", "complexity").iloc[0]
    assert row["flat_level"] == pytest.approx(0.5, rel=1e-6)
    moving = fits.fit_curve(SIZES, np.r_[np.full(5, 0.5), 0.5 + 1e-9])  # moves beyond rounding: not all equal
    assert not all_equal(moving.problem)


def test_a_constant_curve_is_not_also_called_on_its_bound_or_too_flat_in_alpha() -> None:
    """Errors all 0.9 over 3 seeds: beside "alpha ... (arbitrary: every error is the same)" the flags also
    said "alpha = 0.00281 sits on its lower bound ... read it as a limit" and too_flat "0.0 standard errors
    ... within-seed spread 7.81e-16", which contradict it (a review)."""
    x, g = np.tile(SIZES, 3), np.repeat([0, 1, 2], len(SIZES))
    fit = fits.fit_curve(x, np.full(len(x), 0.9), groups=g)
    names = {(f.name, f.message.split(" ")[0]) for f in fit.diagnostics}
    assert ("unidentifiable", "alpha") in names
    assert ("on_bound", "alpha") not in names and "too_flat" not in {n for n, _ in names}
