"""`deadleaves`: occluding random shapes with power-law sizes (Lee et al. 2001; Baradad et al. 2021).

A class is a procedural parameter pair: the shape mix (discs, squares, rectangles, ellipses, or
all four) x a bin of the size exponent alpha (radii r in [r_min, r_max] with density ~ r^-alpha),
so n_classes = 5 * alpha_bins. Compositing is order-independent: a pixel shows the leaf with the
highest index among those that contain it (leaf j lies above leaves 0..j-1), a max that can be
taken in any order, so every leaf is tested only inside its own square window of pixels
(`_composite`) and most leaves, being small under a power law, cost a few dozen pixel tests
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


def _leaf_params(u: torch.Tensor, kind: torch.Tensor, radius: torch.Tensor,
                 aspect: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per leaf (B, L, 7) inside-test coefficients and (B, L, 2) half-extents in x and y.

    Coefficients: cx, cy, c/r, s/r, -s*a/r, c*a/r, roundness. A pixel at (x, y) is inside when
    pu^2 + roundness * pv^2 < 1 and pv^2 < 1, with pu = (c/r) dx + (s/r) dy and
    pv = (-s a/r) dx + (c a/r) dy: discs and ellipses are round, squares and rectangles boxy;
    discs and squares have c = 1, s = 0, a = 1 (axis-aligned).
    """
    ang = u[..., 3] * math.pi
    oriented = kind >= 2
    c = torch.where(oriented, detmath.cos(ang), torch.ones_like(ang))
    s = torch.where(oriented, detmath.sin(ang), torch.zeros_like(ang))
    ia, ib = 1.0 / radius, aspect / radius            # long axis = radius, short = radius/aspect
    roundness = ((kind == 0) | (kind == 3)).float()
    params = torch.stack([u[..., 7] * 2.4 - 1.2, u[..., 8] * 2.4 - 1.2, c * ia, s * ia, -s * ib,
                          c * ib, roundness], -1)
    # half-extents of the bounding rectangle (|pu| < 1, |pv| < 1), which holds the ellipse too
    short = radius / aspect
    extent = torch.stack([radius * c.abs() + short * s.abs(), radius * s.abs() + short * c.abs()], -1)
    return params, extent


def _windows(params: torch.Tensor, extent: torch.Tensor, r: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Per leaf: side of its square pixel window (0 when off-screen) and its (col, row) origin.

    The window holds every pixel of the leaf's bounding rectangle (plus one pixel for rounding),
    clipped to the image. Any window that holds the leaf gives the same canvas, so the sizes only
    matter for speed: a short ladder of sides keeps the number of vectorised passes small.
    """
    scale = r * 0.5
    lo = ((params[..., :2] - extent + 1.0) * scale - 0.5).floor().to(torch.int64) - 1
    hi = ((params[..., :2] + extent + 1.0) * scale - 0.5).ceil().to(torch.int64) + 1
    lo, hi = lo.clamp(min=0), hi.clamp(max=r - 1)
    need = (hi - lo + 1).amax(-1)
    sizes = [2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512, 768, 1024]
    sizes = [z for z in sizes if z < r] + [r]
    table = torch.tensor(sizes)
    side = table[torch.bucketize(need, table).clamp(max=len(sizes) - 1)]
    side = torch.where((hi >= lo).all(-1), side, torch.zeros_like(side))
    origin = torch.minimum(lo, (r - side)[..., None])
    return side, origin


def _composite(params: torch.Tensor, extent: torch.Tensor, r: int) -> torch.Tensor:
    """(B, r, r) int32 canvas: 1 + index of the top leaf containing each pixel, 0 for the ground."""
    b = params.shape[0]
    coords = (torch.arange(r, dtype=torch.float32) + 0.5) * (2.0 / r) - 1.0
    side, origin = _windows(params, extent, r)
    canvas = torch.zeros(b * r * r, dtype=torch.int32)
    aligned = params[..., 3] == 0.0                  # discs and squares (s = 0)
    for size in side.unique().tolist():
        if size == 0:
            continue
        for flag in (True, False):
            img, j = ((side == size) & (aligned == flag)).nonzero(as_tuple=True)
            if len(img):
                _stamp(canvas, params[img, j], origin[img, j], img * (r * r), j + 1, size, coords,
                       flag)
    return canvas.reshape(b, r, r)


def _stamp(canvas: torch.Tensor, p: torch.Tensor, origin: torch.Tensor, base: torch.Tensor,
           value: torch.Tensor, size: int, coords: torch.Tensor, aligned: bool) -> None:
    """Max `value` into `canvas` on the pixels of P leaves, each tested in a size^2 window."""
    r = len(coords)
    offs = torch.arange(size)
    cols, rows = origin[:, 0, None] + offs, origin[:, 1, None] + offs         # (P, size)
    dx = coords[cols][:, None, :] - p[:, 0, None, None]                      # (P, 1, size)
    dy = coords[rows][:, :, None] - p[:, 1, None, None]                      # (P, size, 1)
    if aligned:
        # s = 0: pu = (c/r) dx + 0 and pv = 0 + (c a/r) dy, bit for bit, so the squares can be
        # taken on the row and column pieces before broadcasting (3 full-size ops, not 9)
        pu = p[:, 2, None, None] * dx
        pv = p[:, 5, None, None] * dy
        pv2 = pv * pv
        inside = (pu * pu + pv2 * p[:, 6, None, None] < 1.0) & (pv2 < 1.0)
    else:
        pu = p[:, 2, None, None] * dx + p[:, 3, None, None] * dy
        pv = p[:, 4, None, None] * dx + p[:, 5, None, None] * dy
        pv2 = pv * pv
        inside = ((pu * pu + pv2 * p[:, 6, None, None]) < 1.0) & (pv2 < 1.0)
    stamp = torch.where(inside, value.to(torch.int32)[:, None, None], 0)
    flat = (base[:, None] + rows * r)[:, :, None] + cols[:, None, :]
    canvas.scatter_reduce_(0, flat.reshape(-1), stamp.reshape(-1), reduce="amax")


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
        leaf = _composite(*_leaf_params(u, kind, radius, aspect), r)
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
