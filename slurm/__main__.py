"""`python -m slurm sweep ...`."""
import sys

from fits.errors import cli_spelling
from synth.console import run_cli

with cli_spelling():  # fits' hints (demo's) spelled as options (--by a,b), as under `synthscale`
    code = run_cli(("slurm.cli",), "python -m slurm")
sys.exit(code)
