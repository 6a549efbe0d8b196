"""`python -m synth` on outputs and numbers researchers get wrong: a file where export writes a
folder, a folder nothing can be written in, --chunk-size 0, --threads 0, --resolution 0, a folder
holding another export. Each is one line on stderr and exit code 2, before any image is made."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

import synth
from synth.cli import main
from synth.errors import UserError

UNWRITABLE = Path("/proc")  # nothing can be created there, even by root (as a chmod 555 folder for a user)
needs_proc = pytest.mark.skipif(not Path("/proc/self").exists(), reason="needs Linux /proc")
BENCH = ["bench", "--generator", "shapes", "--resolution", "32", "--rounds", "1", "--min-cpu-s", "0.01"]


def _fails(capsys: pytest.CaptureFixture, argv: list, needle: str) -> str:
    """main(argv) exits 2 with exactly one stderr line containing `needle`; returns stdout."""
    assert main([str(a) for a in argv]) == 2
    out, err = capsys.readouterr()
    assert needle in err and len(err.strip().splitlines()) == 1, err
    return out


@pytest.mark.parametrize("size", ["0", "-3"])
def test_export_refuses_a_chunk_size_below_one(tmp_path: Path, capsys: pytest.CaptureFixture, size: str) -> None:
    # 0 was a ZeroDivision-like traceback that left a header behind; -3 wrote an empty manifest, exit 0
    _fails(capsys, ["export", "--n", "5", "--chunk-size", size, "-o", tmp_path / "ex"], "--chunk-size must be")
    assert not (tmp_path / "ex").exists()  # not even an empty folder is left behind


def test_export_with_a_bad_config_leaves_no_folder(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    _fails(capsys, ["export", "--n", "5", "--complexity", "99", "-o", tmp_path / "ex"], "complexity must be")
    assert not (tmp_path / "ex").exists()


def test_export_to_a_file_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    (tmp_path / "runs.csv").write_text("a,b\n")  # used to be a FileExistsError traceback from mkdir
    _fails(capsys, ["export", "--n", "5", "-o", tmp_path / "runs.csv"], "is a file; give a folder path")
    assert (tmp_path / "runs.csv").read_text() == "a,b\n"


def test_export_names_what_differs_from_the_export_already_there(tmp_path: Path,
                                                                 capsys: pytest.CaptureFixture) -> None:
    assert main(["export", "--n", "4", "--chunk-size", "2", "-o", str(tmp_path / "ex")]) == 0
    manifest = json.loads((tmp_path / "ex" / "manifest.json").read_text())
    capsys.readouterr()
    _fails(capsys, ["export", "--n", "6", "--chunk-size", "2", "--knob", "clutter=0.3", "-o", tmp_path / "ex"],
           "n=4 where this asks 6; clutter=0.0 where this asks 0.3")
    assert json.loads((tmp_path / "ex" / "manifest.json").read_text()) == manifest


@needs_proc
@pytest.mark.parametrize("argv, needle", [
    (["export", "--n", "5", "-o", UNWRITABLE / "ex"], "cannot write in -o '/proc/ex'"),
    (["preview", "--complexity", "0", "--n", "1", "-o", UNWRITABLE / "grid.png"], "cannot write -o '/proc/grid.png'"),
    ([*BENCH, "--out", UNWRITABLE / "bench.md"], "cannot write --output '/proc/bench.md'"),
])
def test_an_output_that_cannot_be_written_fails_before_the_work(capsys: pytest.CaptureFixture, argv: list,
                                                                 needle: str) -> None:
    # used to be an OSError traceback after rendering the grid or measuring every cell
    assert "round 1/1" not in _fails(capsys, argv, needle)


@pytest.mark.parametrize("extra, needle", [
    (["--threads", "0"], "--threads: must be at least 1"), (["--min-cpu-s", "nan"], "--min-cpu-s: must be a finite"),
    (["--min-cpu-s", "inf"], "--min-cpu-s: must be a finite number above 0, got inf"),   # measured forever
    (["--resolution", "0"], "resolution must be an integer in [8, 1024]"),   # was a ZeroDivisionError
    (["--generator", "digits", "--complexity", "6"], "digits complexity must be"),  # after measuring shapes
    (["--out", "."], "is a folder; give a file path"),   # was an IsADirectoryError after measuring
])
def test_bench_checks_its_numbers_and_output_before_measuring(capsys: pytest.CaptureFixture, extra: list,
                                                              needle: str) -> None:
    assert "round 1/1" not in _fails(capsys, [*BENCH, "--out", "-", *extra], needle)


@pytest.mark.parametrize("spelling", ["-o", "--output", "--out"])
def test_bench_takes_its_output_as_the_other_commands_do(capsys: pytest.CaptureFixture, spelling: str) -> None:
    # bench took only --out where preview and export take -o/--output; --out still works (committed
    # tables name it), and messages name --output
    assert "round 1/1" not in _fails(capsys, [*BENCH, spelling, "."], "--output '.' is a folder; give a file path")


def test_bench_resolution_given_twice_measures_both(capsys: pytest.CaptureFixture) -> None:
    # `--resolution 16 --resolution 24` measured 24 alone, without a word: it adds up as --generator does
    argv = ["bench", "--generator", "digits", "--resolution", "16", "--resolution", "24", "32", "--rounds", "1",
            "--min-cpu-s", "0.01", "--json", "--out", "-"]
    assert main(argv) == 0
    assert [r["resolution"] for r in json.loads(capsys.readouterr().out)] == [16, 24, 32]


@pytest.mark.parametrize("argv", [["bench.cli", "synth", "list"],
                                  ["bench.cli", "fit", "results/quickstart/runs.csv", "-o", "{tmp}/q.json"],
                                  ["synth", "list"]])   # `python -m synth list | head -1` was a traceback too
def test_every_command_into_a_closed_pipe_exits_quietly(tmp_path, argv):
    """`synthscale synth list | head -1` was a BrokenPipeError traceback (only `sweep` handled it)."""
    import os
    import subprocess
    import sys

    repo = Path(__file__).resolve().parents[1]
    cmd = [sys.executable, "-m", *[a.format(tmp=tmp_path) for a in argv]]
    proc = subprocess.Popen(cmd, cwd=repo, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "OMP_NUM_THREADS": "1"})
    proc.stdout.close()  # like `| head -1` that has already gone
    err = proc.stderr.read()
    assert proc.wait(timeout=300) == 141 and err == "", err[-2000:]


def test_export_rerun_of_a_finished_export_says_nothing_was_written(tmp_path: Path, capsys) -> None:
    """A rerun of a finished export printed "wrote 6 files" though it wrote nothing."""
    from synth.cli import main as synth_main

    args = ["export", "--generator", "shapes", "--n", "6", "--resolution", "16", "-o", str(tmp_path / "e")]
    assert synth_main(args) == 0
    assert capsys.readouterr().out.strip().endswith(f"wrote 6 files and {tmp_path / 'e' / 'manifest.json'}")
    stamps = {p: p.stat().st_mtime_ns for p in (tmp_path / "e").rglob("*") if p.is_file()}
    assert synth_main(args) == 0
    assert capsys.readouterr().out.strip().endswith("already complete: 6 files and "
                                                    f"{tmp_path / 'e' / 'manifest.json'} (nothing written)")
    assert stamps == {p: p.stat().st_mtime_ns for p in (tmp_path / "e").rglob("*") if p.is_file()}


def test_export_says_what_it_did_whatever_the_file_times(tmp_path: Path, capsys, monkeypatch) -> None:
    """"already complete" was decided by the manifest's mtime: on a file system whose timestamps did
    not move (coarse clock, rewrite within its resolution) a rerun that rewrote a damaged manifest
    and every image said "nothing written"; with a manifest stamped in the future, a finished
    export must still say "already complete"."""
    import os

    import synth.export
    from synth.cli import main as synth_main

    out = tmp_path / "e"
    args = ["export", "--generator", "shapes", "--n", "6", "--resolution", "16", "-o", str(out)]
    assert synth_main(args) == 0
    capsys.readouterr()
    manifest = out / "manifest.json"
    future = manifest.stat().st_mtime_ns + 10**12
    os.utime(manifest, ns=(future, future))
    assert synth_main(args) == 0
    assert "already complete: 6 files" in capsys.readouterr().out and manifest.stat().st_mtime_ns == future

    good = manifest.read_text()
    manifest.write_text(good[: len(good) // 2])  # damaged: the export is redone
    stamp = manifest.stat().st_mtime_ns
    write = synth.export._atomic_write

    def coarse_clock(path: Path, data: bytes) -> None:  # every file gets the same time stamp
        write(path, data)
        os.utime(path, ns=(stamp, stamp))

    monkeypatch.setattr(synth.export, "_atomic_write", coarse_clock)
    assert synth_main(args) == 0
    assert capsys.readouterr().out.strip().endswith(f"wrote 6 files and {manifest}")
    assert json.loads(manifest.read_text()) == json.loads(good)


def test_a_broken_pipe_that_is_not_stdout_is_not_swallowed(tmp_path: Path) -> None:
    """Only a closed stdout ends quietly with 141: a BrokenPipeError from elsewhere (a child's pipe)
    stays an error, with its traceback, and stdout keeps working."""
    import subprocess
    import sys

    (tmp_path / "bpmod.py").write_text(
        "import subprocess\n"
        "def register(sub):\n"
        "    p = sub.add_parser('x')\n"
        "    p.set_defaults(func=run)\n"
        "def run(args):\n"
        "    print('before')\n"
        "    child = subprocess.Popen(['true'], stdin=subprocess.PIPE)\n"
        "    child.wait()\n"
        "    child.stdin.write(b'x' * 1_000_000)\n"
        "    child.stdin.flush()\n")
    code = "import sys; from synth.console import run_cli; sys.exit(run_cli(('bpmod',), 'demo', ['x']))"
    repo = Path(__file__).resolve().parents[1]
    res = subprocess.run([sys.executable, "-c", code], cwd=repo, capture_output=True, text=True, timeout=120,
                         env={**__import__("os").environ, "PYTHONPATH": f"{tmp_path}:{repo}"})
    assert res.returncode == 1 and res.stdout == "before\n" and "BrokenPipeError" in res.stderr, res


@needs_proc
def test_every_output_check_shares_one_probe_and_keeps_its_own_message(tmp_path: Path) -> None:
    """synth's -o/--out, bench's --root and asg-policy's --out are checked by synth.console.check_writable;
    each keeps its own wording. The probe leaves nothing behind and an existing file unchanged."""
    from bench.run import writable_root
    from synth.cli import check_out_dir, check_out_file
    from synth.console import check_writable
    from synth.errors import UserError

    for check, needle in ((lambda p: check_out_file(p, "-o"), "cannot write -o '/proc/x/y': "),
                          (lambda p: check_out_dir(p, "-o"), "cannot write in -o '/proc/x/y': "),
                          (writable_root, "--root '/proc/x/y': cannot write there (")):
        with pytest.raises(UserError, match="^" + needle.replace("(", r"\(")):
            check(UNWRITABLE / "x" / "y")
    kept = tmp_path / "a" / "kept.txt"
    check_out_file(kept, "-o")
    assert writable_root(tmp_path / "a") == tmp_path / "a" and list((tmp_path / "a").iterdir()) == []
    kept.write_text("contents")
    check_writable(kept.parent, str, file=kept)
    assert kept.read_text() == "contents" and list((tmp_path / "a").iterdir()) == [kept]


@pytest.mark.parametrize("argv, needle", [
    (["--complexity", "0", "--n", "100000"], "1 level x 100000 images at 64 px would be a 1112 x 487516 px grid"),
    (["--resolution", "1024"], "8 levels x 8 images at 1024 px"),   # the grid's pixels count, not --n
])
def test_preview_refuses_a_grid_too_large_to_be_a_preview(tmp_path: Path, capsys: pytest.CaptureFixture,
                                                          monkeypatch: pytest.MonkeyPatch, argv: list,
                                                          needle: str) -> None:
    """`--n 100000` grew to 24 GB and was OOM-killed: refused before anything is rendered."""
    import synth.preview

    monkeypatch.setattr(synth.preview, "preview_grid", lambda *a, **k: pytest.fail("rendered"))
    out = tmp_path / "sub" / "grid.png"
    assert main(["preview", "--generator", "shapes", *argv, "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and needle in err, err
    assert "or use `synth export` for many images" in err and not (tmp_path / "sub").exists()


def test_every_documented_and_committed_preview_is_well_inside_the_cap() -> None:
    from PIL import Image

    from synth.preview import MAX_GRID_PIXELS, grid_size

    repo = Path(__file__).resolve().parents[1]
    committed = [Image.open(p).size for p in sorted((repo / "results" / "previews").glob("*.png"))]
    assert committed and all(w * h * 10 < MAX_GRID_PIXELS for w, h in committed)
    assert grid_size(8, 8, 64) in committed                  # the README's command for shapes
    w, h = grid_size(8, 8, 224)                              # every level, 8 images, a 224 px model
    assert w * h * 4 < MAX_GRID_PIXELS


def test_a_second_export_of_the_same_folder_fails_at_once(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """Two exports to one -o raced for the chunk records (a FileNotFoundError traceback on
    .chunks/.chunk_000039.json.tmpNNN); now the one that finds the folder locked stops in one line."""
    from filelock import FileLock

    import synth.export

    out = tmp_path / "ex"
    args = ["export", "--n", "6", "--resolution", "16", "--chunk-size", "2", "-o", str(out)]

    def stop_after_one(n_done: int) -> None:   # the first export, part-way through its work
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        synth.export.export(out, "shapes", 6, chunk_size=2, progress=stop_after_one, resolution=16)
    before = {p: p.stat().st_mtime_ns for p in out.rglob("*")}
    with FileLock(str(out / ".lock")):       # ... and still running
        _fails(capsys, args, f"{out} is being written by another export (lock {out / '.lock'}); wait for it "
                             "or pick another -o")
        assert {p: p.stat().st_mtime_ns for p in out.rglob("*")} == before
    assert main(args) == 0 and "(2 more kept from the interrupted export)" in capsys.readouterr().out


def test_export_refuses_a_folder_holding_other_files(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """An export into a results folder went ahead and mixed class folders and a manifest into it."""
    results = tmp_path / "results"
    (results / "runs").mkdir(parents=True)
    for name in ("runs.csv", "fits.json", "notes.md", "z.png"):
        (results / name).write_text("x")
    _fails(capsys, ["export", "--n", "4", "--resolution", "16", "-o", results],
           f"{results} holds files that are not an export (fits.json, notes.md, runs.csv and 2 more), which")
    assert sorted(p.name for p in results.iterdir()) == ["fits.json", "notes.md", "runs", "runs.csv", "z.png"]


def test_export_complexity_is_one_documented_level(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """export's --complexity had no help; `--complexity 0..2` printed argparse's whole usage block."""
    with pytest.raises(SystemExit):
        main(["export", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "--complexity LEVEL one complexity level, an integer (default: 0); preview takes ranges" in text
    _fails(capsys, ["export", "--n", "3", "--complexity", "0..2", "-o", tmp_path / "ex"],
           "synth export takes one --complexity level, an integer such as 3, got '0..2'")
    assert not (tmp_path / "ex").exists()


def test_bench_complexity_is_one_level(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    # a range printed argparse's whole usage block, like export's did
    _fails(capsys, [*BENCH, "--complexity", "0..2", "--out", tmp_path / "b.md"],
           "synth bench takes one --complexity level, an integer such as 3, got '0..2'; run it once per level")
    assert not (tmp_path / "b.md").exists()


def test_level_specs_still_read_as_before() -> None:
    from synth.preview import parse_levels

    # "2..2" is level 2 alone: the repeated-level check must not take a range's two ends for a repeat
    assert parse_levels("2..2", 8) == [2] and parse_levels("0..3", 8) == [0, 1, 2, 3]
    assert parse_levels("1,5", 8) == [1, 5] and parse_levels("3") == [3]


@pytest.mark.parametrize("spec, needle", [
    ("", "--complexity '' is empty; give levels such as 0..3"),          # was every level
    ("1,1", "--complexity '1,1' gives level 1 twice; give each level once"),   # drew row 1 twice
    ("0,2,0", "gives level 0 twice"),
    ("0..9", "--complexity '0..9' asks for level 9; shapes has levels 0..7"),  # found after rendering 0..7
])
def test_preview_refuses_an_empty_or_repeated_level(tmp_path: Path, capsys: pytest.CaptureFixture,
                                                    monkeypatch: pytest.MonkeyPatch, spec: str, needle: str) -> None:
    import synth.preview

    monkeypatch.setattr(synth.preview, "preview_grid", lambda *a, **k: pytest.fail("rendered"))
    _fails(capsys, ["preview", "--generator", "shapes", "--complexity", spec, "--n", "1", "-o", tmp_path / "g.png"],
           needle)
    assert not (tmp_path / "g.png").exists()


@pytest.mark.parametrize("knob", ["n_leaves=.inf", "n_leaves=.nan"])
def test_an_infinite_or_nan_whole_number_knob_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture,
                                                          knob: str) -> None:
    # int(inf) raised OverflowError (int(nan) ValueError) before the range check: a traceback
    _fails(capsys, ["preview", "--generator", "deadleaves", "--knob", knob, "--n", "1", "-o", tmp_path / "g.png"],
           "deadleaves knob 'n_leaves' must be an integer in [1, 512]")


def test_preview_checks_its_knobs_at_every_level_before_drawing(tmp_path: Path,
                                                                capsys: pytest.CaptureFixture) -> None:
    # objects_max=1 is valid at level 0 (objects_min 1), not at level 1 (objects_min 2): refused only
    # after level 0's row was drawn, leaving -o's new folder behind, empty
    _fails(capsys, ["preview", "--generator", "shapes", "--knob", "objects_max=1", "--n", "2", "--resolution", "32",
                    "-o", tmp_path / "new" / "grid.png"], "must not exceed objects_max (1)")
    assert not (tmp_path / "new").exists()


def test_bench_measures_a_repeated_cell_once_and_guards_its_table_by_any_path(
        tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    # results/synth_bench.md named by its absolute path was overwritten; checked in a copy of the
    # layout, so that a broken guard cannot overwrite the committed table
    table = tmp_path / "results" / "synth_bench.md"
    table.parent.mkdir()
    table.write_text("the committed table\n")
    monkeypatch.chdir(tmp_path)
    _fails(capsys, ["bench", "--generator", "digits", "--rounds", "1", "--min-cpu-s", "0.01", "--out", table],
           "would overwrite results/synth_bench.md")
    assert table.read_text() == "the committed table\n"
    argv = ["bench", "--generator", "digits", "--generator", "digits", "--resolution", "16", "16", "--rounds", "1",
            "--min-cpu-s", "0.01", "--json", "--out", "-"]
    assert main(argv) == 0
    rows = json.loads(capsys.readouterr().out)
    assert len(rows) == 1, rows  # one cell, not 4 identical rows pooling 4 rounds each


@pytest.mark.parametrize("argv, helps", [
    (["fit", "runs.csv", "--bogus"], "synthscale fit --help"),
    (["synth", "preview", "-o", "x.png", "--bogus"], "synthscale synth preview --help"),
    (["collect", "--root", "r", "--bogus"], "synthscale collect --help"),
])
def test_an_unknown_option_points_to_its_subcommands_help(capsys: pytest.CaptureFixture, argv: list,
                                                          helps: str) -> None:
    # it said "(see synthscale --help)", whose text does not list any subcommand's options
    from bench.cli import main as synthscale
    from fits.cli import main as fits_main

    with pytest.raises(SystemExit) as info:  # argparse's way out, before any work
        synthscale(argv)
    assert info.value.code == 2
    assert capsys.readouterr().err == f"synthscale: error: unrecognized arguments: --bogus (see {helps})\n"
    with pytest.raises(SystemExit) as info:
        fits_main(["fit", "runs.csv", "--bogus"])
    assert info.value.code == 2
    assert capsys.readouterr().err == ("python -m fits: error: unrecognized arguments: --bogus "
                                       "(see python -m fits fit --help)\n")


def test_a_partial_bench_may_not_overwrite_the_committed_table_from_any_folder(monkeypatch):
    # the guard compared with the relative path results/synth_bench.md: run from results/ (or with an
    # absolute path from elsewhere) a one-family table overwrote the table of every family, exit 0.
    # (only the check is called: a regression must not write the committed file)
    import argparse

    from synth.cli import BENCH_RESOLUTIONS, _check_partial_bench

    repo = Path(__file__).resolve().parents[1]
    part = argparse.Namespace(complexity=None, resolution=[16])
    for cwd, out in ((repo / "results", "synth_bench.md"), (repo / "tests", str(repo / "results" / "synth_bench.md"))):
        monkeypatch.chdir(cwd)
        with pytest.raises(UserError, match="measures part of the benchmark"):
            _check_partial_bench(argparse.Namespace(**vars(part), out=Path(out)), ["deadleaves"])
    # every family at the default sizes, listed in another order, is the whole benchmark
    whole = argparse.Namespace(complexity=None, resolution=BENCH_RESOLUTIONS[::-1], out=Path("synth_bench.md"))
    _check_partial_bench(whole, sorted(synth.GENERATORS.names(), reverse=True))


@pytest.mark.parametrize("ext, why", [("emf", "WMF save handler not installed"), ("h5", "HDF5 save handler"),
                                      ("xbm", "cannot write mode RGB as XBM")])
def test_preview_refuses_an_image_format_pil_cannot_write_before_rendering(tmp_path: Path, capsys, ext, why) -> None:
    # PIL lists these among its save formats: the grid was rendered, then saving it was a traceback, exit 1
    out = tmp_path / f"x.{ext}"
    _fails(capsys, ["preview", "--generator", "digits", "--complexity", "0", "--n", "1", "-o", str(out)], why)
    assert not out.exists()


def test_a_knob_that_clashes_with_a_later_levels_preset_names_the_level(tmp_path: Path, capsys) -> None:
    # "shapes knob objects_min (2) must not exceed objects_max (1)": objects_min was level 7's, not the user's
    _fails(capsys, ["preview", "--generator", "shapes", "--knob", "objects_max=1", "-o", tmp_path / "x.png"],
           "--knob objects_max=1 at shapes complexity 7, whose preset sets the knobs not given: shapes knob "
           "objects_min (2) must not exceed objects_max (1)")


def test_an_empty_output_path_and_a_file_that_is_not_a_report_are_refused(tmp_path: Path, capsys, monkeypatch) -> None:
    # export -o '' wrote into the current folder; bench --out FILE replaced any file, a runs table too
    monkeypatch.chdir(tmp_path)
    for argv in (["export", "--n", "2", "-o", ""], [*BENCH, "--out", ""], ["preview", "-o", ""]):
        with pytest.raises(SystemExit) as info:
            main(argv)
        err = capsys.readouterr().err
        assert info.value.code == 2 and "empty; give a path (. for this folder)" in err, err
    assert list(tmp_path.iterdir()) == []
    table = tmp_path / "runs.csv"
    table.write_text("run_id,test_err\nabc,0.3\n")
    _fails(capsys, [*BENCH, "--out", table], "exists and is not a report of this command (its first line is not "
                                             "'# Generator throughput')")
    assert table.read_text() == "run_id,test_err\nabc,0.3\n"
    report = tmp_path / "bench.md"  # a report of its own is rewritten
    report.write_text("# Generator throughput\n\nan earlier table\n")
    assert main([*BENCH, "--out", str(report)]) == 0 and "an earlier table" not in report.read_text()


def test_export_refuses_a_folder_named_like_its_manifest_before_writing_images(tmp_path: Path, capsys) -> None:
    # the images were written, then a traceback (IsADirectoryError) and stray .tmp files
    out = tmp_path / "e"
    (out / "manifest.json").mkdir(parents=True)
    _fails(capsys, ["export", "--n", "4", "-o", out], "manifest.json is a folder, where the export writes its manifest")
    assert sorted(p.name for p in out.iterdir()) == ["manifest.json"]


@pytest.mark.parametrize("option, value, needle", [
    ("--threads", "0", "--threads: must be at least 1, got 0"),
    ("--rounds", "0", "--rounds: must be at least 1, got 0"),
    ("--min-cpu-s", "nan", "--min-cpu-s: must be a finite number above 0, got nan"),
])
def test_synth_bench_names_the_one_option_that_is_wrong(capsys, option, value, needle):
    # one message listed all three options' values ('got 3, 3.0 and 0') and left the user to find which
    _fails(capsys, ["bench", "--generator", "digits", "--out", "-", option, value], needle)


def test_a_long_preview_wraps_each_level_onto_lines_of_16(tmp_path: Path) -> None:
    """`--n 300` drew one line of 300 tiles per level, a 20,000 px wide strip; now 16 per line."""
    from PIL import Image

    from synth.preview import grid_size

    assert grid_size(8, 8, 64) == (584, 640)  # up to 16 samples: one line per level, as committed
    out = tmp_path / "long.png"
    assert main(["preview", "--generator", "deadleaves", "--complexity", "0..1", "--n", "40",
                 "--resolution", "16", "-o", str(out)]) == 0
    width, height = Image.open(out).size
    assert (width, height) == grid_size(2, 40, 16) == (56 + 16 * 66, 2 * 3 * (64 + 12 + 2) + 8 + 16)
    assert grid_size(1, 300, 64)[0] == grid_size(1, 16, 64)[0]


def test_preview_refuses_zero_images_per_level(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """`preview --n 0` must be one line, not the ZeroDivisionError of a grid with no columns."""
    _fails(capsys, ["preview", "--n", "0", "-o", tmp_path / "g.png"], "--n must be a positive number")
    assert not (tmp_path / "g.png").exists()


def test_bench_refuses_a_zero_cpu_budget(capsys: pytest.CaptureFixture) -> None:
    """`--min-cpu-s 0` would time one round of nothing and report a rate from it."""
    _fails(capsys, [*BENCH[:-1], "0", "--out", "-"], "--min-cpu-s: must be a finite number above 0, got 0.0")


def test_bench_of_part_of_the_default_sizes_does_not_overwrite_the_committed_table(
        tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every family at one resolution is a partial table: written over results/synth_bench.md it would lose the
    other rows. Run from a scratch folder, so a regression writes there and not into the repo's results/."""
    monkeypatch.chdir(tmp_path)
    table = tmp_path / "results" / "synth_bench.md"
    table.parent.mkdir()
    table.write_text("the committed table\n")
    _fails(capsys, ["bench", "--resolution", "64", "--rounds", "1", "--min-cpu-s", "0.01"],
           "measures part of the benchmark")
    assert table.read_text() == "the committed table\n"


def test_a_hung_up_stdout_reads_as_gone_as_on_macos(monkeypatch, tmp_path) -> None:
    """macOS's kernel reports a pipe whose reader has gone as POLLHUP, not POLLERR as Linux does: there
    `synthscale ... | head` ended in a BrokenPipeError traceback instead of quietly."""
    import select

    from synth.console import _stdout_gone

    class HungUp:  # what poll says of the write end on macOS once `head` has exited
        def register(self, fd: int, events: int) -> None:
            pass

        def poll(self, timeout: int) -> list:
            return [(1, select.POLLOUT | select.POLLHUP)]

    with open(tmp_path / "out", "w") as out:
        monkeypatch.setattr(sys, "stdout", out)
        assert not _stdout_gone()  # a file: nothing reports it gone
        monkeypatch.setattr(select, "poll", HungUp)
        assert _stdout_gone()


@pytest.mark.parametrize("command, option, default", [
    ("bench", "--min-cpu-s MIN_CPU_S", "(default: 3.0)"), ("bench", "--rounds ROUNDS", "(default: 3)"),
    ("bench", "--threads THREADS", "(default: 1)"), ("export", "--format FORMAT", "(default: png)"),
    ("export", "--chunk-size CHUNK_SIZE", "(default: 1000)")])
def test_bench_and_export_help_name_their_defaults(capsys: pytest.CaptureFixture, command: str, option: str,
                                                   default: str) -> None:
    """These options had defaults that their help did not say."""
    with pytest.raises(SystemExit):
        main([command, "--help"])
    text = " ".join(capsys.readouterr().out.split())
    after = text[text.index(option + " "):]
    assert default in after[:after.index(" --", 1)], after[:200]
