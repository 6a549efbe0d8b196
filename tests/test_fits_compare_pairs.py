"""compare's answer to the question users bring ("is complexity 2 better than complexity 1?") as one
sentence per pair, read from d_L with its verdict from Holm's p, and the forest plot's third panel: the
fitted error at each group's largest size, beside the scratch runs' mean."""
from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

import fits
from fits.compare import OUTSIDE, compare_runs, forest_figure, pair_sentence, pairs_note, report
from fits.table import fmt_ci, fmt_num

SIZES = 100 * 2.0 ** np.arange(6)
REPO = Path(__file__).resolve().parents[1]


def _curve(complexity: int, y_of, n_seeds: int = 4, noise: float = 0.02, seed: int = 0,
           sizes: np.ndarray = SIZES) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x, g = np.repeat(sizes, n_seeds), np.tile(np.arange(n_seeds), len(sizes))
    return pd.DataFrame({"n_synth": x, "seed": g, "complexity": complexity,
                         "test_err": y_of(x) * np.exp(rng.normal(0, noise, len(x)))})


def _scratch(errors: list[float], **columns) -> pd.DataFrame:
    return pd.DataFrame({"n_synth": 0, "seed": range(len(errors)), "complexity": np.nan, "test_err": errors,
                         **columns})


def _flipped(row: pd.Series, k: str) -> str:
    """b - a as the sentence prints it when a is the lower (or b the higher): the pairs row's a - b negated."""
    return fmt_ci(-row[f"d_{k}"], -row[f"d_{k}_hi"], -row[f"d_{k}_lo"])


def _pair_lines(text: str) -> list[str]:
    return [ln for ln in text.splitlines() if " vs complexity=" in ln]


def test_a_pair_told_apart_says_which_is_lower_by_how_much_and_that_it_is_better() -> None:
    """complexity=1 sits 0.2 below complexity=2 at every size: its sentence names it the lower and the
    better, with the pairs row's d_L (as b - a) and Holm p, and adds the gap C told apart too; 4 seeds each
    (few_seeds) hedge the verdict."""
    df = pd.concat([_curve(1, lambda n: 2 * n ** -0.5 + 0.1), _curve(2, lambda n: 2 * n ** -0.5 + 0.3, seed=1)])
    res = compare_runs(df, n_boot=100)
    row = res["pairs"].iloc[0]
    assert row["d_L_hi"] < 0 and row["p_L_holm"] < 0.05 and row["p_C_holm"] < 0.05 and row["p_alpha_holm"] >= 0.05
    want = (f"complexity=1 vs complexity=2: at n_synth = 3,200, the largest size inside both measured ranges, "
            f"complexity=1's fitted test_err is lower by {_flipped(row, 'L')} (p Holm {row['p_L_holm']:.3f}): "
            f"complexity=1 is better there (4 and 4 seeds: few_seeds, read it as provisional); also told apart: "
            f"complexity=1 has the lower gap (C lower by "
            f"{_flipped(row, 'C')}, p Holm {row['p_C_holm']:.3f}).")
    assert row["sentence"] == want
    text = report(res)
    assert _pair_lines(text) == [want]
    # under the pair tables and their notes, before the groups' decision sentences
    lines = text.splitlines()
    assert lines.index(want) < lines.index(next(ln for ln in lines if ln.startswith("complexity=1: doubling")))
    assert lines.index(want) > lines.index(next(ln for ln in lines if ln.startswith("p: one pair's")))


def test_the_steeper_curve_is_named_with_its_alpha_difference() -> None:
    """b steeper (alpha 0.8 against 0.3) and lower: b's numbers are the row's a - b as they stand."""
    df = pd.concat([_curve(1, lambda n: 2 * n ** -0.3 + 0.1), _curve(2, lambda n: 20 * n ** -0.8 + 0.1, seed=1)])
    row = compare_runs(df, n_boot=100)["pairs"].iloc[0]
    assert row["d_alpha_hi"] < 0 and row["p_alpha_holm"] < 0.05 and row["d_L_lo"] > 0, row.to_dict()
    assert (f"complexity=2's fitted test_err is lower by {fmt_ci(row['d_L'], row['d_L_lo'], row['d_L_hi'])} "
            f"(p Holm {row['p_L_holm']:.3f}): complexity=2 is better there (4 and 4 seeds: few_seeds, read it as "
            f"provisional); also told apart: complexity=2's curve is "
            f"steeper (alpha higher by {_flipped(row, 'alpha')}, p Holm {row['p_alpha_holm']:.3f})") in row["sentence"]


def test_a_pair_not_told_apart_says_so_with_its_difference() -> None:
    df = pd.concat([_curve(1, lambda n: 2 * n ** -0.5 + 0.2), _curve(2, lambda n: 2 * n ** -0.5 + 0.2, seed=1)])
    res = compare_runs(df, n_boot=100)
    row = res["pairs"].iloc[0]
    assert row["d_L_lo"] < 0 < row["d_L_hi"] and row["p_L_holm"] >= 0.05
    want = (f"complexity=1 vs complexity=2: at n_synth = 3,200, the largest size inside both measured ranges, "
            f"complexity=1's fitted test_err minus complexity=2's is "
            f"{fmt_ci(row['d_L'], row['d_L_lo'], row['d_L_hi'])} (p Holm {row['p_L_holm']:.3f}): not told apart there.")
    assert row["sentence"] == want and _pair_lines(report(res)) == [want]
    assert "better" not in want and "lower by" not in want


@pytest.mark.parametrize("n_boot,apart", [(100, False), (200, True)])
def test_holms_p_decides_the_verdict_when_several_pairs_are_compared(n_boot, apart) -> None:
    """Three groups 0.1 apart: each pair's interval leaves 0 out (p = 2 / draws). With 100 draws Holm's p is
    0.06 for all three: not told apart once the 3 pairs are accounted for (the sentence must not call it
    better beside a p Holm column that says otherwise), and 0.06 is the floor 100 draws allow, which it says;
    with 200 it is 0.03: better, after the adjustment."""
    df = pd.concat([_curve(c, lambda n, c=c: 2 * n ** -0.5 + 0.1 * c, seed=c) for c in (1, 2, 3)])
    res = compare_runs(df, n_boot=n_boot)
    pairs = res["pairs"]
    assert (pairs["d_L_hi"] < 0).all() and (pairs["p_L"] < 0.05).all(), pairs
    assert ((pairs["p_L_holm"] < 0.05) == apart).all(), pairs
    for _, row in pairs.iterrows():
        a, b = f"complexity={row['a']}", f"complexity={row['b']}"
        lower = f"{a}'s fitted test_err is lower by {_flipped(row, 'L')}"
        if apart:
            assert (f"{lower} (p Holm {row['p_L_holm']:.3f} after Holm's adjustment for 3 pairs): {a} is better there"
                    in row["sentence"]), row["sentence"]
        else:
            assert row["sentence"].startswith(f"{a} vs {b}: ") and row["sentence"].endswith(
                f"{lower} (p {row['p_L']:.3f} for this pair alone), but not told apart once the 3 pairs are "
                f"accounted for (p Holm {row['p_L_holm']:.3f}, the smallest 100 draws allow for 3 pairs: rerun with "
                "--boot 121 or more)."), row["sentence"]
    assert _pair_lines(report(res)) == list(pairs["sentence"])


def test_a_pair_without_a_common_size_or_without_intervals_says_why_nothing_is_said() -> None:
    rng = np.random.default_rng(0)
    rows = [{"complexity": c, "seed": s, "n_synth": n, "test_err": 0.5 * n ** -0.3 + 0.1 + rng.normal(0, 0.003)}
            for c, sizes in ((1, (30, 100, 300, 1000)), (2, (3000, 10000, 30000, 100000))) for s in (0, 1, 2)
            for n in sizes]
    res = compare_runs(pd.DataFrame(rows), n_boot=50)
    (sentence,) = _pair_lines(report(res))
    assert sentence == res["pairs"]["sentence"][0]
    assert sentence.startswith("complexity=1 vs complexity=2: their n_synth ranges do not overlap (30 to 1,000 and "
                               "3,000 to 100,000), so at any size one fitted curve would be read outside its data and "
                               "nothing here says which is better there: measure both at a shared n_synth"), sentence
    # one run at each of 3 sizes: no noise estimate, so d_L has no interval and no p-value
    rows = [{"complexity": c, "n_synth": n, "test_err": e}
            for c, errs in ((1, (0.46, 0.51, 0.55)), (3, (0.6, 0.5, 0.45))) for n, e in zip((32, 100, 320), errs)]
    res = compare_runs(pd.DataFrame(rows), n_boot=20)
    row = res["pairs"].iloc[0]
    assert np.isnan(row["d_L_lo"]) and np.isfinite(row["d_L"])
    assert _pair_lines(report(res)) == [
        f"complexity=1 vs complexity=3: at n_synth = 320, the largest size inside both measured ranges, complexity=1's "
        f"fitted test_err minus complexity=3's is {fmt_num(row['d_L'])}, but the fits of complexity=1 and "
        "complexity=3 have no points left over to estimate the noise, so it has no interval or p-value: nothing "
        "tells them apart (measure more sizes or seeds)."]


def test_more_than_six_pairs_print_only_those_told_apart_and_count_the_rest() -> None:
    """Five groups (10 pairs) at 40 draws: no Holm p can reach 0.05, so no pair sentence is printed, one line
    counts them, and every pair keeps its sentence in the table."""
    from fits.compare import pair_sentences

    df = pd.concat([_curve(c, lambda n, c=c: 2 * n ** -0.5 + 0.05 * c, n_seeds=3, seed=c) for c in range(5)])
    res = compare_runs(df, n_boot=40)
    assert len(res["pairs"]) == 10 and res["pairs"]["sentence"].str.startswith("complexity=").all()
    text = report(res)
    assert _pair_lines(text) == []
    assert ("The 10 pairs are not told apart at their n_common (p Holm of d_L >= 0.05); each pair's sentence is in "
            "the pairs table (compare_pairs.csv, column sentence).") in text.splitlines()
    # some told apart, some not, one without d_L: the told-apart pairs' sentences, then the rest counted
    pairs = pd.DataFrame({"sentence": [f"s{i}" for i in range(8)],
                          "p_L": [0.01, 0.01, 0.5, 0.3, 0.2, 0.6, 0.01, np.nan],
                          "p_L_holm": [0.04, 0.03, 1, 1, 1, 1, 0.06, np.nan]})
    assert pair_sentences(pairs) == ["s0", "s1", "The other 5 pairs are not told apart at their n_common (p Holm of "
                                     "d_L >= 0.05); 1 pair has no d_L or no p-value for it (the notes above say "
                                     "why); each pair's sentence is in the pairs table (compare_pairs.csv, column "
                                     "sentence)."]
    assert pair_sentences(pairs.iloc[:6]) == [f"s{i}" for i in range(6)]  # six pairs: every sentence


def test_compare_pairs_csv_has_each_pairs_sentence(tmp_path: Path) -> None:
    from fits.cli import main

    df = pd.concat([_curve(1, lambda n: 2 * n ** -0.5 + 0.1), _curve(2, lambda n: 2 * n ** -0.5 + 0.3, seed=1),
                    _curve(3, lambda n: 2 * n ** -0.5 + 0.2, seed=2)])
    df.to_csv(tmp_path / "runs.csv", index=False)
    assert main(["compare", str(tmp_path / "runs.csv"), "--boot", "40", "-o", str(tmp_path / "c")]) == 0
    pairs = pd.read_csv(tmp_path / "c" / "compare_pairs.csv")
    assert list(pairs.columns)[-1] == "sentence"
    assert pairs["sentence"].tolist() == compare_runs(df, n_boot=40)["pairs"]["sentence"].tolist()
    assert pairs["sentence"][0].startswith("complexity=1 vs complexity=2: at n_synth = 3,200")
    text = (tmp_path / "c" / "compare.txt").read_text()
    assert all(s in text for s in pairs["sentence"])
    groups = pd.read_csv(tmp_path / "c" / "compare_groups.csv")
    assert {"L_max", "L_max_lo", "L_max_hi"} <= set(groups.columns)


def _level_axis(res: dict) -> tuple:
    fig = forest_figure(res)
    assert len(fig.axes) == 3, fig.axes
    return fig, fig.axes[2]


def test_forest_plot_draws_the_fitted_error_at_each_groups_largest_size_and_the_shared_scratch_line() -> None:
    """The third panel plots L_max with its interval (the same draws as the groups' intervals), and one
    dashed scratch line when every group shares its scratch runs."""
    df = pd.concat([_curve(1, lambda n: 2 * n ** -0.5 + 0.1), _curve(2, lambda n: 2 * n ** -0.5 + 0.3, seed=1,
                                                                      sizes=SIZES[:4]),
                    _scratch([0.5, 0.52, 0.49])], ignore_index=True)
    res = compare_runs(df, n_boot=40)
    g = res["groups"]
    for key, n_max in (("1", 3200.0), ("2", 800.0)):
        part = df[(df["complexity"] == float(key)) & (df["n_synth"] > 0)]
        fit = fits.fit_curve(part.n_synth, part.test_err, groups=part.seed)
        row = g[g["complexity"].astype(str) == key].iloc[0]
        assert row["n_max"] == n_max and row["L_max"] == pytest.approx(float(fit.predict([n_max])[0]), rel=1e-9)
        assert (row["L_max_lo"], row["L_max_hi"]) == pytest.approx(fit.band([n_max])[0].tolist() + fit.band(
            [n_max])[1].tolist(), rel=1e-9)
    fig, ax = _level_axis(res)
    try:
        (bars,) = ax.containers
        assert bars.lines[0].get_xdata().tolist() == g["L_max"].tolist()
        assert bars.lines[0].get_ydata().tolist() == [1, 0]  # the first group on top
        assert ax.get_xlabel().startswith("fitted test_err at each group's largest n_synth")
        assert sorted(t.get_text() for t in ax.texts) == ["at 3,200", "at 800"]
        (line,) = [c for c in ax.collections if c.get_label() == "scratch (n_synth = 0)"]
        (seg,) = line.get_segments()
        assert seg[:, 0].tolist() == [pytest.approx(np.mean([0.5, 0.52, 0.49]))] * 2
        assert [t.get_text() for t in ax.get_legend().get_texts()] == ["scratch (n_synth = 0)"]
    finally:
        plt.close(fig)


def test_forest_plot_draws_each_groups_own_scratch_mean_or_none() -> None:
    df = pd.concat([_curve(1, lambda n: 2 * n ** -0.5 + 0.2).assign(n_real=100),
                    _curve(2, lambda n: 2 * n ** -0.5 + 0.1, seed=1).assign(n_real=200),
                    _scratch([0.5, 0.52], n_real=100), _scratch([0.3, 0.31], n_real=200)], ignore_index=True)
    fig, ax = _level_axis(compare_runs(df, n_boot=40))
    try:
        (line,) = [c for c in ax.collections if c.get_label() == "scratch (n_synth = 0)"]
        assert [s[0, 0] for s in line.get_segments()] == [pytest.approx(0.51), pytest.approx(0.305)]
        assert [s[:, 1].mean() for s in line.get_segments()] == [1, 0]  # each on its own row
        assert ax.get_xlabel().startswith("fitted test_err at the groups' largest n_synth\n(3,200;")
    finally:
        plt.close(fig)
    no_scratch = pd.concat([_curve(1, lambda n: 2 * n ** -0.5 + 0.2), _curve(2, lambda n: n ** -0.5 + 0.2, seed=1)])
    fig, ax = _level_axis(compare_runs(no_scratch, n_boot=40))
    try:
        assert not [c for c in ax.collections if "scratch" in c.get_label()] and ax.get_legend() is None
    finally:
        plt.close(fig)


def test_forest_plot_draws_a_flat_groups_level_like_any_other() -> None:
    """quickstart's complexity 3 is flat: its C panel shows only a span, but its fitted level is identified and
    sits in the third panel with its interval."""
    runs = pd.read_csv(REPO / "results" / "quickstart" / "runs.csv")
    res = compare_runs(runs, by="complexity", n_boot=40)
    g = res["groups"]
    flat = g["flat_level"].notna().to_numpy()
    assert flat.tolist() == [False, True]
    assert g["L_max"][flat].iloc[0] == pytest.approx(g["flat_level"][flat].iloc[0], rel=1e-12)
    assert (g["L_max_lo"] < g["L_max"]).all() and (g["L_max"] < g["L_max_hi"]).all()
    fig, ax = _level_axis(res)
    try:
        (bars,) = ax.containers
        assert bars.lines[0].get_xdata().tolist() == g["L_max"].tolist()
    finally:
        plt.close(fig)


def _row(**values) -> dict:
    """A pairs row of complexity=1 - complexity=2 with nothing told apart in alpha or C, at n_common 8,000."""
    nan = np.nan
    return {"a": "1", "b": "2", **{f"{s}{k}{e}": nan for k in ("alpha", "C") for s, e in
                                   (("d_", ""), ("d_", "_lo"), ("d_", "_hi"), ("p_", ""), ("p_", "_holm"))},
            "n_common": 8000.0, **values}


def _sentence(row: dict, m_l: int = 1, **kw) -> str:
    return pair_sentence("complexity", row, "n_synth", "test_err", 1.0, {"alpha": m_l, "C": m_l, "L": m_l}, **kw)


HEAD = "complexity=1 vs complexity=2: at n_synth = 8,000, the largest size inside both measured ranges, "


def test_a_holm_p_at_the_floor_the_draws_allow_says_so_and_how_many_draws_to_take() -> None:
    """sklearn_digits' learned vs plain: p 0.01 alone, p Holm 0.06 over 6 pairs at 200 draws, the smallest Holm p
    200 draws allow for 6 pairs: the sentence (the pairs CSV's only word on it) says so and gives pairs_note's
    --boot figure. A Holm p above that floor, or a floor below 0.05, adds nothing."""
    row = _row(d_L=0.0925, d_L_lo=0.0155, d_L_hi=0.162, p_L=0.01, p_L_holm=0.06)
    assert _sentence(row, 6, n_boot=200) == (
        HEAD + "complexity=2's fitted test_err is lower by 0.0925 [0.0155, 0.162] (p 0.010 for this pair alone), but "
        "not told apart once the 6 pairs are accounted for (p Holm 0.060, the smallest 200 draws allow for 6 pairs: "
        "rerun with --boot 241 or more).")
    assert "rerun with --boot 241 or more to let one fall below 0.05" in pairs_note(6, 200)  # the same arithmetic
    assert _sentence({**row, "p_L_holm": 0.06 + 1e-12}, 6, n_boot=200).endswith("--boot 241 or more).")
    for other, m_l, n_boot in ((0.1, 6, 200), (0.06, 6, 400), (0.06, 6, 100)):  # not at the floor (0.03, 0.12)
        assert "draws allow" not in _sentence({**row, "p_L_holm": other}, m_l, n_boot=n_boot)
    # one pair, 20 draws: p cannot go below 0.1; and an interval over 0 at that floor (under 40 draws)
    one = _row(d_L=0.0925, d_L_lo=0.0155, d_L_hi=0.162, p_L=0.1, p_L_holm=0.1)
    assert _sentence(one, n_boot=20) == (
        HEAD + "complexity=2's fitted test_err is lower by 0.0925 [0.0155, 0.162], but p Holm 0.100 is not below 0.05 "
        "(the smallest 20 draws allow: rerun with --boot 41 or more): not told apart there.")
    assert _sentence({**one, "d_L_lo": -0.01}, n_boot=20) == (
        HEAD + "complexity=1's fitted test_err minus complexity=2's is 0.0925 [-0.01, 0.162] (p Holm 0.100, the "
        "smallest 20 draws allow: rerun with --boot 41 or more): not told apart there.")


def test_an_estimate_outside_its_interval_never_prints_a_negative_gap() -> None:
    """A parameter on its bound can leave a - b's estimate on the other side of 0 from its interval: the interval
    says which is lower, the gap is the interval alone, with a note; "lower by -0.001 [0.0005, 0.004]" was printed."""
    row = _row(d_L=0.001, d_L_lo=-0.004, d_L_hi=-0.0005, p_L=0.01, p_L_holm=0.01)
    assert _sentence(row) == (HEAD + "complexity=1's fitted test_err is lower by [0.0005, 0.004] (p Holm 0.010; "
                              f"{OUTSIDE}): complexity=1 is better there.")
    # alpha's and C's clauses: a - b's interval above 0, its estimate below or at 0
    both = {**row, "d_alpha": -0.1, "d_alpha_lo": 0.05, "d_alpha_hi": 0.3, "p_alpha_holm": 0.01,
            "d_C": 0.0, "d_C_lo": 0.01, "d_C_hi": 0.05, "p_C_holm": 0.02}
    assert _sentence(both).endswith(
        f"also told apart: complexity=1's curve is steeper (alpha higher by [0.05, 0.3], p Holm 0.010; {OUTSIDE}) "
        f"and complexity=2 has the lower gap (C lower by [0.01, 0.05], p Holm 0.020; {OUTSIDE}).")
    # told apart per pair only, and the estimate agreeing with its interval: as before, no note
    alone = _sentence({**row, "p_L_holm": 0.06}, 6, n_boot=400)
    assert f"lower by [0.0005, 0.004] (p 0.010 for this pair alone; {OUTSIDE}), but not told apart" in alone
    assert OUTSIDE not in _sentence({**row, "d_L": -0.001})
    for text in (_sentence(row), _sentence(both), alone):
        assert "by -" not in text and "by [-" not in text, text


def test_a_verdict_from_groups_with_few_seeds_is_hedged_and_a_not_told_apart_one_is_not() -> None:
    """A group with 2 seeds: "complexity=1 is better there" is provisional, and says so where it is said
    (few_seeds was listed only at the report's end). Not told apart: nothing to hedge (the quickstart's 2 + 2
    seeds, since the draws scale the seed offsets for their 1 degree of freedom). 5 seeds: no flag. (The
    quickstart's pair at 1,000 draws, p 0.11: its 2-seed draws are heavy-tailed, and 100 of them, paired, read
    p 0.02, 200 p 0.07.)"""
    runs = pd.read_csv(REPO / "results" / "quickstart" / "runs.csv")
    res = compare_runs(runs, by="complexity", n_boot=1000)
    assert res["groups"]["diagnostics"].str.contains("few_seeds").all()
    (sentence,) = res["pairs"]["sentence"]
    assert sentence.endswith("not told apart there."), sentence
    assert _pair_lines(report(res)) == [sentence]
    apart = pd.concat([_curve(1, lambda n: 2 * n ** -0.5 + 0.1, n_seeds=2),
                       _curve(2, lambda n: 2 * n ** -0.5 + 0.3, n_seeds=5, seed=1)])
    row = compare_runs(apart, n_boot=100)["pairs"].iloc[0]
    assert row["p_L_holm"] < 0.05
    assert "complexity=1 is better there (2 and 5 seeds: few_seeds, read it as provisional)" in row["sentence"]
    five = pd.concat([_curve(1, lambda n: 2 * n ** -0.5 + 0.1, n_seeds=5),
                      _curve(2, lambda n: 2 * n ** -0.5 + 0.3, n_seeds=5, seed=1)])
    row = compare_runs(five, n_boot=100)["pairs"].iloc[0]
    assert row["p_L_holm"] < 0.05 and "seeds" not in row["sentence"]
    same = pd.concat([_curve(1, lambda n: 2 * n ** -0.5 + 0.2, n_seeds=2),
                      _curve(2, lambda n: 2 * n ** -0.5 + 0.2, n_seeds=2, seed=1)])
    row = compare_runs(same, n_boot=100)["pairs"].iloc[0]  # (p 0.14 at 100 draws: within their Monte Carlo error)
    assert row["p_L_holm"] >= 0.05 and "): not told apart there (p Holm" in row["sentence"], row["sentence"]
    assert "few_seeds" not in row["sentence"]
    # L not told apart, C told apart: the hedge goes with the clause that tells them apart
    text = _sentence(_row(d_L=0.01, d_L_lo=-0.01, d_L_hi=0.03, p_L=0.4, p_L_holm=0.4, d_C=0.05, d_C_lo=0.02,
                          d_C_hi=0.08, p_C=0.01, p_C_holm=0.01), few={"1", "2"}, seeds={"1": 3, "2": 3})
    assert text.endswith("not told apart there; also told apart: complexity=2 has the lower gap (C lower by 0.05 "
                         "[0.02, 0.08], p Holm 0.010) (3 and 3 seeds: few_seeds, read it as provisional)."), text


def test_a_level_verdict_the_draws_alone_could_flip_says_so() -> None:
    """p is twice the share q of draws past 0, so another n draws move it by 2 sqrt(q (1 - q) / n) (its Monte
    Carlo standard error; 0.022 at p 0.05 and 200 draws). A Holm p within two of them (times Holm's multiplier)
    of 0.05 says so and how many draws would tell; farther, or at the floor the draws allow, nothing is added.
    On the quickstart's 2-seed pair (paired, centred draws) 200 draws read p 0.050, within it; 1,000 read
    about 0.10, 2.3 of their smaller errors away."""
    from fits.compare import near_line, p_error

    assert p_error(0.05, 200) == pytest.approx(2 * np.sqrt(0.025 * 0.975 / 200))
    assert p_error(0.05, 1000) == pytest.approx(0.00987, abs=1e-5)
    assert "another 200 draws would move it by about 0.022" in pairs_note(1, 200)
    assert near_line(0.2, 0.2, 200) == "" and near_line(0.05, 0.05, None) == ""
    assert near_line(0.04, 0.04, 200).startswith("p Holm 0.040 lies within two Monte Carlo standard errors (0.04) "
                                                 "of 0.05 at 200 draws: rerun with --boot 1000 or more")
    assert "--boot 8000 or more" in near_line(0.045, 0.045, 2000)
    assert near_line(0.045, 0.045, 20000) == ""  # 2 x 0.0029 from 0.05
    assert near_line(0.02, 0.06, 400) != ""  # Holm's multiplier 3 scales the error alike
    assert near_line(0.01, 0.03, 200) == near_line(0.005, 0.03, 400) == ""  # at the floor: at most one draw past 0
    told = _row(d_L=-0.01, d_L_lo=-0.02, d_L_hi=-0.001, p_L=0.04, p_L_holm=0.04)
    assert _sentence(told, n_boot=200).endswith("complexity=1 is better there (p Holm 0.040 lies within two Monte "
                                                "Carlo standard errors (0.04) of 0.05 at 200 draws: rerun with "
                                                "--boot 1000 or more to tell which side of 0.05 it falls on).")
    assert _sentence(told, n_boot=5000).endswith("complexity=1 is better there.")
    runs = pd.read_csv(REPO / "results" / "quickstart" / "runs.csv")
    for n_boot, says in ((200, True), (1000, False)):
        (sentence,) = compare_runs(runs, by="complexity", n_boot=n_boot)["pairs"]["sentence"]
        assert sentence.endswith("not told apart there.") is not says, sentence
        assert ("Monte Carlo" in sentence) is says, sentence
