"""Order-independent compositing of many small 2D shapes, each tested only inside its own window.

A canvas pixel shows the shape with the highest index among those that contain it (shape j lies
above shapes 0..j-1). That is a max, which can be taken in any order, so each shape is tested only
on the pixels of its clipped bounding window and scattered with `amax`; a power-law population of
mostly small shapes then costs a few dozen pixel tests per shape instead of a full frame each.
Used by `deadleaves` (the leaves) and `shapes` (background clutter).

Shapes are rotated ellipses or rectangles given by 7 coefficients (cx, cy, a1, a2, b1, b2, round):
with dx = x - cx, dy = y - cy, pu = a1 dx + a2 dy and pv = b1 dx + b2 dy, a pixel is inside when
pu^2 + round * pv^2 < 1 and pv^2 < 1 (round = 1: ellipse, 0: rectangle).
"""
from __future__ import annotations

import torch

_SIDES = (2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512, 768, 1024)


def pixel_coords(r: int) -> torch.Tensor:
    """Centres of r pixels across [-1, 1], as every family computes them."""
    return (torch.arange(r, dtype=torch.float32) + 0.5) * (2.0 / r) - 1.0


def shape_params(cx: torch.Tensor, cy: torch.Tensor, c: torch.Tensor, s: torch.Tensor,
                 inv_u: torch.Tensor, inv_v: torch.Tensor,
                 roundness: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(..., 7) coefficients and (..., 2) bounding half-extents of shapes with axes (c, s), (-s, c).

    `inv_u`, `inv_v` are the reciprocal semi-axes along u and v. The extents bound the rectangle
    |pu| < 1, |pv| < 1; for an ellipse (roundness 1) the tighter box of the rotated ellipse,
    sqrt(su^2 c^2 + sv^2 s^2) by sqrt(su^2 s^2 + sv^2 c^2) (windows only set the speed).
    """
    params = torch.stack([cx, cy, c * inv_u, s * inv_u, -s * inv_v, c * inv_v, roundness], -1)
    su, sv = 1.0 / inv_u, 1.0 / inv_v
    box = torch.stack([su * c.abs() + sv * s.abs(), su * s.abs() + sv * c.abs()], -1)
    su2, sv2, c2, s2 = su * su, sv * sv, c * c, s * s
    oval = torch.stack([(su2 * c2 + sv2 * s2).sqrt(), (su2 * s2 + sv2 * c2).sqrt()], -1)
    return params, torch.where((roundness >= 1.0)[..., None], torch.minimum(oval, box), box)


def windows(params: torch.Tensor, extent: torch.Tensor, r: int,
            flip_y: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """Per shape: side of its square pixel window (0 when off-screen) and its (col, row) origin.

    The window holds every pixel of the bounding rectangle (plus one pixel for rounding), clipped
    to the image. Any window that holds the shape gives the same canvas, so the sizes only matter
    for speed: a short ladder of sides keeps the number of vectorised passes small.
    """
    centre = params[..., :2]
    if flip_y:                                         # y up: row i sits at y = -coords[i]
        centre = torch.stack([centre[..., 0], -centre[..., 1]], -1)
    scale = r * 0.5
    lo = ((centre - extent + 1.0) * scale - 0.5).floor().to(torch.int64) - 1
    hi = ((centre + extent + 1.0) * scale - 0.5).ceil().to(torch.int64) + 1
    lo, hi = lo.clamp(min=0), hi.clamp(max=r - 1)
    need = (hi - lo + 1).amax(-1)
    sizes = [z for z in _SIDES if z < r] + [r]
    table = torch.tensor(sizes)
    side = table[torch.bucketize(need, table).clamp(max=len(sizes) - 1)]
    side = torch.where((hi >= lo).all(-1), side, torch.zeros_like(side))
    origin = torch.minimum(lo, (r - side)[..., None])
    return side, origin


def composite(params: torch.Tensor, extent: torch.Tensor, r: int, flip_y: bool = False) -> torch.Tensor:
    """(B, r, r) integer canvas: 1 + index of the top shape containing each pixel, 0 for none.

    uint8 when there are fewer than 256 shapes per image (a quarter of the memory traffic of
    int32 in the stamps and the scatter), else int32.

    `params` (B, N, 7), `extent` (B, N, 2); pixel (row i, col j) sits at x = coords[j] and
    y = coords[i], or y = -coords[i] with `flip_y`.
    """
    b = params.shape[0]
    coords = pixel_coords(r)
    side, origin = windows(params, extent, r, flip_y)
    canvas = torch.zeros(b * r * r, dtype=torch.uint8 if params.shape[1] < 256 else torch.int32)
    aligned = params[..., 3] == 0.0                    # s = 0: rows and columns separate
    for size in side.unique().tolist():
        if size == 0:
            continue
        for flag in (True, False):
            img, j = ((side == size) & (aligned == flag)).nonzero(as_tuple=True)
            if len(img):
                _stamp(canvas, params[img, j], origin[img, j], img * (r * r), j + 1, size, coords,
                       flag, flip_y)
    return canvas.reshape(b, r, r)


def _stamp(canvas: torch.Tensor, p: torch.Tensor, origin: torch.Tensor, base: torch.Tensor,
           value: torch.Tensor, size: int, coords: torch.Tensor, aligned: bool, flip_y: bool) -> None:
    """Max `value` into `canvas` on the pixels of P shapes, each tested in a size^2 window."""
    r = len(coords)
    offs = torch.arange(size)
    cols, rows = origin[:, 0, None] + offs, origin[:, 1, None] + offs        # (P, size)
    ys = -coords if flip_y else coords
    dx = coords[cols][:, None, :] - p[:, 0, None, None]                     # (P, 1, size)
    dy = ys[rows][:, :, None] - p[:, 1, None, None]                         # (P, size, 1)
    if aligned:
        # s = 0: pu = a1 dx + 0 and pv = 0 + b2 dy, bit for bit, so the products are taken on
        # the row and column pieces before broadcasting (3 full-size ops, not 9)
        pu = p[:, 2, None, None] * dx
        pv = p[:, 5, None, None] * dy
    else:
        pu = p[:, 2, None, None] * dx + p[:, 3, None, None] * dy
        pv = p[:, 4, None, None] * dx + p[:, 5, None, None] * dy
    pv2 = pv * pv
    # inside: pu^2 + round pv^2 < 1 and pv^2 < 1, i.e. max(pu^2 + round pv^2, pv^2) < 1
    # (aligned: pu is (P, 1, size) and pv2 (P, size, 1), so the sum broadcasts and cannot be in place)
    test = pu * pu + pv2 * p[:, 6, None, None] if aligned else (pv2 * p[:, 6, None, None]).add_(pu * pu)
    inside = torch.maximum(test, pv2).lt_(1.0)
    # 0 outside, the shape's value inside (torch.where is ~8x slower than this product on CPU)
    stamp = inside.to(canvas.dtype).mul_(value.to(canvas.dtype)[:, None, None])
    flat = (base[:, None] + rows * r)[:, :, None] + cols[:, None, :]
    canvas.scatter_reduce_(0, flat.view(-1), stamp.view(-1), reduce="amax")
