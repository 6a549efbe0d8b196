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

from synth import detmath, raster, rng, sdf, textures
from synth.core import GENERATORS, Family, Knob, Sample, to_channels
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
_PARAMS = 28              # per-object rows gathered per pixel, see _object_table
_KEY_LIGHT = (-0.45, 0.55, 0.70)
_MISS_KEY = 0x7F800000 << 32  # the key of depth +inf, slot 0, texel 0: no object (or a missed texel)


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


def _object_table(seed: int, idx: torch.Tensor, sc: dict, tau: float, light: dict) -> torch.Tensor:
    """(_PARAMS, B * K) per-object shading parameters and the image's light, column b * K + k.

    Planar (one row per parameter), so gathering the columns of N pixels gives contiguous rows:
    a pixel-major (N, _PARAMS) gather would need a transpose that costs 8x the gather itself.
    """
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
    per_image = torch.cat([light["dir"], light["half"], light["power"], light["ambient"][:, None]], 1)
    rows = [sc["cos"], sc["sin"], *col_a.unbind(-1), *col_b.unbind(-1), *weights.unbind(-1),
            freq, *direction.unbind(-1), phase, ks, cat1, *per_image[:, None, :].expand(b, k_max, 10).unbind(-1)]
    return torch.stack([row.reshape(b * k_max) for row in rows])


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


def _object_windows(sc: dict, bank: sdf.Bank, r: int,
                    gain: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, K) window sides and (B, K, 2) origins: each object's silhouette box, rotated into the image.

    A pixel maps to bank texel (u, v) = gain * R (x - cx, y - cy) + size / 2 with R = [[c, s],
    [s, -c]] (R = R^-1), so the texel box's centre and half-sizes map back through R / gain.
    """
    tex = bank.size
    box = bank.boxes[sc["cat"] * bank.n_views + sc["view"]].float()            # (B, K, 4)
    c, s = sc["cos"], sc["sin"]
    ou = ((box[..., 0] + box[..., 1] + 1.0) * 0.5 - tex * 0.5) / gain           # box centre, image units
    ov = ((box[..., 2] + box[..., 3] + 1.0) * 0.5 - tex * 0.5) / gain
    hu, hv = (box[..., 1] + 1.0 - box[..., 0]) * 0.5 / gain, (box[..., 3] + 1.0 - box[..., 2]) * 0.5 / gain
    centre = torch.stack([sc["cx"] + c * ou + s * ov, sc["cy"] + s * ou - c * ov], -1)
    extent = torch.stack([c.abs() * hu + s.abs() * hv, s.abs() * hu + c.abs() * hv], -1)
    side, origin = raster.windows(centre, extent, r, flip_y=True)
    drawn = (sc["half"] > 0) & (box[..., 1] >= box[..., 0])                     # empty slots, empty views
    return torch.where(drawn, side, torch.zeros_like(side)), origin


def _zbuffer(sc: dict, bank: sdf.Bank, r: int) -> torch.Tensor:
    """(B * R * R,) int64 z-buffer keys: per pixel the closest object's (depth, slot, texel), or
    `_MISS_KEY` where no object is; `_decode` unpacks them.

    Every object writes one int64 key per pixel of its silhouette window, ordered like
    (depth, slot, texel): the depth's float bits mapped to a signed integer of the same order in
    the high 32 bits, slot and texel below. One `scatter_reduce_(amin)` per window size then keeps
    the nearest object, ties going to the earlier slot: the same winner, bit for bit, as drawing
    the objects in slot order with a strict z-test, but in a few passes instead of one per
    (slot, size). Pixels outside an object's window map to missed texels (`sdf.build_bank` makes
    the border texels misses, where clamped lookups land), so skipping them changes nothing.
    """
    b = sc["cat"].shape[0]
    assert bank.depth.numel() < (1 << 29), "texel ids must fit below the slot bits"
    keys = torch.full((b * r * r,), _MISS_KEY)
    gain = bank.size * 0.5 / sc["half"].clamp(min=1e-6)         # texels per image unit, (B, K)
    side, origin = _object_windows(sc, bank, r, gain)
    coords = raster.pixel_coords(r)
    floats, ints = _texel_maps(sc, bank, origin, r, gain)
    side = side.reshape(-1)
    for size in side.unique().tolist():
        if size:
            ids = (side == size).nonzero().squeeze(1)
            _draw_objects(bank, floats.index_select(0, ids), ints.index_select(0, ids), size,
                          coords, keys)
    return keys


def _texel_maps(sc: dict, bank: sdf.Bank, origin: torch.Tensor, r: int,
                gain: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per object (rows b * K + k), once for all objects: the map from pixel (x, y) to bank texel
    (u, v) = (au x + bu y + cu, bu x - au y + cv) and depth scale/offset, (B * K, 7) floats; the
    view's first texel id, slot bits, first pixel of the image and window origin, (B * K, 5) ints.
    (Slots that are not drawn get meaningless rows; they are never looked up.)"""
    tex = bank.size
    half = sc["half"]
    au, bu = sc["cos"] * gain, sc["sin"] * gain
    cx, cy = sc["cx"], sc["cy"]
    cu = tex * 0.5 - au * cx - bu * cy
    cv = tex * 0.5 - bu * cx + au * cy
    dscale = half * (1.0 / sdf.HALF_WINDOW)
    floats = torch.stack([au, bu, cu, cv, -au, dscale, sc["z0"]], -1).reshape(-1, 7)
    b, k_max = half.shape
    base = (sc["cat"] * bank.n_views + sc["view"]) * (tex * tex)
    slot = torch.arange(k_max).expand(b, k_max) << 29
    first = (torch.arange(b) * (r * r))[:, None].expand(b, k_max)
    ints = torch.stack([base, slot, first, origin[..., 0], origin[..., 1]], -1).reshape(-1, 5)
    return floats, ints


def _decode(keys: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Depth, bank texel and object slot of hit-pixel keys (decoded only where an object won)."""
    ordered = (keys >> 32).to(torch.int32)
    depth = (ordered ^ ((ordered >> 31) & 0x7FFFFFFF)).view(torch.float32)   # the inverse map
    return depth, keys & 0x1FFFFFFF, (keys >> 29) & 0x7


def _draw_objects(bank: sdf.Bank, floats: torch.Tensor, ints: torch.Tensor, size: int,
                  coords: torch.Tensor, keys: torch.Tensor) -> None:
    """P objects, all with size^2 pixel windows (rows of `_texel_maps`): min their (depth, slot,
    texel) keys into `keys`."""
    r, tex = len(coords), bank.size
    au, bu, cu, cv, nau, dscale, z0 = (col[:, None, None] for col in floats.unbind(1))
    base, slot, first, col0, row0 = ints.unbind(1)
    offs = torch.arange(size)
    cols, rows = col0[:, None] + offs, row0[:, None] + offs                   # (P, size)
    x, y = coords[cols][:, None, :], (-coords)[rows][:, :, None]              # y up
    iu = (au * x + (bu * y + cu)).clamp_(0, tex - 1)
    iv = (bu * x + (nau * y + cv)).clamp_(0, tex - 1)
    # int32 and in place from here on: half the memory traffic of int64 temporaries
    texel = iv.to(torch.int32).mul_(tex).add_(iu.to(torch.int32)).add_(base.to(torch.int32)[:, None, None])
    z = bank.depth.index_select(0, texel.view(-1)).view(texel.shape)
    z.mul_(dscale).add_(z0).add_(0.0)                                         # -0.0 -> +0.0
    bits = z.view(torch.int32)
    ordered = (bits >> 31).bitwise_and_(0x7FFFFFFF).bitwise_xor_(bits)   # ints in the floats' order
    key = ordered.to(torch.int64).bitwise_left_shift_(32).bitwise_or_(texel)
    key.bitwise_or_(slot[:, None, None])
    flat = (first[:, None] + rows * r)[:, :, None] + cols[:, None, :]
    keys.scatter_reduce_(0, flat.view(-1), key.view(-1), reduce="amin")


def _shade_objects(attrs: torch.Tensor, par: torch.Tensor, noise: torch.Tensor):
    """RGB (3, N) of N object pixels and their image-frame normals (3, N); planar (rows, N) inputs.

    Written with in-place ops on fresh temporaries (fewer passes over memory); every product and
    sum is the one of the plain formula, in the same order, so the values are the same bit for bit.
    """
    nx, ny, nz, px, py, pz, ao = attrs
    c, s = par[0], par[1]
    n_img = torch.empty(3, attrs.shape[1])
    torch.mul(c, nx, out=n_img[0]).sub_(s * ny)                      # c nx - s ny
    torch.mul(s, nx, out=n_img[1]).add_(c * ny)                      # s nx + c ny
    n_img[2].copy_(nz)

    def dot(v: torch.Tensor) -> torch.Tensor:                        # n . v, clamped at 0
        return (n_img[0] * v[0]).add_(n_img[1] * v[1]).add_(n_img[2] * v[2]).clamp_(min=0.0)

    diffuse = dot(par[18:21])
    spec = dot(par[21:24])
    for _ in range(5):                                               # Blinn-Phong exponent 32
        spec.mul_(spec)
    spec.mul_(par[16])
    freq = par[11]
    stripes = (px * par[12]).add_(py * par[13]).add_(pz * par[14]).mul_(freq).add_(par[15])
    stripes.sub_(stripes.floor()).mul_(2.0).sub_(1.0).abs_()          # detmath.tri
    checker = (px * freq).floor_().add_((py * freq).floor_()).add_((pz * freq).floor_())
    checker.sub_((checker * 0.5).floor_().mul_(2.0))                   # cells mod 2
    grain = textures.sample_noise(noise, px * freq * 8.0, (py + pz * 0.5) * freq * 8.0)
    pattern = stripes.mul_(par[8]).add_(checker.mul_(par[9])).add_(grain.mul_(par[10]))
    lit = ao * par[27]
    out = torch.empty(3, attrs.shape[1])
    for ch in range(3):
        power = par[24 + ch]
        albedo = (par[5 + ch] - par[2 + ch]).mul_(pattern).add_(par[2 + ch])
        torch.mul(albedo, (diffuse * power).add_(lit), out=out[ch]).add_(spec * power)
    return out, n_img


def _background(seed: int, idx: torch.Tensor, kappa: float, x: torch.Tensor, y: torch.Tensor,
                noise: torch.Tensor) -> torch.Tensor:
    """(B, 3, R, R) wall: colour, gradient, value-noise texture and 2D clutter shapes."""
    b, r = idx.shape[0], x.shape[-1]
    u = rng.uniform(seed, idx, "background", 8)
    base = 0.06 + (u[:, 0:3] * 0.85 - 0.06) * kappa                 # kappa = 0: flat and dark
    grad = (u[:, 3] - 0.5) * 0.6 * kappa
    step = (u[:, 4] * 1.5 + 0.5) * (64.0 / r)                       # noise texels per pixel
    cols = torch.arange(r, dtype=torch.float32)
    grain = textures.sample_noise(noise, _bc(step) * cols[None, None, :] + _bc(u[:, 5] * 128),
                                  _bc(step) * cols[None, :, None] + _bc(u[:, 6] * 128))
    shade = grain.sub_(0.5).mul_(kappa * 1.2).add_(1.0).add_(_bc(grad) * y)   # in place, same sums
    n_clutter = round(MAX_CLUTTER * kappa)
    out = torch.empty(b, 3, r, r)                                   # written in the output layout
    if n_clutter == 0:
        for ch in range(3):
            torch.mul(_bc(base[:, ch]), shade, out=out[:, ch])
        return out
    v = rng.uniform(seed, idx, "clutter", 9 * n_clutter).reshape(b, n_clutter, 9)
    # drawn in order, the later on top: raster's max-index compositing, each in its own window
    ang = v[..., 0] * math.pi
    params, extent = raster.shape_params(v[..., 1] * 2 - 1, v[..., 2] * 2 - 1, detmath.cos(ang),
                                         detmath.sin(ang), 1.0 / (v[..., 3] * 0.35 + 0.05),
                                         1.0 / (v[..., 4] * 0.25 + 0.03), (v[..., 5] >= 0.5).float())
    label = raster.composite(params, extent, r, flip_y=True).to(torch.int64)
    # one colour table per image (entry 0 = the wall) and one shading factor per pixel: the wall
    # is base * shade, clutter colour * (shade / 2 + 1/2); planar, so every operand is contiguous
    table = torch.cat([base[:, None, :], v[:, :, 6:9]], 1).reshape(-1, 3).T.contiguous()
    flat = label + _bc(torch.arange(b) * (n_clutter + 1))
    # factor = shade on the wall, shade * 0.5 + 0.5 on clutter (a 2-entry lookup: torch.where
    # costs ~8x an add on CPU; the products and sums are the same, bit for bit)
    on_clutter = label.clamp(max=1).reshape(-1)
    scale = torch.tensor([1.0, 0.5]).index_select(0, on_clutter).reshape(label.shape)
    offset = torch.tensor([0.0, 0.5]).index_select(0, on_clutter).reshape(label.shape)
    factor = scale.mul_(shade).add_(offset)
    flat = flat.reshape(-1)
    for ch in range(3):
        torch.mul(table[ch].index_select(0, flat).reshape(b, r, r), factor, out=out[:, ch])
    return out


def _shadow_factor(hit: torch.Tensor, light_dir: torch.Tensor, length: float = 0.12,
                   strength: float = 0.45) -> torch.Tensor:
    """(B, R, R) background dimming: 1 - `strength` where the object mask, shifted away from the
    light, covers the pixel (a drop shadow), 1 elsewhere. `hit` is the (B, R, R) int64 0/1 mask."""
    b, r, _ = hit.shape
    dc = (light_dir[:, 0] * (length * r * 0.5) + 0.5).floor().to(torch.int64)
    dr = (light_dir[:, 1] * (-length * r * 0.5) + 0.5).floor().to(torch.int64)
    ar = torch.arange(r)
    rows = (ar[None, :, None] + _bc(dr)).clamp(0, r - 1)
    cols = (ar[None, None, :] + _bc(dc)).clamp(0, r - 1)
    src = rows * r + cols + _bc(torch.arange(b) * (r * r))
    shadowed = hit.reshape(-1).index_select(0, src.reshape(-1))
    return (1.0 - torch.tensor([0.0, 1.0]) * strength).index_select(0, shadowed).reshape(b, r, r)


def _put_pixels(dst: torch.Tensor, at: torch.Tensor, src: torch.Tensor) -> None:
    """Write planar (3, N) `src` into contiguous (B, 3, ...) `dst` at the N flat offsets `at` of
    channel 0 (one 1-D index_copy per channel: no batch-major copy of `src`)."""
    plane = dst[0, 0].numel()                                       # pixels per channel
    for ch in range(3):
        dst.view(-1).index_copy_(0, at + ch * plane, src[ch])


@GENERATORS.register("shapes")
class Shapes(Family):
    """Shaded 3D SDF objects (6 primitives + CSG compositions) on procedural backgrounds."""

    name, KNOBS, PRESETS = "shapes", KNOBS, PRESETS
    # ~2^19 pixels per chunk (128 images at 64 px): large enough that per-op overhead is small
    chunk_pixels = 1 << 19

    def __init__(self, resolution: int = 32, complexity: int = 0, channels: int = 3, **knobs) -> None:
        super().__init__(resolution, complexity, channels, **knobs)
        if self._knobs["objects_min"] > self._knobs["objects_max"]:
            raise UserError(f"shapes knob objects_min ({self._knobs['objects_min']}) must not "
                            f"exceed objects_max ({self._knobs['objects_max']})")

    def _classes(self) -> int:
        return self._knobs["n_categories"]

    def bank(self) -> sdf.Bank:
        """The ray-marched view bank (built once per process and configuration)."""
        return sdf.build_bank(self.n_classes, self._knobs["n_views"], bank_size(self.resolution))

    def _render(self, seed: int, idx: torch.Tensor, device: str) -> Sample:
        """One chunk, rendered on the CPU (the base class moves it to `device`)."""
        r, kn, bank = self.resolution, self._knobs, self.bank()
        coords = (torch.arange(r, dtype=torch.float32) + 0.5) * (2.0 / r) - 1.0
        x, y = coords.view(1, 1, r), (-coords).view(1, r, 1)        # y up, row 0 at the top
        noise = textures.noise_table()
        sc = _scene(seed, idx, kn, bank.extent)
        keys = _zbuffer(sc, bank, r)
        hit = (keys < _MISS_KEY).to(torch.int64)                   # a finite depth won
        # shade only the object pixels (a quarter to a half of the frame): per-pixel ops do not
        # care which other pixels are computed alongside, so this changes no bit
        pix = hit.nonzero().squeeze(1)
        img_of = pix // (r * r)
        z, texel, slot = _decode(keys.index_select(0, pix))
        attrs = bank.attrs.index_select(1, texel)                                  # (7, N) planar
        k_max = sc["cat"].shape[1]
        light = _lights(seed, idx, kn["light_random"])
        table = _object_table(seed, idx, sc, kn["texture_random"], light)
        par = table.index_select(1, slot + img_of * k_max)                         # (_PARAMS, N)
        obj_rgb, n_img = _shade_objects(attrs, par, noise)
        # assembled in the output layout (B, C, H, W): objects are written over the shadowed
        # wall at (image, pixel), so no planar-to-batch-major copy is needed
        b = len(idx)
        at = pix + img_of * (2 * r * r)          # channel 0 of pixel pix in a (B, 3, R, R) layout
        rgb = _background(seed, idx, kn["clutter"], x, y, noise)
        rgb.mul_(_shadow_factor(hit.reshape(-1, r, r), light["dir"])[:, None])
        _put_pixels(rgb, at, obj_rgb)
        rgb.clamp_(0.0, 1.0)
        cat1 = par[17].to(torch.int64)                                 # category + 1 per pixel
        mask = torch.zeros(keys.numel(), dtype=torch.int64)
        mask.index_copy_(0, pix, cat1)
        mask = mask.reshape(-1, r, r)
        present = torch.zeros(b, self.n_classes + 1)
        present.index_put_((img_of, cat1), torch.ones(()))            # categories with a pixel
        normals = torch.zeros(b, 3, r * r)
        normals[:, 2] = 1.0                                            # the wall faces the camera
        _put_pixels(normals, at, n_img)
        depth = torch.full((keys.numel(),), 5.0)                      # the wall, behind everything
        depth.index_copy_(0, pix, z + 3.0)
        depth = depth.reshape(-1, 1, r, r)
        return Sample(image=to_channels(rgb, self.channels), label=sc["cat"][:, 0].clone(),
                      multilabel=present[:, 1:].contiguous(), mask=mask, depth=depth,
                      normals=normals.view(b, 3, r, r))
