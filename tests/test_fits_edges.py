"""Edge cases of the fitting library that used to pass silently or break the one-line messages:
predictions where the law overflows, group values with control characters, near-zero held-out
errors in fits.select."""
from __future__ import annotations

import json
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import fits
from fits import errors
from fits.compare import compare_runs, report
from fits.errors import FitInputError, none_fitted
from fits.plot import plot_scaling
from fits.table import fit_runs, summary_table

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


def test_a_band_whose_bootstrap_refits_overflow_is_refused_in_one_line() -> None:
    # the fit is finite at 1e-121 but a third of its bootstrap refits (alpha up to 2.66) overflow
    # there: the band's upper end was NaN (numpy's lerp of inf), with overflow warnings
    noisy = STEEP * np.exp(np.random.default_rng(0).normal(0, 0.05, len(SIZES)))
    fit = fits.fit_curve(SIZES, noisy)
    assert np.isfinite(fit.predict([1e-121])).all()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(errors.PredictionOverflow) as info:
            fit.band([1e-121, 1000.0])
        lo, hi = fit.band([1e-115, 1000.0])  # nearer the fitted sizes every refit is finite
    assert "the 0.95 band of law 'power_floor' is unbounded at size 1e-121:" in one_line(info)
    assert "of its bootstrap refits overflow there, far outside the fitted sizes (100 to 3200)" in str(info.value)
    assert np.isfinite(lo).all() and np.isfinite(hi).all() and (lo <= fit.predict([1e-115, 1000.0])).all()


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


NEWLINE, TAB = "a\nb", "c\td"  # group values as a CSV cell in quotes, or a join of text, can hold them


def _two_groups(sizes_of_tab: list[int]) -> pd.DataFrame:
    rows = [{"grp": g, "n_synth": n, "seed": s, "test_err": (2.0 * n ** -0.5 + 0.1) * (1 + 0.01 * s)}
            for g, sizes in ((NEWLINE, [100, 200, 400, 800, 1600]), (TAB, sizes_of_tab))
            for n in sizes for s in range(2)]
    return pd.DataFrame(rows)


def test_a_group_name_with_a_newline_is_escaped_in_every_message() -> None:
    # "no group could be fitted (grp=a" then "b: ...": the one-line error spilled over two lines
    both_short = _two_groups([100, 200])
    both_short = both_short[(both_short["grp"] == TAB) | (both_short["n_synth"] <= 200)]
    for run in (lambda: fit_runs(both_short, by="grp"), lambda: compare_runs(both_short, by="grp", n_boot=20)):
        with pytest.raises(FitInputError) as info:
            run()
        assert one_line(info).startswith(r"no group could be fitted (grp='a\nb', grp='c\td': need at least 3")
    pooled = _two_groups([100, 200, 400]).assign(target=lambda d: np.where(d["seed"] == 0, "x\ny", "z"))
    with pytest.raises(FitInputError) as info:
        fit_runs(pooled, by="grp")
    assert r"group grp='a\nb' pools runs that differ in 'target' ('x\ny', z)" in one_line(info)
    twice = _two_groups([100, 200, 400])
    twice = pd.concat([twice, twice.iloc[:1]], ignore_index=True)
    with pytest.raises(FitInputError) as info:
        fit_runs(twice, by="grp")
    assert r"repeat one measurement (grp='a\nb', n_synth=100, seed=0" in one_line(info)
    with pytest.raises(FitInputError) as info:
        fit_runs(twice.assign(run_id=[f"r\n{i}" for i in range(len(twice) - 1)] + ["r\n0"]), by="grp")
    assert r"run_id 'r\n0' appears twice" in one_line(info)


def test_reports_and_tables_name_such_a_group_on_one_line(tmp_path: Path) -> None:
    df = _two_groups([100, 200])  # the tab group cannot be fitted: its own line says so
    res = json.loads(json.dumps(fit_runs(df, by="grp"), default=float))
    lines = summary_table(res).splitlines()
    assert lines[4:6] == ["", "flags (docs/fits.md, Diagnostics, says when each fires):"], lines
    assert lines[2].startswith(r"'a\nb' ") and lines[3].startswith(r"'c\td' ")
    assert lines[6:] and all(ln.startswith(r"grp='a\nb' ") for ln in lines[6:]), lines  # the fitted group's flags
    assert "not fitted: need at least 3" in lines[3]
    text = report(compare_runs(df, by="grp", n_boot=20)).splitlines()
    assert any(ln.startswith(r"grp='a\nb': doubling n_synth from 1,600") for ln in text)
    assert any(ln.startswith(r"grp='c\td': not fitted: need at least 3 distinct sizes") for ln in text), text
    with pytest.raises(FitInputError) as info:  # a fits file drawn over another table
        plot_scaling(df.drop(index=0), res, tmp_path / "s.png")
    assert r"disagree: grp='a\nb' has 9 rows" in one_line(info)


def test_ordinary_group_names_are_shown_as_before() -> None:
    ordinary = none_fitted("c", {"1": "why", "mnist 5k/é": "why"})
    assert str(ordinary) == "no group could be fitted (c=1, c=mnist 5k/é: why)"
    assert str(none_fitted("c", {NEWLINE: "why"})) == r"no group could be fitted (c='a\nb': why)"
    assert [errors.one_line(v) for v in ("plain", "a b", "1.5", NEWLINE, "tab\there", "\x1b[31m")] == [
        "plain", "a b", "1.5", r"'a\nb'", r"'tab\there'", r"'\x1b[31m'"]


def test_bound_names_such_a_group_on_one_line(tmp_path: Path) -> None:
    rows = [{"grp": g, "n_synth": n, "n_real": s, "seed": 0, "test_err": (n ** -0.3 + 0.5) * s ** -0.2}
            for g, s_values in ((NEWLINE, (10, 20, 40)), (TAB, (10,))) for n in (100, 200, 400, 800)
            for s in s_values]
    pd.DataFrame(rows).to_csv(tmp_path / "runs.csv", index=False)
    res = subprocess.run([sys.executable, "-m", "fits", "bound", str(tmp_path / "runs.csv"), "--by", "grp",
                          "-o", str(tmp_path / "b")], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    text = (tmp_path / "b" / "bound.txt").read_text()
    assert r"== grp='a\nb' ==" in text.splitlines() and r"== grp='c\td' ==" in text.splitlines()


@pytest.fixture
def overflowing_power_floor(monkeypatch) -> None:
    """power_floor as fitted, but its arithmetic leaves the floats above n = 5000 (no bounded fit of
    the real law does this near the data; the scoring code must still count it as a miss)."""
    import dataclasses

    from fits.laws import LAWS

    law = LAWS["power_floor"]
    wild = dataclasses.replace(law, func=lambda x, p: np.where(np.asarray(x) > 5000, np.inf, law.func(x, p)))
    monkeypatch.setitem(LAWS, "power_floor", wild)


def test_select_passes_over_a_law_whose_holdout_prediction_overflows(overflowing_power_floor) -> None:
    x = 100 * 2.0 ** np.arange(8)  # the held-out sizes 6400 and 12800 lie above 5000
    y = 0.5 * x ** -0.3 + 0.1
    sel = fits.select(x, y, ["power", "power_floor"])
    assert sel.law == "power" and sel.scores["power_floor"] == np.inf


def test_the_benchmark_scores_an_overflowing_prediction_as_a_miss(overflowing_power_floor) -> None:
    from fits.bench import score_curve

    x = 100 * 2.0 ** np.arange(8)
    y = 0.5 * x ** -0.3 + 0.1
    keep = x < 6000
    out = score_curve(x, y, keep, {"pf": lambda a, b, c: fits.fit_curve(a, b).predict(c),
                                   "last": lambda a, b, c: np.full(len(c), b[-1])})
    assert out["pf"][0] == np.inf and np.isfinite(out["last"][0])


def test_a_table_whose_index_repeats_labels_names_the_repeated_rows_by_position() -> None:
    # pd.concat without ignore_index: the message printed a pandas Series over several lines and
    # said "rows 0 and 0"
    runs = pd.read_csv(Path(__file__).resolve().parents[1] / "results" / "quickstart" / "runs.csv").iloc[:3]
    doubled = pd.concat([runs, runs])
    with pytest.raises(FitInputError) as info:
        fit_runs(doubled, "n_synth", "test_err", "complexity")
    text = one_line(info)
    assert text.startswith(f"run_id {runs['run_id'].iloc[0]}, n_real {runs['n_real'].iloc[0]} appears twice, at the "
                           "rows at positions 0 and 3 (the table's index repeats labels): "), text


OUTLIER_SIZES = 100 * 2.0 ** np.arange(7)


def _outlier_truth(n: np.ndarray) -> np.ndarray:
    return 2 * n ** -0.5 + 0.1


def test_a_run_among_two_seeds_is_not_called_an_outlier_but_among_three_it_is() -> None:
    """With 2 runs at a size neither can be told the odd one (each is 2x the other), so the run check
    needs OUTLIER_MIN_REPEATS = 3: at 2 it flagged a clean 2-seed curve with one run at 2x its error.
    The same 2x run among 3 seeds is flagged: the boundary (among 5 seeds: test_fits_laws.py's
    test_an_outlier_run_is_named_and_the_flag_stays_quiet_on_clean_seeds_and_single_runs)."""
    from fits.diagnostics import _outlier_flags

    for n_seeds, flagged in ((2, False), (3, True)):
        x, g = np.repeat(OUTLIER_SIZES, n_seeds), np.tile(np.arange(n_seeds), len(OUTLIER_SIZES))
        y = _outlier_truth(x) * np.exp(np.random.default_rng(0).normal(0, 0.01, len(x)))
        y[3 * n_seeds] *= 2  # size 800, seed 0
        flags = _outlier_flags(fits.fit_curve(x, y, groups=g))
        assert bool(flags) == flagged, (n_seeds, flags)
    assert flags[0].message.startswith(f"1 run(s) far from the other runs at their size: {y[9]:.3g} at size 800, "
                                       "seed 0 (2x its size's other runs, "), flags[0].message


def test_the_run_check_needs_nine_points_at_sizes_with_three_repeats() -> None:
    """The run check's robust spread is pooled over the points at sizes with 3+ repeats and needs 9 of
    them: of 8 (5 rounded equal errors at one size, 3 at another, one of them 2x) the spread is its floor
    0.001, and a lower minimum flagged the curve. One more repeat at the 2x run's size (9 points) flags it."""
    from fits.diagnostics import _outlier_flags

    for n_extra, flagged in ((2, False), (3, True)):  # runs added at size 1600, beside its seed 0
        x = np.r_[OUTLIER_SIZES, [OUTLIER_SIZES[2]] * 4, [OUTLIER_SIZES[4]] * n_extra]
        g = np.r_[np.zeros(7, int), [1, 2, 3, 4], np.arange(1, n_extra + 1)]
        y = np.round(_outlier_truth(x), 3)  # a small test set rounds its errors: equal repeats
        y[11] *= 2  # size 1600, seed 1
        flags = _outlier_flags(fits.fit_curve(x, y, groups=g))
        assert bool(flags) == flagged, (n_extra, flags)
    want = "1 run(s) far from the other runs at their size: 0.3 at size 1600, seed 1 (2x"
    assert flags[0].message.startswith(want), flags[0].message


def test_of_three_seeds_none_is_called_the_odd_one_however_far_it_lies() -> None:
    """outlier_seed compares each seed with a size + seed model of the others; with 3 seeds the others
    are 2, whose spread says nothing, so it needs 4+ seeds: without that guard two nearly equal seeds
    (0.2 % apart) and a third at 3x their errors flagged the third. A fourth seed beside them flags it."""
    from fits.diagnostics import _outlier_seed_flags

    for n_seeds, flagged in ((3, False), (4, True)):
        x, g = np.repeat(OUTLIER_SIZES, n_seeds), np.tile(np.arange(n_seeds), len(OUTLIER_SIZES))
        y = _outlier_truth(x) * np.array([1.0, 1.002, 3.0, 0.999])[:n_seeds][g]
        flags = _outlier_seed_flags(fits.fit_curve(x, y, groups=np.array([f"s{i}" for i in g])))
        assert bool(flags) == flagged, (n_seeds, flags)
    assert flags[0].message.startswith("a whole seed's curve far from the other seeds': seed s2 at 3x the others' "
                                       "errors at its sizes (t = "), flags[0].message


def test_a_fit_with_alpha_just_above_zero_is_flat_and_reports_its_level_at_its_largest_size() -> None:
    """Fits with alpha a little above 0 (0.00235 here) are flat too: the flag prints the alpha as it is
    and says "at its bound 0" (not "on its bound", read beside a printed 0.00235 as a slip), and compare
    and the fits.json tables give the level D n^-alpha + C at the largest size (0.297), not D + C (0.303)."""
    from fits.diagnostics import is_flat
    from fits.table import flat_level, fmt_num

    x, g = np.repeat(OUTLIER_SIZES, 3), np.tile(np.arange(3), len(OUTLIER_SIZES))
    y = 0.3 * np.exp(np.random.default_rng(5).normal(0, 0.02, len(x)))  # flat, 2 % noise: alpha lands at 0.00235
    fit = fits.fit_curve(x, y, groups=g)
    alpha = fit.params["alpha"]  # its last digits may move with the CPU: the split of a flat level is arbitrary
    assert 3e-4 < alpha < 3e-3 and is_flat(fit), alpha
    (flat,) = [f.message for f in fit.diagnostics if f.name == "unidentifiable"]
    assert flat == (f"alpha = {fmt_num(alpha, 3)} (at its bound 0): the fitted curve is flat, so only its level is "
                    "identified, not how it splits into D and C; read C as the level minus an arbitrary share")
    level = float(fit.predict([6400.0])[0])
    assert level == pytest.approx(0.29736, abs=1e-4)
    assert fit.params["D"] + fit.params["C"] > level + 0.004  # what a D + C level would wrongly report
    df = pd.DataFrame({"n_synth": x, "test_err": y, "seed": g, "complexity": 1})
    res = compare_runs(df, n_boot=20)
    assert res["flat"] == ["1"] and res["groups"]["flat_level"].iloc[0] == pytest.approx(level, rel=1e-9)
    text = report(res)
    assert "its whole error level 0.297 acts as the gap" in text and "<= 0.297 (flat)" in text, text
    (group,) = fit_runs(df)["groups"].values()
    assert flat_level(group) == pytest.approx(level, rel=1e-9)


def test_a_group_column_read_as_float_for_its_blank_scratch_cells_is_written_as_integers(tmp_path: Path) -> None:
    """Scratch rows (n_synth = 0) leave complexity blank, so read_csv reads the column as float; fit_rows
    makes it Int64 again, else fits.json named the groups 1.0 and 3.0 where the table says 1 and 3."""
    from fits.table import fit_rows, write_fits_json

    rows = [{"n_synth": 0, "complexity": None, "seed": s, "test_err": 0.5 + 0.01 * s} for s in range(2)]
    rows += [{"n_synth": n, "complexity": c, "seed": s, "test_err": (2.0 * n ** -0.5 + 0.05 * c) * (1 + 0.01 * s)}
             for c in (1, 3) for n in (100, 200, 400, 800, 1600) for s in range(2)]
    pd.DataFrame(rows).to_csv(tmp_path / "runs.csv", index=False)
    runs = pd.read_csv(tmp_path / "runs.csv")
    assert runs["complexity"].dtype == np.float64  # the blanks: what the conversion is for
    assert str(fit_rows(runs, ["n_synth"], ["test_err"], ["complexity"])["complexity"].dtype) == "Int64"
    out = json.loads(write_fits_json(fit_runs(runs), tmp_path / "fits.json").read_text())
    values = [g["value"] for g in out["groups"].values()]
    assert list(out["groups"]) == ["1", "3"] and values == [1, 3] and all(type(v) is int for v in values), values
