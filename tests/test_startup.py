"""Commands that never train start without torch and timm (start-up fell from about 5 s to 1 s here).

Each command runs in a fresh interpreter, which then reports the modules it imported: a module-level
import of the training code anywhere on a command's path (synth/__init__, bench/__init__, a CLI
module, slurm.tracking, bench.collect) puts torch back in this list.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bench.startup_bench import scratch_root

REPO = Path(__file__).resolve().parents[1]
HEAVY = ("torch", "timm", "torchvision")


def _imported_heavy(argv: list[str], cwd: Path) -> tuple[int, list[str], str]:
    """Run `synthscale ARGV` in a new interpreter: its exit code, the heavy modules it imported, stderr."""
    code = ("import sys\nfrom bench.cli import main\n"
            f"try:\n    rc = main({argv!r})\nexcept SystemExit as exc:  # --help\n    rc = exc.code\n"
            f"print('HEAVY=' + ','.join(m for m in {HEAVY!r} if m in sys.modules))\n"
            "sys.exit(rc)\n")
    done = subprocess.run([sys.executable, "-c", code], cwd=cwd, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"})
    line = next((ln for ln in done.stdout.splitlines() if ln.startswith("HEAVY=")), None)
    assert line is not None, done.stderr[-2000:]
    return done.returncode, [m for m in line[len("HEAVY="):].split(",") if m], done.stderr


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> Path:
    """A root with one finished quickstart run, as bench.run leaves it (config.yaml and row.json)."""
    return scratch_root(tmp_path_factory.mktemp("startup"))


@pytest.mark.parametrize("argv", [
    ["--help"], ["fit", "--help"], ["synth", "--help"], ["sweep", "--help"], ["bench-loader", "--help"],
    ["run", "--help"], ["fit-bench", "--help"],
])
def test_help_of_every_command_group_starts_without_torch(argv, tmp_path):
    rc, heavy, err = _imported_heavy(argv, tmp_path)
    assert rc == 0, err
    assert heavy == []


def test_reading_commands_on_a_real_root_start_without_torch(root, tmp_path):
    """status, collect, fit and compare on a root with a finished run do their work without torch."""
    rc, heavy, err = _imported_heavy(["sweep", "status", "--root", str(root)], tmp_path)
    assert (rc, heavy) == (0, []), err
    rc, heavy, err = _imported_heavy(["collect", "--root", str(root), "-o", str(tmp_path / "runs.csv")], tmp_path)
    assert (rc, heavy) == (0, []), err
    assert (tmp_path / "runs.csv").is_file()
    table = str(REPO / "results" / "quickstart" / "runs.csv")
    rc, heavy, err = _imported_heavy(["fit", table, "-o", str(tmp_path / "fit")], tmp_path)
    assert (rc, heavy) == (0, []), err
    rc, heavy, err = _imported_heavy(["compare", table, "--by", "complexity", "--boot", "50",
                                      "-o", str(tmp_path / "cmp")], tmp_path)
    assert (rc, heavy) == (0, []), err


def test_a_user_error_before_any_work_is_one_line_without_torch(tmp_path):
    rc, heavy, err = _imported_heavy(["fit", str(tmp_path / "absent.csv"), "-o", str(tmp_path / "f")], tmp_path)
    assert rc == 2 and heavy == []
    assert err.count("\n") == 1 and "absent.csv" in err


def test_the_package_names_are_the_functions_and_classes_they_were():
    """`bench.collect` is the function (a lazy name once became the submodule after its first use)."""
    code = ("import bench, bench.commands\n"
            "print(bench.collect.__name__, callable(bench.collect), bench.load_sweep.__name__, bench.RunSpec.__name__)")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert out.stdout.split() == ["collect", "True", "load_sweep", "RunSpec"], out.stderr[-2000:]


def test_the_generators_load_on_first_use_complete():
    """`import synth` is light; the first use of GENERATORS brings every family of FAMILY_MODULES."""
    code = ("import sys, synth\nlight = 'torch' not in sys.modules\n"
            "names = synth.GENERATORS.names()\nprint(light, names == sorted(synth.FAMILY_MODULES), 'torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert out.stdout.split() == ["True", "True", "True"], out.stderr[-2000:]


def test_a_family_module_imported_first_still_gives_the_whole_registry():
    code = "import synth.digits, synth\nprint(synth.GENERATORS.names())"
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert out.stdout.strip() == str(sorted(["shapes", "fractals", "deadleaves", "digits"])), out.stderr[-2000:]


def test_the_report_path_is_spelled_as_the_other_commands_spell_it(capsys):
    """It took -o/--out where every other command takes -o/--output; --out still works."""
    from bench.startup_bench import main

    with pytest.raises(SystemExit) as stop:
        main(["--help"])
    assert stop.value.code == 0 and "-o OUT, --output OUT, --out OUT" in capsys.readouterr().out


def test_the_repeats_help_names_its_default(capsys):
    from bench.startup_bench import main

    with pytest.raises(SystemExit):
        main(["--help"])
    assert "--repeats REPEATS runs of each command per checkout (default: 3)" in " ".join(capsys.readouterr().out.split())


def test_the_report_names_the_path_it_was_written_to():
    """Its Command: line left out -o, so the committed report did not say the command that wrote it."""
    from bench.startup_bench import command_line

    assert command_line("fecd75b", 3, Path("results/startup_bench.md")) == (
        "python -m bench.startup_bench --baseline BASE --label fecd75b --repeats 3 -o results/startup_bench.md")
    assert command_line("fecd75b", 3, None).endswith("--repeats 3")


def test_no_repeats_is_one_line_before_any_work(tmp_path, capsys):
    """--repeats 0 measured nothing and ended in statistics' StatisticsError traceback (median of no data)."""
    from bench.startup_bench import main

    with pytest.raises(SystemExit) as stop:
        main(["--baseline", str(tmp_path), "--repeats", "0"])
    err = capsys.readouterr().err.strip().splitlines()
    assert stop.value.code == 2 and err[-1].endswith("--repeats: must be at least 1, got 0")
