"""The quick-look grids a first sweep makes (3 sizes, one seed, several real sizes): fits with no
points left over for the noise, the bound's check 1 next to gamma's bound 0, and groups of several
columns in the order of their values."""
from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest

import fits
from fits import bound, uncertainty
from fits.bound import check_bound, summary
from fits.compare import compare_runs, report
from fits.plot import plot_scaling
from fits.table import fit_runs, fmt_num, summary_table, write_fits_json

SIZES = [32.0, 100.0, 320.0]


def _runs(curves: dict[tuple[int, int], list[float]], seeds: int = 1) -> pd.DataFrame:
    """A runs table: one row per (complexity, n_real, size, seed), errors from `curves`, offset per seed."""
    rows = [{"complexity": c, "n_real": s, "n_synth": n, "seed": k, "test_err": e + 0.01 * k}
            for (c, s), errs in curves.items() for n, e in zip(SIZES, errs) for k in range(seeds)]
    return pd.DataFrame(rows)


def test_a_fit_with_no_points_left_over_has_unknown_intervals_not_zero_width_ones() -> None:
    # 3 points, 3 parameters: the law passes through them, every residual is 0, and the bootstrap
    # gave intervals of width 0 ('D': (3.4977, 3.4977)) that read as certainty
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nanpercentile's all-NaN warning included
        exact = fits.fit_curve([10, 20, 40], [0.5, 0.4, 0.36])
        assert uncertainty.noise_dof(exact.problem) == 0
        assert all(np.isnan(v).all() for v in exact.ci().values())
        assert np.isnan(np.concatenate(exact.band([15.0, 80.0]))).all()
        flags = {f.name: f.message for f in exact.diagnostics}
    assert "the intervals are unknown; measure more sizes or seeds" in flags["too_few_sizes"]
    assert np.isfinite(exact.predict([80.0])).all()  # the estimate itself is kept
    # a second seed leaves 6 - 2 - 3 + 1 = 2 within-seed degrees of freedom; a 4th size 1
    seeded = fits.fit_curve([10, 20, 40] * 2, [0.5, 0.4, 0.36, 0.52, 0.41, 0.37], groups=[0, 0, 0, 1, 1, 1])
    longer = fits.fit_curve([10, 20, 40, 80], [0.5, 0.4, 0.36, 0.345])
    for fit in (seeded, longer):
        assert uncertainty.noise_dof(fit.problem) > 0
        lo, hi = fit.ci()["alpha"]
        assert lo < hi and "unknown" not in " ".join(f.message for f in fit.diagnostics)


def test_compare_finds_no_difference_between_fits_without_intervals(tmp_path) -> None:
    # it printed d_alpha 1.39 [1.39, 1.39], p 0.010, and "the gap dominates" from zero-width intervals
    df = _runs({(1, 100): [0.55, 0.5, 0.48], (3, 100): [0.6, 0.45, 0.44]})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        res = compare_runs(df, by="complexity", n_boot=50)
        text = report(res)
    pair = res["pairs"].iloc[0]
    assert np.isnan([pair["d_alpha_lo"], pair["d_alpha_hi"], pair["p_alpha"], pair["p_C_holm"]]).all()
    assert np.isnan(res["groups"][["alpha_lo", "C_hi", "doubling_gain_lo"]].to_numpy(float)).all()
    assert "the gap dominates" not in text and "more data still pays" not in text
    assert ("-: no p-value and no interval for pairs with complexity=1, complexity=3: their fits have no "
            "points left over") in text and "nan" not in text.split("\n\n")[1]  # the pairs table: "-"
    assert text.count("but the fit has no points left over to estimate the noise, so neither has an "
                      "interval: measure more sizes or seeds before deciding.") == 2
    # fits.json keeps the missing band as nulls, and the plot draws the curves without it
    path = write_fits_json(fit_runs(df, by="complexity"), tmp_path / "fits.json")
    saved = json.loads(path.read_text())
    table = summary_table(saved)  # what `synthscale fit` prints: "0.815 [nan, nan]" before
    assert "nan" not in table and table.count(" [-]") == 6, table
    assert saved["groups"]["1"]["curve"]["lo"][0] is None and saved["groups"]["1"]["ci"]["C"] == [None, None]
    assert [p.suffix for p in plot_scaling(df, saved, tmp_path / "s.png")] == [".png", ".pdf"]


def test_check_one_reads_gamma_on_its_bound_inside_an_interval_reaching_zero() -> None:
    # gamma 1.85e-13 (its bound 0) against a C_s/D_s interval from 2.35e-10 to 1.1e8 was "outside",
    # and the check said "the bound's shape does not hold"
    assert bound._inside(1.85e-13, 2.35e-10, 1.1e8) and bound._inside(1.85e-13, 2.0e-13, 8.1e7)
    assert not bound._inside(1.9, 2.0, 3.0) and not bound._inside(3.5, 2.0, 3.0) and bound._inside(2.5, 2.0, 3.0)
    # the paper's ResNet-50 fractions: at s = 16 % D_s sits on its bound, its ratio's upper end is
    # 4e8, and a tolerance of 1e-6 of that end counted the joint gamma 6.1 inside [17.3, 4e8]
    assert not bound._inside(6.116, 17.33, 3.955e8) and bound._inside(17.33, 17.33, 3.955e8)
    assert bound._inside(0.5, float("nan"), float("nan")) is None  # no interval: not counted either way


def test_check_one_is_not_made_without_per_s_intervals() -> None:
    # check_bound(intervals=False) has no C_s/D_s intervals: gamma was "inside 0 %" of them and the
    # bound's shape said not to hold
    rows = [{"n_synth": n, "n_real": s, "seed": 0, "test_err": 0.5 * (0.3 + n ** -0.4) * s ** -0.2}
            for s in (50.0, 100.0, 200.0) for n in (100.0, 300.0, 1000.0, 3000.0)]
    res = check_bound(pd.DataFrame(rows), intervals=False)
    assert res["per_s"]["gamma_inside"].isna().all() and np.isnan(res["gamma_inside_fraction"])
    text = summary(res)
    assert "check 1, C_s/D_s = gamma at every n_real: not made, no per-n_real fit has an interval" in text
    assert "does not hold" not in text
    assert check_bound(pd.DataFrame(rows))["gamma_inside_fraction"] == 1.0  # with them: 3 of 3 inside


def test_groups_of_several_columns_come_in_the_order_of_their_values() -> None:
    # "1/100, 1/200, 1/50": the joined labels were sorted as text; one column sorts by value
    curve = [0.6, 0.5, 0.45, 0.42]
    df = pd.DataFrame([{"complexity": c, "n_real": s, "n_synth": n, "seed": k, "test_err": e * (1 + 0.01 * k)}
                       for c in (3, 1) for s in (200, 5, 50) for n, e in zip([32.0, 100.0, 320.0, 1000.0], curve)
                       for k in range(2)])
    res = fit_runs(df, by="complexity,n_real")
    assert list(res["groups"]) == ["1/5", "1/50", "1/200", "3/5", "3/50", "3/200"]
    with pytest.raises(fits.FitInputError, match=r"differ in 'n_real' \(5, 50, 200\)"):
        fit_runs(df, by="complexity")


def test_a_curve_of_zero_errors_is_fitted_but_has_no_intervals_and_no_verdict() -> None:
    # every error 0: the flag said "half the smallest positive error" (there is none), the intervals
    # had width 0, compare found the perfect group's alpha "significantly" different (p 0.04) and
    # told it "the gap dominates, improve the generator"
    perfect = fits.fit_curve([10, 20, 40, 80, 160], [0.0] * 5)
    assert all(np.isfinite(list(perfect.params.values())))  # fitted, as every LCDB curve is
    assert all(np.isnan(v).all() for v in perfect.ci().values())
    flag = {f.name: f.message for f in perfect.diagnostics}["zero_errors"]
    assert flag.startswith("every error is exactly 0 (a perfect score at all 5 points)") and "half" not in flag
    some = {f.name: f.message for f in fits.fit_curve([10, 20, 40, 80, 160], [0.3, 0.2, 0.1, 0.0, 0.0]).diagnostics}
    assert some["zero_errors"] == "2 error(s) of exactly 0 treated as 0.05 (half the smallest positive error) in the log loss"
    df = pd.DataFrame([{"complexity": c, "n_synth": n, "seed": k,
                        "test_err": 0.0 if c == 1 else 0.5 * n ** -0.3 + 0.1 + 0.01 * k}
                       for c in (1, 2) for n in (10, 20, 40, 80, 160) for k in range(3)])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        res = compare_runs(df, by="complexity", n_boot=50)
        text = report(res)
    assert np.isnan(res["pairs"].iloc[0][["p_alpha", "p_C", "d_alpha_lo"]].to_numpy(float)).all()
    assert ("complexity=1: every error is 0 up to n_synth = 160: more data has nothing to remove and there is "
            "no gap to close") in text
    assert text.count("the gap dominates") == 0 and "complexity=2: doubling n_synth" in text


def test_compare_gives_no_d_c_for_a_flat_group_and_shows_its_c_as_at_most_its_level(tmp_path) -> None:
    # quickstart's complexity 3 is flat (alpha on its bound 0): its C is an arbitrary share of the level
    # (0.107 on one numpy/scipy build, 0.336 on another), yet compare printed d_C 0.233 with a p-value
    from pathlib import Path

    from fits.compare import forest_figure

    runs = pd.read_csv(Path(__file__).resolve().parents[1] / "results" / "quickstart" / "runs.csv")
    res = compare_runs(runs, by="complexity", n_boot=50)
    assert res["flat"] == ["3"]
    pair = res["pairs"].iloc[0]
    assert np.isnan([pair["d_C"], pair["d_C_lo"], pair["d_C_hi"], pair["p_C"], pair["p_C_holm"]]).all()
    assert np.isfinite([pair["d_alpha"], pair["p_alpha"]]).all()  # alpha is identified: 0 on its bound
    g1, g3 = (res["groups"][res["groups"]["complexity"].astype(str) == k].iloc[0] for k in ("1", "3"))
    level = g3["D"] + g3["C"]
    assert g3["flat_level"] == pytest.approx(level, rel=1e-6) and np.isnan(g1["flat_level"])
    text = report(res)
    row3 = next(line for line in text.splitlines() if line.startswith("complexity=3  "))
    assert row3.count(f"<= {fmt_num(level)} (flat)") == 2, row3  # C and D: D printed an interval of an arbitrary share
    assert "-: no d_C for pairs with complexity=3: a flat fitted curve" in text
    assert "no p-value and no interval" not in text  # that note is for fits without intervals
    fig = forest_figure(res)
    c_axis = fig.axes[1]
    assert any("flat curve: C in [0, its level D + C]" in t.get_text() for t in c_axis.texts)
    # `synthscale fit` prints it the same way, from fits.json
    table = summary_table(json.loads(json.dumps(fit_runs(runs, by="complexity"), default=float))).splitlines()
    assert table[3].count(f"<= {fmt_num(level)} (flat)") == 2, table
    assert "(flat)" not in table[2] and "0.317 [" in table[2], table
    from fits.plot import legend_label  # and the scaling plot's legend: it said "C=0.336"

    saved = json.loads(json.dumps(fit_runs(runs, by="complexity"), default=float))
    assert legend_label(saved, "3") == f"complexity=3: alpha=0, C<={fmt_num(level)} (flat)"
    assert legend_label(saved, "1").startswith("complexity=1: alpha=0.304, C=0.317")


def test_a_flat_group_in_the_forest_plots_top_row_keeps_its_label_inside_the_axes() -> None:
    # the label sits just above its row: on the top row it ran over the axes' top edge
    from pathlib import Path

    from fits.compare import forest_figure

    runs = pd.read_csv(Path(__file__).resolve().parents[1] / "results" / "quickstart" / "runs.csv")
    runs.loc[runs["complexity"] == 3, "complexity"] = 0  # the flat group sorts first: the top row
    fig = forest_figure(compare_runs(runs, by="complexity", n_boot=50))
    fig.canvas.draw()
    c_axis = fig.axes[1]
    (label,) = [t for t in c_axis.texts if "flat curve" in t.get_text()]
    box, frame = label.get_window_extent(), c_axis.get_window_extent()
    assert frame.y0 <= box.y0 and box.y1 <= frame.y1, (box, frame)


def test_noise_dof_counts_the_within_seed_points_exactly() -> None:
    """Within-seed degrees of freedom are points - seeds - parameters + 1 (the seed offsets sum to zero). Without
    the +1 a 5-point, 2-seed design would have none left and lose its intervals."""
    six = fits.fit_curve([10, 20, 40] * 2, [0.5, 0.4, 0.36, 0.52, 0.41, 0.37], groups=[0, 0, 0, 1, 1, 1])
    assert uncertainty.noise_dof(six.problem) == 2
    five = fits.fit_curve([10, 20, 40, 10, 20], [0.5, 0.4, 0.36, 0.52, 0.41], groups=[0, 0, 0, 1, 1])
    assert uncertainty.noise_dof(five.problem) == 1
    assert np.isfinite(five.ci()["alpha"]).all()


def test_a_zero_gap_with_a_zero_interval_says_more_data_pays() -> None:
    """A gap of exactly 0 with interval [0, 0] is no floor at all: the sentence must not call it a limit."""
    from fits.compare import decision

    text = decision("g", 160, (0.04, 0.017, 0.044), (0.0, 0.0, 0.0), (np.inf, np.nan, np.nan), scale=0.5)
    assert text.endswith("(no floor within the measured sizes): more data still pays."), text
