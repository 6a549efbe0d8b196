"""Bad generalize-protocol and meta-training inputs fail early with one line (exit 2); a trained
cell remembers the policy that trained it; a diverged training never becomes an "ok" row."""
from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
from torch import nn

import synth.digits  # noqa: F401  (registers `digits`)
from bench.asg import Controller, LayerwiseLR, param_groups, save_policy
from bench.asg_reference import sha256_prefix
from bench.cli import main
from bench.commands import resolve_config
from bench.config import apply_overrides, load_run
from bench.run import check_names, run
from slurm.tracking import cell_statuses
from synth.console import run_cli
from synth.errors import UserError

TINY = {"synth.n": 32, "pretrain.examples": 64, "pretrain.batch_size": 16, "threads": 1}
TINY_ARGS = [f"{k}={v}" for k, v in TINY.items()]


def _gen(**over):
    return load_run(resolve_config("generalize"), {**TINY, **over})


def _one_line(err: UserError | str) -> str:
    text = str(err).strip()
    assert "\n" not in text, text
    return text


def _policy(path, n_groups=4, seed=0):
    torch.manual_seed(seed)
    ctrl = Controller(n_groups)
    for h in ctrl.heads:  # distinct weights, so two seeds give two different files
        nn.init.normal_(h.weight, std=1.0)
    save_policy(ctrl, path)
    return path


def meta(capsys, *argv: str) -> tuple[int, str]:
    code = run_cli(("bench.asg_meta",), "python -m bench.asg_meta", ["asg-policy", "generalize", *argv])
    return code, capsys.readouterr().err.strip()


def test_a_changed_policy_file_is_not_passed_off_as_the_one_that_trained_the_cell(tmp_path):
    path = _policy(tmp_path / "p.pt", seed=0)
    first_hash = sha256_prefix(path)
    spec = _gen(**{"asg.lr_policy": "learned", "asg.policy": str(path)})
    row = run(spec, tmp_path / "root")[0]
    assert row["policy"] == f"p.pt:{first_hash}"
    _policy(path, seed=1)  # a new policy saved over the old one
    other = apply_overrides(spec, {"target.name": "sklearn_digits"})  # same cell, new run
    assert other.pretrain_id == spec.pretrain_id
    with pytest.raises(UserError, match="changed since cell") as err:
        run(other, tmp_path / "root")
    assert "new path" in _one_line(err.value)
    # nothing of the refused run is left but its lock: its folder was a failed cell in `sweep status`
    # for good (the folder and .lock stay for a process that may be waiting on that lock)
    left = tmp_path / "root" / "runs" / other.run_id
    assert sorted(p.name for p in left.iterdir()) == [".lock"]
    assert other.run_id not in {st.run_id for st in cell_statuses(tmp_path / "root")}
    assert (tmp_path / "root" / "runs" / spec.run_id / "row.json").exists()  # the finished run stays
    _policy(path, seed=0)  # the original file back: the cell is reused and its hash recorded
    again = run(other, tmp_path / "root")[0]
    assert again["policy"] == row["policy"] and again["pretrain_loss"] == row["pretrain_loss"]


@pytest.mark.parametrize("content", [b"\x00\x93garbage" * 40, b'{"n_groups": 4}', b""])
def test_a_corrupt_policy_file_is_one_line_before_work(tmp_path, content):
    (tmp_path / "p.pt").write_bytes(content)
    with pytest.raises(UserError, match="not a saved policy") as err:
        check_names(_gen(**{"asg.lr_policy": "learned", "asg.policy": str(tmp_path / "p.pt")}))
    _one_line(err.value)


def test_a_torch_file_without_a_controller_is_refused(tmp_path):
    torch.save({"weights": torch.zeros(3)}, tmp_path / "p.pt")
    with pytest.raises(UserError, match="no n_groups, hidden, state_dict"):
        check_names(_gen(**{"asg.lr_policy": "learned", "asg.policy": str(tmp_path / "p.pt")}))


def test_a_policy_for_other_layer_groups_is_refused_before_work(tmp_path):
    path = _policy(tmp_path / "p.pt", n_groups=3)
    with pytest.raises(UserError, match="trained for 3 layer groups, the run has 4") as err:
        check_names(_gen(**{"asg.lr_policy": "learned", "asg.policy": str(path)}))
    assert "asg.n_groups=3" in _one_line(err.value)
    check_names(_gen(**{"asg.lr_policy": "learned", "asg.policy": str(path), "asg.n_groups": 3}))


def test_fixed_multipliers_must_match_the_layer_groups():
    net = nn.Module()
    net.body = nn.Sequential(*(nn.Linear(4, 4) for _ in range(4)))
    net.head = nn.Linear(4, 2)
    groups = param_groups(net, "body", "head", 4, 0.0)
    with pytest.raises(ValueError):
        LayerwiseLR([0.1, 0.5, 1.0], groups, interval=1, total_steps=4, stats=lambda: (1.0, 0.0))
    LayerwiseLR([0.1, 0.4, 0.7, 1.0], groups, interval=1, total_steps=4, stats=lambda: (1.0, 0.0))


@pytest.mark.parametrize("over", [{"synth.generator": "fractals"}, {"synth.generator": "shapes"},
                                  {"target.name": "fashion_mnist"}, {"target.name": "folder"}])
def test_synthetic_and_real_classes_must_correspond(over):
    with pytest.raises(UserError, match="supported pairs: digits with mnist5k or sklearn_digits") as err:
        check_names(_gen(**over))
    _one_line(err.value)


def test_mismatched_classes_fail_on_the_command_line_before_training(tmp_path, capsys):
    assert main(["run", "generalize", "--root", str(tmp_path), *TINY_ARGS, "synth.generator=fractals"]) == 2
    assert "target's classes" in _one_line(capsys.readouterr().err)
    assert not (tmp_path / "pretrain").exists()


@pytest.mark.parametrize("value", [math.inf, math.nan])
def test_proxy_lambda_must_be_finite(value):
    with pytest.raises(UserError, match="asg.proxy_lambda: input should be a finite number"):
        _gen(**{"asg.proxy_lambda": value})


def test_a_diverged_training_fails_the_cell_instead_of_writing_an_ok_row(tmp_path):
    spec = _gen(**{"pretrain.lr": 1e30, "pretrain.warmup_frac": 0.0})
    with pytest.raises(UserError, match=r"synthetic n=\d+: the training loss is (nan|inf)") as err:
        run(spec, tmp_path)
    assert "pretrain.lr" in _one_line(err.value)
    assert not (tmp_path / "runs" / spec.run_id / "row.json").exists()
    assert not (tmp_path / "pretrain" / spec.pretrain_id / "final.pt").exists()


def test_meta_out_folder_must_be_writable_before_any_episode(capsys):
    code, err = meta(capsys, *TINY_ARGS, "--episodes", "1", "--out", "/proc/nope/p.pt")
    assert code == 2 and "--output /proc/nope/p.pt: cannot write" in _one_line(err)


def test_meta_out_must_not_be_the_history_file(tmp_path, capsys):
    code, err = meta(capsys, *TINY_ARGS, "--episodes", "1", "--out", str(tmp_path / "p.json"))
    assert code == 2 and "give the policy a .pt name" in _one_line(err)
    assert not (tmp_path / "p.json").exists()


@pytest.mark.parametrize("args, needle", [
    # each ran: Adam's ValueError traceback, or (inf) a NaN controller's traceback at episode 2
    (["--lr", "-1"], "--lr: the controller's learning rate must be a finite number above 0, got -1.0"),
    (["--lr", "nan"], "got nan"), (["--lr", "inf"], "got inf"),
    # every episode ran, then saving failed (a folder) or wrote a file named like the folder
    (["--out", "{tmp}/existing"], "--output '{tmp}/existing' is a folder; give the policy's file name"),
    (["--out", "{tmp}/new/"], "--output '{tmp}/new/' is a folder"),
])
def test_meta_lr_and_out_are_checked_before_any_episode(tmp_path, capsys, args, needle):
    (tmp_path / "existing").mkdir()
    argv = ["--out", str(tmp_path / "p.pt"), *[a.format(tmp=tmp_path) for a in args]]  # (the last --out wins)
    code, err = meta(capsys, *TINY_ARGS, "--episodes", "1", *argv)
    assert code == 2 and needle.format(tmp=tmp_path) in _one_line(err), err
    assert not (tmp_path / "new").exists() and not (tmp_path / "p.pt").exists()


def test_meta_episode_budget_comes_from_the_config_unless_given(tmp_path, capsys):
    code, _ = meta(capsys, *TINY_ARGS, "--episodes", "1", "--out", str(tmp_path / "a.pt"))
    assert code == 0
    assert torch.load(tmp_path / "a.pt", weights_only=True)["meta"]["episode_examples"] == 64
    assert len(json.loads((tmp_path / "a.json").read_text())) == 1
    code, _ = meta(capsys, *TINY_ARGS, "--episodes", "1", "--episode-examples", "32",
                   "--out", str(tmp_path / "b.pt"))
    assert code == 0 and torch.load(tmp_path / "b.pt", weights_only=True)["meta"]["episode_examples"] == 32


def test_meta_help_says_which_budget_wins(capsys):
    with pytest.raises(SystemExit):
        run_cli(("bench.asg_meta",), "python -m bench.asg_meta", ["asg-policy", "--help"])
    assert "wins over a pretrain.examples" in " ".join(capsys.readouterr().out.split())


@pytest.mark.parametrize("args,needle", [
    (["synth.n=0"], "synth.n"), (["synth.generator=fractals"], "target's classes"),
    (["synth.channels=1"], "synth.channels"), (["--episodes", "0"], "--episodes: must be at least 1"),
    (["--episode-examples", "0"], "--episode-examples: must be at least 1, got 0"),  # named pretrain.examples
])
def test_meta_runs_the_protocol_checks_before_any_episode(tmp_path, capsys, args, needle):
    code, err = meta(capsys, *TINY_ARGS, *args, "--out", str(tmp_path / "p.pt"))
    assert code == 2 and needle in _one_line(err)
    assert not (tmp_path / "p.pt").exists()


def test_meta_usage_line_names_the_command_that_runs_it():
    """`python -m bench.asg_meta --help` said `usage: python -m bench.asg_meta asg-policy ...`, a
    subcommand that this entry point does not take."""
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-m", "bench.asg_meta", "--help"], capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.startswith("usage: python -m bench.asg_meta [-h] -o OUT")


@pytest.mark.parametrize("spelling", ["-o", "--output", "--out"])
def test_meta_takes_its_output_as_the_other_commands_do(tmp_path, capsys, spelling):
    """asg-policy took only --out where the other commands take -o/--output; --out still works (the
    committed policy's command names it), and messages name --output."""
    (tmp_path / "existing").mkdir()
    code, err = meta(capsys, *TINY_ARGS, "--episodes", "1", spelling, str(tmp_path / "existing"))
    assert code == 2 and _one_line(err).endswith(f"--output '{tmp_path / 'existing'}' is a folder; give the "
                                                 f"policy's file name, e.g. {tmp_path / 'existing' / 'policy.pt'}")


def test_the_held_out_pool_of_the_largest_pool_seed_is_made() -> None:
    # synth.seed is accepted up to 2**63 - 1; its held-out pool (seed + 7919) was then refused by make_dataset,
    # after the whole synthetic training, in every rerun
    from bench.asg_run import heldout_dataset
    from bench.config import load_run

    spec = load_run(Path(__file__).resolve().parents[1] / "bench" / "configs" / "generalize.yaml",
                    {"synth.seed": 2**63 - 1})
    assert len(heldout_dataset(spec, 4)) == 4


def test_meta_help_names_the_learning_rate_default(capsys):
    with pytest.raises(SystemExit):
        run_cli(("bench.asg_meta",), "python -m bench.asg_meta", ["asg-policy", "--help"])
    assert "--lr LR Adam learning rate of the controller (default: 0.05)" in " ".join(capsys.readouterr().out.split())
