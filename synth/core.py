"""The generator contract: Sample, the GENERATORS registry, knob validation and SynthDataset."""
from __future__ import annotations

import math
import numbers
import operator
from dataclasses import dataclass, fields
from typing import Any, Mapping, Protocol

import torch

from synth.errors import UserError
from synth.registry import Registry

class _GeneratorRegistry(Registry):
    """The generator registry: a registered `Family` is checked when its module is imported."""

    def register(self, name: str):
        """Decorator: as Registry.register, plus `check_family` for Family subclasses."""
        add = super().register(name)

        def deco(cls):
            if isinstance(cls, type) and issubclass(cls, Family):
                check_family(cls, name)
            return add(cls)

        return deco


GENERATORS: Registry = _GeneratorRegistry("generator")
MIN_RESOLUTION = 8
MAX_INDEX = 2**63 - 1  # sizes and seeds: what len() and the generators' int64 keys hold


@dataclass
class Sample:
    """A rendered batch; all tensors on the generator's device."""

    image: torch.Tensor                       # (B, C, H, W) float32 in [0, 1]
    label: torch.Tensor                       # (B,) int64 class label
    multilabel: torch.Tensor | None = None    # (B, n_classes) float32 {0, 1}: categories present
    mask: torch.Tensor | None = None          # (B, H, W) int64: 0 background, k + 1 category k
    depth: torch.Tensor | None = None         # (B, 1, H, W) float32
    normals: torch.Tensor | None = None       # (B, 3, H, W) float32 unit vectors

    def to(self, device: str | torch.device) -> "Sample":
        """The same sample with every tensor moved to `device`."""
        moved = {f.name: (v.to(device) if isinstance(v := getattr(self, f.name), torch.Tensor)
                          else v) for f in fields(self)}
        return Sample(**moved)


class Generator(Protocol):
    """What every registered generator class provides."""

    n_classes: int

    def knobs(self) -> dict: ...

    def render(self, seed: int, indices: torch.Tensor, device: str = "cpu") -> Sample: ...


@dataclass(frozen=True)
class Knob:
    """One documented, range-checked generator setting."""

    name: str
    kind: type                  # int or float
    lo: float
    hi: float
    doc: str

    def check(self, family: str, value: Any) -> Any:
        """The value converted to `kind`, or a UserError naming the knob and its valid range."""
        try:  # an int too large for a float (400 digits) overflows in isfinite and float()
            # numpy's numbers too (np.float64 passed as a float, np.int64 was refused)
            ok_type = isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)
            if self.kind is int and ok_type and float(value) != int(value):  # int(inf) raised OverflowError
                ok_type = False
        except OverflowError:
            ok_type = False
        if not ok_type or not self.lo <= value <= self.hi:
            what = "an integer" if self.kind is int else "a number"
            shown = repr(value) if len(repr(value)) <= 40 else repr(value)[:37] + "..."
            raise UserError(f"{family} knob {self.name!r} must be {what} in "
                            f"[{self.lo:g}, {self.hi:g}], got {shown}")
        return self.kind(value)


def resolve_knobs(family: str, specs: tuple[Knob, ...], presets: list[dict], complexity: Any,
                  overrides: Mapping[str, Any]) -> dict:
    """The preset of `complexity` with `overrides` applied, every value checked."""
    n_levels = len(presets)
    if not isinstance(complexity, int) or isinstance(complexity, bool) \
            or not 0 <= complexity < n_levels:
        raise UserError(f"{family} complexity must be an integer in [0, {n_levels - 1}], "
                        f"got {complexity!r}")
    by_name = {k.name: k for k in specs}
    unknown = sorted(set(overrides) - set(by_name))
    if unknown:
        raise UserError(f"unknown {family} knob {unknown[0]!r}; valid: {', '.join(sorted(by_name))}")
    merged = {**presets[complexity], **overrides}
    return {name: by_name[name].check(family, merged[name]) for name in by_name}


def check_common(family: str, resolution: Any, channels: Any) -> None:
    """Validate the knobs every family shares."""
    if not isinstance(resolution, int) or isinstance(resolution, bool) \
            or not MIN_RESOLUTION <= resolution <= 1024:
        raise UserError(f"{family} resolution must be an integer in [{MIN_RESOLUTION}, 1024] "
                        f"pixels, got {resolution!r}")
    if not isinstance(channels, int) or isinstance(channels, bool) or channels not in (1, 3):  # 3.0 too
        raise UserError(f"{family} channels must be 1 (grayscale) or 3 (RGB), got {channels!r}")


def to_channels(rgb: torch.Tensor, channels: int) -> torch.Tensor:
    """(B, 3, H, W) RGB to the requested channel count (ITU-R 601 luma for grayscale)."""
    if channels == 3:
        return rgb
    luma = rgb[:, 0] * 0.299 + rgb[:, 1] * 0.587 + rgb[:, 2] * 0.114
    return luma.unsqueeze(1)


class Family:
    """Base of the registered families: shared validation, `knobs()` and the chunked `render()`.

    A family sets `name`, `KNOBS` and `PRESETS` (one dict per complexity level) and implements
    `_render(seed, idx, device)` for one chunk of indices; `_classes()` gives the class count when
    it depends on the knobs. Chunks bound the memory of the per-pixel temporaries and cannot change
    a pixel (every image is a pure function of its index).
    """

    name = ""
    KNOBS: tuple[Knob, ...] = ()
    PRESETS: list[dict] = []
    n_levels = 0
    chunk_pixels = 1 << 18
    n_classes = 0

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.n_levels = len(cls.PRESETS)

    def __init__(self, resolution: int = 32, complexity: int = 0, channels: int = 3, **knobs: Any) -> None:
        check_common(self.name, resolution, channels)
        self.resolution, self.complexity, self.channels = resolution, complexity, channels
        self._knobs = resolve_knobs(self.name, self.KNOBS, self.PRESETS, complexity, knobs)
        self.n_classes = self._classes()
        if not isinstance(self.n_classes, int) or self.n_classes < 1:
            raise TypeError(f"generator family {self.name!r}: n_classes is {self.n_classes!r}; set the "
                            "class attribute n_classes or override _classes() (labels are 0..n_classes-1)")

    def _classes(self) -> int:
        return type(self).n_classes

    def knobs(self) -> dict:
        """Every resolved setting (preset + overrides), JSON-able."""
        return {"generator": self.name, "resolution": self.resolution,
                "complexity": self.complexity, "channels": self.channels, **self._knobs}

    def render(self, seed: int, indices: torch.Tensor, device: str = "cpu") -> Sample:
        """Batch of images and annotations; image i depends only on (config, seed, i)."""
        idx = torch.as_tensor(indices, dtype=torch.int64).reshape(-1).cpu()
        if not len(idx):  # an empty batch has the fields, dtypes and shapes of any other (shapes and
            one = self.render(seed, torch.zeros(1, dtype=torch.int64), device)  # fractals crashed on it)
            return Sample(**{f.name: None if getattr(one, f.name) is None else getattr(one, f.name)[:0]
                             for f in fields(Sample)})
        per_chunk = max(1, self.chunk_pixels // (self.resolution * self.resolution))
        parts = [self._render(seed, idx[i:i + per_chunk], device) for i in range(0, len(idx), per_chunk)]
        if len(parts) <= 1:
            out = parts[0] if parts else self._render(seed, idx, device)
        else:
            out = Sample(**{f.name: None if getattr(parts[0], f.name) is None
                            else torch.cat([getattr(p, f.name) for p in parts]) for f in fields(Sample)})
        return out if str(device) == "cpu" else out.to(device)

    def _render(self, seed: int, idx: torch.Tensor, device: str) -> Sample:
        raise NotImplementedError


def check_family(cls: type, name: str) -> None:
    """A family's definition against the contract, so its author's mistake fails on import (a
    TypeError naming the family) instead of as a KeyError or a nameless message at a user's run."""
    where = f"generator family {name!r} ({cls.__module__}.{cls.__qualname__})"
    if cls.name != name:
        raise TypeError(f"{where}: set the class attribute name = {name!r}, as registered "
                        f"(it is {cls.name!r}; errors and knobs() use it)")
    if not cls.PRESETS:
        raise TypeError(f"{where}: PRESETS needs one dict of knob values per complexity level")
    knob_names = [k.name for k in cls.KNOBS]
    if len(set(knob_names)) < len(knob_names):
        raise TypeError(f"{where}: KNOBS names a knob twice: {knob_names}")
    for level, preset in enumerate(cls.PRESETS):
        missing, extra = sorted(set(knob_names) - set(preset)), sorted(set(preset) - set(knob_names))
        if missing or extra:
            raise TypeError(f"{where}: PRESETS[{level}] must set exactly the KNOBS; "
                            f"missing {missing}, not a knob {extra}")
        for knob in cls.KNOBS:
            try:
                knob.check(name, preset[knob.name])
            except UserError as err:
                raise TypeError(f"{where}: PRESETS[{level}]: {err}") from None


class SynthDataset(torch.utils.data.Dataset):
    """n images of a generator; item i is a pure function of (config, seed, i), so sets nest."""

    def __init__(self, generator: Generator, n: int, seed: int = 0, device: str = "cpu") -> None:
        self.generator = generator
        self.n = n
        self.seed = seed
        self.device = device
        self.n_classes = generator.n_classes

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        try:
            i = operator.index(i)  # ints, numpy and 0-d torch integers; ds[1.5] was ds[1]
        except TypeError:
            raise TypeError(f"dataset indices must be whole numbers, got {i!r}") from None
        if not -self.n <= i < self.n:
            raise IndexError(f"index {i} out of range for a dataset of {self.n} images")
        s = self.render_batch(torch.tensor([i % self.n], dtype=torch.int64))
        return s.image[0], int(s.label[0])

    def render_batch(self, indices: Any) -> Sample:
        """A whole batch in one vectorised call: the fast path for training loops. Indices as for
        `ds[i]`: whole numbers in [-n, n), a negative one counted from the end."""
        idx = torch.as_tensor(indices)
        if not idx.numel() and idx.dtype.is_floating_point:  # [] comes out as float32: an empty batch
            idx = idx.to(torch.int64)
        if idx.dtype.is_floating_point or idx.dtype.is_complex or idx.dtype == torch.bool:
            raise UserError(f"render_batch takes integer indices, got a tensor of {idx.dtype}")
        idx = idx.to(torch.int64).reshape(-1)
        if idx.numel():
            lo, hi = int(idx.min()), int(idx.max())
            if not -self.n <= lo <= hi < self.n:
                raise IndexError(f"indices {lo}..{hi} out of range for a dataset of {self.n} images")
            if lo < 0:  # counted from the end, as ds[-1]
                idx = idx % self.n
        return self.generator.render(self.seed, idx, device=self.device)

    def __repr__(self) -> str:
        return f"SynthDataset({type(self.generator).__name__}, n={self.n}, seed={self.seed})"


def make_dataset(name: str, n: int, *, seed: int = 0, resolution: int = 32, complexity: int = 0,
                 channels: int = 3, device: str = "cpu", **knobs: Any) -> SynthDataset:
    """A dataset of `n` images from the generator registered as `name`."""
    if not isinstance(n, int) or isinstance(n, bool) or not 0 <= n <= MAX_INDEX:
        raise UserError(f"dataset size n must be an integer from 0 to 2**63 - 1, got {n!r}")
    # images are keyed by the seed's low 64 bits: 2**64 gave seed 0's images
    if not isinstance(seed, int) or isinstance(seed, bool) or not 0 <= seed <= MAX_INDEX:
        raise UserError(f"seed must be an integer from 0 to 2**63 - 1, got {seed!r}")
    cls = GENERATORS.get(name)
    gen = cls(resolution=resolution, complexity=complexity, channels=channels, **knobs)
    return SynthDataset(gen, n, seed=seed, device=device)


def _import_families() -> None:
    """Import every module of `synth.FAMILY_MODULES`, each registering its generator. Run once, at
    the end of this module: a family module imports names defined above, which exist by then."""
    import importlib

    import synth

    for name in synth.FAMILY_MODULES:
        importlib.import_module(f"synth.{name}")


_import_families()
