"""The generalize protocol (ASG's): start from an ImageNet model, train only on synthetic images of
the target's classes, test on real images never seen in training. One row per run (n_real = 0).

The synthetic training is a cell under ROOT/pretrain/<pretrain_id>/ (its id covers synth, model,
stage, seed and the asg section, not the target), so runs that differ only in the real test target
train once and evaluate the same weights.
"""
from __future__ import annotations

import json
import logging
import platform
import threading
import time
from pathlib import Path
from typing import Any, Optional

import torch
import torch.nn.functional as F

import synth
from bench import targets
from bench.asg import (LayerwiseLR, handset_multipliers, load_policy, param_groups, proxy_kl)
from bench.asg_reference import ReferenceNet, build_reference, frozen_copy, sha256_prefix
from bench.config import REPO_ROOT, AsgSpec, RunSpec, policy_file, pretrain_stage
from bench.data import IndexStream, SynthSource
from bench.models import count_params, pick_device
# the transfer protocol's cell sharing (lock, atomic write) and fixed real test split; bench.run
# imports this module lazily, so there is no import cycle
from bench.run import design_row, earlier_time, real_test_split, shared_cell, warn_if_chance
from bench.train import train
from synth.errors import UserError

log = logging.getLogger("synthscale.asg")
HELDOUT_SEED_OFFSET = 7919  # held-out synthetic pool: same generator, a pool seed runs do not train on
# (unless synth.seed is set 7919 apart); meta-training's reward is scored on it too (docs/asg.md)
N_HELDOUT = 500
# generator -> the real targets whose classes it renders, label for label (docs/asg.md)
SAME_CLASSES = {"digits": ("mnist5k", "sklearn_digits")}


def asg_of(spec: RunSpec) -> AsgSpec:
    """The run's asg section, or the all-off default."""
    return spec.asg or AsgSpec()


def generator_of(spec: RunSpec) -> synth.core.Generator:
    """The run's synthetic generator (its class count, knobs), without rendering anything."""
    s = spec.synth
    return synth.GENERATORS.get(s.generator)(resolution=s.resolution, complexity=s.complexity,
                                             channels=s.channels, **s.knobs)


def policy_path(a: AsgSpec) -> Optional[Path]:
    """The saved policy file (bench.config.policy_file); None if there is none."""
    return policy_file(a.policy) if a.policy else None


def check_asg(spec: RunSpec) -> None:
    """Fail before any work on protocol/asg combinations that cannot run (UserError)."""
    a = asg_of(spec)
    if spec.protocol != "generalize":
        if a.lr_policy != "none":
            raise UserError("asg.lr_policy: layer-wise rates are implemented for protocol: generalize only")
        if a.proxy_lambda > 0 and spec.synth.n == 0:
            raise UserError("asg.proxy_lambda: proxy guidance needs a pre-trained model (synth.n > 0)")
        return
    if spec.synth.n == 0:
        raise UserError("synth.n: the generalize protocol trains on synthetic images; use n > 0")
    if spec.synth.channels != 3:
        raise UserError("synth.channels: the generalize protocol starts from an RGB ImageNet model; use 3")
    if list(spec.target.n_real) != [0]:
        raise UserError("target.n_real: the generalize protocol uses no real training images; set [0]")
    _refuse_unused(spec)
    if spec.target.name not in SAME_CLASSES.get(spec.synth.generator, ()):
        pairs = "; ".join(f"{g} with {' or '.join(t)}" for g, t in SAME_CLASSES.items())
        raise UserError(f"synth.generator {spec.synth.generator} with target.name {spec.target.name}: the "
                        f"generalize protocol trains only on synthetic images of the target's classes; "
                        f"supported pairs: {pairs}")
    if a.lr_policy != "learned":
        return
    if not a.policy:
        raise UserError("asg.policy: lr_policy learned needs a saved policy (python -m bench.asg_meta)")
    path = policy_path(a)
    if path is None:
        where = ("" if Path(a.policy).is_absolute() else
                 f" in {' or '.join(dict.fromkeys(str(p) for p in (Path.cwd(), REPO_ROOT)))}")
        raise UserError(f"asg.policy: {a.policy} not found{where}; train one with `python -m bench.asg_meta`")
    trained_for = load_policy(path).n_groups  # a corrupt file is a UserError here
    if trained_for != a.n_groups:
        raise UserError(f"asg.n_groups: the policy {a.policy} was trained for {trained_for} layer groups, "
                        f"the run has {a.n_groups}; set asg.n_groups={trained_for} or train a policy "
                        f"for {a.n_groups}")


def _refuse_unused(spec: RunSpec) -> None:
    """Settings the generalize protocol does not read, when set to anything but what it does: they
    entered the run id, so equal cells were trained twice and tabulated as different conditions."""
    if spec.pretrain.augment:
        raise UserError("pretrain.augment: the generalize protocol trains without flips or shifts (they would "
                        "change digits); set pretrain.augment: false")
    if spec.model.drop_rate or not spec.model.small_input:
        key = "model.drop_rate" if spec.model.drop_rate else "model.small_input"
        raise UserError(f"{key}: not used by the generalize protocol (it trains torchvision's ImageNet model as "
                        "built); leave it out")
    if spec.finetune != RunSpec.model_fields["finetune"].get_default(call_default_factory=True):
        raise UserError("finetune: the generalize protocol does not fine-tune (it tests the synthetically "
                        "trained model directly); leave the finetune settings out")


def heldout_dataset(spec: RunSpec, n: int = N_HELDOUT) -> synth.SynthDataset:
    """Synthetic images from a pool seed no run trains on: for rewards and in-domain accuracy."""
    s = spec.synth
    # modulo 2**63: a pool seed near the top of its range must not step outside what make_dataset takes
    return synth.make_dataset(s.generator, n, seed=(s.seed + HELDOUT_SEED_OFFSET) % 2**63, resolution=s.resolution,
                              complexity=s.complexity, channels=s.channels, **s.knobs)


@torch.no_grad()
def imagenet_logits(net: ReferenceNet, x: torch.Tensor, batch_size: int = 500) -> torch.Tensor:
    """ImageNet logits of `net` (eval mode) for images `x`, in chunks on the net's device, returned on
    the CPU: the frozen-output cache."""
    net.eval()
    dev = next(net.parameters()).device
    return torch.cat([net.imagenet_logits(x[i:i + batch_size].to(dev)).cpu() for i in range(0, len(x), batch_size)])


@torch.no_grad()
def predict(net: ReferenceNet, x: torch.Tensor, batch_size: int = 500) -> torch.Tensor:
    """Predicted classes of the new head for images `x` (eval mode), on the CPU; the images go to the
    net's device in chunks (a net trained on a GPU met CPU images)."""
    net.eval()
    dev = next(net.parameters()).device
    out = torch.cat([net(x[i:i + batch_size].to(dev)).argmax(1).cpu() for i in range(0, len(x), batch_size)])
    net.train()
    return out


def scores(pred: torch.Tensor, y: torch.Tensor, n_classes: int) -> tuple[float, float]:
    """(accuracy, mean per-class accuracy): VisDA-style benchmarks report the latter."""
    per_class = [float((pred[y == c] == c).float().mean()) for c in range(n_classes) if (y == c).any()]
    return float((pred == y).float().mean()), sum(per_class) / max(1, len(per_class))


def make_loss(frozen_logits: Optional[torch.Tensor], lam: float, stats: dict[str, float]):
    """CE on the new head plus `lam` * proxy KL (looked up from the cache by image index)."""
    def loss(net: ReferenceNet, batch: tuple) -> torch.Tensor:
        image, label, idx = batch
        logits, imnet = net.forward_both(image)
        ce = F.cross_entropy(logits, label)
        stats["loss"] = float(ce.detach())
        if frozen_logits is None:
            return ce
        kl = proxy_kl(imnet if lam > 0 else imnet.detach(), frozen_logits[idx].to(imnet.device))  # (cache: CPU)
        stats["kl"] = float(kl.detach())
        return ce + lam * kl if lam > 0 else ce
    return loss


def make_batches(source: SynthSource, n: int, batch_size: int, seed: int, device: torch.device):
    """`get_batch(step) -> (image, label, index)`: no flips or shifts (they would change digits)."""
    stream = IndexStream(n, batch_size, seed)

    def get_batch(step: int) -> tuple:
        idx = stream(step)
        s = source.get(idx)
        image = s.image.to(device)
        if device.type == "cpu":
            image = image.contiguous(memory_format=torch.channels_last)
        return image, s.label.to(device), idx
    return get_batch


def train_synthetic(spec: RunSpec, net: ReferenceNet, device: torch.device, *, seed: int,
                    policy=None, sample: bool = False, ckpt: Optional[Path] = None,
                    stop: Optional[threading.Event] = None,
                    generator=None) -> tuple[Any, Optional[LayerwiseLR]]:
    """Train `net` on the run's n synthetic images with the asg options; returns (result, hook)."""
    a, s, stage = asg_of(spec), spec.synth, spec.pretrain
    ds = synth.make_dataset(s.generator, s.n, seed=s.seed, resolution=s.resolution,
                            complexity=s.complexity, channels=s.channels, **s.knobs)
    source = SynthSource(ds, fields=("image", "label"))
    need_kl = a.proxy_lambda > 0 or a.lr_policy == "learned" or policy is not None
    frozen = imagenet_logits(frozen_copy(net), _all_images(source, ds)) if need_kl else None
    stats = {"loss": 2.3, "kl": 0.0}
    groups = param_groups(net, "body", "head", a.n_groups, stage.weight_decay)
    total = -(-stage.examples // stage.batch_size)
    hook = None
    if a.lr_policy != "none" or policy is not None:
        chosen = policy if policy is not None else (handset_multipliers(a.n_groups)
                                                     if a.lr_policy == "handset" else
                                                     load_policy(policy_path(a) or a.policy))
        hook = LayerwiseLR(chosen, groups, a.interval, total, lambda: (stats["loss"], stats["kl"]),
                           sample=sample, generator=generator)
    torch.manual_seed(seed)
    get_batch = make_batches(source, s.n, stage.batch_size, seed, device)
    res = train(net, get_batch, make_loss(frozen, a.proxy_lambda, stats), stage, device=device,
                ckpt_path=ckpt, stop=stop, desc=f"synthetic n={s.n}", param_groups=groups, on_step=hook,
                diverged_hint=f"lower pretrain.lr ({stage.lr:g}) or asg.proxy_lambda ({a.proxy_lambda:g})")
    return res, hook


def _all_images(source: SynthSource, ds: synth.SynthDataset) -> torch.Tensor:
    if source.cached is not None:
        return source.cached.image
    return ds.render_batch(torch.arange(len(ds))).image


def synthetic_cell(spec: RunSpec, root: Path, device: torch.device,
                   stop: Optional[threading.Event] = None) -> dict[str, Any]:
    """The trained weights and training record of this run's cell, trained at most once."""

    path = policy_path(asg_of(spec)) if asg_of(spec).lr_policy == "learned" else None
    now = sha256_prefix(path, 64) if path is not None else None  # hashed before any training starts

    def train_cell(ckpt: Path) -> dict[str, Any]:
        policy = {} if now is None else {"policy": f"{path.name}:{now[:8]}", "policy_sha256": now}
        gen = generator_of(spec)
        torch.manual_seed(spec.seed)  # the new head's initial weights: the seed's, not the process's
        net = build_reference(spec.model.name, gen.n_classes)
        reference = frozen_copy(net)
        # for the budget the run id holds (pretrain.min_epochs); bench.asg_meta's episodes train for pretrain.examples
        budgeted = spec.model_copy(update={"pretrain": pretrain_stage(spec)})
        res, hook = train_synthetic(budgeted, net, device, seed=spec.seed, ckpt=ckpt, stop=stop)
        net.to("cpu", memory_format=torch.contiguous_format)
        return {"state": net.state_dict(), "loss": res.final_loss, "wall_s": res.wall_s,
                "steps": res.steps, "resumed_from": res.resumed_from,
                "earlier_wall_s": res.earlier_wall_s, "earlier_cpu_s": res.earlier_cpu_s,
                "multipliers": hook.history if hook else [], "knobs": gen.knobs(), **policy,
                **heldout_scores(spec, net, reference)}

    cell = shared_cell(spec, root, train_cell, keys=("state",))
    # The cell's id covers the policy's path, not its content (the committed run ids stay): a file
    # replaced at the same path must not pass as the policy that trained this cell.
    if now is not None and cell.get("policy_sha256", now) != now:  # cells from before this check: no hash
        raise UserError(f"asg.policy: {path} changed since cell {spec.pretrain_id} was trained with it "
                        f"(sha256 {cell['policy_sha256'][:8]}, now {now[:8]}); save the new policy "
                        "under a new path, or restore the old file")
    return cell


def heldout_scores(spec: RunSpec, net: ReferenceNet, reference: ReferenceNet) -> dict[str, float]:
    """In-domain accuracy on held-out synthetic images and top-1 agreement with the frozen ImageNet model."""
    held = heldout_dataset(spec).render_batch(torch.arange(N_HELDOUT))
    acc, _ = scores(predict(net, held.image), held.label, net.head.out_features)
    agree = (imagenet_logits(net, held.image).argmax(1) == imagenet_logits(reference, held.image).argmax(1))
    net.train()
    return {"synth_val_acc": acc, "proxy_agree": float(agree.float().mean())}


def execute_generalize(spec: RunSpec, root: Path, stop: Optional[threading.Event] = None) -> list[dict[str, Any]]:
    """Train on synthetic images (or reuse the cell), test on the real target's test split."""

    t0, cpu0 = time.time(), time.process_time()
    device = pick_device(spec.device)
    data = targets.load_target(spec.target.name, spec.target.data_root, spec.target.download)
    cell = synthetic_cell(spec, root, device, stop)
    net = build_reference(spec.model.name, data.n_classes)
    net.load_state_dict(cell["state"])
    test_x, test_y = real_test_split(spec, data)
    acc, mca = scores(predict(net, test_x), test_y, data.n_classes)
    row = asg_row(spec, acc, mca, len(test_y), cell, count_params(net))
    warn_if_chance(row["test_acc"], test_y, f"run {spec.run_id}",  # it does not fine-tune (_refuse_unused)
                   "raise pretrain.examples or synth.n, or check pretrain.lr")
    # as a transfer row's (bench.run): a cell trained by this process, resumed from a checkpoint,
    # adds the training time its earlier processes spent up to that checkpoint
    wall, cpu = earlier_time(cell)
    row["wall_s"] = round(time.time() - t0 + wall, 2)
    row["cpu_s"] = round(time.process_time() - cpu0 + cpu, 2)  # all threads, as in transfer rows
    return [row]


def asg_columns(spec: RunSpec, policy: str = "") -> dict[str, Any]:
    """The protocol and ASG settings recorded in every row (both protocols); `policy` as recorded
    by the trained cell, else from the file now at asg.policy."""
    a = asg_of(spec)
    path = policy_path(a)
    if not policy and a.lr_policy == "learned" and path is not None:
        policy = f"{path.name}:{sha256_prefix(path)}"
    parts = ([f"proxy{a.proxy_lambda:g}"] if a.proxy_lambda > 0 else []) + \
        ([a.lr_policy] if a.lr_policy != "none" else [])
    # interval and n_groups as the run id has them: a run that does not read one (the transfer protocol,
    # no layer-wise policy) records the default, not whatever the first of its equal cells was given
    used = spec.identity().get("asg") or AsgSpec().model_dump()
    return {"protocol": spec.protocol or "transfer", "condition": "+".join(parts) or "plain",
            "proxy_lambda": a.proxy_lambda,
            "lr_policy": a.lr_policy, "policy": policy, "asg_interval": used["interval"],
            "asg_n_groups": used["n_groups"]}


def asg_row(spec: RunSpec, acc: float, mca: float, n_test: int, cell: dict[str, Any],
            n_params: int) -> dict[str, Any]:
    """One generalize row with the columns of a transfer row plus the ASG ones: the design columns are
    bench.run.design_row's at n_real 0 (a hand copy of them once wrote finetune_examples 0 where the
    row that demo's --by checks predicted said 5000)."""
    return {
        **design_row(spec, 0), "n_params": n_params,
        "test_err": round(1.0 - acc, 6), "test_acc": round(acc, 6), "test_mca": round(mca, 6),
        "n_test": n_test, "pretrain_loss": round(cell["loss"], 5), "finetune_loss": None,
        "pretrain_wall_s": round(cell["wall_s"], 2), "finetune_wall_s": 0.0,
        # the synthetic training is this protocol's pre-training; there is no fine-tuning stage
        "pretrain_resumed_from_step": cell["resumed_from"], "resumed_from_step": None,
        "knobs": json.dumps(cell["knobs"], sort_keys=True),
        "synth_val_acc": round(cell["synth_val_acc"], 6), "proxy_agree": round(cell["proxy_agree"], 6),
        "mean_multipliers": json.dumps(_mean_multipliers(cell["multipliers"])),
        **asg_columns(spec, cell.get("policy", "")),  # the policy that trained the cell
        "status": "ok", "host": platform.node(), "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
    }


def _mean_multipliers(history: list[list[float]]) -> list[float]:
    """Per-group multiplier averaged over the controller's decisions ([] without layer-wise rates)."""
    if not history:
        return []
    return [round(sum(col) / len(col), 3) for col in zip(*history)]
