"""What `synthscale sweep` says about failed local jobs, odd flags and odd roots, and what
`sweep status` makes of old, corrupted and unfinished sweeps. Real local jobs, no Slurm."""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pandas as pd
import pytest
import submitit
import torch

from bench.cli import main
from bench.config import load_sweep
from slurm.plan import plan
from slurm.sweep import job_error, make_executor
from slurm.tracking import JobRef, cell_statuses, write_manifest

TINY = """
name: tiny
synth: {generator: shapes, n: 0, complexity: 1, resolution: 16, channels: 1}
model: {name: resnet10t, small_input: false}
finetune: {examples: 64, batch_size: 32}
target: {name: fashion_mnist, n_real: [20], test_size: 100}
grid:
  seed: [0, 1, 2]
"""


def _broken_sweep(tmp_path: Path) -> tuple[Path, str]:
    """Three cells; the first one fails inside its job (its log file cannot be opened)."""
    cfg = tmp_path / "tiny.yaml"
    cfg.write_text(TINY)
    first = plan(load_sweep(cfg), tmp_path).todo[0].run_id
    return cfg, first


def _break(root: Path, run_id: str) -> None:
    (root / "runs" / run_id / "log.txt").mkdir(parents=True)


def _error_line(err: str) -> str:
    (line,) = [ln for ln in err.splitlines() if ln.startswith("  failed ")]
    return line


def test_failed_local_job_reports_its_error_and_status_counts_unsubmitted_cells(tmp_path, capsys,
                                                                                monkeypatch):
    """The local executor prints the job's exception like debug does (not submitit's log paths);
    a --fail-fast sweep from a relative root leaves a manifest that `status` reads from anywhere,
    with the traceback's tail and the two cells never submitted counted as missing."""
    cfg, first = _broken_sweep(tmp_path)
    monkeypatch.chdir(tmp_path)
    lines = {}
    for executor in ("debug", "local"):
        _break(tmp_path / executor, first)
        assert main(["sweep", str(cfg), "--root", executor, "--executor", executor, "--fail-fast"]) == 1
        out, err = capsys.readouterr()
        lines[executor] = _error_line(err)
        # the two cells never submitted are counted as not run, not as failures, and get no line each
        # and no "rows in" a table that holds only its header
        assert ("0 cells finished now, 1 failed, 2 not run (--fail-fast; the next sweep runs them); "
                f"{executor}/runs.csv has no rows yet" in out), out
        assert sum(ln.startswith("  failed ") for ln in err.splitlines()) == 1, err
    assert f"failed {first}: IsADirectoryError: [Errno 21] Is a directory: " in lines["local"]
    # the same error line; where to look differs: a local job's own logs, none for a debug cell (it ran here)
    head = {k: v.split(" (no run log: ")[0] for k, v in lines.items()}
    assert head["local"] == head["debug"].replace("debug", "local")
    assert lines["local"].endswith(f"(no run log: the job's own logs are under {Path('local') / 'submitit'})")
    assert lines["debug"].endswith("(no run log: the error is all there is)")

    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    assert main(["sweep", "status", "--root", str(tmp_path / "local")]) == 1
    out = capsys.readouterr().out
    assert "    | IsADirectoryError: [Errno 21] Is a directory" in out
    assert out.count("missing  no job scratch resnet10t seed=") == 2
    assert out.splitlines()[-1] == "3 cells: 0 done, 0 running, 0 pending, 0 stopped, 1 failed, 2 missing"


def test_killed_and_timed_out_local_jobs_say_so(tmp_path):
    """Real local jobs: the job process killed, the worker killed, the time limit reached."""
    root = tmp_path / "root"
    controller, worker = (make_executor("local", root).submit(time.sleep, 100) for _ in range(2))
    ex = submitit.LocalExecutor(folder=str(root / "t"))  # what the local executor runs, with a
    ex.update_parameters(timeout_min=1, signal_delay_s=58)  # timeout signal after 2 s, not 30
    timed_out = ex.submit(time.sleep, 100)
    _wait_for_worker(controller), _wait_for_worker(worker)
    os.kill(_wait_for_worker(controller), signal.SIGKILL)  # its orphan would sleep on
    os.kill(int(controller.job_id), signal.SIGKILL)
    os.kill(_wait_for_worker(worker), signal.SIGKILL)
    jobs = (controller, worker, timed_out)
    with ThreadPoolExecutor(3) as pool:  # each job without a result waits 15 s for one
        msgs = [e.message for e in pool.map(lambda j: job_error(j, j.exception(), 1), jobs)]
    assert msgs[0].startswith("killed by a signal; logs: ")
    assert msgs[1].startswith("its process died without a result or an error (killed? out of memory?)")
    assert msgs[2] == "timed out (limit 1 min): raise --timeout-min"


def test_a_local_cell_at_its_time_limit_saves_its_step(tmp_path, capsys, monkeypatch):
    """submitit's local controller sends USR2 `signal_delay_s` before the time limit: the cell saves
    a checkpoint and stops, where it ended with "timed-out and not checkpointable" and nothing saved.
    The sweep and `sweep status` say it was the time limit; the next sweep resumes the step."""
    from slurm import sweep

    def near_limit_after_25_s(*args, **kwargs):
        ex = make_executor_before(*args, **kwargs)
        # of the 1 min limit: USR2 after 25 s, not 30; the job must be training by then (it starts
        # torch and reads the data first: 15 s was close under make test's load)
        ex._executor.update_parameters(signal_delay_s=35)
        return ex
    make_executor_before = sweep.make_executor
    monkeypatch.setattr(sweep, "make_executor", near_limit_after_25_s)
    cfg = tmp_path / "long.yaml"
    cfg.write_text(TINY.replace("examples: 64", "examples: 2000000").replace("  seed: [0, 1, 2]", "  seed: [0]"))
    root = tmp_path / "root"
    assert main(["sweep", str(cfg), "--root", str(root), "--timeout-min", "1"]) == 1
    out, err = capsys.readouterr()
    assert "0 cells finished now, 0 failed, 1 stopped with a checkpoint" in out
    assert re.search(r"^  stopped \w+: stopped at step \d+/62500 of finetune s=20; checkpoint \S+ \(at its "
                     r"time limit, 1 min; raise --timeout-min\); the next sweep resumes it", err, re.M), err
    assert len(list(root.glob("runs/*/ft-s20.ckpt"))) == 1
    (status,) = cell_statuses(root)
    assert status.state == "stopped" and status.detail.startswith("at its time limit (raise --timeout-min), "
                                                                  "at step "), status


def _wait_for_worker(job) -> int:
    """The pid of the Python process that runs a local job (the job id is its controller's)."""
    pid = int(job.job_id)
    for _ in range(100):
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        if children:
            return int(children[0])
        time.sleep(0.1)
    raise AssertionError("the local job started no worker")


def test_status_of_an_old_manifest_with_a_relative_folder_shows_the_tail(tmp_path, monkeypatch):
    root = tmp_path / "s1"
    (root / "submitit" / "sub1").mkdir(parents=True)
    (root / "submitit" / "sub1" / "999999999_0_log.err").write_text("Traceback\nValueError: the real cause\n")
    (root / "runs" / "abc").mkdir(parents=True)
    (root / "runs" / "abc" / "config.yaml").write_text("name: x\n")
    write_manifest(root, "sub1", [JobRef("abc", "local", "999999999", "synthscale", "s1/submitit/sub1", 0.0)])
    monkeypatch.chdir("/")
    (status,) = cell_statuses(root)
    assert status.state == "failed" and status.log_tail[-1] == "ValueError: the real cause"


def test_a_local_cell_stopped_while_starting_up_is_missing_not_failed(tmp_path):
    """A Ctrl-C (or the sweep's SIGTERM) that reaches a local job before its run handles signals
    leaves no checkpoint, and nothing went wrong: `sweep status` called such a cell failed (exit 1)."""
    root, folder = tmp_path / "root", tmp_path / "sub"
    folder.mkdir()
    (folder / "999999991_0_log.err").write_text("Traceback (most recent call last):\n  File \"x\"\nKeyboardInterrupt\n")
    (folder / "999999992_0_log.err").write_text("Traceback (most recent call last):\n  File \"x\"\nValueError: boom\n")
    jobs = [JobRef(rid, "local", jid, "synthscale", str(folder), 0.0)
            for rid, jid in (("quiet", "999999990"), ("ctrlc", "999999991"), ("broken", "999999992"))]
    write_manifest(root, "sub1", jobs, submitting=False)
    got = {st.run_id: st for st in cell_statuses(root)}
    assert got["quiet"].state == "missing" and "left no log" in got["quiet"].detail
    assert got["ctrlc"].state == "missing" and got["ctrlc"].detail.startswith("its job was stopped by Ctrl-C")
    assert got["ctrlc"].detail.endswith("the next sweep runs it (from its last checkpoint, if it has one)")
    assert got["broken"].state == "failed" and got["broken"].log_tail[-1] == "ValueError: boom"


def test_corrupted_manifest_entries_are_skipped_with_one_warning(tmp_path, capsys, caplog):
    root = tmp_path / "root"
    good = JobRef("good", "local", "999999999", "synthscale", str(tmp_path), 0.0)
    (tmp_path / "999999999_0_log.err").write_text("ValueError: its own failure\n")
    path = write_manifest(root, "sub1", [good])
    data = json.loads(path.read_text())
    data["jobs"] += [{**data["jobs"][0], "run_id": "bad", "colour": "red"}, "junk", {"run_id": "x"}]
    path.write_text(json.dumps(data))
    (root / "sweeps" / "sub2.json").write_text("{not json")
    assert main(["sweep", "status", "--root", str(root)]) == 1
    assert capsys.readouterr().out.splitlines()[-1] == "1 cell: 0 done, 0 running, 0 pending, 0 stopped, 1 failed, 0 missing"
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert warnings == [f"warning: {path}: 3 unreadable job entries ignored (their cells count as missing)",
                        f"warning: {root / 'sweeps' / 'sub2.json'} is not a sweep manifest; ignored"]


def test_planned_cells_are_pending_while_their_sweep_runs_and_missing_after(tmp_path):
    root = tmp_path / "root"
    path = write_manifest(root, "sub1", [], {"abc": "scratch resnet10t seed=0"})
    (status,) = cell_statuses(root)  # this test's process planned it and still runs
    assert (status.state, status.detail, status.label) == ("pending", "not submitted yet",
                                                            "scratch resnet10t seed=0")
    gone = subprocess.Popen(["true"])
    gone.wait()
    path.write_text(path.read_text().replace(f'"pid": {os.getpid()}', f'"pid": {gone.pid}'))
    assert cell_statuses(root)[0].state == "missing"


def _one_error_line(capsys, want: str) -> None:
    cap = capsys.readouterr()
    assert "Traceback" not in cap.err and cap.err.strip().splitlines()[-1] == f"synthscale: error: {want}"


@pytest.mark.parametrize("minutes", ["0", "-1"])
def test_timeout_must_be_positive(tmp_path, capsys, minutes):
    cfg, _ = _broken_sweep(tmp_path)
    root = tmp_path / "root"
    assert main(["sweep", str(cfg), "--root", str(root), "--timeout-min", minutes, "--dry-run"]) == 2
    _one_error_line(capsys, f"--timeout-min: must be at least 1, got {minutes}")
    assert not root.exists()


@pytest.mark.parametrize("extra", [["synth.n=5"], ["--executor", "local"], ["--profile", "local"],
                                   ["--dry-run"]])
def test_status_refuses_sweep_arguments(tmp_path, capsys, extra):
    (tmp_path / "root").mkdir()
    assert main(["sweep", "status", "--root", str(tmp_path / "root"), *extra]) == 2
    _one_error_line(capsys, f"sweep status takes only --root and --state; remove {extra[0]}")


def test_status_state_lists_only_those_cells_and_counts_all(tmp_path, capsys, monkeypatch):
    """`sweep status --state` had no filter: a grid's failed cells were found among hundreds of lines.
    The summary line and the exit code (1: a cell failed) are of every cell, listed or not."""
    cfg, first = _broken_sweep(tmp_path)
    monkeypatch.chdir(tmp_path)
    _break(tmp_path / "r", first)
    assert main(["sweep", str(cfg), "--root", "r", "--executor", "debug", "--fail-fast"]) == 1
    capsys.readouterr()
    summary = "3 cells: 0 done, 0 running, 0 pending, 0 stopped, 1 failed, 2 missing"

    def listed(*state: str) -> list[str]:
        assert main(["sweep", "status", "--root", "r", *state]) == 1  # the failed cell, shown or not
        out = capsys.readouterr().out.splitlines()
        assert out[-1] == summary, out
        return [ln.split()[1] for ln in out[:-1] if not ln.startswith("    | ")]

    assert listed() == ["failed", "missing", "missing"]
    assert listed("--state", "missing") == ["missing", "missing"]
    assert listed("--state", "done") == []
    assert listed("--state", "failed,missing") == listed("--state", "missing", "--state", "failed") == \
        ["failed", "missing", "missing"]


@pytest.mark.parametrize("argv, want", [
    (["sweep", "status", "--root", "{d}", "--state", "failed,broken"],
     "--state: 'broken' is not a cell state; choose from done, running, pending, stopped, failed, missing, "
     "unknown (several with commas, e.g. --state failed,stopped)"),
    (["sweep", "{cfg}", "--root", "{d}/r", "--dry-run", "--state", "failed"],
     "--state failed: only `sweep status` takes it (it lists the cells in those states); remove it, or run "
     "`sweep status --root ROOT --state ...`"),
])
def test_a_state_status_does_not_show_or_a_sweep_given_state_is_one_line(tmp_path, capsys, argv, want):
    cfg, _ = _broken_sweep(tmp_path)
    (tmp_path / "runs").mkdir()
    assert main([a.format(d=tmp_path, cfg=cfg) for a in argv]) == 2
    _one_error_line(capsys, want)
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize("executor", [[], ["--executor", "local"], ["--executor", "debug"]])
def test_cluster_flags_need_the_slurm_executor(tmp_path, capsys, executor):
    cfg, _ = _broken_sweep(tmp_path)
    argv = ["sweep", str(cfg), "--root", str(tmp_path / "r"), "--profile", "local", "--qos", "x", *executor]
    assert main(argv + ["--dry-run"]) == 2
    runs = executor[1] if executor else "local"
    _one_error_line(capsys, f"--profile, --qos: cluster settings, used only with --executor slurm "
                            f"(this sweep runs {runs})")


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
@pytest.mark.parametrize("executor", ["debug", "local"])
def test_a_cuda_device_on_a_machine_without_one_is_refused_before_any_cell(tmp_path, capsys, executor):
    # each cell failed on its own with this message, after the sweep had started and made its folders
    cfg, _ = _broken_sweep(tmp_path)
    root = tmp_path / "r"
    assert main(["sweep", str(cfg), "device=cuda", "--root", str(root), "--executor", executor]) == 2
    _one_error_line(capsys, "device: 'cuda' asked for, but this machine has no usable CUDA device; use device=auto "
                            "(cuda where present) or device=cpu")
    assert not (root / "runs").exists()
    assert main(["sweep", str(cfg), "device=cuda", "--root", str(root), "--executor", executor, "--dry-run"]) == 0


@pytest.mark.parametrize("flags, why", [
    (["--timeout-min", "1"], "--timeout-min: the debug executor runs the cells in this process, with no time limit; "
                             "remove it"),
    (["--max-parallel", "2"], "--max-parallel: the debug executor runs the cells in this process, one at a "
                              "time; remove it"),  # was told "with no time limit" too
    (["--max-parallel", "2", "--timeout-min", "1"], "--max-parallel, --timeout-min: the debug executor runs the "
     "cells in this process, one at a time and with no time limit; remove them")])
def test_the_debug_executor_refuses_limits_it_cannot_keep(tmp_path, capsys, flags, why):
    # a 98-s cell ran under --timeout-min 1, and --max-parallel 2 ran one cell at a time, both silently
    cfg, _ = _broken_sweep(tmp_path)
    root = tmp_path / "r"
    assert main(["sweep", str(cfg), "--root", str(root), "--executor", "debug", *flags]) == 2
    _one_error_line(capsys, f"{why}, or use --executor local")
    assert not (root / "runs").exists()


@pytest.mark.parametrize("flags, want", [
    (["--array-parallelism", "0"], "--array-parallelism: must be at least 1, got 0"),  # was the profile's 2
    (["--max-parallel", "3", "--array-parallelism", "2"],  # was 2, silently
     "--max-parallel 3 and --array-parallelism 2 set the same limit on Slurm (tasks of one array at once); "
     "give one of them"),
])
def test_array_parallelism_is_checked_like_max_parallel(tmp_path, capsys, monkeypatch, flags, want):
    monkeypatch.setenv("PATH", str(tmp_path))  # no sbatch to ask (it may wait for a controller that is down)
    cfg, _ = _broken_sweep(tmp_path)
    argv = ["sweep", str(cfg), "--root", str(tmp_path / "r"), "--executor", "slurm", "--profile", "local"]
    assert main(argv + flags + ["--dry-run"]) == 2
    _one_error_line(capsys, want)
    assert main(argv + ["--array-parallelism", "3", "--dry-run"]) == 0
    assert "#SBATCH --array=0-2%3" in capsys.readouterr().out


def test_a_malformed_override_after_the_options_is_named(tmp_path, capsys):
    # after the options it was argparse's usage block and "unrecognized arguments: noequals"
    cfg, _ = _broken_sweep(tmp_path)
    assert main(["sweep", str(cfg), "--root", str(tmp_path / "r"), "--dry-run", "noequals"]) == 2
    _one_error_line(capsys, "override 'noequals': expected NAME=VALUE, e.g. synth.n=1000")


def test_status_of_a_folder_that_holds_no_sweep_says_so(tmp_path, capsys):
    # a run's own folder, a results folder: it printed "0 cells: ..." and exit 0
    (tmp_path / "runs.csv").write_text("run_id\n")
    assert main(["sweep", "status", "--root", str(tmp_path)]) == 2
    _one_error_line(capsys, f"--root {str(tmp_path)!r} holds no sweep (no sweeps/ or runs/ folder in it); "
                            "give the --root the sweep was started with")


def test_root_that_is_a_file_is_one_line(tmp_path, capsys):
    cfg, _ = _broken_sweep(tmp_path)
    (tmp_path / "f").write_text("")
    for root in (tmp_path / "f", tmp_path / "f" / "sub"):
        assert main(["sweep", str(cfg), "--root", str(root)]) == 2
        _one_error_line(capsys, f"--root {str(root)!r}: {str(tmp_path / 'f')!r} is a file; pass a directory")
        assert main(["sweep", "status", "--root", str(root)]) == 2
        _one_error_line(capsys, f"--root {str(root)!r}: {str(tmp_path / 'f')!r} is a file; pass a directory")


def test_dry_run_into_a_closed_pipe_exits_quietly(tmp_path):
    cfg, _ = _broken_sweep(tmp_path)
    cmd = [sys.executable, "-m", "slurm", "sweep", str(cfg), "--root", str(tmp_path / "r"), "--dry-run"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "OMP_NUM_THREADS": "1"})
    proc.stdout.close()  # like `| head -1` that has already gone
    err = proc.stderr.read()
    assert proc.wait(timeout=120) == 141 and err == ""


def test_demo_help_names_the_file_it_writes(capsys):
    with pytest.raises(SystemExit):
        main(["demo", "--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    assert "PROVENANCE.md" in help_text and "README.md" not in help_text


@pytest.mark.parametrize("by, want", [
    # complexity (the default) would pool the two generators into one curve: that was refused
    # only by the fit, after the whole sweep had run, with advice (--by) demo did not take
    ("complexity", "group complexity=1 pools runs that differ in 'generator' (deadleaves, shapes) at the "
                   "same n_synth, as if they were seeds of one curve; fit one generator at a time (a table "
                   "with one value of it), or group by both: --by complexity,generator"),
    ("complexity,genrator", "--by complexity,genrator: 'genrator' is not a column that says what was run "
                            "(did you mean 'generator'?); choose from "),
])
def test_demo_checks_its_grouping_before_the_sweep(tmp_path, capsys, by, want):
    cfg = tmp_path / "two.yaml"
    cfg.write_text(TINY.replace("n: 0,", "n: 32,").replace("  seed: [0, 1, 2]",
                                                           "  seed: [0]\n  synth.generator: [shapes, deadleaves]"))
    root, out = tmp_path / "r", tmp_path / "o"
    assert main(["demo", "--config", str(cfg), "--root", str(root), "--out", str(out), "--by", by]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"synthscale: error: {want}") and len(err.splitlines()) == 1, err
    assert not root.exists() and not out.exists()


def test_demo_fits_one_curve_per_by_value(tmp_path, capsys, monkeypatch):
    cfg = tmp_path / "two.yaml"
    cfg.write_text(TINY.replace("  seed: [0, 1, 2]", "  seed: [0]\n  synth.n: [0, 32, 64, 128]\n"
                                "  synth.generator: [shapes, deadleaves]").replace("n_real: [20], test_size: 100",
                                                                                  "n_real: [10], test_size: 50")
                + "pretrain: {examples: 32, batch_size: 32}\n")
    out = tmp_path / "o"
    argv = ["demo", "--config", str(cfg), "--root", str(tmp_path / "r"), "--out", str(out), "--executor",
            "debug", "--by", "complexity,generator"]
    monkeypatch.setattr(sys, "argv", ["synthscale", *argv])  # what the console script sees
    assert main(argv) == 0
    fitted = json.loads((out / "fits.json").read_text())
    assert fitted["by"] == "complexity,generator" and sorted(fitted["groups"]) == ["1/deadleaves", "1/shapes"]
    assert len(pd.read_csv(out / "runs.csv")) == 7 and (out / "scaling.png").is_file()
    # the user's own demo is not "what make demo runs" (PROVENANCE.md said so of every demo)
    command = next(line for line in (out / "PROVENANCE.md").read_text().splitlines() if line.startswith("- command:"))
    assert f"--config {cfg}" in command and "make demo" not in command
    # another config on the same root (the default root is shared): its demo fits its own cells only,
    # here a subset that is all done already (it used to fit and tabulate every run under the root)
    one = tmp_path / "one.yaml"
    one.write_text(cfg.read_text().replace("[shapes, deadleaves]", "[shapes]"))
    argv = ["demo", "--config", str(one), "--root", str(tmp_path / "r"), "--out", str(tmp_path / "o1"),
            "--executor", "debug", "--by", "complexity,generator"]
    assert main(argv) == 0
    assert sorted(json.loads((tmp_path / "o1" / "fits.json").read_text())["groups"]) == ["1/shapes"]
    assert len(pd.read_csv(tmp_path / "o1" / "runs.csv")) == 4


def test_demo_refuses_a_grid_too_small_to_fit_before_the_sweep(tmp_path, capsys):
    # one synthetic size: the fit refused it ("need at least 3 distinct sizes") after the whole sweep
    cfg = tmp_path / "one.yaml"
    cfg.write_text(TINY.replace("  seed: [0, 1, 2]", "  seed: [0]\n  synth.n: [0, 64]"))
    root, out = tmp_path / "r", tmp_path / "o"
    assert main(["demo", "--config", str(cfg), "--root", str(root), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert "has 1 synthetic size(s) n > 0 and a fit needs at least 3" in err and len(err.splitlines()) == 1, err
    assert "the curve complexity=1 has" in err  # it said "the curve 1", a bare value
    assert not root.exists()


def test_demo_groups_by_a_config_field_the_grid_sweeps(tmp_path, capsys):
    """`collect` gives a grid's config fields (finetune.lr) a column; demo's up-front check did not
    know them, so it refused `--by finetune.lr`, and let `--by complexity` pool the two rates, which
    the fit then refused after the whole sweep."""
    cfg = tmp_path / "lr.yaml"
    cfg.write_text(TINY.replace("  seed: [0, 1, 2]", "  seed: [0]\n  synth.n: [0, 32, 64, 128]\n"
                                "  finetune.lr: [0.01, 0.02]").replace("n_real: [20], test_size: 100",
                                                                        "n_real: [10], test_size: 50")
                   + "pretrain: {examples: 32, batch_size: 32}\n")
    argv = ["demo", "--config", str(cfg), "--root", str(tmp_path / "r"), "--executor", "debug"]
    assert main([*argv, "--out", str(tmp_path / "o0")]) == 2  # the default --by complexity
    err = capsys.readouterr().err.strip()
    assert "pools runs that differ in 'finetune.lr' (0.01, 0.02)" in err and len(err.splitlines()) == 1, err
    assert not (tmp_path / "r").exists()
    assert main([*argv, "--out", str(tmp_path / "o"), "--by", "finetune.lr"]) == 0
    fitted = json.loads((tmp_path / "o" / "fits.json").read_text())
    assert fitted["by"] == "finetune.lr" and sorted(fitted["groups"]) == ["0.01", "0.02"]
    assert (tmp_path / "o" / "scaling.png").is_file()


def test_demo_refuses_an_out_that_is_a_file_before_the_sweep(tmp_path, capsys):
    # used to run the whole sweep, then end in a FileExistsError traceback
    (tmp_path / "o").write_text("not a folder")
    assert main(["demo", "--config", "quickstart", "--root", str(tmp_path / "r"), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip()
    assert "--out" in err and "is a file" in err and len(err.splitlines()) == 1, err
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize("spelling", ["-o", "--output", "--out"])
def test_demo_takes_its_output_folder_as_the_other_commands_do(tmp_path, capsys, spelling):
    """demo took only --out where fit, plot, collect and export take -o/--output; --out still works
    (committed results name it), and messages name --output."""
    (tmp_path / "o").write_text("not a folder")
    argv = ["demo", "--config", "quickstart", "--root", str(tmp_path / "r"), spelling, str(tmp_path / "o")]
    assert main(argv) == 2
    _one_error_line(capsys, f"--output {str(tmp_path / 'o')!r} is a file; give a folder path (it is created if "
                            "missing)")
    assert not (tmp_path / "r").exists()


def test_demo_refused_after_its_out_check_leaves_no_empty_out_folder(tmp_path, capsys):
    # --out is created when it is checked, before the sweep's own checks: a refused --max-parallel
    # left the new folder (and its new parents) behind, empty
    out = tmp_path / "new" / "o"
    argv = ["demo", "--config", "quickstart", "--root", str(tmp_path / "r"), "--out", str(out)]
    assert main([*argv, "--max-parallel", "0"]) == 2
    assert "--max-parallel: must be at least 1, got 0" in capsys.readouterr().err
    assert not (tmp_path / "new").exists()
    (tmp_path / "new").mkdir()  # a folder that was there before is kept
    assert main([*argv, "--max-parallel", "0"]) == 2 and (tmp_path / "new").is_dir() and not out.exists()


def _cells_that(fail: int, stop: int, message: str = "broken"):
    """A stand-in for slurm.jobs.run_cell (a debug sweep's cells call it): the cell of seed `fail`
    raises ValueError(message), the cell of seed `stop` is stopped by a signal after a checkpoint at
    step 12, the others finish."""
    from bench.train import Interrupted

    stop_seed = stop  # the fake's own `stop` is the event run_debug_cell passes

    def fake_cell(spec: dict, root: str, stop=None) -> list:
        if spec["seed"] == fail:
            raise ValueError(message)
        if spec["seed"] == stop_seed:
            raise Interrupted(12, Path(root) / "ckpt.pt")
        return []
    return fake_cell


def test_a_cell_is_stopped_by_its_exception_type_not_by_words_in_its_message(tmp_path, capsys,
                                                                              monkeypatch):
    """Only bench.train.Interrupted (a signal stopped the cell after saving a checkpoint) is
    'stopped'; an error whose message merely contains the words is a failure. The summary counts
    each once and the lines come in the order the cells ended."""

    monkeypatch.setattr("slurm.jobs.run_cell", _cells_that(
        fail=0, stop=1, message="disk said (stopped by a signal); the next sweep resumes it"))
    cfg, first = _broken_sweep(tmp_path)
    root = tmp_path / "root"
    assert main(["sweep", str(cfg), "--root", str(root), "--executor", "debug"]) == 1
    out, err = capsys.readouterr()
    # (the cells here are stand-ins that write no rows)
    assert f"1 cell finished now, 1 failed, 1 stopped with a checkpoint; {root / 'runs.csv'} has no rows yet" in out
    lines = [ln.split(" ")[2] for ln in err.splitlines() if ln.startswith(("  failed ", "  stopped "))]
    assert lines == ["failed", "stopped"], err
    assert f"  failed {first}: ValueError: disk said (stopped by a signal); the next sweep" in err
    assert re.search(r"^  stopped \w+: stopped at step 12; checkpoint \S+ \(stopped by a signal\); the next "
                     r"sweep resumes it from that step \(no run log: ", err, re.M), err  # a stand-in cell: no log


def test_progress_counts_stopped_cells_apart_from_failed_ones(tmp_path, caplog, monkeypatch):
    """The progress log and bar say '(1 failed, 1 stopped)' / failed=1, stopped=1, not 2 failed;
    stopped is left out while no cell was stopped."""
    import logging

    from slurm import sweep

    class Bar:
        postfixes: list[dict] = []

        def update(self, n: int) -> None:
            pass

        def set_postfix(self, refresh: bool = True, **kw) -> None:
            self.postfixes.append(kw)

        def close(self) -> None:
            pass

    monkeypatch.setattr("slurm.jobs.run_cell", _cells_that(fail=1, stop=2))
    cfg, _ = _broken_sweep(tmp_path)
    seeds = [s.seed for s in plan(load_sweep(cfg), tmp_path).todo]  # the debug executor's end order
    caplog.set_level(logging.INFO, logger="synthscale.sweep")
    assert main(["sweep", str(cfg), "--root", str(tmp_path / "root"), "--executor", "debug"]) == 1
    ticks = [r.getMessage() for r in caplog.records if "cells ended" in r.getMessage()]
    assert len(ticks) == 3, ticks
    failed = stopped = 0
    for i, (seed, line) in enumerate(zip(seeds, ticks)):
        failed, stopped = failed + (seed == 1), stopped + (seed == 2)
        counts = f"({failed} failed" + (f", {stopped} stopped" if stopped else "") + ")"
        assert line == f"sweep: {i + 1}/3 cells ended {counts}", ticks
    assert ticks[-1].endswith("(1 failed, 1 stopped)")

    monkeypatch.setattr(sweep, "_bar", lambda total: Bar())
    assert main(["sweep", str(cfg), "--root", str(tmp_path / "root2"), "--executor", "debug"]) == 1
    assert Bar.postfixes[-1] == {"failed": 1, "stopped": 1}, Bar.postfixes
    assert all("stopped" not in p for p in Bar.postfixes[:seeds.index(2)]), Bar.postfixes


def test_fail_fast_counts_the_cells_it_did_not_submit_in_the_progress(tmp_path, caplog, monkeypatch):
    """The cells --fail-fast keeps from starting end in the progress too, in one update: the log
    line says '(1 failed, 2 not run)' and the bar reaches the total (it stopped at 1 of 3)."""
    import logging

    from slurm import sweep

    class Bar:
        updates: list[int] = []
        postfixes: list[dict] = []

        def update(self, n: int) -> None:
            self.updates.append(n)

        def set_postfix(self, refresh: bool = True, **kw) -> None:
            self.postfixes.append(kw)

        def close(self) -> None:
            pass

    cfg, _ = _broken_sweep(tmp_path)
    first_seed = plan(load_sweep(cfg), tmp_path).todo[0].seed  # the debug executor runs in plan order
    monkeypatch.setattr("slurm.jobs.run_cell", _cells_that(fail=first_seed, stop=-1))
    caplog.set_level(logging.INFO, logger="synthscale.sweep")
    argv = ["sweep", str(cfg), "--root", str(tmp_path / "root"), "--executor", "debug", "--fail-fast"]
    assert main(argv) == 1
    ticks = [r.getMessage() for r in caplog.records if "cells ended" in r.getMessage()]
    assert ticks == ["sweep: 1/3 cells ended (1 failed)", "sweep: 3/3 cells ended (1 failed, 2 not run)"]
    monkeypatch.setattr(sweep, "_bar", lambda total: Bar())
    assert main([*argv[:3], str(tmp_path / "root2"), *argv[4:]]) == 1
    assert Bar.updates == [1, 2] and Bar.postfixes[-1] == {"failed": 1, "not_run": 2}, (Bar.updates, Bar.postfixes)


def test_fail_fast_still_stops_at_a_stopped_cell(tmp_path, monkeypatch):
    from bench.train import Interrupted

    ran = []

    def fake_cell(spec: dict, root: str, stop=None) -> list:
        ran.append(spec["seed"])
        raise Interrupted(3, Path(root) / "ckpt.pt")

    monkeypatch.setattr("slurm.jobs.run_cell", fake_cell)
    cfg, _ = _broken_sweep(tmp_path)
    argv = ["sweep", str(cfg), "--root", str(tmp_path / "root"), "--executor", "debug", "--fail-fast"]
    assert main(argv) == 1 and len(ran) == 1, ran


def test_a_slurm_job_is_stopped_only_when_its_traceback_ends_in_interrupted():
    """What a Slurm job's result holds (submitit wraps the job's traceback in dashes)."""
    from submitit.core.utils import FailedJobError

    from slurm.arrays import cell_error

    def wrapped(last: str) -> FailedJobError:
        trace = f'Traceback (most recent call last):\n  File "x.py", line 1, in f\n    g()\n{last}'
        return FailedJobError(f"Job (task=0) failed during processing with trace:\n{'-' * 20}\n{trace}\n"
                              f"{'-' * 20}\nYou can check full logs with 'job.stderr(0)'")

    stopped = cell_error(wrapped("bench.train.Interrupted: stopped at step 7; checkpoint c.pt"))
    assert stopped.stopped and stopped.message == ("stopped at step 7; checkpoint c.pt (stopped by a "
                                                   "signal); the next sweep resumes it from that step")
    failed = cell_error(wrapped("RuntimeError: step 7 (stopped by a signal)"))
    assert not failed.stopped and failed.message == "RuntimeError: step 7 (stopped by a signal)"


def test_a_job_cancelled_before_it_started_leaves_its_cell_missing_not_failed(tmp_path):
    """A Slurm task cancelled while pending (--fail-fast, scancel) never ran the cell: status said
    'failed [CANCELLED]' with nothing to read (or '[ended without a row]' when sacct kept no record);
    it now says missing and why. A job that started (it wrote its log) is still failed."""
    from slurm.tracking import JobRef, _status

    folder = tmp_path / "submitit"
    folder.mkdir()
    for i, raw in enumerate(["CANCELLED", ""]):
        job = JobRef(f"cell{i}", "slurm", f"7_{i}", "t", str(folder), 0.0)
        st = _status(tmp_path, job.run_id, job, {job.job_id: raw} if raw else {}, ("seed=2", False))
        assert st.state == "missing" and st.detail == (
            f"{raw or 'no record'}: its job ended before it started (cancelled while pending: --fail-fast or "
            "scancel; or lost by the cluster); the next sweep runs it"), st
    started = JobRef("cell2", "slurm", "7_2", "t", str(folder), 0.0)
    started.stderr.write_text("Traceback (most recent call last):\nValueError: broken\n")
    st = _status(tmp_path, started.run_id, started, {"7_2": "CANCELLED"}, None)
    assert st.state == "failed" and st.detail == "CANCELLED" and st.log_tail[-1] == "ValueError: broken", st


def test_a_stopped_job_s_log_names_the_stage_of_its_step_and_old_logs_still_read(tmp_path):
    """Status read only the step from a stopped job's log ("at step 26"), which did not say whether
    it was a pre-training or a fine-tuning step; the stop now names its stage. A log written before
    still reads as a stop, without a stage."""
    from bench.train import Interrupted
    from slurm.tracking import JobRef, _status

    exc = Interrupted(26, tmp_path / "ckpt.pt", 64, "pretrain n=32")
    assert str(exc) == f"stopped at step 26/64 of pretrain n=32; checkpoint {tmp_path / 'ckpt.pt'}"
    for i, (line, want) in enumerate([
            (f"bench.train.Interrupted: {exc}", "at step 26 of pretrain n=32 with a checkpoint"),
            ("bench.train.Interrupted: stopped at step 7; checkpoint c.pt", "at step 7 with a checkpoint")]):
        run_dir = tmp_path / "runs" / f"cell{i}"
        run_dir.mkdir(parents=True)
        (run_dir / "log.txt").write_text(f"Traceback (most recent call last):\n{line}\n")
        job = JobRef(run_dir.name, "local", "1", "t", str(tmp_path / "no_folder"), 0.0)
        st = _status(tmp_path, run_dir.name, job, {}, None)
        assert st.state == "stopped" and st.detail.startswith(want), st


@pytest.mark.parametrize("argv, status_help", [(["sweep", "status", "--help"], True),
                                               (["sweep", "status", "-h", "--root", "r"], True),
                                               (["sweep", "--help"], False),
                                               (["sweep", "quickstart", "-h"], False)])
def test_sweep_status_help_is_the_status_command_s_own(argv, status_help, capsys):
    """`sweep status --help` printed the whole help of `sweep` (every Slurm flag, none of which
    status takes); it now prints the status command's usage. `sweep --help` is unchanged."""
    with pytest.raises(SystemExit) as exc:
        main(argv)
    out = capsys.readouterr().out
    assert exc.value.code == 0
    assert out.startswith("usage: synthscale sweep status [-h] --root ROOT") == status_help, out[:300]
    assert ("--partition" in out) != status_help, out[:300]


def test_sweep_status_help_names_the_program_it_was_run_as():
    """`python -m slurm sweep status --help` said `usage: synthscale sweep status`."""
    got = subprocess.run([sys.executable, "-m", "slurm", "sweep", "status", "--help"], capture_output=True,
                         text=True, timeout=120, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert got.returncode == 0 and got.stdout.startswith("usage: python -m slurm sweep status [-h] --root ROOT"), \
        got.stdout[:300] + got.stderr[-500:]
    assert "--state STATE[,STATE...]" in got.stdout and "summary line still counts every cell" in \
        " ".join(got.stdout.split())


@pytest.mark.parametrize("name", ["fits.json", "scaling.pdf", "PROVENANCE.md"])
def test_demo_refuses_an_output_name_taken_by_a_folder_before_the_sweep(tmp_path, capsys, name):
    # a traceback (IsADirectoryError) after the whole sweep, where its code promised one line before it
    cfg = tmp_path / "c.yaml"
    cfg.write_text(TINY.replace("  seed: [0, 1, 2]", "  seed: [0]\n  synth.n: [0, 32, 64, 128]"))
    root, out = tmp_path / "r", tmp_path / "o"
    (out / name).mkdir(parents=True)
    assert main(["demo", "--config", str(cfg), "--root", str(root), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert err == (f"synthscale: error: {out / name} is a folder where demo writes its file {name}: move it away "
                   "or give another --output"), err
    assert not root.exists()


def test_a_prefix_of_a_cluster_option_is_not_taken_for_it(tmp_path, capsys) -> None:
    """`--mem 16000` was read as --mem-gb 16000 (prefix matching): the dry run asked for 16,000 GB."""
    from bench.cli import main

    with pytest.raises(SystemExit) as stop:
        main(["sweep", "quickstart", "--root", str(tmp_path / "r"), "--executor", "slurm", "--mem", "16000",
              "--dry-run"])
    err = capsys.readouterr().err
    assert stop.value.code == 2
    assert "unrecognized arguments: --mem 16000" in err and len(err.strip().splitlines()) == 1, err


def _help_text(capsys, argv: list[str]) -> str:
    with pytest.raises(SystemExit):
        main([*argv, "--help"])
    return " ".join(capsys.readouterr().out.split())


def test_sweep_help_names_the_array_parallelism_default(capsys):
    from slurm.profiles import Profile

    assert Profile().array_parallelism == 16
    assert ("tasks of one array running at once (default: the profile's array_parallelism, else 16)"
            in _help_text(capsys, ["sweep"]))


def test_run_sweep_and_demo_say_the_same_of_data_root_and_it_holds(tmp_path, capsys, monkeypatch):
    """run and sweep said --data-root overrides target.data_root, demo that it also overrides
    $SYNTHSCALE_DATA_ROOT; it does both (a target.data_root it sets wins over the variable)."""
    said = {cmd: re.search(r"--data-root DATA_ROOT (.*?\))(?: --|$)", _help_text(capsys, [cmd])) for cmd in
            ("run", "sweep", "demo")}
    assert {cmd: m and m.group(1) for cmd, m in said.items()} == dict.fromkeys(
        said, "where the real target's files are (overrides the config's target.data_root and $SYNTHSCALE_DATA_ROOT)")
    mine, config_s, variable_s = (tmp_path / d for d in ("mine", "config_s", "variable_s"))
    for d in (mine, config_s, variable_s):
        d.mkdir()
    cfg = tmp_path / "s.yaml"
    cfg.write_text(TINY.replace("test_size: 100}", f"test_size: 100, data_root: {config_s}}}"))
    monkeypatch.setenv("SYNTHSCALE_DATA_ROOT", str(variable_s))
    read = []
    for extra in ([], ["--data-root", str(mine)]):
        assert main(["sweep", str(cfg), "--root", str(tmp_path / "r"), *extra, "--dry-run"]) == 2
        read.append(re.search(r"target.data_root '(.*?)' holds no Fashion-MNIST", capsys.readouterr().err).group(1))
    assert read == [str(config_s), str(mine)]  # the config's over the variable; --data-root over both
