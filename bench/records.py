"""What a run leaves on disk and in its log: its rows, their columns, and the lines that say how it
stopped. Light on purpose (no torch): `collect` and `sweep status` read these without importing the
training code; bench.run and bench.train write them. (Runs with `synth.knobs` overrides still load
the generators, and with them torch, to spell their run ids: bench.config._canonical_knobs.)
"""
from __future__ import annotations

import json
import os
import re
import threading
from pathlib import Path
from typing import Any, Optional

from synth.console import check_writable, file_in_the_way
from synth.errors import UserError

Row = dict[str, Any]
# The columns every row has and every consumer may rely on (bench.collect puts them first). Time:
# wall_s / cpu_s (CPU of all threads) cover the work done for that row only: its fine-tune and test,
# plus for the first row a process computes in a run, the run's set-up (loading the target and
# pre-training, or loading the shared pre-trained cell). A run's rows sum to its cost. A resumed
# stage adds the training time its earlier processes spent up to the checkpoint it resumed from
# (saved in the checkpoint; work done after that checkpoint was lost and is not counted).
COLUMNS = ["run_id", "generator", "complexity", "n_synth", "model", "task", "target", "n_real", "seed",
           "test_err", "test_acc", "pretrain_examples", "finetune_examples", "wall_s", "status"]


def write_json_atomic(obj: Any, path: Path) -> None:
    """Write JSON to a temporary file, fsync, rename: readers see the old file or the whole new one."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    with open(tmp, "w") as f:
        json.dump(obj, f, indent=1, sort_keys=True)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def check_root_not_file(root: Path, flag: str = "--root") -> None:
    """`root` is a directory or can be made one: a file in its place, or in a parent's, is one line."""
    first = root if root.exists() and not root.is_dir() else file_in_the_way(root)
    if first is not None:
        raise UserError(f"{flag} {str(root)!r}: {str(first)!r} is a file; pass a directory")


def writable_root(root: Path, flag: str = "--root") -> Path:
    """Create `root` if needed and check that files can be written there: a read-only or full file
    system, a missing permission or a file in the way is one line (UserError), not a traceback later."""
    check_root_not_file(root, flag)
    check_writable(root, lambda why: f"{flag} {str(root)!r}: cannot write there ({why})")
    return root


def is_row(row: Any) -> bool:
    """Whether `row` is a dict with every column in COLUMNS."""
    return isinstance(row, dict) and all(c in row for c in COLUMNS)


def read_json(path: Path) -> Any:
    """The JSON in `path`, or None if it is missing, unreadable or truncated."""
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):  # missing, unreadable or truncated
        return None


def read_rows(run_dir: Path) -> Optional[list[Row]]:
    """The rows of a finished run, or None if it has not finished (no row.json that is a non-empty
    list of rows with every column in COLUMNS)."""
    rows = read_json(run_dir / "row.json")
    ok = isinstance(rows, list) and rows and all(is_row(r) for r in rows)
    return rows if ok else None


# In log.txt when a signal ended a run before it could save a step (a Ctrl-C or SIGTERM while it loaded
# data or evaluated, a second Ctrl-C); `sweep status` reads it (slurm.tracking)
STOPPED_UNSAVED = "the run was stopped by a signal with no step saved then"


class Interrupted(Exception):
    """Training stopped at a step boundary on request; its state is in the checkpoint."""

    # how `sweep status` finds the step (and the stage, in logs written since it was added) in a
    # stopped job's log (slurm.tracking)
    LOG_PATTERN = re.compile(r"stopped at step (\d+)(?:/\d+ of ([^;]+))?; checkpoint ")

    def __init__(self, step: int, path: Path, total: Optional[int] = None, desc: str = "") -> None:
        where = f"/{total} of {desc}" if total is not None and desc else ""
        super().__init__(f"stopped at step {step}{where}; checkpoint {path}")
        self.step, self.path, self.desc = step, path, desc
