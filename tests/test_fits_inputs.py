"""fits on the inputs researchers actually bring: large raw sizes with fixed or boxed parameters,
failed runs, non-numeric or negative columns, zeros and missing group values in fits.json,
groups that share seed ids, fractions as sizes, other laws in the plot, rising curves."""
from __future__ import annotations

import hashlib
import io
import json
import re
import subprocess
import sys
import tarfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import fits
from fits.bound import check_bound
from fits.compare import compare_runs, decision, report
from fits.errors import FitInputError
from fits.table import fit_runs



def _table(groups: dict, sizes: np.ndarray, n_seeds: int = 4, noise: float = 0.01, seed: int = 0) -> pd.DataFrame:
    """runs.csv-shaped rows: per group value, power_floor (D, alpha, C) with multiplicative noise."""
    rng = np.random.default_rng(seed)
    rows = []
    for key, (d, a, c) in groups.items():
        for n in sizes:
            for s in range(n_seeds):
                err = (d * n ** -a + c) * np.exp(rng.normal(0, noise))
                rows.append({"complexity": key, "n_synth": float(n), "seed": s, "test_err": err, "status": "ok"})
    return pd.DataFrame(rows)


SIZES = 100 * 2.0 ** np.arange(7)


@pytest.mark.parametrize("kw", [{"bounds": {"alpha": (0.1, 1.5)}}, {"fixed": {"C": 0.1}}])
def test_fixed_or_boxed_fits_recover_large_raw_sizes(kw: dict) -> None:
    # fixed/boxed fits run on raw x; D's cap used to stay 1e3 max(y) there (fitted D = 600, 3.7 % misses)
    n = 1e5 * 2.0 ** np.arange(7)
    y = 0.5 * (n / 1e5) ** -0.7 + 0.1  # D = 0.5e5^0.7 = 1581 in raw units
    fit = fits.fit_curve(n, y, **kw)
    assert fit.params["D"] == pytest.approx(0.5 * 1e5 ** 0.7, rel=1e-4)
    assert np.max(np.abs(fit.predict(n) / y - 1)) < 1e-6
    assert "on_bound" not in [f.name for f in fit.diagnostics]


@pytest.mark.parametrize("kw, needle", [
    ({"fixed": {"D": -1.0}}, "> 0 for D"), ({"fixed": {"C": float("nan")}}, "must be finite"),
])
def test_bad_fixed_values_are_refused(kw: dict, needle: str) -> None:
    with pytest.raises(FitInputError, match=needle):
        fits.fit_curve(SIZES, 0.5 * SIZES ** -0.5 + 0.1, **kw)


def test_non_numeric_or_two_column_x_is_one_line() -> None:
    with pytest.raises(FitInputError, match="x must be numbers"):
        fits.fit_curve(["a"] * 7, np.linspace(0.5, 0.2, 7))
    with pytest.raises(FitInputError, match="one size per point"):
        fits.fit_curve(np.c_[SIZES, SIZES], np.linspace(0.5, 0.2, 7))


def test_table_input_problems_are_one_line() -> None:
    df = _table({1: (2.0, 0.5, 0.1)}, SIZES)
    with pytest.raises(FitInputError, match="no finished runs"):  # used to fit the failed runs
        fit_runs(df.assign(status="failed"))
    with pytest.raises(FitInputError, match="column 'gen' must hold numbers, but has 'shapes'"):
        fit_runs(df.assign(gen="shapes"), y="gen")
    with pytest.raises(FitInputError, match="must hold numbers, but has '30%'"):
        fit_runs(df.assign(test_err=["30%"] * len(df)))
    with pytest.raises(FitInputError, match="negative sizes"):  # used to be dropped silently
        fit_runs(pd.concat([df, df.head(1).assign(n_synth=-100.0)]))
    with pytest.raises(FitInputError, match="synthscale bound"):
        fit_runs(df, law="transfer_bound")
    with pytest.raises(FitInputError, match="column 'n_real' must be > 0"):
        check_bound(df.assign(n_real=np.where(df["seed"] == 0, 0.0, 100.0)))


def test_fits_json_is_strict_json_with_zeros_and_a_missing_group_value(tmp_path: Path) -> None:
    """fits.json holds no NaN or Infinity when a group has errors of 0 and a row has no group value, and
    `plot` draws the figure and its .pdf from it: the plot step was checked by its exit code alone."""
    df = _table({1: (2.0, 0.5, 0.1), 3: (1.0, 0.3, 0.05)}, SIZES, n_seeds=2)
    zeros = pd.DataFrame({"complexity": 2, "n_synth": SIZES, "seed": 0, "status": "ok",
                          "test_err": [0.5, 0.3, 0.2, 0.1, 0.05, 0.0, 0.0]})
    scratch = pd.DataFrame({"complexity": [np.nan], "n_synth": 0.0, "seed": 0, "status": "ok", "test_err": 0.6})
    csv = tmp_path / "runs.csv"
    pd.concat([df, zeros, scratch]).to_csv(csv, index=False)
    out = tmp_path / "fits.json"
    res = subprocess.run([sys.executable, "-m", "fits", "fit", str(csv), "-o", str(out)],
                         capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    text = out.read_text()
    assert "NaN" not in text and "Infinity" not in text
    doc = json.loads(text, parse_constant=lambda c: pytest.fail(f"non-strict JSON constant {c}"))
    assert sorted(doc["groups"]) == ["1", "2", "3"]  # the scratch row's blank is no curve
    # key 2, not 2.0: the CSV's complexity column has blanks (the scratch row's)
    hold = doc["groups"]["2"]["holdout"]  # observed 0 at the held-out size: the absolute miss counts
    assert hold["observed"] == [0.0] and hold["rel_err"] == pytest.approx(hold["abs_err"])
    assert "inf" not in res.stdout
    png = tmp_path / "scaling.png"  # the missing group value still finds its rows; zeros are reported
    res = subprocess.run([sys.executable, "-m", "fits", "plot", str(csv), str(out), "-o", str(png)],
                         capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    # the figure and the .pdf beside it (an exit 0 that wrote nothing passed), each group's curve in its
    # colour of matplotlib's cycle (C0-C2, groups in order 1, 2, 3) and no fourth curve (the blank row's)
    pdf = png.with_suffix(".pdf")
    assert res.stdout == f"wrote {png}, {pdf}\n" and res.stderr == ""
    assert png.is_file() and pdf.is_file(), sorted(p.name for p in tmp_path.iterdir())
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and pdf.read_bytes()[:5] == b"%PDF-"
    import matplotlib
    import matplotlib.colors
    import matplotlib.image

    pixels = np.round(matplotlib.image.imread(png)[..., :3] * 255).astype(int)
    assert pixels.shape[0] > 200 and pixels.shape[1] > 200
    cycle = matplotlib.rcParams["axes.prop_cycle"].by_key()["color"][:4]
    drawn = [int((pixels == np.round(np.array(matplotlib.colors.to_rgb(c)) * 255)).all(-1).sum()) for c in cycle]
    assert min(drawn[:3]) > 300 and drawn[3] == 0, drawn


def test_headers_with_spaces_are_read(tmp_path: Path) -> None:
    csv = tmp_path / "sheet.csv"
    y = 2.0 * SIZES ** -0.5 + 0.1
    csv.write_text("n_synth, test_err, complexity\n" + "".join(f"{n:g}, {e:.6f}, 1\n" for n, e in zip(SIZES, y)))
    res = subprocess.run([sys.executable, "-m", "fits", "fit", str(csv), "-o", str(tmp_path / "f.json")],
                         capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    doc = json.loads((tmp_path / "f.json").read_text())  # names and values both stripped, columns in place
    assert doc["x"] == "n_synth" and doc["y"] == "test_err" and list(doc["groups"]) == ["1"]
    g = doc["groups"]["1"]
    assert g["n_points"] == len(SIZES) and g["params"]["alpha"] == pytest.approx(0.5, abs=0.02)
    assert g["params"]["C"] == pytest.approx(0.1, abs=0.01)


def test_compare_bootstraps_groups_independently() -> None:
    # the same data under two group values: independent bootstraps must disagree a little; with one
    # random stream for every group they resampled the same seeds and the difference was exactly 0
    one = _table({1: (2.0, 0.5, 0.1)}, SIZES, n_seeds=5)
    res = compare_runs(pd.concat([one, one.assign(complexity=9)]))
    pair = res["pairs"].iloc[0]
    assert pair["d_alpha"] == 0 and pair["d_alpha_lo"] < 0 < pair["d_alpha_hi"]
    assert pair["d_C_lo"] < 0 < pair["d_C_hi"] and pair["p_C"] > 0.3


def test_compare_names_the_size_column_and_handles_fractions_and_a_zero_gap() -> None:
    fr = _table({"r18": (0.05, 0.5, 0.1)}, np.array([0.005, 0.01, 0.02, 0.04, 0.08, 0.16, 0.32])
                ).rename(columns={"n_synth": "frac", "test_err": "err", "complexity": "model"})
    (sentence,) = compare_runs(fr, x="frac", y="err", by="model")["groups"]["decision"]
    assert "doubling frac from 0.32 would remove" in sentence
    nofloor = _table({1: (2.0, 0.5, 0.0)}, SIZES, noise=0.002)  # fitted C ~1e-4: gain / C ~ 66
    (sentence,) = compare_runs(nofloor)["groups"]["decision"]
    # was "6.6e+03 [...] % of it", then "(more than all of it)": C ~1e-4 is on its bound 0 (the true C)
    assert sentence.endswith("the fitted gap C sits on its bound 0, 0.000131 [3.71e-10, 0.000309] (no floor "
                             "within the measured sizes): more data still pays."), sentence
    wide = decision("condition=plain", 8000, (0.0008, 7e-6, 0.02), (0.356, 5e-6, 0.395), (0.0022, 1.8e-5, 3400.0))
    assert "(0.22 [0.0018, >100] % of it): the interval straddles 10 %" in wide  # was "[..., 3.4e+05] %"
    assert wide.endswith("more seeds would settle it.")
    one_run = decision("fratio=16", 8000, (0.0008, 7e-6, 0.02), (0.356, 5e-6, 0.395), (0.0022, 1.8e-5, 3400.0),
                       seeds=False)  # a table without seeds (the paper's curves) was told "more seeds" too
    assert one_run.endswith("more runs per size (a seed column to tell them apart) would settle it.")
    few = decision("complexity=1", 6400, (0.0008, 7e-6, 0.02), (0.356, 5e-6, 0.395), (0.0022, 1.8e-5, 3400.0),
                   few_sizes=True)  # more seeds narrow the noise; the law's shape needs sizes
    assert few.endswith("more sizes (too few to test the law) would settle it.")


def test_an_undecided_group_with_too_few_sizes_is_told_to_measure_more_sizes() -> None:
    # 4 sizes, 4 seeds: the noise has points to spare, the law has none; compare said "more seeds"
    row = compare_runs(_table({1: (2.0, 0.5, 0.07)}, 800 * 2.0 ** np.arange(4), noise=0.02, seed=1)
                       )["groups"].iloc[0]
    assert "too_few_sizes" in row["diagnostics"].split(";")
    assert row["decision"].endswith("the interval straddles 10 %, more sizes (too few to test the law) would "
                                    "settle it."), row["decision"]
    zero = decision("complexity=1", 6400, (0.01, 0.009, 0.011), (0.0, 0.0, 0.002), (np.inf, 2.0, np.inf))
    assert "C = 0 [0, 0.002] is 0 (no floor within the measured sizes): more data still pays" in zero
    # a C on its bound 0 that the optimiser left at 5.7e-09 read as a real gap (">100 [3.03, >100] %"); and a
    # zero C whose interval allows a gap larger than the gain no longer says that more data pays
    crumb = decision("g", 160, (0.044, 0.010, 0.051), (5.74e-9, 0.0, 0.339), (7.7e6, 0.0303, np.inf), scale=0.5,
                     few_sizes=True, c_on_zero=True)
    assert crumb == ("g: doubling n from 160 would remove 0.044 [0.01, 0.051] of error, and the fitted gap C sits "
                     "on its bound 0, 5.74e-09 [0, 0.339] (no floor within the measured sizes), but its interval "
                     "reaches 0.339: more sizes (too few to test the law) would tell whether a gap remains."), crumb
    loose = decision("g", 160, (0.04, 0.017, 0.044), (0.0, 0.0, 0.311), (np.inf, 0.05, np.inf), scale=0.5)
    assert loose.endswith("is 0 (no floor within the measured sizes), but its interval reaches 0.311: more seeds "
                          "would tell whether a gap remains."), loose
    assert "%" not in zero
    # a flat fit without points left over for the noise was told "improve the generator", with no interval
    nan = (float("nan"),) * 2
    blind = decision("complexity=1", 320, (0.0, *nan), (0.3, *nan), (0.0, *nan), flat_level=0.5)
    assert "flat up to n = 320 (alpha on its bound 0, level 0.5), but the fit has no points left over to estimate " \
        "the noise" in blind and blind.endswith("measure more sizes or seeds before deciding.")
    assert "improve the generator" not in blind


def test_bound_skips_an_s_with_too_few_sizes_and_names_it() -> None:
    rows = []
    for s in (50.0, 100.0, 200.0, 400.0):
        sizes = SIZES[:2] if s == 400 else SIZES
        for n in sizes:
            rows.append({"n_synth": n, "n_real": s, "test_err": 0.8 * (0.1 + n ** -0.4) * s ** -0.3})
    res = check_bound(pd.DataFrame(rows), seed=None, intervals=False)
    assert list(res["per_s"]["s"]) == [50.0, 100.0, 200.0]
    assert "need at least 3 distinct sizes" in res["skipped"][400.0]
    assert res["fit"].params["beta"] == pytest.approx(0.3, rel=1e-3)


def test_rising_curve_without_seeds_is_non_monotone_and_exact_data_not_unidentifiable() -> None:
    rising = fits.fit_curve(SIZES, 0.1 + 0.05 * np.log(SIZES))
    assert "non_monotone" in [f.name for f in rising.diagnostics]
    x = np.repeat(SIZES, 5)
    exact = fits.fit_curve(x, 5.0 * x ** -0.8 + 0.2, groups=np.tile(np.arange(5), 7))
    assert "unidentifiable" not in [f.name for f in exact.diagnostics]  # correlation of rounding noise


def test_missing_seed_ids_are_a_seed_of_their_own() -> None:
    x = np.repeat(SIZES, 3)
    g = np.tile([0.0, 1.0, np.nan], 7)
    y = (2.0 * x ** -0.5 + 0.1) * np.exp(np.random.default_rng(0).normal(0, 0.01, len(x)))
    fit = fits.fit_curve(x, y, groups=g)
    codes = fit.problem.groups  # seed codes, as the bootstrap draws them
    assert len(np.unique(codes)) == 3 and len(np.unique(codes[np.isnan(g)])) == 1  # NaN != NaN: not 7 seeds
    assert np.isfinite(fit.bootstrap(20)).all()


def test_select_needs_a_spare_size_and_some_law() -> None:
    y = (2.0 * SIZES ** -0.5 + 0.1) * np.exp(np.random.default_rng(1).normal(0, 0.01, 7))
    sel = fits.select(SIZES, y)
    assert sel.scores["bnsl"] is None  # 6 fitting sizes for 6 parameters: nothing left to test
    with pytest.raises(FitInputError, match="laws is empty"):
        fits.select(SIZES, y, laws=[])


@pytest.mark.parametrize("law, names", [("bnsl", ("c0=", "a=")), ("m4", ("c=", "C=")), ("power", ("alpha=",))])
def test_plot_legend_shows_each_laws_own_parameters(tmp_path: Path, law: str, names: tuple) -> None:
    from fits.plot import legend_label, plot_scaling

    df = _table({1: (2.0, 0.5, 0.1)}, SIZES, n_seeds=2)
    res = fit_runs(df, law=law)
    label = legend_label(res, "1")  # power_floor's alpha and C printed nan for every other law
    assert label.startswith("complexity=1: ") and all(n in label for n in names) and "nan" not in label
    assert plot_scaling(df, res, tmp_path / "s.png")[0].exists()


def test_write_fits_json_is_strict_for_pandas_na_groups(tmp_path: Path) -> None:
    # `synthscale demo` fits its in-memory table, where the scratch rows' complexity is pandas' NA
    from fits.table import write_fits_json

    df = _table({1: (2.0, 0.5, 0.1)}, SIZES, n_seeds=2)
    df = pd.concat([df, df.head(2).assign(n_synth=0.0, test_err=0.7)], ignore_index=True)
    df["complexity"] = df["complexity"].astype("Int64")
    df.loc[df["n_synth"] == 0, "complexity"] = pd.NA
    out = write_fits_json(fit_runs(df), tmp_path / "fits.json")
    doc = json.loads(out.read_text(), parse_constant=lambda c: pytest.fail(f"non-strict JSON constant {c}"))
    assert doc["scratch"]["mean"] == pytest.approx(0.7) and list(doc["groups"]) == ["1"]


@pytest.mark.parametrize("args, needle", [
    (["fit-bench", "--lcdb", "sample", "--limit", "3"], "would overwrite results/fits_bench.md"),
    (["fit-bench", "--limit", "-75", "-o", "{tmp}/b.md"], "--limit -75: counts must be >= 0"),
    (["fit-bench", "--lcdb", "sample", "--m4-sample", "-1", "-o", "{tmp}/b.md"], "--m4-sample -1"),
    (["fit-bench", "--lcdb", "sample", "--limit", "3", "-o", "{tmp}"], "is a folder"),
    (["fit-bench", "--lcdb", "sample", "--limit", "3", "-o", "{tmp}/f.txt/b.md"], "cannot create output folder"),
    (["compare", "{runs}", "-o", "{tmp}/f.txt"], "cannot create output folder"),
    pytest.param(["paper-reanalysis", "-o", "{tmp}/f.txt"], "cannot create output folder"),
])
def test_output_paths_and_counts_are_checked_before_any_work(tmp_path: Path, args: list, needle: str) -> None:
    # these used to be tracebacks after the work (13 min for a full fit-bench) or silent misreadings
    (tmp_path / "f.txt").write_text("a file in the way\n")
    runs = Path(__file__).parents[1] / "results" / "quickstart" / "runs.csv"
    argv = [a.format(tmp=tmp_path, runs=runs) for a in args]
    res = subprocess.run([sys.executable, "-m", "fits", *argv], capture_output=True, text=True, cwd=tmp_path)
    assert res.returncode == 2 and needle in res.stderr and len(res.stderr.strip().splitlines()) == 1, res.stderr


def test_tuning_scripts_refuse_unknown_candidates_and_protocols() -> None:
    for argv, needle in ((["fits.tuning", "--only", "nosuch"], "unknown candidate(s) ['nosuch']"),
                         (["fits.tuning", "--curves", "0"], "--curves must be >= 1"),
                         (["fits.study_tuning", "--protocol", "bogus"], "invalid choice: 'bogus'")):
        res = subprocess.run([sys.executable, "-m", *argv], capture_output=True, text=True)
        assert res.returncode == 2 and needle in res.stderr, res.stderr


def test_fit_bench_on_the_sample_does_not_claim_its_curves_were_untuned(tmp_path: Path) -> None:
    out = tmp_path / "b.md"
    res = subprocess.run([sys.executable, "-m", "fits", "fit-bench", "--lcdb", "sample", "--limit", "4",
                          "--m4-sample", "1", "--paper-limit", "2", "-o", str(out)], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    text = out.read_text()
    assert "not separable here" in text and "the 80-curve LCDB sample, the first 4 curves only" in text
    assert "more on the paper's curves below" in text and "nan" not in text.split("## The paper")[1]


@pytest.mark.parametrize("x, y, needle", [
    (SIZES, np.r_[1e300, np.full(6, 0.3)], "y has errors too large to fit (max 1e+300)"),
    (SIZES, np.r_[5e-324, np.full(6, 0.3)], "y has errors too small to fit"),
    (np.r_[SIZES[:-1], 1e308], np.linspace(0.5, 0.2, 7), "x has sizes too large to fit"),
])
def test_values_whose_fit_overflows_are_refused(x: np.ndarray, y: np.ndarray, needle: str) -> None:
    # used to be scipy's ValueError "Residuals are not finite in the initial point" (a floor of 0
    # for 5e-324) or an infinite plotting grid (1e308)
    with pytest.raises(FitInputError, match=re.escape(needle)):
        fits.fit_curve(x, y)


def test_sizes_near_the_limit_still_fit_and_print_as_magnitudes() -> None:
    from fits.compare import fmt_size

    fit = fits.fit_curve(SIZES * 1e90, 2.0 * SIZES ** -0.5 + 0.1)  # finite throughout
    assert np.isfinite(list(fit.params.values())).all() and fit.params["alpha"] == pytest.approx(0.5, rel=1e-3)
    assert fmt_size(1e99) == "1e+99" and fmt_size(10000.0) == "10,000"  # was 100 digits with commas


def test_replicates_without_seed_or_run_id_are_kept_and_text_seeds_are_labels() -> None:
    from fits.table import fit_rows

    df = _table({1: (2.0, 0.5, 0.1)}, SIZES, n_seeds=2)
    twice = pd.concat([df, df], ignore_index=True)
    assert len(fit_rows(twice.drop(columns="seed"), ["n_synth"], ["test_err"], ["complexity"])) == len(twice)
    labelled = df.assign(seed=df["seed"].map({0: "a", 1: "b"}))
    assert len(fit_rows(labelled, ["n_synth"], ["test_err"], ["complexity"])) == len(df)
    with pytest.raises(FitInputError, match="repeat one measurement"):
        fit_rows(pd.concat([labelled, labelled], ignore_index=True), ["n_synth"], ["test_err"], ["complexity"])
    runs = df.assign(run_id=[f"r{i}" for i in range(len(df))])  # failed runs do not count
    assert len(fit_rows(pd.concat([runs, runs.head(1).assign(status="failed", seed=7)]),
                        ["n_synth"], ["test_err"], ["complexity"])) == len(df)


def _summary_doc(flags: list[str], rel_err: float, scratch: float) -> dict:
    return {"x": "n_synth", "y": "test_err", "by": "complexity", "law": "power_floor", "level": 0.95,
            "groups": {"1": {"value": 1, "params": {"D": 2.0, "alpha": 0.5, "C": 0.1},
                             "ci": {"D": [1.0, 3.0], "alpha": [0.4, 0.6], "C": [0.05, 0.15]},
                             "diagnostics": [{"name": f, "message": f"{f} {i}"} for i, f in enumerate(flags)],
                             "holdout": {"rel_err": rel_err}, "scratch": {"mean": scratch}}}}


def test_summary_lists_each_flag_once_and_formats_numbers_by_significant_figures() -> None:
    from fits.compare import report
    from fits.table import summary_table

    doc = _summary_doc(["few_seeds", "on_bound", "on_bound", "on_bound"], 3.21e290, 1.234e-4)
    row = summary_table(doc).splitlines()[2]  # the group's row (each flag's message follows the table)
    # was few_seeds,on_bound,on_bound,on_bound, a 291-digit holdout_rel and a scratch of 0.000
    assert row.split()[-3:] == ["3.21e+290", "0.000123", "few_seeds;on_bound"], row
    params = {f"{k}{e}": 0.5 for k in ("alpha", "C", "D") for e in ("", "_lo", "_hi")}
    groups = pd.DataFrame([{"complexity": "1", **params,
                            "diagnostics": "few_seeds;on_bound;on_bound", "decision": "complexity=1: ..."}])
    text = report({"by": "complexity", "groups": groups, "pairs": pd.DataFrame(), "errors": {}})
    assert text.splitlines()[1].endswith("few_seeds;on_bound"), text


def test_compare_reports_the_intervals_fit_reports() -> None:
    # compare drew the second group's intervals from another random stream than `synthscale fit`,
    # so the two commands printed different intervals for the same group of the same table
    from fits.table import fit_runs

    df = pd.concat([_table({1: (2.0, 0.5, 0.1)}, SIZES, n_seeds=3), _table({3: (1.0, 0.3, 0.2)}, SIZES, n_seeds=3)])
    fitted, compared = fit_runs(df)["groups"], compare_runs(df)["groups"].set_index("complexity")
    for key in ("1", "3"):
        for name in ("D", "alpha", "C"):
            assert fitted[key]["ci"][name] == [compared.loc[key, f"{name}_lo"], compared.loc[key, f"{name}_hi"]]


@pytest.mark.parametrize("lo, hi, want", [
    (30, 600, ["30", "50", "100", "200", "300", "500"]),  # wrote 3x10^1 over 4x10^1 before
    (0.83, 0.94, None),  # a short error axis: plain decimals
    (700, 2e5, ["1k", "2k", "5k", "10k", "20k", "50k", "100k", "200k"]),  # wrote 20000 over 30000
    (1e3, 1e7, ["1k", "10k", "100k", "1M", "10M"]),  # long: decades only
])
def test_log_axis_labels_are_plain_numbers_that_do_not_overlap(lo: float, hi: float, want: list | None) -> None:
    from fits.plot import log_axes, plt

    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    ax.plot([lo, hi], [lo, hi])
    log_axes(ax)
    fig.canvas.draw()
    for axis in (ax.xaxis, ax.yaxis):
        labels = [t for t in axis.get_ticklabels(minor=False) + axis.get_ticklabels(minor=True)
                  if t.get_text() and t.get_visible()]
        lo_v, hi_v = axis.get_view_interval()
        labels = [t for t in labels if lo_v <= (t.get_position()[0] if axis is ax.xaxis else t.get_position()[1]) <= hi_v]
        texts = [t.get_text() for t in sorted(labels, key=lambda t: t.get_position()[axis is ax.yaxis])]
        if want is not None:
            assert texts == want, texts
        else:
            assert len(texts) >= 3 and all(re.fullmatch(r"0\.\d+", t) for t in texts), texts
        boxes = sorted((t.get_window_extent() for t in labels), key=lambda b: (b.x0, b.y0))
        for a, b in zip(boxes, boxes[1:]):
            assert not a.overlaps(b), (texts, a, b)
    plt.close(fig)


def test_the_point_fit_does_not_depend_on_the_order_of_the_rows() -> None:
    # quickstart's flat complexity-3 curve (only its level identified) gave C 0.336 in the file's
    # order and 0.107 shuffled: the starts were taken from whichever seed's row came first
    runs = pd.read_csv(Path(__file__).resolve().parents[1] / "results" / "quickstart" / "runs.csv")
    g = runs[(runs["complexity"] == 3) & (runs["n_synth"] > 0)]
    fits_ = [fits.fit_curve(d["n_synth"], d["test_err"], groups=d["seed"]) for d in
             (g, g.sample(frac=1, random_state=3), g.iloc[::-1])]
    for f in fits_[1:]:
        assert f.params == fits_[0].params
        assert f.ci() == fits_[0].ci()


def test_lcdb_that_cannot_be_fetched_is_one_line_naming_the_ways_out(tmp_path: Path, monkeypatch) -> None:
    # without a registry, fit-bench --lcdb full ended in pip's report and a CalledProcessError traceback
    from fits.datasets import _lcdb_sdist

    for key, value in {"PIP_CONFIG_FILE": "/dev/null", "PIP_INDEX_URL": "http://127.0.0.1:9/simple",
                       "PIP_FIND_LINKS": "", "PIP_RETRIES": "0", "PIP_TIMEOUT": "1"}.items():
        monkeypatch.setenv(key, value)
    with pytest.raises(FitInputError) as err:
        _lcdb_sdist(tmp_path)
    text = str(err.value)
    assert len(text.splitlines()) == 1 and "could not fetch LCDB 1.0" in text and "--lcdb sample" in text, text


def test_pandas_inputs_with_different_indexes_are_refused_not_paired_by_position() -> None:
    # y from a sorted copy of the table was paired with x by position: a silently wrong fit
    df = pd.DataFrame({"n": np.repeat(SIZES[:5], 2), "err": np.repeat(2.0 * SIZES[:5] ** -0.5 + 0.1, 2),
                       "seed": [0, 1] * 5})
    fits.fit_curve(df["n"], df["err"], groups=df["seed"])  # one table: fine
    shuffled = df.sort_values("err")
    for kw in ({"y": shuffled["err"]}, {"y": df["err"], "groups": shuffled["seed"]}):
        with pytest.raises(FitInputError, match=r"pandas objects with different indexes, so their rows would be "
                                                r"paired by position"):
            fits.fit_curve(df["n"], **kw)
    with pytest.raises(FitInputError, match="different indexes"):
        fits.select(df["n"], shuffled["err"])
    # arrays are the caller's own pairing, taken as given
    fits.fit_curve(df["n"].to_numpy(), shuffled["err"].to_numpy())


def test_a_bad_row_of_a_shuffled_table_is_named_by_its_label_as_a_plain_number() -> None:
    # a shuffled index's label came out as numpy's repr: "at row np.int64(6)"
    n = np.tile(100 * 2.0 ** np.arange(5), 2)
    df = pd.DataFrame({"n": n, "err": 0.5 * n ** -0.3, "seed": [0] * 5 + [1, np.nan, 1, 1, 1]})
    with pytest.raises(FitInputError) as info:
        fits.fit_table(df.sample(frac=1, random_state=1), "n", "err", None)
    assert str(info.value) == ("column 'seed' has 1 missing value(s), the first at row 6 (line 8 of a CSV with a "
                               "header); give every run its seed, or drop those rows")
    with pytest.raises(FitInputError, match="column 'seed' is empty in every row; drop that column"):
        fits.fit_table(df.assign(seed=np.nan), "n", "err", None)  # said to drop every row
    with pytest.raises(FitInputError, match="column 'n' holds true/false values, not numbers"):
        fits.fit_table(df.assign(n=df["n"] > 400, seed=0), "n", "err", None)  # False was size 0: scratch


def test_gradbench_takes_help_and_refuses_an_unknown_law_in_one_line(capsys) -> None:
    # `python -m fits.gradbench --help` was a traceback: "--help" was taken for a law
    from fits import gradbench

    with pytest.raises(SystemExit) as done:
        gradbench.main(["--help"])
    assert done.value.code == 0 and "closed-form derivatives" in capsys.readouterr().out
    with pytest.raises(SystemExit) as done:
        gradbench.main(["nope"])
    err = capsys.readouterr().err.strip()
    assert done.value.code == 2 and len(err.splitlines()) == 1 and "invalid choice: 'nope'" in err, err


def test_compare_groups_name_each_flag_once() -> None:
    # compare_groups.csv read "...;unidentifiable;unidentifiable;unidentifiable" (a flag per parameter)
    rng = np.random.default_rng(2)
    rows = [{"complexity": c, "seed": s, "n_synth": n, "test_err": 0.47 + rng.normal(0, 0.01)}
            for c in (1, 3) for s in (0, 1) for n in (32, 100, 320, 1000)]
    for cell in compare_runs(pd.DataFrame(rows), "n_synth", "test_err", "complexity", 20)["groups"]["diagnostics"]:
        names = cell.split(";")
        assert "unidentifiable" in names and len(names) == len(set(names)), cell


def test_compare_does_not_read_a_gap_from_a_curve_that_rises() -> None:
    # fit flags the rise ("a falling law does not describe this curve"); compare's sentence called the
    # same group flat and its level the gap to close by improving the generator
    rng = np.random.default_rng(0)
    rows = [{"complexity": c, "seed": s, "n_synth": n, "test_err": base + slope * np.log(n) + rng.normal(0, 0.003)}
            for c, base, slope in ((1, 0.45, 0.0), (3, 0.40, 0.012)) for s in (0, 1) for n in (32, 100, 320, 1000)]
    groups = compare_runs(pd.DataFrame(rows), "n_synth", "test_err", "complexity", 20)["groups"]
    rising = groups.set_index("complexity").loc["3", "decision"]
    assert rising.startswith("complexity=3: the error rises with n_synth up to 1,000 (0.4") and "gap" not in \
        rising.split("so no gain or gap")[0], rising
    assert "made it worse" in rising and "rises" not in groups.set_index("complexity").loc["1", "decision"]


def test_the_holm_note_counts_each_parameters_own_pairs() -> None:
    # with 4 flat groups of 8, 28 pairs had a p for alpha but 6 for C; the note said 28 for both
    # ("no Holm p can fall below 0.28: rerun with --boot 1121"), where C's floor was 0.06 (--boot 241)
    from fits.compare import pairs_note

    note = pairs_note(28, 200, 6)  # the level L of a flat curve is identified: its pairs count as alpha's
    assert "adjusted for the 28 pairs compared in alpha, the 6 pairs compared in C, the 28 pairs compared in L" \
        in note
    assert "With 28 pairs in alpha and L and 200 draws no Holm p can fall below 0.28: rerun with --boot 1121" in note
    assert "With 6 pairs in C and 200 draws no Holm p can fall below 0.06: rerun with --boot 241" in note
    assert "With 3 pairs and 50 draws no Holm p can fall below 0.12" in pairs_note(3, 50)


def test_compare_ranks_flat_curves_by_their_level_at_the_largest_common_size() -> None:
    # two flat curves 0.05 apart: alpha and C told nothing (no d_C for flat groups, equal alphas of 0),
    # so compare could not say which group is better; the level at the largest size both measured can
    rng = np.random.default_rng(3)
    rows = [{"complexity": c, "seed": s, "n_synth": n, "test_err": level + rng.normal(0, 0.005)}
            for c, level, sizes in ((1, 0.45, (32, 100, 320, 1000, 3200)), (3, 0.40, (32, 100, 320, 1000)))
            for s in (0, 1, 2) for n in sizes]
    res = compare_runs(pd.DataFrame(rows), "n_synth", "test_err", "complexity", 100)
    pair = res["pairs"].iloc[0]
    assert "3" in res["flat"] and np.isnan(pair["d_C"]), res["flat"]  # no C to compare
    assert pair["n_common"] == 1000  # group 1 also measured 3200, group 3 did not
    assert 0.04 < pair["d_L"] < 0.06 and 0 < pair["d_L_lo"] < pair["d_L"] < pair["d_L_hi"], pair.to_dict()
    assert pair["p_L"] <= 0.02 and pair["p_L_holm"] == pair["p_L"], pair.to_dict()  # (2 / 100: none beyond 0)
    text = report(res)
    assert "L: each fitted curve's test_err at n_common, the largest n_synth inside both groups' measured ranges" \
        in text
    assert re.search(r"^1 - 3 +1,000 +0\.0\d+ \[0\.0\d+, 0\.0\d+\] +0\.020", text, re.M), text


def test_compare_finds_no_level_difference_between_two_draws_of_one_curve() -> None:
    rng = np.random.default_rng(4)
    rows = [{"complexity": c, "seed": s, "n_synth": n, "test_err": 0.3 * n ** -0.4 + 0.2 + rng.normal(0, 0.004)}
            for c in (1, 3) for s in (0, 1, 2) for n in (32, 100, 320, 1000, 3200)]
    pair = compare_runs(pd.DataFrame(rows), "n_synth", "test_err", "complexity", 200)["pairs"].iloc[0]
    assert pair["d_L_lo"] < 0 < pair["d_L_hi"] and pair["p_L"] > 0.05, pair.to_dict()
    assert abs(pair["d_L"]) < 0.01 and pair["n_common"] == 3200, pair.to_dict()


def test_compare_reads_no_level_where_the_two_ranges_do_not_overlap() -> None:
    # n_common was min of the largest sizes: 1,000, which group 2 (3,000 and up) never measured; its curve
    # was extrapolated below its data under a header that said "both measured"
    rng = np.random.default_rng(0)
    rows = [{"complexity": c, "seed": s, "n_synth": n, "test_err": 0.5 * n ** -0.3 + 0.1 + rng.normal(0, 0.003)}
            for c, sizes in ((1, (30, 100, 300, 1000)), (2, (3000, 10000, 30000, 100000))) for s in (0, 1, 2)
            for n in sizes]
    res = compare_runs(pd.DataFrame(rows), "n_synth", "test_err", "complexity", 50)
    pair = res["pairs"].iloc[0]
    assert np.isnan([pair["n_common"], pair["d_L"], pair["p_L"], pair["p_L_holm"]]).all(), pair.to_dict()
    assert np.isfinite(pair["d_alpha"])
    text = report(res)
    assert re.search(r"^1 - 2 +- +- +- +-$", text, re.M), text
    assert "-: no d_L for 1 - 2: their n_synth ranges do not overlap" in text


def test_compare_of_fits_without_noise_estimates_prints_no_p_value_note() -> None:
    # one run at each of 3 sizes: no pair has a p-value, yet the note read "adjusted for the 0 pair compared"
    rows = [{"complexity": c, "n_synth": n, "test_err": e}
            for c, errs in ((1, (0.46, 0.51, 0.55)), (3, (0.6, 0.5, 0.45))) for n, e in zip((32, 100, 320), errs)]
    text = report(compare_runs(pd.DataFrame(rows), "n_synth", "test_err", "complexity", 20))
    assert "p Holm: adjusted" not in text and "0 pair" not in text, text
    assert "-: no p-value and no interval for pairs with complexity=1, complexity=3" in text, text


def test_a_torn_lcdb_sdist_is_one_line_saying_to_remove_it(tmp_path: Path, monkeypatch) -> None:
    """pip copies the sdist into place with a plain copy: a stopped download left a torn archive that every
    later fit-bench trusted and ended in a 48-line EOFError traceback. Its sha256 is checked first."""
    from fits import datasets

    monkeypatch.setenv("SYNTHSCALE_CACHE", str(tmp_path))
    (tmp_path / "lcdb").mkdir()
    (tmp_path / "lcdb" / "lcdb-0.1.0.tar.gz").write_bytes(b"\x1f\x8b\x08" + b"torn" * 100)
    for make in (datasets.lcdb_full, datasets.lcdb_single_run):
        with pytest.raises(FitInputError) as err:
            make()
        text = str(err.value)
        assert len(text.splitlines()) == 1 and "is not the lcdb 0.1.0 sdist" in text and "remove it" in text, text


def test_a_stopped_lcdb_cache_write_leaves_no_table_that_is_read_later(tmp_path: Path, monkeypatch) -> None:
    """The tidy LCDB table was written in place: a run stopped while writing it left a torn CSV that every later
    call read as the whole of LCDB (236 of 12,000 curves, no error). It is written aside and renamed."""
    from fits import datasets

    raw = pd.DataFrame({"openmlid": [3] * 4, "learner": ["svc"] * 4, "size_train": [16, 16, 32, 32],
                        "outer_seed": [0, 1, 0, 1], "inner_seed": [0, 0, 0, 0], "score_test": [0.5, 0.7, 0.8, 0.9],
                        "score_valid": [0.5, 0.6, 0.7, 0.8]})
    (tmp_path / "lcdb").mkdir()
    sdist = tmp_path / "lcdb" / "lcdb-0.1.0.tar.gz"  # a small archive of the real one's layout
    data = raw.to_csv(index=False).encode()
    with tarfile.open(sdist, "w:gz") as tar:
        member = tarfile.TarInfo(datasets.LCDB_MEMBER)
        member.size = len(data)
        tar.addfile(member, io.BytesIO(data))
    monkeypatch.setenv("SYNTHSCALE_CACHE", str(tmp_path))
    monkeypatch.setattr(datasets, "LCDB_SHA256", hashlib.sha256(sdist.read_bytes()).hexdigest())
    real_to_csv = pd.DataFrame.to_csv

    def stopped(self, path, **kw):  # writes the first line, then the process is "stopped"
        Path(path).write_text(real_to_csv(self, **kw).splitlines()[0] + "\n3,svc,16,0.4")
        raise KeyboardInterrupt

    monkeypatch.setattr(pd.DataFrame, "to_csv", stopped)
    with pytest.raises(KeyboardInterrupt):
        datasets.lcdb_full()
    assert list((tmp_path / "lcdb").iterdir()) == [sdist]  # neither the torn table nor its temporary file
    monkeypatch.setattr(pd.DataFrame, "to_csv", real_to_csv)
    table = datasets.lcdb_full()
    assert table["err_test_mean"].round(6).tolist() == [0.4, 0.15] and table["n_seeds"].tolist() == [2, 2]
    assert datasets.lcdb_full().equals(table)  # read back from the cache
    one = datasets.lcdb_single_run()
    assert one["err_test_mean"].round(6).tolist() == [0.5, 0.2]


def test_an_empty_cache_variable_means_the_default_cache(monkeypatch) -> None:
    """SYNTHSCALE_CACHE set but empty put fits' cache in the current folder ('.'), while bench's took its default."""
    from fits import datasets

    monkeypatch.setenv("SYNTHSCALE_CACHE", "")
    assert datasets.cache_dir() == datasets.REPO / ".cache"


def test_a_downloaded_file_that_is_not_the_pinned_sdist_is_not_kept_and_says_so(tmp_path: Path, monkeypatch) -> None:
    """A whole download of another file (another index or mirror) was called torn and named a file in a temporary
    folder that was already gone, with 'remove it'."""
    from fits import datasets

    def pip_download(cmd, **kw):  # pip writes another file under the sdist's name into -d
        (Path(cmd[cmd.index("-d") + 1]) / "lcdb-0.1.0.tar.gz").write_bytes(b"another file")
        return subprocess.CompletedProcess(cmd, 0, "", "")

    monkeypatch.setattr(datasets.subprocess, "run", pip_download)
    with pytest.raises(FitInputError) as err:
        datasets._lcdb_sdist(tmp_path / "lcdb")
    text = str(err.value)
    assert "whose sha256 is not the pinned" in text and "nothing was kept" in text and "remove it" not in text, text
    assert list((tmp_path / "lcdb").iterdir()) == []
