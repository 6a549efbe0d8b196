"""Config validation: unknown keys, wrong types and missing data give one line and exit code 2."""
from pathlib import Path

import pytest

from bench.cli import main
from bench.config import RunSpec, apply_overrides, load_sweep, parse_overrides
from synth.errors import UserError

GOOD = """
name: t
synth: {generator: shapes, n: 100, complexity: 1}
pretrain: {examples: 256, batch_size: 32}
grid:
  synth.n: [0, 100, 200]
  seed: [0, 1]
"""


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "c.yaml"
    p.write_text(text)
    return p


def test_good_sweep_expands_and_dedups_scratch(tmp_path):
    sweep = load_sweep(write(tmp_path, GOOD + "  synth.complexity: [1, 2]\n"))
    cells = sweep.cells()
    # 3 sizes x 2 complexities x 2 seeds = 12 combinations; a scratch cell (n = 0) has no generator, so
    # its two complexities are one cell: 2 x 2 x 2 pre-trained cells + 1 scratch cell per seed
    assert len(cells) == 10
    assert len({c.run_id for c in cells}) == 10
    scratch = [c for c in cells if c.synth.n == 0]
    assert len(scratch) == 2 and sorted(c.seed for c in scratch) == [0, 1]
    assert scratch[0].pretrain_id != cells[-1].pretrain_id
    assert sorted((c.synth.n, c.synth.complexity) for c in cells if c.synth.n > 0) == [
        (n, k) for n in (100, 200) for k in (1, 2) for _ in (0, 1)]


def test_scratch_ignores_generator_fields():
    a = apply_overrides(RunSpec(), {"synth.n": 0, "synth.complexity": 1})
    b = apply_overrides(RunSpec(), {"synth.n": 0, "synth.complexity": 5, "pretrain.lr": 0.3})
    assert a.run_id == b.run_id
    c = apply_overrides(RunSpec(), {"synth.n": 10, "synth.complexity": 1})
    d = apply_overrides(RunSpec(), {"synth.n": 10, "synth.complexity": 5})
    assert c.run_id != d.run_id and c.pretrain_id != d.pretrain_id


def test_paths_and_threads_are_not_identity():
    a = apply_overrides(RunSpec(), {"threads": 1, "target.data_root": "/x"})
    assert a.run_id == RunSpec().run_id


@pytest.mark.parametrize("text, needle", [
    ("pretrain: {lr: fast}", "pretrain.lr:"),
    ("pretrian: {lr: 0.1}", "pretrian: unknown key"),
    ("synth: {n: -5}", "synth.n:"),
    ("synth: {colour: red}", "synth.colour: unknown key"),
    ("grid: {synth.n: [10, bad]}", "synth.n:"),
    ("grid: {pretrain.lr: [0.1, fast]}", "pretrain.lr:"),
])
def test_bad_config_one_line(tmp_path, text, needle):
    with pytest.raises(UserError) as err:
        load_sweep(write(tmp_path, text))
    msg = str(err.value)
    assert needle in msg and "\n" not in msg


def test_override_parsing():
    assert parse_overrides(["synth.n=500", "pretrain.lr=1e-2", "target.n_real=[10, 20]"]) == {
        "synth.n": 500, "pretrain.lr": 0.01, "target.n_real": [10, 20]}
    assert apply_overrides(RunSpec(), {"pretrain.lr": "1e-2"}).pretrain.lr == 0.01
    with pytest.raises(UserError):
        parse_overrides(["nonsense"])


@pytest.mark.parametrize("argv, needle", [
    (["run", "{cfg}", "--root", "{root}", "pretrain.lr=fast"], "pretrain.lr:"),
    (["run", "{cfg}", "--root", "{root}", "modle.name=x"], "modle: unknown key"),
    (["run", "{cfg}", "--root", "{root}", "model.name=resnet_nope"], "unknown timm model"),
    (["run", "{cfg}", "--root", "{root}", "target.name=nope"], "unknown target 'nope'"),
    (["run", "{cfg}", "--root", "{root}", "synth.n=0", "target.name=folder"], "needs target.data_root=DIR"),
    (["run", "missing.yaml", "--root", "{root}"], "not found"),
    (["sweep", "{cfg}", "--root", "{root}", "--dry-run", "seed=x"], "seed:"),
])
def test_cli_user_errors_exit_2(tmp_path, capsys, argv, needle):
    cfg = write(tmp_path, GOOD)
    argv = [a.format(cfg=cfg, root=tmp_path / "r") for a in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert needle in err and len(err.splitlines()) == 1, err


def test_missing_real_data_is_a_user_error(tmp_path, capsys, monkeypatch):
    import bench.targets as targets

    monkeypatch.setattr(targets, "FMNIST_DIRS", (str(tmp_path / "nowhere"),))
    monkeypatch.delenv(targets.ENV_ROOT, raising=False)
    targets._CACHE.clear()
    cfg = write(tmp_path, GOOD)
    assert main(["run", str(cfg), "--root", str(tmp_path / "r"), "synth.n=0"]) == 2
    err = capsys.readouterr().err
    assert "Fashion-MNIST not found" in err and "dataset-fashion-mnist" in err
    targets._CACHE.clear()
