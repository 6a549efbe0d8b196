"""Cluster settings without a cluster: profiles, shapes, the exact sbatch options of a dry run
(golden file), and what `sweep status` makes of cells whose job died mid-write."""
from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

from bench.cli import main
from bench.config import RunSpec, load_sweep
from bench.run import COLUMNS
from slurm.plan import plan
from slurm.profiles import Profile, load_profile, parse_sbatch_items
from slurm.tracking import JobRef, cell_statuses, write_manifest
from synth.errors import UserError

GOLDEN = Path(__file__).parent / "golden" / "sbatch_dry_run.txt"
TINY = """
name: tiny
synth: {generator: shapes, n: 64, complexity: 1, resolution: 16, channels: 1}
model: {name: resnet10t, small_input: false}
pretrain: {examples: 64, batch_size: 32}
finetune: {examples: 64, batch_size: 32}
target: {name: fashion_mnist, n_real: [20, 40], test_size: 100}
grid:
  synth.n: [0, 32, 64]
  seed: [0, 1]
"""
PROFILE = """
resources: {partition: gpu, account: proj, gpus_per_job: 1, cpus_per_job: 8, mem_gb: 32,
            time_min: 240, constraint: a100, sbatch: {mail-type: FAIL}}
array_parallelism: 8
signal_delay_s: 180
shapes:
  - when: {synth.n: 0}
    set: {partition: cpu, gpus_per_job: 0, time_min: 30}
"""


def _files(tmp_path: Path) -> tuple[Path, Path]:
    (tmp_path / "tiny.yaml").write_text(TINY)
    (tmp_path / "site.yaml").write_text(PROFILE)
    return tmp_path / "tiny.yaml", tmp_path / "site.yaml"


def test_dry_run_prints_the_exact_sbatch_options(tmp_path, capsys, monkeypatch):
    """Golden: two shapes -> two arrays; command-line flags override the profile. Without an sbatch
    to ask (PATH emptied: the same text on every machine), each array says it was not checked."""
    monkeypatch.setenv("PATH", str(tmp_path))
    cfg, prof = _files(tmp_path)
    root = tmp_path / "runs"
    argv = ["sweep", str(cfg), "--root", str(root), "--executor", "slurm", "--dry-run",
            "--profile", str(prof), "--qos", "high", "--sbatch", "exclude=node7", "--array-parallelism", "3"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    text = re.sub(r"\b[0-9a-f]{12}\b", "<run_id>", out.replace(str(root.absolute()), "ROOT"))
    text = text[text.index("job array(s)") - 2:]  # the plan lines above belong to the lead's format
    if os.environ.get("SYNTHSCALE_REGEN_GOLDEN") == "1":  # asked for: rewrite it, then review and commit it
        GOLDEN.write_text(text)
        pytest.fail(f"wrote {GOLDEN} (SYNTHSCALE_REGEN_GOLDEN=1): review it and commit it like code", pytrace=False)
    # a missing golden file fails without writing one: a write here would make the next run pass unreviewed
    assert GOLDEN.is_file(), f"{GOLDEN} is missing; rerun with SYNTHSCALE_REGEN_GOLDEN=1 to write it, then review it"
    assert text == GOLDEN.read_text()
    assert not root.exists(), "a dry run must not create anything"


def test_profile_errors_are_one_line(tmp_path):
    (tmp_path / "tab.yaml").write_text("resources:\n\tpartition: x\n")  # said only 'while scanning for the next token'
    with pytest.raises(UserError, match=r"tab\.yaml: not valid YAML \(found character '\\t' that cannot start any "
                                        r"token, line 2 column 1; indent with spaces, not tabs\)"):
        load_profile(str(tmp_path / "tab.yaml"))
    (tmp_path / "bad.yaml").write_text("resources: {partition: gpu, gpu: 1}\n")
    # worded as a run config's key errors (it was pydantic's "extra inputs are not permitted")
    with pytest.raises(UserError, match=r"resources\.gpu: unknown key \(keys here: partition, account"):
        load_profile(str(tmp_path / "bad.yaml"))
    (tmp_path / "typo.yaml").write_text("resources: {partiton: gpu}\n")
    with pytest.raises(UserError, match=r"resources\.partiton: unknown key; did you mean 'partition'\?"):
        load_profile(str(tmp_path / "typo.yaml"))
    # in a list item too, named before the required key it leaves missing (which printed its whole section)
    (tmp_path / "rule.yaml").write_text("shapes:\n  - when: {model.name: resnet10t}\n    sett: {mem_gb: 4}\n")
    with pytest.raises(UserError, match=r"shapes\.0\.sett: unknown key; did you mean 'set'\? \(keys here: when, "
                                        r"set\) \(and 1 more error\)$"):
        load_profile(str(tmp_path / "rule.yaml"))
    (tmp_path / "rule.yaml").write_text("shapes:\n  - when: {model.name: resnet10t}\n")
    with pytest.raises(UserError, match=r"shapes\.0\.set: missing: this key is required here$"):
        load_profile(str(tmp_path / "rule.yaml"))
    with pytest.raises(UserError, match="profile 'nope' not found.*local"):
        load_profile("nope")
    (tmp_path / "list.yaml").write_text("- resources\n- shapes\n")  # was "list.yaml: : input should be a valid ..."
    with pytest.raises(UserError, match=r"list\.yaml: expected a mapping of profile fields at the top level "
                                        r"\(resources, shapes, \.\.\.\), got list \['resources', 'shapes'\]$"):
        load_profile(str(tmp_path / "list.yaml"))
    # a key given twice: PyYAML kept the last value (#SBATCH --time=30, exit 0), as run configs do not
    (tmp_path / "twice.yaml").write_text("resources:\n  time_min: 240\n  time_min: 30\n")
    with pytest.raises(UserError, match=r"twice\.yaml: 'time_min' is given twice \(lines 2 and 3\); keep one"):
        load_profile(str(tmp_path / "twice.yaml"))
    (tmp_path / "twice.yaml").write_text("shapes:\n  - when: {synth.n: 0, synth.n: 32}\n    set: {mem_gb: 4}\n")
    with pytest.raises(UserError, match=r"'synth\.n' is given twice"):
        load_profile(str(tmp_path / "twice.yaml"))
    with pytest.raises(UserError, match="expected KEY=VALUE or a flag KEY"):
        parse_sbatch_items(["=node7"])
    assert parse_sbatch_items(["exclusive", "--requeue", "exclude=node7"]) == {
        "exclusive": True, "requeue": True, "exclude": "node7"}
    _, prof = _files(tmp_path)
    with pytest.raises(UserError, match="--cpus-per-job: input should be greater than or equal to 1"):
        load_profile(str(prof)).with_overrides({"cpus_per_job": 0})


def test_shapes_split_cells_by_resources(tmp_path):
    _, prof = _files(tmp_path)
    profile = load_profile(str(prof))
    scratch, synth = RunSpec.model_validate({"synth": {"n": 0}}), RunSpec()
    assert profile.resources_for(scratch).partition == "cpu"
    assert profile.resources_for(scratch).gpus_per_job == 0
    assert profile.resources_for(synth).partition == "gpu"
    assert profile.resources_for(synth).submitit_params()["gpus_per_node"] == 1


def test_a_job_that_died_while_writing_its_row_is_failed_not_done(tmp_path):
    """A node dying mid-write leaves only a temporary file: the cell is failed and gets rerun."""
    root = tmp_path / "runs"
    spec = RunSpec()
    run_dir = root / "runs" / spec.run_id
    run_dir.mkdir(parents=True)
    (run_dir / "config.yaml").write_text("name: run\n")
    (run_dir / ".row.json.4242.tmp").write_text('[{"run_id": "' + spec.run_id + '", "test_e')
    write_manifest(root, "20260101-000000-1-abcdef",
                   [JobRef(spec.run_id, "local", "999999999", "synthscale", str(tmp_path), 0.0)])
    (status,) = cell_statuses(root)
    assert status.state == "failed" and status.detail == "ended without a row"
    (run_dir / "row.json").write_text('[{"run_id": "x", "te')  # torn by hand: still not done
    (status,) = cell_statuses(root)  # it said "ended without a row" and showed a log whose training ended
    assert status.state == "failed" and status.detail.startswith("its row.json is unreadable or incomplete")
    (run_dir / "row.json").write_text(json.dumps([{**dict.fromkeys(COLUMNS, 0), "run_id": spec.run_id}]))
    assert cell_statuses(root)[0].state == "done"


def test_dry_run_lines_name_the_identity_fields_the_grid_varies_and_not_for_scratch(tmp_path, capsys):
    """A grid over pretrain.lr with a scratch cell: each pre-trained cell's line names its lr, the
    scratch cell's line does not (it has no pre-training: it printed pretrain.lr=0.1 as if it had),
    as `sweep status` labels do."""
    cfg = tmp_path / "lr.yaml"
    cfg.write_text(TINY.replace("  seed: [0, 1]\n", "  pretrain.lr: [0.1, 0.05]\n"))
    assert main(["sweep", str(cfg), "--root", str(tmp_path / "runs"), "--executor", "local", "--dry-run"]) == 0
    cells = [ln for ln in capsys.readouterr().out.splitlines() if re.match(r"  [0-9a-f]{12}  ", ln)]
    scratch = [ln for ln in cells if " scratch " in ln]
    trained = [ln for ln in cells if " scratch " not in ln]
    assert len(scratch) == 1 and "pretrain.lr" not in scratch[0], cells
    assert len(trained) == 4 and sorted(ln.rsplit(" ", 1)[1] for ln in trained) == \
        ["pretrain.lr=0.05"] * 2 + ["pretrain.lr=0.1"] * 2, cells


@pytest.mark.parametrize("extra, needle", [
    # each used to be written into the script: a second --time or --job-name line, a signal that
    # replaced the checkpoint's USR2, logs moved away from where `sweep status` reads them
    (["--sbatch", "time=5"], "sbatch option 'time': the time limit is --timeout-min"),
    (["--sbatch", "J=mine"], "sbatch option 'job-name': `sweep status`"),
    (["--sbatch", "signal=USR1@10"], "sbatch option 'signal'"),
    (["--sbatch", "output=/tmp/x.out"], "sbatch option 'output'"),
    # USR2 180 s before a 2-minute limit: every job told to checkpoint as it starts
    (["--timeout-min", "2"], "a time limit of 2 min is not longer than the profile's signal_delay_s (180 s)"),
    (["--timeout-min", "3"], "give --timeout-min 4 or more"),  # the least it takes (it said 5)
])
def test_job_shapes_the_suite_could_not_run_are_refused_before_the_plan_is_printed(tmp_path, capsys, monkeypatch,
                                                                                    extra, needle):
    monkeypatch.setenv("PATH", str(tmp_path))  # no sbatch to ask: the refusal must not depend on one
    cfg, prof = _files(tmp_path)
    argv = ["sweep", str(cfg), "--root", str(tmp_path / "runs"), "--executor", "slurm", "--dry-run",
            "--profile", str(prof), *extra]
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert needle in captured.err and len(captured.err.strip().splitlines()) == 1, captured.err
    assert captured.out == "" and not (tmp_path / "runs").exists()


def test_a_short_time_limit_set_by_a_shape_rule_names_the_rule_not_the_flag(tmp_path, capsys, monkeypatch):
    # a rule's `set` wins over --timeout-min, so "give --timeout-min 4 or more" could not help
    monkeypatch.setenv("PATH", str(tmp_path))
    cfg, prof = _files(tmp_path)
    prof.write_text(PROFILE.replace("time_min: 30}", "time_min: 2}"))
    argv = ["sweep", str(cfg), "--root", str(tmp_path / "runs"), "--executor", "slurm", "--dry-run",
            "--profile", str(prof), "--timeout-min", "60"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "a time limit of 2 min (shapes[0].set.time_min)" in err, err
    assert "set the profile's shapes[0].set.time_min to 4 or more" in err and "--timeout-min" not in err, err
    assert len(err.strip().splitlines()) == 1


def test_a_flag_option_without_a_value_is_written_as_a_flag(tmp_path, capsys, monkeypatch):
    # `--sbatch exclusive` was refused (KEY=VALUE only): flag options such as --exclusive could not be given
    (tmp_path / "p.yaml").write_text("resources: {sbatch: {exclusive: true, nice: 1}}\n")
    res = load_profile(str(tmp_path / "p.yaml")).resources
    assert res.sbatch == {"exclusive": True, "nice": 1} and "--exclusive --nice=1" in res.describe()
    (tmp_path / "off.yaml").write_text("resources: {sbatch: {exclusive: false}}\n")
    with pytest.raises(UserError, match="exclusive: false; a flag option is written with true"):
        load_profile(str(tmp_path / "off.yaml"))
    cfg = tmp_path / "sweep.yaml"
    cfg.write_text(TINY)
    monkeypatch.setenv("PATH", str(tmp_path))  # no sbatch: the dry run prints the text unchecked
    assert main(["sweep", str(cfg), "--root", str(tmp_path / "runs"), "--executor", "slurm", "--dry-run",
                 "--sbatch", "exclusive"]) == 0
    out = capsys.readouterr().out
    assert "#SBATCH --exclusive\n" in out and "--exclusive=" not in out


def test_a_number_in_a_profiles_sbatch_is_written_as_given(tmp_path):
    # `sbatch: {nice: 10}` used to be refused: "input should be a valid string"
    (tmp_path / "p.yaml").write_text("resources: {sbatch: {nice: 10, exclude: node7}}\n")
    res = load_profile(str(tmp_path / "p.yaml")).resources
    assert res.sbatch == {"nice": 10, "exclude": "node7"} and "--exclude=node7 --nice=10" in res.describe()


def test_dry_run_lines_tell_apart_a_knob_grid_whose_value_is_the_preset(tmp_path, capsys):
    # {n_categories: 10} is complexity 1's preset, so the identity drops it: both lines read alike
    cfg = tmp_path / "knobs.yaml"
    cfg.write_text(TINY.replace("  seed: [0, 1]\n", "  synth.knobs: [{n_categories: 5}, {n_categories: 10}]\n"))
    the_plan = plan(load_sweep(cfg), tmp_path / "r")
    lines = the_plan.describe().splitlines()[1:]
    assert len(lines) == len(set(line.split("  ", 2)[2] for line in lines)) == len(the_plan.todo)
    assert sum("synth.knobs.n_categories=5" in line for line in lines) == 2  # at n = 32 and 64


def test_the_example_gpu_profile_sends_its_scratch_array_without_the_gpu_constraint(tmp_path, capsys, monkeypatch):
    """docs/cluster.md says the scratch rule clears what the cpu nodes lack; the packaged profile's rule
    kept a --constraint (a100) on the cpu array, which a real cluster refuses or never schedules."""
    monkeypatch.setenv("PATH", str(tmp_path))  # no sbatch: nothing is asked, nothing submitted
    argv = ["sweep", "quickstart", "--root", str(tmp_path / "runs"), "--executor", "slurm", "--dry-run",
            "--profile", "example-gpu", "--constraint", "a100", "synth.n=[0, 32]", "synth.complexity=[1]", "seed=[0]"]
    assert main(argv) == 0
    arrays = [ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("array ") and "partition=" in ln]
    gpu, cpu = (next(a for a in arrays if f"partition={p}" in a) for p in ("gpu", "cpu"))
    assert "constraint=a100" in gpu and "constraint" not in cpu, arrays


@pytest.mark.parametrize("flag, value, needle", [
    ("--mem-gb", "0", "--mem-gb: input should be greater than or equal to 0.01, got 0.0"),
    ("--cpus-per-job", "0", "--cpus-per-job: input should be greater than or equal to 1, got 0"),
])
def test_a_bad_resource_flag_is_named_as_typed(tmp_path, capsys, monkeypatch, flag, value, needle):
    """It was named as the profile's field: 'command line: resources.mem_gb: ...'."""
    monkeypatch.setenv("PATH", str(tmp_path))
    assert main(["sweep", "quickstart", "--root", str(tmp_path / "r"), "--executor", "slurm", "--dry-run",
                 flag, value]) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"synthscale: error: {needle}", err


def test_a_shape_rule_value_of_another_kind_is_refused_and_a_rule_matching_nothing_is_named(tmp_path, capsys,
                                                                                          monkeypatch):
    """`when: {synth.n: "0"}` (quoted) never matched and the scratch cells kept the GPU defaults, with
    no word; a rule for `synth.generator: shape` (a typo) matched nothing, silently too."""
    monkeypatch.setenv("PATH", str(tmp_path))  # no sbatch: nothing is asked, nothing submitted
    cfg, _ = _files(tmp_path)
    quoted = tmp_path / "quoted.yaml"
    quoted.write_text(PROFILE.replace("{synth.n: 0}", '{synth.n: "0"}'))
    argv = ["sweep", str(cfg), "--root", str(tmp_path / "runs"), "--executor", "slurm", "--dry-run", "--profile"]
    assert main([*argv, str(quoted)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.endswith("profile shapes[0].when: synth.n is a number (a cell has 32), but the rule gives '0' "
                        "(text), which can never match; write 0 without quotes"), err
    with pytest.raises(UserError, match=r"shapes\[0\]\.when: synth\.n is a number .* gives 'x' \(text\)"):
        Profile.model_validate({"shapes": [{"when": {"synth.n": [0, "x"]}, "set": {}}]}).rules_for(RunSpec())
    typo = tmp_path / "typo.yaml"
    typo.write_text(PROFILE + "  - when: {synth.generator: shape}\n    set: {partition: big}\n")
    assert main([*argv, str(typo)]) == 0
    out = capsys.readouterr().out
    assert "shapes[1] (when synth.generator: shape) matches none of these cells" in out, out
    assert "shapes[0]" not in out  # the scratch rule matched its cells


def test_plan_reruns_a_cell_whose_row_json_is_damaged(tmp_path: Path) -> None:
    """A row.json without the row's columns (a torn or hand-edited file) is not a finished cell: counted done,
    the cell would never rerun and its rows would be missing from collect without a word."""
    from bench.config import SweepSpec

    sweep = SweepSpec(base=RunSpec(synth={"n": 0}))
    (cell,) = sweep.cells()
    (tmp_path / "runs" / cell.run_id).mkdir(parents=True)
    (tmp_path / "runs" / cell.run_id / "row.json").write_text('[{"run_id": "x"}]')
    p = plan(sweep, tmp_path)
    assert p.done == [] and [c.run_id for c in p.todo] == [cell.run_id]


RID = "abcdef012345"


def _one_slurm_job(root: Path, monkeypatch: pytest.MonkeyPatch, state: str) -> None:
    """A manifest with one cell's Slurm task 123_0, whose state Slurm reports as `state`."""
    import slurm.tracking

    ref = JobRef(RID, "slurm", "123_0", "synthscale-x", str(root / "submitit"), 0.0, "label")
    write_manifest(root, "20260101-000000-1-aaaaaa", [ref], {RID: "label"}, submitting=False)
    monkeypatch.setattr(slurm.tracking, "job_states", lambda refs, reasons=None: {"123_0": state})


def test_a_running_rerun_of_a_cell_with_a_torn_row_json_reads_running(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """The rerun rebuilds a torn row.json; while its job runs, status must say running, not failed."""
    (tmp_path / "runs" / RID).mkdir(parents=True)
    (tmp_path / "runs" / RID / "row.json").write_text("[")
    _one_slurm_job(tmp_path, monkeypatch, "RUNNING")
    (st,) = cell_statuses(tmp_path)
    assert st.state == "running", st


def test_a_cell_slurm_did_not_answer_for_is_in_flight_so_a_new_sweep_does_not_resubmit_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """When sacct/squeue cannot be reached the cell's state is unknown; a second sweep must still treat it as
    in flight, or it would submit a duplicate job for a cell that may be running."""
    import slurm.tracking

    _one_slurm_job(tmp_path, monkeypatch, slurm.tracking.UNREACHABLE)
    assert cell_statuses(tmp_path)[0].state == "unknown"
    assert list(slurm.tracking.in_flight(tmp_path)) == [RID]


def test_expand_array_id_keeps_the_last_task_of_each_range() -> None:
    """squeue's pending `7_[1-3,5%2]` is tasks 1, 2, 3 and 5 (the %2 is a throttle, not a task)."""
    from slurm.tracking import expand_array_id

    assert expand_array_id("7_[1-3,5%2]") == ["7_1", "7_2", "7_3", "7_5"]
    assert expand_array_id("7_[4]") == ["7_4"] and expand_array_id("7_2") == ["7_2"]


def test_a_plan_reads_each_targets_files_once_not_per_cell(tmp_path: Path, monkeypatch) -> None:
    """plan() checked the target for every cell: Fashion-MNIST's 55 MB cache was read again per cell (20 of the
    22 s of planning 890 cells), a 100k-image folder target listed per cell (a 1,000-cell grid: 15 minutes)."""
    import bench.targets

    (tmp_path / "tiny.yaml").write_text(TINY)
    calls = []
    real = bench.targets.check_target
    monkeypatch.setattr(bench.targets, "check_target", lambda *a: calls.append(a) or real(*a))
    p = plan(load_sweep(tmp_path / "tiny.yaml"), tmp_path / "root")
    assert len(p.todo) == 6 and calls == [("fashion_mnist", None, False)]
