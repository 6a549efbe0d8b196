"""Bit-reproducible elementary functions built from exactly-rounded ops (+, *, floor, sqrt).

torch's sin/exp use SIMD polynomials for full vectors and libm for the tail of a tensor, so the
same input can round differently depending on where it sits in a batch; these versions cannot.
Accuracy (~1e-6 absolute) is far beyond what rendering needs.
"""
from __future__ import annotations

import math

import torch

_TWO_PI = 2.0 * math.pi
_INV_TWO_PI = 1.0 / _TWO_PI


def sin(x: torch.Tensor) -> torch.Tensor:
    """sin(x) by range reduction to [-pi, pi], folding to [-pi/2, pi/2] and an odd Taylor series."""
    r = x - (x * _INV_TWO_PI + 0.5).floor() * _TWO_PI          # [-pi, pi)
    r = torch.where(r > math.pi / 2, math.pi - r, r)
    r = torch.where(r < -math.pi / 2, -math.pi - r, r)          # [-pi/2, pi/2]
    r2 = r * r
    poly = 1.0 + r2 * (-1 / 6 + r2 * (1 / 120 + r2 * (-1 / 5040 + r2 * (1 / 362880
                                                                     - r2 * (1 / 39916800)))))
    return r * poly


def cos(x: torch.Tensor) -> torch.Tensor:
    """cos(x) = sin(x + pi/2)."""
    return sin(x + math.pi / 2)


def tri(x: torch.Tensor) -> torch.Tensor:
    """Triangle wave with period 1 in [0, 1]: a cheap, exact stand-in for a sine stripe."""
    f = x - x.floor()
    return (f * 2.0 - 1.0).abs()


def normalize(v: torch.Tensor, dim: int = -1, eps: float = 1e-12) -> torch.Tensor:
    """v / |v| along `dim`, summing the squares explicitly (no SIMD-order-dependent reduction)."""
    sq = None
    for comp in v.unbind(dim):
        sq = comp * comp if sq is None else sq + comp * comp
    return v / (sq + eps).sqrt().unsqueeze(dim)


def log2(x: torch.Tensor) -> torch.Tensor:
    """log2 of positive float32 x: exponent bits plus an atanh series for the mantissa (~1e-6)."""
    bits = x.to(torch.float32).contiguous().view(torch.int32)
    exponent = ((bits >> 23) & 255) - 127
    mantissa = ((bits & 0x7FFFFF) | 0x3F800000).view(torch.float32)      # [1, 2)
    t = (mantissa - 1.0) / (mantissa + 1.0)                               # [0, 1/3)
    t2 = t * t
    ln_m = t * (2.0 + t2 * (2 / 3 + t2 * (2 / 5 + t2 * (2 / 7 + t2 * (2 / 9)))))
    return exponent.to(torch.float32) + ln_m * (1.0 / math.log(2.0))


def exp2(y: torch.Tensor) -> torch.Tensor:
    """2**y for y in [-126, 127]: integer part through the exponent bits, fraction by Taylor (~1e-6)."""
    n = y.floor()
    f = (y - n) * math.log(2.0)                                           # [0, ln 2)
    poly = 1.0 + f * (1.0 + f * (1 / 2 + f * (1 / 6 + f * (1 / 24 + f * (1 / 120 + f * (
        1 / 720 + f * (1 / 5040)))))))
    scale = ((n.to(torch.int32) + 127).clamp(1, 254) << 23).view(torch.float32)
    return poly * scale


def pow_(x: torch.Tensor, p: torch.Tensor | float) -> torch.Tensor:
    """x**p for positive x, reproducibly (exp2(p * log2(x)))."""
    return exp2(log2(x) * p)
