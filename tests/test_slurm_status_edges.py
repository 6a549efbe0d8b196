"""`sweep status` on cells whose history misled it: a time limit of an earlier run, a requeued task
cancelled while queued again, a resubmitted cell cancelled before it started, debug cells that failed
without a run folder or stopped between training steps, and a damaged interrupts.jsonl. The runs
are real (bench.run, a debug sweep); Slurm is not: squeue and sacct are stand-in scripts on PATH."""
from __future__ import annotations

import importlib
import logging
import os
import signal
import threading
import time
from pathlib import Path

import pytest
import torch

from bench.cli import main
from bench.config import load_run
from bench.run import run
from bench.train import Interrupted
from slurm.arrays import job_name
from slurm.jobs import TIME_LIMIT_NEAR, CellJob, read_interrupts, record_interrupt, run_local_cell
from slurm.tracking import JobRef, write_manifest

RUN_MODULE = importlib.import_module("bench.run")  # (the package's `run` attribute is the function)
TINY = """
name: tiny
synth: {{generator: shapes, n: {n}, complexity: 1, resolution: 16, channels: 1}}
model: {{name: resnet10t, small_input: false}}
pretrain: {{examples: 64, batch_size: 32, lr: 0.05}}
finetune: {{examples: 64, batch_size: 32}}
target: {{name: fashion_mnist, n_real: [20], test_size: 100}}
{grid}"""


def _config(tmp_path: Path, n: int = 0, seeds: str = "") -> Path:
    path = tmp_path / "tiny.yaml"
    path.write_text(TINY.format(n=n, grid=f"grid:\n  seed: {seeds}\n" if seeds else ""))
    return path


def _stopped_run(cfg: Path, root: Path) -> Interrupted:
    """Run the cell as a job does that a signal asks to stop (SIGTERM, Ctrl-C): it saves its first
    step and ends with Interrupted, which its log.txt records."""
    stop = threading.Event()
    stop.set()
    with pytest.raises(Interrupted) as info:
        run(load_run(cfg), root, stop=stop)
    return info.value


def _run_at_time_limit(cfg: Path, root: Path, monkeypatch) -> None:
    """Run the cell as the local executor does (slurm.jobs.run_local_cell) and send it submitit's
    time-limit USR2 while it prepares its test images: it saves its first step and stops."""
    before = RUN_MODULE.real_test_split

    def usr2_arrives(*args, **kwargs):
        os.kill(os.getpid(), signal.SIGUSR2)
        return before(*args, **kwargs)

    with monkeypatch.context() as m:
        m.setattr(RUN_MODULE, "real_test_split", usr2_arrives)
        with pytest.raises(Interrupted):
            run_local_cell(load_run(cfg).model_dump(), str(root))


def _fake_slurm(tmp_path: Path, monkeypatch, sacct: str) -> None:
    """squeue lists nothing (the job left the queue); sacct prints `sacct` (JobID|State|JobName)."""
    bin_dir = tmp_path / "fakebin"
    bin_dir.mkdir(exist_ok=True)
    (bin_dir / "squeue").write_text("#!/bin/sh\nexit 0\n")
    (bin_dir / "sacct").write_text(f"#!/bin/sh\ncat <<'EOF'\n{sacct}\nEOF\n")
    for name in ("squeue", "sacct"):
        (bin_dir / name).chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")


def _slurm_job(root: Path, run_id: str, job_id: str, sid: str = "20261204-120000-1-abcdef") -> JobRef:
    """A Slurm array task as slurm.arrays records it, in a manifest of a sweep that has ended."""
    folder = root / "submitit" / sid
    folder.mkdir(parents=True, exist_ok=True)
    ref = JobRef(run_id, "slurm", job_id, job_name(sid), str(folder), time.time(), "scratch resnet10t seed=0")
    write_manifest(root, sid, [ref], {run_id: ref.label}, submitting=False)
    return ref


def _status(capsys, root: Path) -> tuple[int, list[str]]:
    capsys.readouterr()
    code = main(["sweep", "status", "--root", str(root)])
    return code, capsys.readouterr().out.splitlines()


def test_a_stop_is_blamed_on_the_time_limit_only_when_its_own_run_reached_it(tmp_path, capsys, monkeypatch):
    """A local run of the cell reached its time limit; a later Slurm job of it was scancel'd. Status
    searched the whole log.txt for the time-limit line and said the time limit stopped it."""
    cfg, root = _config(tmp_path), tmp_path / "root"
    _run_at_time_limit(cfg, root, monkeypatch)
    spec = load_run(cfg)
    log_txt = root / "runs" / spec.run_id / "log.txt"
    assert TIME_LIMIT_NEAR in log_txt.read_text()
    stop = _stopped_run(cfg, root)  # the Slurm job's run, stopped by scancel's SIGTERM
    job = _slurm_job(root, spec.run_id, "27_0")
    job.stderr.write_text(  # what the job's own log ends with (CellJob re-raises the stop)
        "submitit INFO (2026-12-04 12:00:01,000) Starting with JobEnvironment(job_id=27_0, hostname=n1)\n"
        "SIGTERM (scancel, or preemption without a signal): saving a checkpoint at the next training step\n"
        "Traceback (most recent call last):\n"
        '  File "submitit/core/submission.py", line 55, in process_job\n'
        "    result = delayed.result()\n"
        f"bench.train.Interrupted: {stop}\n"
        "srun: error: n1: task 0: Exited with exit code 1\n")
    _fake_slurm(tmp_path, monkeypatch, f"27_0|CANCELLED by 1000|{job.job_name}")
    code, out = _status(capsys, root)
    assert code == 0 and out[0].endswith("[CANCELLED, at step 0 of finetune s=20 with a checkpoint; the next "
                                         "sweep resumes it from there]"), out
    # A local job whose submitit folder is gone: its run's part of log.txt decides
    local = JobRef(spec.run_id, "local", "999999999", "synthscale", str(tmp_path / "gone"), job.submitted + 1)
    write_manifest(root, "20261204-130000-1-abcdef", [local], {spec.run_id: job.label}, submitting=False)
    code, out = _status(capsys, root)
    assert code == 0 and "stopped  job 999999999 (local)" in out[0] and "time limit" not in out[0], out
    _run_at_time_limit(cfg, root, monkeypatch)  # the latest run reaches it: said again
    code, out = _status(capsys, root)
    assert code == 0 and "[at its time limit (raise --timeout-min), at step 0 of finetune s=20" in out[0], out


def test_a_requeued_task_cancelled_while_queued_again_is_stopped_with_its_checkpoint(tmp_path, capsys,
                                                                                      monkeypatch):
    """A task saved its step on USR2 and was requeued; --fail-fast (scancel --state=PENDING) cancelled it
    while it waited to run again. The sweep counts it as not run; status said `failed [CANCELLED]`
    with the requeue's log lines, exit 1, though the next sweep resumes it from the checkpoint."""
    cfg, root = _config(tmp_path), tmp_path / "root"
    spec = load_run(cfg)
    stop = _stopped_run(cfg, root)  # the worker saved the step when CellJob.checkpoint set `stop`
    for key, value in {"SLURM_ARRAY_JOB_ID": "27", "SLURM_ARRAY_TASK_ID": "0", "SLURM_JOB_ID": "28"}.items():
        monkeypatch.setenv(key, value)
    record_interrupt(root / "runs" / spec.run_id, stop.step, str(stop.path), stop.desc)  # as CellJob does
    job = _slurm_job(root, spec.run_id, "27_0")
    job.stderr.write_text(
        "submitit WARNING (2026-12-04 12:00:09,000) Caught signal SIGUSR2 on n1: this job is timed-out.\n"
        "submitit INFO (2026-12-04 12:00:09,000) Calling checkpoint method.\n"
        f"interrupted at step {stop.step} of {stop.desc}; checkpoint {stop.path}; requeued\n"
        "submitit INFO (2026-12-04 12:00:10,000) Requeued job 27_0 (2 remaining timeouts)\n"
        "submitit INFO (2026-12-04 12:00:10,000) Exiting gracefully after preemption/timeout.\n")
    _fake_slurm(tmp_path, monkeypatch, f"27_0|CANCELLED by 1000|{job.job_name}")
    code, out = _status(capsys, root)
    assert code == 0, out
    assert out[0].startswith(f"{spec.run_id}  stopped  job 27_0 (slurm) interrupted 1x ") and out[0].endswith(
        "[CANCELLED while queued again after its requeue, at step 0 of finetune s=20 with a checkpoint; "
        "the next sweep resumes it from there]"), out
    assert out[-1] == "1 cell: 0 done, 0 running, 0 pending, 1 stopped, 0 failed, 0 missing"


def test_a_resubmitted_cell_cancelled_before_it_started_is_missing_not_its_old_runs_failure(
        tmp_path, capsys, monkeypatch):
    """The cell failed in an earlier run; a new sweep submitted it again and it was cancelled while
    pending. Status showed the old run's traceback as this job's end: `failed [CANCELLED]`, exit 1."""
    cfg, root = _config(tmp_path, n=32), tmp_path / "root"
    root.mkdir()
    (root / "pretrain").write_text("a file where the pre-training folder goes")
    with pytest.raises(NotADirectoryError):
        run(load_run(cfg), root)
    (root / "pretrain").unlink()
    spec = load_run(cfg)
    job = _slurm_job(root, spec.run_id, "31_1")  # submitted after that run; it never started
    _fake_slurm(tmp_path, monkeypatch, f"31_1|CANCELLED by 1000|{job.job_name}")
    code, out = _status(capsys, root)
    assert code == 0 and len(out) == 2, out
    assert f"{spec.run_id}  missing  job 31_1 (slurm)" in out[0] and out[0].endswith(
        "[CANCELLED: its job ended before it started (cancelled while pending: --fail-fast or scancel; or "
        "lost by the cluster); the next sweep runs it]"), out


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_debug_cells_that_failed_before_making_a_run_folder_read_failed_with_the_reason(tmp_path, capsys,
                                                                                      monkeypatch):
    """`--executor debug device=cuda` here: the sweep says 2 failed (exit 1); status said `missing [its
    sweep stopped before submitting it]` (exit 0), or `stopped` from an older run's log. (The sweep now
    refuses a device this machine lacks before any cell runs; its check is off here, so that the cells
    fail inside their runs, as any error found before a run makes its folder does.)"""
    import slurm.cli

    monkeypatch.setattr(slurm.cli, "check_devices", lambda cells: None)
    cfg, root = _config(tmp_path, seeds="[0, 1]"), tmp_path / "root"
    first = load_run(cfg, {"seed": 0})
    stop = threading.Event()
    stop.set()
    with pytest.raises(Interrupted):  # an older run of the first cell stopped with a checkpoint
        run(first, root, stop=stop)
    assert main(["sweep", str(cfg), "--root", str(root), "--executor", "debug", "device=cuda"]) == 1
    swept = capsys.readouterr()
    assert "0 cells finished now, 2 failed" in swept.out
    # the cell without a run log: not "the job's own logs are under ROOT/submitit" (empty for debug)
    assert "(no run log: the error is all there is)" in swept.err, swept.err
    assert "submitit" not in swept.err
    code, out = _status(capsys, root)
    why = ("[in a debug sweep: device: 'cuda' asked for, but this machine has no usable CUDA device; use "
           "device=auto (cuda where present) or device=cpu]")
    assert code == 1 and len(out) == 3, out
    assert out[0].startswith(f"{first.run_id}  failed   no job scratch resnet10t seed=0") and out[0].endswith(why)
    assert " failed   no job scratch resnet10t seed=1" in out[1] and out[1].endswith(why), out
    assert out[-1] == "2 cells: 0 done, 0 running, 0 pending, 0 stopped, 2 failed, 0 missing"


def test_a_debug_cell_whose_folder_a_config_error_cleared_reads_failed_with_it(tmp_path, capsys, monkeypatch):
    """A mistake in a run's input found once it has begun (a UserError: ImageNet weights not available
    offline, a changed policy file) clears the folder it made; status then said `missing [its sweep
    stopped before submitting it]`, exit 0, after the debug sweep had said failed."""
    from synth.errors import UserError

    def mistaken(*args, **kwargs):
        raise UserError("target.x: a mistake found once the run had begun")

    monkeypatch.setattr(RUN_MODULE, "real_test_split", mistaken)
    cfg, root = _config(tmp_path), tmp_path / "root"
    assert main(["sweep", str(cfg), "--root", str(root), "--executor", "debug"]) == 1
    (run_dir,) = (root / "runs").iterdir()
    assert not (run_dir / "config.yaml").exists() and not (run_dir / "log.txt").exists()
    code, out = _status(capsys, root)
    assert code == 1 and out[0] == (f"{run_dir.name}  failed   no job scratch resnet10t seed=0  [in a debug "
                                    "sweep: target.x: a mistake found once the run had begun]"), out


@pytest.mark.parametrize("how, sig", [("run", signal.SIGINT), ("debug sweep", signal.SIGINT),
                                      ("run", signal.SIGTERM), ("debug sweep", signal.SIGTERM)])
def test_a_cell_stopped_between_training_steps_outside_a_sweeps_jobs_reads_stopped(tmp_path, capsys,
                                                                                   monkeypatch, how, sig):
    """A Ctrl-C while a `synthscale run` or debug cell loads data or evaluates raises KeyboardInterrupt
    there (no step to save); log.txt kept nothing of it, and status said `failed [ended without a
    row ...]` with no log lines, exit 1. The command exits as a shell reports the signal: 130 for
    SIGINT, 143 for SIGTERM (`kill`; it was 130 too)."""
    cfg, root = _config(tmp_path, seeds="[0, 1]" if how == "debug sweep" else ""), tmp_path / "root"
    before = RUN_MODULE.real_test_split

    def ctrl_c_arrives(*args, **kwargs):
        os.kill(os.getpid(), sig)  # the handler (bench.train.stop_on_signals) raises at once
        return before(*args, **kwargs)

    monkeypatch.setattr(RUN_MODULE, "real_test_split", ctrl_c_arrives)
    argv = ["run", str(cfg)] if how == "run" else ["sweep", str(cfg), "--executor", "debug"]
    assert main([*argv, "--root", str(root)]) == 128 + sig
    (run_dir,) = (root / "runs").iterdir()
    assert "the run was stopped by a signal with no step saved then" in (run_dir / "log.txt").read_text()
    code, out = _status(capsys, root)
    assert code == 0, out
    assert f"{run_dir.name}  stopped  no job scratch resnet10t seed=0  [by a signal with no step saved then " \
           "(while it loaded data or evaluated, or a second Ctrl-C), outside a sweep's jobs" in out[0], out
    assert out[-1].endswith("1 stopped, 0 failed, " + ("1 missing" if how == "debug sweep" else "0 missing"))


def test_an_interrupt_record_after_a_torn_line_starts_on_its_own_line(tmp_path):
    """A job killed mid-append left a torn last line: the next record was glued onto it and lost."""
    run_dir = tmp_path / "root" / "runs" / "abc123abc123"
    record_interrupt(run_dir, 5, "ft-s20.ckpt", "finetune s=20")
    with (run_dir / "interrupts.jsonl").open("a") as fh:
        fh.write('{"time": "2026-12-04T12:0')  # the writer died here
    assert [e["step"] for e in read_interrupts(run_dir)] == [5]  # (a torn last line is ignored)
    record_interrupt(run_dir, 9, "ft-s20.ckpt", "finetune s=20")
    assert [e["step"] for e in read_interrupts(run_dir)] == [5, 9]
    assert len((run_dir / "interrupts.jsonl").read_text().splitlines()) == 3  # the torn line is one of them


def test_a_torn_line_between_records_is_skipped_without_a_warning_on_every_read(tmp_path, caplog):
    run_dir = tmp_path / "runs" / "abc123abc123"
    record_interrupt(run_dir, 5, "ft-s20.ckpt", "finetune s=20")
    with (run_dir / "interrupts.jsonl").open("a") as fh:
        fh.write('{"time": "20')
    record_interrupt(run_dir, 9, "ft-s20.ckpt", "finetune s=20")
    caplog.set_level(logging.WARNING)
    assert [e["step"] for e in read_interrupts(run_dir)] == [5, 9]
    assert not [r for r in caplog.records if "interrupt records ignored" in r.getMessage()]


def test_status_skips_interrupt_lines_that_are_not_records_with_a_warning(tmp_path, capsys, caplog):
    """A line of interrupts.jsonl that is JSON but not an object made status stop with AttributeError."""
    root = tmp_path / "root"
    run_dir = root / "runs" / "abc123abc123"
    folder = tmp_path / "sub"
    folder.mkdir()
    (folder / "999999999_0_log.err").write_text("Traceback (most recent call last):\nValueError: boom\n")
    job = JobRef(run_dir.name, "local", "999999999", "synthscale", str(folder), 0.0)
    write_manifest(root, "sub1", [job], submitting=False)
    record_interrupt(run_dir, 5, "ft-s20.ckpt", "finetune s=20")
    with (run_dir / "interrupts.jsonl").open("a") as fh:
        fh.write('[1, 2]\n"text"\n{"time": "2026-12-04T12:0\n3\n')
    caplog.set_level(logging.WARNING)
    code, out = _status(capsys, root)
    assert code == 1 and out[0].startswith(f"{run_dir.name}  failed   job 999999999 (local)  ["), out
    assert out[-1] == "1 cell: 0 done, 0 running, 0 pending, 0 stopped, 1 failed, 0 missing"
    warnings = {r.getMessage() for r in caplog.records if r.levelname == "WARNING"}
    # the torn line is skipped quietly: the next record starts on a new line after it
    assert f"warning: {run_dir / 'interrupts.jsonl'}: 3 lines that are JSON but not interrupt records ignored" \
        in warnings


@pytest.mark.parametrize("countdown", [3, 0])
def test_a_usr2_checkpoint_records_whether_submitit_requeued_the_job(tmp_path, monkeypatch, caplog, countdown):
    """submitit's USR2 handler calls CellJob.checkpoint, then requeues the job, or does not once it
    timed out more often than max_requeues allows (countdown 0 here). The interruption was recorded
    in checkpoint(), before that was decided, and logged as "requeueing" either way. Here submitit's
    own handler runs in this process, with its local job environment (whose requeue exits)."""
    from submitit.core.job_environment import SignalHandler
    from submitit.core.utils import DelayedSubmission, JobPaths, UncompletedJobError
    from submitit.local.local import LocalJobEnvironment

    monkeypatch.setenv("SUBMITIT_LOCAL_JOB_ID", "4242")
    cfg, root = _config(tmp_path), tmp_path / "root"
    spec = load_run(cfg)
    delayed = DelayedSubmission(CellJob(), spec.model_dump(), str(root))
    delayed.set_timeout(0, countdown)  # a 0-minute limit: every USR2 is a timeout
    paths = JobPaths(tmp_path / "submitit", job_id="4242")
    paths.folder.mkdir()
    handler = SignalHandler(LocalJobEnvironment(), paths, delayed)
    before = RUN_MODULE.real_test_split

    def usr2_arrives(*args, **kwargs):  # (in the cell's worker thread: the handler runs in this one)
        os.kill(os.getpid(), signal.SIGUSR2)
        return before(*args, **kwargs)

    monkeypatch.setattr(RUN_MODULE, "real_test_split", usr2_arrives)
    caplog.set_level(logging.INFO)
    old = signal.signal(signal.SIGUSR2, handler.checkpoint_and_try_requeue)
    try:
        with pytest.raises(SystemExit if countdown else UncompletedJobError):
            delayed.result()
    finally:
        signal.signal(signal.SIGUSR2, old)
    (entry,) = read_interrupts(root / "runs" / spec.run_id)
    assert entry["step"] == 0 and entry["stage"] == "finetune s=20" and entry.get("requeued") is bool(countdown)
    said = [r.getMessage() for r in caplog.records if r.name == "synthscale.checkpoint"]
    assert said[-1].startswith("interrupted at step 0 of finetune s=20; checkpoint ")
    assert said[-1].endswith("; requeued" if countdown else "; not requeued: timed-out too many times"), said


def test_a_run_that_failed_after_an_earlier_stop_reads_failed_not_the_earlier_stop(tmp_path, capsys, monkeypatch):
    """The latest run's part of log.txt began inside the earlier run's traceback (its end line opens
    the record, the traceback follows), so the earlier stop's checkpoint line read as the latest
    run's: status said stopped, exit 0, for a run that had failed."""
    cfg, root = _config(tmp_path), tmp_path / "root"
    _stopped_run(cfg, root)

    def broken(*args, **kwargs):
        raise ValueError("disk on fire")

    monkeypatch.setattr(RUN_MODULE, "real_test_split", broken)
    with pytest.raises(ValueError):
        run(load_run(cfg), root)
    code, out = _status(capsys, root)
    assert code == 1 and " failed " in out[0], out
    assert any("ValueError: disk on fire" in ln for ln in out[1:-1]), out
    assert out[-1].endswith("0 stopped, 1 failed, 0 missing"), out


def test_sweep_status_is_the_command_even_beside_a_file_named_status(tmp_path, capsys, monkeypatch):
    # a stray file called `status` in the working folder (a saved log, say) was read as the sweep's YAML
    monkeypatch.chdir(tmp_path)
    (tmp_path / "status").write_text("name: [\n")
    (tmp_path / "root" / "runs").mkdir(parents=True)
    assert main(["sweep", "status", "--root", "root"]) == 0
    assert capsys.readouterr().out.strip() == "0 cells: 0 done, 0 running, 0 pending, 0 stopped, 0 failed, 0 missing"
    assert main(["sweep", "./status", "--root", "root", "--dry-run"]) == 2  # the file, by its path
    assert "status: not valid YAML" in capsys.readouterr().err
