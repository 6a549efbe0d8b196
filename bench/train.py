"""The one training loop, used for pre-training and fine-tuning alike.

Budget in examples seen (steps = ceil(examples / batch_size)), SGD with Nesterov momentum, linear
warm-up then cosine decay, channels_last on CPU, autocast on GPU. The batch at step k is a pure
function of (seed, k) -- `get_batch(step)` -- so a run resumed from a checkpoint at step k sees
exactly the batches an uninterrupted run would have seen. Checkpoints hold model, optimiser,
scheduler, step and RNG state and are written atomically every `ckpt_every_s` seconds.
"""
from __future__ import annotations

import copy
import glob
import logging
import math
import os
import pickle
import signal
import sys
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any, Callable, Iterator, Optional

import torch
from torch import nn

from bench.config import StageSpec
from bench.records import Interrupted  # defined there, beside the log lines `sweep status` reads
from synth.errors import UserError

log = logging.getLogger("synthscale.train")
Batch = Any  # whatever get_batch returns and loss_fn consumes
LossFn = Callable[[nn.Module, Batch], torch.Tensor]


class Diverged(UserError):
    """A stage whose loss became NaN or inf: the run's settings are to blame, but it failed while
    training, so it is a failed cell with its log (bench.run keeps its config.yaml and log.txt)."""


@dataclass
class TrainResult:
    """What a stage reports: steps run, the step it resumed from, mean loss of the last 10 % of steps."""

    steps: int
    resumed_from: int
    final_loss: float
    wall_s: float  # the stage's training time, the earlier processes' up to the checkpoint included
    losses: list[float] = field(default_factory=list)
    earlier_wall_s: float = 0.0  # of wall_s: spent by the processes before the checkpoint resumed
    earlier_cpu_s: float = 0.0  # their CPU seconds (all threads), saved in the checkpoint


def schedule(step: int, total: int, warmup: int) -> float:
    """LR multiplier: linear warm-up over `warmup` steps, then cosine decay to 0 at `total`."""
    if step < warmup:
        return (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))


def make_optimizer(net: nn.Module, stage: StageSpec, param_groups: Optional[list[dict]] = None):
    """SGD with Nesterov momentum; no weight decay on norms and biases (1-d tensors)."""
    if param_groups is None:
        decay = [p for p in net.parameters() if p.requires_grad and p.ndim > 1]
        no_decay = [p for p in net.parameters() if p.requires_grad and p.ndim <= 1]
        param_groups = [{"params": decay, "weight_decay": stage.weight_decay},
                        {"params": no_decay, "weight_decay": 0.0}]
    return torch.optim.SGD(param_groups, lr=stage.lr, momentum=stage.momentum,
                           nesterov=stage.momentum > 0)


def save_atomic(obj: Any, path: Path) -> None:
    """torch.save to a temporary file, fsync, then rename: a reader never sees half a file. The
    callers hold the run's or the pre-training cell's lock, so another temporary file of `path` is
    the remains of a process killed while writing (a model-sized file); it is removed."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as f:
        torch.save(obj, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    for stale in path.parent.glob(f".{glob.escape(path.name)}.*.tmp"):
        stale.unlink(missing_ok=True)


@contextmanager
def stop_on_signals(stop: threading.Event) -> Iterator[threading.Event]:
    """While inside (main thread): SIGINT or SIGTERM during a `train(..., stop=stop)` sets `stop`, so
    the stage saves a checkpoint at the next step boundary and raises Interrupted; nothing trained is
    lost. Outside training, or on a second SIGINT, they raise KeyboardInterrupt at once."""
    def handler(signum: int, frame: Optional[FrameType]) -> None:
        from synth.console import stopped_by

        stopped_by(signum)  # the CLI's exit code: 130 for SIGINT, 143 for SIGTERM
        again = stop.is_set() and signum == signal.SIGINT  # a second Ctrl-C: stop now; SIGTERM
        if again or not _training(frame, stop):  # may come twice (the terminal, and a sweep's cleanup)
            raise KeyboardInterrupt
        if not stop.is_set():
            stop.set()
            log.warning("%s: saving a checkpoint at the next step, then stopping%s", signal.Signals(signum).name,
                        " (Ctrl-C again: stop at once)" if signum == signal.SIGINT else "")

    before = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield stop
    finally:
        for sig, old in before.items():
            signal.signal(sig, old)


def _training(frame: Optional[FrameType], stop: threading.Event) -> bool:
    """Whether the interrupted code runs inside a train() call that watches `stop` (it then reaches a
    step boundary soon); walking the stack needs no bookkeeping that an exception could leave stale."""
    while frame is not None:
        if frame.f_code is train.__code__ and frame.f_locals.get("stop") is stop:
            return True
        frame = frame.f_back
    return False


def _progress(total: int, desc: str, start: int):
    if sys.stderr.isatty():
        from tqdm import tqdm

        return tqdm(total=total, initial=start, desc=desc, unit="step", leave=False)
    return None


def train(net: nn.Module, get_batch: Callable[[int], Batch], loss_fn: LossFn, stage: StageSpec, *,
          device: torch.device, ckpt_path: Optional[Path] = None,
          stop: Optional[threading.Event] = None, desc: str = "train",
          param_groups: Optional[list[dict]] = None,
          on_step: Optional[Callable[[int, float, Any], None]] = None,
          diverged_hint: str = "") -> TrainResult:
    """Train `net` for the stage's budget; resume from `ckpt_path` if it holds a checkpoint.

    `stop`, when set, makes the loop save a checkpoint at the next step boundary and raise
    Interrupted. `on_step(step, loss, optimizer)` lets callers adapt per-group learning rates.
    A non-finite loss stops the stage with a UserError ending in `diverged_hint` (default: lower
    this stage's lr).
    """
    total = math.ceil(stage.examples / stage.batch_size)
    warmup = int(stage.warmup_frac * total)
    net.to(device)
    if device.type == "cpu":
        net.to(memory_format=torch.channels_last)
    opt = make_optimizer(net, stage, param_groups)
    base_lrs = [g["lr"] for g in opt.param_groups]
    start, losses, (earlier_wall, earlier_cpu) = _maybe_resume(net, opt, ckpt_path, device, on_step)
    # a hook with a state of its own (LayerwiseLR: the multipliers it chose) keeps it in the checkpoint
    hook_state = getattr(on_step, "state_dict", lambda: None)
    autocast = torch.autocast("cuda", dtype=torch.bfloat16) if device.type == "cuda" else _null()
    bar, t0, last_ckpt = _progress(total, desc, start), time.time(), time.time()
    cpu0 = time.process_time()

    def spent() -> tuple[float, float]:  # training time so far, earlier processes' included
        return earlier_wall + time.time() - t0, earlier_cpu + time.process_time() - cpu0

    net.train()
    for step in range(start, total):
        if stop is not None and stop.is_set():
            _save(ckpt_path, net, opt, step, losses, spent(), device, hook_state())
            raise Interrupted(step, ckpt_path, total, desc)  # type: ignore[arg-type]
        mult = schedule(step, total, warmup)
        for g, lr in zip(opt.param_groups, base_lrs):
            g["lr"] = lr * mult * g.get("lr_mult", 1.0)
        batch = get_batch(step)
        with autocast:
            loss = loss_fn(net, batch)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
        if not math.isfinite(losses[-1]):  # a diverged network must not become a checkpoint or an "ok" row
            raise Diverged(f"{desc}: the training loss is {losses[-1]} at step {step + 1}/{total}; "
                           + (diverged_hint or f"lower this stage's lr ({stage.lr:g})"))
        if on_step is not None:
            on_step(step, losses[-1], opt)
        if bar is not None:
            bar.update(1)
            bar.set_postfix(loss=f"{losses[-1]:.3f}", refresh=False)
        elif (step + 1) % max(1, total // 5) == 0:
            log.info("%s step %d/%d loss %.4f", desc, step + 1, total, losses[-1])
        if ckpt_path is not None and time.time() - last_ckpt > stage.ckpt_every_s:
            _save(ckpt_path, net, opt, step + 1, losses, spent(), device, hook_state())
            last_ckpt = time.time()
    if bar is not None:
        bar.close()
    tail = losses[-max(1, len(losses) // 10):] if losses else [float("nan")]
    return TrainResult(total, start, sum(tail) / len(tail), spent()[0], losses, earlier_wall, earlier_cpu)


class _null:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: Any) -> None:
        return None


def _save(path: Optional[Path], net: nn.Module, opt: torch.optim.Optimizer, step: int,
          losses: list[float], spent: tuple[float, float], device: torch.device, hook_state: Any = None) -> None:
    if path is None:
        return
    state = {"model": net.state_dict(), "optimizer": opt.state_dict(), "step": step,
             "losses": losses, "torch_rng": torch.get_rng_state(),
             "wall_s": spent[0], "cpu_s": spent[1]}  # training time up to this step
    if hook_state is not None:
        state["on_step"] = hook_state
    if device.type == "cuda":  # dropout and other random ops on the GPU draw from its own generator
        state["cuda_rng"] = torch.cuda.get_rng_state(device)
    save_atomic(state, path)
    log.info("checkpoint at step %d -> %s", step, path)


def _load_optimizer(opt: torch.optim.Optimizer, state: dict) -> None:
    """opt.load_state_dict, keeping the group dicts the optimizer was made with: torch puts new ones
    in opt.param_groups, and a hook that sets a group's lr_mult in the caller's dicts (LayerwiseLR)
    then set what the loop no longer read (a resumed learned-policy run kept its multipliers)."""
    mine = list(opt.param_groups)
    opt.load_state_dict(state)
    for group, loaded in zip(mine, opt.param_groups, strict=True):
        group.update(loaded)
    opt.param_groups[:] = mine


def _maybe_resume(net: nn.Module, opt: torch.optim.Optimizer, path: Optional[Path], device: torch.device,
                  on_step: Any = None) -> tuple[int, list[float], tuple[float, float]]:
    """(step, losses, (wall s, CPU s) of training up to the step) of the checkpoint, if any; a hook
    with `load_state_dict` gets the state it had at the checkpoint."""
    if path is None or not path.is_file():
        return 0, [], (0.0, 0.0)
    # A load that fails half-way may have copied some tensors already: keep the fresh state to go back to.
    fresh_net, fresh_opt = copy.deepcopy(net.state_dict()), copy.deepcopy(opt.state_dict())
    try:
        # to the CPU: the RNG states must stay there (mapped to a GPU, set_rng_state raised TypeError and
        # every GPU resume started again from step 0); load_state_dict copies to the parameters' device
        state = torch.load(path, map_location="cpu", weights_only=True)  # tensors and plain types: no code runs
        step, losses = int(state["step"]), [float(x) for x in state["losses"]]
        # checkpoints written before these keys existed: their earlier time is unknown, counted as 0
        spent = (float(state.get("wall_s", 0.0)), float(state.get("cpu_s", 0.0)))
        net.load_state_dict(state["model"])
        _load_optimizer(opt, state["optimizer"])
        torch.set_rng_state(state["torch_rng"])
        if device.type == "cuda" and "cuda_rng" in state:
            torch.cuda.set_rng_state(state["cuda_rng"], device)
    except (OSError, EOFError, pickle.UnpicklingError, RuntimeError, ValueError, KeyError, TypeError) as err:
        # Damaged (a copied or truncated file) or from another model: every later attempt would fail
        # the same way, so the stage starts again instead.
        log.warning("%s: unreadable or not this stage's checkpoint (%s: %s); training from step 0",
                    path, type(err).__name__, str(err).splitlines()[0][:200] if str(err) else "")
        net.load_state_dict(fresh_net)
        _load_optimizer(opt, fresh_opt)
        return 0, [], (0.0, 0.0)
    if state.get("on_step") is not None and hasattr(on_step, "load_state_dict"):
        on_step.load_state_dict(state["on_step"])
    log.info("resumed from %s at step %d", path, step)
    return step, losses, spent


BN_MAX_IMAGES = 2048  # images behind recomputed batch-norm statistics: all of a small s, a sample of a large one
BN_MIN_BATCHES = 8    # at least this many batches (augmented copies of a few images vary the statistics)


@torch.no_grad()
def recompute_bn_stats(net: nn.Module, get_batch: Callable[[int], Any], n_images: int, batch_size: int) -> int:
    """Set every batch-norm layer's running mean and variance to the average over training batches
    `get_batch(0), get_batch(1), ...` (the stage's own, augmented as it trained) of its batch
    statistics, with the weights fixed: min(n_images, BN_MAX_IMAGES) images' worth of batches, at
    least BN_MIN_BATCHES. The running averages a stage leaves trail its weights: after a short
    fine-tune they can be far off, and the test then scores a different network from the one trained
    ("precise BN", as in Wu & Johnson, "Rethinking 'Batch' in BatchNorm", 2021). Dropout and the
    like stay off. Returns the number of batches (0 if the net has no batch norm)."""
    norms = [m for m in net.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.track_running_stats]
    if not norms:
        return 0
    n_batches = max(-(-min(n_images, BN_MAX_IMAGES) // batch_size), BN_MIN_BATCHES)
    momenta = [m.momentum for m in norms]
    net.eval()
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # a cumulative average of the batches' statistics
        m.train()
    try:
        for step in range(n_batches):
            net(get_batch(step).image)
    finally:
        for m, momentum in zip(norms, momenta):
            m.momentum = momentum
        net.train()
    return n_batches


@torch.no_grad()
def evaluate(net: nn.Module, x: torch.Tensor, y: torch.Tensor, *, device: torch.device,
             batch_size: int = 1000) -> float:
    """Top-1 accuracy of `net` on float images `x` (N, C, H, W) with labels `y`."""
    net.eval()
    correct = 0
    for i in range(0, len(x), batch_size):
        xb = x[i:i + batch_size].to(device)
        if device.type == "cpu":
            xb = xb.contiguous(memory_format=torch.channels_last)
        correct += int((net(xb).argmax(1).cpu() == y[i:i + batch_size]).sum())
    net.train()
    return correct / max(1, len(x))
