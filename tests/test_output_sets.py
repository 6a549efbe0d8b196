"""Commands that write several files (compare, bound, demo) and fit's fits.json, stopped part-way
through writing them: what is left is never new files beside old ones that describe other numbers,
and the report each command writes last is missing until the set is whole (from a crash-consistency
review: a demo killed after its runs.csv kept the fits.json, figure and PROVENANCE.md of the run before)."""
from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd

RUNS = Path(__file__).resolve().parents[1] / "results" / "quickstart" / "runs.csv"


def _stop(*args, **kwargs):
    raise KeyboardInterrupt


def _halved(tmp_path: Path) -> Path:
    df = pd.read_csv(RUNS)
    df["test_err"] = df["test_err"] / 2
    df.to_csv(tmp_path / "half.csv", index=False)
    return tmp_path / "half.csv"


def test_compare_stopped_before_its_figure_leaves_no_old_report_or_figure(tmp_path: Path, monkeypatch) -> None:
    """compare writes its two tables, the forest plot, then compare.txt: stopped before the plot, the old
    compare.txt and forest.png stayed beside tables of other numbers."""
    import fits.compare
    from fits.cli import main

    out = tmp_path / "c"
    argv = ["--by", "complexity", "--boot", "200", "-o", str(out)]
    assert main(["compare", str(RUNS), *argv]) == 0
    old = (out / "compare_groups.csv").read_text()
    assert {p.name for p in out.iterdir()} >= {"compare.txt", "forest.png", "forest.pdf"}
    monkeypatch.setattr(fits.compare, "forest_plot", _stop)
    assert main(["compare", str(_halved(tmp_path)), *argv]) == 130
    assert (out / "compare_groups.csv").read_text() != old  # the new table ...
    assert sorted(p.name for p in out.iterdir()) == ["compare_groups.csv", "compare_pairs.csv"]  # ... and no old file


def test_bound_by_group_stopped_part_way_leaves_no_group_of_the_run_before(tmp_path: Path, monkeypatch) -> None:
    """bound --by writes each group's folder once it is fitted and bound.txt last: stopped after the first
    group, the second group's folder held the previous run's fit."""
    import fits.bound
    from fits.cli import main
    from fits.simulate import bound_sweep

    runs = pd.concat([bound_sweep(100, True).assign(g=k) for k in ("a", "b")], ignore_index=True)
    runs.to_csv(tmp_path / "runs.csv", index=False)
    out = tmp_path / "b"
    argv = ["bound", str(tmp_path / "runs.csv"), "--by", "g", "-o", str(out)]
    assert main(argv) == 0
    assert (out / "bound.txt").is_file() and (out / "g=b" / "bound.json").is_file()
    written = fits.bound._write_one
    calls = []

    def second_stops(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return written(*args, **kwargs)

    monkeypatch.setattr(fits.bound, "_write_one", second_stops)
    assert main(argv) == 130
    assert (out / "g=a" / "bound.json").is_file() and not (out / "bound.txt").exists()
    assert list((out / "g=b").iterdir()) == []


def test_a_stopped_write_of_fits_json_keeps_the_old_file_whole(tmp_path: Path, monkeypatch) -> None:
    """fits.json was rewritten in place: a stop while writing it destroyed the previous fits too."""
    import fits.datasets
    from fits.cli import main

    out = tmp_path / "fits.json"
    assert main(["fit", str(RUNS), "-o", str(out)]) == 0
    old = out.read_text()
    monkeypatch.setattr(fits.datasets.os, "replace", _stop)  # (fits.datasets.write_aside renames it)
    assert main(["fit", str(_halved(tmp_path)), "-o", str(out)]) == 130
    assert out.read_text() == old and [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_a_demo_stopped_after_its_runs_table_keeps_no_outputs_of_the_demo_before(tmp_path: Path, monkeypatch) -> None:
    """demo writes runs.csv, fits.json, the figure, config.yaml and PROVENANCE.md last: stopped after the
    table, the fits, figure and provenance of the earlier demo stayed beside it."""
    import fits
    from bench.cli import main
    from tests.test_demo_review import FAST

    monkeypatch.chdir(tmp_path)
    (tmp_path / "fast.yaml").write_text(FAST)
    argv = ["demo", "--config", "fast.yaml", "--root", "r", "--out", "o", "--executor", "debug"]
    monkeypatch.setattr(sys, "argv", ["synthscale", *argv])
    assert main(argv) == 0
    assert {p.name for p in (tmp_path / "o").iterdir()} >= {"fits.json", "scaling.png", "PROVENANCE.md"}
    monkeypatch.setattr(fits, "fit_runs", _stop)
    assert main(argv) == 130
    assert sorted(p.name for p in (tmp_path / "o").iterdir()) == ["runs.csv"]


def test_a_refused_bound_by_group_keeps_the_outputs_of_the_run_before(tmp_path: Path) -> None:
    """bound --by cleared its old files before fitting: a table it then refused (no group could be fitted) left
    the folder empty of the last good run's bound.txt and every group's fit."""
    from fits.cli import main
    from fits.simulate import bound_sweep

    good = pd.concat([bound_sweep(100, True).assign(g=k) for k in ("a", "b")], ignore_index=True)
    good.to_csv(tmp_path / "good.csv", index=False)
    good[good["n_real"] == good["n_real"].min()].to_csv(tmp_path / "one_s.csv", index=False)  # no group can be fitted
    out = tmp_path / "b"
    assert main(["bound", str(tmp_path / "good.csv"), "--by", "g", "-o", str(out)]) == 0
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    assert main(["bound", str(tmp_path / "one_s.csv"), "--by", "g", "-o", str(out)]) == 2
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before


def test_fit_writes_a_fits_json_whose_name_is_near_the_file_systems_limit(tmp_path: Path) -> None:
    """fits.json was written under its own name plus '.<pid>.part': a 250-byte output name, legal, gave a
    temporary name past the 255-byte limit and a 36-line double traceback after the fit."""
    from fits.cli import main

    out = tmp_path / ("a" * 245 + ".json")
    assert main(["fit", str(RUNS), "-o", str(out)]) == 0 and out.is_file()


def test_plot_reads_the_seed_column_fit_was_given(tmp_path: Path, monkeypatch) -> None:
    """fit --seed rep fitted rep as seeds, but plot, given no --seed, drew every point with one marker (no seed
    key) under a title saying points = seeds: fits.json now names the column, and plot reads it."""
    import numpy as np

    import fits.plot
    from fits.cli import main

    rng = np.random.default_rng(0)
    pd.DataFrame([{"n_synth": n, "test_err": 0.5 * n ** -0.3 + 0.1 + rng.normal(0, 0.005), "rep": r}
                  for n in (100, 200, 400, 800, 1600) for r in range(3)]).to_csv(tmp_path / "rep.csv", index=False)
    assert main(["fit", str(tmp_path / "rep.csv"), "--seed", "rep", "--by", "", "-o", str(tmp_path / "f.json")]) == 0
    drawn = []
    monkeypatch.setattr(fits.plot, "plot_scaling", lambda runs, doc, path: drawn.append(runs) or [path])
    assert main(["plot", str(tmp_path / "rep.csv"), str(tmp_path / "f.json"), "-o", str(tmp_path / "p.png")]) == 0
    assert sorted(drawn[0]["seed"].unique()) == [0, 1, 2]
