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
    expected += ["mean of the runs at a size", "fit past the largest measured size (extrapolated)"]
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
