"""`deadleaves`: occluding random shapes with power-law sizes (Lee et al. 2001; Baradad et al. 2021).

A class is a procedural parameter pair: the shape mix (discs, squares, rectangles, ellipses, or
all four) x a bin of the size exponent alpha (radii r in [r_min, r_max] with density ~ r^-alpha),
so n_classes = 5 * alpha_bins. Leaves are drawn back to front over the whole batch at once; each
leaf costs 2-8 elementwise ops per pixel because its inside test is built from per-row and
per-column pieces (broadcasting). Label = class; multilabel = one-hot of the label.

| level | alpha_bins (classes) | n_leaves | colour | texture |
|-------|----------------------|----------|--------|---------|
| 0     | 2 (10)               | 48       | 0 (grey levels) | 0 |
| 1     | 2 (10)               | 96       | 1 (RGB)         | 0 |
| 2     | 4 (20)               | 96       | 1               | 0.5 (noise-textured leaves) |
| 3     | 8 (40)               | 160      | 1               | 1   |

`max_aspect` (rectangles and ellipses, 3 at every level) is a knob outside the ladder.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from synth import detmath, rng, textures
from synth.core import GENERATORS, Knob, Sample, check_common, resolve_knobs, to_channels

SHAPE_MIXES = ("discs", "squares", "rectangles", "ellipses", "mixed")
ALPHA_RANGE = (1.2, 3.2)     # size exponents spanned by the bins
R_MIN, R_MAX = 0.03, 1.0     # leaf radius range, image half-widths
KNOBS = (
    Knob("alpha_bins", int, 1, 16, "bins of the size exponent; n_classes = 5 * alpha_bins"),
    Knob("n_leaves", int, 1, 512, "leaves per image (drawn back to front)"),
    Knob("colour", float, 0, 1, "0: grey levels; 1: random RGB"),
    Knob("texture", float, 0, 1, "amplitude of value-noise texture inside leaves"),
    Knob("max_aspect", float, 1, 8, "largest aspect ratio of rectangles and ellipses"),
)
PRESETS = [
    dict(alpha_bins=2, n_leaves=48, colour=0.0, texture=0.0, max_aspect=3.0),
    dict(alpha_bins=2, n_leaves=96, colour=1.0, texture=0.0, max_aspect=3.0),
    dict(alpha_bins=4, n_leaves=96, colour=1.0, texture=0.5, max_aspect=3.0),
    dict(alpha_bins=8, n_leaves=160, colour=1.0, texture=1.0, max_aspect=3.0),
]


def _bc(v: torch.Tensor) -> torch.Tensor:
    return v[:, None, None]


def _radii(u: torch.Tensor, alpha: torch.Tensor) -> torch.Tensor:
    """Inverse-CDF samples of r^-alpha on [R_MIN, R_MAX] (alpha != 1), reproducibly."""
    e = 1.0 - alpha[:, None]
    lo = detmath.pow_(torch.full_like(u, R_MIN), e)
    hi = detmath.pow_(torch.full_like(u, R_MAX), e)
    return detmath.pow_(lo + (hi - lo) * u, 1.0 / e)


@GENERATORS.register("deadleaves")
class DeadLeaves:
    """Dead-leaves images; class = shape mix x size-exponent bin."""

    n_levels = len(PRESETS)

    def __init__(self, resolution: int = 32, complexity: int = 0, channels: int = 3, **knobs) -> None:
        check_common("deadleaves", resolution, channels)
        self.resolution, self.complexity, self.channels = resolution, complexity, channels
        self._knobs = resolve_knobs("deadleaves", KNOBS, PRESETS, complexity, knobs)
        self.n_classes = len(SHAPE_MIXES) * self._knobs["alpha_bins"]

    def knobs(self) -> dict:
        """Every resolved setting (preset + overrides), JSON-able."""
        return {"generator": "deadleaves", "resolution": self.resolution,
                "complexity": self.complexity, "channels": self.channels, **self._knobs}

    def render(self, seed: int, indices: torch.Tensor, device: str = "cpu") -> Sample:
        """Batch of images; image i depends only on (config, seed, i)."""
        idx = torch.as_tensor(indices, dtype=torch.int64).reshape(-1).cpu()
        per_chunk = max(1, (1 << 18) // (self.resolution * self.resolution))
        parts = [self._render(seed, idx[i:i + per_chunk]) for i in range(0, len(idx), per_chunk)]
        parts = parts or [self._render(seed, idx)]
        out = Sample(image=torch.cat([p.image for p in parts]), label=torch.cat([p.label for p in parts]))
        out.multilabel = F.one_hot(out.label, self.n_classes).float()
        return out if str(device) == "cpu" else out.to(device)

    def _render(self, seed: int, idx: torch.Tensor) -> Sample:
        kn, r, b = self._knobs, self.resolution, len(idx)
        n_leaves = kn["n_leaves"]
        label = rng.randint(seed, idx, "class", 1, self.n_classes)[:, 0]
        mix, abin = label % len(SHAPE_MIXES), label // len(SHAPE_MIXES)
        head = rng.uniform(seed, idx, "image", 4)
        width = (ALPHA_RANGE[1] - ALPHA_RANGE[0]) / kn["alpha_bins"]
        alpha = ALPHA_RANGE[0] + (abin.float() + head[:, 0]) * width
        u = rng.uniform(seed, idx, "leaves", 10 * n_leaves).reshape(b, n_leaves, 10)
        radius = _radii(u[..., 0], alpha)
        kind = torch.where(mix[:, None] == 4, (u[..., 1] * 4).floor().clamp(max=3).long(),
                           mix[:, None].expand(b, n_leaves))
        aspect = 1.0 + u[..., 2] * (kn["max_aspect"] - 1.0)
        aspect = torch.where(kind >= 2, aspect, torch.ones_like(aspect))
        coords = (torch.arange(r, dtype=torch.float32) + 0.5) * (2.0 / r) - 1.0
        x, y = coords.view(1, 1, r), coords.view(1, r, 1)
        leaf = torch.zeros((b, r, r), dtype=torch.int16)      # small: the fill is memory-bound
        axis_aligned = (kind <= 1).all(0).tolist()        # one host sync, not one per leaf
        for j in range(n_leaves):
            inside = self._inside(u[:, j], kind[:, j], radius[:, j], aspect[:, j], x, y, axis_aligned[j])
            leaf.masked_fill_(inside, j + 1)
        grey = u[..., 6:7].expand(b, n_leaves, 3)
        colours = grey + (u[..., 6:9] - grey) * kn["colour"]
        grey0 = head[:, 1:2].expand(b, 3)
        ground = (grey0 + (head[:, 1:4] - grey0) * kn["colour"]).reshape(b, 1, 3)
        table = torch.cat([ground, colours], 1).reshape(-1, 3)
        flat = leaf.to(torch.int64) + _bc(torch.arange(b) * (n_leaves + 1))
        rgb = F.embedding(flat, table).permute(0, 3, 1, 2)
        if kn["texture"] > 0:
            offset = F.embedding(flat, torch.cat([torch.zeros(b, 1, 2), u[..., 4:6] * 128], 1)
                                 .reshape(-1, 2)).permute(3, 0, 1, 2)
            cols = torch.arange(r, dtype=torch.float32) * (96.0 / r)
            grain = textures.sample_noise(textures.noise_table(), cols.view(1, 1, r) + offset[0],
                                          cols.view(1, r, 1) + offset[1])
            rgb = rgb * ((grain - 0.5) * (kn["texture"] * 1.2) + 1.0).unsqueeze(1)
        image = to_channels(rgb.clamp(0.0, 1.0), self.channels).contiguous()
        return Sample(image=image, label=label)

    @staticmethod
    def _inside(w: torch.Tensor, kind: torch.Tensor, radius: torch.Tensor, aspect: torch.Tensor,
                x: torch.Tensor, y: torch.Tensor, axis_aligned: bool) -> torch.Tensor:
        """(B, R, R) inside test of one leaf per image (kind 0 disc, 1 square, 2 rect, 3 ellipse)."""
        dx, dy = x - _bc(w[:, 7] * 2.4 - 1.2), y - _bc(w[:, 8] * 2.4 - 1.2)
        if axis_aligned:                                  # per-row/column pieces: 3 full-size ops
            inv = _bc(1.0 / radius)
            ax, ay = dx * inv, dy * inv
            ax2, ay2 = ax * ax, ay * ay
            disc = (ax2 + ay2) < 1.0
            square = (ax2 < 1.0) & (ay2 < 1.0)
            return torch.where(_bc(kind == 0), disc, square)
        # discs and squares stay axis-aligned here too, bit for bit the same as the fast path,
        # so which path a leaf takes (it depends on the batch) never changes a pixel
        ang = w[:, 3] * math.pi
        oriented = kind >= 2
        c = torch.where(oriented, detmath.cos(ang), torch.ones_like(ang))
        s = torch.where(oriented, detmath.sin(ang), torch.zeros_like(ang))
        ia, ib = 1.0 / radius, aspect / radius            # long axis = radius, short = radius/aspect
        pu = _bc(c * ia) * dx + _bc(s * ia) * dy
        pv = _bc(-s * ib) * dx + _bc(c * ib) * dy
        pu2, pv2 = pu * pu, pv * pv
        # round: pu2 + pv2 < 1; boxy: pu2 < 1 and pv2 < 1 (the round test implies pv2 < 1)
        roundness = _bc(((kind == 0) | (kind == 3)).float())
        return ((pu2 + pv2 * roundness) < 1.0) & (pv2 < 1.0)
