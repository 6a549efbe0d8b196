"""Submit the to-do cells of a plan through submitit, wait, and collect.

Executors: `debug` runs jobs in this process (tests), `local` runs each job as a child process with
at most `max_parallel` at once (1 torch thread each when several run together), `slurm` submits one
job array to a Slurm cluster. Whatever happens to this process, finished cells keep their rows and
the next identical command runs only what is missing.
"""
from __future__ import annotations

import logging
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import submitit
from submitit.local.debug import DebugJob

from bench.config import RunSpec
from slurm.jobs import run_cell
from slurm.plan import Plan

log = logging.getLogger("synthscale.sweep")
EXECUTORS = ("local", "debug", "slurm")


@dataclass
class SweepResult:
    """What a sweep did: cells finished now, cells that failed (run id -> message)."""

    finished: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)


def submitit_folder(root: Path) -> Path:
    """A fresh folder per submission: job ids restart on a new cluster, stale results must not be read."""
    folder = root / "submitit" / time.strftime("%Y%m%d-%H%M%S") / f"p{os.getpid()}"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def make_executor(kind: str, root: Path, *, timeout_min: int = 60,
                  slurm_params: Optional[dict[str, Any]] = None) -> submitit.AutoExecutor:
    """A submitit AutoExecutor for `kind`, logging under the sweep root (never /tmp)."""
    ex = submitit.AutoExecutor(folder=str(submitit_folder(root)), cluster=kind)
    ex.update_parameters(timeout_min=timeout_min, name="synthscale")
    if kind == "slurm" and slurm_params:
        ex.update_parameters(**slurm_params)
    return ex


def _with_threads(spec: RunSpec, threads: Optional[int]) -> dict[str, Any]:
    d = spec.model_dump()
    if threads and not d.get("threads"):
        d["threads"] = threads
    return d


def execute(plan: Plan, executor: str = "local", *, max_parallel: int = 1, fail_fast: bool = False,
            timeout_min: int = 60, slurm_params: Optional[dict[str, Any]] = None) -> SweepResult:
    """Run every to-do cell of `plan` and wait for them; failures are reported, not raised."""
    result = SweepResult()
    if not plan.todo:
        return result
    ex = make_executor(executor, plan.root, timeout_min=timeout_min, slurm_params=slurm_params)
    threads = 1 if (executor == "local" and max_parallel > 1) else None
    specs = [_with_threads(s, threads) for s in plan.todo]
    root = str(plan.root)
    if executor == "slurm":
        ex.update_parameters(slurm_array_parallelism=max_parallel)
        jobs = ex.map_array(run_cell, specs, [root] * len(specs))
        _wait(list(zip(plan.todo, jobs)), result, fail_fast, pending=[])
    else:
        pending = list(zip(plan.todo, specs))
        _wait([], result, fail_fast, pending=pending, ex=ex, root=root,
              cap=1 if executor == "debug" else max_parallel)
    return result


def _wait(running: list, result: SweepResult, fail_fast: bool, pending: list, ex=None,
          root: str = "", cap: int = 1) -> None:
    """Keep at most `cap` jobs running, submitting from `pending`; record outcomes as jobs end."""
    total = len(running) + len(pending)
    bar = _bar(total)
    while running or pending:
        while pending and len(running) < cap and not (fail_fast and result.failed):
            spec, d = pending.pop(0)
            running.append((spec, ex.submit(run_cell, d, root)))
        if fail_fast and result.failed and pending:
            log.warning("--fail-fast: %d cells not submitted", len(pending))
            pending.clear()
        still = []
        for spec, job in running:
            # A debug job runs when asked for its exception; its done() would open pdb on failure.
            if not isinstance(job, DebugJob) and not job.done():
                still.append((spec, job))
                continue
            exc = job.exception()
            if exc is None:
                result.finished.append(spec.run_id)
            else:
                result.failed[spec.run_id] = _short(exc)
                log.error("cell %s failed: %s", spec.run_id, result.failed[spec.run_id])
            _tick(bar, result, total)
        running = still
        if running:
            time.sleep(0.5)
    if bar is not None:
        bar.close()


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[-1] if text else type(exc).__name__


def _bar(total: int):
    if sys.stderr.isatty():
        from tqdm import tqdm

        return tqdm(total=total, desc="sweep", unit="cell")
    return None


def _tick(bar, result: SweepResult, total: int) -> None:
    n = len(result.finished) + len(result.failed)
    if bar is not None:
        bar.update(1)
        bar.set_postfix(failed=len(result.failed), refresh=False)
    else:
        log.info("sweep: %d/%d cells ended (%d failed)", n, total, len(result.failed))
