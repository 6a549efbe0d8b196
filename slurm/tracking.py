"""What happened to each cell: the record of submissions, the scheduler's view, `sweep status`.

`ROOT/sweeps/<submission>.json` is written atomically, first with every cell the sweep plans to
run (before it submits any), then with which job runs which cell (the latest submission of a cell
wins). States come from the rows first (a cell is done only when its `row.json` holds complete
rows, bench.run.read_rows), then from Slurm (squeue for live jobs, sacct for finished ones) or
the process table (local jobs: /proc, or `ps` where there is none, as on macOS); a planned cell
with no job is pending while its sweep is still submitting and missing once it stopped or died; a
job that ended by saving a checkpoint on request (Ctrl-C, kill) is stopped, any other end without
rows failed. A cell started without a job (a debug sweep's, `synthscale run`) is read from its run
folder, and from its debug sweep's record of how it failed.
"""
from __future__ import annotations

import json
import logging
import os
import re
import shutil
import subprocess
import time
import uuid
from collections import Counter
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Callable, Collection

from bench.collect import read_run_spec
from bench.config import RunSpec, identity_suffix, synth_label, varying_identity
from bench.records import STOPPED_UNSAVED, Interrupted, read_rows, write_json_atomic
from slurm.jobs import TIME_LIMIT_NEAR, read_interrupts
from synth.console import counted

MANIFEST_DIR = "sweeps"
log = logging.getLogger("synthscale.sweep")


@dataclass(frozen=True)
class JobRef:
    """One cell's job in one submission."""

    run_id: str
    executor: str      # local | debug | slurm
    job_id: str        # Slurm: "<array>_<task>" or "<job>"; local: the worker's pid
    job_name: str      # unique per submission: a job id reused by a newer cluster will not match
    folder: str        # the submitit folder (logs, pickles)
    submitted: float   # unix time
    label: str = ""    # what the cell is, for people

    @property
    def stderr(self) -> Path:
        """submitit's stderr log of this job (task 0)."""
        return Path(self.folder) / f"{self.job_id}_0_log.err"

    @property
    def result_pickle(self) -> Path:
        """submitit's result file; present once the job has finished, well or badly."""
        return Path(self.folder) / f"{self.job_id}_0_result.pkl"


def cell_label(spec: RunSpec, extra: tuple[str, ...] = ()) -> str:
    """What a cell is, in a few words (for status lines and logs), with the `extra` fields' values."""
    return f"{synth_label(spec)} {spec.model.name} seed={spec.seed}{identity_suffix(spec, extra)}"


_IN_LABEL = {"synth.generator", "synth.complexity", "synth.n", "model.name", "seed"}


def cell_labels(specs: list[RunSpec]) -> dict[str, str]:
    """Run id -> label of each cell, naming any identity field the cells differ in beyond those a
    label shows (finetune.lr=0.01, ...), so that no two cells read the same."""
    extra = tuple(f for f in varying_identity(specs) if f not in _IN_LABEL)
    return {s.run_id: cell_label(s, extra) for s in specs}


def new_submission_id() -> str:
    """A sortable, unique name for one submission."""
    return f"{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


def write_manifest(root: Path, submission_id: str, refs: list[JobRef],
                   planned: dict[str, str] | None = None, submitting: bool = True,
                   started: list[str] = (), failed: dict[str, dict] | None = None) -> Path:
    """Record one submission: the cells it plans (run id -> label), their jobs so far, the cells it
    started without a job (a debug sweep's, which run in this process) and how those that `failed`
    did (run id -> {"error": the sweep's line, "time": when the cell started}; such a cell may leave
    no run folder to read), and, while it is `submitting`, this process (atomic: a reader never
    sees half a manifest)."""
    folder = root / MANIFEST_DIR
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{submission_id}.json"
    pid = os.getpid() if submitting else None
    write_json_atomic({"submission": submission_id, "pid": pid,
                       "pid_start": process_start(pid) if pid else "", "planned": planned or {},
                       "order": list(planned or {}),  # the plan's order: the file's keys are sorted
                       "started": list(started), "failed": dict(failed or {}), "jobs": [asdict(r) for r in refs]}, path)
    return path


def process_start(pid: int) -> str:
    """When a live process started (a reused pid differs), '' if gone: clock ticks since boot from
    /proc, or, where there is no /proc (macOS), the start time `ps` gives, to the second."""
    if not have_proc():
        return _ps(pid, "lstart")
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return ""


def have_proc() -> bool:
    """Whether this system's /proc tells about local processes (Linux); macOS has none, and read
    there, a running local job was `failed` and the unsubmitted cells of a live sweep `missing`."""
    try:
        Path("/proc/self/stat").read_text()
    except OSError:
        return False
    return True


def _ps(pid: int, column: str) -> str:
    """One column of POSIX `ps` (macOS, the BSDs, Linux) for a live process, '' if it is gone or ps
    cannot tell. In the C locale and UTC, so that a start time reads the same from every shell."""
    if pid <= 0 or os.name == "nt":  # 0 and -1 name process groups; on Windows signal 0 is a Ctrl-C event
        return ""
    try:
        os.kill(pid, 0)  # signal 0 only asks whether the process exists: a gone one needs no ps
    except PermissionError:  # another user's process: alive
        pass
    except (OSError, OverflowError):
        return ""
    try:
        res = subprocess.run(["ps", "-ww", "-o", f"{column}=", "-p", str(pid)], capture_output=True, text=True,
                             timeout=30, env={**os.environ, "LC_ALL": "C", "TZ": "UTC"})
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return res.stdout.strip() if res.returncode == 0 else ""


def _job_ref(entry: dict, root: Path) -> JobRef:
    """A manifest entry as a JobRef; TypeError if it is not one. Old manifests stored the submitit
    folder relative to where the sweep ran: it is `ROOT/submitit/<submission>`."""
    ref = JobRef(**entry)
    if not isinstance(ref.submitted, (int, float)) or not all(
            isinstance(v, str) for v in (ref.run_id, ref.executor, ref.job_id, ref.job_name, ref.folder, ref.label)):
        raise TypeError("a field has the wrong type")
    if not _plain_name(ref.run_id) or "\0" in ref.folder + ref.job_id:  # a path inside ROOT/runs
        raise TypeError("not a run id, or a NUL byte in a path")
    if not Path(ref.folder).is_absolute():
        ref = replace(ref, folder=str(root.absolute() / "submitit" / Path(ref.folder).name))
    return ref


def _plain_name(run_id: str) -> bool:
    """A run id names one folder in ROOT/runs: no separator, no '..', nothing unprintable (a damaged
    manifest had `sweep status` read files outside the root, stop on an embedded NUL byte, or send a
    terminal control sequence to whoever ran status)."""
    return bool(run_id) and run_id not in (".", "..") and run_id.isprintable() and not any(c in run_id for c in "/\\")


def read_manifests(root: Path, failed: dict[str, dict] | None = None
                   ) -> tuple[dict[str, JobRef], dict[str, tuple[str, bool]]]:
    """Each cell's most recent job, and every planned cell: run id -> (label, whether the sweep that
    planned it may still submit it). Unreadable manifests and entries are skipped with a warning.
    `failed` receives the debug cells whose latest start (by a debug sweep) failed: run id ->
    {"error": the sweep's line, "time": when it started}."""
    latest: dict[str, JobRef] = {}
    planned: dict[str, tuple[str, bool]] = {}
    for path in sorted((root / MANIFEST_DIR).glob("*.json")):  # names sort by time
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError):
            data = None
        if not isinstance(data, dict) or not isinstance(data.get("jobs"), list):
            log.warning("warning: %s is not a sweep manifest; ignored", _shown(str(path)))
            continue  # its cells count as missing
        n_bad = 0
        for entry in data["jobs"]:
            try:
                ref = _job_ref(entry, root)
            except TypeError:  # an unknown or missing key, a wrong type, not a dict
                n_bad += 1
                continue
            if ref.run_id not in latest or latest[ref.run_id].submitted <= ref.submitted:
                latest[ref.run_id] = ref
        if n_bad:
            log.warning("warning: %s: %d unreadable job entries ignored (their cells count as "
                        "missing)", path, n_bad)
        pid, start = data.get("pid"), data.get("pid_start")
        alive = isinstance(pid, int) and bool(start) and process_start(pid) == start
        if isinstance(data.get("planned"), dict):
            order = data.get("order") if isinstance(data.get("order"), list) else []
            ranked = [rid for rid in order if isinstance(rid, str) and rid in data["planned"]]
            cells = {rid: data["planned"][rid] for rid in dict.fromkeys([*ranked, *data["planned"]])
                     if _plain_name(rid)}
            if len(cells) < len(data["planned"]):
                log.warning("warning: %s: %d planned cells that are not run ids ignored", path,
                            len(data["planned"]) - len(cells))
            listed = data.get("started") if isinstance(data.get("started"), list) else []
            started = {rid for rid in listed if isinstance(rid, str)}  # debug cells: read from their folders
            planned.update({rid: (str(label), alive and rid not in started) for rid, label in cells.items()})
            if failed is not None:  # a later start of a cell replaces an earlier one's outcome
                how = data.get("failed") if isinstance(data.get("failed"), dict) else {}
                for rid in started:
                    entry = how.get(rid)
                    if (isinstance(entry, dict) and isinstance(entry.get("error"), str)
                            and isinstance(entry.get("time", 0), (int, float))):
                        failed[rid] = entry
                    else:
                        failed.pop(rid, None)
    return latest, planned


def latest_jobs(root: Path) -> dict[str, JobRef]:
    """For each cell ever submitted under `root`, its most recent job."""
    return read_manifests(root)[0]


# Slurm states of a job that is still in the queue, and what `status` calls them.
LIVE = {"PENDING": "pending", "REQUEUED": "pending", "REQUEUE_HOLD": "pending",
        "REQUEUE_FED": "pending", "CONFIGURING": "running", "RUNNING": "running",
        "COMPLETING": "running", "SUSPENDED": "running", "RESIZING": "running",
        "STAGE_OUT": "running", "SIGNALING": "running", "PREEMPTED": "pending"}


ENDED_PREEMPTED = "PREEMPTED (not requeued)"  # sacct's PREEMPTED for a job squeue no longer lists


def _run(cmd: list[str]) -> str:
    out = _query(cmd)
    return "" if isinstance(out, NoAnswer) else out


class NoAnswer(str):
    """Why a Slurm command gave no answer (not installed, controller down, timed out)."""


def _query(cmd: list[str]) -> str | NoAnswer:
    """The command's stdout, or a NoAnswer saying why there is none."""
    if shutil.which(cmd[0]) is None:
        return NoAnswer(f"{cmd[0]} is not installed here")
    try:
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    except subprocess.TimeoutExpired:
        return NoAnswer(f"{cmd[0]} did not answer within 60 s")
    if res.returncode != 0:
        last = (res.stderr.strip().splitlines() or [f"exit code {res.returncode}"])[-1]
        return NoAnswer(f"{cmd[0]}: {last}")
    return res.stdout


# The state given to a Slurm job while squeue does not answer: neither queued nor ended.
UNREACHABLE = "UNREACHABLE"


def slurm_states(refs: list[JobRef], reasons: dict[str, str] | None = None,
                 on_no_answer: Callable[[NoAnswer], None] | None = None) -> dict[str, str]:
    """Raw Slurm state per job id of `refs` ('' when Slurm does not know the job any more). A
    `reasons` dict receives squeue's reason of each pending job (job id -> e.g. 'Resources'), or
    for every job, when squeue did not answer, a NoAnswer saying why. `on_no_answer` hears that
    NoAnswer as soon as squeue fails, before sacct is asked (a stopped accounting daemon keeps
    sacct waiting 45 s more)."""
    if not refs:
        return {}
    names = sorted({r.job_name for r in refs})
    seen: dict[tuple[str, str], str] = {}
    why: dict[tuple[str, str], str] = {}
    # -r lists each array task on its own line; filtering by our unique job names means a job
    # id that a newer cluster gave to someone else's job is never mistaken for ours.
    queue = _query(["squeue", "-h", "-r", "-n", ",".join(names), "-o", "%i|%T|%r|%j"])
    if isinstance(queue, NoAnswer) and on_no_answer is not None:
        on_no_answer(queue)
    for line in ("" if isinstance(queue, NoAnswer) else queue).splitlines():
        job_id, state, reason, name = line.split("|", 3)
        seen[(job_id, name)] = state
        if state == "PENDING" and reason not in ("", "None"):
            why[(job_id, name)] = reason
    if reasons is not None:
        reasons.update({r.job_id: why[(r.job_id, r.job_name)] for r in refs
                        if (r.job_id, r.job_name) in why})
    masters = sorted({r.job_id.split("_")[0] for r in refs})
    for line in _run(["sacct", "-n", "-P", "-X", "-o", "JobID,State,JobName",
                      "-j", ",".join(masters)]).splitlines():
        job_id, state, name = line.split("|", 2)
        state = state.split()[0]  # "CANCELLED by 0" -> CANCELLED
        if state == "PREEMPTED":  # and no longer queued (squeue comes first): ended, not requeued
            # (PreemptMode=CANCEL); a requeued job is listed by squeue, if squeue answered
            state = UNREACHABLE if isinstance(queue, NoAnswer) else ENDED_PREEMPTED
        for one in expand_array_id(job_id):
            seen.setdefault((one, name), state)
    if isinstance(queue, NoAnswer):  # the controller is down or busy: a job sacct does not place
        if reasons is not None:  # is not judged ended (it may be queued or running)
            reasons.update({r.job_id: queue for r in refs})
        return {r.job_id: seen.get((r.job_id, r.job_name)) or UNREACHABLE for r in refs}
    return {r.job_id: seen.get((r.job_id, r.job_name), "") for r in refs}


def expand_array_id(job_id: str) -> list[str]:
    """sacct folds array tasks that never started into one line: '7_[1-3,5%2]' -> 7_1 ... 7_5."""
    match = re.fullmatch(r"(\d+)_\[([^\]]+)\]", job_id)
    if not match:
        return [job_id]
    master, spec = match.group(1), match.group(2).split("%")[0]
    out = []
    for part in spec.split(","):
        lo, _, hi = part.partition("-")
        out += [f"{master}_{i}" for i in range(int(lo), int(hi or lo) + 1)]
    return out


def local_state(ref: JobRef) -> str:
    """'RUNNING' if a local job's worker process is alive, else '' (a process whose command line does
    not name submitit has reused the pid); from /proc, else (macOS) from `ps`."""
    try:
        pid = int(ref.job_id)
    except ValueError:
        return ""
    if not have_proc():
        return "RUNNING" if "submitit" in _ps(pid, "args") else ""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return ""
    return "RUNNING" if b"submitit" in cmdline and os.path.exists(f"/proc/{pid}") else ""


# squeue reasons of a pending job that waits for something no running job will free: the
# partition, its limits or an account/QOS limit per job cannot give what the job asks for.
CANNOT_START = ("PartitionConfig", "PartitionNodeLimit", "PartitionTimeLimit", "BadConstraints",
                "InvalidQOS", "InvalidAccount")


def cannot_start(reason: str) -> bool:
    """Whether squeue's pending reason says the job cannot start as it asks (see CANNOT_START)."""
    return reason.startswith(CANNOT_START) or "PerJob" in reason


def pending_detail(reason: str) -> str:
    """What status shows after PENDING: squeue's reason, with what to do when the job cannot start."""
    if not cannot_start(reason):
        return f"PENDING: {reason}"
    return (f"PENDING: {reason}: Slurm cannot start this job as it asks; scancel it and rerun with "
            "resources the partition has (--cpus-per-job, --mem-gb, --timeout-min, --partition, "
            "--constraint)")


def job_states(refs: list[JobRef], reasons: dict[str, str] | None = None) -> dict[str, str]:
    """Raw state per job id ('' = unknown to the scheduler: finished long ago, or lost); `reasons`
    receives the pending reason of Slurm jobs (slurm_states)."""
    out = slurm_states([r for r in refs if r.executor == "slurm"], reasons)
    out.update({r.job_id: local_state(r) for r in refs if r.executor != "slurm"})
    return out


def cancel_pending(array_ids: list[str]) -> None:
    """Cancel the tasks of these arrays (or jobs) that have not started; running ones go on."""
    if array_ids:
        subprocess.run(["scancel", "--state=PENDING", *array_ids], capture_output=True, timeout=60)


TIMED_OUT_TOO_OFTEN = "timed-out too many times"  # submitit's reason for not requeueing again
STATES = ("done", "running", "pending", "stopped", "failed", "missing")
CELL_STATES = (*STATES, "unknown")  # every state status shows (unknown: Slurm did not answer)
_TAIL_LINES = 3


@dataclass
class CellStatus:
    """One cell: its state, its latest job, how often it was interrupted, the end of its log."""

    run_id: str
    state: str
    job: JobRef | None = None
    detail: str = ""
    n_interrupts: int = 0  # USR2 checkpoints of the job shown (timeouts, signalled preemptions)
    log_tail: list[str] = field(default_factory=list)
    label: str = ""


def cell_statuses(root: Path) -> list[CellStatus]:
    """Every cell that was ever planned, submitted or started under `root`."""
    failed: dict[str, dict] = {}
    jobs, planned = read_manifests(root, failed)
    started = sorted(p.name for p in (root / "runs").glob("*/") if (p / "config.yaml").exists())
    # in the order the sweeps planned them (as their dry runs list them, oldest sweep first; it was by
    # run id, which interleaved a grid's cells), then cells with a job but no plan, then other cells
    run_ids = list(dict.fromkeys([*planned, *jobs, *started]))
    reasons: dict[str, str] = {}
    states = job_states(list(jobs.values()), reasons)
    statuses = [_status(root, run_id, jobs.get(run_id), states, planned.get(run_id), failed.get(run_id))
                for run_id in run_ids]
    for s in statuses:  # a pending job's reason (Priority, Resources, PartitionConfig, ...)
        why = reasons.get(s.job.job_id) if s.job is not None else None
        if s.state == "pending" and why is not None and not isinstance(why, NoAnswer):
            s.detail = pending_detail(why)
        elif s.state == "unknown":
            s.detail = f"Slurm did not answer ({why or 'squeue failed'}); ask again later"
    # What each cell is: from the config of every cell that started here, so that cells of different
    # sweeps (finetune.lr=0.01 in one, the default in the other) read apart; else from its job or plan.
    specs = [spec for rid in run_ids if (spec := read_run_spec(root / "runs" / rid / "config.yaml"))]
    labels = cell_labels(specs)
    for s in statuses:
        s.label = labels.get(s.run_id) or (s.job.label if s.job else planned.get(s.run_id, ("", False))[0])
    return statuses


def _status(root: Path, run_id: str, job: JobRef | None, states: dict[str, str],
            planned: tuple[str, bool] | None, debug_failed: dict | None = None) -> CellStatus:
    run_dir = root / "runs" / run_id
    # The interruptions of the job shown (the file belongs to the cell and outlives its jobs)
    mine = [e for e in read_interrupts(run_dir) if e.get("job_id") == job.job_id] if job else []
    n_int = len(mine)
    if read_rows(run_dir) is not None:
        return CellStatus(run_id, "done", job, n_interrupts=n_int)
    live = job is not None and states.get(job.job_id, "") in LIVE
    if (run_dir / "row.json").exists() and not live:  # written last: the run ended, but the file is damaged
        return CellStatus(run_id, "failed", job, "its row.json is unreadable or incomplete; the next sweep "
                          "rebuilds it (from rows/, rerunning any size without one)", n_int)
    if job is None and planned and planned[1]:
        return CellStatus(run_id, "pending", None, "not submitted yet", n_int)
    if job is None and debug_failed is not None:
        return _debug_failed(run_id, run_dir, n_int, debug_failed)
    if job is None and (run_dir / "log.txt").exists():
        return _untracked(run_id, run_dir, n_int)
    if job is None:
        why = "its sweep stopped before submitting it" if planned else "never submitted by a sweep"
        return CellStatus(run_id, "missing", None, why, n_int)
    raw = states.get(job.job_id, "")
    if raw in LIVE:
        return CellStatus(run_id, LIVE[raw], job, raw, n_int)
    if raw == UNREACHABLE:
        return CellStatus(run_id, "unknown", job, "Slurm did not answer", n_int)
    detail = raw or "ended without a row"  # or cancelled while pending: Slurm keeps no record
    cancelled = job.executor == "slurm" and raw in ("CANCELLED", "")
    # Slurm opens the job's log as it starts, and a job that never ran wrote nothing in the run's log
    # (a log.txt from an older job of the cell is not this one's: it was shown as this job's end)
    if cancelled and not job.stderr.exists() and not _written_since(run_dir / "log.txt", job.submitted):
        return CellStatus(run_id, "missing", job, f"{raw or 'no record'}: its job ended before it started "
                          "(cancelled while pending: --fail-fast or scancel; or lost by the cluster); the next "
                          "sweep runs it", n_int)
    # Ctrl-C or kill of a local sweep, or a SIGTERM'd Slurm job (scancel): Slurm's own lines
    # (srun's "task 0: Exited ...") may follow the traceback, so look further back than the tail
    stopped = _stopped_at(_tail(job, run_dir, 20))
    if stopped:
        why = f"{raw}, " if raw and raw not in ("FAILED", "INTERRUPTED") else ""
        if _hit_time_limit(job, run_dir):  # a local job at --timeout-min
            why = "at its time limit (raise --timeout-min), "
        return CellStatus(run_id, "stopped", job, f"{why}{stopped} with a checkpoint; "
                          "the next sweep resumes it from there", n_int)
    requeued = _requeued_at(mine, run_dir) if cancelled else ""
    if requeued:  # checkpointed on USR2 and requeued, then cancelled while queued again (--fail-fast)
        return CellStatus(run_id, "stopped", job, f"{raw or 'no record'} while queued again after its "
                          f"requeue, {requeued} with a checkpoint; the next sweep resumes it from there", n_int)
    unstarted = (_stopped_unstarted(_tail(job, run_dir), (run_dir / "config.yaml").exists())
                 if job.executor == "local" and not raw else "")
    if unstarted:
        return CellStatus(run_id, "missing", job, f"{unstarted}, with no step to save then; the next sweep "
                          "runs it (from its last checkpoint, if it has one)", n_int)
    tail = _tail(job, run_dir)
    if any(TIMED_OUT_TOO_OFTEN in ln for ln in tail):
        detail = (f"TIMEOUT: {raw + ', ' if raw else ''}requeued after a timeout as often as "
                  "max_requeues allows; rerun with a larger --timeout-min (it resumes from its checkpoint)")
    return CellStatus(run_id, "failed", job, detail, n_int, tail)


def _stopped_unstarted(tail: list[str], run_began: bool) -> str:
    """How a local job ended before its run could save a step, or '': with nothing in its logs and no
    run begun (the sweep's SIGTERM, or a kill, while it started up), or with a bare KeyboardInterrupt
    (Ctrl-C before it handled signals itself). Such a cell was reported failed, though nothing had
    gone wrong. (A run that began and left no log, such as a node dying mid-write, stays failed.)"""
    if not tail and not run_began:
        return "its job ended while starting up and left no log (the sweep stopped it, or it was killed)"
    if tail and tail[-1].strip() == "KeyboardInterrupt":  # a signal outside a training step
        return ("its job was stopped by Ctrl-C or the sweep " +
                ("between training steps (data, evaluation)" if run_began else "while starting up"))
    return ""


def _untracked(run_id: str, run_dir: Path, n_int: int) -> CellStatus:
    """A cell that started outside a sweep's recorded jobs (`synthscale run`, `--executor debug`):
    running while its run holds the run's lock, else stopped or failed, as its own log's latest run
    says (a signal that ended it before it could save a step is a stop too)."""
    outside = "outside a sweep's jobs (synthscale run, or --executor debug)"
    if _locked(run_dir / ".lock"):
        return CellStatus(run_id, "running", None, f"started {outside}", n_int)
    tail = _latest_run(_lines(run_dir / "log.txt"))[-20:]
    stopped = _stopped_at(tail)
    if stopped:
        return CellStatus(run_id, "stopped", None, f"{stopped} with a checkpoint, {outside}; "
                          "the next sweep or run resumes it from there", n_int)
    if tail and STOPPED_UNSAVED in tail[-1]:  # a Ctrl-C or SIGTERM while it loaded data or evaluated ...
        return CellStatus(run_id, "stopped", None, f"by a signal with no step saved then (while it loaded data "
                          f"or evaluated, or a second Ctrl-C), {outside}; the next sweep or run resumes it "
                          "from its last checkpoint, if it has one", n_int)
    return CellStatus(run_id, "failed", None, f"ended without a row, {outside}", n_int, tail[-_TAIL_LINES:])


def _debug_failed(run_id: str, run_dir: Path, n_int: int, failure: dict) -> CellStatus:
    """A cell whose latest start, by a debug sweep, failed (its manifest says how): failed with that
    error, and the tail of its log if that run wrote one. A cell that failed before its run folder
    was made (a device this machine lacks) or whose folder was cleared (a config error) was
    `missing`, "its sweep stopped before submitting it"."""
    if not _written_since(run_dir / "log.txt", failure.get("time", 0)):  # no log, or an older run's
        if _locked(run_dir / ".lock"):  # a later `synthscale run` runs it now
            return _untracked(run_id, run_dir, n_int)
        return CellStatus(run_id, "failed", None, f"in a debug sweep: {failure['error']}", n_int)
    status = _untracked(run_id, run_dir, n_int)  # its own log (or a later run's) tells the rest
    if status.state == "failed":
        status.detail = f"in a debug sweep: {failure['error']}"
    return status


def _written_since(path: Path, since: float) -> bool:
    """Whether the file at `path` exists and was last written at or after unix time `since`."""
    try:
        return path.stat().st_mtime >= since
    except OSError:
        return False


_RUN_ENDS = ("the run ended without a row", STOPPED_UNSAVED)  # bench.run's last line of a run


def _latest_run(lines: list[str]) -> list[str]:
    """The part of a run log (log.txt holds every run of the cell, oldest first) that its latest run
    wrote: after the end of the run before it (the latest run's own end is the last end line)."""
    ends = [i for i, ln in enumerate(lines) if any(e in ln for e in _RUN_ENDS)]
    if len(ends) < 2:
        return lines
    # an end line opens a record whose traceback follows it: the latest run begins at the next
    # line the log's formatter stamped (a stop's traceback there read as the latest run's stop)
    start = next((i for i in range(ends[-2] + 1, len(lines)) if _STAMPED.match(lines[i])), len(lines))
    return lines[start:]


_STAMPED = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d")  # bench.run's log line: time, logger, message


def _hit_time_limit(job: JobRef, run_dir: Path) -> bool:
    """Whether the job that stopped was warned of its time limit (a local job at --timeout-min): in
    its own log, as the sweep reads it (slurm.sweep.job_error), else in its run's part of log.txt.
    A time limit reached by an earlier run of the cell blamed every later stop on it."""
    lines = _lines(job.stderr) or _latest_run(_lines(run_dir / "log.txt"))
    return any(TIME_LIMIT_NEAR in ln for ln in lines)


def _requeued_at(interrupts: list[dict], run_dir: Path) -> str:
    """'at step N of <stage>' when a Slurm job's latest interruption saved a checkpoint and requeued
    it, and its run's log ends there (the requeued job did not run again), else ''."""
    if (not interrupts or not isinstance(interrupts[-1].get("step"), int)
            or interrupts[-1].get("requeued") is False):  # (its last timeout: not requeued)
        return ""
    last = _lines(run_dir / "log.txt")[-1:]  # the stop's traceback ends with Interrupted's message
    m = Interrupted.LOG_PATTERN.search(last[0]) if last else None
    if m is None or int(m[1]) != interrupts[-1]["step"]:
        return ""
    return _stopped_at(last)


def _stopped_at(tail: list[str]) -> str:
    """'at step N of <stage>' from the last line in `tail` that says a run stopped with a checkpoint
    (bench.train.Interrupted), or '' if none does."""
    m = next((m for m in map(Interrupted.LOG_PATTERN.search, reversed(tail)) if m), None)
    if m is None:
        return ""
    return f"at step {m[1]}" + (f" of {m[2]}" if m[2] else "")


def _locked(path: Path) -> bool:
    """Whether a process holds the lock file at `path` (bench.run holds its run's lock while it runs;
    filelock takes it with flock). Only asks: a shared lock that is free is let go at once."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # no lock file: nothing ever held it
        return False
    try:
        import fcntl  # here: POSIX only, and `synthscale` imports this module for every command

        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        return False
    except OSError:
        return True
    finally:
        os.close(fd)  # closing the file lets go of a lock taken through it


def _tail(job: JobRef, run_dir: Path, n_lines: int = _TAIL_LINES) -> list[str]:
    """The last lines of the job's stderr (the traceback), else of the run's own log."""
    return _log_tail([job.stderr, run_dir / "log.txt"], n_lines)


def _log_tail(paths: list[Path], n_lines: int) -> list[str]:
    """The last non-blank lines of the first of `paths` that has any."""
    for path in paths:
        lines = _lines(path)
        if lines:
            return lines[-n_lines:]
    return []


def _lines(path: Path) -> list[str]:
    """The non-blank lines of a log file ([] if it cannot be read)."""
    try:
        return [ln for ln in path.read_text(errors="replace").splitlines() if ln.strip()]
    except OSError:
        return []


def in_flight(root: Path) -> dict[str, JobRef]:
    """Cells whose latest job is queued or running: a new sweep must not submit them again."""
    return {s.run_id: s.job for s in cell_statuses(root)  # unknown: maybe queued, never resubmit
            if s.state in ("running", "pending", "unknown") and s.job is not None}


def run_in_progress(run_dir: Path) -> bool:
    """Whether a process on this machine runs the cell of `run_dir` now (it holds the run's lock):
    a sweep's job, a `synthscale run`, or a debug sweep's cell, which has no job to follow."""
    return _locked(run_dir / ".lock")


def _shown(text: str) -> str:
    """`text` with each unprintable character escaped (\\x1b, \\n): a label or log line holding a terminal's
    control sequence (a title, colours, a cleared screen) acted on the terminal of whoever ran status."""
    return text if text.isprintable() else "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in text)


def format_status(statuses: list[CellStatus], states: Collection[str] | None = None) -> str:
    """One line per cell (failed ones followed by their log tail), only those in `states` if given,
    then a summary count of every cell."""
    lines = []
    listed = statuses if states is None else [s for s in statuses if s.state in states]
    for s in listed:  # labels, ids and log lines come from files of a root others may write: shown escaped
        job = f"job {_shown(s.job.job_id)} ({_shown(s.job.executor)})" if s.job else "no job"
        extra = f" interrupted {s.n_interrupts}x" if s.n_interrupts else ""
        label = f" {_shown(s.label)}" if s.label else ""
        lines.append(f"{_shown(s.run_id)}  {s.state:<8} {job}{extra}{label}"
                     + (f"  [{_shown(s.detail)}]" if s.detail and s.state != "done" else ""))
        lines += [f"    | {_shown(ln)}" for ln in s.log_tail]
    counts = Counter(s.state for s in statuses)
    shown = CELL_STATES if counts["unknown"] else STATES  # unknown (Slurm did not answer) only when seen
    lines.append(f"{counted(len(statuses), 'cell')}: " + ", ".join(f"{counts[k]} {k}" for k in shown))
    return "\n".join(lines)
