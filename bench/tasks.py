"""Pre-training tasks by name: how a backbone is wrapped, what loss it trains on, what transfers.

A task is chosen in the config (`task: classification`) and recorded in every row. The training
loop only sees `loss(net, batch)`; the task decides which `synth.Sample` fields it needs.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from synth import Sample
from synth.registry import Registry


@dataclass(frozen=True)
class Task:
    """How to pre-train on one kind of annotation."""

    name: str
    fields: tuple[str, ...]  # the Sample fields the task reads (image is always one)
    build: Callable[[nn.Module, int], nn.Module]  # (timm model, n_classes) -> the network to train
    loss: Callable[[nn.Module, Sample], torch.Tensor]
    backbone: Callable[[nn.Module], nn.Module]  # trained network -> the timm model that transfers
    augment: bool = True  # flips/translations keep this task's targets valid


TASKS: Registry[Task] = Registry("task")


def register(task: Task) -> Task:
    """Add a task to TASKS under its name."""
    return TASKS.register(task.name)(task)


def _classification_loss(net: nn.Module, batch: Sample) -> torch.Tensor:
    return F.cross_entropy(net(batch.image), batch.label)


register(Task(
    name="classification",
    fields=("image", "label"),
    build=lambda model, n_classes: model,
    loss=_classification_loss,
    backbone=lambda net: net,
))


# The dense tasks (multi-label, segmentation, surface normals) register themselves on import.
from bench import dense_tasks  # noqa: E402,F401
