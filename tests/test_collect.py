"""`synthscale collect`: every runs/*/row.json is read once, and what it leaves out is said."""
from __future__ import annotations

import importlib
import json
from pathlib import Path

import pandas as pd
import pytest

from bench.cli import main
from bench.run import COLUMNS

collect_module = importlib.import_module("bench.collect")  # `bench.collect` is also the function


def _row(run_id: str) -> dict:
    return {c: 0 for c in COLUMNS} | {"run_id": run_id, "generator": "shapes", "n_real": 20}


def _runs(root: Path, texts: dict[str, str]) -> None:
    for rid, text in texts.items():
        (root / "runs" / rid).mkdir(parents=True)
        (root / "runs" / rid / "row.json").write_text(text)


def test_collect_reads_each_row_file_once_and_names_the_ones_it_leaves_out(tmp_path, capsys, monkeypatch):
    good = {f"g{i:011d}": json.dumps([_row(f"g{i:011d}")]) for i in range(2)}
    bad = {f"b{i:011d}": text for i, text in enumerate(['[{"trunc', "{}", "[]", "x", json.dumps([{"a": 1}])])}
    _runs(tmp_path, good | bad)
    (tmp_path / "runs" / "unfinished0").mkdir()  # no row.json yet: neither a row nor left out
    reads: list[str] = []
    real = collect_module.read_rows
    monkeypatch.setattr(collect_module, "read_rows", lambda d: reads.append(d.name) or real(d))

    assert main(["collect", "--root", str(tmp_path)]) == 0
    out, err = capsys.readouterr()
    assert sorted(reads) == sorted([*good, *bad, "unfinished0"]), "each run folder read once"
    assert out == f"2 rows -> {tmp_path / 'runs.csv'}\n"
    shown = ", ".join(str(tmp_path / "runs" / rid / "row.json") for rid in sorted(bad)[:3])
    assert err == (f"warning: 5 runs/*/row.json unreadable or incomplete, left out of the table (rerun the "
                   f"sweep to redo them): {shown} and 2 more\n")
    assert sorted(pd.read_csv(tmp_path / "runs.csv")["run_id"]) == sorted(good)


def test_collect_with_no_rows_says_so_before_touching_the_output(tmp_path, capsys):
    """No row.json at all: nothing is made (a mistyped root stays absent). Only damaged ones, and an
    output that cannot be written: still 'no finished runs', naming a damaged file."""
    missing = tmp_path / "typo"
    assert main(["collect", "--root", str(missing)]) == 2
    assert capsys.readouterr().err.strip() == (f"synthscale: error: --root {str(missing)!r} does not exist; "
                                               "give the --root of a sweep or run")
    assert not missing.exists()
    (tmp_path / "a_file").write_text("")  # used to say "does not exist" of it
    assert main(["collect", "--root", str(tmp_path / "a_file")]) == 2
    assert "is a file, not a folder" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert main(["collect", "--root", str(tmp_path / "empty")]) == 2
    assert capsys.readouterr().err.strip() == (f"synthscale: error: no finished runs under {tmp_path / 'empty'} "
                                               "(looked for runs/*/row.json)")

    _runs(tmp_path, {"aaaaaaaaaaaa": '[{"trunc'})
    (tmp_path / "file").write_text("")
    assert main(["collect", "--root", str(tmp_path), "-o", str(tmp_path / "file" / "runs.csv")]) == 2
    assert capsys.readouterr().err.strip() == (
        f"synthscale: error: no finished runs under {tmp_path} (looked for runs/*/row.json; 1 unreadable or "
        f"incomplete, e.g. {tmp_path / 'runs' / 'aaaaaaaaaaaa' / 'row.json'}: rerun the sweep to redo them)")
    assert not (tmp_path / "runs.csv").exists()

    _runs(tmp_path, {"bbbbbbbbbbbb": json.dumps([_row("bbbbbbbbbbbb")])})
    assert main(["collect", "--root", str(tmp_path), "-o", str(tmp_path / "file" / "runs.csv")]) == 2
    assert "file' is a file, not a folder" in capsys.readouterr().err  # was "cannot write ...: Not a directory"


def test_collect_into_a_folder_where_no_file_can_be_made_is_one_line_not_a_hang(tmp_path, capsys):
    """/proc exists but takes no new file: filelock waited for ever on the lock it could not create."""
    if not Path("/proc/self").exists():
        pytest.skip("needs Linux /proc")
    _runs(tmp_path, {"cccccccccccc": json.dumps([_row("cccccccccccc")])})
    assert main(["collect", "--root", str(tmp_path), "-o", "/proc/x.csv"]) == 2
    assert capsys.readouterr().err.strip().startswith("synthscale: error: cannot write '/proc/x.csv': ")


def _written_run(root: Path, spec, s: int, err: float) -> None:
    """A finished run as bench.run leaves it: its resolved config and its row (measured columns
    filled with the given error)."""
    from bench.config import dump_yaml
    from bench.run import design_row

    d = root / "runs" / spec.run_id
    d.mkdir(parents=True)
    (d / "config.yaml").write_text(dump_yaml(spec))
    row = {c: 0 for c in COLUMNS} | design_row(spec, s) | {"test_err": err, "test_acc": 1 - err, "status": "ok"}
    (d / "row.json").write_text(json.dumps([row]))


def test_fields_the_runs_differ_in_beyond_the_rows_columns_get_a_column_each(tmp_path):
    """A grid over finetune.lr (or two submissions with different overrides to one root): the rows
    had no column for it, so fit took the two rates for repeated measurements. Now each such field
    is a column named by its path; a scratch run has no pre-training fields (left empty), and the
    fields all runs share get none."""
    from bench.config import RunSpec
    from fits import fit_runs
    from fits.core import FitInputError

    specs = []
    for lr in (0.01, 0.02):
        for n in (0, 100, 300, 1000):
            for seed in (0, 1):
                specs.append(RunSpec.model_validate({
                    "synth": {"n": n, "complexity": 1}, "seed": seed,
                    "pretrain": {"lr": 0.05 if n < 1000 else 0.1}, "finetune": {"lr": lr},
                    "target": {"n_real": [20]}}))
    for i, spec in enumerate(specs):
        _written_run(tmp_path, spec, 20, 0.5 + 0.1 / (1 + spec.synth.n) + 0.01 * i % 3)
    df = collect_module.collect(tmp_path)
    added = [c for c in df.columns if "." in c]
    assert added == ["finetune.lr", "pretrain.lr"], df.columns.tolist()
    assert sorted(df["finetune.lr"].unique()) == [0.01, 0.02]
    assert df.loc[df["n_synth"] == 0, "pretrain.lr"].isna().all()
    assert set(df.loc[df["n_synth"] > 0, "pretrain.lr"]) == {0.05, 0.1}

    with pytest.raises(FitInputError, match=r"differ in 'finetune.lr' \(0.01, 0.02\).*by='complexity,finetune.lr'"):
        fit_runs(df)
    fits = fit_runs(df, by="finetune.lr")
    assert list(fits["groups"]) == ["0.01", "0.02"] and all("params" in g for g in fits["groups"].values())

    from slurm.tracking import cell_labels  # status lines: no two cells read the same

    labels = cell_labels(specs)
    assert len(set(labels.values())) == len(specs)
    assert labels[specs[2].run_id].endswith("seed=0 finetune.lr=0.01 pretrain.lr=0.05")
    assert labels[specs[0].run_id] == "scratch resnet10t seed=0 finetune.lr=0.01"


@pytest.mark.parametrize("out, needle", [
    (".", "-o '.' is a folder; give the table's file name"),     # was ValueError: ... has an empty name
    ("new/", "-o 'new/' is a folder"),                             # wrote a file named new
    ("afile/x.csv", "-o 'afile/x.csv': 'afile' is a file, not a folder"),  # said "File exists"
    ("", "-o is empty; give the table's file name"),               # wrote r/runs.csv instead
    # wrote plain CSV under the name (a .gz that fit's pandas then tried to gunzip)
    ("x.parquet", "-o 'x.parquet': the runs table is written as plain CSV, not .parquet; name it x.csv"),
    ("new/runs.csv.gz", "-o 'new/runs.csv.gz': the runs table is written as plain CSV, not .gz; name it runs.csv"),
    ("t.tsv.xz", "not .xz; name it t.csv"),
])
def test_collect_output_that_names_a_folder_or_lies_under_a_file(tmp_path, capsys, monkeypatch, out, needle):
    _runs(tmp_path / "r", {"a": json.dumps([_row("a")])})
    (tmp_path / "afile").write_text("x")
    monkeypatch.chdir(tmp_path)
    assert main(["collect", "--root", "r", "-o", out]) == 2
    err = capsys.readouterr().err.strip()
    assert needle in err and len(err.splitlines()) == 1, err
    assert not (tmp_path / "new").exists() and not list(tmp_path.rglob(".*.tmp"))


def test_collect_replaces_a_runs_table_but_not_another_file(tmp_path, capsys):
    # `collect -o q.yaml` replaced the sweep's config with the table, exit 0
    _runs(tmp_path / "r", {"a": json.dumps([_row("a")])})
    config = tmp_path / "q.yaml"
    config.write_text("name: q\n")
    assert main(["collect", "--root", str(tmp_path / "r"), "-o", str(config)]) == 2
    err = capsys.readouterr().err.strip()
    assert "is a file that is not a runs table" in err and len(err.splitlines()) == 1, err
    assert err.endswith("give another path, or move that file away"), err
    assert config.read_text() == "name: q\n"
    (tmp_path / "r" / "runs.csv").write_text("notes\n")  # where a sweep writes its table: no other path to give
    assert main(["sweep", "quickstart", "--root", str(tmp_path / "r"), "--dry-run"]) == 2
    err = capsys.readouterr().err.strip()
    assert "ROOT/runs.csv" in err and err.endswith("which the table would replace: move that file away"), err
    table = tmp_path / "old_runs.csv"  # a table collect wrote before: replaced, as a rerun should
    pd.DataFrame([_row("b")]).to_csv(table, index=False)
    assert main(["collect", "--root", str(tmp_path / "r"), "-o", str(table)]) == 0
    assert list(pd.read_csv(table)["run_id"]) == ["a"]


def test_a_sweep_whose_table_path_is_a_folder_says_so_before_it_runs(tmp_path, capsys):
    # every cell ran, then the table's rename ended in an IsADirectoryError traceback
    (tmp_path / "r" / "runs.csv").mkdir(parents=True)
    assert main(["sweep", "quickstart", "--root", str(tmp_path / "r"), "--executor", "debug"]) == 2
    err = capsys.readouterr().err.strip()
    assert "ROOT/runs.csv" in err and "is a folder" in err and len(err.splitlines()) == 1, err
    assert not (tmp_path / "r" / "runs" ).exists()


def test_write_csv_leaves_no_temporary_file_when_the_rename_fails(tmp_path):
    (tmp_path / "t.csv").mkdir()
    with pytest.raises(IsADirectoryError):
        collect_module.write_csv(pd.DataFrame({"a": [1]}), tmp_path / "t.csv")
    assert [p.name for p in tmp_path.iterdir()] == ["t.csv"]


def test_collect_to_dash_prints_the_table_and_writes_no_file(tmp_path, capsys, monkeypatch):
    # -o - wrote a file named "-" in the working folder
    import io

    _runs(tmp_path / "r", {"g00000000001": json.dumps([_row("g00000000001")])})
    monkeypatch.chdir(tmp_path)
    assert main(["collect", "--root", str(tmp_path / "r"), "-o", "-"]) == 0
    out, err = capsys.readouterr()
    assert pd.read_csv(io.StringIO(out))["run_id"].tolist() == ["g00000000001"]
    assert err == "1 row -> stdout\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r"] and not (tmp_path / "r" / "runs.csv").exists()


def test_a_run_written_before_a_field_existed_reads_as_it_ran(tmp_path):
    """A run's config.yaml holds every field it had: one written before finetune.recompute_bn or the
    flips fields, read with today's defaults, named another run (its id no longer its folder's, and
    its row's finetune.recompute_bn / finetune.flips columns said what it did not do)."""
    import yaml

    from bench.config import apply_overrides, dump_yaml, identity_leaves, load_run

    repo = Path(__file__).resolve().parents[1]
    new = load_run(repo / "bench/configs/quickstart.yaml", {"synth.n": 1000, "target.name": "mnist5k"})
    ran = apply_overrides(new, {"finetune.recompute_bn": False, "finetune.flips": True, "pretrain.flips": True})
    old = yaml.safe_load(dump_yaml(ran))
    for section, key in (("finetune", "recompute_bn"), ("finetune", "flips"), ("pretrain", "flips")):
        del old[section][key]
    path = tmp_path / ran.run_id / "config.yaml"
    path.parent.mkdir()
    path.write_text(yaml.safe_dump(old))
    got = collect_module.read_run_spec(path)
    assert got.run_id == ran.run_id == path.parent.name != new.run_id
    leaves = identity_leaves(got)
    assert leaves["finetune.recompute_bn"] is False and leaves["finetune.flips"] is True
    path.write_text(dump_yaml(new))  # a run of today's code keeps what it wrote
    assert collect_module.read_run_spec(path).run_id == new.run_id


def test_a_knob_the_runs_set_differently_gets_a_column_of_its_own():
    """A sweep over synth.knobs.n_categories could be told apart only by the whole `knobs` JSON (fit
    --by knobs: labels of ~200 characters); the runs at the preset (no override) read its value."""
    from bench.config import load_run

    repo = Path(__file__).resolve().parents[1]
    base = {"synth.n": 1000, "synth.complexity": 1}
    specs = [load_run(repo / "bench/configs/quickstart.yaml", base | extra)
             for extra in ({}, {"synth.knobs": {"n_categories": 5}}, {"synth.n": 0})]
    used = {"generator": "shapes", "complexity": 1, "n_categories": 10, "n_views": 12}
    rows = [{"run_id": specs[0].run_id, "knobs": json.dumps(used)},
            {"run_id": specs[1].run_id, "knobs": json.dumps(used | {"n_categories": 5})},
            {"run_id": specs[2].run_id, "knobs": ""}]
    collect_module.add_config_columns(rows, {s.run_id: s for s in specs})
    assert [r.get("synth.knobs.n_categories") for r in rows] == [10, 5, None]
    assert not any("synth.knobs.n_views" in r for r in rows)  # the same in every run: no column


def test_runs_that_differ_only_in_their_real_sizes_give_each_size_once(tmp_path, capsys):
    """Adding a real size to a finished study ([50, 100] -> [50, 100, 200]) gave two rows at s = 50 and
    100 under two run ids, the same measurement, and a target.n_real column with which fit and bound
    refused the table (pooling two configs). Each size is now kept once, and collect says so."""
    from bench.config import dump_yaml, load_run

    repo = Path(__file__).resolve().parents[1]
    base = {"synth.n": 1000, "seed": 0}
    runs = {sizes: load_run(repo / "bench/configs/quickstart.yaml", base | {"target.n_real": list(sizes)})
            for sizes in ((50, 100), (50, 100, 200), (200,))}
    other_seed = load_run(repo / "bench/configs/quickstart.yaml", base | {"seed": 1, "target.n_real": [50]})
    for spec in [*runs.values(), other_seed]:
        d = tmp_path / "runs" / spec.run_id
        d.mkdir(parents=True)
        (d / "config.yaml").write_text(dump_yaml(spec))
        (d / "row.json").write_text(json.dumps([_row(spec.run_id) | {"n_real": s, "seed": spec.seed}
                                                for s in spec.target.n_real]))
    assert main(["collect", "--root", str(tmp_path)]) == 0
    err = capsys.readouterr().err
    table = pd.read_csv(tmp_path / "runs.csv")
    assert sorted(zip(table.seed, table.n_real)) == [(0, 50), (0, 100), (0, 200), (1, 50)]
    assert "target.n_real" not in table.columns
    assert "3 rows at a real size that another run folder of the same config" in err  # 50, 100 and 200 once each


def test_a_root_of_stopped_runs_says_they_finished_some_sizes(tmp_path, capsys):
    """A run stopped after some of its real sizes has rows/s<n>.json but no row.json; collect said only
    'no finished runs', as of an empty root."""
    part = tmp_path / "runs" / "aaaaaaaaaaaa" / "rows"
    part.mkdir(parents=True)
    (part / "s50.json").write_text(json.dumps(_row("aaaaaaaaaaaa")))
    assert main(["collect", "--root", str(tmp_path)]) == 2
    assert capsys.readouterr().err.strip() == (
        f"synthscale: error: no finished runs under {tmp_path} (looked for runs/*/row.json; 1 run finished some "
        f"real sizes but not all, e.g. {tmp_path / 'runs' / 'aaaaaaaaaaaa'}: run the same sweep or run command "
        "again to finish them)")


def _sized_run(root: Path, spec, errs: dict[int, float]) -> None:
    """A finished run of `spec` whose row at each real size s has test_err errs[s] (which run's row a
    merge kept is then told by its error, not only by its run_id)."""
    from bench.config import dump_yaml

    d = root / "runs" / spec.run_id
    d.mkdir(parents=True)
    (d / "config.yaml").write_text(dump_yaml(spec))
    (d / "row.json").write_text(json.dumps([_row(spec.run_id) | {"n_real": s, "n_synth": spec.synth.n,
                                                                 "test_err": errs[s]}
                                            for s in spec.target.n_real]))


def test_collect_of_some_runs_merges_among_them_only(tmp_path):
    """demo tabulates its own cells of a shared root: the merge of runs that differ only in their real
    sizes kept another config's row at s = 100 (sorted first), which demo's filter then dropped, so
    its own cells lost that size. `only` picks the runs before the merge. Here demo's run of each
    pair is the one whose folder sorts last: a collect that ignored `only`, or merged before it,
    kept the other run's rows."""
    from bench.config import load_run

    repo = Path(__file__).resolve().parents[1]
    planned, first = [], []
    for n in (32, 100):
        pair = sorted((load_run(repo / "bench/configs/quickstart.yaml", {"synth.n": n, "target.n_real": sizes})
                       for sizes in ([100], [100, 200])), key=lambda spec: spec.run_id)
        for k, spec in enumerate(pair):
            _sized_run(tmp_path, spec, {s: 0.5 + 0.1 * k + s / 1000 for s in spec.target.n_real})
        first.append(pair[0])
        planned.append(pair[1])

    def rows(df):
        return sorted(zip(df["n_synth"], df["n_real"], df["run_id"], df["test_err"]))

    mine = collect_module.collect(tmp_path, only={spec.run_id for spec in planned})
    assert rows(mine) == sorted((spec.synth.n, s, spec.run_id, 0.6 + s / 1000)
                                for spec in planned for s in spec.target.n_real)
    whole = collect_module.collect(tmp_path)  # each (n, s) once, from the folder sorted first where both have s
    assert rows(whole) == sorted((a.synth.n, s, a.run_id if s in a.target.n_real else b.run_id,
                                  (0.5 if s in a.target.n_real else 0.6) + s / 1000)
                                 for a, b in zip(first, planned) for s in {100, 200})


def test_a_size_two_runs_measured_is_kept_from_the_run_folder_sorted_first(tmp_path):
    """merge_size_lists keeps one row of a real size that runs differing only in their list of sizes
    both have: the first run folder's in sorted order, as its docstring says. The rows of a rerun can
    differ in their last bits (another thread count) and in wall_s; which one the table holds must not
    depend on the order the folders were listed or the rows were read in."""
    from bench.config import load_run

    repo = Path(__file__).resolve().parents[1]
    a, b = sorted((load_run(repo / "bench/configs/quickstart.yaml", {"synth.n": 1000, "target.n_real": sizes})
                   for sizes in ([50, 100], [100, 200])), key=lambda spec: spec.run_id)
    _sized_run(tmp_path, a, {s: 0.3 + s / 1000 for s in a.target.n_real})
    _sized_run(tmp_path, b, {s: 0.4 + s / 1000 for s in b.target.n_real})
    got = collect_module.gather(tmp_path)
    shared = set(a.target.n_real) & set(b.target.n_real)
    assert got.merged == len(shared) == 1
    kept = {s: (a.run_id, 0.3 + s / 1000) if s in a.target.n_real else (b.run_id, 0.4 + s / 1000)
            for s in {*a.target.n_real, *b.target.n_real}}
    assert {s: (r, e) for s, r, e in zip(got.table["n_real"], got.table["run_id"], got.table["test_err"])} == kept
    assert len(got.table) == 3


def test_collect_sorts_rows_by_generator_complexity_sizes_and_seed(tmp_path):
    """The table's rows are in one order whatever the run folders' names (hashes) are: by generator,
    complexity, n_synth, n_real, then seed, so a diff of two collects shows what changed, not a
    shuffle. The folders here are named against that order."""
    specs = {"a": ("shapes", 2, 100, 20, 0), "b": ("none", None, 0, 20, 1), "c": ("shapes", 1, 1000, 20, 0),
             "d": ("shapes", 1, 100, 40, 0), "e": ("shapes", 1, 100, 20, 1), "f": ("shapes", 1, 100, 20, 0),
             "g": ("digits", 0, 100, 20, 0)}
    names = ("generator", "complexity", "n_synth", "n_real", "seed")
    _runs(tmp_path, {rid * 12: json.dumps([_row(rid * 12) | dict(zip(names, v))]) for rid, v in specs.items()})
    df = collect_module.collect(tmp_path)
    assert [rid[0] for rid in df["run_id"]] == ["g", "b", "f", "e", "d", "c", "a"]
    assert df["complexity"].dtype == "Int64" and df["complexity"].isna().tolist() == [False, True] + [False] * 5
    assert df.columns.tolist()[:len(COLUMNS)] == COLUMNS


def test_a_list_or_mapping_valued_field_is_one_json_cell(monkeypatch):
    """A field the runs differ in whose value is a list or a mapping gets one JSON text cell (keys
    sorted), as the knobs column is: a Python list in a cell would be written to the CSV as its repr
    ([0.5, None, True]), which no JSON reader takes, and a dict's cell would depend on its key order.
    Scalars stay as they are. (Today's only list field, target.n_real, is in every row already, so
    the runs' identity leaves are given here.)"""
    leaves = {"a": {"x.list": [0.5, None, True], "x.map": {"b": 1, "a": [2]}, "x.num": 3, "x.text": "t"},
              "b": {"x.list": [], "x.map": {}, "x.num": 4, "x.text": "u"}}
    monkeypatch.setattr(collect_module, "varying_identity", lambda specs: sorted(leaves["a"]))
    monkeypatch.setattr(collect_module, "identity_leaves", lambda spec: leaves[spec])
    rows = [{"run_id": "a", "knobs": ""}, {"run_id": "b", "knobs": ""}]
    collect_module.add_config_columns(rows, {"a": "a", "b": "b"})
    assert rows == [
        {"run_id": "a", "knobs": "", "x.list": "[0.5, null, true]", "x.map": '{"a": [2], "b": 1}', "x.num": 3,
         "x.text": "t"},
        {"run_id": "b", "knobs": "", "x.list": "[]", "x.map": "{}", "x.num": 4, "x.text": "u"}]
