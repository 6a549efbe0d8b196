"""`make test`'s runner for the Slurm suite, which it starts in the background beside the fast suite:
`python -m tests.slurm_suite [pytest arguments]`.

A script's background command starts with SIGINT ignored, so plain `pytest` there would not stop on
Ctrl-C. This runner takes SIGINT back, and acts on it once: the first one stops the suite, and the
ones after it (a Ctrl-C reaches the suite both from the terminal and from make's trap) are ignored
while the fixtures cancel the jobs and stop the cluster's daemons."""
from __future__ import annotations

import signal
import sys

import pytest


def _stop_once(signum, frame) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    raise KeyboardInterrupt


def main(argv: list[str]) -> int:
    signal.signal(signal.SIGINT, _stop_once)
    return int(pytest.main(argv))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
