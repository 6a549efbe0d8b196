"""What a submitted job runs: a config in, rows out. Jobs never receive datasets or models."""
from __future__ import annotations

import os
from typing import Any

from bench.config import RunSpec
from bench.run import run


def run_cell(spec: dict[str, Any], root: str) -> list[dict[str, Any]]:
    """Validate the config dict and run it under `root` (idempotent: a finished cell returns its rows)."""
    os.environ.setdefault("GOMP_SPINCOUNT", "0")  # OpenMP spin-waits slow down co-located jobs 8-17x
    return run(RunSpec.model_validate(spec), root)
