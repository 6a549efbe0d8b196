"""The transfer bound L(n, s) = delta (gamma + n^-alpha) s^-beta (Mikami et al.), fitted jointly
over pre-training size n and fine-tuning size s, and checked against independent per-s fits.

The bound predicts, for per-s curves L_s(n) = D_s n^-alpha + C_s with the joint alpha:
  (1) C_s / D_s = gamma for every s, and (2) D_s and C_s both fall as s^-beta.
The per-s fits share only alpha with the joint fit (so their D_s are in the same units); their
D_s and C_s are otherwise free, which is what makes the comparison a check.
"""
from __future__ import annotations

import argparse
import hashlib
import unicodedata
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from fits.core import Fit, fit_curve, percentile_interval, strict_json
from fits.diagnostics import AT_S, bound_side
from fits.errors import FitInputError, none_fitted, one_line
from fits.table import (check_not_pooled, curve_groups, fit_rows, fmt_num, label, pooling_columns, pooling_fix,
                         value_order)

LEVEL = 0.95
PER_S_COLUMNS = ["s", "D", "D_lo", "D_hi", "C", "C_lo", "C_hi", "C_over_D", "C_over_D_lo", "C_over_D_hi",
                 "gamma_inside", "flags"]
FLAT_ALPHA = 1e-6  # a joint alpha below this is on its bound 0: n^-alpha is 1, so D_s and C_s trade off


def check_one_design(df: pd.DataFrame, n: str = "n_synth", s: str = "n_real", by: str | None = None,
                     key: Any = None) -> None:
    """One bound is one experiment over (n, s): refuse runs that differ between values of s in a design
    column at the same n (mnist5k at s = 200, fashion_mnist at 50 and 100; a real size added later with
    another model). check_not_pooled compares rows at one (n, s) only, so these were pooled without a
    word. A column may vary with n (a budget growing with n: pretrain.min_epochs); blanks are no value
    (rows written before a column existed)."""
    pos = df[df[n] > 0]
    for c in pooling_columns(pos, [n, s], by):
        counts = pos.groupby(n)[c].nunique(dropna=True)
        if not (counts > 1).any():
            continue
        at = counts.index[counts > 1][0]
        rows = pos[pos[n] == at]
        vals = sorted(rows[c].dropna().drop_duplicates(), key=value_order)
        shown = "; ".join(f"{one_line(label(v))} at {one_line(s)} = "
                          + ", ".join(f"{x:g}" for x in sorted(rows.loc[rows[c] == v, s].unique()))
                          for v in vals[:3]) + ("; ..." if len(vals) > 3 else "")
        where, fix = pooling_fix(by, key, c, "bound")
        raise FitInputError(f"{where} has runs at {one_line(n)} = {at:g} that differ in {c!r} between values of "
                            f"{one_line(s)} ({shown}): one bound is one experiment over ({one_line(n)}, "
                            f"{one_line(s)}); fit one {c} at a time (a table with one value of it), or {fix}")


def fit_bound(df: pd.DataFrame, n: str = "n_synth", s: str = "n_real", y: str = "test_err",
              seed: str | None = "seed") -> Fit:
    """Joint fit of `transfer_bound` over all rows with n > 0 (several s needed)."""
    df = fit_rows(df, [n, s], [y], seed=seed)
    pos = df[df[n] > 0]
    if pos.empty:  # (said before the count of s: "got 0" read as if the table had no n_real values)
        raise FitInputError(f"no rows with {n} > 0 to fit (rows with {n} = 0 are the scratch baseline)")
    if not (pos[s] > 0).all():
        raise FitInputError(f"column {s!r} must be > 0 on every row with {n} > 0 (it is the fine-tuning "
                            f"size); found {pos[s][~(pos[s] > 0)].iloc[0]}")
    if pos[s].nunique() < 2:
        raise FitInputError(f"the bound needs at least 2 distinct {s} values (its exponent beta is how the error "
                            f"falls with {s}), got {pos[s].nunique()}: measure several (a synthscale sweep: "
                            f"\"target.n_real=[50, 100, 200]\"), or fit the one {s} with `synthscale fit` "
                            "(fits.fit_table)")
    groups = None
    if seed and seed in pos.columns:  # one group per (s, seed) curve: a seed fine-tunes on another subset
        # at each s (its smaller subsets nested in its larger ones) for another number of steps, so its
        # shift need not be one over all s. One shared offset left beta's interval too narrow where each
        # curve has its own (72 % coverage; 92-95 % with these groups); where the shift is shared these
        # groups are conservative (a review: delta covered 40 of 40 sweeps, against 36): docs/fits.md
        groups = [f"{v} ({s} {s_val!r})" for v, s_val in zip(pos[seed], pos[s].astype(float).tolist())]
    return fit_curve(pos[[n, s]].to_numpy(float), pos[y].to_numpy(float), "transfer_bound", groups=groups)


def _loglog_slope(s: np.ndarray, v: np.ndarray) -> float:
    """Minus the least-squares slope of log v on log s over the positive v; NaN with fewer than 2."""
    ok = v > 0
    return float(_slopes(s[ok], v[ok][None, :])[0]) if ok.sum() >= 2 else float("nan")


def _slopes(s: np.ndarray, draws: np.ndarray) -> np.ndarray:
    """_loglog_slope of each row of `draws` (one value per s); NaN for a row with a value <= 0 or NaN."""
    out = np.full(len(draws), np.nan)
    ok = (draws > 0).all(axis=1) if draws.shape[1] >= 2 else np.zeros(len(draws), bool)
    if ok.any():
        out[ok] = -np.polyfit(np.log(s), np.log(draws[ok].T), 1)[0]
    return out


ZERO = 1e-9  # a gamma or C_s/D_s this small is 0: a floor on its bound 0 (the optimiser leaves ~1e-13)


def _inside(v: float, lo: float, hi: float) -> bool | None:
    """Whether v lies in [lo, hi], each end widened by 1e-6 of itself and by ZERO (gamma on its
    bound 0 is 1e-13, a ratio's lower end 2e-13: both are 0); None if the interval is unknown (NaN).
    (The tolerance once scaled with the largest of the three: an upper end of 4e8, from a D_s on its
    lower bound, let gamma = 6.1 count as inside [17, 4e8].)"""
    if np.isnan(lo) or np.isnan(hi):
        return None
    return bool(lo - 1e-6 * abs(lo) - ZERO <= v <= hi + 1e-6 * abs(hi) + ZERO)


def gamma_reading(gamma: float, lo: float, hi: float, side: str | None) -> bool | None:
    """Check 1 at one s: whether gamma lies in C_s/D_s's interval [lo, hi] (_inside), given the side of
    its bound D_s sits on (bound_side: None, "lower" or "upper"). A D_s on its bound makes the ratio a
    limit: on its lower bound the ratio is at least what the fit says (3.9e8 [13.5, 3.96e8] on the
    paper's curves), so a gamma below the interval is a miss, and one inside or above it is not told
    (None: left out, as check 2's slope leaves that s out); on its upper bound, the mirror image."""
    inside = _inside(gamma, lo, hi)
    if side is None or inside is None:
        return inside
    beyond = gamma < lo if side == "lower" else gamma > hi
    return False if inside is False and beyond else None


def _fraction(inside: pd.Series) -> float:
    """The share of the known (not None) gamma_inside values that are True; NaN if none is known."""
    known = inside.dropna()
    return float(known.astype(bool).mean()) if len(known) else float("nan")


def _nan_ci(fit: Fit) -> dict[str, tuple[float, float]]:
    return {k: (float("nan"), float("nan")) for k in fit.params}


def check_bound(df: pd.DataFrame, n: str = "n_synth", s: str = "n_real", y: str = "test_err",
                seed: str | None = "seed", intervals: bool = True) -> dict[str, Any]:
    """Joint bound fit, per-s fits (alpha shared), and the two checks: C/D vs gamma, slopes vs beta.

    The per-s D_s and C_s intervals, and those of check 2's slopes, come from refitting each s at
    every joint bootstrap draw's alpha to that draw's errors (_nested_draws): alpha's uncertainty
    is in them (held at the joint estimate, D_s's 95 % intervals held the truth 1 time in 3).
    Check 1's C_s/D_s interval is the per-s bootstrap at the joint alpha, as gamma is at it.
    intervals=False skips every bootstrap (no CIs, no gamma-inside check): for quick looks."""
    df = fit_rows(df, [n, s], [y], seed=seed)
    check_not_pooled(df, [n, s])  # one experiment over (n, s): not two targets or models mixed
    check_one_design(df, n, s)  # ... at one s, nor between values of s
    joint = fit_bound(df, n, s, y, seed)
    jp = joint.params
    jci = joint.ci(LEVEL) if intervals else _nan_ci(joint)
    jprob = joint.problem  # rows n > 0, in the order of the joint bootstrap's draws
    fitted, skipped = {}, {}
    for s_val in np.unique(jprob.x[:, 1]):
        idx = np.flatnonzero(jprob.x[:, 1] == s_val)
        groups = None if jprob.groups is None else jprob.group_labels[jprob.groups[idx]]  # as the table names them
        try:
            fitted[float(s_val)] = idx, fit_curve(jprob.x[idx, 0], jprob.y[idx], "power_floor", groups=groups,
                                                  fixed={"alpha": jp["alpha"]})
        except FitInputError as exc:  # e.g. too few sizes at this s: the joint fit still used its rows
            skipped[float(s_val)] = str(exc)
    nested = _nested_draws(joint, fitted) if intervals else {}
    rows, left_out = [], []
    q = 50 * (1 - LEVEL)
    for s_val, (_, f) in fitted.items():
        rlo = rhi = float("nan")
        ci = _nan_ci(f)
        if intervals:
            boot = f.bootstrap()
            with np.errstate(divide="ignore", invalid="ignore"):
                ratio = boot[:, 2] / boot[:, 0]  # C / D per bootstrap sample (params D, alpha, C)
            rlo, rhi = np.nanpercentile(ratio, [q, 100 - q]) if np.isfinite(ratio).any() else (np.nan, np.nan)
            ci = {k: percentile_interval(nested[s_val][:, j], LEVEL) for j, k in enumerate(f.law.params)}
        side = bound_side(f, "D")
        gamma_in = gamma_reading(jp["gamma"], float(rlo), float(rhi), side)
        if side is not None and gamma_in is None and not np.isnan(rlo):  # (no interval: not "left out")
            left_out.append(s_val)
        rows.append({"s": s_val, "D": f.params["D"], "D_lo": ci["D"][0], "D_hi": ci["D"][1],
                     "C": f.params["C"], "C_lo": ci["C"][0], "C_hi": ci["C"][1],
                     "C_over_D": f.params["C"] / f.params["D"], "C_over_D_lo": float(rlo),
                     "C_over_D_hi": float(rhi),
                     "gamma_inside": gamma_in,
                     # e.g. D_s on its bound: its C_s/D_s then says nothing about gamma
                     "flags": ";".join(dict.fromkeys(d.name for d in f.diagnostics)) if intervals else ""})
    per_s = pd.DataFrame(rows, columns=PER_S_COLUMNS)
    said = [f.to_dict() for f in joint.diagnostics] if intervals else []
    for d in said:  # the law names its second size s; the table's name for it is the one users know
        if d["message"].startswith(AT_S):
            d["message"] = f"at {one_line(s)}=" + d["message"][len(AT_S):]
    out = {"joint": {"params": dict(jp), "ci": {k: list(v) for k, v in jci.items()}, "diagnostics": said},
           "per_s": per_s, "checks_caveat": _caveat(jp["alpha"], per_s, s),
           "gamma_inside_left_out": left_out}
    for name in ("C", "D"):  # check 2: the slope over the s whose D_s (C_s) is off its bound
        keep = [k for k, (_, f) in fitted.items() if bound_side(f, name) is None]
        sv, j = np.array(keep), ("D", "alpha", "C").index(name)  # power_floor's parameters, in its order
        out[f"beta_from_{name}"] = _loglog_slope(sv, np.array([fitted[k][1].params[name] for k in keep]))
        draws = np.column_stack([nested[k][:, j] for k in keep]) if intervals and keep else np.empty((0, 0))
        out[f"beta_from_{name}_ci"] = list(percentile_interval(_slopes(sv, draws), LEVEL)) if len(keep) >= 2 \
            else [float("nan")] * 2
        out[f"beta_from_{name}_left_out"] = [k for k in fitted if k not in keep]
    return {**out, "gamma_inside_fraction": _fraction(per_s["gamma_inside"]), "skipped": skipped, "fit": joint}


def _nested_draws(joint: Fit, fitted: dict[float, tuple[np.ndarray, Fit]]) -> dict[float, np.ndarray]:
    """Per s: (N_BOOT, 3) draws of (D_s, alpha, C_s): the per-s fit refitted, with alpha fixed at one
    joint bootstrap draw's alpha, to its own fitted curve times that draw's resampled deviations at
    this s. (On the joint curve instead, the draws centred on what the bound implies: where the bound
    is false, which check 2 tests, a per-s estimate fell outside its own interval.) NaN where the
    joint draw failed, and all NaN when the joint fit has no noise to draw from."""
    from dataclasses import replace

    from fits.core import N_BOOT, make_problem
    from fits.uncertainty import fitted_values, refit, resampled_deviations

    boot = joint.bootstrap(N_BOOT, 0)  # what joint.ci used: the same draws, in the same order
    a = joint.law.params.index("alpha")
    out = {k: np.full((len(boot), 3), np.nan) for k in fitted}
    probs = {k: make_problem(joint.problem.x[idx, 0], joint.problem.y[idx], "power_floor",
                             fixed={"alpha": joint.params["alpha"]}) for k, (idx, _) in fitted.items()}
    own = {k: fitted_values(replace(f, problem=probs[k])) for k, (_, f) in fitted.items()}  # in the rows' order
    for b, dev in enumerate(resampled_deviations(joint, len(boot), 0)):
        if not np.isfinite(boot[b, a]):
            continue
        for k, (idx, f) in fitted.items():
            out[k][b] = refit(f, replace(probs[k], fixed={"alpha": float(boot[b, a])}), own[k] * np.exp(dev[idx]))
    return out


def plot_bound(df: pd.DataFrame, res: dict[str, Any], out: str | Path, n: str = "n_synth",
               s: str = "n_real", y: str = "test_err", group: str = "") -> list[Path]:
    """Left: per-s measurements (points), per-s fits (dotted) and the joint bound (solid), over the
    measured sizes. Right: check 2 as a picture, D_s and C_s against s with their 95 % intervals and
    the bound's delta s^-beta and delta gamma s^-beta (how fast the gap falls with s; a value on its
    bound hollow). .png + .pdf. `group` ('complexity=1') heads the title: a bound.png of `bound --by`
    named no group."""
    from fits.plot import log_axes, plt, save

    joint: Fit = res["fit"]
    pos = df[df[n] > 0]
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(11.0, 4.4), gridspec_kw={"width_ratios": [1.35, 1]})
    cmap = plt.get_cmap("viridis")
    s_vals = sorted(pos[s].unique())
    grid = np.geomspace(pos[n].min(), pos[n].max(), 60)  # the measured range: nothing here is extrapolated
    per_s = res["per_s"].set_index("s")
    for i, s_val in enumerate(s_vals):
        color = cmap(i / max(len(s_vals) - 1, 1))
        g = pos[pos[s] == s_val]
        ax.scatter(g[n], g[y], color=color, s=14)
        ax.plot(grid, joint.predict(np.c_[grid, np.full_like(grid, s_val)]), color=color,
                label=f"{s}={s_val:g}")
        if float(s_val) in per_s.index:  # an s with too few sizes has no per-s fit
            r = per_s.loc[float(s_val)]
            ax.plot(grid, r["D"] * grid ** -joint.params["alpha"] + r["C"], color=color, linestyle=":")
    log_axes(ax)
    ax.set_xlabel(n)
    ax.set_ylabel(y)
    p = joint.params
    ax.set_title(f"{group + ': ' if group else ''}bound: delta={fmt_num(p['delta'])}, gamma={fmt_num(p['gamma'])}, "
                 f"alpha={fmt_num(p['alpha'])}, beta={fmt_num(p['beta'])} (solid); per-{s} fits dotted", fontsize=8)
    ax.legend(fontsize=6, loc="upper left", bbox_to_anchor=(1.01, 1.0))  # outside: the curves fill the panel
    ax.grid(True, which="both", alpha=0.25)
    _check_two_panel(bx, res, s)
    fig.tight_layout()
    return save(fig, out)


def _check_two_panel(ax: Any, res: dict[str, Any], s: str) -> None:
    """D_s and C_s against s (log-log) with their intervals, and the lines the bound puts them on."""
    from matplotlib.ticker import FixedLocator, NullFormatter

    from fits.plot import err_lengths, log_axes

    per_s, p = res["per_s"], res["joint"]["params"]
    if len(per_s) == 0:
        ax.set_axis_off()
        return
    sv = per_s["s"].to_numpy(float)
    line = np.geomspace(sv.min(), sv.max(), 40)
    lines = {"D": p["delta"] * line ** -p["beta"], "C": p["delta"] * p["gamma"] * line ** -p["beta"]}
    off = {k: np.array([v not in set(res.get(f"beta_from_{k}_left_out", [])) for v in sv]) for k in lines}
    # The axis spans the estimates off their bounds and the bound's lines, a decade either side: intervals
    # from nested draws reach 1e-12 and squeezed the estimates into a strip; they run past the edges.
    seen = np.concatenate([per_s[k].to_numpy(float)[off[k]] for k in lines] + list(lines.values()))
    seen = seen[np.isfinite(seen) & (seen > 0)]
    ylim = (seen.min() / 10, seen.max() * 10) if len(seen) else None
    for name, color in (("D", "C0"), ("C", "C3")):
        est, lo, hi = (per_s[k].to_numpy(float) for k in (name, f"{name}_lo", f"{name}_hi"))
        keep = off[name]
        if keep.any():
            ax.errorbar(sv[keep], est[keep], yerr=err_lengths(est[keep], lo[keep], hi[keep]), fmt="o",
                        color=color, capsize=3, label=f"{name}_s")
        if (~keep).any():  # on its bound: a limit, left out of the slope; at the lower edge if below it
            shown = est[~keep] if ylim is None else np.maximum(est[~keep], ylim[0] * 1.5)
            ax.plot(sv[~keep], shown, "v", color=color, mfc="none", clip_on=False,
                    label=f"{name}_s on its bound (left out; at the edge if below)")
        if np.all(lines[name] > 0):
            ax.plot(line, lines[name], color=color,
                    label=("delta " if name == "D" else "delta gamma ") + f"{s}^-beta (the bound)")
    for name, color in (("D", "C0"), ("C", "C3")):  # each one's own slope, the beta check 2 reads, dashed
        b, keep = res.get(f"beta_from_{name}", np.nan), off[name]
        est = per_s[name].to_numpy(float)[keep]
        if np.isfinite(b) and keep.sum() >= 2 and (est > 0).all():
            mid = np.exp(np.mean(np.log(sv[keep])))  # through the geometric means of its points
            at = np.exp(np.mean(np.log(est))) * (line / mid) ** -b
            ax.plot(line, at, color=color, linestyle="--", linewidth=1,
                    label=f"{name}_s's own slope (beta = {b:.3g}, check 2)")
    if ylim is not None:
        ax.set_ylim(*ylim)
    log_axes(ax)
    # ticks at the measured s: log_axes' minor labels ran together ("8090100") over 50-400
    ax.xaxis.set_major_locator(FixedLocator(sv))
    ax.xaxis.set_major_formatter(lambda v, _: f"{v:g}")
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel(s)
    ax.set_ylabel("D_s and C_s (95 % interval)")
    caveat = res.get("checks_caveat", "")
    ax.set_title("check 2: D_s and C_s fall as the bound's lines?" + (f"\nnot to be read: {caveat}" if caveat else ""),
                 fontsize=8)
    ax.legend(fontsize=6, loc="upper center", bbox_to_anchor=(0.5, -0.14), ncols=2)  # below: no point under it
    ax.grid(True, which="both", alpha=0.25)


def _caveat(alpha: float, per_s: pd.DataFrame, s: str) -> str:
    """Why checks 1 and 2 are not to be read ('' when they are): with the joint alpha ~0, or most per-s
    fits flagged unidentifiable, D_s and C_s are not told apart and their ratio and slopes say nothing.
    bound.json keeps it beside the numbers, which without it read as a failed check."""
    if alpha < FLAT_ALPHA:
        return f"the joint alpha is {fmt_num(alpha)}, so D_s and C_s are not told apart"
    flagged = int(per_s["flags"].str.split(";").map(lambda f: "unidentifiable" in f).sum()) if len(per_s) else 0
    return (f"{flagged} of the {len(per_s)} per-{s} fits do not tell D_s and C_s apart (unidentifiable: see "
            "their flags)") if 2 * flagged > len(per_s) else ""  # a few such lines: their flags say so


def summary(res: dict[str, Any], s: str = "n_real") -> str:
    """The joint parameters with intervals, the per-s table and the two checks, as plain text."""
    from fits.table import fmt_ci

    jp, jci = res["joint"]["params"], res["joint"]["ci"]
    lines = ["transfer bound L(n, s) = delta (gamma + n^-alpha) s^-beta, joint fit [95 % interval]:",
             "  " + ", ".join(f"{k} = {fmt_ci(jp[k], *jci[k])}" for k in jp)]
    lines += [f"  {f['name']}: {f['message']}" for f in res["joint"]["diagnostics"]]
    lines.append(f"per-{s} fits D_s n^-alpha + C_s (alpha = the joint {fmt_num(jp['alpha'])}; the D_s and C_s "
                 "intervals carry alpha's uncertainty too, C_s/D_s's is each fit's own at the joint alpha, where "
                 "gamma is estimated, so it can be far narrower than theirs):")
    for _, r in res["per_s"].iterrows():
        lines.append(f"  {s}={r['s']:g}: D_s = {fmt_ci(r['D'], r['D_lo'], r['D_hi'])}, "
                     f"C_s = {fmt_ci(r['C'], r['C_lo'], r['C_hi'])}, "
                     f"C_s/D_s = {fmt_ci(r['C_over_D'], r['C_over_D_lo'], r['C_over_D_hi'])}"
                     + (f" [{r['flags']}]" if r["flags"] else ""))
    lines += [f"  {s}={k:g}: not fitted: {e}" for k, e in res["skipped"].items()]
    if len(res["per_s"]) == 0:  # (each s needs 3 or more pre-training sizes: the skipped lines say why)
        lines.append(f"checks 1 and 2 need a per-{s} fit: none could be made, so neither is made")
        return "\n".join(lines)
    void = _void(res, s)
    lines.append(_check_one(res, jp, s, void))
    if len(res["per_s"]) < 2:
        lines.append(f"check 2, D_s and C_s fall as {s}^-beta: needs per-{s} fits at 2 or more values of {s} "
                     f"(1 here): not made")
        return "\n".join(lines)
    lines.append(_check_two(res, jp, s, void))
    return "\n".join(lines)


def verdicts(res: dict[str, Any], s: str = "n_real") -> dict[str, str]:
    """The two checks' verdicts as keys, as summary words them: "consistent", "does not hold",
    "too wide to tell" (check 2), "too few to judge" (check 1), "not to be read" (the checks' caveat
    holds) or "not made". (fits.simulate counts them; it once searched summary's text for them.)"""
    void = _void(res, s)
    if len(res["per_s"]) == 0:
        return {"check 1": "not made", "check 2": "not made"}
    two = _verdict_two(_slope_readings(res, res["joint"]["params"]), void) if len(res["per_s"]) >= 2 else "not made"
    return {"check 1": _verdict_one(res, void), "check 2": two}


def _void(res: dict[str, Any], s: str) -> str:
    """' (not to be read: ...)' when the checks' caveat holds (_caveat), else ''."""
    caveat = res.get("checks_caveat", _caveat(res["joint"]["params"]["alpha"], res["per_s"], s))
    return f" (not to be read: {caveat})" if caveat else ""


def _verdict_one(res: dict[str, Any], void: str) -> str:
    """Check 1's verdict key (verdicts); fewer than half of the known intervals holding gamma is a miss."""
    inside = res["gamma_inside_fraction"]
    if void:
        return "not to be read"
    if np.isnan(inside):
        return "not made"
    if int(res["per_s"]["gamma_inside"].notna().sum()) < 3:
        return "too few to judge"
    return "does not hold" if inside < 0.5 else "consistent"


def _slope_readings(res: dict[str, Any], jp: dict[str, float]) -> list[str]:
    """_slope_reading of the beta implied by C_s and by D_s, in that order ('' where not made)."""
    return ["" if np.isnan(res[f"beta_from_{name}"])
            else _slope_reading(*res.get(f"beta_from_{name}_ci", [float("nan")] * 2), jp["beta"])
            for name in ("C", "D")]


def _verdict_two(readings: list[str], void: str) -> str:
    """Check 2's verdict key (verdicts) from the two slopes' readings: a miss when either interval
    excludes the joint beta; consistent when both hold it, or one does and the other has no interval."""
    if void:
        return "not to be read"
    if "excludes" in readings:
        return "does not hold"
    if readings == ["holds", "holds"]:
        return "consistent"
    if "too wide" in readings:
        return "too wide to tell"
    return "consistent" if "holds" in readings else "not made"


def _check_one(res: dict[str, Any], jp: dict[str, float], s: str, void: str) -> str:
    """Check 1 in words: how many per-s intervals of C_s/D_s hold gamma, and the verdict: the bound's
    shape does not hold when fewer than half do (each is a 95 % interval: if the bound holds about 95 %
    of them should; results/fits_bound_checks.md: it failed none of 60 sweeps drawn from the bound and 48
    of 60 where C_s and D_s fall as s^-0.2 and s^-0.6); with fewer than 3 intervals to read, too few to
    judge."""
    per_s = res["per_s"]
    inside = res["gamma_inside_fraction"]
    out = res.get("gamma_inside_left_out", [])
    left = (f" (left out, D_s on its bound so C_s/D_s a limit that gamma does not fall outside: {s} = "
            f"{', '.join(f'{v:g}' for v in out)})") if out else ""
    head = f"check 1, C_s/D_s = gamma at every {s}: "
    if np.isnan(inside):
        why = (f"every per-{s} fit with an interval was left out" if out
               else f"no per-{s} fit has an interval it can be read from (see its flags)")
        return head + f"not made, {why}{left}{void}"
    known = int(per_s["gamma_inside"].notna().sum())
    held = int(per_s["gamma_inside"].eq(True).sum())
    blind = len(per_s) - known - len(out)
    none = f"; {blind} fit{'s have' if blind != 1 else ' has'} no interval" if blind > 0 else ""
    verdict = {"too few to judge": ": too few intervals to judge (3 or more needed)",
               "does not hold": ": the bound's shape does not hold (fewer than half)",
               "consistent": ": consistent with the bound"}.get(_verdict_one(res, void), "")
    return (head + f"gamma = {jp['gamma']:.3g} lies inside {held} of the {known} per-{s} 95 % intervals "
            f"(about 95 % of them if the bound holds){left}{none}{verdict}{void}")


def _slope_reading(lo: float, hi: float, beta: float) -> str:
    """How one implied beta's interval reads against the joint beta: 'excludes' it, 'too wide' (it holds
    the joint beta and 0 too: no fall with s is told from none), 'holds' it, or '' (no interval)."""
    if np.isnan(lo) or np.isnan(hi):
        return ""
    if not lo <= beta <= hi:
        return "excludes"
    return "too wide" if lo <= 0 <= hi else "holds"


def _check_two(res: dict[str, Any], jp: dict[str, float], s: str, void: str) -> str:
    """Check 2 in words: the beta D_s and C_s each imply against the joint beta, and the verdict: the
    bound's fall with s does not hold when an implied beta's 95 % interval excludes the joint beta (in 60
    sweeps drawn from the bound, 7 n x 4 s x 3 seeds at 3 % noise, that happened in 1; in 60 where C_s and
    D_s fall as s^-0.2 and s^-0.6, in all 60: results/fits_bound_checks.md); consistent when both hold it
    and neither holds 0 too; otherwise too wide to tell (the paper's curves: C_s's beta 0.28 [-5.0, 0.31])."""
    implied, readings = [], _slope_readings(res, jp)
    for name, reading in zip(("C", "D"), readings):
        ci = res.get(f"beta_from_{name}_ci", [float("nan")] * 2)
        out = res.get(f"beta_from_{name}_left_out", [])
        est = res[f"beta_from_{name}"]
        text = "not made" if np.isnan(est) else f"{est:.3g}" + (
            "" if np.isnan(ci).any() else f" [{ci[0]:.3g}, {ci[1]:.3g}]")
        if out:  # a value on its bound is a limit, not an estimate: its slope would be the box's
            text += f" (left out, on its bound: {s} = {', '.join(f'{v:g}' for v in out)})"
        implied.append(f"{text} from {name}_s" + (f" ({reading})" if reading and not void else ""))
    key = _verdict_two(readings, void)
    if key == "not to be read":
        verdict = void
    elif key == "does not hold":
        verdict = ": the bound's fall with s does not hold (an implied beta's 95 % interval excludes the joint one)"
    elif key == "too wide to tell":
        verdict = (": too wide to tell (an interval that holds the joint beta and 0 too cannot tell the bound's fall "
                   f"from none; more values of {s}, sizes or seeds would narrow it)")
    elif key == "consistent" and "" in readings:  # one slope read, the other not made or without an interval
        read, unread = ("C", "D") if readings[0] == "holds" else ("D", "C")
        verdict = (f": consistent with the bound as far as {read}_s's slope goes ({unread}_s's has no interval, so "
                   "only half of the check is made)")
    elif key == "consistent":
        verdict = ": consistent with the bound"
    else:
        verdict = ": not made, no interval"
    return (f"check 2, D_s and C_s fall as {s}^-beta: the beta each implies (minus its log-log slope over {s}) is "
            f"{' and '.join(implied)}, against the joint beta = {jp['beta']:.3g}{verdict}")


ONE_BOUND = ("bound.json", "bound_per_s.csv", "bound.png", "bound.pdf")  # the files _write_one writes


def write_per_s(per_s: pd.DataFrame, s: str, path: Path) -> None:
    """The per-s table as CSV, its first column named `s` as the runs table names it, whole real sizes
    as that table writes them: 50, not 50.0 (below 2^53, where floats hold every integer)."""
    per_s = per_s.rename(columns={"s": s})
    if per_s[s].map(lambda v: float(v).is_integer() and abs(v) < 2.0 ** 53).all():
        per_s[s] = per_s[s].astype("int64")
    per_s.to_csv(path, index=False)


def _write_one(df: pd.DataFrame, res: dict[str, Any], out: Path, args: argparse.Namespace,
               group: str = "") -> list[Path]:
    """bound.json, bound_per_s.csv and the figure of one bound fit, in `out`."""
    import json

    files = [out / "bound.json", out / "bound_per_s.csv"]
    keep = {k: v for k, v in res.items() if k not in ("fit", "per_s")}
    files[0].write_text(json.dumps(strict_json(keep), indent=1, allow_nan=False) + "\n")
    write_per_s(res["per_s"], args.s, files[1])
    return files + plot_bound(df, res, out / "bound.png", n=args.x, s=args.s, y=args.y, group=group)


MAX_FOLDER_NAME = 100  # bytes of a group's folder name (file systems allow 255): see _folder_name


def _folder_name(text: str) -> str:
    """A group as a folder name: 'condition,target=plain/mnist5k' -> 'condition_target=plain_mnist5k'.
    A name longer than MAX_FOLDER_NAME bytes (UTF-8) is cut and ends in a hash of the whole `text`
    ('g=xxx...xxx-1f2e3d4c5b6a'): two long values that start alike get two folders, and none is too
    long for the file system (a 300-character value was an OSError 'File name too long' traceback)."""
    name = "".join(ch if ch.isalnum() or ch in "-_.=" else "_" for ch in text)
    if len(name.encode()) <= MAX_FOLDER_NAME:
        return name
    digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:12]
    head = name.encode()[:MAX_FOLDER_NAME - len(digest) - 1].decode(errors="ignore")  # whole characters only
    return f"{head}-{digest}"


def cmd_bound(args: argparse.Namespace) -> int:
    """`bound`: fit the transfer bound to a runs table, check it per s, write json, csv and plot;
    with --by, one bound per group in a subfolder of -o each."""
    from fits.cli import check_outputs, clear_outputs, out_dir, read_table, write_text_report

    out = out_dir(args.output)
    df = fit_rows(read_table(args), [args.x, args.s], [args.y], [args.by])
    seed = "seed" if "seed" in df.columns else None
    check_outputs(out, ["bound.txt", *([] if args.by is not None else ONE_BOUND)], "bound")
    if args.by is None:
        res = check_bound(df, n=args.x, s=args.s, y=args.y, seed=seed)
        clear_outputs(out / n for n in ("bound.txt", *ONE_BOUND))
        return write_text_report(out, "bound.txt", summary(res, args.s), _write_one(df, res, out, args))
    texts, files, errors = [], [], {}
    # in fit's order; no pooling check on n alone (n_real varies here by design; check_bound checks each
    # group over (n, s))
    groups = curve_groups(df, args.x, args.by, check_pooled=False)
    names = [_folder_name(f"{args.by}={label(k)}") for k, _ in groups]
    # as a case-insensitive file system (macOS's, Windows') sees them: Digits and digits were one folder there,
    # the second group's files written over the first's without a word
    seen = [unicodedata.normalize("NFC", n).lower() for n in names]  # (casefold would also fold ß into ss)
    if len(set(seen)) < len(seen):
        first = next(k for k in seen if seen.count(k) > 1)
        clash = [one_line(label(key)) for (key, _), k in zip(groups, seen) if k == first]
        alike = len({n for n, k in zip(names, seen) if k == first}) > 1  # (not one name outright)
        case = "; macOS and Windows file systems ignore case" if alike else ""
        raise FitInputError(f"--by {args.by}: groups {clash[0]!r} and {clash[1]!r} would share one folder name "
                            f"({names[seen.index(first)]!r}{case}); recode the column")
    for name in names:
        check_outputs(out, [f"{name}/", *(f"{name}/{f}" for f in ONE_BOUND)], "bound")
    fitted = []  # every group is fitted before a file is touched: a refusal (no group could be fitted) or a
    # stop while fitting leaves the outputs of the run before as they were
    for (key, g), name in zip(groups, names):
        head = f"== {one_line(args.by)}={one_line(label(key))} =="
        try:
            check_not_pooled(g, [args.x, args.s], args.by, key)  # its fix keeps the user's --by (check_bound's not)
            check_one_design(g, args.x, args.s, args.by, key)
            fitted.append((key, g, name, head, check_bound(g, n=args.x, s=args.s, y=args.y, seed=seed)))
        except FitInputError as exc:  # this group cannot carry a bound (e.g. one s): say so, fit the rest
            errors[label(key)] = str(exc)
            fitted.append((key, g, name, head, exc))
    if len(errors) == len(groups):
        raise none_fitted(args.by, errors)
    # then the old files go, every group's (one that fails now keeps no fit of before), and bound.txt, written
    # last, is missing until all are new: a stop part-way left groups of two runs side by side
    clear_outputs([out / "bound.txt", *(out / name / f for name in names for f in ONE_BOUND)])
    for key, g, name, head, res in fitted:
        if isinstance(res, FitInputError):
            texts.append(f"{head}\nnot fitted: {res}")
            continue
        sub = out / name  # e.g. complexity=1
        sub.mkdir(exist_ok=True)
        files += _write_one(g, res, sub, args, group=f"{one_line(args.by)}={one_line(label(key))}")
        texts.append(f"{head}\n{summary(res, args.s)}")
    return write_text_report(out, "bound.txt", "\n\n".join(texts), files)


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add `bound`."""
    p = subparsers.add_parser("bound", help="fit the transfer bound over pre-training and real sizes",
                              description="Fit L(n, s) = delta (gamma + n^-alpha) s^-beta jointly over the "
                                          "pre-training size n and the fine-tuning size s, fit each s on its "
                                          "own (alpha shared) and check the bound's two predictions: C_s/D_s = "
                                          "gamma for every s, and D_s, C_s falling as s^-beta.")
    from fits.cli import COLUMN_OPTIONS, add_table_args, by_arg, output_arg

    add_table_args(p, by=False)  # runs (several fine-tuning sizes, e.g. a sweep over target.n_real), --x, --y
    p.add_argument("--by", default=None, type=by_arg,
                   help="group column: one bound per value, each in its own subfolder of -o (default: none, "
                        "the table is one experiment, as with ''); a,b groups by both")
    p.add_argument("--s", default=COLUMN_OPTIONS["s"][0], help="fine-tuning size column (default n_real)")
    p.add_argument("-o", "--output", default="bound", type=output_arg, help="output folder (default ./bound)")
    p.set_defaults(func=cmd_bound)
