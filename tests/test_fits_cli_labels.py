"""What the table-reading commands make of a CSV exported by another tool: group and seed labels as
the file writes them, an accuracy column given as the error, whole rows copied twice."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import fits
from fits.cli import main

SIZES = 100 * 2 ** np.arange(6)


def _curves(groups: dict, seeds: int = 3) -> pd.DataFrame:
    """One power_floor curve per group label, `seeds` noisy seeds each (fixed draws)."""
    rng = np.random.default_rng(0)
    rows = [(n, g, s, (0.5 * n ** -a + c) * np.exp(rng.normal(0, 0.02)))
            for g, (a, c) in groups.items() for s in range(seeds) for n in SIZES]
    return pd.DataFrame(rows, columns=["n", "grp", "seed", "err"])


THREE = {"01": (0.4, 0.1), "1": (0.5, 0.15), "10": (0.3, 0.2)}


def test_labels_that_read_alike_as_numbers_stay_three_groups_as_written(tmp_path: Path, capsys) -> None:
    """Groups "01", "1" and "10" were read as numbers: "01" and "1" became one group 1, refused as a false
    repeat of a measurement; plot must read them as fit did."""
    path = tmp_path / "runs.csv"
    _curves(THREE).to_csv(path, index=False)
    out = tmp_path / "fits.json"
    assert main(["fit", str(path), "--x", "n", "--y", "err", "--by", "grp", "-o", str(out)]) == 0
    assert sorted(json.loads(out.read_text())["groups"]) == ["01", "1", "10"]
    capsys.readouterr()
    assert main(["plot", str(path), str(out), "-o", str(tmp_path / "s.png")]) == 0, capsys.readouterr().err


def test_seeds_01_and_1_are_two_seeds(tmp_path: Path, capsys) -> None:
    """Seed labels "01" and "1" read as one seed 1: the second run at each size was refused as a repeat."""
    df = _curves({"a": (0.4, 0.1)}, seeds=2)
    df["seed"] = df["seed"].map({0: "01", 1: "1"})
    path = tmp_path / "runs.csv"
    df.to_csv(path, index=False)
    assert main(["fit", str(path), "--x", "n", "--y", "err", "--by", "", "-o", str(tmp_path / "f.json")]) == 0
    assert "repeat" not in capsys.readouterr().err


def test_groups_named_none_and_na_are_groups_not_blanks(tmp_path: Path) -> None:
    """pandas reads "None" and "NA" as missing: such a group was refused as an empty --by column."""
    df = _curves({"None": (0.4, 0.1), "NA": (0.5, 0.15)})
    path = tmp_path / "runs.csv"
    df.to_csv(path, index=False)
    out = tmp_path / "fits.json"
    assert main(["fit", str(path), "--x", "n", "--y", "err", "--by", "grp", "-o", str(out)]) == 0
    assert sorted(json.loads(out.read_text())["groups"]) == ["NA", "None"]


def test_a_label_with_spaces_around_it_is_the_same_group(tmp_path: Path) -> None:
    """"A " and "A" (a spreadsheet's stray space) were two curves that printed alike, each with half the runs."""
    df = _curves({"A": (0.4, 0.1)})
    df.loc[df.index % 2 == 0, "grp"] = "A "
    path = tmp_path / "runs.csv"
    df.to_csv(path, index=False)
    out = tmp_path / "fits.json"
    assert main(["fit", str(path), "--x", "n", "--y", "err", "--by", "grp", "-o", str(out)]) == 0
    assert list(json.loads(out.read_text())["groups"]) == ["A"]


def test_a_numeric_group_column_stays_numbers_in_value_order(tmp_path: Path) -> None:
    """Labels kept as text only where numbers would change them: 5, 50 and 100 still sort by value."""
    df = _curves({"5": (0.4, 0.1), "50": (0.5, 0.15), "100": (0.3, 0.2)})
    df["grp"] = df["grp"].astype(int)
    path = tmp_path / "runs.csv"
    df.to_csv(path, index=False)
    out = tmp_path / "fits.json"
    assert main(["fit", str(path), "--x", "n", "--y", "err", "--by", "grp", "-o", str(out)]) == 0
    groups = json.loads(out.read_text())["groups"]
    assert list(groups) == ["5", "50", "100"] and [g["value"] for g in groups.values()] == [5, 50, 100]


@pytest.mark.parametrize("column", ["test_acc", "Accuracy", "top1-acc", "val acc", "testAcc", "valAccuracy"])
def test_an_accuracy_column_given_as_the_error_is_refused(tmp_path: Path, capsys, column: str) -> None:
    """compare --y test_acc called the worse group better: a rising accuracy read as an error turns every
    verdict around. Refused in one line, from the CLI and the API."""
    df = _curves({"a": (0.4, 0.1)}).rename(columns={"err": column})
    df[column] = 1 - df[column]
    path = tmp_path / "runs.csv"
    df.to_csv(path, index=False)
    assert main(["compare", str(path), "--x", "n", "--y", column, "--by", "grp", "-o", str(tmp_path / "c")]) == 2
    err = capsys.readouterr().err
    assert "looks like an accuracy" in err and "1 - accuracy" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "c").exists()
    with pytest.raises(fits.FitInputError, match="looks like an accuracy"):
        fits.fit_table(df, x="n", y=column, by="grp")


@pytest.mark.parametrize("column", ["err", "acc_err", "accuracy_loss", "inaccuracy", "access_time", "1-acc",
                                    "100-acc", "one_minus_acc", "1_minus_acc", "acc_drop", "acc_gap", "delta_acc"])
def test_error_names_are_not_taken_for_accuracy(column: str) -> None:
    """Only names that say accuracy and not error or loss are refused."""
    df = _curves({"a": (0.4, 0.1)}).rename(columns={"err": column})
    assert len(fits.fit_table(df, x="n", y=column, by="grp")) == 1


def test_whole_rows_copied_twice_without_seeds_get_a_note(tmp_path: Path, capsys) -> None:
    """A seedless table concatenated with itself was fitted silently with narrower intervals."""
    one = _curves({"a": (0.4, 0.1)}).drop(columns="seed")
    path = tmp_path / "runs.csv"
    one.to_csv(path, index=False)
    argv = ["fit", str(path), "--x", "n", "--y", "err", "--by", "", "-o", str(tmp_path / "f.json")]
    assert main(argv) == 0
    assert "repeat another row" not in capsys.readouterr().err
    pd.concat([one, one]).to_csv(path, index=False)
    assert main(argv) == 0
    assert "note: 18 row(s) repeat another row in every column" in capsys.readouterr().err


def test_the_bound_at_one_fine_tuning_size_says_what_to_do(tmp_path: Path, capsys) -> None:
    """"needs at least 2 distinct n_real values, got 1" said what was wrong but not how to go on."""
    df = _curves({"a": (0.4, 0.1)}).assign(n_real=100)
    path = tmp_path / "runs.csv"
    df.to_csv(path, index=False)
    assert main(["bound", str(path), "--x", "n", "--y", "err", "--by", "", "-o", str(tmp_path / "b")]) == 2
    err = capsys.readouterr().err
    assert "needs at least 2 distinct n_real values" in err and "or fit the one n_real with" in err


@pytest.mark.parametrize("name", ["fits.csv", "f.PNG", "out.txt"])
def test_fit_refuses_an_output_named_as_another_kind_of_file(tmp_path: Path, capsys, name: str) -> None:
    """`fit -o fits.csv` wrote JSON under a table's name without a word; the folder it made is removed."""
    path = tmp_path / "runs.csv"
    _curves({"a": (0.4, 0.1)}).to_csv(path, index=False)
    out = tmp_path / "new" / name
    assert main(["fit", str(path), "--x", "n", "--y", "err", "--by", "grp", "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert "`fit` writes its fits as JSON" in err and f"{out.with_suffix('.json')}" in err
    assert len(err.strip().splitlines()) == 1 and not (tmp_path / "new").exists()
    assert main(["fit", str(path), "--x", "n", "--y", "err", "--by", "grp", "-o", str(tmp_path / "fits")]) == 0


def test_1_and_1_0_stay_one_group_and_na_in_a_number_column_is_a_blank(tmp_path: Path) -> None:
    """A table joined from `collect`'s output (1) and a pandas export (1.0 beside blank scratch rows) holds
    both spellings: they were split into two groups of one seed each, as a review found. And R writes a
    blank as NA: in a column of numbers it made every label text (groups "10.0" before "2.0")."""
    df = _curves({"1": (0.4, 0.1), "3": (0.5, 0.15)})
    df["grp"] = df["grp"].astype(int).astype(object)
    df.loc[df["seed"] == 1, "grp"] = df.loc[df["seed"] == 1, "grp"].map(lambda v: f"{v}.0")
    scratch = pd.DataFrame({"n": 0, "grp": "NA", "seed": [0, 1, 2], "err": 0.5})
    path = tmp_path / "runs.csv"
    pd.concat([df, scratch]).to_csv(path, index=False)
    out = tmp_path / "fits.json"
    assert main(["fit", str(path), "--x", "n", "--y", "err", "--by", "grp", "-o", str(out)]) == 0
    doc = json.loads(out.read_text())
    assert list(doc["groups"]) == ["1", "3"] and doc["scratch"]["n"] == 3
    assert all(g["n_points"] == 18 for g in doc["groups"].values())
    assert main(["plot", str(path), str(out), "-o", str(tmp_path / "s.png")]) == 0
