"""fits from Python the way a researcher calls it: pandas and int inputs, unsorted and repeated
sizes, string seeds, weights, fixed and boxed parameters, interval levels, predictions outside the
law's domain; and the statistics checked against computations written here, not in the library."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import fits
from fits.errors import FitInputError

SIZES = 100 * 2.0 ** np.arange(7)
CLEAN = 2.0 * SIZES ** -0.5 + 0.1


def one_line(info: pytest.ExceptionInfo) -> str:
    """The error's text, checked to be a single line."""
    text = str(info.value)
    assert "\n" not in text
    return text


@pytest.mark.parametrize("kw, needle", [
    ({"fixed": {"alpha": 5.0}}, "fixed alpha = 5 is outside the range of alpha in law 'power_floor' on this data, [0, 3]"),
    ({"fixed": {"alpha": -1.0}}, "fixed alpha = -1 is outside"),
    ({"fixed": {"C": 10.0}}, "fixed C = 10 is outside the range of C"),
    ({"fixed": {"C": -0.1}}, "fixed C = -0.1 is outside"),
    ({"fixed": {"C": "a"}}, "fixed['C'] must be a number, got 'a'"),
    ({"fixed": ["C"]}, "fixed must map parameter names to values"),
    ({"bounds": {"alpha": 0.5}}, "bounds['alpha'] must be a pair of numbers (lo, hi), got 0.5"),
    ({"bounds": {"alpha": (0.0, np.inf)}}, "bounds for ['alpha'] must be finite"),
    ({"bounds": ["alpha"]}, "bounds must map parameter names to (lo, hi)"),
])
def test_fixed_and_bounds_outside_the_law_are_one_line(kw: dict, needle: str) -> None:
    # were silently fitted (alpha pinned at 5 or -1, a floor above every error) or numpy/attribute tracebacks
    with pytest.raises(FitInputError) as info:
        fits.fit_curve(SIZES, CLEAN, **kw)
    assert needle in one_line(info)


def test_fixed_values_on_the_box_edges_or_inside_a_widened_box_are_kept() -> None:
    assert fits.fit_curve(SIZES, CLEAN, fixed={"C": 0.0}).params["C"] == 0.0  # a pure power law
    assert fits.fit_curve(SIZES, CLEAN, fixed={"alpha": 0.0}).params["alpha"] == 0.0
    wide = fits.fit_curve(SIZES, CLEAN, fixed={"alpha": 4.0}, bounds={"alpha": (0.0, 5.0)})
    assert wide.params["alpha"] == 4.0
    # (pinning every parameter is refused: test_pinning_every_parameter_is_refused)
    assert np.allclose(fits.LAWS["power_floor"](SIZES, {"D": 2.0, "alpha": 0.5, "C": 0.1}), CLEAN)


@pytest.mark.parametrize("weights, needle", [
    (np.zeros(7), "weights are > 0 at 0 distinct size(s); a law needs weight on at least 3"),
    ([0, 0, 0, 0, 0, 1, 1], "weights are > 0 at 2 distinct size(s)"),
    (["a"] * 7, "weights must be numbers"),
    ([1.0, 2.0], "weights must be finite, >= 0 and one per point; got 2 for 7 points"),
    (-np.ones(7), "min -1"),
])
def test_weights_that_leave_the_law_undetermined_are_one_line(weights, needle: str) -> None:
    # all-zero weights returned the starting point as a fit; strings were a numpy ValueError
    with pytest.raises(FitInputError) as info:
        fits.fit_curve(SIZES, CLEAN, weights=weights)
    assert needle in one_line(info)


def test_a_zero_weight_point_does_not_widen_the_residual_bootstrap() -> None:
    # weight 0 leaves a point out of the fit; its residual used to be resampled onto the others:
    # one excluded point off by 3x gave a 95 % interval of D up to ~1e6
    y = CLEAN * np.exp(np.random.default_rng(0).normal(0, 0.01, 7))
    y[3] *= 3.0
    w = np.ones(7)
    w[3] = 0.0
    weighted = fits.fit_curve(SIZES, y, weights=w)
    dropped = fits.fit_curve(np.delete(SIZES, 3), np.delete(y, 3))
    assert weighted.params == pytest.approx(dropped.params, rel=1e-4)
    for k, (lo, hi) in weighted.ci().items():
        d_lo, d_hi = dropped.ci()[k]
        # same residual pool and N, different design: widths agree to a small factor
        assert (hi - lo) < 2 * (d_hi - d_lo), (k, (lo, hi), (d_lo, d_hi))


@pytest.fixture(scope="module")
def seeded() -> fits.Fit:
    """A power_floor fit over 7 sizes x 5 string-named seeds, rows shuffled."""
    rng = np.random.default_rng(3)
    x, seed = np.repeat(SIZES, 5), np.tile(np.arange(5), 7)
    y = (2.0 * x ** -0.5 + 0.1) * np.exp(rng.normal(0, 0.04, 5)[seed] + rng.normal(0, 0.01, len(x)))
    order = rng.permutation(len(x))
    return fits.fit_curve(x[order], y[order], groups=np.array([f"s{k}" for k in seed])[order])


@pytest.mark.parametrize("call", ["ci", "band", "to_dict"])
@pytest.mark.parametrize("level, hint", [(95, "got 95 (for 95 % use 0.95)"), (0, "got 0"), (1, "got 1"),
                                         (-0.1, "got -0.1"), (float("nan"), "got nan")])
def test_interval_levels_outside_0_1_are_one_line(seeded: fits.Fit, call: str, level: float, hint: str) -> None:
    # 95 and nan were numpy 'Percentiles must be in the range' tracebacks; 0 and -0.1 returned
    # zero-width or reversed intervals, 1 the bootstrap's min and max
    run = {"ci": lambda: seeded.ci(level), "band": lambda: seeded.band(SIZES, level),
           "to_dict": lambda: seeded.to_dict(level)}[call]
    with pytest.raises(FitInputError) as info:
        run()
    assert "level must be a fraction strictly between 0 and 1" in one_line(info) and hint in str(info.value)


@pytest.mark.parametrize("x_new, shown", [([0.0], "got 0"), ([-5.0], "got -5"), ([np.nan], "got nan"),
                                          ([1e3, np.inf], "got inf")])
def test_predicting_where_the_law_is_undefined_is_one_line(seeded: fits.Fit, x_new: list, shown: str) -> None:
    # predict returned inf at 0 and NaN below (with a RuntimeWarning); band returned NaN
    for call in (seeded.predict, seeded.band):
        with pytest.raises(FitInputError) as info:
            call(x_new)
        assert "sizes to predict at must be finite and > 0" in one_line(info) and shown in str(info.value)


def test_predict_and_band_take_scalars_lists_and_empty_input(seeded: fits.Fit) -> None:
    p = seeded.params
    assert seeded.predict(1000)[0] == pytest.approx(p["D"] * 1000 ** -p["alpha"] + p["C"])
    assert seeded.predict([]).shape == (0,) and seeded.band([])[0].shape == (0,)
    lo, hi = seeded.band(1000)
    assert lo.shape == (1,) and lo[0] < seeded.predict(1000)[0] < hi[0]


def test_bootstrap_honours_a_new_seed_and_refuses_no_refits(seeded: fits.Fit) -> None:
    first = seeded.bootstrap().copy()
    other = seeded.bootstrap(seed=7)  # used to return the cached seed-0 draws whatever the seed
    assert not np.array_equal(first, other)
    assert np.array_equal(seeded.bootstrap(), other)  # ci and band use what was drawn last
    assert np.array_equal(seeded.bootstrap(seed=0), first)  # seeded: the same draws again
    for n in (0, -1, 2.5):
        with pytest.raises(FitInputError, match="n_boot must be a whole number >= 1"):
            seeded.bootstrap(n)


@pytest.mark.parametrize("call, needle", [
    (lambda: fits.select(SIZES, CLEAN, groups=[1, 2]), "groups has 2 entries for 7 points"),
    (lambda: fits.select(SIZES, CLEAN, weights=[1.0, 2.0]), "got 2 for 7 points"),
    (lambda: fits.select(["a"] * 7, CLEAN), "x must be numbers"),
    (lambda: fits.select(SIZES, CLEAN[:5]), "x and y differ in length (7 vs 5)"),
    (lambda: fits.select(SIZES, CLEAN, laws=["power", "transfer_bound"]), "takes two (use fits.bound)"),
    (lambda: fits.holdout_score(SIZES, CLEAN, groups=[1, 2]), "groups has 2 entries"),
    (lambda: fits.holdout_score(SIZES, CLEAN, n_holdout=0), "n_holdout must be a whole number >= 1"),
    (lambda: fits.extrapolate(SIZES, CLEAN, []), "x_new is empty"),
    (lambda: fits.choose(SIZES, CLEAN, []), "x_new is empty"),
    (lambda: fits.extrapolate(SIZES, CLEAN, ["a"]), "x_new must be numbers"),
    (lambda: fits.extrapolate(["a"] * 7, CLEAN, [1e5]), "x must be numbers"),
])
def test_select_holdout_and_extrapolate_check_their_inputs_first(call, needle: str) -> None:
    # each was a numpy IndexError/ValueError traceback (holdout with n_holdout=0 blamed 'got 0 sizes')
    with pytest.raises(FitInputError) as info:
        call()
    assert needle in one_line(info)


def test_select_takes_one_law_name_as_that_law() -> None:
    y = CLEAN * np.exp(np.random.default_rng(2).normal(0, 0.01, 7))
    sel = fits.select(pd.Series(SIZES), pd.Series(y), laws="power")  # was read letter by letter: law 'p'
    assert sel.law == "power" and list(sel.scores) == ["power"]


def test_grouping_by_a_list_of_columns_is_the_comma_string() -> None:
    from fits.compare import compare_runs

    df = pd.DataFrame({"n": np.tile(SIZES, 2), "err": np.r_[CLEAN, 1.1 * CLEAN], "gen": "shapes",
                       "model": np.repeat(["a", "b"], 7)})
    joined = fits.fit_table(df, "n", "err", "gen,model")
    for by in (["gen", "model"], ("gen", "model")):  # a list was refused, a tuple "not in the table"
        pd.testing.assert_frame_equal(fits.fit_table(df, "n", "err", by), joined)
        assert compare_runs(df, "n", "err", by)["groups"]["gen,model"].tolist() == ["shapes/a", "shapes/b"]
    one = fits.fit_table(df, "n", "err", ["model"])
    pd.testing.assert_frame_equal(one, fits.fit_table(df, "n", "err", "model"))
    for bad in ([], ["gen", 3]):
        with pytest.raises(FitInputError) as info:
            fits.fit_table(df, "n", "err", bad)
        assert "by must name one column or a list of column names" in one_line(info)


def test_a_group_column_named_like_an_output_column_keeps_its_values() -> None:
    # a sweep over a regulariser called "alpha": fit_table and compare wrote the fitted alpha over
    # the group's value (0.001, 0.01 became 0.40, 0.51), and the decisions named the wrong groups
    from fits.compare import GROUP_COLUMNS, compare_runs, report

    rng = np.random.default_rng(0)
    df = pd.DataFrame([{"alpha": a, "seed": s, "n": n, "err": (CLEAN[i] + gap) * np.exp(rng.normal(0, 0.02))}
                       for a, gap in ((0.001, 0.05), (0.01, 0.1)) for s in range(3) for i, n in enumerate(SIZES)])
    table = fits.fit_table(df, "n", "err", "alpha")
    assert list(table.columns[:3]) == ["alpha (group)", "law", "D"]
    assert table["alpha (group)"].tolist() == [0.001, 0.01]
    assert table["alpha"].tolist() == [fits.fit_curve(g.n, g.err, groups=g.seed).params["alpha"]
                                       for _, g in df.groupby("alpha")]
    res = compare_runs(df, "n", "err", "alpha")
    assert res["groups"]["alpha (group)"].tolist() == ["0.001", "0.01"]  # compare labels its groups
    # the set names every column (and `error`, which the command's CSV adds)
    assert set(res["groups"].columns) == GROUP_COLUMNS - {"error"} | {"alpha (group)"}
    assert res["groups"]["decision"].str.startswith(("alpha=0.001:", "alpha=0.01:")).all()
    assert res["pairs"][["a", "b"]].values.tolist() == [["0.001", "0.01"]]
    assert "alpha=0.001" in report(res)


def test_fit_table_names_each_diagnostic_once() -> None:
    # a flat curve is unidentifiable on two counts; the column read "too_flat;unidentifiable;unidentifiable"
    n = 100 * 2.0 ** np.arange(6)
    flat = pd.DataFrame({"n": n, "err": 0.3 * np.exp(np.random.default_rng(0).normal(0, 0.01, 6))})
    fit = fits.fit_curve(flat.n, flat.err)
    names = [d.name for d in fit.diagnostics]
    assert len(names) > len(set(names))  # the case this test is about
    assert fits.fit_table(flat, "n", "err", None)["diagnostics"][0] == ";".join(dict.fromkeys(names))


def _two_level_resample_by_hand(x: np.ndarray, y: np.ndarray, seeds: np.ndarray, n_boot: int) -> np.ndarray:
    """The two-level bootstrap written here: rows sorted by size, seed name, error; log residuals of
    the fit split into seed means (centred, x sqrt(G / (G - 1))) and residuals around them
    (centred, x sqrt(N / (N - G - 2))); per draw (numpy default_rng(0)) G seed offsets by seed in
    sorted order, then N residuals (centred over each seed's points, x sqrt(m / (m - 1)) for its m points),
    then a scale for the residuals, sqrt(d / chi2(d)) with d = N - G - 2 degrees of freedom, and one for
    the offsets, with G - 1; each resample refitted from scratch."""
    codes = np.unique(seeds, return_inverse=True)[1]
    rows = np.lexsort((y, codes, x))
    x, y, codes = x[rows], y[rows], codes[rows]
    pred = fits.fit_curve(x, y).predict(x)
    r = np.log(y) - np.log(pred)
    g, n = codes.max() + 1, len(y)
    means = np.array([r[codes == k].mean() for k in range(g)])
    within = r - means[codes]
    within = (within - within.mean()) * np.sqrt(n / (n - g - 2))
    offsets = (means - means.mean()) * np.sqrt(g / (g - 1))
    rng, out = np.random.default_rng(0), []
    for _ in range(n_boot):
        shift, point = rng.choice(offsets, size=g)[codes], rng.choice(within, size=n)
        for k in range(g):
            m = np.sum(codes == k)
            point[codes == k] = (point[codes == k] - point[codes == k].mean()) * np.sqrt(m / (m - 1))
        point_scale = np.sqrt((n - g - 2) / rng.chisquare(n - g - 2))
        dev = point * point_scale + shift * np.sqrt((g - 1) / rng.chisquare(g - 1))
        out.append(list(fits.fit_curve(x, pred * np.exp(dev)).params.values()))
    return np.array(out)


def test_ci_and_band_are_percentiles_of_two_level_resamples() -> None:
    # seeds move whole curves (5 % offsets) and barely scatter within: resampling rows or pooled
    # residuals would mix the two; the draw must reproduce a by-hand two-level bootstrap draw for draw
    rng = np.random.default_rng(3)
    x, seed = np.repeat(SIZES, 6), np.tile(np.arange(6), 7)
    y = (2.0 * x ** -0.5 + 0.1) * np.exp(rng.normal(0, 0.05, 6)[seed] + rng.normal(0, 0.002, len(x)))
    order = rng.permutation(len(x))
    x, y, names = x[order], y[order], np.array([f"seed{k}" for k in seed])[order]
    fit = fits.fit_curve(x, y, groups=pd.Series(names))
    draws = fit.bootstrap(40)
    mine = _two_level_resample_by_hand(x, y, names, 40)
    assert np.allclose(draws, mine, rtol=1e-4)
    for j, (k, (lo, hi)) in enumerate(fit.ci(0.9).items()):
        assert (lo, hi) == pytest.approx(tuple(np.percentile(mine[:, j], [5, 95])), rel=1e-4), k
    grid = np.array([150.0, 1e3, 5e4])
    lo, hi = fit.band(grid, 0.8)
    curves = mine[:, [0]] * grid ** -mine[:, [1]] + mine[:, [2]]
    assert np.allclose(lo, np.percentile(curves, 10, axis=0), rtol=1e-4)
    assert np.allclose(hi, np.percentile(curves, 90, axis=0), rtol=1e-4)
    # the same seeds under integer ids, rows in another order: the same intervals
    again = fits.fit_curve(x[::-1], y[::-1], groups=seed[order][::-1])
    again.bootstrap(40)
    assert np.allclose(list(again.ci(0.9).values()), list(fit.ci(0.9).values()), rtol=1e-4)


def test_seedless_draws_are_resampled_residuals_times_a_scale_for_their_degrees_of_freedom() -> None:
    """Without seeds, draw b is the centred log residuals x sqrt(N / (N - 3)), resampled, times
    sqrt(d / chi2(d)) with d = N - 3 (numpy default_rng(0): the N choices, then the chi2 draw)."""
    y = CLEAN * np.exp(np.random.default_rng(4).normal(0, 0.03, len(SIZES)))
    fit = fits.fit_curve(SIZES, y)
    pred = fit.predict(SIZES)
    r = np.log(y) - np.log(pred)
    n, d = len(y), len(y) - 3
    r = (r - r.mean()) * np.sqrt(n / d)
    rng, mine = np.random.default_rng(0), []
    for _ in range(30):
        dev = rng.choice(r, size=n)
        dev = dev * np.sqrt(d / rng.chisquare(d))
        mine.append(list(fits.fit_curve(SIZES, pred * np.exp(dev)).params.values()))
    assert np.allclose(fit.bootstrap(30), np.array(mine), rtol=1e-3)  # refits from the estimate vs from scratch


def _level_width(n_seeds: int, draws: str) -> float:
    """Width of the 95 % interval of the fitted error at the largest size, seeds offset by 4 % and
    points by 1 % (log sds), from 200 draws of kind `draws`."""
    from fits.uncertainty import bootstrap_params

    rng = np.random.default_rng(8)
    x, seed = np.repeat(SIZES, n_seeds), np.tile(np.arange(n_seeds), len(SIZES))
    y = CLEAN[np.searchsorted(SIZES, x)] * np.exp(rng.normal(0, 0.04, n_seeds)[seed] + rng.normal(0, 0.01, len(x)))
    fit = fits.fit_curve(x, y, groups=seed)
    p = bootstrap_params(fit, 200, 0, draws=draws)
    level = p[:, 0] * SIZES[-1] ** -p[:, 1] + p[:, 2]
    lo, hi = np.percentile(level, [2.5, 97.5])
    return hi - lo


def test_the_draws_widen_the_intervals_as_the_seeds_degrees_of_freedom_ask() -> None:
    """The seed offsets' spread of 2 seeds rests on 1 degree of freedom: a 95 % t interval of their mean is
    12.7 / 1.96 = 6.5x the normal one, and the level at the largest size, which the offsets dominate here,
    widens 2x or more over the draws at the estimated scale (they held the true curve ~80 % of the time,
    results/fits_intervals.md). With 10 seeds (9 degrees of freedom, t 2.26) it widens by under 40 %."""
    assert _level_width(2, "pooled") > 2 * _level_width(2, "unscaled")
    ten = _level_width(10, "pooled") / _level_width(10, "unscaled")
    assert 0.95 < ten < 1.4, ten  # 1.25 here: 200 draws' percentiles are noisy


def test_to_dict_is_strict_json_and_repeat_fits_are_identical(seeded: fits.Fit) -> None:
    import json

    text = json.dumps(seeded.to_dict(), allow_nan=False)
    assert json.loads(text) == json.loads(json.dumps(seeded.to_dict()))
    prob = seeded.problem
    twin = fits.fit_curve(prob.x, prob.y, groups=prob.groups)
    assert twin.params == seeded.params
    seeded.bootstrap(seed=0)
    assert twin.to_dict() == seeded.to_dict()
    assert np.array_equal(twin.band(SIZES)[1], seeded.band(SIZES)[1])


def test_to_dict_is_strict_json_when_the_intervals_are_unknown() -> None:
    import json

    three = fits.fit_curve([100, 200, 400], [0.30, 0.22, 0.18])  # no point left for the noise
    assert all(np.isnan(v).all() for v in three.ci().values())
    d = json.loads(json.dumps(three.to_dict(), allow_nan=False))
    assert d["ci"] == {name: [None, None] for name in ("D", "alpha", "C")}
    assert d["params"] == pytest.approx(three.params)


def test_compare_doubling_gain_and_its_interval_match_the_formula() -> None:
    from fits.compare import compare_runs

    rng = np.random.default_rng(4)
    x, seed = np.repeat(SIZES, 5), np.tile(np.arange(5), 7)
    rows = []
    for i, (d, a, c) in enumerate(((2.0, 0.5, 0.1), (3.0, 0.3, 0.2))):
        y = (d * x ** -a + c) * np.exp(rng.normal(0, 0.02, len(x)))
        rows.append(pd.DataFrame({"n_synth": x, "test_err": y, "seed": seed, "complexity": i}))
    res = compare_runs(pd.concat(rows))
    n = SIZES.max()
    for i, row in res["groups"].iterrows():
        g = rows[i]
        fit = fits.fit_curve(g["n_synth"], g["test_err"], groups=g["seed"])
        draws = fit.bootstrap()  # the stream `fit` draws every group's intervals from
        p = fit.params
        # the error doubling n removes, exactly: L(n) - L(2n) of the fitted law
        assert row["doubling_gain"] == pytest.approx(fit.predict([n])[0] - fit.predict([2 * n])[0], rel=1e-9)
        assert row["doubling_gain_first_order"] == pytest.approx(
            p["D"] * p["alpha"] * n ** -p["alpha"] * np.log(2), rel=1e-9)
        gain = draws[:, 0] * n ** -draws[:, 1] * (1 - 2.0 ** -draws[:, 1])
        lo, hi = np.nanpercentile(gain, [2.5, 97.5])
        assert (row["doubling_gain_lo"], row["doubling_gain_hi"]) == pytest.approx((lo, hi), rel=1e-9)
    pair = res["pairs"].iloc[0]
    assert pair["p_alpha"] < 0.02 and pair["p_C"] < 0.02 and pair["d_C_hi"] < 0


# --- from an exploratory API pass (2026-12-03); each failed on the code before it ---

NOISY = CLEAN * np.exp(np.random.default_rng(0).normal(0, 0.02, 7))


def test_only_relative_weights_matter() -> None:
    # Huber's scale applied to the weighted residual: weights of 1e-8 left the optimiser at its
    # start (D 1.86 vs 2.54), 1e4 moved the inlier/outlier line; one bad point made it visible
    bad = NOISY.copy()
    bad[3] *= 1.5
    for y in (NOISY, bad):
        ref = fits.fit_curve(SIZES, y, weights=np.ones(7))
        assert ref.params == fits.fit_curve(SIZES, y).params
        for c in (1e-8, 1e4):
            other = fits.fit_curve(SIZES, y, weights=np.full(7, c))
            assert other.params == pytest.approx(ref.params, rel=1e-9)
    w = fits.tail_weights(SIZES)
    assert fits.fit_curve(SIZES, bad, weights=3 * w).params == pytest.approx(
        fits.fit_curve(SIZES, bad, weights=w).params, rel=1e-9)


@pytest.mark.parametrize("law", ["power", "power_floor", "bnsl"])
def test_tiny_errors_fit_like_ordinary_ones(law: str) -> None:
    # D's lower bound was a fixed 1e-9: errors of 1e-10 were fitted as a flat line 93x too high
    ref = fits.fit_curve(SIZES, NOISY, law).predict(1e5)[0]
    for scale in (1e-10, 1e-30):
        got = fits.fit_curve(SIZES, NOISY * scale, law).predict(1e5)[0] / scale
        assert got == pytest.approx(ref, rel=0.02)
    f = fits.fit_curve(SIZES, NOISY * 1e-10)
    assert f.params["alpha"] == pytest.approx(fits.fit_curve(SIZES, NOISY).params["alpha"], rel=1e-3)
    assert "on_bound" not in [d.name for d in f.diagnostics]


def _bound_grid(gamma: float = 0.05) -> tuple[np.ndarray, np.ndarray]:
    n = 1e3 * 2.0 ** np.arange(7)
    nn, ss = (a.ravel() for a in np.meshgrid(n, [100.0, 1000.0, 10000.0]))
    return np.c_[nn, ss], 0.5 * (gamma + nn ** -0.3) * ss ** -0.2


def test_a_small_gamma_is_not_on_its_bound() -> None:
    # gamma's box is [0, 1000]: 1e-3 of its width flagged any gamma below 1 as "on its bound"
    x, y = _bound_grid()
    f = fits.fit_curve(x, y * np.exp(np.random.default_rng(1).normal(0, 0.02, len(y))), "transfer_bound")
    assert f.params["gamma"] == pytest.approx(0.05, rel=0.2)
    assert "on_bound" not in [d.name for d in f.diagnostics]
    pinned = fits.fit_curve(x, _bound_grid(gamma=0.0)[1], "transfer_bound")
    assert any(d.name == "on_bound" and d.message.startswith("gamma") for d in pinned.diagnostics)


def test_the_bound_with_one_fine_tuning_size_is_refused() -> None:
    # beta came back as its start value with a zero-width interval and no flag
    x, y = _bound_grid()
    one_s = x[:, 1] == 1000
    with pytest.raises(FitInputError) as info:
        fits.fit_curve(x[one_s], y[one_s], "transfer_bound")
    assert "needs at least 2 distinct fine-tuning sizes" in one_line(info)
    # weight 0 leaves rows out: weights on one s alone gave beta 0.13 [0.05, 0.20] (true 0.2) and no flag
    with pytest.raises(FitInputError) as info:
        fits.fit_curve(x, y, "transfer_bound", weights=one_s)  # a True/False mask is a valid weight
    assert "with weight > 0" in one_line(info) and "fixed={'beta'" in one_line(info)
    # with beta pinned, one s determines the rest: delta * s^-beta is then known up to delta
    pinned = fits.fit_curve(x[one_s], y[one_s], "transfer_bound", fixed={"beta": 0.2})
    assert pinned.params["alpha"] == pytest.approx(0.3, rel=0.05)
    assert pinned.params["delta"] == pytest.approx(0.5, rel=0.1)


def test_the_bound_fit_does_not_depend_on_the_memory_layout_of_x() -> None:
    # a column-major x (a DataFrame's values, np.asfortranarray) summed its columns in another
    # order: delta 2.0247449 instead of 2.0247455, and fits.bound passes such an array
    x, y = _bound_grid()
    y = y * np.exp(np.random.default_rng(4).normal(0, 0.02, len(y)))
    ref = fits.fit_curve(np.ascontiguousarray(x), y, "transfer_bound").params
    for other in (np.asfortranarray(x), pd.DataFrame(x)):
        assert fits.fit_curve(other, y, "transfer_bound").params == ref


def test_points_of_weight_zero_do_not_count_as_sizes() -> None:
    # 3 weighted sizes of 7: zero-width "95 %" intervals and no too_few_sizes flag
    f = fits.fit_curve(SIZES, NOISY, weights=[0, 0, 0, 0, 1, 1, 1])
    assert "too_few_sizes" in [d.name for d in f.diagnostics]
    assert "3 distinct sizes" in next(d.message for d in f.diagnostics if d.name == "too_few_sizes")
    # select and holdout_score: the training split has 2 weighted sizes -> untested, not an error
    assert fits.holdout_score(SIZES, NOISY, weights=[1, 1, 0, 0, 0, 0, 1]) is None
    sel = fits.select(SIZES, NOISY, laws=("power", "power_floor"), weights=[1, 1, 0, 0, 0, 0, 1])
    assert sel.law == "power_floor" and "3 sizes of weight > 0 (of 7) are too few" in sel.message


def test_a_point_of_weight_zero_is_neither_judged_nor_scored() -> None:
    # an outlier given weight 0 still raised too_flat, counted in n_sizes, and was the held-out point
    # holdout_score and select scored the laws on (rel_err 0.90 instead of 0.03)
    y = NOISY.copy()
    y[-1] *= 10
    w = [1, 1, 1, 1, 1, 1, 0]
    with_zero, without = fits.fit_curve(SIZES, y, weights=w), fits.fit_curve(SIZES[:-1], y[:-1])
    assert [d.name for d in with_zero.diagnostics] == [d.name for d in without.diagnostics]
    assert with_zero.to_dict()["n_sizes"] == 6 and with_zero.to_dict()["n_points"] == 6
    assert fits.holdout_score(SIZES, y, weights=w) == fits.holdout_score(SIZES[:-1], y[:-1])
    assert fits.select(SIZES, y, weights=w).scores == fits.select(SIZES[:-1], y[:-1]).scores


@pytest.mark.parametrize("call, needle", [
    (lambda: fits.fit_curve(SIZES, CLEAN, law=["power"]), "law must be one name, e.g. 'power_floor', got ['power']"),
    (lambda: fits.fit_curve([[1, 2], [3]], [0.1, 0.2]), "x must be a flat list of numbers; its rows differ"),
    (lambda: fits.fit_curve(SIZES, CLEAN + 1j), "y must be real numbers (sizes and errors); got complex"),
    (lambda: fits.fit_curve(pd.date_range("2020", periods=7), CLEAN), "x must be real numbers (sizes and errors); got dates"),
    (lambda: fits.fit_curve(SIZES, CLEAN > 0.2),
     "y must be real numbers (sizes and errors); got True/False values"),
    (lambda: fits.fit_curve(SIZES, CLEAN, fixed={"alpha": True}), "fixed['alpha'] must be a number, got True"),
    (lambda: fits.fit_curve(SIZES[:6], CLEAN[:6].reshape(2, 3)), "y must be one error per point, got shape (2, 3)"),
    (lambda: fits.fit_curve(SIZES[:6].reshape(3, 2, 1), CLEAN[:6]), "takes one size per point, got x of shape (3, 2, 1)"),
    (lambda: fits.fit_curve(SIZES, CLEAN).bootstrap(seed="a"), "seed must be a whole number >= 0, got 'a'"),
    (lambda: fits.fit_table({"n": [1]}, "n", "e", None), "the runs table must be a pandas DataFrame"),
    (lambda: fits.holdout_score(np.c_[SIZES, SIZES], CLEAN, "transfer_bound", 1), "holdout_score holds out sizes of one-size laws"),
    (lambda: fits.extrapolate(np.c_[SIZES, SIZES], CLEAN, [[1e5, 1e5]], law="transfer_bound"),
     "extrapolate predicts along one size; 'transfer_bound' takes two"),
])
def test_more_bad_inputs_are_one_line(call, needle: str) -> None:
    # were TypeError / ValueError / AttributeError / IndexError tracebacks, or silent fits
    with pytest.raises(FitInputError) as info:
        call()
    assert needle in one_line(info)


def test_a_column_vector_of_errors_is_still_fine() -> None:
    assert fits.fit_curve(SIZES, CLEAN.reshape(-1, 1)).params == fits.fit_curve(SIZES, CLEAN).params


def test_numbers_stored_as_text_are_fitted() -> None:
    # an object or str column of numbers raised pandas' IndexError
    df = pd.DataFrame({"n": np.tile(SIZES, 2), "err": np.r_[NOISY, 1.01 * NOISY], "seed": np.repeat([0, 1], 7)})
    ref = fits.fit_table(df, "n", "err", None)
    for kind in ({"err": object}, {"n": str}):
        pd.testing.assert_frame_equal(fits.fit_table(df.astype(kind), "n", "err", None), ref)
    text = df.astype({"err": object})
    text.loc[3, "err"] = "n/a"
    with pytest.raises(FitInputError) as info:
        fits.fit_table(text, "n", "err", None)
    assert "column 'err' must hold numbers, but has 'n/a'" in one_line(info)


def test_integer_column_names_keep_their_name() -> None:
    # pd.read_csv(header=None) names columns 0, 1, ...: the group column came back as "group"
    df = pd.DataFrame({0: np.repeat(["a", "b"], 7), 1: np.tile(SIZES, 2), 2: np.r_[NOISY, 1.01 * NOISY]})
    assert list(fits.fit_table(df, 1, 2, 0).columns[:2]) == [0, "law"]


def test_to_dict_level_is_a_plain_float() -> None:
    import json

    f = fits.fit_curve(SIZES, NOISY)
    for level in (np.float32(0.9), "0.9"):
        d = json.loads(json.dumps(f.to_dict(level)))  # float32 was not JSON-serialisable
        assert d["level"] == pytest.approx(0.9) and isinstance(d["level"], float)


def test_select_says_when_only_one_law_could_be_tested() -> None:
    # 4 sizes: only `power` has a size to spare; "lowest relative error ... (power 0.0431)" compared nothing
    sel = fits.select([100, 200, 400, 800] * 2, [0.3188, 0.2615, 0.2257, 0.1951, 0.3210, 0.2650, 0.2262, 0.1990],
                      groups=[0] * 4 + [1] * 4)
    assert sel.law == "power" and "the only law 4 sizes can test" in sel.message
    assert "power_floor, bnsl, m4 need more sizes" in sel.message


def test_the_bounds_too_few_sizes_counts_n_s_cells() -> None:
    # 5 sizes n at 2 sizes s are 10 cells for 4 parameters: it said "5 distinct sizes ... nothing left over"
    n, s = np.meshgrid([100.0, 200.0, 400.0, 800.0, 1600.0], [50.0, 200.0])
    x = np.c_[n.ravel(), s.ravel()]
    y = fits.LAWS["transfer_bound"](x, {"delta": 2.0, "gamma": 0.2, "alpha": 0.5, "beta": 0.3})
    y = y * np.exp(np.random.default_rng(0).normal(0, 0.01, len(y)))
    fit = fits.fit_curve(x, y, "transfer_bound")
    assert "too_few_sizes" not in {f.name for f in fit.diagnostics}
    few = fits.fit_curve(x[:8], y[:8], "transfer_bound")  # 5 cells at s=50, 3 at s=200: 8 >= 4 + 2
    assert "too_few_sizes" not in {f.name for f in few.diagnostics}
    fewer = fits.fit_curve(x[[0, 1, 2, 5, 6]], y[[0, 1, 2, 5, 6]], "transfer_bound")
    flags = {f.name: f.message for f in fewer.diagnostics}
    assert "5 distinct (n, s) cells for 4 free parameters" in flags["too_few_sizes"]


@pytest.mark.parametrize("law", ["power", "power_floor", "bnsl", "m4"])
def test_every_fit_pickles_so_it_can_come_back_from_a_worker_process(law: str) -> None:
    # power and power_floor hold lambdas (their bounds / starts): pickle failed, so a Fit could not be
    # returned from a ProcessPoolExecutor job
    import pickle

    x = [100, 200, 400, 800, 1600, 3200, 6400]
    f = fits.fit_curve(x, [0.5, 0.4, 0.33, 0.3, 0.28, 0.27, 0.265], law)
    back = pickle.loads(pickle.dumps(f))
    assert back.law is fits.LAWS[law] and back.params == f.params
    np.testing.assert_array_equal(back.predict([12800]), f.predict([12800]))


def test_the_bound_law_pickles_too() -> None:
    import pickle

    n, s = np.meshgrid([100, 400, 1600, 6400], [50, 200, 800])
    y = 0.9 * (0.3 + n.ravel() ** -0.5) * s.ravel() ** -0.2
    f = fits.fit_curve(np.c_[n.ravel(), s.ravel()], y, "transfer_bound")
    assert pickle.loads(pickle.dumps(f)).params == f.params


@pytest.mark.parametrize("law, fixed", [("power_floor", {"D": 100, "alpha": 0.1, "C": 0}),
                                         ("power", {"D": 100, "alpha": 0.1})])
def test_pinning_every_parameter_is_refused(law: str, fixed: dict) -> None:
    # it returned a "fit" of nothing 100x off the data, with zero-width intervals and no flag
    with pytest.raises(fits.FitInputError, match=f"fixed pins every parameter of '{law}'.*nothing is left to fit"):
        fits.fit_curve([100, 200, 400, 800, 1600], [0.5, 0.4, 0.33, 0.3, 0.28], law, fixed=fixed)


@pytest.mark.parametrize("x, kw, what", [([], {}, "sizes must be a non-empty"),
                                         (["a", "b"], {}, "sizes must be numbers"),
                                         ([1, np.nan, 3], {}, "finite numbers > 0"), ([1, 0, 3], {}, "> 0"),
                                         ([1, 2, 3], {"factor": -1}, r"factor must be a number in \(0, 1\]"),
                                         ([1, 2, 3], {"factor": 2}, "factor"), ([1, 2, 3], {"factor": True}, "factor")])
def test_tail_weights_refuses_what_it_cannot_weigh(x, kw: dict, what: str) -> None:
    # [] was numpy's zero-size ValueError; a NaN size got the top weight; factor 2 favoured the small sizes
    with pytest.raises(fits.FitInputError, match=what):
        fits.tail_weights(x, **kw)


def test_fit_table_interval_columns_are_float_when_no_group_has_an_interval() -> None:
    # with 3 sizes and one run there is no interval: D_lo etc. came out as object columns of None
    t = fits.fit_table(pd.DataFrame({"n_synth": [100, 200, 400], "test_err": [0.5, 0.4, 0.35], "complexity": 1}),
                       "n_synth", "test_err", "complexity")
    for c in ("D", "D_lo", "alpha_hi", "C_lo", "holdout_abs_err"):
        assert t[c].dtype == float, (c, t[c].dtype)
    assert t[["D_lo", "C_hi"]].isna().all().all()


def test_seed_ids_that_hardly_repeat_read_as_independent_runs() -> None:
    """A table with an id per run (or one run per size plus a few extra seeds) leaves nothing within
    seeds after the seed offsets: the shape checks took the noise as 0 (every flat curve non_monotone,
    none too_flat), and with one id shared all intervals were NaN, with no flag."""
    from fits.diagnostics import _curve_flags

    rng = np.random.default_rng(3)
    x = np.repeat(SIZES, 3)
    for _ in range(20):
        y = 0.3 * np.exp(rng.normal(0, 0.03, len(x)))
        pred = np.full(len(x), y.mean())
        got = {f.name for f in _curve_flags(x, y, pred, n_free=3, groups=np.arange(len(x)))}
        assert got == {f.name for f in _curve_flags(x, y, pred, n_free=3)}, got  # as without seed ids
    extra = np.r_[SIZES, [SIZES[-1]] * 2]  # one run per size, two more seeds at the largest
    y = 0.3 * np.exp(rng.normal(0, 0.03, len(extra)))
    flags = {f.name for f in fits.fit_curve(extra, y, groups=np.r_[np.zeros(7), [1, 2]]).diagnostics}
    assert "non_monotone" not in flags, flags
    ids = np.arange(len(x)) + 100
    ids[-1] = ids[-4]  # one id used twice: two-level draws had -12 degrees of freedom
    y = (3 * x ** -0.5 + 0.1) * np.exp(rng.normal(0, 0.03, len(x)))
    ci = fits.fit_curve(x, y, groups=ids).ci()
    assert all(np.isfinite(v).all() for v in ci.values()), ci


def test_a_curve_row_without_its_group_value_is_refused_in_one_line() -> None:
    """A blank `--by` value at n > 0 became a curve named nan (the group fitted from the rest), or a
    'repeat one measurement' error for rows of two complexity levels that said to drop real data."""
    df = pd.DataFrame({"n_synth": np.r_[0, SIZES, SIZES], "test_err": 0.3, "seed": 0,
                       "complexity": [None] + [1] * 7 + [2] * 7})
    assert len(fits.fit_table(df, "n_synth", "test_err", "complexity")) == 2  # a scratch row may be blank
    df.loc[3, "complexity"] = None
    with pytest.raises(FitInputError, match=r"column 'complexity' is empty at row 3 \(line 5 of a CSV with a "
                                            r"header\) with n_synth > 0: .*fill in its complexity, or drop"):
        fits.fit_table(df, "n_synth", "test_err", "complexity")
    df["gen"] = "shapes"
    with pytest.raises(FitInputError, match="column 'complexity' is empty at row 3"):
        fits.fit_table(df, "n_synth", "test_err", "gen,complexity")


def _three_seed_curve() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    x, g = np.repeat(SIZES, 3), np.tile([0, 1, 2], 7)
    return x, (2.0 * x ** -0.5 + 0.1) * np.exp(rng.normal(0, 0.02, len(x))), g


def test_a_fits_repr_is_short_and_runs_no_bootstrap() -> None:
    """repr(fit) was ~540 characters of the law's function addresses; it names the law, the parameters
    (4 significant figures), the points, sizes and seeds, and the flags once .diagnostics was read."""
    x, y, g = _three_seed_curve()
    fit = fits.fit_curve(x, y, groups=g)
    p = {k: f"{v:.4g}" for k, v in fit.params.items()}
    counts = "21 points at 7 sizes, 3 seeds"
    assert repr(fit) == f"Fit(power_floor: D={p['D']}, alpha={p['alpha']}, C={p['C']}; {counts}; flags not computed)"
    assert fit._boot is None  # the repr ran no bootstrap (the diagnostics would have)
    assert [f.name for f in fit.diagnostics] == ["few_seeds"]
    assert repr(fit).endswith(f"{counts}; flags: few_seeds)") and len(repr(fit)) < 120
    fit.bootstrap(n_boot=20, seed=1)  # new samples: the flags read on the old ones may no longer hold
    assert repr(fit).endswith("; flags not computed)")
    fit.diagnostics
    assert repr(fit).endswith("; flags: few_seeds)")
    pinned = fits.fit_curve(SIZES, CLEAN, fixed={"C": 0.1}, weights=(SIZES > 100).astype(float))
    assert "C=0.1 fixed; 6 points at 6 sizes (1 of weight 0 left out); flags not computed)" in repr(pinned)
    clean = fits.fit_curve(SIZES, CLEAN)
    clean.diagnostics
    assert repr(clean).endswith("; 7 points at 7 sizes; flags: none)"), repr(clean)


def test_a_selections_repr_is_its_law_and_scores() -> None:
    """repr(select(...)) printed the fit's law with its functions too; it gives the choice and every score."""
    x, y, g = _three_seed_curve()
    sel = fits.select(x, y, groups=g)
    scores = ", ".join(f"{k} {'-' if v is None else format(v, '.4g')}" for k, v in sel.scores.items())
    assert repr(sel) == f"Selection({sel.law}; held-out relative error: {scores})"
    assert "bnsl -" in repr(sel) and "0x" not in repr(sel)  # 7 sizes: bnsl is not tried
    few = fits.select(SIZES[:3], CLEAN[:3])
    assert repr(few) == "Selection(power_floor, by default: too few sizes to test a law on held-out ones)"


def test_fit_curves_docstring_says_what_each_argument_does_and_what_it_returns() -> None:
    # help(fits.fit_curve) did not mention groups, weights or fixed, nor what it returns or raises
    doc = fits.fit_curve.__doc__
    for needle in ("groups: the seed of each point", "bootstrap", "weights:", "Weight 0 leaves a point out",
                   "fixed:", "bounds:", "Returns a `Fit`", "Raises FitInputError"):
        assert needle in doc, needle


def test_too_few_sizes_with_one_size_to_spare_says_the_holdout_rests_on_it() -> None:
    """4 sizes for 3 parameters leave one: the fit table scores a holdout on it, while the flag said
    'nothing is left over to test the law'."""
    df = pd.DataFrame({"n_synth": SIZES[:4], "test_err": NOISY[:4]})
    row = fits.fit_table(df, "n_synth", "test_err", None).iloc[0]
    assert np.isfinite(row["holdout_rel_err"]) and "too_few_sizes" in row["diagnostics"]
    flags = {f.name: f.message for f in fits.fit_curve(SIZES[:4], NOISY[:4]).diagnostics}
    assert flags["too_few_sizes"] == ("4 distinct sizes for 3 free parameters: only one is left over to test the "
                                      "law, so a holdout score (the largest size predicted from the others) rests "
                                      "on that single size and says little; measure more sizes")
    three = {f.name: f.message for f in fits.fit_curve(np.repeat(SIZES[:3], 2), np.repeat(NOISY[:3], 2)).diagnostics}
    assert three["too_few_sizes"] == ("3 distinct sizes for 3 free parameters: nothing is left over to test the "
                                      "law; measure more sizes")  # no holdout: none is scored
    n, s = np.meshgrid([100.0, 200.0, 400.0], [50.0, 200.0])
    x = np.c_[n.ravel(), s.ravel()][[0, 1, 2, 3, 4]]  # 5 (n, s) cells for 4 parameters: no holdout either
    y = fits.LAWS["transfer_bound"](x, {"delta": 2.0, "gamma": 0.2, "alpha": 0.5, "beta": 0.3})
    bound = {f.name: f.message for f in fits.fit_curve(x, y * [1.01, 0.99, 1.0, 1.02, 0.98], "transfer_bound")
             .diagnostics}
    assert bound["too_few_sizes"].endswith("only one is left over to test the law, so any test of the law rests "
                                           "on that single (n, s) cell and says little; measure more sizes")


def test_the_api_says_by_equals_where_the_cli_says_dash_dash_by() -> None:
    df = pd.DataFrame({"n_synth": np.tile(SIZES, 2), "test_err": np.r_[NOISY, NOISY + 0.05],
                       "complexity": np.repeat([1, 3], 7)})
    with pytest.raises(FitInputError) as info:
        fits.fit_table(df, "n_synth", "test_err", None)
    assert one_line(info).endswith("or one curve per value: by='complexity'")
