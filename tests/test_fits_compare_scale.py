"""compare with many groups: each group against one reference (--vs, G - 1 pairs, Holm over G - 1), and a
report whose pair tables stay short above 45 pairs (60 groups printed 3,743 lines, each pair twice) while
compare_pairs.csv keeps every pair; small families print as before."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from fits.cli import main
from fits.compare import compare_runs, report

SIZES = 250 * 2.0 ** np.arange(6)
THRESHOLD = 45  # fits.compare.MAX_PAIR_ROWS (a literal: the guard below runs on the code before it, too)


def _table(gaps: list[float], n_seeds: int = 3, seed: int = 0) -> pd.DataFrame:
    """One group per gap C (complexity 0, 1, ...): error 3 n^-0.5 + C with 0.3 % noise and seed offsets."""
    rng = np.random.default_rng(seed)
    rows = []
    for g, c in enumerate(gaps):
        for s in range(n_seeds):
            off = rng.normal(0, 0.001)
            rows += [{"complexity": g, "seed": s, "n_synth": int(n), "test_err": 3 * n ** -0.5 + c + off
                      + rng.normal(0, 0.003)} for n in SIZES]
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def four() -> pd.DataFrame:
    return _table([0.2, 0.1, 0.3, 0.4])


@pytest.fixture(scope="module")
def eleven() -> dict:
    """11 groups, 55 pairs, 200 draws: no Holm p can fall below 0.05 (55 x 2 / 200)."""
    return compare_runs(_table([0.05 + 0.03 * g for g in range(11)]), n_boot=200)


def test_vs_gives_one_pair_per_other_group_as_other_minus_reference(four: pd.DataFrame) -> None:
    """--vs 0 (complexity 0, C 0.2): 3 pairs, a the other group and b the reference, so d = other - reference
    (complexity 1, 0.1 lower, has d_L < 0); each pair's numbers are the all-pairs ones (negated where the
    reference came first there), but Holm's p counts 3 pairs: at 200 draws (p >= 0.01) 3 x 0.01 = 0.03
    tells them apart, 6 x 0.01 over all pairs cannot."""
    res = compare_runs(four, n_boot=200, vs=0)
    every = compare_runs(four, n_boot=200)["pairs"]
    p = res["pairs"]
    assert list(zip(p["a"], p["b"])) == [("1", "0"), ("2", "0"), ("3", "0")]
    assert p.loc[0, "d_L_hi"] < 0 < p.loc[1, "d_L_lo"] and p.loc[2, "d_C_lo"] > 0  # other minus reference
    for _, r in p.iterrows():  # the same draws: the same differences and p, one sign
        m = every[(every["a"] == "0") & (every["b"] == r["a"])].iloc[0]
        for k in ("alpha", "C", "L"):
            assert r[f"d_{k}"] == -m[f"d_{k}"]
            assert (r[f"d_{k}_lo"], r[f"d_{k}_hi"]) == (-m[f"d_{k}_hi"], -m[f"d_{k}_lo"])
            assert r[f"p_{k}"] == m[f"p_{k}"]
    assert (p["p_L"] == 0.01).all()  # every draw on one side
    assert (p["p_L_holm"] == 0.03).all() and (every["p_L_holm"] == 0.06).all()  # Holm's m: 3 and 6
    assert "complexity=0 is better there" in p.loc[1, "sentence"]
    assert "(p Holm 0.030 after Holm's adjustment for 3 pairs)" in p.loc[0, "sentence"]
    text = report(res)
    assert ("Each group against the reference complexity=0 (--vs): a is the other group, b the reference, so every "
            "a - b is other minus reference; 3 pairs, the family Holm's p adjusts for.") in text
    assert "adjusted for the 3 pairs compared" in text


def test_vs_on_the_command_line_writes_g_minus_1_pairs(tmp_path: Path, four: pd.DataFrame,
                                                        capsys: pytest.CaptureFixture) -> None:
    four.to_csv(tmp_path / "runs.csv", index=False)
    """--vs as the report names the group (complexity=2): CSV rows (other, 2), the report says which way round."""
    assert main(["compare", str(tmp_path / "runs.csv"), "--vs", "complexity=2", "--boot", "100",
                 "-o", str(tmp_path / "c")]) == 0
    pairs = pd.read_csv(tmp_path / "c" / "compare_pairs.csv")
    assert list(zip(pairs["a"], pairs["b"])) == [(0, 2), (1, 2), (3, 2)]
    out = capsys.readouterr().out
    assert "0 - 2" in out and "0 - 1" not in out and "reference complexity=2 (--vs)" in out


def test_vs_takes_the_labels_of_several_by_columns_as_printed_or_with_commas() -> None:
    from fits.compare import reference_group

    labels = ["plain/mnist5k", "proxy0.1/mnist5k", "plain/digits"]
    for given in ("plain/digits", "condition,target=plain/digits", "plain,digits", " plain/digits "):
        assert reference_group(given, "condition,target", labels) == "plain/digits"
    assert reference_group(3.0, "complexity", ["1", "3"]) == "3" == reference_group("3.0", "complexity", ["1", "3"])


@pytest.mark.parametrize("vs, needle", [("7", "no complexity group is '7'; the groups are 0, 1, 2, 3 (closest: 3)"),
                                        ("plian", "(closest: plain)")])
def test_an_unknown_vs_is_one_line_naming_the_groups(tmp_path: Path, four: pd.DataFrame,
                                                     capsys: pytest.CaptureFixture, vs: str, needle: str) -> None:
    df = four if vs == "7" else four.assign(complexity=four["complexity"].map({0: "plain", 1: "proxy", 2: "hand",
                                                                               3: "learned"}))
    df.to_csv(tmp_path / "runs.csv", index=False)
    assert main(["compare", str(tmp_path / "runs.csv"), "--vs", vs, "-o", str(tmp_path / "c")]) == 2
    err = capsys.readouterr().err
    assert needle in err and f"--vs {vs}" in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "c").exists()  # refused before the fits, no folder left


def _pair_rows(text: str) -> list[str]:
    """The pair tables' rows ("3 - 7  ..."), both tables."""
    return [ln for ln in text.splitlines() if ln.split("  ")[0].count(" - ") == 1 and ln[0].isdigit()]


def test_above_45_pairs_the_tables_leave_out_pairs_not_told_apart(eleven: dict) -> None:
    """55 pairs, none told apart (200 draws): no pair row is printed (110 before), a line per table says so
    and that compare_pairs.csv holds them, and the note offers --vs (10 pairs: 401 draws suffice)."""
    text = report(eleven)
    assert len(eleven["pairs"]) == 55 and _pair_rows(text) == []
    for fam in ("alpha or C", "L"):
        assert (f"None of the 55 pairs is told apart in {fam} (p Holm < 0.05), so this table lists none of them; "
                "compare_pairs.csv holds every pair.") in text
    assert ("Or compare each group with one reference group only (--vs VALUE, e.g. a baseline): 10 pairs, for which "
            "--boot 401 suffices.") in text
    assert len(text.splitlines()) < 60  # 11 groups: table, sentences, flags; not also 2 x 55 pair rows


def test_above_45_pairs_the_tables_list_the_pairs_told_apart_at_most_45(eleven: dict) -> None:
    """Pairs told apart (Holm p set below 0.05) are the rows printed: 3 in L and 2 in C; with 50 told apart in
    L the 45 with the smallest p Holm, in table order, and the sentences likewise."""
    res = dict(eleven, pairs=eleven["pairs"].copy())
    p = res["pairs"]
    p.loc[[4, 9, 30], "p_L_holm"] = 0.01
    p.loc[[7, 9], "p_C_holm"] = 0.02
    text = report(res)
    rows = _pair_rows(text)
    assert [r.split("  ")[0] for r in rows] == [f"{a} - {b}" for a, b in p.loc[[7, 9, 4, 9, 30], ["a", "b"]].values]
    assert "53 of the 55 pairs are left out of this table: those not told apart in alpha or C" in text
    assert "52 of the 55 pairs are left out of this table: those not told apart in L" in text
    p["p_L_holm"] = 1.0
    p.loc[:49, "p_L_holm"] = np.linspace(0.049, 0.001, 50)  # the last 45 of those 50 have the smallest
    text = report(res)
    assert ([r.split("  ")[0] for r in _pair_rows(text)][2:] ==
            [f"{a} - {b}" for a, b in p.loc[5:49, ["a", "b"]].values])
    assert ("10 of the 55 pairs are left out of this table: of the 50 told apart in L it lists the 45 with the "
            "smallest p Holm; compare_pairs.csv holds every pair.") in text
    sentences = [ln for ln in text.splitlines() if " vs complexity=" in ln]
    assert sentences == list(p.loc[5:49, "sentence"])
    assert ("5 more pairs are told apart in L (the sentences above are the 45 with the smallest p Holm); the other 5 "
            "pairs are not told apart") in text


def test_up_to_45_pairs_every_pair_prints_in_both_tables(eleven: dict) -> None:
    """A guard (it passes on the code before the bound too): 45 pairs, 10 groups' worth, print as they did."""
    res = dict(eleven, pairs=eleven["pairs"].iloc[:THRESHOLD].copy())
    text = report(res)
    assert len(_pair_rows(text)) == 2 * THRESHOLD
    assert "left out of this table" not in text and "lists none of them" not in text and "--vs" not in text


def test_the_many_groups_table_behind_the_docs_figures_is_made_by_a_committed_command() -> None:
    """docs/fits.md's --vs timings and line counts come from fits.simulate.groups_table(60): the same table on every
    call (its seed), G groups x 5 seeds x 8 sizes, each group with its own curve."""
    from fits.simulate import groups_table

    t = groups_table(4)
    assert t.equals(groups_table(4)) and len(t) == 4 * 5 * 8 and sorted(t["complexity"].unique()) == [0, 1, 2, 3]
    assert sorted(t["n_synth"].unique()) == [250 * 2 ** k for k in range(8)] and (t["test_err"] > 0).all()
    assert t.groupby("complexity")["test_err"].min().nunique() == 4
