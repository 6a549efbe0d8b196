"""The paper's other pre-training tasks on the annotations synth gives for free.

- `multilabel`: which categories are present (`Sample.multilabel`), binary cross-entropy on the
  timm model's own classifier (one logit per category).
- `segmentation`: per-pixel category (`Sample.mask`, 0 = background), cross-entropy of a small
  decoder on the backbone's last feature map, upsampled to the image.
- `normals`: per-pixel unit surface normal (`Sample.normals`), 1 - cosine similarity of the
  decoder's normalised output, averaged over all pixels (the wall's normal is (0, 0, 1)).

Dense tasks keep the timm model whole inside a wrapper, so `backbone()` returns a network with the
exact structure `bench.models.build_model` makes and the fine-tuning code loads it unchanged.
Flips and shifts would have to be applied to masks and normals too, so dense tasks turn
augmentation off.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from bench.tasks import TASKS, Task, register
from synth import Sample
from synth.errors import UserError


def _feature_map(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """(B, C, h, w) last features of a timm model (CNN maps as they are, ViT tokens as a grid)."""
    feats = model.forward_features(x)
    if feats.dim() == 4:
        return feats
    if feats.dim() == 3:                        # (B, tokens, C): drop class/register tokens
        tokens = feats[:, getattr(model, "num_prefix_tokens", 0):]
        side = int(math.isqrt(tokens.shape[1]))
        if side * side == tokens.shape[1]:
            return tokens.transpose(1, 2).reshape(feats.shape[0], -1, side, side)
    raise UserError(f"dense tasks need a model whose forward_features gives a feature map; "
                    f"{type(model).__name__} gives shape {tuple(feats.shape)}")


class DenseNet(nn.Module):
    """A timm model plus a small per-pixel decoder (3x3 conv, BN, ReLU, 1x1 conv, upsample)."""

    def __init__(self, model: nn.Module, out_channels: int, width: int = 64) -> None:
        super().__init__()
        self.model = model
        in_ch = int(getattr(model, "num_features"))
        self.head = nn.Sequential(
            nn.Conv2d(in_ch, width, 3, padding=1, bias=False), nn.BatchNorm2d(width),
            nn.ReLU(inplace=True), nn.Conv2d(width, out_channels, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.head(_feature_map(self.model, x))
        return F.interpolate(out, size=x.shape[-2:], mode="bilinear", align_corners=False)


def _need(batch: Sample, field: str, task: str) -> torch.Tensor:
    """The annotation `field`, or one line saying which generators provide it."""
    value = getattr(batch, field)
    if value is None:
        raise UserError(f"task {task!r} needs Sample.{field}, which this generator does not "
                        f"provide; use a generator with {field} (e.g. shapes) or task classification")
    return value


def _multilabel_loss(net: nn.Module, batch: Sample) -> torch.Tensor:
    target = _need(batch, "multilabel", "multilabel")
    return F.binary_cross_entropy_with_logits(net(batch.image), target)


def _segmentation_loss(net: nn.Module, batch: Sample) -> torch.Tensor:
    return F.cross_entropy(net(batch.image), _need(batch, "mask", "segmentation"))


def _normals_loss(net: nn.Module, batch: Sample) -> torch.Tensor:
    target = _need(batch, "normals", "normals")
    pred = F.normalize(net(batch.image), dim=1, eps=1e-6)
    return (1.0 - (pred * target).sum(1)).mean()


register(Task(
    name="multilabel",
    fields=("image", "label", "multilabel"),
    build=lambda model, n_classes: model,
    loss=_multilabel_loss,
    backbone=lambda net: net,
))
register(Task(
    name="segmentation",
    fields=("image", "label", "mask"),
    build=lambda model, n_classes: DenseNet(model, n_classes + 1),
    loss=_segmentation_loss,
    backbone=lambda net: net.model,
    augment=False,
))
register(Task(
    name="normals",
    fields=("image", "label", "normals"),
    build=lambda model, n_classes: DenseNet(model, 3),
    loss=_normals_loss,
    backbone=lambda net: net.model,
    augment=False,
))

__all__ = ["DenseNet", "TASKS"]
