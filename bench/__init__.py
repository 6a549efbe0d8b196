"""Configs, models, real targets, the one training loop (`bench.run.run(spec, root) -> rows`).

`import bench` stays light: the names below come from modules that import neither torch nor timm,
so commands that only read tables and run folders start quickly. The training code (bench.run,
bench.train, bench.models) loads where a run needs it.
"""
from bench.collect import collect, write_csv
from bench.config import RunSpec, SweepSpec, load_run, load_sweep

__all__ = ["RunSpec", "SweepSpec", "collect", "load_run", "load_sweep", "write_csv"]
