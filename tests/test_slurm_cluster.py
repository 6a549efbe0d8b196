"""The local Slurm itself: a real submitit array runs and is accounted; the cluster heals stale state."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import submitit

from slurm.localcluster import LocalCluster
from slurm.localcluster.daemons import marked_pids


def _square(x: int) -> int:
    return x * x


@pytest.mark.slurm
def test_submitit_array_runs_and_is_accounted(slurm_cluster: LocalCluster, submitit_folder: Path):
    ex = submitit.AutoExecutor(folder=submitit_folder, cluster="slurm")
    ex.update_parameters(timeout_min=5, cpus_per_task=1, slurm_array_parallelism=2)
    jobs = ex.map_array(_square, [1, 2, 3, 4])
    assert [job.result() for job in jobs] == [1, 4, 9, 16]
    array_ids = {job.job_id.split("_")[0] for job in jobs}
    assert len(array_ids) == 1, "one job array, not four jobs"
    # Accounting through slurmdbd: without it submitit cannot tell a cancelled job from a lost one.
    # The result file appears a moment before the job's end is recorded, so poll briefly.
    array_id = array_ids.pop()
    # Wait for the whole expected set: a task whose end is not yet recorded is simply absent.
    expected = [f"{array_id}_{i}|COMPLETED" for i in range(4)]
    deadline = time.monotonic() + 60
    while True:
        out = subprocess.run(["sacct", "-X", "-n", "-P", "-o", "JobID,State", "-j", array_id],
                             capture_output=True, text=True, check=True).stdout.split()
        if sorted(out) == expected or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert sorted(out) == expected


@pytest.mark.slurm
def test_second_cluster_heals_stale_pid_files_and_dead_daemons(slurm_cluster: LocalCluster,
                                                               tmp_path: Path):
    """A cluster whose pid files are gone and whose controller was killed comes back on `up`."""
    other = LocalCluster(tmp_path / "cluster")  # its own ports: runs beside the session cluster
    try:
        assert other.up(timeout_s=60) is True
        assert other.up(timeout_s=60) is False, "a healthy cluster is reused, not restarted"
        pids = other.pids()
        os.kill(pids["slurmctld"], signal.SIGKILL)
        other.layout.pid_file("munged").unlink()  # munged lives on, but nothing records it
        assert not other.healthy()
        assert other.up(timeout_s=60) is True
        assert other.healthy() and other.node_state() == "idle"
        assert pids["munged"] not in marked_pids(other.layout.state_dir), "stale munged left running"
    finally:
        other.down()
    assert marked_pids(other.layout.state_dir) == []
    assert slurm_cluster.healthy(), "stopping one cluster must not touch another"


def test_fixture_fails_rather_than_skips_without_slurm(tmp_path: Path):
    """With no Slurm binaries reachable (and no apt-get), a slurm test errors in one line."""
    test = tmp_path / "test_needs_slurm.py"
    test.write_text(textwrap.dedent("""
        def test_cluster(slurm_cluster):
            pass
    """))
    repo = Path(__file__).resolve().parents[1]
    env = dict(os.environ, PATH=str(tmp_path), SYNTHSCALE_CLUSTER_DIR=str(tmp_path / "state"),
               PYTHONPATH=str(repo))
    res = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "tests.slurm_fixtures",
                          "-p", "no:cacheprovider", "--rootdir", str(tmp_path), str(test)],
                         cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert res.returncode != 0, res.stdout
    assert "1 error" in res.stdout and "skipped" not in res.stdout, res.stdout
    assert "local Slurm cannot start here" in res.stdout, res.stdout


def test_naming_only_slurm_tests_runs_them_and_a_hung_test_times_out():
    """`pytest tests/test_slurm_sweep.py` deselected all 10 (setup.cfg's -m "not slurm") and exited 5
    with no test run; a plain run still leaves the Slurm tests out; setup.cfg gives each test a limit."""
    def collect(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-p", "no:cacheprovider", *args],
                              cwd=Path(__file__).parents[1], capture_output=True, text=True, timeout=120)

    one = collect("tests/test_slurm_sweep.py")
    assert one.returncode == 0 and "10 tests collected" in one.stdout and "deselected" not in one.stdout, one.stdout
    mixed = collect("tests/test_slurm_cluster.py")  # a file with fast tests too: its Slurm ones stay out
    assert mixed.returncode == 0 and "deselected" in mixed.stdout, mixed.stdout
    assert "timeout: 900.0s" in mixed.stdout, mixed.stdout
