"""Each complexity level changes the image statistics it claims to change.

For every level l and every knob whose preset value differs from level l - 1, the level-l preset
is rendered twice: as is, and with only that knob set back to its level-(l-1) value. The knob's
statistic must move in the claimed direction by a clear margin, so each step of the documented
ladder is shown to do what the table says, one knob at a time.
"""
from __future__ import annotations

import importlib

import pytest
import torch

import synth

N, RES = 160, 32


def _lum(s):
    return s.image.mean(1)


def _grad(img):                                   # mean |horizontal difference| per image
    return (img[..., 1:] - img[..., :-1]).abs()


def _chroma(s):
    return float((s.image.amax(1) - s.image.amin(1)).mean())


def _distinct_labels(s):
    return float(len(s.label.unique()))


def _objects(s):
    return float(s.multilabel.sum(1).mean())


def _object_light_spread(s):                       # std over images of mean object luminance
    on = (s.mask > 0).float()
    mean = (_lum(s) * on).sum((1, 2)) / on.sum((1, 2)).clamp(min=1)
    return float(mean.std())


def _background_detail(s):
    bg = (s.mask[..., 1:] == 0) & (s.mask[..., :-1] == 0)
    return float(_grad(_lum(s))[bg].mean())


def _fine_texture(s):                              # variation inside leaves (small steps)
    d = _grad(_lum(s))
    return float(d[d < 0.25].mean())


def _coverage(s):
    return float((s.image.amax(1) > 0).float().mean())


def _edges(s):
    return float((_grad(_lum(s)) > 0.02).float().mean())


def _same_class_overlap(s):                        # IoU of drawn masks of same-class instances
    drawn = s.image.amax(1) > 0
    ious = []
    for c in s.label.unique():
        idx = (s.label == c).nonzero().flatten()
        for a, b in zip(idx[:-1], idx[1:]):
            inter = (drawn[a] & drawn[b]).sum()
            ious.append(float(inter) / max(1.0, float((drawn[a] | drawn[b]).sum())))
    return sum(ious) / max(1, len(ious))


def _ink(s):                                       # (B, H, W) 1 where a pixel stands out from the border's median
    lum = _lum(s)
    border = torch.cat([lum[:, 0], lum[:, -1], lum[:, :, 0], lum[:, :, -1]], 1).median(1).values
    return ((lum - border[:, None, None]).abs() > 0.25).float()


def _ink_layout_spread(s):                         # per-class pixel spread of the ink maps (any polarity)
    ink = _ink(s)
    spreads = [float(ink[s.label == c].std(0).mean()) for c in s.label.unique() if (s.label == c).sum() > 1]
    return sum(spreads) / len(spreads)


def _ink_share(s):
    return float(_ink(s).mean())


def _polarity_spread(s):                           # std over images of mean luminance: dark vs light ink
    return float(_lum(s).mean((1, 2)).std())


def _small_steps(s):                               # pixel-to-pixel jitter
    d = _grad(_lum(s))
    return float(d[d < 0.1].mean())


# knob -> (statistic, direction: +1 the statistic grows with the knob, minimum relative change)
CLAIMS = {
    "shapes": {"n_categories": (_distinct_labels, 1, 0.5), "objects_min": (_objects, 1, 0.1),
               "objects_max": (_objects, 1, 0.1), "texture_random": (_chroma, 1, 0.5),
               "light_random": (_object_light_spread, 1, 0.1), "clutter": (_background_detail, 1, 0.2)},
    "deadleaves": {"alpha_bins": (_distinct_labels, 1, 0.3), "n_leaves": (_edges, 1, 0.05),
                   "colour": (_chroma, 1, 0.5), "texture": (_fine_texture, 1, 0.2)},
    "fractals": {"n_classes": (_distinct_labels, 1, 0.5), "patch": (_coverage, 1, 0.3),
                 "colour": (_chroma, 1, 0.3), "density": (_coverage, 1, 0.05),
                 "jitter": (_same_class_overlap, -1, 0.02)},
    # digits' elastic field (0.02-0.06 glyph units, under a pixel at RES) moves no statistic here by
    # more than 1 %: it has no claim at this resolution
    # (margins at least twice the elastic field's <= 0.75 % on the ink-layout spread)
    "digits": {"fonts": (_ink_layout_spread, 1, 0.02), "rotate": (_ink_layout_spread, 1, 0.015),
               "shear": (_ink_layout_spread, 1, 0.015), "stroke": (_ink_share, 1, 0.05),
               "texture": (_fine_texture, 1, 0.02), "colour": (_chroma, 1, 0.3),
               "invert": (_polarity_spread, 1, 0.5), "clutter": (_ink_layout_spread, 1, 0.02),
               "noise": (_small_steps, 1, 0.1)},
}
STEPS = [(fam, level, knob) for fam in CLAIMS
         for level in range(1, len(importlib.import_module(f"synth.{fam}").PRESETS))
         for knob in CLAIMS[fam]
         if importlib.import_module(f"synth.{fam}").PRESETS[level][knob]
         != importlib.import_module(f"synth.{fam}").PRESETS[level - 1][knob]]


def _render(fam, level, n=N, **override):
    ds = synth.make_dataset(fam, n, resolution=RES, complexity=level, **override)
    return ds.render_batch(torch.arange(n))


@pytest.mark.parametrize("fam,level,knob", STEPS)
def test_level_changes_the_statistic_it_claims(fam, level, knob):
    presets = importlib.import_module(f"synth.{fam}").PRESETS
    stat, direction, margin = CLAIMS[fam][knob]
    n = 600 if stat is _same_class_overlap else N
    now = stat(_render(fam, level, n))
    before = stat(_render(fam, level, n, **{knob: presets[level - 1][knob]}))
    change = (now - before) * direction
    assert change > margin * abs(before) and change > 0, \
        f"{fam} level {level}: {knob} {presets[level - 1][knob]} -> {presets[level][knob]} " \
        f"moved {stat.__name__} from {before:.4f} to {now:.4f}"


def test_every_ladder_step_changes_something():
    for fam in CLAIMS:
        presets = importlib.import_module(f"synth.{fam}").PRESETS
        for level in range(1, len(presets)):
            assert any(fam == f and level == lv for f, lv, _ in STEPS), f"{fam} level {level} = {level - 1}"
