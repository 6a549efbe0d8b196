"""`deadleaves`: occluding random shapes with power-law sizes (Lee et al. 2001; Baradad et al. 2021).

A class is a procedural parameter pair: the shape mix (discs, squares, rectangles, ellipses, or
all four) x a bin of the size exponent alpha (radii r in [r_min, r_max] with density ~ r^-alpha),
so n_classes = 5 * alpha_bins. Compositing is order-independent: a pixel shows the leaf with the
highest index among those that contain it (leaf j lies above leaves 0..j-1), a max that can be
taken in any order, so every leaf is tested only inside its own window of pixels
(`synth.raster`) and most leaves, being small under a power law, cost a few dozen pixel tests
instead of a full frame. Label = class; multilabel = one-hot of the label.

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

from synth import detmath, raster, rng, textures
from synth.core import GENERATORS, Family, Knob, Sample, to_channels

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


def _leaf_params(u: torch.Tensor, kind: torch.Tensor, radius: torch.Tensor,
                 aspect: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, L, 7) `synth.raster` coefficients and (B, L, 2) half-extents of the leaves.

    Long axis = radius, short = radius / aspect; discs and squares are axis-aligned (c = 1, s = 0),
    discs and ellipses round, squares and rectangles boxy.
    """
    ang = u[..., 3] * math.pi
    oriented = kind >= 2
    c = torch.where(oriented, detmath.cos(ang), torch.ones_like(ang))
    s = torch.where(oriented, detmath.sin(ang), torch.zeros_like(ang))
    roundness = ((kind == 0) | (kind == 3)).float()
    return raster.shape_params(u[..., 7] * 2.4 - 1.2, u[..., 8] * 2.4 - 1.2, c, s, 1.0 / radius,
                               aspect / radius, roundness)


def _radii(u: torch.Tensor, alpha: torch.Tensor) -> torch.Tensor:
    """Inverse-CDF samples of r^-alpha on [R_MIN, R_MAX] (alpha != 1), reproducibly."""
    e = 1.0 - alpha[:, None]
    lo = detmath.pow_(torch.full_like(u, R_MIN), e)
    hi = detmath.pow_(torch.full_like(u, R_MAX), e)
    return detmath.pow_(lo + (hi - lo) * u, 1.0 / e)


@GENERATORS.register("deadleaves")
class DeadLeaves(Family):
    """Dead-leaves images; class = shape mix x size-exponent bin."""

    name, KNOBS, PRESETS = "deadleaves", KNOBS, PRESETS

    def _classes(self) -> int:
        return len(SHAPE_MIXES) * self._knobs["alpha_bins"]

    def _render(self, seed: int, idx: torch.Tensor, device: str) -> Sample:
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
        leaf = raster.composite(*_leaf_params(u, kind, radius, aspect), r)
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
        return Sample(image=image, label=label, multilabel=F.one_hot(label, self.n_classes).float())
