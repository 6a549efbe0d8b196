"""Checking the bootstrap intervals by simulation: how often does the 95 % interval hold the truth?"""
from __future__ import annotations

import numpy as np

from fits.core import fit_curve

# A sweep shaped like the quickstart: 7 sizes over 1.8 decades, 5 seeds, 2 % seed noise.
TRUE = {"D": 3.0, "alpha": 0.4, "C": 0.1}
SIZES = np.array([250, 500, 1000, 2000, 4000, 8000, 16000], dtype=float)


def simulate(rng: np.random.Generator, n_seeds: int = 5, noise: float = 0.02,
             seed_noise: float = 0.01) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sizes, errors, seed ids: the law times per-point and per-seed log-normal noise."""
    x = np.repeat(SIZES, n_seeds)
    g = np.tile(np.arange(n_seeds), len(SIZES))
    offset = rng.normal(0, seed_noise, n_seeds)[g]  # a seed's whole curve sits a bit high or low
    y = (TRUE["D"] * x ** -TRUE["alpha"] + TRUE["C"]) * np.exp(rng.normal(0, noise, len(x)) + offset)
    return x, y, g


def coverage(n_repeats: int = 200, n_boot: int = 200, level: float = 0.95, seed: int = 0,
             use_groups: bool = True, n_seeds: int = 5, seed_noise: float = 0.01) -> dict[str, float]:
    """Fraction of simulated sweeps whose `level` interval contains each true parameter."""
    rng = np.random.default_rng(seed)
    hits = {k: 0 for k in TRUE}
    for _ in range(n_repeats):
        x, y, g = simulate(rng, n_seeds, seed_noise=seed_noise)
        fit = fit_curve(x, y, groups=g if use_groups else None)
        fit.bootstrap(n_boot)
        for k, (lo, hi) in fit.ci(level).items():
            hits[k] += int(lo <= TRUE[k] <= hi)
    return {k: v / n_repeats for k, v in hits.items()}


def null_rejections(n_pairs: int = 150, seed: int = 7, alpha_level: float = 0.05) -> dict[str, float]:
    """Fraction of pairs of groups drawn from one law (5 seeds each) that `compare` calls different
    at p < alpha_level: the false-positive rate of its bootstrap p-values (nominal: alpha_level)."""
    import pandas as pd

    from fits.compare import compare_runs

    rng = np.random.default_rng(seed)
    hits = {"alpha": 0, "C": 0}
    for _ in range(n_pairs):
        parts = []
        for name in ("a", "b"):
            x, y, g = simulate(rng)
            parts.append(pd.DataFrame({"n_synth": x, "test_err": y, "seed": g, "complexity": name}))
        pair = compare_runs(pd.concat(parts), by="complexity")["pairs"].iloc[0]
        for k in hits:
            hits[k] += int(pair[f"p_{k}"] < alpha_level)
    return {k: v / n_pairs for k, v in hits.items()}
