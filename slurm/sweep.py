"""Submit the to-do cells of a plan through submitit, wait, and collect.

Executors: `debug` runs jobs in this process (tests), `local` runs each job as a child process with
at most `max_parallel` at once (1 torch thread each when several run together), `slurm` submits one
checkpointable job array per resource shape (slurm.arrays). Whatever happens to this process,
finished cells keep their rows and the next identical command runs only what is missing; on Slurm
it also skips cells that are still queued or running and waits for them instead. Ctrl-C or SIGTERM
stops a local sweep's running jobs at their next training step, each with a checkpoint; Slurm jobs
keep running and the next sweep attaches to them.
"""
from __future__ import annotations

import logging
import os
import signal
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import submitit
from filelock import FileLock
from submitit.core.utils import FailedJobError, UncompletedJobError
from submitit.local.debug import DebugJob
from submitit.local.local import LocalJob

from bench.config import RunSpec
from slurm import arrays
from slurm.jobs import TIME_LIMIT_NEAR, run_cell, run_debug_cell, run_local_cell
from slurm.plan import Plan
from slurm.profiles import Profile
from slurm.tracking import JobRef, cell_labels, in_flight, new_submission_id, run_in_progress, write_manifest
from synth.console import counted
from synth.errors import UserError

log = logging.getLogger("synthscale.sweep")
EXECUTORS = ("local", "debug", "slurm")


@dataclass
class SweepResult:
    """What a sweep did: cells finished now, and each cell that ended without rows (run id -> why,
    in the order they ended): failed, stopped by a signal after saving a checkpoint, or not run
    (--fail-fast kept it from starting)."""

    finished: list[str] = field(default_factory=list)
    unfinished: dict[str, arrays.CellError] = field(default_factory=dict)  # failed, stopped, not run
    attached: list[str] = field(default_factory=list)  # queued by an earlier sweep; waited for

    @property
    def failed(self) -> dict[str, str]:
        """The cells that failed (run id -> message); not those a signal stopped."""
        return {k: e.message for k, e in self.unfinished.items() if not (e.stopped or e.not_run)}

    @property
    def stopped(self) -> dict[str, str]:
        """The cells that a signal stopped after saving a checkpoint (scancel, kill): the next
        sweep resumes them (run id -> message)."""
        return {k: e.message for k, e in self.unfinished.items() if e.stopped}

    @property
    def not_run(self) -> list[str]:
        """The cells that never started: --fail-fast kept them (not submitted, or cancelled while
        pending), or their Slurm job was cancelled while pending (scancel)."""
        return [k for k, e in self.unfinished.items() if e.not_run]

    def ended(self, run_id: str, err: Optional[arrays.CellError]) -> None:
        """Record how one cell's job ended (None: it finished) and log it if it failed or stopped."""
        if err is None:
            self.finished.append(run_id)
            return
        self.unfinished[run_id] = err
        if err.not_run:  # the sweep says once how many never started, and why
            return
        if err.stopped:
            log.warning("cell %s stopped: %s", run_id, err.message)
        else:
            log.error("cell %s failed: %s", run_id, err.message)


def submitit_folder(root: Path, submission_id: Optional[str] = None) -> Path:
    """A fresh folder per submission: job ids restart on a new cluster, stale results must not be read."""
    folder = root / "submitit" / (submission_id or new_submission_id())
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def make_executor(kind: str, root: Path, *, timeout_min: int = 60,
                  folder: Optional[Path] = None) -> submitit.AutoExecutor:
    """A submitit AutoExecutor for the local or debug executor, logging under the sweep root."""
    ex = submitit.AutoExecutor(folder=str(folder or submitit_folder(root)), cluster=kind)
    ex.update_parameters(timeout_min=timeout_min, name="synthscale")
    if kind == "local":
        gpus = visible_gpus()
        if gpus:  # submitit hides every GPU from a local job (CUDA_VISIBLE_DEVICES="") unless asked
            ex.update_parameters(gpus_per_node=len(gpus))
            ex._executor.update_parameters(visible_gpus=gpus)  # which ones: the AutoExecutor does not pass it
    return ex


def visible_gpus() -> tuple[int, ...]:
    """The GPU indices this process sees, for its local jobs to see the same ones (shared by the
    jobs that run side by side). CUDA_VISIBLE_DEVICES, when set, as integer indices; else every
    GPU torch counts. GPUs named by UUID cannot be passed on: a warning says so."""
    env = os.environ.get("CUDA_VISIBLE_DEVICES")
    if env is None:
        import torch

        return tuple(range(torch.cuda.device_count()))
    names = [p.strip() for p in env.split(",") if p.strip()]
    try:
        return tuple(int(p) for p in names)
    except ValueError:
        log.warning("local jobs see no GPU: CUDA_VISIBLE_DEVICES=%s names GPUs, and submitit passes a local "
                    "job only indices (give indices, or use --executor debug)", env)
        return ()


def _with_threads(spec: RunSpec, threads: Optional[int]) -> dict[str, Any]:
    d = spec.model_dump()
    if threads and not d.get("threads"):
        d["threads"] = threads
    return d


def execute(plan: Plan, executor: str = "local", *, max_parallel: int = 1, fail_fast: bool = False,
            timeout_min: int = 60, profile: Optional[Profile] = None) -> SweepResult:
    """Run every to-do cell of `plan` and wait for them; failures are reported, not raised."""
    result = SweepResult()
    if executor == "slurm":
        return _execute_slurm(plan, profile or Profile(), fail_fast, result)
    if not plan.todo:
        return result
    root = plan.root.absolute()  # in manifests: `sweep status` may run from another directory
    sid = new_submission_id()
    folder = submitit_folder(root, sid)
    ex = make_executor(executor, root, timeout_min=timeout_min, folder=folder)
    threads = 1 if (executor == "local" and max_parallel > 1) else None
    pending = [(s, _with_threads(s, threads)) for s in plan.todo]
    # The local executor's jobs are recorded like Slurm's, so `sweep status` can see them; a debug
    # sweep has no jobs, but records its plan, so status lists the cells it has not started yet.
    record = _Recorder(root, sid, folder, executor, plan.todo)
    try:
        _wait([], result, fail_fast, pending=pending, ex=ex, root=str(root),
              cap=1 if executor == "debug" else max_parallel, record=record, timeout_min=timeout_min)
    finally:
        record.close()
    return result


def planned(todo: list[RunSpec]) -> dict[str, str]:
    """What a manifest records before anything is submitted: run id -> label of every cell."""
    return cell_labels(todo)


class _Recorder:
    """Writes one submission's manifest (atomically): every planned cell now, each job as it starts."""

    def __init__(self, root: Path, sid: str, folder: Path, executor: str, todo: list[RunSpec]) -> None:
        self.root, self.sid, self.folder, self.executor = root, sid, folder, executor
        self.refs: list[JobRef] = []
        self.started: dict[str, float] = {}  # debug cells (run in this process: no job) -> start time
        self.failed: dict[str, dict[str, Any]] = {}  # debug cells that failed: run id -> line, start time
        self.planned = planned(todo)
        write_manifest(root, sid, [], self.planned)

    def __call__(self, spec: RunSpec, job: Any) -> None:
        if self.executor == "debug":  # status reads a started one from its run folder (running, failed ...)
            self.started[spec.run_id] = time.time()
        else:
            self.refs.append(JobRef(spec.run_id, self.executor, str(job.job_id), "synthscale",
                                    str(self.folder), time.time(), self.planned[spec.run_id]))
        self._write()

    def ended(self, spec: RunSpec, err: Optional[arrays.CellError]) -> None:
        """A debug cell that failed is kept with the sweep's line for it: it may leave no run folder
        to read that from (a device this machine lacks; a config error clears the folder it made),
        and `sweep status` called it missing, "its sweep stopped before submitting it"."""
        if self.executor == "debug" and err is not None and not (err.stopped or err.not_run):
            self.failed[spec.run_id] = {"error": err.message, "time": self.started[spec.run_id]}
            self._write()

    def _write(self, submitting: bool = True) -> None:
        write_manifest(self.root, self.sid, self.refs, self.planned, submitting=submitting,
                       started=list(self.started), failed=self.failed)

    def close(self) -> None:
        """No more submissions: cells still without a job are missing, not pending."""
        self._write(submitting=False)


def _execute_slurm(plan: Plan, profile: Profile, fail_fast: bool, result: SweepResult) -> SweepResult:
    """Submit the cells not yet queued as arrays, attach to those already queued, wait for all."""
    if plan.todo:
        arrays.require_slurm()  # before anything is written under the root
    root = plan.root.absolute()
    root.mkdir(parents=True, exist_ok=True)
    # Two sweeps over one root at once: the second sees the first's jobs and does not duplicate them.
    with FileLock(str(root / ".submit.lock")):
        flying = waits_on(plan)
        todo = [s for s in plan.todo if s.run_id not in flying]
        sub = arrays.Submitted([], [], [])
        if todo:
            sid = new_submission_id()
            cells = planned(todo)
            write_manifest(root, sid, [], cells)  # cells it fails to submit count as missing
            queued: list[JobRef] = []

            def record(so_far: arrays.Submitted) -> None:  # each array's ids as soon as it is queued
                queued[:] = so_far.refs
                write_manifest(root, sid, queued, cells)

            try:
                sub = arrays.submit(todo, root, profile, sid, submitit_folder(root, sid), record)
            finally:
                write_manifest(root, sid, queued, cells, submitting=False)
    if flying:
        log.info("%s already queued or running from an earlier sweep: waiting for them",
                 counted(len(flying), "cell"))
    by_id = {s.run_id: s for s in plan.todo}
    for rid, ref in flying.items():
        sub.refs.append(ref)
        sub.jobs.append(submitit.SlurmJob(folder=ref.folder, job_id=ref.job_id))
        sub.specs.append(by_id[rid])
        result.attached.append(rid)
    bar = _bar(len(sub.jobs))

    def on_end(spec: RunSpec, err: Optional[arrays.CellError]) -> None:
        result.ended(spec.run_id, err)
        _tick(bar, result, len(sub.jobs))

    try:
        arrays.wait(sub, fail_fast, on_end)
    except KeyboardInterrupt:  # Ctrl-C or kill of the sweep: its jobs run on, which the CLI's line did not say
        ended = {*result.finished, *result.unfinished}
        left = [r for r in sub.refs if r.run_id not in ended]
        ids = sorted({r.job_id.split("_")[0] for r in left}, key=lambda j: (len(j), j))
        if ids:
            print(f"{counted(len(left), 'cell')} {'keeps' if len(left) == 1 else 'keep'} running on Slurm "
                  f"(job {', '.join(ids)}): the next sweep "
                  f"attaches to them; `scancel {' '.join(ids)}` stops them", file=sys.stderr, flush=True)
        raise
    finally:
        if bar is not None:
            bar.close()
    return result


def waits_on(plan: Plan) -> dict[str, JobRef]:
    """The to-do cells that an earlier sweep's Slurm jobs are queued or running for: a Slurm sweep
    waits for those instead of submitting them (its --dry-run says which). A UserError if a local
    sweep, a debug sweep or `synthscale run` runs one of them now: those have no Slurm job to wait
    on, and a job submitted for the cell would hold its allocation waiting on the run's lock, then
    take the other's rows."""
    root = plan.root.absolute()
    todo_ids = {s.run_id for s in plan.todo}
    flying = {rid: ref for rid, ref in in_flight(root).items() if rid in todo_ids}
    local = sorted(rid for rid, ref in flying.items() if ref.executor != "slurm")
    if local:  # a local job is a process here, not a Slurm job: it cannot be waited on as one
        _refuse_running(local, "a local sweep over this root")
    held = sorted(rid for rid in todo_ids - flying.keys() if run_in_progress(root / "runs" / rid))
    if held:
        _refuse_running(held, "another process (a `synthscale run` or a debug sweep over this root)")
    return flying


def _refuse_running(run_ids: list[str], where: str) -> None:
    """The one line for a Slurm sweep whose cells `where` runs now."""
    n = len(run_ids)
    raise UserError(f"{counted(n, 'cell')} of this sweep {'is' if n == 1 else 'are'} running in {where} "
                    f"({', '.join(run_ids[:3])}{', ...' if n > 3 else ''}): let it finish or stop it, then sweep again")


def _wait(running: list, result: SweepResult, fail_fast: bool, pending: list, ex=None,
          root: str = "", cap: int = 1, record=None, timeout_min: int = 60) -> None:
    """Keep at most `cap` jobs running, submitting from `pending`; record outcomes as jobs end."""
    total = len(running) + len(pending)
    bar = _bar(total)
    try:
        _wait_loop(running, result, fail_fast, pending, ex, root, cap, record, timeout_min, bar, total)
    except BaseException:  # Ctrl-C, or SIGTERM (slurm.cli): running cells save a checkpoint and stop
        _stop_local_jobs(running)
        raise
    finally:
        if bar is not None:
            bar.close()


def _wait_loop(running: list, result: SweepResult, fail_fast: bool, pending: list, ex, root: str,
               cap: int, record, timeout_min: int, bar, total: int) -> None:
    while running or pending:
        while pending and len(running) < cap and not (fail_fast and result.unfinished):
            spec, d = pending.pop(0)
            running.append((spec, _submit(ex, d, root)))
            if record is not None:
                record(spec, running[-1][1])
        if fail_fast and result.unfinished and pending:
            log.warning("--fail-fast: %d cell%s not submitted", len(pending), "" if len(pending) == 1 else "s")
            for spec, _ in pending:
                result.ended(spec.run_id, arrays.NOT_RUN)
            _tick(bar, result, total, len(pending))  # one update for them all
            pending.clear()
        still = []
        for spec, job in running:
            # A debug job runs when asked for its exception; its done() would open pdb on failure.
            if not isinstance(job, DebugJob) and not job.done():
                still.append((spec, job))
                continue
            exc = job.exception()
            err = None if exc is None else job_error(job, exc, timeout_min)
            result.ended(spec.run_id, err)
            if record is not None:
                record.ended(spec, err)
            _tick(bar, result, total)
        running[:] = still  # in place: the caller stops what still runs when interrupted
        if running:
            time.sleep(0.5)


def _submit(ex: submitit.AutoExecutor, spec: dict[str, Any], root: str) -> Any:
    """Submit one cell. A local job starts with SIGINT ignored, so a terminal's Ctrl-C does not hit
    submitit's controller process (it printed a traceback into the sweep's terminal and killed the
    job a second later, before it could save a checkpoint); the job's own process handles SIGINT
    and SIGTERM (slurm.jobs.run_local_cell). A debug cell handles them in this process
    (slurm.jobs.run_debug_cell)."""
    if threading.current_thread() is not threading.main_thread():
        return ex.submit(run_cell, spec, root)
    if ex.cluster == "debug":  # runs later, in this process, when the sweep asks for its result
        return ex.submit(run_debug_cell, spec, root)
    before = signal.signal(signal.SIGINT, signal.SIG_IGN)  # inherited by the processes it starts
    try:
        return ex.submit(run_local_cell, spec, root)
    finally:
        signal.signal(signal.SIGINT, before)


def _stop_local_jobs(running: list) -> None:
    """Ask each running local job to save a checkpoint and stop (SIGTERM to its controller, which
    forwards it), and wait for them a while; a second Ctrl-C stops waiting."""
    local = [(spec, job) for spec, job in running if isinstance(job, LocalJob)]  # not debug: in here
    lost = {job.job_id: -1 for _, job in local}  # -1: not asked yet
    deadline = time.monotonic() + _STOP_GRACE_S
    while time.monotonic() < deadline and not all(job.done() for _, job in local):
        for _, job in local:
            # A job still starting has submitit's SIGTERM handler, which only logs "Bypassing signal
            # SIGTERM", until the cell installs its own: a request lost there left the job training to
            # its end. Asked again for each one lost (the cell's own handler is not asked twice).
            n_lost = (job.stderr() or "").count(_LOST) if lost[job.job_id] >= 0 else 0
            if not job.done() and n_lost > lost[job.job_id]:
                try:
                    os.kill(int(job.job_id), signal.SIGTERM)  # a local job's id is its controller's pid
                except ProcessLookupError:
                    pass
                lost[job.job_id] = n_lost
        time.sleep(0.2)
    for spec, job in local:
        if not job.done():
            log.warning("cell %s (pid %s) is still running; it stops after its next training step",
                        spec.run_id, job.job_id)


_STOP_GRACE_S = 60.0  # one training step and a checkpoint write take far less
_LOST = "Bypassing signal SIGTERM"  # submitit's log line for a SIGTERM it ignores


def job_error(job: Any, exc: BaseException, timeout_min: int) -> arrays.CellError:
    """Why a local or debug job failed, in one line: its own exception, else how its process ended."""
    if isinstance(exc, FailedJobError) or not isinstance(exc, UncompletedJobError):  # the job raised
        err = arrays.cell_error(exc)
        if err.stopped and isinstance(job, LocalJob) and TIME_LIMIT_NEAR in (job.stderr() or ""):
            # run_local_cell saved its step when the time limit neared
            return arrays.cell_error(exc, f"at its time limit, {timeout_min} min; raise --timeout-min")
        return _timed_out(timeout_min) if _TIMED_OUT in err.message else err
    # No result file: the process died, or was killed at the time limit.
    stderr = job.stderr() or ""
    if "this job is timed-out" in stderr:
        return _timed_out(timeout_min)
    if job.state == "INTERRUPTED":  # submitit's word for a job process that a signal ended
        return arrays.CellError(f"killed by a signal; logs: {job.paths.stderr}")
    return (arrays.traceback_error(stderr) or arrays.CellError(
        f"its process died without a result or an error (killed? out of memory?); logs: {job.paths.stderr}"))


def _timed_out(timeout_min: int) -> arrays.CellError:
    return arrays.CellError(f"timed out (limit {timeout_min} min): raise --timeout-min")


_TIMED_OUT = "not requeued because: timed-out"  # submitit's error when USR2 hits a plain function


def _bar(total: int):
    if sys.stderr.isatty():
        from tqdm import tqdm

        return tqdm(total=total, desc="sweep", unit="cell")
    return None


def _tick(bar, result: SweepResult, total: int, ended: int = 1) -> None:
    """Count `ended` more cells as ended: the bar on a terminal, else one log line."""
    n = len(result.finished) + len(result.unfinished)
    failed, stopped = len(result.failed), len(result.stopped)  # stopped: by a signal, with a checkpoint
    not_run = len(result.not_run)
    if bar is not None:
        bar.update(ended)
        bar.set_postfix(failed=failed, **({"stopped": stopped} if stopped else {}),
                        **({"not_run": not_run} if not_run else {}), refresh=False)
    else:
        log.info("sweep: %d/%d cells ended (%d failed%s%s)", n, total, failed,
                 f", {stopped} stopped" if stopped else "", f", {not_run} not run" if not_run else "")
