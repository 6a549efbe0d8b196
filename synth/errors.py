"""The one exception type for user mistakes, shared by synth, bench and slurm."""


class UserError(ValueError):
    """A mistake the user can fix: the CLI prints its message on one line and exits with 2."""
