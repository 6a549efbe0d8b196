"""Meta-training of the layer-wise learning-rate controller with REINFORCE (ASG's learning to optimise).

An episode is a short synthetic training run from the ImageNet reference model in which the
controller samples one multiplier per layer group every `asg.interval` steps. Its reward uses no
real data: accuracy on held-out synthetic images plus `agree_weight` times the top-1 agreement of
the trained backbone (through the old ImageNet head) with the frozen reference on those images.
The policy gradient is `(reward - baseline) * sum(log pi(actions))`, baseline a moving average.

    python -m bench.asg_meta generalize --output results/asg/policy.pt --episodes 24
"""
from __future__ import annotations

import argparse
import copy
import json
import logging
import math
import sys
import time
from pathlib import Path
from typing import Any, Optional

import torch

from bench.asg import Controller, save_policy
from bench.asg_reference import build_reference, frozen_copy
from bench.asg_run import asg_of, generator_of, heldout_scores, train_synthetic
from bench.config import RunSpec, apply_overrides, load_run, parse_overrides
from bench.models import pick_device
from bench.run import check_names
from synth.console import check_writable
from synth.errors import UserError

log = logging.getLogger("synthscale.asg_meta")


def episode(spec: RunSpec, pristine, reference, ctrl: Controller, index: int, device: torch.device,
            agree_weight: float) -> dict[str, Any]:
    """One sampled training run; returns reward, summed log-probability, mean entropy, actions."""
    net = copy.deepcopy(pristine)
    g = torch.Generator().manual_seed(10_000 + index)
    _, hook = train_synthetic(spec, net, device, seed=10_000 + index, policy=ctrl, sample=True, generator=g)
    s = heldout_scores(spec, net, reference)
    reward = s["synth_val_acc"] + agree_weight * s["proxy_agree"]
    return {"reward": reward, "log_prob": torch.stack(hook.log_probs).sum(),
            "entropy": torch.stack(hook.entropies).mean(), "actions": hook.history, **s}


def meta_train(spec: RunSpec, out: Path, *, episodes: int = 24, lr: float = 0.05,
               baseline_momentum: float = 0.8, entropy_coef: float = 0.01, agree_weight: float = 1.0,
               seed: int = 0) -> list[dict[str, Any]]:
    """Train a Controller for `episodes` episodes with REINFORCE, save it to `out`; the history."""
    torch.manual_seed(seed)
    device = pick_device(spec.device)
    a = asg_of(spec)
    ctrl = Controller(a.n_groups)
    opt = torch.optim.Adam(ctrl.parameters(), lr=lr)
    pristine = build_reference(spec.model.name, generator_of(spec).n_classes)
    reference = frozen_copy(pristine)
    baseline, history = None, []
    for ep in range(episodes):
        t0 = time.time()
        res = episode(spec, pristine, reference, ctrl, ep, device, agree_weight)
        baseline = res["reward"] if baseline is None else baseline
        advantage = res["reward"] - baseline
        loss = -advantage * res["log_prob"] - entropy_coef * res["entropy"]
        opt.zero_grad()
        loss.backward()
        opt.step()
        baseline = baseline_momentum * baseline + (1 - baseline_momentum) * res["reward"]
        mean_mults = [round(sum(c) / len(c), 2) for c in zip(*res["actions"])]
        history.append({"episode": ep, "reward": round(res["reward"], 4), "baseline": round(baseline, 4),
                        "synth_val_acc": round(res["synth_val_acc"], 4),
                        "proxy_agree": round(res["proxy_agree"], 4),
                        "entropy": round(float(res["entropy"].detach()), 3),
                        "mean_multipliers": mean_mults, "wall_s": round(time.time() - t0, 1)})
        log.info("episode %d/%d reward %.3f (val %.3f agree %.3f) baseline %.3f mults %s",
                 ep + 1, episodes, res["reward"], res["synth_val_acc"], res["proxy_agree"], baseline, mean_mults)
    meta = {"episodes": episodes, "lr": lr, "agree_weight": agree_weight, "seed": seed,
            "episode_examples": spec.pretrain.examples, "n_synth": spec.synth.n,
            "generator": spec.synth.generator, "complexity": spec.synth.complexity, "history": history}
    save_policy(ctrl, out, meta)
    return history


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The options of the meta-training command."""
    p.add_argument("config", help="a generalize run or sweep YAML, or a packaged config name (generalize)")
    p.add_argument("overrides", nargs="*", default=[], help="dotted KEY=VALUE overrides of the episode's run")
    p.add_argument("-o", "--output", "--out", dest="out", required=True, help="where to save the policy (.pt)")
    p.add_argument("--episodes", type=int, default=24, help="number of episodes, at least 1 (default 24)")
    p.add_argument("--episode-examples", type=int, default=None,
                   help="training budget of one episode in examples; wins over a pretrain.examples "
                        "override (default: the config's pretrain.examples)")
    p.add_argument("--lr", type=float, default=0.05, help="Adam learning rate of the controller (default: %(default)s)")
    p.add_argument("--seed", type=int, default=0,
                   help="seed of the controller's initial weights and of its sampled policies (default 0)")


def cmd_meta(args: argparse.Namespace) -> int:
    """Entry point: meta-train and save a policy; print the reward history."""
    from bench.commands import resolve_config

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    if args.episodes < 1:
        raise UserError(f"--episodes: must be at least 1, got {args.episodes}")
    if args.episode_examples is not None and args.episode_examples < 1:  # was 'pretrain.examples: ...'
        raise UserError(f"--episode-examples: must be at least 1, got {args.episode_examples}")
    if not (math.isfinite(args.lr) and args.lr > 0):  # nan/-1: Adam's ValueError; inf: a NaN controller mid-run
        raise UserError(f"--lr: the controller's learning rate must be a finite number above 0, got {args.lr}")
    raw, args.out = args.out, Path(args.out)  # (Path drops the trailing slash of `--output dir/`)
    if raw.endswith(("/", "\\")) or args.out.is_dir():  # found only when saving, after every episode
        raise UserError(f"--output {raw!r} is a folder; give the policy's file name, e.g. {args.out / 'policy.pt'}")
    if args.out.suffix.lower() == ".json":  # the history goes to <out>.json next to the policy
        raise UserError(f"--output {args.out}: the history is written to {args.out.stem}.json next to the "
                        "policy; give the policy a .pt name")
    spec = load_run(resolve_config(args.config), parse_overrides(args.overrides))
    budget = {} if args.episode_examples is None else {"pretrain.examples": args.episode_examples}
    spec = apply_overrides(spec, {**budget, "protocol": "generalize"})
    check_names(apply_overrides(spec, {"asg.lr_policy": "none"}))  # run's checks; no policy file is read
    spec = apply_overrides(spec, {"asg.lr_policy": "learned"})
    check_writable(args.out.parent, lambda why: f"--output {args.out}: cannot write to {args.out.parent} ({why}); "
                   "choose a writable folder")  # before any episode
    if spec.threads:
        torch.set_num_threads(spec.threads)
    history = meta_train(spec, args.out, episodes=args.episodes, lr=args.lr, seed=args.seed)
    (args.out.with_suffix(".json")).write_text(json.dumps(history, indent=1) + "\n")
    print(f"saved policy -> {args.out} (history {args.out.with_suffix('.json')})")
    return 0


def register(sub: argparse._SubParsersAction, prog: Optional[str] = None) -> None:
    """Add `asg-policy` to a synthscale-style parser."""
    p = sub.add_parser("asg-policy", help="meta-train the ASG layer-wise learning-rate policy (REINFORCE)",
                       description=__doc__.splitlines()[0], **({"prog": prog} if prog else {}))
    add_arguments(p)
    p.set_defaults(func=cmd_meta)


PROG = "python -m bench.asg_meta"


def register_standalone(sub: argparse._SubParsersAction) -> None:
    """`asg-policy` as this module's only command: its usage line says `python -m bench.asg_meta`."""
    register(sub, prog=PROG)


if __name__ == "__main__":
    from synth.console import run_cli

    sys.exit(run_cli(("bench.asg_meta:register_standalone",), PROG, ["asg-policy", *sys.argv[1:]]))
