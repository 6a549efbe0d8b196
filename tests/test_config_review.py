"""What a new user's first mistakes print: the dry run of a grid extended by one value, and the one-line
errors for an override the shell split, a scalar for a list field, a scalar grid axis and a grid key
written at the top level. Each says what to write instead."""
import json
import re
from pathlib import Path

import pytest

from bench.cli import main
from bench.config import RunSpec, apply_overrides, load_run, load_sweep, parse_overrides
from bench.run import COLUMNS
from slurm.profiles import load_profile
from synth.errors import UserError

CX = """\
name: cx
synth: {generator: shapes, n: 32, complexity: 1, resolution: 16, channels: 1}
pretrain: {examples: 64, batch_size: 32}
finetune: {examples: 64, batch_size: 32, lr: 0.015}
target: {name: fashion_mnist, n_real: [20], test_size: 100}
grid:
  synth.n: [0, 32]
  seed: [0, 1]
"""


def write(tmp_path: Path, text: str, name: str = "c.yaml") -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


def finish_all(cfg: Path, root: Path) -> None:
    """A row.json for every cell of `cfg`, as if its sweep had run."""
    for spec in load_sweep(cfg).cells():
        (root / "runs" / spec.run_id).mkdir(parents=True)
        row = {**dict.fromkeys(COLUMNS, 0), "run_id": spec.run_id}
        (root / "runs" / spec.run_id / "row.json").write_text(json.dumps([row]))


def one_line_exit_2(capsys, argv: list[str]) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    return err


@pytest.mark.parametrize("override, todo, label", [
    ("finetune.lr=[0.015,0.05]", 4, "finetune.lr=0.05"),  # the scratch cells fine-tune at 0.05 too
    ("synth.knobs.n_categories=[10,30]", 2, "synth.knobs.n_categories=30"),  # 10 is the preset: the done cells
])
def test_dry_run_of_an_extended_grid_names_the_value_it_adds(tmp_path, capsys, override, todo, label):
    """Over a root holding the runs of the first value, the cells to run all have the added value, so
    it varied among none of them and no line said it: `28 cells: 14 done, 14 to run` and lines that read
    like the finished ones. Docs/bench.md: each line shows the fields the grid varies."""
    cfg, root = write(tmp_path, CX), tmp_path / "r"
    finish_all(cfg, root)
    assert main(["sweep", str(cfg), override, "--root", str(root), "--executor", "local", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert f"{4 + todo} cells: 4 done, {todo} to run" in out
    cells = [ln for ln in out.splitlines() if re.match(r"  [0-9a-f]{12}  ", ln)]
    assert len(cells) == todo and all(ln.endswith(f" {label}") for ln in cells), cells


def test_a_list_the_shell_split_says_to_quote_the_whole_override(tmp_path, capsys):
    """`synth.n=[0, 32]` unquoted reaches the program as `synth.n=[0,` and `32]`: the error said only
    that the value is not valid YAML, not why or what to type."""
    err = one_line_exit_2(capsys, ["sweep", "quickstart", "synth.n=[0,", "32]", "seed=[0]",
                                   "--root", str(tmp_path / "r"), "--dry-run"])
    assert err == ("synthscale: error: override 'synth.n=[0,': the value is not valid YAML (the shell split the "
                   "list at a space); quote the whole override, e.g. \"synth.n=[0, 32]\" or synth.n='[0, 32]'")
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize("items, message", [
    (["synth={n:", "3,", "complexity:", "1}"], "override 'synth={n:': the value is not valid YAML (the shell split "
     "the mapping at a space); quote the whole override, e.g. \"synth={n: 3, complexity: 1}\" or "
     "synth='{n: 3, complexity: 1}'"),
    # quoted but not closed: nothing after it completes it
    (["synth.n=[0, 32", "seed=1"], "override 'synth.n=[0, 32': the value is not valid YAML (the list is not "
     "closed); close it and quote the whole override, e.g. \"synth.n=[0, 32]\" or synth.n='[0, 32]'"),
    # split, and one of its values missing its bracket: the values up to the next override are kept (a review:
    # the advice was synth.n=[0], dropping the 32)
    (["synth.n=[0,", "32", "seed=0"], "override 'synth.n=[0,': the value is not valid YAML (the list is not "
     "closed); close it and quote the whole override, e.g. \"synth.n=[0, 32]\" or synth.n='[0, 32]'"),
    # other invalid values: no advice about brackets
    (["synth.n=a: b: c"], "override 'synth.n=a: b: c': the value is not valid YAML"),
    (["synth.n=[0, 32]]"], "override 'synth.n=[0, 32]]': the value is not valid YAML"),
])
def test_an_unclosed_list_or_mapping_says_how_to_fix_it(items, message):
    with pytest.raises(UserError) as err:
        parse_overrides(items)
    assert str(err.value) == message


def test_a_scalar_for_a_list_field_says_to_write_a_list(tmp_path, capsys):
    """`target.n_real=200` said "input should be a valid list, got 200" and left the user to guess the
    spelling; a grid over it (each value must be a list itself) said the same of its first value."""
    err = one_line_exit_2(capsys, ["sweep", "quickstart", "target.n_real=200", "--root", str(tmp_path / "r"),
                                   "--dry-run"])
    assert err == ("synthscale: error: target.n_real: input should be a valid list, got 200; it takes a list, "
                   "even of one value: write [200] (as an override: target.n_real='[200]')")
    with pytest.raises(UserError) as exc:
        load_sweep(write(tmp_path, "grid: {target.n_real: [100, 200]}\n"))
    assert str(exc.value) == ("grid.target.n_real: input should be a valid list, got 100; target.n_real takes a "
                              "list, so each grid value is one: write target.n_real: [[100], ...] under `grid:` "
                              "(or set the whole list once, outside the grid)")
    assert apply_overrides(RunSpec(), {"target.n_real": [200]}).target.n_real == [200]  # the advice works


@pytest.mark.parametrize("grid, message", [
    ("{seed: 0}", "grid: seed: 0 is one value, not a list; write a list, e.g. `seed: [0]`"),
    ("{synth.n: [0, 32], pretrain.lr: 0.1}", "grid: pretrain.lr: 0.1 is one value, not a list; write a list, "
     "e.g. `pretrain.lr: [0.1]`"),
    ("{synth: {n: [0, 32]}}", "grid: synth: expected a list of values, got a mapping; grid keys are dotted "
     "field names, e.g. `synth.n: [0, 32]`"),
    ("{seed: }", "grid: seed has no values; give a list, e.g. `seed: [A, B]`, or remove it"),
])
def test_a_grid_axis_that_is_not_a_list_is_named(tmp_path, grid, message):
    """`grid: {seed: 0}` said "expected a mapping of dotted keys to lists of values" without naming
    seed, in a file whose grid is a mapping."""
    cfg = write(tmp_path, f"grid: {grid}\n")
    with pytest.raises(UserError) as err:
        load_sweep(cfg)
    assert str(err.value) == f"{cfg}: {message}"
    assert load_sweep(write(tmp_path, "grid: {seed: [0]}\n", "fixed.yaml")).grid == {"seed": [0]}


@pytest.mark.parametrize("line, message", [
    ("synth.n: [0, 32]", "synth.n: a dotted key at the top level; put it under `grid:` as a list of values "
     "(`grid: {synth.n: [0, 32]}`), or nest it under its section (`synth: {n: ...}`)"),
    ("synth.knobs.clutter: 0.5", "synth.knobs.clutter: a dotted key at the top level; put it under `grid:` as a "
     "list of values (`grid: {synth.knobs.clutter: [0.5]}`), or nest it under its section "
     "(`synth: {knobs: {clutter: 0.5}}`)"),
    # a list-valued field: its list is one value
    ("target.n_real: [100]", "target.n_real: a dotted key at the top level; put it under `grid:` as a list of "
     "values (`grid: {target.n_real: [[100]]}`), or nest it under its section (`target: {n_real: [100]}`)"),
    # ... also when it is given one bare value: both suggestions must load (a review: they said [100] and 100)
    ("target.n_real: 100", "target.n_real: a dotted key at the top level; put it under `grid:` as a list of "
     "values (`grid: {target.n_real: [[100]]}`), or nest it under its section (`target: {n_real: [100]}`)"),
    # not a section: the spelling advice as before
    ("seed.x: 1", "seed.x: unknown key; did you mean 'seed'? (keys here: name, synth, model, task, pretrain, "
     "finetune, target, seed, threads, device, protocol, asg, grid)"),
])
def test_a_grid_key_at_the_top_level_says_where_it_goes(tmp_path, line, message):
    """`synth.n: [0, 32]` beside `grid:` got "unknown key; did you mean 'synth'?", as if misspelt."""
    cfg = write(tmp_path, f"{line}\ngrid: {{seed: [0]}}\n")
    for load in (load_sweep, load_run):
        with pytest.raises(UserError) as err:
            load(cfg)
        assert str(err.value) == message


def test_a_dotted_key_at_the_top_of_a_profile_says_to_nest_it(tmp_path):
    """A profile has no grid: the advice is only to nest the key under its section."""
    with pytest.raises(UserError) as err:
        load_profile(write(tmp_path, "resources.partition: gpu\n", "site.yaml"))
    assert str(err.value) == (f"{tmp_path / 'site.yaml'}: resources.partition: a dotted key at the top level; "
                              "nest it under its section (`resources: {partition: gpu}`)")


def test_synthscale_config_prints_every_field_as_yaml_that_reads_back_as_the_same_cells(tmp_path, capsys) -> None:
    """A new user found no reference of a config's fields and defaults (only the packaged file, through
    a results README): `synthscale config NAME [overrides]` prints them, as a config the sweep reads."""
    import yaml

    from bench.cli import main
    from bench.commands import resolve_config
    from bench.config import load_sweep

    assert main(["config", "quickstart", "finetune.lr=0.03"]) == 0
    text = capsys.readouterr().out
    assert text.startswith("# quickstart with finetune.lr=0.03: every run field (defaults included)")
    fields = yaml.safe_load(text)
    assert fields["finetune"]["lr"] == 0.03 and fields["finetune"]["recompute_bn"] is True  # a default written out
    assert fields["pretrain"]["min_epochs"] is None and fields["grid"]["seed"] == [0, 1]
    out = tmp_path / "full.yaml"
    out.write_text(text)
    want = load_sweep(resolve_config("quickstart"), {"finetune.lr": 0.03}).cells()
    assert [c.run_id for c in load_sweep(out).cells()] == [c.run_id for c in want]
    assert main(["config", "quickstrat"]) == 2
    err = capsys.readouterr().err
    assert "did you mean 'quickstart'" in err and len(err.strip().splitlines()) == 1
