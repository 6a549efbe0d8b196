"""Figures: the scaling plot (points by seed, fitted curve, 95 % band, scratch line and spread per group)."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only; never needs a display
import matplotlib.patches as mpatches  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import matplotlib.text as mtext  # noqa: E402
from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: E402
from matplotlib.ticker import FuncFormatter, Locator, LogLocator, MaxNLocator  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from fits.errors import FitInputError, one_line  # noqa: E402
from fits.laws import AUTO  # noqa: E402
from fits.table import fit_rows, flat_level, fmt_num, group_scale, label, value_order  # noqa: E402

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


SHORT_AXIS = 3.0  # a log axis spanning less than this factor gets evenly spaced ticks (_ShortLogLocator)


class _ShortLogLocator(Locator):
    """A log axis's ticks: at powers of ten (major) and their multiples (minor) as usual, but on an axis
    spanning less than SHORT_AXIS, evenly spaced round values and no minor ticks (test errors of
    0.30-0.44 got two labels, 0.3 and 0.4)."""

    def __init__(self, minor: bool) -> None:
        self.minor = minor
        self.log = LogLocator(subs="auto" if minor else (1.0,))

    def __call__(self) -> Any:
        lo, hi = sorted(self.axis.get_view_interval())
        return self.tick_values(lo, hi)

    def tick_values(self, vmin: float, vmax: float) -> Any:
        lo, hi = sorted((vmin, vmax))
        short = 0 < lo and hi / lo < SHORT_AXIS
        if short and self.minor:
            return []
        loc = MaxNLocator(nbins="auto", steps=[1, 2, 5, 10]) if short else self.log  # auto: as many as fit
        loc.set_axis(self.axis)
        return loc.tick_values(lo, hi)


def log_axes(ax: plt.Axes) -> None:
    """Both axes logarithmic, labelled with plain numbers that do not overlap."""
    for axis, set_scale in ((ax.xaxis, ax.set_xscale), (ax.yaxis, ax.set_yscale)):
        set_scale("log")
        axis.set_major_locator(_ShortLogLocator(minor=False))
        axis.set_minor_locator(_ShortLogLocator(minor=True))
        axis.set_major_formatter(FuncFormatter(lambda v, _: _tick_text(v)))
        axis.set_minor_formatter(FuncFormatter(lambda v, _, axis=axis: _minor_tick_text(axis, v)))


def figure_paths(out: str | Path) -> list[Path]:
    """The files a figure named `out` goes to: `out` in the format of its suffix (.png when it has
    none) and the .pdf beside it (one file for a .pdf); a suffix matplotlib cannot write is a
    one-line FitInputError that lists those it can."""
    path = Path(out)
    if str(out).endswith(("/", "\\")) or path.is_dir():
        raise FitInputError(f"{out} is a folder: give the figure's file name, e.g. {path / 'scaling.png'}")
    path = path if path.suffix else path.with_suffix(".png")
    kinds = FigureCanvasAgg.get_supported_filetypes()  # {"png": "Portable Network Graphics", ...}
    if path.suffix[1:].lower() not in kinds:
        raise FitInputError(f"cannot write a figure as {path.name}: give a suffix matplotlib writes "
                            f"({', '.join('.' + k for k in sorted(kinds))}); a .pdf is written beside it")
    return [path] if path.suffix.lower() == ".pdf" else [path, path.with_suffix(".pdf")]  # (x.PDF: one file)


def plain(text: Any) -> str:
    """`text` drawn as written: a `$` in a group or column name started matplotlib's math text (a
    subscript instead of the name, or a ParseException after every fit)."""
    return str(text).replace("$", r"\$")


# No time stamp in the vector formats: a rerun on the same rows writes the same bytes (a PDF's creation
# date made `git diff results/quickstart` show scaling.pdf changed after every demo)
_NO_DATE = {".pdf": {"CreationDate": None}, ".svg": {"Date": None}, ".ps": {"CreationDate": None},
            ".eps": {"CreationDate": None}}


def save(fig: plt.Figure, out: str | Path) -> list[Path]:
    """Write `fig` to `out` (its suffix's format, .png without one) and the .pdf beside it; returns the
    paths. Titles, axis labels and legend entries (the data's names: plain) are drawn as written; tick
    labels, made when the figure is drawn, keep their math text (10^k)."""
    _as_written(fig)
    paths = figure_paths(out)
    paths[0].parent.mkdir(parents=True, exist_ok=True)
    try:
        for path in paths:  # both go first: stopped after the .png, an old .pdf stayed beside it
            path.unlink(missing_ok=True)
        for path in paths:
            suffix = path.suffix.lower()
            with plt.rc_context({"svg.hashsalt": "synthscale"}):  # an SVG's ids: fixed, not random per run
                fig.savefig(path, bbox_inches="tight", metadata=_NO_DATE.get(suffix),
                            **({} if suffix == ".pdf" else {"dpi": 150}))
    finally:
        plt.close(fig)
    return paths


def _as_written(artist: Any) -> None:
    """Every text of `artist` made so far drawn as written (plain): save's, and the scaling plot's before
    it measures its texts to place the legend (a name like a$\\frac$ failed to parse there)."""
    for text in artist.findobj(mtext.Text):
        if "$" in text.get_text() and "\\$" not in text.get_text():
            text.set_text(plain(text.get_text()))


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


def seed_markers(df: pd.DataFrame, x: str) -> dict[Any, str]:
    """seed -> its marker, one list for the whole figure (seeds in value order), so a shape is one seed in
    every group and the key can name it; {} for a table without seeds. Each group numbered its own seeds,
    so a group without seed 0 drew seed 1 as another group's seed 0."""
    if "seed" not in df.columns:
        return {}
    seeds = sorted(df.loc[df[x] > 0, "seed"].unique(), key=value_order)
    return {s: MARKERS[i % len(MARKERS)] for i, s in enumerate(seeds)}


def _draw_points(ax: plt.Axes, rows: pd.DataFrame, x: str, y: str, color: Any, markers: dict[Any, str]) -> int:
    """Points by seed (each seed's marker: seed_markers) and the mean per size; returns how many points sit at
    y = 0 (off a log axis)."""
    pos = rows[rows[x] > 0]
    seeds = sorted(pos["seed"].unique(), key=value_order) if "seed" in pos.columns else [None]
    for s in seeds:
        pts = pos if s is None else pos[pos["seed"] == s]
        ax.scatter(pts[x], pts[y], color=color, marker=markers.get(s, MARKERS[0]), s=18,
                   alpha=0.6, linewidths=0)
    means = pos.groupby(x)[y].mean()
    ax.scatter(means.index, means.values, color=color, marker="_", s=120)
    return int((pos[y] <= 0).sum())


def _params_text(fits_json: dict[str, Any], key: str) -> tuple[str, str]:
    """('', 'alpha=0.51, C=0.102'): the law's own exponent and floor (LEGEND_PARAMS), with the
    group's law first when it is not the file's (`fit --law auto`); ('', '') if it was not fitted."""
    g = fits_json["groups"][key]
    if "params" not in g:
        return "", ""
    p = g["params"]
    law = g.get("law", fits_json["law"])  # fits.json of `fit --law auto`: each group has its own
    names = LEGEND_PARAMS.get(law, tuple(p)[:2])
    level = flat_level(g)  # a flat fit's C is an arbitrary share of its level: show the level, as `fit` does
    sc = group_scale(g)  # errors of 1e-10 print as errors of 0.1 do (a C of 2e-11 read "C=0")
    # a value on its bound is a limit, not an estimate (alpha=3 read as a measured exponent)
    bound = {d["message"].split(" = ")[0] for d in g.get("diagnostics", []) if d["name"] == "on_bound"}
    # (a flat curve's alpha = 0 needs no mark: "(flat)" says it; alpha = 3 beside "(flat)", a too_flat curve's, does)
    said = lambda k: level is not None and fmt_num(p[k], scale=sc) == "0"  # noqa: E731
    return (law if law != fits_json["law"] else ""), ", ".join(
        f"C<={fmt_num(level, scale=sc)} (flat)" if k == "C" and level is not None else
        f"{k}={fmt_num(p[k], scale=sc)}" + (" (on its bound)" if k in bound and not said(k) else "")
        for k in names if k in p)


def legend_label(fits_json: dict[str, Any], key: str) -> str:
    """'complexity=1: alpha=0.51, C=0.102' with the law's own exponent and floor (LEGEND_PARAMS)."""
    by = fits_json["by"]
    law, params = _params_text(fits_json, key)
    label = (f"{by}={key}" if by else key) + (f" ({law})" if law else "")
    return label + ": " + params if params else label


MAX_OVERLAID = 6  # more groups than this get one panel each: colours repeat and the legend hides the data


def plot_scaling(df: pd.DataFrame, fits_json: dict[str, Any], out: str | Path) -> list[Path]:
    """Log-log scaling plot of every group in `fits_json` over the runs in `df` (scaling_figure);
    writes `out` (.png without a suffix) and the .pdf beside it; returns the paths."""
    figure_paths(out)  # a suffix matplotlib cannot write is refused before the drawing
    return save(scaling_figure(df, fits_json), out)


def rows_without_a_fit(df: pd.DataFrame, fits_json: dict[str, Any]) -> pd.DataFrame:
    """The table's rows (size > 0) in no group of `fits_json`: a fit of part of the table, drawn over
    all of it, leaves them out of the plot."""
    x, y, by = fits_json["x"], fits_json["y"], fits_json["by"]
    df = fit_rows(df, [x], [y], [by])
    df = df[df[x] > 0]
    drawn = set().union(*(_group_rows(df, by, g).index for g in fits_json["groups"].values()))
    return df.loc[[i for i in df.index if i not in drawn]]


def scaling_figure(df: pd.DataFrame, fits_json: dict[str, Any]) -> plt.Figure:
    """The scaling plot. Up to MAX_OVERLAID groups share one axes; more are drawn as small
    multiples (one panel per group on shared axes, the group and its parameters above each)."""
    x, y, by = fits_json["x"], fits_json["y"], fits_json["by"]
    df = fit_rows(df, [x], [y], [by])
    group_rows = {key: _group_rows(df, by, g) for key, g in fits_json["groups"].items()}
    for key, g in fits_json["groups"].items():  # a fits file drawn over another table misleads
        n_rows = int((group_rows[key][x] > 0).sum())
        if "n_points" in g and n_rows != g["n_points"]:
            raise FitInputError(f"the runs table and the fits file disagree: {one_line(by)}={one_line(key)} has "
                                f"{n_rows} rows with {x} > 0 here, its fit used {g['n_points']}; plot the runs the "
                                "fit was made from")
        ys = np.sort(group_rows[key].loc[group_rows[key][x] > 0, y].to_numpy(float))
        if "y_sum" in g and not np.isclose(ys.sum(), g["y_sum"], rtol=1e-9, atol=1e-12):  # same design, other data
            raise FitInputError(f"the runs table and the fits file disagree: {one_line(by)}={one_line(key)}'s {y} "
                                f"values here sum to {ys.sum():.6g}, those its fit used to {g['y_sum']:.6g}; plot "
                                "the runs the fit was made from")
    level = int(round(100 * fits_json.get("level", 0.95)))
    law = "per-group law's" if fits_json["law"] == AUTO else fits_json["law"]
    title = f"{y} vs {x}: points = seeds, line = {law} fit, band = the line's {level} % interval (not of single runs)"
    markers = seed_markers(pd.concat(group_rows.values()) if group_rows else df, x)  # the seeds drawn
    if len(fits_json["groups"]) > MAX_OVERLAID:
        return _small_multiples(fits_json, group_rows, title, markers)
    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    overall_drawn = False
    n_zero = 0
    bands: dict[Any, mpatches.Patch] = {}  # a scratch line's legend entry -> its band's, keyed as one
    scratches = []  # (a group's own scratch, its colour): drawn together, a shared one once
    for i, (key, g) in enumerate(fits_json["groups"].items()):
        color = colors[i % len(colors)]
        n_zero += _draw_group(ax, group_rows[key], fits_json, g, color, legend_label(fits_json, key), markers,
                              scratch=False)
        if g.get("scratch"):
            scratches.append((g["scratch"], color))
        if not g.get("scratch") and fits_json.get("scratch") and not overall_drawn:
            sc = fits_json["scratch"]
            words = _scratch_words([sc])
            line = _draw_scratch(ax, sc, "k", label=f"scratch ({x} = 0)" + (f": {words}" if words else ""))
            if _scratch_band(sc):
                bands[line] = _band_key("k")
            overall_drawn = True
    shared = _draw_scratches(ax, scratches)
    own = [sc for sc, _ in scratches]
    if own:
        words = _scratch_words(own)
        (line,) = ax.plot([], [], color="grey", linestyle="--", label=f"scratch ({x} = 0), in each group's colour"
                          + (" (dashes in turn: one baseline shared)" if shared else "")
                          + (f": {words}" if words else ""))
        if any(_scratch_band(sc) for sc in own):
            bands[line] = _band_key("grey")
    _key(ax, markers)
    _finish_axes(ax, x, y)
    ax.set_title(title, fontsize=9)
    if n_zero:
        ax.text(0.01, 0.01, f"{n_zero} point(s) at {y} = 0 not shown (log axis)", transform=ax.transAxes,
                fontsize=7, va="bottom")
    handles, labels = ax.get_legend_handles_labels()
    _legend_below(fig, ax, [(bands[h], h) if h in bands else h for h in handles], labels)  # band behind the dash
    return fig


LEGEND_GAP = 0.08  # inches between the x axis's label and the legend below it, and below the legend


def _legend_below(fig: plt.Figure, ax: plt.Axes, handles: list[Any], labels: list[str]) -> None:
    """The legend below the axes, under the x axis's tick labels and label, in 2 columns when they fit
    within the axes' width, else 1; the figure grows by the legend's height, so the axes keep their size.
    Inside the axes ("best") it covered points: the fits' bands fill the panel and leave no empty corner
    (a point that contradicted the flat curves lay under it). The figure is drawn at another dpi when
    saved: the offsets are in inches, turned into fractions of the axes and the figure."""
    _as_written(fig)  # measured as save() draws them
    renderer = fig.canvas.get_renderer()
    px = fig.dpi  # pixels per inch of this canvas
    width, height = fig.get_size_inches()
    pos = ax.get_position()  # figure fractions
    ax_h = pos.height * height
    below = (ax.get_window_extent(renderer).y0 - ax.get_tightbbox(renderer).y0) / px  # ticks and label, inches
    leg = None
    for ncols in (2, 1):
        if leg is not None:
            leg.remove()
        leg = ax.legend(handles, labels, fontsize=7, ncols=ncols, loc="upper center", borderaxespad=0,
                        bbox_to_anchor=(0.5, -(below + LEGEND_GAP) / ax_h))
        _as_written(leg)
        if leg.get_window_extent(renderer).width <= pos.width * width * px:
            break
    grow = max(below + 2 * LEGEND_GAP + leg.get_window_extent(renderer).height / px - pos.y0 * height, 0.0)
    fig.set_size_inches(width, height + grow)
    ax.set_position([pos.x0, (pos.y0 * height + grow) / (height + grow), pos.width, ax_h / (height + grow)])


SCRATCH_BAND_ALPHA = 0.1  # lighter than the fit's band (0.18): the scratch spread is the backdrop


def _scratch_band(sc: dict[str, Any]) -> tuple[float, float] | None:
    """The scratch runs' seed-to-seed spread drawn about their mean: (mean - std, mean + std) with
    fits.json's std (ddof 1), from 2 runs on; None for one run (std 0 is no spread) or a fits.json
    written before it held "std" (the line alone, as then)."""
    std = sc.get("std")
    if (sc.get("n") or 0) < 2 or std is None or not np.isfinite(std):
        return None
    return sc["mean"] - std, sc["mean"] + std


def _band_key(color: Any) -> mpatches.Patch:
    """The band's legend swatch, drawn behind the scratch line's dash."""
    return mpatches.Patch(facecolor=color, alpha=SCRATCH_BAND_ALPHA, linewidth=0)


def _scratch_words(scratches: list[dict[str, Any]]) -> str:
    """What the key says of the scratch lines drawn from `scratches` (one baseline, or one per group):
    'mean of its 2 runs, band +- 1 sd', '1 run'; counts that differ between groups as a range, not
    one by one ('mean of its 2 to 5 runs'); '' when fits.json has no counts."""
    ns = sorted({int(sc["n"]) for sc in scratches if sc.get("n")})
    if not ns:
        return ""
    if ns == [1]:
        return "1 run" + (" each" if len(scratches) > 1 else "")
    banded = [_scratch_band(sc) is not None for sc in scratches]
    band = (", band +- 1 sd" + ("" if all(banded) else " (from 2 runs)")) if any(banded) else ""
    return f"mean of its {ns[0] if len(ns) == 1 else f'{ns[0]} to {ns[-1]}'} runs{band}"


SHARED_DASH = (4.0, 1.5)  # points: each colour's dash, and the gap after it, on a scratch line shared by groups


def _draw_scratches(ax: plt.Axes, drawn: list[tuple[dict[str, Any], Any]]) -> bool:
    """Each group's own scratch baseline (its stats, its colour) as a line; groups with the same baseline
    (the same scratch runs, e.g. groups that differ only in what scratch does not use, such as the
    generator's complexity) share one line whose dashes take their colours in turn, and one band in grey.
    Drawn one over another, only the last group's colour showed, and the others looked as if they had no
    baseline. Returns whether a line is shared (the legend says what its colours mean)."""
    alike: dict[tuple, list[tuple[dict[str, Any], Any]]] = {}
    for sc, color in drawn:
        alike.setdefault((sc["mean"], sc.get("std"), sc.get("n")), []).append((sc, color))
    dash, gap = SHARED_DASH
    for same in alike.values():
        k = len(same)
        for i, (sc, color) in enumerate(same):
            # colour i's dash starts i steps into a period of k: (offset into the pattern, (on, off))
            style = "--" if k == 1 else ((k - i) % k * (dash + gap), (dash, gap + (k - 1) * (dash + gap)))
            _draw_scratch(ax, sc, color, linestyle=style, band=(color if k == 1 else "grey") if i == 0 else None)
    return any(len(same) > 1 for same in alike.values())


def _draw_scratch(ax: plt.Axes, sc: dict[str, Any], color: Any, label: str | None = None,
                  linestyle: Any = "--", band: Any = True) -> Any:
    """A scratch baseline: its mean dashed across the axes and, from 2 runs on, its runs' spread
    (mean +- 1 sd) as a light band behind the data (in `band`'s colour, the line's if True; None: no
    band); returns the line."""
    line = ax.axhline(sc["mean"], color=color, linestyle=linestyle, linewidth=1, label=label)
    band_color = color if band is True else band
    band = _scratch_band(sc) if band_color is not None else None
    if band:
        lo, hi = band
        # Added as an artist, not with axhspan (add_patch): the band stays out of the y autoscale, which
        # the points, the fits' bands and the scratch mean set. A wide scratch spread (seeds at 0.2 and
        # 0.6 about curves within 0.30-0.44) would squeeze the curves into a strip, and a band with
        # mean - sd <= 0 has no place on a log axis; a band running past the axes still shows the curve
        # inside the scratch scatter. A polygon holds its edges as given (a Rectangle, y0 + height).
        ax.add_artist(mpatches.Polygon([[0, lo], [1, lo], [1, hi], [0, hi]], closed=True,
                                       transform=ax.get_yaxis_transform(), facecolor=band_color,
                                       alpha=SCRATCH_BAND_ALPHA, linewidth=0, zorder=0.5))
    return line


SEED_KEYS = 6  # seeds named one by one in the key; more are one entry


def _seed_key(ax: plt.Axes, markers: dict[Any, str]) -> list[Any]:
    """Legend entries (empty artists on `ax`) for each seed's marker, one entry past SEED_KEYS seeds; returns
    them (the small multiples put them in a figure legend)."""
    if len(markers) <= SEED_KEYS:
        return [ax.scatter([], [], color="grey", marker=m, s=18, alpha=0.6, linewidths=0, label=f"seed {label(s)}")
                for s, m in markers.items()]
    return [ax.scatter([], [], color="grey", marker=MARKERS[0], s=18, alpha=0.6, linewidths=0,
                       label=f"a run; one marker per seed ({len(markers)} seeds" +
                             (f", shapes repeat after {len(MARKERS)})" if len(markers) > len(MARKERS) else ")"))]


def _key(ax: plt.Axes, markers: dict[Any, str]) -> None:
    """Legend entries for what every group draws alike: each seed's marker, the mean dash and the
    extrapolated part."""
    _seed_key(ax, markers)
    ax.scatter([], [], color="grey", marker="_", s=120, label="mean of the runs at a size")
    ax.plot([], [], color="grey", linestyle=":", label="fit past the largest measured size (extrapolated)")


def _draw_group(ax: plt.Axes, rows: pd.DataFrame, fits_json: dict[str, Any], g: dict[str, Any],
                color: Any, label: str | None, markers: dict[Any, str], scratch: bool = True) -> int:
    """One group's points, fitted curve and band, and (with `scratch`) its own scratch line and spread;
    returns how many of its points sit at y = 0 (off the log axis)."""
    n_zero = _draw_points(ax, rows, fits_json["x"], fits_json["y"], color, markers)
    if "curve" in g:
        c = g["curve"]
        cx, fit = np.asarray(c["x"], dtype=float), np.asarray(c["fit"], dtype=float)
        # the curve runs to twice the largest measured size: past it, dotted and a lighter band (extrapolated)
        top = float(rows.loc[rows[fits_json["x"]] > 0, fits_json["x"]].max())
        inside = cx <= top * (1 + 1e-9)
        past = ~inside
        past[max(int(inside.sum()) - 1, 0)] = True  # from the last measured point on: the two parts join
        ax.plot(cx[inside], fit[inside], color=color, label=label)
        ax.plot(cx[past], fit[past], color=color, linestyle=":")
        # a band fits.json holds as nulls (no points left over for the noise) is not drawn
        lo, hi = (np.asarray(c[k], dtype=float) for k in ("lo", "hi"))
        known = np.isfinite(lo) & np.isfinite(hi)
        for part, alpha in ((inside, 0.18), (past, 0.08)):
            ax.fill_between(cx, lo, hi, where=known & part, color=color, alpha=alpha, linewidth=0)
    elif label is not None:
        ax.plot([], [], color=color, label=label + " (not fitted)")
    if scratch and g.get("scratch"):
        _draw_scratch(ax, g["scratch"], color)
    return n_zero


def _finish_axes(ax: plt.Axes, x: str | None, y: str | None) -> None:
    log_axes(ax)
    if x:
        ax.set_xlabel(x)
    if y:
        ax.set_ylabel(y)
    ax.grid(True, which="both", alpha=0.25)


SUPTITLE_DROP = 0.162  # inches from the small multiples' top to their title's: 0.98 of a 3-row figure's height


def _same_limits(panels: list[plt.Axes]) -> None:
    """Every panel the x and y range of the first autoscaled over all their data (the points, the curves and
    their bands, the scratch means), which shared axes gave them. With sharex/sharey each autoscale and tick
    label walked every panel: drawing was quadratic in groups (60: 28 CPU-s, 200: 313 CPU-s and 870 MB)."""
    if not panels:
        return

    def ends(name: str) -> list[float]:  # the lowest, highest and smallest positive value, as dataLim has them
        vals = [v for ax in panels for v in getattr(ax.dataLim, f"interval{name}") if np.isfinite(v)]
        pos = min(getattr(ax.dataLim, f"minpos{name}") for ax in panels)
        return [v for v in (min(vals, default=np.nan), max(vals, default=np.nan), pos) if np.isfinite(v)]

    first = panels[0]
    xs, ys = ends("x"), ends("y")
    if xs and ys:
        first.update_datalim([(a, b) for a in xs for b in ys])
        first.autoscale_view()  # (update_datalim leaves a view already computed, e.g. by axhline, as it was)
    xlim, ylim = first.get_xlim(), first.get_ylim()
    for ax in panels:
        ax.set_xlim(xlim)
        ax.set_ylim(ylim)


def _small_multiples(fits_json: dict[str, Any], group_rows: dict[str, pd.DataFrame], title: str,
                     markers: dict[Any, str]) -> plt.Figure:
    """One panel per group, at most 4 across, all on the same log axes (_same_limits): the x tick labels
    on the lowest panel of each column, the y tick labels on the left column, as shared axes have them."""
    x, y, by = fits_json["x"], fits_json["y"], fits_json["by"]
    keys = list(fits_json["groups"])
    ncols = min(4, int(np.ceil(np.sqrt(len(keys)))))
    nrows = int(np.ceil(len(keys) / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(3.1 * ncols, 2.5 * nrows + 0.6), squeeze=False)
    color = plt.rcParams["axes.prop_cycle"].by_key()["color"][0]
    n_zero = 0
    for i, key in enumerate(keys):
        ax = axes.flat[i]
        g = fits_json["groups"][key]
        n_zero += _draw_group(ax, group_rows[key], fits_json, g, color, None, markers)
        if not g.get("scratch") and fits_json.get("scratch"):
            _draw_scratch(ax, fits_json["scratch"], "k")
        law, params = _params_text(fits_json, key)
        params = f"{law}: {params}" if law else params or ("" if "curve" in g else "not fitted")
        name = f"{by.replace(',', '/')}={key}" if by else key  # generator/complexity=a/1; "1" named no column
        ax.set_title(f"{name}\n{params}" if params else name, fontsize=7)
        bottom = i + ncols >= len(keys)  # nothing drawn below it
        _finish_axes(ax, x if bottom else None, y if i % ncols == 0 else None)
        ax.tick_params(labelsize=7, which="both")
        ax.xaxis.set_tick_params(which="both", labelbottom=bottom)  # (above an empty slot too)
        ax.yaxis.set_tick_params(which="both", labelleft=i % ncols == 0)
    for ax in axes.flat[len(keys):]:
        ax.set_visible(False)
    _same_limits(list(axes.flat[:len(keys)]))
    own = [g["scratch"] for g in fits_json["groups"].values() if g.get("scratch")]
    shared = [fits_json["scratch"]] if fits_json.get("scratch") and len(own) < len(keys) else []
    words = _scratch_words(own + shared)
    scratch = f"; dashed = scratch ({x} = 0)" + (f": {words}" if words else "") if own or shared else ""
    zeros = f"; {n_zero} point(s) at {y} = 0 not shown (log axis)" if n_zero else ""
    # SUPTITLE_DROP inches below the top: at matplotlib's 0.98 of the height it came down into the first
    # row's titles from about 24 groups on, as tight_layout leaves the same room above them at any height
    fig.suptitle(f"{title}{scratch}{zeros}\none panel per {by or 'group'}; dash = mean per size, dotted = fit "
                 "past the largest measured size", fontsize=9, y=1 - SUPTITLE_DROP / fig.get_size_inches()[1])
    seeds = _seed_key(axes.flat[0], markers)  # the overlaid plot's seed entries, in a legend below the panels
    if seeds:
        fig.legend(seeds, [h.get_label() for h in seeds], loc="lower center", ncols=len(seeds), fontsize=7,
                   frameon=False)
    fig.tight_layout(rect=(0, 0.3 / fig.get_size_inches()[1] if seeds else 0, 1, 1))  # 0.3 inch for the key
    return fig
