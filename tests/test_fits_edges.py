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
    # the fit is finite at 1e-121 but a fifth of its bootstrap refits (alpha up to 2.55) overflow
    # there: the band's upper end was NaN (numpy's lerp of inf), with overflow warnings
    noisy = STEEP * np.exp(np.random.default_rng(0).normal(0, 0.05, len(SIZES)))
    fit = fits.fit_curve(SIZES, noisy)
    assert np.isfinite(fit.predict([1e-121])).all()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(errors.PredictionOverflow) as info:
            fit.band([1e-121, 1000.0])
        lo, hi = fit.band([1e-119, 1000.0])  # nearer the fitted sizes every refit is finite
    assert "the 0.95 band of law 'power_floor' is unbounded at size 1e-121:" in one_line(info)
    assert "of its bootstrap refits overflow there, far outside the fitted sizes (100 to 3200)" in str(info.value)
    assert np.isfinite(lo).all() and np.isfinite(hi).all() and (lo <= fit.predict([1e-119, 1000.0])).all()


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
    assert len(lines) == 4 and lines[2].startswith(r"'a\nb' ") and lines[3].startswith(r"'c\td' ")
    assert "not fitted: need at least 3" in lines[3]
    text = report(compare_runs(df, by="grp", n_boot=20)).splitlines()
    assert any(ln.startswith(r"grp='a\nb': doubling n_synth from 1,600") for ln in text)
    assert r"grp='c\td': not fitted: need at least 3 distinct sizes" in text[-1]
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
