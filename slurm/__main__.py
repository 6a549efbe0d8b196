"""`python -m slurm sweep ...`."""
import sys

from synth.console import run_cli

sys.exit(run_cli(("slurm.cli",), "python -m slurm"))
