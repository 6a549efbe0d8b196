"""What transfers from pre-training to fine-tuning: every backbone tensor (weights and batch-norm
statistics), never the classifier head, on real timm models as bench.run builds them."""
from __future__ import annotations

import pytest
import torch

from bench.config import ModelSpec, load_run
from bench.models import build_model, transfer_weights

TINY = """
name: tiny
synth: {generator: shapes, n: 32, complexity: 1, resolution: 16, channels: 1}
model: {name: resnet10t, small_input: false}
pretrain: {examples: 64, batch_size: 32, lr: 0.05}
finetune: {examples: 64, batch_size: 32, lr: 0.02}
target: {name: fashion_mnist, n_real: [20], test_size: 100}
"""


def head_keys(net: torch.nn.Module) -> set[str]:
    """The state-dict names of the classifier's tensors, found from the module timm says it is."""
    head = net.get_classifier()
    return {f"{name}.{p}" for name, m in net.named_modules() if m is head for p, _ in m.named_parameters()}


@pytest.mark.parametrize("name", ["resnet10t", "mobilenetv3_small_050"])  # heads: fc; classifier
@pytest.mark.parametrize("pre_classes", [10, 7])  # a head of the same shape, which a shape check would let by
def test_transfer_weights_copies_every_backbone_tensor_and_no_head(name, pre_classes):
    spec = ModelSpec(name=name, small_input=False)
    torch.manual_seed(1)
    pre = build_model(spec, pre_classes, 1, 32)
    with torch.no_grad():  # every tensor away from its initial value, as after training
        pre.train()(torch.rand(4, 1, 32, 32))  # batch-norm statistics, and num_batches_tracked 1
        for v in pre.state_dict().values():
            if v.is_floating_point():
                v.add_(torch.rand_like(v))
    torch.manual_seed(2)
    net = build_model(spec, 10, 1, 32)
    before = {k: v.clone() for k, v in net.state_dict().items()}
    src = pre.state_dict()
    head = head_keys(net)
    assert head and head <= set(before)
    assert all(not torch.equal(before[k], src[k]) for k in before if k not in head)
    if pre_classes == 10:  # the head is worth keeping apart: it differs and fits
        assert all(src[k].shape == before[k].shape and not torch.equal(src[k], before[k]) for k in head)

    copied = transfer_weights(pre, net)

    after = net.state_dict()
    assert copied == len(after) - len(head)
    for k, v in after.items():
        assert torch.equal(v, before[k] if k in head else src[k]), k


def test_a_run_fine_tunes_from_the_pre_trained_weights(tmp_path, monkeypatch):
    """End to end: the network that fine-tuning starts from holds the saved pre-trained backbone
    (ROOT/pretrain/<id>/final.pt) in every tensor but the new head."""
    import importlib

    run_module = importlib.import_module("bench.run")  # (the package's `bench.run` is the function)
    captured = {}
    real_train = run_module.train

    def train(net, *args, desc="train", **kw):
        if desc.startswith("finetune"):
            captured[desc] = {k: v.detach().clone() for k, v in net.state_dict().items()}
            captured["head"] = head_keys(net)
        return real_train(net, *args, desc=desc, **kw)

    monkeypatch.setattr(run_module, "train", train)
    (tmp_path / "c.yaml").write_text(TINY)
    spec = load_run(tmp_path / "c.yaml")
    run_module.run(spec, tmp_path / "r")
    start, head = captured["finetune s=20"], captured["head"]
    backbone = torch.load(tmp_path / "r" / "pretrain" / spec.pretrain_id / "final.pt", weights_only=False)["backbone"]
    assert head and set(start) - head <= set(backbone)
    for k in set(start) - head:
        assert torch.equal(start[k], backbone[k]), k


def test_the_test_scores_the_fine_tuned_net_with_batch_norm_statistics_recomputed_from_its_images(tmp_path):
    """The quickstart's scratch run (40 steps on 100 real images) kept running averages that trail its
    weights: in eval mode it scored 0.84 error where recomputed statistics give about 0.36, and the
    scratch baseline looked far worse than it is. finetune.recompute_bn=false is the old evaluation,
    under the old run ids (the committed quickstart rows')."""
    import importlib

    from bench.commands import resolve_config

    run_module = importlib.import_module("bench.run")
    old = load_run(resolve_config("quickstart"), {"synth.n": 0, "seed": 0, "finetune.recompute_bn": False})
    assert old.run_id == "314e3a98e4c4"  # the quickstart's scratch seed 0 before the field (test_err 0.843)
    assert load_run(resolve_config("quickstart"), {"synth.n": 0, "seed": 0}).run_id != old.run_id
    errs = {}
    for recompute in (False, True):
        spec = load_run(resolve_config("quickstart"), {"synth.n": 0, "seed": 0, "target.test_size": 1000,
                                                        "finetune.recompute_bn": recompute, "threads": 1})
        (row,) = run_module.run(spec, tmp_path / "r")
        errs[recompute] = row["test_err"]
    assert errs[True] < errs[False] - 0.25 and errs[True] < 0.5, errs
    # a table of both evaluations says which run is which, in a column the fitter reads as part of the
    # design (so it does not pool them as seeds): the id of a run without the field leaves it out, so
    # there was no column, and the two rows read as one measurement repeated
    from bench.collect import collect
    from fits.table import design_columns

    table = collect(tmp_path / "r")
    assert sorted(table["finetune.recompute_bn"].tolist()) == [False, True]
    assert "finetune.recompute_bn" in design_columns(table)


def test_the_seed_picks_the_fine_tuning_images_and_every_run_is_tested_on_the_same_images(tmp_path, monkeypatch):
    """The seed draws the s real training images (targets.stratified_subset with the run's seed), so
    seeds differ in the subset too; the test subset is one fixed draw (seed 0) for every run, so runs
    are compared on the same images. Either one silently changed would not change a run id."""
    import importlib

    from bench import targets

    run_module = importlib.import_module("bench.run")
    seen: dict[str, list] = {"train": [], "test": []}
    real_loader, real_evaluate = run_module.make_loader, run_module.evaluate

    def make_loader(source, *args, **kw):
        seen["train"].append(source.label.clone())
        return real_loader(source, *args, **kw)

    def evaluate(net, x, y, **kw):
        seen["test"].append((x.clone(), y.clone()))
        return real_evaluate(net, x, y, **kw)

    monkeypatch.setattr(run_module, "make_loader", make_loader)
    monkeypatch.setattr(run_module, "evaluate", evaluate)
    (tmp_path / "c.yaml").write_text(TINY)
    specs = [load_run(tmp_path / "c.yaml", {"synth.n": 0, "seed": seed, "target.n_real": [30], "threads": 1})
             for seed in (0, 1)]
    for spec in specs:
        run_module.run(spec, tmp_path / "r")
    data = targets.load_target(specs[0].target.name)
    for spec, labels in zip(specs, seen["train"]):
        assert torch.equal(labels, data.train_y[targets.stratified_subset(data.train_y, 30, seed=spec.seed)])
    picked = [targets.stratified_subset(data.train_y, 30, seed=s.seed) for s in specs]
    assert not torch.equal(picked[0], picked[1])
    (x0, y0), (x1, y1) = seen["test"]
    assert torch.equal(x0, x1) and torch.equal(y0, y1) and len(y0) == 100
