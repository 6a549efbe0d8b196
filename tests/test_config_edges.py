"""Unusual configs a researcher could write: odd YAML, odd grids, odd overrides, damaged files under a
root. Bad input is one line on stderr and exit code 2; accepted input does what it says."""
import json
from pathlib import Path

import pytest
import yaml

from bench.cli import main
from bench.config import RunSpec, apply_overrides, load_run, load_sweep
from bench.run import COLUMNS, check_names
from slurm.tracking import JobRef, cell_statuses, write_manifest
from synth.console import load_yaml
from synth.errors import UserError

BASE = """\
synth: {n: 32}
pretrain: {examples: 64}
finetune: {examples: 64}
target: {n_real: [20], test_size: 100}
threads: 1
"""


def write(tmp_path: Path, text: str, name: str = "c.yaml") -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


def one_line_exit_2(capsys, argv: list[str], *needles: str) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    for needle in needles:
        assert needle in err, err
    return err


def dry_run(tmp_path: Path, cfg: Path, *overrides: str) -> list[str]:
    return ["sweep", str(cfg), "--root", str(tmp_path / "r"), "--dry-run", *overrides]


@pytest.mark.parametrize("text, needles", [
    ("", ("empty", "{}")),                      # all defaults: a 20k-example run nobody asked for
    ("# nothing yet\n", ("empty",)),
    ("0\n", ("mapping", "int")),                # `or {}` read these as every default
    ("false\n", ("mapping", "bool")),
    ("[]\n", ("mapping", "list")),
])
def test_an_empty_or_falsy_file_is_refused(tmp_path, capsys, text, needles):
    one_line_exit_2(capsys, dry_run(tmp_path, write(tmp_path, text)), *needles)
    assert not (tmp_path / "r").exists()


def test_an_explicit_empty_mapping_is_every_default(tmp_path):
    assert load_run(write(tmp_path, "{}\n")) == RunSpec()


@pytest.mark.parametrize("argv, needle", [
    (["run", "quickstart", "synth.n=100", "seed=1", "synth.n=200"],
     "override synth.n is given twice ('synth.n=100' and 'synth.n=200'); give it once"),
    (["sweep", "quickstart", "--dry-run", "seed=1", " seed=[2]"], "override seed is given twice"),
])
def test_an_override_given_twice_is_refused(tmp_path, capsys, argv, needle):
    # the last one silently won
    one_line_exit_2(capsys, [*argv, "--root", str(tmp_path / "r")], needle)
    assert not (tmp_path / "r").exists()


def test_a_knob_given_twice_is_refused(tmp_path, capsys):
    from synth.cli import main as synth_main

    assert synth_main(["preview", "-o", str(tmp_path / "p.png"), "--knob", "clutter=0.5", "--knob", "clutter=0.1"]) == 2
    assert capsys.readouterr().err.strip().endswith(
        "--knob clutter is given twice ('clutter=0.5' and 'clutter=0.1'); give it once")
    assert not (tmp_path / "p.png").exists()


@pytest.mark.parametrize("text, needles", [
    (BASE + "seed: 1\nseed: 2\n", ("'seed' is given twice", "lines 6 and 7")),
    (BASE.replace("{n: 32}", "{n: 32, n: 64}"), ("'n' is given twice",)),
    (BASE + "grid:\n  seed: [0, 1]\n  seed: [2]\n", ("'seed' is given twice",)),
])
def test_a_key_given_twice_is_refused(tmp_path, capsys, text, needles):
    one_line_exit_2(capsys, dry_run(tmp_path, write(tmp_path, text)), *needles)


def test_yaml_merge_keys_may_still_override(tmp_path):
    # a key overriding a merged (`<<: *anchor`) value is YAML's own feature, not a duplicate
    cfg = write(tmp_path, "pretrain: &s {examples: 64, lr: 0.1}\nfinetune: {<<: *s, lr: 0.2}\n")
    spec = load_run(cfg)
    assert spec.finetune.lr == 0.2 and spec.finetune.examples == 64


def test_exponent_numbers_read_as_numbers_as_in_yaml_1_2(tmp_path):
    # PyYAML's YAML 1.1 read `1e-3` as a string; the float fields hid it, a free mapping did not
    cfg = write(tmp_path, "finetune: {lr: 1e-3}\nsynth: {knobs: {clutter: 5E-1}}\n")
    spec = load_run(cfg)
    assert spec.finetune.lr == 0.001 and spec.synth.knobs == {"clutter": 0.5}
    assert load_yaml("[.5e1, -2e+2, 1.e3, 1e, e5, 10, 1_0]") == [5.0, -200.0, 1000.0, "1e", "e5", 10, 10]
    assert yaml.safe_load("1e-3") == "1e-3"  # PyYAML's own loader is left as it was


def test_a_tab_says_where_and_what(tmp_path, capsys):
    err = one_line_exit_2(capsys, dry_run(tmp_path, write(tmp_path, "seed: 1\nsynth:\n\tn: 32\n")),
                          "line 3 column 1", "tabs")
    assert "while scanning" not in err


@pytest.mark.parametrize("grid, needles", [
    ("grid:\n  seed: []\n", ("grid.seed", "empty")),                 # was 0 cells and exit 0
    ("grid:\n  seed: [0]\n  synth.n: []\n", ("grid.synth.n", "empty")),
    # a key that is no field was a pydantic traceback
    ("grid:\n  1: [1, 2]\n", ("grid: the key 1 is not a config field; keys are dotted field names",)),
    ("grid:\n  '': [1]\n", ("grid: the key '' is not a config field; keys are dotted field names",)),
    ("grid:\n  synth.n: [32]\n  synth: [{n: 64}]\n",  # one silently won
     ("grid: 'synth' and 'synth.n' both set 'synth.n', and one would silently win",)),
])
def test_bad_grids_are_refused(tmp_path, capsys, grid, needles):
    one_line_exit_2(capsys, dry_run(tmp_path, write(tmp_path, BASE + grid)), *needles)
    # `run` on the same file ignores its grid, but the file is checked whole: it ran, exit 0, and the
    # typo waited for the first sweep
    root = tmp_path / "one"
    one_line_exit_2(capsys, ["run", str(tmp_path / "c.yaml"), "--root", str(root)], *needles)
    assert not root.exists()


def test_run_checks_a_grid_typo_as_sweep_does(tmp_path, capsys):
    cfg = write(tmp_path, BASE + "grid:\n  synth.nn: [0, 32]\n")
    for argv in (dry_run(tmp_path, cfg), ["run", str(cfg), "--root", str(tmp_path / "one")]):
        one_line_exit_2(capsys, argv, "grid.synth.nn: unknown key; did you mean 'n'?")
    assert not (tmp_path / "one").exists()


@pytest.mark.parametrize("override", ["synth.n=[ ]", "seed=[]"])
def test_an_override_that_empties_a_grid_axis_is_refused(tmp_path, capsys, override):
    cfg = write(tmp_path, BASE + "grid:\n  synth.n: [0, 32]\n  seed: [0, 1]\n")
    one_line_exit_2(capsys, dry_run(tmp_path, cfg, override), "empty")


def test_an_empty_grid_section_is_the_base_run(tmp_path):
    assert len(load_sweep(write(tmp_path, BASE + "grid:\n")).cells()) == 1


@pytest.mark.parametrize("override, needle", [
    ("seed=-1", "seed"),                          # not "a random seed": it ran as seed -1
    ("seed=100000000000000000000000", "seed"),    # torch's overflow traceback after planning
    ("pretrain.lr=1e400", "pretrain.lr"),         # inf: NaN weights, blamed on finetune's lr
    ("finetune.lr=.inf", "finetune.lr"),
    ("pretrain.weight_decay=.inf", "pretrain.weight_decay"),
])
def test_bad_numbers_are_refused_before_any_folder(tmp_path, capsys, override, needle):
    root = tmp_path / "r"
    one_line_exit_2(capsys, ["run", str(write(tmp_path, BASE)), "--root", str(root), override], needle)
    assert not root.exists()


def test_real_sizes_in_any_order_are_one_run():
    a = apply_overrides(RunSpec(), {"target.n_real": [40, 20]})
    b = apply_overrides(RunSpec(), {"target.n_real": [20, 40]})
    assert a.run_id == b.run_id and a.target.n_real == [20, 40]
    # ids of single-size configs (every committed result) are as before
    assert apply_overrides(RunSpec(), {"target.n_real": [100]}).target.n_real == [100]


def test_a_field_at_none_against_a_value_tells_cells_apart():
    """Two generalize runs differing only in target.test_size (None, the default, against 100) read
    alike in `sweep status` and the dry run: a None field was dropped as if absent. A scratch run's
    missing pre-training fields are still no second value."""
    from bench.commands import resolve_config
    from bench.config import identity_suffix, varying_identity

    base = load_run(resolve_config("generalize"), {"synth.n": 32})
    other = apply_overrides(base, {"target.test_size": 100})
    assert base.run_id != other.run_id
    assert varying_identity([base, other]) == ["target.test_size"]
    assert identity_suffix(base, ["target.test_size"]) != identity_suffix(other, ["target.test_size"])
    scratch = apply_overrides(RunSpec(), {"synth.n": 0})
    assert varying_identity([RunSpec(), scratch]) == ["synth.n"]


def test_a_proxy_axis_over_a_grid_with_scratch_collapses_its_scratch_cells():
    """`sweep quickstart "asg.proxy_lambda=[0, 0.5]"` was refused outright (proxy guidance needs a
    pre-trained model) for its scratch cells, where a pretrain.lr axis collapses them."""
    from bench.commands import resolve_config

    cells = load_sweep(resolve_config("quickstart"), {"asg.proxy_lambda": [0, 0.5]}).cells()
    plain = load_sweep(resolve_config("quickstart")).cells()
    scratch = [c for c in cells if c.synth.n == 0]
    assert len(cells) == 2 * len(plain) - len(scratch) and len(scratch) == 2  # one per seed
    assert all(c.asg is None or c.asg.proxy_lambda == 0 for c in scratch)
    assert {c.run_id for c in scratch} <= {c.run_id for c in plain}  # the same scratch runs as before
    with pytest.raises(UserError, match="proxy guidance needs a pre-trained model"):
        check_names(apply_overrides(RunSpec(), {"synth.n": 0, "asg.proxy_lambda": 0.5}))  # asked for alone
    only_scratch = load_sweep(resolve_config("quickstart"), {"synth.n": [0], "asg.proxy_lambda": [0.1, 0.5]})
    with pytest.raises(UserError, match="proxy guidance needs a pre-trained model"):  # nothing to guide at all
        for cell in only_scratch.cells():
            check_names(cell)


def _row(run_id: str) -> dict:
    return {c: 0 for c in COLUMNS} | {"run_id": run_id, "generator": "shapes", "n_real": 20}


def test_collect_names_the_rows_it_leaves_out(tmp_path, capsys):
    runs = tmp_path / "runs"
    for rid, text in [("aaaaaaaaaaaa", json.dumps([_row("aaaaaaaaaaaa")])), ("bbbbbbbbbbbb", '[{"trunc'),
                      ("cccccccccccc", "{}")]:
        (runs / rid).mkdir(parents=True)
        (runs / rid / "row.json").write_text(text)
    assert main(["collect", "--root", str(tmp_path)]) == 0
    out, err = capsys.readouterr()
    assert "1 row ->" in out
    assert "2 runs/*/row.json unreadable" in err and "bbbbbbbbbbbb" in err and "cccccccccccc" in err
    assert (runs / "bbbbbbbbbbbb" / "row.json").read_text() == '[{"trunc'  # nothing deleted


def test_status_ignores_manifest_entries_that_are_not_run_ids(tmp_path):
    outside = tmp_path / "outside"  # ROOT/runs/../../outside: a damaged manifest must not reach it
    (outside / "row.json").parent.mkdir(parents=True)
    (outside / "row.json").write_text(json.dumps([_row("x")]))
    root = tmp_path / "root"
    bad = [JobRef("../../outside", "local", "1", "n", str(tmp_path), 0.0),
           JobRef("zz", "local", "1", "n", "f\0x", 0.0)]  # a NUL byte was a ValueError traceback
    write_manifest(root, "sub1", bad, {"../x": "a", "ok": "b"}, submitting=False)
    states = {s.run_id: s.state for s in cell_statuses(root)}
    assert states == {"ok": "missing"}


@pytest.mark.parametrize("grid, needles", [
    # threads was one cell per seed, run with threads 1 only, and exit 0
    ("grid:\n  threads: [1, 2]\n  seed: [0, 1]\n", ("grid: threads is not part of a cell's identity",
                                                   "each row records torch_threads", "threads=1")),
    ("grid:\n  device: [cpu, auto]\n", ("grid: device", "device=cpu")),
    ("grid:\n  name: [a, b]\n", ("grid: name", "name=a")),
    ("grid:\n  pretrain.ckpt_every_s: [1, 2]\n", ("grid: pretrain.ckpt_every_s", "checkpoint")),
    ("grid:\n  finetune: [{ckpt_every_s: 1}, {ckpt_every_s: 2}]\n",
     ("grid: the values of finetune differ only in finetune.ckpt_every_s",)),
    ("grid:\n  target.download: [true, false]\n", ("grid: target.download",)),
    ("grid:\n  target.data_root: [a, b]\n", ("grid: target.data_root", "folder target")),
    ("grid:\n  asg.interval: [5, 10]\n", ("grid: asg.interval", "asg.proxy_lambda")),
    # the dense tasks never augment: pretrain.augment made two cells of one
    ("task: segmentation\ngrid:\n  pretrain.augment: [true, false]\n",
     ("grid: pretrain.augment", "the segmentation task trains without augmentation")),
    ("grid:\n  finetune: [{augment: false, flips: true}, {augment: false, flips: false}]\n",
     ("finetune.flips", "finetune does not augment")),
    # unset and the value it means for these images: one cell, listed twice
    ("grid:\n  target.name: [mnist5k]\n  finetune.flips: [null, false]\n",
     ("grid: finetune.flips", "left unset it means false for mnist5k's images, the same cell as false")),
])
def test_a_grid_over_a_field_outside_the_run_id_is_refused(tmp_path, capsys, grid, needles):
    one_line_exit_2(capsys, dry_run(tmp_path, write(tmp_path, BASE + grid)), *needles)
    assert not (tmp_path / "r").exists()


def test_an_override_that_makes_a_threads_axis_is_refused(tmp_path, capsys):
    cfg = write(tmp_path, BASE + "grid:\n  threads: [1]\n  seed: [0, 1]\n")
    assert len(load_sweep(cfg).cells()) == 2  # one value: fine
    one_line_exit_2(capsys, dry_run(tmp_path, cfg, "threads=[1, 2]"), "grid: threads", "threads=1")
    assert not (tmp_path / "r").exists()


def test_axes_that_collapse_on_purpose_are_still_accepted(tmp_path):
    # scratch cells share one id whatever the generator fields (a value listed twice is refused:
    # tests/test_bench_inputs.py); a folder target's data_root is its dataset, so part of the id
    cfg = write(tmp_path, BASE + "grid:\n  synth.n: [0]\n  synth.complexity: [1, 2]\n  threads: [1]\n")
    assert len(load_sweep(cfg).cells()) == 1
    cfg = write(tmp_path, BASE.replace("target: {", "target: {name: folder, ")
                + "grid:\n  target.data_root: [a, b]\n", "folder.yaml")
    assert len(load_sweep(cfg).cells()) == 2


@pytest.mark.parametrize("override, needles", [
    ("synth={n: 32, n: 64}", ("override 'synth={n: 32, n: 64}'", "'n' is given twice")),  # n 64 ran
    ("asg={proxy_lambda: 1, interval: 3, interval: 4}", ("'interval' is given twice",)),
    ("synth.knobs={clutter: 1, clutter: 2}", ("'clutter' is given twice",)),
])
@pytest.mark.parametrize("command", ["sweep", "run"])
def test_a_key_given_twice_in_an_override_is_refused(tmp_path, capsys, override, needles, command):
    cfg = write(tmp_path, BASE + "grid:\n  seed: [0, 1]\n")
    argv = dry_run(tmp_path, cfg, override) if command == "sweep" else \
        ["run", str(cfg), "--root", str(tmp_path / "r"), override]
    err = one_line_exit_2(capsys, argv, *needles)
    assert "lines" not in err  # a one-line value has no lines to point at
    assert not (tmp_path / "r").exists()


def test_a_config_or_profile_that_is_not_utf8_is_one_line(tmp_path, capsys):
    # a latin-1 comment (or an image given as the config) used to be a UnicodeDecodeError traceback
    latin1 = tmp_path / "latin1.yaml"
    latin1.write_bytes("# r\u00e9sum\u00e9\n".encode("latin-1") + BASE.encode())
    for argv in (["run", str(latin1), "--root", str(tmp_path / "r")], dry_run(tmp_path, latin1)):
        one_line_exit_2(capsys, argv, "latin1.yaml: not UTF-8 text (byte 0xe9")
    profile = tmp_path / "site.yaml"
    profile.write_bytes("partition: caf\u00e9\n".encode("latin-1"))
    one_line_exit_2(capsys, [*dry_run(tmp_path, write(tmp_path, BASE)), "--executor", "slurm", "--profile",
                             str(profile)], "site.yaml: not UTF-8 text")
    assert not (tmp_path / "r").exists()


def test_a_batch_of_one_is_refused_before_training(tmp_path, capsys):
    # finetune.batch_size=1 used to pre-train first, then end in batch norm's ValueError traceback
    cfg = write(tmp_path, BASE)
    for key in ("pretrain.batch_size=1", "finetune.batch_size=1"):
        one_line_exit_2(capsys, ["run", str(cfg), key, "--root", str(tmp_path / "r")], key.split("=")[0],
                        "greater than or equal to 2")
    assert not (tmp_path / "r").exists()


def test_an_unknown_device_is_refused_when_the_sweep_is_planned(tmp_path, capsys):
    # device=foo used to pass --dry-run and fail every cell of the sweep (on Slurm: after queueing)
    cfg = write(tmp_path, BASE)
    one_line_exit_2(capsys, [*dry_run(tmp_path, cfg), "device=foo"], "unknown device 'foo'")
    assert main(dry_run(tmp_path, cfg, "device=cuda")) == 0  # present or not: the node that runs it decides
    assert not (tmp_path / "r").exists()


def test_a_grid_dotted_override_names_the_fix(tmp_path, capsys):
    """`grid.synth.n=[0,32]` said "grid: unknown key (keys here: ...)", which neither named the key
    nor said that an override of synth.n itself makes the axis."""
    assert main(["sweep", "quickstart", "grid.synth.n=[0,32]", "--root", str(tmp_path), "--dry-run"]) == 2
    err = capsys.readouterr().err.strip()
    assert "override 'grid.synth.n'" in err and "synth.n='[0, 32]'" in err and len(err.splitlines()) == 1, err


@pytest.mark.parametrize("argv", [["sweep", "status"], ["sweep", "quickstart", "--root", "", "--dry-run"],
                                  ["demo", "--executor", "slurm", "--root", "{d}/r", "--out", "{d}/o"],
                                  ["fit", "runs.csv", "--law", "powr"]])
def test_an_option_argparse_refuses_is_one_line(argv, capsys, tmp_path, monkeypatch):
    """argparse printed its whole usage block (10-15 lines) before the line that says what is wrong.
    Run in an empty folder: were argparse to accept --root '' or --executor slurm, the sweep or demo
    would write there (runs/, pretrain/, results/quickstart) instead of the checkout's folder; the
    sweep's --dry-run keeps such a regression from running the whole quickstart sweep first."""
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exc:
        main([a.format(d=tmp_path) for a in argv])
    err = capsys.readouterr().err.strip()
    assert exc.value.code == 2 and len(err.splitlines()) == 1 and "--help)" in err, err
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("argv, missing", [(["sweep", "--root", "{d}"], "config"),
                                           (["run"], "config, --root")])
def test_a_missing_config_is_named_alone(argv, missing, capsys, tmp_path):
    """The overrides are optional, yet argparse listed them as required: `sweep --root r` said
    "the following arguments are required: config, overrides"."""
    with pytest.raises(SystemExit) as exc:
        main([a.format(d=tmp_path) for a in argv])
    err = capsys.readouterr().err
    assert exc.value.code == 2 and f"the following arguments are required: {missing} (see" in err, err


@pytest.mark.parametrize("items, both", [(["pretrain.lr=0.1", "pretrain={lr: 0.2}"], "pretrain.lr"),
                                         (["pretrain={lr: 0.2}", "pretrain.lr=0.1"], "pretrain.lr"),
                                         (["synth={knobs: {clutter: 0.5}}", "synth.knobs.clutter=0.1"],
                                          "synth.knobs.clutter")])
def test_one_field_in_two_spellings_is_refused(items: list, both: str) -> None:
    # the last one silently won, and the order of the two decided the run id
    from bench.config import parse_overrides

    with pytest.raises(UserError, match=f"overrides {items[0]!r} and {items[1]!r} both set {both}; give it once"):
        parse_overrides(items)
    assert parse_overrides(["pretrain={lr: 0.2}", "pretrain.batch_size=16"])  # two fields of one section: fine
    assert parse_overrides(["synth.knobs={}", "synth.knobs.clutter=0.1"])  # {} sets no field


@pytest.mark.parametrize("override", ["target.data_root=/somewhere", "target={data_root: /somewhere}"])
def test_data_root_flag_and_override_together_are_refused(tmp_path, capsys, override: str) -> None:
    from bench.cli import main

    for cmd in (["run", "quickstart"], ["sweep", "quickstart", "--dry-run"]):
        assert main([*cmd, "--root", str(tmp_path / "r"), override, "--data-root", str(tmp_path)]) == 2
        err = capsys.readouterr().err.strip()
        assert err.endswith("--data-root and the override target=... both set target.data_root; give it once") \
            or err.endswith("--data-root and the override target.data_root=... both set target.data_root; give it "
                            "once"), err
        assert len(err.splitlines()) == 1 and not (tmp_path / "r").exists()


def test_a_test_size_cap_at_or_above_the_whole_split_is_the_run_without_one(tmp_path) -> None:
    # 10000, 20000 and null all test on Fashion-MNIST's whole 10k split: three run ids for one result,
    # tabulated as repeats of one condition
    from bench.commands import resolve_config
    from bench.config import FIXED_TEST_SPLITS
    from bench.targets import load_target

    for name, size in FIXED_TEST_SPLITS.items():  # the table against the real data
        assert len(load_target(name, None, False).test_y) == size, name
    qs = resolve_config("quickstart")
    ids = {v: load_run(qs, {"synth.n": 32, "target.test_size": v}).run_id for v in (None, 10000, 20000, 2000)}
    assert ids[None] == ids[10000] == ids[20000] != ids[2000]
    with pytest.raises(UserError, match=r"grid: target\.test_size is not part of a cell's identity \(a cap of 10,000 "
                                        r"or more, or none, is fashion_mnist's whole test split"):
        load_sweep(qs, {"synth.n": 32, "seed": 0, "target.test_size": [10000, 20000, None]}).cells()


def test_digits_are_shifted_but_not_flipped_unless_the_stage_says_so():
    """A mirrored 2 or 7 is no digit: flips doubled a scratch net's test error on mnist5k (0.114 with
    flips and shifts, 0.056 with shifts alone, 3 seeds). The runs before the field flipped, and keep
    their ids where they still do (flips: true, and every non-digit image)."""
    import torch

    from bench.config import identity_leaves, stage_flips
    from bench.data import augment

    qs = load_run(Path(__file__).resolve().parents[1] / "bench/configs/quickstart.yaml", {"synth.n": 1000})
    digits_target = apply_overrides(qs, {"target.name": "mnist5k"})
    digits_synth = apply_overrides(qs, {"synth.generator": "digits"})
    assert stage_flips(qs, "pretrain") and stage_flips(qs, "finetune")
    assert not stage_flips(digits_target, "finetune") and stage_flips(digits_target, "pretrain")
    assert not stage_flips(digits_synth, "pretrain") and stage_flips(digits_synth, "finetune")
    assert identity_leaves(digits_target)["finetune.flips"] is False
    # ids as hashed before the field, for the cells that still flip
    assert qs.run_id == load_run(Path(__file__).resolve().parents[1] / "bench/configs/quickstart.yaml",
                                 {"synth.n": 1000, "finetune.flips": True}).run_id
    flipped = apply_overrides(qs, {"target.name": "mnist5k", "finetune.flips": True})
    assert digits_target.run_id != flipped.run_id and digits_target.pretrain_id == flipped.pretrain_id
    assert digits_synth.pretrain_id != apply_overrides(digits_synth, {"pretrain.flips": True}).pretrain_id
    # the augmentation: one bright column at x = 3 of 32 stays within the 2 px shifts without flips
    x = torch.zeros(64, 1, 32, 32)
    x[..., 3] = 1.0
    cols = lambda img: img[:, 0].amax(dim=1).argmax(dim=1)  # noqa: E731 (the bright column of each image)
    assert int(cols(augment(x, 0, 0, flips=False)).max()) <= 5
    assert int(cols(augment(x, 0, 0)).max()) >= 26  # flipped ones land near x = 28
    # the shifts are the same draws either way: each image moves its column by the same offset
    a, b = cols(augment(x, 0, 7, flips=False)), cols(augment(x, 0, 7))
    assert torch.equal(a - 3, torch.where(b > 16, b - 28, b - 3))


def test_one_generalize_cell_has_one_id_however_its_asg_section_and_policy_are_spelled(tmp_path, monkeypatch):
    """No asg section and an all-default one trained the same cell twice, and collect had no column to
    tell the rows apart; so did the learned policy's file named with ./ or a detour. The id reads the
    text alone: not the directory it is computed from, nor whether the file is there."""
    root = Path(__file__).resolve().parents[1]
    gen = load_run(root / "bench/configs/generalize.yaml")
    assert apply_overrides(gen, {"asg": None}).run_id == gen.run_id  # the packaged plain cells' id
    assert apply_overrides(gen, {"asg": None}).pretrain_id == gen.pretrain_id
    learned = {p: apply_overrides(gen, {"asg.lr_policy": "learned", "asg.policy": p}).run_id
               for p in ("results/asg/policy.pt", "./results/asg/policy.pt", "results/x/../asg/policy.pt")}
    assert set(learned.values()) == {"3e267ae83917"}, learned  # the committed learned runs' id
    monkeypatch.chdir(tmp_path)  # elsewhere, where no such file is: the same id
    assert apply_overrides(gen, {"asg.lr_policy": "learned", "asg.policy": "results/asg/policy.pt"}).run_id \
        == "3e267ae83917"
    assert apply_overrides(gen, {"asg.lr_policy": "learned", "asg.policy": "other.pt"}).run_id != "3e267ae83917"


@pytest.mark.parametrize("override, needle", [
    ("seed=[0, 1]", "seed: input should be a valid integer, got [0, 1]; several values are a grid axis: list "
                    "them under `grid:` and run `synthscale sweep`"),
    ("synth.n=1e3", "synth.n: input should be a valid integer, got 1000.0: a whole number is wanted, write it "
                    "as 1000"),
])
def test_a_list_or_a_whole_float_given_to_run_says_what_to_write(tmp_path, capsys, override, needle):
    one_line_exit_2(capsys, ["run", "quickstart", override, "--root", str(tmp_path / "r")], needle)
    assert not (tmp_path / "r").exists()


def test_a_row_records_the_asg_settings_its_run_id_has():
    """asg.interval and asg.n_groups are not read by the transfer protocol (nor, without a layer-wise
    policy, by the generalize one), so cells that differ only in them share a run id; the row recorded
    whichever values the first of them was given. It records what the id has: the defaults."""
    from bench.run import design_row

    repo = Path(__file__).resolve().parents[1]
    transfer = load_run(repo / "bench/configs/quickstart.yaml", {"synth.n": 32, "asg": {"interval": 3, "n_groups": 7}})
    plain = load_run(repo / "bench/configs/generalize.yaml", {"asg.n_groups": 6, "asg.interval": 2})
    handset = apply_overrides(plain, {"asg.lr_policy": "handset"})
    for spec, want in ((transfer, (10, 4)), (plain, (10, 4)), (handset, (10, 6))):
        row = design_row(spec, 100)
        assert (row["asg_interval"], row["asg_n_groups"]) == want, (spec.protocol, row)


def test_a_mistyped_option_gets_the_closest_one(tmp_path, capsys):
    """`--dryrun` was 'unrecognized arguments: --dryrun' alone; the subcommand's closest option is named."""
    def err_of(option: str) -> str:
        with pytest.raises(SystemExit) as exit_:
            main(["sweep", "quickstart", "--root", str(tmp_path / "r"), option])
        err = capsys.readouterr().err.strip()
        assert exit_.value.code == 2 and len(err.splitlines()) == 1, err
        return err

    assert err_of("--dryrun").endswith("unrecognized arguments: --dryrun; did you mean --dry-run? "
                                       "(see synthscale sweep --help)")
    assert "did you mean" not in err_of("--zzz")
    assert not (tmp_path / "r").exists()


def test_labels_spell_values_as_an_override_would():
    """Dry-run and status labels printed Python's spelling (asg.policy=None, pretrain.flips=True), which an
    override of that field does not take."""
    from bench.config import identity_suffix

    repo = Path(__file__).resolve().parents[1]
    spec = load_run(repo / "bench/configs/quickstart.yaml", {"synth.n": 32, "target.test_size": None,
                                                             "finetune.recompute_bn": False})
    assert identity_suffix(spec, ["target.test_size", "finetune.recompute_bn", "pretrain.lr"]) == \
        " target.test_size=null finetune.recompute_bn=false pretrain.lr=0.1"


def test_mnist5k_and_sklearn_digits_are_not_flipped_when_fine_tuning() -> None:
    """Mirroring breaks digits (a flipped 2 is no 2): both digit targets must fine-tune unflipped, and the
    run's identity must say so (only mnist5k was pinned)."""
    from bench.config import identity_leaves, stage_flips

    for target in ("mnist5k", "sklearn_digits"):
        spec = RunSpec(target={"name": target})
        assert stage_flips(spec, "finetune") is False, target
        assert identity_leaves(spec)["finetune.flips"] is False, target


@pytest.mark.parametrize("items", [["asg=null", "asg.proxy_lambda=0.5"], ["asg.proxy_lambda=0.5", "asg=null"]])
def test_a_section_set_whole_and_a_field_inside_it_is_refused_in_either_order(items: list) -> None:
    """`asg=null` beside `asg.proxy_lambda=0.5` is contradictory whichever comes first: one must not silently win."""
    from bench.config import parse_overrides

    with pytest.raises(UserError, match="both set"):
        parse_overrides(items)


def test_a_list_override_of_a_list_valued_axis_is_one_value(tmp_path: Path) -> None:
    """An axis whose values are lists (n_real per target) overridden with one list is one cell, not two."""
    cfg = tmp_path / "s.yaml"
    cfg.write_text("synth: {n: 0}\ngrid:\n  target.n_real: [[100], [200]]\n")
    cells = load_sweep(cfg, {"target.n_real": [100, 200]}).cells()
    assert [c.target.n_real for c in cells] == [[100, 200]]
