"""The numbers results/asg/README.md quotes are the committed files' numbers: its fit table against
each target's fits.json, its accuracy table against runs.csv. A refit that moved an interval end
left the table's old value behind once (sklearn_digits learned's alpha: 0.20 in the table, 0.33 in
fits.json)."""
from __future__ import annotations

import json
import re
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import pandas as pd
import pytest

from fits.table import flat_level

ASG = Path(__file__).resolve().parents[1] / "results" / "asg"
ROW = re.compile(r"^\| (mnist5k|sklearn_digits) \| (\w+(?:\.\d+)?) \| (.+) \| (.+) \| (.+) \|$")


def _table_rows(head: str) -> list[str]:
    """The rows of the README table whose header line starts with `head`."""
    lines = (ASG / "README.md").read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(head))
    rows = []
    for line in lines[start + 2:]:
        if not line.startswith("|"):
            break
        rows.append(line)
    return rows


def _ci(value: float, lo: float, hi: float, digits: int) -> str:
    return f"{value:.{digits}f} [{lo:.{digits}f}, {hi:.{digits}f}]"


def test_the_fit_table_quotes_each_targets_fits_json() -> None:
    rows = _table_rows("| target | condition | alpha |")
    assert len(rows) == 8, rows
    for line in rows:
        target, cond, alpha, c, flags = ROW.match(line).groups()
        g = json.loads((ASG / target / "fits.json").read_text())["groups"][cond]
        assert alpha == _ci(g["params"]["alpha"], *g["ci"]["alpha"], 2), line
        level = flat_level(g)  # a flat curve's C is an arbitrary share of its level: the table gives the level
        assert c == (f"<= {level:.3f} (flat)" if level is not None else _ci(g["params"]["C"], *g["ci"]["C"], 3)), line
        assert flags.split(", ") == list(dict.fromkeys(f["name"] for f in g["diagnostics"])), line


def test_the_accuracy_table_quotes_runs_csv() -> None:
    runs = pd.read_csv(ASG / "runs.csv")
    # exact decimal means of the values as written (a float mean of 0.599 and 0.600 is 0.59949...)
    means = runs.groupby(["target", "condition", "n_synth"])["test_acc"].agg(
        lambda v: sum(Decimal(repr(float(a))) for a in v) / len(v))
    rows = _table_rows("| n | mnist5k plain |")
    order = [(t, c) for t in ("mnist5k", "sklearn_digits") for c in ("plain", "proxy0.1", "handset", "learned")]
    assert len(rows) == runs["n_synth"].nunique(), rows
    for line in rows:
        n, *cells = [v.strip() for v in line.strip("|").split("|")]
        for (target, cond), cell in zip(order, cells, strict=True):
            mean = means[(target, cond, float(n.replace(",", "")))]
            assert cell == str(mean.quantize(Decimal("0.001"), ROUND_HALF_UP)), (n, target, cond, cell, mean)


@pytest.mark.parametrize("target", ["mnist5k", "sklearn_digits"])
def test_each_targets_runs_csv_is_its_share_of_the_whole(target: str) -> None:
    whole = pd.read_csv(ASG / "runs.csv")
    part = pd.read_csv(ASG / target / "runs.csv")
    assert sorted(part["run_id"]) == sorted(whole.loc[whole["target"] == target, "run_id"])
