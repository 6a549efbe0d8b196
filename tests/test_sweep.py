"""End to end through the CLI: a tiny sweep with the local executor, collect, and kill -9 then rerun."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from bench.cli import main
from bench.collect import collect

TINY = """
name: tiny
synth: {{generator: shapes, n: 64, complexity: 1, resolution: 16, channels: 1}}
model: {{name: resnet10t, small_input: false}}
pretrain: {{examples: {pre}, batch_size: 32, lr: 0.05}}
finetune: {{examples: 64, batch_size: 32, lr: 0.02}}
target: {{name: fashion_mnist, n_real: [20, 40], test_size: 100}}
grid:
  synth.n: {sizes}
  seed: [0]
"""
REQUIRED = ["run_id", "generator", "complexity", "n_synth", "model", "target", "n_real", "seed",
            "test_err", "test_acc", "pretrain_examples", "finetune_examples", "wall_s", "status"]


def tiny_config(tmp_path: Path, sizes: str = "[0, 32, 64]", pre: int = 64) -> Path:
    p = tmp_path / "tiny.yaml"
    p.write_text(TINY.format(sizes=sizes, pre=pre))
    return p


def test_local_sweep_produces_valid_rows(tmp_path, capsys):
    cfg, root = tiny_config(tmp_path), tmp_path / "runs"
    assert main(["sweep", str(cfg), "--root", str(root), "--executor", "local", "--max-parallel", "2"]) == 0
    df = pd.read_csv(root / "runs.csv")
    assert set(REQUIRED) <= set(df.columns)
    assert len(df) == 3 * 2  # three cells x two real sizes
    assert sorted(df["n_synth"].unique()) == [0, 32, 64]
    assert ((df["test_err"] >= 0) & (df["test_err"] <= 1)).all()
    assert (df["test_err"] + df["test_acc"]).round(6).eq(1).all()
    assert (df.loc[df.n_synth == 0, "generator"] == "none").all()
    assert (df.loc[df.n_synth == 0, "pretrain_examples"] == 0).all()
    assert (df["status"] == "ok").all()
    assert (df["torch_threads"] == 1).all()  # two cells at once: one thread each, recorded in the row
    # status lists the cells in the plan's order, as the dry run does (it sorted them by run id, which
    # interleaved a grid's cells): longest first, then the grid's order
    capsys.readouterr()
    assert main(["sweep", "status", "--root", str(root)]) == 0
    labels = [ln.split("(local) ")[1] for ln in capsys.readouterr().out.splitlines()[:-1]]
    assert labels == ["shapes c=1 n=32 resnet10t seed=0", "shapes c=1 n=64 resnet10t seed=0",
                      "scratch resnet10t seed=0"], labels
    # A second identical sweep has nothing to do and changes nothing.
    before = {p: p.stat().st_mtime_ns for p in root.glob("runs/*/row.json")}
    assert main(["sweep", str(cfg), "--root", str(root), "--executor", "debug"]) == 0
    assert "0 to run" in capsys.readouterr().out
    assert before == {p: p.stat().st_mtime_ns for p in root.glob("runs/*/row.json")}


def test_dry_run_submits_nothing(tmp_path, capsys):
    cfg, root = tiny_config(tmp_path), tmp_path / "runs"
    assert main(["sweep", str(cfg), "--root", str(root), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "3 cells: 0 done, 3 to run" in out and "scratch" in out
    assert not (root / "runs").exists()


def test_kill_9_and_rerun_finishes_with_one_row_per_cell(tmp_path):
    """Kill the sweep and all its jobs mid-way; the same command finishes without redoing done cells."""
    cfg, root = tiny_config(tmp_path, sizes="[0, 16, 32, 48, 64]", pre=256), tmp_path / "runs"
    cmd = [sys.executable, "-m", "slurm", "sweep", str(cfg), "--root", str(root), "--executor", "local",
           "--max-parallel", "2"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(cmd, env=env, start_new_session=True, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.time() + 240
    while time.time() < deadline and len(list(root.glob("runs/*/row.json"))) < 1:
        time.sleep(0.2)
    done_before = {p: p.stat().st_mtime_ns for p in root.glob("runs/*/row.json")}
    os.killpg(proc.pid, signal.SIGKILL)  # the sweep and every job it started
    proc.wait()
    _kill_orphans(root)
    assert 1 <= len(done_before) < 5, "the sweep should be killed part-way"
    rerun = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    rows = list(root.glob("runs/*/row.json"))
    assert len(rows) == 5
    for p, mtime in done_before.items():
        assert p.stat().st_mtime_ns == mtime, f"{p} was recomputed"
    df = collect(root)
    assert len(df) == 5 * 2 and not df.duplicated(["run_id", "n_real"]).any()
    assert all(isinstance(json.loads(p.read_text()), list) for p in rows)


def _kill_orphans(root: Path) -> None:
    """submitit's local jobs may outlive a killed parent in their own session: kill them by pid."""
    out = subprocess.run(["pgrep", "-f", f"submitit.*{root}"], capture_output=True, text=True).stdout
    for pid in out.split():
        try:
            os.kill(int(pid), signal.SIGKILL)
        except ProcessLookupError:
            pass


def test_runs_csv_is_collected_and_written_under_one_lock(tmp_path):
    """Two sweeps finishing together: the later writer must not replace runs.csv with a table it
    collected before the other sweep's rows landed. collect_to_csv collects only once it holds the
    table's lock, so a row finished while it waits is in what it writes."""
    from filelock import FileLock
    import threading

    from bench.collect import collect_to_csv

    rows = pd.read_csv(Path(__file__).parents[1] / "results" / "quickstart" / "runs.csv")
    rows = rows.astype(object).where(rows.notna(), None)  # real rows of the committed quickstart
    root, out = tmp_path / "root", tmp_path / "root" / "runs.csv"
    ids = list(dict.fromkeys(rows["run_id"]))

    def finish(run_id: str) -> None:
        (root / "runs" / run_id).mkdir(parents=True)
        part = rows[rows["run_id"] == run_id].to_dict("records")
        (root / "runs" / run_id / "row.json").write_text(json.dumps(part))

    for run_id in ids[:-1]:
        finish(run_id)
    with FileLock(str(out.with_name(".runs.csv.lock"))):  # another sweep is writing the table
        writer = threading.Thread(target=collect_to_csv, args=(root, out))
        writer.start()
        time.sleep(0.5)
        assert writer.is_alive() and not out.exists(), "it must wait for the lock"
        finish(ids[-1])  # the other sweep's last cell lands meanwhile
    writer.join(timeout=30)
    assert not writer.is_alive()
    written = pd.read_csv(out)
    assert len(written) == len(rows) and set(written["run_id"]) == set(ids)


def _status(capsys, root: Path) -> tuple[int, str]:
    code = main(["sweep", "status", "--root", str(root)])
    return code, capsys.readouterr().out


def test_status_reads_cells_run_outside_a_sweeps_jobs(tmp_path, capsys):
    """`synthscale run` and `--executor debug` record no job: their cells were 'missing, never
    submitted by a sweep' whatever happened. Now: failed with the run log's tail, running while
    the run holds its lock, stopped when it saved a checkpoint on request."""
    import threading

    from filelock import FileLock

    from bench.config import load_run
    from bench.run import run
    from bench.train import Interrupted

    cfg, root = tiny_config(tmp_path), tmp_path / "r"
    root.mkdir()
    (root / "pretrain").write_text("a file where the pre-training folder goes")
    with pytest.raises(NotADirectoryError):  # fails inside the run, after its log has started
        main(["run", str(cfg), "--root", str(root), "synth.n=32"])
    capsys.readouterr()
    code, out = _status(capsys, root)
    (line, *tail, summary) = out.splitlines()
    assert code == 1 and "failed   no job shapes c=1 n=32 resnet10t seed=0  [ended without a row, outside " \
                         "a sweep's jobs (synthscale run, or --executor debug)]" in line, out
    assert tail[-1].startswith("    | NotADirectoryError: [Errno 20] Not a directory") and len(tail) == 3
    assert summary.endswith("1 failed, 0 missing")

    run_id = line.split()[0]
    with FileLock(str(root / "runs" / run_id / ".lock")):  # as bench.run holds it while it runs
        code, out = _status(capsys, root)
    assert code == 0 and f"{run_id}  running  no job" in out and "[started outside a sweep's jobs" in out

    (root / "pretrain").unlink()
    stop = threading.Event()
    stop.set()  # as Ctrl-C does: the run saves a checkpoint at its first step and stops
    with pytest.raises(Interrupted):
        run(load_run(cfg, {"synth.n": 32}), root, stop=stop)
    code, out = _status(capsys, root)
    assert code == 0 and f"{run_id}  stopped  no job" in out and "with a checkpoint, outside a sweep's" in out


def test_a_debug_sweeps_failed_cell_reads_failed_while_the_sweep_goes_on(tmp_path, capsys):
    """A debug sweep records its plan, but no job: a cell that had failed read 'pending, not submitted
    yet' until the sweep ended. The manifest now lists the cells it started."""
    from slurm.tracking import write_manifest

    cfg, root = tiny_config(tmp_path), tmp_path / "r"
    root.mkdir()
    (root / "pretrain").write_text("a file where the pre-training folder goes")
    with pytest.raises(NotADirectoryError):  # fails inside the run, after its log has started
        main(["run", str(cfg), "--root", str(root), "synth.n=32"])
    (failed,) = [p.name for p in (root / "runs").iterdir()]
    later = "0123456789ab"
    # what a debug sweep still running (this process) writes after starting its first cell
    write_manifest(root, "20261204-000000-1-debug0", [], {failed: "first", later: "second"}, started=[failed])
    capsys.readouterr()
    code, out = _status(capsys, root)
    lines = out.splitlines()
    assert code == 1 and lines[0].startswith(f"{failed}  failed   no job") and "ended without a row" in lines[0]
    assert f"{later}  pending  no job second  [not submitted yet]" in out, out


def test_status_labels_tell_apart_cells_of_different_sweeps(tmp_path, capsys):
    """Two sweeps into one root that differ only in an override: each manifest's labels name only
    what varied inside it, so the cells read alike; status labels them from all the cells' configs."""
    cfg, root = tiny_config(tmp_path, sizes="[0]"), tmp_path / "r"
    for lr in ("0.02", "0.05"):
        assert main(["sweep", str(cfg), "--root", str(root), "--executor", "local", f"finetune.lr={lr}"]) == 0
    capsys.readouterr()
    code, out = _status(capsys, root)
    labels = sorted(ln.split("(local) ")[-1] for ln in out.splitlines()[:-1])
    assert code == 0 and labels == ["scratch resnet10t seed=0 finetune.lr=0.02",
                                    "scratch resnet10t seed=0 finetune.lr=0.05"], out
