"""The `digits` generator family: the same contract tests as every generator, plus glyph sanity."""
import hashlib
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

import synth.digits  # noqa: F401  (registers `digits` even before synth/__init__ lists it)
from synth.core import make_dataset
from synth.digits import FONT_FILES, glyph_bank
from synth.errors import UserError


def _images(n=64, **kw):
    kw = {"seed": 0, "resolution": 32, "complexity": 2, "channels": 3, **kw}
    ds = make_dataset("digits", n, **kw)
    return ds.render_batch(torch.arange(n))


@pytest.mark.parametrize("channels,res", [(1, 8), (3, 28), (3, 65), (1, 32)])
def test_shape_dtype_range(channels, res):
    s = _images(16, channels=channels, resolution=res)
    assert s.image.shape == (16, channels, res, res)
    assert s.image.dtype == torch.float32
    assert float(s.image.min()) >= 0.0 and float(s.image.max()) <= 1.0
    assert s.label.dtype == torch.int64 and s.label.shape == (16,)


def test_labels_cover_the_ten_digits():
    s = _images(300, complexity=0)
    assert set(s.label.tolist()) == set(range(10))
    assert make_dataset("digits", 1).n_classes == 10


def test_bitwise_identical_across_batch_sizes():
    ds = make_dataset("digits", 90, seed=5, resolution=31, complexity=3, channels=3)
    full = ds.render_batch(torch.arange(90)).image
    chunks = torch.cat([ds.render_batch(torch.arange(i, min(i + 7, 90))).image for i in range(0, 90, 7)])
    perm = torch.randperm(90, generator=torch.Generator().manual_seed(0))
    assert torch.equal(full, chunks)
    assert torch.equal(full[perm], ds.render_batch(perm).image)
    assert torch.equal(full[17], ds[17][0])


_HASH_SNIPPET = """
import hashlib, torch, synth.digits
from synth.core import make_dataset
ds = make_dataset('digits', 40, seed=9, resolution=24, complexity=3, channels=3)
print(hashlib.sha256(ds.render_batch(torch.arange(40)).image.numpy().tobytes()).hexdigest())
"""


def test_bitwise_identical_across_processes():
    ds = make_dataset("digits", 40, seed=9, resolution=24, complexity=3, channels=3)
    here = hashlib.sha256(ds.render_batch(torch.arange(40)).image.numpy().tobytes()).hexdigest()
    out = subprocess.run([sys.executable, "-c", _HASH_SNIPPET], capture_output=True, text=True,
                         check=True, env={"OMP_NUM_THREADS": "2", "PATH": ""})
    assert out.stdout.strip() == here


def test_nested_subsets():
    small = make_dataset("digits", 50, seed=2, complexity=1)
    big = make_dataset("digits", 120, seed=2, complexity=1)
    a = small.render_batch(torch.arange(50))
    b = big.render_batch(torch.arange(120))
    assert torch.equal(a.image, b.image[:50]) and torch.equal(a.label, b.label[:50])
    other = make_dataset("digits", 50, seed=3, complexity=1).render_batch(torch.arange(50))
    assert not torch.equal(a.image, other.image)


def _colourfulness(img: torch.Tensor) -> float:
    return float((img.max(1).values - img.min(1).values).mean())


def test_complexity_levels_differ_measurably():
    imgs = [_images(128, complexity=c).image for c in range(4)]
    colour = [_colourfulness(x) for x in imgs]
    assert colour[0] == 0.0  # level 0 is grey levels only
    assert colour[0] < colour[1] < colour[2] < colour[3]
    # High-frequency energy (texture, noise, clutter) grows with the level.
    hf = [float((x[..., 1:] - x[..., :-1]).abs().mean()) for x in imgs]
    assert hf[0] < hf[1] < hf[3]
    for i in range(4):
        for j in range(i + 1, 4):
            assert float((imgs[i] - imgs[j]).abs().mean()) > 0.02


def test_every_font_has_ten_distinct_digits():
    bank = glyph_bank(len(FONT_FILES))
    masks = (bank[:, 0] < 0).reshape(len(FONT_FILES), 10, -1).float()
    ink = masks.mean(-1)
    assert bool((ink > 0.03).all()) and bool((ink < 0.6).all()), "a font without digit glyphs?"
    for f in range(len(FONT_FILES)):
        diff = (masks[f, :, None] - masks[f, None, :]).abs().mean(-1)
        off_diagonal = diff[~torch.eye(10, dtype=torch.bool)]
        assert float(off_diagonal.min()) > 0.01, FONT_FILES[f]


def test_digit_counters_are_open():
    """The hole of a 0 is background (the even-odd fill), not ink."""
    sdf = glyph_bank(1)[0, 0]
    centre = sdf.shape[0] // 2
    assert float(sdf[centre, centre]) > 0


@pytest.mark.parametrize("kwargs", [
    {"complexity": 4}, {"complexity": -1}, {"resolution": 4}, {"channels": 2},
    {"fonts": 0}, {"fonts": 99}, {"rotate": "lots"}, {"sparkle": 1}, {"clutter": 1.5},
])
def test_bad_knobs_raise_user_error(kwargs):
    with pytest.raises(UserError):
        make_dataset("digits", 4, **kwargs)


def test_knobs_resolve_preset_and_override():
    ds = make_dataset("digits", 4, complexity=1, rotate=45.0)
    knobs = ds.generator.knobs()
    assert knobs["rotate"] == 45.0 and knobs["fonts"] == 6


# The glyph masks ship as package data (synth/data/digit_glyphs.npz): the images depend neither on the
# installed matplotlib's font files (cmti10.ttf only from 3.11) nor on its FreeType.

def test_shipped_masks_equal_a_fresh_rasterisation(tmp_path):
    """Pins the mask file to its maker: `_glyph_mask` on matplotlib's fonts gives the shipped masks, and
    write_glyphs (the maintainer's rebuild) writes them so that the loader reads them back."""
    from matplotlib import ft2font

    missing = [f for f in FONT_FILES if not os.path.isfile(synth.digits.font_path(f))]
    if missing:
        pytest.skip(f"the installed matplotlib lacks {', '.join(missing)}")
    with np.load(synth.digits.GLYPH_FILE) as data:
        made_with = str(data["freetype"])
    if ft2font.__freetype_version__ != made_with:  # another FreeType moves a few texels (the file's reason)
        pytest.skip(f"matplotlib's FreeType is {ft2font.__freetype_version__}, the file was made with {made_with}")
    shipped = synth.digits.load_glyph_masks()
    fresh = np.stack([np.stack([synth.digits._glyph_mask(font, d, synth.digits.GLYPH_GRID) for d in range(10)])
                      for font in FONT_FILES])
    differ = [(font, d) for f, font in enumerate(FONT_FILES) for d in range(10)
              if not np.array_equal(shipped[f, d], fresh[f, d])]
    assert not differ, f"shipped masks differ from _glyph_mask for {differ}"
    rebuilt = synth.digits.write_glyphs(tmp_path / "glyphs.npz")
    assert np.array_equal(synth.digits.load_glyph_masks(rebuilt), fresh)


def test_renders_without_matplotlibs_font_files(monkeypatch, tmp_path):
    """Level 3 (all 21 fonts) renders the same images when matplotlib's font folder does not exist
    (matplotlib < 3.11 lacks cmti10.ttf: FileNotFoundError before the masks were shipped)."""
    want = _images(200, complexity=3)
    monkeypatch.setattr(synth.digits, "font_path", lambda name: str(tmp_path / "no-fonts" / name))
    glyph_bank.cache_clear()
    try:
        got = _images(200, complexity=3)
    finally:
        glyph_bank.cache_clear()
    assert torch.equal(got.image, want.image) and torch.equal(got.label, want.label)


_NO_MATPLOTLIB_SNIPPET = """
import hashlib, sys, torch
sys.modules['matplotlib'] = None  # any import of matplotlib now fails
import synth.digits
from synth.core import make_dataset
ds = make_dataset('digits', 40, seed=9, resolution=24, complexity=3, channels=3, fonts=21)
print(hashlib.sha256(ds.render_batch(torch.arange(40)).image.numpy().tobytes()).hexdigest())
"""


def test_render_path_does_not_import_matplotlib():
    ds = make_dataset("digits", 40, seed=9, resolution=24, complexity=3, channels=3, fonts=21)
    here = hashlib.sha256(ds.render_batch(torch.arange(40)).image.numpy().tobytes()).hexdigest()
    out = subprocess.run([sys.executable, "-c", _NO_MATPLOTLIB_SNIPPET], capture_output=True, text=True,
                         env={"OMP_NUM_THREADS": "1", "PATH": ""})
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == here


def test_mask_file_for_other_glyphs_or_missing_is_one_clear_error(monkeypatch, tmp_path):
    with np.load(synth.digits.GLYPH_FILE) as data:
        arrays = {k: data[k] for k in data.files}
    other = tmp_path / "other.npz"
    np.savez_compressed(other, **{**arrays, "fonts": arrays["fonts"][::-1], "grid": np.int64(64)})
    monkeypatch.setattr(synth.digits, "GLYPH_FILE", other)
    glyph_bank.cache_clear()
    try:
        made_for = r"made for other glyphs .*FONT_FILES: .*GLYPH_GRID: 64 in the file, 96 here.*write_glyphs\(\)"
        with pytest.raises(RuntimeError, match=made_for) as err:
            glyph_bank(1)
        assert "GLYPH_HALF_HEIGHT" not in str(err.value) and "\n" not in str(err.value)
        monkeypatch.setattr(synth.digits, "GLYPH_FILE", tmp_path / "missing.npz")
        with pytest.raises(RuntimeError, match=r"missing\.npz is missing; reinstall synthscale"):
            glyph_bank(1)
    finally:
        glyph_bank.cache_clear()
