"""`synthscale bench-loader`: both modes train on the same batches; the report carries its provenance."""
from __future__ import annotations

from pathlib import Path

import pytest

from bench.cli import main
from bench.loader_bench import run_bench, same_batches, summary


def test_cached_and_streamed_runs_see_the_same_batches():
    timings = run_bench("shapes", 1, 16, 1, "resnet10t", False, steps=3, batch_size=8, repeats=1)
    assert [t.mode for t in timings] == ["cached", "streamed"]
    assert all(len(t.losses) == 3 and t.n_images == 24 for t in timings)
    assert same_batches(timings), "streamed and cached training must see identical batches"
    s = summary(timings)  # one repeat of each mode, the same images: streamed / cached = cached time / streamed
    cached, streamed = timings
    assert s["ratio_wall"] == pytest.approx(cached.wall_s / streamed.wall_s)
    assert s["ratio_cpu"] == pytest.approx(cached.cpu_s / streamed.cpu_s)


def test_cli_writes_the_report_and_rejects_bad_options(tmp_path, capsys):
    out = tmp_path / "loader.md"
    assert main(["bench-loader", "--generator", "deadleaves", "--complexity", "0", "--resolution", "16",
                 "--steps", "2", "--batch-size", "4", "--repeats", "1", "--out", str(out)]) == 0
    text = out.read_text()
    for needle in ("synthscale bench-loader --generator deadleaves --complexity 0 --resolution 16",
                   "load average", "identical loss curves): yes",
                   "Streamed / cached:", "| 1 | cached |", "| 1 | streamed |"):
        assert needle in text, needle
    assert main(["bench-loader", "--steps", "1", "--out", "-"]) == 2
    assert "--steps must be >= 2" in capsys.readouterr().err
    assert main(["bench-loader", "--generator", "nope", "--out", "-"]) == 2
    capsys.readouterr()
    # an --out that cannot be written is refused before the measurement (was a traceback after it)
    (tmp_path / "a_file").write_text("")
    assert main(["bench-loader", "--steps", "500", "--out", str(tmp_path / "a_file" / "x.md")]) == 2
    err = capsys.readouterr().err.strip()
    assert "a_file' is a file, not a folder" in err and len(err.splitlines()) == 1, err
    # a file that is not this command's report (a runs table given by mistake) is kept, not replaced;
    # the report written above is rewritten
    table = tmp_path / "runs.csv"
    table.write_text("run_id,test_err\nabc,0.3\n")
    assert main(["bench-loader", "--steps", "500", "--out", str(table)]) == 2
    err = capsys.readouterr().err.strip()
    assert "exists and is not a report of this command" in err and len(err.splitlines()) == 1, err
    assert table.read_text() == "run_id,test_err\nabc,0.3\n"
    assert main(["bench-loader", "--generator", "deadleaves", "--complexity", "0", "--resolution", "16",
                 "--steps", "2", "--batch-size", "4", "--repeats", "1", "--out", str(out)]) == 0


@pytest.mark.parametrize("spelling", ["-o", "--output", "--out"])
def test_the_report_path_is_spelled_as_other_commands_spell_it(tmp_path, capsys, spelling):
    """bench-loader took only --out where fit, plot and export take -o/--output; --out still works
    (committed reports name it), and messages name --output."""
    assert main(["bench-loader", spelling, str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"synthscale: error: --output {str(tmp_path)!r} is a folder; give a file path", err


def test_every_option_says_what_it_sets_and_its_default():
    """--generator, --complexity, --resolution, --channels and --batch-size had no help text at all."""
    import argparse

    from bench.loader_bench import register

    sub = argparse.ArgumentParser().add_subparsers()
    register(sub)
    options = [a for a in sub.choices["bench-loader"]._actions if a.option_strings and a.dest != "help"]
    for a in options:
        if a.dest != "small_input":  # a flag: off unless given
            assert a.help and str(a.default) in a.help % {"default": a.default}, (a.dest, a.help)
    assert len(options) == 11


def test_a_trial_run_does_not_overwrite_the_committed_report(tmp_path, capsys, monkeypatch):
    """`synthscale bench-loader --steps 2 --repeats 1` replaced results/loader_bench.md (a 40-step,
    complexity-3 table) with a 2-step, complexity-1 one: the bare command's defaults were not the
    committed setup, and another setup wrote over it all the same."""
    from bench.loader_bench import COMMITTED, REPORT

    monkeypatch.chdir(tmp_path)
    assert main(["bench-loader", "--steps", "2", "--repeats", "1"]) == 2
    err = capsys.readouterr().err.strip()
    assert "--steps, --repeats changed" in err and "pass --output FILE" in err and len(err.splitlines()) == 1, err
    assert not (tmp_path / "results").exists()
    (tmp_path / "results").mkdir()  # the committed report named by its absolute path: refused too
    assert main(["bench-loader", "--steps", "2", "--out", str(tmp_path / REPORT)]) == 2
    assert "would overwrite it" in capsys.readouterr().err
    committed = (Path(__file__).resolve().parents[1] / REPORT).read_text()
    assert "synthscale bench-loader " + " ".join(
        f"--{k.replace('_', '-')} {v}" for k, v in COMMITTED.items() if k != "small_input") in committed
