"""`python -m fits.gradbench [LAW ...]`: closed-form derivatives (Law.grad) against finite
differences, on the same curves in one process: CPU ms per curve, the largest change of a
prediction at the held-out size, and how many fits' costs moved by more than 0.1 % either way.
Curves: the paper's 45 (hold out 64k) and the 80-curve LCDB sample (hold out the last size).
"laws": power_floor, m4, bnsl, ... and `extrapolate` (fits.extrapolate). The figures in
docs/fits.md ("Jacobian") come from this command."""
from __future__ import annotations

import time
from dataclasses import replace

import numpy as np

import fits
from fits import datasets
from fits.benchrun import _paper_curves
from fits.cli import _OneLineParser
from fits.laws import LAWS


def _fit(law: str, x: np.ndarray, y: np.ndarray, x_new: np.ndarray) -> tuple[float, float]:
    if law == "extrapolate":
        return float(fits.extrapolate(x, y, x_new)[0]), 0.0
    f = fits.fit_curve(x, y, law)
    return float(f.predict(x_new)[0]), f.cost


def main(argv: list[str] | None = None) -> None:
    parser = _OneLineParser(prog="python -m fits.gradbench", description=__doc__.split("\n\n")[0])
    parser.add_argument("laws", nargs="*", metavar="LAW", choices=[*LAWS, "extrapolate"],
                        help=f"laws to time (default: power_floor extrapolate m4); one of {', '.join(LAWS)}, "
                        "extrapolate")
    laws = parser.parse_args(argv).laws or ["power_floor", "extrapolate", "m4"]
    sets = {"paper": [(x[:-1], y[:-1], x[-1:]) for _, x, y in _paper_curves()],
            "lcdb80": [(x[:-1], y[:-1], x[-1:]) for _, x, y in datasets.curves(datasets.lcdb_sample())
                       if len(np.unique(x)) >= 4]}
    table = dict(LAWS)
    print("| law | curves | ms/curve finite diff. | ms/curve closed form | max prediction change | cost lower / higher |")
    print("|---|---|---|---|---|---|")
    for law in laws:
        for name, curves in sets.items():
            out = {}
            for closed in (False, True):
                try:
                    for k, v in table.items():  # every law at once: extrapolate fits power_floor
                        dict.__setitem__(LAWS, k, v if closed else replace(v, grad=None))
                    t = time.process_time()
                    res = np.array([_fit(law, *c) for c in curves])
                    out[closed] = res, 1000 * (time.process_time() - t) / len(curves)
                finally:  # the registry as it was, also when a fit raised
                    for k, v in table.items():
                        dict.__setitem__(LAWS, k, v)
            (r0, t0), (r1, t1) = out[False], out[True]
            rel = (r1[:, 1] - r0[:, 1]) / np.maximum(r0[:, 1], 1e-12)
            print(f"| {law} | {name} {len(curves)} | {t0:.1f} | {t1:.1f} | {np.max(np.abs(r1[:, 0] - r0[:, 0])):.1e} | "
                  f"{int((rel < -1e-3).sum())} / {int((rel > 1e-3).sum())} |", flush=True)


if __name__ == "__main__":
    main()
