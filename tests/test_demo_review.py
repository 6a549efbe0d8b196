"""What a new user's review of `synthscale demo` found: `kill` of a demo left its cell's job training
with no word, --data-root was refused (with a hint pointing at --root), an edited config's demo
replaced the earlier outputs with no record of the values used, and an override was "unrecognized"."""
from __future__ import annotations

import hashlib
import os
import signal
import sys

import pytest
import yaml

from bench.cli import main
from bench.config import load_sweep
from tests.test_resume import _interrupted_cleanly, _start, _wait_for_log, tiny_config
from tests.test_slurm_inputs import TINY

# four cells of a few steps each (as tests/test_slurm_inputs.py's demo tests): a whole demo in seconds
FAST = (TINY.replace("  seed: [0, 1, 2]", "  seed: [0]\n  synth.n: [0, 32, 64, 128]")
        .replace("n_real: [20], test_size: 100", "n_real: [10], test_size: 50")
        + "pretrain: {examples: 32, batch_size: 32}\n")


def _exit_code(argv: list[str]) -> int:
    """The CLI's exit code, whether it returns it or argparse exits with it."""
    try:
        return main(argv)
    except SystemExit as exc:
        return int(exc.code)


@pytest.mark.slow  # about 20 s here: the demo and its job start torch
def test_kill_of_a_demo_stops_its_running_job_with_a_checkpoint(tmp_path):
    """`kill PID` of a demo (SIGTERM) killed the demo alone: its running cell's job trained on,
    reparented to init, and the new --out folder was left empty. It now stops as a sweep does: the
    job saves its step and ends, one line, exit 143, no empty --out left behind."""
    cfg, root = tiny_config(tmp_path, sizes="[32, 48, 64]", pre=2048), tmp_path / "runs"  # 3 sizes: a fit
    out = tmp_path / "new" / "out"
    proc = _start(["demo", "--config", str(cfg), "--root", str(root), "--out", str(out), "--max-parallel", "1"])
    _wait_for_log(proc, root, "step 12/64")  # pre-training, 52 steps to go
    os.kill(proc.pid, signal.SIGTERM)  # the demo alone, as `kill PID` does
    _interrupted_cleanly(proc, root, 143)  # ... and no process of the root left running
    assert not (tmp_path / "new").exists()


def test_demo_takes_data_root_as_run_and_sweep_do(tmp_path, capsys, monkeypatch):
    """`demo --data-root DIR` was "unrecognized ...; did you mean --root?", which pointed the runs
    folder at the dataset. It sets target.data_root, as `run` and `sweep` do: a folder without the
    target's files is refused in their words, before anything runs."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "empty").mkdir()
    argv = ["demo", "--root", "r", "--out", "o", "--data-root"]
    assert _exit_code([*argv, "empty"]) == 2
    err = capsys.readouterr().err.strip()
    empty = str(tmp_path / "empty")
    assert len(err.splitlines()) == 1, err
    assert err.startswith(f"synthscale: error: target.data_root {empty!r} holds no Fashion-MNIST: looked in {empty}, ")
    assert _exit_code([*argv, ""]) == 2
    assert "--data-root is empty; give the folder" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty"]  # no runs folder, no --out left
    with pytest.raises(SystemExit):
        main(["demo", "--help"])
    assert "--data-root" in capsys.readouterr().out


@pytest.mark.parametrize("words, want", [
    (["seed=[0]"], "synthscale: error: 'seed=[0]': demo takes no KEY=VALUE overrides; put them in the config "
                   "file, or use `synthscale sweep quickstart 'seed=[0]' --root DIR`, which takes them"),
    (["quickstart"], "synthscale: error: quickstart: demo takes no positional arguments; give the config as "
                     "--config quickstart"),
])
def test_demo_says_it_takes_no_overrides(tmp_path, capsys, monkeypatch, words, want):
    """`demo --config x.yaml seed=[0]` said "unrecognized arguments: seed=[0]" and nothing of where
    the value goes. One line says it; nothing is created."""
    monkeypatch.chdir(tmp_path)
    assert _exit_code(["demo", "--config", "quickstart", *words, "--root", "r", "--out", "o"]) == 2
    assert capsys.readouterr().err.strip() == want
    assert list(tmp_path.iterdir()) == []


def test_demo_records_the_config_it_ran_and_notes_an_edited_one(tmp_path, capsys, monkeypatch):
    """PROVENANCE.md named the config only as given (`config: fast.yaml`), so a config edited in
    place and run again replaced the outputs with no record of either's values. --out now gets
    config.yaml (every field as run; `--config` reads it back as the same cells) and the file's
    path and sha256; a rerun over an earlier demo's outputs of another config says so."""
    monkeypatch.chdir(tmp_path)
    cfg, out = tmp_path / "fast.yaml", tmp_path / "o"
    cfg.write_text(FAST)
    argv = ["demo", "--config", "fast.yaml", "--root", "r", "--out", "o", "--executor", "debug"]
    monkeypatch.setattr(sys, "argv", ["synthscale", *argv])
    assert main(argv) == 0
    assert "note:" not in capsys.readouterr().err  # a new --out: nothing replaced
    ran = yaml.safe_load((out / "config.yaml").read_text())
    assert ran["finetune"]["lr"] == 0.05 and ran["device"] == "auto"  # defaults written out
    assert ran["grid"] == {"seed": [0], "synth.n": [0, 32, 64, 128]}
    assert [c.run_id for c in load_sweep(out / "config.yaml").cells()] == [c.run_id for c in load_sweep(cfg).cells()]
    digest = hashlib.sha256(cfg.read_bytes()).hexdigest()
    assert f"- config file: `{cfg}`, sha256 {digest}; every field as run: config.yaml\n" in (
        out / "PROVENANCE.md").read_text()
    assert main(argv) == 0  # the same config again: no note
    assert "note:" not in capsys.readouterr().err
    cfg.write_text(FAST.replace("name: tiny", "name: edited") + "threads: 1\n")  # the same cells: no training
    assert main(argv) == 0
    notes = [ln for ln in capsys.readouterr().err.splitlines() if "note:" in ln]
    assert notes == ["note: o holds outputs made from a different config (its config.yaml differs in name, "
                     "threads); this demo writes over them (the runs under r are kept)"]
    assert yaml.safe_load((out / "config.yaml").read_text())["threads"] == 1
    # a demo of that config.yaml itself into its own folder keeps the file as it is
    kept = (out / "config.yaml").read_text()
    argv[2] = "o/config.yaml"
    monkeypatch.setattr(sys, "argv", ["synthscale", *argv])
    assert main(argv) == 0
    assert "note:" not in capsys.readouterr().err and (out / "config.yaml").read_text() == kept
    assert "config.yaml is that file" in (out / "PROVENANCE.md").read_text()


def test_a_packaged_config_is_named_from_the_repository_root() -> None:
    """The packaged quickstart's path in PROVENANCE.md and config.yaml is bench/configs/quickstart.yaml, not
    the folder the repository was cloned into (make demo's outputs are committed)."""
    from slurm.demo import _RanConfig

    assert _RanConfig("quickstart", {}).shown == "bench/configs/quickstart.yaml"


def test_python_m_slurm_demo_spells_fits_hints_as_options(tmp_path) -> None:
    """`python -m slurm demo --by generator` ended its pooling hint with the API's by='generator,complexity'
    where `synthscale demo` says --by generator,complexity."""
    import subprocess

    res = subprocess.run([sys.executable, "-m", "slurm", "demo", "--by", "generator", "--root", str(tmp_path / "r"),
                          "--out", str(tmp_path / "o")], capture_output=True, text=True,
                         cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    assert res.returncode == 2 and "--by generator,complexity" in res.stderr and "by='" not in res.stderr, res.stderr
