"""`python -m fits.sweep_tuning`: scoring extrapolators on the learning curves of synthscale sweeps."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from fits import sweep_tuning as st

SIZES = [50 * 2**k for k in range(7)]


def sweep_csv(path: Path, noise: float = 0.0) -> Path:
    """A runs.csv shaped like a sweep's: 2 generators x 2 seeds x 7 sizes, scratch rows, a failure."""
    rng = np.random.default_rng(0)
    rows = []
    for gen, (d, a, c) in {"shapes": (2.0, 0.5, 0.3), "digits": (1.5, 0.4, 0.2)}.items():
        for seed in (0, 1):
            rows.append({"run_id": f"s{seed}", "generator": "none", "n_synth": 0, "seed": seed,
                         "n_real": 100, "test_err": 0.8, "status": "ok", "cpu_s": 7.0, "host": "vm"})
            for n in SIZES:
                err = (d * n ** -a + c) * np.exp(rng.normal(0, noise))
                rows.append({"run_id": f"{gen}{n}{seed}", "generator": gen, "n_synth": n, "seed": seed,
                             "n_real": 100, "test_err": err, "status": "ok", "cpu_s": 30.0 + seed, "host": "vm",
                             # provenance: a cell resumed once, another run on 1 thread (a busy sweep)
                             "pretrain_resumed_from_step": 12 if n == SIZES[3] else 0,
                             "torch_threads": 1 if n == SIZES[2] else 2,
                             "pretrain_distinct": min(n, SIZES[-2])})  # follows n: names no curve
    rows.append({"run_id": "x", "generator": "shapes", "n_synth": 6400, "seed": 0, "n_real": 100,
                 "test_err": np.nan, "status": "failed", "cpu_s": 1.0, "host": "vm"})
    out = path / "sweep" / "runs.csv"
    out.parent.mkdir()
    pd.DataFrame(rows).to_csv(out, index=False)
    return out


def test_curves_are_the_sweeps_conditions_over_n(tmp_path: Path) -> None:
    curves = st.sweep_curves([sweep_csv(tmp_path)])
    # one curve per generator x seed (n_real, host, timings, resume steps and threads do not name a curve); the scratch
    # rows (n = 0) and the failed cell are not points of any curve
    assert sorted(name for name, _, _ in curves) == [
        f"sweep/generator={g},seed={s}" for g in ("digits", "shapes") for s in (0, 1)]
    for name, x, y in curves:
        assert x.tolist() == SIZES
        d, a, c = (2.0, 0.5, 0.3) if "shapes" in name else (1.5, 0.4, 0.2)
        assert y == pytest.approx(d * x ** -a + c)


def test_scores_hold_out_the_largest_sizes_and_rank_exact_power_laws(tmp_path: Path) -> None:
    curves = st.sweep_curves([sweep_csv(tmp_path)])
    held = st.held_out(curves, 2)
    assert all(xn.tolist() == SIZES[-2:] and x.tolist() == SIZES[:-2] for _, x, _, xn, _ in held)
    df = st.scores(held, slow=False)
    med = df.groupby("method")["abs_err"].median()
    # noise-free D n^-a + C: the fit recovers the held-out errors, the last value misses the fall
    assert med["tail fit"] < 1e-4
    assert med["last value"] > 100 * med["tail fit"]
    assert st.OURS in med.index and df.groupby("method").size().eq(4).all()


def test_report_gives_both_protocols_with_paired_intervals(tmp_path: Path) -> None:
    text = st.report(st.sweep_curves([sweep_csv(tmp_path, noise=0.01)]), slow=False)
    assert "## Hold out the largest size (4 curves, fit the 6 smallest sizes" in text
    assert "## Hold out the 2 largest sizes (4 curves, fit the 5 smallest sizes" in text
    assert text.count("Median abs_err of fits.extrapolate minus each other method's") == 2
    assert "- vs last value: " in text
    table = text.split("## The curves (error by pre-training size n)")[1].split("## Hold out")[0]
    assert len([ln for ln in table.splitlines() if ln.startswith("sweep/generator=")]) == 4
    assert text.count("Median abs_err (x 1000) by relative range of the fitting errors") == 2


@pytest.mark.parametrize("case", ["missing", "short", "no_column", "two_grids"])
def test_bad_input_is_one_line_and_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture, case: str) -> None:
    if case == "missing":
        args, want = [str(tmp_path / "nope.csv")], f"cannot read runs table {tmp_path / 'nope.csv'}"
    elif case == "no_column":
        path = sweep_csv(tmp_path)
        pd.read_csv(path).drop(columns="test_err").to_csv(path, index=False)
        args, want = [str(path)], "has no column test_err; give the runs.csv a sweep wrote"
    elif case == "two_grids":
        path = sweep_csv(tmp_path)
        df = pd.read_csv(path)
        df.loc[(df["generator"] == "digits") & (df["n_synth"] > 0), "n_synth"] *= 3  # another grid
        df.to_csv(path, index=False)
        args, want = [str(path)], "found 4 curve(s) on 2 grid(s); give runs.csv files of sweeps over the same n"
    else:
        path = sweep_csv(tmp_path)
        df = pd.read_csv(path)
        df[df["n_synth"] <= 400].to_csv(path, index=False)  # 4 sizes per curve
        args, want = [str(path)], "need curves of one grid of >= 6 sizes; found 0 curve(s) on 0 grid(s)"
    assert st.main(args) == 2
    err = capsys.readouterr().err
    assert want in err and len(err.strip().splitlines()) == 1
