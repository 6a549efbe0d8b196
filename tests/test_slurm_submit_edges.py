"""Submission edge cases found by an audit of slurm/: the GPUs a local job sees, sbatch options the
suite manages spelt with underscores, a Slurm sweep meeting a local sweep's running cells, a
machine without Slurm, out-of-range memory, flags given as 0, profile shape rules, and the dataset
cache shared by array tasks. Real local jobs; no Slurm (none may be started by the fast suite)."""
from __future__ import annotations

import logging
import os
import stat
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from bench.cli import main
from bench.config import load_sweep
from slurm.plan import plan
from slurm.profiles import load_profile
from slurm.sweep import make_executor
from slurm.arrays import job_name
from slurm.tracking import JobRef, write_manifest
from synth.console import counted
from synth.errors import UserError
from tests.test_slurm_inputs import TINY


def _cuda_visible() -> str | None:
    return os.environ.get("CUDA_VISIBLE_DEVICES")


@pytest.mark.parametrize("parent, job_sees", [("1", "1"), ("0,2", "0,2"), ("", "")])
def test_a_local_job_sees_the_gpus_its_sweep_sees(tmp_path, monkeypatch, parent, job_sees):
    # submitit sets CUDA_VISIBLE_DEVICES="" for a local job unless told its GPUs: device=auto trained
    # on the CPU and device=cuda failed on a GPU workstation (a debug sweep, in-process, saw them)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", parent)
    job = make_executor("local", tmp_path, timeout_min=5).submit(_cuda_visible)
    assert job.result() == job_sees


def test_gpus_named_by_uuid_cannot_reach_a_local_job_and_the_sweep_says_so(tmp_path, monkeypatch, caplog):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "GPU-8f3a")
    with caplog.at_level(logging.WARNING, logger="synthscale.sweep"):
        job = make_executor("local", tmp_path, timeout_min=5).submit(_cuda_visible)
    assert job.result() == ""
    assert "local jobs see no GPU: CUDA_VISIBLE_DEVICES=GPU-8f3a names GPUs" in caplog.text


def _sweep_argv(tmp_path: Path, *extra: str) -> list[str]:
    cfg = tmp_path / "tiny.yaml"
    cfg.write_text(TINY)
    return ["sweep", str(cfg), "--root", str(tmp_path / "runs"), "--executor", "slurm", *extra]


@pytest.mark.parametrize("item, name", [("cpus_per_task=8", "cpus-per-task"), ("job_name=mine", "job-name"),
                                        ("gpus_per_node=2", "gpus-per-node"), ("ntasks_per_node=4", "ntasks-per-node"),
                                        ("ntasks-per-node=4", "ntasks-per-node"), ("nodes=2", "nodes"),
                                        ("N=2", "nodes"), ("open_mode=truncate", "open-mode"),
                                        ("--cpus-per-task=2", "cpus-per-task"), ("-c=2", "cpus-per-task")])
def test_sbatch_options_the_suite_writes_are_refused_in_every_spelling(tmp_path, capsys, monkeypatch, item, name):
    # submitit writes cpus_per_task as --cpus-per-task: it overrode the shape's cpus (still shown as
    # cpus=1), job_name hid the jobs from `sweep status`, ntasks_per_node ran one cell 4 times at once
    monkeypatch.setenv("PATH", str(tmp_path))  # no sbatch to ask: the refusal must not depend on one
    assert main(_sweep_argv(tmp_path, "--dry-run", f"--sbatch={item}")) == 2
    captured = capsys.readouterr()
    assert f"sbatch option {name!r}: " in captured.err and "drop it from --sbatch" in captured.err
    assert len(captured.err.strip().splitlines()) == 1 and captured.out == ""
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize("sbatch, name", [('{"--time": 5}', "time"), ('{"-c": 3}', "cpus-per-task")])
def test_a_profiles_sbatch_keys_are_named_as_the_flags_are(tmp_path, capsys, monkeypatch, sbatch, name):
    # a profile's "--time" was written as "#SBATCH ----time=5", past the check on managed options
    monkeypatch.setenv("PATH", str(tmp_path))
    (tmp_path / "p.yaml").write_text(f"resources:\n  sbatch: {sbatch}\n")
    assert main(_sweep_argv(tmp_path, "--dry-run", "--profile", str(tmp_path / "p.yaml"))) == 2
    assert f"sbatch option {name!r}: " in capsys.readouterr().err
    (tmp_path / "p.yaml").write_text('resources:\n  sbatch: {"--gres": "gpu:1"}\n')  # not managed: written once
    main(_sweep_argv(tmp_path, "--dry-run", "--profile", str(tmp_path / "p.yaml")))
    out = capsys.readouterr().out
    assert "#SBATCH --gres=gpu:1" in out and "----" not in out, out


def test_a_flag_replaces_the_profiles_option_in_any_spelling_and_false_is_refused(tmp_path, capsys, monkeypatch):
    # mail_type=END beside the profile's mail-type: FAIL wrote both lines; exclusive=false was written as is
    monkeypatch.setenv("PATH", str(tmp_path))
    (tmp_path / "p.yaml").write_text("resources:\n  sbatch: {mail-type: FAIL}\n")
    argv = _sweep_argv(tmp_path, "--dry-run", "--profile", str(tmp_path / "p.yaml"), "--sbatch", "mail_type=END")
    main(argv)
    out = capsys.readouterr().out
    assert "#SBATCH --mail-type=END" in out and "FAIL" not in out, out
    assert main(_sweep_argv(tmp_path, "--dry-run", "--sbatch", "exclusive=false")) == 2
    assert "sbatch takes no --exclusive=false" in capsys.readouterr().err
    (tmp_path / "q.yaml").write_text("resources:\n  sbatch: {mail-type: FAIL, mail_type: END}\n")
    assert main(_sweep_argv(tmp_path, "--dry-run", "--profile", str(tmp_path / "q.yaml"))) == 2
    assert "both --mail-type; give it once" in capsys.readouterr().err


def test_an_unmanaged_option_with_underscores_is_still_written(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    assert main(_sweep_argv(tmp_path, "--dry-run", "--sbatch", "mail_type=FAIL")) == 0
    assert "#SBATCH --mail-type=FAIL" in capsys.readouterr().out


def _stub(folder: Path, *names: str) -> None:
    """Commands that exist on PATH (so a sweep gets past its check for Slurm) and fail if run."""
    for name in names:
        path = folder / name
        path.write_text("#!/bin/sh\necho \"$0 must not be run by this test\" >&2\nexit 99\n")
        path.chmod(path.stat().st_mode | stat.S_IXUSR)


def test_a_slurm_sweep_refuses_cells_a_local_sweep_is_running(tmp_path, capsys, monkeypatch):
    # it wrapped the local job's pid in a SlurmJob, asked sacct about it and, 20 s later, called the
    # running cell failed ("left the queue without a result") with exit 1
    argv = _sweep_argv(tmp_path)
    root = tmp_path / "runs"
    first = plan(load_sweep(tmp_path / "tiny.yaml"), root).todo[0].run_id
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    _stub(bin_dir, "sbatch", "srun", "squeue", "sacct", "scancel")
    worker = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)", "submitit"])
    try:
        write_manifest(root, "local1", [JobRef(first, "local", str(worker.pid), "synthscale",
                                               str(root / "submitit" / "local1"), time.time())])
        monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}/usr/bin{os.pathsep}/bin")
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert f"1 cell of this sweep is running in a local sweep over this root ({first})" in err, err
        assert "let it finish or stop it, then sweep again" in err
        assert worker.poll() is None  # left alone
        assert sorted(p.name for p in (root / "sweeps").iterdir()) == ["local1.json"]  # nothing submitted
    finally:
        worker.kill()
        worker.wait()



def test_a_slurm_sweep_refuses_cells_a_run_or_debug_sweep_is_running(tmp_path, capsys, monkeypatch):
    # a `synthscale run` (or a debug sweep's cell) holds the run's lock and has no job to wait on: the
    # Slurm job submitted for it held its allocation waiting on that lock, then took the other's rows
    argv = _sweep_argv(tmp_path)
    root = tmp_path / "runs"
    first = plan(load_sweep(tmp_path / "tiny.yaml"), root).todo[0].run_id
    (root / "runs" / first).mkdir(parents=True)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    _stub(bin_dir, "sbatch", "srun", "squeue", "sacct", "scancel")
    holder = subprocess.Popen([sys.executable, "-c", "import sys, time\nfrom filelock import FileLock\n"
                               "with FileLock(sys.argv[1]):\n    print('held', flush=True)\n    time.sleep(120)",
                               str(root / "runs" / first / ".lock")], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}/usr/bin{os.pathsep}/bin")
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert err.strip() == (f"synthscale: error: 1 cell of this sweep is running in another process (a "
                               f"`synthscale run` or a debug sweep over this root) ({first}): let it finish or "
                               "stop it, then sweep again"), err
        assert holder.poll() is None  # left alone
        assert not (root / "sweeps").exists()  # nothing submitted
    finally:
        holder.kill()
        holder.wait()


def test_a_slurm_dry_run_names_the_cells_an_earlier_sweeps_jobs_run_and_previews_only_the_rest(
        tmp_path, capsys, monkeypatch):
    # the dry run previewed arrays for every cell to run, though the sweep waits for those an earlier
    # sweep's Slurm jobs are queued or running for, and submits only the rest
    argv = _sweep_argv(tmp_path, "--dry-run")
    root = tmp_path / "runs"
    todo = [s.run_id for s in plan(load_sweep(tmp_path / "tiny.yaml"), root).todo]
    sid = "20261204-120000-1-abcdef"
    ref = JobRef(todo[0], "slurm", "77_0", job_name(sid), str(root / "submitit" / sid), time.time(), "a label")
    write_manifest(root, sid, [ref], {todo[0]: ref.label}, submitting=False)
    fake = tmp_path / "fakebin"  # squeue lists the job as running; no sbatch to ask (--test-only unchecked)
    fake.mkdir()
    (fake / "squeue").write_text(f"#!/bin/sh\necho '77_0|RUNNING|None|{job_name(sid)}'\n")
    (fake / "sacct").write_text("#!/bin/sh\nexit 0\n")
    for name in ("squeue", "sacct"):
        (fake / name).chmod(0o755)
    monkeypatch.setenv("PATH", str(fake))
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert (f"1 cell of these is already queued or running as Slurm jobs of an earlier sweep ({todo[0]}): the "
            "sweep waits for it and submits the rest") in out
    preview = out.split("job array(s), one per resource shape:", 1)[1]
    assert todo[0] not in preview and all(rid in preview for rid in todo[1:])
    assert f"{counted(len(todo) - 1, 'cell')};" in preview

def test_a_slurm_sweep_without_slurm_is_one_line_before_anything_is_written(tmp_path, capsys, monkeypatch):
    # submitit's RuntimeError('Could not detect "srun"') was a traceback, after a sweep record was written
    monkeypatch.setenv("PATH", str(tmp_path))
    assert main(_sweep_argv(tmp_path)) == 2
    err = capsys.readouterr().err
    assert "no sbatch or srun on this machine's PATH: submit from a Slurm login node" in err
    assert len(err.strip().splitlines()) == 1 and not (tmp_path / "runs" / "sweeps").exists()


@pytest.mark.parametrize("value, needle", [("inf", "finite number"), ("1e-6", "greater than or equal to 0.01")])
def test_memory_must_be_finite_and_at_least_10_mb(tmp_path, capsys, monkeypatch, value, needle):
    # inf was an OverflowError traceback; 1e-6 wrote --mem=0MB, which Slurm reads as the node's whole memory
    monkeypatch.setenv("PATH", str(tmp_path))
    assert main(_sweep_argv(tmp_path, "--dry-run", "--mem-gb", value)) == 2
    err = capsys.readouterr().err
    assert "--mem-gb: " in err and needle in err and len(err.strip().splitlines()) == 1, err


@pytest.mark.parametrize("flag", [["--gpus-per-job", "0"], ["--array-parallelism", "0"], ["--mem-gb", "0"]])
def test_a_cluster_flag_given_as_0_is_refused_with_the_local_executor(tmp_path, capsys, flag):
    # 0 == False: `--gpus-per-job 0` read as not given, and was silently accepted
    cfg = tmp_path / "tiny.yaml"
    cfg.write_text(TINY)
    argv = ["sweep", str(cfg), "--root", str(tmp_path / "runs"), "--executor", "local", "--dry-run", *flag]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert f"{flag[0]}: cluster settings, used only with --executor slurm" in err, err


def test_status_refuses_a_timeout_of_0(tmp_path, capsys):
    (tmp_path / "runs").mkdir()
    assert main(["sweep", "status", "--root", str(tmp_path), "--timeout-min", "0"]) == 2
    assert "sweep status takes only --root and --state; remove --timeout-min" in capsys.readouterr().err


def test_max_parallel_0_on_slurm_names_the_flag(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    assert main(_sweep_argv(tmp_path, "--dry-run", "--max-parallel", "0")) == 2
    err = capsys.readouterr().err
    assert "--max-parallel" in err and "array_parallelism" not in err, err


def test_a_misspelt_shape_key_is_refused_even_after_a_key_that_does_not_match(tmp_path):
    (tmp_path / "p.yaml").write_text("shapes:\n  - when: {synth.n: 999, synth.nn: 1}\n    set: {time_min: 30}\n")
    profile = load_profile(str(tmp_path / "p.yaml"))
    cfg = tmp_path / "tiny.yaml"
    cfg.write_text(TINY)
    spec = plan(load_sweep(cfg), tmp_path / "r").todo[0]
    with pytest.raises(UserError, match=r"profile shapes: unknown cell field 'synth.nn' in `when`"):
        profile.resources_for(spec)


@pytest.mark.parametrize("want, time_min", [("[20]", 30), ("[[20], [40]]", 30), ("[40]", 120), ("20", 120)])
def test_a_shape_rule_matches_a_list_valued_field(tmp_path, want, time_min):
    # `when: {target.n_real: [20]}` could never match (the list [20] is not in the list [20])
    (tmp_path / "p.yaml").write_text(f"shapes:\n  - when: {{target.n_real: {want}}}\n    set: {{time_min: 30}}\n")
    profile = load_profile(str(tmp_path / "p.yaml"))
    cfg = tmp_path / "tiny.yaml"
    cfg.write_text(TINY)
    spec = plan(load_sweep(cfg), tmp_path / "r").todo[0]
    assert spec.target.n_real == [20]
    assert profile.resources_for(spec).time_min == time_min


def test_a_damaged_dataset_cache_is_decoded_again(tmp_path, monkeypatch):
    # a truncated .npz raised zipfile.BadZipFile, which the cache did not catch: every later job
    # failed until someone deleted the file (the cache lives in $HOME, shared by array tasks)
    from bench import targets

    monkeypatch.setenv("SYNTHSCALE_CACHE", str(tmp_path / "cache"))
    idx = tmp_path / "t-labels-idx1-ubyte"
    idx.write_bytes(bytes([0, 0, 8, 1, 0, 0, 0, 3, 7, 1, 4]))  # an IDX file of 3 unsigned bytes
    (first,) = targets._read_idx_cached([idx])
    assert first.tolist() == [7, 1, 4]
    (cached,) = list((tmp_path / "cache").glob("idx-*.npz"))
    cached.write_bytes(cached.read_bytes()[:40])  # a copy torn by another node
    (again,) = targets._read_idx_cached([idx])
    assert again.tolist() == [7, 1, 4]
    assert np.load(cached)["a0"].tolist() == [7, 1, 4]  # rewritten whole
    assert not [p for p in (tmp_path / "cache").iterdir() if p.name.startswith(".")]  # no temporary left


def test_a_controller_that_cannot_be_reached_is_not_called_a_refusal(tmp_path, capsys, monkeypatch):
    # it said "sbatch refused the array (...): Could not establish a configuration source; fix the flag
    # or the profile entry it names (--partition, ...)": the options were never judged
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    _stub(bin_dir, "srun", "squeue", "sacct", "scancel")
    sbatch = bin_dir / "sbatch"
    sbatch.write_text("#!/bin/sh\necho 'sbatch: error: Could not establish a configuration source' >&2\nexit 1\n")
    sbatch.chmod(sbatch.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}/usr/bin{os.pathsep}/bin")
    assert main(_sweep_argv(tmp_path)) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert "sbatch could not reach the Slurm controller for the array (" in err, err
    assert "Could not establish a configuration source" in err and "`sinfo` should answer" in err
    assert "fix the flag" not in err
    # a controller that timed out may have queued the array all the same: the line says how to find it
    assert "may have queued it all the same: `squeue --name synthscale-" in err, err


def test_a_shape_rule_on_a_section_a_cell_lacks_does_not_match_it(tmp_path):
    # every key is looked up now (a misspelt one is refused), but asg.* of a transfer cell (asg is
    # None) is no field of it to match: a profile shared by ASG and transfer sweeps stopped every
    # transfer cell with "unknown cell field 'asg.lr_policy'"
    (tmp_path / "p.yaml").write_text("shapes:\n  - when: {protocol: generalize, asg.lr_policy: learned}\n"
                                     "    set: {time_min: 30}\n  - when: {asg.lr_polcy: learned}\n"
                                     "    set: {time_min: 40}\n")
    profile = load_profile(str(tmp_path / "p.yaml"))
    cfg = tmp_path / "tiny.yaml"
    cfg.write_text(TINY)
    spec = plan(load_sweep(cfg), tmp_path / "r").todo[0]
    assert spec.asg is None and profile.resources_for(spec).time_min == 120


def test_a_slurm_task_cancelled_while_pending_is_not_run_not_failed(tmp_path):
    """`scancel` of a pending task: the sweep said `failed: left the queue without a result` and
    exited 1, while `sweep status` called the cell missing; Slurm opens a job's log as it starts, so
    no log means the job never ran."""
    import submitit

    from slurm.arrays import NEVER_STARTED, _outcome

    job = submitit.SlurmJob(folder=tmp_path, job_id="41_2")
    assert _outcome(job, "CANCELLED", {}, 0) is NEVER_STARTED and NEVER_STARTED.not_run
    assert _outcome(job, "", {0: time.monotonic() - 3600}, 0) is NEVER_STARTED  # sacct kept no record
    job.paths.stderr.parent.mkdir(parents=True, exist_ok=True)
    job.paths.stderr.write_text("")  # it started: a cancel then is the run's end, not a cell never run
    assert _outcome(job, "CANCELLED", {}, 0).message == "cancelled"


def test_a_slurm_job_with_threads_unset_trains_on_the_cpus_slurm_gave_it(monkeypatch):
    # it took torch's default, which follows the OMP_NUM_THREADS of the shell that submitted it
    from slurm.jobs import slurm_threads

    monkeypatch.setenv("SLURM_CPUS_PER_TASK", "8")
    assert slurm_threads({"threads": None, "seed": 0}) == {"threads": 8, "seed": 0}
    assert slurm_threads({"threads": 2}) == {"threads": 2}  # a config's own setting wins
    monkeypatch.delenv("SLURM_CPUS_PER_TASK")
    assert slurm_threads({"threads": None}) == {"threads": None}


def test_stopping_a_slurm_sweep_says_which_jobs_run_on(tmp_path, capsys, monkeypatch):
    # Ctrl-C printed only "interrupted; finished work is kept ...", and the whole array stayed queued
    import slurm.arrays

    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    _stub(bin_dir, "sbatch", "srun", "squeue", "sacct", "scancel")
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}/usr/bin{os.pathsep}/bin")
    argv = _sweep_argv(tmp_path)

    def submit(todo, root, profile, sid, folder, on_array=None):  # Slurm queued every cell as array 90
        refs = [JobRef(s.run_id, "slurm", f"90_{i}", job_name(sid), str(folder), time.time(), "x")
                for i, s in enumerate(todo)]
        return slurm.arrays.Submitted(refs, [None] * len(todo), list(todo))

    def wait(sub, fail_fast, on_end):  # the first cell finishes, then Ctrl-C
        on_end(sub.specs[0], None)
        raise KeyboardInterrupt

    monkeypatch.setattr(slurm.arrays, "submit", submit)
    monkeypatch.setattr(slurm.arrays, "wait", wait)
    assert main(argv) == 130
    n = len(plan(load_sweep(tmp_path / "tiny.yaml"), tmp_path / "runs").todo) - 1
    err = capsys.readouterr().err
    assert (f"{counted(n, 'cell')} keep running on Slurm (job 90): the next sweep attaches to them; "
            "`scancel 90` stops them") in err, err
