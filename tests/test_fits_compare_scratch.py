"""compare against training from scratch (x = 0), and a curve too flat for its noise read as flat:
what a researcher asks first (is the pre-training worth anything?) and a split of a flat level that
read as a gap with an interval."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import fits
from fits.compare import compare_runs, report

SIZES = 100 * 2.0 ** np.arange(6)


def _curve(complexity: int, y_of, n_seeds: int = 4, noise: float = 0.01, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x, g = np.repeat(SIZES, n_seeds), np.tile(np.arange(n_seeds), len(SIZES))
    return pd.DataFrame({"n_synth": x, "seed": g, "complexity": complexity,
                         "test_err": y_of(x) * np.exp(rng.normal(0, noise, len(x)))})


def _scratch(errors: list[float]) -> pd.DataFrame:
    return pd.DataFrame({"n_synth": 0, "seed": range(len(errors)), "complexity": np.nan, "test_err": errors})


@pytest.mark.parametrize("errors,verdict", [
    ([0.50, 0.52, 0.49, 0.51], "this pre-training helps at the measured sizes."),
    ([0.10, 0.11, 0.09, 0.10], "this pre-training does worse than none at the measured sizes."),
    ([0.10, 0.40, 0.15, 0.35], "not told apart from training from scratch (more seeds of both would narrow it)."),
])
def test_compare_says_whether_the_curve_beats_its_scratch_runs(errors, verdict) -> None:
    """The fitted error at the largest size minus the scratch mean, with an interval: below 0 it helps,
    above 0 it hurts, straddling 0 it is not told apart. compare used to drop the scratch rows unread."""
    df = pd.concat([_curve(1, lambda n: 2 * n ** -0.5 + 0.2), _scratch(errors)], ignore_index=True)
    res = compare_runs(df, n_boot=40)
    row = res["groups"].iloc[0]
    fit = fits.fit_curve(df.n_synth[df.n_synth > 0], df.test_err[df.n_synth > 0], groups=df.seed[df.n_synth > 0])
    level = float(fit.predict([3200.0])[0])
    assert row["scratch_n"] == 4 and row["scratch_mean"] == pytest.approx(np.mean(errors))
    assert row["d_scratch"] == pytest.approx(level - np.mean(errors), rel=1e-9)
    assert row["d_scratch_lo"] < row["d_scratch"] < row["d_scratch_hi"]
    text = report(res)
    (line,) = [ln for ln in text.splitlines() if ln.startswith("complexity=1 vs scratch: ")]
    assert line.startswith(f"complexity=1 vs scratch: at n_synth = 3,200 the fitted test_err "
                           f"{fits.table.fmt_num(level)} differs from scratch's "
                           f"{fits.table.fmt_num(np.mean(errors))} (4 runs, drawn with the curve seed by seed) "
                           "by "), line
    assert line.endswith(verdict), line


def test_one_scratch_run_is_compared_but_its_noise_is_said_to_be_left_out() -> None:
    df = pd.concat([_curve(1, lambda n: 2 * n ** -0.5 + 0.2), _scratch([0.5])], ignore_index=True)
    res = compare_runs(df, n_boot=40)
    assert res["groups"].iloc[0]["scratch_n"] == 1
    assert "(1 run, whose own noise is not in the interval)" in report(res)


def test_without_scratch_runs_compare_says_nothing_of_them_and_a_group_without_its_own_is_named() -> None:
    """An ASG table has no scratch runs at all: no sentence. When some curves have a baseline and one
    (another real size, so no scratch run shares its design) has none, that one is named."""
    both = pd.concat([_curve(1, lambda n: 2 * n ** -0.5 + 0.2), _curve(2, lambda n: n ** -0.5 + 0.2, seed=1)],
                     ignore_index=True)
    text = report(compare_runs(both, n_boot=40))
    assert "scratch" not in text
    other = _curve(2, lambda n: n ** -0.5 + 0.2, seed=1).assign(n_real=200)
    mixed = pd.concat([_curve(1, lambda n: 2 * n ** -0.5 + 0.2).assign(n_real=100), other,
                       _scratch([0.5, 0.52]).assign(n_real=100)], ignore_index=True)
    res = compare_runs(mixed, n_boot=40)
    assert res["groups"]["scratch_n"].tolist() == [2, 0]
    text = report(res)
    assert "complexity=1 vs scratch: at n_synth = 3,200" in text
    assert ("complexity=2: no scratch runs (n_synth = 0) share its design, so nothing says what its pre-training "
            "is worth: add n_synth = 0 to the sweep.") in text


def test_a_curve_too_flat_for_its_noise_is_read_as_flat_even_with_alpha_above_zero() -> None:
    """alpha 0.0046 (off its bound, so not flat by is_flat) on a curve too_flat flags: its C, 0.022, is an
    arbitrary share of its level; compare read it as a gap with an interval ("straddles 10 %") and
    compared it with other groups' C. Now its level is the gap, and its pairs have no d_C."""
    rng = np.random.default_rng(1)
    x, g = np.repeat(SIZES, 3), np.tile(np.arange(3), len(SIZES))
    y = 0.3 * np.exp(rng.normal(0, 0.05, 3)[g] + rng.normal(0, 0.04, len(x)))
    flatish = pd.DataFrame({"n_synth": x, "seed": g, "complexity": 2, "test_err": y})
    fit = fits.fit_curve(x, y, groups=g)
    assert 0.003 < fit.params["alpha"] < 0.01 and "too_flat" in [d.name for d in fit.diagnostics]
    df = pd.concat([_curve(1, lambda n: 2 * n ** -0.5 + 0.2, n_seeds=3), flatish], ignore_index=True)
    res = compare_runs(df, n_boot=40)
    assert res["flat"] == ["2"]
    level = res["groups"].iloc[1]["flat_level"]  # groups in the table's order: 1, then 2
    assert level == pytest.approx(float(fit.predict([3200.0])[0]), rel=1e-9)
    assert np.isnan(res["pairs"].iloc[0]["d_C"]) and np.isfinite(res["pairs"].iloc[0]["d_L"])
    text = report(res)
    assert (f"complexity=2: the fitted curve is flat up to n_synth = 3,200 (its slope within the noise: too_flat): "
            f"more of this generator's data removed nothing measurable, its whole error level "
            f"{fits.table.fmt_num(level)} acts as the gap") in text
    assert "gap C = " not in text.split("complexity=2: the fitted")[1].splitlines()[0]
    assert "complexity=2 too_flat: the curve moves " in text  # the flag's own message, under the tables


def test_fit_table_gives_a_flat_groups_level_beside_its_arbitrary_split() -> None:
    """A notebook user of fit_table got a flat curve's C with an interval (0.0326 [0.0178, 0.368]) where
    the CLI prints "<= level (flat)": the table now has the level in flat_level (NaN for sloped groups)."""
    repo = __import__("pathlib").Path(__file__).resolve().parents[1]
    runs = pd.read_csv(repo / "results" / "quickstart" / "runs.csv")
    table = fits.fit_table(runs, "n_synth", "test_err", "complexity").set_index("complexity")
    assert np.isnan(table.loc[1, "flat_level"])
    assert table.loc[3, "flat_level"] == pytest.approx(0.384, abs=5e-4)
    assert table.loc[3, "flat_level"] == pytest.approx(table.loc[3, "D"] * 10000 ** -table.loc[3, "alpha"]
                                                        + table.loc[3, "C"], rel=1e-12)


def test_too_flat_states_the_threshold_it_judged_by() -> None:
    """Three sizes, one run each: the line has 1 degree of freedom, so 6.6 standard errors is within
    Student's 12.7; the flag said only "6.6 standard errors ... cannot be told from noise". (A power law,
    2 parameters: with power_floor's 3 nothing is left for the noise, and too_flat is not judged.)"""
    (flag,) = [d.message for d in fits.fit_curve([32, 100, 320], [0.3, 0.25, 0.22], law="power").diagnostics
               if d.name == "too_flat"]
    assert flag.endswith("is 6.6 standard errors from level (from the scatter about that line), within the 12.7 "
                         "that Student's t on 1 degree of freedom allows at 5 %: its slope cannot be told from noise")


def test_the_scratch_interval_is_the_t_interval_of_its_mean_when_the_curve_is_pinned() -> None:
    """With a curve known almost exactly (0.1 % noise, 4 seeds) the difference's interval is the scratch
    mean's: mean +- t_{k-1} s / sqrt(k) (3 runs: 4.30 standard errors; a normal's 1.96 or the runs' own
    spread instead of the mean's would be 2.2x too narrow or 1.7x too wide)."""
    from scipy.stats import t

    from fits.compare import versus_scratch

    x, g = np.repeat(SIZES, 4), np.tile(np.arange(4), len(SIZES))
    y = (2 * x ** -0.5 + 0.2) * np.exp(np.random.default_rng(0).normal(0, 0.001, len(x)))
    base = np.array([0.50, 0.53, 0.47])
    res = versus_scratch(fits.fit_curve(x, y, groups=g), base, 3200.0)
    half = (res["d_scratch_hi"] - res["d_scratch_lo"]) / 2
    want = t.isf(0.025, 2) * np.std(base, ddof=1) / np.sqrt(3)
    assert 0.8 < half / want < 1.3, (half, want)  # 200 draws: about 8 % off here


def test_two_groups_whose_ranges_touch_at_one_size_are_compared_there() -> None:
    """n_common is the largest size inside both ranges; ranges that share only their end size share that
    one (no extrapolation either way), so d_L is read there, not left out as if they did not overlap."""
    low = _curve(1, lambda n: 2 * n ** -0.5 + 0.2)
    high = _curve(2, lambda n: 2 * n ** -0.5 + 0.2, seed=1)
    high = high.assign(n_synth=high["n_synth"] * 32)  # 3,200 .. 102,400: touches low's 3,200
    res = compare_runs(pd.concat([low, high], ignore_index=True), n_boot=40)
    pair = res["pairs"].iloc[0]
    assert pair["n_common"] == 3200.0 and np.isfinite(pair["d_L"]) and np.isfinite(pair["p_L"])


def test_fit_and_its_plot_read_a_too_flat_curve_as_flat_as_compare_does() -> None:
    """The too_flat curve above, alpha 0.0046 off its bound: `compare` printed "<= level (flat)" for its C while
    `fit`'s table printed "C = 0.0217 [...]" with an interval, fit_table's flat_level was NaN and the legend
    gave "C=0.0217": the same curve read two ways. All now give the level, equal to compare's."""
    from fits.plot import legend_label
    from fits.table import fit_runs, summary_table

    rng = np.random.default_rng(1)
    x, g = np.repeat(SIZES, 3), np.tile(np.arange(3), len(SIZES))
    y = 0.3 * np.exp(rng.normal(0, 0.05, 3)[g] + rng.normal(0, 0.04, len(x)))
    df = pd.concat([_curve(1, lambda n: 2 * n ** -0.5 + 0.2, n_seeds=3),
                    pd.DataFrame({"n_synth": x, "seed": g, "complexity": 2, "test_err": y})], ignore_index=True)
    level = compare_runs(df, n_boot=40)["groups"].iloc[1]["flat_level"]
    table = fits.fit_table(df, "n_synth", "test_err", "complexity").set_index("complexity")
    assert table.loc[2, "alpha"] > 0.003 and table.loc[2, "flat_level"] == pytest.approx(level, rel=1e-9)
    assert np.isnan(table.loc[1, "flat_level"])
    res = fit_runs(df)
    (row,) = [ln for ln in summary_table(res).splitlines() if ln.startswith("2 ")]
    assert row.count(f"<= {fits.table.fmt_num(level)} (flat)") == 2, row  # C and D
    assert legend_label(res, "2").endswith(f"C<={fits.table.fmt_num(level)} (flat)")
    assert "flat" not in legend_label(res, "1")


def _seed_sweep(effects: np.ndarray, noise: float, rng: np.random.Generator) -> tuple:
    x, g = np.repeat(SIZES, len(effects)), np.tile(np.arange(len(effects)), len(SIZES))
    y = (2 * x ** -0.5 + 0.2) * np.exp(effects[g] + rng.normal(0, noise, len(x)))
    return fits.fit_curve(x, y, groups=g), x, g


def test_scratch_runs_of_the_curves_own_seeds_are_drawn_with_it_by_hand() -> None:
    """Paired with its curve (the scratch runs' seeds are the curve's): the scratch mean's draws are
    mean x exp(the location of the picked seeds' log deviations x the offsets' factor), the deviations each
    seed's log error less their mean, x sqrt(G / (G - 1)); the location their mean where they lie within
    Huber's scale of each other, else Huber's (as the curve's robust refit); picks and factors on their
    own streams, computed here."""
    from fits.compare import SCRATCH_STREAM, paired_scratch
    from fits.core import F_SCALE
    from fits.uncertainty import noise_dof

    fit, _, _ = _seed_sweep(np.array([0.03, -0.02, 0.01]), 0.01, np.random.default_rng(1))
    base, seeds = np.array([0.50, 0.53, 0.47, 0.49]), np.array([2, 0, 1, 2])  # seed 2 twice: its mean
    draws, means = paired_scratch(fit, base, seeds, n_boot=50)
    dev = np.log([0.53, 0.47, 0.495])
    dev = (dev - dev.mean()) * np.sqrt(3 / 2)
    rng = np.random.default_rng((SCRATCH_STREAM, 0))
    rng.chisquare(noise_dof(fit.problem), 50)  # the residuals' factors come first
    f = np.sqrt(2 / rng.chisquare(2, 50))
    picks = np.random.default_rng((SCRATCH_STREAM, 1)).integers(3, size=(50, 3))
    v = dev[picks] * f[:, None]
    small = np.ptp(v, axis=1) <= F_SCALE  # every picked deviation within Huber's scale of the others: their mean
    assert 10 < small.sum() < 50
    assert np.allclose(means[small], base.mean() * np.exp(v[small].mean(axis=1)), rtol=1e-12)
    # the others: Huber's location, where the mean of the deviations' influences min(1, F_SCALE / |r|) r is 0
    loc = np.log(means[~small] / base.mean())
    r = v[~small] - loc[:, None]
    assert np.allclose((np.clip(r, -F_SCALE, F_SCALE)).sum(axis=1), 0, atol=1e-9)
    assert draws.shape == (50, 3) and np.isfinite(draws).all()
    assert paired_scratch(fit, base, np.array([2, 0, 1, 3])) is None  # a seed the curve has not
    assert paired_scratch(fit, base[:2], np.array([0, 1])) is None  # seed 2 missing


def test_pairing_with_scratch_cancels_the_seed_effect_both_share() -> None:
    """Seeds that move the curve and the scratch run alike (+-8 %), runs' own noise 0.5 %, the curve 6 %
    below scratch at its largest size: drawn apart the seeds' spread hides it; paired it is told apart,
    with an interval a fraction as wide. compare pairs them when the scratch rows carry the curve's seeds."""
    from fits.compare import versus_scratch

    effects = np.array([0.08, -0.08, 0.03])
    rng = np.random.default_rng(4)
    fit, x, g = _seed_sweep(effects, 0.005, rng)
    level = 2 * SIZES[-1] ** -0.5 + 0.2
    base = level / 0.94 * np.exp(effects + rng.normal(0, 0.005, 3))
    apart = versus_scratch(fit, base, SIZES[-1])
    paired = versus_scratch(fit, base, SIZES[-1], np.arange(3))
    assert not apart["scratch_paired"] and paired["scratch_paired"]
    assert apart["d_scratch_lo"] < 0 < apart["d_scratch_hi"]
    assert paired["d_scratch_hi"] < 0
    assert paired["d_scratch_hi"] - paired["d_scratch_lo"] < (apart["d_scratch_hi"] - apart["d_scratch_lo"]) / 3
    y = (2 * x ** -0.5 + 0.2) * np.exp(effects[g] + rng.normal(0, 0.005, len(x)))
    runs = pd.DataFrame({"n_synth": np.concatenate([x, [0, 0, 0]]), "test_err": np.concatenate([y, base]),
                         "seed": np.concatenate([g, [0, 1, 2]]), "complexity": 1})
    row = compare_runs(runs, n_boot=40)["groups"].iloc[0]
    assert row["scratch_paired"] and row["d_scratch_hi"] < 0, row
