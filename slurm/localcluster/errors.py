"""The error raised when a local Slurm cluster cannot be installed, started or reached."""
from __future__ import annotations

from synth.errors import UserError


class ClusterUnavailable(UserError):
    """Slurm cannot run here (not root and packages missing, a daemon died, a timeout); one line."""
