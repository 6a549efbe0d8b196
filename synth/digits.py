"""`digits`: the ten digits drawn from the vector outlines of the fonts that ship with matplotlib.

Each (font, digit) outline was rasterised once into a bool ink mask on a fixed grid; the masks ship
as package data (synth/data/digit_glyphs.npz), so the images depend neither on the installed
matplotlib's font files (cmti10.ttf is only in matplotlib >= 3.11) nor on its FreeType (whose
version moved a few glyphs by a texel or two). Each mask becomes a signed distance field (SDF) once
per process; a sample is then a per-(seed, index) warp of one SDF with `grid_sample` (affine pose,
shear, aspect and a smooth sinusoidal elastic field), thresholded at a random offset (thinner or
bolder strokes) with an anti-aliasing ramp of one output pixel, and composited over a textured,
optionally coloured background with distractor strokes and pixel noise. Because the SDF is sampled,
not a bitmap, the digits stay sharp at any resolution. Label = the digit.

| complexity | fonts | rotate (deg) | shear | elastic | stroke | texture | colour | invert | clutter | noise |
|-----------:|------:|-------------:|------:|--------:|-------:|--------:|-------:|-------:|--------:|------:|
| 0          | 1     | 0            | 0     | 0       | 0      | 0       | 0      | 0      | 0       | 0     |
| 1          | 6     | 10           | 0.1   | 0.02    | 0.04   | 0.2     | 0.3    | 0.5    | 0       | 0.03  |
| 2          | 21    | 15           | 0.2   | 0.04    | 0.08   | 0.5     | 0.6    | 0.5    | 1       | 0.06  |
| 3          | 21    | 25           | 0.3   | 0.06    | 0.12   | 0.8     | 1.0    | 0.5    | 3       | 0.1   |

`invert` is the probability of light ink on a dark background (real MNIST is light on dark).

The maintainer rebuilds the mask file from matplotlib's fonts (after changing FONT_FILES, GLYPH_GRID
or GLYPH_HALF_HEIGHT; needs a matplotlib that ships every file of FONT_FILES) with
`python -c "from synth.digits import write_glyphs; write_glyphs()"`. A rebuild with another FreeType
may change a few texels and with them the images: tests/test_digits.py compares the file with a fresh
rasterisation when the installed matplotlib has the fonts and the FreeType the file records.
"""
from __future__ import annotations

import math
import os
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from synth import detmath, rng
from synth.core import GENERATORS, Family, Knob, Sample, to_channels

# Font files shipped in matplotlib's mpl-data, ordered so that the first few already differ a lot
# (sans, serif, mono, Computer Modern, STIX). Files without digit glyphs (Display, LastResort,
# STIX non-unicode and size variants, cmsy/cmex symbol fonts) are left out.
FONT_FILES = (
    "DejaVuSans.ttf", "DejaVuSerif.ttf", "DejaVuSansMono.ttf", "cmr10.ttf", "STIXGeneral.ttf",
    "DejaVuSans-Bold.ttf", "cmss10.ttf", "DejaVuSerif-Bold.ttf", "STIXGeneralBol.ttf", "cmtt10.ttf",
    "DejaVuSans-Oblique.ttf", "STIXGeneralItalic.ttf", "DejaVuSansMono-Bold.ttf",
    "DejaVuSerif-Italic.ttf", "cmb10.ttf", "DejaVuSans-BoldOblique.ttf", "STIXGeneralBolIta.ttf",
    "DejaVuSerif-BoldItalic.ttf", "DejaVuSansMono-Oblique.ttf", "cmti10.ttf", "cmmi10.ttf",
)
GLYPH_GRID = 96          # SDF texels per side; bilinear SDF lookups keep edges sharp when magnified
GLYPH_HALF_HEIGHT = 0.7  # a glyph's larger half-extent inside its [-1, 1] SDF square
# The ink masks of every (font, digit), rasterised from FONT_FILES by write_glyphs (package data).
GLYPH_FILE = Path(__file__).resolve().parent / "data" / "digit_glyphs.npz"

KNOBS = (
    Knob("fonts", int, 1, len(FONT_FILES), "number of font files used (the first k of FONT_FILES)"),
    Knob("rotate", float, 0, 90, "max rotation in degrees (uniform in [-r, r])"),
    Knob("shear", float, 0, 1, "max horizontal shear factor"),
    Knob("elastic", float, 0, 0.2, "amplitude of the smooth elastic displacement, glyph units"),
    Knob("stroke", float, 0, 0.3, "max stroke dilation in glyph units (erosion up to a fifth of it)"),
    Knob("texture", float, 0, 1, "amplitude of background and ink texture"),
    Knob("colour", float, 0, 1, "colour saturation (0 = grey levels only)"),
    Knob("invert", float, 0, 1, "probability of light ink on a dark background"),
    Knob("clutter", int, 0, 8, "number of faint distractor strokes"),
    Knob("noise", float, 0, 0.5, "amplitude of per-pixel uniform noise"),
)
PRESETS = [
    dict(fonts=1, rotate=0, shear=0, elastic=0, stroke=0, texture=0, colour=0, invert=0, clutter=0,
         noise=0),
    dict(fonts=6, rotate=10, shear=0.1, elastic=0.02, stroke=0.04, texture=0.2, colour=0.3,
         invert=0.5, clutter=0, noise=0.03),
    dict(fonts=len(FONT_FILES), rotate=15, shear=0.2, elastic=0.04, stroke=0.08, texture=0.5,
         colour=0.6, invert=0.5, clutter=1, noise=0.06),
    dict(fonts=len(FONT_FILES), rotate=25, shear=0.3, elastic=0.06, stroke=0.12, texture=0.8,
         colour=1.0, invert=0.5, clutter=3, noise=0.1),
]


def font_path(name: str) -> str:
    """Absolute path of one of matplotlib's bundled TrueType files."""
    import matplotlib

    return os.path.join(matplotlib.get_data_path(), "fonts", "ttf", name)


def _glyph_mask(font: str, digit: int, grid: int) -> np.ndarray:
    """(grid, grid) bool ink mask of one digit, centred, larger half-extent GLYPH_HALF_HEIGHT."""
    from matplotlib.font_manager import FontProperties
    from matplotlib.path import Path as MplPath
    from matplotlib.textpath import TextPath

    tp = TextPath((0, 0), str(digit), size=1.0, prop=FontProperties(fname=font_path(font)))
    v = tp.vertices
    lo, hi = v.min(0), v.max(0)
    centre, half = (lo + hi) / 2, max(hi - lo) / 2
    axis = np.linspace(-1.0, 1.0, grid)
    gx, gy = np.meshgrid(axis, -axis)  # image rows go down, font y goes up
    pts = np.stack([gx.ravel(), gy.ravel()], 1) * (half / GLYPH_HALF_HEIGHT) + centre
    mask = np.zeros(len(pts), dtype=bool)
    # Even-odd over the closed contours: matplotlib's contains_points on the compound path fills
    # the counters of 0, 4, 6, 8, 9; XOR of the contours leaves them open.
    for poly in tp.to_polygons(closed_only=True):
        mask ^= MplPath(poly).contains_points(pts)
    return mask.reshape(grid, grid)


def write_glyphs(path: str | os.PathLike = GLYPH_FILE) -> Path:
    """Rasterise every (font, digit) of FONT_FILES from matplotlib's fonts and write the mask file.

    The maintainer's way to rebuild GLYPH_FILE; the renderer only reads the file. Masks are stored
    bit-packed along rows, with the font list, grid and half-height they were made with and, for the
    record, the matplotlib and FreeType versions that rasterised them."""
    import matplotlib
    from matplotlib import ft2font

    masks = np.stack([np.stack([_glyph_mask(font, digit, GLYPH_GRID) for digit in range(10)])
                      for font in FONT_FILES])
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as fh:  # a file object: savez_compressed would append .npz to another name
        np.savez_compressed(fh, masks=np.packbits(masks, axis=-1), fonts=np.array(FONT_FILES),
                            grid=np.int64(GLYPH_GRID), half_height=np.float64(GLYPH_HALF_HEIGHT),
                            matplotlib=np.array(matplotlib.__version__),
                            freetype=np.array(ft2font.__freetype_version__))
    return path


def load_glyph_masks(path: str | os.PathLike | None = None) -> np.ndarray:
    """(len(FONT_FILES), 10, GLYPH_GRID, GLYPH_GRID) bool ink masks from the mask file (GLYPH_FILE).

    A file made for other fonts, grid or half-height than this module's constants is an error (the
    glyphs would silently be the wrong ones), as is a missing file (an install without package data)."""
    path = Path(GLYPH_FILE if path is None else path)
    rebuild = 'reinstall synthscale, or rebuild it: python -c "from synth.digits import write_glyphs; write_glyphs()"'
    if not path.is_file():
        raise RuntimeError(f"digits: the glyph mask file {path} is missing; {rebuild}")
    with np.load(path, allow_pickle=False) as data:
        fonts, grid = tuple(data["fonts"].tolist()), int(data["grid"])
        half_height, packed = float(data["half_height"]), data["masks"]
    made, here = (fonts, grid, half_height), (FONT_FILES, GLYPH_GRID, GLYPH_HALF_HEIGHT)
    if made != here:
        names = ("FONT_FILES", "GLYPH_GRID", "GLYPH_HALF_HEIGHT")
        diff = "; ".join(f"{n}: {a!r} in the file, {b!r} here" for n, a, b in zip(names, made, here) if a != b)
        raise RuntimeError(f"digits: {path} was made for other glyphs than synth/digits.py's ({diff}); {rebuild}")
    return np.unpackbits(packed, axis=-1, count=grid).astype(bool)


@lru_cache(maxsize=4)
def glyph_bank(n_fonts: int) -> torch.Tensor:
    """(n_fonts * 10, 1, GLYPH_GRID, GLYPH_GRID) float32 SDFs in glyph units (negative inside the ink),
    from the shipped masks of the first n_fonts of FONT_FILES (matplotlib is not needed)."""
    from scipy.ndimage import distance_transform_edt

    texel = 2.0 / (GLYPH_GRID - 1)
    sdfs = []
    for font_masks in load_glyph_masks()[:n_fonts]:
        for m in font_masks:
            sdf = distance_transform_edt(~m) - distance_transform_edt(m)
            sdfs.append(torch.from_numpy(sdf.astype(np.float32) * texel))
    return torch.stack(sdfs)[:, None].contiguous()


def _pixel_grid(res: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """(1, res, res) x and y pixel-centre coordinates in [-1, 1] (align_corners=False)."""
    axis = (torch.arange(res, dtype=torch.float32, device=device) * 2.0 + 1.0) / res - 1.0
    return axis.view(1, 1, res).expand(1, res, res), axis.view(1, res, 1).expand(1, res, res)


def _col(t: torch.Tensor, k: int) -> torch.Tensor:
    return t[:, k].view(-1, 1, 1)


@GENERATORS.register("digits")
class Digits(Family):
    """The ten digits from matplotlib's font outlines (shipped masks), warped, restroked and textured;
    label = digit."""

    name, KNOBS, PRESETS = "digits", KNOBS, PRESETS
    n_classes = 10

    def _render(self, seed: int, idx: torch.Tensor, device: str) -> Sample:
        """One chunk of digits, rendered on `device`."""
        dev = torch.device(device)
        k = self._knobs
        label = rng.randint(seed, idx, "digits/label", 1, 10)[:, 0]
        font = rng.randint(seed, idx, "digits/font", 1, k["fonts"])[:, 0]
        u = rng.uniform(seed, idx, "digits/geometry", 16).to(dev)
        ink = self._ink(glyph_bank(k["fonts"]).to(dev)[font * 10 + label], u, dev)
        rgb = self._compose(ink, self._clutter(seed, idx, dev), seed, idx, dev)
        return Sample(image=to_channels(rgb, self.channels).contiguous(), label=label.to(dev))

    def _ink(self, sdf: torch.Tensor, u: torch.Tensor, dev: torch.device) -> torch.Tensor:
        """(B, R, R) ink coverage in [0, 1]: the warped SDF thresholded with a one-pixel ramp."""
        k, res = self._knobs, self.resolution
        px, py = _pixel_grid(res, dev)
        theta = (_col(u, 0) * 2 - 1) * (k["rotate"] * math.pi / 180)
        shear = (_col(u, 1) * 2 - 1) * k["shear"]
        scale = 0.95 + 0.25 * _col(u, 2)                       # glyph height 0.66-0.85 of the image
        aspect = 1.0 + (_col(u, 3) * 2 - 1) * 0.15 * min(1.0, 4 * k["shear"])
        sx, sy = scale * aspect, scale / aspect
        tx = (_col(u, 4) * 2 - 1) * 0.08
        ty = (_col(u, 5) * 2 - 1) * 0.08
        # Forward map glyph -> image is T + R(theta) @ Shear @ diag(sx, sy); invert it per pixel.
        c, s = detmath.cos(theta), detmath.sin(theta)
        a, b = c * sx, (c * shear - s) * sy
        cc, d = s * sx, (s * shear + c) * sy
        det = a * d - b * cc
        qx, qy = px - tx, py - ty
        gx, gy = (d * qx - b * qy) / det, (a * qy - cc * qx) / det
        gx, gy = self._elastic(gx, gy, u)
        grid = torch.stack([gx, gy], -1)
        dist = F.grid_sample(sdf, grid, mode="bilinear", padding_mode="border", align_corners=True)[:, 0]
        offset = (_col(u, 12) * 1.2 - 0.2) * k["stroke"]         # dilate up to `stroke`, erode a fifth
        texel = 2.0 / res / scale                                 # one output pixel in glyph units
        return ((offset - dist) / texel + 0.5).clamp(0.0, 1.0)

    def _elastic(self, gx: torch.Tensor, gy: torch.Tensor,
                 u: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Smooth displacement: two random plane waves per axis (about 1-2 cycles across a glyph)."""
        amp = self._knobs["elastic"]
        if amp == 0:
            return gx, gy
        out = []
        for axis, base in ((gx, 6), (gy, 9)):
            fx, fy = (_col(u, base) * 2 - 1) * 3.0, (_col(u, base + 1) * 2 - 1) * 3.0
            phase = _col(u, base + 2) * (2 * math.pi)
            wave = detmath.sin(fx * gx + fy * gy + phase) + detmath.sin(fy * gx - fx * gy + 2 * phase)
            out.append(axis + amp * 0.5 * wave)
        return out[0], out[1]

    def _clutter(self, seed: int, idx: torch.Tensor, dev: torch.device) -> torch.Tensor:
        """(B, R, R) coverage of `clutter` random line segments (distractors drawn under the digit)."""
        n, res = self._knobs["clutter"], self.resolution
        px, py = _pixel_grid(res, dev)
        cover = torch.zeros(len(idx), res, res, device=dev)
        for j in range(n):
            u = rng.uniform(seed, idx, f"digits/clutter{j}", 5).to(dev)
            ax, ay, bx, by = (_col(u, i) * 2.4 - 1.2 for i in range(4))
            half_width = 0.01 + 0.03 * _col(u, 4)
            ex, ey = bx - ax, by - ay
            t = (((px - ax) * ex + (py - ay) * ey) / (ex * ex + ey * ey + 1e-6)).clamp(0.0, 1.0)
            dx, dy = px - ax - t * ex, py - ay - t * ey
            dist = (dx * dx + dy * dy).sqrt()
            cover = torch.maximum(cover, ((half_width - dist) * (res / 2.0) + 0.5).clamp(0.0, 1.0))
        return cover

    def _compose(self, ink: torch.Tensor, clutter: torch.Tensor, seed: int, idx: torch.Tensor,
                 dev: torch.device) -> torch.Tensor:
        """(B, 3, R, R) RGB: textured background, faint clutter, textured ink, pixel noise."""
        k, res = self._knobs, self.resolution
        u = rng.uniform(seed, idx, "digits/appearance", 20).to(dev)
        px, py = _pixel_grid(res, dev)
        light_ink = _col(u, 0) < k["invert"]
        dark, light = _col(u, 1) * 0.35, 0.65 + _col(u, 2) * 0.35
        bg = torch.where(light_ink, dark, light)
        fg = torch.where(light_ink, light, dark)
        tint_bg = (u[:, 3:6] * 2 - 1).view(-1, 3, 1, 1) * (0.35 * k["colour"])
        tint_fg = (u[:, 6:9] * 2 - 1).view(-1, 3, 1, 1) * (0.35 * k["colour"])
        bg_rgb = (bg + self._texture(u, 9, px, py, 0.3 * k["texture"])).unsqueeze(1) + tint_bg
        fg_rgb = (fg + self._texture(u, 14, px, py, 0.15 * k["texture"])).unsqueeze(1) + tint_fg
        # Distractors sit between background and ink in contrast, so they never outshine the digit.
        mid = bg_rgb + (fg_rgb - bg_rgb) * (0.25 + 0.35 * u[:, 19].view(-1, 1, 1, 1))
        img = bg_rgb + (mid - bg_rgb) * clutter.unsqueeze(1)
        img = img + (fg_rgb - img) * ink.unsqueeze(1)
        if k["noise"] > 0:
            grain = rng.uniform(seed, idx, "digits/noise", res * res).to(dev).view(-1, 1, res, res)
            img = img + (grain * 2 - 1) * k["noise"]
        return img.clamp(0.0, 1.0)

    @staticmethod
    def _texture(u: torch.Tensor, base: int, px: torch.Tensor, py: torch.Tensor, amp: float) -> torch.Tensor:
        """(B, R, R) zero-mean texture: an oriented triangle-wave grating plus a linear gradient."""
        if amp == 0:
            return torch.zeros_like(px).expand(len(u), -1, -1)
        angle = _col(u, base) * math.pi
        freq = 1.0 + 5.0 * _col(u, base + 1)                      # cycles across the image
        coord = detmath.cos(angle) * px + detmath.sin(angle) * py
        grating = detmath.tri(coord * (freq * 0.5) + _col(u, base + 2)) * 2 - 1
        gradient = (_col(u, base + 3) * 2 - 1) * px + (_col(u, base + 4) * 2 - 1) * py
        return amp * (0.6 * grating + 0.4 * gradient * 0.5)
