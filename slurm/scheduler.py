"""Job states straight from Slurm (squeue for live jobs, sacct for finished ones) and from /proc."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

from slurm.manifest import JobRef

LIVE = {"PENDING": "pending", "REQUEUED": "pending", "REQUEUE_HOLD": "pending",
        "REQUEUE_FED": "pending", "CONFIGURING": "running", "RUNNING": "running",
        "COMPLETING": "running", "SUSPENDED": "running", "RESIZING": "running",
        "STAGE_OUT": "running", "SIGNALING": "running", "PREEMPTED": "pending"}


def _run(cmd: list[str]) -> str:
    if shutil.which(cmd[0]) is None:
        return ""
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    return res.stdout if res.returncode == 0 else ""


def slurm_states(refs: list[JobRef]) -> dict[str, str]:
    """Raw Slurm state per job id of `refs` ('' when Slurm does not know the job any more)."""
    if not refs:
        return {}
    names = sorted({r.job_name for r in refs})
    seen: dict[tuple[str, str], str] = {}
    # -r lists each array task on its own line; filtering by our unique job names means a job
    # id that a newer cluster gave to someone else's job is never mistaken for ours.
    for line in _run(["squeue", "-h", "-r", "-n", ",".join(names), "-o", "%i|%T|%j"]).splitlines():
        job_id, state, name = line.split("|", 2)
        seen[(job_id, name)] = state
    masters = sorted({r.job_id.split("_")[0] for r in refs})
    for line in _run(["sacct", "-n", "-P", "-X", "-o", "JobID,State,JobName",
                      "-j", ",".join(masters)]).splitlines():
        job_id, state, name = line.split("|", 2)
        for one in expand_array_id(job_id):
            seen.setdefault((one, name), state.split()[0])  # "CANCELLED by 0" -> CANCELLED
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
    """'RUNNING' if a local job's worker process is alive, else ''."""
    try:
        pid = int(ref.job_id)
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (ValueError, OSError):
        return ""
    return "RUNNING" if b"submitit" in cmdline and os.path.exists(f"/proc/{pid}") else ""


def job_states(refs: list[JobRef]) -> dict[str, str]:
    """Raw state per job id ('' = unknown to the scheduler: finished long ago, or lost)."""
    out = slurm_states([r for r in refs if r.executor == "slurm"])
    out.update({r.job_id: local_state(r) for r in refs if r.executor != "slurm"})
    return out


def cancel_pending(array_ids: list[str]) -> None:
    """Cancel the tasks of these arrays (or jobs) that have not started; running ones go on."""
    if array_ids:
        subprocess.run(["scancel", "--state=PENDING", *array_ids], capture_output=True, timeout=60)
