"""`shapes`: shaded 3D SDF objects on procedural backgrounds, with the complexity ladder 0..7.

Label = category of the main (largest) object. Scenes are composed from the ray-marched view bank
of `synth.sdf` with a per-pixel z-buffer, then lit (Lambert + Blinn-Phong, baked AO, drop shadow
on the background) and textured per pixel. Every random number is a hash of (seed, index).

Complexity ladder (each level is a preset of the explicit knobs below; any knob can be overridden):

| level | n_categories | objects per scene | texture_random | light_random | clutter |
|-------|--------------|-------------------|----------------|--------------|---------|
| 0     | 10           | 1                 | 0 (one grey material) | 0 (fixed key light) | 0 (flat dark) |
| 1     | 10           | 1                 | 1 (random colours + stripes/checker/noise) | 0 | 0 |
| 2     | 10           | 1                 | 1              | 1 (random direction, colour, intensity, ambient) | 0 |
| 3     | 10           | 1-3               | 1              | 1            | 0.25    |
| 4     | 30           | 1-3               | 1              | 1            | 0.25    |
| 5     | 30           | 1-4               | 1              | 1            | 0.5     |
| 6     | 100          | 1-4               | 1              | 1            | 0.5     |
| 7     | 100          | 2-6               | 1              | 1            | 1.0     |
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from synth import detmath, rng, sdf, textures
from synth.core import (GENERATORS, Knob, Sample, check_common, multilabel_from_mask,
                        resolve_knobs, to_channels)
from synth.errors import UserError

KNOBS = (
    Knob("n_categories", int, 2, 100, "object set size = number of classes (categories nest)"),
    Knob("objects_min", int, 1, 8, "fewest objects per scene (the main object included)"),
    Knob("objects_max", int, 1, 8, "most objects per scene"),
    Knob("texture_random", float, 0, 1, "0: one grey material; 1: random colours and patterns"),
    Knob("light_random", float, 0, 1, "0: fixed white key light; 1: random direction/colour/power"),
    Knob("clutter", float, 0, 1, "background colour, noise contrast and number of clutter shapes"),
    Knob("n_views", int, 1, 64, "ray-marched 3D orientations per category (plus in-plane spin)"),
)
_LADDER = [  # n_categories, objects_min, objects_max, texture_random, light_random, clutter
    (10, 1, 1, 0.0, 0.0, 0.0), (10, 1, 1, 1.0, 0.0, 0.0), (10, 1, 1, 1.0, 1.0, 0.0),
    (10, 1, 3, 1.0, 1.0, 0.25), (30, 1, 3, 1.0, 1.0, 0.25), (30, 1, 4, 1.0, 1.0, 0.5),
    (100, 1, 4, 1.0, 1.0, 0.5), (100, 2, 6, 1.0, 1.0, 1.0)]
PRESETS = [dict(zip(("n_categories", "objects_min", "objects_max", "texture_random",
                     "light_random", "clutter"), row), n_views=12) for row in _LADDER]
MAX_CLUTTER = 10          # clutter shapes at clutter = 1
_PARAMS = 18              # per-object columns gathered per pixel, see _object_table
_KEY_LIGHT = (-0.45, 0.55, 0.70)


def bank_size(resolution: int) -> int:
    """Texels per side of the view bank: about one texel per output pixel, 32..128."""
    return int(min(128, max(32, math.ceil(resolution / 16) * 16)))


def _scene(seed: int, idx: torch.Tensor, kn: dict, extent: torch.Tensor) -> dict:
    """Per-object placement: (B, K) tensors; inactive slots get scale 0 (they render nothing)."""
    k_max = kn["objects_max"]
    n_obj = rng.randint(seed, idx, "n_objects", 1, kn["objects_max"] + 1, kn["objects_min"])
    u = rng.uniform(seed, idx, "placement", 8 * k_max).reshape(-1, k_max, 8)
    cat = (u[..., 0] * kn["n_categories"]).floor().to(torch.int64).clamp(max=kn["n_categories"] - 1)
    view = (u[..., 1] * kn["n_views"]).floor().to(torch.int64).clamp(max=kn["n_views"] - 1)
    main_scale = u[:, 0, 2] * 0.35 + 0.55                          # radius, image half-widths
    scale = torch.cat([main_scale[:, None], main_scale[:, None] * (u[:, 1:, 2] * 0.35 + 0.3)], 1)
    spread = torch.full((1, k_max), 0.85)
    spread[0, 0] = 0.1                                             # the main object stays central
    cx, cy = (u[..., 3] * 2 - 1) * spread, (u[..., 4] * 2 - 1) * spread
    z0 = torch.cat([torch.zeros_like(main_scale)[:, None], u[:, 1:, 5] * 2 - 1], 1)
    active = torch.arange(k_max)[None, :] < n_obj
    angle = u[..., 6] * (2 * math.pi)
    half = scale * sdf.HALF_WINDOW / extent[cat] * active          # bank window, image units
    return dict(cat=cat, view=view, cx=cx, cy=cy, z0=z0, cos=detmath.cos(angle),
                sin=detmath.sin(angle), half=half, active=active)


def _object_table(seed: int, idx: torch.Tensor, sc: dict, tau: float) -> torch.Tensor:
    """(B * K, _PARAMS) per-object shading parameters, row b * K + k (see column comments)."""
    b, k_max = sc["cat"].shape
    u = rng.uniform(seed, idx, "material", 14 * k_max).reshape(b, k_max, 14)
    grey = 0.7
    col_a = grey + (u[..., 0:3] - grey) * tau                        # tau = 0: one grey material
    col_b = u[..., 3:6]
    patterned = (u[..., 6] < tau * 0.85).float()
    kind = (u[..., 7] * 3).floor().clamp(max=2).to(torch.int64)
    weights = F.one_hot(kind, 3).float() * patterned[..., None]    # stripes, checker, noise
    freq = u[..., 8] * 6.0 + 2.0
    direction = detmath.normalize(u[..., 9:12] - 0.5)
    phase = u[..., 12]
    ks = 0.35 + (u[..., 13] * 0.6 - 0.25) * tau
    cat1 = (sc["cat"] + 1).float()
    cols = [sc["cos"], sc["sin"], *col_a.unbind(-1), *col_b.unbind(-1), *weights.unbind(-1),
            freq, *direction.unbind(-1), phase, ks, cat1]
    return torch.stack(cols, -1).reshape(b * k_max, _PARAMS)


def _lights(seed: int, idx: torch.Tensor, lam: float) -> dict:
    """Per-image light: unit direction l (B, 3), half vector, intensity*tint (B, 3), ambient."""
    u = rng.uniform(seed, idx, "light", 7)
    lz = u[:, 0] * 0.8 + 0.2
    r = (1.0 - lz * lz).clamp(min=0.0).sqrt()
    phi = u[:, 1] * (2 * math.pi)
    rand_dir = torch.stack([r * detmath.cos(phi), r * detmath.sin(phi), lz], -1)
    key = detmath.normalize(torch.tensor([_KEY_LIGHT]))
    light = detmath.normalize(key + (rand_dir - key) * lam)
    half = detmath.normalize(light + torch.tensor([[0.0, 0.0, 1.0]]))
    power = (0.85 + (u[:, 2] - 0.5) * 0.7 * lam)[:, None] * (1.0 + (u[:, 3:6] - 0.5) * 0.5 * lam)
    ambient = 0.25 + (u[:, 6] - 0.5) * 0.3 * lam
    return dict(dir=light, half=half, power=power, ambient=ambient)


def _bc(v: torch.Tensor) -> torch.Tensor:
    """(B,) -> (B, 1, 1) for broadcasting over pixels."""
    return v[:, None, None]


def _zbuffer(sc: dict, bank: sdf.Bank, x: torch.Tensor, y: torch.Tensor):
    """Closest object per pixel: depth, winning bank texel and object slot, (B, R, R) each."""
    size, n_views = bank.size, bank.n_views
    b, k_max = sc["cat"].shape
    r = x.shape[-1]
    zbuf = torch.full((b, r, r), float("inf"))
    win = torch.zeros((b, r, r), dtype=torch.int64)                 # texel 0: a border miss
    slot = torch.zeros((b, r, r), dtype=torch.int64)
    for k in range(k_max):
        half = sc["half"][:, k]
        gain = torch.where(half > 0, size * 0.5 / half.clamp(min=1e-6), torch.zeros_like(half))
        au, bu = sc["cos"][:, k] * gain, sc["sin"][:, k] * gain
        on = (half > 0).float()                       # empty slots map every pixel to texel 0
        cu = (size * 0.5 - au * sc["cx"][:, k] - bu * sc["cy"][:, k]) * on
        cv = (size * 0.5 - bu * sc["cx"][:, k] + au * sc["cy"][:, k]) * on
        iu = (_bc(au) * x + (_bc(bu) * y + _bc(cu))).clamp(0, size - 1).to(torch.int64)
        iv = (_bc(bu) * x + (_bc(-au) * y + _bc(cv))).clamp(0, size - 1).to(torch.int64)
        base = (sc["cat"][:, k] * n_views + sc["view"][:, k]) * (size * size)
        texel = iv * size + iu + _bc(base)
        dscale = half.clamp(min=1e-6) * (1.0 / sdf.HALF_WINDOW)     # inf * 0 would be NaN
        z = bank.depth.take(texel) * _bc(dscale) + _bc(sc["z0"][:, k])
        closer = z < zbuf
        zbuf = torch.where(closer, z, zbuf)
        win = torch.where(closer, texel, win)
        slot.masked_fill_(closer, k)
    return zbuf, win, slot


def _shade_objects(attrs: torch.Tensor, par: torch.Tensor, light: dict, noise: torch.Tensor):
    """RGB (3, B, R, R) of the object surfaces and their image-frame normals (3, B, R, R)."""
    nx, ny, nz, px, py, pz, ao = attrs[:7]
    c, s = par[0], par[1]
    n_img = torch.stack([c * nx - s * ny, s * nx + c * ny, nz])
    ld, hd = light["dir"], light["half"]
    diffuse = (n_img[0] * _bc(ld[:, 0]) + n_img[1] * _bc(ld[:, 1]) + n_img[2] * _bc(ld[:, 2])).clamp(min=0.0)
    spec = (n_img[0] * _bc(hd[:, 0]) + n_img[1] * _bc(hd[:, 1]) + n_img[2] * _bc(hd[:, 2])).clamp(min=0.0)
    for _ in range(5):                                               # Blinn-Phong exponent 32
        spec = spec * spec
    spec = spec * par[16]
    freq = par[11]
    stripes = detmath.tri((px * par[12] + py * par[13] + pz * par[14]) * freq + par[15])
    cells = (px * freq).floor() + (py * freq).floor() + (pz * freq).floor()
    checker = cells - (cells * 0.5).floor() * 2.0
    grain = textures.sample_noise(noise, px * freq * 8.0, (py + pz * 0.5) * freq * 8.0)
    pattern = par[8] * stripes + par[9] * checker + par[10] * grain
    lit = ao * _bc(light["ambient"])
    out = []
    for ch in range(3):
        albedo = par[2 + ch] + (par[5 + ch] - par[2 + ch]) * pattern
        power = _bc(light["power"][:, ch])
        out.append(albedo * (lit + diffuse * power) + spec * power)
    return torch.stack(out), n_img


def _background(seed: int, idx: torch.Tensor, kappa: float, x: torch.Tensor, y: torch.Tensor,
                noise: torch.Tensor) -> torch.Tensor:
    """(3, B, R, R) wall: colour, gradient, value-noise texture and 2D clutter shapes."""
    b, r = idx.shape[0], x.shape[-1]
    u = rng.uniform(seed, idx, "background", 8)
    base = 0.06 + (u[:, 0:3] * 0.85 - 0.06) * kappa                 # kappa = 0: flat and dark
    grad = (u[:, 3] - 0.5) * 0.6 * kappa
    step = (u[:, 4] * 1.5 + 0.5) * (64.0 / r)                       # noise texels per pixel
    cols = torch.arange(r, dtype=torch.float32)
    grain = textures.sample_noise(noise, _bc(step) * cols[None, None, :] + _bc(u[:, 5] * 128),
                                  _bc(step) * cols[None, :, None] + _bc(u[:, 6] * 128))
    shade = (grain - 0.5) * (kappa * 1.2) + 1.0 + _bc(grad) * y
    bg = torch.stack([_bc(base[:, ch]) * shade for ch in range(3)])
    n_clutter = round(MAX_CLUTTER * kappa)
    if n_clutter == 0:
        return bg
    v = rng.uniform(seed, idx, "clutter", 9 * n_clutter).reshape(b, n_clutter, 9)
    label = torch.zeros((b, r, r), dtype=torch.int64)
    for j in range(n_clutter):
        w = v[:, j]
        ang = w[:, 0] * math.pi
        c, s = detmath.cos(ang), detmath.sin(ang)
        dx, dy = x - _bc(w[:, 1] * 2 - 1), y - _bc(w[:, 2] * 2 - 1)
        inv_a, inv_b = 1.0 / (w[:, 3] * 0.35 + 0.05), 1.0 / (w[:, 4] * 0.25 + 0.03)
        pu = (_bc(c * inv_a) * dx + _bc(s * inv_a) * dy).abs()
        pv = (_bc(-s * inv_b) * dx + _bc(c * inv_b) * dy).abs()
        box = _bc(w[:, 5] < 0.5)
        inside = torch.where(box, torch.maximum(pu, pv), pu * pu + pv * pv) < 1.0
        label.masked_fill_(inside, j + 1)
    colours = torch.cat([torch.zeros(b, 1, 3), v[:, :, 6:9]], 1).reshape(-1, 3)
    flat = label + _bc(torch.arange(b) * (n_clutter + 1))
    painted = F.embedding(flat, colours).permute(3, 0, 1, 2)
    return torch.where(label > 0, painted * (shade * 0.5 + 0.5), bg)


def _drop_shadow(hit: torch.Tensor, light_dir: torch.Tensor, length: float = 0.12) -> torch.Tensor:
    """(B, R, R) 1 where the background lies in an object's shadow (hit mask shifted from light)."""
    b, r, _ = hit.shape
    dc = (light_dir[:, 0] * (length * r * 0.5) + 0.5).floor().to(torch.int64)
    dr = (light_dir[:, 1] * (-length * r * 0.5) + 0.5).floor().to(torch.int64)
    ar = torch.arange(r)
    rows = (ar[None, :, None] + _bc(dr)).clamp(0, r - 1)
    cols = (ar[None, None, :] + _bc(dc)).clamp(0, r - 1)
    src = rows * r + cols + _bc(torch.arange(b) * (r * r))
    return hit.reshape(-1).take(src)


@GENERATORS.register("shapes")
class Shapes:
    """Shaded 3D SDF objects (6 primitives + CSG compositions) on procedural backgrounds."""

    def __init__(self, resolution: int = 32, complexity: int = 0, channels: int = 3, **knobs) -> None:
        check_common("shapes", resolution, channels)
        self.resolution, self.complexity, self.channels = resolution, complexity, channels
        self._knobs = resolve_knobs("shapes", KNOBS, PRESETS, complexity, knobs)
        if self._knobs["objects_min"] > self._knobs["objects_max"]:
            raise UserError(f"shapes knob objects_min ({self._knobs['objects_min']}) must not "
                            f"exceed objects_max ({self._knobs['objects_max']})")
        self.n_classes = self._knobs["n_categories"]

    def knobs(self) -> dict:
        """Every resolved setting (preset + overrides), JSON-able."""
        return {"generator": "shapes", "resolution": self.resolution,
                "complexity": self.complexity, "channels": self.channels, **self._knobs}

    def bank(self) -> sdf.Bank:
        """The ray-marched view bank (built once per process and configuration)."""
        return sdf.build_bank(self.n_classes, self._knobs["n_views"], bank_size(self.resolution))

    def render(self, seed: int, indices: torch.Tensor, device: str = "cpu") -> Sample:
        """Batch of images and annotations; image i depends only on (config, seed, i)."""
        idx = torch.as_tensor(indices, dtype=torch.int64).reshape(-1).cpu()
        # chunks keep the per-pixel temporaries in cache; chunking cannot change any pixel
        per_chunk = max(1, (1 << 17) // (self.resolution * self.resolution))
        parts = [self._render_cpu(seed, idx[i:i + per_chunk])
                 for i in range(0, max(len(idx), 1), per_chunk)] if len(idx) else []
        if not parts:
            parts = [self._render_cpu(seed, idx)]
        merged = Sample(*[torch.cat([getattr(p, f) for p in parts]) for f in
                          ("image", "label", "multilabel", "mask", "depth", "normals")])
        return merged if str(device) == "cpu" else merged.to(device)

    def _render_cpu(self, seed: int, idx: torch.Tensor) -> Sample:
        r, kn, bank = self.resolution, self._knobs, self.bank()
        coords = (torch.arange(r, dtype=torch.float32) + 0.5) * (2.0 / r) - 1.0
        x, y = coords.view(1, 1, r), (-coords).view(1, r, 1)        # y up, row 0 at the top
        noise = textures.noise_table()
        sc = _scene(seed, idx, kn, bank.extent)
        zbuf, win, slot = _zbuffer(sc, bank, x, y)
        hit = torch.isfinite(zbuf)
        attrs = F.embedding(win, bank.attrs).permute(3, 0, 1, 2)
        k_max = sc["cat"].shape[1]
        table = _object_table(seed, idx, sc, kn["texture_random"])
        row = slot + _bc(torch.arange(len(idx)) * k_max)
        par = F.embedding(row, table).permute(3, 0, 1, 2)
        light = _lights(seed, idx, kn["light_random"])
        obj_rgb, n_img = _shade_objects(attrs, par, light, noise)
        bg = _background(seed, idx, kn["clutter"], x, y, noise)
        bg = bg * (1.0 - _drop_shadow(hit.float(), light["dir"]) * 0.45)
        rgb = torch.where(hit, obj_rgb, bg).clamp(0.0, 1.0).permute(1, 0, 2, 3)
        mask = torch.where(hit, par[17].to(torch.int64), torch.zeros_like(win))
        up = torch.tensor([0.0, 0.0, 1.0]).view(3, 1, 1, 1)           # the wall faces the camera
        normals = torch.where(hit, n_img, up).permute(1, 0, 2, 3)
        depth = torch.where(hit, zbuf + 3.0, torch.full_like(zbuf, 5.0)).unsqueeze(1)
        return Sample(image=to_channels(rgb, self.channels).contiguous(), label=sc["cat"][:, 0].clone(),
                      multilabel=multilabel_from_mask(mask, self.n_classes), mask=mask,
                      depth=depth, normals=normals.contiguous())
