"""Job arrays split at the cluster's MaxArraySize: Slurm refuses an array whose task indices reach it
("Invalid job array specification", default 1001), and a 1,246-cell shape was one `--array=0-1245`.
No Slurm: scontrol, squeue and sacct are scripts on PATH, submitit's executor a stand-in."""
from __future__ import annotations

import os
import re
import stat
import time
from pathlib import Path

import pytest

from bench.cli import main
from bench.config import RunSpec, load_sweep
from slurm.plan import plan
from slurm.profiles import load_profile
from slurm.tracking import cell_statuses, latest_jobs
from tests.test_slurm_inputs import TINY

SEVEN = TINY.replace("name: tiny", "name: seven").replace("seed: [0, 1, 2]", "seed: [0, 1, 2, 3, 4, 5, 6]")
# `scontrol show config` as Slurm 22.05 prints it (abridged), with a small MaxArraySize
SCONTROL_CONFIG = """Configuration data as of 2026-01-01T00:00:00
AccountingStorageType   = accounting_storage/slurmdbd
ClusterName             = synthscale
KillWait                = 30 sec
MaxArraySize            = {max}
MaxDBDMsgs              = 20008
MaxJobCount             = 10000
MaxStepCount            = 40000
MaxTasksPerNode         = 512
SchedulerType           = sched/backfill

Cgroup Support Configuration:
AllowedKmemSpace        = (null)
"""


def _script(folder: Path, name: str, body: str) -> None:
    path = folder / name
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)


def _fake_bin(tmp_path: Path, max_size: int) -> Path:
    """A PATH holding only an scontrol whose config says MaxArraySize `max_size`."""
    folder = tmp_path / "bin"
    folder.mkdir(exist_ok=True)
    _script(folder, "scontrol", "/bin/cat <<'EOF'\n" + SCONTROL_CONFIG.format(max=max_size) + "EOF\n")
    return folder


def _seven(tmp_path: Path) -> tuple[Path, list[str]]:
    cfg = tmp_path / "seven.yaml"
    cfg.write_text(SEVEN)
    return cfg, [s.run_id for s in plan(load_sweep(cfg), tmp_path / "runs").todo]


def test_split_array_keeps_order_and_caps_each_array_at_max_array_size():
    from slurm.arrays import split_array

    cells = [f"c{k}" for k in range(12)]
    parts = split_array(cells, 5)
    assert [len(p) for p in parts] == [5, 5, 2]
    assert [c for p in parts for c in p] == cells  # every cell once, in order
    assert all(len(p) - 1 < 5 for p in parts)  # each array's indices 0..len-1 stay below MaxArraySize
    assert split_array(cells[:5], 5) == [cells[:5]]  # exactly MaxArraySize cells: one array
    assert split_array(cells[:6], 5) == [cells[:5], cells[5:6]]
    assert split_array(cells[:4], 1001) == [cells[:4]]
    assert split_array(cells[:3], 1) == split_array(cells[:3], 0) == [["c0"], ["c1"], ["c2"]]  # arrays off
    assert split_array([], 5) == []
    big = [f"c{k}" for k in range(1246)]  # the scale review's grid, at Slurm's default
    assert [len(p) for p in split_array(big, 1001)] == [1001, 245]


def test_job_arrays_split_each_shape_apart(tmp_path):
    from slurm.arrays import job_arrays

    cfg, _ = _seven(tmp_path)
    todo = plan(load_sweep(cfg), tmp_path / "runs").todo
    (tmp_path / "p.yaml").write_text("shapes:\n  - when: {seed: 6}\n    set: {mem_gb: 4}\n")
    arrays = job_arrays(todo, load_profile(str(tmp_path / "p.yaml")), 4)
    assert [(a.shape, len(a.cells), a.sizes) for a in arrays] == [(1, 4, (4, 2)), (1, 2, (4, 2)), (2, 1, (1,))]
    assert [c.run_id for a in arrays[:2] for c in a.cells] == [c.run_id for c in todo if c.seed != 6]
    assert arrays[2].cells[0].seed == 6 and arrays[2].res.mem_gb == 4


def test_max_array_size_is_read_from_scontrol_show_config():
    from slurm.arrays import parse_max_array_size

    assert parse_max_array_size(SCONTROL_CONFIG.format(max=1001)) == 1001
    assert parse_max_array_size(SCONTROL_CONFIG.format(max=40000)) == 40000
    assert parse_max_array_size("Configuration data as of 2026-01-01T00:00:00\nMaxJobCount = 10000\n") is None
    assert parse_max_array_size("") is None


@pytest.mark.parametrize("body, said", [
    (None, "no scontrol on this machine's PATH"),
    ("echo 'scontrol: error: Unable to contact slurm controller (connect failure)' >&2\nexit 1\n",
     "`scontrol show config` did not tell (scontrol: error: Unable to contact slurm controller (connect failure))"),
    ("echo 'Configuration data as of 2026-01-01T00:00:00'\n", "did not tell (it names no MaxArraySize)"),
    ("exec /bin/sleep 10\n", "scontrol did not answer within 0.3 s"),
])
def test_max_array_size_falls_back_to_slurms_default(tmp_path, monkeypatch, body, said):
    import slurm.arrays as arrays

    if body is not None:
        _script(tmp_path, "scontrol", body)
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr(arrays, "SCONTROL_TIMEOUT_S", 0.3)
    started = time.monotonic()
    size, source = arrays.max_array_size()
    assert size == 1001 and source.startswith("Slurm's default MaxArraySize, 1001: ") and said in source, source
    assert time.monotonic() - started < 5


def test_max_array_size_from_a_cluster(tmp_path, monkeypatch):
    import slurm.arrays as arrays

    monkeypatch.setenv("PATH", str(_fake_bin(tmp_path, 40000)))
    assert arrays.max_array_size() == (40000, "MaxArraySize 40000, from `scontrol show config`")
    monkeypatch.setenv("PATH", str(_fake_bin(tmp_path, 0)))  # 0 turns job arrays off: a job per cell
    assert arrays.max_array_size()[0] == 1


def test_a_dry_run_shows_a_shape_split_into_arrays_below_max_array_size(tmp_path, capsys, monkeypatch):
    """Seven cells of one shape, MaxArraySize 5: two arrays of 5 and 2 tasks, each with its own
    `#SBATCH --array` line (indices 0-4 and 0-1), each cell in one of them, in the plan's order."""
    cfg, todo = _seven(tmp_path)
    monkeypatch.setenv("PATH", str(_fake_bin(tmp_path, 5)))  # and no sbatch: each array is `not checked`
    root = tmp_path / "runs"
    assert main(["sweep", str(cfg), "--root", str(root), "--executor", "slurm", "--dry-run"]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    at = len(todo) + 1  # below the plan's count and its line per cell
    assert lines[at:at + 2] == ["2 job arrays for 1 resource shape, at most 5 tasks each (MaxArraySize 5, from "
                                "`scontrol show config`):", "shape 1: 7 cells in 2 arrays of 5 and 2 tasks (arrays "
                                "1-2 below)"], lines[at:at + 2]
    preview = "\n".join(lines[at:])
    assert re.findall(r"^#SBATCH --array=.*$", preview, re.M) == ["#SBATCH --array=0-4%5", "#SBATCH --array=0-1%2"]
    assert re.findall(r"^array \d: \d cells;", preview, re.M) == ["array 1: 5 cells;", "array 2: 2 cells;"]
    first, second = preview.split("array 2: 2 cells;")
    assert re.findall(r"^  (\w+)  ", first, re.M) == todo[:5]
    assert re.findall(r"^  (\w+)  ", second, re.M) == todo[5:]
    assert "array 1: not checked: no sbatch on this machine's PATH" in preview
    assert not root.exists()
    # a shape of exactly MaxArraySize cells stays one array, and the text is what it was
    monkeypatch.setenv("PATH", str(_fake_bin(tmp_path, 7)))
    assert main(["sweep", str(cfg), "--root", str(root), "--executor", "slurm", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "1 job array(s), one per resource shape:\narray 1: the 7 cells listed above;" in out and "shape 1:" not in out
    # one array of the cells the plan listed names them, not a second list (1,000 lines twice before)
    assert all(out.count(rid) == 1 for rid in todo), [out.count(rid) for rid in todo]
    assert re.findall(r"^#SBATCH --array=.*$", out, re.M) == ["#SBATCH --array=0-6%7"]


class _FakeArrays:
    """Stands in for submitit's Slurm executor: each map_array is one sbatch, array 100, 101, ...;
    its jobs are ARRAY_TASK, as submitit names them."""

    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    def executor(self, folder, res, profile, name):
        return self

    def map_array(self, fn, specs, roots):
        from submitit import SlurmJob

        array = 100 + len(self.calls)
        self.calls.append([RunSpec.model_validate(d).run_id for d in specs])
        return [SlurmJob(folder=self.folder, job_id=f"{array}_{k}") for k in range(len(specs))]


def test_a_sweep_submits_each_part_as_its_own_array_and_tracks_its_cells(tmp_path, capsys, monkeypatch):
    """Each array of a split shape is one submission; the manifest maps every cell to its own
    array's task (status sees them), and the next sweep attaches to the live ones and submits
    again only the cells whose jobs are gone."""
    import slurm.arrays as arrays

    cfg, todo = _seven(tmp_path)
    root = tmp_path / "runs"
    fake_bin = _fake_bin(tmp_path, 5)
    for name in ("sbatch", "srun", "scancel"):  # present for require_slurm; never run
        _script(fake_bin, name, "echo \"$0 must not be run by this test\" >&2\nexit 99\n")
    _script(fake_bin, "squeue", "exit 0\n")
    _script(fake_bin, "sacct", "exit 0\n")
    monkeypatch.setenv("PATH", f"{fake_bin}{os.pathsep}/usr/bin{os.pathsep}/bin")
    fake = _FakeArrays()
    fake.folder = root / "submitit"
    monkeypatch.setattr(arrays, "slurm_executor", fake.executor)
    recorded: list[int] = []
    real_submit = arrays.submit

    def submit(*args, **kw):  # how many cells the manifest holds after each array (sbatch) is queued
        on_array = args[5] if len(args) > 5 else kw.get("on_array")
        return real_submit(*args[:5], lambda so_far: (recorded.append(len(so_far.refs)), on_array(so_far)))

    def wait(sub, fail_fast, on_end):  # Ctrl-C while they run: the jobs keep running on Slurm
        raise KeyboardInterrupt

    monkeypatch.setattr(arrays, "submit", submit)
    monkeypatch.setattr(arrays, "wait", wait)
    argv = ["sweep", str(cfg), "--root", str(root), "--executor", "slurm"]
    assert main(argv) == 130
    assert fake.calls == [todo[:5], todo[5:]]
    assert recorded == [5, 7]  # each array's ids are recorded as soon as it is queued
    assert "7 cells keep running on Slurm (job 100, 101)" in capsys.readouterr().err
    jobs = latest_jobs(root)
    assert {rid: jobs[rid].job_id for rid in todo} == {**{rid: f"100_{k}" for k, rid in enumerate(todo[:5])},
                                                       **{rid: f"101_{k}" for k, rid in enumerate(todo[5:])}}
    name = jobs[todo[0]].job_name
    # squeue: array 100 ran and is gone (no row: its cells are to run again), array 101 still runs
    _script(fake_bin, "squeue", "".join(f"echo '101_{k}|RUNNING|None|{name}'\n" for k in range(2)))
    states = {s.run_id: s.state for s in cell_statuses(root)}
    assert [states[rid] for rid in todo] == ["missing"] * 5 + ["running"] * 2
    assert main(argv) == 130
    assert fake.calls[2:] == [todo[:5]]  # only the cells of the array that is gone, as one new array
    jobs = latest_jobs(root)
    assert [jobs[rid].job_id for rid in todo] == [f"102_{k}" for k in range(5)] + ["101_0", "101_1"]
