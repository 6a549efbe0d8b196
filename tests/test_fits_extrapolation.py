"""fits.extrapolate: per curve, the tail-weighted power_floor or the last value, chosen by how each
extrapolates within the curve's own fitting points; and the LCDB-only tuning harness."""
from __future__ import annotations

import numpy as np
import pytest

import fits
from fits import datasets
from fits.extrapolation import MIN_INNER_SIZES, inner_split
from fits.tuning import doubling_tail

SIZES = np.array([1000, 2000, 4000, 8000, 16000, 32000], dtype=float)


def test_a_falling_curve_is_extrapolated_by_the_fit() -> None:
    truth = lambda n: 3.0 * n ** -0.5 + 0.05  # noqa: E731
    y = truth(SIZES) * np.exp(np.random.default_rng(0).normal(0, 0.002, len(SIZES)))
    pred, choice = fits.extrapolate(SIZES, y, [64000.0, 128000.0], with_choice=True)
    assert choice.method == "tail", choice
    np.testing.assert_allclose(pred, truth(np.array([64000.0, 128000.0])), rtol=0.02)
    # the fit is far better than the last value here: the curve still falls by ~20 % per doubling
    assert abs(pred[0] - truth(64000.0)) < 0.2 * abs(y[-1] - truth(64000.0))


def test_extrapolate_gives_the_same_last_bit_for_any_row_order() -> None:
    # the tail fit skipped fit_curve's canonical row order: reversed rows moved its prediction by 1e-10
    x = np.repeat(SIZES, 2)
    y = (3.0 * x ** -0.5 + 0.05) * np.exp(np.random.default_rng(3).normal(0, 0.01, len(x)))
    new = [64000.0, 128000.0]
    ref, choice = fits.extrapolate(x, y, new, with_choice=True)
    assert choice.method == "tail", choice  # the fit is what is checked here
    for order in (np.arange(len(x))[::-1], np.random.default_rng(0).permutation(len(x))):
        assert np.array_equal(fits.extrapolate(x[order], y[order], new), ref)


PLATEAU = np.array([0.96, 0.94, 0.92, 0.90, 0.90, 0.90])


def test_a_curve_on_its_plateau_is_predicted_by_its_last_value() -> None:
    # it fell, then stopped abruptly: the inner fit (1k..16k) still bends down at 32k, the inner
    # last value (16k) hits 32k exactly, so the last value is chosen
    y = PLATEAU
    pred, choice = fits.extrapolate(SIZES, y, [64000.0], with_choice=True)
    assert choice.method == "last", choice
    assert pred[0] == pytest.approx(0.9)
    assert choice.inner_errors["last"] < choice.inner_errors["tail"]
    assert "inner relative error" in str(choice)


def test_inner_split_uses_the_task_horizon_within_the_fitting_points() -> None:
    keep = inner_split(SIZES, np.array([64000.0]))            # horizon 2: predict 32k from <= 16k
    assert SIZES[keep].max() == 16000 and SIZES[~keep].tolist() == [32000.0]
    keep = inner_split(SIZES, np.array([128000.0]))           # horizon 4: predict 16k, 32k from <= 8k
    assert SIZES[~keep].tolist() == [16000.0, 32000.0]
    keep = inner_split(SIZES, np.array([1e6]))                # horizon 31: too few left, hold out one
    assert SIZES[~keep].tolist() == [32000.0]
    assert inner_split(SIZES[:MIN_INNER_SIZES], np.array([64000.0])) is None


def test_untestable_curves_use_the_fit_and_bad_input_is_one_line() -> None:
    y = 3.0 * SIZES[:3] ** -0.5 + 0.05
    pred, choice = fits.extrapolate(SIZES[:3], y, [8000.0], with_choice=True)
    assert choice.method == "tail" and "too few" in choice.message
    assert pred[0] == pytest.approx(3.0 * 8000 ** -0.5 + 0.05, rel=0.01)
    with pytest.raises(fits.FitInputError):
        fits.extrapolate(SIZES, np.r_[y, y[:2], np.nan], [64000.0])
    with pytest.raises(fits.FitInputError):
        fits.extrapolate(SIZES, 3.0 * SIZES ** -0.5, [np.nan])


def test_repeated_seeds_use_the_mean_at_the_largest_size() -> None:
    x = np.repeat(SIZES, 2)
    y = np.repeat(PLATEAU, 2) + np.tile([-0.001, 0.001], 6)
    pred, choice = fits.extrapolate(x, y, [64000.0], with_choice=True)
    assert choice.method == "last" and pred[0] == pytest.approx(0.9)


def test_doubling_tail_takes_every_other_size_from_the_largest() -> None:
    x = np.array([16, 23, 32, 45, 64, 91, 128, 181, 256, 362, 512, 724, 1024, 1448, 2000], float)
    xs, ys = doubling_tail(x, x / 10)
    assert xs.tolist() == [32, 64, 128, 256, 512, 1024, 2000]
    np.testing.assert_allclose(ys, xs / 10)


def test_extrapolate_is_no_worse_than_the_tail_fit_on_the_lcdb_sample() -> None:
    from fits.bench import PROTOCOLS, law_predictor, score_curve

    methods = {"tail": law_predictor("power_floor", True), "ours": fits.extrapolate}
    split = PROTOCOLS["hold out the last size"]
    scores = [score_curve(x, y, split(x), methods) for _, x, y in datasets.curves(datasets.lcdb_sample())]
    med = {m: np.median([s[m][0] for s in scores if s]) for m in methods}
    assert med["ours"] <= med["tail"] * 1.02, med


def test_tuning_prior_fit_without_prior_is_the_tail_fit_and_a_strong_prior_pins_alpha() -> None:
    from fits.extrapolation import tail_fit
    from fits.tuning import prior_fit, prior_fit_scaled

    truth = lambda n: 3.0 * n ** -0.5 + 0.05  # noqa: E731
    y = truth(SIZES) * np.exp(np.random.default_rng(1).normal(0, 0.01, len(SIZES)))
    x_new = np.array([64000.0])
    np.testing.assert_allclose(prior_fit(SIZES, y, x_new, 0.0, {}), tail_fit(SIZES, y, x_new), rtol=1e-6)
    _, free = prior_fit_scaled(SIZES, y)
    _, pinned = prior_fit_scaled(SIZES, y, 100.0, {"alpha": (1.5, 0.05)})
    assert abs(free["alpha"] - 0.5) < 0.3 and abs(pinned["alpha"] - 1.5) < 0.05


def test_study_tuning_prior_leaves_the_curve_out_and_selection_ties_go_to_the_first() -> None:
    from fits.extrapolation import last_value
    from fits.study_tuning import _loo_prior
    from fits.tuning import make_select

    def _select(fit):  # the per-curve choice study_tuning uses: fit or last value, ties to the fit
        return make_select({"fit": fit, "last": last_value}, "fit")

    mu, sd = _loo_prior(np.array([10.0, 1.0, 2.0, 3.0]), 0, 0.05)
    assert mu == 2.0 and sd == pytest.approx(1.0 / 1.349)
    assert _loo_prior(np.array([1.0, 1.0, 1.0]), 2, 0.05) == (1.0, 0.05)
    # a candidate that misses loses to the last value
    pick = _select(lambda x, y, xn: np.full(len(xn), 7.0))
    assert pick(SIZES, np.full(6, 0.5), np.array([64000.0]))[0] == 0.5
    # a candidate that ties with the last value is kept: it is called again for the final prediction
    calls = []

    def same_as_last(x, y, xn):
        calls.append(len(x))
        return last_value(x, y, xn)

    assert _select(same_as_last)(SIZES, PLATEAU, np.array([64000.0]))[0] == pytest.approx(0.9)
    assert calls == [5, 6]
