"""Configs, models, real targets, the one training loop, and run(spec, root) -> rows."""
from bench.collect import collect, write_csv
from bench.config import RunSpec, SweepSpec, load_run, load_sweep
from bench.run import run

__all__ = ["RunSpec", "SweepSpec", "collect", "load_run", "load_sweep", "run", "write_csv"]
