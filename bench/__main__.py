"""`python -m bench run|collect ...` (`synthscale` has every command: `python -m bench.cli`)."""
import sys

from synth.console import run_cli

sys.exit(run_cli(("bench.commands",), "python -m bench"))
