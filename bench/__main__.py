"""`python -m bench run|collect|demo ...`."""
import sys

from synth.console import run_cli

sys.exit(run_cli(("bench.commands",), "python -m bench"))
