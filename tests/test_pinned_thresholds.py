"""Thresholds and contracts that a mutation review found unpinned: each test fails when its constant or
comparison is changed (checked mutant by mutant), and passes on the code as it is."""
from __future__ import annotations

import json

import numpy as np
import pytest


def test_doubling_gain_is_the_exact_difference_not_the_first_order_one():
    from fits.compare import removed_by_doubling
    d, a, n = 2.0, 0.5, 1000.0
    assert removed_by_doubling(d, a, n) == pytest.approx(d * n ** -a - d * (2 * n) ** -a, rel=1e-12)


def test_three_sizes_never_read_as_an_overall_rise():
    from fits.diagnostics import overall_rise
    assert overall_rise(np.array([100.0, 200, 400]), np.array([0.1, 0.2, 0.3])) is None
    assert overall_rise(np.array([100.0, 200, 400, 800]), np.array([0.1, 0.2, 0.3, 0.4])) == (0.1, 0.4)


def test_membership_tolerance_of_check_one_is_rounding_only():
    from fits.bound import _inside
    assert _inside(1.0, 0.5, 1.0) and _inside(1.0 + 5e-7, 0.5, 1.0)
    assert _inside(1.0005, 0.5, 1.0) is False and _inside(0.4998, 0.5, 1.0) is False


def test_a_correlation_below_the_limit_does_not_flag(monkeypatch):
    import fits
    from fits import diagnostics as diag
    x = np.repeat(250 * 2.0 ** np.arange(7), 3)
    fit = fits.fit_curve(x, 3.0 * x ** -0.5 + 0.05, groups=np.tile(np.arange(3), 7))
    rng = np.random.default_rng(0)
    z1, z2 = rng.normal(size=(2, 400))
    for r, flagged in ((0.92, False), (0.98, True)):
        alpha = fit.params["alpha"] + 0.05 * z1
        c = fit.params["C"] * (1 + 0.5 * (r * z1 + np.sqrt(1 - r * r) * z2))  # loose: +-100 %
        draws = np.column_stack([np.full(400, fit.params["D"]), alpha, c])
        monkeypatch.setattr(diag, "_scaled_draws", lambda f, d=draws: d)
        got = diag._corr_flags(fit)
        assert bool(got) == flagged, (r, got)


def test_a_row_file_with_one_incomplete_row_is_left_out(tmp_path):
    from bench.records import COLUMNS, read_rows
    ok = {c: 0 for c in COLUMNS}
    (tmp_path / "row.json").write_text(json.dumps([ok, {"run_id": "x"}]))
    assert read_rows(tmp_path) is None


def test_plan_runs_the_cell_with_more_real_sizes_first(tmp_path, monkeypatch):
    import bench.run
    from bench.config import RunSpec, SweepSpec
    from slurm.plan import plan
    monkeypatch.setattr(bench.run, "check_names", lambda c, checked: None)
    sweep = SweepSpec(base=RunSpec(), grid={"target.n_real": [[100], [100, 200, 400]]})
    assert [c.target.n_real for c in plan(sweep, tmp_path).todo] == [[100, 200, 400], [100]]


def test_pretrain_id_separates_seeds_and_is_shared_across_fine_tuning_sizes():
    """The mutation review's pretrain_id without "seed" was killed only by a pinned hash: two seeds must
    pre-train two nets, while runs differing downstream (the real sizes) share one."""
    from bench.config import RunSpec, apply_overrides

    base = RunSpec()
    assert apply_overrides(base, {"seed": base.seed + 1}).pretrain_id != base.pretrain_id
    other_sizes = apply_overrides(base, {"target.n_real": [10]})
    assert other_sizes.run_id != base.run_id and other_sizes.pretrain_id == base.pretrain_id


@pytest.mark.parametrize("n_seeds, flagged", [(1, False), (2, True), (4, True), (5, False), (6, False)])
def test_few_seeds_fires_from_two_to_four_seeds(n_seeds: int, flagged: bool):
    """MIN_SEEDS is 5 (the mutation review's few_seeds at 5 seeds was killed only by a test not aimed at it);
    one seed is a single run, not few seeds."""
    import fits

    rng = np.random.default_rng(n_seeds)
    sizes = 250 * 2.0 ** np.arange(6)
    x, s = np.repeat(sizes, n_seeds), np.tile(np.arange(n_seeds), len(sizes))
    y = (2.0 * x ** -0.5 + 0.1) * np.exp(rng.normal(0, 0.02, n_seeds)[s] + rng.normal(0, 0.01, len(x)))
    fit = fits.fit_curve(x, y, groups=s)
    assert ("few_seeds" in [f.name for f in fit.diagnostics]) is flagged
