"""`synthscale fit --law auto`: each group fitted with the law fits.select chooses for it."""
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
from fits.plot import legend_label, plot_scaling
from fits.table import fit_runs, fit_table, summary_table

SIZES = [100, 200, 400, 800, 1600, 3200]  # 5 fitting sizes: power and power_floor compete (fast)
CURVES = {"floor": lambda n: 3.0 * n ** -0.6 + 0.3,   # flat well before the largest sizes
          "pure": lambda n: 2.0 * n ** -0.3}           # no floor at all


def two_curves(seed: int = 0, sizes: list[int] = SIZES) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = [{"generator": name, "n_synth": n, "seed": s,  # n = 0: one scratch run per group
             "test_err": 0.9 if n == 0 else float(law(n) * np.exp(rng.normal(0, 0.01)))}
            for name, law in CURVES.items() for n in [0, *sizes] for s in range(2) if n or s == 0]
    return pd.DataFrame(rows)


def test_auto_fits_each_group_with_the_law_select_chooses_for_it() -> None:
    df = two_curves()
    res = fit_runs(df, "n_synth", "test_err", "generator", "auto")
    assert res["law"] == "auto"
    for key, g in res["groups"].items():
        pos = df[(df["generator"] == key) & (df["n_synth"] > 0)]
        sel = fits.select(pos["n_synth"], pos["test_err"], groups=pos["seed"])
        assert g["law"] == sel.law and g["selection"]["message"] == sel.message
        assert g["params"] == pytest.approx(sel.fit.params)
        assert g["selection"]["message"].startswith(f"chose {sel.law}")
        assert len(g["curve"]["fit"]) == len(g["curve"]["x"]) and np.all(np.isfinite(g["curve"]["fit"]))
    # a curve that has flattened out: the law without a floor extrapolates it worst
    scores = res["groups"]["floor"]["selection"]["holdout_rel_err"]
    assert res["groups"]["floor"]["law"] == "power_floor" and scores["power"] > 5 * scores["power_floor"]
    # a pure power law: power_floor (C near 0) scores the same, and the simpler law is kept
    assert res["groups"]["pure"]["law"] == "power"
    pure = res["groups"]["pure"]["selection"]["holdout_rel_err"]
    assert pure["power_floor"] == pytest.approx(pure["power"], rel=1e-3)


def test_auto_table_summary_and_plot_show_each_group_s_law(tmp_path: Path) -> None:
    df = two_curves()
    res = json.loads(json.dumps(fit_runs(df, "n_synth", "test_err", "generator", "auto"), default=float))
    laws = {k: g["law"] for k, g in res["groups"].items()}
    table = fit_table(df, "n_synth", "test_err", "generator", "auto")
    assert dict(zip(table["generator"], table["law"])) == laws
    for _, row in table.iterrows():  # every chosen law's parameters are filled in its own row
        assert all(np.isfinite(row[p]) for p in fits.LAWS[row["law"]].params)
    text = summary_table(res)
    head = text.splitlines()[1].split()
    assert head[:2] == ["generator", "law"]
    for key, law in laws.items():
        assert f"{key}: chose {law}" in text
        assert legend_label(res, key).startswith(f"generator={key} ({law}): ")
    assert plot_scaling(df, res, tmp_path / "s.png")[0].stat().st_size > 0
    # a named law keeps the one-law table: no law column, no reasons, no law in the legend
    named = fit_runs(df, "n_synth", "test_err", "generator", "power_floor")
    assert summary_table(named).splitlines()[1].split()[:2] == ["generator", "D"]
    assert "(power_floor)" not in legend_label(named, "floor")


def test_an_unknown_law_lists_auto_too() -> None:
    with pytest.raises(FitInputError, match=r"unknown law 'autp'; valid: .*power_floor.*or auto"):
        fit_runs(two_curves(), "n_synth", "test_err", "generator", "autp")


def _cli(*args: str, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "fits", *args], text=True, timeout=300, **kw)


def test_cli_fit_law_auto_writes_the_law_per_group(tmp_path: Path) -> None:
    runs = tmp_path / "runs.csv"
    two_curves().to_csv(runs, index=False)
    out = _cli("fit", str(runs), "--by", "generator", "--law", "auto", "-o", str(tmp_path / "f.json"),
               capture_output=True)
    assert out.returncode == 0, out.stderr
    doc = json.loads((tmp_path / "f.json").read_text())
    assert doc["law"] == "auto" and {k: g["law"] for k, g in doc["groups"].items()} == {
        "floor": "power_floor", "pure": "power"}
    assert "floor: chose power_floor" in out.stdout and "pure: chose power" in out.stdout
    plotted = _cli("plot", str(runs), str(tmp_path / "f.json"), "-o", str(tmp_path / "s.png"), capture_output=True)
    assert plotted.returncode == 0, plotted.stderr


def test_a_reader_that_goes_away_ends_the_command_quietly_with_its_file_written(tmp_path: Path) -> None:
    runs = tmp_path / "runs.csv"
    two_curves().to_csv(runs, index=False)
    # `python -m fits fit ... | true`: the reader has closed the pipe before anything is printed
    proc = subprocess.Popen([sys.executable, "-m", "fits", "fit", str(runs), "--by", "generator", "-o",
                             str(tmp_path / "f.json")], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    proc.stdout.close()
    err = proc.stderr.read()
    assert proc.wait(timeout=300) == 141, err
    assert "Traceback" not in err and err == ""
    assert json.loads((tmp_path / "f.json").read_text())["law"] == "power_floor"


def test_a_tie_in_held_out_error_goes_to_the_law_with_fewer_parameters() -> None:
    """M4 fitted to a power law with a floor reduced to it and scored 0.0156692 against power_floor's
    0.0156692 (a 4e-6 relative difference): select chose the 5-parameter law by rounding. Laws within
    0.1 % of the best count as tied; a real difference still wins."""
    from fits.selection import _simplest_of_best

    assert _simplest_of_best({"power": 0.0783, "power_floor": 0.0156692327, "m4": 0.0156691658}) == "power_floor"
    assert _simplest_of_best({"power": 0.0104854, "power_floor": 0.0104853}) == "power"
    assert _simplest_of_best({"power_floor": 0.00607, "m4": 0.00121}) == "m4"
    assert _simplest_of_best({"power_floor": 0.0100, "m4": 0.00998}) == "m4"  # 0.2 % better: not a tie


def test_autos_holdout_scores_the_choice_on_a_size_it_was_not_made_on() -> None:
    """The holdout of an auto group scored the law chosen on all sizes at the largest one, the size
    select had chosen it on: it was the lowest of the tried laws' scores there, biased low. Now
    select chooses among the smaller sizes and the choice is scored on the largest."""
    rng = np.random.default_rng(3)
    x = np.repeat([100.0, 200, 400, 800, 1600, 3200, 6400], 2)
    y = (2 * x ** -0.4 + 0.05) * np.exp(rng.normal(0, 0.03, len(x)))
    df = pd.DataFrame({"n_synth": x, "test_err": y, "seed": np.tile([0, 1], 7)})
    (g,) = fit_runs(df, by=None, law="auto")["groups"].values()
    tried = {k: v for k, v in g["selection"]["holdout_rel_err"].items() if v is not None}
    small = x < 6400
    by_hand = fits.select(x[small], y[small], groups=df["seed"].to_numpy()[small])
    assert g["holdout"]["law"] == by_hand.law == "power" and g["law"] == "power_floor"
    pred = by_hand.fit.predict([6400.0])[0]
    observed = y[~small].mean()
    assert g["holdout"]["rel_err"] == pytest.approx(abs(pred - observed) / observed, rel=1e-9)
    assert g["holdout"]["rel_err"] > min(tried.values())  # the old score: the best of the tried laws
    row = summary_table(fit_runs(df, by=None, law="auto")).splitlines()[2]
    assert f"{g['holdout']['rel_err']:.3g} (power)" in row  # the score is the choice's, not power_floor's
    with pytest.raises(fits.FitInputError, match="takes no fixed values"):
        fits.table.holdout_score(x, y, "auto", fixed={"C": 0.05})
