"""synth.raster's windowed compositor (deadleaves, shapes clutter) against a full-frame reference."""
from __future__ import annotations

import pytest
import torch

from synth import deadleaves, raster, rng


def _reference(params: torch.Tensor, r: int, flip_y: bool = False) -> torch.Tensor:
    """Every shape tested on every pixel, drawn back to front (the pre-window renderers' method)."""
    b, n_leaves, _ = params.shape
    coords = (torch.arange(r, dtype=torch.float32) + 0.5) * (2.0 / r) - 1.0
    x, y = coords.view(1, 1, r), (-coords if flip_y else coords).view(1, r, 1)
    canvas = torch.zeros(b, r, r, dtype=torch.int32)
    for j in range(n_leaves):
        p = params[:, j, :, None, None]
        dx, dy = x - p[:, 0], y - p[:, 1]
        pu, pv = p[:, 2] * dx + p[:, 3] * dy, p[:, 4] * dx + p[:, 5] * dy
        pv2 = pv * pv
        canvas.masked_fill_(((pu * pu + pv2 * p[:, 6]) < 1.0) & (pv2 < 1.0), j + 1)
    return canvas


def _leaves(b: int, n_leaves: int, seed: int, r_lo: float, r_hi: float, max_aspect: float):
    u = rng.uniform(seed, torch.arange(b), "test-leaves", 10 * n_leaves).reshape(b, n_leaves, 10)
    kind = (u[..., 1] * 4).floor().clamp(max=3).long()
    radius = r_lo + (r_hi - r_lo) * u[..., 0]
    aspect = torch.where(kind >= 2, 1.0 + u[..., 2] * (max_aspect - 1.0), torch.ones_like(radius))
    return deadleaves._leaf_params(u, kind, radius, aspect)


@pytest.mark.parametrize("r", [8, 17, 32, 64])
@pytest.mark.parametrize("r_lo,r_hi", [(0.005, 0.05), (0.03, 1.0), (0.5, 2.0)])
@pytest.mark.parametrize("flip_y", [False, True])
def test_windowed_compositing_equals_full_frame(r, r_lo, r_hi, flip_y):
    params, extent = _leaves(6, 40, r, r_lo, r_hi, max_aspect=8.0)
    got = raster.composite(params, extent, r, flip_y)
    assert torch.equal(got.to(torch.int32), _reference(params, r, flip_y).to(torch.int32))
    assert got.min() >= 0 and got.max() <= 40


def test_every_on_screen_leaf_gets_a_window_and_off_screen_ones_none():
    params, extent = _leaves(4, 64, 3, 0.01, 0.3, max_aspect=4.0)
    side, origin = raster.windows(params, extent, 32)
    reach = params[..., :2].abs() - extent            # > 1: wholly outside [-1, 1] on that axis
    off, visible = (reach > 1.0 + 4.0 / 32).any(-1), (reach < 1.0).all(-1)
    assert off.any() and visible.any()
    assert (side[off] == 0).all() and (side[visible] > 0).all()
    on = side > 0
    assert (origin[on] >= 0).all() and ((origin + side[..., None])[on] <= 32).all()


def test_fractal_splat_equals_nine_scatters_of_3x3_patches():
    """The point canvas + separable max filter gives, bit for bit, what max-splatting every
    point's 3x3 patch (centre: colour; 8 neighbours: colour * shade) on an apron canvas gives."""
    from synth.fractals import splat

    g = torch.Generator().manual_seed(0)
    b, p, r = 5, 300, 24
    rows, cols = torch.randint(0, r, (b, p), generator=g), torch.randint(0, r, (b, p), generator=g)
    tone = torch.rand(b, p, 3, generator=g) * 0.8 + 0.2
    shade = 0.55 + 0.3 * torch.rand(b, generator=g)
    ref = torch.zeros(b, 3, r + 2, r + 2)
    for i in range(b):
        for j in range(p):
            for dr in (-1, 0, 1):
                for dc in (-1, 0, 1):
                    val = tone[i, j] * (1.0 if (dr, dc) == (0, 0) else shade[i])
                    cell = ref[i, :, rows[i, j] + 1 + dr, cols[i, j] + 1 + dc]
                    ref[i, :, rows[i, j] + 1 + dr, cols[i, j] + 1 + dc] = torch.maximum(cell, val)
    assert torch.equal(splat(rows, cols, tone, r, shade), ref[:, :, 1:-1, 1:-1])
    points_only = ref.zero_()
    for i in range(b):
        for j in range(p):
            cell = points_only[i, :, rows[i, j] + 1, cols[i, j] + 1]
            points_only[i, :, rows[i, j] + 1, cols[i, j] + 1] = torch.maximum(cell, tone[i, j])
    assert torch.equal(splat(rows, cols, tone, r), points_only[:, :, 1:-1, 1:-1])
