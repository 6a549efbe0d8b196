"""`python -m fits` on the files researchers get wrong: a header-only table, missing or infinite
sizes and errors, one column in two roles, a JSON that is not a fits file, an output that is the
input or cannot be written. Each is one line on stderr and exit code 2, before any work."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from fits.cli import main

RUNS = Path(__file__).resolve().parents[1] / "results" / "quickstart" / "runs.csv"
UNWRITABLE = Path("/proc")  # nothing can be created there, even by root
needs_proc = pytest.mark.skipif(not Path("/proc/self").exists(), reason="needs Linux /proc")


def _fails(capsys: pytest.CaptureFixture, argv: list[str], needle: str) -> None:
    """main(argv) exits 2 with exactly one stderr line that contains `needle`."""
    assert main([str(a) for a in argv]) == 2
    err = capsys.readouterr().err
    assert needle in err and len(err.strip().splitlines()) == 1, err


def test_a_header_only_table_says_it_has_no_rows(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    # used to say "the status column has no 'ok' rows (it has )"
    (tmp_path / "runs.csv").write_text(RUNS.read_text().splitlines()[0] + "\n")
    _fails(capsys, ["fit", tmp_path / "runs.csv", "-o", tmp_path / "f.json"], "has a header but no rows")


@pytest.mark.parametrize("column, value", [("n_synth", np.nan), ("n_synth", np.inf), ("test_err", np.nan),
                                           ("test_err", np.inf)])
def test_missing_or_infinite_sizes_and_errors_are_refused(tmp_path: Path, capsys: pytest.CaptureFixture,
                                                          column: str, value: float) -> None:
    # a NaN size used to drop its row without a word (the fit used 11 of 12 rows, exit 0)
    df = pd.read_csv(RUNS)
    df[column] = df[column].astype(float)
    df.loc[5, column] = value
    df.to_csv(tmp_path / "runs.csv", index=False)
    for cmd in (["fit", "-o", tmp_path / "f.json"], ["compare", "-o", tmp_path / "c"]):
        _fails(capsys, [cmd[0], tmp_path / "runs.csv", *cmd[1:]], f"column {column!r} has 1 missing or infinite")
    assert not (tmp_path / "f.json").exists()


@pytest.mark.parametrize("argv", [["fit", RUNS, "--x", "test_err"], ["fit", RUNS, "--by", "n_synth"],
                                  ["compare", RUNS, "--by", "test_err"], ["bound", RUNS, "--s", "n_synth"]])
def test_one_column_in_two_roles_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture, argv: list) -> None:
    # --x test_err --y test_err used to fit the error against itself and exit 0
    _fails(capsys, [*argv, "-o", tmp_path / "out"], "is named for two roles")


@pytest.mark.parametrize("doc", [[1, 2], {"joint": {}, "per_s": []}, {"x": "n_synth", "y": "test_err", "by": None,
                                                                       "law": "power_floor", "groups": {"a": 1}}])
def test_plot_refuses_a_json_that_is_not_a_fits_file(tmp_path: Path, capsys: pytest.CaptureFixture, doc) -> None:
    # bound.json or a list used to be a KeyError/TypeError traceback with exit 1
    (tmp_path / "bound.json").write_text(json.dumps(doc))
    _fails(capsys, ["plot", RUNS, tmp_path / "bound.json", "-o", tmp_path / "s.png"], "is not a fits file")


def test_fit_refuses_to_overwrite_its_own_runs_table(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    # `fit runs.csv -o runs.csv` used to replace the runs table by fits.json
    runs = tmp_path / "runs.csv"
    runs.write_text(RUNS.read_text())
    _fails(capsys, ["fit", runs, "-o", tmp_path / "." / "runs.csv"], "is also an input")
    assert runs.read_text() == RUNS.read_text()


@needs_proc
@pytest.mark.parametrize("argv", [["fit", RUNS, "-o", UNWRITABLE / "fits.json"],
                                  ["plot", RUNS, RUNS.parent / "fits.json", "-o", UNWRITABLE / "s.png"],
                                  ["compare", RUNS, "-o", UNWRITABLE]])
def test_an_output_that_cannot_be_written_fails_before_the_work(capsys: pytest.CaptureFixture, argv: list) -> None:
    # an existing folder nothing can be written in (as a chmod 555 folder for a normal user) used
    # to be an OSError traceback after the fit, the figure or the bootstrap
    _fails(capsys, argv, "cannot write in output folder /proc")
