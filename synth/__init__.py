"""Procedural image generators: pure functions of (config, seed, index); no training code.

Each family module registers its generator class in GENERATORS on import; the modules listed in
FAMILY_MODULES are imported here so `synth.GENERATORS` is complete in every process (CLI, sweep
jobs). A new family is a module in synth/ plus its name in that list (docs/synth.md, "Adding a
generator"); a listed module that is missing is an ImportError, not a silently absent family.
"""
from __future__ import annotations

import importlib

from synth.core import GENERATORS, Sample, SynthDataset, make_dataset
from synth.errors import UserError
from synth.registry import Registry

FAMILY_MODULES = ("shapes", "fractals", "deadleaves", "digits")

for _name in FAMILY_MODULES:
    importlib.import_module(f"synth.{_name}")

__all__ = ["GENERATORS", "Sample", "SynthDataset", "UserError", "Registry", "make_dataset"]
