"""3D signed-distance primitives, procedural object categories and the ray-marched view bank.

Each category is a primitive (sphere, box, torus, cylinder, cone, capsule) or a CSG composition of
2-3 of them (union, smooth union, subtraction), defined by category id alone, so category k is the
same object whatever `n_categories` is. `build_bank` sphere-traces every category from `n_views`
fixed 3D orientations once per process (orthographic camera) and stores per-texel depth, normal,
object-space position and ambient occlusion; `shapes` then composes scenes from these views with
a z-buffer, which is why a scene costs a few ops per pixel per object instead of a ray march.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Callable

import torch

from synth import detmath, rng

SDF = Callable[[torch.Tensor], torch.Tensor]     # (N, 3) object-space points -> (N,) distances
PRIMITIVES = ("sphere", "box", "torus", "cylinder", "cone", "capsule")
HALF_WINDOW = 1.15      # the bank views the object-space square [-1.15, 1.15]^2
CATEGORY_SEED = 20261122


def _length2(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return (a * a + b * b).sqrt()


def _radius(kind: str, u: list[float]) -> float:
    """An upper bound on |p| over the surface of `_primitive(kind, u)` (for fitting the window)."""
    if kind == "sphere":
        return 0.3 + 0.35 * u[0]
    if kind == "box":
        return ((0.2 + 0.35 * u[0]) ** 2 + (0.2 + 0.35 * u[1]) ** 2 + (0.15 + 0.3 * u[2]) ** 2) ** 0.5
    if kind == "torus":
        return 0.35 + 0.25 * u[0] + 0.1 + 0.12 * u[1]
    if kind == "cylinder":
        return ((0.2 + 0.3 * u[0]) ** 2 + (0.2 + 0.4 * u[1]) ** 2) ** 0.5
    if kind == "cone":
        return ((0.3 + 0.3 * u[0]) ** 2 + (0.3 + 0.35 * u[1]) ** 2) ** 0.5
    return 0.15 + 0.2 * u[0] + 0.2 + 0.35 * u[1]      # capsule


def _primitive(kind: str, u: list[float]) -> SDF:
    """Distance function of one primitive; `u` are three numbers in [0, 1] choosing its size."""
    if kind == "sphere":
        r = 0.3 + 0.35 * u[0]
        return lambda p: (p * p).sum(-1).sqrt() - r
    if kind == "box":
        half = torch.tensor([0.2 + 0.35 * u[0], 0.2 + 0.35 * u[1], 0.15 + 0.3 * u[2]])

        def box(p: torch.Tensor) -> torch.Tensor:
            q = p.abs() - half
            outside = q.clamp(min=0.0)
            inner = torch.maximum(torch.maximum(q[:, 0], q[:, 1]), q[:, 2]).clamp(max=0.0)
            return (outside * outside).sum(-1).sqrt() + inner
        return box
    if kind == "torus":
        big, small = 0.35 + 0.25 * u[0], 0.1 + 0.12 * u[1]
        return lambda p: _length2(_length2(p[:, 0], p[:, 2]) - big, p[:, 1]) - small
    if kind == "cylinder":
        r, h = 0.2 + 0.3 * u[0], 0.2 + 0.4 * u[1]

        def cylinder(p: torch.Tensor) -> torch.Tensor:
            dx, dy = _length2(p[:, 0], p[:, 2]) - r, p[:, 1].abs() - h
            return torch.maximum(dx, dy).clamp(max=0.0) + _length2(dx.clamp(min=0.0), dy.clamp(min=0.0))
        return cylinder
    if kind == "cone":
        r, h = 0.3 + 0.3 * u[0], 0.3 + 0.35 * u[1]
        norm = (r * r + 4 * h * h) ** 0.5
        cos_a, sin_a = 2 * h / norm, r / norm

        def cone(p: torch.Tensor) -> torch.Tensor:
            # distance to the side line (a bound: Lipschitz 1), clipped by the base and apex planes
            side = _length2(p[:, 0], p[:, 2]) * cos_a + (p[:, 1] - h) * sin_a
            return torch.maximum(side, -p[:, 1] - h)
        return cone
    if kind == "capsule":
        r, h = 0.15 + 0.2 * u[0], 0.2 + 0.35 * u[1]

        def capsule(p: torch.Tensor) -> torch.Tensor:
            q = p.clone()
            q[:, 1] = p[:, 1] - p[:, 1].clamp(-h, h)
            return (q * q).sum(-1).sqrt() - r
        return capsule
    raise ValueError(kind)


def rotation(angles: torch.Tensor) -> torch.Tensor:
    """(..., 3) Euler angles (radians, z-y-x) -> (..., 3, 3) rotation matrices."""
    c, s = detmath.cos(angles), detmath.sin(angles)
    cz, cy, cx = c.unbind(-1)
    sz, sy, sx = s.unbind(-1)
    rows = [cz * cy, cz * sy * sx - sz * cx, cz * sy * cx + sz * sx,
            sz * cy, sz * sy * sx + cz * cx, sz * sy * cx - cz * sx,
            -sy, cy * sx, cy * cx]
    return torch.stack(rows, -1).reshape(*angles.shape[:-1], 3, 3)


def _apply(rot: torch.Tensor, p: torch.Tensor) -> torch.Tensor:
    """rot @ p for (3, 3) or (N, 3, 3) rot and (N, 3) p, written out (no BLAS reduction order)."""
    if rot.dim() == 2:                       # one matrix: python scalars are the cheapest operands
        m = rot.tolist()
        return torch.stack([p[:, 0] * m[i][0] + p[:, 1] * m[i][1] + p[:, 2] * m[i][2]
                            for i in range(3)], -1)
    return torch.stack([rot[:, i, 0] * p[:, 0] + rot[:, i, 1] * p[:, 1] + rot[:, i, 2] * p[:, 2]
                        for i in range(3)], -1)


def _placed(sdf: SDF, offset: torch.Tensor, rot: torch.Tensor) -> SDF:
    """`sdf` rotated by `rot` and moved to `offset`."""
    inv = rot.transpose(0, 1).contiguous()
    off = offset.tolist()
    return lambda p: sdf(_apply(inv, p - torch.tensor(off)))


def category_sdf(k: int) -> SDF:
    """Distance function of category k: primitives 0-5, then seeded CSG compositions."""
    u = rng.table_uniform(CATEGORY_SEED, k + 1, "category", 24)[k].tolist()
    if k < len(PRIMITIVES):
        return _primitive(PRIMITIVES[k], [0.5, 0.5, 0.5])
    n_parts = 2 + int(u[0] * 2)
    parts, bound = [], 0.0
    for j in range(n_parts):
        w = u[1 + 7 * j: 8 + 7 * j]
        kind = PRIMITIVES[int(w[0] * len(PRIMITIVES)) % len(PRIMITIVES)]
        offset = torch.tensor([w[1] - 0.5, w[2] - 0.5, w[3] - 0.5]) * (0.0 if j == 0 else 0.8)
        rot = rotation(torch.tensor([w[4], w[5], w[6]]) * 6.2831853)
        parts.append(_placed(_primitive(kind, [w[4], w[5], w[6]]), offset, rot))
        bound = max(bound, float(offset.norm()) + _radius(kind, [w[4], w[5], w[6]]))
    op = int(u[23] * 3)   # 0 union, 1 smooth union, 2 subtract the last part
    shrink = min(1.0, 1.05 / bound)   # keep every composition inside the bank window

    def composed(p: torch.Tensor) -> torch.Tensor:
        p = p * (1.0 / shrink)
        d = parts[0](p)
        for j, part in enumerate(parts[1:], start=1):
            e = part(p)
            if op == 2 and j == n_parts - 1:
                d = torch.maximum(d, -e)
            elif op == 1:
                hk = (0.5 + 0.5 * (e - d) * 5.0).clamp(0.0, 1.0)   # polynomial smooth-min, k=0.2
                d = e + (d - e) * hk - 0.2 * hk * (1.0 - hk)
            else:
                d = torch.minimum(d, e)
        return d * shrink
    return composed


@dataclass
class Bank:
    """Per-texel renders of every (category, view): depth is +inf where the ray missed."""

    size: int                  # texels per side
    n_views: int
    depth: torch.Tensor        # (n_cat * n_views * size * size,) depth behind the centre plane
    attrs: torch.Tensor        # (7, same): normal xyz (view frame), object-space xyz, AO; planar
                               # rows, so a gather of texels gives contiguous per-attribute rows
    extent: torch.Tensor       # (n_cat,) largest silhouette radius over views, object units
    boxes: torch.Tensor        # (n_cat * n_views, 4) texel bounds of the hits: u0, u1, v0, v1


def _march(sdf: SDF, origin: torch.Tensor, direction: torch.Tensor, steps: int = 96) -> torch.Tensor:
    """Sphere-trace object-space rays; distance t from the view plane per ray, +inf on a miss."""
    n = origin.shape[0]
    result = torch.full((n,), float("inf"))
    ids = torch.arange(n)
    o, d = origin, direction
    t = torch.full((n,), 2.0 - 1.2)          # the object lies inside the sphere of radius 1.2
    for _ in range(steps):
        dist = sdf(o + d * t[:, None])
        hit = dist < 1e-3
        result[ids[hit]] = t[hit]
        t = t + dist * 0.9                   # under-relaxed: cone and smooth union are bounds
        keep = ~hit & (t < 3.2)
        ids, o, d, t, dist = ids[keep], o[keep], d[keep], t[keep], dist[keep]
        if ids.numel() <= n // 400:          # the slow tail: rays grazing a silhouette
            break
    near = dist < 0.02
    result[ids[near]] = t[near]
    return result


def _normal_ao(sdf: SDF, p: torch.Tensor, to_view: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """View-frame unit normals by central differences and a 4-tap ambient-occlusion estimate."""
    grads = []
    for axis in range(3):
        e = torch.zeros(3)
        e[axis] = 1e-3
        grads.append(sdf(p + e) - sdf(p - e))
    n_obj = detmath.normalize(torch.stack(grads, -1))
    occ = torch.zeros(p.shape[0])
    for i, h in enumerate((0.04, 0.1, 0.18, 0.28)):
        occ = occ + (h - sdf(p + n_obj * h)).clamp(min=0.0) * (0.85 ** i)
    n = _apply(to_view, n_obj)
    n[:, 2] = n[:, 2].clamp(min=0.0)         # grazing hits: a visible surface cannot face away
    return detmath.normalize(n), (1.0 - occ * 2.5).clamp(0.2, 1.0)


@lru_cache(maxsize=8)
def build_bank(n_categories: int, n_views: int, size: int) -> Bank:
    """Ray-march all categories from `n_views` seeded orientations at `size`^2 texels."""
    coords = (torch.arange(size, dtype=torch.float32) + 0.5) * (2 * HALF_WINDOW / size) - HALF_WINDOW
    ys, xs = torch.meshgrid(-coords, coords, indexing="ij")        # row 0 is the top (y up)
    plane = torch.stack([xs, ys, torch.full_like(xs, 2.0)], -1).reshape(-1, 3)
    views = rotation(rng.table_uniform(CATEGORY_SEED, n_views, "views", 3) * 6.2831853)
    depth = torch.full((n_categories, n_views, size * size), float("inf"))
    attrs = torch.zeros(n_categories, n_views, size * size, 7)
    extent = torch.zeros(n_categories)
    to_obj = views.transpose(1, 2).repeat_interleave(size * size, 0)   # view -> object frame
    origin = _apply(to_obj, plane.repeat(n_views, 1))
    direction = _apply(to_obj, torch.tensor([[0.0, 0.0, -1.0]]).expand(origin.shape[0], 3))
    to_view = views.repeat_interleave(size * size, 0)
    border = torch.zeros(size, size, dtype=torch.bool)
    border[0], border[-1], border[:, 0], border[:, -1] = True, True, True, True
    for k in range(n_categories):
        sdf = category_sdf(k)
        t = _march(sdf, origin, direction)
        t.view(n_views, -1)[:, border.reshape(-1)] = float("inf")   # clamped lookups land on misses
        hit = torch.isfinite(t)
        p = origin[hit] + direction[hit] * t[hit, None]
        normal, ao = _normal_ao(sdf, p, to_view[hit])
        d = depth[k].view(-1)
        a = attrs[k].view(-1, 7)
        d[hit] = t[hit] - 2.0
        a[hit, 0:3] = normal
        a[hit, 3:6] = p
        a[hit, 6] = ao
        xy = plane.repeat(n_views, 1)[hit, :2]
        radius = (xy * xy).sum(-1).sqrt()
        extent[k] = radius.max() if radius.numel() else 1.0
    planar = attrs.reshape(-1, 7).T.contiguous()
    return Bank(size, n_views, depth.reshape(-1), planar, extent, _boxes(depth, size))


def _boxes(depth: torch.Tensor, size: int) -> torch.Tensor:
    """(n_cat * n_views, 4) inclusive texel bounds u0, u1, v0, v1 of each view's hits (u0 > u1: none)."""
    hit = torch.isfinite(depth.reshape(-1, size, size))              # (views, v = row, u = column)
    ar = torch.arange(size)
    out = []
    for present in (hit.any(1), hit.any(2)):                          # columns (u), then rows (v)
        out += [torch.where(present, ar, size).amin(1), torch.where(present, ar, -1).amax(1)]
    return torch.stack(out, -1)
