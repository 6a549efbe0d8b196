"""Figures: the scaling plot (points by seed, fitted curve, 95 % band, scratch line per group)."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only; never needs a display
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: E402
from matplotlib.ticker import FuncFormatter  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from fits.errors import FitInputError  # noqa: E402
from fits.laws import AUTO  # noqa: E402
from fits.table import fit_rows, fmt_num  # noqa: E402

MARKERS = "os^Dv<>pPX*h"
# what a legend entry shows per law: its exponent and its floor (bnsl: c0 and a; M4: c and C)
LEGEND_PARAMS = {"power": ("alpha",), "power_floor": ("alpha", "C"), "bnsl": ("c0", "a"), "m4": ("c", "C")}


def _tick_text(v: float) -> str:
    """A log axis's tick as a plain number: 30, 0.85, and sizes as 2k, 64k, 1.3M."""
    if v <= 0:
        return ""
    for unit, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if unit <= v < 1e3 * unit:
            return f"{v / unit:g}{suffix}"
    if 1e-4 <= v < 1e3:
        return f"{v:g}"
    k = np.log10(v)
    return f"$10^{{{int(round(k))}}}$" if abs(k - round(k)) < 1e-9 else f"{v:.0e}"


def _minor_tick_text(axis: Any, v: float) -> str:
    """Minor ticks are labelled on short axes only, fewer the longer the axis: all of them within a
    decade, 2, 3 and 5 times a power of ten up to two decades, 2 and 5 up to three, none beyond
    (matplotlib's default wrote 3x10^1 over 4x10^1 on a grid of 30..600)."""
    lo, hi = sorted(axis.get_view_interval())
    if lo <= 0 or v <= 0:
        return ""
    decades = np.log10(hi / lo)
    lead = round(v / 10 ** np.floor(np.log10(v) + 1e-9))
    keep = decades <= 1 or (decades <= 2 and lead in (2, 3, 5)) or (decades <= 3 and lead in (2, 5))
    return _tick_text(v) if keep else ""


def log_axes(ax: plt.Axes) -> None:
    """Both axes logarithmic, labelled with plain numbers that do not overlap."""
    for axis, set_scale in ((ax.xaxis, ax.set_xscale), (ax.yaxis, ax.set_yscale)):
        set_scale("log")
        axis.set_major_formatter(FuncFormatter(lambda v, _: _tick_text(v)))
        axis.set_minor_formatter(FuncFormatter(lambda v, _, axis=axis: _minor_tick_text(axis, v)))


def figure_paths(out: str | Path) -> list[Path]:
    """The files a figure named `out` goes to: `out` in the format of its suffix (.png when it has
    none) and the .pdf beside it (one file for a .pdf); a suffix matplotlib cannot write is a
    one-line FitInputError that lists those it can."""
    path = Path(out)
    path = path if path.suffix else path.with_suffix(".png")
    kinds = FigureCanvasAgg.get_supported_filetypes()  # {"png": "Portable Network Graphics", ...}
    if path.suffix[1:].lower() not in kinds:
        raise FitInputError(f"cannot write a figure as {path.name}: give a suffix matplotlib writes "
                            f"({', '.join('.' + k for k in sorted(kinds))}); a .pdf is written beside it")
    return list(dict.fromkeys([path, path.with_suffix(".pdf")]))


def save(fig: plt.Figure, out: str | Path) -> list[Path]:
    """Write `fig` to `out` (its suffix's format, .png without one) and the .pdf beside it; returns the paths."""
    paths = figure_paths(out)
    paths[0].parent.mkdir(parents=True, exist_ok=True)
    try:
        for path in paths:
            fig.savefig(path, bbox_inches="tight", **({} if path.suffix.lower() == ".pdf" else {"dpi": 150}))
    finally:
        plt.close(fig)
    return paths


def err_lengths(est: Any, lo: Any, hi: Any) -> list[np.ndarray]:
    """Error-bar lengths [below, above] for matplotlib, clipped at 0: a percentile interval can
    miss its own estimate (a parameter on its bound: estimate 1e-23, bootstrap values 1e-22)."""
    est, lo, hi = (np.asarray(v, float) for v in (est, lo, hi))
    return [np.maximum(est - lo, 0.0), np.maximum(hi - est, 0.0)]


def _group_rows(df: pd.DataFrame, by: str | None, g: dict[str, Any]) -> pd.DataFrame:
    if by is None:
        return df
    v = g["value"]
    if v is None or (isinstance(v, float) and np.isnan(v)):        # rows without a group value
        return df[df[by].isna()]
    if isinstance(v, (int, float)) and not isinstance(v, bool):  # 1 in fits.json, 1.0 in a CSV column
        return df[pd.to_numeric(df[by], errors="coerce") == float(v)]
    return df[df[by].astype(str) == str(v)]


def _draw_points(ax: plt.Axes, rows: pd.DataFrame, x: str, y: str, color: Any) -> int:
    """Points by seed and the mean per size; returns how many points sit at y = 0 (off a log axis)."""
    pos = rows[rows[x] > 0]
    seeds = sorted(pos["seed"].unique()) if "seed" in pos.columns else [None]
    for i, s in enumerate(seeds):
        pts = pos if s is None else pos[pos["seed"] == s]
        ax.scatter(pts[x], pts[y], color=color, marker=MARKERS[i % len(MARKERS)], s=18,
                   alpha=0.6, linewidths=0)
    means = pos.groupby(x)[y].mean()
    ax.scatter(means.index, means.values, color=color, marker="_", s=120)
    return int((pos[y] <= 0).sum())


def legend_label(fits_json: dict[str, Any], key: str) -> str:
    """'complexity=1: alpha=0.51, C=0.102' with the law's own exponent and floor (LEGEND_PARAMS)."""
    by, g = fits_json["by"], fits_json["groups"][key]
    label = f"{by}={key}" if by else key
    if "params" not in g:
        return label
    p = g["params"]
    law = g.get("law", fits_json["law"])  # fits.json of `fit --law auto`: each group has its own
    names = LEGEND_PARAMS.get(law, tuple(p)[:2])
    label += f" ({law})" if law != fits_json["law"] else ""
    return label + ": " + ", ".join(f"{k}={fmt_num(p[k])}" for k in names if k in p)


def plot_scaling(df: pd.DataFrame, fits_json: dict[str, Any], out: str | Path) -> list[Path]:
    """Log-log scaling plot of every group in `fits_json` over the runs in `df`; writes .png + .pdf."""
    x, y, by = fits_json["x"], fits_json["y"], fits_json["by"]
    df = fit_rows(df, [x], [y], [by])
    group_rows = {key: _group_rows(df, by, g) for key, g in fits_json["groups"].items()}
    for key, g in fits_json["groups"].items():  # a fits file drawn over another table misleads
        n_rows = int((group_rows[key][x] > 0).sum())
        if "n_points" in g and n_rows != g["n_points"]:
            raise FitInputError(f"the runs table and the fits file disagree: {by}={key} has {n_rows} rows with "
                                f"{x} > 0 here, its fit used {g['n_points']}; plot the runs the fit was made from")
    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    overall_drawn = False
    n_zero = 0
    for i, (key, g) in enumerate(fits_json["groups"].items()):
        color = colors[i % len(colors)]
        n_zero += _draw_points(ax, group_rows[key], x, y, color)
        label = legend_label(fits_json, key)
        if "curve" in g:
            c = g["curve"]
            ax.plot(c["x"], c["fit"], color=color, label=label)
            ax.fill_between(c["x"], c["lo"], c["hi"], color=color, alpha=0.18, linewidth=0)
        else:
            ax.plot([], [], color=color, label=label + " (not fitted)")
        if g.get("scratch"):
            ax.axhline(g["scratch"]["mean"], color=color, linestyle="--", linewidth=1)
        elif fits_json.get("scratch") and not overall_drawn:
            ax.axhline(fits_json["scratch"]["mean"], color="k", linestyle="--", linewidth=1,
                       label=f"scratch ({x} = 0)")
            overall_drawn = True
    if any(g.get("scratch") for g in fits_json["groups"].values()):
        ax.plot([], [], color="grey", linestyle="--", label=f"scratch ({x} = 0), per group")
    log_axes(ax)
    ax.set_xlabel(x)
    ax.set_ylabel(y)
    level = int(round(100 * fits_json.get("level", 0.95)))
    law = "per-group law's" if fits_json["law"] == AUTO else fits_json["law"]
    ax.set_title(f"{y} vs {x}: points = seeds, line = {law} fit, band = {level} %",
                 fontsize=9)
    if n_zero:
        ax.text(0.01, 0.01, f"{n_zero} point(s) at {y} = 0 not shown (log axis)", transform=ax.transAxes,
                fontsize=7, va="bottom")
    ax.legend(fontsize=7)
    ax.grid(True, which="both", alpha=0.25)
    return save(fig, out)
