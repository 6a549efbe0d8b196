"""ASG's two ideas, written from the paper's description (Chen et al., ICML 2020; docs/asg.md).

1. Proxy guidance: `lambda * KL(p_frozen(x) || softmax(old_head(features_current(x))))` added to
   the task loss, where the frozen model is the reference network as it was before training.
2. Layer-wise learning rates: the backbone is cut into contiguous layer groups; every `interval`
   steps a policy picks one multiplier in {0, 0.1, ..., 1} per group. `handset_multipliers` is the
   fixed baseline, `Controller` the learned policy (an LSTM cell over training statistics with one
   categorical head per group), trained with REINFORCE in bench.asg_meta.
"""
from __future__ import annotations

import math
import pickle
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from synth.errors import UserError

MULTIPLIERS = tuple(i / 10 for i in range(11))
HEAD_GROUP = "head"
POLICY_KEYS = ("n_groups", "hidden", "state_dict")  # what save_policy writes and load_policy needs


def proxy_kl(current_imagenet_logits: torch.Tensor, frozen_imagenet_logits: torch.Tensor) -> torch.Tensor:
    """KL(p_frozen || p_current) averaged over the batch; exactly 0 when the logits are equal."""
    log_p_frozen = F.log_softmax(frozen_imagenet_logits.float(), dim=1)
    log_p_current = F.log_softmax(current_imagenet_logits.float(), dim=1)
    return F.kl_div(log_p_current, log_p_frozen, reduction="batchmean", log_target=True)


def layer_groups(body: nn.Module, n_groups: int) -> list[list[str]]:
    """Parameter names of `body` cut into `n_groups` contiguous, depth-balanced groups.

    Groups hold about the same number of parameter tensors (so about the same number of layers,
    not of weights: late layers are wider) and never split one module's weight from its bias.
    """
    names = [n for n, p in body.named_parameters() if p.requires_grad]
    if len(names) < n_groups:
        raise UserError(f"asg.n_groups: the backbone has only {len(names)} parameter tensors")
    module_of = [n.rsplit(".", 1)[0] for n in names]
    groups: list[list[str]] = [[] for _ in range(n_groups)]
    g = 0
    for i, name in enumerate(names):
        target = (i * n_groups) // len(names)
        # Advance only at a module boundary, so a conv's weight and its norm stay together.
        if target > g and (i == 0 or module_of[i] != module_of[i - 1]):
            g = target
        groups[g].append(name)
    return [grp for grp in groups if grp]


def param_groups(net: nn.Module, body_name: str, head_name: str, n_groups: int,
                 weight_decay: float) -> list[dict]:
    """Optimizer groups tagged `group` = g0..g{k-1} (backbone, shallow to deep) and `head`.

    Each tag has a decayed (matrices) and an undecayed (norms, biases) torch group; both carry the
    tag's `lr_mult`, which the training loop multiplies into the scheduled learning rate.
    """
    body, head = net.get_submodule(body_name), net.get_submodule(head_name)
    params = dict(body.named_parameters())
    tagged = [(f"g{i}", [params[n] for n in names])
              for i, names in enumerate(layer_groups(body, n_groups))]
    tagged.append((HEAD_GROUP, [p for p in head.parameters() if p.requires_grad]))
    out = []
    for tag, ps in tagged:
        for decay in (True, False):
            sel = [p for p in ps if (p.ndim > 1) == decay]
            if sel:
                out.append({"params": sel, "weight_decay": weight_decay if decay else 0.0,
                            "group": tag, "lr_mult": 1.0})
    return out


def group_tags(groups: Sequence[dict]) -> list[str]:
    """The distinct backbone tags of optimizer groups, in order (the head excluded)."""
    return list(dict.fromkeys(g["group"] for g in groups if g["group"] != HEAD_GROUP))


def apply_multipliers(groups: Sequence[dict], mults: dict[str, float]) -> None:
    """Set `lr_mult` of every optimizer group whose tag is in `mults`."""
    for g in groups:
        if g["group"] in mults:
            g["lr_mult"] = float(mults[g["group"]])


def handset_multipliers(n_groups: int) -> list[float]:
    """The fixed baseline: 0.1 for the shallowest group rising linearly to 1.0 for the deepest."""
    if n_groups == 1:
        return [1.0]
    return [round(0.1 + 0.9 * i / (n_groups - 1), 1) for i in range(n_groups)]


N_GLOBAL_FEATURES = 3  # loss, KL, progress


def n_features(n_groups: int) -> int:
    """Width of the controller's input: global statistics plus two per group."""
    return N_GLOBAL_FEATURES + 2 * n_groups


class Controller(nn.Module):
    """An LSTM cell over training statistics with one 11-way categorical head per layer group."""

    def __init__(self, n_groups: int, hidden: int = 32) -> None:
        super().__init__()
        self.n_groups, self.hidden = n_groups, hidden
        self.cell = nn.LSTMCell(n_features(n_groups), hidden)
        self.heads = nn.ModuleList(nn.Linear(hidden, len(MULTIPLIERS)) for _ in range(n_groups))
        for h in self.heads:  # start near "keep the base rate" so early episodes are not wasted
            nn.init.zeros_(h.weight)
            with torch.no_grad():
                h.bias.copy_(torch.linspace(-1.0, 1.0, len(MULTIPLIERS)))

    def forward(self, x: torch.Tensor, state: Optional[tuple] = None) -> tuple[torch.Tensor, tuple]:
        """(n_groups, 11) action logits for one (F,) feature vector, and the new LSTM state."""
        h, c = self.cell(x.view(1, -1), state)
        return torch.cat([head(h) for head in self.heads]), (h, c)


def save_policy(ctrl: Controller, path: Path | str, meta: Optional[dict] = None) -> None:
    """Write a controller's weights and shape (and any metadata) to `path`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"n_groups": ctrl.n_groups, "hidden": ctrl.hidden, "state_dict": ctrl.state_dict(),
                "multipliers": MULTIPLIERS, "meta": meta or {}}, path)


def load_policy(path: Path | str) -> Controller:
    """A controller saved by `save_policy`, or a UserError naming the problem."""
    hint = "train one with `python -m bench.asg_meta`"
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise UserError(f"asg.policy: {path} not found; {hint}") from None
    except (pickle.UnpicklingError, RuntimeError, EOFError, OSError) as err:  # garbage, JSON, a folder
        raise UserError(f"asg.policy: {path} is not a saved policy ({type(err).__name__}); {hint}") from None
    missing = [k for k in POLICY_KEYS if not isinstance(blob, dict) or k not in blob]
    if missing:
        raise UserError(f"asg.policy: {path} is not a saved policy (no {', '.join(missing)}); {hint}")
    try:
        ctrl = Controller(blob["n_groups"], blob["hidden"])
        ctrl.load_state_dict(blob["state_dict"])
    except (RuntimeError, TypeError, ValueError) as err:
        raise UserError(f"asg.policy: {path} holds no valid controller ({type(err).__name__}); {hint}") from None
    return ctrl.eval()


class LayerwiseLR:
    """The `on_step` hook: every `interval` steps, set each group's multiplier from a policy.

    `policy` is a Controller (greedy unless `sample`) or a fixed list of multipliers. `stats()`
    returns the latest (loss, kl) of the loss function. The log-probabilities of sampled actions
    are kept in `log_probs` for REINFORCE.
    """

    def __init__(self, policy: Controller | Sequence[float], groups: Sequence[dict], interval: int,
                 total_steps: int, stats: Callable[[], tuple[float, float]], sample: bool = False,
                 generator: Optional[torch.Generator] = None) -> None:
        self.policy, self.groups, self.interval, self.total = policy, groups, interval, total_steps
        self.tags = group_tags(groups)
        self.stats, self.sample, self.generator = stats, sample, generator
        self.state: Optional[tuple] = None
        self.log_probs: list[torch.Tensor] = []
        self.entropies: list[torch.Tensor] = []
        self.history: list[list[float]] = []
        self._prev = self._weights()
        self.act(0)  # multipliers for the first interval

    def state_dict(self) -> dict[str, Any]:
        """What a checkpoint keeps: the multipliers chosen so far (the last is the one in force)."""
        return {"history": [list(m) for m in self.history]}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Resume from a checkpoint: its choices replace this hook's first one (the optimizer's groups
        come back with the multipliers in force); the controller's LSTM state restarts, and the next
        weight change is measured from the weights resumed."""
        self.history = [[float(m) for m in ms] for ms in state["history"]]
        self.state = None
        self._prev = self._weights()

    def __call__(self, step: int, loss: float, opt: torch.optim.Optimizer) -> None:
        if (step + 1) % self.interval == 0 and step + 1 < self.total:
            self.act(step + 1)

    def act(self, step: int) -> list[float]:
        """Choose and apply the multipliers for the steps from `step` on."""
        if isinstance(self.policy, Controller):
            mults = self._from_controller(step)
        else:
            mults = [float(m) for m in self.policy]
        apply_multipliers(self.groups, dict(zip(self.tags, mults, strict=True)))  # one per group
        self.history.append(mults)
        return mults

    def features(self, step: int) -> torch.Tensor:
        """Controller input: log loss, log KL, progress; per group log weight change and log grad norm."""
        loss, kl = self.stats()
        now = self._weights()
        change = [math.log10(1e-8 + float((a - b).norm() / (b.norm() + 1e-12))) / 4
                  for a, b in zip(now, self._prev)]
        grads = [math.log10(1e-8 + self._grad_norm(t)) / 4 for t in self.tags]
        self._prev = now
        x = [math.log(max(loss, 1e-6)), math.log10(max(kl, 1e-8)) / 4, step / max(1, self.total)]
        return torch.tensor(x + change + grads, dtype=torch.float32)

    def _from_controller(self, step: int) -> list[float]:
        with torch.set_grad_enabled(self.sample):
            logits, self.state = self.policy(self.features(step), self.state)
            if self.sample:
                dist = torch.distributions.Categorical(logits=logits)
                u = torch.rand(len(logits), generator=self.generator)
                action = (dist.probs.detach().cumsum(1) < u[:, None]).sum(1).clamp(max=len(MULTIPLIERS) - 1)
                self.log_probs.append(dist.log_prob(action).sum())
                self.entropies.append(dist.entropy().sum())
            else:
                action = logits.argmax(1)
        if not self.sample:
            self.state = tuple(s.detach() for s in self.state)
        return [MULTIPLIERS[int(a)] for a in action]

    def _weights(self) -> list[torch.Tensor]:
        return [torch.cat([p.detach().flatten() for g in self.groups if g["group"] == t
                           for p in g["params"]]).clone() for t in self.tags]

    def _grad_norm(self, tag: str) -> float:
        sq = sum(float(p.grad.pow(2).sum()) for g in self.groups if g["group"] == tag
                 for p in g["params"] if p.grad is not None)
        return math.sqrt(sq)


def transfer_proxy_loss(pretrained: nn.Module, lam: float) -> Callable:
    """Fine-tuning loss for the transfer protocol: CE + lam * KL to the frozen pre-trained model.

    The reference is the synthetically pre-trained network and its own (synthetic-class) head: the
    fine-tuned backbone's pooled features go through that frozen head (timm models).
    """
    frozen = pretrained.eval().requires_grad_(False)
    old_head = frozen.get_classifier()

    def loss(model: nn.Module, batch) -> torch.Tensor:
        feats = model.forward_head(model.forward_features(batch.image), pre_logits=True)
        ce = F.cross_entropy(model.get_classifier()(feats), batch.label)
        with torch.no_grad():
            target = frozen(batch.image)
        return ce + lam * proxy_kl(old_head(feats), target)

    return loss
