"""Labelled preview grids: one row per complexity level, one column per sample."""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from PIL import Image, ImageDraw

from synth.core import GENERATORS
from synth.errors import UserError

_ROW_HEAD = 56     # pixels of row label on the left
_CAPTION = 12      # pixels of caption under each tile
_SLICE = 16        # images rendered at a time: memory follows the grid, not n x annotations
_WRAP = 16         # samples per line; a level with more takes several lines
_GAP = 8           # pixels between levels (shows where a wrapped level ends)
# A preview is for looking at: 16 megapixels (about 4000 x 4000, 48 MB of RGB) is 40x the largest
# committed grid (results/previews/shapes.png, 584 x 640) and holds 8 levels x 8 images at 224 px
# (3.6 MP). Without a cap `--n 100000` drew a 6.6-million-pixel-wide canvas and was OOM-killed.
MAX_GRID_PIXELS = 16_000_000


def parse_levels(spec: str, n_levels: int | None = None, family: str = "the generator") -> list[int]:
    """'0..3' -> [0, 1, 2, 3]; '1,5' -> [1, 5]; '2' -> [2]. An empty spec, a level given twice and
    (with `n_levels`) a level outside 0..n_levels-1 are UserErrors, checked before a range is built."""
    if not spec.strip():  # "" used to mean every level, like leaving the flag out
        raise UserError(f"--complexity {spec!r} is empty; give levels such as 0..3, 1,5 or 2, or leave the flag out "
                        "for every level")
    try:
        if ".." in spec:
            lo, hi = (int(p) for p in spec.split(".."))
            asked = [lo, hi] if lo <= hi else []
        else:
            asked = [int(p) for p in spec.split(",") if p.strip()]
    except ValueError:
        raise UserError(f"--complexity must look like 0..3, 1,5 or 2, got {spec!r}") from None
    if not asked:
        raise UserError(f"--complexity {spec!r} selects no level; use e.g. 0..3")
    bad = [level for level in asked if n_levels is not None and not 0 <= level < n_levels]
    if bad:
        raise UserError(f"--complexity {spec!r} asks for level {bad[0]}; {family} has levels 0..{n_levels - 1}")
    twice = [level for k, level in enumerate(asked) if level in asked[:k] and ".." not in spec]
    if twice:  # "1,1" drew the same row twice ("2..2" is the one level 2)
        raise UserError(f"--complexity {spec!r} gives level {twice[0]} twice; give each level once")
    return list(range(asked[0], asked[1] + 1)) if ".." in spec else asked


def _to_uint8(image: torch.Tensor, tile: int) -> np.ndarray:
    """(C, H, W) in [0, 1] -> (tile, tile, 3) uint8, nearest-neighbour upscaled."""
    img = image.clamp(0, 1)
    if img.shape[0] == 1:
        img = img.expand(3, -1, -1)
    if img.shape[-1] != tile:
        img = torch.nn.functional.interpolate(img[None], size=(tile, tile), mode="nearest")[0]
    return (img.permute(1, 2, 0) * 255 + 0.5).to(torch.uint8).numpy()


def _layout(n_per_level: int) -> tuple[int, int]:
    """(columns, lines per level): a level's samples wrap at _WRAP columns (--n 300 was one row of 300)."""
    cols = min(n_per_level, _WRAP)
    return cols, -(-n_per_level // cols)


def _level_gap(lines: int) -> int:
    """Pixels between levels: a gap only where a level takes several lines (one-line grids as before)."""
    return _GAP if lines > 1 else 0


def grid_size(n_levels: int, n_per_level: int, resolution: int) -> tuple[int, int]:
    """(width, height) in pixels of the grid `preview_grid` draws."""
    tile = max(resolution, 64)
    cols, lines = _layout(n_per_level)
    gap = _level_gap(lines)
    return _ROW_HEAD + cols * (tile + 2), n_levels * (lines * (tile + _CAPTION + 2) + gap) - gap + 16


def check_grid_size(n_levels: int, n_per_level: int, resolution: int) -> None:
    """A UserError, before anything is rendered, if the grid is too large to be a preview."""
    width, height = grid_size(n_levels, n_per_level, resolution)
    if width * height > MAX_GRID_PIXELS:
        raise UserError(f"a preview of {n_levels} level{'s' * (n_levels != 1)} x {n_per_level} images at "
                        f"{resolution} px would be a {width} x {height} px grid, {width * height / 1e6:.0f} "
                        f"megapixels (a preview may have {MAX_GRID_PIXELS / 1e6:.0f}); lower --n, --resolution "
                        "or the number of --complexity levels, or use `synth export` for many images")


def preview_grid(name: str, levels: Sequence[int], n_per_level: int = 8, resolution: int = 64,
                 seed: int = 0, channels: int = 3, **knobs) -> Image.Image:
    """A PIL image: row = complexity level (labelled; more than _WRAP samples wrap onto more lines),
    tile caption = class label."""
    cls = GENERATORS.get(name)
    check_grid_size(len(levels), n_per_level, resolution)
    tile = max(resolution, 64)
    width, height = grid_size(len(levels), n_per_level, resolution)
    canvas = Image.new("RGB", (width, height), (255, 255, 255))
    draw = ImageDraw.Draw(canvas)
    given = "".join(f", {k}={v}" for k, v in sorted(knobs.items()))  # rows are no longer the levels' presets
    draw.text((4, 2), f"{name} @ {resolution}px, seed {seed}{given}; caption = class label", fill=(0, 0, 0))
    cols, lines = _layout(n_per_level)
    line_h = tile + _CAPTION + 2
    for row, level in enumerate(levels):
        gen = cls(resolution=resolution, complexity=level, channels=channels, **knobs)
        top = 16 + row * (lines * line_h + _level_gap(lines))
        draw.text((4, top + tile // 2 - 12), f"level {level}", fill=(0, 0, 0))
        draw.text((4, top + tile // 2), f"{gen.n_classes} cls", fill=(90, 90, 90))
        for start in range(0, n_per_level, _SLICE):  # image i is the same whatever batch renders it
            sample = gen.render(seed, torch.arange(start, min(n_per_level, start + _SLICE)))
            for k, i in enumerate(range(start, min(n_per_level, start + _SLICE))):
                left, y = _ROW_HEAD + (i % cols) * (tile + 2), top + (i // cols) * line_h
                canvas.paste(Image.fromarray(_to_uint8(sample.image[k], tile)), (left, y))
                draw.text((left + 2, y + tile), str(int(sample.label[k])), fill=(0, 0, 0))
    return canvas


def write_preview(path: Path, name: str, levels: Sequence[int], **kwargs) -> Path:
    """Render the grid and save it (PNG by extension)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    preview_grid(name, levels, **kwargs).save(path)
    return path
