"""The scaling plot's scratch baseline (n_synth = 0) shows its runs' seed-to-seed spread: a light band,
mean +- 1 sd, behind the data in the dashed line's colour. The line alone had no spread, so a reader
could not see whether a curve sits inside the scratch runs' scatter."""
from __future__ import annotations

import json
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from matplotlib.colors import to_rgb

import fits
from fits.plot import MAX_OVERLAID, scaling_figure
from fits.table import write_fits_json

SIZES = 100 * 2.0 ** np.arange(6)


def _runs(scratch: dict[int, list[float]], gens: str = "s", seeds: int = 3) -> pd.DataFrame:
    """Curves of each generator at each real size (the keys of `scratch`), and those scratch errors
    (no generator, no complexity) at that real size."""
    rng = np.random.default_rng(0)
    rows = []
    for j, (n_real, errors) in enumerate(scratch.items()):
        base = 0.5 - 0.1 * j
        rows += [{"generator": "none", "complexity": np.nan, "n_synth": 0, "n_real": n_real, "seed": s,
                  "test_err": e, "status": "ok"} for s, e in enumerate(errors)]
        rows += [{"generator": gen, "complexity": 1, "n_synth": n, "n_real": n_real, "seed": s, "status": "ok",
                  "test_err": 0.7 * base + (1 + i) * 0.5 * n ** -0.5 + rng.normal(0, 0.006)}
                 for i, gen in enumerate(gens) for n in SIZES for s in range(seeds)]
    return pd.DataFrame(rows)


def _bands(ax: plt.Axes) -> list:
    """The axes' patches (the fit's bands are PolyCollections of fill_between, not patches); each with its
    vertices in its own coordinates: axhspan's and a Polygon's y in data, x in axes fractions."""
    return list(ax.patches)


def _y_extent(patch) -> tuple[float, float]:
    ys = patch.get_patch_transform().transform(patch.get_path().vertices)[:, 1]
    return float(ys.min()), float(ys.max())


def _dashed(ax: plt.Axes, mean: float):
    (line,) = [ln for ln in ax.get_lines() if ln.get_linestyle() == "--" and list(ln.get_ydata()) == [mean, mean]]
    return line


def _legend(ax: plt.Axes) -> list[str]:
    return [t.get_text() for t in ax.get_legend().get_texts()]


def _check_band(fig: plt.Figure, ax: plt.Axes, band, sc: dict, color) -> None:
    """`band` spans mean -+ std exactly, across the whole axes, behind the data, in `color` (its line's)."""
    assert _y_extent(band) == (sc["mean"] - sc["std"], sc["mean"] + sc["std"])
    if fig.stale:  # laid out once (a draw of the small multiples takes a second)
        fig.canvas.draw()
    assert band.get_window_extent().x0 == pytest.approx(ax.bbox.x0)
    assert band.get_window_extent().x1 == pytest.approx(ax.bbox.x1)
    assert to_rgb(band.get_facecolor()) == to_rgb(color) == to_rgb(_dashed(ax, sc["mean"]).get_color())
    assert 0 < band.get_alpha() <= 0.2  # light
    assert all(band.get_zorder() < a.get_zorder() for a in [*ax.get_lines(), *ax.collections])


def test_the_shared_scratch_line_gets_a_black_band_of_mean_minus_plus_one_sd_and_says_so() -> None:
    df = _runs({100: [0.49, 0.52, 0.50]})
    res = fits.fit_runs(df, by="complexity")
    sc = res["scratch"]
    assert sc["n"] == 3 and sc["std"] == pytest.approx(np.std([0.49, 0.52, 0.50], ddof=1))
    fig = scaling_figure(df, res)
    try:
        (ax,) = fig.axes
        (band,) = _bands(ax)
        _check_band(fig, ax, band, sc, "k")
        assert "scratch (n_synth = 0): mean of its 3 runs, band +- 1 sd" in _legend(ax)
    finally:
        plt.close(fig)


def test_each_groups_own_scratch_band_is_in_its_colour_and_the_legend_gives_its_run_count() -> None:
    scratch = {100: [0.49, 0.52, 0.50, 0.51], 1000: [0.40, 0.43, 0.39, 0.41]}
    df = _runs(scratch)
    res = fits.fit_runs(df, by="complexity,n_real")
    assert res["scratch"] is None and [g["scratch"]["n"] for g in res["groups"].values()] == [4, 4]
    fig = scaling_figure(df, res)
    try:
        (ax,) = fig.axes
        bands = _bands(ax)
        assert len(bands) == 2
        curves = [ln for ln in ax.get_lines() if ln.get_linestyle() == "-" and len(ln.get_xdata()) > 2]
        for band, g, curve in zip(bands, res["groups"].values(), curves):
            _check_band(fig, ax, band, g["scratch"], curve.get_color())  # the group's colour
        assert to_rgb(bands[0].get_facecolor()) != to_rgb(bands[1].get_facecolor())
        assert ("scratch (n_synth = 0), in each group's colour: mean of its 4 runs, band +- 1 sd"
                in _legend(ax))
    finally:
        plt.close(fig)
    # counts that differ between groups: a range, not each group's
    df = _runs({100: [0.49, 0.52], 1000: [0.40, 0.43, 0.39, 0.41, 0.42]})
    res = fits.fit_runs(df, by="complexity,n_real")
    fig = scaling_figure(df, res)
    try:
        assert len(_bands(fig.axes[0])) == 2
        assert ("scratch (n_synth = 0), in each group's colour: mean of its 2 to 5 runs, band +- 1 sd"
                in _legend(fig.axes[0]))
    finally:
        plt.close(fig)


def test_one_scratch_run_is_a_line_only_and_the_legend_says_1_run() -> None:
    df = _runs({100: [0.5]})
    res = fits.fit_runs(df, by="complexity")
    assert res["scratch"] == {"mean": 0.5, "std": 0.0, "n": 1}
    fig = scaling_figure(df, res)
    try:
        (ax,) = fig.axes
        assert _bands(ax) == []
        _dashed(ax, 0.5)
        assert "scratch (n_synth = 0): 1 run" in _legend(ax)
    finally:
        plt.close(fig)


def test_a_wide_scratch_spread_does_not_squeeze_the_curves() -> None:
    """Scratch runs at 0.2 to 0.6 about curves within 0.33-0.42: a band in the autoscale would stretch
    the log axis over a factor 3 and press the curves into a strip; it runs past the axes instead."""
    df = _runs({100: [0.2, 0.6, 0.25, 0.55]})
    res = fits.fit_runs(df, by="complexity")
    sc = res["scratch"]
    fig = scaling_figure(df, res)
    try:
        (ax,) = fig.axes
        (band,) = _bands(ax)
        _check_band(fig, ax, band, sc, "k")
        lo, hi = ax.get_ylim()
        pos = df[df["n_synth"] > 0]["test_err"]
        assert lo <= pos.min() and hi >= pos.max() and lo <= sc["mean"] <= hi  # the data and the mean in view
        assert sc["mean"] - sc["std"] < lo and hi < sc["mean"] + sc["std"] and hi / lo < 1.5
    finally:
        plt.close(fig)


def test_small_multiples_draw_the_scratch_band_in_every_panel() -> None:
    df = _runs({100: [0.49, 0.52, 0.50]}, gens="abcdefg", seeds=2)
    res = fits.fit_runs(df, by="generator")
    assert len(res["groups"]) == 7 > MAX_OVERLAID
    sc = res["scratch"]
    fig = scaling_figure(df, res)
    try:
        panels = [ax for ax in fig.axes if ax.get_visible()]
        assert len(panels) == 7
        for ax in panels:
            (band,) = _bands(ax)
            _check_band(fig, ax, band, sc, "k")
        assert "dashed = scratch (n_synth = 0): mean of its 3 runs, band +- 1 sd" in fig.get_suptitle()
    finally:
        plt.close(fig)


def test_a_fits_json_without_std_keeps_drawing_the_line_alone(tmp_path: Path) -> None:
    """fits.json files written before the scratch std was kept: the dashed mean, no band, as before."""
    df = _runs({100: [0.49, 0.52, 0.50]})
    res = json.loads(write_fits_json(fits.fit_runs(df, by="complexity"), tmp_path / "fits.json").read_text())
    del res["scratch"]["std"]
    fig = scaling_figure(df, res)
    try:
        (ax,) = fig.axes
        assert _bands(ax) == []
        _dashed(ax, res["scratch"]["mean"])
        assert "scratch (n_synth = 0): mean of its 3 runs" in _legend(ax)
    finally:
        plt.close(fig)
    del res["scratch"]["n"]  # and without a count: the line and its name
    fig = scaling_figure(df, res)
    try:
        assert _bands(fig.axes[0]) == [] and "scratch (n_synth = 0)" in _legend(fig.axes[0])
    finally:
        plt.close(fig)


def test_groups_sharing_one_scratch_baseline_share_one_line_in_their_colours_in_turn() -> None:
    """Grouped by generator and real size, two generators at one real size have the same scratch runs:
    their lines were drawn one over the other, only the last colour showed, and the first group looked as
    if it had no baseline. Now each colour takes every other dash, one band (grey) is drawn per baseline,
    and the legend says what the alternating dashes mean."""
    df = _runs({100: [0.49, 0.52, 0.50], 1000: [0.40, 0.43, 0.39]}, gens="ab")
    res = fits.fit_runs(df, by="generator,n_real")
    groups = list(res["groups"].values())
    assert [g["scratch"]["mean"] for g in groups] == pytest.approx([0.5033, 0.4067, 0.5033, 0.4067], abs=1e-4)
    fig = scaling_figure(df, res)
    try:
        (ax,) = fig.axes
        curves = [ln for ln in ax.get_lines() if ln.get_linestyle() == "-" and len(ln.get_xdata()) > 2]
        for pair, mean in ((curves[0::2], groups[0]["scratch"]["mean"]), (curves[1::2], groups[1]["scratch"]["mean"])):
            lines = [ln for ln in ax.get_lines() if list(ln.get_ydata()) == [mean, mean]]
            assert [to_rgb(ln.get_color()) for ln in lines] == [to_rgb(c.get_color()) for c in pair]
            (first_on, first_off), (second_on, second_off) = (ln._dash_pattern[1] for ln in lines)
            offsets = [ln._dash_pattern[0] for ln in lines]
            period = first_on + first_off
            assert first_on == second_on and period == second_on + second_off  # one dash each in turn
            assert sorted(offsets) == [0, period / 2]  # the second colour fills the first's gap
        bands = _bands(ax)
        assert len(bands) == 2 and all(to_rgb(b.get_facecolor()) == to_rgb("grey") for b in bands)
        assert any("(dashes in turn: one baseline shared)" in t for t in _legend(ax))
    finally:
        plt.close(fig)
    # groups with a baseline each keep plain dashes and no such words
    res = fits.fit_runs(df[df["generator"] != "b"], by="generator,n_real")
    fig = scaling_figure(df[df["generator"] != "b"], res)
    try:
        assert not any("dashes in turn" in t for t in _legend(fig.axes[0]))
        assert len(_bands(fig.axes[0])) == 2
    finally:
        plt.close(fig)
