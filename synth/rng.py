"""Counter-based random numbers: every value is a pure function of (seed, index, stream, slot).

A stateful generator over a batch would make image i depend on its batch neighbours; hashing the
coordinates instead (SplitMix64's finaliser, Steele et al. 2014) makes every image independent of
batch size, worker count and process. Only exactly-rounded integer/float ops are used, so the bits
do not depend on which SIMD path torch takes for a given element.
"""
from __future__ import annotations

import zlib

import torch

_M64 = (1 << 64) - 1


def _s64(value: int) -> int:
    """A 64-bit constant as the signed int64 torch stores (two's complement)."""
    value &= _M64
    return value - (1 << 64) if value >= 1 << 63 else value


_GOLDEN = _s64(0x9E3779B97F4A7C15)
_MUL1 = _s64(0xBF58476D1CE4E5B9)
_MUL2 = _s64(0x94D049BB133111EB)


def _shr(z: torch.Tensor, k: int) -> torch.Tensor:
    """Logical right shift of int64 (torch's >> is arithmetic)."""
    return (z >> k) & ((1 << (64 - k)) - 1)


def mix64(z: torch.Tensor) -> torch.Tensor:
    """SplitMix64 finaliser on an int64 tensor (wrapping arithmetic)."""
    z = z + _GOLDEN
    z = (z ^ _shr(z, 30)) * _MUL1
    z = (z ^ _shr(z, 27)) * _MUL2
    return z ^ _shr(z, 31)


def stream_id(name: str) -> int:
    """A stable integer for a named random stream (crc32: identical in every process)."""
    return zlib.crc32(name.encode("utf-8"))


def keys(seed: int, index: torch.Tensor, stream: str) -> torch.Tensor:
    """One int64 key per index for the named stream; shape of `index`."""
    head = mix64(torch.tensor([_s64(seed * 0x632BE59BD9B4E019 + stream_id(stream))],
                              dtype=torch.int64))
    return mix64(head + index.to(torch.int64) * _GOLDEN)


def uniform(seed: int, index: torch.Tensor, stream: str, n: int) -> torch.Tensor:
    """(len(index), n) float32 uniforms in [0, 1), 24 random bits each."""
    k = keys(seed, index, stream).to(index.device)
    slots = torch.arange(1, n + 1, dtype=torch.int64, device=index.device) * _MUL2
    bits = _shr(mix64(k[:, None] ^ slots[None, :]), 40)
    return bits.to(torch.float32) * (1.0 / (1 << 24))


def randint(seed: int, index: torch.Tensor, stream: str, n: int, high: torch.Tensor | int,
            low: torch.Tensor | int = 0) -> torch.Tensor:
    """(len(index), n) int64 uniform in [low, high); `high`/`low` may be per-row (B,) tensors."""
    u = uniform(seed, index, stream, n)
    lo = torch.as_tensor(low, device=u.device).reshape(-1, 1).to(torch.float32)
    hi = torch.as_tensor(high, device=u.device).reshape(-1, 1).to(torch.float32)
    out = (lo + u * (hi - lo)).floor().to(torch.int64)
    return torch.minimum(out, hi.to(torch.int64) - 1)


def table_uniform(seed: int, n_rows: int, stream: str, n: int) -> torch.Tensor:
    """(n_rows, n) uniforms for fixed per-config tables (category shapes, views, textures)."""
    return uniform(seed, torch.arange(n_rows, dtype=torch.int64), stream, n)
