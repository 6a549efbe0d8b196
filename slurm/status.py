"""`synthscale sweep status`: the state of every cell under a root, from rows and the scheduler."""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from bench.run import read_rows
from slurm.checkpoint import read_interrupts
from slurm.manifest import JobRef, latest_jobs
from slurm.scheduler import LIVE, job_states

STATES = ("done", "running", "pending", "failed", "missing")
_TAIL_LINES = 3


@dataclass
class CellStatus:
    """One cell: its state, its latest job, how often it was interrupted, the end of its log."""

    run_id: str
    state: str
    job: JobRef | None = None
    detail: str = ""
    n_interrupts: int = 0
    log_tail: list[str] = field(default_factory=list)


def cell_statuses(root: Path) -> list[CellStatus]:
    """Every cell that was ever submitted or started under `root`."""
    jobs = latest_jobs(root)
    run_ids = set(jobs) | {p.name for p in (root / "runs").glob("*/") if (p / "config.yaml").exists()}
    states = job_states(list(jobs.values()))
    return [_status(root, run_id, jobs.get(run_id), states) for run_id in sorted(run_ids)]


def _status(root: Path, run_id: str, job: JobRef | None, states: dict[str, str]) -> CellStatus:
    run_dir = root / "runs" / run_id
    n_int = len(read_interrupts(run_dir))
    if read_rows(run_dir) is not None:
        return CellStatus(run_id, "done", job, n_interrupts=n_int)
    if job is None:
        return CellStatus(run_id, "missing", None, "never submitted by a sweep", n_int)
    raw = states.get(job.job_id, "")
    if raw in LIVE:
        return CellStatus(run_id, LIVE[raw], job, raw, n_int)
    detail = raw or "ended without a row"  # or cancelled while pending: Slurm keeps no record
    return CellStatus(run_id, "failed", job, detail, n_int, _tail(job, run_dir))


def _tail(job: JobRef, run_dir: Path) -> list[str]:
    """The last lines of the job's stderr (the traceback), else of the run's own log."""
    for path in (job.stderr, run_dir / "log.txt"):
        try:
            lines = [ln for ln in path.read_text(errors="replace").splitlines() if ln.strip()]
        except OSError:
            continue
        if lines:
            return lines[-_TAIL_LINES:]
    return []


def in_flight(root: Path) -> dict[str, JobRef]:
    """Cells whose latest job is queued or running: a new sweep must not submit them again."""
    return {s.run_id: s.job for s in cell_statuses(root)
            if s.state in ("running", "pending") and s.job is not None}


def format_status(statuses: list[CellStatus]) -> str:
    """One line per cell (failed ones followed by their log tail), then a summary count."""
    lines = []
    for s in statuses:
        job = f"job {s.job.job_id} ({s.job.executor})" if s.job else "no job"
        extra = f" requeued {s.n_interrupts}x" if s.n_interrupts else ""
        label = f" {s.job.label}" if s.job and s.job.label else ""
        lines.append(f"{s.run_id}  {s.state:<8} {job}{extra}{label}"
                     + (f"  [{s.detail}]" if s.detail and s.state != "done" else ""))
        lines += [f"    | {ln}" for ln in s.log_tail]
    counts = Counter(s.state for s in statuses)
    lines.append(f"{len(statuses)} cells: " + ", ".join(f"{counts[k]} {k}" for k in STATES))
    return "\n".join(lines)
