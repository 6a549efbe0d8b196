"""Checking the bootstrap intervals by simulation: how often does the 95 % interval hold the truth?"""
from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import NamedTuple

import numpy as np
import pandas as pd

from fits.core import fit_curve, percentile_interval
from fits.uncertainty import DRAWS, bootstrap_params

# A sweep shaped like the quickstart: 7 sizes over 1.8 decades, 5 seeds, 2 % seed noise.
TRUE = {"D": 3.0, "alpha": 0.4, "C": 0.1}
SIZES = np.array([250, 500, 1000, 2000, 4000, 8000, 16000], dtype=float)


def simulate(rng: np.random.Generator, n_seeds: int = 5, noise: float | np.ndarray = 0.02,
             seed_noise: float = 0.01, alpha_noise: float = 0.0,
             offsets: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sizes, errors, seed ids: the law times per-point and per-seed log-normal noise (`noise`: one
    log sd, or one per row, the rows being each size's seeds in turn); with alpha_noise each seed's
    curve also has its own exponent, alpha + N(0, alpha_noise). `offsets`: the seeds' log offsets to use
    instead of drawing them with sd seed_noise."""
    x = np.repeat(SIZES, n_seeds)
    g = np.tile(np.arange(n_seeds), len(SIZES))
    # a seed's whole curve sits a bit high or low
    offset = (rng.normal(0, seed_noise, n_seeds) if offsets is None else np.asarray(offsets))[g]
    alpha = TRUE["alpha"] + (rng.normal(0, alpha_noise, n_seeds)[g] if alpha_noise else 0.0)
    y = (TRUE["D"] * x ** -alpha + TRUE["C"]) * np.exp(rng.normal(0, noise, len(x)) + offset)
    return x, y, g


# Heteroscedastic sweeps (coverage(hetero=...)): the point noise falls from 4 % at the smallest size
# to 1 % at the largest, geometrically, as when larger pre-training sets give steadier fine-tunes.
HETERO_SD = np.geomspace(0.04, 0.01, len(SIZES))
HETERO = ("weighted", "unweighted")


def coverage(n_repeats: int = 200, n_boot: int = 200, level: float = 0.95, seed: int = 0,
             use_groups: bool = True, n_seeds: int = 5, seed_noise: float = 0.01,
             alpha_noise: float = 0.0, hetero: str | None = None, draws: str = "centred") -> dict[str, float]:
    """Fraction of simulated sweeps whose `level` interval contains each true parameter (with
    alpha_noise: the exponent of the mean seed, TRUE["alpha"]). With `hetero` the point noise is
    HETERO_SD per size instead of 2 %, and the fit weighs each point by its inverse variance
    ("weighted": the bootstrap still resamples every residual alike) or not at all ("unweighted").
    `draws`: the bootstrap's draws (fits.uncertainty.bootstrap_params); "centred" is the library's."""
    if hetero not in (None, *HETERO):
        raise ValueError(f"hetero must be one of {HETERO} or None, not {hetero!r}")
    rng = np.random.default_rng(seed)
    hits = {k: 0 for k in TRUE}
    noise = np.repeat(HETERO_SD, n_seeds) if hetero else 0.02  # simulate's rows: each size's seeds together
    weights = 1 / noise ** 2 if hetero == "weighted" else None
    for _ in range(n_repeats):
        x, y, g = simulate(rng, n_seeds, noise=noise, seed_noise=seed_noise, alpha_noise=alpha_noise)
        fit = fit_curve(x, y, groups=g if use_groups else None, weights=weights)
        samples = bootstrap_params(fit, n_boot, 0, draws=draws)  # "centred": what fit.bootstrap(n_boot) draws
        for j, k in enumerate(fit.law.params):
            lo, hi = percentile_interval(samples[:, j], level)  # as fit.ci(level)
            hits[k] += int(lo <= TRUE[k] <= hi)
    return {k: v / n_repeats for k, v in hits.items()}


def null_rejections(n_pairs: int = 150, seed: int = 7, alpha_level: float = 0.05,
                    n_seeds: int = 5, noise: float = 0.02, seed_noise: float = 0.01,
                    shift: float = 0.0, shared: float = 0.0, paired: bool = True,
                    draws: str = "centred") -> dict[str, float]:
    """Fraction of pairs of groups drawn from one law (`n_seeds` seeds each; point and seed-offset log
    sds `noise`, `seed_noise`) that `compare` calls different at p < alpha_level: the false-positive
    rate of its bootstrap p-values (nominal: alpha_level). With `shift`, the second group's errors are
    exp(shift) times the law (its D and C both, alpha the same): the rates for C and L are then the
    power to tell such a level difference (alpha's stays a false-positive rate). `shared`: the share of
    a seed's offset variance that both groups' runs of that seed have in common (their correlation; as
    when the seed picks the same real fine-tuning images in both conditions); `paired`, `draws`:
    compare_runs'."""
    from fits.compare import compare_runs

    rng = np.random.default_rng(seed)
    hits = {"alpha": 0, "C": 0, "L": 0}
    for _ in range(n_pairs):
        parts = []
        common = rng.normal(0, seed_noise, n_seeds) if shared else None  # (none drawn: the stream before it)
        for name in ("a", "b"):
            offsets = None if common is None else (np.sqrt(shared) * common + np.sqrt(1 - shared)
                                                   * rng.normal(0, seed_noise, n_seeds))
            x, y, g = simulate(rng, n_seeds, noise=noise, seed_noise=seed_noise, offsets=offsets)
            y = y * np.exp(shift) if name == "b" else y
            parts.append(pd.DataFrame({"n_synth": x, "test_err": y, "seed": g, "complexity": name}))
        pair = compare_runs(pd.concat(parts), by="complexity", paired=paired, draws=draws)["pairs"].iloc[0]
        for k in hits:
            hits[k] += int(pair[f"p_{k}"] < alpha_level)
    return {k: v / n_pairs for k, v in hits.items()}


def scratch_rejections(n_repeats: int = 150, seed: int = 9, n_seeds: int = 2, noise: float = 0.025,
                       seed_noise: float = 0.035, shared: float = 0.8, shift: float = 0.0,
                       paired: bool = True) -> float:
    """Fraction of simulated sweeps whose curve `compare` tells apart from its scratch runs (the 95 %
    interval of d_scratch excludes 0) when the scratch runs, one per seed, sit at the curve's true level at
    its largest size times exp(shift), with each seed's offset sharing `shared` of its variance with that
    seed's curve offset (and point noise `noise`): at shift 0, the false-positive rate (nominal 5 %);
    else the power. `paired`: the scratch runs' seeds given (compare's paired draws) or not (independent)."""
    from fits.compare import versus_scratch

    rng = np.random.default_rng(seed)
    level = TRUE["D"] * SIZES[-1] ** -TRUE["alpha"] + TRUE["C"]
    told = 0
    for _ in range(n_repeats):
        common = rng.normal(0, seed_noise, n_seeds)
        own = np.sqrt(shared) * common + np.sqrt(1 - shared) * rng.normal(0, seed_noise, n_seeds)
        x, y, g = simulate(rng, n_seeds, noise=noise, seed_noise=seed_noise, offsets=common)
        base = level * np.exp(shift + own + rng.normal(0, noise, n_seeds))
        fit = fit_curve(x, y, groups=g if n_seeds > 1 else None)
        row = versus_scratch(fit, base, SIZES[-1], np.arange(n_seeds) if paired else None)
        told += int(row["d_scratch_lo"] > 0 or row["d_scratch_hi"] < 0)
    return told / n_repeats


def level_parts(n_pairs: int = 150, seed: int = 7, n_seeds: int = 2, noise: float = 0.025,
                seed_noise: float = 0.035, shared: float = 0.8, shift: float = 0.0,
                n_boot: int = 200) -> dict[str, float]:
    """Where `compare`'s paired level difference d_L gets its width, on pairs drawn like null_rejections'
    (not on its stream: the shared seed effects are drawn at shared 0 too): per pair the estimate d_L, its
    95 % interval as compare draws it (pair_interval of the scaled draws), and two unscaled bootstraps of it, the seed
    offsets alone (residual factor 0, offset factor 1) and the within-seed residuals alone (1 and 0), whose
    variances v_o and v_p are the two parts of the draws' variance. From them a Welch-Satterthwaite t
    interval, d_L +- t(nu, 0.975) sqrt(v_o + v_p) with nu = (v_o + v_p)^2 / (v_o^2 / (G - 1) + v_p^2 /
    nu_p) (nu_p: the residuals' Welch degrees of freedom, as shared_factors draws them): one t for the
    summed variance, where the draws scale each part by a factor of its own. Returns the share of pairs
    each interval tells apart (at shift 0 the false-positive rate; else the power), the medians of both
    half-widths, of nu and of the offsets' share v_o / (v_o + v_p), and the variance of d_L across
    pairs beside the mean of v_o + v_p. A measurement for results/fits_intervals.md, not compare's method."""
    from scipy import stats

    from fits.compare import PAIR_STREAM, level_draws, pair_interval
    from fits.uncertainty import noise_parts, paired_picks, shared_factors, welch_dof

    rng = np.random.default_rng(seed)
    n = SIZES[-1]
    one, zero = np.ones(n_boot), np.zeros(n_boot)
    rows = []
    for _ in range(n_pairs):
        common = rng.normal(0, seed_noise, n_seeds)
        pair = []
        for name in ("a", "b"):
            offsets = np.sqrt(shared) * common + np.sqrt(1 - shared) * rng.normal(0, seed_noise, n_seeds)
            x, y, g = simulate(rng, n_seeds, noise=noise, seed_noise=seed_noise, offsets=offsets)
            pair.append(fit_curve(x, y * np.exp(shift) if name == "b" else y, groups=g))
        fa, fb = pair
        d_hat = float(fa.predict(np.array([n]))[0] - fb.predict(np.array([n]))[0])
        picks = paired_picks(fa, fb, n_boot, (PAIR_STREAM, 0, 1, 1))
        scaled = shared_factors(fa, fb, n_boot, (PAIR_STREAM, 0, 1), paired=True)
        parts = {}
        alone = (("o", np.column_stack([zero, one])), ("p", np.column_stack([one, zero])))  # offsets, residuals
        for kind, factors in (("full", scaled), *alone):
            da = bootstrap_params(fa, n_boot, 1, factors=factors, picks=picks)
            db = bootstrap_params(fb, n_boot, 2, factors=factors, picks=picks)
            parts[kind] = level_draws(fa, da, n) - level_draws(fb, db, n)
        lo, hi = pair_interval(parts["full"])
        v_o, v_p = (float(np.nanvar(parts[k])) for k in ("o", "p"))
        (wa, _), (wb, _) = noise_parts(fa), noise_parts(fb)
        nu = (v_o + v_p) ** 2 / (v_o ** 2 / (n_seeds - 1) + v_p ** 2 / welch_dof(wa, wb))
        half = float(stats.t.ppf(0.975, nu) * np.sqrt(v_o + v_p))
        rows.append({"d": d_hat, "draws": lo > 0 or hi < 0, "draws_half": (hi - lo) / 2, "ws": abs(d_hat) > half,
                     "ws_half": half, "nu": nu, "share_o": v_o / (v_o + v_p), "v": v_o + v_p})
    r = pd.DataFrame(rows)
    return {"told_draws": float(r["draws"].mean()), "told_ws": float(r["ws"].mean()),
            "half_draws": float(r["draws_half"].median()), "half_ws": float(r["ws_half"].median()),
            "nu": float(r["nu"].median()), "share_o": float(r["share_o"].median()),
            "var_d": float(r["d"].var()), "mean_v": float(r["v"].mean())}


def band_coverage(n_repeats: int = 150, n_seeds: int = 2, noise: float = 0.02, seed_noise: float = 0.01,
                  seed: int = 5, level: float = 0.95) -> dict[str, float]:
    """Pointwise coverage of `Fit.band`: the fraction of simulated sweeps whose band holds the true
    curve, at each measured size and at 2x and 8x the largest ("n=<size>" keys); and "runs_inside", the
    share of the simulated runs themselves inside the band at their sizes (a confidence band of the
    curve, not a prediction band: 63 % with 5 seeds; with 1-3 runs per size its draws, scaled for few
    degrees of freedom, make it wide enough to hold 95-98 % of them; results/fits_intervals.md)."""
    grid = np.concatenate([SIZES, SIZES[-1] * np.array([2.0, 8.0])])
    true = TRUE["D"] * grid ** -TRUE["alpha"] + TRUE["C"]
    rng = np.random.default_rng(seed)
    hits, inside = np.zeros(len(grid)), []
    for _ in range(n_repeats):
        x, y, g = simulate(rng, n_seeds, noise=noise, seed_noise=seed_noise)
        fit = fit_curve(x, y, groups=g if n_seeds > 1 else None)
        lo, hi = fit.band(grid, level)
        hits += (lo <= true) & (true <= hi)
        at = np.searchsorted(grid, x)  # each run's size in the grid (the measured sizes come first)
        inside.append(np.mean((lo[at] <= y) & (y <= hi[at])))
    out = {f"n={int(n)}": float(h / n_repeats) for n, h in zip(grid, hits)}
    return {**out, "runs_inside": float(np.mean(inside))}


SETTINGS = ((2, 0.0), (3, 0.0), (5, 0.0), (10, 0.0), (2, 0.05), (3, 0.05), (5, 0.05), (10, 0.05))


def calibration(n_repeats: int = 200, n_boot: int = 200, seed: int = 21,
                settings: tuple = SETTINGS, draws: str = "centred") -> list[dict]:
    """Coverage of the 95 % intervals per (seeds, alpha_noise) setting: one row each, with the
    CPU seconds it took (2 % point noise, 1 % seed offsets, as in `coverage`)."""
    rows = []
    for n_seeds, alpha_noise in settings:
        t0 = time.process_time()
        res = coverage(n_repeats, n_boot, seed=seed, n_seeds=n_seeds, alpha_noise=alpha_noise, draws=draws)
        rows.append({"seeds": n_seeds, "alpha_noise": alpha_noise, **res,
                     "cpu_s": round(time.process_time() - t0)})
    return rows


# The shape flags' cases (--flags): 7 sizes 250..16k, log-normal point noise and seed offsets.
FLAG_SIZES = 250 * 2.0 ** np.arange(7)
_FALLING = (lambda x: 0.5 * x ** -0.3 + 0.1)  # 0.19 -> 0.12 over the sizes
_FLAT = (lambda x: 0.3 + 0 * x)


class FlagCase(NamedTuple):
    """One row of the shape-flag table: curves drawn from `law` (noise-free) at FLAG_SIZES, `n_seeds`
    runs per size with multiplicative point noise `noise` and a per-seed offset of sd `offset_sd` (log
    units); seed 0 is measured at the first `first_sizes` sizes only (7: all; fewer: a seed stopped
    early); seed 2 (when there are 3+) sits at `bad` times its errors (2.0: a broken seed); `flag` is
    the flag counted and `should` what it ought to do, as the table prints it."""

    name: str
    flag: str
    law: Callable[[np.ndarray], np.ndarray]
    n_seeds: int
    noise: float
    offset_sd: float
    first_sizes: int
    bad: float
    should: str


FLAG_CASES = tuple(FlagCase(*row) for row in (
    ("flat, one run per size", "too_flat", _FLAT, 1, 0.02, 0.0, 7, 1.0, "fire"),
    ("flat, 5 seeds", "too_flat", _FLAT, 5, 0.02, 0.03, 7, 1.0, "fire"),
    ("falling, one run per size", "too_flat", _FALLING, 1, 0.02, 0.0, 7, 1.0, "quiet"),
    ("falling, 5 seeds", "too_flat", _FALLING, 5, 0.02, 0.03, 7, 1.0, "quiet"),
    ("steep fall then level (0.15 -> 0.10), one run, 1 % noise", "too_flat",
     (lambda x: 0.10 + 0.05 * (x / 250) ** -3.0), 1, 0.01, 0.0, 7, 1.0, "quiet"),
    ("falling, one run per size", "non_monotone", _FALLING, 1, 0.02, 0.0, 7, 1.0, "quiet (5 % by design)"),
    ("flat, 5 seeds", "non_monotone", _FLAT, 5, 0.02, 0.03, 7, 1.0, "quiet (10 %: two tests)"),
    ("rising 0.30 -> 0.40 in log size, one run, 5.7 % noise", "non_monotone",
     (lambda x: 0.3 + 0.1 * np.log2(x / 250) / 6), 1, 0.02 / 0.35, 0.0, 7, 1.0, "fire"),
    ("clean, 4 seeds", "outlier_seed", _FALLING, 4, 0.02, 0.03, 7, 1.0, "quiet (1 % by design)"),
    ("clean, 5 seeds", "outlier_seed", _FALLING, 5, 0.02, 0.03, 7, 1.0, "quiet (1 % by design)"),
    ("clean, 10 seeds", "outlier_seed", _FALLING, 10, 0.02, 0.03, 7, 1.0, "quiet (1 % by design)"),
    ("clean, 10 seeds, one seed at 1 size", "outlier_seed", _FALLING, 10, 0.02, 0.0, 1, 1.0,
     "quiet (1 % by design)"),
    ("clean, 10 seeds, one seed at 2 sizes", "outlier_seed", _FALLING, 10, 0.02, 0.0, 2, 1.0,
     "quiet (1 % by design)"),
    ("clean, 5 seeds, one seed at 1 size", "outlier_seed", _FALLING, 5, 0.02, 0.0, 1, 1.0,
     "quiet (1 % by design)"),
    ("one seed at 2x, 4 seeds", "outlier_seed", _FALLING, 4, 0.02, 0.03, 7, 2.0, "fire"),
    ("one seed at 2x, 5 seeds", "outlier_seed", _FALLING, 5, 0.02, 0.03, 7, 2.0, "fire"),
    ("one seed at 2x, 10 seeds", "outlier_seed", _FALLING, 10, 0.02, 0.03, 7, 2.0, "fire"),
))


def flag_rate(case: FlagCase, repeats: int, rng: np.random.Generator) -> float:
    """The share of `repeats` simulated curves of `case` (a FLAG_CASES row) on which its flag fires:
    the shape and seed checks of Fit.diagnostics, without the bootstrap they do not use."""
    from fits.diagnostics import _outlier_seed_flags, _shape_flags

    k = case.n_seeds
    x, g = np.repeat(FLAG_SIZES, k), np.tile(np.arange(k), len(FLAG_SIZES))
    keep = (g != 0) | (x <= FLAG_SIZES[case.first_sizes - 1])
    x, g = x[keep], g[keep]
    fired = 0
    for _ in range(repeats):
        off = rng.normal(0, case.offset_sd, k)
        if k > 2:
            off[2] += np.log(case.bad)
        y = case.law(x) * np.exp(off[g] + rng.normal(0, case.noise, len(x)))
        fit = fit_curve(x, y, groups=g if k > 1 else None)
        fired += any(f.name == case.flag for f in _shape_flags(fit) + _outlier_seed_flags(fit))
    return fired / repeats


def bound_sweep(seed: int, holds: bool, noise: float = 0.03, offset: float = 0.03) -> pd.DataFrame:
    """A runs table of 7 pre-training sizes x 4 fine-tuning sizes x 3 seeds. With `holds`, drawn from the
    bound (delta 20, gamma 0.05, alpha 0.4, beta 0.3: D_s = 20 s^-0.3, C_s = gamma D_s); without, D_s
    falls as s^-0.6 and C_s as s^-0.2, so no one beta fits both. Log-normal point noise `noise` and a
    shift `offset` per (s, seed) curve (a seed fine-tunes on another subset at each s)."""
    rng = np.random.default_rng(seed)
    rows = []
    for s in (100.0, 300.0, 1000.0, 3000.0):
        d, c = (20 * s ** -0.3, 0.05 * 20 * s ** -0.3) if holds else (20 * s ** -0.6, s ** -0.2)
        for k in range(3):
            shift = rng.normal(0, offset)
            for n in 100 * 2.0 ** np.arange(7):
                rows.append({"n_synth": n, "n_real": s, "seed": k,
                             "test_err": (d * n ** -0.4 + c) * np.exp(shift + rng.normal(0, noise))})
    return pd.DataFrame(rows)


def groups_table(n_groups: int, seed: int = 0, n_seeds: int = 5, n_sizes: int = 8) -> pd.DataFrame:
    """A runs table of many conditions, for `compare` at scale (docs/fits.md's --vs figures): per group
    (`complexity` 0 .. n_groups - 1) its own alpha in [0.3, 0.7], C in [0.05, 0.3] and D in [2, 6];
    n_seeds seeds, each shifted by N(0, 0.005); sizes 250 x 2^k; point noise N(0, 0.01)."""
    rng = np.random.default_rng(seed)
    rows = []
    for g in range(n_groups):
        alpha, c, d = rng.uniform(0.3, 0.7), rng.uniform(0.05, 0.3), rng.uniform(2, 6)
        for s in range(n_seeds):
            shift = rng.normal(0, 0.005)
            for n in 250 * 2.0 ** np.arange(n_sizes):
                rows.append({"complexity": g, "seed": s, "n_synth": int(n),
                             "test_err": d * n ** -alpha + c + shift + rng.normal(0, 0.01)})
    return pd.DataFrame(rows)


def bound_verdicts(repeats: int, holds: bool, first_seed: int = 100) -> dict[str, dict[str, int]]:
    """How often `bound`'s two checks give each verdict (fits.bound.verdicts' keys) over `repeats`
    sweeps from bound_sweep, the r-th drawn with seed first_seed + r."""
    from fits.bound import check_bound, verdicts

    counts: dict[str, dict[str, int]] = {"check 1": {}, "check 2": {}}
    for r in range(repeats):
        for name, word in verdicts(check_bound(bound_sweep(first_seed + r, holds))).items():
            counts[name][word] = counts[name].get(word, 0) + 1
    return counts


def main(argv: list[str] | None = None) -> int:
    """`python -m fits.simulate`: the calibration table of the intervals, and the false-positive
    rate of compare's p-values, as markdown."""
    ap = argparse.ArgumentParser(prog="python -m fits.simulate", description=" ".join(main.__doc__.split()))
    ap.add_argument("--repeats", type=int, default=200, help="simulated sweeps per setting (default 200)")
    ap.add_argument("--seeds", default=",".join(str(s) for s in sorted({s for s, _ in SETTINGS})),
                    help="numbers of seeds to simulate, comma-separated (default 2,3,5,10)")
    ap.add_argument("--pairs", type=int, default=150, help="null pairs for compare's p-values (0: skip)")
    ap.add_argument("--hetero", action="store_true",
                    help="instead of the calibration table: sweeps whose point noise falls from 4 %% to 1 %% "
                         "with size, fitted with inverse-variance weights and without")
    ap.add_argument("--flags", action="store_true",
                    help="instead of the calibration table: how often the shape flags (too_flat, "
                         "non_monotone, outlier_seed) fire on curves built to trigger them and on clean ones")
    ap.add_argument("--bound-checks", action="store_true",
                    help="instead of the calibration table: how often `bound`'s two checks say the bound holds on "
                         "sweeps drawn from it and on sweeps without it (--repeats of each kind, default 200)")
    ap.add_argument("--draws", choices=DRAWS, default="centred",
                    help="the bootstrap's draws: centred (the library's, default: each seed's drawn residuals "
                         "centred), pooled (not centred: the library's until 2026-12-07), unscaled (pooled at "
                         "the estimated noise scale: until 2026-12-06) or wild (each point's own residual times "
                         "a random sign; on trial); --pairs always uses the library's")
    args = ap.parse_args(argv)
    try:
        seeds = {int(s) for s in args.seeds.split(",")}
    except ValueError:
        seeds = set()
    if args.repeats < 1 or args.pairs < 0 or not seeds or min(seeds) < 2:
        ap.exit(2, "python -m fits.simulate: error: --repeats >= 1, --pairs >= 0 and --seeds whole "
                   "numbers >= 2 (e.g. 2,5)\n")
    if args.bound_checks:
        print("| sweeps | n | check | verdicts | CPU-s |\n|---|---|---|---|---|", flush=True)
        for holds, kind in ((True, "drawn from the bound"), (False, "D_s ~ s^-0.6, C_s ~ s^-0.2 (no bound)")):
            t0 = time.process_time()
            counts = bound_verdicts(args.repeats, holds)
            for name, verdicts in counts.items():
                said = ", ".join(f"{word} {k}" for word, k in sorted(verdicts.items()))
                print(f"| {kind} | {args.repeats} | {name} | {said} | {time.process_time() - t0:.0f} |", flush=True)
        return 0
    if args.flags:
        rng = np.random.default_rng(31)
        print("| curves | flag | fired | should | CPU-s |\n|---|---|---|---|---|", flush=True)
        for case in FLAG_CASES:
            t0 = time.process_time()
            rate = flag_rate(case, args.repeats, rng)
            print(f"| {case.name} | {case.flag} | {100 * rate:.1f} % | {case.should} | "
                  f"{time.process_time() - t0:.0f} |", flush=True)
        return 0
    if args.hetero:
        print("| seeds | fit | D | alpha | C | CPU-s |\n|---|---|---|---|---|---|", flush=True)
        for n_seeds in sorted(seeds):
            for how in HETERO:
                t0 = time.process_time()
                row = coverage(args.repeats, seed=21, n_seeds=n_seeds, hetero=how, draws=args.draws)
                print(f"| {n_seeds} | {how} | {row['D']:.3f} | {row['alpha']:.3f} | {row['C']:.3f} | "
                      f"{time.process_time() - t0:.0f} |", flush=True)
    else:
        print("| seeds | alpha_noise | D | alpha | C | CPU-s |\n|---|---|---|---|---|---|", flush=True)
        for n_seeds, noise in SETTINGS:
            if n_seeds in seeds:
                row = calibration(args.repeats, settings=((n_seeds, noise),), draws=args.draws)[0]
                print(f"| {n_seeds} | {noise} | {row['D']:.3f} | {row['alpha']:.3f} | {row['C']:.3f} | "
                      f"{row['cpu_s']} |", flush=True)
    if args.pairs:
        t0 = time.process_time()
        rej = null_rejections(args.pairs)
        print(f"\ncompare, {args.pairs} pairs of 5-seed groups from one law: p < 0.05 for "
              f"{100 * rej['alpha']:.1f} % of alpha differences, {100 * rej['C']:.1f} % of C differences, "
              f"{100 * rej['L']:.1f} % of level differences "
              f"({time.process_time() - t0:.0f} CPU-s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
