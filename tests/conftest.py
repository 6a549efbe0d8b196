"""Test-session settings: one torch thread (the CI machine has 2 shared cores) and the Slurm fixture."""
import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("GOMP_SPINCOUNT", "0")

import torch  # noqa: E402

torch.set_num_threads(1)

pytest_plugins = ["tests.slurm_fixtures"]
