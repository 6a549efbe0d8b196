"""Sweeps against the real local Slurm: arrays, scancel + status + resume, USR2 and timeout
requeues that resume from the saved step, --fail-fast. Each test uses its own root and folder."""
from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Callable

import pandas as pd
import pytest

from bench.collect import collect
from bench.config import load_sweep
from bench.run import read_rows, run
from slurm.arrays import NOT_RUN
from slurm.jobs import read_interrupts
from slurm.tracking import cell_statuses, latest_jobs

pytestmark = [pytest.mark.slurm, pytest.mark.usefixtures("slurm_cluster")]

BASE = """
name: t
synth: {{generator: shapes, n: 0, complexity: 1, resolution: 16, channels: 1}}
model: {{name: resnet10t, small_input: false}}
pretrain: {{examples: 64, batch_size: 32}}
finetune: {{examples: {ft}, batch_size: 32, lr: 0.02, ckpt_every_s: 1000}}
target: {{name: fashion_mnist, n_real: {n_real}, test_size: 100}}
threads: 1
grid:
  {grid}
"""
PROFILE = """
resources: {{partition: low, cpus_per_job: 1, mem_gb: 2, time_min: {time_min}}}
array_parallelism: 2
signal_delay_s: 10
max_requeues: 10
"""


def _setup(tmp_path: Path, grid: str, ft: int = 64, n_real: str = "[20, 40]",
           time_min: int = 20) -> tuple[Path, Path, Path]:
    cfg, prof = tmp_path / "sweep.yaml", tmp_path / "profile.yaml"
    cfg.write_text(BASE.format(grid=grid, ft=ft, n_real=n_real))
    prof.write_text(PROFILE.format(time_min=time_min))
    return cfg, prof, tmp_path / "root"


def _cmd(cfg: Path, prof: Path, root: Path, *flags: str) -> list[str]:
    return [sys.executable, "-m", "slurm", "sweep", str(cfg), "--root", str(root),
            "--executor", "slurm", "--profile", str(prof), *flags]


def _env() -> dict[str, str]:
    return dict(os.environ, OMP_NUM_THREADS="1")


def _sweep(cmd: list[str], timeout_s: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, env=_env(), capture_output=True, text=True, timeout=timeout_s)


def _wait_for(pred: Callable[[], bool], what: str, timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    while not pred():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def _trained_steps(run_dir: Path) -> int:
    """The last step the run's log reports (the loop logs every fifth of its steps)."""
    try:
        steps = re.findall(r"step (\d+)/\d+", (run_dir / "log.txt").read_text())
    except OSError:
        return 0
    return int(steps[-1]) if steps else 0


def _log(run_dir: Path) -> str:
    try:
        return (run_dir / "log.txt").read_text()
    except OSError:
        return ""


def _one_cell(cfg: Path):
    (spec,) = load_sweep(cfg).cells()
    return spec


def test_array_sweep_scancel_saves_a_checkpoint_and_the_next_sweep_resumes_it(tmp_path):
    """A plain `scancel` (SIGTERM) of a running cell: it saves a checkpoint at the next step within
    Slurm's KillWait (30 s here), `sweep status` calls it stopped at that step, and the next sweep
    resubmits it and resumes from the saved step (before: submitit ignored SIGTERM, the job died at
    KillWait, status said failed and the rerun started fine-tuning again from step 0)."""
    # Three cells sharing one pre-training cell (trained once); the last one (400 steps, logged every
    # 80) is cancelled at its first logged step, with 320 steps (over 15 s on an idle machine) to go.
    cfg, prof, root = _setup(tmp_path, "synth.n: [32]\n  finetune.examples: [64, 96, 12800]",
                             n_real="[20]")
    proc = subprocess.Popen(_cmd(cfg, prof, root), env=_env(), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    _wait_for(lambda: len(latest_jobs(root)) == 3, "the submission manifest")
    jobs = latest_jobs(root)
    assert len({j.job_id.split("_")[0] for j in jobs.values()}) == 1, "one array for one shape"
    # Cancel a running task (a pending task cancelled alone leaves no trace in sacct at all).
    long_cell = next(c for c in load_sweep(cfg).cells() if c.finetune.examples == 12800)
    victim = jobs[long_cell.run_id]
    run_dir = root / "runs" / victim.run_id
    _wait_for(lambda: _trained_steps(run_dir) >= 80, "fine-tuning")
    subprocess.run(["scancel", victim.job_id], check=True)
    out, err = proc.communicate(timeout=600)
    assert proc.returncode == 1, err[-2000:]
    assert re.search(r"^  stopped \w+: stopped at step \d+/\d+ of finetune s=20; checkpoint \S+ \(stopped by a signal\); the next "
                     r"sweep resumes it from that step", err, re.M), err[-2000:]
    states = {s.run_id: s for s in cell_statuses(root)}
    stopped = states[victim.run_id]
    assert stopped.state == "stopped", (stopped, Path(victim.stderr).read_text()[-2000:])
    step = int(re.fullmatch(r"CANCELLED, at step (\d+) of finetune s=20 with a checkpoint; the next sweep resumes it "
                            r"from there", stopped.detail)[1])
    assert 80 <= step < 400 and read_interrupts(run_dir) == [], "a stop, not a requeue"
    assert sorted(s.state for s in states.values()) == ["done", "done", "stopped"]
    status = subprocess.run([sys.executable, "-m", "slurm", "sweep", "status", "--root", str(root)],
                            env=_env(), capture_output=True, text=True)
    assert status.returncode == 0 and "3 cells: 2 done, 0 running, 0 pending, 1 stopped, 0 failed" in status.stdout
    done_before = {p: p.stat().st_mtime_ns for p in root.glob("runs/*/row.json")}
    again = _sweep(_cmd(cfg, prof, root))
    assert again.returncode == 0, again.stderr[-2000:]
    assert "3 cells: 2 done, 1 to run" in again.stdout
    assert latest_jobs(root)[victim.run_id].job_id != victim.job_id, "resubmitted as a new job"
    for path, mtime in done_before.items():
        assert path.stat().st_mtime_ns == mtime, f"{path} was recomputed"
    (row,) = read_rows(run_dir)
    assert row["resumed_from_step"] == step
    df = collect(root)
    assert len(df) == 3 and not df.duplicated(["run_id", "n_real"]).any()
    assert [s.state for s in cell_statuses(root)] == ["done"] * 3
    assert len(list(root.glob("pretrain/*/final.pt"))) == 1, "one shared pre-training cell"


def test_usr2_then_preemption_each_requeue_and_resume_from_the_saved_step(tmp_path):
    """`scancel --signal USR2` mid fine-tune, then preemption by a job in the higher-tier partition
    that needs every CPU: each time the job saves, requeues and resumes at the saved step, and the
    final row equals an uninterrupted run's row."""
    # 450 steps: after the requeue it must still be training when the preemption lands (with 300
    # steps an idle machine once finished steps 180..300 first and saw one interrupt, not two)
    cfg, prof, root = _setup(tmp_path, "seed: [0]", ft=14400, n_real="[40]")
    spec = _one_cell(cfg)
    run_dir = root / "runs" / spec.run_id
    # The uninterrupted reference trains on the other core meanwhile (one torch thread, as in the
    # job; the interrupts are placed by step counts, so its load cannot make them miss);
    # .result() below re-raises the reference run's own error
    plain = ThreadPoolExecutor(1).submit(run, spec, tmp_path / "uninterrupted")
    proc = subprocess.Popen(_cmd(cfg, prof, root), env=_env(), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    _wait_for(lambda: _trained_steps(run_dir) >= 60, "60 training steps")
    subprocess.run(["scancel", "--signal=USR2", latest_jobs(root)[spec.run_id].job_id], check=True)
    _wait_for(lambda: _trained_steps(run_dir) >= 180, "training to go on after the requeue")
    subprocess.run(["sbatch", "-p", "high", "-c", str(os.cpu_count()), "-o", str(tmp_path / "high.out"),
                    "--wrap", "sleep 1"], check=True, capture_output=True)
    out, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err[-2000:]
    interrupts = read_interrupts(run_dir)
    job_log = Path(latest_jobs(root)[spec.run_id].stderr)
    assert len(interrupts) == 2, (interrupts, _log(run_dir)[-3000:],
                                  job_log.read_text()[-3000:] if job_log.is_file() else "no job log")
    first, second = interrupts
    assert 60 <= first["step"] < second["step"] < 450
    (row,) = read_rows(run_dir)
    assert row["resumed_from_step"] == second["step"]
    log = (run_dir / "log.txt").read_text()
    assert f"at step {first['step']}" in log and f"at step {second['step']}" in log
    assert cell_statuses(root)[0].n_interrupts == 2
    (plain,) = plain.result(timeout=600)
    # Measured: identical to every stored digit (test_err to 1e-6, loss to 1e-5) on this CPU.
    assert (row["test_err"], row["finetune_loss"]) == (plain["test_err"], plain["finetune_loss"])


def test_timeout_signal_requeues_and_the_cell_finishes(tmp_path):
    """A 1-minute limit with USR2 10 s before it: Slurm's own timeout signal, not ours."""
    # 1,200 steps: ~60 s of training at 20 steps/s (the fastest VM seen: 600 steps took 30 s),
    # so the signal (~50 s after the job starts, ~40 s into training) interrupts it at least once;
    # at 8.5 steps/s (a 2-core AMD EPYC VM, 2026-12-04) it takes 3 one-minute jobs (1,800 steps
    # took 5, 289 s of the suite; 1,200 took 233 s in a clean-clone `make test` there on 2026-12-05),
    # under 3x load ~5, within the profile's 10 requeues.
    cfg, prof, root = _setup(tmp_path, "seed: [0]", ft=38400, n_real="[40]", time_min=1)
    spec = _one_cell(cfg)
    run_dir = root / "runs" / spec.run_id
    res = _sweep(_cmd(cfg, prof, root, "--timeout-min", "1"), timeout_s=900)
    assert res.returncode == 0, res.stderr[-2000:]
    # A signal that lands before training starts (a slow start) saves nothing new: step None.
    steps = [i["step"] for i in read_interrupts(run_dir) if i["step"] is not None]
    assert steps and max(steps) > 0, "the time limit never interrupted training"
    (row,) = read_rows(run_dir)
    assert row["resumed_from_step"] == steps[-1]
    job = latest_jobs(root)[spec.run_id]
    log = Path(job.stderr).read_text()
    assert "this job is timed-out" in log and "DUE TO JOB REQUEUE" in log, log


def test_fail_fast_cancels_the_cells_that_have_not_started(tmp_path):
    # A fine-tuning lr that diverges at its second step: every cell fails at run time, not at plan
    # time (n_real above the training split, used here before, is now refused at plan time).
    cfg, prof, root = _setup(tmp_path, "seed: [0, 1, 2]\n  finetune.lr: [1.0e+12]", n_real="[20]")
    res = _sweep(_cmd(cfg, prof, root, "--fail-fast", "--array-parallelism", "1"))
    assert res.returncode == 1
    failed = [ln for ln in res.stderr.splitlines() if ln.startswith("  failed ")]
    ran = sum("the training loss is " in ln for ln in failed)  # nan or inf
    # The cancelled cells count as not run, from what the sweep did, whatever sacct says of a task
    # cancelled while pending (once: nothing, so they read "left the queue without a result")
    counts = re.search(r"0 cells finished now, (\d+) failed, (\d+) not run \(--fail-fast; the next sweep runs "
                       r"them\)", res.stdout)
    assert counts, res.stdout + res.stderr[-3000:]
    cancelled = int(counts[2])
    # Slurm starts task 1 the moment task 0 ends, before the sweep can see the failure, so
    # task 1 may already run (running tasks are left to finish); task 2 is surely still pending.
    assert ran == len(failed) == int(counts[1]) and 1 <= ran <= 2 and ran + cancelled == 3, res.stderr[-2000:]
    assert NOT_RUN.message not in res.stderr  # a count, not a line per cancelled cell
    # status agrees: the cancelled cells never ran (missing, the next sweep runs them), not failed
    states = sorted(st.state for st in cell_statuses(root))
    assert states == sorted(["failed"] * ran + ["missing"] * cancelled), [
        (st.state, st.detail) for st in cell_statuses(root)]
    for ln in failed:  # the log each line names exists (a cancelled task never wrote one)
        named = re.search(r"\(log: (\S+)\)$", ln)
        assert (Path(named[1]).is_file() if named else "(no run log: the job's own logs are under "
                in ln), ln
    assert not list(root.glob("runs/*/row.json"))
    assert pd.read_csv(root / "runs.csv").empty


def test_killed_sweep_then_two_concurrent_sweeps_submit_nothing_twice(tmp_path):
    """kill -9 the submitting process: its jobs run on. Two new sweeps at once attach to those
    jobs instead of submitting them again, and every cell ends with exactly one row."""
    # ~25 s of fine-tuning per cell (idle): still running when the new sweeps plan, a few seconds
    # after the kill (with 64 examples all three could finish first and nothing would be attached)
    cfg, prof, root = _setup(tmp_path, "seed: [0, 1, 2]", n_real="[20]", ft=16000)
    first = subprocess.Popen(_cmd(cfg, prof, root), env=_env(), stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
    _wait_for(lambda: len(latest_jobs(root)) == 3, "the submission manifest")
    first.kill()
    first.wait()
    submitted = {rid: ref.job_id for rid, ref in latest_jobs(root).items()}
    both = [subprocess.Popen(_cmd(cfg, prof, root), env=_env(), stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outs = [p.communicate(timeout=600) for p in both]
    assert [p.returncode for p in both] == [0, 0], [err[-1500:] for _, err in outs]
    assert {rid: ref.job_id for rid, ref in latest_jobs(root).items()} == submitted
    assert len(list((root / "sweeps").glob("*.json"))) == 1, "nothing was submitted again"
    assert all("waiting for them" in err for _, err in outs)
    df = collect(root)
    assert len(df) == 3 and not df.duplicated(["run_id", "n_real"]).any()


def test_an_array_sbatch_refuses_is_one_line_and_the_arrays_before_it_stay_recorded(tmp_path):
    """Two shapes, the second with a partition that does not exist: sbatch queues array 1 and
    refuses array 2. One line, exit 2; array 1's cells are recorded at once (status: queued or
    running, not missing) and the corrected command waits for them instead of submitting twice."""
    cfg, prof, root = _setup(tmp_path, "seed: [0, 1]", n_real="[20]", ft=4000)
    good = prof.read_text()
    prof.write_text(good + "shapes:\n  - when: {seed: 1}\n    set: {partition: nosuchpart}\n")
    res = _sweep(_cmd(cfg, prof, root))
    assert res.returncode == 2, res.stderr[-3000:]
    assert "Traceback" not in res.stderr, res.stderr[-3000:]
    errors = [ln for ln in res.stderr.splitlines() if "error" in ln.lower()]
    assert len(errors) == 1 and ": error: sbatch refused array 2 of 2 (partition=nosuchpart" in errors[0], \
        res.stderr
    assert "invalid partition" in errors[0].lower() and "run on and the next sweep waits" in errors[0], errors[0]
    first = latest_jobs(root)
    seed0 = {s.run_id for s in load_sweep(cfg).cells() if s.seed == 0}
    assert set(first) == seed0, first  # array 1's cell is in the manifest, array 2's is not
    states = {s.run_id: s.state for s in cell_statuses(root)}
    assert all(states[r] in ("pending", "running", "done") for r in seed0), states
    assert [st for r, st in states.items() if r not in seed0] == ["missing"], states

    prof.write_text(good)
    res = _sweep(_cmd(cfg, prof, root))
    assert res.returncode == 0, res.stderr[-3000:]
    df = collect(root)
    assert len(df) == 2 and not df.duplicated(["run_id", "n_real"]).any()
    again = latest_jobs(root)
    assert all(again[r].job_id == first[r].job_id for r in seed0), "seed 0 was submitted twice"


def test_dry_run_asks_sbatch_test_only_and_a_refused_array_is_one_line(tmp_path):
    """--dry-run asks the cluster's `sbatch --test-only` about each array: the local profile is
    accepted (exit 0); a partition that does not exist, or more CPUs than the node has (which a
    real sbatch queues to pend for ever), is one error line naming the array and sbatch's reason,
    exit 2. Nothing is queued and no root is made (before: exit 0, and the bad option surfaced only
    when the real submission failed or sat pending)."""
    cfg, prof, root = _setup(tmp_path, "seed: [0, 1]", n_real="[20]")
    ok = _sweep(_cmd(cfg, prof, root, "--dry-run"), timeout_s=120)
    assert ok.returncode == 0, ok.stderr[-2000:]
    assert re.search(r"^array 1: sbatch --test-only accepts it: it would start at \S+ using 1 processors on "
                     r"nodes \S+ in partition low$", ok.stdout, re.M), ok.stdout[-2000:]
    for flags, reason in [(["--partition", "nosuchpart"], "invalid partition specified: nosuchpart"),
                          (["--cpus-per-job", "64"], "Requested node configuration is not available")]:
        bad = _sweep(_cmd(cfg, prof, root, "--dry-run", *flags), timeout_s=120)
        assert bad.returncode == 2, bad.stdout[-1000:] + bad.stderr[-2000:]
        (err,) = bad.stderr.strip().splitlines()
        assert ": error: sbatch --test-only refuses the array (" in err and reason in err, err
        assert "array 1: sbatch --test-only REFUSES it: " in bad.stdout, bad.stdout[-2000:]
    assert not root.exists(), "a dry run must not create anything"
    queued = subprocess.run(["squeue", "-h", "-o", "%j"], capture_output=True, text=True, check=True).stdout
    assert "synthscale-<submission>" not in queued and "synthscale" not in queued, queued


def test_a_job_that_cannot_start_shows_squeue_s_reason_and_what_to_do(tmp_path):
    """More CPUs per job than the node has: Slurm keeps the job pending (PartitionConfig) for ever.
    Status showed a bare [PENDING]; it now gives the reason and the fix, and the waiting sweep says
    so once."""
    cfg, prof, root = _setup(tmp_path, "seed: [0]", n_real="[20]")
    sweep = subprocess.Popen(_cmd(cfg, prof, root, "--cpus-per-job", "64"), env=_env(),
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    ref = None
    try:
        _wait_for(lambda: len(latest_jobs(root)) == 1, "the submission manifest")
        (ref,) = latest_jobs(root).values()
        _wait_for(lambda: "PartitionConfig" in (cell_statuses(root)[0].detail or ""), "the pending reason")
        (st,) = cell_statuses(root)
        assert st.state == "pending", st
        assert st.detail.startswith("PENDING: PartitionConfig: Slurm cannot start this job as it asks; "
                                    "scancel it"), st.detail
        status = subprocess.run([sys.executable, "-m", "slurm", "sweep", "status", "--root", str(root)],
                                env=_env(), capture_output=True, text=True, timeout=60)
        assert "[PENDING: PartitionConfig: Slurm cannot start" in status.stdout, status.stdout
        time.sleep(3)  # the sweep polls once a second
    finally:
        sweep.terminate()
        _, err = sweep.communicate(timeout=60)
        if ref is not None:
            subprocess.run(["scancel", ref.job_id.split("_")[0]], capture_output=True, timeout=60)
    warnings = [ln for ln in err.splitlines() if "cannot start this job" in ln]
    assert len(warnings) == 1 and f"job {ref.job_id.split('_')[0]} PENDING: PartitionConfig" in warnings[0], err[-2000:]


def test_a_cell_that_times_out_more_often_than_allowed_says_timeout_and_counts_its_own_job(tmp_path):
    """max_requeues 0 and a 1-minute limit: the first timeout signal checkpoints each array task and
    submitit does not requeue it. The cells fail as timeouts (status showed [FAILED] and the sweep
    an UncompletedJobError), and each is 'interrupted 1x' by its own array task, whose id
    (27_0, as squeue and status write it) is what interrupts.jsonl records (it held SLURM_JOB_ID)."""
    cfg, prof, root = _setup(tmp_path, "seed: [0, 1]", ft=57600, n_real="[40]", time_min=1)
    prof.write_text(prof.read_text().replace("max_requeues: 10", "max_requeues: 0"))
    res = _sweep(_cmd(cfg, prof, root, "--timeout-min", "1"), timeout_s=600)
    assert res.returncode == 1, res.stderr[-2000:]
    failed = [ln for ln in res.stderr.splitlines() if ln.startswith("  failed ")]
    assert len(failed) == 2 and all("timed out again after as many requeues as max_requeues allows"
                                    in ln for ln in failed), res.stderr[-2000:]
    jobs = latest_jobs(root)
    assert all("_" in ref.job_id for ref in jobs.values()), jobs  # one array of two tasks
    for st in cell_statuses(root):
        (entry,) = read_interrupts(root / "runs" / st.run_id)
        assert entry["job_id"] == jobs[st.run_id].job_id, entry
        assert st.state == "failed" and st.detail.startswith("TIMEOUT: ") and st.n_interrupts == 1, st
    status = subprocess.run([sys.executable, "-m", "slurm", "sweep", "status", "--root", str(root)],
                            env=_env(), capture_output=True, text=True, timeout=60).stdout
    assert status.count(" interrupted 1x ") == 2 and status.count("[TIMEOUT: ") == 2, status


def test_while_slurm_does_not_answer_status_says_unknown_and_the_sweep_waits(tmp_path, slurm_cluster):
    """Neither the controller nor the accounting daemon answers (down, restarting, stopped):
    squeue and sacct printed nothing, so status called the running cell failed ('ended without a
    row'). Now status says unknown (exit 0). A sweep waiting while both daemons are stopped says
    that Slurm does not answer as soon as squeue fails, waits, and ends with the cell's row."""
    import signal as sig
    import socket

    cfg, prof, root = _setup(tmp_path, "seed: [0]", n_real="[20]", ft=32000)
    err_path = tmp_path / "sweep.err"
    with err_path.open("w") as err_file:
        sweep = subprocess.Popen(_cmd(cfg, prof, root), env=_env(), stdout=subprocess.PIPE,
                                 stderr=err_file, text=True)
    daemons = [slurm_cluster.pids()[d] for d in ("slurmctld", "slurmdbd")]
    assert all(daemons), "the test cluster's controller or accounting daemon is not running"
    stopped = False
    try:
        _wait_for(lambda: [s.state for s in cell_statuses(root)] == ["running"], "the cell to run")
        # The controller first: a sacct already asked finishes, and the sweep's next squeue times
        # out after 10 s. Then the accounting daemon, before the sweep's next sacct.
        stopped = True
        os.kill(daemons[0], sig.SIGSTOP)
        time.sleep(1)
        os.kill(daemons[1], sig.SIGSTOP)
        with socket.socket() as s:  # a port nothing listens on: neither daemon can be reached
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        conf = tmp_path / "unreachable.conf"
        conf.write_text(re.sub(r"(?m)^(SlurmctldPort|AccountingStoragePort)=\d+", rf"\g<1>={port}",
                               Path(os.environ["SLURM_CONF"]).read_text()))
        status = subprocess.run([sys.executable, "-m", "slurm", "sweep", "status", "--root", str(root)],
                                env=dict(_env(), SLURM_CONF=str(conf)), capture_output=True, text=True,
                                timeout=300)
        assert status.returncode == 0, status.stdout + status.stderr
        assert " unknown  job " in status.stdout and "Slurm did not answer (squeue: " in status.stdout, status.stdout
        assert status.stdout.splitlines()[-1].endswith("0 failed, 0 missing, 1 unknown"), status.stdout
        # The daemons stay stopped until the sweep has said so, within about 10 s (its squeue's
        # timeout; it used to wait for sacct's 45 s as well). The cell must still be training then:
        # its row would end the sweep before it had said anything.
        _wait_for(lambda: "Slurm does not answer (" in err_path.read_text() or sweep.poll() is not None,
                  "the sweep to say that Slurm does not answer", timeout_s=90)
        assert len(collect(root)) == 0, "the cell ended before the sweep said so: give it more examples"
    finally:
        if stopped:
            for pid in daemons:
                os.kill(pid, sig.SIGCONT)
    sweep.communicate(timeout=600)
    err = err_path.read_text()
    assert sweep.returncode == 0, err[-3000:]
    assert "Slurm does not answer (" in err, err[-3000:]
    assert len(collect(root)) == 1
