"""fits: fit_curve recovers known laws, refuses bad input in one line, handles zeros; the runs-table
API (fit_runs, fit_table, summary_table, plot_scaling) and the `python -m fits` CLI."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import fits
from fits.errors import FitInputError

SIZES = np.array([250, 500, 1000, 2000, 4000, 8000, 16000], dtype=float)
TRUE = {"D": 3.0, "alpha": 0.4, "C": 0.12}


def law_data(n_seeds: int = 4, noise: float = 0.01, seed: int = 0) -> tuple[np.ndarray, ...]:
    """Sizes, errors and seed ids drawn from the power_floor law with multiplicative noise."""
    rng = np.random.default_rng(seed)
    x = np.repeat(SIZES, n_seeds)
    g = np.tile(np.arange(n_seeds), len(SIZES))
    y = (TRUE["D"] * x ** -TRUE["alpha"] + TRUE["C"]) * np.exp(rng.normal(0, noise, len(x)))
    return x, y, g


def runs_table(seed: int = 0) -> pd.DataFrame:
    """A runs.csv-shaped table: two complexities, 3 seeds, a scratch baseline at n_synth = 0."""
    rng = np.random.default_rng(seed)
    rows = []
    for cx, (d, a, c) in {1: (3.0, 0.4, 0.12), 3: (4.0, 0.5, 0.08)}.items():
        for n in [0, *SIZES]:
            for s in range(3):
                err = 0.35 if n == 0 else d * n ** -a + c
                err = float(np.clip(err + rng.normal(0, 0.004), 0, 1))
                rows.append({"run_id": f"{cx}-{n}-{s}", "complexity": cx, "n_synth": int(n), "seed": s,
                             "test_err": err, "test_acc": 1 - err, "status": "ok"})
    return pd.DataFrame(rows)


def test_each_curve_gets_the_scratch_baseline_of_its_own_real_size_not_the_pooled_one() -> None:
    """Scratch runs (no generator, no complexity) at two real sizes: a curve at n_real = 1000 is
    compared with scratch at 1000, never with the mean of both sizes."""
    rows = []
    for n_real, scratch_err in ((100, 0.72), (1000, 0.30)):
        for s in range(2):
            rows.append({"generator": "none", "complexity": np.nan, "n_synth": 0, "n_real": n_real, "seed": s,
                         "test_err": scratch_err + 0.01 * s, "status": "ok"})
            for n in SIZES:
                rows.append({"generator": "shapes", "complexity": 1, "n_synth": n, "n_real": n_real, "seed": s,
                             "test_err": scratch_err / 2 + n ** -0.5 + 0.002 * s, "status": "ok"})
    df = pd.DataFrame(rows)
    res = fits.fit_runs(df, by="complexity,n_real")
    assert res["scratch"] is None  # two experiments' scratch runs: no single baseline
    assert res["groups"]["1/100"]["scratch"]["mean"] == pytest.approx(0.725)
    assert res["groups"]["1/1000"]["scratch"]["mean"] == pytest.approx(0.305)
    # the seed-to-seed std of 0.30 and 0.31: the sample std (n - 1), 0.00707, not 0.005
    assert res["groups"]["1/1000"]["scratch"]["std"] == pytest.approx(0.01 / np.sqrt(2))
    assert "0.305" in fits.summary_table(res) and "0.515" not in fits.summary_table(res)
    # a curve whose real size has no scratch run gets no baseline at all
    only_100 = df[(df["n_synth"] > 0) | (df["n_real"] == 100)]
    res = fits.fit_runs(only_100, by="complexity,n_real")
    assert res["scratch"] is None and res["groups"]["1/1000"]["scratch"] is None
    assert res["groups"]["1/100"]["scratch"]["n"] == 2
    # one experiment's scratch runs shared by every curve: one baseline, as before
    res = fits.fit_runs(df[df["n_real"] == 100], by="complexity")
    assert res["scratch"]["mean"] == pytest.approx(0.725) and res["groups"]["1"]["scratch"] is None


def test_recovers_known_parameters_with_seeds() -> None:
    x, y, g = law_data()
    fit = fits.fit_curve(x, y, groups=g)
    assert fit.params["alpha"] == pytest.approx(TRUE["alpha"], rel=0.15)
    assert fit.params["C"] == pytest.approx(TRUE["C"], rel=0.1)
    assert fit.params["D"] == pytest.approx(TRUE["D"], rel=0.5)  # D and alpha trade off in log space
    ci = fit.ci()
    for name, value in TRUE.items():
        lo, hi = ci[name]
        assert lo < fit.params[name] < hi, name
    # predictions are in raw units and extrapolate sensibly
    truth = TRUE["D"] * 32000.0 ** -TRUE["alpha"] + TRUE["C"]
    assert fit.predict([32000.0])[0] == pytest.approx(truth, rel=0.03)
    lo, hi = fit.band([32000.0])
    assert lo[0] <= fit.predict([32000.0])[0] <= hi[0]


def test_fixed_parameter_is_pinned() -> None:
    x, y, _ = law_data(n_seeds=1, noise=0.002)
    fit = fits.fit_curve(x, y, fixed={"D": 3.0})
    assert fit.params["D"] == 3.0
    assert fit.ci()["D"] == (3.0, 3.0)
    assert fit.params["alpha"] == pytest.approx(0.4, abs=0.02)
    assert list(fit.params) == ["D", "alpha", "C"]


@pytest.mark.parametrize("x, y, needle", [
    ([1, 2, 1, 2], [0.3, 0.2, 0.31, 0.21], "at least 3 distinct sizes"),
    ([1, 2, 4, 8], [0.3, np.nan, 0.2, 0.1], "NaN"),
    ([1, 2, 4, 8], [0.3, 0.2, -0.1, 0.1], "negative"),
    ([0, 2, 4, 8], [0.3, 0.2, 0.15, 0.1], "x must be > 0"),
    ([1, 2, 4], [0.3, 0.2], "differ in length"),
])
def test_bad_input_is_one_clear_line(x: list, y: list, needle: str) -> None:
    with pytest.raises(FitInputError, match=needle) as info:
        fits.fit_curve(x, y)
    assert "\n" not in str(info.value)


def test_unknown_law_and_fixed_name() -> None:
    with pytest.raises(FitInputError, match="unknown law 'nope'; valid: bnsl, m4, power"):
        fits.fit_curve([1, 2, 4], [0.3, 0.2, 0.1], law="nope")
    with pytest.raises(FitInputError, match="unknown parameter"):
        fits.fit_curve([1, 2, 4], [0.3, 0.2, 0.1], fixed={"E": 1.0})
    # names of mixed types: a TypeError from sorting them, not the one line
    with pytest.raises(FitInputError, match=r"fixed has unknown parameter\(s\) \['Q', 1\]"):
        fits.fit_curve([1, 2, 4], [0.3, 0.2, 0.1], fixed={1: 0.5, "Q": 1})
    with pytest.raises(FitInputError, match=r"bounds for \['Q', None\] are unknown"):
        fits.fit_curve([1, 2, 4], [0.3, 0.2, 0.1], bounds={None: (0, 1), "Q": (0, 1)})


def test_exact_zero_errors_are_floored_and_flagged() -> None:
    x = np.array([16, 32, 64, 128, 256, 512, 1024], dtype=float)
    y = np.array([0.2, 0.1, 0.04, 0.01, 0.0, 0.0, 0.0])
    fit = fits.fit_curve(x, y)
    assert all(np.isfinite(v) for v in fit.params.values())
    assert np.all(np.isfinite(fit.predict(x)))
    names = [f.name for f in fit.diagnostics]
    assert "zero_errors" in names
    assert fit.predict([1024.0])[0] < 0.01
    all_zero = fits.fit_curve([1, 2, 4, 8], [0.0, 0.0, 0.0, 0.0])  # a perfect learner: no crash
    assert np.all(np.isfinite(all_zero.predict([16.0])))


def test_fit_runs_is_jsonable_with_scratch_and_holdout() -> None:
    res = fits.fit_runs(runs_table(), x="n_synth", y="test_err", by="complexity")
    assert set(res["groups"]) == {"1", "3"}
    json.dumps(res)  # what `synthscale fit` writes must serialise
    g1 = res["groups"]["1"]
    assert g1["params"]["alpha"] == pytest.approx(0.4, rel=0.2)
    assert g1["scratch"]["mean"] == pytest.approx(0.35, abs=0.01) and g1["scratch"]["n"] == 3
    assert g1["holdout"]["held_out"] == [16000.0] and g1["holdout"]["rel_err"] < 0.05
    assert res["scratch"]["n"] == 6
    assert len(g1["curve"]["x"]) == len(g1["curve"]["lo"])
    assert all(lo <= f <= hi for lo, f, hi in zip(g1["curve"]["lo"], g1["curve"]["fit"], g1["curve"]["hi"]))
    text = fits.summary_table(res)
    flagged = [f"complexity={k} {d['name']}: {d['message']}" for k, g in res["groups"].items()
               for d in g["diagnostics"]]
    assert "complexity" in text and "alpha" in text
    assert len(text.splitlines()) == 4 + (2 + len(flagged) if flagged else 0), text
    assert text.splitlines()[6:] == flagged  # each flag's one-line message, named by its group


def test_fit_table_one_row_per_group_and_bad_column() -> None:
    table = fits.fit_table(runs_table(), "n_synth", "test_err", "complexity")
    assert list(table["complexity"]) == [1, 3]
    assert (table["alpha_lo"] < table["alpha"]).all() and (table["alpha"] < table["alpha_hi"]).all()
    with pytest.raises(FitInputError, match=r"^column\(s\) \['no_such_column'\] not in the table; it has \["):
        fits.fit_table(runs_table(), "n_synth", "test_err", "no_such_column")


def test_group_with_too_few_sizes_is_reported_not_fatal() -> None:
    df = runs_table()
    df = df[~((df["complexity"] == 3) & (df["n_synth"] > 500))]
    res = fits.fit_runs(df)
    assert "error" in res["groups"]["3"] and "params" in res["groups"]["1"]
    with pytest.raises(FitInputError, match="no group could be fitted"):
        fits.fit_runs(df[df["complexity"] == 3])


def test_plot_writes_png_and_pdf(tmp_path: Path) -> None:
    df = runs_table()
    res = fits.fit_runs(df)
    paths = fits.plot_scaling(df, res, tmp_path / "scaling.png")
    assert [p.suffix for p in paths] == [".png", ".pdf"]
    assert all(p.stat().st_size > 1000 for p in paths)


def test_many_groups_are_drawn_one_panel_each_few_share_one_axes() -> None:
    """`fit --by generator,complexity` on a big sweep drew every group in one axes: colours repeated
    after ten groups and the legend covered the points. Past MAX_OVERLAID groups each group gets
    its own panel (its key and parameters above it); up to it, one axes with a legend as before."""
    import matplotlib.pyplot as plt

    from fits.plot import MAX_OVERLAID, scaling_figure

    tables = [runs_table(seed=i).assign(generator=gen) for i, gen in enumerate("abcd")]
    df = pd.concat([t.assign(run_id=gen + t["run_id"]) for gen, t in zip("abcd", tables)], ignore_index=True)
    res = fits.fit_runs(df, by="generator,complexity")
    keys = list(res["groups"])
    assert len(keys) == 8 > MAX_OVERLAID
    fig = scaling_figure(df, res)
    try:
        panels = [ax for ax in fig.axes if ax.get_visible()]
        assert len(panels) == 8 and len(fig.axes) == 9  # a 3 x 3 grid, its last slot hidden
        for ax, key in zip(panels, keys):
            p = res["groups"][key]["params"]
            assert ax.get_title().split("\n") == [f"generator/complexity={key}", f"alpha={fits.table.fmt_num(p['alpha'])}, "
                                                       f"C={fits.table.fmt_num(p['C'])}"]
            fitted = [ln for ln in ax.get_lines() if len(ln.get_xdata()) > 2]  # not the scratch line
            assert [ln.get_linestyle() for ln in fitted] == ["-", ":"]  # measured, then past the data
            grid = res["groups"][key]["curve"]["x"]  # the two parts share the last measured grid point
            assert np.allclose(np.r_[fitted[0].get_xdata(), fitted[1].get_xdata()[1:]], grid)
            n_points = sum(len(c.get_offsets()) for c in ax.collections[:-1] if len(c.get_offsets()))
            assert n_points >= res["groups"][key]["n_points"]  # its own points (plus the size means)
        assert all(ax.get_xscale() == ax.get_yscale() == "log" for ax in panels)
        # the panel above the hidden slot keeps its x tick labels (sharex hides all but the last row's)
        above_empty = panels[5]
        assert any(t.get_visible() and t.get_text() for t in above_empty.get_xticklabels(which="both"))
    finally:
        plt.close(fig)
    few = df[df["generator"].isin(["a", "b"])]
    res = fits.fit_runs(few, by="generator,complexity")
    fig = scaling_figure(few, res)
    try:
        (ax,) = fig.axes
        labels = [t.get_text() for t in ax.get_legend().get_texts()]
        assert [lb.split(":")[0] for lb in labels[:4]] == [f"generator,complexity={k}" for k in res["groups"]]
    finally:
        plt.close(fig)


def _run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "fits", *args], capture_output=True, text=True, timeout=120)


def test_cli_fit_then_plot(tmp_path: Path) -> None:
    runs = tmp_path / "runs.csv"
    runs_table().to_csv(runs, index=False)
    out = _run_cli("fit", str(runs), "--by", "complexity", "-o", str(tmp_path / "fits.json"))
    assert out.returncode == 0, out.stderr
    assert json.loads((tmp_path / "fits.json").read_text())["by"] == "complexity"
    out = _run_cli("plot", str(runs), str(tmp_path / "fits.json"), "-o", str(tmp_path / "s.png"))
    assert out.returncode == 0, out.stderr
    assert (tmp_path / "s.pdf").exists()


def test_cli_bad_input_exits_2_with_one_line(tmp_path: Path) -> None:
    runs = tmp_path / "runs.csv"
    runs_table().to_csv(runs, index=False)
    out = _run_cli("fit", str(runs), "--by", "colour", "-o", str(tmp_path / "f.json"))
    assert out.returncode == 2
    assert out.stderr.count("\n") == 1 and "colour" in out.stderr


def test_a_short_log_axis_gets_evenly_spaced_labels():
    """Test errors of 0.30-0.44 on a log axis were labelled 0.3 and 0.4 only (the quickstart's plot);
    an axis spanning less than a factor 3 now gets round, evenly spaced ticks; long axes keep decades."""
    import matplotlib.pyplot as plt

    from fits.plot import log_axes

    fig, ax = plt.subplots()
    log_axes(ax)
    ax.plot([30, 20000], [0.30, 0.44])
    ax.set_xlim(30, 20000)
    ax.set_ylim(0.30, 0.44)
    fig.canvas.draw()
    labels = [t.get_text() for t in ax.get_yticklabels(which="both") if t.get_text()]
    assert {"0.3", "0.4"} <= set(labels) and len(labels) >= 4, labels  # 0.3, 0.32, ... by the axis length
    xs = [t.get_text() for t in ax.get_xticklabels(which="major") if t.get_text()]
    assert {"100", "1k", "10k"} <= set(xs) and set(xs) <= {"10", "100", "1k", "10k", "100k"}, xs
    plt.close(fig)


def test_exact_power_law_data_reads_its_gap_as_on_its_bound_only() -> None:
    """Exact 2 n^-0.5 data fit C = 2e-7 on its bound 0; the bootstrap's +-70 % about that nothing also
    drew "parameters trade off ... leaving C within +-70 %", which says the gap is open when on_bound
    already says it is a limit near 0. With and without seeds."""
    x = 100 * 2.0 ** np.arange(7)
    for xs, groups in ((x, None), (np.repeat(x, 5), np.tile(np.arange(5), 7))):
        fit = fits.fit_curve(xs, 2 * xs ** -0.5, groups=groups)
        names = [d.name for d in fit.diagnostics]
        assert fit.params["C"] < 1e-5 and "on_bound" in names and "unidentifiable" not in names, names


def test_the_plot_dots_the_fit_past_the_largest_measured_size_and_keys_the_mean_dash() -> None:
    """The fitted line runs to twice the largest size; it was drawn solid all the way, so a reader took the
    extrapolated half for measured. Now the part past the data is dotted (and its band lighter), and the
    legend keys the mean dash and the dotted line."""
    import matplotlib.pyplot as plt

    from fits.plot import scaling_figure

    df = runs_table()
    fig = scaling_figure(df, fits.fit_runs(df))
    ax = fig.axes[0]
    top = float(df["n_synth"].max())
    drawn = [ln for ln in ax.get_lines() if len(ln.get_xdata())]
    solid = [ln for ln in drawn if ln.get_linestyle() == "-"]
    dotted = [ln for ln in drawn if ln.get_linestyle() == ":"]
    assert len(solid) == len(dotted) == 2  # two groups
    assert all(max(ln.get_xdata()) <= top * (1 + 1e-9) for ln in solid)
    for ln in dotted:  # from the last measured grid point to twice the largest size
        xs = np.asarray(ln.get_xdata())
        assert xs.min() <= top < xs[1] and xs.max() == pytest.approx(2 * top)
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "mean of the runs at a size" in labels and "fit past the largest measured size (extrapolated)" in labels
    plt.close(fig)


def test_the_legend_says_when_an_exponent_sits_on_its_bound() -> None:
    """alpha = 3 on its upper bound read in the legend as a measured exponent of 3; a flat group keeps
    its own wording (alpha=0, C<=level (flat)), and a too_flat one at alpha 3 both."""
    from fits.plot import legend_label

    repo = Path(__file__).resolve().parents[1]
    mnist = json.loads((repo / "results" / "asg" / "mnist5k" / "fits.json").read_text())
    assert legend_label(mnist, "learned") == "condition=learned: alpha=3 (on its bound), C=0.361"
    assert legend_label(mnist, "handset") == "condition=handset: alpha=0.626, C=0.312"
    quick = json.loads((repo / "results" / "quickstart" / "fits.json").read_text())
    assert legend_label(quick, "3") == "complexity=3: alpha=0, C<=0.384 (flat)"
    # too_flat with alpha on its upper bound: flat, and the bound still said (the flat wording hid it)
    digits = json.loads((repo / "results" / "asg" / "sklearn_digits" / "fits.json").read_text())
    assert legend_label(digits, "learned") == "condition=learned: alpha=3 (on its bound), C<=0.559 (flat)"
