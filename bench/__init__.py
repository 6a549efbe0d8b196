"""Configs, models, real targets, the one training loop (`bench.run.run(spec, root) -> rows`).

The names below load on first use (PEP 562): `import bench` does not import torch or timm, so
commands that only read tables and configs start quickly.
"""
from __future__ import annotations

import importlib
from typing import Any

_WHERE = {"collect": "bench.collect", "write_csv": "bench.collect", "RunSpec": "bench.config",
          "SweepSpec": "bench.config", "load_run": "bench.config", "load_sweep": "bench.config"}


def __getattr__(name: str) -> Any:
    """`bench.run`, `bench.load_sweep`, ...: imported from their module on first use."""
    if name in _WHERE:
        return getattr(importlib.import_module(_WHERE[name]), name)
    raise AttributeError(f"module 'bench' has no attribute {name!r}")


__all__ = ["RunSpec", "SweepSpec", "collect", "load_run", "load_sweep", "write_csv"]
