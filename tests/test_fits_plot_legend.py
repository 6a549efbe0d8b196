"""The scaling plot's legend sits below the axes, outside them. Inside them (matplotlib's "best") it
covered data: the fits' 95 % bands fill the panel, so there is no empty corner, and in a reviewer's
table the point that most contradicted the flat curves (n_synth=160, n_real=200, seed 0) lay under it."""
from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

import fits
from fits.plot import MAX_OVERLAID, legend_label, save, scaling_figure

SIZES = (64, 160, 400, 1000, 2048)
DIP = {64: 0.0, 160: -0.05, 400: 0.0, 1000: 0.01, 2048: 0.01}  # a dip at 160: flat fits, wide bands
LOW = 0.433  # the outlier, low at a small size: the lower left corner, where "best" put the legend


def _runs(n_groups: int) -> pd.DataFrame:
    """Flat, noisy curves at n_groups real sizes (their own scratch runs at n_synth = 0 each), 2 seeds, and
    one point far below the rest at n_synth = 160 in the last group (the reviewer's table, widened)."""
    rng = np.random.default_rng(1)
    rows = []
    for j, n_real in enumerate([50, 100, 200, 400, 800, 1600][:n_groups]):
        level = 0.56 - 0.02 * j
        for s in range(2):
            rows.append({"n_synth": 0, "n_real": n_real, "seed": s, "status": "ok",
                         "test_err": level + rng.normal(0, 0.01)})
            rows += [{"n_synth": n, "n_real": n_real, "seed": s, "status": "ok",
                      "test_err": level + DIP[n] + rng.normal(0, 0.015)} for n in SIZES]
    df = pd.DataFrame(rows)
    df.loc[(df["n_real"] == df["n_real"].max()) & (df["n_synth"] == 160) & (df["seed"] == 0), "test_err"] = LOW
    return df


def _overlap(a, b) -> bool:
    return a.x0 < b.x1 and b.x0 < a.x1 and a.y0 < b.y1 and b.y0 < a.y1


@pytest.mark.parametrize("n_groups", [1, MAX_OVERLAID])
def test_the_legend_is_below_the_axes_and_keeps_every_entry(tmp_path: Path, n_groups: int) -> None:
    df = _runs(n_groups)
    res = fits.fit_runs(df, by="n_real")
    assert len(res["groups"]) == n_groups
    groups = [legend_label(res, k) for k in res["groups"]]
    if n_groups == 1:  # one real size: one scratch baseline, drawn after the first group
        scratch = ["scratch (n_synth = 0): mean of its 2 runs, band +- 1 sd"]
        expected = groups[:1] + scratch + groups[1:]
    else:  # a baseline per real size, each in its group's colour
        expected = groups + ["scratch (n_synth = 0), in each group's colour: mean of its 2 runs, band +- 1 sd"]
    expected += ["seed 0", "seed 1", "mean of the runs at a size", "fit past the largest measured size (extrapolated)"]
    fig = scaling_figure(df, res)
    try:
        (ax,) = fig.axes
        leg = ax.get_legend()
        assert [t.get_text() for t in leg.get_texts()] == expected
        fig.canvas.draw()
        box, axes_box = leg.get_window_extent(), ax.get_window_extent()
        assert not _overlap(box, axes_box), (box, axes_box)
        assert box.y1 < axes_box.y0  # below the axes, not beside them
        # nor on the x axis's tick labels or its label
        labels = [t.get_window_extent() for t in [ax.xaxis.label, *ax.get_xticklabels(which="both")] if t.get_text()]
        assert labels and not any(_overlap(box, t) for t in labels)
        # the outlier, whatever its place, is not under the legend
        (px, py) = ax.transData.transform((160, LOW))
        assert axes_box.contains(px, py) and not box.contains(px, py)
        # the legend lies on the figure, which grew for it: the axes keep their size (no strip)
        assert fig.bbox.contains(box.x0, box.y0) and fig.bbox.contains(box.x1, box.y1)
        assert axes_box.height / fig.dpi >= 3.0 and axes_box.width / fig.dpi >= 4.5
        paths = save(fig, tmp_path / "scaling.png")  # bbox_inches="tight" keeps the legend
        height, width = plt.imread(paths[0]).shape[:2]
        assert height / 150 >= (axes_box.y1 - box.y0) / fig.dpi
    finally:
        plt.close(fig)


def _markers_by_seed(ax: plt.Axes, df: pd.DataFrame) -> dict:
    """seed -> the marker path of every run's point drawn for it (matched by the points' positions; the
    runs are drawn translucent, the means per size opaque)."""
    seen: dict = {}
    for coll in ax.collections:
        offsets = coll.get_offsets()
        if not len(offsets) or not coll.get_paths() or coll.get_alpha() is None:
            continue
        for xv, yv in np.asarray(offsets):
            row = df[(df["n_synth"] == xv) & np.isclose(df["test_err"], yv)]
            if len(row) == 1:
                seen.setdefault(row["seed"].iloc[0], set()).add(coll.get_paths()[0].vertices.tobytes())
    return seen


def test_each_seed_has_one_marker_in_every_group_and_the_key_names_it() -> None:
    """Markers encode seeds, but no key said which, and each group numbered its own seeds: a group
    without seed 0 drew its seed 1 with another group's seed-0 marker."""
    df = _runs(2)
    df = df[~((df["n_real"] == 100) & (df["seed"] == 0))]  # the second group has seed 1 only
    res = fits.fit_runs(df, by="n_real")
    fig = scaling_figure(df, res)
    try:
        (ax,) = fig.axes
        seen = _markers_by_seed(ax, df[df["n_synth"] > 0])
        assert sorted(seen) == [0, 1] and all(len(paths) == 1 for paths in seen.values())
        assert seen[0] != seen[1]
        texts = [t.get_text() for t in ax.get_legend().get_texts()]
        assert "seed 0" in texts and "seed 1" in texts
    finally:
        plt.close(fig)


def test_many_seeds_get_one_key_entry() -> None:
    """Past 6 seeds the key gives one entry with the count, not a line per seed."""
    rng = np.random.default_rng(0)
    df = pd.DataFrame([{"n_synth": n, "seed": s, "test_err": 0.5 * n ** -0.3 + 0.1 + rng.normal(0, 0.005)}
                       for n in SIZES for s in range(8)])
    res = fits.fit_runs(df, by=None)
    fig = scaling_figure(df, res)
    try:
        texts = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
        assert "a run; one marker per seed (8 seeds)" in texts and not any(t.startswith("seed ") for t in texts)
    finally:
        plt.close(fig)


def test_small_multiples_name_each_seeds_marker_below_the_panels() -> None:
    """Past MAX_OVERLAID groups the panels had no key at all: which marker was which seed went unsaid."""
    rng = np.random.default_rng(0)
    df = pd.DataFrame([{"n_synth": n, "g": g, "seed": s, "test_err": 0.5 * n ** -0.3 + 0.05 * g + rng.normal(0, 0.005)}
                       for g in range(MAX_OVERLAID + 1) for s in range(3) for n in SIZES])
    fig = scaling_figure(df, fits.fit_runs(df, by="g"))
    try:
        (key,) = fig.legends
        assert [t.get_text() for t in key.get_texts()] == ["seed 0", "seed 1", "seed 2"]
        fig.canvas.draw()
        lowest = min(ax.get_tightbbox().y0 for ax in fig.axes if ax.get_visible())
        assert key.get_window_extent().y1 <= lowest  # below every panel's tick labels
    finally:
        plt.close(fig)
