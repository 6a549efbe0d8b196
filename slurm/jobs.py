"""What a submitted job runs: a config in, rows out. Jobs never receive datasets or models."""
from __future__ import annotations

import os
import threading
from typing import Any, Optional

from bench.config import RunSpec
from bench.run import run


def run_cell(spec: dict[str, Any], root: str,
             stop: Optional[threading.Event] = None) -> list[dict[str, Any]]:
    """Validate the config dict and run it under `root` (idempotent: a finished cell returns its rows).

    `stop`, when set, makes training save a checkpoint at the next step and raise Interrupted.
    """
    os.environ.setdefault("GOMP_SPINCOUNT", "0")  # OpenMP spin-waits slow down co-located jobs 8-17x
    return run(RunSpec.model_validate(spec), root, stop=stop)
