"""`python -m fits ...`: the fits subcommands on their own (no training imports)."""
import sys

from fits.cli import main

sys.exit(main())
