"""What a kill, a Ctrl-C or an error at the wrong moment leaves behind: never a partial dataset taken
for a whole one, a finished fine-tune lost, a stale runs.csv without a word, a cache temp kept for
ever, or a password file readable by others for a moment."""
from __future__ import annotations

import json
import os
import signal
import stat
import time
from pathlib import Path

import pytest

from bench import targets
from bench.cli import main
from synth.errors import UserError
from tests.test_bench_targets import T, image_tree, one_line_exit_2, write_idx_set


@pytest.fixture
def fresh_targets():
    targets._CACHE.clear()
    targets._FOLDERS_CHECKED.clear()
    yield targets
    targets._CACHE.clear()
    targets._FOLDERS_CHECKED.clear()


# 1. A folder target whose split is an unfinished `synth export` (its .chunks/ still there: hidden, so
# the images it had written so far passed for the whole set) is refused, at plan time and at load.

@pytest.mark.parametrize("split", ["train", "test"])
def test_a_split_holding_an_unfinished_export_is_refused(tmp_path, fresh_targets, split):
    data = image_tree(tmp_path / "d")
    (data / split / ".chunks").mkdir()
    (data / split / ".chunks" / "chunk_000000.json").write_text("{}")
    for load in (lambda: fresh_targets.check_target("folder", str(data), False),
                 lambda: fresh_targets.load_target("folder", str(data)),
                 lambda: fresh_targets.folder(str(data))):  # the loader itself, as a job calls it
        with pytest.raises(UserError) as err:
            load()
        text = str(err.value)
        assert "\n" not in text and f"{data / split} is an unfinished export" in text, text
        assert f"-o {data / split}` command that wrote it again" in text and str(data / split / ".chunks") in text


def test_an_export_left_unfinished_after_the_plan_time_check_is_refused_at_load(tmp_path, fresh_targets):
    data = image_tree(tmp_path / "d")
    fresh_targets.check_target("folder", str(data), False)  # checked (and remembered) while complete
    (data / "train" / ".chunks").mkdir()
    with pytest.raises(UserError, match="unfinished export"):
        fresh_targets.load_target("folder", str(data))


def test_a_folder_without_chunks_is_accepted(tmp_path, fresh_targets):
    data = image_tree(tmp_path / "d")
    (data / "train" / ".cache").mkdir()  # other hidden folders are still skipped
    (data / ".chunks").mkdir()  # beside the splits, not in one: no split's images are partial
    fresh_targets.check_target("folder", str(data), False)
    got = fresh_targets.load_target("folder", str(data))
    assert got.train_x.shape == (12, 3, 16, 16) and got.test_x.shape == (12, 3, 16, 16)


def test_an_unfinished_export_is_one_line_and_exit_2_when_a_sweep_is_planned(tmp_path, capsys, fresh_targets):
    data = image_tree(tmp_path / "d")
    (data / "train" / ".chunks").mkdir()
    one_line_exit_2(capsys, ["sweep", "quickstart", *T, "target.name=folder", "target.n_real=[4]", "--data-root",
                             str(data), "--root", str(tmp_path / "r"), "--dry-run"], "is an unfinished export")


# 2. The fine-tune's checkpoint is removed only once its row is saved: a kill in between kept neither.

TINY = """
name: tiny
synth: {generator: shapes, n: 0, complexity: 1, resolution: 16, channels: 1}
model: {name: resnet10t, small_input: false}
pretrain: {examples: 64, batch_size: 32, lr: 0.05}
finetune: {examples: 64, batch_size: 32, lr: 0.02, ckpt_every_s: 1.0e-9}
target: {name: sklearn_digits, n_real: [20], test_size: 100}
"""


def test_a_kill_between_the_fine_tune_and_its_row_keeps_the_finished_fine_tune(tmp_path, monkeypatch):
    import importlib

    from bench.config import load_run

    run_module = importlib.import_module("bench.run")  # (the package's `bench.run` is the function)
    (tmp_path / "tiny.yaml").write_text(TINY)
    spec = load_run(tmp_path / "tiny.yaml")
    root = tmp_path / "runs"
    ckpt = root / "runs" / spec.run_id / "ft-s20.ckpt"
    real_write = run_module.write_json_atomic

    def killed_at_the_row(obj, path):  # the process dies as it was about to save the row
        if Path(path).name == "s20.json":
            raise KeyboardInterrupt
        return real_write(obj, path)

    monkeypatch.setattr(run_module, "write_json_atomic", killed_at_the_row)
    with pytest.raises(KeyboardInterrupt):
        run_module.run(spec, root)
    assert ckpt.is_file(), "the finished fine-tune's checkpoint was removed before its row was saved"
    monkeypatch.setattr(run_module, "write_json_atomic", real_write)
    (row,) = run_module.run(spec, root)
    assert row["resumed_from_step"] == 2  # 64 examples / 32 a batch: nothing trained again
    assert not ckpt.exists()  # removed once the row is saved


def test_a_checkpoint_left_beside_a_saved_row_is_removed(tmp_path, monkeypatch):
    """A kill after the row was saved and before its checkpoint was removed: the next process, which
    keeps the row, removes the checkpoint (nothing would resume from it)."""
    import importlib

    from bench.config import load_run

    run_module = importlib.import_module("bench.run")
    (tmp_path / "tiny.yaml").write_text(TINY)
    spec = load_run(tmp_path / "tiny.yaml")
    root = tmp_path / "runs"
    run_dir = root / "runs" / spec.run_id
    (row,) = run_module.run(spec, root)
    (run_dir / "row.json").unlink()  # as if the process died before the run's row.json
    (run_dir / "ft-s20.ckpt").write_bytes(b"left")
    (again,) = run_module.run(spec, root)
    assert again == row and not (run_dir / "ft-s20.ckpt").exists()


# 3. A sweep stopped by Ctrl-C or kill still collects the rows its finished cells wrote into runs.csv.

SWEEP = TINY + "grid:\n  seed: [0]\n"
ROW = {"run_id": "abc", "generator": "none", "complexity": None, "n_synth": 0, "model": "m", "task": "none",
       "target": "t", "n_real": 1, "seed": 0, "test_err": 0.5, "test_acc": 0.5, "pretrain_examples": 0,
       "finetune_examples": 1, "wall_s": 1, "status": "ok"}


def _stopped_sweep(tmp_path, monkeypatch, signum: int):
    """`sweep` whose execution finishes one cell (its row.json), then is stopped by `signum` as the CLI
    stops it (Ctrl-C: a KeyboardInterrupt; SIGTERM: slurm.cli._terminated); returns (root, exit code)."""
    import slurm.cli
    from synth.console import stopped_by

    (tmp_path / "s.yaml").write_text(SWEEP)
    root = tmp_path / "r"

    def stopped_execute(plan, *args, **kw):
        (root / "runs" / "abc").mkdir(parents=True)
        (root / "runs" / "abc" / "row.json").write_text(json.dumps([ROW]))
        if signum != signal.SIGINT:
            stopped_by(signum)
        raise KeyboardInterrupt

    monkeypatch.setattr(slurm.cli, "execute", stopped_execute)
    code = main(["sweep", str(tmp_path / "s.yaml"), "--root", str(root), "--executor", "local"])
    return root, code


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_stopped_sweep_collects_its_finished_rows(tmp_path, monkeypatch, capsys, signum):
    root, code = _stopped_sweep(tmp_path, monkeypatch, signum)
    assert code == 128 + signum
    err = capsys.readouterr().err
    assert (root / "runs.csv").is_file(), err
    assert (root / "runs.csv").read_text().count("\n") == 2  # header and the finished cell's row
    assert f"1 row of finished cells in {root / 'runs.csv'}" in err and "interrupted; finished work is kept" in err


@pytest.mark.parametrize("failure", [OSError(28, "No space left on device"), KeyboardInterrupt()])
def test_a_collect_that_fails_after_a_stop_says_so_and_keeps_the_exit_code(tmp_path, monkeypatch, capsys, failure):
    import slurm.cli

    def failing(*args, **kw):  # a full disk, or a second Ctrl-C while it waits on the table's lock
        raise failure

    monkeypatch.setattr(slurm.cli, "collect_to_csv", failing)
    root, code = _stopped_sweep(tmp_path, monkeypatch, signal.SIGTERM)
    assert code == 143
    err = capsys.readouterr().err
    assert "Traceback" not in err and "interrupted; finished work is kept" in err
    assert f"{root / 'runs.csv'} was not updated" in err and f"`synthscale collect --root {root}` updates it" in err


# 4. The Fashion-MNIST idx cache leaves no temp behind: removed on an error, and a killed writer's
# (kill -9 skips every finally) removed by the next writer once it is an hour old.

def _temps(cache: Path) -> list[str]:
    return sorted(p.name for p in cache.glob(".idx-*.npz"))


def test_a_cache_write_cut_short_leaves_no_temp(tmp_path, monkeypatch):
    monkeypatch.setenv("SYNTHSCALE_CACHE", str(tmp_path / "cache"))
    files = [write_idx_set(tmp_path / "fm") / s for s in targets.IDX_STEMS]

    def cut_short(path, **arrays):  # half a file written, then Ctrl-C
        Path(path).write_bytes(b"PK half")
        raise KeyboardInterrupt

    monkeypatch.setattr(targets.np, "savez", cut_short)
    with pytest.raises(KeyboardInterrupt):
        targets._read_idx_cached(files)
    assert _temps(tmp_path / "cache") == []


def test_a_killed_writers_old_temp_is_removed_and_a_live_ones_kept(tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    monkeypatch.setenv("SYNTHSCALE_CACHE", str(cache))
    files = [write_idx_set(tmp_path / "fm") / s for s in targets.IDX_STEMS]
    targets._read_idx_cached(files)
    (entry,) = cache.glob("idx-*.npz")
    entry.unlink()
    old, live, other = (cache / f".{entry.stem}.dead.npz", cache / f".{entry.stem}.live.npz",
                        cache / ".idx-0123456789abcdef.dead.npz")
    for p in (old, live, other):
        p.write_bytes(b"x" * 100)
    two_hours_ago = time.time() - 7200
    for p in (old, other):
        os.utime(p, (two_hours_ago, two_hours_ago))
    got = targets._read_idx_cached(files)
    assert [a.shape for a in got] == [(40, 28, 28), (40,), (20, 28, 28), (20,)]
    assert entry.is_file()
    # another entry's temps are its own writer's business
    assert _temps(cache) == sorted([live.name, other.name])


# 5. The local cluster's files that hold the database password are private from their creation on.

def _settings():
    from slurm.localcluster.config import Settings

    return Settings(cluster_name="t", ctld_port=1, slurmd_port=2, dbd_port=3, db_port=4, db_password="secret",
                    cpus=1, memory_mb=100)


def test_the_password_files_are_created_private_not_chmod_ed_after(tmp_path, monkeypatch):
    from slurm.localcluster.config import Layout, write_configs

    def no_chmod(*args, **kw):  # whatever a later chmod does, the file was created readable by others
        return None

    for owner, name in ((os, "chmod"), (os, "fchmod"), (Path, "chmod")):
        monkeypatch.setattr(owner, name, no_chmod)
    umask = os.umask(0o022)
    try:
        layout = Layout(tmp_path / "state")
        write_configs(layout, _settings())
    finally:
        os.umask(umask)
    for path in (layout.settings_file, layout.conf_dir / "slurmdbd.conf"):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    assert "secret" in (layout.conf_dir / "slurmdbd.conf").read_text()


def test_a_password_file_already_there_is_made_private(tmp_path):
    path = tmp_path / "settings.json"
    path.write_text("old")
    path.chmod(0o644)
    _settings().save(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert json.loads(path.read_text())["db_password"] == "secret"
