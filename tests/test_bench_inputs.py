"""Bad run and sweep inputs fail early with one line (exit 2); corrupted run folders are recomputed."""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import torch

from bench.cli import main
from bench.collect import collect
from bench.commands import resolve_config
from bench.config import RunSpec, apply_overrides, load_run, load_sweep
from bench.run import check_names, read_rows, run
from synth.errors import UserError

TINY = """
name: tiny
synth: {generator: shapes, n: 32, complexity: 1, resolution: 16, channels: 1}
model: {name: resnet10t, small_input: false}
pretrain: {examples: 64, batch_size: 32, lr: 0.05}
finetune: {examples: 64, batch_size: 32, lr: 0.02}
target: {name: fashion_mnist, n_real: [20, 40], test_size: 100}
grid:
  synth.n: [0, 32]
  seed: [0]
"""


def write(tmp_path: Path, text: str = TINY, name: str = "c.yaml") -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


def one_line_exit_2(capsys, argv: list[str], needle: str) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert needle in err and len(err.splitlines()) == 1, err
    return err


@pytest.mark.parametrize("override, needle", [
    ("synth.complexity=99", "complexity"), ("synth.channels=2", "channels"),
    ("synth.knobs={bogus: 1}", "bogus"), ("synth.seed=-1", "seed"),
    ("target.n_real=[]", "target.n_real: give each real size once, at least one, e.g. [100], got []"),
    ("target.n_real=[0]", "target.n_real: real fine-tuning sizes must be at least 1, got [0]"),
    ("target.n_real=[-5]", "target.n_real: real fine-tuning sizes must be at least 1, got [-5]"),
    ("target.n_real=[20, 20]", "target.n_real: give each real size once, at least one, e.g. [100], got [20, 20]"),
    ("synth.n=true", "synth.n"),
    ("synth.seed=18446744073709551616", "synth.seed: input should be less than or equal to 9223372036854775807"),
    # a scratch run skips the generator's checks: it reached the loader ("cannot map 3 channels to 4")
    (["synth.n=0", "synth.channels=4"], "synth.channels: 4; images are gray (1) or RGB (3)"),
])
def test_bad_run_settings_fail_before_any_folder_or_data(tmp_path, capsys, override, needle):
    root = tmp_path / "r"
    one_line_exit_2(capsys, ["run", str(write(tmp_path)), "--root", str(root),
                             *([override] if isinstance(override, str) else override)], needle)
    assert not root.exists()


def test_bad_generator_value_in_a_grid_fails_the_dry_run(tmp_path, capsys):
    cfg = write(tmp_path, TINY.replace("synth.n: [0, 32]", "synth.complexity: [1, 99]"))
    one_line_exit_2(capsys, ["sweep", str(cfg), "--root", str(tmp_path / "r"), "--dry-run"], "99")


def test_a_section_in_a_grid_merges_into_the_base():
    sweep = load_sweep(resolve_config("generalize"), {"asg.interval": 20})
    assert {c.asg.interval for c in sweep.cells()} == {20}
    assert {c.asg.lr_policy for c in sweep.cells()} == {"none", "handset", "learned"}


def test_a_section_in_a_grid_keeps_the_other_axes(tmp_path):
    cfg = write(tmp_path, "synth: {n: 100}\ngrid:\n  synth.n: [32, 64]\n  synth: [{complexity: 2}]\n")
    cells = load_sweep(cfg).cells()
    assert sorted(c.synth.n for c in cells) == [32, 64] and {c.synth.complexity for c in cells} == {2}


def test_an_override_of_a_grid_key_replaces_its_axis():
    cells = load_sweep(resolve_config("quickstart"), {"synth.n": 5, "seed": 7}).cells()
    assert len(cells) == 2 and {(c.synth.n, c.seed) for c in cells} == {(5, 7)}
    cells = load_sweep(resolve_config("quickstart"), {"synth.n": [0, 5]}).cells()
    assert {c.synth.n for c in cells} == {0, 5} and len(cells) == 2 + 2 * 2  # scratch per seed
    assert load_run(resolve_config("quickstart"), {"synth.n": 5}).synth.n == 5


@pytest.mark.parametrize("overrides, needle", [
    (["synth={n: 5}"], "it sets synth.n, which the grid sweeps"),  # the grid would replace it in every cell
    (["synth.n=[32, 32]"], "32 is listed twice"),
    (["synth.knobs.clutter=[0.5, 0.5]"], "0.5 is listed twice"),
    (["finetune.lr=[1e-3, 0.001]"], "0.001 is listed twice"),  # YAML 1.2 numbers: 1e-3 is 0.001
    (["finetune.lr=[0.001, '0.001']"], "0.001 and '0.001' are the same value once read"),
    (["threads=[1, 2]"], "threads is not part of a cell's identity"),
])
def test_overrides_that_one_value_would_silently_win_are_refused(tmp_path, capsys, overrides, needle):
    one_line_exit_2(capsys, ["sweep", str(write(tmp_path)), "--root", str(tmp_path / "r"), "--dry-run",
                             *overrides], needle)
    assert not (tmp_path / "r").exists()


def test_an_override_of_a_field_a_grid_section_sets_is_refused():
    with pytest.raises(UserError, match="the grid's asg entries set it"):
        load_sweep(resolve_config("generalize"), {"asg.lr_policy": "handset"})


def test_a_list_override_of_another_field_adds_an_axis(tmp_path, capsys):
    cells = load_sweep(write(tmp_path), {"model.name": ["resnet10t", "resnet18"], "pretrain.lr": [0.1, 0.2]}).cells()
    assert sorted((c.model.name, c.pretrain.lr) for c in cells if c.synth.n == 32) == [
        ("resnet10t", 0.1), ("resnet10t", 0.2), ("resnet18", 0.1), ("resnet18", 0.2)]
    # scratch does not pre-train, so the lr axis leaves one scratch cell per model
    assert sorted(c.model.name for c in cells if c.synth.n == 0) == ["resnet10t", "resnet18"]
    # a list-valued field takes the list as its one value
    assert {tuple(c.target.n_real) for c in load_sweep(write(tmp_path), {"target.n_real": [5, 10]}).cells()} == {(5, 10)}
    # the dry run shows the added axis, so no two lines read the same
    assert main(["sweep", str(write(tmp_path)), "--root", str(tmp_path / "r"), "--dry-run", "synth.n=32",
                 "synth.knobs.clutter=[0.1, 0.2]"]) == 0
    lines = [ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("  ")]
    assert len(lines) == 2 and [ln.split()[-1] for ln in lines] == ["synth.knobs.clutter=0.1",
                                                                     "synth.knobs.clutter=0.2"]


def test_checkpoint_cadence_is_not_identity_and_ids_are_unchanged():
    spec = apply_overrides(RunSpec(), {"pretrain.ckpt_every_s": 5, "finetune.ckpt_every_s": 7})
    assert (spec.run_id, spec.pretrain_id) == (RunSpec().run_id, RunSpec().pretrain_id)
    committed = set(pd.read_csv(Path(__file__).parents[1] / "results/quickstart/runs.csv")["run_id"])
    assert {c.run_id for c in load_sweep(resolve_config("quickstart")).cells()} == committed


def test_a_missing_explicit_data_root_is_an_error(tmp_path, capsys):
    nowhere = tmp_path / "nowhere"
    one_line_exit_2(capsys, ["run", str(write(tmp_path)), "--root", str(tmp_path / "r"), "--data-root",
                             str(nowhere), "synth.n=0"], str(nowhere))


def test_packaged_generalize_policy_is_found_from_another_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for spec in load_sweep(resolve_config("generalize")).cells():
        check_names(spec)
    spec = apply_overrides(spec, {"asg.policy": "no/such.pt"})
    with pytest.raises(UserError, match=f"no/such.pt not found in {tmp_path} or "):
        check_names(spec)


@pytest.mark.parametrize("args, needle", [
    (["--n", "0", "--generator", "fractals"], "--n must be a positive number of samples per level, got 0"),
    (["--n", "-3"], "--n must be a positive number of samples per level, got -3"),
    (["-o", "{d}/grids/noext"], "-o '{d}/grids/noext' has no known image extension (none); give an image file "
                                "such as grid.png"),
    (["-o", "{d}/grids/x.jpgg"], "-o '{d}/grids/x.jpgg' has no known image extension (.jpgg); give an image "
                                 "file such as grid.png"),
    (["-o", "{d}"], "-o '{d}' is a directory; give an image file such as grid.png"),
    (["--seed", "-1"], "seed must be an integer from 0 to 2**63 - 1, got -1"),
])
def test_bad_preview_arguments_exit_2(tmp_path, capsys, args, needle):
    """One line saying what is wrong, and nothing written: not the image, not -o's folder (grids/,
    which a preview creates), nothing in a folder given as -o."""
    from synth.cli import main as synth_main

    args = [a.format(d=tmp_path) for a in args]
    argv = ["preview", "--complexity", "0", "-o", str(tmp_path / "grids" / "g.png")] + args
    assert synth_main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and needle.format(d=tmp_path) in err, err
    written = Path(args[args.index("-o") + 1]) if "-o" in args else tmp_path / "grids" / "g.png"  # the last -o
    assert written == tmp_path or not written.exists()
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("rows", [[1, 2], [], [{"run_id": "x"}]])
def test_invalid_row_files_are_not_done(tmp_path, rows):
    run_dir = tmp_path / "runs" / "abc"
    run_dir.mkdir(parents=True)
    (run_dir / "row.json").write_text(json.dumps(rows))
    assert read_rows(run_dir) is None and collect(tmp_path).empty


def test_damaged_pieces_are_recomputed_and_rows_time_their_own_work(tmp_path, caplog):
    spec = load_run(write(tmp_path))
    root = tmp_path / "r"
    first = run(spec, root)
    # Each row times its own work: the first includes this process's pre-training, the second
    # excludes the first row's pre-training and fine-tune (each figure rounded to 0.01 s).
    assert first[0]["pretrain_wall_s"] > 0
    assert first[0]["wall_s"] >= first[0]["pretrain_wall_s"] + first[0]["finetune_wall_s"] - 0.02
    assert first[1]["wall_s"] < first[0]["wall_s"] + first[1]["finetune_wall_s"]
    assert first[1]["wall_s"] >= first[1]["finetune_wall_s"]
    run_dir = root / "runs" / spec.run_id
    final = root / "pretrain" / spec.pretrain_id / "final.pt"
    for damage, said in (("rows/s40.json", "rows/s40.json"), ("truncated", "final.pt: unreadable"),
                         ("another file", "final.pt: not a pre-trained cell's result")):  # was a KeyError
        (run_dir / "row.json").unlink()
        (run_dir / "rows" / "s40.json").write_text('{"run_id": "')  # truncated
        if damage == "truncated":
            final.write_bytes(b"")
        elif damage == "another file":
            torch.save({"state_dict": {}}, final)
        caplog.clear()
        again = run(spec, root)
        assert again[0] == first[0]  # the valid finished piece is kept as it was
        assert again[1]["n_real"] == 40 and again[1]["status"] == "ok"
        assert read_rows(run_dir) == again and said in caplog.text, caplog.text


def test_an_unknown_key_suggests_the_close_one_and_lists_the_keys(tmp_path, capsys):
    # the hint used to point at `synthscale run --help`, which lists no keys
    one_line_exit_2(capsys, ["run", str(write(tmp_path)), "--root", str(tmp_path / "r"), "synth.complexty=3"],
                    "synth.complexty: unknown key; did you mean 'complexity'? (keys here: generator, n, complexity")
    # a sweep file's top level has a grid too: the list left it out, and `grd:` had no suggestion
    (tmp_path / "s.yaml").write_text("name: t\ngrd:\n  seed: [0, 1]\n")
    err = one_line_exit_2(capsys, ["sweep", str(tmp_path / "s.yaml"), "--root", str(tmp_path / "r"), "--dry-run"],
                          "grd: unknown key; did you mean 'grid'? (keys here: name, synth")
    assert err.rstrip().endswith(", grid)"), err


@pytest.mark.skipif(__import__("torch").cuda.is_available(), reason="this machine has CUDA")
def test_cuda_on_a_machine_without_it_is_one_line(tmp_path, capsys):
    one_line_exit_2(capsys, ["run", str(write(tmp_path)), "--root", str(tmp_path / "r"), "synth.n=0",
                             "device=cuda"], "no usable CUDA device")
    assert not list((tmp_path / "r").glob("runs/*"))  # no run folder, which status read as a missing cell


def test_a_config_that_is_a_folder_says_so(tmp_path, capsys):
    (tmp_path / "dir.yaml").mkdir()  # it said "config 'dir.yaml' not found"
    one_line_exit_2(capsys, ["run", str(tmp_path / "dir.yaml"), "--root", str(tmp_path / "r")], "is a folder")


def test_a_mistyped_config_name_suggests_the_close_one(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no file of those names here
    one_line_exit_2(capsys, ["run", "quickstrat", "--root", "r"], "config 'quickstrat' not found: did you mean "
                                                                   "'quickstart'?")
    one_line_exit_2(capsys, ["sweep", "stats", "--root", "r"], "did you mean 'status'?")  # sweep status
    err = one_line_exit_2(capsys, ["run", "zzz", "--root", "r"], "config 'zzz' not found: pass a YAML file")
    assert "did you mean" not in err and not (tmp_path / "r").exists()


def test_a_finished_run_says_it_is_not_redone(tmp_path, capsys):
    argv = ["run", str(write(tmp_path)), "--root", str(tmp_path / "r"), "synth.n=0", "target.n_real=[20]"]
    assert main(argv) == 0
    first = capsys.readouterr()
    assert "already done" not in first.err
    assert main(argv) == 0
    again = capsys.readouterr()
    assert again.out == first.out and "is already done" in again.err and "Remove that folder" in again.err


def test_a_fixed_size_model_is_built_for_the_run_resolution():
    from bench.config import ModelSpec
    from bench.models import build_model

    vit = build_model(ModelSpec(name="vit_tiny_patch16_224", small_input=False), 3, 1, img_size=32)  # refused 32 px
    assert vit(torch.zeros(2, 1, 32, 32)).shape == (2, 3)
    cnn = build_model(ModelSpec(name="resnet10t"), 3, 1, img_size=32)  # no img_size argument: ignored
    assert cnn(torch.zeros(2, 1, 16, 16)).shape == (2, 3)


def test_a_diverging_transfer_run_is_one_line_and_writes_no_row(tmp_path, capsys):
    # only the generalize cell checked its loss: a transfer run at lr 1e30 wrote an "ok" row (test_err 0.9)
    root = tmp_path / "r"
    one_line_exit_2(capsys, ["run", str(write(tmp_path)), "--root", str(root), "synth.n=0", "finetune.lr=1e30"],
                    "finetune s=20: the training loss is nan")
    assert not list(root.glob("runs/*/row.json")) and not list(root.glob("runs/*/rows/*.json"))
    # it failed while training: a failed cell with its config and log, not a folder cleared as if
    # its input had been refused before any work (then status had no log to show, and no label)
    (run_dir,) = root.glob("runs/*")
    assert (run_dir / "config.yaml").is_file() and "the training loss is nan" in (run_dir / "log.txt").read_text()
    assert main(["sweep", "status", "--root", str(root)]) == 1
    out = capsys.readouterr().out
    assert "failed   no job scratch resnet10t seed=0" in out and "the training loss is nan" in out, out


@pytest.mark.parametrize("command", [["run", "quickstart"], ["sweep", "quickstart"], ["collect"]])
def test_an_empty_root_is_refused(tmp_path, capsys, monkeypatch, command):
    monkeypatch.chdir(tmp_path)  # '' read as the current folder: runs/ and pretrain/ went there
    with pytest.raises(SystemExit) as exc:
        main([*command, "--root", "", *(["--dry-run"] if command[0] == "sweep" else [])])
    assert exc.value.code == 2 and "argument --root: empty; give a folder" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())


def test_a_run_at_chance_is_warned_about_in_its_log_and_keeps_its_row(tmp_path):
    # a budget shrunk too far (or a learning rate of ~0) gave rows at chance that were fitted as data, silently
    root = tmp_path / "r"
    assert main(["run", str(write(tmp_path)), "--root", str(root), "synth.n=0", "finetune.lr=1e-9",
                 "target.n_real=[20]"]) == 0
    (run_dir,) = root.glob("runs/*")
    text = (run_dir / "log.txt").read_text()
    err = json.loads((run_dir / "row.json").read_text())[0]["test_err"]
    assert err >= 0.85  # the untrained net
    assert f"run {run_dir.name} s=20: test_acc {1 - err:.3f} is at chance (always answering the most frequent test " \
           "class scores 0.100)" in text, text


def test_the_chance_warning_stays_quiet_above_chance() -> None:
    from bench.run import chance_acc, warn_if_chance

    y = torch.arange(100) % 10  # 10 balanced classes: chance 0.1, two standard errors 0.06
    assert chance_acc(y) == 0.1 and chance_acc(torch.tensor([0, 0, 0, 1])) == 0.75
    assert warn_if_chance(0.16, y, "here") and not warn_if_chance(0.17, y, "here")


def test_the_chance_warning_of_a_generalize_run_asks_for_what_it_can_change(tmp_path, monkeypatch, caplog) -> None:
    """It told a generalize run to raise finetune.examples, which that protocol refuses (no fine-tuning).
    A tiny generalize run (made as in tests/test_asg_protocol.py) calls its chance check with the
    generalize hint, which the warning prints (a grep of asg_run's source passed a hint left unused)."""
    import inspect

    from bench import asg_run
    from bench.run import CHANCE_FIX, warn_if_chance

    hint = "raise pretrain.examples or synth.n, or check pretrain.lr"
    calls = []

    def recorder(*args, **kwargs):
        bound = inspect.signature(warn_if_chance).bind(*args, **kwargs)
        bound.apply_defaults()
        calls.append(bound.arguments)
        return warn_if_chance(*args, **kwargs)

    monkeypatch.setattr(asg_run, "warn_if_chance", recorder)
    spec = load_run(resolve_config("generalize"), {"synth.n": 32, "pretrain.examples": 64,
                                                   "pretrain.batch_size": 16, "threads": 1})
    (row,) = run(spec, tmp_path)
    (got,) = calls
    assert (got["acc"], len(got["test_y"]), got["where"], got["fix"]) == (
        row["test_acc"], row["n_test"], f"run {spec.run_id}", hint)
    y = torch.arange(100) % 10
    with caplog.at_level("WARNING"):
        assert warn_if_chance(0.05, y, "here", got["fix"])
    assert caplog.text.rstrip().endswith(f"the net learned nothing usable here; {hint} (the row is kept)")
    assert CHANCE_FIX not in caplog.text
