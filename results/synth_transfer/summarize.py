"""Table and plot of the synth_transfer sweep: real test error per condition, and paired vs scratch.

Usage: python results/synth_transfer/summarize.py RUNS_CSV OUT_DIR
Reads the sweep's runs.csv (one row per run); writes OUT_DIR/table.md and OUT_DIR/test_error.png.
Intervals are 95 % Student-t intervals over seeds; "vs scratch" is the mean of the per-seed
difference to the scratch run of the same seed (same real subset, same initial head, same test set).
"""
from __future__ import annotations

import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
from scipy import stats  # noqa: E402


def t_interval(values: pd.Series) -> tuple[float, float]:
    """Mean and half-width of the 95 % t interval (nan half-width for a single value)."""
    n = len(values)
    if n == 0:
        return float("nan"), float("nan")
    if n < 2:
        return float(values.mean()), float("nan")
    half = stats.t.ppf(0.975, n - 1) * values.std(ddof=1) / n ** 0.5
    return float(values.mean()), float(half)


def summarize(df: pd.DataFrame) -> pd.DataFrame:
    """One row per condition: mean error, its interval, and the paired difference to scratch."""
    df = df.assign(condition=[("scratch" if g == "none" else f"{g} c={int(c)}")
                              for g, c in zip(df["generator"], df["complexity"].fillna(-1))])
    scratch = df[df["generator"] == "none"].set_index("seed")["test_err"]
    out = []
    for cond, g in df.groupby("condition", sort=False):
        mean, half = t_interval(g["test_err"])
        diff = g.set_index("seed")["test_err"] - scratch
        d_mean, d_half = t_interval(diff.dropna())
        out.append(dict(condition=cond, n_seeds=len(g), test_err=mean, ci95=half,
                        vs_scratch=d_mean, vs_scratch_ci95=d_half,
                        seeds=" ".join(f"{e:.3f}" for e in g.sort_values("seed")["test_err"])))
    present = set(df["condition"])
    order = [c for c in ["scratch"] if c in present] + sorted(present - {"scratch"})
    return pd.DataFrame(out).set_index("condition").loc[order].reset_index()


def write_outputs(table: pd.DataFrame, out_dir: Path) -> None:
    """table.md and test_error.png, in `out_dir` (created if absent)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    lines = ["| condition | seeds | real test error (mean +- 95 % CI) "
             "| vs scratch, paired (mean +- 95 % CI) | per seed |",
             "|---|---:|---:|---:|---|"]
    for r in table.itertuples():
        vs = "-" if r.condition == "scratch" else f"{r.vs_scratch:+.3f} +- {r.vs_scratch_ci95:.3f}"
        lines.append(f"| {r.condition} | {r.n_seeds} | {r.test_err:.3f} +- {r.ci95:.3f} | {vs} | {r.seeds} |")
    (out_dir / "table.md").write_text("\n".join(lines) + "\n")
    fig, ax = plt.subplots(figsize=(7, 3.6))
    ax.errorbar(range(len(table)), table["test_err"], yerr=table["ci95"], fmt="o", capsize=4)
    ax.set_xticks(range(len(table)), table["condition"], rotation=30, ha="right")
    if (table["condition"] == "scratch").any():
        ax.axhline(float(table.loc[table["condition"] == "scratch", "test_err"].iloc[0]), ls="--",
                   lw=0.8, color="grey", label="scratch mean")
        ax.legend()
    ax.set_ylabel("real test error (Fashion-MNIST, 100 train)")
    ax.set_title("Pre-training on n = 3,200 synthetic images, 16k examples; 95 % t intervals")
    fig.tight_layout()
    fig.savefig(out_dir / "test_error.png", dpi=120)


def main(argv: list[str]) -> int:
    """Entry point."""
    if len(argv) != 2:
        print(__doc__.splitlines()[2], file=sys.stderr)
        return 2
    df = pd.read_csv(argv[0])
    table = summarize(df[df["status"] == "ok"])
    write_outputs(table, Path(argv[1]))
    print(table.to_string(index=False))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
