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
    assert torch.equal(got, _reference(params, r, flip_y))
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
