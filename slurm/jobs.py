"""What a submitted job runs: a config in, rows out. Jobs never receive datasets or models.

`CellJob` makes a cell checkpointable: on submitit's USR2 (preemption or timeout) it saves the
training state and requeues. Training runs in a worker thread; submitit calls `checkpoint()` from
its signal handler in the main thread. `checkpoint()` sets the `stop` event that the training loop
checks at every step boundary (it then writes a full checkpoint: model, optimiser, RNG, step; the
schedule and the data position are functions of the step) and returns a fresh job for submitit to
requeue. The requeued job calls `bench.run` again, which resumes from that checkpoint.

A SIGTERM (`scancel` without `--signal`, or a cluster that preempts with SIGTERM and a grace time)
also saves a checkpoint at the next step boundary, then ends the job without a requeue: submitit
itself only logs SIGTERM, so the job used to die at Slurm's KillWait with nothing saved since its
last periodic checkpoint. The next sweep resumes the cell from the saved step.
"""
from __future__ import annotations

import json
import logging
import os
import signal
import sys
import threading
import time
from pathlib import Path
from types import FrameType
from typing import Any, Optional

import submitit
from submitit.core.utils import UncompletedJobError

from bench.config import RunSpec
from bench.records import Interrupted
from synth.allocator import reuse_freed_memory
from synth.console import counted


def run_cell(spec: dict[str, Any], root: str,
             stop: Optional[threading.Event] = None) -> list[dict[str, Any]]:
    """Validate the config dict and run it under `root` (idempotent: a finished cell returns its rows).

    `stop`, when set, makes training save a checkpoint at the next step and raise Interrupted.
    """
    os.environ.setdefault("GOMP_SPINCOUNT", "0")  # OpenMP spin-waits slow down co-located jobs 8-17x
    reuse_freed_memory()  # per-step temporaries stay in the heap (see synth.allocator)
    from bench.run import run  # here, not at the top: `sweep status` imports this module, never torch

    return run(RunSpec.model_validate(spec), root, stop=stop)


def run_local_cell(spec: dict[str, Any], root: str) -> list[dict[str, Any]]:
    """`run_cell` for the local executor's job process: a SIGINT (the terminal's Ctrl-C) or SIGTERM
    (the sweep stopping) saves a checkpoint at the next training step and ends the job with
    Interrupted, so the next sweep resumes from that step (bench.train.stop_on_signals). So does
    the USR2 that submitit's local controller sends 30 s before the job's time limit (--timeout-min):
    the job used to end there with submitit's "timed-out and not checkpointable", nothing saved."""
    from bench.train import stop_on_signals

    with stop_on_signals(threading.Event()) as stop:
        def near_limit(signum: int, frame: Optional[FrameType]) -> None:
            if not stop.is_set():
                stop.set()
                log.warning(TIME_LIMIT_NEAR)  # the run's log.txt
                print(TIME_LIMIT_NEAR, file=sys.stderr, flush=True)  # the job's log, which the sweep reads
        before = signal.signal(signal.SIGUSR2, near_limit)
        try:
            return run_cell(spec, root, stop=stop)
        finally:
            signal.signal(signal.SIGUSR2, before)


def run_debug_cell(spec: dict[str, Any], root: str) -> list[dict[str, Any]]:
    """`run_cell` for --executor debug, which runs each cell inside the sweep's own process: a Ctrl-C
    saves a checkpoint at the next training step, then stops the sweep (KeyboardInterrupt), as in
    `synthscale run`. Without this the Ctrl-C ended the cell wherever it was, nothing saved. (The
    debug sweep records a cell that fails in its manifest: slurm.sweep._Recorder.ended.)"""
    from bench.train import stop_on_signals

    with stop_on_signals(threading.Event()) as stop:
        try:
            return run_cell(spec, root, stop=stop)
        except Interrupted:
            if stop.is_set():  # a signal here: the sweep stops too
                raise KeyboardInterrupt from None
            raise


log = logging.getLogger("synthscale.checkpoint")
# In the job's log when its time limit is near; the sweep and `sweep status` look for it
TIME_LIMIT_NEAR = ("USR2: the job's time limit (--timeout-min) is near: saving a checkpoint at the next "
                   "training step, then stopping")

INTERRUPTS_FILE = "interrupts.jsonl"  # one line per USR2 checkpoint (requeued or not), beside row.json
_JOIN_TIMEOUT_S = 60.0  # a step is far shorter; Slurm's KillWait follows the signal delay anyway


def _ignore_signal(signum: int, frame: Optional[FrameType]) -> None:
    """A handler that does nothing (SIG_IGN would be inherited by processes the job starts)."""


class CellJob(submitit.helpers.Checkpointable):
    """Run one cell (`slurm.jobs.run_cell`) so that a USR2 checkpoints it and requeues it."""

    def __init__(self) -> None:
        self._stop: Optional[threading.Event] = None
        self._worker: Optional[threading.Thread] = None
        self._outcome: dict[str, Any] = {}
        self._checkpointed = False  # checkpoint() ran: submitit's USR2 handler decides about the requeue

    def __call__(self, spec: dict[str, Any], root: str) -> list[dict[str, Any]]:
        try:
            return self._run(spec, root)
        except BaseException as ended:
            if getattr(self, "_checkpointed", False):  # submitit's USR2 handler ended the job here
                self._checkpointed = False
                try:
                    self._record_interrupt(spec, root, ended)
                except Exception:  # (a full or lost disk): the requeue is decided; the record is not worth it
                    log.exception("could not record the interruption of cell %s", _run_id(spec))
            raise

    def _run(self, spec: dict[str, Any], root: str) -> list[dict[str, Any]]:
        spec = slurm_threads(spec)
        self._stop = threading.Event()
        self._worker = threading.Thread(target=self._work, args=(spec, root), name="cell")
        before = signal.signal(signal.SIGTERM, self._terminate)  # in place of submitit's "bypass"
        # submitit's SIGCONT "bypass" logs a warning. Slurm sends SIGCONT beside the USR2 of the time
        # limit; a USR2 handled while that warning was being written raised submitit's "timed-out too
        # many times" inside logging, which swallowed it (a "Logging error"), so the cell read as
        # stopped by SIGTERM instead of timed out (seen once in CI). Here SIGCONT does nothing.
        cont = signal.signal(signal.SIGCONT, _ignore_signal)
        try:
            self._worker.start()
            while self._worker.is_alive():  # short joins keep the main thread free for signals
                self._worker.join(timeout=0.5)
        finally:
            signal.signal(signal.SIGTERM, before)
            signal.signal(signal.SIGCONT, cont)
        if "error" in self._outcome:
            raise self._outcome["error"]
        if "interrupted" in self._outcome:  # a SIGTERM stopped it (checkpoint() requeues and exits)
            exc = self._outcome["interrupted"]
            log.warning("SIGTERM: stopped at step %s%s with a checkpoint and not requeued; the next sweep "
                        "resumes this cell from there", exc.step, f" of {exc.desc}" if exc.desc else "")
            raise exc
        return self._outcome["rows"]

    def _terminate(self, signum: int, frame: Optional[FrameType]) -> None:
        """SIGTERM: save a checkpoint at the next step boundary and end without a requeue. A SIGTERM
        after a USR2 (Slurm's requeue kills the job) finds `stop` already set and changes nothing."""
        if self._stop is not None and not self._stop.is_set():
            log.warning("SIGTERM (scancel, or preemption without a signal): saving a checkpoint at the "
                        "next training step if one comes before Slurm's KillWait, then stopping")
            self._stop.set()

    def _work(self, spec: dict[str, Any], root: str) -> None:
        try:
            self._outcome["rows"] = run_cell(spec, root, stop=self._stop)
        except Interrupted as exc:
            self._outcome["interrupted"] = exc
        except BaseException as exc:  # re-raised in the main thread, where submitit records it
            self._outcome["error"] = exc

    def checkpoint(self, spec: dict[str, Any], root: str) -> submitit.helpers.DelayedSubmission:
        """Stop training at the next step boundary (it saves its state), then hand submitit the job to
        requeue. Whether it requeues it is decided after this returns (not once the job timed out
        more often than max_requeues allows): __call__ records the interruption then. It was recorded
        here, and logged as "requeueing", also when no requeue followed (the last timeout)."""
        if self._stop is not None and self._worker is not None:
            self._stop.set()
            self._worker.join(timeout=_JOIN_TIMEOUT_S)
        self._checkpointed = True
        return submitit.helpers.DelayedSubmission(CellJob(), spec, root)

    def _record_interrupt(self, spec: dict[str, Any], root: str, ended: BaseException) -> None:
        """Record the interruption that checkpoint() saved, with submitit's decision: it requeued the
        job and exits (SystemExit), or did not (UncompletedJobError, with its reason)."""
        if isinstance(ended, SystemExit):
            requeued, why = True, ""
        elif isinstance(ended, UncompletedJobError):  # "Job not requeued because: timed-out too many times."
            requeued, why = False, str(ended).split("because: ", 1)[-1].strip().rstrip(".")
        else:  # the requeue itself failed (scontrol); Slurm may be requeueing the job anyway
            requeued, why = None, f"its requeue failed ({type(ended).__name__}: {ended})"
        exc = self._outcome.get("interrupted")
        record_interrupt(Path(root) / "runs" / _run_id(spec), exc.step if exc else None,
                         str(exc.path) if exc else None, exc.desc if exc else None, requeued, why)


def slurm_threads(spec: dict[str, Any]) -> dict[str, Any]:
    """A Slurm job's cell with `threads` unset trains on the CPUs Slurm gave the job
    (SLURM_CPUS_PER_TASK). Before, it took torch's default, which follows an OMP_NUM_THREADS the job
    inherited from the shell that submitted it: 1 thread on 8 CPUs. (`threads` is not in the run id.)"""
    cpus = os.environ.get("SLURM_CPUS_PER_TASK", "")
    if spec.get("threads") is None and cpus.isdigit() and int(cpus) > 0:
        return {**spec, "threads": int(cpus)}
    return spec


def _run_id(spec: dict[str, Any]) -> str:
    return RunSpec.model_validate(spec).run_id


def record_interrupt(run_dir: Path, step: Optional[int], checkpoint: Optional[str],
                     stage: Optional[str] = None, requeued: Optional[bool] = True, why: str = "") -> None:
    """Append one line to the run's interrupt log (only the job holding the cell writes it); `stage`
    is the training stage the step belongs to ("pretrain n=32", "finetune s=20"); `requeued` says
    whether submitit requeued the job (False: not, for the reason `why`; None: unknown, `why`)."""
    run_dir.mkdir(parents=True, exist_ok=True)
    env = os.environ
    # The id squeue, sacct and `sweep status` use: 27_0 for an array task (SLURM_JOB_ID is the
    # task's own number), else the job id.
    task = (f"{env['SLURM_ARRAY_JOB_ID']}_{env['SLURM_ARRAY_TASK_ID']}"
            if env.get("SLURM_ARRAY_JOB_ID") and env.get("SLURM_ARRAY_TASK_ID") else env.get("SLURM_JOB_ID"))
    entry = {"time": time.strftime("%Y-%m-%dT%H:%M:%S"), "step": step, "stage": stage, "checkpoint": checkpoint,
             "job_id": task, "slurm_job_id": env.get("SLURM_JOB_ID"),
             "array_task": env.get("SLURM_ARRAY_TASK_ID"), "requeued": requeued}
    with (run_dir / INTERRUPTS_FILE).open("a+b") as fh:
        # A job killed mid-append leaves a torn last line: start on a new line, or this record was
        # glued onto it and lost with it
        torn = False
        if fh.seek(0, os.SEEK_END):
            fh.seek(-1, os.SEEK_END)
            torn = fh.read(1) != b"\n"
        fh.write((("\n" if torn else "") + json.dumps(entry) + "\n").encode())
        fh.flush()
        os.fsync(fh.fileno())
    then = "requeued" if requeued else f"not requeued: {why}" if requeued is False else why or "requeue unknown"
    log.warning("interrupted at step %s%s; checkpoint %s; %s", step, f" of {stage}" if stage else "",
                checkpoint, then)


def read_interrupts(run_dir: Path) -> list[dict[str, Any]]:
    """Every recorded interrupt of a run, oldest first. A line that is not JSON is a torn one (a job
    killed while writing it, whose next record record_interrupt starts on a new line, or one being
    written now) and is skipped quietly; JSON that is not a record (an object) is skipped with a
    warning (a JSON list or number there made `sweep status` stop with a traceback)."""
    path = run_dir / INTERRUPTS_FILE
    try:
        lines = path.read_text(errors="replace").splitlines()
    except OSError:
        return []
    out, n_bad = [], 0
    for line in lines:
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:  # torn (it warned on every read once the next record followed it)
            continue
        if isinstance(entry, dict):
            out.append(entry)
        else:
            n_bad += 1
    if n_bad:
        log.warning("warning: %s: %s that %s JSON but not interrupt records ignored", path,
                    counted(n_bad, "line"), "is" if n_bad == 1 else "are")
    return out
