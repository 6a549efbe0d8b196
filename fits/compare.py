"""Comparing groups (e.g. complexity levels): parameters with intervals, pairwise differences with
bootstrap p-values, a forest plot, and the 'more data or a better generator?' sentence."""
from __future__ import annotations

import argparse
import difflib
import itertools
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from fits.core import F_SCALE, N_BOOT, Fit, evaluate, fit_curve, percentile_interval
from fits.errors import FitInputError, none_fitted, one_line, option
from fits.diagnostics import bound_side, is_flat
from fits.table import TINY, curve_groups, fit_rows, fmt_ci, fmt_flat, fmt_num, group_key, label, scratch_rows
from fits.uncertainty import (LOG_DEV_LIMIT, all_equal, all_zero, bootstrap_params, centred_offsets, noise_dof,
                              paired_picks, scale_draws, seed_labels, seed_picks, shared_factors)

LEVEL = 0.95
MIN_BOOT = 20  # fewer draws give no usable interval or p-value
MAX_BOOT = 1_000_000  # per group: 24 MB of parameters and hours of fits (4,000 pairs' Holm floor needs 160,001)
PARAMS = ("alpha", "C", "D")
# A doubling that removes under a tenth of the gap C means even three more doublings (8x the
# data) remove under ~30 % of it: the generator, not the amount of its data, is the limit.
GAP_FRACTION = 0.1
# L: the two fitted curves' values at n_common, the largest size inside both groups' ranges. Unlike alpha and C
# it is identified for a flat curve too, and it answers "which is better at the data we have?"
PAIR_FAMILIES = ("alpha", "C", "L")
PAIR_COLUMNS = ["a", "b", *(f"{s}{k}{e}" for k in ("alpha", "C") for s, e in
                            (("d_", ""), ("d_", "_lo"), ("d_", "_hi"), ("p_", ""), ("p_", "_holm"))),
                "n_common", *(f"{s}L{e}" for s, e in (("d_", ""), ("d_", "_lo"), ("d_", "_hi"), ("p_", ""),
                                                     ("p_", "_holm"))), "paired", "sentence"]
# Above this many pairs the report gives a sentence only to the pairs told apart in L, and counts the rest
# (28 pairs of 8 groups gave 28 sentences that mostly said "not told apart"); the CSV keeps every one.
MAX_PAIR_SENTENCES = 6
# Above this many pairs (10 groups give 45) the pair tables print only the pairs told apart, at most this many
# (60 groups' 1,770 pairs printed 3,743 lines, twice each pair); compare_pairs.csv keeps every one.
MAX_PAIR_ROWS = 45


def pair_interval(diff: np.ndarray, level: float = LEVEL) -> tuple[float, float]:
    """A pair's interval as boot_p_value counts: of n finite draws, the (m+1)-th smallest and largest,
    m = floor(n (1 - level) / 2), so that it leaves 0 out exactly when at most m draws lie past 0, i.e.
    when p <= 1 - level (for n >= 40, where p can go that low)."""
    d = np.sort(diff[np.isfinite(diff)])
    if not len(d):
        return float("nan"), float("nan")
    m = int(np.floor(len(d) * (1 - level) / 2 + 1e-9))
    return float(d[m]), float(d[len(d) - 1 - m])


def boot_p_value(diff: np.ndarray) -> float:
    """Two-sided bootstrap p-value of 'no difference': twice the smaller share of draws on the
    other side of 0, the share the 95 % interval (pair_interval) leaves out on each side, so that
    p <= 0.05 exactly when that interval leaves 0 out. No draw beyond 0 counts as one: with n draws p
    cannot fall below 2 / n (with (k + 1) / (n + 1) instead, an interval that excluded 0 sat beside
    p 0.06)."""
    d = diff[np.isfinite(diff)]
    if not len(d):  # every draw failed: nothing to test
        return float("nan")
    below, above = np.sum(d <= 0), np.sum(d >= 0)
    return float(min(1.0, 2 * max(min(below, above), 1) / len(d)))


def holm(p: Any) -> np.ndarray:
    """Holm's step-down adjustment of a family of p-values (the family-wise error stays at the
    level however many pairs are compared); NaN stays NaN and does not count in the family."""
    p = np.asarray(p, float)
    out = np.full(p.shape, np.nan)
    ok = np.flatnonzero(np.isfinite(p))
    order = ok[np.argsort(p[ok], kind="stable")]
    m = len(order)
    # rounded to 12 decimals: a product's last bit is no evidence, and 28 * (2 / 1120) is 0.049999999999999996
    # where the true 0.05 is not below 0.05 (p-values are counts over draws, far more than 1e-12 apart)
    out[order] = np.round(np.minimum(1.0, np.maximum.accumulate((m - np.arange(m)) * p[order])), 12)
    return out


def check_boot(n_boot: Any) -> None:
    """A one-line FitInputError unless n_boot is a whole number of draws from MIN_BOOT to MAX_BOOT (10^13
    draws was a numpy traceback asking for 218 TiB)."""
    whole = not isinstance(n_boot, bool) and isinstance(n_boot, (int, np.integer))
    if not whole or not MIN_BOOT <= n_boot <= MAX_BOOT:
        raise FitInputError(f"--boot (n_boot) must be a whole number of bootstrap draws from {MIN_BOOT} to "
                            f"{MAX_BOOT:,}, got {n_boot!r}")


def p_floor(n_boot: int) -> float:
    """The smallest p-value boot_p_value gives from n_boot draws."""
    return 2 / n_boot


def p_error(p: float, n_boot: int) -> float:
    """The Monte Carlo standard error of boot_p_value's p from n_boot draws: p is twice q, the share of
    draws past 0, a binomial share, so its sd is 2 sqrt(q (1 - q) / n_boot). It says how far another n_boot
    draws would move p, not how uncertain the data are: at p 0.05 it is 0.022 with 200 draws, 0.0099 with
    1,000 (the quickstart's 2-seed pair read p 0.050 at 200 draws and 0.10 at 400 and 1,000)."""
    q = min(max(float(p), 0.0), 1.0) / 2
    return 2 * float(np.sqrt(q * (1 - q) / n_boot))


def near_line(p: float, p_holm: float, n_boot: int | None) -> str:
    """'p Holm P lies within two Monte Carlo standard errors (E) of 0.05 at N draws: rerun with --boot K or
    more to tell which side of 0.05 it falls on' when it does (p_error, times Holm's multiplier p_holm / p,
    which scales p's error alike), so that a verdict the draws alone could flip says so; else ''. K = 4 N
    (at least 1,000) halves the error. Not for a p at the floor the draws allow (p_floor: at most one draw
    past 0), where the binomial error says nothing (no draw past 0 gives it 0) and the draws show no sign
    of reaching 0 (_at_floor asks for more draws where Holm's p cannot fall below 0.05)."""
    if n_boot is None or pd.isna(p) or pd.isna(p_holm) or p <= p_floor(n_boot) + 1e-12:
        return ""
    err = 2 * p_error(p, n_boot) * p_holm / p
    if abs(p_holm - 0.05) >= err:
        return ""
    more = min(MAX_BOOT, max(1000, 4 * n_boot))
    return (f"p Holm {p_holm:.3f} lies within two Monte Carlo standard errors ({err:.2g}) of 0.05 at {n_boot} "
            f"draws: rerun with --boot {more} or more to tell which side of 0.05 it falls on")


def holm_floor(m: int, n_boot: int) -> float:
    """The smallest Holm p a family of m pairs can reach with n_boot draws per group: the family's
    smallest p, at best p_floor, times m (capped at 1)."""
    return min(1.0, 2 * m / n_boot)  # m * p_floor(n_boot), one division: 28 * (2 / 1120) falls below 0.05


def boot_for(m: int) -> int:
    """The fewest draws per group that let a Holm p of a family of m pairs fall below 0.05: 2 m / n < 0.05,
    so n > 40 m (in whole numbers: 2 m / 0.05 in floats is not always 40 m)."""
    return 40 * m + 1


def removed_by_doubling(d: Any, alpha: Any, n: float) -> Any:
    """L(n) - L(2n) = D n^-alpha (1 - 2^-alpha), exactly. The first-order D alpha n^-alpha ln 2
    overstates it by alpha ln 2 / (1 - 2^-alpha): 8 % at alpha 0.23, 11 % at 0.3, 39 % at 1, and
    from alpha 1.44 on more than the whole reducible error D n^-alpha."""
    return d * n ** -alpha * -np.expm1(-alpha * np.log(2))


def doubling_gain(fit: Fit, n: float) -> np.ndarray:
    """Error removed by doubling n at n (removed_by_doubling), per bootstrap sample."""
    s = fit.bootstrap()
    names = list(fit.law.params)
    return removed_by_doubling(s[:, names.index("D")], s[:, names.index("alpha")], n)


def common_size(a: Fit, b: Fit) -> float:
    """The largest size inside both fits' measured ranges (the smaller of their largest sizes, if it is
    not below either's smallest): where both curves are read without extrapolation. NaN if the
    ranges do not overlap."""
    n = min(float(np.max(a.problem.x)), float(np.max(b.problem.x)))
    return n if n >= max(float(np.min(a.problem.x)), float(np.min(b.problem.x))) else float("nan")


def level_draws(fit: Fit, draws: np.ndarray, n: float) -> np.ndarray:
    """The fitted curve's value at size n under each bootstrap draw of its parameters (a row of
    bootstrap_params); NaN where a draw failed or the law leaves the floats there."""
    names = list(fit.law.params)
    out = np.array([evaluate(fit.law, np.array([n]), dict(zip(names, row)))[0] for row in draws], float)
    return np.where(np.isfinite(out), out, np.nan)


def fmt_size(n: float) -> str:
    """A size as users write it: 10,000 for counts, 0.32 for fractions."""
    # 1e+20, not 21 digits with commas: a count beyond any dataset is shown as a magnitude
    return f"{n:,.0f}" if 100 <= n < 1e15 and float(n).is_integer() else fmt_num(n, 3)


def decision(key: str, n: float, gain: tuple, c: tuple, ratio: tuple, flat_level: float | None = None,
             x: str = "n", scale: float = 1.0, seeds: bool = True, perfect: bool = False,
             rising: str | None = None, few_sizes: bool = False, c_on_zero: bool = False,
             flat_why: str = "alpha on its bound 0", constant: bool = False) -> str:
    """One sentence: is more of this generator's data worth it, or is the gap C the limit?

    gain, c, ratio are (estimate, lo, hi); ratio = gain / C from the same bootstrap samples.
    flat_level: the fitted level when the curve is flat (D and C are then not separated); flat_why says
    why it counts as flat: alpha on its bound 0, or a slope the too_flat test cannot tell from noise.
    x: the size column's name, as the user called it.
    scale: the size of the errors (below 1): a C under TINY * scale is a floor of 0 (fits.table.fmt_num).
    c_on_zero: C sits on its bound 0 (diagnostics' on_bound): a floor of 0 too, whatever the optimiser
    left there (5.7e-09 at errors of 0.3 read as a real gap, "the interval straddles 10 %").
    seeds: whether the table has a seed column (without one: more runs per size, not more seeds).
    perfect: every error is 0 (uncertainty.all_zero): neither a gain nor a gap exists.
    rising: "a -> b", the first and last size means, when they rise over the whole range beyond their
    scatter (the test behind fit's non_monotone "rises with size over the whole range").
    few_sizes: too few distinct sizes to test the law (the too_few_sizes flag): more sizes, not more
    seeds, are what an undecided interval needs.
    constant: every error is the same (uncertainty.all_equal), at the level flat_level: the curve is flat
    for certain, not for want of points to estimate the noise by, though nothing has an interval."""
    if perfect:
        return (f"{key}: every error is 0 up to {x} = {fmt_size(n)}: more data has nothing to remove and there "
                "is no gap to close; a test set this easy cannot tell pre-training apart (use a harder one).")
    if rising is not None:  # a falling law's gain and gap would describe another curve
        return (f"{key}: the error rises with {x} up to {fmt_size(n)} ({rising}, beyond its scatter): more of this "
                "generator's data made it worse, so no gain or gap is read from the fitted law; a pre-training "
                "budget too small for the larger sets can do this (raise it before comparing).")
    more_runs = f"measure more sizes or {'seeds' if seeds else 'runs per size'} before deciding."
    if constant and flat_level is not None:  # not "no points left over": the errors never move
        return (f"{key}: every error is {fmt_num(flat_level, scale=scale)} up to {x} = {fmt_size(n)}, the same at "
                f"every size{' and seed' if seeds else ''}: more of this generator's data removed nothing, its whole "
                "error level acts as the gap, and with no noise to draw from nothing has an interval; check that the "
                "runs trained at all (one fixed prediction gives one fixed error), then improve the generator (or "
                "its pre-training budget) rather than buy more data.")
    if flat_level is not None and (np.isnan(gain[1]) or np.isnan(c[1])):  # flat, and no noise to judge it by
        return (f"{key}: the fitted curve is flat up to {x} = {fmt_size(n)} ({flat_why}, level "
                f"{fmt_num(flat_level, scale=scale)}), but the fit has no points left over to estimate the noise, so "
                f"nothing tells a flat curve from a falling one here: {more_runs}")
    if flat_level is not None:
        return (f"{key}: the fitted curve is flat up to {x} = {fmt_size(n)} ({flat_why}): more of this "
                f"generator's data removed nothing measurable, its whole error level {fmt_num(flat_level)} "
                "acts as the gap: improve the generator (or its pre-training budget) rather than buy more data.")
    if np.isnan(gain[1]) or np.isnan(c[1]):  # no points left over for the noise (uncertainty.noise_dof)
        return (f"{key}: doubling {x} from {fmt_size(n)} would remove {fmt_num(gain[0], scale=scale)} of error vs a "
                f"gap C = {fmt_num(c[0], scale=scale)}, but the fit has no points left over to estimate the noise, "
                f"so neither has an interval: {more_runs}")
    if few_sizes:  # more seeds narrow the noise, but the shape rests on too few sizes
        more = "more sizes (too few to test the law)"
    else:
        more = "more seeds" if seeds else "more runs per size (a seed column to tell them apart)"
    if abs(c[0]) < TINY * scale or c_on_zero:  # no floor fitted: a share of a zero gap means nothing
        # (on its bound the optimiser may leave a crumb, 5.7e-09, whose share ">100 [3, >100] %" read as a
        # real gap); the interval still says how large a gap the data allow
        at = (f"C = {fmt_ci(*c, scale=scale)} is 0" if abs(c[0]) < TINY * scale
              else f"C sits on its bound 0, {fmt_ci(*c, scale=scale)}")
        head = (f"{key}: doubling {x} from {fmt_size(n)} would remove {fmt_ci(*gain, scale=scale)} of error, and "
                f"the fitted gap {at} (no floor within the measured sizes)")
        if ratio[1] > GAP_FRACTION or not c[2] > 0:  # even the interval's largest gap is small beside the gain
            return head + ": more data still pays."
        return head + f", but its interval reaches {fmt_num(c[2], scale=scale)}: {more} would tell whether a gap remains."
    # a share of a tiny gap runs to 1e7 %: above 100 % say so instead of the number
    pct = [">100" if r > 1 else fmt_num(100 * r) for r in ratio]
    share = "more than all of it" if ratio[1] > 1 else f"{pct[0]} [{pct[1]}, {pct[2]}] % of it"
    head = (f"{key}: doubling {x} from {fmt_size(n)} would remove {fmt_ci(*gain, scale=scale)} "
            f"of error vs a gap C = {fmt_ci(*c, scale=scale)} that no amount of this data removes ({share})")
    if ratio[2] < GAP_FRACTION:
        return head + ": the gap dominates, improve the generator rather than buy more of its data."
    if ratio[1] > GAP_FRACTION:
        return head + ": more data still pays."
    return head + f": the interval straddles {100 * GAP_FRACTION:.0f} %, {more} would settle it."


def _rise(fit: Fit) -> str | None:
    """'a -> b' (first and last size means) when the curve rises over its whole range beyond its
    scatter: steadily, so that a falling law fitted to it is flat or worse."""
    from fits.diagnostics import overall_rise

    used = fit.used
    rise = overall_rise(used.x, used.y) if used.x.ndim == 1 else None
    return None if rise is None else f"{fmt_num(rise[0])} -> {fmt_num(rise[1])}"


SCRATCH_COLUMNS = ("scratch_mean", "scratch_n", "d_scratch", "d_scratch_lo", "d_scratch_hi", "scratch_paired")


SCRATCH_STREAM = 7927  # paired scratch draws: default_rng((SCRATCH_STREAM, 0)) for the factors, 1 for the picks


def versus_scratch(fit: Fit, base: np.ndarray, n: float, base_seeds: Any = None) -> dict[str, float]:
    """The fitted curve at size n minus the mean of its scratch runs `base` (x = 0, no pre-training),
    with a 95 % interval. When the scratch runs' seeds (`base_seeds`) are the curve's own (paired_scratch),
    paired by seed: each draw resamples the seeds for the curve and its scratch runs together, so a seed's
    effect on both (its real fine-tuning images) cancels. Else independent: the curve's bootstrap draws
    there minus draws of the scratch mean from its t distribution (mean + s / sqrt(k) t_{k-1}; one run: its
    mean alone, whose noise is then left out). NaN without scratch runs; "scratch_paired" says which."""
    out = dict.fromkeys(SCRATCH_COLUMNS, float("nan"))
    keep = np.isfinite(base)
    base = base[keep]
    if not len(base):
        return out | {"scratch_n": 0, "scratch_paired": False}
    k, mean = len(base), float(np.mean(base))
    paired = paired_scratch(fit, base, None if base_seeds is None else np.asarray(base_seeds)[keep])
    if paired is not None:
        draws, means = paired
        level = level_draws(fit, draws, n)
    else:
        level = level_draws(fit, fit.bootstrap(), n)
        rng = np.random.default_rng(0)  # reproducible: the same table gives the same interval
        means = mean + (float(np.std(base, ddof=1)) / np.sqrt(k) * rng.standard_t(k - 1, len(level)) if k > 1 else 0.0)
    lo, hi = percentile_interval(level - means, LEVEL)
    return {"scratch_mean": mean, "scratch_n": k, "d_scratch": float(fit.predict([n])[0]) - mean,
            "d_scratch_lo": lo, "d_scratch_hi": hi, "scratch_paired": paired is not None}


def paired_scratch(fit: Fit, base: np.ndarray, seeds: np.ndarray | None,
                   n_boot: int = N_BOOT) -> tuple[np.ndarray, np.ndarray] | None:
    """(the curve's parameter draws, the scratch mean's draws) resampled by seed together, or None when the
    scratch runs' seeds are not the G seeds the curve's draws resample (fits.uncertainty.seed_labels). Draw
    b gives the curve's k-th seed the offset of seed picks[b, k] (as compare's paired groups) and the
    scratch mean exp(the location of those seeds' log scratch deviations) times itself: each seed's log of
    its mean scratch error less their mean, x sqrt(G / (G - 1)), on the log scale the curve's offsets have,
    located as the curve's robust refit locates its seeds (huber_location), so a seed that moves both by the
    same factor cancels at any draw's scale. Both deviations are times one
    factor drawn for the G - 1 degrees of freedom of their paired differences; the curve's within-seed
    residuals keep a factor for their own."""
    labels = seed_labels(fit)
    if seeds is None or labels is None or len(seeds) != len(base):
        return None
    per_seed = pd.Series(base).groupby(pd.Series(seeds)).mean()
    if len(per_seed) != len(labels) or not np.array_equal(np.sort(per_seed.index.to_numpy()), np.sort(labels)):
        return None
    dev = per_seed.loc[labels].to_numpy(float)
    if not (dev > 0).all():  # an error of 0 has no log: drawn apart, as without seeds
        return None
    dev, g = centred_offsets(np.log(dev)), len(dev)
    rng = np.random.default_rng((SCRATCH_STREAM, 0))
    factors = np.column_stack([scale_draws(rng, noise_dof(fit.problem), n_boot), scale_draws(rng, g - 1, n_boot)])
    picks = seed_picks(g, n_boot, (SCRATCH_STREAM, 1))
    draws = bootstrap_params(fit, n_boot, seed=0, factors=factors, picks=picks)
    shift = huber_location(np.clip(dev[picks] * factors[:, 1:], -LOG_DEV_LIMIT, LOG_DEV_LIMIT))  # as the curve's
    return draws, float(np.mean(base)) * np.exp(shift)


def huber_location(v: np.ndarray, scale: float = F_SCALE, steps: int = 50) -> np.ndarray:
    """Each row's location under Huber's loss of `scale` (the fit's, F_SCALE in log units), by iteratively
    reweighted means from the median: what the curve's refit makes of its seeds' offsets. Scaled for few
    degrees of freedom, a draw's offsets often lie far beyond F_SCALE apart; the refit then down-weights the
    outlying seeds, and a plain mean of the scratch runs' deviations no longer moved with it (the 3-seed
    sweep of tests/test_fits_compare_scratch.py, whose seeds both share, was not told apart from its
    scratch runs with a plain mean; it is with this location)."""
    mu = np.median(v, axis=1)
    for _ in range(steps):
        r = np.abs(v - mu[:, None])
        w = np.where(r > scale, scale / np.maximum(r, 1e-300), 1.0)
        mu = (w * v).sum(axis=1) / w.sum(axis=1)
    return mu


def scratch_sentence(key: str, row: dict[str, Any], x: str, y: str, scale: float) -> str:
    """One sentence: is the pre-trained curve at its largest size below, above, or not told apart from
    training from scratch (x = 0)? The question the suite is for: what this pre-training is worth."""
    n, k = row["n_max"], row["scratch_n"]
    if not k:
        return (f"{key}: no scratch runs ({x} = 0) share its design, so nothing says what its pre-training is "
                f"worth: add {x} = 0 to the sweep.")
    d = (row["d_scratch"], row["d_scratch_lo"], row["d_scratch_hi"])
    fitted = fmt_num(row["d_scratch"] + row["scratch_mean"], scale=scale)
    head = (f"{key} vs scratch: at {x} = {fmt_size(n)} the fitted {y} {fitted}"
            f" differs from scratch's {fmt_num(row['scratch_mean'], scale=scale)} ({k} run{'s' if k != 1 else ''}"
            f"{', whose own noise is not in the interval' if k == 1 else ''}"
            f"{', drawn with the curve seed by seed' if _yes(row.get('scratch_paired')) else ''})"
            f" by {fmt_ci(*d, scale=scale)}")
    if np.isnan(d[1]):
        return head + ": the fit has no noise estimate, so no interval tells them apart."
    if d[2] < 0:
        return head + ": this pre-training helps at the measured sizes."
    if d[1] > 0:
        return head + ": this pre-training does worse than none at the measured sizes."
    return head + ": not told apart from training from scratch (more seeds of both would narrow it)."


def _yes(v: Any) -> bool:
    """A flag column's True (bool or numpy bool), not NaN (a table from before the column)."""
    return isinstance(v, (bool, np.bool_)) and bool(v)


def _side(d: float, lo: float, hi: float) -> int:
    """-1 if a - b lies below 0 (its interval, else its estimate, says so), +1 above: which of a pair is lower."""
    return -1 if hi < 0 else 1 if lo > 0 else -1 if d < 0 else 1


# _lower_by's note when a - b's estimate and its interval lie on opposite sides of 0
OUTSIDE = "the estimate lies outside this interval: a parameter on its bound"


def _lower_by(row: dict[str, Any], k: str, scale: float, lower: bool = True) -> tuple[int, str, str]:
    """(which of the pair is lower in k, 0 for a and 1 for b; how much, 'd [lo, hi]', as a positive gap;
    a note, else '') from a - b's estimate and interval; lower=False: which is higher. An estimate on
    the other side of 0 from an interval that leaves 0 out (a parameter on its bound: d_L 0.001 with
    [-0.004, -0.0005] printed "lower by -0.001 [0.0005, 0.004]"): the interval says which, and the gap
    is the interval alone, '[lo, hi]', with the note OUTSIDE."""
    d, lo, hi = row[f"d_{k}"], row[f"d_{k}_lo"], row[f"d_{k}_hi"]
    below = _side(d, lo, hi) < 0  # a - b < 0: a is the lower, b the higher, by b - a
    which = 0 if below == lower else 1
    if (hi < 0 and d >= 0) or (lo > 0 and d <= 0):
        lo, hi = (-hi, -lo) if below else (lo, hi)
        return which, f"[{fmt_num(lo, scale=scale)}, {fmt_num(hi, scale=scale)}]", OUTSIDE
    return which, fmt_ci(-d, -hi, -lo, scale=scale) if below else fmt_ci(d, lo, hi, scale=scale), ""


def _at_floor(p_holm: float, m: int, n_boot: int | None) -> str:
    """'the smallest N draws allow for m pairs: rerun with --boot K or more' when a Holm p that is not
    below 0.05 sits at the smallest the draws allow (holm_floor, within the printed rounding), so
    that it reads as the draws' limit, not the data's verdict; else ''. (pairs_note says it for the
    whole table; the pairs CSV carries only the sentence.)"""
    if n_boot is None or pd.isna(p_holm):
        return ""
    floor = holm_floor(m, n_boot)
    if floor < 0.05 or abs(p_holm - floor) >= 5e-4:
        return ""
    return (f"the smallest {n_boot} draws allow{f' for {m} pairs' if m > 1 else ''}: rerun with --boot "
            f"{boot_for(m)} or more")


def _few_seeds(row: dict[str, Any], few: Any, seeds: dict[str, int]) -> str:
    """' (2 and 2 seeds: few_seeds, read it as provisional)' when either group of the pair carries
    few_seeds (its intervals rest on that few seed offsets), for a told-apart verdict; else ''. (The
    counts are left out for a caller that gives no `seeds`.)"""
    if row["a"] not in few and row["b"] not in few:
        return ""
    known = row["a"] in seeds and row["b"] in seeds
    n_b = seeds.get(row["b"])
    count = f"{seeds[row['a']]} and {n_b} seed{'s' if n_b != 1 else ''}: " if known else ""
    return f" ({count}few_seeds, read it as provisional)"


def pair_sentence(by: str | None, row: dict[str, Any], x: str, y: str, scale: float, m: dict[str, int],
                  ranges: dict[str, tuple[float, float]] | None = None, blind: Any = (),
                  n_boot: int | None = N_BOOT, few: Any = (), seeds: dict[str, int] | None = None,
                  constant: Any = ()) -> str:
    """One sentence: which of the pair is better at n_common, read from d_L, the question users bring
    ("is complexity 5 better than complexity 3?"). Told apart when its Holm-adjusted p is below 0.05,
    the column the report says to read when scanning pairs, so the sentence never contradicts it; a
    per-pair interval that leaves 0 out while Holm's p does not is said to vanish once the pairs are
    accounted for. d_alpha and d_C told apart (their Holm p < 0.05) add a clause. m: each Holm family's
    size (pairs with a p-value); ranges: each group's (smallest, largest) size; blind: the groups whose fit
    has no noise estimate (no intervals); n_boot: the draws per group behind the p-values (a Holm p not
    below 0.05 at the smallest they allow says so, and how many to draw: _at_floor; one within two Monte
    Carlo standard errors of 0.05 says that: near_line); few: the groups
    flagged few_seeds, whose told-apart verdicts are hedged, with seeds: each group's seed count;
    constant: the groups whose errors are all the same (uncertainty.all_equal, all 0 included): no noise
    to draw from, rather than no points left over to estimate it."""
    x, y = one_line(x), one_line(y)
    names = (_group_name(by, row["a"]), _group_name(by, row["b"]))
    head = f"{names[0]} vs {names[1]}: "
    also = []  # (NaN: no p-value, nothing to add)
    if row["p_alpha_holm"] < 0.05:
        k, gap, note = _lower_by(row, "alpha", scale, lower=False)
        also.append(f"{names[k]}'s curve is steeper (alpha higher by {gap}, p Holm {row['p_alpha_holm']:.3f}"
                    f"{'; ' + note if note else ''})")
    if row["p_C_holm"] < 0.05:
        k, gap, note = _lower_by(row, "C", scale)
        also.append(f"{names[k]} has the lower gap (C lower by {gap}, p Holm {row['p_C_holm']:.3f}"
                    f"{'; ' + note if note else ''})")
    hedge = _few_seeds(row, few, seeds or {})
    # the hedge once, after the first told-apart verdict: L's (below) if told apart, else these clauses
    tail = (f"; also told apart: {' and '.join(also)}{hedge}" if also else "") + "."
    if pd.isna(row["n_common"]):
        span = "" if ranges is None else " ({} and {})".format(*(
            f"{fmt_size(ranges[k][0])} to {fmt_size(ranges[k][1])}" for k in (row["a"], row["b"])))
        return head + (f"their {x} ranges do not overlap{span}, so at any size one fitted curve would be read outside "
                       f"its data and nothing here says which is better there: measure both at a shared {x}") + tail
    at = f"at {x} = {fmt_size(row['n_common'])}, the largest size inside both measured ranges, "
    d, lo, hi, p, p_holm = (row[f"{s}L{e}"] for s, e in (("d_", ""), ("d_", "_lo"), ("d_", "_hi"), ("p_", ""),
                                                           ("p_", "_holm")))
    minus = f"{names[0]}'s fitted {y} minus {names[1]}'s is "
    if pd.isna(lo) or pd.isna(p_holm):
        who = [(n, k in constant) for k, n in zip((row["a"], row["b"]), names) if k in blind]
        same = [n for n, c in who if c]  # errors that never vary: no noise, not too few points
        left = [n for n, c in who if not c]
        fits_of = f"{left[0]}'s fit has" if len(left) == 1 else f"the fits of {' and '.join(left)} have"
        why = [f"{fits_of} no points left over to estimate the noise"] if left else []
        why += [f"every error of {' and of '.join(same)} is the same (no noise to draw from)"] if same else []
        why = " and ".join(why) or "no bootstrap draw gave both curves a value there"
        tail = ": nothing tells them apart (measure more sizes or seeds)" if left or not who else ""
        return head + at + minus + f"{fmt_num(d, scale=scale)}, but {why}, so it has no interval or p-value{tail}."
    adjusted = f" after Holm's adjustment for {m['L']} pairs" if m["L"] > 1 else ""
    which, gap, note = _lower_by(row, "L", scale)
    lower = f"{names[which]}'s fitted {y} is lower by {gap}"
    also_note = f"; {note}" if note else ""
    floor = _at_floor(p_holm, m["L"], n_boot)  # (only a Holm p not below 0.05 can sit at a floor >= 0.05)
    near = "" if floor else near_line(p, p_holm, n_boot)  # (at the floor, more draws is said already)
    near = f" ({near})" if near else ""
    if p_holm < 0.05:
        text = at + lower + f" (p Holm {p_holm:.3f}{adjusted}{also_note}): {names[which]} is better there{hedge}{near}"
        tail = (f"; also told apart: {' and '.join(also)}" if also else "") + "."  # (hedged once, above)
    elif lo > 0 or hi < 0:  # its own interval leaves 0 out, Holm's p does not
        if m["L"] > 1 and p < 0.05:
            text = (at + lower + f" (p {p:.3f} for this pair alone{also_note}), but not told apart once the "
                    f"{m['L']} pairs are accounted for (p Holm {p_holm:.3f}{', ' + floor if floor else ''}){near}")
        else:  # (p exactly 0.05, or under 40 draws, where the interval runs between the draws' extremes)
            text = (at + lower + (f" ({note})" if note else "") + f", but p Holm {p_holm:.3f}{adjusted} is not "
                    f"below 0.05{f' ({floor})' if floor else ''}: not told apart there{near}")
    else:
        text = at + minus + (f"{fmt_ci(d, lo, hi, scale=scale)} (p Holm {p_holm:.3f}{adjusted}"
                             f"{', ' + floor if floor else ''}): not told apart there{near}")
    return head + text + tail


def _smallest_p(pairs: pd.DataFrame, families: tuple[str, ...], told: pd.Series) -> np.ndarray:
    """A mask of the pairs `told` (apart) that a report prints: all of them up to MAX_PAIR_ROWS, else the
    MAX_PAIR_ROWS with the smallest Holm p in `families` (then the smallest p; ties in table order)."""
    if told.sum() <= MAX_PAIR_ROWS:
        return told.to_numpy()
    rank = pd.DataFrame({"holm": pairs[[f"p_{k}_holm" for k in families]].min(axis=1),
                         "p": pairs[[f"p_{k}" for k in families]].min(axis=1), "row": np.arange(len(pairs))})
    keep = rank[told.to_numpy()].sort_values(["holm", "p", "row"])["row"].to_numpy()[:MAX_PAIR_ROWS]
    return np.isin(np.arange(len(pairs)), keep)


def bounded_pairs(pairs: pd.DataFrame, families: tuple[str, ...]) -> tuple[np.ndarray, str | None]:
    """Which rows a pair table prints, and the line that counts the rest (None when none is left out):
    every pair up to MAX_PAIR_ROWS pairs; above, those told apart in one of `families` (Holm p < 0.05),
    at most MAX_PAIR_ROWS of them (_smallest_p). 60 groups' 1,770 pairs printed 3,743 lines."""
    if len(pairs) <= MAX_PAIR_ROWS:
        return np.ones(len(pairs), bool), None
    told = (pairs[[f"p_{k}_holm" for k in families]] < 0.05).any(axis=1)
    shown = _smallest_p(pairs, families, told)
    n, left, fam = len(pairs), len(pairs) - int(shown.sum()), " or ".join(families)
    if not shown.any():
        text = f"None of the {n:,} pairs is told apart in {fam} (p Holm < 0.05), so this table lists none of them"
    elif told.sum() <= MAX_PAIR_ROWS:
        text = (f"{left:,} of the {n:,} pairs are left out of this table: those not told apart in {fam} (p Holm "
                ">= 0.05, or no p)")
    else:
        text = (f"{left:,} of the {n:,} pairs are left out of this table: of the {int(told.sum()):,} told apart in "
                f"{fam} it lists the {MAX_PAIR_ROWS} with the smallest p Holm")
    return shown, text + "; compare_pairs.csv holds every pair."


def pair_sentences(pairs: pd.DataFrame) -> list[str]:
    """The report's pair sentences: every pair's when there are at most MAX_PAIR_SENTENCES pairs, else
    those of the pairs told apart in L (Holm p < 0.05), at most MAX_PAIR_ROWS of them (the smallest Holm
    p: _smallest_p), and one line counting the rest."""
    if len(pairs) <= MAX_PAIR_SENTENCES:
        return list(pairs["sentence"])
    apart = pairs["p_L_holm"] < 0.05
    shown = _smallest_p(pairs, ("L",), apart)
    k, none = int((~apart & pairs["p_L"].notna()).sum()), int(pairs["p_L"].isna().sum())
    more = int(apart.sum() - shown.sum())  # told apart beyond MAX_PAIR_ROWS (only above that many pairs)
    rest = (f"{more:,} more pair{'s are' if more != 1 else ' is'} told apart in L (the sentences above are the "
            f"{MAX_PAIR_ROWS} with the smallest p Holm)" if more else "")
    rest += (f"{'; ' if rest else ''}{'the other' if apart.any() else 'the'} {k:,} pair{'s are' if k != 1 else ' is'} "
             f"not told apart at {'their' if k != 1 else 'its'} n_common (p Holm of d_L >= 0.05)" if k else "")
    if none:
        rest += (f"{'; ' if rest else ''}{none:,} pair{'s have' if none != 1 else ' has'} no d_L or no p-value for "
                 "it (the notes above say why)")
    if not rest:  # every pair told apart
        return list(pairs["sentence"])
    return [*pairs["sentence"][shown], rest[0].upper() + rest[1:] + "; each pair's sentence is in the pairs table "
            "(compare_pairs.csv, column sentence)."]


def _vs_tries(text: str, by: str) -> list[str]:
    """The spellings of a --vs value to look up, in order: as given, without the report's "by=" before it,
    for several --by columns with commas for the labels' "/" (plain,mnist5k as --by condition,target
    lists them), and a number as label prints it (3 for 3.0)."""
    tries = [text]
    if text.startswith(f"{by}="):
        tries.append(text[len(by) + 1:])
    if "," in by:
        tries += [t.replace(",", "/") for t in tries if "," in t]
    for t in list(tries):
        try:
            tries.append(label(float(t)))
        except ValueError:
            pass
    return tries


def reference_group(vs: Any, by: str | None, labels: list[str]) -> str:
    """The label of the group `vs` names (compare_runs' reference): as the groups' labels print (0; for
    several --by columns their values joined by "/", plain/mnist5k), as the report names it
    (complexity=0), or with commas for the "/" (plain,mnist5k); else a one-line FitInputError that
    names the groups there are and the closest one."""
    text = (vs if isinstance(vs, str) else label(vs)).strip()
    if by is None:
        raise FitInputError(f"{option('vs', text)} compares each group with one reference group, but there are no "
                            f"groups: name the group column with {option('by')}")
    for t in _vs_tries(text, by):
        if t in labels:
            return t
    try:  # a number: the numerically closest group
        nums = {k: float(k) for k in labels if np.isfinite(float(k))}
        close = [min(nums, key=lambda k: abs(nums[k] - float(text)))] if nums else []
    except ValueError:  # text, or groups that are not all numbers
        close = difflib.get_close_matches(text, labels, n=1)
    names = ", ".join(labels[:12]) + (f", ... ({len(labels)} in all)" if len(labels) > 12 else "")
    raise FitInputError(f"{option('vs', text)}: no {one_line(by)} group is {one_line(text)!r}; the groups are "
                        f"{one_line(names)}{f' (closest: {one_line(close[0])})' if close else ''}")


PAIR_STREAM = 7919  # the pairs' factor streams: default_rng((PAIR_STREAM, i, j)) for the groups at places i < j


def pair_draws(fits_: dict[str, Fit], a: str, b: str, n_boot: int, paired: bool = True,
               draws: str = "centred") -> tuple[np.ndarray, np.ndarray, bool]:
    """The draws of groups a and b behind their differences, and whether they are paired: each group's
    resamples on a random stream of its own (1 + its place among fits_: on one stream, groups with the
    same design drew the same resamples together and their differences got too-narrow intervals), scaled
    by factors the two share, drawn for the Welch degrees of freedom of their difference
    (fits.uncertainty.shared_factors) on a stream of the pair's own. When both groups ran the same seeds
    (and `paired`), each draw resamples those seeds for both groups together (fits.uncertainty.paired_picks,
    on a second stream of the pair's): a seed's effect that both share, such as its real fine-tuning
    images, cancels in the difference. So a pair's draws depend on its two groups only, not on which
    other pairs are compared (`--vs`). `draws`: bootstrap_params' ("centred", the library's, by default)."""
    ia, ib = list(fits_).index(a), list(fits_).index(b)
    stream = (PAIR_STREAM, min(ia, ib), max(ia, ib))
    picks = paired_picks(fits_[a], fits_[b], n_boot, (*stream, 1)) if paired else None
    factors = shared_factors(fits_[a], fits_[b], n_boot, stream, paired=picks is not None)
    return (bootstrap_params(fits_[a], n_boot, 1 + ia, draws, factors=factors, picks=picks),
            bootstrap_params(fits_[b], n_boot, 1 + ib, draws, factors=factors, picks=picks), picks is not None)


def compare_runs(df: pd.DataFrame, x: str = "n_synth", y: str = "test_err", by: str = "complexity",
                 n_boot: int = N_BOOT, vs: Any = None, paired: bool = True,
                 draws: str = "centred") -> dict[str, Any]:
    """Per-group power_floor fits and every pairwise difference of alpha, of C and of the fitted
    level L at the largest size inside both groups' ranges, with intervals, bootstrap p-values and
    Holm-adjusted ones (one Holm family each); `n_boot` draws per group behind the differences
    (the groups' own intervals are drawn as `fit` draws them, whatever n_boot). `vs`: a group's value
    (reference_group reads it): compare each other group with it only, G - 1 pairs instead of
    G (G - 1) / 2, with a = the other group and b the reference, so each a - b is other minus reference;
    a pair's numbers are those it has among all pairs (its draws depend on its two groups only: pair_draws),
    but for Holm's p. Two groups that ran the same seeds are resampled by seed together (pair_draws; the
    pairs' "paired" column), and so is a group with scratch runs of its own seeds (versus_scratch);
    `paired=False` (`--unpaired`) draws them apart (fits.simulate compares both). `draws`: the pairs'
    bootstrap draws (fits.uncertainty.DRAWS; the CLI's are the default, "centred"; fits.simulate measures the
    others)."""
    check_boot(n_boot)
    by = group_key(by)
    df = fit_rows(df, [x], [y], [by])
    fits_: dict[str, Fit] = {}
    errors: dict[str, str] = {}
    scratch: dict[str, tuple[np.ndarray, np.ndarray | None]] = {}  # each group's scratch errors and their seeds
    grouped = curve_groups(df, x, by)
    ref = None if vs is None else reference_group(vs, by, [label(k) for k, _ in grouped])  # before the fits
    for key, g in grouped:
        pos = g[g[x] > 0]
        base = scratch_rows(df, g, x)  # its baseline, as `fit` picks it
        scratch[label(key)] = (base[y].to_numpy(float), base["seed"].to_numpy() if "seed" in base else None)
        try:
            fits_[label(key)] = fit_curve(pos[x].to_numpy(float), pos[y].to_numpy(float), "power_floor",
                                        groups=pos["seed"].to_numpy() if "seed" in pos else None)
        except FitInputError as exc:
            errors[label(key)] = str(exc)
    if len(fits_) < 1:
        raise none_fitted(by, errors)
    if ref is not None and ref not in fits_:
        raise FitInputError(f"{option('vs', ref)}: the reference group {_group_name(by, ref)} was not fitted "
                            f"({one_line(errors[ref])}); name another group")
    groups, scales, messages, seeds, few, constant = [], {}, {}, {}, set(), []
    for key, fit in fits_.items():
        ci = fit.ci(LEVEL)  # the default stream, as `synthscale fit` draws: the same intervals there
        flags = fit.diagnostics  # computed once: the row lists them, the decision reads too_few_sizes
        n_max = float(np.max(fit.problem.x))
        gain = doubling_gain(fit, n_max)
        gain_ci = percentile_interval(gain, LEVEL)
        scale = scales[label(key)] = min(1.0, float(np.max(fit.problem.y)))  # errors of 1e-10 print as of 0.1
        p = fit.params
        g_point = float(removed_by_doubling(p["D"], p["alpha"], n_max))
        # the fitted error at the largest size, the forest plot's third panel: identified for a flat curve
        # too; its interval from the draws the intervals beside it come from
        if all_equal(fit.problem):  # every error the same (all 0 too): no alpha or C difference for its pairs
            constant.append(key)
        l_max = float(fit.predict([n_max])[0])
        l_lo, l_hi = percentile_interval(level_draws(fit, fit.bootstrap(), n_max), LEVEL)
        row = {key_column(by): key, **{k: p[k] for k in PARAMS}, **{f"{k}_lo": ci[k][0] for k in PARAMS},
               **{f"{k}_hi": ci[k][1] for k in PARAMS}, "n_max": n_max, "L_max": l_max,
               "L_max_lo": l_lo, "L_max_hi": l_hi, "doubling_gain": g_point,
               "doubling_gain_lo": gain_ci[0], "doubling_gain_hi": gain_ci[1],
               # the first-order figure the issue and some papers quote, for comparison; not used
               "doubling_gain_first_order": p["D"] * p["alpha"] * n_max ** -p["alpha"] * np.log(2),
               "diagnostics": ";".join(dict.fromkeys(f.name for f in flags))}
        c_s = fit.bootstrap()[:, list(fit.law.params).index("C")]
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = percentile_interval(gain / c_s, LEVEL)
        # a flat fit's level at n_max, the only part of it the data identify (its split into D and C is
        # arbitrary): alpha on its bound 0, or a slope too_flat cannot tell from the noise (alpha 0.004
        # with D's interval over 3.7 orders read "C = 0.273 [0.0257, 0.379] ... straddles 10 %")
        # (not without intervals: the law's fit then has no noise estimate, whatever too_flat's line had)
        too_flat = any(f.name == "too_flat" for f in flags) and bool(np.isfinite(ci["C"]).all())
        row["flat_level"] = l_max if is_flat(fit) or too_flat else np.nan
        base_y, base_seeds = scratch[label(key)]
        row.update(versus_scratch(fit, base_y, n_max, base_seeds if paired else None))
        row["decision"] = decision(_group_name(by, key), n_max, (g_point, *gain_ci),
                                   (p["C"], *ci["C"]), (g_point / p["C"] if p["C"] > 0 else np.inf, *ratio),
                                   None if np.isnan(row["flat_level"]) else row["flat_level"], x, scale=scale,
                                   seeds="seed" in df.columns, perfect=all_zero(fit.problem),
                                   rising=_rise(fit),
                                   few_sizes=any(f.name == "too_few_sizes" for f in flags),
                                   c_on_zero="C" in fit.problem.free and bound_side(fit, "C") == "lower",
                                   flat_why="alpha on its bound 0" if is_flat(fit) else
                                   "its slope within the noise: too_flat", constant=key in constant)
        row["scratch_sentence"] = scratch_sentence(_group_name(by, key), row, x, y, scale)
        messages[label(key)] = [(f.name, f.message) for f in flags]
        if fit.used.groups is not None:  # (the seeds few_seeds counts: those of the points fitted)
            seeds[label(key)] = len(np.unique(fit.used.groups))
        if any(f.name == "few_seeds" for f in flags):
            few.add(label(key))
        groups.append(row)
    pairs = []
    flat = [label(r[key_column(by)]) for r in groups if not np.isnan(r["flat_level"])]
    # a = the other group, b the reference: a - b reads other minus reference (all pairs: a before b in group order)
    todo = itertools.combinations(fits_, 2) if ref is None else [(k, ref) for k in fits_ if k != ref]
    for a, b in todo:
        sa, sb, together = pair_draws(fits_, a, b, n_boot, paired, draws)
        row = {"a": a, "b": b, "paired": together}
        for k in ("alpha", "C"):
            # a flat fit's C is an arbitrary share of its level; errors all the same leave alpha arbitrary too
            if (k == "C" and (a in flat or b in flat)) or a in constant or b in constant:
                row.update({f"d_{k}{e}": np.nan for e in ("", "_lo", "_hi")} | {f"p_{k}": np.nan})
                continue
            j = list(fits_[a].law.params).index(k)
            diff = sa[:, j] - sb[:, j]  # draw b of each: the same factors (and seeds, when paired)
            lo, hi = pair_interval(diff)
            row.update({f"d_{k}": fits_[a].params[k] - fits_[b].params[k], f"d_{k}_lo": lo,
                        f"d_{k}_hi": hi, f"p_{k}": boot_p_value(diff)})
        n_c = common_size(fits_[a], fits_[b])
        if np.isnan(n_c):  # no size inside both ranges: one curve would be extrapolated
            row.update({"n_common": n_c, "d_L": np.nan, "d_L_lo": np.nan, "d_L_hi": np.nan, "p_L": np.nan})
        else:
            diff = level_draws(fits_[a], sa, n_c) - level_draws(fits_[b], sb, n_c)
            lo, hi = pair_interval(diff)
            row.update({"n_common": n_c, "d_L": float(fits_[a].predict([n_c])[0] - fits_[b].predict([n_c])[0]),
                        "d_L_lo": lo, "d_L_hi": hi, "p_L": boot_p_value(diff)})
        pairs.append(row)
    pairs = pd.DataFrame(pairs, columns=PAIR_COLUMNS)  # one group: its header alone, readable by read_csv
    for k in PAIR_FAMILIES:  # one family per parameter
        pairs[f"p_{k}_holm"] = holm(pairs[f"p_{k}"])
    m = {k: int(pairs[f"p_{k}"].notna().sum()) for k in PAIR_FAMILIES}  # each Holm family's size
    ranges = {k: (float(np.min(f.problem.x)), float(np.max(f.problem.x))) for k, f in fits_.items()}
    blind = {label(r[key_column(by)]) for r in groups if np.isnan(r["C_lo"])}  # no noise estimate: no interval
    pairs["sentence"] = [pair_sentence(by, r, x, y, min(scales[r["a"]], scales[r["b"]]), m, ranges, blind,
                                       n_boot, few, seeds, constant) for r in pairs.to_dict("records")]
    return {"by": by, "groups": pd.DataFrame(groups), "pairs": pairs, "errors": errors, "n_boot": n_boot,
            "scales": scales, "flat": flat, "x": x, "y": y, "messages": messages, "constant": constant, "vs": ref}


def _columns(head: list[str], rows: list[list[str]]) -> list[str]:
    """Left-aligned text columns, each as wide as its widest cell plus two spaces."""
    widths = [max(len(x) for x in col) + 2 for col in zip(head, *rows)]
    return ["".join(f"{c:<{w}}" for c, w in zip(r, widths)).rstrip() for r in [head, *rows]]


# the groups table's own columns, which a --by column of the same name must not overwrite
GROUP_COLUMNS = {*PARAMS, *(f"{k}{e}" for k in PARAMS for e in ("_lo", "_hi")), "n_max", "L_max", "L_max_lo",
                 "L_max_hi", "doubling_gain", "doubling_gain_lo", "doubling_gain_hi", "doubling_gain_first_order",
                 "diagnostics", "flat_level", "decision", "error", *SCRATCH_COLUMNS, "scratch_sentence"}
# (error: cmd_compare's, why a group was not fitted)


def key_column(by: str | None) -> str:
    """The groups table's first column: the --by column, or "group" for one curve over the whole
    table (fits.table's name for it; the CSV's header was empty), or "<by> (group)" when the --by
    column shares a name with one of the table's own (a sweep over a regulariser called "alpha")."""
    return "group" if by is None else f"{by} (group)" if by in GROUP_COLUMNS else by


def _group_name(by: str | None, key: Any) -> str:
    """'complexity=3'; the whole table (no --by) is 'all'; a name with a newline escaped (one_line)."""
    return "all" if by is None else f"{one_line(by)}={one_line(key)}"


def report(res: dict[str, Any]) -> str:
    """Plain-text tables and the decision sentences."""
    g, p = res["groups"], res["pairs"]
    scales = res.get("scales", {})
    def fmt(r: pd.Series, k: str, sc: float = 1.0) -> str:  # no interval (missing_note): "[-]", not "[nan, nan]"
        if pd.isna(r[k + "_lo"]) and pd.isna(r[k + "_hi"]):
            return f"{fmt_num(r[k], scale=sc)} [-]"
        return fmt_ci(r[k], r[k + "_lo"], r[k + "_hi"], scale=sc)

    head = ["group", *[f"{k} [95 %]" for k in PARAMS], "flags"]
    # each flag name once (on_bound fires per parameter), as in compare_groups.csv and fit_table
    flags = lambda r: ";".join(dict.fromkeys(r["diagnostics"].split(";"))) or "-"  # noqa: E731
    col = key_column(res["by"])
    def cell(r: pd.Series, k: str) -> str:  # a flat fit's C: only its ceiling, the level, is identified
        sc = scales.get(label(r[col]), 1.0)
        if k in ("C", "D") and pd.notna(r.get("flat_level", np.nan)):  # (D: the level's other, arbitrary share)
            return fmt_flat(r["flat_level"], sc)
        return fmt(r, k, sc)

    rows = [[_group_name(res["by"], r[col]), *[cell(r, k) for k in PARAMS], flags(r)] for _, r in g.iterrows()]
    lines = _columns(head, rows)
    if len(p):
        if res.get("vs") is not None:  # which way round the differences read
            lines += ["", f"Each group against the reference {_group_name(res['by'], res['vs'])} (--vs): a is the "
                      f"other group, b the reference, so every a - b is other minus reference; {len(p)} "
                      f"pair{'s' if len(p) != 1 else ''}, the family Holm's p adjusts for."]
        head = ["a - b", "d_alpha [95 %]", "p", "p Holm", "d_C [95 %]", "p", "p Holm"]
        dash = lambda v, text: "-" if pd.isna(v) else text  # noqa: E731  (no difference: missing_note)
        shown, left = bounded_pairs(p, ("alpha", "C"))  # above MAX_PAIR_ROWS pairs: those told apart
        rows = [[f"{one_line(r['a'])} - {one_line(r['b'])}", *(v for k in ("alpha", "C") for v in (
                    dash(r[f"d_{k}"], fmt(r, f"d_{k}", min(scales.get(r["a"], 1.0), scales.get(r["b"], 1.0)))),
                    dash(r[f"p_{k}"], f"{r[f'p_{k}']:.3f}"), dash(r[f"p_{k}_holm"], f"{r[f'p_{k}_holm']:.3f}")))]
                for _, r in p[shown].iterrows()]
        lines += ["", *(_columns(head, rows) if rows else []), *([left] if left else [])]
        x, y = one_line(res.get("x", "n")), one_line(res.get("y", "the error"))
        shown, left = bounded_pairs(p, ("L",))
        rows = [[f"{one_line(r['a'])} - {one_line(r['b'])}", dash(r["n_common"], fmt_size(r["n_common"])),
                 dash(r["d_L"], fmt(r, "d_L", min(scales.get(r["a"], 1.0), scales.get(r["b"], 1.0)))),
                 dash(r["p_L"], f"{r['p_L']:.3f}"), dash(r["p_L_holm"], f"{r['p_L_holm']:.3f}")]
                for _, r in p[shown].iterrows()]
        lines += ["", f"L: each fitted curve's {y} at n_common, the largest {x} inside both groups' measured "
                  "ranges (no extrapolation; known for a flat curve too; d_L < 0: a is lower there)",
                  *(_columns(["a - b", "n_common", "d_L [95 %]", "p", "p Holm"], rows) if rows else []),
                  *([left] if left else [])]
        counts = {k: int(p[f"p_{k}"].notna().sum()) for k in PAIR_FAMILIES}
        lines.append("")
        if any(counts.values()):  # (no pair has a p-value: nothing to read the note for)
            lines.append(pairs_note(counts["alpha"], res.get("n_boot", N_BOOT), counts["C"], counts["L"],
                                    n_groups=len(g), vs=res.get("vs") is not None))
        lines += paired_note(p)
        lines += missing_note(res)
        if "sentence" in p:  # (a table written before the sentences: none to print)
            lines += ["", *pair_sentences(p)]
    lines.append("")
    lines.extend(g["decision"])
    if "scratch_n" in g and (g["scratch_n"] > 0).any():  # none at all (an ASG table): nothing to say of it
        lines += ["", *g["scratch_sentence"]]
    lines.extend(f"{one_line(res['by'])}={one_line(k)}: not fitted: {e}" for k, e in res["errors"].items())
    said = [f"{_group_name(res['by'], k)} {name}: {one_line(text)}" for k, flags in res.get("messages", {}).items()
            for name, text in flags]
    if said:
        lines += ["", "flags (docs/fits.md, Diagnostics, says when each fires):", *said]
    return "\n".join(lines)


def paired_note(pairs: pd.DataFrame) -> list[str]:
    """Which pairs were drawn seed by seed together (pair_draws): none said when none was (or the table
    predates the column)."""
    if "paired" not in pairs or not len(pairs):
        return []
    k, n = int(pairs["paired"].astype("boolean").fillna(False).sum()), len(pairs)
    if not k:
        return []
    which = ("Each pair's two groups ran the same seeds" if k == n else
             f"In {k} of the {n} pairs both groups ran the same seeds (the others' groups are resampled apart)")
    return [f"{which}: the draws resample those seeds for both groups together (paired), so what a seed does to "
            "both conditions alike (such as its real fine-tuning images) cancels in their differences."]


def missing_note(res: dict[str, Any]) -> list[str]:
    """Why a pair has no difference ("-"): a flat group's C, or a group without intervals."""
    by, flat = res["by"], res.get("flat", [])
    g = res["groups"]
    blind = [label(k) for k, lo in zip(g[key_column(by)], g["C_lo"]) if pd.isna(lo)]
    out = []
    if flat and len(res["pairs"]) and res["pairs"]["d_C"].isna().any():
        names = ", ".join(_group_name(by, k) for k in flat)
        out.append(f"-: no d_C for pairs with {names}: a flat fitted curve (alpha on its bound 0, errors all the "
                   "same, or a slope too_flat cannot tell from noise) identifies only its level, not its split into D "
                   "and C (the sentences below give the level).")
    apart = [f"{one_line(a)} - {one_line(b)}" for a, b, n in zip(res["pairs"]["a"], res["pairs"]["b"],
                                                               res["pairs"]["n_common"]) if pd.isna(n)]
    if apart:
        out.append(f"-: no d_L for {', '.join(apart)}: their {one_line(res.get('x', 'size'))} ranges do not overlap, "
                   "so one curve would be read outside its data.")
    still = [k for k in blind if k in res.get("constant", [])]  # errors all the same: no noise, not no points
    blind = [k for k in blind if k not in still]
    if blind:
        names = ", ".join(_group_name(by, k) for k in blind)
        one = len(blind) == 1
        out.append(f"-: no p-value and no interval for pairs with {names}: {'its fit has' if one else 'their fits have'} "
                   f"no points left over to estimate the noise (see {'its sentence' if one else 'their sentences'} below).")
    if still:
        names = ", ".join(_group_name(by, k) for k in still)
        which = "that group" if len(still) == 1 else "each of those groups"
        out.append(f"-: no p-value and no interval for pairs with {names}: every error of {which} is the same, so "
                   "there is no noise to draw intervals from, and nothing says what its alpha is or how its level "
                   "splits into D and C (no d_alpha, no d_C).")
    return out


def pairs_note(m: int, n_boot: int, m_c: int | None = None, m_l: int | None = None, n_groups: int | None = None,
               vs: bool = False) -> str:
    """How to read the pairs tables' p-values, and whether their draws let a Holm p reach 0.05. `m`
    pairs have a p-value for alpha, `m_c` for C (a flat group's pairs have none) and `m_l` for the
    level L (each defaults to `m`). Above MAX_PAIR_ROWS pairs among `n_groups` groups, all pairs (not
    `vs`), it also names the cheaper way: each group against one reference, n_groups - 1 pairs (60
    groups' 1,770 pairs need --boot 70801, their 59 against one reference 2361)."""
    floor = p_floor(n_boot)  # (holm_floor and boot_for: the arithmetic pair_sentence's _at_floor shares)
    families = {"alpha": m, "C": m if m_c is None else m_c, "L": m if m_l is None else m_l}
    same = len(set(families.values())) == 1
    counted = (f"the {m} pair{'s' if m != 1 else ''} compared" if same else
               ", ".join(f"the {k} pair{'s' if k != 1 else ''} compared in {name}" for name, k in families.items()))
    note = (f"p: one pair's two-sided bootstrap p-value ({n_boot} draws per group, so none is below "
            f"{floor:.3g}); p Holm: adjusted for {counted}, per parameter "
            f"(Holm), the one to read when scanning pairs; the 95 % intervals are per pair. A p from {n_boot} "
            f"draws is itself a count over them: near 0.05 another {n_boot} draws would move it by about "
            f"{p_error(0.05, n_boot):.2g} (its Monte Carlo standard error), and a level verdict within two of "
            f"them of 0.05 says so.")
    said = set()
    for name, k in families.items():
        if holm_floor(k, n_boot) < 0.05 or k in said:  # (equal families: said once)
            continue
        said.add(k)
        which = "" if same else f" in {' and '.join(f for f, j in families.items() if j == k)}"
        note += (f" With {k} pairs{which} and {n_boot} draws no Holm p can fall below {holm_floor(k, n_boot):.2g}: "
                 f"rerun with --boot {boot_for(k)} or more to let one fall below 0.05, or compare fewer groups.")
    if said and max(said) > MAX_PAIR_ROWS and not vs and n_groups:
        k = n_groups - 1
        need = (f"within reach of these {n_boot} draws" if boot_for(k) <= n_boot else
                f"for which --boot {boot_for(k)} suffices")
        note += (f" Or compare each group with one reference group only (--vs VALUE, e.g. a baseline): {k} "
                 f"pair{'s' if k != 1 else ''}, {need}.")
    return note


def forest_plot(res: dict[str, Any], out: str | Path) -> list[Path]:
    """The forest figure (forest_figure) written to `out` and the .pdf beside it."""
    from fits.plot import save

    return save(forest_figure(res), out)


def forest_figure(res: dict[str, Any]) -> Any:
    """alpha, C and the fitted error at each group's largest size (L_max) per group with 95 % intervals,
    side by side; the groups' values label the rows and the group column names the axis once. The
    third panel answers "which is better at the data we have?" and is identified for a flat curve too;
    the scratch runs' mean (x = 0) is drawn beside it: one dashed line when every group shares it, else
    one per row."""
    from fits.plot import err_lengths, plain, plt

    g = res["groups"]
    panels = ("alpha", "C", "L_max") if "L_max" in g else ("alpha", "C")  # (a table from before L_max: two)
    fig, axes = plt.subplots(1, len(panels), figsize=(3.75 * len(panels), 0.5 + 0.45 * len(g)), sharey=True)
    ypos = np.arange(len(g))[::-1]
    flat = g["flat_level"].notna().to_numpy() if "flat_level" in g else np.zeros(len(g), bool)
    for ax, k in zip(axes, panels):
        show = ~flat if k == "C" else np.ones(len(g), bool)  # a flat fit's C is an arbitrary share of its level
        ax.errorbar(g[k][show], ypos[show], xerr=err_lengths(g[k][show], g[f"{k}_lo"][show], g[f"{k}_hi"][show]),
                    fmt="o", capsize=3)
        if k == "C" and flat.any():
            ax.hlines(ypos[flat], 0, g["flat_level"][flat], linestyles="dotted", color="gray")
            ax.plot(g["flat_level"][flat], ypos[flat], ">", mfc="none", color="gray")
            for yy in ypos[flat]:
                ax.text(0, yy, " flat curve: C in [0, its level D + C]", va="bottom", fontsize="small", color="gray")
        ax.set_xlabel(f"{k} (95 % bootstrap interval)")
        ax.grid(True, axis="x", alpha=0.3)
    if "L_max" in g:
        _level_panel(axes[-1], g, ypos, res)
    axes[0].set_ylim(-0.5, len(g) - 0.5)  # half a row around each end: a flat row's label stays inside
    axes[0].set_yticks(ypos)
    ref = res.get("vs")  # the values label the rows, the column names the axis once; --vs: the reference says so
    axes[0].set_yticklabels([plain(label(v)) + (" (reference)" if label(v) == ref else "")
                             for v in g[key_column(res["by"])]])
    axes[0].set_ylabel(res["by"] or "whole table")
    return fig


def _level_panel(ax: Any, g: pd.DataFrame, ypos: np.ndarray, res: dict[str, Any]) -> None:
    """The forest plot's third panel's labels: the size it is read at (in the axis label when every group
    shares it, else beside each row) and the scratch mean, dashed, labelled above the panel."""
    from matplotlib.transforms import blended_transform_factory as blended

    x, y = one_line(res.get("x", "n")), one_line(res.get("y", "the error"))
    sizes = g["n_max"].to_numpy(float)
    same = bool(np.all(sizes == sizes[0]))
    ax.set_xlabel(f"fitted {y} at the groups' largest {x}\n({fmt_size(sizes[0])}; 95 % bootstrap interval)" if same
                  else f"fitted {y} at each group's largest {x}\n(95 % bootstrap interval)")
    if not same:  # each row's size, just right of the panel
        where = blended(ax.transAxes, ax.transData)
        for yy, n in zip(ypos, sizes):
            ax.text(1.02, yy, f"at {fmt_size(n)}", transform=where, va="center", fontsize="small", color="gray")
    if "scratch_n" not in g or not (g["scratch_n"] > 0).any():
        return
    has = (g["scratch_n"] > 0).to_numpy()
    means = g["scratch_mean"].to_numpy(float)
    style = {"linestyles": "dashed", "color": "C3", "label": f"scratch ({x} = 0)"}
    if has.all() and np.allclose(means, means[0], rtol=1e-12, atol=0):  # the same scratch runs: one line
        ax.vlines(means[0], -0.5, len(g) - 0.5, **style)
    else:  # each row's own baseline, on its own row only
        ax.vlines(means[has], ypos[has] - 0.4, ypos[has] + 0.4, **style)
    ax.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), frameon=False, fontsize="small", borderaxespad=0.2)


def cmd_compare(args: argparse.Namespace) -> int:
    """`compare`: print the comparison, write its tables and the forest plot."""
    from fits.cli import check_outputs, clear_outputs, out_dir, read_grouped, write_text_report

    check_boot(args.boot)  # before the output folder is made
    out = out_dir(args.output)
    names = ["compare_groups.csv", "compare_pairs.csv", "compare.txt", "forest.png", "forest.pdf"]
    check_outputs(out, names, "compare")
    res = compare_runs(read_grouped(args), args.x, args.y, args.by, args.boot, vs=args.vs, paired=not args.unpaired)
    clear_outputs(out / n for n in names)
    tables = [out / "compare_groups.csv", out / "compare_pairs.csv"]
    unfitted = pd.DataFrame([{key_column(res["by"]): k, "error": e} for k, e in res["errors"].items()])
    groups = res["groups"].assign(error="")  # a group that could not be fitted is a row too, with why
    (pd.concat([groups, unfitted], ignore_index=True) if len(unfitted) else groups).to_csv(tables[0], index=False)
    res["pairs"].to_csv(tables[1], index=False)
    return write_text_report(out, "compare.txt", report(res), [*tables, *forest_plot(res, out / "forest.png")])


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add `compare`."""
    from fits.cli import add_table_args, output_arg

    p = subparsers.add_parser("compare", help="compare alpha, C, D between groups, with intervals",
                              description="Per-group power_floor fits with 95 % intervals, pairwise "
                                          "differences of alpha, of C and of the fitted level at the largest "
                                          "size both groups' ranges share, with bootstrap p-values, a forest "
                                          "plot, and whether more data or a better generator pays.")
    add_table_args(p)
    p.add_argument("--boot", type=int, default=N_BOOT, metavar="N",
                   help=f"bootstrap draws per group behind the pairwise differences and p-values "
                        f"(default {N_BOOT}, {MIN_BOOT} to {MAX_BOOT:,}; the smallest p is 2/N, "
                        f"{p_floor(N_BOOT):g} at "
                        f"the default, so scanning many pairs with Holm's adjustment needs more: the report says how many)")
    p.add_argument("--vs", metavar="VALUE", default=None,
                   help="compare each group with the reference group whose --by value is VALUE (as the groups "
                        "print: 0, or plain/mnist5k for --by condition,target), G-1 pairs instead of all G(G-1)/2 "
                        "(a Holm p below 0.05 then needs --boot 40(G-1)+1, not 20G(G-1)+1); each difference a - b "
                        "is the other group minus the reference")
    p.add_argument("--unpaired", action="store_true",
                   help="draw every pair's groups (and each group's scratch runs) apart even where they ran the same "
                        "seeds; by default those are resampled seed by seed together, which cancels what a seed "
                        "does to both (docs/fits.md, Paired seeds)")
    p.add_argument("-o", "--output", default="compare", type=output_arg, help="output folder (default ./compare)")
    p.set_defaults(func=cmd_compare)
