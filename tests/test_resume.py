"""Interruption, resume and concurrency as a researcher meets them: Ctrl-C and kill of runs and local
sweeps, damaged checkpoints, read-only roots. Real processes, real signals, tiny runs."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

TINY_RUN = """
name: tiny
synth: {{generator: shapes, n: 32, complexity: 1, resolution: 16, channels: 1}}
model: {{name: resnet10t, small_input: false}}
pretrain: {{examples: {pre}, batch_size: 32, lr: 0.05, ckpt_every_s: 100000}}
finetune: {{examples: 64, batch_size: 32, lr: 0.02, ckpt_every_s: 100000}}
target: {{name: fashion_mnist, n_real: [20], test_size: 100}}
grid:
  synth.n: {sizes}
"""
REPO = Path(__file__).resolve().parents[1]


def tiny_config(folder: Path, sizes: str = "[0, 32]", pre: int = 64) -> Path:
    p = folder / "tiny.yaml"
    p.write_text(TINY_RUN.format(sizes=sizes, pre=pre))
    return p


def _env() -> dict[str, str]:
    return {**os.environ, "OMP_NUM_THREADS": "1"}


def _without_root_rights() -> list[str]:
    """A command prefix under which a folder's permission bits hold even for root (who may have run
    the tests): setpriv drops the capabilities that let root write anywhere."""
    if os.geteuid() != 0:
        return []
    if shutil.which("setpriv") is None:
        pytest.skip("running as root without setpriv (util-linux): cannot make a folder read-only")
    return ["setpriv", "--bounding-set=-dac_override,-dac_read_search,-fowner"]


@pytest.mark.parametrize("argv", [["sweep", "{cfg}", "--root", "{ro}/x", "--executor", "local"],
                                  ["sweep", "{cfg}", "--root", "{ro}", "--executor", "debug"],
                                  ["run", "{cfg}", "--root", "{ro}/x"],
                                  ["collect", "--root", "{cfg_dir}", "-o", "{ro}/runs.csv"]])
def test_read_only_root_is_one_line_and_exit_2(tmp_path, argv):
    """A root (or output) in a folder nobody may write to: one line naming it, exit 2, no traceback."""
    cfg = tiny_config(tmp_path)
    runs = tmp_path / "runs" / "abc"  # a finished run for collect to gather
    runs.mkdir(parents=True)
    (runs / "row.json").write_text('[{"run_id": "abc", "generator": "none", "complexity": null, '
                                   '"n_synth": 0, "model": "m", "task": "none", "target": "t", '
                                   '"n_real": 1, "seed": 0, "test_err": 0.5, "test_acc": 0.5, '
                                   '"pretrain_examples": 0, "finetune_examples": 1, "wall_s": 1, '
                                   '"status": "ok"}]')
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    args = [a.format(cfg=cfg, ro=ro, cfg_dir=tmp_path) for a in argv]
    res = subprocess.run([*_without_root_rights(), sys.executable, "-m", "bench.cli", *args],
                         cwd=REPO, capture_output=True, text=True, timeout=120, env=_env())
    assert res.returncode == 2, res.stderr[-2000:]
    assert "Traceback" not in res.stderr
    assert str(ro) in res.stderr and "ermission denied" in res.stderr
    assert list(ro.iterdir()) == []
