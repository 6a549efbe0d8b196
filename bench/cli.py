"""The `synthscale` console script: the subcommands of every package under one parser."""
from __future__ import annotations

import sys
from typing import Sequence

from synth.console import run_cli

# Each module exposes `register(subparsers)`; order is the order of `synthscale --help`.
MODULES = ("synth.cli", "bench.commands", "bench.loader_bench", "slurm.cli", "fits.cli")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of `synthscale`: fits' hints spell settings as options here (--by, not by=)."""
    from fits.errors import cli_spelling

    with cli_spelling():
        return run_cli(MODULES, "synthscale", argv,
                       "Scaling laws for synthetic-to-real transfer: generate, train, sweep, fit, plot.")


if __name__ == "__main__":
    sys.exit(main())
