"""Session fixture: a real single-node Slurm for tests marked `slurm` (never mocked, never skipped)."""
from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Iterator

import pytest

from slurm.localcluster import ClusterUnavailable, LocalCluster


@pytest.fixture(scope="session")
def slurm_cluster() -> Iterator[LocalCluster]:
    """A running local Slurm with SLURM_CONF exported; fails (not skips) where Slurm cannot start."""
    cluster = LocalCluster()
    session = cluster.session()
    try:
        session.__enter__()
    except ClusterUnavailable as exc:
        # A skip would let CI go green without ever running the cluster tests.
        pytest.fail(f"local Slurm cannot start here: {exc}", pytrace=False)
    previous = os.environ.get("SLURM_CONF")
    os.environ["SLURM_CONF"] = str(cluster.slurm_conf)  # sbatch, squeue, sacct, submitit read it
    try:
        yield cluster
    finally:
        if previous is None:
            os.environ.pop("SLURM_CONF", None)
        else:
            os.environ["SLURM_CONF"] = previous
        session.__exit__(None, None, None)


@pytest.fixture()
def submitit_folder(slurm_cluster: LocalCluster, tmp_path: Path) -> Path:
    """A fresh submitit folder: job ids restart at 1 on a fresh cluster, so never reuse one."""
    folder = tmp_path / f"submitit-{uuid.uuid4().hex[:8]}"
    folder.mkdir()
    return folder
