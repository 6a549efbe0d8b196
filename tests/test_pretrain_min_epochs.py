"""pretrain.min_epochs: a pre-training budget that grows with n, max(pretrain.examples, ceil(min_epochs * n))
(bench.config.pretrain_examples). A fixed budget below n shows min(n, drawn) images and flattens the curve past
it; before the field, the only way to grow the budget with n was one config per n. The budget is computed per
cell, never written into pretrain.examples (a value resolved from the base's n leaked into every grid cell), and
the run id holds the budget, not how it was asked for: every existing run keeps its id."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

from bench.cli import main
from bench.commands import resolve_config
from bench.config import identity_leaves, load_run, load_sweep

# the quickstart's base cell (shapes c=1 n=1000, seed 0, 16384 examples), computed on the code before the field
QUICKSTART_BASE_ID = "52896da7af90"

TINY = """
name: tiny
synth: {generator: shapes, n: 64, complexity: 1, resolution: 16, channels: 1}
model: {name: resnet10t, small_input: false}
pretrain: {examples: 32, batch_size: 32, lr: 0.05, min_epochs: 1}
finetune: {examples: 64, batch_size: 32, lr: 0.02}
target: {name: fashion_mnist, n_real: [20], test_size: 100}
threads: 1
"""


def quick(**overrides):
    return load_run(resolve_config("quickstart"), {k.replace("__", "."): v for k, v in overrides.items()})


@pytest.mark.parametrize("n, examples, epochs, budget", [
    (0, 1000, 1, 0),  # scratch: no pre-training
    (100, 1000, 1, 1000),  # small n keep the floor
    (1000, 1000, 1, 1000),
    (8000, 1000, 1, 8000),
    (8000, 1000, 2.5, 20000),
    (1001, 100, 0.5, 501),  # ceil: 500.5 examples are 501
    (1000, 10, 1.1, 1100),
    (100, 10, 1.1, 110),  # as written: 1.1 * 100 in floats is 110.00000000000001, not 111 examples
    (3, 1, 1 / 3, 1),
    (8000, 1000, None, 1000),  # unset: the fixed budget
])
def test_the_budget_grows_with_n_above_its_floor(n, examples, epochs, budget):
    from bench.config import pretrain_distinct, pretrain_examples

    spec = quick(synth__n=n, pretrain__examples=examples, pretrain__min_epochs=epochs)
    assert pretrain_examples(spec) == budget
    assert spec.pretrain.examples == examples  # the field itself is never rewritten
    if epochs is not None and epochs >= 1:  # every image shown
        assert pretrain_distinct(spec) == n


def test_the_run_id_holds_the_budget_not_how_it_was_asked_for():
    grown = quick(synth__n=8000, pretrain__examples=1000, pretrain__min_epochs=1)
    explicit = quick(synth__n=8000, pretrain__examples=8000)
    assert (grown.run_id, grown.pretrain_id, grown.sizes_free_id) == (
        explicit.run_id, explicit.pretrain_id, explicit.sizes_free_id)
    assert identity_leaves(grown) == identity_leaves(explicit)
    assert "pretrain.min_epochs" not in identity_leaves(grown)
    assert grown.run_id != quick(synth__n=8000, pretrain__examples=1000).run_id  # a larger budget: another run
    # a min_epochs that does not raise the budget (500 < 16384 examples) keeps the cell's id, which a config
    # without it (the packaged quickstart) keeps too
    same = quick(pretrain__min_epochs=0.5)
    assert same.run_id == quick().run_id == QUICKSTART_BASE_ID
    assert quick(synth__n=0, pretrain__min_epochs=3).run_id == quick(synth__n=0).run_id  # scratch: no budget


def test_each_grid_cell_gets_the_budget_of_its_own_n(tmp_path):
    """The base's n = 5000 would have made every cell's budget 5000 had the budget been resolved once."""
    from bench.config import pretrain_examples

    cfg = tmp_path / "grow.yaml"
    cfg.write_text(TINY.replace("n: 64", "n: 5000").replace("examples: 32, batch_size: 32",
                                                            "examples: 1000, batch_size: 32")
                   + "grid:\n  synth.n: [0, 100, 2000, 5000, 8000]\n")
    cells = {c.synth.n: c for c in load_sweep(cfg).cells()}
    assert {n: pretrain_examples(c) for n, c in cells.items()} == {0: 0, 100: 1000, 2000: 2000, 5000: 5000,
                                                                   8000: 8000}
    for n, c in cells.items():  # each the run of its explicit budget
        explicit = load_run(cfg, {"synth.n": n, "pretrain.min_epochs": None,
                                  "pretrain.examples": max(1000, n)})
        assert c.run_id == explicit.run_id, n


@pytest.mark.parametrize("axis, needle", [
    (["pretrain.min_epochs=[0.5, 1]"], "grid.pretrain.min_epochs: values that give a cell one budget"),
    (["pretrain.min_epochs=[1, 2]"], "grid.pretrain.min_epochs: values that give a cell one budget"),
    (["pretrain.min_epochs=1", "pretrain.examples=[100, 200]"],
     "grid.pretrain.examples with pretrain.min_epochs set: where ceil(min_epochs * synth.n) is above the values")])
def test_an_axis_over_the_budget_with_min_epochs_is_refused(tmp_path, capsys, axis, needle):
    """Cells where two values give one budget are one run shared by both (min_epochs 1 and 2 at n <= 8192 under
    quickstart's 16384 examples; every cell of examples 100 and 200 under min_epochs 1), and the rows record the
    budget, not min_epochs: a review's table could not be split into the values' curves (fit asked for --by
    pretrain_examples). [0.5, 1] gave one budget everywhere and was refused; [1, 2] ran, inseparable."""
    assert main(["sweep", "quickstart", *axis, "--root", str(tmp_path / "r"), "--dry-run"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and needle in err and "run one sweep per value, each with its own --root" in err


def test_a_sweep_runs_its_longest_cells_first_by_their_grown_budget(tmp_path, capsys):
    """slurm.plan's order: n = 10000 (10000 examples), then n = 3200, then the 1024-example cells."""
    assert main(["sweep", "quickstart", "pretrain.examples=1024", "pretrain.min_epochs=1", "--root",
                 str(tmp_path / "r"), "--dry-run"]) == 0
    lines = capsys.readouterr().out.splitlines()[1:]
    sizes = [line.split()[3] for line in lines if "scratch" not in line]
    assert sizes == ["n=10000"] * 4 + ["n=3200"] * 4 + sizes[8:] and "n=10000" not in sizes[8:], lines


def _warnings(capsys, tmp_path: Path, *overrides: str) -> list[str]:
    assert main(["sweep", "quickstart", *overrides, "--root", str(tmp_path / "r"), "--dry-run"]) == 0
    out, err = capsys.readouterr()
    return [line for line in (out + err).splitlines() if line.startswith("warning")]


def test_the_budget_warning_knows_min_epochs(tmp_path, capsys):
    from bench.config import budget_warning

    assert _warnings(capsys, tmp_path, "pretrain.examples=1024", "pretrain.min_epochs=1") == []
    assert budget_warning([quick(synth__n=10000, pretrain__examples=1024, pretrain__min_epochs=1)]) is None
    # half an epoch shows half the images: n = 3200 draws 1664 examples (1600 in whole batches of 128)
    (half,) = _warnings(capsys, tmp_path, "pretrain.examples=1024", "pretrain.min_epochs=0.5")
    assert half.startswith("warning: synth.n up to 10000 exceeds the budget of pretrain.examples=1024 and "
                           "pretrain.min_epochs=0.5 in 8 cells:"), half
    assert "(1664 to 5120 here)" in half and half.endswith("set pretrain.min_epochs: 1 to show every image "
                                                           "(or raise pretrain.examples to at least 10000)"), half
    # a fixed budget's advice names the option
    (fixed,) = _warnings(capsys, tmp_path, "pretrain.examples=1024")
    assert fixed.endswith("raise pretrain.examples to at least 10000, or set pretrain.min_epochs: 1, or read the "
                          "curve only up to 1024"), fixed


def _cell_steps(root: Path, spec) -> int:
    return torch.load(root / "pretrain" / spec.pretrain_id / "final.pt", map_location="cpu",
                      weights_only=False)["steps"]


def test_a_run_trains_and_records_its_grown_budget(tmp_path, caplog):
    """n = 64 at 32 examples and min_epochs 1: two batches of 32, every image shown, no warning."""
    from bench.run import run

    cfg = tmp_path / "tiny.yaml"
    cfg.write_text(TINY)
    spec = load_run(cfg)
    with caplog.at_level("WARNING"):
        (row,) = run(spec, tmp_path)
    assert (row["pretrain_examples"], row["pretrain_distinct"], row["n_synth"]) == (64, 64, 64)
    assert _cell_steps(tmp_path, spec) == 2
    assert "exceeds" not in caplog.text


def test_a_generalize_run_trains_its_grown_budget(tmp_path, caplog):
    """The generalize protocol's synthetic training: 48 images, 32 examples, min_epochs 1 -> 3 batches of 16."""
    from bench.run import run

    spec = load_run(resolve_config("generalize"), {"synth.n": 48, "pretrain.examples": 32,
                                                   "pretrain.batch_size": 16, "pretrain.min_epochs": 1,
                                                   "threads": 1})
    with caplog.at_level("WARNING"):
        (row,) = run(spec, tmp_path)
    assert (row["pretrain_examples"], row["pretrain_distinct"], row["n_synth"]) == (48, 48, 48)
    assert _cell_steps(tmp_path, spec) == 3
    assert "exceeds" not in caplog.text


@pytest.mark.parametrize("value, says", [
    ("0", "input should be greater than 0, got 0"),
    ("-1", "input should be greater than 0, got -1"),
    ("x", "input should be a valid number, got 'x'"),
    ("inf", "input should be a valid number, got 'inf'"),  # (YAML reads inf as text)
    (".inf", "input should be a finite number, got inf"),
    ("true", "input should be a valid number, got True"),
])
def test_a_bad_min_epochs_is_one_line(tmp_path, capsys, value, says):
    assert main(["run", "quickstart", f"pretrain.min_epochs={value}", "--root", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.splitlines() == [f"synthscale: error: pretrain.min_epochs: {says}"], err
    assert not (tmp_path / "r").exists()


def test_a_bad_min_epochs_in_a_file_is_one_line(tmp_path, capsys):
    cfg = tmp_path / "bad.yaml"
    cfg.write_text(TINY.replace("min_epochs: 1", "min_epochs: .nan"))
    assert main(["sweep", str(cfg), "--root", str(tmp_path / "r"), "--dry-run"]) == 2
    assert capsys.readouterr().err.strip() == "synthscale: error: pretrain.min_epochs: input should be a finite " \
                                              "number, got nan"
