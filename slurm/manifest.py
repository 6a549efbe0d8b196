"""A record of every submission under a sweep root: which job runs which cell.

`ROOT/sweeps/<submission>.json` is written atomically once the jobs are submitted and never
changed. `sweep status` and the next `sweep` read them to tell queued and running cells from
failed and missing ones; the latest submission of a cell wins.
"""
from __future__ import annotations

import json
import os
import time
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path

from bench.run import write_json_atomic

MANIFEST_DIR = "sweeps"


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


def new_submission_id() -> str:
    """A sortable, unique name for one submission."""
    return f"{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


def write_manifest(root: Path, submission_id: str, refs: list[JobRef]) -> Path:
    """Record the jobs of one submission (atomic: a reader never sees half a manifest)."""
    folder = root / MANIFEST_DIR
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{submission_id}.json"
    write_json_atomic({"submission": submission_id, "jobs": [asdict(r) for r in refs]}, path)
    return path


def latest_jobs(root: Path) -> dict[str, JobRef]:
    """For each cell ever submitted under `root`, its most recent job."""
    latest: dict[str, JobRef] = {}
    for path in sorted((root / MANIFEST_DIR).glob("*.json")):  # names sort by time
        try:
            jobs = json.loads(path.read_text())["jobs"]
        except (OSError, ValueError, KeyError):
            continue  # an unreadable manifest is ignored: its cells count as missing
        for entry in jobs:
            ref = JobRef(**entry)
            if ref.run_id not in latest or latest[ref.run_id].submitted <= ref.submitted:
                latest[ref.run_id] = ref
    return latest
