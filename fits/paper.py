"""Reanalysis of Mikami et al.'s 64k-pool results: the notebook's fixed-D fits, free fits with
intervals, and the transfer bound across ResNet-50's ImageNet fractions.

`python -m fits paper-reanalysis -o results/paper_reanalysis` writes summary.json, tables and figures.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from fits import datasets
from fits.bound import check_bound, plot_bound, write_per_s
from fits.core import Fit, fit_curve

NOTEBOOK = {"fixed": {"D": 0.48}, "bounds": {"alpha": (0.1, 1.5), "C": (0.0, 1.0)}}
MODELS = ("r18", "r34", "r50", "r101", "r152")
KEYS = ["ptask", "fdata", "fratio", "ftask", "model", "pdata"]


def imagenet_curve(runs: pd.DataFrame, model: str = "r50", fratio: int = 1) -> pd.DataFrame:
    """Multi-label pre-training (bop) -> ImageNet classification at `fratio` % for `model`."""
    sel = ((runs["ptask"] == "mulclass") & (runs["fdata"] == "imagenet") & (runs["model"] == model)
           & (runs["fratio"] == fratio) & (runs["pdata"] == "bop"))
    return runs[sel].sort_values("n")


def notebook_fit(g: pd.DataFrame) -> Fit:
    """The notebook's procedure: D fixed at 0.48, alpha in [0.1, 1.5], C in [0, 1]."""
    return fit_curve(g["n"], g["err"], **NOTEBOOK)


def model_table(runs: pd.DataFrame) -> pd.DataFrame:
    """C and alpha at ImageNet 1 % per model: notebook procedure and our default box, D = 0.48."""
    rows = []
    for m in MODELS:
        g = imagenet_curve(runs, m)
        nb, ours = notebook_fit(g), fit_curve(g["n"], g["err"], fixed={"D": 0.48})
        ci = nb.ci()
        rows.append({"model": m, "nparam_M": float(g["nparam"].iloc[0]), "C": nb.params["C"],
                     "C_lo": ci["C"][0], "C_hi": ci["C"][1], "alpha": nb.params["alpha"],
                     "C_default_box": ours.params["C"], "alpha_default_box": ours.params["alpha"]})
    return pd.DataFrame(rows)


def free_table(runs: pd.DataFrame) -> pd.DataFrame:
    """A free 3-parameter fit with 95 % intervals and diagnostics for every curve."""
    rows = []
    for key, g in runs.groupby(KEYS):
        g = g.sort_values("n")
        fit = fit_curve(g["n"], g["err"])
        ci, flags = fit.ci(), [f.name for f in fit.diagnostics]
        row = dict(zip(KEYS, key))
        for k in ("D", "alpha", "C"):
            row.update({k: fit.params[k], f"{k}_lo": ci[k][0], f"{k}_hi": ci[k][1]})
        row["diagnostics"] = ";".join(flags)
        row["identified"] = not ({"on_bound", "unidentifiable", "too_flat"} & set(flags))
        rows.append(row)
    return pd.DataFrame(rows)


def plot_r50(g: pd.DataFrame, out: Path) -> list[Path]:
    """The headline curve: data, notebook fit (D = 0.48) and free fit with its 95 % band."""
    from fits.plot import plt, save

    nb, free = notebook_fit(g), fit_curve(g["n"], g["err"])
    grid = np.geomspace(g["n"].min(), 4 * g["n"].max(), 80)
    lo, hi = free.band(grid)
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.scatter(g["n"], g["err"], color="k", zorder=3, label="measured (last evaluation)")
    ax.plot(grid, nb.predict(grid), label=f"D=0.48 fixed: alpha={nb.params['alpha']:.3f}, C={nb.params['C']:.3f}")
    ax.plot(grid, free.predict(grid), label=f"free: alpha={free.params['alpha']:.2f}, C={free.params['C']:.3f}")
    ax.fill_between(grid, lo, hi, alpha=0.2, color="C1", linewidth=0, label="free fit, 95 % band")
    ax.set_xscale("log")
    ax.set_xlabel("n synthetic pre-training images")
    ax.set_ylabel("ImageNet-1 % top-1 error")
    ax.set_title("ResNet-50, multi-label pre-training -> ImageNet 1 %", fontsize=9)
    ax.legend(fontsize=7)
    ax.grid(True, which="both", alpha=0.25)
    return save(fig, out)


def plot_models(table: pd.DataFrame, out: Path) -> list[Path]:
    """Transfer gap C at ImageNet 1 % against backbone size, with 95 % intervals."""
    from fits.plot import err_lengths, plt, save

    fig, ax = plt.subplots(figsize=(5, 3.6))
    ax.errorbar(table["nparam_M"], table["C"], yerr=err_lengths(table["C"], table["C_lo"], table["C_hi"]),
                fmt="o", capsize=3)
    for _, r in table.iterrows():
        ax.annotate(r["model"], (r["nparam_M"], r["C"]), textcoords="offset points", xytext=(5, 5), fontsize=8)
    ax.set_xscale("log")
    ax.set_xlabel("backbone parameters (millions)")
    ax.set_ylabel("C (D = 0.48 fixed)")
    ax.grid(True, which="both", alpha=0.25)
    return save(fig, out)


PAPER_OUTPUTS = ("c_by_model.csv", "free_fits.csv", "bound_per_fraction.csv", "summary.json",
                 *(f"{name}.{kind}" for name in ("r50_imagenet1", "c_by_model", "bound_r50_fractions")
                   for kind in ("png", "pdf")))  # what reanalyse writes


def reanalyse(out: Path) -> dict[str, Any]:
    """Run every part of the reanalysis, write tables and figures under `out`, return the numbers."""
    from fits.cli import check_outputs, clear_outputs, out_dir

    runs = datasets.paper_curves(datasets.paper_runs())  # a missing data file fails before any folder
    out_dir(out)
    check_outputs(out, PAPER_OUTPUTS, "paper-reanalysis")  # before the work (a folder named summary.json ...)
    r50 = imagenet_curve(runs)
    nb = notebook_fit(r50)
    models = model_table(runs)
    free = free_table(runs)
    fractions = runs[(runs["ptask"] == "mulclass") & (runs["fdata"] == "imagenet")
                     & (runs["model"] == "r50") & (runs["pdata"] == "bop")]
    bound = check_bound(fractions, n="n", s="fratio", y="err", seed=None)
    clear_outputs(out / name for name in PAPER_OUTPUTS)  # summary.json, written last, is missing till all are new
    models.to_csv(out / "c_by_model.csv", index=False)
    free.to_csv(out / "free_fits.csv", index=False)
    write_per_s(bound["per_s"], "fratio", out / "bound_per_fraction.csv")  # as `bound --s fratio` writes it
    figs = [*plot_r50(r50, out / "r50_imagenet1.png"), *plot_models(models, out / "c_by_model.png"),
            *plot_bound(fractions, bound, out / "bound_r50_fractions.png", n="n", s="fratio", y="err")]
    res = {"r50_imagenet1_notebook": {"params": nb.params, "ci": nb.ci()},
           "c_by_model": dict(zip(models["model"], models["C"])),
           "free_identified": int(free["identified"].sum()), "free_curves": int(len(free)),
           "free_flag_counts": pd.Series(";".join(free["diagnostics"]).split(";")).value_counts()
           .drop("", errors="ignore").to_dict(),
           "bound": {**bound["joint"], **{k: v for k, v in bound.items() if k.startswith("beta_from_")},
                     "gamma_inside_fraction": bound["gamma_inside_fraction"]},
           "figures": [p.name for p in figs]}
    (out / "summary.json").write_text(json.dumps(res, indent=1, default=float) + "\n")
    return res


def cmd_paper(args: argparse.Namespace) -> int:
    """`paper-reanalysis`: write the reanalysis and print its headline numbers."""
    res = reanalyse(Path(args.output))
    print(json.dumps({k: v for k, v in res.items() if k != "figures"}, indent=1, default=float))
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add `paper-reanalysis`."""
    from fits.cli import output_arg

    p = subparsers.add_parser("paper-reanalysis", help="refit Mikami et al.'s 64k-pool curves",
                              description="Notebook fits (D = 0.48), free fits with intervals and the "
                                          "transfer bound across ResNet-50 ImageNet fractions.")
    p.add_argument("-o", "--output", default="results/paper_reanalysis", type=output_arg,
                   help="output folder (default results/paper_reanalysis, under the current folder)")
    p.set_defaults(func=cmd_paper)
