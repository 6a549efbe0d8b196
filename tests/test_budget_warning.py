"""The pre-training budget against synth.n. Batches are cut from per-epoch permutations of the n images
(bench.data.IndexStream), so a run shows at most as many distinct images as its budget draws: a grid
whose n outgrows pretrain.examples gets a curve flat past the budget for that reason alone, which
`compare` read as "more data removed nothing". A sweep says so in one line, a run in its log, and
each row records pretrain_distinct. Not refused: a fixed budget is a legitimate design."""
from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd
import pytest
import torch

from bench.cli import main
from bench.commands import resolve_config
from bench.config import load_run
from bench.data import IndexStream

TINY = """
name: tiny
synth: {generator: shapes, n: 64, complexity: 1, resolution: 16, channels: 1}
model: {name: resnet10t, small_input: false}
pretrain: {examples: 32, batch_size: 32, lr: 0.05}
finetune: {examples: 64, batch_size: 32, lr: 0.02}
target: {name: fashion_mnist, n_real: [20], test_size: 100}
threads: 1
grid:
  synth.n: [0, 64]
"""


def dry_run(capsys, tmp_path: Path, config: str, *overrides: str) -> tuple[str, list[str]]:
    """The dry run's stdout, and its lines (of both streams) that warn."""
    assert main(["sweep", config, *overrides, "--root", str(tmp_path / "r"), "--dry-run"]) == 0
    out, err = capsys.readouterr()
    return out, [line for line in (out + err).splitlines() if line.startswith("warning")]


def test_a_grid_past_its_budget_gets_one_warning_line(tmp_path, capsys):
    """The review's cheap look: the quickstart grid (n up to 10000) with pretrain.examples=1024. Its
    cells at n = 3200 and 10000 (2 complexities x 2 seeds each; not the scratch cells) show 1024
    distinct images each: one line for the whole grid, after an unchanged plan."""
    out, warned = dry_run(capsys, tmp_path, "quickstart", "pretrain.examples=1024")
    assert out.splitlines()[0].startswith("26 cells: 0 done, 26 to run"), out
    assert warned == ["warning: synth.n up to 10000 exceeds pretrain.examples=1024 in 8 cells: a run shows at most "
                      "1024 distinct images, so sizes past 1024 measure the same budget; raise pretrain.examples to "
                      "at least 10000, or set pretrain.min_epochs: 1, or read the curve only up to 1024"]


@pytest.mark.parametrize("overrides", [
    (),  # the packaged quickstart: n up to 10000 under its 16384 examples
    ("synth.n=[0, 1024]", "pretrain.examples=1024"),  # every image shown once
    ("synth.n=[0, 1000, 1024]", "pretrain.examples=1000"),  # 8 whole batches of 128 draw 1024
])
def test_a_grid_within_its_budget_is_silent(tmp_path, capsys, overrides):
    assert dry_run(capsys, tmp_path, "quickstart", *overrides)[1] == []


def test_the_warning_counts_the_examples_whole_batches_draw(tmp_path, capsys):
    """pretrain.examples=1000 at batch 128 runs 8 steps, 1024 images: n = 1100 is past it, and the
    line says where 1024 comes from."""
    _, warned = dry_run(capsys, tmp_path, "quickstart", "synth.n=[0, 1100]", "pretrain.examples=1000")
    assert warned == ["warning: synth.n=1100 exceeds pretrain.examples=1000 in 4 cells: a run shows at most 1024 "
                      "distinct images (pretrain.examples in whole batches of 128), so sizes past 1024 measure the "
                      "same budget; raise pretrain.examples to at least 1100, or set pretrain.min_epochs: 1, or read "
                      "the curve only up to 1024"]


def test_the_generalize_protocols_synthetic_training_is_checked_too(tmp_path, capsys):
    """Its synthetic training draws batches as pre-training does (bench.asg_run.make_batches): the packaged
    config's n = 8000 cells (2 targets x 2 conditions x 4 seeds) show 6400 of their images."""
    _, warned = dry_run(capsys, tmp_path, "generalize")
    assert warned == ["warning: synth.n=8000 exceeds pretrain.examples=6400 in 16 cells: a run shows at most 6400 "
                      "distinct images, so sizes past 6400 measure the same budget; raise pretrain.examples to at "
                      "least 8000, or set pretrain.min_epochs: 1, or read the curve only up to 6400"]


@pytest.mark.parametrize("n, examples, batch_size", [(3200, 1024, 128), (1100, 1000, 128), (1024, 1000, 128),
                                                     (64, 32, 32), (50, 6400, 64), (0, 1024, 128)])
def test_pretrain_distinct_is_what_the_index_stream_shows(n, examples, batch_size):
    """The count against the real stream over the stage's ceil(examples / batch_size) steps (bench.train);
    0 for scratch."""
    from bench.config import pretrain_distinct

    spec = load_run(resolve_config("quickstart"), {"synth.n": n, "pretrain.examples": examples,
                                                   "pretrain.batch_size": batch_size})
    steps = math.ceil(examples / batch_size)
    shown = torch.cat([IndexStream(n, batch_size, spec.seed)(k) for k in range(steps)]).unique().numel() if n else 0
    assert pretrain_distinct(spec) == shown


def test_a_sweep_warns_once_each_run_logs_it_and_rows_record_pretrain_distinct(tmp_path, capsys):
    """A real (debug) sweep of a scratch cell and an n = 64 cell with a budget of 32: the grid's line
    once on stderr, the n = 64 run's warning in its log.txt (the scratch run's log has none), and the
    rows' pretrain_distinct (32; 0 for scratch, as its pretrain_examples). A row written before the
    column still collects beside them, with the cell blank."""
    cfg, root = tmp_path / "tiny.yaml", tmp_path / "r"
    cfg.write_text(TINY)
    assert main(["sweep", str(cfg), "--root", str(root), "--executor", "debug"]) == 0
    err = capsys.readouterr().err
    line = ("synth.n=64 exceeds pretrain.examples=32{}: a run shows at most 32 distinct images, so sizes past 32 "
            "measure the same budget; raise pretrain.examples to at least 64, or set pretrain.min_epochs: 1, or "
            "read the curve only up to 32")
    assert [x for x in err.splitlines() if x.startswith("warning")] == ["warning: " + line.format(" in 1 cell")], err
    rows = {r["n_synth"]: r for d in (root / "runs").iterdir() for r in json.loads((d / "row.json").read_text())}
    assert (rows[64]["pretrain_distinct"], rows[0]["pretrain_distinct"], rows[0]["pretrain_examples"]) == (32, 0, 0)
    logs = {n: (root / "runs" / r["run_id"] / "log.txt").read_text() for n, r in rows.items()}
    assert logs[64].count(f"run {rows[64]['run_id']}: {line.format('')}") == 1, logs[64]
    assert "exceeds" not in logs[0], logs[0]

    old = {k: v for k, v in rows[64].items() if k != "pretrain_distinct"} | {"run_id": "0123456789ab", "seed": 1}
    (root / "runs" / "0123456789ab").mkdir()
    (root / "runs" / "0123456789ab" / "row.json").write_text(json.dumps([old]))
    assert main(["collect", "--root", str(root)]) == 0
    df = pd.read_csv(root / "runs.csv").set_index("run_id")
    assert df.loc[rows[64]["run_id"], "pretrain_distinct"] == 32 and df.loc[rows[0]["run_id"], "pretrain_distinct"] == 0
    assert pd.isna(df.loc["0123456789ab", "pretrain_distinct"])


def test_a_generalize_row_records_pretrain_distinct(tmp_path, caplog):
    """A tiny generalize run (as tests/test_bench_inputs.py makes one) trains on 96 images for 64
    examples: its row says 64, and its warning is logged once."""
    from bench.run import run

    spec = load_run(resolve_config("generalize"), {"synth.n": 96, "pretrain.examples": 64,
                                                   "pretrain.batch_size": 16, "threads": 1})
    with caplog.at_level("WARNING"):
        (row,) = run(spec, tmp_path)
    assert row["pretrain_distinct"] == 64 and row["n_synth"] == 96
    assert caplog.text.count("synth.n=96 exceeds pretrain.examples=64: a run shows at most 64 distinct images") == 1


def test_fit_does_not_take_the_distinct_count_for_a_condition() -> None:
    """Rows written before pretrain_distinct existed leave it blank: a repeat of a cell across that change
    must not be explained as two conditions ("they differ in 'pretrain_distinct' ... add it to --by")."""
    import fits
    from fits.errors import FitInputError

    rows = [{"run_id": f"r{n}{s}", "n_synth": n, "seed": s, "complexity": 1, "test_err": 2 * n ** -0.5 + 0.1,
             "pretrain_distinct": 64} for n in (100, 200, 400, 800) for s in (0, 1)]  # a budget of 64
    rows.append(rows[0] | {"run_id": "old", "pretrain_distinct": None})  # the same cell, collected before
    with pytest.raises(FitInputError) as info:
        fits.fit_runs(pd.DataFrame(rows))
    assert "repeat one measurement" in str(info.value) and "pretrain_distinct" not in str(info.value), info.value
