"""`python -m fits` on the files researchers get wrong: a header-only table, missing or infinite
sizes and errors, one column in two roles, a JSON that is not a fits file, an output that is the
input or cannot be written. Each is one line on stderr and exit code 2, before any work."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from fits.cli import main

RUNS = Path(__file__).resolve().parents[1] / "results" / "quickstart" / "runs.csv"
UNWRITABLE = Path("/proc")  # nothing can be created there, even by root
needs_proc = pytest.mark.skipif(not Path("/proc/self").exists(), reason="needs Linux /proc")


def _fails(capsys: pytest.CaptureFixture, argv: list[str], needle: str) -> str:
    """main(argv) exits 2 with exactly one stderr line that contains `needle`; the line."""
    assert main([str(a) for a in argv]) == 2
    err = capsys.readouterr().err
    assert needle in err and len(err.strip().splitlines()) == 1, err
    return err


def test_a_header_only_table_says_it_has_no_rows(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    # used to say "the status column has no 'ok' rows (it has )"
    (tmp_path / "runs.csv").write_text(RUNS.read_text().splitlines()[0] + "\n")
    _fails(capsys, ["fit", tmp_path / "runs.csv", "-o", tmp_path / "f.json"], "has a header but no rows")
    # an empty file said pandas' "No columns to parse from file", with no word of what to give
    (tmp_path / "empty.csv").write_text("")
    _fails(capsys, ["fit", tmp_path / "empty.csv", "-o", tmp_path / "f.json"], "is empty; give the table")


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
def test_an_output_that_cannot_be_written_fails_before_the_work(capsys: pytest.CaptureFixture,
                                                              monkeypatch: pytest.MonkeyPatch, argv: list) -> None:
    # an existing folder nothing can be written in (as a chmod 555 folder for a normal user) used
    # to be an OSError traceback after the fit, the figure or the bootstrap: the work must not start
    import fits.compare
    import fits.plot
    import fits.table

    def work(*args, **kw):
        pytest.fail("the work started before the output was checked")

    for mod, name in ((fits.table, "fit_runs"), (fits.plot, "plot_scaling"), (fits.compare, "compare_runs")):
        monkeypatch.setattr(mod, name, work)
    _fails(capsys, argv, "cannot write in output folder /proc")


# A curve must be one experiment: a group whose rows differ in a design column at one size pools
# several experiments as if they were seeds (the two ASG targets' tables concatenated: `--by condition`
# gave proxy0.1 C = 1.5e-09 where the per-target fits gave 0.201 and 0.455, exit 0, on the first sweep).

def _asg_both(tmp_path: Path) -> Path:
    results = Path(__file__).resolve().parents[1] / "results" / "asg"
    both = pd.concat([pd.read_csv(results / t / "runs.csv") for t in ("mnist5k", "sklearn_digits")])
    csv = tmp_path / "both.csv"
    both.to_csv(csv, index=False)
    return csv


def test_a_group_pooling_two_targets_is_refused_and_by_two_columns_fits_each(tmp_path):
    import fits

    csv = _asg_both(tmp_path)
    res = subprocess.run([sys.executable, "-m", "fits", "fit", str(csv), "--by", "condition", "-o",
                          str(tmp_path / "f.json")], capture_output=True, text=True)
    assert res.returncode == 2 and res.stderr.count("\n") == 1, res.stderr
    assert "group condition=handset pools runs that differ in 'target' (mnist5k, sklearn_digits)" in res.stderr
    assert "--by condition,target" in res.stderr and not (tmp_path / "f.json").exists()
    res = subprocess.run([sys.executable, "-m", "fits", "fit", str(csv), "--by", "condition,target", "-o",
                          str(tmp_path / "f.json")], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    doc = json.loads((tmp_path / "f.json").read_text())
    assert len(doc["groups"]) == 8 and doc["by"] == "condition,target"
    # each joined group is the per-target fit (the committed results/asg/<target>/fits.json)
    for target in ("mnist5k", "sklearn_digits"):
        one = pd.read_csv(Path(__file__).resolve().parents[1] / "results" / "asg" / target / "runs.csv")
        alone = fits.fit_runs(one, by="condition")
        for cond, g in alone["groups"].items():
            assert doc["groups"][f"{cond}/{target}"]["params"] == pytest.approx(g["params"])
    plot = subprocess.run([sys.executable, "-m", "fits", "plot", str(csv), str(tmp_path / "f.json"), "-o",
                           str(tmp_path / "s.png")], capture_output=True, text=True)
    assert plot.returncode == 0 and (tmp_path / "s.png").exists(), plot.stderr
    cmp = subprocess.run([sys.executable, "-m", "fits", "compare", str(csv), "--by", "condition",
                          "-o", str(tmp_path / "cmp")], capture_output=True, text=True)
    assert cmp.returncode == 2 and "pools runs that differ in 'target'" in cmp.stderr


def test_two_complexity_levels_under_one_generator_are_refused_in_the_api():
    import fits

    runs = pd.read_csv(Path(__file__).resolve().parents[1] / "results" / "quickstart" / "runs.csv")
    with pytest.raises(fits.FitInputError, match=r"group generator=shapes pools runs that differ in "
                                                 r"'complexity' \(1, 3\).*by='generator,complexity'"):  # the API's
        fits.fit_runs(runs, by="generator")
    with pytest.raises(fits.FitInputError, match=r"the table pools runs that differ in .complexity. \(1, 3\)"):
        fits.fit_runs(runs, by=None)
    res = fits.fit_runs(runs, by="generator,complexity")  # scratch rows: 'none/nan', no curve of their own
    assert list(res["groups"]) == ["shapes/1", "shapes/3"]
    assert list(fits.fit_runs(runs, by="complexity")["groups"]) == ["1", "3"]  # as `synthscale demo` writes


def test_compare_with_no_fittable_group_names_each_reason_in_one_line(tmp_path):
    df = pd.DataFrame({"complexity": [1, 1, 3, 3], "n_synth": [100, 200] * 2, "seed": 0,
                       "test_err": [0.5, 0.4, 0.6, 0.5]})
    csv = tmp_path / "two.csv"
    df.to_csv(csv, index=False)
    res = subprocess.run([sys.executable, "-m", "fits", "compare", str(csv), "-o", str(tmp_path / "c")],
                         capture_output=True, text=True)
    assert res.returncode == 2 and res.stderr.count("\n") == 1, res.stderr
    # every group, each reason once (it named the first group only)
    assert "no group could be fitted (complexity=1, complexity=3: " in res.stderr and "{" not in res.stderr


def test_a_reason_shared_by_many_groups_is_given_once() -> None:
    from fits.errors import none_fitted

    text = str(none_fitted("c", {str(i): f"reason {i % 5}" for i in range(12)}))
    assert text == ("no group could be fitted (c=0, c=5, c=10: reason 0; c=1, c=6, c=11: reason 1; c=2, c=7: "
                    "reason 2; and 2 other reasons)")
    assert str(none_fitted(None, {"all": "too few sizes"})) == "no group could be fitted (all: too few sizes)"


def test_the_bound_refuses_a_table_pooling_two_models(tmp_path):
    """bound fits one experiment over (n, s): two models' rows at the same sizes are refused."""
    import fits.bound

    rows = [{"model": m, "n_synth": n, "n_real": s, "seed": 0, "test_err": e * (n ** -0.3 + 0.5) * s ** -0.2}
            for m, e in (("resnet10t", 1.0), ("resnet18", 0.8)) for n in (100, 200, 400, 800)
            for s in (10, 20, 40)]
    df = pd.DataFrame(rows)
    with pytest.raises(fits.FitInputError, match=r"the table pools runs that differ in 'model' \(resnet10t, "
                                                 r"resnet18\) at the same n_synth and n_real"):
        fits.bound.check_bound(df, intervals=False)
    one = df[df["model"] == "resnet18"].astype({"model": object})
    one.loc[one.index[:3], "model"] = None  # blank in rows written before the column: not a second model
    res = fits.bound.check_bound(one, intervals=False)  # one model: fitted
    # check 2 reports betas (minus the log-log slopes), labelled as such; it said "log-log slopes"
    text = fits.bound.summary(res)
    assert res["beta_from_C"] == pytest.approx(0.2, abs=0.02) and "log-log slopes" not in text
    assert f"is {res['beta_from_C']:.3g} from C_s and {res['beta_from_D']:.3g} from D_s" in text


def test_pooling_is_refused_whichever_size_is_the_x_axis():
    """With --x n_real, runs of two pre-training sizes at one real size were fitted as seeds."""
    import fits

    rows = [{"generator": "shapes", "n_synth": n, "n_real": s, "seed": k,
             "test_err": (0.5 if n == 100 else 0.2) + s ** -0.5 + 0.01 * k}
            for n in (100, 100000) for s in (10, 20, 40, 80, 160) for k in range(3)]
    df = pd.DataFrame(rows)
    with pytest.raises(fits.FitInputError, match=r"differ in 'n_synth' \(100, 100000\) at the same n_real"):
        fits.fit_runs(df, x="n_real", by="generator")
    assert list(fits.fit_runs(df, x="n_real", by="n_synth")["groups"]) == ["100", "100000"]


def test_group_values_that_print_alike_are_refused_not_merged():
    import fits

    # two seeds per group: one seed twice at a size would be refused as a repeated measurement
    df = pd.DataFrame({"g": ["1"] * 8 + [1.0] * 8, "n_synth": [100, 200, 400, 800] * 4,
                       "seed": ([0] * 4 + [1] * 4) * 2,
                       "test_err": [0.5, 0.4, 0.35, 0.33] * 4})
    with pytest.raises(fits.FitInputError, match="several values that print as '1'"):
        fits.fit_runs(df, by="g")
    big = pd.DataFrame({"g": [1e19] * 4 + [2e19] * 4 + [np.nan], "n_synth": [100, 200, 400, 800] * 2 + [0],
                        "seed": 0, "test_err": [0.5, 0.4, 0.35, 0.33] * 2 + [0.9]})
    assert len(fits.fit_runs(big, by="g")["groups"]) == 2  # was a TypeError from the Int64 cast


def test_an_existing_writable_output_needs_no_new_file_beside_it(tmp_path):
    """out_file probed the folder even for an existing file: -o /proc/self/fd/1 (stdout) was refused."""
    from fits.cli import out_file

    assert out_file("/proc/self/fd/1") == Path("/proc/self/fd/1")
    runs = Path(__file__).resolve().parents[1] / "results" / "quickstart" / "runs.csv"
    fits_json = tmp_path / "f.json"
    assert main(["fit", str(runs), "-o", str(fits_json)]) == 0
    # plot honours the suffix of -o: f.json is no figure format, so it is refused and the fits file kept
    before = fits_json.read_text()
    assert main(["plot", str(runs), str(fits_json), "-o", str(fits_json)]) == 2
    assert fits_json.read_text() == before and not (tmp_path / "f.png").exists()


@pytest.mark.parametrize("cmd", [
    ["bound", RUNS, "--s", "no_such_column", "-o", "{new}"],
    ["compare", RUNS, "--by", "no_such_column", "-o", "{new}"],
    ["fit", RUNS, "--by", "no_such_column", "-o", "{new}/f.json"],
    ["plot", RUNS, RUNS, "-o", "{new}/s.png"],  # a runs table given as the fits file
])
def test_a_refused_input_leaves_no_output_folder(tmp_path: Path, capsys: pytest.CaptureFixture, cmd: list) -> None:
    # the output folder was created (to check it writable) before the table was read and checked,
    # and a refused table left it behind, empty
    new = tmp_path / "out" / "new"
    assert main([str(a).replace("{new}", str(new)) for a in cmd]) == 2
    assert "error" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
    (new / "keep").mkdir(parents=True)  # folders that were there before are kept, empty or not
    assert main([str(a).replace("{new}", str(new / "keep")) for a in cmd]) == 2
    assert (new / "keep").is_dir()


def test_a_pooled_table_leaves_no_compare_folder(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    _fails(capsys, ["compare", _asg_both(tmp_path), "--by", "condition", "-o", tmp_path / "cmp"],
           "pools runs that differ in 'target'")
    assert not (tmp_path / "cmp").exists()


@pytest.mark.parametrize("boot", ["5", "10000000000000"])  # 10^13 draws: a numpy traceback asking for 218 TiB
def test_compare_refuses_too_few_or_too_many_boot_draws_before_making_its_folder(tmp_path: Path, capsys,
                                                                                 boot: str) -> None:
    _fails(capsys, ["compare", RUNS, "--by", "complexity", "--boot", boot, "-o", tmp_path / "cmp"],
           f"--boot (n_boot) must be a whole number of bootstrap draws from 20 to 1,000,000, got {boot}")
    assert not (tmp_path / "cmp").exists()


def test_an_interrupted_command_leaves_no_empty_output_folder(tmp_path: Path, monkeypatch) -> None:
    import fits.bound

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(fits.bound, "check_bound", interrupted)
    assert main(["bound", str(RUNS), "--x", "n_synth", "--s", "seed", "-o", str(tmp_path / "b")]) == 130
    assert not (tmp_path / "b").exists()


# An exploratory tester's findings: each used to be a traceback, a silent change of the numbers or an
# unreadable output.

@pytest.mark.parametrize("cmd", [["fit"], ["compare"], ["bound"], ["plot", RUNS.parent / "fits.json"]])
def test_a_binary_or_non_utf8_runs_table_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture,
                                                     cmd: list) -> None:
    # a PNG or a CSV with byte 0xff used to be a UnicodeDecodeError traceback (exit 1)
    latin = tmp_path / "latin.csv"
    latin.write_bytes(RUNS.read_bytes().replace(b"fashion_mnist", b"fashion\xffmnist", 1))
    png = Path(__file__).resolve().parents[1] / "results" / "previews" / "shapes.png"
    for runs, byte in ((latin, "0xff"), (png, "0x89")):
        _fails(capsys, [cmd[0], runs, *cmd[1:], "-o", tmp_path / "out.png"],
               f"cannot read runs table {runs}: it is not UTF-8 text (it has byte {byte})")
    assert not (tmp_path / "out.png").exists()


def test_an_error_too_large_to_fit_leaves_its_group_unfitted(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    # test_err = 1e300 used to crash fit and compare with scipy's "Residuals are not finite in the initial point"
    df = pd.read_csv(RUNS)
    df.loc[5, "test_err"] = 1e300  # complexity 1
    df.to_csv(tmp_path / "runs.csv", index=False)
    assert main(["fit", str(tmp_path / "runs.csv"), "-o", str(tmp_path / "f.json")]) == 0
    groups = json.loads((tmp_path / "f.json").read_text())["groups"]
    assert "errors must be below 1e+100" in groups["1"]["error"] and "params" in groups["3"]
    assert "not fitted: y has errors too large to fit (max 1e+300)" in capsys.readouterr().out
    df[df["complexity"] != 3].to_csv(tmp_path / "one.csv", index=False)  # no group left: exit 2, fast
    _fails(capsys, ["compare", tmp_path / "one.csv", "-o", tmp_path / "c"], "errors too large to fit")


@pytest.mark.parametrize("cmd", [["fit", "--x", "n_synth"], ["compare", "--x", "n_synth"], ["bound", "--s", "n_real"]])
def test_a_size_too_large_to_fit_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture, cmd: list) -> None:
    # n_synth = 1e308 gave overflow warnings and a "sizes to predict at" message in fit, and compare
    # exited 0 with a 300-digit size in its decision sentence
    df = pd.read_csv(RUNS).astype({"n_synth": float, "n_real": float})
    df.loc[13, cmd[2]] = 1e308
    df.to_csv(tmp_path / "runs.csv", index=False)
    _fails(capsys, [cmd[0], tmp_path / "runs.csv", *cmd[1:], "-o", tmp_path / "out"],
           f"column {cmd[2]!r} has sizes too large to fit, the first 1e+308 at row 13 (line 15 of a CSV")


@pytest.mark.parametrize("table, needle", [
    (lambda d: pd.concat([d, d]), "run_id d7349f5da5ca, n_real 100 appears twice, at rows 0 and 26 (lines 2 and 28"),
    (lambda d: pd.concat([d, d]).drop(columns="n_real"), "run_id d7349f5da5ca appears twice"),
    (lambda d: pd.concat([d, d.iloc[[7]].assign(run_id="again")]).drop(columns="n_real"),
     "rows 7 and 26 (lines 9 and 28 of a CSV with a header) repeat one measurement (complexity=1, n_synth=320, "
     "seed=1, same design)"),
    (lambda d: pd.concat([d, d]).drop(columns="run_id"), "rows 0 and 26 (lines 2 and 28"),
    # a scratch row has no complexity: the message said complexity=nan
    (lambda d: pd.concat([d, d.iloc[[1]].assign(run_id="again")]).drop(columns="n_real"),
     "rows 1 and 26 (lines 3 and 28 of a CSV with a header) repeat one measurement (complexity=(empty), "
     "n_synth=0, seed=1, same design)"),
])
def test_a_repeated_run_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture, table, needle: str) -> None:
    # the table concatenated with itself used to fit, with narrower intervals (each run counted twice)
    table(pd.read_csv(RUNS)).to_csv(tmp_path / "runs.csv", index=False)
    for cmd in (["fit", "-o", tmp_path / "f.json"], ["compare", "-o", tmp_path / "c"]):
        _fails(capsys, [cmd[0], tmp_path / "runs.csv", *cmd[1:]], needle)


@pytest.mark.parametrize("value", [np.nan, " "])
def test_a_missing_seed_is_refused_with_its_line(tmp_path: Path, capsys: pytest.CaptureFixture, value) -> None:
    # a NaN or empty seed was fitted as a seed of its own and changed the intervals, exit 0
    df = pd.read_csv(RUNS).astype({"seed": object})
    df.loc[5, "seed"] = value
    df.to_csv(tmp_path / "runs.csv", index=False)
    _fails(capsys, ["fit", tmp_path / "runs.csv", "-o", tmp_path / "f.json"],
           "column 'seed' has 1 missing value(s), the first at row 5 (line 7 of a CSV with a header)")


def test_a_column_named_twice_in_by_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    # --by complexity,complexity used to fit groups labelled "1/1" and "3/3"
    _fails(capsys, ["fit", RUNS, "--by", "complexity,complexity", "-o", tmp_path / "f.json"],
           "--by complexity,complexity names column 'complexity' twice")


def test_plot_honours_the_figure_suffix_or_lists_those_it_can_write(tmp_path: Path,
                                                                    capsys: pytest.CaptureFixture) -> None:
    # -o p.jpg used to write p.png and p.pdf, without a word about the .jpg
    fits_json = RUNS.parent / "fits.json"
    assert main(["plot", str(RUNS), str(fits_json), "-o", str(tmp_path / "p.jpg")]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p.jpg", "p.pdf"]
    assert (tmp_path / "p.jpg").read_bytes()[:2] == b"\xff\xd8"  # a JPEG, not a PNG under another name
    _fails(capsys, ["plot", RUNS, fits_json, "-o", tmp_path / "p.xyz"], "cannot write a figure as p.xyz: give a suffix")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p.jpg", "p.pdf"]


def test_compare_with_one_group_writes_a_pairs_table_with_its_header(tmp_path: Path) -> None:
    # compare_pairs.csv was a 0-byte file that pd.read_csv cannot read
    df = pd.read_csv(RUNS)
    df[df["complexity"] != 3].to_csv(tmp_path / "runs.csv", index=False)
    assert main(["compare", str(tmp_path / "runs.csv"), "-o", str(tmp_path / "c")]) == 0
    pairs = pd.read_csv(tmp_path / "c" / "compare_pairs.csv")
    assert pairs.empty and list(pairs.columns[:4]) == ["a", "b", "d_alpha", "d_alpha_lo"]


def test_bound_says_a_negative_fine_tuning_size_must_be_above_0(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    # said "sizes must be >= 0 (0 = the scratch baseline)", then refused 0 as the fine-tuning size
    df = pd.read_csv(RUNS)
    df.loc[3, "n_real"] = -5
    df.to_csv(tmp_path / "runs.csv", index=False)
    _fails(capsys, ["bound", tmp_path / "runs.csv", "-o", tmp_path / "b"],
           "column 'n_real' has negative sizes (min -5); n_real must be > 0 (it is the fine-tuning size)")


def test_a_mistyped_column_names_the_one_it_resembles(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    # the line listed all 37 columns of the quickstart table and left the reader to spot test_err
    _fails(capsys, ["fit", RUNS, "--y", "test_eror", "-o", tmp_path / "f.json"],
           "column(s) ['test_eror'] not in the table (did you mean 'test_err'?); it has ['run_id'")
    _fails(capsys, ["compare", RUNS, "--by", "complexty", "-o", tmp_path / "cmp"], "(did you mean 'complexity'?)")
    _fails(capsys, ["fit", RUNS, "--by", "zzzz", "-o", tmp_path / "f.json"], "['zzzz'] not in the table; it has")
    # the list named the column --by a,b is joined into, which the table does not have
    err = _fails(capsys, ["fit", RUNS, "--by", "complexity,n_real", "--x", "n_synt", "-o", tmp_path / "f.json"],
                 "(did you mean 'n_synth'?)")
    assert "'complexity,n_real'" not in err and "'torch_threads']" in err, err


def test_a_header_named_twice_after_trimming_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    # "complexity" and "complexity " used to end in a pandas traceback (Grouper not 1-dimensional), exit 1
    df = pd.read_csv(RUNS)
    df.insert(len(df.columns), "complexity ", df["complexity"])
    df.to_csv(tmp_path / "runs.csv", index=False)
    for cmd in (["fit", "-o", tmp_path / "f.json"], ["compare", "-o", tmp_path / "c"], ["bound", "-o", tmp_path / "b"]):
        _fails(capsys, [cmd[0], tmp_path / "runs.csv", *cmd[1:]], "has the column 'complexity' twice")


def test_plot_to_a_folder_is_refused_not_written_beside_it(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    # `plot -o figs/` used to write figs.png and figs.pdf next to the folder
    assert main(["fit", str(RUNS), "-o", str(tmp_path / "fits.json")]) == 0
    (tmp_path / "figs").mkdir()
    for out in (f"{tmp_path / 'figs'}/", str(tmp_path / "figs"), f"{tmp_path / 'new'}/"):
        _fails(capsys, ["plot", RUNS, tmp_path / "fits.json", "-o", out], "is a folder")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["figs", "fits.json"]


def test_a_table_without_a_default_column_names_the_option_that_sets_it(tmp_path: Path, capsys) -> None:
    # bound on a two-column table said "column(s) ['n_real'] not in the table", not that it is --s's default
    pd.DataFrame({"n": [10, 20, 40], "err": [0.5, 0.4, 0.35]}).to_csv(tmp_path / "t.csv", index=False)
    for argv, opt, what in ((["bound", "--x", "n", "--y", "err"], "s", "fine-tuning size"),
                            (["fit", "--y", "err", "--by", ""], "x", "size"),
                            (["compare", "--x", "n", "--by", ""], "y", "error")):
        default = {"x": "n_synth", "y": "test_err", "s": "n_real"}[opt]
        _fails(capsys, [argv[0], tmp_path / "t.csv", *argv[1:], "-o", tmp_path / "out"],
               f"column {default!r} (the default --{opt}) is not in {tmp_path / 't.csv'}: name its {what} column "
               f"with --{opt} COLUMN; it has ['n', 'err']")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.csv"]


def test_a_table_without_the_default_group_column_says_how_to_fit_it(tmp_path: Path, capsys) -> None:
    # a table of one curve (no complexity column) used to get "column(s) ['complexity'] not in the
    # table" with no way to say "no grouping": --by '' used to be "column(s) [''] not in the table"
    rows = pd.DataFrame({"n_synth": [10, 20, 40, 80, 160], "test_err": [0.5, 0.4, 0.35, 0.33, 0.32]})
    rows.to_csv(tmp_path / "one.csv", index=False)
    for cmd in (["fit", "-o", tmp_path / "f.json"], ["compare", "-o", tmp_path / "c"]):
        _fails(capsys, [cmd[0], tmp_path / "one.csv", *cmd[1:]], "(the default --by) is not in")
        assert main([str(a) for a in [cmd[0], tmp_path / "one.csv", "--by", "", *cmd[1:]]]) == 0
    out = capsys.readouterr().out
    assert "\nall " in out and "None" not in out
    assert list(json.loads((tmp_path / "f.json").read_text())["groups"]) == ["all"]


def test_compare_groups_csv_keeps_a_group_that_could_not_be_fitted(tmp_path: Path, capsys) -> None:
    # the report said "complexity=3: not fitted", the CSV silently had complexity 1 only
    df = pd.read_csv(RUNS)
    df = df[(df["complexity"] != 3) | (df["n_synth"] == df.loc[df["complexity"] == 3, "n_synth"].max())]
    df.to_csv(tmp_path / "runs.csv", index=False)
    assert main(["compare", str(tmp_path / "runs.csv"), "-o", str(tmp_path / "c")]) == 0
    groups = pd.read_csv(tmp_path / "c" / "compare_groups.csv")
    assert groups["complexity"].tolist() == [1, 3]
    assert groups["error"].isna().tolist() == [True, False] and "3 distinct sizes" in groups["error"][1]
    assert np.isnan(groups["alpha"][1]) and np.isfinite(groups["alpha"][0])


@pytest.mark.parametrize("text, needle", [
    ("n_synth\ttest_err\n100\t0.3\n", "reads as one column: it is separated by tabs, not commas"),
    ("n_synth;test_err\n100;0.3\n", "reads as one column: it is separated by semicolons, not commas"),
    # a trailing comma: pandas took the sizes for the index and said the errors were missing
    ("n_synth,test_err\n100,0.3,\n200,0.2,\n400,0.1,\n", "its rows have more fields than its header has names"),
])
def test_a_table_that_is_not_plain_csv_says_what_it_is(tmp_path: Path, capsys: pytest.CaptureFixture,
                                                       text: str, needle: str) -> None:
    (tmp_path / "t.csv").write_text(text)
    _fails(capsys, ["fit", tmp_path / "t.csv", "--by", "", "-o", tmp_path / "f.json"], needle)


@pytest.mark.parametrize("sep, name", [("\t", "tabs"), (";", "semicolons")])
def test_a_real_runs_table_saved_with_another_separator_says_so(tmp_path: Path, capsys: pytest.CaptureFixture,
                                                                sep: str, name: str) -> None:
    # its knobs JSON holds commas, so pandas split rows into fields and said "Error tokenizing data"
    df = pd.read_csv(RUNS)
    assert df["knobs"].str.contains(",").any()
    df.to_csv(tmp_path / "t.csv", sep=sep, index=False)
    _fails(capsys, ["fit", tmp_path / "t.csv", "-o", tmp_path / "f.json"],
           f"reads as one column: it is separated by {name}, not commas")


def test_fit_help_offers_the_laws_fit_takes() -> None:
    # it offered transfer_bound, which fit always refuses (it is `synthscale bound`'s)
    text = subprocess.run([sys.executable, "-m", "fits", "fit", "--help"], capture_output=True, text=True,
                          check=True).stdout
    assert "{bnsl,m4,power,power_floor,auto}" in text and "`synthscale bound`" in " ".join(text.split())


def test_fit_outputs_that_name_a_folder_or_lie_under_a_file(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    # `-o new/` wrote a file named new; under a file, mkdir's "File exists"
    _fails(capsys, ["fit", RUNS, "-o", f"{tmp_path / 'new'}/"],
           f"is a folder; give a file path, e.g. {tmp_path / 'new' / 'fits.json'}")
    assert not (tmp_path / "new").exists()
    # each command's example is a file of its own kind (fit-bench's said "e.g. DIR/fits.json")
    _fails(capsys, ["plot", RUNS, RUNS, "-o", tmp_path], f"e.g. {tmp_path / 'scaling.png'}")
    _fails(capsys, ["fit-bench", "-o", tmp_path], f"e.g. {tmp_path / 'fits_bench.md'}")
    _fails(capsys, ["fit", RUNS, "-o", RUNS.parent / "runs.csv" / "f.json"], "runs.csv is a file, not a folder")


@pytest.mark.parametrize("by", [",", "complexity,"])
def test_by_with_an_empty_column_name_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture, by: str) -> None:
    with pytest.raises(SystemExit) as exc:  # argparse's one line; it said "names column '' twice"
        main(["fit", str(RUNS), "--by", by, "-o", str(tmp_path / "f.json")])
    assert exc.value.code == 2 and "has an empty column name" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())


def test_bound_and_compare_take_by_empty_as_one_curve(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    df = pd.read_csv(RUNS)
    one = df[df.complexity.isna() | (df.complexity == 1)]
    one.to_csv(tmp_path / "one.csv", index=False)
    assert main(["compare", str(tmp_path / "one.csv"), "--by", "", "-o", str(tmp_path / "c")]) == 0
    assert pd.read_csv(tmp_path / "c" / "compare_groups.csv").columns[0] == "group"  # was an empty header
    # bound said "column(s) [''] not in the table"; now it fits the whole table (and needs 2+ sizes s)
    _fails(capsys, ["bound", tmp_path / "one.csv", "--by", "", "-o", tmp_path / "b"], "at least 2 distinct n_real")


def test_the_decision_reads_the_same_at_any_scale_of_the_errors(tmp_path: Path) -> None:
    # errors of 1e-10: every D and C printed as 0, and the decision said "C = 0 [0, 0] is 0 (no floor)"
    from fits.compare import compare_runs, report

    df = pd.read_csv(RUNS)
    tiny = df.assign(test_err=df.test_err * 1e-10)
    normal, scaled = compare_runs(df), compare_runs(tiny)
    tail = lambda d: [s.rsplit(": ", 1)[-1] for s in d["groups"]["decision"]]  # noqa: E731
    assert tail(normal) == tail(scaled)
    assert "C = 0 [0, 0]" not in report(scaled)


@pytest.mark.parametrize("edit, needle", [("level", "TypeError"), ("lo", "KeyError: 'lo'")])
def test_plot_of_a_hand_edited_fits_json_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture,
                                                     edit: str, needle: str) -> None:
    assert main(["fit", str(RUNS), "-o", str(tmp_path / "f.json")]) == 0
    doc = json.loads((tmp_path / "f.json").read_text())
    if edit == "level":
        doc["level"] = "95%"
    else:
        del next(iter(doc["groups"].values()))["curve"]["lo"]
    (tmp_path / "f.json").write_text(json.dumps(doc))
    capsys.readouterr()
    _fails(capsys, ["plot", RUNS, tmp_path / "f.json", "-o", tmp_path / "p.png"], needle)


def test_plot_of_another_table_says_so_not_write_the_fits_again(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """The right message ("the runs table and the fits file disagree") came wrapped in "a field is
    missing or not as `fit` writes it ...; write it again", pointing at the wrong file."""
    asg = RUNS.parents[1] / "asg" / "mnist5k" / "runs.csv"
    assert main(["plot", str(asg), str(RUNS.parent / "fits.json"), "-o", str(tmp_path / "x.png")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("python -m fits: error: the runs table and the fits file disagree"), err
    assert "write it again" not in err and len(err.splitlines()) == 1, err
    assert not list(tmp_path.iterdir())


def test_plot_of_a_hand_edited_fits_file_still_says_write_it_again(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    doc = json.loads((RUNS.parent / "fits.json").read_text())
    doc["groups"]["1"]["curve"] = "gone"
    (tmp_path / "f.json").write_text(json.dumps(doc))
    _fails(capsys, ["plot", RUNS, tmp_path / "f.json", "-o", tmp_path / "x.png"], "write it again with")


@pytest.mark.parametrize("argv", [["fitt"], ["fit", "--law", "nope", "runs.csv"], ["compare"]])
def test_python_m_fits_says_a_bad_option_in_one_line(capsys: pytest.CaptureFixture, argv: list) -> None:
    # argparse printed its usage block first, 10-15 lines before the one that says what is wrong
    with pytest.raises(SystemExit) as exc:
        main(argv)
    err = capsys.readouterr().err
    assert exc.value.code == 2 and len(err.splitlines()) == 1, err
    assert err.startswith("python -m fits") and "error:" in err and "--help)" in err, err


def test_runs_on_two_test_subsets_are_not_pooled_as_seeds() -> None:
    # collect records target.test_size as n_test only; fits pooled seeds tested on 2000 and 10000
    # images into one curve, without a word
    import fits

    df = pd.read_csv(Path(__file__).resolve().parents[1] / "results" / "quickstart" / "runs.csv")
    assert df["seed"].nunique() == 2 and df["n_test"].nunique() == 1
    df.loc[df["seed"] == df["seed"].max(), "n_test"] = 10000
    with pytest.raises(fits.FitInputError, match=r"pools runs that differ in .n_test' \(2000, 10000\)"):
        fits.fit_runs(df, by="complexity")


def test_fit_replaces_a_fits_file_but_not_another_file(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    # `fit runs.csv -o keep.csv` replaced another runs table with JSON, exit 0
    keep = tmp_path / "keep.csv"
    keep.write_bytes(Path(RUNS).read_bytes())
    _fails(capsys, ["fit", RUNS, "--by", "complexity", "-o", keep], "exists and is not JSON")
    assert keep.read_bytes() == Path(RUNS).read_bytes()
    out = tmp_path / "fits.json"
    out.write_text('{"x": "n_synth", "gro')  # a fits file cut short: what the messages say to rewrite
    assert main(["fit", str(RUNS), "--by", "complexity", "-o", str(out)]) == 0
    assert main(["fit", str(RUNS), "--by", "complexity", "--law", "power", "-o", str(out)]) == 0  # its own: replaced
    assert json.loads(out.read_text())["law"] == "power"


@pytest.mark.parametrize("content, needle", [
    ('{"x": "n_synth", "groups": {}}\n', "is a JSON file, not a runs table"),
    ("name: q\nsynth: {generator: shapes, n: 64}\n", "not a CSV table of runs (its first line has no commas)"),
    ("name: q\n", "not a CSV table of runs"),  # was "has a header but no rows"
    ("# Notes\n\nrun a, then b\nand c, d, e\n", "not a CSV table of runs"),
])
def test_a_file_that_is_not_a_runs_table_says_so_in_one_line(tmp_path: Path, capsys: pytest.CaptureFixture,
                                                             content: str, needle: str) -> None:
    # plot's two files swapped gave pandas' "Error tokenizing data ..." on two lines; a fits.json or a
    # YAML given to compare was "its rows have more fields than its header (a comma at the end ...?)"
    bad = tmp_path / "not_runs.txt"
    bad.write_text(content)
    for argv in (["fit", bad, "-o", tmp_path / "f.json"], ["compare", bad, "-o", tmp_path / "c"],
                 ["plot", bad, RUNS.parent / "fits.json", "-o", tmp_path / "p.png"]):
        err = _fails(capsys, argv, needle)
        assert "more fields than its header" not in err, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["not_runs.txt"]


def test_a_compressed_runs_table_is_read(tmp_path: Path) -> None:
    # pandas reads runs.csv.gz by its name; a check of the raw bytes' first line refused most of them
    import gzip

    gz = tmp_path / "runs.csv.gz"
    gz.write_bytes(gzip.compress(Path(RUNS).read_bytes(), mtime=39))
    assert main(["fit", str(gz), "--by", "complexity", "-o", str(tmp_path / "f.json")]) == 0


def test_a_runs_table_given_as_the_fits_file_says_so(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    # it said "cannot read fits file runs.csv: Expecting value: line 1 column 1 (char 0)"
    _fails(capsys, ["plot", RUNS, RUNS, "-o", tmp_path / "s.png"],
           "is not JSON (Expecting value: line 1 column 1 (char 0)): give the fits.json that `synthscale fit` "
           "wrote (plot takes the runs table first, then the fits file)")
    assert not list(tmp_path.iterdir())


def test_plot_says_which_rows_it_leaves_out_when_the_fit_covers_part_of_the_table(tmp_path: Path, capsys) -> None:
    # a fit of complexity 1 drawn over the whole table silently dropped complexity 3
    runs = pd.read_csv(RUNS)
    runs[(runs["complexity"] == 1) | (runs["n_synth"] == 0)].to_csv(tmp_path / "one.csv", index=False)
    assert main(["fit", str(tmp_path / "one.csv"), "-o", str(tmp_path / "f.json")]) == 0
    capsys.readouterr()
    assert main(["plot", str(RUNS), str(tmp_path / "f.json"), "-o", str(tmp_path / "all.png")]) == 0
    n_left = int(((runs["complexity"] == 3) & (runs["n_synth"] > 0)).sum())
    assert capsys.readouterr().err == (f"note: {n_left} row(s) of the table are in no group of {tmp_path / 'f.json'} "
                                       "and are not drawn (complexity = 3); fit the whole table to draw them\n")
    assert main(["plot", str(tmp_path / "one.csv"), str(tmp_path / "f.json"), "-o", str(tmp_path / "one.png")]) == 0
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize("cmd, in_the_way, needle", [
    # each was found only after every fit: IsADirectoryError / FileExistsError tracebacks, or a hint
    # to rename a file the user cannot name
    (["compare", RUNS, "--by", "complexity"], "compare_groups.csv/", "compare_groups.csv is a folder where compare"),
    (["compare", RUNS, "--by", "complexity"], "forest.png/", "forest.png is a folder where compare writes"),
    (["bound", "{bound}", "--by", "complexity"], "complexity=1",
     "complexity=1 is a file where bound writes its folder"),
    (["bound", "{bound}"], "bound.png/", "bound.png is a folder where bound writes its file"),
])
def test_a_fixed_output_name_in_the_way_is_refused_before_the_work(tmp_path, capsys, monkeypatch, cmd, in_the_way,
                                                                    needle):
    import fits.bound
    import fits.compare

    table = tmp_path / "bound.csv"  # two real sizes per curve, as bound needs
    rows = pd.read_csv(RUNS)
    pd.concat([rows, rows.assign(n_real=1000, test_err=rows.test_err * 0.8)]).to_csv(table, index=False)
    for mod, name in ((fits.compare, "compare_runs"), (fits.bound, "check_bound")):
        monkeypatch.setattr(mod, name, lambda *a, **k: pytest.fail("the work started before the outputs were checked"))
    out = tmp_path / "out"
    (out / in_the_way).mkdir(parents=True) if in_the_way.endswith("/") else (out.mkdir(), (out / in_the_way).touch())
    _fails(capsys, [str(a).format(bound=table) for a in cmd] + ["-o", out], needle)


def test_compare_by_a_column_named_error_keeps_its_values(tmp_path):
    # the groups CSV's own `error` column (why a group was not fitted) wrote '' over the group values
    table = tmp_path / "t.csv"
    pd.read_csv(RUNS).rename(columns={"complexity": "error"}).to_csv(table, index=False)
    assert main(["compare", str(table), "--by", "error", "-o", str(tmp_path / "c")]) == 0
    groups = pd.read_csv(tmp_path / "c" / "compare_groups.csv")
    assert groups["error (group)"].tolist() == [1.0, 3.0] and groups["error"].isna().all(), groups.columns


def test_a_figure_named_with_an_upper_case_pdf_suffix_is_one_file():
    # -o up.PDF wrote up.PDF and up.pdf; the docs say -o p.pdf writes p.pdf alone
    from fits.plot import figure_paths

    assert figure_paths("up.PDF") == [Path("up.PDF")] and figure_paths("p.pdf") == [Path("p.pdf")]
    assert figure_paths("s.png") == [Path("s.png"), Path("s.pdf")] and figure_paths("s") == [Path("s.png"), Path("s.pdf")]


def test_group_names_with_dollar_signs_are_drawn_as_written(tmp_path):
    # matplotlib read them as math text: compare ended in a ParseException traceback after every fit
    # (compare.txt never written), plot blamed fits.json, and 'cost$_1$' was drawn with a subscript
    table = tmp_path / "t.csv"
    rows = pd.read_csv(RUNS)
    rows["gen"] = rows["complexity"].map({1: r"a$\frac$", 3: "cost$_1$"})
    rows.to_csv(table, index=False)
    assert main(["compare", str(table), "--by", "gen", "-o", str(tmp_path / "c")]) == 0
    assert "gen=cost$_1$" in (tmp_path / "c" / "compare.txt").read_text()
    assert main(["fit", str(table), "--by", "gen", "-o", str(tmp_path / "f.json")]) == 0
    import fits.plot

    fig = fits.plot.scaling_figure(rows, json.loads((tmp_path / "f.json").read_text()))
    fits.plot.save(fig, tmp_path / "s.png")
    legend = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert any(t.startswith(r"gen=cost\$_1\$:") for t in legend), legend


def test_plot_refuses_a_fits_file_made_from_other_values_of_the_same_design(tmp_path, capsys):
    # only the row counts were compared: the mnist5k fit drawn over the sklearn_digits table (the
    # same 4 conditions x 5 sizes x 2 seeds), or over errors halved, was drawn without a word
    rows = pd.read_csv(RUNS)
    assert main(["fit", str(RUNS), "--by", "complexity", "-o", str(tmp_path / "f.json")]) == 0
    rows.assign(test_err=rows.test_err / 2).to_csv(tmp_path / "halved.csv", index=False)
    _fails(capsys, ["plot", tmp_path / "halved.csv", tmp_path / "f.json", "-o", tmp_path / "p.png"],
           "the runs table and the fits file disagree: complexity=1's test_err values here sum to")
    rows.iloc[::-1].to_csv(tmp_path / "reordered.csv", index=False)  # the same rows in another order: drawn
    assert main(["plot", str(tmp_path / "reordered.csv"), str(tmp_path / "f.json"), "-o", str(tmp_path / "q.png")]) == 0


def test_bound_by_keeps_the_users_grouping_in_its_hint_and_fits_order(tmp_path, capsys):
    # the hint said "--by complexity", which then pooled the generators; groups came in text order (2048 before 512)
    sweep = Path(__file__).resolve().parents[1] / "results" / "fits_tuning_sweep" / "runs.csv"
    _fails(capsys, ["bound", sweep, "--by", "generator", "-o", tmp_path / "b"], "group by both: --by generator,complexity")
    rows = pd.read_csv(RUNS)
    two_s = pd.concat([rows, rows.assign(n_real=1000, test_err=rows.test_err * 0.8)])
    both = pd.concat([two_s.assign(budget=512),
                      two_s.assign(budget=2048, test_err=two_s.test_err * 0.9, run_id=two_s.run_id + "b")])
    both.to_csv(tmp_path / "t.csv", index=False)
    main(["bound", str(tmp_path / "t.csv"), "--by", "complexity,budget", "-o", str(tmp_path / "o")])
    heads = [ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("== ")]
    assert heads == [f"== complexity,budget={c}/{b} ==" for c in (1, 3) for b in (512, 2048)], heads


def test_bound_checks_on_unidentified_per_s_fits_are_marked_not_to_be_read(tmp_path):
    # shapes/0 of the tuning sweep: both per-s fits unidentifiable (D_s 5.6e-09 [1e-09, 0.43]), yet
    # check 1 read "inside 100 %" and check 2 "beta 10.1 from C_s", and bound.json had no caveat
    sweep = pd.read_csv(Path(__file__).resolve().parents[1] / "results" / "fits_tuning_sweep" / "runs.csv")
    one = sweep[(sweep.generator.isin(["shapes", "none"])) & (sweep.complexity.isna() | (sweep.complexity == 0))]
    one.to_csv(tmp_path / "t.csv", index=False)
    assert main(["bound", str(tmp_path / "t.csv"), "-o", str(tmp_path / "b")]) == 0
    caveat = json.loads((tmp_path / "b" / "bound.json").read_text())["checks_caveat"]
    assert caveat == "2 of the 2 per-n_real fits do not tell D_s and C_s apart (unidentifiable: see their flags)"
    text = (tmp_path / "b" / "bound.txt").read_text()
    assert all(f"(not to be read: {caveat})" in ln for ln in text.splitlines() if ln.startswith("check ")), text


def test_tiny_errors_print_their_floor_in_the_legend_and_their_scratch_in_the_table(tmp_path, capsys):
    # errors of 1e-10: the table printed C 2e-11 [...], but the legend read "C=0" and the scratch column 0
    from fits.plot import legend_label

    rows = pd.read_csv(RUNS)
    rows.assign(test_err=rows.test_err * 1e-10).to_csv(tmp_path / "t.csv", index=False)
    assert main(["fit", str(tmp_path / "t.csv"), "--by", "complexity", "-o", str(tmp_path / "f.json")]) == 0
    table = capsys.readouterr().out
    doc = json.loads((tmp_path / "f.json").read_text())
    assert "C=3.17e-11" in legend_label(doc, "1"), legend_label(doc, "1")
    assert "3.69e-11" in table.splitlines()[2], table  # the scratch mean, 0.3685 x 1e-10


def test_a_bound_figure_of_bound_by_names_its_group(tmp_path, monkeypatch):
    # each group's bound.png had the same kind of title and said nothing of which group it was
    import fits.plot

    titles = []
    monkeypatch.setattr(fits.plot, "save", lambda fig, out: titles.append(fig.axes[0].get_title()) or [])
    rows = pd.read_csv(RUNS)
    pd.concat([rows, rows.assign(n_real=1000, test_err=rows.test_err * 0.8)]).to_csv(tmp_path / "t.csv", index=False)
    main(["bound", str(tmp_path / "t.csv"), "--by", "complexity", "-o", str(tmp_path / "b")])
    assert [t.split(": bound:")[0] for t in titles] == ["complexity=1", "complexity=3"], titles


@pytest.mark.parametrize("argv", [["fit", RUNS], ["plot", RUNS, "fits.json"], ["compare", RUNS], ["bound", RUNS],
                                  ["fit-bench", "--lcdb", "sample", "--limit", "1"], ["paper-reanalysis"]])
def test_an_empty_output_path_is_refused_not_read_as_this_folder(tmp_path: Path, capsys, monkeypatch,
                                                                 argv: list) -> None:
    # -o '' wrote into the current folder; fit-bench's guard for its committed report let '' by and
    # then wrote a partial report over results/fits_bench.md
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as info:
        main([str(a) for a in argv] + ["-o", ""])
    err = capsys.readouterr().err
    assert info.value.code == 2 and len(err.strip().splitlines()) == 1, err
    assert "argument -o/--output: empty; give a path (. for this folder)" in err
    assert list(tmp_path.iterdir()) == []


def test_fit_bench_refuses_to_overwrite_a_file_that_is_not_its_report(tmp_path: Path, capsys) -> None:
    keep = tmp_path / "runs.csv"
    keep.write_bytes(RUNS.read_bytes())
    _fails(capsys, ["fit-bench", "--lcdb", "sample", "--limit", "1", "--paper-limit", "1", "-o", keep],
           f"-o {keep} exists and is not a fit-bench report")
    assert keep.read_bytes() == RUNS.read_bytes()


def test_ctrl_c_is_one_line_that_does_not_promise_a_resume(tmp_path: Path, capsys, monkeypatch) -> None:
    # `python -m fits compare` printed a 40-line KeyboardInterrupt traceback; under `synthscale` the
    # line said "finished work is kept, run the same command again to resume", which fits commands never do
    import fits.compare
    from bench.cli import main as synthscale

    def ctrl_c(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(fits.compare, "compare_runs", ctrl_c)
    for run, prog in ((main, "python -m fits"), (synthscale, "synthscale")):
        assert run(["compare", str(RUNS), "-o", str(tmp_path / "c")]) == 130
        err = capsys.readouterr().err.strip()
        assert err == f"{prog}: interrupted; this command does not resume: run it again to start over", err


def test_an_unusable_cache_folder_is_one_line(tmp_path: Path, capsys, monkeypatch) -> None:
    # SYNTHSCALE_CACHE naming a file gave a 24-line NotADirectoryError traceback
    cache = tmp_path / "notes.txt"
    cache.write_text("a file\n")
    monkeypatch.setenv("SYNTHSCALE_CACHE", str(cache))
    _fails(capsys, ["fit-bench", "--lcdb", "full", "--limit", "1", "--paper-limit", "1", "-o", tmp_path / "b.md"],
           f"cannot make the cache folder {cache / 'lcdb'} (Not a directory): set SYNTHSCALE_CACHE to a "
           "writable folder")


def _two_real_sizes() -> pd.DataFrame:
    """The quickstart table fine-tuned at two real sizes: a table `bound --by complexity` fits."""
    rows = pd.read_csv(RUNS)
    return pd.concat([rows, rows.assign(n_real=1000, test_err=rows.test_err * 0.8)], ignore_index=True)


def test_rows_left_out_for_their_status_are_named_once_per_command(tmp_path: Path, capsys) -> None:
    # a blank status on the largest size's rows made fit use 4 of 5 sizes (alpha 0.494 -> 0.417) without
    # a word, as did compare and bound; 'OK' and 'ok ' (a spreadsheet's) were left out the same way
    rows = pd.read_csv(RUNS)
    rows.loc[[12, 13], "status"] = np.nan  # complexity 1 at 10000: a blank cell
    rows.loc[25, "status"] = "failed"
    rows.loc[2:7, "status"] = "OK"
    rows.loc[8, "status"] = "ok "
    rows.to_csv(tmp_path / "t.csv", index=False)
    note = "note: left out 3 of 26 rows whose status is not 'ok' (blank: 2, failed: 1)\n"
    for argv in (["fit", "-o", tmp_path / "f.json"], ["compare", "-o", tmp_path / "c"],
                 ["plot", tmp_path / "f.json", "-o", tmp_path / "s.png"]):  # two groups: one note each
        assert main([argv[0], str(tmp_path / "t.csv"), *map(str, argv[1:])]) == 0
        assert capsys.readouterr().err == note, argv
    groups = json.loads((tmp_path / "f.json").read_text())["groups"]
    assert [(groups[k]["n_sizes"], groups[k]["n_points"]) for k in ("1", "3")] == [(5, 10), (6, 11)]
    both = _two_real_sizes()
    both.loc[[12, 40], "status"] = ""  # one row in each complexity
    both.to_csv(tmp_path / "b.csv", index=False)
    assert main(["bound", str(tmp_path / "b.csv"), "--by", "complexity", "-o", str(tmp_path / "b")]) == 0
    assert capsys.readouterr().err == "note: left out 2 of 52 rows whose status is not 'ok' (blank: 2)\n"
    assert main(["fit", str(RUNS), "-o", str(tmp_path / "all.json")]) == 0  # every row ok: no note
    assert capsys.readouterr().err == ""


def test_bound_by_a_long_group_value_gets_a_short_folder_of_its_own(tmp_path: Path, capsys) -> None:
    # a 300-character --by value made the folder name too long: an OSError traceback (exit 1) before any fit
    both = _two_real_sizes()
    long = {1: "digits_3_" + "k" * 300 + "_one", 3: "digits_3_" + "k" * 300 + "_three"}  # alike but for the end
    both["complexity"] = both["complexity"].map(long)
    both.to_csv(tmp_path / "t.csv", index=False)
    assert main(["bound", str(tmp_path / "t.csv"), "--by", "complexity", "-o", str(tmp_path / "b")]) == 0
    out = capsys.readouterr().out
    from fits.bound import MAX_FOLDER_NAME, _folder_name
    folders = sorted(p.name for p in (tmp_path / "b").iterdir() if p.is_dir())
    assert folders == sorted(_folder_name(f"complexity={v}") for v in long.values()), folders
    assert all(len(f.encode()) <= MAX_FOLDER_NAME and (tmp_path / "b" / f / "bound.json").is_file() for f in folders)
    heads = [ln for ln in (tmp_path / "b" / "bound.txt").read_text().splitlines() if ln.startswith("== ")]
    assert heads == [f"== complexity={v} ==" for v in long.values()], heads  # the summary names the whole value
    assert all(h in out for h in heads)
    # short names as they were; a long one cut, whole characters, with a stable hash of the whole value
    assert _folder_name("condition,target=plain/mnist5k") == "condition_target=plain_mnist5k"
    assert _folder_name("g=" + "x" * 300) == "g=" + "x" * 85 + "-1edbd622326f"
    accented = _folder_name("g=" + "é" * 300)
    assert len(accented.encode()) <= MAX_FOLDER_NAME and accented.startswith("g=é") and "\ufffd" not in accented


def test_a_knob_sweep_is_refused_as_pooled_by_its_knob_column(tmp_path, capsys):
    """collect gives a knob the runs vary a column of its own (synth.knobs.n_views); the pooling check
    named the whole `knobs` JSON first, and its fix (--by ...,knobs) made labels of ~200 characters."""
    rows = []
    for views in (4, 12):
        for n in (100, 200, 400, 800):
            for seed in (0, 1):
                knobs = json.dumps({"generator": "shapes", "n_views": views, "clutter": 0.0})
                rows.append({"run_id": f"r{views}{n}{seed}", "generator": "shapes", "complexity": 1,
                             "knobs": knobs, "synth.knobs.n_views": views, "n_synth": n, "n_real": 100,
                             "seed": seed, "test_err": 0.3 + 0.1 * n ** -0.5 + 0.001 * seed + 0.002 * views,
                             "status": "ok"})
    pd.DataFrame(rows).to_csv(tmp_path / "k.csv", index=False)
    assert main(["fit", str(tmp_path / "k.csv"), "--by", "complexity", "-o", str(tmp_path / "f.json")]) == 2
    err = capsys.readouterr().err
    assert "differ in 'synth.knobs.n_views' (4, 12)" in err and "--by complexity,synth.knobs.n_views" in err, err
    assert main(["fit", str(tmp_path / "k.csv"), "--by", "complexity,synth.knobs.n_views",
                 "-o", str(tmp_path / "f.json")]) == 0


def test_rows_that_repeat_a_measurement_name_the_text_column_they_differ_in(tmp_path, capsys):
    """A table from another tool with its condition in a column fit does not know ('gen') read as one
    curve whose rows repeat: the error said to drop rows. It now names the column that tells them apart."""
    rows = [{"gen": g, "n": n, "seed": seed, "err": 0.3 + 0.1 * n ** -0.5 + 0.01 * seed + (0.05 if g == "b" else 0)}
            for g in ("a", "b") for n in (100, 200, 400, 800) for seed in (0, 1)]
    pd.DataFrame(rows).to_csv(tmp_path / "t.csv", index=False)
    argv = ["fit", str(tmp_path / "t.csv"), "--x", "n", "--y", "err", "--by", "", "-o", str(tmp_path / "f.json")]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "repeat one measurement" in err, err
    assert err.endswith("they differ in 'gen' (a, b): if those are two conditions, add gen to --by"), err
    for r in rows:  # a numeric condition (a learning rate): named too, but not the measured error
        r["lr"] = 0.1 if r.pop("gen") == "a" else 0.01
    pd.DataFrame(rows).to_csv(tmp_path / "t.csv", index=False)
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.endswith("they differ in 'lr' (0.1, 0.01): if those are two conditions, add lr to --by"), err


def test_a_seed_column_under_another_name_is_read_as_seeds(tmp_path, capsys):
    """A table from another tool with its seeds in 'rep' was fitted as independent replicates (no seed
    offsets in the bootstrap, no hint); --seed rep names the column, for fit, compare, plot and bound."""
    rng = np.random.default_rng(0)
    rows = [{"n": n, "s": s, "rep": r, "err": (0.2 + 0.5 * n ** -0.4) * s ** -0.2 * np.exp(off + rng.normal(0, 0.01))}
            for r, off in enumerate((0.0, 0.05, -0.04)) for n in (100, 200, 400, 800, 1600) for s in (50, 100, 200)]
    pd.DataFrame(rows).to_csv(tmp_path / "t.csv", index=False)
    base = ["fit", str(tmp_path / "t.csv"), "--x", "n", "--y", "err", "--by", "s"]
    assert main([*base, "-o", str(tmp_path / "plain.json")]) == 0
    assert main([*base, "--seed", "rep", "-o", str(tmp_path / "seeded.json")]) == 0
    plain, seeded = (json.loads((tmp_path / f"{k}.json").read_text())["groups"]["50"] for k in ("plain", "seeded"))
    assert "few_seeds" in {f["name"] for f in seeded["diagnostics"]}  # 3 seeds: the seed offsets are read
    assert "few_seeds" not in {f["name"] for f in plain["diagnostics"]}
    assert seeded["ci"]["C"] != plain["ci"]["C"]
    capsys.readouterr()
    for argv in (["compare", str(tmp_path / "t.csv"), "--x", "n", "--y", "err", "--by", "s", "--seed", "rep",
                  "-o", str(tmp_path / "cmp")],
                 ["plot", str(tmp_path / "t.csv"), str(tmp_path / "seeded.json"), "--seed", "rep",
                  "-o", str(tmp_path / "p.png")],
                 ["bound", str(tmp_path / "t.csv"), "--x", "n", "--s", "s", "--y", "err", "--seed", "rep",
                  "-o", str(tmp_path / "b")]):
        assert main(argv) == 0, capsys.readouterr().err
    _fails(capsys, [*base, "--seed", "replicate"], "--seed 'replicate' is not a column of")


def test_a_knob_without_a_column_of_its_own_is_still_refused_as_pooled(tmp_path, capsys):
    """Grouping by one knob's column (synth.knobs.n_categories) skipped the whole-knobs check, so runs
    that differ in a knob without a column (a run whose config.yaml was missing, tables from two roots)
    were fitted as seeds of one curve."""
    rows = []
    for views in (3, 12):
        for n in (100, 200, 400, 800):
            for seed in (0, 1):
                rows.append({"run_id": f"r{views}{n}{seed}", "complexity": 1, "synth.knobs.n_categories": 10,
                             "knobs": json.dumps({"n_categories": 10, "n_views": views}), "n_synth": n,
                             "seed": seed + 2 * (views == 3), "test_err": 0.3 + 0.1 * n ** -0.5, "status": "ok"})
    pd.DataFrame(rows).to_csv(tmp_path / "k.csv", index=False)
    argv = ["fit", tmp_path / "k.csv", "--by", "complexity,synth.knobs.n_categories", "-o", tmp_path / "f.json"]
    _fails(capsys, argv, "pools runs that differ in 'knobs'")


def test_an_option_of_another_command_is_not_read_as_one_it_prefixes(tmp_path: Path, capsys) -> None:
    """argparse's prefix matching read `fit --s fratio` (bound's fine-tuning size option) as --seed: nine
    fine-tuning fractions fitted as nine seeds, exit 0. And `-o -` wrote a fits file named '-'."""
    for argv, needle in ((["fit", RUNS, "--s", "n_real", "-o", tmp_path / "f.json"],
                          "unrecognized arguments: --s n_real"),
                         (["fit", RUNS, "-o", "-"], "'-' (standard output) is not an output of this command")):
        with pytest.raises(SystemExit) as stop:
            main([str(a) for a in argv])
        err = capsys.readouterr().err
        assert stop.value.code == 2 and needle in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "f.json").exists() and not Path("-").exists()


def test_an_input_error_names_the_program_as_its_usage_does(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    # it said "fits: error:", a program that does not exist, where `synthscale` names itself
    assert main(["fit", str(tmp_path / "absent.csv"), "-o", str(tmp_path / "f.json")]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"python -m fits: error: cannot read runs table {tmp_path / 'absent.csv'}"), err


def test_a_mistyped_option_gets_the_closest_one_without_the_rest_of_the_suite() -> None:
    """`--lwa` was 'unrecognized arguments' alone, where synthscale adds '; did you mean --law?'; fits
    gives the same hint from the same code (fits.errors), importing nothing of synth, bench or torch."""
    code = ("import sys\nfrom fits.cli import main\ntry:\n    main(['fit', 'runs.csv', '--lwa', 'auto'])\n"
            "except SystemExit as exc:\n    print('rc', exc.code)\n"
            "print(sorted(m for m in ('synth', 'bench', 'slurm', 'torch') if m in sys.modules))\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.stdout.split("\n")[:2] == ["rc 2", "[]"], done.stdout + done.stderr[-2000:]
    assert done.stderr == ("python -m fits: error: unrecognized arguments: --lwa auto; did you mean --law? "
                           "(see python -m fits fit --help)\n"), done.stderr


def _help(capsys: pytest.CaptureFixture, argv: list[str]) -> str:
    """`python -m fits ARGV --help`'s text, its lines joined (argparse wraps them at the terminal's width)."""
    with pytest.raises(SystemExit) as stop:
        main([*argv, "--help"])
    assert stop.value.code == 0
    return " ".join(capsys.readouterr().out.split())


def test_plot_help_says_its_seed_column_is_the_one_fit_was_given(capsys: pytest.CaptureFixture) -> None:
    """plot's --seed said "(default seed)", fit's text, but plot reads fits.json's seed_column first."""
    text = _help(capsys, ["plot"])
    assert "(default: the column `fit` was given with --seed, which fits.json records as seed_column, else seed)" \
        in text and "(default seed)" not in text


@pytest.mark.parametrize("option, default", [("--lcdb {full,sample}", "(default: full)"),
                                             ("--limit LIMIT", "(0 = all; default: 0)")])
def test_fit_bench_help_names_its_defaults(capsys: pytest.CaptureFixture, option: str, default: str) -> None:
    text = _help(capsys, ["fit-bench"])
    after = text[text.index(option + " "):]
    assert default in after[:after.index(" --", 1)], after[:200]
