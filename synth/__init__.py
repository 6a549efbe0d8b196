"""Procedural image generators: pure functions of (config, seed, index); no training code.

Each family module registers its generator class in GENERATORS on import; the list below is
imported here so `synth.GENERATORS` is complete. A family module that is not present (for example
one still being written) is skipped.
"""
from __future__ import annotations

import importlib
import importlib.util

from synth.core import GENERATORS, Sample, SynthDataset, make_dataset
from synth.errors import UserError
from synth.registry import Registry

FAMILY_MODULES = ("shapes", "fractals", "deadleaves", "digits")

for _name in FAMILY_MODULES:
    if importlib.util.find_spec(f"synth.{_name}") is not None:
        importlib.import_module(f"synth.{_name}")

__all__ = ["GENERATORS", "Sample", "SynthDataset", "UserError", "Registry", "make_dataset"]
