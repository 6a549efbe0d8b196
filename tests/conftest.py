"""Test-session settings: one torch thread (the CI machine has 2 shared cores), a cache of the
tests' own, and the Slurm fixture."""
import os
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("GOMP_SPINCOUNT", "0")
# Decoded datasets are cached under the checkout (git-ignored; shared by the xdist workers and the
# jobs the tests start), not in the user's ~/.cache/synthscale: tests wrote files there, and a
# Fashion-MNIST that `target.download=true` had put there was found by tests that need none.
os.environ["SYNTHSCALE_CACHE"] = str(Path(__file__).resolve().parents[1] / ".cache" / "tests")

import torch  # noqa: E402

torch.set_num_threads(1)

pytest_plugins = ["tests.slurm_fixtures"]


def pytest_collection_modifyitems(config, items):
    """setup.cfg's `-m "not slurm"` keeps the real-Slurm suite out of a plain `pytest`; when every
    test asked for is a Slurm one (`pytest tests/test_slurm_sweep.py`, or one such test's id), they
    run, instead of all being deselected and pytest exiting 5 with no test run. Runs before the
    mark plugin's own deselection (the conftest's hooks are called first)."""
    if items and config.option.markexpr == "not slurm" and all(i.get_closest_marker("slurm") for i in items):
        config.option.markexpr = ""
