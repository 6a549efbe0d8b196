"""The one exception type for bad input to `fits`: the CLI prints it on one line and exits with 2."""


class FitInputError(ValueError):
    """Input the user can fix: too few sizes, NaN or negative errors, unknown law or column."""
