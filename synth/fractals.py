"""`fractals`: iterated-function-system images in the manner of FractalDB (Kataoka et al. 2020).

A class is one IFS code (2-4 affine maps, chosen with probability ~ |det A|), found by a seeded
search that keeps codes whose attractor covers at least `fill_min` of a 32x32 grid (FractalDB's
fill-rate filter). An instance jitters every map coefficient by up to +-`jitter` (relative), then
the chaos game runs `chains` independent chains per image in lock-step over the whole batch (no
per-point Python loop); points are normalised to the image by the instance's own bounding box and
splatted (max) as single pixels or 3x3 patches (a max filter of the point canvas), grey or coloured
by the chain's recent maps.
Label = the IFS code; mask = label + 1 on drawn pixels; multilabel = one-hot.

| level | classes (codes) | jitter | patch | colour | points per pixel |
|-------|-----------------|--------|-------|--------|------------------|
| 0     | 10              | 0.05   | 0 (points) | 0 | 1.0 |
| 1     | 100             | 0.1    | 1 (3x3 patches) | 0 | 1.0 |
| 2     | 100             | 0.1    | 1     | 1      | 1.0 |
| 3     | 1000            | 0.2    | 1     | 1      | 1.0 |
"""
from __future__ import annotations

from functools import lru_cache

import torch
import torch.nn.functional as F

from synth import rng
from synth.core import GENERATORS, Family, Knob, Sample, to_channels

SEARCH_SEED = 4242
MAX_MAPS = 4
BURN_IN = 8
STEPS = 24           # recorded steps per chain; chains = points / STEPS
KNOBS = (
    Knob("n_classes", int, 2, 1000, "number of IFS codes (classes), found by the fill-rate search"),
    Knob("fill_min", float, 0.02, 0.5, "least fraction of a 32x32 grid a code's attractor must cover"),
    Knob("jitter", float, 0, 0.5, "relative jitter of every map coefficient per instance"),
    Knob("patch", int, 0, 1, "0: one pixel per point; 1: a 3x3 patch per point"),
    Knob("colour", float, 0, 1, "0: grey; 1: colour by the maps a chain visited"),
    Knob("density", float, 0.1, 8, "chaos-game points per output pixel (at least 192 points in all, so "
         "densities below 192 / resolution^2 draw the same image: 0.19 at 32 px)"),
)
PRESETS = [
    dict(n_classes=10, fill_min=0.15, jitter=0.05, patch=0, colour=0.0, density=1.0),
    dict(n_classes=100, fill_min=0.15, jitter=0.1, patch=1, colour=0.0, density=1.0),
    dict(n_classes=100, fill_min=0.15, jitter=0.1, patch=1, colour=1.0, density=1.0),
    dict(n_classes=1000, fill_min=0.15, jitter=0.2, patch=1, colour=1.0, density=1.0),
]


def _contract(maps: torch.Tensor, limit: float = 0.95) -> torch.Tensor:
    """Scale each 2x2 linear part to Frobenius norm <= limit (so every map is a contraction)."""
    a = maps[..., :4]
    norm = (a[..., 0] * a[..., 0] + a[..., 1] * a[..., 1] + a[..., 2] * a[..., 2]
            + a[..., 3] * a[..., 3]).sqrt()
    scale = (limit / norm.clamp(min=1e-6)).clamp(max=1.0)
    return torch.cat([a * scale[..., None], maps[..., 4:]], -1)


def _cumulative(maps: torch.Tensor, n_maps: torch.Tensor) -> torch.Tensor:
    """(..., MAX_MAPS) cumulative choice probabilities ~ |det A| (unused maps get 0)."""
    det = (maps[..., 0] * maps[..., 3] - maps[..., 1] * maps[..., 2]).abs() + 0.02
    det = det * (torch.arange(MAX_MAPS) < n_maps[..., None]).float()
    total = det[..., 0] + det[..., 1] + det[..., 2] + det[..., 3]
    p = det / total[..., None]
    return torch.stack([p[..., 0], p[..., 0] + p[..., 1], p[..., 0] + p[..., 1] + p[..., 2],
                        torch.full_like(p[..., 0], 2.0)], -1)


def chaos(maps: torch.Tensor, cum: torch.Tensor, u: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Run the chaos game: maps (B, M, 6), cum (B, M), u (B, chains, steps) -> points, map ids."""
    b, chains, steps = u.shape
    x = torch.zeros(b, chains)
    y = torch.zeros(b, chains)
    xs, ys, ks = [], [], []
    # planar coefficient tables (6, B * M): per step, six 1-D lookups of the chosen maps
    coef = maps.reshape(b * MAX_MAPS, 6).T.contiguous()
    first = (torch.arange(b) * MAX_MAPS)[:, None]
    bounds = [cum[:, j, None] for j in range(MAX_MAPS - 1)]     # cum[..., -1] = 2 > any u
    for t in range(steps):
        ut = u[:, :, t]
        k = (ut > bounds[0]).long()
        for bound in bounds[1:]:
            k += ut > bound                               # the number of boundaries below u
        at = (k + first).reshape(-1)
        m0, m1, m2, m3, m4, m5 = (c.index_select(0, at).reshape(b, chains) for c in coef)
        x, y = m0 * x + m1 * y + m4, m2 * x + m3 * y + m5
        if t >= BURN_IN:
            xs.append(x)
            ys.append(y)
            ks.append(k)
    return torch.stack([torch.cat(xs, 1), torch.cat(ys, 1)], -1), torch.cat(ks, 1)


def _raster(points: torch.Tensor, size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Pixel (row, col) of each point after fitting the instance's bounding box into the image."""
    lo = points.amin(1, keepdim=True)
    hi = points.amax(1, keepdim=True)
    span = (hi - lo).amax(-1, keepdim=True).clamp(min=1e-6)
    centre = (hi + lo) * 0.5
    q = (points - centre) / span * (size * 0.9) + size * 0.5
    q = q.clamp(0, size - 1).floor().to(torch.int64)
    return q[..., 1], q[..., 0]


def splat(rows: torch.Tensor, cols: torch.Tensor, tone: torch.Tensor, r: int,
          shade: torch.Tensor | None = None) -> torch.Tensor:
    """(B, 3, r, r) canvas: per channel the max colour `tone` (B, P, 3) of the points at pixel
    (rows, cols) (B, P), 0 where none. With `shade` (B,) in (0, 1): 3x3 patches, the 8 neighbours
    of a point getting its colour * shade.

    One flat scatter covers the three channels. x -> x * shade is monotone, so the max over the
    scaled neighbours is the scaled 3x3 max filter of the point canvas, bit for bit, instead of
    eight more scatters; the filter's centre term is never above the unscaled centre, which the
    outer max keeps.
    """
    b = rows.shape[0]
    canvas = torch.zeros(b * 3 * r * r)
    pix = rows * r + cols
    flat = (pix[:, None, :] + (torch.arange(b * 3) * (r * r)).reshape(b, 3, 1)).reshape(-1)
    canvas.scatter_reduce_(0, flat, tone.transpose(1, 2).reshape(-1), reduce="amax")
    rgb = canvas.reshape(b, 3, r, r)
    if shade is None:
        return rgb
    return torch.maximum(rgb, _max3x3(rgb) * shade[:, None, None, None])


def _max3x3(img: torch.Tensor) -> torch.Tensor:
    """3x3 max filter of a non-negative (..., H, W) image (zero outside), separably: equal to
    F.max_pool2d(img, 3, 1, 1) there and ~8x faster on CPU."""
    p = F.pad(img, (1, 1, 1, 1))
    h = torch.maximum(torch.maximum(p[..., :-2], p[..., 1:-1]), p[..., 2:])
    return torch.maximum(torch.maximum(h[..., :-2, :], h[..., 1:-1, :]), h[..., 2:, :])


@lru_cache(maxsize=8)
def search_codes(n_classes: int, fill_min: float) -> tuple[torch.Tensor, torch.Tensor]:
    """The first `n_classes` seeded IFS codes whose attractor fills >= fill_min of a 32^2 grid."""
    found_maps, found_n, start, batch = [], [], 0, 256
    while sum(len(m) for m in found_maps) < n_classes:
        idx = torch.arange(start, start + batch)
        u = rng.uniform(SEARCH_SEED, idx, "ifs", 1 + 6 * MAX_MAPS)
        n_maps = 2 + (u[:, 0] * 3).floor().to(torch.int64).clamp(max=2)
        maps = _contract(u[:, 1:].reshape(batch, MAX_MAPS, 6) * 2.0 - 1.0)
        cum = _cumulative(maps, n_maps)
        pts, _ = chaos(maps, cum, rng.uniform(SEARCH_SEED, idx, "search-chaos", 128 * 40)
                       .reshape(batch, 128, 40))
        rows, cols = _raster(pts, 32)
        grid = torch.zeros(batch, 32 * 32)
        grid.scatter_(1, rows * 32 + cols, 1.0)
        ok = grid.mean(1) >= fill_min
        found_maps.append(maps[ok])
        found_n.append(n_maps[ok])
        start += batch
    return torch.cat(found_maps)[:n_classes], torch.cat(found_n)[:n_classes]


@GENERATORS.register("fractals")
class Fractals(Family):
    """IFS fractals; class = IFS code (FractalDB-style fill-rate class search)."""

    name, KNOBS, PRESETS = "fractals", KNOBS, PRESETS

    def _classes(self) -> int:
        return self._knobs["n_classes"]

    def _render(self, seed: int, idx: torch.Tensor, device: str) -> Sample:
        kn, r, b = self._knobs, self.resolution, len(idx)
        codes, n_maps = search_codes(self.n_classes, kn["fill_min"])
        label = rng.randint(seed, idx, "class", 1, self.n_classes)[:, 0]
        jitter = rng.uniform(seed, idx, "jitter", MAX_MAPS * 6).reshape(b, MAX_MAPS, 6)
        maps = _contract(codes[label] * (1.0 + (jitter * 2.0 - 1.0) * kn["jitter"]), 0.98)
        cum = _cumulative(maps, n_maps[label])
        chains = max(8, int(kn["density"] * r * r / STEPS))
        u = rng.uniform(seed, idx, "chaos", chains * (STEPS + BURN_IN)).reshape(b, chains, -1)
        pts, ks = chaos(maps, cum, u)
        rows, cols = _raster(pts, r)
        head = rng.uniform(seed, idx, "style", 3 * MAX_MAPS + 1)
        palette = head[:, :3 * MAX_MAPS].reshape(b, MAX_MAPS, 3)
        grey = torch.full_like(palette, 1.0)
        colours = grey + (palette * 0.8 + 0.2 - grey) * kn["colour"]
        tone = colours.gather(1, ks[..., None].expand(-1, -1, 3))          # (B, P, 3)
        shade = 0.55 + 0.3 * head[:, -1] if kn["patch"] else None
        rgb = splat(rows, cols, tone, r, shade)
        drawn = rgb.amax(1) > 0
        mask = drawn.long() * (label[:, None, None] + 1)
        return Sample(image=to_channels(rgb, self.channels).contiguous(), label=label,
                      multilabel=F.one_hot(label, self.n_classes).float(), mask=mask)
