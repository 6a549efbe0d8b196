"""The dense pre-training tasks (multilabel, segmentation, normals) on real shapes batches."""
from __future__ import annotations

import pytest
import torch

import bench.dense_tasks  # noqa: F401  (registers the tasks)
import synth
from bench.config import ModelSpec
from bench.models import build_model
from bench.tasks import TASKS
from synth.errors import UserError

DENSE = ("multilabel", "segmentation", "normals")


@pytest.fixture(scope="module")
def batch():
    ds = synth.make_dataset("shapes", 16, resolution=32, complexity=3, channels=3)
    return ds.render_batch(torch.arange(16)), ds.n_classes


@pytest.mark.parametrize("name", DENSE)
def test_task_trains_and_hands_back_a_loadable_backbone(name, batch):
    sample, n_classes = batch
    task = TASKS.get(name)
    for field in task.fields:
        assert getattr(sample, field) is not None
    torch.manual_seed(0)
    spec = ModelSpec(name="resnet10t")
    net = task.build(build_model(spec, n_classes, 3), n_classes)
    opt = torch.optim.SGD(net.parameters(), lr=0.05, momentum=0.9)
    net.train()
    losses = []
    for _ in range(8):                       # overfit one batch: the loss must fall
        loss = task.loss(net, sample)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.detach().item())
    assert all(torch.isfinite(torch.tensor(losses)))
    assert losses[-1] < losses[0] * 0.9, losses
    fresh = build_model(spec, n_classes, 3)
    fresh.load_state_dict(task.backbone(net).state_dict(), strict=True)


def test_dense_outputs_match_the_image_size(batch):
    sample, n_classes = batch
    net = TASKS.get("segmentation").build(build_model(ModelSpec(), n_classes, 3), n_classes).eval()
    with torch.no_grad():
        assert net(sample.image).shape == (16, n_classes + 1, 32, 32)


def test_missing_annotation_is_a_user_error():
    s = synth.make_dataset("shapes", 4, resolution=32).render_batch(torch.arange(4))
    plain = synth.Sample(image=s.image, label=s.label)
    net = TASKS.get("normals").build(build_model(ModelSpec(), 10, 3), 10)
    with pytest.raises(UserError, match="normals"):
        TASKS.get("normals").loss(net, plain)
