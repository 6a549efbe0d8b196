"""The theory bound's two checks against per-s fits: check 1's interval of C_s/D_s and its verdict, check 2's
slope of C_s over the fits whose C_s is off its bound."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import fits
from fits.bound import check_bound, summary

TRUE = {"delta": 20.0, "gamma": 0.05, "alpha": 0.4, "beta": 0.3}


def _bound_rows(c_below_zero_at: float | None = None) -> pd.DataFrame:
    """Runs from the bound with TRUE's parameters, 4 fine-tuning sizes x 7 sizes x 3 seeds, 1 % noise; at
    `c_below_zero_at` the curve's floor is -0.02 instead, so that per-s fit's C_s lands on its bound 0."""
    rng = np.random.default_rng(0)
    rows = []
    for s in (100.0, 300.0, 1000.0, 3000.0):
        d = TRUE["delta"] * s ** -TRUE["beta"]
        c = -0.02 if s == c_below_zero_at else TRUE["gamma"] * d
        for n in 100 * 2.0 ** np.arange(7):
            for k in range(3):
                rows.append({"n_synth": n, "n_real": s, "seed": k,
                             "test_err": (d * n ** -TRUE["alpha"] + c) * np.exp(rng.normal(0, 0.01))})
    return pd.DataFrame(rows)


def test_check_one_interval_is_the_95_percent_interval_of_the_per_s_ratio() -> None:
    """Check 1 asks whether gamma lies inside each per-s 95 % interval of C_s/D_s; a narrower interval would
    fail the bound more often than 5 %. Recomputed here from each per-s fit's own bootstrap."""
    res = check_bound(_bound_rows())
    joint = res["fit"]
    for _, r in res["per_s"].iterrows():
        idx = np.flatnonzero(joint.problem.x[:, 1] == r["s"])
        per_s = fits.fit_curve(joint.problem.x[idx, 0], joint.problem.y[idx], "power_floor",
                               groups=joint.problem.group_labels[joint.problem.groups[idx]],
                               fixed={"alpha": joint.params["alpha"]})
        boot = per_s.bootstrap()
        lo, hi = np.nanpercentile(boot[:, 2] / boot[:, 0], [2.5, 97.5])
        assert (r["C_over_D_lo"], r["C_over_D_hi"]) == pytest.approx((lo, hi), rel=1e-9)


def test_check_two_leaves_a_c_on_its_bound_out_of_its_slope() -> None:
    """A C_s pinned at its bound 0 says nothing about how C falls with s: kept in the log-log slope it would drag
    beta anywhere. It is left out, and the summary names it."""
    res = check_bound(_bound_rows(c_below_zero_at=3000.0))
    assert res["per_s"].set_index("s").loc[3000.0, "C"] < 1e-6
    assert res["beta_from_C_left_out"] == [3000.0]
    assert res["beta_from_C"] == pytest.approx(TRUE["beta"], abs=0.05)
    assert "(left out, on its bound: n_real = 3000)" in summary(res)


def test_check_one_with_exactly_half_of_the_intervals_holding_gamma_is_not_a_failed_bound() -> None:
    """The verdict "does not hold" needs fewer than half of the per-s intervals to contain gamma, not half."""
    res = check_bound(_bound_rows())
    res["per_s"]["gamma_inside"] = [True, True, False, False]
    res["gamma_inside_fraction"] = 0.5
    assert "does not hold" not in summary(res)
    res["per_s"]["gamma_inside"] = [True, False, False, False]
    res["gamma_inside_fraction"] = 0.25
    assert "the bound's shape does not hold" in summary(res)


def _no_bound_rows(seed: int = 0) -> pd.DataFrame:
    """Per-s curves D_s n^-0.4 + C_s whose D_s falls as s^-0.6 and C_s as s^-0.2: no single beta, so C_s/D_s
    rises with s; 3 % noise and a 3 % offset per (s, seed) curve."""
    rng = np.random.default_rng(seed)
    rows = []
    for s in (100.0, 300.0, 1000.0, 3000.0):
        d, c = 20 * s ** -0.6, s ** -0.2
        for k in range(3):
            off = rng.normal(0, 0.03)
            for n in 100 * 2.0 ** np.arange(7):
                rows.append({"n_synth": n, "n_real": s, "seed": k,
                             "test_err": (d * n ** -0.4 + c) * np.exp(off + rng.normal(0, 0.03))})
    return pd.DataFrame(rows)


def _check_lines(res: dict) -> tuple[str, str]:
    text = summary(res).splitlines()
    return next(t for t in text if t.startswith("check 1")), next(t for t in text if t.startswith("check 2"))


def test_both_checks_say_in_words_whether_the_bound_holds() -> None:
    """Check 2 printed its betas with no verdict, and check 1 needed fewer than half of the intervals to miss: a
    sweep with no bound read as passing (a review: 12 of 12). Data drawn from the bound read consistent; data
    whose D_s and C_s fall at different rates read "does not hold" in check 2, with each slope's reading."""
    one, two = _check_lines(check_bound(_bound_rows()))
    assert one.endswith("per-n_real 95 % intervals (about 95 % of them if the bound holds): consistent with the bound")
    assert "lies inside 4 of the 4 " in one
    assert two.endswith(": consistent with the bound") and two.count("(holds)") == 2, two
    res = check_bound(_no_bound_rows())
    one, two = _check_lines(res)
    assert two.endswith(": the bound's fall with s does not hold (an implied beta's 95 % interval excludes the "
                        "joint one)"), two
    assert "(excludes)" in two
    lo, hi = res["beta_from_D_ci"]
    assert not lo <= res["fit"].params["beta"] <= hi


@pytest.mark.parametrize("lo, hi, reading", [(0.2, 0.4, "holds"), (0.35, 0.5, "excludes"), (-5.0, 0.31, "too wide"),
                                             (np.nan, np.nan, "")])
def test_an_implied_beta_holding_the_joint_one_and_zero_is_too_wide_to_tell(lo, hi, reading) -> None:
    """The paper's C_s gives 0.279 [-4.96, 0.31] against a joint 0.303: it holds the joint beta but also no fall
    at all, so it confirms nothing; it read as a pass."""
    from fits.bound import _slope_reading

    assert _slope_reading(lo, hi, 0.3) == reading


@pytest.mark.parametrize("gamma, side, want", [
    (5.0, "lower", False), (20.0, "lower", None), (1e9, "lower", None),   # the ratio is at least 16.6: 5 misses
    (20.0, "upper", None), (5.0, "upper", None), (1e9, "upper", False),   # the ratio is at most 4e8
    (20.0, None, True), (5.0, None, False), (20.0, "lower", None)])
def test_a_d_s_on_its_bound_reads_gamma_only_on_the_side_its_limit_tells(gamma, side, want) -> None:
    """A D_s on its lower bound makes C_s/D_s a lower limit (e.g. [16.6, 4e8]): gamma below it
    is a miss, inside or above it is not told (left out). Until 2026-12-06 every such s counted as a miss; for a
    day every one was left out, which threw the misses away."""
    from fits.bound import gamma_reading

    assert gamma_reading(gamma, 16.6, 4e8, side) is want


def test_check_one_counts_a_d_s_on_its_bound_below_gamma_and_names_the_ones_left_out() -> None:
    """A curve that rises with n puts D_s on its lower bound; its C_s/D_s interval lies far above gamma, so it
    is a miss, not left out. A left-out s is named in the sentence, apart from the verdict; the joint fit's per-s
    flags name s by the table's column, not by the law's "s"."""
    df = _bound_rows()
    flat = df["n_real"] == 3000.0
    rising = 0.1 * (1 + 0.02 * np.log2(df.loc[flat, "n_synth"] / 100))  # D_s n^-alpha can only go to 0 here
    df.loc[flat, "test_err"] = rising * np.exp(np.random.default_rng(1).normal(0, 0.005, int(flat.sum())))
    df = df.rename(columns={"n_real": "frac"})
    res = check_bound(df, s="frac")
    row = res["per_s"].set_index("s").loc[3000.0]
    assert "on_bound" in row["flags"] and res["fit"].params["gamma"] < row["C_over_D_lo"]
    assert row["gamma_inside"] == False and res["gamma_inside_left_out"] == []  # noqa: E712 (numpy's False)
    said = [d["message"] for d in res["joint"]["diagnostics"]]
    assert any(m.startswith("at frac=3000, ") for m in said), said
    assert not any(m.startswith("at s=") for m in said)
    res["gamma_inside_left_out"] = [3000.0]  # as if gamma lay inside its interval
    res["per_s"]["gamma_inside"] = [True, True, True, None]
    res["gamma_inside_fraction"] = 1.0
    one = next(t for t in summary(res, "frac").splitlines() if t.startswith("check 1"))
    assert one.endswith("lies inside 3 of the 3 per-frac 95 % intervals (about 95 % of them if the bound holds) "
                        "(left out, D_s on its bound so C_s/D_s a limit that gamma does not fall outside: "
                        "frac = 3000): consistent with the bound"), one


def test_check_one_with_fewer_than_three_intervals_or_all_left_out_says_why() -> None:
    """1 of 2 intervals read "consistent with the bound"; and with every s left out it said no fit had an
    interval, though they had."""
    res = check_bound(_bound_rows())
    res["per_s"]["gamma_inside"] = [True, False, None, None]
    res["gamma_inside_fraction"] = 0.5
    one = next(t for t in summary(res).splitlines() if t.startswith("check 1"))
    assert one.endswith("1 of the 2 per-n_real 95 % intervals (about 95 % of them if the bound holds); 2 fits have "
                        "no interval: too few intervals to judge (3 or more needed)"), one
    res["per_s"]["gamma_inside"] = [None] * 4
    res["gamma_inside_fraction"] = float("nan")
    res["gamma_inside_left_out"] = [100.0, 300.0, 1000.0, 3000.0]
    one = next(t for t in summary(res).splitlines() if t.startswith("check 1"))
    assert "not made, every per-n_real fit with an interval was left out (left out, D_s on its bound" in one, one


def test_check_two_with_one_slope_read_says_only_half_is_made() -> None:
    """D_s on its bound at all but one s leaves no D slope: "too wide to tell (... holds 0 too)" was printed though
    no interval held 0."""
    from fits.bound import _check_two

    nan = float("nan")
    res = {"beta_from_C": 0.41, "beta_from_C_ci": [0.38, 0.44], "beta_from_C_left_out": [],
           "beta_from_D": nan, "beta_from_D_ci": [nan, nan], "beta_from_D_left_out": [200.0, 400.0]}
    text = _check_two(res, {"delta": 1, "gamma": 0.1, "alpha": 0.5, "beta": 0.4}, "n_real", "")
    assert text.endswith("0.41 [0.38, 0.44] from C_s (holds) and not made (left out, on its bound: n_real = 200, "
                         "400) from D_s, against the joint beta = 0.4: consistent with the bound as far as C_s's slope "
                         "goes (D_s's has no interval, so only half of the check is made)"), text


def test_runs_that_differ_between_real_sizes_are_not_pooled_into_one_bound(tmp_path, capsys) -> None:
    """mnist5k at one real size and fashion_mnist at the others was fitted as one bound without a word (only rows
    at one (n, s) were compared). Refused in one line naming the column, the values and the fix, from the API and
    from `bound` (exit 2), with --by's own spelling; a column that varies with n only (a budget growing with n)
    is one experiment and is fitted."""
    from fits.cli import main
    from fits.errors import FitInputError

    df = _bound_rows().assign(target="fashion_mnist", complexity=1)
    mixed = df.copy()
    mixed.loc[mixed["n_real"] == 3000.0, "target"] = "mnist5k"
    with pytest.raises(FitInputError, match=r"differ in 'target' between values of n_real \(fashion_mnist at "
                                            r"n_real = 100, 300, 1000; mnist5k at n_real = 3000\)"):
        check_bound(mixed, intervals=False)
    mixed.to_csv(tmp_path / "mixed.csv", index=False)
    assert main(["bound", str(tmp_path / "mixed.csv"), "-o", str(tmp_path / "b")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].endswith("or one bound per value: --by target"), err
    assert main(["bound", str(tmp_path / "mixed.csv"), "--by", "complexity", "-o", str(tmp_path / "c")]) == 2
    err = capsys.readouterr().err.strip().splitlines()  # its one group could not be fitted: that is the error
    assert len(err) == 1 and "no group could be fitted" in err[0] and "--by complexity,target)" in err[0], err
    grows = df.assign(pretrain_examples=np.maximum(1000, df["n_synth"]).astype(int))
    assert check_bound(grows, intervals=False)["fit"].params["beta"] > 0


def test_a_table_of_scratch_runs_only_says_so() -> None:
    """"needs at least 2 distinct n_real values, got 0" for a table with three: the rows with n > 0 were none."""
    from fits.errors import FitInputError

    scratch = _bound_rows().assign(n_synth=0.0).drop_duplicates(["n_real", "seed"])
    with pytest.raises(FitInputError, match=r"^no rows with n_synth > 0 to fit \(rows with n_synth = 0 are the "
                                            r"scratch baseline\)$"):
        check_bound(scratch)


def test_the_bound_cli_writes_integer_real_sizes_and_a_check_two_panel(tmp_path) -> None:
    """bound_per_s.csv wrote s as 50.0 where the runs table has 50; the figure had no picture of check 2 (how
    D_s and C_s fall with s against the bound's lines), and its title printed alpha=2.8e-14."""
    import matplotlib.pyplot as plt

    from fits.bound import plot_bound
    from fits.cli import main

    _bound_rows().to_csv(tmp_path / "runs.csv", index=False)
    assert main(["bound", str(tmp_path / "runs.csv"), "-o", str(tmp_path / "b")]) == 0
    assert pd.read_csv(tmp_path / "b" / "bound_per_s.csv")["n_real"].tolist() == [100, 300, 1000, 3000]
    assert (tmp_path / "b" / "bound_per_s.csv").read_text().splitlines()[1].startswith("100,")
    res = check_bound(_bound_rows())
    captured = {}
    real_save = __import__("fits.plot", fromlist=["save"]).save

    def keep(fig, out):
        captured["fig"] = fig
        return real_save(fig, out)

    import fits.plot
    fits.plot.save, saved = keep, fits.plot.save
    try:
        plot_bound(_bound_rows(), res, tmp_path / "p.png")
    finally:
        fits.plot.save = saved
    left, right = captured["fig"].axes[:2]
    labels = right.get_legend_handles_labels()[1]
    assert sorted(labels)[:2] == ["C_s", "C_s's own slope (beta = 0.302, check 2)"]
    assert sorted(labels)[2:] == ["D_s", "D_s's own slope (beta = 0.297, check 2)",
                                  "delta gamma n_real^-beta (the bound)", "delta n_real^-beta (the bound)"]
    assert [t.get_text() for t in right.get_xticklabels()] == ["100", "300", "1000", "3000"]  # the measured s
    lo, hi = right.get_ylim()
    est = res["per_s"][["D", "C"]].to_numpy()
    assert lo >= est.min() / 100 and hi <= est.max() * 1000  # not stretched to the nested intervals' 1e-12
    assert "alpha=0.4" in left.get_title() or "alpha=0.39" in left.get_title()
    plt.close("all")


def test_the_committed_verdict_rates_come_from_the_simulation_command() -> None:
    """results/fits_bound_checks.md is `python -m fits.simulate --bound-checks`: its first sweep of each kind
    reads as the table says most do (the bound: consistent in both checks; no bound: both fail)."""
    from fits.simulate import bound_verdicts

    assert bound_verdicts(1, True) == {"check 1": {"consistent": 1}, "check 2": {"consistent": 1}}
    assert bound_verdicts(1, False) == {"check 1": {"does not hold": 1}, "check 2": {"does not hold": 1}}


def test_verdict_keys_follow_the_checks_not_the_summary_wording() -> None:
    """fits.simulate counted verdicts by searching summary's text, so a rewording would have moved
    results/fits_bound_checks.md without an error, and a result with no per-s fit raised StopIteration.
    verdicts() reads the result itself; each key matches the sentence summary prints for it."""
    from fits.bound import check_bound, summary, verdicts
    from fits.simulate import bound_sweep

    res = check_bound(bound_sweep(100, True))
    cases = {"as fitted": (res, "consistent", "consistent", "consistent with the bound"),
             "caveat": ({**res, "checks_caveat": "alpha on its bound"}, "not to be read", "not to be read",
                        "not to be read: alpha on its bound"),
             "one slope": ({**res, "beta_from_D_ci": [float("nan")] * 2}, "consistent", "consistent",
                           "as far as C_s's slope goes"),
             "one excludes": ({**res, "beta_from_C_ci": [5.0, 6.0]}, "consistent", "does not hold",
                              "fall with s does not hold")}
    for name, (r, one, two, words) in cases.items():
        assert verdicts(r) == {"check 1": one, "check 2": two}, name
        assert words in summary(r).splitlines()[-1], name
    none = {**res, "per_s": res["per_s"].iloc[:0], "gamma_inside_fraction": float("nan")}
    assert verdicts(none) == {"check 1": "not made", "check 2": "not made"}
    assert "none could be made" in summary(none)


def test_bound_groups_alike_but_for_case_are_refused_before_one_overwrites_the_other(tmp_path, capsys) -> None:
    """On a case-insensitive file system (macOS's, Windows') the folders generator=Digits and generator=digits
    are one: the second group's bound was written over the first's while the report listed both."""
    from fits.cli import main
    from fits.simulate import bound_sweep

    runs = pd.concat([bound_sweep(100, True).assign(generator=k) for k in ("Digits", "digits")], ignore_index=True)
    runs.to_csv(tmp_path / "runs.csv", index=False)
    assert main(["bound", str(tmp_path / "runs.csv"), "--by", "generator", "-o", str(tmp_path / "b")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "groups 'Digits' and 'digits' would share one folder name" in err, err
    assert not (tmp_path / "b").exists()


def test_bound_groups_that_differ_beyond_case_get_their_own_folders(tmp_path, capsys) -> None:
    """The case check folded Straße into strasse (casefold), refusing two groups no file system confuses."""
    from fits.cli import main
    from fits.simulate import bound_sweep

    runs = pd.concat([bound_sweep(100, True).assign(g=k) for k in ("Straße", "Strasse")], ignore_index=True)
    runs.to_csv(tmp_path / "runs.csv", index=False)
    assert main(["bound", str(tmp_path / "runs.csv"), "--by", "g", "-o", str(tmp_path / "b")]) == 0
    assert {p.name for p in (tmp_path / "b").iterdir()} == {"bound.txt", "g=Straße", "g=Strasse"}
