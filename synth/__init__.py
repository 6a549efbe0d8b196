"""Procedural image generators: pure functions of (config, seed, index); no training code.

Each family module registers its generator class in GENERATORS on import. `synth.core` imports
the modules listed in FAMILY_MODULES when it is first imported, so `GENERATORS` is complete in
every process that uses a generator (CLI, sweep jobs). A new family is a module in synth/ plus its
name in that list (docs/synth.md, "Adding a generator"); a listed module that is missing is an
ImportError, not a silently absent family.

Importing `synth` itself is light: `GENERATORS`, `Sample`, `SynthDataset` and `make_dataset` (and
with them torch and the families) load on first use, so commands that never render an image
(`synthscale fit`, `--help`) start without torch.
"""
from __future__ import annotations

from typing import Any

from synth.errors import UserError
from synth.registry import Registry

FAMILY_MODULES = ("shapes", "fractals", "deadleaves", "digits")
_FROM_CORE = ("GENERATORS", "Sample", "SynthDataset", "make_dataset")


def __getattr__(name: str) -> Any:
    """The names of `synth.core`, imported on first use (PEP 562), then kept here: later uses are
    plain attribute reads."""
    if name in _FROM_CORE:
        from synth import core

        globals().update({n: getattr(core, n) for n in _FROM_CORE})
        return globals()[name]
    raise AttributeError(f"module 'synth' has no attribute {name!r}")


__all__ = ["GENERATORS", "Sample", "SynthDataset", "UserError", "Registry", "make_dataset"]
