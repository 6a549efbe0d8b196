"""Where `synthscale demo` puts its runs and outputs when --root and --out are left out: the fixed
runs/quickstart and results/quickstart wrote a user's own --config over the committed quickstart
outputs. No training: the sweep is replaced by a stand-in that records its root and stops."""
from __future__ import annotations

from pathlib import Path

import pytest

import slurm.demo
from bench.cli import main
from bench.commands import CONFIG_DIR
from synth.errors import UserError

MINE = """
name: mine
synth: {generator: shapes, n: 0, complexity: 1, resolution: 16, channels: 1}
model: {name: resnet10t, small_input: false}
finetune: {examples: 64, batch_size: 32}
target: {name: fashion_mnist, n_real: [20], test_size: 100}
grid:
  seed: [0]
  synth.n: [0, 32, 64, 128]
"""


@pytest.fixture
def stopped_sweep(tmp_path, monkeypatch):
    """Runs `demo` from an empty folder with a sweep that records (root, whether --out exists) and
    then stops with a UserError, as a refused sweep does; returns the calls made."""
    monkeypatch.chdir(tmp_path)
    calls: list[tuple[Path, list[str]]] = []

    def stop_seeing_out(config, root, overrides, **kw):
        made = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.glob("results/*"))
        calls.append((root, made))
        raise UserError("stopped by the test")

    monkeypatch.setattr(slurm.demo, "sweep_to_csv", stop_seeing_out)
    return calls


@pytest.mark.parametrize("config, options, root, out", [
    ("quickstart", [], "runs/quickstart", "results/quickstart"),  # `make demo`: unchanged
    (str(CONFIG_DIR / "quickstart.yaml"), [], "runs/quickstart", "results/quickstart"),  # the same file
    ("generalize", [], "runs/generalize", "results/generalize"),  # another packaged config
    ("{d}/mine.yaml", [], "runs/mine", "results/mine"),  # the reviewer's case: was results/quickstart
    ("{d}/mine.yaml", ["--out", "o/x"], "runs/mine", "o/x"),
    ("{d}/mine.yaml", ["--root", "r", "--out", "o"], "r", "o"),  # given folders win
])
def test_demo_defaults_follow_the_config(tmp_path, capsys, stopped_sweep, config, options, root, out):
    (tmp_path / "mine.yaml").write_text(MINE)
    argv = ["demo", "--config", config.format(d=tmp_path), *options]
    if config == "generalize":
        argv += ["--by", "complexity,target,condition"]  # its grid's curves (the default pools them)
    assert main(argv) == 2
    assert "stopped by the test" in capsys.readouterr().err
    (called_root, made), = stopped_sweep
    assert called_root == Path(root)
    if out.startswith("results/"):
        assert made == [out]  # --out existed (checked, created) when the sweep started, and only it
    # the failed demo removed the --out folders it created, and never made results/quickstart for another config
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine.yaml"]


def test_demo_refuses_another_quickstart_yaml_without_out(tmp_path, capsys, stopped_sweep):
    """A config file of its own that is also called quickstart.yaml would get the packaged quickstart's
    folders by name; it is refused in one line before anything runs, and runs with --out."""
    (tmp_path / "quickstart.yaml").write_text(MINE)
    assert main(["demo", "--config", str(tmp_path / "quickstart.yaml")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "not the packaged quickstart" in err and "give --out" in err, err
    assert stopped_sweep == [] and sorted(p.name for p in tmp_path.iterdir()) == ["quickstart.yaml"]
    assert main(["demo", "--config", str(tmp_path / "quickstart.yaml"), "--out", "results/mine"]) == 2
    assert "stopped by the test" in capsys.readouterr().err
    assert stopped_sweep == [(Path("runs/quickstart"), ["results/mine"])]  # the root only holds runs, by id


def test_demo_help_gives_the_config_named_defaults(capsys):
    with pytest.raises(SystemExit):
        main(["demo", "--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    assert "default: runs/NAME" in help_text and "default: results/NAME" in help_text, help_text


def test_demo_does_not_write_its_default_out_over_another_study(tmp_path, capsys, stopped_sweep):
    """Only results/quickstart was guarded: --config synth_transfer.yaml wrote over the committed
    results/synth_transfer, and every committed result's config.yaml defaulted to results/config."""
    (tmp_path / "synth_transfer.yaml").write_text(MINE)
    (tmp_path / "results" / "synth_transfer").mkdir(parents=True)
    (tmp_path / "results" / "synth_transfer" / "runs.csv").write_text("committed\n")
    assert main(["demo", "--config", str(tmp_path / "synth_transfer.yaml")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "results/synth_transfer already holds files" in err, err
    assert stopped_sweep == [] and (tmp_path / "results" / "synth_transfer" / "runs.csv").read_text() == "committed\n"
    # a committed result's config.yaml is named after its folder (and refused the same way there)
    (tmp_path / "study").mkdir()
    (tmp_path / "study" / "config.yaml").write_text(MINE)
    assert main(["demo", "--config", str(tmp_path / "study" / "config.yaml")]) == 2
    assert stopped_sweep[-1][0] == Path("runs/study")
    # the same config's own earlier demo is written over, as `make demo` writes over results/quickstart
    out = tmp_path / "results" / "study"
    out.mkdir()
    (out / "runs.csv").write_text("run_id,n_synth\n")
    (out / "PROVENANCE.md").write_text(f"# Provenance\n\n- config: `{tmp_path / 'study' / 'config.yaml'}`\n")
    capsys.readouterr()
    assert main(["demo", "--config", "study/config.yaml"]) == 2
    assert "stopped by the test" in capsys.readouterr().err and stopped_sweep[-1][0] == Path("runs/study")
