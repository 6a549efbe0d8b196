"""Bootstrap samples of a fit's parameters, from the fitted curve and its log residuals.

Each resample keeps the design (the sizes, and which rows are one seed's run) and draws new
errors as fitted value x exp(resampled log deviation). Without seeds the deviations are the
centred log residuals, inflated by sqrt(N / (N - k)) for the k fitted parameters (Efron &
Tibshirani 1993, 9.5). With seeds they come in two levels, as a sweep's noise does: one offset
per seed (a seed's whole curve sits a bit high or low), drawn from the seeds' centred mean
residuals inflated by sqrt(G / (G - 1)), plus one residual per point, drawn from the residuals
around each seed's own mean, inflated by sqrt(N / (N - G - k + 1)), and centred over each seed's points
(centred_within_seeds), so that the offset alone moves a seed's level.

Each draw then scales its residuals, and apart its seed offsets, by a factor for the degrees of
freedom their spread was estimated with (scale_draws): with 2 seeds the offsets' spread rests on 1,
and drawn at its estimate it was taken as known. The two groups of a `compare` pair share one draw
of the factors, for the Welch degrees of freedom of their difference (shared_factors); when both ran
the same seeds they also resample those seeds together (paired_picks), and the offsets' factor is drawn
for the G - 1 degrees of freedom of the paired differences.

Why not resample whole seeds (what this did before)? With the 2-5 seeds a sweep has there are
too few of them to resample: in simulation (`fits.simulate.coverage`) the 95 % percentile
intervals held the truth in about 45 % of sweeps with 2 seeds, 73 % with 3 and 80-82 % with 5. The
two-level draw at the estimated scale gave 88.5-90.5 %, 91.5-93 % and 91.5-92.5 %, and with the
scale factors 92.5-95.5 %, 94-95 % and 92.5-94.5 % on the same sweeps, and centred 94-97.5 %,
95.5-96 % and 95.5-96 % (results/fits_intervals.md).
The price: it assumes a seed shifts its curve as a whole; a seed that changes the curve's shape is
covered less well (docs/fits.md gives the figures).
Rows come in a fixed order (fit_curve sorts them before fitting), so the samples do not depend
on the order of the table's rows. Each refit starts from the point estimate only, which is what makes 200 refits affordable.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Iterator

import numpy as np

from fits.core import Problem, solve

if TYPE_CHECKING:
    from fits.core import Fit

MAX_NFEV = 200  # a refit from the estimate converges in far fewer evaluations
# A drawn log deviation is clipped to +-this (a factor of 1e13 on an error): a scale factor drawn for 1
# degree of freedom is unbounded, and one above ~2e4 on a 3 % offset overflows exp() to inf and stopped
# the refit with a traceback (tests/test_fits_pair_draws.py). By the chi-square tail, P(chi2_1 < 709^-2 x
# 0.049^2) is ~5e-5 per draw at the quickstart's offsets, ~1 % of 200-draw bootstraps (computed, not
# counted in runs). The clipped draw still sits far
# past every percentile of the level; its refit's alpha can land elsewhere, as that of any such draw can
# (one d_alpha end of results/asg's digits moved from -0.631 to -0.614).
LOG_DEV_LIMIT = 30.0


def refit(fit: "Fit", prob: Problem, y: np.ndarray) -> np.ndarray:
    """The raw parameters (in the law's order) of `prob` fitted to errors `y`, started from `fit`'s
    estimate (in prob's units: prob is fit.problem, or shares its law, scale and fixed names)."""
    scaled, _ = solve(prob, y, [fit.scaled], max_nfev=MAX_NFEV)
    raw = prob.law.unscale(scaled, prob.x0)
    return np.array([raw[k] for k in prob.law.params])


def log_residuals(prob: Problem, pred: np.ndarray) -> np.ndarray:
    return np.log(np.maximum(prob.y, prob.floor)) - np.log(pred)


def fitted_residuals(prob: Problem, pred: np.ndarray) -> np.ndarray:
    """Centred log residuals of the points in the fit (weight > 0), inflated by sqrt(N / (N - k)).

    A point of weight 0 took no part in the fit (often an outlier the caller left out): its
    residual says nothing about the fit's noise, and resampling it onto the other points blew
    the intervals up (D's 95 % interval reached 1e6 for one excluded point off by 3x)."""
    resid = log_residuals(prob, pred)[prob.weights > 0]
    n, k = len(resid), len(prob.free)
    return (resid - resid.mean()) * np.sqrt(n / max(n - k, 1))  # n > k wherever resampled: noise_dof


def seed_parts(prob: Problem, pred: np.ndarray, seeds: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(offsets, within): each seed's centred mean log residual, inflated by sqrt(G / (G - 1)), and
    the residuals around each seed's mean, centred and inflated by sqrt(N / (N - G - k + 1)); points
    of weight 0 are left out of both (see fitted_residuals)."""
    resid, used = log_residuals(prob, pred), prob.weights > 0
    g = int(seeds.max()) + 1
    offsets = np.array([resid[used & (seeds == i)].mean() if np.any(used & (seeds == i)) else np.nan
                        for i in range(g)])
    within = (resid - offsets[seeds])[used]
    offsets = offsets[np.isfinite(offsets)]
    n, k, g = len(within), len(prob.free), len(offsets)
    within = (within - within.mean()) * np.sqrt(n / max(n - g - k + 1, 1))  # >= 1: noise_dof
    return centred_offsets(offsets), within


def centred_offsets(means: np.ndarray) -> np.ndarray:
    """G seeds' mean log deviations as the draws resample them: centred, inflated by sqrt(G / (G - 1))
    (seed_parts for a fit's residuals; fits.compare.paired_scratch for its scratch runs)."""
    g = len(means)
    return (means - means.mean()) * np.sqrt(g / max(g - 1, 1))


def _two_level(prob: Problem) -> bool:
    """Whether the resamples draw seed offsets and within-seed residuals: 2+ seeds among the fitted
    points, a seed with 2+ of them (one point per seed: the seeds are the points), and points left
    within seeds after the seed offsets and the law (N - G - k + 1 > 0). Seeds that hardly repeat (an
    id per run but one) left none, and every interval was NaN with no flag: such runs are drawn as
    independent points, as without seeds."""
    seeds, used = prob.groups, prob.weights > 0
    if seeds is None:
        return False
    n, g = int(used.sum()), len(np.unique(seeds[used]))
    return 1 < g < n and n - g - len(prob.free) + 1 > 0


def noise_dof(prob: Problem) -> int:
    """Degrees of freedom left to estimate the noise from: N - k fitted points less free parameters,
    or N - G - k + 1 within seeds (G seeds, two-level draws). At 0 or below the law passes through
    the points (3 sizes, one run each, 3 parameters): the residuals are 0 and say nothing of the noise."""
    used = prob.weights > 0
    n, k = int(used.sum()), len(prob.free)
    if _two_level(prob):
        return n - len(np.unique(prob.groups[used])) - k + 1
    return n - k


def all_zero(prob: Problem) -> bool:
    """Every fitted error is exactly 0 (a perfect score at every size): there is no curve to fit."""
    return not (prob.y[prob.weights > 0] > 0).any()


def all_equal(prob: Problem) -> bool:
    """Every fitted error is the same (up to rounding, 1e-12 of its size; all_zero is the case of 0):
    the data do not move with size or seed, so they say nothing of alpha or of how the level splits
    into D and C, and the residuals hold no noise. Fitted, the law passes through them with whatever
    alpha the optimiser stops at (0.00236 for errors all 1.0), and resampling residuals of ~0 gave it
    an interval of width 0, which `compare` read as a certain difference in alpha from another
    constant curve (p Holm 0.010)."""
    y = prob.y[prob.weights > 0]
    return not len(y) or float(np.ptp(y)) <= 1e-12 * float(np.max(np.abs(y)))


DRAWS = ("centred", "pooled", "unscaled", "wild")  # the first is the library's
SCALED = ("pooled", "centred")  # the draws that take scale factors


def scale_draws(rng: np.random.Generator, dof: float, n: int) -> np.ndarray:
    """n factors sqrt(dof / chi2(dof)), one per bootstrap draw, for residuals whose scale was estimated
    with `dof` degrees of freedom: times a draw's residuals, they give each draw its own noise scale, as
    uncertain as the estimate is, so that a deviation drawn from them is spread as a scaled t with dof
    degrees of freedom instead of the estimated normal (the posterior of a normal scale under the
    reference prior, sigma^2 ~ s^2 dof / chi2(dof)). With few degrees of freedom, the plain draws
    treat the estimated scale as known: with 2 seeds the offsets' spread rests on 1 degree of freedom,
    and the 95 % band held the curve 77-83 % of the time (results/fits_intervals.md)."""
    return np.sqrt(dof / rng.chisquare(dof, size=n))


def bootstrap_params(fit: "Fit", n_boot: int, seed: int = 0, draws: str = "centred",
                     factors: np.ndarray | None = None, picks: np.ndarray | None = None) -> np.ndarray:
    """(n_boot, n_params) raw-unit parameter samples, one refit per resample of the errors; all NaN
    when no degrees of freedom are left for the noise (noise_dof) or every error is the same (all_equal,
    every error 0 included): resampling residuals of 0 gave intervals of width 0, which `compare` read
    as certain differences.

    draws="centred" (what `Fit.bootstrap` uses since 2026-12-07): "pooled" with each seed's drawn
    residuals centred over its fitted points (centred_within_seeds), on the same stream, so that a seed's
    level moves by its drawn offset alone. draws="pooled" (the library's from 2026-12-06 to 2026-12-07):
    each point's deviation is drawn from the pool of
    all fitted points' residuals (within-seed residuals, with seeds), and each draw's residuals (and,
    apart, its seed offsets) are scaled by its own factor from scale_draws, for the degrees of
    freedom their spread was estimated with (noise_dof; G - 1 for G seeds' offsets). Without seeds the
    two are the same draws. draws="unscaled":
    the same without the factors, each draw at the estimated scale (the library's draws until
    2026-12-06; `python -m fits.simulate --draws unscaled` measures them). draws="wild", on trial in
    `python -m fits.simulate --draws wild` and not used by the library: each point keeps its own
    residual, times a random sign (Rademacher), so a size whose points are noisier stays noisier
    in the draws (Wu 1986; Liu 1988); with seeds the offsets are drawn as with "unscaled".
    `factors`: for "pooled" (or "centred") draws, an (n_boot, 2) array of the residuals' and the seed offsets' scale
    factors to use instead of drawing them (shared_factors: two groups' draws for their difference).
    `picks`: for draws with factors, an (n_boot, G) array of positions among the fit's G seeds
    (seed_labels' order): draw b gives its k-th seed the offset of seed picks[b, k] instead of a random
    one, so two fits of the same seeds given the same picks resample their seeds together (paired_picks)."""
    out = np.full((n_boot, len(fit.problem.law.params)), np.nan)
    pred = fitted_values(fit)
    for b, dev in enumerate(resampled_deviations(fit, n_boot, seed, draws, factors, picks)):
        out[b] = refit(fit, fit.problem, pred * np.exp(dev))
    return out


def fitted_values(fit: "Fit") -> np.ndarray:
    """The fit's errors at its own points (fit.problem's rows), floored as the loss floors them:
    what the bootstrap's resampled log deviations are added to."""
    prob = fit.problem
    return np.maximum(prob.law(prob.xs, fit.scaled), prob.floor)


def resampled_deviations(fit: "Fit", n_boot: int, seed: int = 0, draws: str = "centred",
                         factors: np.ndarray | None = None, picks: np.ndarray | None = None) -> Iterator[np.ndarray]:
    """The resampled log deviations behind bootstrap_params(fit, n_boot, seed, draws, factors, picks), one array
    per draw on fit.problem's rows (its canonical order), in the same order: draw b's errors are
    fitted_values(fit) * exp(deviation), the deviation clipped to +-LOG_DEV_LIMIT. Added to another curve
    fitted to the same points (fits.bound's per-s fits), they give draws that belong with the fit's. None
    at all when bootstrap_params gives NaN."""
    if draws not in DRAWS:
        raise ValueError(f"draws must be one of {DRAWS}, not {draws!r}")
    if factors is not None and (draws not in SCALED or np.shape(factors) != (n_boot, 2)):
        raise ValueError(f"factors must be an ({n_boot}, 2) array, for draws in {SCALED} only")
    if picks is not None and (factors is None or (labels := seed_labels(fit)) is None
                              or np.shape(picks) != (n_boot, len(labels))):
        raise ValueError(f"picks must be an ({n_boot}, number of seeds) array, with factors, for a fit "
                         "drawn by seed (seed_labels)")
    rng = np.random.default_rng(seed)
    prob = fit.problem  # in canonical order already: fit_curve, the only maker of a Fit, sorts it
    point_dof = noise_dof(prob)  # the degrees of freedom of the points' residuals (scale_draws)
    if point_dof <= 0 or all_equal(prob):  # (all_zero is the case of all errors 0)
        return
    pred = fitted_values(fit)
    seeds = prob.groups
    two_level = _two_level(prob)
    if two_level:
        offsets, within = seed_parts(prob, pred, seeds)
        n_seeds = int(seeds.max()) + 1
        codes = np.unique(seeds[prob.weights > 0])  # the seeds of fitted points: `offsets`' order
    else:
        resid = fitted_residuals(prob, pred)
    if draws == "wild":  # each fitted point's own residual; a point of weight 0 gets none (it is not fitted)
        own = np.zeros(len(pred))
        own[prob.weights > 0] = within if two_level else resid
    for b in range(n_boot):
        if draws == "wild":
            dev = own * rng.choice((-1.0, 1.0), size=len(pred))
            if two_level:
                dev = dev + rng.choice(offsets, size=n_seeds)[seeds]
            yield dev
            continue
        if picks is not None:  # paired with another fit of the same seeds: seed k takes seed picks[b, k]'s offset
            by_code = np.zeros(n_seeds)
            by_code[codes] = offsets[picks[b]]
            shifts = by_code[seeds]
        else:
            shifts = rng.choice(offsets, size=n_seeds)[seeds] if two_level else 0.0  # (the order of the stream
        points = rng.choice(within if two_level else resid, size=len(pred))  # before the scales: "unscaled")
        if draws == "centred" and two_level:
            points = centred_within_seeds(points, seeds, prob.weights > 0)
        if draws in SCALED and factors is not None:
            points, shifts = points * factors[b, 0], shifts * factors[b, 1]
        elif draws in SCALED:
            points = points * scale_draws(rng, point_dof, 1)[0]
            if two_level:
                shifts = shifts * scale_draws(rng, len(offsets) - 1, 1)[0]
        yield np.clip(points + shifts, -LOG_DEV_LIMIT, LOG_DEV_LIMIT)


def centred_within_seeds(points: np.ndarray, seeds: np.ndarray, used: np.ndarray) -> np.ndarray:
    """Drawn within-seed residuals less their seed's mean over its fitted points, times sqrt(m / (m - 1))
    for a seed's m fitted points (a seed of one point gets 0): draws="centred", the library's. The pooled draws
    add each seed's drawn offset and its drawn residuals' mean, and the offsets, each a seed's mean
    residual, already carry the points' noise averaged over the seed: a level drawn so counts that noise
    twice. Centred, the offsets alone move a seed's level and the residuals only its shape. In simulation
    (results/fits_intervals.md, Paired seeds) it brought the 5-seed alpha and C null rates from 6-7 % to
    3-4 % and changed nothing else much (it is not why `compare` is conservative for seeds shared by both
    groups)."""
    m = np.bincount(seeds[used], minlength=int(seeds.max()) + 1).astype(float)
    sums = np.bincount(seeds[used], weights=points[used], minlength=len(m))
    with np.errstate(divide="ignore", invalid="ignore"):
        mean = np.where(m > 0, sums / m, 0.0)
        inflate = np.where(m > 1, np.sqrt(m / (m - 1)), 0.0)
    return (points - mean[seeds]) * inflate[seeds]


def noise_parts(fit: "Fit") -> tuple[tuple[float, float], tuple[float, float]]:
    """((v, d) of the residuals, (v, d) of the seed offsets) that the draws scale: v, the variance each
    part adds to the fit's level (the part's estimated variance over the points, or seeds, it is
    averaged over), d, its degrees of freedom (noise_dof; G - 1). Without two levels the offsets' part
    is (0, 1); with no noise estimate both are (0, 1), and the fit draws nothing anyway."""
    prob = fit.problem
    none = ((0.0, 1.0), (0.0, 1.0))
    if noise_dof(prob) <= 0 or all_equal(prob):
        return none
    pred = fitted_values(fit)
    if _two_level(prob):
        offsets, within = seed_parts(prob, pred, prob.groups)
        return ((float(np.mean(within ** 2)) / len(within), float(noise_dof(prob))),
                (float(np.mean(offsets ** 2)) / len(offsets), float(len(offsets) - 1)))
    resid = fitted_residuals(prob, pred)
    return (float(np.mean(resid ** 2)) / len(resid), float(noise_dof(prob))), (0.0, 1.0)


def welch_dof(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Welch-Satterthwaite degrees of freedom of a difference of two estimates whose variances v and
    degrees of freedom d are a = (v_a, d_a) and b = (v_b, d_b): (v_a + v_b)^2 / (v_a^2 / d_a + v_b^2 / d_b),
    between min(d_a, d_b) and d_a + d_b (the sum when v_a / d_a = v_b / d_b); 1 when both v are 0."""
    (va, da), (vb, db) = a, b
    den = va ** 2 / da + vb ** 2 / db
    return float((va + vb) ** 2 / den) if den > 0 else 1.0


def seed_labels(fit: "Fit") -> np.ndarray | None:
    """The seeds (as the caller named them) whose offsets the fit's draws resample, in the order of its
    offsets: those of its fitted points; None when it draws no seed offsets (one seed, no seeds, seeds
    that hardly repeat: _two_level) or nothing at all (no noise estimate, every error the same)."""
    prob = fit.problem
    if not _two_level(prob) or noise_dof(prob) <= 0 or all_equal(prob):
        return None
    return prob.group_labels[np.unique(prob.groups[prob.weights > 0])]


def paired_picks(a: "Fit", b: "Fit", n_boot: int, seed: Any) -> np.ndarray | None:
    """(n_boot, G) seed positions that both fits' draws take their offsets from (bootstrap_params(...,
    picks=)), when both draw the offsets of the same G seeds: each draw resamples the seeds, not each
    fit's seeds apart. A seed's effect shared by both conditions (the same real fine-tuning images and
    initialisation, as the seed sets in this suite's runs) then cancels in their difference as it does in
    the data; when the effects are unrelated, paired draws spread the difference about as independent ones
    do, but their factor rests on G - 1 degrees of freedom instead of Welch's (up to 2 (G - 1)), which cost
    power with 3 seeds in simulation (results/fits_intervals.md, Paired seeds). None when the fits' seeds
    differ (or either draws no offsets): their draws stay independent."""
    la, lb = seed_labels(a), seed_labels(b)
    if la is None or lb is None or len(la) != len(lb) or not np.array_equal(la, lb):
        return None
    return seed_picks(len(la), n_boot, seed)


def seed_picks(g: int, n_boot: int, seed: Any) -> np.ndarray:
    """(n_boot, g) positions among g seeds, drawn with replacement on numpy's default_rng(seed): the picks
    of draws resampled by seed together (paired_picks; fits.compare.paired_scratch)."""
    return np.random.default_rng(seed).integers(g, size=(n_boot, g))


def shared_factors(a: "Fit", b: "Fit", n_boot: int, seed: Any, paired: bool = False) -> np.ndarray:
    """(n_boot, 2) scale factors of the residuals and of the seed offsets for two fits' draws behind a
    difference between them (bootstrap_params(..., factors=)): one draw of each factor shared by both
    fits, for the Welch degrees of freedom of their difference. Scaled apart, each for its own degrees
    of freedom, a difference of two 2-seed groups summed two t-like spreads of 1 degree of freedom: under
    no difference `compare` read p < 0.05 for 0.7 % of level differences instead of 5 %, and told a 10 %
    level difference 5 % of the time (results/fits_intervals.md). `paired` (paired_picks): the two fits'
    seeds are resampled together, and the spread of their paired offset differences rests on G - 1
    degrees of freedom for G seeds, which the offsets' factor is drawn for."""
    rng = np.random.default_rng(seed)
    (wa, oa), (wb, ob) = noise_parts(a), noise_parts(b)
    offset_dof = len(seed_labels(a)) - 1 if paired else welch_dof(oa, ob)
    return np.column_stack([scale_draws(rng, welch_dof(wa, wb), n_boot), scale_draws(rng, offset_dof, n_boot)])
