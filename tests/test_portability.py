"""Where this machine is not Linux with CUDA: `sweep status` and a new sweep's view of local jobs on
a system without /proc (macOS), and devices torch knows by name that this machine lacks (mps, xpu).
macOS is simulated: every /proc path reads as absent, as the portability review's script did."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from bench.cli import main
from bench.models import pick_device
from slurm.tracking import JobRef, cell_statuses, in_flight, local_state, process_start, write_manifest
from synth.errors import UserError
from tests.test_slurm_inputs import TINY as SWEEP_TINY

LIVE_JOB, UNSUBMITTED = "aaaaaaaaaaaa", "bbbbbbbbbbbb"
SUBMISSION = "20260101-000000-1-abcdef"
needs_ps = pytest.mark.skipif(shutil.which("ps") is None, reason="needs ps")


@pytest.fixture
def no_proc(monkeypatch):
    """This process sees no /proc, as on macOS: reading a /proc file fails, and none exists."""
    def absent(path) -> bool:
        return str(path).startswith("/proc/") or str(path) == "/proc"

    def unreadable(real):
        def read(self, *args, **kwargs):
            if absent(self):
                raise FileNotFoundError(2, "No such file or directory", str(self))
            return real(self, *args, **kwargs)
        return read

    monkeypatch.setattr(Path, "read_text", unreadable(Path.read_text))
    monkeypatch.setattr(Path, "read_bytes", unreadable(Path.read_bytes))
    real_exists, real_path_exists = Path.exists, os.path.exists
    monkeypatch.setattr(Path, "exists", lambda self, *a, **k: False if absent(self) else real_exists(self, *a, **k))
    monkeypatch.setattr(os.path, "exists", lambda p: False if absent(p) else real_path_exists(p))


@pytest.fixture
def worker():
    """A stand-in for a local job's worker process: alive, its command line names submitit."""
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)", "submitit"])
    time.sleep(0.2)
    yield proc
    proc.kill()
    proc.wait()


def _sweep(root: Path, job_pid: int, writer_pid: int | None = None) -> None:
    """A local sweep's record: LIVE_JOB submitted as job `job_pid`, UNSUBMITTED planned; the sweep is
    still submitting, in this process or, with `writer_pid`, in that one."""
    (root / "runs" / LIVE_JOB).mkdir(parents=True)
    (root / "runs" / LIVE_JOB / "log.txt").write_text("pretrain step 3/10 loss 2.1\n")
    ref = JobRef(LIVE_JOB, "local", str(job_pid), "synthscale", str(root / "submitit" / "s"), time.time(), "a")
    path = write_manifest(root, SUBMISSION, [ref], planned={LIVE_JOB: "a", UNSUBMITTED: "b"}, submitting=True)
    if writer_pid is not None:
        doc = json.loads(path.read_text())
        path.write_text(json.dumps({**doc, "pid": writer_pid, "pid_start": process_start(writer_pid)}))


def _states(root: Path) -> dict[str, str]:
    return {s.run_id: s.state for s in cell_statuses(root)}


@needs_ps
def test_without_proc_a_running_local_job_is_running_and_its_sweeps_next_cell_pending(tmp_path, no_proc, worker,
                                                                                       capsys):
    # on macOS the job read `failed [ended without a row]` (status exit 1), the cell `missing`, and a
    # new sweep saw no job in flight (it would have started the running cell a second time)
    _sweep(tmp_path, worker.pid)
    assert _states(tmp_path) == {LIVE_JOB: "running", UNSUBMITTED: "pending"}
    assert list(in_flight(tmp_path)) == [LIVE_JOB]
    assert main(["sweep", "status", "--root", str(tmp_path)]) == 0
    assert "1 running, 1 pending, 0 stopped, 0 failed, 0 missing" in capsys.readouterr().out


@needs_ps
def test_without_proc_a_job_and_a_sweep_that_ended_read_as_ended(tmp_path, no_proc, worker):
    sweep = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])  # the sweep's process
    try:
        time.sleep(0.2)
        _sweep(tmp_path, worker.pid, writer_pid=sweep.pid)
        assert _states(tmp_path) == {LIVE_JOB: "running", UNSUBMITTED: "pending"}
    finally:
        for proc in (worker, sweep):
            proc.kill()
            proc.wait()
    assert _states(tmp_path) == {LIVE_JOB: "failed", UNSUBMITTED: "missing"}
    assert in_flight(tmp_path) == {}


@needs_ps
def test_without_proc_a_reused_pid_is_not_the_job_or_the_sweep(tmp_path, no_proc, worker):
    start = process_start(worker.pid)
    assert start and process_start(worker.pid) == start  # ps's start time, the same at every reading
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])  # names no submitit
    try:
        time.sleep(0.2)
        assert local_state(JobRef(LIVE_JOB, "local", str(other.pid), "x", "/x", 0.0)) == ""
        assert local_state(JobRef(LIVE_JOB, "local", str(worker.pid), "x", "/x", 0.0)) == "RUNNING"
    finally:
        other.kill()
        other.wait()
    assert process_start(other.pid) == ""
    # the sweep's recorded pid is alive, but started at another time: another process has it now
    _sweep(tmp_path, worker.pid, writer_pid=worker.pid)
    manifest = tmp_path / "sweeps" / f"{SUBMISSION}.json"
    manifest.write_text(json.dumps({**json.loads(manifest.read_text()), "pid_start": "Thu Jan  1 00:00:00 1970"}))
    assert _states(tmp_path)[UNSUBMITTED] == "missing"
    for job_id in ("0", "-1", "abc", str(2**70)):  # a damaged manifest's job id names no process
        assert local_state(JobRef(LIVE_JOB, "local", job_id, "x", "/x", 0.0)) == ""


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs Linux /proc")
def test_with_proc_a_process_start_is_still_read_from_proc():
    # manifests written by running sweeps hold /proc's clock ticks: a reader must compare the same value
    ticks = Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()[19]
    assert process_start(os.getpid()) == ticks


def _absent(kind: str) -> bool:
    backend = getattr(torch, kind, None)
    return not (backend is not None and hasattr(backend, "is_available") and backend.is_available())


@pytest.mark.parametrize("name", [
    pytest.param(name, marks=pytest.mark.skipif(not _absent(name.split(":")[0]), reason=f"this machine has {name}"))
    for name in ("mps", "mps:0", "xpu", "xpu:1")])
def test_a_device_this_machine_lacks_is_refused_in_one_line(name):
    # torch knows the name, so it was accepted, and the run ended in a long traceback (`PyTorch is not
    # linked with support for mps devices`) after it had made its run folder
    with pytest.raises(UserError) as info:
        pick_device(name)
    msg = str(info.value)
    assert msg.startswith(f"device: '{name}' asked for, but this machine has no such device (it has cpu")
    assert msg.endswith("; use device=auto (cuda where present) or device=cpu") and "\n" not in msg


@pytest.mark.parametrize("name, why", [("cpu:3", "torch has one CPU device"), ("meta", "no data to train on")])
def test_a_cpu_index_and_the_meta_device_are_refused(name, why):
    with pytest.raises(UserError, match=why):
        pick_device(name)


def test_cpu_is_accepted():
    assert pick_device("cpu") == torch.device("cpu") and pick_device("cpu:0") == torch.device("cpu:0")
    if not torch.cuda.is_available():
        assert pick_device("auto") == torch.device("cpu")  # on Apple silicon too: mps only when asked for


def test_a_cuda_index_past_the_gpus_is_refused(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)  # one GPU, as far as pick_device asks
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    assert pick_device("cuda:0") == torch.device("cuda:0")
    with pytest.raises(UserError, match=r"'cuda:1' asked for, but this machine has no such device \(it has cpu, "
                                        r"cuda:0\)"):
        pick_device("cuda:1")


TINY = SWEEP_TINY.split("grid:")[0]  # test_slurm_inputs' tiny config, one cell


def _one_line_exit_2(capsys, argv: list[str], needle: str) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert needle in err and len(err.splitlines()) == 1, err


@pytest.mark.skipif(not _absent("mps"), reason="this machine has mps")
@pytest.mark.parametrize("argv", [["run"], ["sweep", "--executor", "debug"], ["sweep", "--executor", "local"]])
def test_run_and_sweep_on_mps_here_are_one_line_before_any_run_folder(tmp_path, capsys, argv):
    cfg = tmp_path / "tiny.yaml"
    cfg.write_text(TINY)
    root = tmp_path / "r"
    _one_line_exit_2(capsys, [argv[0], str(cfg), "--root", str(root), *argv[1:], "device=mps"],
                     "synthscale: error: device: 'mps' asked for, but this machine has no such device")
    assert not (root / "runs").exists()


def test_synthscale_starts_without_the_posix_only_modules() -> None:
    """`synthscale` imports every command's module for its parser: resource (loader and synth benchmarks) and
    fcntl (sweep status) at their tops made every command, `fit` included, a ModuleNotFoundError on Windows."""
    code = ("import sys; sys.modules['resource'] = sys.modules['fcntl'] = None\n"
            "from bench.cli import main\n"
            "try:\n    main(['fit', '--help'])\nexcept SystemExit as e:\n    sys.exit(e.code)\n")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=Path(__file__).resolve().parents[1])
    assert res.returncode == 0 and "usage: synthscale fit" in res.stdout, res.stderr[-2000:]


def test_run_on_a_missing_device_makes_no_root_folder(tmp_path: Path, capsys) -> None:
    """`run device=mps` here refused in one line but had already made --root (empty), though its comment said
    a config mistake creates no folder."""
    from bench.cli import main

    assert main(["run", "quickstart", "device=mps", "--root", str(tmp_path / "r")]) == 2
    assert "no such device" in capsys.readouterr().err and not (tmp_path / "r").exists()
