"""Fits at scale (from a scale review): the small multiples of many groups keep their title clear of the panels
and draw in time linear in groups (shared axes made every autoscale and tick label walk all panels: 200
groups took 313 CPU-s), and the seed diagnostics of long curves solve their size + seed model without a dense
design (2000 sizes x 10 seeds: 54 CPU-s and 800 MB per fit)."""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

import fits
from fits import diagnostics

SIZES = (32, 100, 320, 1000, 3200)
N_GROUPS = 30  # 8 rows of 4: the title ran through the first row's panel titles from about 24 groups


@pytest.fixture(scope="module")
def many() -> tuple[plt.Figure, list[pd.DataFrame]]:
    """The small multiples of N_GROUPS groups (one fitted curve, copied, each group's errors scaled by its own
    factor and the last group's sizes by 4: panels whose own ranges differ) and each group's rows."""
    from fits.plot import scaling_figure

    rng = np.random.default_rng(0)
    one = pd.DataFrame([{"n_synth": n, "complexity": 0, "seed": s,
                         "test_err": (0.5 * n ** -0.3 + 0.05) * np.exp(rng.normal(0, 0.02))}
                        for s in range(3) for n in SIZES])
    res = fits.fit_runs(one, by="complexity")
    (g,) = res["groups"].values()
    groups, tables = {}, []
    for k in range(N_GROUPS):
        fy, fx = 1 + k / 10, 4.0 if k == N_GROUPS - 1 else 1.0
        tables.append(one.assign(complexity=k, n_synth=one["n_synth"] * fx, test_err=one["test_err"] * fy))
        curve = {**g["curve"], "x": [v * fx for v in g["curve"]["x"]],
                 **{c: [v * fy for v in g["curve"][c]] for c in ("fit", "lo", "hi")}}
        groups[str(k)] = {**g, "value": k, "curve": curve, "y_sum": float(tables[-1]["test_err"].sum())}
    res["groups"] = groups
    fig = scaling_figure(pd.concat(tables, ignore_index=True), res)
    fig.canvas.draw()
    yield fig, tables
    plt.close(fig)


def test_the_title_of_many_small_multiples_is_clear_of_the_panels(many) -> None:
    """tight_layout leaves the same room above the panels at any height, and the title sat at 0.98 of it: 0.6
    inch below the top of 30 groups' figure, across the first row's panel titles."""
    fig, _ = many
    renderer = fig.canvas.get_renderer()
    (title,) = [t for t in fig.texts if t.get_text() == fig.get_suptitle()]
    panels = [ax for ax in fig.axes if ax.get_visible()]
    assert len(panels) == N_GROUPS
    top = max(ax.get_tightbbox(renderer).y1 for ax in panels)  # the first row's titles
    assert title.get_window_extent(renderer).y0 > top


def test_small_multiples_have_one_range_for_all_and_tick_labels_outside_only(many) -> None:
    """One x and one y range over every group's data, as shared axes gave, without sharing them (each
    autoscale and tick label walked every shared panel: quadratic in groups); the tick labels only on the
    lowest panel of each column (x) and on the left column (y), as sharing left them."""
    fig, tables = many
    panels = [ax for ax in fig.axes if ax.get_visible()]
    ncols = 4
    for ax in panels:
        assert ax.get_shared_x_axes().get_siblings(ax) == [ax] and ax.get_shared_y_axes().get_siblings(ax) == [ax]
        assert ax.get_xlim() == panels[0].get_xlim() and ax.get_ylim() == panels[0].get_ylim()
    (x0, x1), (y0, y1) = panels[0].get_xlim(), panels[0].get_ylim()
    rows = pd.concat(tables)
    assert x0 < rows["n_synth"].min() and rows["n_synth"].max() < x1  # the last group's 4x sizes too
    assert y0 < rows["test_err"].min() and rows["test_err"].max() < y1  # the smallest errors and the largest
    for i, ax in enumerate(panels):
        labelled = {name: any(t.get_visible() and t.get_text() for t in ticks(which="both"))
                    for name, ticks in (("x", ax.get_xticklabels), ("y", ax.get_yticklabels))}
        assert labelled == {"x": i + ncols >= N_GROUPS, "y": i % ncols == 0}, i  # (26, 27: above empty slots)


def _design(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Cell and seed codes of an unbalanced design: sizes x seeds with cells missing, repeats, a seed run at one
    size, and, one time in two, a size and two seeds linked to nothing else (the model leaves their split free)."""
    n_cells, n_seeds = int(rng.integers(3, 30)), int(rng.integers(2, 9))
    cells, seeds = (a.ravel() for a in np.meshgrid(np.arange(n_cells), np.arange(n_seeds)))
    keep = rng.random(len(cells)) < rng.uniform(0.4, 0.9)
    keep[0] = True
    keep[1] = False  # a missing cell
    cells, seeds = cells[keep], seeds[keep]
    repeats = rng.integers(1, 3, len(cells))
    cells, seeds = np.repeat(cells, repeats), np.repeat(seeds, repeats)
    cells, seeds = np.r_[cells, 0], np.r_[seeds, n_seeds]  # a seed at one size
    if rng.random() < 0.5:
        cells, seeds = np.r_[cells, n_cells, n_cells], np.r_[seeds, n_seeds + 1, n_seeds + 2]
    return np.unique(cells, return_inverse=True)[1], np.unique(seeds, return_inverse=True)[1]


def test_the_sparse_size_seed_solve_is_the_dense_one() -> None:
    """_size_seed_sparse gives np.linalg.lstsq's coefficients (its smallest-norm ones where the design leaves
    them free), fitted values and rank on the dense design."""
    rng = np.random.default_rng(3)
    for _ in range(200):
        cell, seed = _design(rng)
        y = rng.normal(0, 1, int(cell.max()) + 1)[cell] + rng.normal(0, 0.3, int(seed.max()) + 1)[seed] \
            + rng.normal(0, 0.05, len(cell))
        design = diagnostics._size_seed_design(cell, seed)
        want, *_ = np.linalg.lstsq(design, y, rcond=None)
        coef, fitted, rank = diagnostics._size_seed_sparse(cell, seed, y)
        assert rank == np.linalg.matrix_rank(design)
        assert np.allclose(coef, want, rtol=1e-10, atol=1e-10 * np.abs(want).max())
        assert np.allclose(fitted, design @ want, rtol=1e-10, atol=1e-10 * np.abs(y).max())


def test_long_curves_with_seeds_are_judged_without_a_dense_design(monkeypatch) -> None:
    """300 sizes x 10 seeds: the within-seed noise and the seed offsets are those of the dense least squares,
    and no design of more than diagnostics' 250,000 entries is solved densely on the way (2000 sizes x 10
    seeds built one of 20000 x 2009 per seed)."""
    rng = np.random.default_rng(4)
    n_sizes, n_seeds = 300, 10
    x = np.repeat(np.geomspace(10, 1e5, n_sizes), n_seeds)
    seeds = np.tile(np.arange(n_seeds), n_sizes)
    keep = rng.random(len(x)) < 0.9  # unbalanced
    x, seeds = x[keep], seeds[keep]
    y = (x ** -0.3 + 0.1) * np.exp(rng.normal(0, 0.05, n_seeds)[seeds] + rng.normal(0, 0.01, len(x)))
    cell, seed = np.unique(x, return_inverse=True)[1], seeds
    design = diagnostics._size_seed_design(cell, seed)
    coef, *_ = np.linalg.lstsq(design, np.log(y), rcond=None)
    resid = np.log(y) - design @ coef
    dof = len(y) - np.linalg.matrix_rank(design)
    lstsq = np.linalg.lstsq

    def small_only(a, *args, **kwargs):
        assert np.size(a) <= 250_000, f"a dense {np.shape(a)} design"
        return lstsq(a, *args, **kwargs)

    monkeypatch.setattr(np.linalg, "lstsq", small_only)
    noise, got_dof, _ = diagnostics._within_seed(x, np.log(y), seeds)
    assert got_dof == dof and noise == pytest.approx(np.sqrt(np.sum(resid ** 2) / dof), rel=1e-10)
    size_eff, seed_eff = diagnostics._seed_offsets(cell, seed, np.log(y))
    eff = np.r_[0.0, coef[n_sizes:]]
    assert np.allclose(seed_eff, eff - eff.mean(), rtol=1e-10, atol=1e-12)
    assert np.allclose(size_eff, coef[:n_sizes] + eff.mean(), rtol=1e-10, atol=1e-12)
