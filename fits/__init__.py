"""Learning-curve laws, robust fitting, bootstrap intervals, diagnostics, comparisons and plots.

Imports only numpy, scipy, pandas and matplotlib: analysis runs anywhere from a runs.csv.
"""
from fits import errors
from fits.core import Fit, fit_curve, tail_weights
from fits.extrapolation import Choice, choose, extrapolate
from fits.errors import FitInputError
from fits.laws import LAWS, Law
from fits.plot import plot_scaling
from fits.selection import Selection, select
from fits.table import fit_runs, fit_table, holdout_score, summary_table

__all__ = ["Choice", "Fit", "FitInputError", "LAWS", "Law", "Selection", "choose", "errors",
           "extrapolate", "fit_curve", "fit_runs", "fit_table", "holdout_score", "plot_scaling", "select",
           "summary_table", "tail_weights"]
